//! SCIM errors: `{"schemas": [Error URN], "status": "404", "scimType"?, "detail"}`.

use super::{CONTENT_TYPE, ERROR_SCHEMA};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use keyholder_domain::DomainError;
use serde_json::json;

#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn not_found() -> Self {
        ScimError::new(StatusCode::NOT_FOUND, None, "resource not found")
    }

    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }
}

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.detail)
    }
}

impl From<DomainError> for ScimError {
    /// The problem+json description of the error (`crate::error::describe`), in SCIM's shape:
    /// the same status, except that invalid fields are RFC 7644's 400 `invalidValue` (or
    /// `invalidFilter`).
    fn from(e: DomainError) -> Self {
        let said = crate::error::describe(&e);
        match e {
            DomainError::NotFound => ScimError::not_found(),
            DomainError::Validation(errors) => {
                let filter = errors.iter().any(|e| e.field == "filter");
                let text = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                ScimError::bad(
                    if filter {
                        "invalidFilter"
                    } else {
                        said.scim_type.unwrap_or("invalidValue")
                    },
                    text,
                )
            }
            DomainError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                ScimError::new(said.status, None, crate::error::INTERNAL_DETAIL)
            }
            other => ScimError::new(said.status, said.scim_type, other.to_string()),
        }
    }
}

impl From<crate::error::ApiError> for ScimError {
    fn from(e: crate::error::ApiError) -> Self {
        match e {
            crate::error::ApiError::Domain(d) => d.into(),
            other => ScimError::bad("invalidSyntax", other.to_string()),
        }
    }
}

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        HttpResponse::build(self.status)
            .content_type(CONTENT_TYPE)
            .body(body.to_string())
    }
}

pub type ScimResult<T> = Result<T, ScimError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::describe;

    /// Issue 14: SCIM answers a domain error with the status problem+json answers (one
    /// description), save invalid fields, which RFC 7644 makes a 400.
    #[test]
    fn scim_and_problem_json_describe_errors_alike() {
        let errors = || {
            vec![
                DomainError::Unauthenticated,
                DomainError::InvalidCredentials,
                DomainError::AccountLocked {
                    retry_after_secs: 5,
                },
                DomainError::Forbidden {
                    rule: keyholder_domain::rule::Rule::R4,
                    detail: "x".into(),
                },
                DomainError::NotFound,
                DomainError::UsernameInUse,
                DomainError::LastAdmin,
                DomainError::VersionMismatch { expected: 2 },
                DomainError::Internal("boom".into()),
                DomainError::Validation(vec![]),
            ]
        };
        for (e, again) in errors().into_iter().zip(errors()) {
            let said = describe(&e);
            let scim = ScimError::from(again);
            if matches!(e, DomainError::Validation(_)) {
                assert_eq!(scim.status, StatusCode::BAD_REQUEST);
                assert_eq!(scim.scim_type, Some("invalidValue"));
            } else {
                assert_eq!(scim.status, said.status, "{e:?}");
                assert_eq!(scim.scim_type, said.scim_type, "{e:?}");
            }
        }
        assert_eq!(
            ScimError::from(DomainError::UsernameInUse).scim_type,
            Some("uniqueness")
        );
        assert_eq!(
            ScimError::from(DomainError::Internal("secret cause".into())).detail,
            crate::error::INTERNAL_DETAIL
        );
    }
}
