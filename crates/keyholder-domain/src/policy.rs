//! The policy engine: pure, default deny, an explicit deny (a block) beats any grant.
//!
//! Given a [`Subject`] (who, with the permissions in effect after G2), an [`Action`] and a
//! [`Resource`], [`decide`] answers a [`Decision`] with the rule ids and facts that decided it.

use crate::ids::*;
use crate::model::{Category, Org, OrgSettings, Scope, User, UserGroup};
use crate::permission::{CategoryFlags, Permission, PermissionSet};
use crate::rule::Rule;
use crate::visibility::{self, CategoryGuard};
use serde::Serialize;

/// Who is asking, as the engine sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub org_slug: String,
    pub session_id: SessionId,
    /// The session proved a second factor at login (A1 `amr`).
    pub second_factor: bool,
    /// A3: nothing but a password change until it is done.
    pub must_change_password: bool,
    /// What the user's group grants, before G2.
    pub held: PermissionSet,
    /// What is in effect in this session, after G2.
    pub permissions: PermissionSet,
    /// Category flags in effect in this session, after G2.
    pub category_flags: Vec<(CategoryId, CategoryFlags)>,
    /// Issue 16: the registered permissions of other products the group grants (sorted keys),
    /// and those in effect in this session after G2.
    pub registered_held: Vec<String>,
    pub registered: Vec<String>,
    /// R3/R4: the restricting student groups whose allow-list names this user (sorted).
    pub allowed_groups: Vec<StudentGroupId>,
    /// R5: students blocked for this user (sorted).
    pub blocked_students: Vec<StudentId>,
    /// R3: the org's restricting group types, from the same facts as the permissions (a
    /// settings change drops them with the session's facts, U5).
    pub restricted_group_types: Vec<crate::model::StudentGroupType>,
}

impl Subject {
    pub fn holds(&self, p: Permission) -> bool {
        self.permissions.contains(p)
    }

    pub fn is_admin(&self) -> bool {
        self.holds(Permission::AdminManageSystem)
    }

    pub fn flags_for(&self, category: CategoryId) -> CategoryFlags {
        self.category_flags
            .iter()
            .find(|(c, _)| *c == category)
            .map(|(_, f)| *f)
            .unwrap_or_default()
    }
}

/// What the subject wants to do. Each route names exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Any signed-in member of the org: read the org's name and slug.
    ReadOrg,
    ReadOrgSettings,
    EditOrgSettings,
    /// The caller's own account (`/v1/me`): any signed-in user, even under A3.
    ReadOwnAccount,
    /// Enrol or remove one's own second factor.
    ManageOwnSecondFactor,
    /// Read the permission catalogue: any signed-in user.
    ReadCatalogue,
    ListUsers,
    ReadUser,
    CreateUser,
    EditUser,
    ListUserGroups,
    ReadUserGroup,
    CreateUserGroup,
    EditUserGroup,
    DeleteUserGroup,
    /// G4: hand out the permissions of a group (create/edit it, or move a user into it).
    GrantGroup,
    ListCategories,
    /// G1: create, edit and delete categories.
    EditCategories,
    /// ASVS 7.4.5: end every session in the org (a suspected breach).
    EndAllSessions,
    /// S1/S2: staff records, to make accounts from.
    ListStaff,
    ReadStaff,
    EditStaff,
    /// S3: the leavers report.
    RunLeaversReport,
    /// U12: one's own names, phone, email and notification preferences.
    EditOwnProfile,
    /// R2/R3: student groups and their allow-lists.
    ListStudentGroups,
    ReadAudit,
    /// R10: ask the engine about someone else.
    ExplainAccess,
    ListStudents,
    ViewStudent,
    /// A7: manage the org's service accounts.
    ManageServiceAccounts,
    /// S4: push MIS records (service accounts with `mis.sync` only).
    SyncMis,
    /// SCIM 2.0 provisioning (service accounts with `scim` only).
    Scim,
    /// A9: token introspection (service accounts with `decisions` only).
    Introspect,
    /// R10 in bulk: many decisions from one read of the facts (service accounts with
    /// `decisions` only).
    CheckBatch,
    /// R11: who may see a pupil, and who may read its incidents per category: an admin
    /// (`admin.manage_system`: R5) who may see the pupil, or a service account with `decisions`.
    ListViewers,
    /// Issue 16: register, list and unregister the permissions of another product (service
    /// accounts with `catalogue` only).
    ManageCatalogue,
    /// R11's mirror: the pupils a user would be listed (an admin, as R5 asks; R4 for the admin
    /// too).
    ListVisibleStudents,
    /// R8: the names-only pick-list of pupils to record an incident about.
    PickStudents,
    /// R3, R6: read and edit allow-lists of restricting groups.
    ManageRestrictions,
    /// R5: block a pupil for a user.
    ManageBlocks,
    /// R7: pupils in no restricting group.
    RunRestrictionReport,
    /// R8: record an incident (`incidents.add`, add-incidents on the category, a visible pupil).
    AddIncident,
    /// R8: read an incident (view-incidents on its category, R4 for its pupil).
    ReadIncident,
    /// R9: mark a pupil monitored for a category, or unmark (`students.edit`, view-students
    /// on the category, R4/R5 for the pupil).
    EditMonitoring,
    /// Issue 13: make, rename, archive a student group an admin keeps (not the MIS's) and add
    /// or remove its pupils.
    ManageStudentGroups,
    /// R10: exercise one catalogue permission (`access/check` asked in the catalogue's words):
    /// the permission in effect (G1, G2) and, on a pupil, R4 and R5.
    Exercise(Permission),
    /// Issue 16: exercise a permission another product registered (its key is given to
    /// [`decide_registered`]): the permission in effect (G1, G2) and, on a pupil, R4 and R5.
    ExerciseRegistered,
}

impl Action {
    /// The permissions an action needs, all of them (G1); most need one or none.
    pub fn required_permissions(self) -> &'static [Permission] {
        use Action::*;
        use Permission as P;
        match self {
            ReadOrg
            | ReadOwnAccount
            | ManageOwnSecondFactor
            | ReadCatalogue
            | ListCategories
            | GrantGroup => &[],
            ReadOrgSettings | EditOrgSettings | EditCategories | EndAllSessions => {
                &[P::AdminManageSystem]
            }
            ListUsers | ReadUser | CreateUser | EditUser | ListUserGroups | ReadUserGroup
            | CreateUserGroup | EditUserGroup | DeleteUserGroup | ExplainAccess | ListStaff
            | ReadStaff | EditStaff | RunLeaversReport | ListStudentGroups => {
                &[P::AdminManageUsers]
            }
            ReadAudit => &[P::AuditsView],
            EditOwnProfile => &[P::ProfileEditOwn],
            ListStudents => &[P::StudentsList],
            ViewStudent => &[P::StudentsView],
            ManageServiceAccounts => &[P::AdminManageSystem],
            PickStudents | AddIncident => &[P::IncidentsAdd],
            ReadIncident => &[],
            EditMonitoring => &[P::StudentsEdit],
            ManageRestrictions => &[P::AdminManageUsers],
            // Members are pupils: the list permission in effect too (G2), each one visible (R4).
            ManageStudentGroups => &[P::AdminManageUsers, P::StudentsList],
            // R5: blocks are admins' only; they name pupils, so the list permission too (R4).
            ManageBlocks => &[P::AdminManageSystem, P::StudentsList],
            // R7 names pupils: the list permission in effect (G2) as well.
            RunRestrictionReport => &[P::AdminManageUsers, P::StudentsList],
            // R11 names the users who see a pupil, from a pupil the admin may see (R4); who is
            // missing from either list may be blocked, and blocks are admins' only (R5).
            ListViewers => &[P::AdminManageSystem, P::StudentsView],
            ListVisibleStudents => &[P::AdminManageSystem, P::StudentsList],
            SyncMis | Scim | Introspect | CheckBatch | ExerciseRegistered | ManageCatalogue => &[],
            Exercise(p) => p.alone(),
        }
    }

    /// A7: the scope a service account needs; actions with one are for service accounts only.
    pub fn required_scope(self) -> Option<Scope> {
        match self {
            Action::SyncMis => Some(Scope::MisSync),
            Action::Scim => Some(Scope::Scim),
            Action::Introspect | Action::CheckBatch => Some(Scope::Decisions),
            Action::ManageCatalogue => Some(Scope::Catalogue),
            _ => None,
        }
    }

    /// A7: the scope that opens this action to a service account: its required scope, or for
    /// an action people do too, the scope a service does it with.
    pub fn service_scope(self) -> Option<Scope> {
        match self {
            Action::ListViewers => Some(Scope::Decisions),
            other => other.required_scope(),
        }
    }

    /// A3: what an account that must change its password may still do.
    fn allowed_before_password_change(self) -> bool {
        matches!(self, Action::ReadOwnAccount)
    }
}

/// The facts about a student that R4 and R5 need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentFacts {
    pub id: StudentId,
    /// The student's groups whose type restricts access in this org (R3).
    pub restricting_groups: Vec<StudentGroupId>,
}

/// What the action is done to.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    /// The org itself, or a collection in it.
    Org(OrgId),
    /// The permissions a group would hand out (G4).
    Grant {
        org: OrgId,
        permissions: PermissionSet,
        /// Issue 16: the registered permissions of other products it grants.
        registered: &'a [crate::permission::RegisteredGrant],
        categories: &'a [(CategoryId, CategoryFlags)],
    },
    Student {
        org: OrgId,
        facts: &'a StudentFacts,
    },
    /// An incident (to record or read) in a category about a pupil (R8).
    Incident {
        org: OrgId,
        category: CategoryId,
        facts: &'a StudentFacts,
    },
    /// A pupil's monitoring mark for a category (R9).
    Monitoring {
        org: OrgId,
        category: CategoryId,
        facts: &'a StudentFacts,
    },
    /// The blocks on one account (R5): never the subject's own.
    BlocksOf {
        org: OrgId,
        user: UserId,
    },
}

impl Resource<'_> {
    fn org(&self) -> OrgId {
        match self {
            Resource::Org(org) => *org,
            Resource::Grant { org, .. }
            | Resource::Student { org, .. }
            | Resource::Incident { org, .. }
            | Resource::Monitoring { org, .. }
            | Resource::BlocksOf { org, .. } => *org,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub rule: Rule,
    /// The catalogue permission the reason is about (`students.list`), if any.
    pub permission: Option<std::borrow::Cow<'static, str>>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    pub reasons: Vec<Reason>,
}

impl Decision {
    pub(crate) fn deny(rule: Rule, detail: String) -> Decision {
        Decision::deny_about(rule, None, detail)
    }

    /// T1: the resource belongs to another organisation.
    fn other_org() -> Decision {
        Decision::deny(
            Rule::T1,
            "the resource belongs to another organisation".into(),
        )
    }

    /// A refusal about one permission (G1, G2).
    fn deny_about(
        rule: Rule,
        permission: Option<std::borrow::Cow<'static, str>>,
        detail: String,
    ) -> Decision {
        Decision {
            allowed: false,
            reasons: vec![Reason {
                rule,
                permission,
                detail,
            }],
        }
    }

    /// The first rule that denied, if the decision is a denial.
    pub fn denying_rule(&self) -> Option<&Reason> {
        if self.allowed {
            None
        } else {
            self.reasons.first()
        }
    }

    /// Turns a denial into the error the caller sees: T1 is a 404 (a foreign record is not
    /// revealed), A3 its own error, everything else a 403 naming the rule.
    pub fn into_result(self) -> crate::error::Result<()> {
        use crate::error::DomainError;
        match self.denying_rule() {
            None => Ok(()),
            Some(r) if r.rule == Rule::T1 => Err(DomainError::NotFound),
            Some(r) if r.rule == Rule::A3 => Err(DomainError::PasswordChangeRequired),
            Some(r) => Err(DomainError::Forbidden {
                rule: r.rule,
                detail: r.detail.clone(),
            }),
        }
    }
}

/// The engine. Pure: no I/O, no clock.
pub fn decide(subject: &Subject, action: Action, resource: Resource<'_>) -> Decision {
    decide_needing(subject, action, None, resource)
}

/// Issue 16: may the subject exercise the registered permission `key` on the resource? As for
/// a built-in permission: T1, A3, R5 first, then the permission in effect (G1, G2), then the
/// resource's own rules (R4 on a pupil, G4 on a grant).
pub fn decide_registered(subject: &Subject, key: &str, resource: Resource<'_>) -> Decision {
    decide_needing(subject, Action::ExerciseRegistered, Some(key), resource)
}

fn decide_needing(
    subject: &Subject,
    action: Action,
    registered: Option<&str>,
    resource: Resource<'_>,
) -> Decision {
    if resource.org() != subject.org_id {
        return Decision::other_org();
    }
    if let Some(scope) = action.required_scope() {
        return Decision::deny(
            Rule::A7,
            format!(
                "only a service account key with scope `{}` may do this",
                scope.as_str()
            ),
        );
    }
    if subject.must_change_password && !action.allowed_before_password_change() {
        return Decision::deny(
            Rule::A3,
            "the account must change its password before anything else".into(),
        );
    }
    // An explicit deny beats any grant: blocks are looked at before permissions.
    if let Resource::Student { facts, .. }
    | Resource::Incident { facts, .. }
    | Resource::Monitoring { facts, .. } = resource
        && let Err(denied) = visibility::r5(subject, facts)
    {
        return denied;
    }
    let mut reasons = Vec::with_capacity(2);
    for &p in action.required_permissions() {
        if !subject.permissions.contains(p) {
            let (rule, detail) = if subject.held.contains(p) {
                (
                    Rule::G2,
                    format!(
                        "`{}` is high level and this session did not prove a second factor",
                        p.key()
                    ),
                )
            } else {
                (
                    Rule::G1,
                    format!("the user's group does not grant `{}`", p.key()),
                )
            };
            return Decision::deny_about(rule, Some(p.key().into()), detail);
        }
        reasons.push(Reason {
            rule: Rule::G1,
            permission: Some(p.key().into()),
            detail: format!("the user's group grants `{}`", p.key()),
        });
    }
    if let Some(key) = registered {
        if subject
            .registered
            .binary_search_by(|k| k.as_str().cmp(key))
            .is_err()
        {
            let (rule, detail) = if subject
                .registered_held
                .binary_search_by(|k| k.as_str().cmp(key))
                .is_ok()
            {
                (
                    Rule::G2,
                    format!("`{key}` is high level and this session did not prove a second factor"),
                )
            } else {
                (Rule::G1, format!("the user's group does not grant `{key}`"))
            };
            return Decision::deny_about(rule, Some(key.to_owned().into()), detail);
        }
        reasons.push(Reason {
            rule: Rule::G1,
            permission: Some(key.to_owned().into()),
            detail: format!("the user's group grants `{key}`"),
        });
    }
    match resource {
        Resource::Org(_) => {
            if reasons.is_empty() {
                reasons.push(Reason {
                    rule: Rule::T1,
                    permission: None,
                    detail: "a signed-in member of the organisation".into(),
                });
            }
        }
        Resource::BlocksOf { user, .. } => {
            if user == subject.user_id {
                return Decision::deny(
                    Rule::R5,
                    "nobody adds, lifts or reads a block on their own account".into(),
                );
            }
            reasons.push(Reason {
                rule: Rule::R5,
                permission: None,
                detail: "an admin manages the blocks of another account".into(),
            });
        }
        Resource::Grant {
            permissions,
            registered,
            categories,
            ..
        } => {
            if let Some(reason) = escalation(subject, permissions, categories)
                .or_else(|| registered_escalation(subject, registered))
            {
                return Decision::deny(Rule::G4, reason);
            }
            reasons.push(Reason {
                rule: Rule::G4,
                permission: None,
                detail: "the user holds every permission the group grants".into(),
            });
        }
        Resource::Incident {
            category, facts, ..
        }
        | Resource::Monitoring {
            category, facts, ..
        } => {
            let guard = match (resource, action) {
                (Resource::Monitoring { .. }, _) => CategoryGuard::ViewStudents,
                (_, Action::AddIncident) => CategoryGuard::AddIncidents,
                _ => CategoryGuard::ViewIncidents,
            };
            let (rule, flag) = (guard.rule(), guard.flag_name());
            if !guard.holds(subject.flags_for(category)) {
                return Decision::deny(
                    rule,
                    format!(
                        "the user's group does not grant {flag} on category {category} in this session"
                    ),
                );
            }
            reasons.push(Reason {
                rule,
                permission: None,
                detail: format!("the user's group grants {flag} on category {category}"),
            });
            match visibility::r4(subject, facts) {
                Ok(reason) => reasons.push(reason),
                Err(denied) => return denied,
            }
        }
        Resource::Student { facts, .. } => match visibility::r4(subject, facts) {
            Ok(reason) => reasons.push(reason),
            Err(denied) => return denied,
        },
    }
    Decision {
        allowed: true,
        reasons,
    }
}

/// A service account, as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSubject {
    pub account_id: ServiceAccountId,
    /// The admin who made the key: what the key may hand out (G4) is bounded by what they hold.
    pub created_by: Option<UserId>,
    pub org_id: OrgId,
    pub org_slug: String,
    pub scopes: Vec<Scope>,
}

/// A7: a key opens exactly the doors of its scopes and nothing else (never users' or
/// children's data).
pub fn decide_service(
    subject: &ServiceSubject,
    action: Action,
    resource: Resource<'_>,
) -> Decision {
    if resource.org() != subject.org_id {
        return Decision::other_org();
    }
    match action.service_scope() {
        Some(scope) if subject.scopes.contains(&scope) => Decision {
            allowed: true,
            reasons: vec![Reason {
                rule: Rule::A7,
                permission: None,
                detail: format!("the key has scope `{}`", scope.as_str()),
            }],
        },
        Some(scope) => Decision::deny(
            Rule::A7,
            format!("the key lacks scope `{}`", scope.as_str()),
        ),
        None => Decision::deny(
            Rule::A7,
            "a service account key opens only its integration's endpoints".into(),
        ),
    }
}

/// G4: what the grant would hand out that the subject does not hold, if anything.
fn escalation(
    subject: &Subject,
    permissions: PermissionSet,
    categories: &[(CategoryId, CategoryFlags)],
) -> Option<String> {
    if permissions.contains(Permission::AdminManageSystem) && !subject.is_admin() {
        return Some("only admins can grant `admin.manage_system`".into());
    }
    let missing = permissions.difference(subject.permissions);
    if !missing.is_empty() {
        return Some(format!(
            "the user does not hold {}",
            missing
                .iter()
                .map(|p| format!("`{}`", p.key()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (category, flags) in categories {
        if !flags.is_subset_of(subject.flags_for(*category)) {
            return Some(format!(
                "the user does not hold every flag the group grants on category {category}"
            ));
        }
    }
    None
}

/// G4 for the registered permissions of other products: each one granted is one the subject
/// holds in this session, unless the subject is an admin (`admin.manage_system` in effect):
/// a product's permissions are registered held by no group, and the org's admins hand them
/// out first.
fn registered_escalation(
    subject: &Subject,
    registered: &[crate::permission::RegisteredGrant],
) -> Option<String> {
    if subject.is_admin() {
        return None;
    }
    let missing: Vec<String> = registered
        .iter()
        .filter(|r| subject.registered.binary_search(&r.key).is_err())
        .map(|r| format!("`{}`", r.key))
        .collect();
    (!missing.is_empty()).then(|| format!("the user does not hold {}", missing.join(", ")))
}

/// G1/G2 for the registered permissions of other products: the keys a group puts in effect in
/// one session (sorted), under the same rule as the built-in ones (none of them is `admin.*`).
pub fn registered_in_effect(
    group: &UserGroup,
    second_factor: bool,
    settings: &OrgSettings,
) -> Vec<String> {
    if !group.active {
        return Vec::new();
    }
    let relaxed = !settings.second_factor_for_high_level;
    group
        .registered_permissions
        .iter()
        .filter(|r| second_factor || relaxed || r.level == crate::permission::Level::Low)
        .map(|r| r.key.clone())
        .collect()
}

/// The registered permissions a group grants, before G2 (sorted keys).
pub fn registered_held(group: &UserGroup) -> Vec<String> {
    if !group.active {
        return Vec::new();
    }
    group
        .registered_permissions
        .iter()
        .map(|r| r.key.clone())
        .collect()
}

impl Subject {
    /// The one constructor of a subject: `user` of `org` in `group`, in the session
    /// `session_id` with (or without) a second factor, holding what the group puts in effect
    /// (G1, G2, and the permissions other products registered). No allow-lists or blocks: R4
    /// and R5 add those per pupil.
    pub fn in_group(
        org: &Org,
        user: &User,
        group: &UserGroup,
        categories: &[Category],
        second_factor: bool,
        session_id: SessionId,
    ) -> Subject {
        let (permissions, category_flags) =
            effective_permissions(group, categories, second_factor, &org.settings);
        Subject {
            user_id: user.id,
            org_id: org.id,
            org_slug: org.slug.clone(),
            session_id,
            second_factor,
            must_change_password: user.must_change_password,
            held: if group.active {
                group.system_permissions
            } else {
                PermissionSet::EMPTY
            },
            permissions,
            category_flags,
            registered_held: registered_held(group),
            registered: registered_in_effect(group, second_factor, &org.settings),
            allowed_groups: vec![],
            blocked_students: vec![],
            restricted_group_types: org.settings.restricted_group_types.clone(),
        }
    }
}

/// G1/G2: the permissions and category flags a group puts in effect in one session.
/// An inactive group grants nothing; without a second factor only the low-level ones hold,
/// unless the org switched that off, which it can never do for `admin.*` or sensitive
/// categories.
pub fn effective_permissions(
    group: &UserGroup,
    categories: &[Category],
    second_factor: bool,
    settings: &OrgSettings,
) -> (PermissionSet, Vec<(CategoryId, CategoryFlags)>) {
    if !group.active {
        return (PermissionSet::EMPTY, Vec::new());
    }
    if second_factor {
        return (group.system_permissions, group.category_permissions.clone());
    }
    let relaxed = !settings.second_factor_for_high_level;
    let mut permissions = group
        .system_permissions
        .intersection(PermissionSet::low_level());
    if relaxed {
        for p in group.system_permissions.iter() {
            if !p.key().starts_with("admin.") {
                permissions.insert(p);
            }
        }
    }
    let flags = group
        .category_permissions
        .iter()
        .map(|(c, f)| {
            if relaxed && !is_sensitive(*c, categories) {
                (*c, *f)
            } else {
                (*c, f.low_level())
            }
        })
        .filter(|(_, f)| !f.is_none())
        .collect();
    (permissions, flags)
}

/// A category is sensitive if it or any of its ancestors is.
pub fn is_sensitive(id: CategoryId, categories: &[Category]) -> bool {
    let mut current = Some(id);
    let mut hops = 0;
    while let Some(c) = current.and_then(|id| categories.iter().find(|c| c.id == id)) {
        if c.sensitive {
            return true;
        }
        current = c.parent_id;
        hops += 1;
        if hops > categories.len() {
            break;
        }
    }
    false
}

#[cfg(test)]
mod tests;
