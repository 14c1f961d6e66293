//! User groups (G1-G5) and the permission catalogue.

use super::*;

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberCountsOut {
    pub active: u64,
    pub deactivated: u64,
    pub pending: u64,
}

impl From<MemberCounts> for MemberCountsOut {
    fn from(c: MemberCounts) -> Self {
        MemberCountsOut {
            active: c.active,
            deactivated: c.deactivated,
            pending: c.pending,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema, Clone, Copy)]
pub struct CategoryPermission {
    pub category_id: Uuid,
    #[serde(default)]
    pub view_students: bool,
    #[serde(default)]
    pub view_incidents: bool,
    #[serde(default)]
    pub add_incidents: bool,
}

impl CategoryPermission {
    pub fn from_domain((c, f): &(keyholder_domain::ids::CategoryId, CategoryFlags)) -> Self {
        CategoryPermission {
            category_id: c.0,
            view_students: f.view_students,
            view_incidents: f.view_incidents,
            add_incidents: f.add_incidents,
        }
    }

    pub fn to_domain(&self) -> (keyholder_domain::ids::CategoryId, CategoryFlags) {
        (
            keyholder_domain::ids::CategoryId(self.category_id),
            CategoryFlags {
                view_students: self.view_students,
                view_incidents: self.view_incidents,
                add_incidents: self.add_incidents,
            },
        )
    }
}

/// A user group (role).
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupOut {
    pub id: Uuid,
    pub name: String,
    /// `active` or `inactive` (an inactive group grants nothing).
    pub status: String,
    pub system_permissions: Vec<String>,
    pub category_permissions: Vec<CategoryPermission>,
    pub member_counts: MemberCountsOut,
    pub version: i64,
}

impl GroupOut {
    pub fn new(g: UserGroup, c: MemberCounts) -> Self {
        GroupOut {
            system_permissions: g.permission_keys(),
            id: g.id.0,
            name: g.name,
            status: if g.active { "active" } else { "inactive" }.to_owned(),
            category_permissions: g
                .category_permissions
                .iter()
                .map(CategoryPermission::from_domain)
                .collect(),
            member_counts: c.into(),
            version: g.version,
        }
    }
}

list_of!(GroupPage, GroupOut);

impl From<(UserGroup, MemberCounts)> for GroupOut {
    fn from((a, b): (UserGroup, MemberCounts)) -> Self {
        GroupOut::new(a, b)
    }
}

#[derive(Debug, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GroupStatus {
    Active,
    Inactive,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupIn {
    pub name: String,
    #[serde(default = "active")]
    pub status: GroupStatus,
    #[serde(default)]
    pub system_permissions: Vec<String>,
    #[serde(default)]
    pub category_permissions: Vec<CategoryPermission>,
}

fn active() -> GroupStatus {
    GroupStatus::Active
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupIn {
    pub name: Option<String>,
    pub status: Option<GroupStatus>,
    pub system_permissions: Option<Vec<String>>,
    pub category_permissions: Option<Vec<CategoryPermission>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupListQuery {
    pub q: Option<String>,
    /// `active` or `inactive`.
    pub status: Option<String>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionOut {
    pub key: String,
    /// `high` needs a session with a proven second factor (G2).
    pub level: String,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Catalogue {
    pub system_permissions: Vec<PermissionOut>,
    /// The per-category flags and their levels.
    pub category_flags: Vec<PermissionOut>,
    /// Issue 16: the permissions other products registered in the caller's org; groups grant
    /// them in `system_permissions` like the built-in ones.
    pub registered_permissions: Vec<PermissionOut>,
}

impl PermissionOut {
    pub fn registered(p: keyholder_domain::permission::RegisteredPermission) -> PermissionOut {
        PermissionOut {
            key: p.key,
            level: level(p.level),
            description: p.description,
        }
    }
}

pub fn level(l: Level) -> String {
    match l {
        Level::Low => "low",
        Level::High => "high",
    }
    .to_owned()
}

pub fn catalogue() -> Catalogue {
    let flag = |k: &str, l: Level, d: &str| PermissionOut {
        key: k.to_owned(),
        level: level(l),
        description: d.to_owned(),
    };
    Catalogue {
        system_permissions: Permission::ALL
            .iter()
            .map(|p| PermissionOut {
                key: p.key().to_owned(),
                level: level(p.level()),
                description: p.description().to_owned(),
            })
            .collect(),
        category_flags: vec![
            flag(
                "view_students",
                Level::High,
                "See that a student is monitored for the category.",
            ),
            flag(
                "view_incidents",
                Level::High,
                "Read incidents of the category.",
            ),
            flag(
                "add_incidents",
                Level::Low,
                "Record incidents in the category.",
            ),
        ],
        registered_permissions: vec![],
    }
}
