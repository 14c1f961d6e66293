//! The domain's one error type. The API maps each variant to HTTP in one exhaustive `match`.

use crate::model::UserStatus;
use crate::rule::Rule;

/// One bad field of a request (`errors: [{field, code, message}]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// No valid credentials (missing, expired or revoked token).
    #[error("not authenticated")]
    Unauthenticated,
    /// Login refused: unknown login or wrong password, indistinguishable (A2).
    #[error("the login or password is wrong")]
    InvalidCredentials,
    /// Login refused: the second-factor code was wrong or already used (A5).
    #[error("the second-factor code is wrong or was already used")]
    InvalidSecondFactor,
    /// Too many failures: try again after this many seconds (A2).
    #[error("too many failed logins; try again in {retry_after_secs} s")]
    AccountLocked { retry_after_secs: u64 },
    /// The refresh token is unknown, spent or its session ended (A1).
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    /// The policy engine said no; `rule` is the rule id that denied.
    #[error("not allowed ({rule}): {detail}")]
    Forbidden { rule: Rule, detail: String },
    /// A3: the account must change its password before anything else.
    #[error("the password must be changed first")]
    PasswordChangeRequired,
    /// Not found, or not visible to the caller (T1: a foreign id is not found).
    #[error("not found")]
    NotFound,
    /// U4: the email belongs to another account.
    #[error("the email is in use by a {holder_status} account")]
    EmailInUse { holder_status: UserStatus },
    #[error("the username is in use")]
    UsernameInUse,
    #[error("a user group with that name exists")]
    GroupNameInUse,
    #[error("an organisation with that slug exists")]
    OrgSlugInUse,
    /// G3: a group with members cannot be deleted.
    #[error("the group has {active} active and {deactivated} deactivated members")]
    GroupInUse { active: u64, deactivated: u64 },
    /// G5: the change would leave no active admin.
    #[error("the change would leave the organisation without an active admin")]
    LastAdmin,
    /// A second factor is already enrolled (A5).
    #[error("a second factor is already enrolled")]
    SecondFactorAlreadyEnrolled,
    /// Confirming a second factor that was never set up (A5).
    #[error("no second-factor setup is in progress")]
    SecondFactorNotStarted,
    /// The record is not in a state that allows this (`not_deactivated`, `not_pending`,
    /// `clone_of_pending`, `mis_id_in_use`…).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// A8: a single sign-on flow that cannot go on (a wrong or spent `state`, a code or ID
    /// token the provider did not give for this flow); nothing changed.
    #[error("{detail}")]
    SsoInvalid { code: &'static str, detail: String },
    /// A8: the provider vouched for someone this org will not sign in (unlinked, pending,
    /// deactivated, outside the allowed domains), or the org's password setting refuses.
    #[error("{detail}")]
    SsoRefused { code: &'static str, detail: String },
    /// A8: the identity provider could not be reached or answered nonsense.
    #[error("the identity provider is unavailable: {0}")]
    ProviderUnavailable(String),
    /// If-Match named another version.
    #[error("the resource changed since version {expected}")]
    VersionMismatch { expected: i64 },
    /// Every bad field at once.
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    /// The database or another dependency failed; the cause is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        DomainError::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        DomainError::Validation(vec![FieldError::new(field, code, message)])
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        DomainError::Internal(e.to_string())
    }
}

pub type Result<T, E = DomainError> = std::result::Result<T, E>;
