//! The permission catalogue (G1, G2): system permissions and the three per-category flags.

use serde::{Deserialize, Serialize};

/// Whether a permission needs a session with a proven second factor (G2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Low level: held in every session.
    Low,
    /// High level: held only in a session whose user proved a second factor at login.
    High,
}

macro_rules! catalogue {
    ($( $variant:ident = $key:literal, $level:ident, $desc:literal; )*) => {
        /// A system permission of the catalogue.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Permission { $( $variant, )* }

        impl Permission {
            /// Every permission, in catalogue order.
            pub const ALL: &'static [Permission] = &[ $( Permission::$variant, )* ];

            /// The stable key clients use (`students.list`).
            pub fn key(self) -> &'static str {
                match self { $( Permission::$variant => $key, )* }
            }

            /// Whether the permission needs a second factor (G2).
            pub fn level(self) -> Level {
                match self { $( Permission::$variant => Level::$level, )* }
            }

            /// What the permission allows, for the catalogue endpoint.
            pub fn description(self) -> &'static str {
                match self { $( Permission::$variant => $desc, )* }
            }

            /// Parses a catalogue key.
            pub fn from_key(key: &str) -> Option<Permission> {
                match key { $( $key => Some(Permission::$variant), )* _ => None }
            }

            /// This permission alone, as a slice of the catalogue.
            pub fn alone(self) -> &'static [Permission] {
                let i = self as usize;
                Permission::ALL.get(i..=i).unwrap_or(&[])
            }
        }
    };
}

catalogue! {
    StudentsList = "students.list", High, "List students (only those visible under R4).";
    StudentsView = "students.view", High, "Open a student's record (only those visible under R4).";
    StudentsEdit = "students.edit", High, "Edit student details.";
    IncidentsAdd = "incidents.add", Low, "Record an incident (with add-incidents on its category).";
    IncidentsEdit = "incidents.edit", High, "Edit incidents.";
    AuditsView = "audits.view", High, "Read the audit trail.";
    ReportsRun = "reports.run", High, "Run reports.";
    ReportsShare = "reports.share", High, "Share reports.";
    AdminManageUsers = "admin.manage_users", High, "Manage accounts, user groups and access (elevated).";
    AdminManageSystem = "admin.manage_system", High, "Manage the organisation's settings (admin).";
    AdminDataDestruction = "admin.data_destruction", High, "Destroy data past retention.";
    AdminNamedPerson = "admin.named_person", Low, "Be a named person for notifications.";
    AllegationsManage = "allegations.manage", High, "Manage allegations against staff.";
    ProfileEditOwn = "profile.edit_own", Low, "Edit one's own profile.";
    PlannerView = "planner.view", Low, "See the planner.";
    PlannerAddEvents = "planner.add_events", Low, "Add planner events.";
    PlannerAddPublicEvents = "planner.add_public_events", Low, "Add public planner events.";
    LibraryView = "library.view", Low, "Read the document library.";
    LibraryAdd = "library.add", Low, "Add to the document library.";
}

impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.key())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = String::deserialize(d)?;
        Permission::from_key(&key)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown permission `{key}`")))
    }
}

/// A set of system permissions, as a bit set (the catalogue has fewer than 32 entries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u32);

impl PermissionSet {
    /// The empty set.
    pub const EMPTY: PermissionSet = PermissionSet(0);

    /// Every permission of the catalogue.
    pub fn all() -> PermissionSet {
        Permission::ALL.iter().copied().collect()
    }

    /// Only the low-level permissions of the catalogue (G2).
    pub fn low_level() -> PermissionSet {
        Permission::ALL
            .iter()
            .copied()
            .filter(|p| p.level() == Level::Low)
            .collect()
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & (1 << p as u8) != 0
    }

    pub fn insert(&mut self, p: Permission) {
        self.0 |= 1 << p as u8;
    }

    pub fn is_subset_of(self, other: PermissionSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn intersection(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 & other.0)
    }

    pub fn difference(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 & !other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    /// The keys, in catalogue order.
    pub fn keys(self) -> Vec<String> {
        self.iter().map(|p| p.key().to_owned()).collect()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = PermissionSet::EMPTY;
        for p in iter {
            set.insert(p);
        }
        set
    }
}

/// The three flags a group holds per category (G1). `view_students` and `view_incidents` are
/// high level, `add_incidents` low level (G2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CategoryFlags {
    pub view_students: bool,
    pub view_incidents: bool,
    pub add_incidents: bool,
}

impl CategoryFlags {
    pub const NONE: CategoryFlags = CategoryFlags {
        view_students: false,
        view_incidents: false,
        add_incidents: false,
    };
    pub const ALL: CategoryFlags = CategoryFlags {
        view_students: true,
        view_incidents: true,
        add_incidents: true,
    };

    /// The flags in effect in a session without a proven second factor (G2).
    pub fn low_level(self) -> CategoryFlags {
        CategoryFlags {
            view_students: false,
            view_incidents: false,
            add_incidents: self.add_incidents,
        }
    }

    pub fn is_subset_of(self, other: CategoryFlags) -> bool {
        (!self.view_students || other.view_students)
            && (!self.view_incidents || other.view_incidents)
            && (!self.add_incidents || other.add_incidents)
    }

    pub fn is_none(self) -> bool {
        self == CategoryFlags::NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_parses_back_to_its_permission() {
        for p in Permission::ALL {
            assert_eq!(Permission::from_key(p.key()), Some(*p));
        }
        assert_eq!(Permission::from_key("students.lists"), None);
    }

    #[test]
    fn g2_low_level_set_is_exactly_the_l_permissions_of_the_catalogue() {
        let low: Vec<_> = PermissionSet::low_level().iter().map(|p| p.key()).collect();
        assert_eq!(
            low,
            [
                "incidents.add",
                "admin.named_person",
                "profile.edit_own",
                "planner.view",
                "planner.add_events",
                "planner.add_public_events",
                "library.view",
                "library.add"
            ]
        );
    }
}

/// Issue 16: a permission of another product (a governors' portal, a planner) that the
/// product registered in an org's catalogue with a `catalogue` key, as a group grants it: its
/// key and its level (G2). Groups grant it like the built-in ones; the engine decides it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RegisteredGrant {
    pub key: String,
    pub level: Level,
}

/// A registered permission in the org's catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredPermission {
    pub key: String,
    pub level: Level,
    pub description: String,
    /// The service account whose key registered it: only that product changes or removes it
    /// (while the account lives).
    pub registered_by: Option<crate::ids::ServiceAccountId>,
}

/// The most characters of a registered permission's key, and of its description.
pub const MAX_REGISTERED_KEY_CHARS: usize = 100;
pub const MAX_REGISTERED_DESCRIPTION_CHARS: usize = 500;
/// The most permissions one org's catalogue may register.
pub const MAX_REGISTERED_PER_ORG: usize = 500;

/// Why `key` cannot name a registered permission, if it cannot: two or more dot-separated
/// segments of lower-case letters, digits and `_`, each starting with a letter
/// (`governors.content.create`), at most 100 characters, and not in a namespace of the built-in
/// catalogue (`students.`, `admin.`…: those are Keyholder's own).
pub fn registered_key_problem(key: &str) -> Option<(&'static str, &'static str)> {
    if key.is_empty() || key.chars().count() > MAX_REGISTERED_KEY_CHARS {
        return Some(("length", "1 to 100 characters"));
    }
    let segments: Vec<&str> = key.split('.').collect();
    let well_formed = segments.len() >= 2
        && segments.iter().all(|s| {
            s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if !well_formed {
        return Some((
            "invalid_key",
            "dot-separated lower-case segments (`product.area.action`)",
        ));
    }
    let namespace = segments.first().copied().unwrap_or_default();
    if Permission::ALL
        .iter()
        .any(|p| p.key().split('.').next() == Some(namespace))
    {
        return Some((
            "reserved_namespace",
            "the namespace is the built-in catalogue's",
        ));
    }
    None
}

#[cfg(test)]
mod registered_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Issue 16: any text is judged without a panic; what is accepted is a well-formed,
        /// bounded key outside the built-in namespaces.
        #[test]
        fn a_registered_key_is_bounded_well_formed_and_never_a_built_in(key in "\\PC{0,120}|[a-z_.0-9]{0,110}") {
            if registered_key_problem(&key).is_none() {
                prop_assert!(key.len() <= MAX_REGISTERED_KEY_CHARS);
                prop_assert!(key.contains('.'));
                prop_assert!(key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'));
                prop_assert!(Permission::from_key(&key).is_none());
                let ns = key.split('.').next().unwrap_or_default();
                prop_assert!(Permission::ALL.iter().all(|p| p.key().split('.').next() != Some(ns)));
            }
        }

        #[test]
        fn a_product_key_of_good_segments_is_accepted(segments in proptest::collection::vec("[a-z][a-z0-9_]{0,12}", 1..4)) {
            let key = format!("governors.{}", segments.join("."));
            prop_assert_eq!(registered_key_problem(&key), None);
        }
    }

    #[test]
    fn a_built_in_namespace_is_reserved() {
        for p in Permission::ALL {
            let ns = p.key().split('.').next().unwrap_or_default();
            assert_eq!(
                registered_key_problem(&format!("{ns}.anything")).map(|(c, _)| c),
                Some("reserved_namespace")
            );
        }
    }
}
