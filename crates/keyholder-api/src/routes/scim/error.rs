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
    fn from(e: DomainError) -> Self {
        use StatusCode as S;
        let detail = e.to_string();
        match e {
            DomainError::Unauthenticated
            | DomainError::InvalidCredentials
            | DomainError::InvalidSecondFactor
            | DomainError::InvalidRefreshToken => ScimError::new(S::UNAUTHORIZED, None, detail),
            DomainError::AccountLocked { .. } => ScimError::new(S::TOO_MANY_REQUESTS, None, detail),
            DomainError::Forbidden { .. } | DomainError::PasswordChangeRequired => {
                ScimError::new(S::FORBIDDEN, None, detail)
            }
            DomainError::NotFound => ScimError::not_found(),
            DomainError::EmailInUse { .. }
            | DomainError::UsernameInUse
            | DomainError::GroupNameInUse
            | DomainError::OrgSlugInUse => ScimError::new(S::CONFLICT, Some("uniqueness"), detail),
            DomainError::GroupInUse { .. }
            | DomainError::LastAdmin
            | DomainError::SecondFactorAlreadyEnrolled
            | DomainError::SecondFactorNotStarted
            | DomainError::Conflict { .. } => ScimError::new(S::CONFLICT, None, detail),
            DomainError::VersionMismatch { .. } => {
                ScimError::new(S::PRECONDITION_FAILED, None, detail)
            }
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
                        "invalidValue"
                    },
                    text,
                )
            }
            DomainError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                ScimError::new(
                    S::INTERNAL_SERVER_ERROR,
                    None,
                    "an internal error occurred; it has been logged",
                )
            }
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
