//! Incident categories, their per-group flags (G3), and monitoring marks (R9).

use super::*;

#[async_trait]
impl CategoriesTx for SeaTx {
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
}
