//! SCIM 2.0: filtered in the query; accounts deleted over SCIM are left out.

use super::*;

#[async_trait]
impl ScimTx for SeaTx {
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
        self.user_view_page(select, offset, limit).await
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
        let (rows, total) =
            crate::page::rows_and_total::<sea_orm::SelectModel<user_groups::Model>>(
                &self.txn,
                sea_orm::QueryTrait::into_query(select),
                offset,
                limit,
            )
            .await?;
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
}
