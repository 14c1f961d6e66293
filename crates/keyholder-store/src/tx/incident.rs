//! Incidents (R8).

use super::*;

#[async_trait]
impl IncidentsTx for SeaTx {
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
}
