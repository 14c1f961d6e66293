//! R4 and R5 as SQL. A restricted user's pupils are found from the user outward, so that a page
//! costs what the user may see, not what the org holds:
//! candidates are the members of the groups whose allow-list names the user, plus the pupils in
//! no group of a restricting kind (an index lookup on `kinds_mask`); each candidate is then
//! kept only if it is not blocked and in no restricting group whose allow-list leaves the user
//! off. That last test alone decides who is shown: the candidates only narrow the search.

use crate::db_err;
use crate::entities::*;
use keyholder_domain::Result;
use keyholder_domain::auth_cache::ListCounts;
use keyholder_domain::ids::*;
use keyholder_domain::model::StudentGroupType;
use keyholder_domain::ports::StudentScope;
use keyholder_domain::visibility::{free_masks, kind_bit};
use sea_orm::DatabaseTransaction;
use sea_orm::sea_query::{Expr, Query, SelectStatement, UnionType};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, ExprTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

/// The groups whose allow-list names the user.
fn allow_listed_groups(org: OrgId, user: UserId) -> SelectStatement {
    Query::select()
        .column(student_group_access::Column::GroupId)
        .from(student_group_access::Entity)
        .and_where(student_group_access::Column::OrgId.eq(org.0))
        .and_where(student_group_access::Column::UserId.eq(user.0))
        .to_owned()
}

/// The student ids of the org in an unarchived group of these kinds.
pub(crate) fn restricting_memberships(org: OrgId, kinds: &[StudentGroupType]) -> SelectStatement {
    let kinds: Vec<&str> = kinds.iter().map(|t| t.as_str()).collect();
    Query::select()
        .column((
            student_group_members::Entity,
            student_group_members::Column::StudentId,
        ))
        .from(student_group_members::Entity)
        .inner_join(
            student_groups::Entity,
            Expr::col((student_groups::Entity, student_groups::Column::Id)).equals((
                student_group_members::Entity,
                student_group_members::Column::GroupId,
            )),
        )
        .and_where(
            Expr::col((
                student_group_members::Entity,
                student_group_members::Column::OrgId,
            ))
            .eq(org.0),
        )
        .and_where(Expr::col((student_groups::Entity, student_groups::Column::Kind)).is_in(kinds))
        .and_where(Expr::col((student_groups::Entity, student_groups::Column::Archived)).eq(false))
        .to_owned()
}

/// A restricting group that hides pupils from `user` (R4): of one of these kinds, unarchived,
/// its allow-list leaving the user off. Looked up by its key from each membership tested (a
/// subquery per membership: `LIMIT 1 OFFSET 0`), so that a pupil's test is one probe of its
/// memberships and one of each membership's group, whatever the planner's statistics: joined,
/// the planner of a one-school database scanned the groups once per pupil tested (5.6 ms against
/// 1.5 ms for a year's page of 10 000 pupils; 100 ms against 41 ms for a walk of all of them).
fn hiding_group(kinds: &[StudentGroupType], org: OrgId, user: UserId) -> SelectStatement {
    let kinds: Vec<&str> = kinds.iter().map(|t| t.as_str()).collect();
    Query::select()
        .column((student_groups::Entity, student_groups::Column::Id))
        .from(student_groups::Entity)
        .and_where(
            Expr::col((student_groups::Entity, student_groups::Column::Id)).equals((
                student_group_members::Entity,
                student_group_members::Column::GroupId,
            )),
        )
        .and_where(Expr::col((student_groups::Entity, student_groups::Column::Kind)).is_in(kinds))
        .and_where(Expr::col((student_groups::Entity, student_groups::Column::Archived)).eq(false))
        .and_where(
            Expr::col((student_groups::Entity, student_groups::Column::Id))
                .not_in_subquery(allow_listed_groups(org, user)),
        )
        .limit(1)
        .offset(0)
        .to_owned()
}

/// R5: the pupils blocked for a user.
fn blocked_for(org: OrgId, user: UserId) -> SelectStatement {
    Query::select()
        .column(student_blocks::Column::StudentId)
        .from(student_blocks::Entity)
        .and_where(student_blocks::Column::OrgId.eq(org.0))
        .and_where(student_blocks::Column::UserId.eq(user.0))
        .to_owned()
}

/// R4 for one pupil named by `student` (a column of the outer query): its memberships of
/// restricting groups whose allow-list leaves the scope's user off. `None`: nothing restricts.
fn outside_allow_lists<C>(org: OrgId, scope: &StudentScope, student: C) -> Option<SelectStatement>
where
    C: sea_orm::sea_query::IntoColumnRef,
{
    if scope.restricting_types.is_empty() {
        return None;
    }
    Some(
        Query::select()
            .column((
                student_group_members::Entity,
                student_group_members::Column::StudentId,
            ))
            .from(student_group_members::Entity)
            .and_where(
                Expr::col((
                    student_group_members::Entity,
                    student_group_members::Column::OrgId,
                ))
                .eq(org.0),
            )
            .and_where(
                Expr::col((
                    student_group_members::Entity,
                    student_group_members::Column::StudentId,
                ))
                .equals(student),
            )
            .and_where(Expr::exists(hiding_group(
                &scope.restricting_types,
                org,
                scope.user,
            )))
            .to_owned(),
    )
}

/// R4, R5 for one pupil named by `student` (a column of the outer query): true when the scope's
/// user may not see it, because it is blocked for them or in a restricting group whose
/// allow-list leaves them off. For a pupil of the org this is exactly "not visible".
pub(crate) fn hidden_student<C>(org: OrgId, scope: &StudentScope, student: C) -> Condition
where
    C: sea_orm::sea_query::IntoColumnRef + Clone,
{
    let c =
        Condition::any().add(Expr::col(student.clone()).in_subquery(blocked_for(org, scope.user)));
    match outside_allow_lists(org, scope, student) {
        Some(q) => c.add(Expr::exists(q)),
        None => c,
    }
}

/// T1, R5 and R4 as SQL conditions on `students`: the org's students the scope's user may see.
/// Callers add no org condition of their own: with restrictions, every candidate is already
/// the org's, and an outer `org_id` test would tempt the planner to scan the org's pupils.
pub(crate) fn visibility(org: OrgId, scope: &StudentScope) -> Condition {
    visibility_from(org, scope, None)
}

/// R5: not blocked for the scope's user, as an anti-join per row.
fn not_blocked(org: OrgId, scope: &StudentScope) -> sea_orm::sea_query::SimpleExpr {
    // As `NOT IN`, PostgreSQL filtered a scan of every pupil of the org before it joined the
    // few candidates (4.4 ms against 1.4 ms for one class of 30 in 10 000 pupils).
    Expr::exists(
        blocked_for(org, scope.user)
            .and_where(
                Expr::col((student_blocks::Entity, student_blocks::Column::StudentId))
                    .equals((students::Entity, students::Column::Id)),
            )
            .to_owned(),
    )
    .not()
}

/// The deciding test alone, on every pupil of the org: for a page read in name order (the
/// `ix_students_org_name_ci` index) when the user may see a large share of the org, so that the
/// first rows that pass fill the page and nothing else is read.
///
/// Each test stays a subquery run per pupil as the walk reaches it (`LIMIT 1 OFFSET 0`: an
/// `EXISTS` with an offset is not turned into a join by PostgreSQL, whose anti-join read every
/// membership of the kind before the first row: 725 ms against 4 ms for a year's page at
/// 100 000 pupils). SQLite runs them per row either way.
pub(crate) fn visibility_by_walk(org: OrgId, scope: &StudentScope) -> Condition {
    // R5 as one set of the user's blocks, read once and probed per row (a hashed subplan on
    // PostgreSQL, an ephemeral index on SQLite): a user's blocks are few, and a walk past 300
    // of them probed the blocks' index 472 times for a page.
    let mut c = Condition::all()
        .add(Expr::col((students::Entity, students::Column::OrgId)).eq(org.0))
        .add(
            Expr::col((students::Entity, students::Column::Id))
                .not_in_subquery(blocked_for(org, scope.user)),
        );
    if let Some(mut q) = outside_allow_lists(org, scope, (students::Entity, students::Column::Id)) {
        q.limit(1).offset(0);
        c = c.add(Expr::exists(q).not());
    }
    c
}

/// [`visibility`], its candidates taken from one restricting kind's allow-listed groups when
/// `narrow` names it. A pupil with that kind's bit is visible only through an unarchived group
/// of that kind whose allow-list names the user, so the candidates can be those groups'
/// members and the pupils without the bit, however broad the other allow-lists are.
pub(crate) fn visibility_from(
    org: OrgId,
    scope: &StudentScope,
    narrow: Option<StudentGroupType>,
) -> Condition {
    let id = || Expr::col((students::Entity, students::Column::Id));
    if scope.restricting_types.is_empty() {
        return Condition::all()
            .add(not_blocked(org, scope))
            .add(Expr::col((students::Entity, students::Column::OrgId)).eq(org.0));
    }
    let allowed_groups = match narrow {
        Some(kind) => Query::select()
            .column((student_groups::Entity, student_groups::Column::Id))
            .from(student_groups::Entity)
            .and_where(
                Expr::col((student_groups::Entity, student_groups::Column::Id))
                    .in_subquery(allow_listed_groups(org, scope.user)),
            )
            .and_where(
                Expr::col((student_groups::Entity, student_groups::Column::Kind)).eq(kind.as_str()),
            )
            .and_where(
                Expr::col((student_groups::Entity, student_groups::Column::Archived)).eq(false),
            )
            .to_owned(),
        None => allow_listed_groups(org, scope.user),
    };
    let allowed_members = Query::select()
        .column(student_group_members::Column::StudentId)
        .from(student_group_members::Entity)
        .and_where(student_group_members::Column::OrgId.eq(org.0))
        .and_where(student_group_members::Column::GroupId.in_subquery(allowed_groups))
        .to_owned();
    // Without a narrow kind: the pupils in no restricting group. With one: the pupils without
    // its bit, whatever their other kinds (the deciding test below settles those).
    let unbound = match narrow {
        Some(kind) => free_masks(&[kind]),
        None => free_masks(&scope.restricting_types),
    };
    let free = Query::select()
        .column(students::Column::Id)
        .from(students::Entity)
        .and_where(students::Column::OrgId.eq(org.0))
        .and_where(students::Column::KindsMask.is_in(unbound))
        .to_owned();
    let candidates = allowed_members
        .clone()
        .union(UnionType::Distinct, free)
        .to_owned();
    // The deciding test, per candidate: not blocked (an anti-join), and no restricting
    // membership outside the allow-lists (the candidates only narrow the search), the same test
    // as `hidden_student`. The second stays a subquery per candidate (`LIMIT 1 OFFSET 0`):
    // without it SQLite read it as one set of every hidden membership of the org, twice the time
    // of a page at 100 000 pupils for two restricting types (2.60 ms against 1.3–1.9 ms).
    let mut c = Condition::all()
        .add(not_blocked(org, scope))
        .add(id().in_subquery(candidates));
    if let Some(mut q) = outside_allow_lists(org, scope, (students::Entity, students::Column::Id)) {
        q.limit(1).offset(0);
        c = c.add(Expr::exists(q).not());
    }
    c
}

/// Counts a list of the org's pupils once (the caller holds them until the pupils change):
/// the pupils of the org, the restricting kind giving the fewest candidates and how many, and
/// the list's total through those candidates. `filters` are the list's own conditions.
pub(crate) async fn count_students(
    txn: &DatabaseTransaction,
    org: OrgId,
    scope: &StudentScope,
    filters: Condition,
) -> Result<ListCounts> {
    let masks: Vec<(i32, i64)> = students::Entity::find()
        .select_only()
        .column(students::Column::KindsMask)
        .column_as(Expr::col(students::Column::Id).count(), "n")
        .filter(students::Column::OrgId.eq(org.0))
        .group_by(students::Column::KindsMask)
        .into_tuple()
        .all(txn)
        .await
        .map_err(db_err)?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let org_rows: u64 = masks.iter().map(|(_, c)| n(*c)).sum();
    let (narrow, candidates) = if scope.restricting_types.is_empty() {
        (None, org_rows)
    } else {
        let allowed = allowed_members_by_kind(txn, org, scope).await?;
        scope
            .restricting_types
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let members = allowed
                    .iter()
                    .find(|(kind, _)| kind == k.as_str())
                    .map_or(0, |(_, c)| n(*c));
                let without_bit: u64 = masks
                    .iter()
                    .filter(|(mask, _)| mask & kind_bit(*k) == 0)
                    .map(|(_, c)| n(*c))
                    .sum();
                (Some(i), members.saturating_add(without_bit))
            })
            .min_by_key(|(_, c)| *c)
            .unwrap_or((None, org_rows))
    };
    let kind = narrow.and_then(|i| scope.restricting_types.get(i).copied());
    let total = students::Entity::find()
        .filter(visibility_from(org, scope, kind))
        .filter(filters)
        .count(txn)
        .await
        .map_err(db_err)?;
    Ok(ListCounts {
        total,
        org_rows,
        candidates,
        narrow,
    })
}

/// Per restricting kind, the memberships of its unarchived groups whose allow-list names the
/// user (counted from the user's allow-lists outward).
async fn allowed_members_by_kind(
    txn: &DatabaseTransaction,
    org: OrgId,
    scope: &StudentScope,
) -> Result<Vec<(String, i64)>> {
    let kinds: Vec<&str> = scope.restricting_types.iter().map(|t| t.as_str()).collect();
    student_group_access::Entity::find()
        .select_only()
        .column_as(
            Expr::col((student_groups::Entity, student_groups::Column::Kind)),
            "kind",
        )
        .column_as(
            Expr::col((
                student_group_members::Entity,
                student_group_members::Column::StudentId,
            ))
            .count(),
            "n",
        )
        .join(
            sea_orm::JoinType::InnerJoin,
            student_group_access::Entity::belongs_to(student_groups::Entity)
                .from(student_group_access::Column::GroupId)
                .to(student_groups::Column::Id)
                .into(),
        )
        .join(
            sea_orm::JoinType::InnerJoin,
            student_group_access::Entity::belongs_to(student_group_members::Entity)
                .from(student_group_access::Column::GroupId)
                .to(student_group_members::Column::GroupId)
                .into(),
        )
        .filter(student_group_access::Column::OrgId.eq(org.0))
        .filter(student_group_access::Column::UserId.eq(scope.user.0))
        .filter(student_group_members::Column::OrgId.eq(org.0))
        .filter(Expr::col((student_groups::Entity, student_groups::Column::Kind)).is_in(kinds))
        .filter(Expr::col((student_groups::Entity, student_groups::Column::Archived)).eq(false))
        .group_by(Expr::col((
            student_groups::Entity,
            student_groups::Column::Kind,
        )))
        .into_tuple()
        .all(txn)
        .await
        .map_err(db_err)
}

/// Whether a page is cheaper read in name order, testing each pupil of the org, than from the
/// candidates: the walk reads about `rows needed × org / total` pupils, the candidates plan
/// `candidates` (and sorts what passes).
pub(crate) fn walk_is_cheaper(counts: &ListCounts, rows_needed: u64) -> bool {
    let walked = u128::from(rows_needed) * u128::from(counts.org_rows)
        / u128::from(std::cmp::max(counts.total, 1));
    walked <= u128::from(counts.candidates)
}

/// R4 and R5 as a subquery: the ids of the students the scope's user may see.
pub(crate) fn visible_student_ids(org: OrgId, scope: &StudentScope) -> SelectStatement {
    Query::select()
        .column((students::Entity, students::Column::Id))
        .from(students::Entity)
        .cond_where(visibility(org, scope))
        .to_owned()
}

/// Brings `kinds_mask` up to date for these students, after their memberships or their
/// groups' kind or archiving changed. Computed here from two indexed reads and written with
/// one update per distinct mask, so that the cost follows the students named, whatever the
/// planner believes about tables that a batch is still filling.
pub(crate) async fn refresh_kinds_mask(
    txn: &DatabaseTransaction,
    org: OrgId,
    students: &[uuid::Uuid],
) -> Result<()> {
    use std::collections::{BTreeMap, HashMap};
    for chunk in students.chunks(1000) {
        let members: Vec<(uuid::Uuid, uuid::Uuid)> = student_group_members::Entity::find()
            .select_only()
            .column(student_group_members::Column::StudentId)
            .column(student_group_members::Column::GroupId)
            .filter(student_group_members::Column::OrgId.eq(org.0))
            .filter(student_group_members::Column::StudentId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(txn)
            .await
            .map_err(db_err)?;
        let mut group_ids: Vec<uuid::Uuid> = members.iter().map(|(_, g)| *g).collect();
        group_ids.sort();
        group_ids.dedup();
        let mut bits: HashMap<uuid::Uuid, i32> = HashMap::new();
        for ids in group_ids.chunks(1000) {
            let rows: Vec<(uuid::Uuid, String)> = student_groups::Entity::find()
                .select_only()
                .column(student_groups::Column::Id)
                .column(student_groups::Column::Kind)
                .filter(student_groups::Column::OrgId.eq(org.0))
                .filter(student_groups::Column::Archived.eq(false))
                .filter(student_groups::Column::Id.is_in(ids.iter().copied()))
                .into_tuple()
                .all(txn)
                .await
                .map_err(db_err)?;
            for (id, kind) in rows {
                if let Some(k) = StudentGroupType::parse(&kind) {
                    bits.insert(id, kind_bit(k));
                }
            }
        }
        let mut masks: HashMap<uuid::Uuid, i32> = chunk.iter().map(|s| (*s, 0)).collect();
        for (s, g) in &members {
            if let (Some(m), Some(b)) = (masks.get_mut(s), bits.get(g)) {
                *m |= b;
            }
        }
        let mut by_mask: BTreeMap<i32, Vec<uuid::Uuid>> = BTreeMap::new();
        for (s, m) in masks {
            by_mask.entry(m).or_default().push(s);
        }
        for (mask, ids) in by_mask {
            students::Entity::update_many()
                .col_expr(students::Column::KindsMask, Expr::value(mask))
                .filter(students::Column::OrgId.eq(org.0))
                .filter(students::Column::Id.is_in(ids))
                .filter(students::Column::KindsMask.ne(mask))
                .exec(txn)
                .await
                .map_err(db_err)?;
        }
    }
    Ok(())
}

/// The students of one group.
pub(crate) async fn members_of(
    txn: &DatabaseTransaction,
    org: OrgId,
    group: StudentGroupId,
) -> Result<Vec<uuid::Uuid>> {
    student_group_members::Entity::find()
        .select_only()
        .column(student_group_members::Column::StudentId)
        .filter(student_group_members::Column::OrgId.eq(org.0))
        .filter(student_group_members::Column::GroupId.eq(group.0))
        .into_tuple()
        .all(txn)
        .await
        .map_err(db_err)
}
