//! Service accounts and their keys (A7).

use super::*;

#[async_trait]
impl ServiceAccountsTx for SeaTx {
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
}
