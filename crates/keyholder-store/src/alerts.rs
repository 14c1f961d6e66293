//! N2: who an incident alerts, as one query (the inverse of R4, R5 and R8 for one pupil and one
//! category), and each user's alerts.

use crate::convert::{from_us, to_us};
use crate::db_err;
use crate::entities::*;
use crate::visibility::{restricting_memberships, visible_student_ids};
use keyholder_domain::Result;
use keyholder_domain::ids::*;
use keyholder_domain::model::{
    Alert, AlertRecipient, DigestItem, DigestSubscriber, NotificationMode, UserStatus,
};
use keyholder_domain::ports::{AlertAudience, AlertCursor, DigestQuery};
use sea_orm::DatabaseTransaction;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, ExprTrait, Order, QueryFilter,
    QueryOrder, QuerySelect,
};

pub(crate) async fn recipients(
    txn: &DatabaseTransaction,
    org: OrgId,
    a: &AlertAudience,
) -> Result<Vec<AlertRecipient>> {
    let user_id = || Expr::col((users::Entity, users::Column::Id));
    // R8: the user's group grants view-incidents on the incident's category.
    let reads = Query::select()
        .expr(Expr::val(1))
        .from(group_category_permissions::Entity)
        .and_where(group_category_permissions::Column::OrgId.eq(org.0))
        .and_where(
            Expr::col((
                group_category_permissions::Entity,
                group_category_permissions::Column::GroupId,
            ))
            .equals((users::Entity, users::Column::UserGroupId)),
        )
        .and_where(group_category_permissions::Column::CategoryId.eq(a.category.0))
        .and_where(group_category_permissions::Column::ViewIncidents.eq(true))
        .to_owned();
    // N1: asked for this mode on the top-level category. Read first, on its own: most incidents
    // alert nobody, and the users are then found by primary key whatever the planner believes
    // of tables a batch has just filled (an EXISTS here ran as a nested loop over every pair
    // of user and subscriber on PostgreSQL with stale statistics: 0.5 s for 500).
    let asked: Vec<uuid::Uuid> = notification_prefs::Entity::find()
        .select_only()
        .column(notification_prefs::Column::UserId)
        .filter(notification_prefs::Column::OrgId.eq(org.0))
        .filter(notification_prefs::Column::CategoryId.eq(a.top_category.0))
        .filter(notification_prefs::Column::Mode.eq(a.mode.as_str()))
        .into_tuple()
        .all(txn)
        .await
        .map_err(db_err)?;
    if asked.is_empty() {
        return Ok(Vec::new());
    }
    // R5: blocked from the pupil.
    let blocked = Query::select()
        .expr(Expr::val(1))
        .from(student_blocks::Entity)
        .and_where(student_blocks::Column::OrgId.eq(org.0))
        .and_where(
            Expr::col((student_blocks::Entity, student_blocks::Column::UserId))
                .equals((users::Entity, users::Column::Id)),
        )
        .and_where(student_blocks::Column::StudentId.eq(a.student.0))
        .to_owned();
    let mut q = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .column(users::Column::Email)
        .inner_join(user_groups::Entity)
        .filter(users::Column::OrgId.eq(org.0))
        .filter(users::Column::Status.eq(UserStatus::Active.as_str()))
        .filter(user_id().ne(a.author.0))
        .filter(user_groups::Column::Active.eq(true))
        .filter(Expr::exists(reads))
        .filter(Expr::exists(blocked).not());
    // R4: a restricting group of the pupil whose allow-list leaves the user off.
    if !a.restricting_types.is_empty() {
        let listed = Query::select()
            .expr(Expr::val(1))
            .from(student_group_access::Entity)
            .and_where(student_group_access::Column::OrgId.eq(org.0))
            .and_where(
                Expr::col((
                    student_group_access::Entity,
                    student_group_access::Column::GroupId,
                ))
                .equals((student_groups::Entity, student_groups::Column::Id)),
            )
            .and_where(
                Expr::col((
                    student_group_access::Entity,
                    student_group_access::Column::UserId,
                ))
                .equals((users::Entity, users::Column::Id)),
            )
            .to_owned();
        let outside = restricting_memberships(org, &a.restricting_types)
            .and_where(
                Expr::col((
                    student_group_members::Entity,
                    student_group_members::Column::StudentId,
                ))
                .eq(a.student.0),
            )
            .and_where(Expr::exists(listed).not())
            .to_owned();
        q = q.filter(Expr::exists(outside).not());
    }
    let mut rows: Vec<(uuid::Uuid, Option<String>)> = Vec::with_capacity(asked.len());
    for chunk in asked.chunks(1000) {
        rows.extend(
            q.clone()
                .filter(user_id().is_in(chunk.iter().copied()))
                .into_tuple::<(uuid::Uuid, Option<String>)>()
                .all(txn)
                .await
                .map_err(db_err)?,
        );
    }
    rows.sort_by_key(|(id, _)| *id);
    Ok(rows
        .into_iter()
        .map(|(id, email)| AlertRecipient {
            user_id: UserId(id),
            email,
        })
        .collect())
}

pub(crate) async fn insert(txn: &DatabaseTransaction, items: &[Alert]) -> Result<()> {
    for chunk in items.chunks(500) {
        alerts::Entity::insert_many(chunk.iter().map(|a| alerts::ActiveModel {
            id: Set(a.id.0),
            org_id: Set(a.org_id.0),
            user_id: Set(a.user_id.0),
            incident_id: Set(a.incident_id.0),
            category_id: Set(a.category_id.0),
            created_at: Set(to_us(a.created_at)),
            read_at: Set(a.read_at.map(to_us)),
        }))
        .exec_without_returning(txn)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

pub(crate) async fn list(
    txn: &DatabaseTransaction,
    org: OrgId,
    user: UserId,
    after: Option<AlertCursor>,
    limit: u64,
) -> Result<Vec<Alert>> {
    use alerts::Column as A;
    let mut q = alerts::Entity::find()
        .filter(A::OrgId.eq(org.0))
        .filter(A::UserId.eq(user.0));
    if let Some(c) = after {
        let at = to_us(c.created_at);
        let older = Condition::any().add(A::CreatedAt.lt(at)).add(
            Condition::all()
                .add(A::CreatedAt.eq(at))
                .add(A::Id.lt(c.id.0)),
        );
        q = q.filter(if c.unread {
            Condition::any()
                .add(Condition::all().add(A::ReadAt.is_null()).add(older))
                .add(A::ReadAt.is_not_null())
        } else {
            Condition::all().add(A::ReadAt.is_not_null()).add(older)
        });
    }
    let rows = q
        .order_by(Expr::col(A::ReadAt).is_null(), Order::Desc)
        .order_by(A::CreatedAt, Order::Desc)
        .order_by(A::Id, Order::Desc)
        .limit(limit)
        .all(txn)
        .await
        .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|m| Alert {
            id: AlertId(m.id),
            org_id: OrgId(m.org_id),
            user_id: UserId(m.user_id),
            incident_id: IncidentId(m.incident_id),
            category_id: CategoryId(m.category_id),
            created_at: from_us(m.created_at),
            read_at: m.read_at.map(from_us),
        })
        .collect())
}

pub(crate) async fn mark_read(
    txn: &DatabaseTransaction,
    org: OrgId,
    user: UserId,
    id: AlertId,
    at: time::OffsetDateTime,
) -> Result<bool> {
    use alerts::Column as A;
    let mine = || {
        Condition::all()
            .add(A::OrgId.eq(org.0))
            .add(A::UserId.eq(user.0))
            .add(A::Id.eq(id.0))
    };
    let res = alerts::Entity::update_many()
        .col_expr(A::ReadAt, Expr::value(to_us(at)))
        .filter(mine())
        .filter(A::ReadAt.is_null())
        .exec(txn)
        .await
        .map_err(db_err)?;
    if res.rows_affected == 1 {
        return Ok(true);
    }
    // Already read: still the user's.
    let found = alerts::Entity::find()
        .select_only()
        .column(A::Id)
        .filter(mine())
        .into_tuple::<uuid::Uuid>()
        .one(txn)
        .await
        .map_err(db_err)?;
    Ok(found.is_some())
}

pub(crate) async fn digest_subscribers(
    txn: &DatabaseTransaction,
    org: OrgId,
    day: &str,
) -> Result<Vec<DigestSubscriber>> {
    // Already recorded today: not asked again (the worker runs every minute on every replica).
    let done = Query::select()
        .expr(Expr::val(1))
        .from(digests::Entity)
        .and_where(digests::Column::OrgId.eq(org.0))
        .and_where(
            Expr::col((digests::Entity, digests::Column::UserId))
                .equals((users::Entity, users::Column::Id)),
        )
        .and_where(digests::Column::Day.eq(day))
        .to_owned();
    let rows: Vec<(uuid::Uuid, Option<String>, uuid::Uuid, uuid::Uuid)> = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .column(users::Column::Email)
        .column(users::Column::UserGroupId)
        .column_as(
            Expr::col((
                notification_prefs::Entity,
                notification_prefs::Column::CategoryId,
            )),
            "category_id",
        )
        .join(
            sea_orm::JoinType::InnerJoin,
            users::Entity::belongs_to(notification_prefs::Entity)
                .from(users::Column::Id)
                .to(notification_prefs::Column::UserId)
                .into(),
        )
        .filter(users::Column::OrgId.eq(org.0))
        .filter(notification_prefs::Column::OrgId.eq(org.0))
        .filter(users::Column::Status.eq(UserStatus::Active.as_str()))
        .filter(users::Column::Email.is_not_null())
        .filter(notification_prefs::Column::Mode.eq(NotificationMode::Digest.as_str()))
        .filter(Expr::exists(done).not())
        .order_by(users::Column::Id, Order::Asc)
        .into_tuple()
        .all(txn)
        .await
        .map_err(db_err)?;
    let mut out: Vec<DigestSubscriber> = Vec::new();
    for (id, email, group, category) in rows {
        let Some(email) = email else { continue };
        match out.last_mut() {
            Some(s) if s.user_id.0 == id => s.categories.push(CategoryId(category)),
            _ => out.push(DigestSubscriber {
                user_id: UserId(id),
                email,
                group_id: GroupId(group),
                categories: vec![CategoryId(category)],
            }),
        }
    }
    Ok(out)
}

pub(crate) async fn last_digest(
    txn: &DatabaseTransaction,
    org: OrgId,
    user: UserId,
    day: &str,
) -> Result<Option<time::OffsetDateTime>> {
    let at: Option<Option<i64>> = digests::Entity::find()
        .select_only()
        .column_as(Expr::col(digests::Column::SentAt).max(), "sent_at")
        .filter(digests::Column::OrgId.eq(org.0))
        .filter(digests::Column::UserId.eq(user.0))
        .filter(digests::Column::Day.ne(day))
        .into_tuple()
        .one(txn)
        .await
        .map_err(db_err)?;
    Ok(at.flatten().map(from_us))
}

pub(crate) async fn claim_digest(
    txn: &DatabaseTransaction,
    org: OrgId,
    user: UserId,
    day: &str,
    at: time::OffsetDateTime,
) -> Result<bool> {
    use sea_orm::sea_query::OnConflict;
    let res = digests::Entity::insert(digests::ActiveModel {
        org_id: Set(org.0),
        user_id: Set(user.0),
        day: Set(day.to_owned()),
        sent_at: Set(to_us(at)),
    })
    .on_conflict(
        OnConflict::columns([
            digests::Column::OrgId,
            digests::Column::UserId,
            digests::Column::Day,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(txn)
    .await
    .map_err(db_err)?;
    Ok(res == 1)
}

pub(crate) async fn digest_items(
    txn: &DatabaseTransaction,
    org: OrgId,
    q: &DigestQuery,
) -> Result<Vec<DigestItem>> {
    use incidents::Column as I;
    let (scope, group, categories) = (&q.scope, q.group, &q.categories);
    if categories.is_empty() {
        return Ok(Vec::new());
    }
    let reads = Query::select()
        .expr(Expr::val(1))
        .from(group_category_permissions::Entity)
        .and_where(group_category_permissions::Column::OrgId.eq(org.0))
        .and_where(group_category_permissions::Column::GroupId.eq(group.0))
        .and_where(
            Expr::col((
                group_category_permissions::Entity,
                group_category_permissions::Column::CategoryId,
            ))
            .equals((incidents::Entity, I::CategoryId)),
        )
        .and_where(group_category_permissions::Column::ViewIncidents.eq(true))
        .to_owned();
    let rows: Vec<(uuid::Uuid, uuid::Uuid, i64)> = incidents::Entity::find()
        .select_only()
        .column(I::Id)
        .column(I::CategoryId)
        .column(I::CreatedAt)
        .filter(I::OrgId.eq(org.0))
        .filter(I::CategoryId.is_in(categories.iter().map(|c| c.0)))
        .filter(I::CreatedAt.gt(to_us(q.since)))
        .filter(I::CreatedAt.lte(to_us(q.until)))
        .filter(I::ReportedBy.ne(scope.user.0))
        .filter(Expr::exists(reads))
        .filter(I::StudentId.in_subquery(visible_student_ids(org, scope)))
        .order_by(I::CreatedAt, Order::Asc)
        .order_by(I::Id, Order::Asc)
        .limit(q.limit)
        .into_tuple()
        .all(txn)
        .await
        .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|(id, category, at)| DigestItem {
            incident_id: IncidentId(id),
            category_id: CategoryId(category),
            created_at: from_us(at),
        })
        .collect())
}
