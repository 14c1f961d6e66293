//! Request and response bodies. Request bodies are never entities; responses are built from
//! domain types.

use keyholder_domain::model::{
    AuditEntry, Category, Contract, Hours, MemberCounts, NotificationMode, Org, OrgSettings,
    StaffMember, StudentGroup, StudentGroupType, UserGroup, UserView,
};
use keyholder_domain::permission::{CategoryFlags, Level, Permission};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// PATCH: absent leaves a field alone, `null` clears it.
pub fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A list's answer, the one envelope of every paged list (api-conventions, Lists):
/// `{items, page, per_page, total}`, `total` counting only what the caller may see.
macro_rules! list_of {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            pub page: u64,
            pub per_page: u64,
            pub total: u64,
        }

        impl<T: Into<$item>> From<keyholder_domain::services::Page<T>> for $name {
            fn from(p: keyholder_domain::services::Page<T>) -> Self {
                $name {
                    items: p.items.into_iter().map(Into::into).collect(),
                    page: p.page,
                    per_page: p.per_page,
                    total: p.total,
                }
            }
        }
    };
}
pub(crate) use list_of;

/// `page` (from 1) and `per_page` (default 15, at most 200) of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

mod audit;
mod auth;
mod categories;
mod groups;
mod me;
mod orgs;
mod staff;
mod students;
mod users;

pub use audit::*;
pub use auth::*;
pub use categories::*;
pub use groups::*;
pub use me::*;
pub use orgs::*;
pub use staff::*;
pub use students::*;
pub use users::*;
