//! One module per area; each handler names its action in its route attribute.

pub mod accounts;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod catalogue;
pub mod categories;
pub mod decisions;
pub mod groups;
pub mod incidents;
pub mod integrations;
pub mod me;
pub mod monitoring;
pub mod oauth;
pub mod ops;
pub mod orgs;
pub mod people;
pub mod scim;
pub mod sso;
pub mod student_groups;
pub mod students;
pub mod users;

use crate::error::ApiError;
use keyholder_domain::ids::*;
use uuid::Uuid;

/// The `{org}` path parameter is documented on every org-scoped route.
pub(crate) fn group_id(id: Uuid) -> GroupId {
    GroupId(id)
}

pub(crate) fn user_id(id: Uuid) -> UserId {
    UserId(id)
}

pub(crate) fn parse_status(
    s: Option<&str>,
) -> Result<Option<keyholder_domain::model::UserStatus>, ApiError> {
    match s {
        None | Some("") => Ok(None),
        Some(s) => keyholder_domain::model::UserStatus::parse(s)
            .map(Some)
            .ok_or_else(|| {
                ApiError::Domain(keyholder_domain::DomainError::field(
                    "status",
                    "unknown_status",
                    "one of pending, active, deactivated",
                ))
            }),
    }
}
