//! One decision for a subject allowed in 50 student groups (target: median under 1 µs).
//! `cargo bench -p keyholder-domain`

use criterion::{Criterion, criterion_group, criterion_main};
use keyholder_domain::ids::*;
use keyholder_domain::permission::{Permission, PermissionSet};
use keyholder_domain::policy::{Action, Resource, StudentFacts, Subject, decide};
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

criterion_group!(benches, bench);
criterion_main!(benches);
