//! Orgs (T1, T2), their settings, and the org row lock writes serialise on.

use super::*;

#[async_trait]
impl OrgsTx for SeaTx {
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
        self.by_id::<orgs::Entity>(id.0)
            .await?
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

    async fn idempotent_response(
        &mut self,
        org: OrgId,
        key: &str,
    ) -> Result<Option<(String, String, u16, String)>> {
        self.by_id::<idempotency_keys::Entity>((org.0, key.to_owned()))
            .await?
            .map(|m| {
                let status = u16::try_from(m.status).map_err(DomainError::internal)?;
                Ok((m.endpoint, m.request_hash, status, m.response))
            })
            .transpose()
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
            status: Set(i32::from(status)),
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
}
