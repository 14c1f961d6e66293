//! One decision for a subject allowed in 50 student groups (target: median under 1 µs), and a
//! batch of 1 000 checks decided from facts already read (issue 16: under 1 µs per check).
//! `cargo bench -p keyholder-domain`

use criterion::{Criterion, criterion_group, criterion_main};
use keyholder_domain::ids::*;
use keyholder_domain::permission::{Permission, PermissionSet};
use keyholder_domain::policy::{Action, Resource, StudentFacts, Subject, decide};
use keyholder_domain::services::{BatchAnswer, BatchCheck, BatchFacts};
use std::hint::black_box;

fn subject_in_50_groups() -> (Subject, StudentFacts) {
    let mut groups: Vec<StudentGroupId> = (0..50).map(|_| StudentGroupId::new()).collect();
    groups.sort();
    let perms: PermissionSet = [Permission::StudentsList, Permission::StudentsView]
        .into_iter()
        .collect();
    let mut blocked: Vec<StudentId> = (0..5).map(|_| StudentId::new()).collect();
    blocked.sort();
    let subject = Subject {
        user_id: UserId::new(),
        org_id: OrgId::new(),
        org_slug: "demo".into(),
        session_id: SessionId::new(),
        second_factor: true,
        must_change_password: false,
        held: perms,
        permissions: perms,
        category_flags: vec![],
        registered_held: vec![],
        registered: vec![],
        allowed_groups: groups.clone(),
        blocked_students: blocked,
        restricted_group_types: vec![],
    };
    // A pupil in a year group, a registration group and a house, all restricting.
    let facts = StudentFacts {
        id: StudentId::new(),
        restricting_groups: vec![groups[3], groups[17], groups[42]],
    };
    (subject, facts)
}

fn bench(c: &mut Criterion) {
    let (subject, facts) = subject_in_50_groups();
    let resource = Resource::Student {
        org: subject.org_id,
        facts: &facts,
    };
    assert!(decide(&subject, Action::ViewStudent, resource).allowed);
    c.bench_function("decide view_student, subject allowed in 50 groups", |b| {
        b.iter(|| {
            decide(
                black_box(&subject),
                black_box(Action::ViewStudent),
                black_box(resource),
            )
        })
    });
    let mut denied = facts.clone();
    denied.restricting_groups.push(StudentGroupId::new());
    let resource = Resource::Student {
        org: subject.org_id,
        facts: &denied,
    };
    c.bench_function("decide view_student, denied by R4", |b| {
        b.iter(|| {
            decide(
                black_box(&subject),
                black_box(Action::ViewStudent),
                black_box(resource),
            )
        })
    });
}

/// 1 000 checks: 100 staff × 10 pupils, each pupil in a restricting registration group and a
/// house, every other staff member on the allow-lists, a few blocks.
fn batch_of_1000() -> (BatchFacts, Vec<BatchCheck>) {
    use keyholder_domain::model::*;
    use keyholder_domain::services::{BatchParts, CheckResource};
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let org = Org {
        id: OrgId::new(),
        slug: "bench".into(),
        name: "Bench".into(),
        settings: OrgSettings::default(),
        created_at: now,
    };
    let group = UserGroup {
        id: GroupId::new(),
        org_id: org.id,
        name: "Teachers".into(),
        active: true,
        system_permissions: [Permission::StudentsList, Permission::StudentsView]
            .into_iter()
            .collect(),
        registered_permissions: vec![],
        category_permissions: vec![],
        version: 1,
        external_id: None,
    };
    let users: Vec<User> = (0..100)
        .map(|i| User {
            id: UserId::new(),
            org_id: org.id,
            username: Some(format!("u{i}")),
            email: None,
            title: None,
            forename: "Staff".into(),
            surname: format!("S{i}"),
            job_title: None,
            phone: None,
            user_group_id: group.id,
            status: UserStatus::Active,
            password_hash: None,
            must_change_password: false,
            password_changed_at: None,
            last_login_at: None,
            totp: TotpState {
                secret: None,
                confirmed: false,
                last_step: None,
            },
            token_version: 0,
            version: 1,
            created_at: now,
            updated_at: now,
            external_id: None,
            scim: None,
            scim_deleted: false,
        })
        .collect();
    let mut students = Vec::new();
    let mut access = Vec::new();
    let mut blocks = Vec::new();
    for p in 0..10 {
        let s = Student {
            id: StudentId::new(),
            org_id: org.id,
            mis_id: format!("P{p}"),
            forename: "Pupil".into(),
            surname: format!("N{p}"),
            date_of_birth: None,
            on_roll: true,
        };
        let groups: Vec<StudentGroup> =
            [StudentGroupType::RegistrationGroup, StudentGroupType::House]
                .into_iter()
                .map(|kind| StudentGroup {
                    id: StudentGroupId::new(),
                    org_id: org.id,
                    mis_id: None,
                    kind,
                    name: format!("{kind:?} {p}"),
                    archived: false,
                    version: 1,
                })
                .collect();
        for (i, u) in users.iter().enumerate() {
            if i % 2 == 0 {
                access.extend(groups.iter().map(|g| (u.id, g.id)));
            }
            if i % 17 == p {
                blocks.push((u.id, s.id));
            }
        }
        students.push((s, groups));
    }
    let checks: Vec<BatchCheck> = users
        .iter()
        .flat_map(|u| {
            students.iter().map(|(s, _)| BatchCheck {
                user: u.id,
                action: keyholder_domain::services::Asked::Action(Action::ViewStudent),
                resource: CheckResource::Student(s.id),
                second_factor: true,
            })
        })
        .collect();
    let parts = BatchParts {
        org,
        categories: vec![],
        users,
        groups: vec![group],
        students,
        access,
        blocks,
        catalogue: vec![],
    };
    (BatchFacts::new(parts, &checks), checks)
}

fn batch(c: &mut Criterion) {
    let (facts, checks) = batch_of_1000();
    assert_eq!(checks.len(), 1000);
    let allowed = checks
        .iter()
        .filter(|c| matches!(facts.decide(c), BatchAnswer::Decided(d) if d.allowed))
        .count();
    assert!(allowed > 0 && allowed < 1000, "{allowed} allowed");
    c.bench_function("decide a batch of 1 000 checks (facts read)", |b| {
        b.iter(|| {
            black_box(&checks)
                .iter()
                .map(|c| facts.decide(c))
                .filter(|a| matches!(a, BatchAnswer::Decided(d) if d.allowed))
                .count()
        })
    });
}

criterion_group!(benches, bench, batch);
criterion_main!(benches);
