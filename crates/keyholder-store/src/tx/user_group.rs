//! User groups (G1-G5).

use super::*;

#[async_trait]
impl UserGroupsTx for SeaTx {
    async fn insert_group(&mut self, group: &UserGroup) -> Result<()> {
        user_groups::Entity::insert(convert::group_row(group)?)
            .exec_without_returning(&self.txn)
            .await
            .map_err(|e| unique_or(e, |_| Some(DomainError::GroupNameInUse)))?;
        self.insert_flags(group).await?;
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
                        Some(UserStatus::Active) => c.active = u64::try_from(*n).unwrap_or(0),
                        Some(UserStatus::Deactivated) => {
                            c.deactivated = u64::try_from(*n).unwrap_or(0)
                        }
                        Some(UserStatus::Pending) => c.pending = u64::try_from(*n).unwrap_or(0),
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
        self.delete_flags(group.org_id, group.id).await?;
        self.insert_flags(group).await?;
        Ok(true)
    }

    async fn delete_group(&mut self, org: OrgId, id: GroupId) -> Result<()> {
        self.changes.push(AuthChange::Org(org));
        self.delete_flags(org, id).await?;
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
                Some(UserStatus::Active) => c.active = u64::try_from(n).unwrap_or(0),
                Some(UserStatus::Deactivated) => c.deactivated = u64::try_from(n).unwrap_or(0),
                Some(UserStatus::Pending) => c.pending = u64::try_from(n).unwrap_or(0),
                None => {}
            }
        }
        Ok(c)
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
}

impl SeaTx {
    /// The group's category flags (G5) as rows.
    async fn insert_flags(&self, group: &UserGroup) -> Result<()> {
        let rows = convert::flag_rows(group);
        if !rows.is_empty() {
            group_category_permissions::Entity::insert_many(rows)
                .exec_without_returning(&self.txn)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    async fn delete_flags(&self, org: OrgId, group: GroupId) -> Result<()> {
        group_category_permissions::Entity::delete_many()
            .filter(group_category_permissions::Column::OrgId.eq(org.0))
            .filter(group_category_permissions::Column::GroupId.eq(group.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
