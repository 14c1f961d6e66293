//! One transaction: every port method of the domain, each org-scoped query filtered by `org_id`.

use crate::convert::{self, to_us};
use crate::db_err;
use crate::entities::*;
use crate::visibility::{self, restricting_memberships, visible_student_ids};
use async_trait::async_trait;
use keyholder_domain::auth_cache::{AuthCache, AuthChange};
use keyholder_domain::ids::*;
use keyholder_domain::model::*;
use keyholder_domain::ports::*;
use keyholder_domain::services::{ScimAttr, ScimFilter, ScimOp, ScimValue};
use keyholder_domain::{DomainError, Result};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, Func, LikeExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, ExprTrait, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};

mod alert;
mod audit_trail;
mod catalogue;
mod category;
mod decisions;
mod incident;
mod keys;
mod mail;
mod org;
mod pupil;
mod restrictions;
mod scim;
mod service_account;
mod session;
mod sso;
mod staff_record;
mod user;
mod user_group;

pub struct SeaTx {
    txn: DatabaseTransaction,
    /// U5: what this transaction changed that bears on authentication; announced in the
    /// transaction (PostgreSQL `NOTIFY`, delivered at commit) and applied to this replica's
    /// cache once it commits.
    changes: Vec<AuthChange>,
    cache: AuthCache,
}

impl SeaTx {
    pub fn new(txn: DatabaseTransaction, cache: AuthCache) -> Self {
        SeaTx {
            txn,
            changes: Vec::new(),
            cache,
        }
    }

    /// The org's pupils, groups, allow-lists, blocks or marks changed: the lists' held counts
    /// are dropped when this commits.
    fn pupils_changed(&mut self, org: OrgId) {
        let c = AuthChange::Pupils(org);
        if !self.changes.contains(&c) {
            self.changes.push(c);
        }
    }
}

/// A unique violation becomes the conflict the rule names; anything else is opaque.
fn unique_or(e: sea_orm::DbErr, conflict: impl Fn(&str) -> Option<DomainError>) -> DomainError {
    if let Some(SqlErr::UniqueConstraintViolation(msg)) = e.sql_err()
        && let Some(c) = conflict(&msg)
    {
        return c;
    }
    db_err(e)
}

fn like_pattern(q: &str) -> String {
    format!(
        "%{}%",
        q.to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

/// A SCIM filter as SQL conditions (users when `user`, else user groups). String comparisons
/// are case-insensitive, as the core schema's attributes are `caseExact: false`.
fn scim_condition(f: &ScimFilter, user: bool) -> Result<Condition> {
    use sea_orm::sea_query::SimpleExpr;
    let bad = |a: &str| {
        DomainError::field(
            "filter",
            "invalid_filter",
            format!("cannot filter on {a} here"),
        )
    };
    Ok(match f {
        ScimFilter::And(a, b) => Condition::all()
            .add(scim_condition(a, user)?)
            .add(scim_condition(b, user)?),
        ScimFilter::Or(a, b) => Condition::any()
            .add(scim_condition(a, user)?)
            .add(scim_condition(b, user)?),
        ScimFilter::Not(a) => scim_condition(a, user)?.not(),
        ScimFilter::Cmp { attr, op, value } => {
            if *attr == ScimAttr::Active {
                if !user {
                    return Err(bad("active"));
                }
                let active = users::Column::Status.eq(UserStatus::Active.as_str());
                return Ok(match (op, value) {
                    (ScimOp::Pr, _) => Condition::all(),
                    (ScimOp::Eq, ScimValue::Bool(true)) | (ScimOp::Ne, ScimValue::Bool(false)) => {
                        Condition::all().add(active)
                    }
                    (ScimOp::Eq, ScimValue::Bool(false)) | (ScimOp::Ne, ScimValue::Bool(true)) => {
                        Condition::all().add(active).not()
                    }
                    _ => {
                        return Err(DomainError::field(
                            "filter",
                            "invalid_filter",
                            "active compares with true or false",
                        ));
                    }
                });
            }
            let column: SimpleExpr = match (attr, user) {
                (ScimAttr::Id, true) => Expr::col((users::Entity, users::Column::Id)),
                (ScimAttr::Id, false) => Expr::col((user_groups::Entity, user_groups::Column::Id)),
                (ScimAttr::ExternalId, true) => {
                    Func::lower(Expr::col((users::Entity, users::Column::ExternalId))).into()
                }
                (ScimAttr::ExternalId, false) => Func::lower(Expr::col((
                    user_groups::Entity,
                    user_groups::Column::ExternalId,
                )))
                .into(),
                (ScimAttr::UserName, true) => {
                    Expr::col((users::Entity, users::Column::UsernameKey))
                }
                (ScimAttr::Email, true) => Expr::col((users::Entity, users::Column::EmailKey)),
                (ScimAttr::GivenName, true) => {
                    Func::lower(Expr::col((users::Entity, users::Column::Forename))).into()
                }
                (ScimAttr::FamilyName, true) => {
                    Func::lower(Expr::col((users::Entity, users::Column::Surname))).into()
                }
                (ScimAttr::Title, true) => {
                    Func::lower(Expr::col((users::Entity, users::Column::JobTitle))).into()
                }
                (ScimAttr::DisplayName, false) => {
                    Expr::col((user_groups::Entity, user_groups::Column::NameKey))
                }
                (a, _) => return Err(bad(&format!("{a:?}"))),
            };
            if *op == ScimOp::Pr {
                return Ok(Condition::all().add(column.is_not_null()));
            }
            if *attr == ScimAttr::Id {
                let ScimValue::Str(v) = value else {
                    return Err(bad("id"));
                };
                let Ok(id) = uuid::Uuid::parse_str(v) else {
                    // No row has an id that is not a UUID.
                    return Ok(Condition::all().add(Expr::value(1).eq(0)));
                };
                return Ok(match op {
                    ScimOp::Eq => Condition::all().add(column.eq(id)),
                    ScimOp::Ne => Condition::all().add(column.ne(id)),
                    _ => return Err(bad("id with co/sw/ew")),
                });
            }
            let ScimValue::Str(v) = value else {
                return Err(DomainError::field(
                    "filter",
                    "invalid_filter",
                    "compare text attributes with a string",
                ));
            };
            let v = v.to_lowercase();
            let escaped = v
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let like = |p: String| column.clone().like(LikeExpr::new(p).escape('\\'));
            Condition::all().add(match op {
                ScimOp::Eq => column.clone().eq(v),
                ScimOp::Ne => column.clone().ne(v),
                ScimOp::Co => like(format!("%{escaped}%")),
                ScimOp::Sw => like(format!("{escaped}%")),
                ScimOp::Ew => like(format!("%{escaped}")),
                ScimOp::Pr => column.clone().is_not_null(),
            })
        }
    })
}

fn incident(m: incidents::Model) -> Incident {
    Incident {
        id: IncidentId(m.id),
        org_id: OrgId(m.org_id),
        student_id: StudentId(m.student_id),
        category_id: CategoryId(m.category_id),
        description: m.description,
        occurred_at: convert::from_us(m.occurred_at),
        reported_by: UserId(m.reported_by),
        created_at: convert::from_us(m.created_at),
    }
}

fn now_us() -> i64 {
    to_us(time::OffsetDateTime::now_utc())
}

impl SeaTx {
    /// The row of `E` with this primary key, if any.
    pub(crate) async fn by_id<E: EntityTrait>(
        &self,
        id: impl Into<<E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType>,
    ) -> Result<Option<E::Model>> {
        E::find_by_id(id).one(&self.txn).await.map_err(db_err)
    }

    async fn flags(
        &self,
        org: OrgId,
        group: GroupId,
    ) -> Result<Vec<group_category_permissions::Model>> {
        group_category_permissions::Entity::find()
            .filter(group_category_permissions::Column::OrgId.eq(org.0))
            .filter(group_category_permissions::Column::GroupId.eq(group.0))
            .all(&self.txn)
            .await
            .map_err(db_err)
    }

    /// Accounts joined to their groups (`select`, ordered) with a column of each account's
    /// staff ids (S3): one statement for the accounts and their staff records.
    fn user_view_query(
        &self,
        select: sea_orm::SelectTwo<users::Entity, user_groups::Entity>,
    ) -> sea_orm::sea_query::SelectStatement {
        let mut query = sea_orm::QueryTrait::into_query(select);
        query.expr_as(
            Expr::cust(staff_ids_column(self.txn.get_database_backend())),
            sea_orm::sea_query::Alias::new(STAFF_IDS),
        );
        query
    }

    /// A page of accounts as the domain sees them, and how many the whole `select` has.
    async fn user_view_page(
        &self,
        select: sea_orm::SelectTwo<users::Entity, user_groups::Entity>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<UserView>, u64)> {
        crate::page::decoded_rows_and_total(
            &self.txn,
            self.user_view_query(select),
            offset,
            limit,
            user_view_row,
        )
        .await
    }

    /// Every account of `select` as the domain sees it.
    async fn user_views_of(
        &self,
        select: sea_orm::SelectTwo<users::Entity, user_groups::Entity>,
    ) -> Result<Vec<UserView>> {
        let query = self
            .txn
            .get_database_backend()
            .build(&self.user_view_query(select));
        self.txn
            .query_all_raw(query)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(user_view_row)
            .collect()
    }

    /// The accounts of these staff records.
    async fn user_ids_of(
        &self,
        org: OrgId,
        staff: Vec<uuid::Uuid>,
    ) -> Result<std::collections::HashMap<uuid::Uuid, Vec<UserId>>> {
        let mut map: std::collections::HashMap<uuid::Uuid, Vec<UserId>> = Default::default();
        if staff.is_empty() {
            return Ok(map);
        }
        let rows = user_staff::Entity::find()
            .filter(user_staff::Column::OrgId.eq(org.0))
            .filter(user_staff::Column::StaffId.is_in(staff))
            .order_by_asc(user_staff::Column::UserId)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        for r in rows {
            map.entry(r.staff_id).or_default().push(UserId(r.user_id));
        }
        Ok(map)
    }

    async fn load_group(&self, m: user_groups::Model) -> Result<UserGroup> {
        let flags = self.flags(OrgId(m.org_id), GroupId(m.id)).await?;
        convert::group(m, flags)
    }
}

#[async_trait]
impl Tx for SeaTx {
    async fn commit(self: Box<Self>) -> Result<()> {
        let SeaTx {
            txn,
            mut changes,
            cache,
        } = *self;
        changes.dedup();
        if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
            for c in &changes {
                txn.execute_raw(sea_orm::Statement::from_sql_and_values(
                    sea_orm::DbBackend::Postgres,
                    "SELECT pg_notify($1, $2)",
                    [crate::AUTH_CHANNEL.into(), c.encode().into()],
                ))
                .await
                .map_err(db_err)?;
            }
        }
        let committed = txn.commit().await;
        // Dropped whatever the answer: a commit that errs may still have committed, and
        // dropping too much only costs a read.
        for c in changes {
            cache.apply(c);
        }
        committed.map_err(db_err)
    }
}

/// The column of an account's staff ids (S3), in id order.
const STAFF_IDS: &str = "kh_staff_ids";

/// A row of [`SeaTx::user_view_query`].
fn user_view_row(row: sea_orm::QueryResult) -> Result<UserView> {
    let ids = staff_ids_in(&row)?;
    let (u, g) = <sea_orm::SelectTwoModel<users::Model, user_groups::Model> as sea_orm::SelectorTrait>::from_raw_query_result(row)
        .map_err(db_err)?;
    let g = g.ok_or_else(|| DomainError::internal("user without a group"))?;
    convert::user_view(u, &g, ids)
}

fn staff_ids_column(backend: sea_orm::DbBackend) -> &'static str {
    match backend {
        sea_orm::DbBackend::Postgres => {
            "(SELECT string_agg(user_staff.staff_id::text, ',' ORDER BY user_staff.staff_id) \
             FROM user_staff WHERE user_staff.org_id = users.org_id \
             AND user_staff.user_id = users.id)"
        }
        // SQLite holds a uuid as its 16 bytes.
        _ => {
            "(SELECT group_concat(CASE WHEN typeof(user_staff.staff_id) = 'blob' \
             THEN hex(user_staff.staff_id) ELSE user_staff.staff_id END, ',' \
             ORDER BY user_staff.staff_id) FROM user_staff \
             WHERE user_staff.org_id = users.org_id AND user_staff.user_id = users.id)"
        }
    }
}

fn staff_ids_in(row: &sea_orm::QueryResult) -> Result<Vec<StaffId>> {
    let ids: Option<String> = row.try_get("", STAFF_IDS).map_err(db_err)?;
    ids.as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            uuid::Uuid::parse_str(s)
                .map(StaffId)
                .map_err(DomainError::internal)
        })
        .collect()
}
