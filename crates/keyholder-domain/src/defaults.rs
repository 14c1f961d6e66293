//! G6: what a new org starts with, from the admin guides in `shared/reference/`.
//! Sub-categories of Child Protection are not named in the guides; the four below follow the
//! statutory abuse types that Cause for Concern does not already hold.

use crate::ids::{CategoryId, GroupId, OrgId};
use crate::model::{Category, UserGroup};
use crate::permission::{CategoryFlags, Permission, PermissionSet};

/// (top level, sensitive, sub-categories)
pub const CATEGORIES: &[(&str, bool, &[&str])] = &[
    (
        "Attendance",
        false,
        &[
            "Internal Monitoring",
            "Legal Action",
            "Parent Contract Offered",
            "Punctuality",
        ],
    ),
    (
        "Behaviour",
        false,
        &["Against Peers", "Against Staff", "Positive Behaviour"],
    ),
    (
        "Cause for Concern",
        false,
        &["Emotional Related", "Neglect Related"],
    ),
    (
        "Child Protection",
        true,
        &[
            "Disclosure",
            "Physical Abuse",
            "Sexual Abuse",
            "Referral to Children's Social Care",
        ],
    ),
];

/// The low-level group accounts created over SCIM join until the org chooses another.
pub const SCIM_GROUP: &str = "Teaching Assistants";

/// The group the org's first admin joins.
pub const ADMIN_GROUP: &str = "DSL / Child Protection Team";

const ALL: CategoryFlags = CategoryFlags {
    view_students: true,
    view_incidents: true,
    add_incidents: true,
};
const ADD: CategoryFlags = CategoryFlags {
    view_students: false,
    view_incidents: false,
    add_incidents: true,
};

use Permission::*;

/// (name, system permissions, flags for Attendance, Behaviour, Cause for Concern, Child Protection).
/// Sub-categories take their parent's flags.
pub const GROUPS: &[(&str, &[Permission], [CategoryFlags; 4])] = &[
    (
        // "full access rights except 'Manage allegations against staff'" (Impero guide).
        ADMIN_GROUP,
        &[
            StudentsList,
            StudentsView,
            StudentsEdit,
            IncidentsAdd,
            IncidentsEdit,
            AuditsView,
            ReportsRun,
            ReportsShare,
            AdminManageUsers,
            AdminManageSystem,
            AdminDataDestruction,
            AdminNamedPerson,
            ProfileEditOwn,
            PlannerView,
            PlannerAddEvents,
            PlannerAddPublicEvents,
            LibraryView,
            LibraryAdd,
        ],
        [ALL, ALL, ALL, ALL],
    ),
    (
        // All categories but child protection, which only the DSL views.
        "SLT",
        &[
            StudentsList,
            StudentsView,
            IncidentsAdd,
            ReportsRun,
            ProfileEditOwn,
            PlannerView,
            PlannerAddEvents,
            PlannerAddPublicEvents,
            LibraryView,
            LibraryAdd,
        ],
        [ALL, ALL, ALL, ADD],
    ),
    (
        // As the CPOMS "Teachers" screenshot, plus editing one's own profile (U12).
        "Teachers",
        &[
            StudentsList,
            StudentsView,
            IncidentsAdd,
            ProfileEditOwn,
            PlannerView,
            PlannerAddEvents,
            PlannerAddPublicEvents,
            LibraryView,
            LibraryAdd,
        ],
        [ADD, ALL, ADD, ADD],
    ),
    (
        // "If the users in this group will not have a key … tick Add New Incident/Action".
        "Teaching Assistants",
        &[IncidentsAdd, ProfileEditOwn, LibraryView],
        [ADD, ADD, ADD, ADD],
    ),
    (
        "Administration",
        &[
            IncidentsAdd,
            ProfileEditOwn,
            PlannerView,
            PlannerAddEvents,
            LibraryView,
        ],
        [ADD, ADD, ADD, ADD],
    ),
];

/// The default categories and groups of a new org, ready to insert (parents first).
pub fn org_defaults(org: OrgId) -> (Vec<Category>, Vec<UserGroup>) {
    let mut categories = Vec::new();
    let mut tops = Vec::new();
    for (i, (name, sensitive, subs)) in CATEGORIES.iter().enumerate() {
        let top = Category {
            id: CategoryId::new(),
            org_id: org,
            name: (*name).to_owned(),
            parent_id: None,
            sensitive: *sensitive,
            position: i as i32,
            version: 1,
        };
        let mut family = vec![top.id];
        categories.push(top.clone());
        for (j, sub) in subs.iter().enumerate() {
            let c = Category {
                id: CategoryId::new(),
                org_id: org,
                name: (*sub).to_owned(),
                parent_id: Some(top.id),
                sensitive: *sensitive,
                position: j as i32,
                version: 1,
            };
            family.push(c.id);
            categories.push(c);
        }
        tops.push(family);
    }
    let groups = GROUPS
        .iter()
        .map(|(name, perms, flags)| UserGroup {
            id: GroupId::new(),
            org_id: org,
            name: (*name).to_owned(),
            active: true,
            system_permissions: perms.iter().copied().collect::<PermissionSet>(),
            registered_permissions: vec![],
            category_permissions: tops
                .iter()
                .zip(flags.iter())
                .flat_map(|(family, f)| family.iter().map(move |c| (*c, *f)))
                .collect(),
            version: 1,
            external_id: None,
        })
        .collect();
    (categories, groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g6_new_org_has_four_top_categories_child_protection_sensitive_and_five_groups() {
        let (cats, groups) = org_defaults(OrgId::new());
        let tops: Vec<_> = cats.iter().filter(|c| c.parent_id.is_none()).collect();
        assert_eq!(tops.len(), 4);
        assert!(
            cats.iter()
                .filter(|c| c.sensitive)
                .all(|c| c.name == "Child Protection" || c.parent_id == Some(tops[3].id))
        );
        let names: Vec<_> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "DSL / Child Protection Team",
                "SLT",
                "Teachers",
                "Teaching Assistants",
                "Administration"
            ]
        );
        let dsl = &groups[0];
        assert!(
            dsl.system_permissions
                .contains(Permission::AdminManageSystem)
        );
        assert!(
            !dsl.system_permissions
                .contains(Permission::AllegationsManage)
        );
        let cp = tops[3].id;
        assert!(!groups[1].flags_for(cp).view_incidents);
        assert!(dsl.flags_for(cp).view_incidents);
        assert_eq!(dsl.category_permissions.len(), cats.len());
    }
}
