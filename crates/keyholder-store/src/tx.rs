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

    /// The staff records of these accounts (S3).
    async fn staff_ids_of(
        &self,
        org: OrgId,
        users: Vec<uuid::Uuid>,
    ) -> Result<std::collections::HashMap<uuid::Uuid, Vec<StaffId>>> {
        let mut map: std::collections::HashMap<uuid::Uuid, Vec<StaffId>> = Default::default();
        if users.is_empty() {
            return Ok(map);
        }
        let rows = user_staff::Entity::find()
            .filter(user_staff::Column::OrgId.eq(org.0))
            .filter(user_staff::Column::UserId.is_in(users))
            .order_by_asc(user_staff::Column::StaffId)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        for r in rows {
            map.entry(r.user_id).or_default().push(StaffId(r.staff_id));
        }
        Ok(map)
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

    async fn unsealed_totp_seeds(&mut self) -> Result<Vec<(OrgId, UserId, String)>> {
        Ok(users::Entity::find()
            .select_only()
            .column(users::Column::OrgId)
            .column(users::Column::Id)
            .column(users::Column::TotpSecret)
            .filter(users::Column::TotpSecret.is_not_null())
            .filter(users::Column::TotpSecret.not_like("v1.%"))
            .into_tuple::<(uuid::Uuid, uuid::Uuid, String)>()
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|(o, u, s)| (OrgId(o), UserId(u), s))
            .collect())
    }

    async fn set_totp_seed(&mut self, org: OrgId, user: UserId, sealed: &str) -> Result<()> {
        self.changes.push(AuthChange::Org(org));
        users::Entity::update_many()
            .col_expr(users::Column::TotpSecret, Expr::value(sealed))
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Id.eq(user.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn live_signing_keys(&mut self) -> Result<Vec<keyholder_domain::tokens::SigningKey>> {
        Ok(signing_keys::Entity::find()
            .filter(signing_keys::Column::Retired.eq(false))
            .order_by_desc(signing_keys::Column::CreatedAt)
            .order_by_desc(signing_keys::Column::Name)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| keyholder_domain::tokens::SigningKey {
                kid: m.name,
                secret: m.secret,
            })
            .collect())
    }

    async fn insert_signing_key(
        &mut self,
        key: &keyholder_domain::tokens::SigningKey,
    ) -> Result<()> {
        self.changes.push(AuthChange::Keys);
        signing_keys::Entity::insert(signing_keys::ActiveModel {
            name: Set(key.kid.clone()),
            secret: Set(key.secret.clone()),
            created_at: Set(now_us()),
            retired: Set(false),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn retire_signing_keys_except(&mut self, keep: &[String]) -> Result<Vec<String>> {
        self.changes.push(AuthChange::Keys);
        let retiring: Vec<String> = signing_keys::Entity::find()
            .filter(signing_keys::Column::Retired.eq(false))
            .filter(signing_keys::Column::Name.is_not_in(keep.iter().cloned()))
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| m.name)
            .collect();
        if !retiring.is_empty() {
            signing_keys::Entity::update_many()
                .col_expr(signing_keys::Column::Retired, Expr::value(true))
                .filter(signing_keys::Column::Name.is_in(retiring.iter().cloned()))
                .exec(&self.txn)
                .await
                .map_err(db_err)?;
        }
        Ok(retiring)
    }

    async fn insert_org(&mut self, org: &Org) -> Result<()> {
        orgs::Entity::insert(convert::org_row(org)?)
            .exec_without_returning(&self.txn)
            .await
            .map_err(|e| unique_or(e, |_| Some(DomainError::OrgSlugInUse)))?;
        Ok(())
    }

    async fn org_by_slug(&mut self, slug: &str) -> Result<Option<Org>> {
        orgs::Entity::find()
            .filter(orgs::Column::Slug.eq(slug))
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(convert::org)
            .transpose()
    }

    async fn org_by_id(&mut self, id: OrgId) -> Result<Option<Org>> {
        orgs::Entity::find_by_id(id.0)
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(convert::org)
            .transpose()
    }

    async fn update_org_settings(&mut self, org: OrgId, settings: &OrgSettings) -> Result<()> {
        self.changes.push(AuthChange::Org(org));
        orgs::Entity::update_many()
            .col_expr(
                orgs::Column::Settings,
                Expr::value(serde_json::to_string(settings).map_err(DomainError::internal)?),
            )
            .filter(orgs::Column::Id.eq(org.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_category(&mut self, category: &Category) -> Result<()> {
        self.changes.push(AuthChange::Org(category.org_id));
        categories::Entity::insert(convert::category_row(category))
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn update_category(&mut self, c: &Category, expected: i64) -> Result<bool> {
        self.changes.push(AuthChange::Org(c.org_id));
        crate::categories::update(&self.txn, c, expected).await
    }

    async fn category_usage(&mut self, org: OrgId, id: CategoryId) -> Result<CategoryUsage> {
        crate::categories::usage(&self.txn, org, id).await
    }

    async fn delete_category(&mut self, org: OrgId, id: CategoryId) -> Result<()> {
        self.changes.push(AuthChange::Org(org));
        self.pupils_changed(org);
        crate::categories::delete(&self.txn, org, id).await
    }

    async fn category_flags(
        &mut self,
        org: OrgId,
        category: CategoryId,
    ) -> Result<Vec<(GroupId, keyholder_domain::permission::CategoryFlags)>> {
        crate::categories::flags(&self.txn, org, category).await
    }

    async fn grant_category_flags(
        &mut self,
        org: OrgId,
        category: CategoryId,
        grants: &[(GroupId, keyholder_domain::permission::CategoryFlags)],
    ) -> Result<()> {
        self.changes.push(AuthChange::Org(org));
        crate::categories::grant(&self.txn, org, category, grants).await
    }

    async fn monitored(
        &mut self,
        org: OrgId,
        students: &[StudentId],
        categories: &[CategoryId],
    ) -> Result<Vec<(StudentId, CategoryId)>> {
        crate::categories::monitored(&self.txn, org, students, categories).await
    }

    async fn set_monitored(
        &mut self,
        org: OrgId,
        student: StudentId,
        category: CategoryId,
        monitored: bool,
        by: UserId,
    ) -> Result<bool> {
        self.pupils_changed(org);
        crate::categories::set_monitored(&self.txn, org, student, category, monitored, by, now_us())
            .await
    }

    async fn categories(&mut self, org: OrgId) -> Result<Vec<Category>> {
        Ok(categories::Entity::find()
            .filter(categories::Column::OrgId.eq(org.0))
            .order_by_asc(categories::Column::Position)
            .order_by_asc(categories::Column::Name)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(convert::category)
            .collect())
    }

    async fn insert_group(&mut self, group: &UserGroup) -> Result<()> {
        user_groups::Entity::insert(convert::group_row(group)?)
            .exec_without_returning(&self.txn)
            .await
            .map_err(|e| unique_or(e, |_| Some(DomainError::GroupNameInUse)))?;
        let rows = convert::flag_rows(group);
        if !rows.is_empty() {
            group_category_permissions::Entity::insert_many(rows)
                .exec_without_returning(&self.txn)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    async fn group(&mut self, org: OrgId, id: GroupId) -> Result<Option<UserGroup>> {
        let m = user_groups::Entity::find()
            .filter(user_groups::Column::OrgId.eq(org.0))
            .filter(user_groups::Column::Id.eq(id.0))
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        match m {
            Some(m) => Ok(Some(self.load_group(m).await?)),
            None => Ok(None),
        }
    }

    async fn group_by_name(&mut self, org: OrgId, name: &str) -> Result<Option<UserGroup>> {
        let m = user_groups::Entity::find()
            .filter(user_groups::Column::OrgId.eq(org.0))
            .filter(user_groups::Column::NameKey.eq(name.to_lowercase()))
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        match m {
            Some(m) => Ok(Some(self.load_group(m).await?)),
            None => Ok(None),
        }
    }

    async fn groups(
        &mut self,
        org: OrgId,
        query: &GroupQuery,
    ) -> Result<(Vec<(UserGroup, MemberCounts)>, u64)> {
        let mut select = user_groups::Entity::find().filter(user_groups::Column::OrgId.eq(org.0));
        if let Some(q) = &query.q {
            select = select.filter(
                Expr::col(user_groups::Column::NameKey)
                    .like(LikeExpr::new(like_pattern(q)).escape('\\')),
            );
        }
        if let Some(a) = query.active {
            select = select.filter(user_groups::Column::Active.eq(a));
        }
        let select = select
            .order_by_asc(user_groups::Column::NameKey)
            .order_by_asc(user_groups::Column::Id);
        let pages = select.paginate(&self.txn, query.per_page);
        let total = pages.num_items().await.map_err(db_err)?;
        let rows = pages.fetch_page(query.page - 1).await.map_err(db_err)?;
        let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.id).collect();
        let flags = group_category_permissions::Entity::find()
            .filter(group_category_permissions::Column::OrgId.eq(org.0))
            .filter(group_category_permissions::Column::GroupId.is_in(ids.clone()))
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let counts: Vec<(uuid::Uuid, String, i64)> = users::Entity::find()
            .select_only()
            .column(users::Column::UserGroupId)
            .column(users::Column::Status)
            .column_as(users::Column::Id.count(), "n")
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::UserGroupId.is_in(ids))
            .group_by(users::Column::UserGroupId)
            .group_by(users::Column::Status)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut items = Vec::with_capacity(rows.len());
        for m in rows {
            let id = m.id;
            let mine = flags.iter().filter(|f| f.group_id == id).cloned().collect();
            let mut c = MemberCounts::default();
            for (g, status, n) in &counts {
                if *g == id {
                    match UserStatus::parse(status) {
                        Some(UserStatus::Active) => c.active = *n as u64,
                        Some(UserStatus::Deactivated) => c.deactivated = *n as u64,
                        Some(UserStatus::Pending) => c.pending = *n as u64,
                        None => {}
                    }
                }
            }
            items.push((convert::group(m, mine)?, c));
        }
        Ok((items, total))
    }

    async fn update_group(&mut self, group: &UserGroup, expected_version: i64) -> Result<bool> {
        self.changes.push(AuthChange::Org(group.org_id));
        let row = convert::group_row(group)?;
        let res = user_groups::Entity::update_many()
            .set(row)
            .filter(user_groups::Column::OrgId.eq(group.org_id.0))
            .filter(user_groups::Column::Id.eq(group.id.0))
            .filter(user_groups::Column::Version.eq(expected_version))
            .exec(&self.txn)
            .await
            .map_err(|e| unique_or(e, |_| Some(DomainError::GroupNameInUse)))?;
        if res.rows_affected == 0 {
            return Ok(false);
        }
        group_category_permissions::Entity::delete_many()
            .filter(group_category_permissions::Column::OrgId.eq(group.org_id.0))
            .filter(group_category_permissions::Column::GroupId.eq(group.id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        let rows = convert::flag_rows(group);
        if !rows.is_empty() {
            group_category_permissions::Entity::insert_many(rows)
                .exec_without_returning(&self.txn)
                .await
                .map_err(db_err)?;
        }
        Ok(true)
    }

    async fn delete_group(&mut self, org: OrgId, id: GroupId) -> Result<()> {
        self.changes.push(AuthChange::Org(org));
        group_category_permissions::Entity::delete_many()
            .filter(group_category_permissions::Column::OrgId.eq(org.0))
            .filter(group_category_permissions::Column::GroupId.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        user_groups::Entity::delete_many()
            .filter(user_groups::Column::OrgId.eq(org.0))
            .filter(user_groups::Column::Id.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn member_counts(&mut self, org: OrgId, id: GroupId) -> Result<MemberCounts> {
        let rows: Vec<(String, i64)> = users::Entity::find()
            .select_only()
            .column(users::Column::Status)
            .column_as(users::Column::Id.count(), "n")
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::UserGroupId.eq(id.0))
            .group_by(users::Column::Status)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut c = MemberCounts::default();
        for (status, n) in rows {
            match UserStatus::parse(&status) {
                Some(UserStatus::Active) => c.active = n as u64,
                Some(UserStatus::Deactivated) => c.deactivated = n as u64,
                Some(UserStatus::Pending) => c.pending = n as u64,
                None => {}
            }
        }
        Ok(c)
    }

    async fn insert_user(&mut self, user: &User) -> Result<()> {
        users::Entity::insert(convert::user_row(user))
            .exec_without_returning(&self.txn)
            .await
            .map_err(|e| {
                unique_or(e, |msg| {
                    if msg.contains("email") {
                        Some(DomainError::EmailInUse {
                            holder_status: UserStatus::Active,
                        })
                    } else if msg.contains("username") {
                        Some(DomainError::UsernameInUse)
                    } else {
                        None
                    }
                })
            })?;
        Ok(())
    }

    async fn user(&mut self, org: OrgId, id: UserId) -> Result<Option<User>> {
        users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Id.eq(id.0))
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(convert::user)
            .transpose()
    }

    async fn user_for_update(&mut self, org: OrgId, id: UserId) -> Result<Option<User>> {
        use sea_orm::{ConnectionTrait, DbBackend};
        let mut q = users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Id.eq(id.0));
        if self.txn.get_database_backend() == DbBackend::Postgres {
            q = q.lock_exclusive();
        }
        q.one(&self.txn)
            .await
            .map_err(db_err)?
            .map(convert::user)
            .transpose()
    }

    async fn user_view(&mut self, org: OrgId, id: UserId) -> Result<Option<UserView>> {
        let row = users::Entity::find()
            .find_also_related(user_groups::Entity)
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Id.eq(id.0))
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        match row {
            Some((u, Some(g))) => {
                let staff = self
                    .staff_ids_of(org, vec![u.id])
                    .await?
                    .remove(&u.id)
                    .unwrap_or_default();
                Ok(Some(convert::user_view(u, &g, staff)?))
            }
            Some((_, None)) => Err(DomainError::internal("user without a group")),
            None => Ok(None),
        }
    }

    async fn user_by_login(&mut self, org: OrgId, login: &str) -> Result<Option<User>> {
        let key = login.to_lowercase();
        let rows = users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(
                Condition::any()
                    .add(users::Column::UsernameKey.eq(key.clone()))
                    .add(users::Column::EmailKey.eq(key)),
            )
            .order_by_asc(users::Column::CreatedAt)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        // A username wins over another account's email of the same spelling.
        let pick = rows
            .iter()
            .find(|u| u.username_key.as_deref() == Some(login))
            .or(rows.first())
            .cloned();
        pick.map(convert::user).transpose()
    }

    async fn email_holder(
        &mut self,
        org: OrgId,
        email: &str,
        except: Option<UserId>,
    ) -> Result<Option<UserStatus>> {
        let mut select = users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::EmailKey.eq(email.to_lowercase()));
        if let Some(e) = except {
            select = select.filter(users::Column::Id.ne(e.0));
        }
        let row = select.one(&self.txn).await.map_err(db_err)?;
        Ok(row.and_then(|u| UserStatus::parse(&u.status)))
    }

    async fn username_taken(
        &mut self,
        org: OrgId,
        username: &str,
        except: Option<UserId>,
    ) -> Result<bool> {
        let mut select = users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::UsernameKey.eq(username.to_lowercase()));
        if let Some(e) = except {
            select = select.filter(users::Column::Id.ne(e.0));
        }
        Ok(select.count(&self.txn).await.map_err(db_err)? > 0)
    }

    async fn update_user(&mut self, user: &User, expected_version: i64) -> Result<bool> {
        self.changes.push(AuthChange::Org(user.org_id));
        let res = users::Entity::update_many()
            .set(convert::user_row(user))
            .filter(users::Column::OrgId.eq(user.org_id.0))
            .filter(users::Column::Id.eq(user.id.0))
            .filter(users::Column::Version.eq(expected_version))
            .exec(&self.txn)
            .await
            .map_err(|e| {
                unique_or(e, |msg| {
                    if msg.contains("email") {
                        Some(DomainError::EmailInUse {
                            holder_status: UserStatus::Active,
                        })
                    } else if msg.contains("username") {
                        Some(DomainError::UsernameInUse)
                    } else {
                        None
                    }
                })
            })?;
        Ok(res.rows_affected == 1)
    }

    async fn users(&mut self, org: OrgId, query: &UserQuery) -> Result<(Vec<UserView>, u64)> {
        use user_groups::Column as G;
        use users::Column as U;
        let mut select = users::Entity::find()
            .find_also_related(user_groups::Entity)
            .filter(U::OrgId.eq(org.0));
        if let Some(q) = &query.q {
            let pat = like_pattern(q);
            let like =
                |e: sea_orm::sea_query::SimpleExpr| e.like(LikeExpr::new(pat.clone()).escape('\\'));
            let full_name = Expr::cust("LOWER(users.forename || ' ' || users.surname)");
            select = select.filter(
                Condition::any()
                    .add(like(full_name))
                    .add(like(
                        Func::lower(Expr::col((users::Entity, U::Surname))).into(),
                    ))
                    .add(like(Expr::col((users::Entity, U::UsernameKey))))
                    .add(like(Expr::col((users::Entity, U::EmailKey)))),
            );
        }
        if let Some(s) = query.status {
            select = select.filter(U::Status.eq(s.as_str()));
        }
        if let Some(g) = query.user_group_id {
            select = select.filter(U::UserGroupId.eq(g.0));
        }
        if let Some(sf) = query.second_factor {
            select = select.filter(if sf {
                Condition::all().add(U::TotpConfirmed.eq(true))
            } else {
                Condition::all().add(U::TotpConfirmed.eq(false))
            });
        }
        for (wanted, col) in [(query.elevated, G::IsElevated), (query.admin, G::IsAdmin)] {
            if let Some(w) = wanted {
                select = select.filter(if w {
                    Condition::all().add(G::Active.eq(true)).add(col.eq(true))
                } else {
                    Condition::any().add(G::Active.eq(false)).add(col.eq(false))
                });
            }
        }
        let order = if query.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        let nulls_last = |c: U| Expr::col((users::Entity, c)).is_null();
        select = match query.sort {
            UserSort::Name => select,
            UserSort::JobTitle => select
                .order_by(nulls_last(U::JobTitle), Order::Asc)
                .order_by(
                    Func::lower(Expr::col((users::Entity, U::JobTitle))),
                    order.clone(),
                ),
            UserSort::UserGroup => select.order_by(G::NameKey, order.clone()),
            UserSort::LastLogin => select
                .order_by(nulls_last(U::LastLoginAt), Order::Asc)
                .order_by(U::LastLoginAt, order.clone()),
            UserSort::PasswordChanged => select
                .order_by(nulls_last(U::PasswordChangedAt), Order::Asc)
                .order_by(U::PasswordChangedAt, order.clone()),
            UserSort::Elevated => select.order_by(
                Expr::col((user_groups::Entity, G::IsElevated))
                    .and(Expr::col((user_groups::Entity, G::Active))),
                order.clone(),
            ),
            UserSort::Admin => select.order_by(
                Expr::col((user_groups::Entity, G::IsAdmin))
                    .and(Expr::col((user_groups::Entity, G::Active))),
                order.clone(),
            ),
        };
        let name_order = if query.sort == UserSort::Name {
            order
        } else {
            Order::Asc
        };
        select = select
            .order_by(
                Func::lower(Expr::col((users::Entity, U::Surname))),
                name_order.clone(),
            )
            .order_by(
                Func::lower(Expr::col((users::Entity, U::Forename))),
                name_order,
            )
            .order_by(U::Id, Order::Asc);
        let (rows, total) = crate::page::page_and_total::<
            sea_orm::SelectTwoModel<users::Model, user_groups::Model>,
        >(
            &self.txn,
            sea_orm::QueryTrait::into_query(select),
            query.page,
            query.per_page,
        )
        .await?;
        let mut staff = self
            .staff_ids_of(org, rows.iter().map(|(u, _)| u.id).collect())
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for (u, g) in rows {
            let g = g.ok_or_else(|| DomainError::internal("user without a group"))?;
            let ids = staff.remove(&u.id).unwrap_or_default();
            items.push(convert::user_view(u, &g, ids)?);
        }
        Ok((items, total))
    }

    async fn lock_org(&mut self, org: OrgId) -> Result<()> {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        // SQLite runs one writer at a time already; PostgreSQL needs the row lock.
        if self.txn.get_database_backend() == DbBackend::Postgres {
            self.txn
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT id FROM orgs WHERE id = $1 FOR UPDATE",
                    [org.0.into()],
                ))
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    async fn count_active_admins(&mut self, org: OrgId) -> Result<u64> {
        users::Entity::find()
            .inner_join(user_groups::Entity)
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Status.eq(UserStatus::Active.as_str()))
            .filter(user_groups::Column::Active.eq(true))
            .filter(user_groups::Column::IsAdmin.eq(true))
            .count(&self.txn)
            .await
            .map_err(db_err)
    }

    async fn insert_session(&mut self, s: &Session) -> Result<()> {
        sessions::Entity::insert(sessions::ActiveModel {
            id: Set(s.id.0),
            org_id: Set(s.org_id.0),
            user_id: Set(s.user_id.0),
            second_factor: Set(s.second_factor),
            token_version: Set(s.token_version),
            created_at: Set(to_us(s.created_at)),
            expires_at: Set(to_us(s.expires_at)),
            revoked: Set(s.revoked),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn auth_facts(&mut self, session: SessionId) -> Result<Option<AuthFacts>> {
        let Some(s) = sessions::Entity::find_by_id(session.0)
            .one(&self.txn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let Some((u, Some(g))) = users::Entity::find()
            .find_also_related(user_groups::Entity)
            .filter(users::Column::OrgId.eq(s.org_id))
            .filter(users::Column::Id.eq(s.user_id))
            .one(&self.txn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let Some(o) = orgs::Entity::find_by_id(s.org_id)
            .one(&self.txn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        Ok(Some(AuthFacts {
            session: convert::session(s),
            user: convert::user(u)?,
            group: self.load_group(g).await?,
            org: convert::org(o)?,
        }))
    }

    async fn revoke_session(&mut self, session: SessionId) -> Result<()> {
        self.changes.push(AuthChange::Session(session));
        sessions::Entity::update_many()
            .col_expr(sessions::Column::Revoked, Expr::value(true))
            .filter(sessions::Column::Id.eq(session.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn revoke_org_sessions(&mut self, org: OrgId, keep: SessionId) -> Result<u64> {
        self.changes.push(AuthChange::Org(org));
        Ok(sessions::Entity::update_many()
            .col_expr(sessions::Column::Revoked, Expr::value(true))
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::Id.ne(keep.0))
            .filter(sessions::Column::Revoked.eq(false))
            .exec(&self.txn)
            .await
            .map_err(db_err)?
            .rows_affected)
    }

    async fn live_sessions(&mut self, org: OrgId, user: UserId) -> Result<Vec<Session>> {
        use sea_orm::sea_query::Query;
        Ok(sessions::Entity::find()
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::UserId.eq(user.0))
            .filter(sessions::Column::Revoked.eq(false))
            .filter(sessions::Column::ExpiresAt.gt(now_us()))
            // Still refreshable: an unspent refresh token inside its idle window.
            .filter(
                sessions::Column::Id.in_subquery(
                    Query::select()
                        .column(refresh_tokens::Column::SessionId)
                        .from(refresh_tokens::Entity)
                        .and_where(refresh_tokens::Column::OrgId.eq(org.0))
                        .and_where(refresh_tokens::Column::Spent.eq(false))
                        .and_where(refresh_tokens::Column::ExpiresAt.gt(now_us()))
                        .to_owned(),
                ),
            )
            .order_by_desc(sessions::Column::CreatedAt)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(convert::session)
            .collect())
    }

    async fn revoke_other_sessions(
        &mut self,
        org: OrgId,
        user: UserId,
        keep: SessionId,
    ) -> Result<u64> {
        self.changes.push(AuthChange::Org(org));
        Ok(sessions::Entity::update_many()
            .col_expr(sessions::Column::Revoked, Expr::value(true))
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::UserId.eq(user.0))
            .filter(sessions::Column::Id.ne(keep.0))
            .filter(sessions::Column::Revoked.eq(false))
            .exec(&self.txn)
            .await
            .map_err(db_err)?
            .rows_affected)
    }

    async fn insert_refresh_token(&mut self, t: &RefreshToken) -> Result<()> {
        refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
            hash: Set(t.hash.clone()),
            org_id: Set(t.org_id.0),
            session_id: Set(t.session_id.0),
            spent: Set(t.spent),
            expires_at: Set(to_us(t.expires_at)),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn refresh_token(&mut self, hash: &str) -> Result<Option<RefreshToken>> {
        Ok(refresh_tokens::Entity::find_by_id(hash.to_owned())
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(|m| RefreshToken {
                hash: m.hash,
                session_id: SessionId(m.session_id),
                org_id: OrgId(m.org_id),
                spent: m.spent,
                expires_at: convert::from_us(m.expires_at),
            }))
    }

    async fn spend_refresh_token(&mut self, hash: &str) -> Result<bool> {
        let res = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::Spent, Expr::value(true))
            .filter(refresh_tokens::Column::Hash.eq(hash))
            .filter(refresh_tokens::Column::Spent.eq(false))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn throttle(&mut self, org: OrgId, key: &str) -> Result<Option<LoginThrottle>> {
        Ok(login_throttles::Entity::find_by_id((org.0, key.to_owned()))
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(|m| LoginThrottle {
                key: m.key,
                org_id: OrgId(m.org_id),
                failures: m.failures,
                locked_until: m.locked_until.map(convert::from_us),
            }))
    }

    async fn record_login_failure(&mut self, org: OrgId, key: &str) -> Result<LoginThrottle> {
        use login_throttles::Column as T;
        let row = login_throttles::ActiveModel {
            org_id: Set(org.0),
            key: Set(key.to_owned()),
            failures: Set(1),
            locked_until: Set(None),
        };
        login_throttles::Entity::insert(row)
            .on_conflict(
                sea_orm::sea_query::OnConflict::columns([T::OrgId, T::Key])
                    .value(
                        T::Failures,
                        Expr::col((login_throttles::Entity, T::Failures)).add(1),
                    )
                    .to_owned(),
            )
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
        self.throttle(org, key)
            .await?
            .ok_or_else(|| DomainError::internal("login counter vanished"))
    }

    async fn lock_login(
        &mut self,
        org: OrgId,
        key: &str,
        until: time::OffsetDateTime,
    ) -> Result<()> {
        login_throttles::Entity::update_many()
            .col_expr(
                login_throttles::Column::LockedUntil,
                Expr::value(to_us(until)),
            )
            .filter(login_throttles::Column::OrgId.eq(org.0))
            .filter(login_throttles::Column::Key.eq(key))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn clear_throttle(&mut self, org: OrgId, key: &str) -> Result<()> {
        login_throttles::Entity::delete_many()
            .filter(login_throttles::Column::OrgId.eq(org.0))
            .filter(login_throttles::Column::Key.eq(key))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn replace_recovery_codes(
        &mut self,
        org: OrgId,
        user: UserId,
        hashes: &[String],
    ) -> Result<()> {
        recovery_codes::Entity::delete_many()
            .filter(recovery_codes::Column::OrgId.eq(org.0))
            .filter(recovery_codes::Column::UserId.eq(user.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        if hashes.is_empty() {
            return Ok(());
        }
        recovery_codes::Entity::insert_many(hashes.iter().map(|h| recovery_codes::ActiveModel {
            org_id: Set(org.0),
            user_id: Set(user.0),
            hash: Set(h.clone()),
            used_at: Set(None),
        }))
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn spend_recovery_code(&mut self, org: OrgId, user: UserId, hash: &str) -> Result<bool> {
        let res = recovery_codes::Entity::update_many()
            .col_expr(recovery_codes::Column::UsedAt, Expr::value(now_us()))
            .filter(recovery_codes::Column::OrgId.eq(org.0))
            .filter(recovery_codes::Column::UserId.eq(user.0))
            .filter(recovery_codes::Column::Hash.eq(hash))
            .filter(recovery_codes::Column::UsedAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn insert_staff(&mut self, s: &StaffMember) -> Result<()> {
        staff::Entity::insert(convert::staff_row(s, now_us()))
            .exec_without_returning(&self.txn)
            .await
            .map_err(|e| {
                unique_or(e, |_| {
                    Some(DomainError::conflict(
                        "mis_id_in_use",
                        "another staff record has this MIS id",
                    ))
                })
            })?;
        Ok(())
    }

    async fn link_staff(&mut self, org: OrgId, user: UserId, staff: StaffId) -> Result<()> {
        self.changes.push(AuthChange::Org(org));
        user_staff::Entity::insert(user_staff::ActiveModel {
            org_id: Set(org.0),
            user_id: Set(user.0),
            staff_id: Set(staff.0),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(|e| {
            unique_or(e, |_| {
                Some(DomainError::field(
                    "staff_ids",
                    "staff_linked",
                    "the staff record already has an account",
                ))
            })
        })?;
        Ok(())
    }

    async fn staff_member(&mut self, org: OrgId, id: StaffId) -> Result<Option<StaffMember>> {
        let Some(m) = staff::Entity::find()
            .filter(staff::Column::OrgId.eq(org.0))
            .filter(staff::Column::Id.eq(id.0))
            .one(&self.txn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let users = self
            .user_ids_of(org, vec![m.id])
            .await?
            .remove(&m.id)
            .unwrap_or_default();
        Ok(Some(convert::staff_member(m, users)?))
    }

    async fn staff(&mut self, org: OrgId, q: &StaffQuery) -> Result<(Vec<StaffMember>, u64)> {
        use staff::Column as S;
        let mut select = staff::Entity::find().filter(S::OrgId.eq(org.0));
        if let Some(text) = &q.q {
            let pat = like_pattern(text);
            let like =
                |e: sea_orm::sea_query::SimpleExpr| e.like(LikeExpr::new(pat.clone()).escape('\\'));
            select = select.filter(
                Condition::any()
                    .add(like(Expr::cust(
                        "LOWER(staff.forename || ' ' || staff.surname)",
                    )))
                    .add(like(
                        Func::lower(Expr::col((staff::Entity, S::Surname))).into(),
                    ))
                    .add(like(
                        Func::lower(Expr::col((staff::Entity, S::Email))).into(),
                    ))
                    .add(like(
                        Func::lower(Expr::col((staff::Entity, S::MisId))).into(),
                    )),
            );
        }
        if let Some((today, several)) = q.eligible_on {
            // S2, in the query: started, not ended, permanent, full time, and (one staff per
            // user) without an account yet.
            let today = convert::date(today);
            select = select
                .filter(S::StartDate.lte(today.clone()))
                .filter(
                    Condition::any()
                        .add(S::EndDate.is_null())
                        .add(S::EndDate.gte(today)),
                )
                .filter(S::Contract.eq(Contract::Permanent.as_str()))
                .filter(S::Hours.eq(Hours::FullTime.as_str()));
            if !several {
                select = select.filter(
                    S::Id.not_in_subquery(
                        sea_orm::sea_query::Query::select()
                            .column(user_staff::Column::StaffId)
                            .from(user_staff::Entity)
                            .and_where(user_staff::Column::OrgId.eq(org.0))
                            .to_owned(),
                    ),
                );
            }
        }
        let select = select
            .order_by(
                Func::lower(Expr::col((staff::Entity, S::Surname))),
                Order::Asc,
            )
            .order_by(
                Func::lower(Expr::col((staff::Entity, S::Forename))),
                Order::Asc,
            )
            .order_by(S::Id, Order::Asc);
        let pages = select.paginate(&self.txn, q.per_page);
        let total = pages.num_items().await.map_err(db_err)?;
        let rows = pages.fetch_page(q.page - 1).await.map_err(db_err)?;
        let mut users = self
            .user_ids_of(org, rows.iter().map(|r| r.id).collect())
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            let ids = users.remove(&r.id).unwrap_or_default();
            items.push(convert::staff_member(r, ids)?);
        }
        Ok((items, total))
    }

    async fn insert_student(&mut self, s: &Student) -> Result<()> {
        self.pupils_changed(s.org_id);
        students::Entity::insert(convert::student_row(s, now_us()))
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_student_group(&mut self, g: &StudentGroup) -> Result<()> {
        self.pupils_changed(g.org_id);
        student_groups::Entity::insert(student_groups::ActiveModel {
            id: Set(g.id.0),
            org_id: Set(g.org_id.0),
            mis_id: Set(g.mis_id.clone()),
            kind: Set(g.kind.as_str().to_owned()),
            name: Set(g.name.clone()),
            archived: Set(g.archived),
            version: Set(std::cmp::max(g.version, 1)),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn add_group_member(
        &mut self,
        org: OrgId,
        group: StudentGroupId,
        student: StudentId,
    ) -> Result<()> {
        self.pupils_changed(org);
        student_group_members::Entity::insert(student_group_members::ActiveModel {
            org_id: Set(org.0),
            group_id: Set(group.0),
            student_id: Set(student.0),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        visibility::refresh_kinds_mask(&self.txn, org, &[student.0]).await
    }

    async fn add_group_access(
        &mut self,
        org: OrgId,
        group: StudentGroupId,
        user: UserId,
    ) -> Result<()> {
        self.pupils_changed(org);
        student_group_access::Entity::insert(student_group_access::ActiveModel {
            org_id: Set(org.0),
            group_id: Set(group.0),
            user_id: Set(user.0),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn student_groups(
        &mut self,
        org: OrgId,
        q: &StudentGroupQuery,
    ) -> Result<(Vec<(StudentGroup, u64)>, u64)> {
        use student_groups::Column as G;
        let mut select = student_groups::Entity::find().filter(G::OrgId.eq(org.0));
        if let Some(kind) = q.kind {
            select = select.filter(G::Kind.eq(kind.as_str()));
        }
        if let Some(a) = q.archived {
            select = select.filter(G::Archived.eq(a));
        }
        if let Some(text) = &q.q {
            select = select.filter(
                Func::lower(Expr::col((student_groups::Entity, G::Name)))
                    .like(LikeExpr::new(like_pattern(text)).escape('\\')),
            );
        }
        let select = select
            .order_by_asc(G::Kind)
            .order_by(
                Expr::col((student_groups::Entity, G::MisId)).is_null(),
                Order::Asc,
            )
            .order_by_asc(G::MisId)
            .order_by_asc(G::Name)
            .order_by_asc(G::Id);
        let pages = select.paginate(&self.txn, q.per_page);
        let total = pages.num_items().await.map_err(db_err)?;
        let rows = pages.fetch_page(q.page - 1).await.map_err(db_err)?;
        let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.id).collect();
        let counts: Vec<(uuid::Uuid, i64)> = student_group_members::Entity::find()
            .select_only()
            .column(student_group_members::Column::GroupId)
            .column_as(student_group_members::Column::StudentId.count(), "n")
            .filter(student_group_members::Column::OrgId.eq(org.0))
            .filter(student_group_members::Column::GroupId.is_in(ids))
            .group_by(student_group_members::Column::GroupId)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            let n = counts
                .iter()
                .find(|(g, _)| *g == r.id)
                .map(|(_, n)| *n as u64)
                .unwrap_or(0);
            items.push((convert::student_group(r)?, n));
        }
        Ok((items, total))
    }

    async fn update_staff(&mut self, s: &StaffMember, expected_version: i64) -> Result<bool> {
        let mut row = convert::staff_row(s, now_us());
        row.created_at = sea_orm::ActiveValue::NotSet;
        let res = staff::Entity::update_many()
            .set(row)
            .filter(staff::Column::OrgId.eq(s.org_id.0))
            .filter(staff::Column::Id.eq(s.id.0))
            .filter(staff::Column::Version.eq(expected_version))
            .exec(&self.txn)
            .await
            .map_err(|e| {
                unique_or(e, |_| {
                    Some(DomainError::conflict(
                        "mis_id_in_use",
                        "another staff record has this MIS id",
                    ))
                })
            })?;
        Ok(res.rows_affected == 1)
    }

    async fn unlink_staff(&mut self, org: OrgId, user: UserId) -> Result<()> {
        self.changes.push(AuthChange::Org(org));
        user_staff::Entity::delete_many()
            .filter(user_staff::Column::OrgId.eq(org.0))
            .filter(user_staff::Column::UserId.eq(user.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn leavers(&mut self, org: OrgId, today: time::Date) -> Result<Vec<StaffMember>> {
        use sea_orm::sea_query::Query;
        let active_linked = Query::select()
            .column((user_staff::Entity, user_staff::Column::StaffId))
            .from(user_staff::Entity)
            .inner_join(
                users::Entity,
                Expr::col((users::Entity, users::Column::Id))
                    .equals((user_staff::Entity, user_staff::Column::UserId)),
            )
            .and_where(Expr::col((user_staff::Entity, user_staff::Column::OrgId)).eq(org.0))
            .and_where(
                Expr::col((users::Entity, users::Column::Status)).eq(UserStatus::Active.as_str()),
            )
            .to_owned();
        let rows = staff::Entity::find()
            .filter(staff::Column::OrgId.eq(org.0))
            .filter(staff::Column::EndDate.lt(convert::date(today)))
            .filter(staff::Column::Id.in_subquery(active_linked))
            .order_by_asc(staff::Column::EndDate)
            .order_by_asc(staff::Column::Surname)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut users = self
            .user_ids_of(org, rows.iter().map(|r| r.id).collect())
            .await?;
        rows.into_iter()
            .map(|r| {
                let ids = users.remove(&r.id).unwrap_or_default();
                convert::staff_member(r, ids)
            })
            .collect()
    }

    async fn access_of_user(&mut self, org: OrgId, user: UserId) -> Result<Vec<StudentGroupId>> {
        Ok(student_group_access::Entity::find()
            .filter(student_group_access::Column::OrgId.eq(org.0))
            .filter(student_group_access::Column::UserId.eq(user.0))
            .order_by_asc(student_group_access::Column::GroupId)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|r| StudentGroupId(r.group_id))
            .collect())
    }

    async fn outbox_backlog(&mut self) -> Result<(u64, Option<time::OffsetDateTime>)> {
        let pending = || outbox::Entity::find().filter(outbox::Column::Status.eq("pending"));
        let n = pending().count(&self.txn).await.map_err(db_err)?;
        let oldest: Option<i64> = pending()
            .select_only()
            .column(outbox::Column::CreatedAt)
            .order_by_asc(outbox::Column::CreatedAt)
            .into_tuple()
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        Ok((n, oldest.map(convert::from_us)))
    }

    async fn alert_recipients(
        &mut self,
        org: OrgId,
        audience: &AlertAudience,
    ) -> Result<Vec<AlertRecipient>> {
        crate::alerts::recipients(&self.txn, org, audience).await
    }

    async fn insert_alerts(&mut self, alerts: &[Alert]) -> Result<()> {
        crate::alerts::insert(&self.txn, alerts).await
    }

    async fn alerts(
        &mut self,
        org: OrgId,
        user: UserId,
        after: Option<AlertCursor>,
        limit: u64,
    ) -> Result<Vec<Alert>> {
        crate::alerts::list(&self.txn, org, user, after, limit).await
    }

    async fn all_orgs(&mut self) -> Result<Vec<Org>> {
        orgs::Entity::find()
            .order_by_asc(orgs::Column::Slug)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(convert::org)
            .collect()
    }

    async fn digest_subscribers(&mut self, org: OrgId, day: &str) -> Result<Vec<DigestSubscriber>> {
        crate::alerts::digest_subscribers(&self.txn, org, day).await
    }

    async fn last_digest(
        &mut self,
        org: OrgId,
        user: UserId,
        day: &str,
    ) -> Result<Option<time::OffsetDateTime>> {
        crate::alerts::last_digest(&self.txn, org, user, day).await
    }

    async fn claim_digest(
        &mut self,
        org: OrgId,
        user: UserId,
        day: &str,
        at: time::OffsetDateTime,
    ) -> Result<bool> {
        crate::alerts::claim_digest(&self.txn, org, user, day, at).await
    }

    async fn digest_items(&mut self, org: OrgId, q: &DigestQuery) -> Result<Vec<DigestItem>> {
        crate::alerts::digest_items(&self.txn, org, q).await
    }

    async fn mark_alert_read(
        &mut self,
        org: OrgId,
        user: UserId,
        id: AlertId,
        at: time::OffsetDateTime,
    ) -> Result<bool> {
        crate::alerts::mark_read(&self.txn, org, user, id, at).await
    }

    async fn enqueue_mail(&mut self, m: &OutboxMessage) -> Result<()> {
        self.enqueue_mails(std::slice::from_ref(m)).await
    }

    async fn enqueue_mails(&mut self, messages: &[OutboxMessage]) -> Result<()> {
        let at = now_us();
        for chunk in messages.chunks(500) {
            outbox::Entity::insert_many(chunk.iter().map(|m| outbox::ActiveModel {
                id: Set(m.id),
                org_id: Set(m.org_id.0),
                kind: Set(m.kind.clone()),
                to_address: Set(m.to.clone()),
                subject: Set(m.subject.clone()),
                body: Set(m.body.clone()),
                status: Set("pending".into()),
                attempts: Set(0),
                next_attempt_at: Set(at),
                lease_until: Set(None),
                last_error: Set(None),
                created_at: Set(at),
                sent_at: Set(None),
            }))
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }

    async fn due_mail(
        &mut self,
        now: time::OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<OutboxMessage>> {
        let now = to_us(now);
        Ok(outbox::Entity::find()
            .filter(outbox::Column::Status.eq("pending"))
            .filter(outbox::Column::NextAttemptAt.lte(now))
            .filter(
                Condition::any()
                    .add(outbox::Column::LeaseUntil.is_null())
                    .add(outbox::Column::LeaseUntil.lt(now)),
            )
            .order_by_asc(outbox::Column::CreatedAt)
            .limit(limit)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| OutboxMessage {
                id: m.id,
                org_id: OrgId(m.org_id),
                kind: m.kind,
                to: m.to_address,
                subject: m.subject,
                body: m.body,
                attempts: m.attempts,
            })
            .collect())
    }

    async fn claim_mail(
        &mut self,
        id: uuid::Uuid,
        now: time::OffsetDateTime,
        lease_until: time::OffsetDateTime,
    ) -> Result<bool> {
        let now = to_us(now);
        let res = outbox::Entity::update_many()
            .col_expr(outbox::Column::LeaseUntil, Expr::value(to_us(lease_until)))
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::Status.eq("pending"))
            .filter(
                Condition::any()
                    .add(outbox::Column::LeaseUntil.is_null())
                    .add(outbox::Column::LeaseUntil.lt(now)),
            )
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn mail_sent(&mut self, id: uuid::Uuid, at: time::OffsetDateTime) -> Result<()> {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value("sent"))
            .col_expr(outbox::Column::SentAt, Expr::value(to_us(at)))
            .col_expr(outbox::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(outbox::Column::Id.eq(id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn mail_failed(
        &mut self,
        id: uuid::Uuid,
        attempts: i32,
        retry_at: time::OffsetDateTime,
        error: &str,
    ) -> Result<()> {
        let status = if error.starts_with("gave up") {
            "failed"
        } else {
            "pending"
        };
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value(status))
            .col_expr(outbox::Column::Attempts, Expr::value(attempts))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(to_us(retry_at)))
            .col_expr(outbox::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .col_expr(
                outbox::Column::LastError,
                Expr::value(error.chars().take(1000).collect::<String>()),
            )
            .filter(outbox::Column::Id.eq(id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_action_token(&mut self, t: &ActionToken) -> Result<()> {
        action_tokens::Entity::insert(action_tokens::ActiveModel {
            hash: Set(t.hash.clone()),
            org_id: Set(t.org_id.0),
            user_id: Set(t.user_id.0),
            purpose: Set(t.purpose.as_str().to_owned()),
            expires_at: Set(to_us(t.expires_at)),
            used_at: Set(None),
            created_at: Set(now_us()),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn action_token(&mut self, hash: &str) -> Result<Option<ActionToken>> {
        let Some(m) = action_tokens::Entity::find_by_id(hash.to_owned())
            .one(&self.txn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        Ok(Some(ActionToken {
            hash: m.hash,
            org_id: OrgId(m.org_id),
            user_id: UserId(m.user_id),
            purpose: TokenPurpose::parse(&m.purpose)
                .ok_or_else(|| DomainError::internal("stored token purpose"))?,
            expires_at: convert::from_us(m.expires_at),
            used: m.used_at.is_some(),
        }))
    }

    async fn spend_action_token(&mut self, hash: &str) -> Result<bool> {
        let res = action_tokens::Entity::update_many()
            .col_expr(action_tokens::Column::UsedAt, Expr::value(now_us()))
            .filter(action_tokens::Column::Hash.eq(hash))
            .filter(action_tokens::Column::UsedAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn revoke_action_tokens(
        &mut self,
        org: OrgId,
        user: UserId,
        purpose: TokenPurpose,
    ) -> Result<()> {
        action_tokens::Entity::update_many()
            .col_expr(action_tokens::Column::UsedAt, Expr::value(now_us()))
            .filter(action_tokens::Column::OrgId.eq(org.0))
            .filter(action_tokens::Column::UserId.eq(user.0))
            .filter(action_tokens::Column::Purpose.eq(purpose.as_str()))
            .filter(action_tokens::Column::UsedAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn notification_prefs(
        &mut self,
        org: OrgId,
        user: UserId,
    ) -> Result<Vec<(CategoryId, NotificationMode)>> {
        notification_prefs::Entity::find()
            .filter(notification_prefs::Column::OrgId.eq(org.0))
            .filter(notification_prefs::Column::UserId.eq(user.0))
            .order_by_asc(notification_prefs::Column::CategoryId)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| {
                NotificationMode::parse(&m.mode)
                    .map(|mode| (CategoryId(m.category_id), mode))
                    .ok_or_else(|| DomainError::internal("stored notification mode"))
            })
            .collect()
    }

    async fn replace_notification_prefs(
        &mut self,
        org: OrgId,
        user: UserId,
        prefs: &[(CategoryId, NotificationMode)],
    ) -> Result<()> {
        self.changes.push(AuthChange::Org(org));
        notification_prefs::Entity::delete_many()
            .filter(notification_prefs::Column::OrgId.eq(org.0))
            .filter(notification_prefs::Column::UserId.eq(user.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        if prefs.is_empty() {
            return Ok(());
        }
        notification_prefs::Entity::insert_many(prefs.iter().map(|(c, m)| {
            notification_prefs::ActiveModel {
                org_id: Set(org.0),
                user_id: Set(user.0),
                category_id: Set(c.0),
                mode: Set(m.as_str().to_owned()),
            }
        }))
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_service_account(&mut self, a: &ServiceAccount, key_hash: &str) -> Result<()> {
        let scopes: Vec<&str> = a.scopes.iter().map(|s| s.as_str()).collect();
        service_accounts::Entity::insert(service_accounts::ActiveModel {
            id: Set(a.id.0),
            org_id: Set(a.org_id.0),
            name: Set(a.name.clone()),
            scopes: Set(serde_json::to_string(&scopes).map_err(DomainError::internal)?),
            key_prefix: Set(a.key_prefix.clone()),
            key_hash: Set(key_hash.to_owned()),
            created_at: Set(to_us(a.created_at)),
            created_by: Set(a.created_by.map(|u| u.0)),
            last_used_at: Set(None),
            revoked_at: Set(None),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn service_accounts(&mut self, org: OrgId) -> Result<Vec<ServiceAccount>> {
        service_accounts::Entity::find()
            .filter(service_accounts::Column::OrgId.eq(org.0))
            .order_by_asc(service_accounts::Column::CreatedAt)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(convert::service_account)
            .collect()
    }

    async fn service_account(
        &mut self,
        org: OrgId,
        id: ServiceAccountId,
    ) -> Result<Option<ServiceAccount>> {
        service_accounts::Entity::find()
            .filter(service_accounts::Column::OrgId.eq(org.0))
            .filter(service_accounts::Column::Id.eq(id.0))
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(convert::service_account)
            .transpose()
    }

    async fn service_account_by_key(&mut self, key_hash: &str) -> Result<Option<ServiceAccount>> {
        service_accounts::Entity::find()
            .filter(service_accounts::Column::KeyHash.eq(key_hash))
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(convert::service_account)
            .transpose()
    }

    async fn revoke_service_account(&mut self, org: OrgId, id: ServiceAccountId) -> Result<()> {
        service_accounts::Entity::update_many()
            .col_expr(service_accounts::Column::RevokedAt, Expr::value(now_us()))
            .filter(service_accounts::Column::OrgId.eq(org.0))
            .filter(service_accounts::Column::Id.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn touch_service_account(
        &mut self,
        id: ServiceAccountId,
        at: time::OffsetDateTime,
    ) -> Result<()> {
        service_accounts::Entity::update_many()
            .col_expr(service_accounts::Column::LastUsedAt, Expr::value(to_us(at)))
            .filter(service_accounts::Column::Id.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn mis_staff(&mut self, org: OrgId) -> Result<Vec<StaffMember>> {
        let rows = staff::Entity::find()
            .filter(staff::Column::OrgId.eq(org.0))
            .filter(staff::Column::MisId.is_not_null())
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let links = user_staff::Entity::find()
            .filter(user_staff::Column::OrgId.eq(org.0))
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut users: std::collections::HashMap<uuid::Uuid, Vec<UserId>> = Default::default();
        for l in links {
            users.entry(l.staff_id).or_default().push(UserId(l.user_id));
        }
        rows.into_iter()
            .map(|r| {
                let mut ids = users.remove(&r.id).unwrap_or_default();
                ids.sort();
                convert::staff_member(r, ids)
            })
            .collect()
    }

    async fn insert_staff_many(&mut self, staff: &[StaffMember]) -> Result<()> {
        if staff.is_empty() {
            return Ok(());
        }
        let at = now_us();
        staff::Entity::insert_many(staff.iter().map(|s| convert::staff_row(s, at)))
            .exec_without_returning(&self.txn)
            .await
            .map_err(|e| {
                unique_or(e, |_| {
                    Some(DomainError::conflict(
                        "mis_id_in_use",
                        "another staff record has this MIS id",
                    ))
                })
            })?;
        Ok(())
    }

    async fn all_students(&mut self, org: OrgId) -> Result<Vec<Student>> {
        students::Entity::find()
            .filter(students::Column::OrgId.eq(org.0))
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(convert::student)
            .collect()
    }

    async fn insert_students(&mut self, students_in: &[Student]) -> Result<()> {
        if students_in.is_empty() {
            return Ok(());
        }
        for s in students_in {
            self.pupils_changed(s.org_id);
        }
        let at = now_us();
        students::Entity::insert_many(students_in.iter().map(|s| convert::student_row(s, at)))
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn update_student(&mut self, s: &Student) -> Result<()> {
        self.pupils_changed(s.org_id);
        let mut row = convert::student_row(s, now_us());
        row.created_at = sea_orm::ActiveValue::NotSet;
        students::Entity::update_many()
            .set(row)
            .filter(students::Column::OrgId.eq(s.org_id.0))
            .filter(students::Column::Id.eq(s.id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn all_student_groups(&mut self, org: OrgId) -> Result<Vec<StudentGroup>> {
        student_groups::Entity::find()
            .filter(student_groups::Column::OrgId.eq(org.0))
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(convert::student_group)
            .collect()
    }

    async fn update_student_group(&mut self, g: &StudentGroup) -> Result<()> {
        self.pupils_changed(g.org_id);
        student_groups::Entity::update_many()
            .col_expr(student_groups::Column::Kind, Expr::value(g.kind.as_str()))
            .col_expr(student_groups::Column::Name, Expr::value(g.name.clone()))
            .col_expr(student_groups::Column::Archived, Expr::value(g.archived))
            .col_expr(
                student_groups::Column::Version,
                Expr::col(student_groups::Column::Version).add(1),
            )
            .filter(student_groups::Column::OrgId.eq(g.org_id.0))
            .filter(student_groups::Column::Id.eq(g.id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        // Its kind or archiving may have changed: its members' masks follow.
        let members = visibility::members_of(&self.txn, g.org_id, g.id).await?;
        visibility::refresh_kinds_mask(&self.txn, g.org_id, &members).await
    }

    async fn all_group_members(&mut self, org: OrgId) -> Result<Vec<(StudentGroupId, StudentId)>> {
        Ok(student_group_members::Entity::find()
            .filter(student_group_members::Column::OrgId.eq(org.0))
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| (StudentGroupId(m.group_id), StudentId(m.student_id)))
            .collect())
    }

    async fn change_group_members(
        &mut self,
        org: OrgId,
        removes: &[(StudentGroupId, StudentId)],
        adds: &[(StudentGroupId, StudentId)],
    ) -> Result<()> {
        use student_group_members::Column as M;
        if !removes.is_empty() || !adds.is_empty() {
            self.pupils_changed(org);
        }
        for chunk in removes.chunks(1000) {
            student_group_members::Entity::delete_many()
                .filter(M::OrgId.eq(org.0))
                .filter(
                    Expr::tuple([Expr::col(M::GroupId), Expr::col(M::StudentId)])
                        .in_tuples(chunk.iter().map(|(g, s)| (g.0, s.0))),
                )
                .exec(&self.txn)
                .await
                .map_err(db_err)?;
        }
        for chunk in adds.chunks(2000) {
            student_group_members::Entity::insert_many(chunk.iter().map(|(g, s)| {
                student_group_members::ActiveModel {
                    org_id: Set(org.0),
                    group_id: Set(g.0),
                    student_id: Set(s.0),
                }
            }))
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
        }
        // Each moved pupil's mask once, after both halves.
        let mut ids: Vec<uuid::Uuid> = removes.iter().chain(adds).map(|(_, s)| s.0).collect();
        ids.sort();
        ids.dedup();
        visibility::refresh_kinds_mask(&self.txn, org, &ids).await
    }

    async fn idempotent_response(
        &mut self,
        org: OrgId,
        key: &str,
    ) -> Result<Option<(String, String, u16, String)>> {
        Ok(
            idempotency_keys::Entity::find_by_id((org.0, key.to_owned()))
                .one(&self.txn)
                .await
                .map_err(db_err)?
                .map(|m| (m.endpoint, m.request_hash, m.status as u16, m.response)),
        )
    }

    async fn save_idempotent_response(
        &mut self,
        org: OrgId,
        key: &str,
        endpoint: &str,
        request_hash: &str,
        status: u16,
        body: &str,
    ) -> Result<()> {
        idempotency_keys::Entity::insert(idempotency_keys::ActiveModel {
            org_id: Set(org.0),
            key: Set(key.to_owned()),
            endpoint: Set(endpoint.to_owned()),
            request_hash: Set(request_hash.to_owned()),
            status: Set(status as i32),
            response: Set(body.to_owned()),
            created_at: Set(now_us()),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(|e| {
            unique_or(e, |_| {
                Some(DomainError::conflict(
                    "idempotency_key_in_flight",
                    "a request with this Idempotency-Key is being applied",
                ))
            })
        })?;
        Ok(())
    }

    async fn scim_users(
        &mut self,
        org: OrgId,
        filter: Option<&ScimFilter>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<UserView>, u64)> {
        let mut select = users::Entity::find()
            .find_also_related(user_groups::Entity)
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::ScimDeleted.eq(false));
        if let Some(f) = filter {
            select = select.filter(scim_condition(f, true)?);
        }
        let select = select
            .order_by_desc(users::Column::CreatedAt)
            .order_by_asc(users::Column::Id);
        let total = select.clone().count(&self.txn).await.map_err(db_err)?;
        let rows = select
            .offset(offset)
            .limit(limit)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut staff = self
            .staff_ids_of(org, rows.iter().map(|(u, _)| u.id).collect())
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for (u, g) in rows {
            let g = g.ok_or_else(|| DomainError::internal("user without a group"))?;
            let ids = staff.remove(&u.id).unwrap_or_default();
            items.push(convert::user_view(u, &g, ids)?);
        }
        Ok((items, total))
    }

    async fn scim_groups(
        &mut self,
        org: OrgId,
        filter: Option<&ScimFilter>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<UserGroup>, u64)> {
        let mut select = user_groups::Entity::find().filter(user_groups::Column::OrgId.eq(org.0));
        if let Some(f) = filter {
            select = select.filter(scim_condition(f, false)?);
        }
        let select = select
            .order_by_asc(user_groups::Column::NameKey)
            .order_by_asc(user_groups::Column::Id);
        let total = select.clone().count(&self.txn).await.map_err(db_err)?;
        let rows = select
            .offset(offset)
            .limit(limit)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for m in rows {
            out.push(self.load_group(m).await?);
        }
        Ok((out, total))
    }

    async fn members_of_groups(
        &mut self,
        org: OrgId,
        groups: &[GroupId],
    ) -> Result<Vec<(GroupId, UserId)>> {
        if groups.is_empty() {
            return Ok(vec![]);
        }
        Ok(users::Entity::find()
            .select_only()
            .column(users::Column::UserGroupId)
            .column(users::Column::Id)
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::ScimDeleted.eq(false))
            .filter(users::Column::UserGroupId.is_in(groups.iter().map(|g| g.0)))
            .order_by_asc(users::Column::CreatedAt)
            .into_tuple::<(uuid::Uuid, uuid::Uuid)>()
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|(g, u)| (GroupId(g), UserId(u)))
            .collect())
    }

    async fn students(
        &mut self,
        org: OrgId,
        scope: &StudentScope,
        q: &StudentQuery,
    ) -> Result<(Vec<(Student, Vec<StudentGroupId>)>, u64)> {
        use sea_orm::sea_query::Query;
        use students::Column as S;
        let mut filters = Condition::all();
        if let Some(text) = &q.q {
            let pat = like_pattern(text);
            let like =
                |e: sea_orm::sea_query::SimpleExpr| e.like(LikeExpr::new(pat.clone()).escape('\\'));
            filters = filters.add(
                Condition::any()
                    .add(like(Expr::cust(
                        "LOWER(students.forename || ' ' || students.surname)",
                    )))
                    .add(like(
                        Func::lower(Expr::col((students::Entity, S::Surname))).into(),
                    ))
                    .add(like(
                        Func::lower(Expr::col((students::Entity, S::MisId))).into(),
                    )),
            );
        }
        if let Some(r) = q.on_roll {
            filters = filters.add(S::OnRoll.eq(r));
        }
        if let Some(c) = q.monitored_category {
            filters = filters.add(
                S::Id.in_subquery(
                    Query::select()
                        .column(student_monitoring::Column::StudentId)
                        .from(student_monitoring::Entity)
                        .and_where(student_monitoring::Column::OrgId.eq(org.0))
                        .and_where(student_monitoring::Column::CategoryId.eq(c.0))
                        .to_owned(),
                ),
            );
        }
        if let Some(g) = q.group_id {
            filters = filters.add(
                S::Id.in_subquery(
                    Query::select()
                        .column(student_group_members::Column::StudentId)
                        .from(student_group_members::Entity)
                        .and_where(student_group_members::Column::OrgId.eq(org.0))
                        .and_where(student_group_members::Column::GroupId.eq(g.0))
                        .to_owned(),
                ),
            );
        }
        // The list's counts (its total, and what chooses how a page is read) are counted once
        // and held until the org's pupils change; the page itself is always read.
        let key = format!(
            "students|{}|{:?}|{:?}|{:?}|{:?}|{:?}",
            scope.user, scope.restricting_types, q.q, q.on_roll, q.group_id, q.monitored_category
        );
        let read_at = self.cache.now();
        let counts = match self.cache.list_counts(org, &key) {
            Some(c) => c,
            None => {
                let c = visibility::count_students(&self.txn, org, scope, filters.clone()).await?;
                self.cache.hold_list_counts(read_at, org, key, c);
                c
            }
        };
        let offset = q.page.saturating_sub(1).saturating_mul(q.per_page);
        let condition = if visibility::walk_is_cheaper(&counts, offset.saturating_add(q.per_page)) {
            visibility::visibility_by_walk(org, scope)
        } else {
            let narrow = counts
                .narrow
                .and_then(|i| scope.restricting_types.get(i).copied());
            visibility::visibility_from(org, scope, narrow)
        };
        let rows = students::Entity::find()
            .filter(condition)
            .filter(filters)
            .order_by(
                Func::lower(Expr::col((students::Entity, S::Surname))),
                Order::Asc,
            )
            .order_by(
                Func::lower(Expr::col((students::Entity, S::Forename))),
                Order::Asc,
            )
            .order_by(S::Id, Order::Asc)
            .offset(offset)
            .limit(q.per_page)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let total = counts.total;
        let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.id).collect();
        let members = if ids.is_empty() {
            vec![]
        } else {
            student_group_members::Entity::find()
                .filter(student_group_members::Column::OrgId.eq(org.0))
                .filter(student_group_members::Column::StudentId.is_in(ids))
                .all(&self.txn)
                .await
                .map_err(db_err)?
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id = r.id;
            let mut groups: Vec<StudentGroupId> = members
                .iter()
                .filter(|m| m.student_id == id)
                .map(|m| StudentGroupId(m.group_id))
                .collect();
            groups.sort();
            out.push((convert::student(r)?, groups));
        }
        Ok((out, total))
    }

    async fn student(
        &mut self,
        org: OrgId,
        id: StudentId,
    ) -> Result<Option<(Student, Vec<StudentGroup>)>> {
        let Some(m) = students::Entity::find()
            .filter(students::Column::OrgId.eq(org.0))
            .filter(students::Column::Id.eq(id.0))
            .one(&self.txn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let group_ids: Vec<uuid::Uuid> = student_group_members::Entity::find()
            .filter(student_group_members::Column::OrgId.eq(org.0))
            .filter(student_group_members::Column::StudentId.eq(id.0))
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| m.group_id)
            .collect();
        let groups = if group_ids.is_empty() {
            vec![]
        } else {
            student_groups::Entity::find()
                .filter(student_groups::Column::OrgId.eq(org.0))
                .filter(student_groups::Column::Id.is_in(group_ids))
                .order_by_asc(student_groups::Column::Kind)
                .order_by_asc(student_groups::Column::Name)
                .all(&self.txn)
                .await
                .map_err(db_err)?
                .into_iter()
                .map(convert::student_group)
                .collect::<Result<Vec<_>>>()?
        };
        Ok(Some((convert::student(m)?, groups)))
    }

    async fn allowed_among(
        &mut self,
        org: OrgId,
        user: UserId,
        groups: &[StudentGroupId],
    ) -> Result<Vec<StudentGroupId>> {
        if groups.is_empty() {
            return Ok(vec![]);
        }
        Ok(student_group_access::Entity::find()
            .filter(student_group_access::Column::OrgId.eq(org.0))
            .filter(student_group_access::Column::UserId.eq(user.0))
            .filter(student_group_access::Column::GroupId.is_in(groups.iter().map(|g| g.0)))
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|a| StudentGroupId(a.group_id))
            .collect())
    }

    async fn is_blocked(&mut self, org: OrgId, user: UserId, student: StudentId) -> Result<bool> {
        Ok(
            student_blocks::Entity::find_by_id((org.0, user.0, student.0))
                .one(&self.txn)
                .await
                .map_err(db_err)?
                .is_some(),
        )
    }

    async fn student_group(
        &mut self,
        org: OrgId,
        id: StudentGroupId,
    ) -> Result<Option<(StudentGroup, u64)>> {
        let Some(g) = student_groups::Entity::find()
            .filter(student_groups::Column::OrgId.eq(org.0))
            .filter(student_groups::Column::Id.eq(id.0))
            .one(&self.txn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let n = student_group_members::Entity::find()
            .filter(student_group_members::Column::OrgId.eq(org.0))
            .filter(student_group_members::Column::GroupId.eq(id.0))
            .count(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(Some((convert::student_group(g)?, n)))
    }

    async fn group_members(&mut self, org: OrgId, group: StudentGroupId) -> Result<Vec<StudentId>> {
        Ok(visibility::members_of(&self.txn, org, group)
            .await?
            .into_iter()
            .map(StudentId)
            .collect())
    }

    async fn visible_students_among(
        &mut self,
        org: OrgId,
        scope: &StudentScope,
        ids: &[StudentId],
    ) -> Result<Vec<StudentId>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            let found: Vec<uuid::Uuid> = students::Entity::find()
                .select_only()
                .column(students::Column::Id)
                .filter(visibility::visibility(org, scope))
                .filter(students::Column::Id.is_in(chunk.iter().map(|s| s.0)))
                .into_tuple()
                .all(&self.txn)
                .await
                .map_err(db_err)?;
            out.extend(found.into_iter().map(StudentId));
        }
        Ok(out)
    }

    async fn bump_student_group(&mut self, org: OrgId, group: StudentGroupId) -> Result<()> {
        self.pupils_changed(org);
        student_groups::Entity::update_many()
            .col_expr(
                student_groups::Column::Version,
                Expr::col(student_groups::Column::Version).add(1),
            )
            .filter(student_groups::Column::OrgId.eq(org.0))
            .filter(student_groups::Column::Id.eq(group.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn group_access(&mut self, org: OrgId, group: StudentGroupId) -> Result<Vec<UserView>> {
        use sea_orm::sea_query::Query;
        let rows = users::Entity::find()
            .find_also_related(user_groups::Entity)
            .filter(users::Column::OrgId.eq(org.0))
            .filter(
                users::Column::Id.in_subquery(
                    Query::select()
                        .column(student_group_access::Column::UserId)
                        .from(student_group_access::Entity)
                        .and_where(student_group_access::Column::OrgId.eq(org.0))
                        .and_where(student_group_access::Column::GroupId.eq(group.0))
                        .to_owned(),
                ),
            )
            .order_by(
                Func::lower(Expr::col((users::Entity, users::Column::Surname))),
                Order::Asc,
            )
            .order_by(
                Func::lower(Expr::col((users::Entity, users::Column::Forename))),
                Order::Asc,
            )
            .order_by(users::Column::Id, Order::Asc)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut staff = self
            .staff_ids_of(org, rows.iter().map(|(u, _)| u.id).collect())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (u, g) in rows {
            let g = g.ok_or_else(|| DomainError::internal("user without a group"))?;
            let ids = staff.remove(&u.id).unwrap_or_default();
            out.push(convert::user_view(u, &g, ids)?);
        }
        Ok(out)
    }

    async fn grant_group_access(
        &mut self,
        org: OrgId,
        group: StudentGroupId,
        users: &[UserId],
    ) -> Result<u64> {
        self.pupils_changed(org);
        let mut added = 0;
        for u in users {
            let res = student_group_access::Entity::insert(student_group_access::ActiveModel {
                org_id: Set(org.0),
                group_id: Set(group.0),
                user_id: Set(u.0),
            })
            .on_conflict_do_nothing()
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
            if let sea_orm::TryInsertResult::Inserted(n) = res {
                added += n;
            }
        }
        Ok(added)
    }

    async fn revoke_group_access(
        &mut self,
        org: OrgId,
        group: StudentGroupId,
        users: &[UserId],
    ) -> Result<u64> {
        if users.is_empty() {
            return Ok(0);
        }
        self.pupils_changed(org);
        Ok(student_group_access::Entity::delete_many()
            .filter(student_group_access::Column::OrgId.eq(org.0))
            .filter(student_group_access::Column::GroupId.eq(group.0))
            .filter(student_group_access::Column::UserId.is_in(users.iter().map(|u| u.0)))
            .exec(&self.txn)
            .await
            .map_err(db_err)?
            .rows_affected)
    }

    async fn blocks(
        &mut self,
        org: OrgId,
        user: UserId,
        reader: &StudentScope,
    ) -> Result<Vec<(Block, Student)>> {
        let blocks = student_blocks::Entity::find()
            .filter(student_blocks::Column::OrgId.eq(org.0))
            .filter(student_blocks::Column::UserId.eq(user.0))
            .filter(
                student_blocks::Column::StudentId
                    .in_subquery(crate::visibility::visible_student_ids(org, reader)),
            )
            .order_by_asc(student_blocks::Column::CreatedAt)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let pupils: std::collections::HashMap<uuid::Uuid, students::Model> =
            students::Entity::find()
                .filter(students::Column::OrgId.eq(org.0))
                .filter(students::Column::Id.is_in(blocks.iter().map(|b| b.student_id)))
                .all(&self.txn)
                .await
                .map_err(db_err)?
                .into_iter()
                .map(|s| (s.id, s))
                .collect();
        let mut out = Vec::with_capacity(blocks.len());
        for b in blocks {
            if let Some(s) = pupils.get(&b.student_id) {
                out.push((
                    Block {
                        user_id: UserId(b.user_id),
                        student_id: StudentId(b.student_id),
                        reason: b.reason,
                        created_by: b.created_by.map(UserId),
                        created_at: convert::from_us(b.created_at),
                    },
                    convert::student(s.clone())?,
                ));
            }
        }
        Ok(out)
    }

    async fn all_blocks(&mut self, org: OrgId, user: UserId) -> Result<Vec<Block>> {
        Ok(student_blocks::Entity::find()
            .filter(student_blocks::Column::OrgId.eq(org.0))
            .filter(student_blocks::Column::UserId.eq(user.0))
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|b| Block {
                user_id: UserId(b.user_id),
                student_id: StudentId(b.student_id),
                reason: b.reason,
                created_by: b.created_by.map(UserId),
                created_at: convert::from_us(b.created_at),
            })
            .collect())
    }

    async fn insert_block(&mut self, org: OrgId, b: &Block) -> Result<()> {
        self.pupils_changed(org);
        student_blocks::Entity::insert(student_blocks::ActiveModel {
            org_id: Set(org.0),
            user_id: Set(b.user_id.0),
            student_id: Set(b.student_id.0),
            reason: Set(b.reason.clone()),
            created_by: Set(b.created_by.map(|u| u.0)),
            created_at: Set(to_us(b.created_at)),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(|e| {
            unique_or(e, |_| {
                Some(DomainError::conflict(
                    "already_blocked",
                    "the student is already blocked for this user",
                ))
            })
        })?;
        Ok(())
    }

    async fn delete_block(&mut self, org: OrgId, user: UserId, student: StudentId) -> Result<bool> {
        self.pupils_changed(org);
        Ok(student_blocks::Entity::delete_many()
            .filter(student_blocks::Column::OrgId.eq(org.0))
            .filter(student_blocks::Column::UserId.eq(user.0))
            .filter(student_blocks::Column::StudentId.eq(student.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?
            .rows_affected
            == 1)
    }

    async fn students_without_restricting_group(
        &mut self,
        org: OrgId,
        types: &[StudentGroupType],
        reader: &StudentScope,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<Student>, u64)> {
        let mut select = students::Entity::find()
            .filter(students::Column::OrgId.eq(org.0))
            .filter(students::Column::OnRoll.eq(true))
            .filter(crate::visibility::visibility(org, reader));
        if !types.is_empty() {
            select = select.filter(
                students::Column::Id.not_in_subquery(restricting_memberships(org, types, None)),
            );
        }
        let pages = select
            .order_by_asc(students::Column::Surname)
            .order_by_asc(students::Column::Forename)
            .order_by_asc(students::Column::Id)
            .paginate(&self.txn, per_page);
        let total = pages.num_items().await.map_err(db_err)?;
        let rows = pages.fetch_page(page - 1).await.map_err(db_err)?;
        Ok((
            rows.into_iter()
                .map(convert::student)
                .collect::<Result<Vec<_>>>()?,
            total,
        ))
    }

    async fn insert_incident(&mut self, i: &Incident) -> Result<()> {
        incidents::Entity::insert(incidents::ActiveModel {
            id: Set(i.id.0),
            org_id: Set(i.org_id.0),
            student_id: Set(i.student_id.0),
            category_id: Set(i.category_id.0),
            description: Set(i.description.clone()),
            occurred_at: Set(to_us(i.occurred_at)),
            reported_by: Set(i.reported_by.0),
            created_at: Set(to_us(i.created_at)),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn incident(&mut self, org: OrgId, id: IncidentId) -> Result<Option<Incident>> {
        Ok(incidents::Entity::find()
            .filter(incidents::Column::OrgId.eq(org.0))
            .filter(incidents::Column::Id.eq(id.0))
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(incident))
    }

    async fn incidents(
        &mut self,
        org: OrgId,
        scope: &StudentScope,
        categories: &[CategoryId],
        student: Option<StudentId>,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<Incident>, u64)> {
        if categories.is_empty() {
            return Ok((vec![], 0));
        }
        let mut select = incidents::Entity::find()
            .filter(incidents::Column::OrgId.eq(org.0))
            .filter(incidents::Column::CategoryId.is_in(categories.iter().map(|c| c.0)))
            .filter(incidents::Column::StudentId.in_subquery(visible_student_ids(org, scope)));
        if let Some(s) = student {
            select = select.filter(incidents::Column::StudentId.eq(s.0));
        }
        let pages = select
            .order_by_desc(incidents::Column::OccurredAt)
            .order_by_asc(incidents::Column::Id)
            .paginate(&self.txn, per_page);
        let total = pages.num_items().await.map_err(db_err)?;
        let rows = pages.fetch_page(page - 1).await.map_err(db_err)?;
        Ok((rows.into_iter().map(incident).collect(), total))
    }

    async fn insert_audit(&mut self, e: &AuditEntry, about: &[AuditAbout]) -> Result<()> {
        crate::audit::append(&self.txn, e, about).await
    }

    async fn audit_chain(
        &mut self,
        org: OrgId,
        after_seq: i64,
        limit: u64,
    ) -> Result<Vec<AuditEntry>> {
        crate::audit::chain(&self.txn, org, after_seq, limit).await
    }

    async fn unchained_audit(&mut self, org: OrgId) -> Result<Option<AuditEntry>> {
        crate::audit::unchained(&self.txn, org).await
    }

    async fn audit_head(&mut self, org: OrgId) -> Result<Option<(i64, String)>> {
        crate::audit::head(&self.txn, org).await
    }

    async fn audit(&mut self, org: OrgId, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        use audit_log::Column as A;
        let mut select = audit_log::Entity::find()
            .filter(A::OrgId.eq(org.0))
            .filter(crate::audit::readable(org, &q.reader));
        if let Some(k) = &q.kind {
            select = select.filter(A::Kind.eq(k.as_str()));
        }
        if let Some(a) = q.actor_id {
            select = select.filter(A::ActorId.eq(a.0));
        }
        if let Some(t) = q.target_id {
            select = select.filter(A::TargetId.eq(t));
        }
        if let Some(s) = q.staff_id {
            select = select.filter(
                Condition::any().add(A::StaffId.eq(s.0)).add(
                    Condition::all()
                        .add(A::TargetType.eq("staff"))
                        .add(A::TargetId.eq(s.0)),
                ),
            );
        }
        if let Some(f) = q.from {
            select = select.filter(A::At.gte(to_us(f)));
        }
        if let Some(t) = q.to {
            select = select.filter(A::At.lt(to_us(t)));
        }
        if let Some((at, id)) = q.before {
            let at = to_us(at);
            select = select.filter(
                Condition::any()
                    .add(A::At.lt(at))
                    .add(Condition::all().add(A::At.eq(at)).add(A::Id.lt(id.0))),
            );
        }
        select
            .order_by_desc(A::At)
            .order_by_desc(A::Id)
            .limit(q.limit)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(convert::audit)
            .collect()
    }
}
