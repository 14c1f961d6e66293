//! problem+json (RFC 9457) with a stable `code`; one exhaustive mapping from domain errors.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use keyholder_domain::DomainError;
use keyholder_domain::rule::Rule;
use serde::Serialize;
use utoipa::ToSchema;

/// One bad field of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The field, as named in the request (`category_permissions[2].category_id`).
    pub field: String,
    /// A stable snake_case code (`email`, `weak_password`, `unknown_group`…).
    pub code: String,
    pub message: String,
}

/// Member counts of a group that cannot be deleted (G3).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberCountsProblem {
    pub active: u64,
    pub deactivated: u64,
}

/// An error, as `application/problem+json`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable snake_case code: `email_in_use`, `group_in_use`, `last_admin`, `second_factor_required`…
    pub code: String,
    /// The domain rule that decided (`G2`, `G4`, `A3`…), for 403s and rule conflicts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Every bad field, for 422 (and 400 where known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldProblem>>,
    /// U4: the status of the account holding the email (`active`, `deactivated`, `pending`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_status: Option<String>,
    /// G3: who still belongs to the group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_counts: Option<MemberCountsProblem>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A body that is not JSON or not of the expected shape.
    #[error("malformed body: {0}")]
    MalformedBody(String),
    #[error("malformed query string: {0}")]
    MalformedQuery(String),
    #[error("malformed path: {0}")]
    MalformedPath(String),
    #[error("malformed header {0}: {1}")]
    MalformedHeader(&'static str, String),
    #[error("the body must be application/json")]
    UnsupportedMediaType,
    #[error("the body is too large")]
    PayloadTooLarge,
    #[error("no such route")]
    RouteNotFound,
    /// A documented path asked with a method it does not take (the `Allow` list).
    #[error("this path takes {0}")]
    MethodNotAllowed(String),
    /// Too many requests from one address at a rate-limited door.
    #[error("too many requests from this address; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
}

/// What a caller is told of an internal error (the cause is logged, never answered).
pub const INTERNAL_DETAIL: &str = "an internal error occurred; it has been logged";

/// One description of a domain error, answered alike as problem+json and over SCIM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Described {
    pub status: StatusCode,
    /// problem+json's stable `code`.
    pub code: &'static str,
    pub title: &'static str,
    /// The rule the error enforces, when one does.
    pub rule: Option<Rule>,
    /// SCIM's `scimType`, where RFC 7644 names one.
    pub scim_type: Option<&'static str>,
}

/// The one mapping from domain errors to what callers are answered.
pub fn describe(d: &DomainError) -> Described {
    use StatusCode as S;
    let said = |status, code, title| Described {
        status,
        code,
        title,
        rule: None,
        scim_type: None,
    };
    let ruled = |status, code, title, rule| Described {
        rule: Some(rule),
        ..said(status, code, title)
    };
    let unique = |code, title, rule: Option<Rule>| Described {
        rule,
        scim_type: Some("uniqueness"),
        ..said(S::CONFLICT, code, title)
    };
    match d {
        DomainError::Unauthenticated => {
            said(S::UNAUTHORIZED, "unauthenticated", "Not authenticated")
        }
        DomainError::InvalidCredentials => {
            said(S::UNAUTHORIZED, "invalid_credentials", "Login failed")
        }
        DomainError::InvalidSecondFactor => {
            said(S::UNAUTHORIZED, "invalid_second_factor", "Login failed")
        }
        DomainError::AccountLocked { .. } => said(
            S::TOO_MANY_REQUESTS,
            "account_locked",
            "Too many failed logins",
        ),
        DomainError::InvalidRefreshToken => said(
            S::UNAUTHORIZED,
            "invalid_refresh_token",
            "Refresh token not valid",
        ),
        DomainError::Forbidden { rule, .. } => {
            let (code, title) = match *rule {
                Rule::G2 => ("second_factor_required", "Second factor required"),
                Rule::G4 => ("escalation_denied", "Not allowed to grant"),
                // A blocked pupil is answered as a missing one: the only R5 refusal a caller
                // sees is a block on their own account.
                Rule::R5 => ("own_account_blocks", "Not on one's own account"),
                _ => ("permission_denied", "Not allowed"),
            };
            ruled(S::FORBIDDEN, code, title, *rule)
        }
        DomainError::PasswordChangeRequired => ruled(
            S::FORBIDDEN,
            "password_change_required",
            "Password change required",
            Rule::A3,
        ),
        DomainError::NotFound => said(S::NOT_FOUND, "not_found", "Not found"),
        DomainError::EmailInUse { .. } => unique("email_in_use", "Email in use", Some(Rule::U4)),
        DomainError::UsernameInUse => unique("username_in_use", "Username in use", None),
        DomainError::GroupNameInUse => unique("group_name_in_use", "Group name in use", None),
        DomainError::OrgSlugInUse => unique("org_slug_in_use", "Slug in use", None),
        DomainError::GroupInUse { .. } => {
            ruled(S::CONFLICT, "group_in_use", "Group in use", Rule::G3)
        }
        DomainError::LastAdmin => ruled(S::CONFLICT, "last_admin", "Last admin", Rule::G5),
        DomainError::SecondFactorAlreadyEnrolled => said(
            S::CONFLICT,
            "second_factor_already_enrolled",
            "Second factor already enrolled",
        ),
        DomainError::SecondFactorNotStarted => said(
            S::CONFLICT,
            "second_factor_not_started",
            "No second-factor setup in progress",
        ),
        DomainError::Conflict { code, .. } => said(S::CONFLICT, code, "Conflict"),
        DomainError::SsoInvalid { code, .. } => said(S::BAD_REQUEST, code, "Single sign-on failed"),
        DomainError::SsoRefused { code, .. } => {
            ruled(S::FORBIDDEN, code, "Single sign-on refused", Rule::A8)
        }
        DomainError::ProviderUnavailable(_) => said(
            S::BAD_GATEWAY,
            "identity_provider_unavailable",
            "The identity provider is unavailable",
        ),
        DomainError::VersionMismatch { .. } => said(
            S::PRECONDITION_FAILED,
            "version_mismatch",
            "Version mismatch",
        ),
        DomainError::Validation(_) => Described {
            scim_type: Some("invalidValue"),
            ..said(
                S::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Invalid fields",
            )
        },
        DomainError::Internal(_) => said(S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
    }
}

impl ApiError {
    fn problem(&self) -> Problem {
        let mut p = Problem {
            type_: String::new(),
            title: String::new(),
            status: self.status_code().as_u16(),
            detail: self.to_string(),
            code: String::new(),
            rule: None,
            errors: None,
            holder_status: None,
            member_counts: None,
        };
        let (code, title): (&str, &str) = match self {
            ApiError::Domain(d) => {
                let said = describe(d);
                p.rule = said.rule.map(|r| r.as_str().to_owned());
                // What some errors carry beyond their description.
                match d {
                    DomainError::EmailInUse { holder_status } => {
                        p.holder_status = Some(holder_status.as_str().to_owned());
                        if *holder_status == keyholder_domain::model::UserStatus::Deactivated {
                            p.detail = "the email belongs to a deactivated account: remove that account's login details first".into();
                        }
                    }
                    DomainError::GroupInUse {
                        active,
                        deactivated,
                    } => {
                        p.member_counts = Some(MemberCountsProblem {
                            active: *active,
                            deactivated: *deactivated,
                        });
                    }
                    DomainError::Validation(errors) => {
                        p.errors = Some(
                            errors
                                .iter()
                                .map(|e| FieldProblem {
                                    field: e.field.clone(),
                                    code: e.code.clone(),
                                    message: e.message.clone(),
                                })
                                .collect(),
                        );
                    }
                    DomainError::Internal(cause) => {
                        tracing::error!(%cause, "internal error");
                        p.detail = INTERNAL_DETAIL.into();
                    }
                    // A8: what went wrong at the provider is for the log, not for the caller
                    // (an address, a TLS error, a body the provider sent).
                    DomainError::ProviderUnavailable(cause) => {
                        tracing::warn!(%cause, "the identity provider is unavailable");
                        p.detail = "the identity provider could not be reached or answered \
                                    nonsense; try again later"
                            .into();
                    }
                    _ => {}
                }
                (said.code, said.title)
            }
            ApiError::MalformedBody(_) => ("malformed_body", "Malformed body"),
            ApiError::MalformedQuery(_) => ("malformed_query", "Malformed query string"),
            ApiError::MalformedPath(_) => ("malformed_path", "Malformed path"),
            ApiError::MalformedHeader(..) => ("malformed_header", "Malformed header"),
            ApiError::UnsupportedMediaType => ("unsupported_media_type", "Unsupported media type"),
            ApiError::PayloadTooLarge => ("payload_too_large", "Payload too large"),
            ApiError::RouteNotFound => ("not_found", "Not found"),
            ApiError::RateLimited { .. } => ("rate_limited", "Too many requests"),
            ApiError::MethodNotAllowed(_) => ("method_not_allowed", "Method not allowed"),
        };
        p.code = code.to_owned();
        p.title = title.to_owned();
        p.type_ = format!("https://keyholder.dev/problems/{}", code.replace('_', "-"));
        p
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Domain(d) => describe(d).status,
            ApiError::MalformedBody(_)
            | ApiError::MalformedQuery(_)
            | ApiError::MalformedPath(_)
            | ApiError::MalformedHeader(..) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.content_type("application/problem+json");
        if let ApiError::Domain(DomainError::AccountLocked { retry_after_secs })
        | ApiError::RateLimited { retry_after_secs } = self
        {
            res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        if self.status_code() == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        res.json(self.problem())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
