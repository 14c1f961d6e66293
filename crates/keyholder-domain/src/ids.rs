//! Typed ids: a `UserId` cannot be passed where a `GroupId` is wanted.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id {
    ($($name:ident),*) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                $name(Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id!(
    OrgId,
    UserId,
    GroupId,
    CategoryId,
    SessionId,
    StudentId,
    StudentGroupId,
    AuditId,
    StaffId,
    ServiceAccountId,
    IncidentId,
    AlertId,
    IdentityProviderId
);
