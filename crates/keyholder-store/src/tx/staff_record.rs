//! Staff records (S1-S4) and their links to accounts.

use super::*;

/// Another staff record of the org has the MIS id (S1).
fn mis_id_taken(e: sea_orm::DbErr) -> DomainError {
    unique_or(e, |_| {
        Some(DomainError::conflict(
            "mis_id_in_use",
            "another staff record has this MIS id",
        ))
    })
}

#[async_trait]
impl StaffTx for SeaTx {
    async fn insert_staff(&mut self, s: &StaffMember) -> Result<()> {
        staff::Entity::insert(convert::staff_row(s, now_us()))
            .exec_without_returning(&self.txn)
            .await
            .map_err(mis_id_taken)?;
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
            .map_err(mis_id_taken)?;
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
            .map_err(mis_id_taken)?;
        Ok(())
    }
}
