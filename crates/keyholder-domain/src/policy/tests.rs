use super::*;
use crate::model::{OrgSettings, UserGroup};
use proptest::prelude::*;

fn subject(perms: &[Permission]) -> Subject {
    let set: PermissionSet = perms.iter().copied().collect();
    Subject {
        user_id: UserId::new(),
        org_id: OrgId(uuid::Uuid::from_u128(1)),
        org_slug: "school".into(),
        session_id: SessionId::new(),
        second_factor: true,
        must_change_password: false,
        held: set,
        permissions: set,
        category_flags: vec![],
        registered_held: vec![],
        registered: vec![],
        allowed_groups: vec![],
        blocked_students: vec![],
        restricted_group_types: vec![],
    }
}

fn org(s: &Subject) -> Resource<'static> {
    Resource::Org(s.org_id)
}

fn group(perms: &[Permission], flags: Vec<(CategoryId, CategoryFlags)>) -> UserGroup {
    UserGroup {
        id: GroupId::new(),
        org_id: OrgId(uuid::Uuid::from_u128(1)),
        name: "g".into(),
        active: true,
        system_permissions: perms.iter().copied().collect(),
        registered_permissions: vec![],
        category_permissions: flags,
        version: 1,
        external_id: None,
    }
}

#[test]
fn default_deny_g1_nothing_granted_means_no() {
    let s = subject(&[]);
    let d = decide(&s, Action::ListUsers, org(&s));
    assert!(!d.allowed);
    assert_eq!(d.reasons[0].rule, Rule::G1);
}

#[test]
fn g1_granted_permission_allows_with_its_reason() {
    let s = subject(&[Permission::AdminManageUsers]);
    let d = decide(&s, Action::ListUsers, org(&s));
    assert!(d.allowed);
    assert_eq!(d.reasons[0].rule, Rule::G1);
}

#[test]
fn t1_another_orgs_resource_is_denied_even_to_an_admin() {
    let s = subject(Permission::ALL);
    let d = decide(&s, Action::ListUsers, Resource::Org(OrgId::new()));
    assert_eq!(d.denying_rule().map(|r| r.rule), Some(Rule::T1));
    assert!(matches!(
        d.into_result(),
        Err(crate::error::DomainError::NotFound)
    ));
}

#[test]
fn g2_high_level_permission_held_without_second_factor_is_denied_as_g2() {
    let group = group(
        &[Permission::AdminManageUsers, Permission::IncidentsAdd],
        vec![],
    );
    let (eff, _) = effective_permissions(&group, &[], false, &OrgSettings::default());
    assert!(eff.contains(Permission::IncidentsAdd));
    assert!(!eff.contains(Permission::AdminManageUsers));
    let mut s = subject(&[]);
    s.held = group.system_permissions;
    s.permissions = eff;
    s.second_factor = false;
    let d = decide(&s, Action::ListUsers, org(&s));
    assert_eq!(d.denying_rule().map(|r| r.rule), Some(Rule::G2));
}

#[test]
fn g2_org_relaxation_never_covers_admin_or_sensitive_categories() {
    let cp = Category {
        id: CategoryId::new(),
        org_id: OrgId::new(),
        name: "Child Protection".into(),
        parent_id: None,
        sensitive: true,
        position: 0,
        version: 1,
    };
    let sub = Category {
        id: CategoryId::new(),
        parent_id: Some(cp.id),
        sensitive: false,
        name: "Neglect".into(),
        ..cp.clone()
    };
    let behaviour = Category {
        id: CategoryId::new(),
        parent_id: None,
        sensitive: false,
        name: "Behaviour".into(),
        ..cp.clone()
    };
    let all = CategoryFlags {
        view_students: true,
        view_incidents: true,
        add_incidents: true,
    };
    let g = group(
        &[Permission::AdminManageSystem, Permission::StudentsList],
        vec![(sub.id, all), (behaviour.id, all)],
    );
    let relaxed = OrgSettings {
        second_factor_for_high_level: false,
        ..OrgSettings::default()
    };
    let cats = [cp, sub.clone(), behaviour.clone()];
    let (eff, flags) = effective_permissions(&g, &cats, false, &relaxed);
    assert!(eff.contains(Permission::StudentsList));
    assert!(!eff.contains(Permission::AdminManageSystem));
    let sub_flags = flags.iter().find(|(c, _)| *c == sub.id).map(|(_, f)| *f);
    assert_eq!(sub_flags, Some(all.low_level()));
    let b = flags
        .iter()
        .find(|(c, _)| *c == behaviour.id)
        .map(|(_, f)| *f);
    assert_eq!(b, Some(all));
}

#[test]
fn g1_an_inactive_group_grants_nothing() {
    let mut g = group(&[Permission::IncidentsAdd], vec![]);
    g.active = false;
    let (eff, flags) = effective_permissions(&g, &[], true, &OrgSettings::default());
    assert!(eff.is_empty() && flags.is_empty());
}

#[test]
fn a3_must_change_password_allows_only_own_account() {
    let mut s = subject(Permission::ALL);
    s.must_change_password = true;
    assert!(decide(&s, Action::ReadOwnAccount, org(&s)).allowed);
    let d = decide(&s, Action::ListUsers, org(&s));
    assert_eq!(d.denying_rule().map(|r| r.rule), Some(Rule::A3));
}

#[test]
fn g4_cannot_grant_a_permission_one_does_not_hold() {
    let s = subject(&[Permission::AdminManageUsers]);
    let want: PermissionSet = [Permission::AuditsView].into_iter().collect();
    let d = grant(&s, want);
    assert_eq!(d.denying_rule().map(|r| r.rule), Some(Rule::G4));
    assert!(d.reasons[0].detail.contains("audits.view"));
}

#[test]
fn g4_only_admins_grant_manage_system() {
    let s = subject(&[Permission::AdminManageUsers]);
    let want: PermissionSet = [Permission::AdminManageSystem].into_iter().collect();
    let d = grant(&s, want);
    assert!(!d.allowed);
    let admin = subject(&[Permission::AdminManageUsers, Permission::AdminManageSystem]);
    let d = grant(&admin, want);
    assert!(d.allowed);
}

#[test]
fn g4_category_flags_beyond_ones_own_are_refused() {
    let c = CategoryId::new();
    let mut s = subject(&[Permission::AdminManageUsers]);
    s.category_flags = vec![(
        c,
        CategoryFlags {
            add_incidents: true,
            ..CategoryFlags::NONE
        },
    )];
    let want = [(
        c,
        CategoryFlags {
            view_incidents: true,
            ..CategoryFlags::NONE
        },
    )];
    let d = decide(
        &s,
        Action::GrantGroup,
        Resource::Grant {
            org: s.org_id,
            permissions: PermissionSet::EMPTY,
            registered: &[],
            categories: &want,
        },
    );
    assert_eq!(d.denying_rule().map(|r| r.rule), Some(Rule::G4));
}

fn student(groups: Vec<StudentGroupId>) -> StudentFacts {
    StudentFacts {
        id: StudentId::new(),
        restricting_groups: groups,
    }
}

#[test]
fn r4_pupil_in_two_restricting_groups_needs_both() {
    let (a, b) = (StudentGroupId::new(), StudentGroupId::new());
    let mut s = subject(&[Permission::StudentsView]);
    s.allowed_groups = vec![a];
    let facts = student(vec![a, b]);
    let res = Resource::Student {
        org: s.org_id,
        facts: &facts,
    };
    assert_eq!(
        decide(&s, Action::ViewStudent, res)
            .denying_rule()
            .map(|r| r.rule),
        Some(Rule::R4)
    );
    s.allowed_groups = {
        let mut v = vec![a, b];
        v.sort();
        v
    };
    assert!(decide(&s, Action::ViewStudent, res).allowed);
}

#[test]
fn r5_a_block_beats_every_permission_including_admin() {
    let mut s = subject(Permission::ALL);
    let facts = student(vec![]);
    s.blocked_students = vec![facts.id];
    let d = decide(
        &s,
        Action::ViewStudent,
        Resource::Student {
            org: s.org_id,
            facts: &facts,
        },
    );
    assert_eq!(d.denying_rule().map(|r| r.rule), Some(Rule::R5));
}

fn arb_perms() -> impl Strategy<Value = PermissionSet> {
    proptest::collection::vec(0..Permission::ALL.len(), 0..Permission::ALL.len())
        .prop_map(|v| v.into_iter().map(|i| Permission::ALL[i]).collect())
}

const ACTIONS: &[Action] = &[
    Action::ReadOrg,
    Action::ReadOrgSettings,
    Action::EditOrgSettings,
    Action::ReadOwnAccount,
    Action::ListUsers,
    Action::CreateUser,
    Action::ListUserGroups,
    Action::ReadAudit,
    Action::ListStudents,
    Action::ViewStudent,
];

proptest! {
    #[test]
    fn prop_r5_a_block_always_denies(perms in arb_perms(), in_group in any::<bool>()) {
        let g = StudentGroupId::new();
        let facts = student(if in_group { vec![g] } else { vec![] });
        let mut s = subject(&[]);
        s.permissions = perms;
        s.held = perms;
        s.allowed_groups = vec![g];
        s.blocked_students = vec![facts.id];
        for action in ACTIONS {
            let d = decide(&s, *action, Resource::Student { org: s.org_id, facts: &facts });
            prop_assert!(!d.allowed);
        }
    }

    #[test]
    fn prop_removing_a_grant_never_widens_access(perms in arb_perms(), drop in 0..Permission::ALL.len()) {
        let facts = student(vec![]);
        let mut full = subject(&[]);
        full.permissions = perms;
        full.held = perms;
        let mut less = full.clone();
        less.permissions = perms.difference([Permission::ALL[drop]].into_iter().collect());
        for action in ACTIONS {
            for res in [Resource::Org(full.org_id), Resource::Student { org: full.org_id, facts: &facts }] {
                if decide(&less, *action, res).allowed {
                    prop_assert!(decide(&full, *action, res).allowed);
                }
            }
        }
    }

    #[test]
    fn prop_g2_without_second_factor_no_high_level_permission_is_in_effect(perms in arb_perms()) {
        let g = group(&perms.iter().collect::<Vec<_>>(), vec![]);
        let (eff, _) = effective_permissions(&g, &[], false, &OrgSettings::default());
        prop_assert!(eff.is_subset_of(PermissionSet::low_level()));
    }
}

fn arb_ids(n: usize) -> impl Strategy<Value = Vec<u128>> {
    proptest::collection::vec(0u128..12, 0..n)
}

fn groups(ids: &[u128]) -> Vec<StudentGroupId> {
    let mut v: Vec<StudentGroupId> = ids
        .iter()
        .map(|i| StudentGroupId(uuid::Uuid::from_u128(*i)))
        .collect();
    v.sort();
    v.dedup();
    v
}

proptest! {
    /// R4: adding a restricting group to a pupil, or taking a user off an allow-list, never
    /// widens what anyone sees.
    #[test]
    fn prop_r4_adding_a_restriction_never_widens(allowed in arb_ids(8), restricting in arb_ids(4), extra in 0u128..12, drop in 0usize..8) {
        let mut s = subject(&[Permission::StudentsView]);
        s.allowed_groups = groups(&allowed);
        let facts = student(groups(&restricting));
        let before = decide(&s, Action::ViewStudent, Resource::Student { org: s.org_id, facts: &facts }).allowed;
        let mut more = facts.clone();
        more.restricting_groups.push(StudentGroupId(uuid::Uuid::from_u128(extra)));
        let with_more = decide(&s, Action::ViewStudent, Resource::Student { org: s.org_id, facts: &more }).allowed;
        prop_assert!(!with_more || before);
        let mut fewer = s.clone();
        if !fewer.allowed_groups.is_empty() {
            let i = drop % fewer.allowed_groups.len();
            fewer.allowed_groups.remove(i);
        }
        let with_fewer = decide(&fewer, Action::ViewStudent, Resource::Student { org: s.org_id, facts: &facts }).allowed;
        prop_assert!(!with_fewer || before);
    }

    /// R4: a pupil is visible exactly when every one of its restricting groups is on the
    /// user's allow-lists (the rule the store's SQL scope implements for lists).
    #[test]
    fn prop_r4_decision_is_every_restricting_group_allowed(allowed in arb_ids(8), restricting in arb_ids(4)) {
        let mut s = subject(&[Permission::StudentsView]);
        s.allowed_groups = groups(&allowed);
        let facts = student(groups(&restricting));
        let allowed_all = facts.restricting_groups.iter().all(|g| s.allowed_groups.contains(g));
        prop_assert_eq!(decide(&s, Action::ViewStudent, Resource::Student { org: s.org_id, facts: &facts }).allowed, allowed_all);
    }

    /// R8: reading an incident needs view-incidents on its category; R5 still beats it.
    #[test]
    fn prop_r8_incident_reads_follow_the_category_flag_and_blocks(view in any::<bool>(), blocked in any::<bool>()) {
        let c = CategoryId::new();
        let mut s = subject(&[]);
        s.category_flags = vec![(c, CategoryFlags { view_incidents: view, ..CategoryFlags::NONE })];
        let facts = student(vec![]);
        if blocked {
            s.blocked_students = vec![facts.id];
        }
        let d = decide(&s, Action::ReadIncident, Resource::Incident { org: s.org_id, category: c, facts: &facts });
        prop_assert_eq!(d.allowed, view && !blocked);
    }
}

/// G4: `subject` asks to grant `permissions` (no registered permission, no category).
fn grant(subject: &Subject, permissions: PermissionSet) -> Decision {
    decide(
        subject,
        Action::GrantGroup,
        Resource::Grant {
            org: subject.org_id,
            permissions,
            registered: &[],
            categories: &[],
        },
    )
}
