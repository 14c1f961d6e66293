//! Issue 16: the permissions other products registered in an org's catalogue.

use super::*;
use keyholder_domain::permission::{Level, RegisteredPermission};

fn level(s: &str) -> Result<Level> {
    match s {
        "high" => Ok(Level::High),
        "low" => Ok(Level::Low),
        other => Err(DomainError::internal(format!("a stored level `{other}`"))),
    }
}

fn level_str(l: Level) -> &'static str {
    match l {
        Level::High => "high",
        Level::Low => "low",
    }
}

#[async_trait]
impl CatalogueTx for SeaTx {
    async fn registered_permissions(&mut self, org: OrgId) -> Result<Vec<RegisteredPermission>> {
        registered_permissions::Entity::find()
            .filter(registered_permissions::Column::OrgId.eq(org.0))
            .order_by_asc(registered_permissions::Column::Key)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| {
                Ok(RegisteredPermission {
                    level: level(&m.level)?,
                    key: m.key,
                    description: m.description,
                    registered_by: m.registered_by.map(ServiceAccountId),
                })
            })
            .collect()
    }

    async fn put_registered_permission(
        &mut self,
        org: OrgId,
        p: &RegisteredPermission,
    ) -> Result<bool> {
        let now = now_us();
        let found = self
            .by_id::<registered_permissions::Entity>((org.0, p.key.clone()))
            .await?;
        let row = registered_permissions::ActiveModel {
            org_id: Set(org.0),
            key: Set(p.key.clone()),
            level: Set(level_str(p.level).to_owned()),
            description: Set(p.description.clone()),
            registered_by: Set(p.registered_by.map(|a| a.0)),
            created_at: Set(found.as_ref().map_or(now, |f| f.created_at)),
            updated_at: Set(now),
        };
        if found.is_some() {
            registered_permissions::Entity::update(row)
                .exec(&self.txn)
                .await
                .map_err(db_err)?;
            Ok(false)
        } else {
            registered_permissions::Entity::insert(row)
                .exec_without_returning(&self.txn)
                .await
                .map_err(db_err)?;
            Ok(true)
        }
    }

    async fn delete_registered_permission(&mut self, org: OrgId, key: &str) -> Result<bool> {
        let res = registered_permissions::Entity::delete_many()
            .filter(registered_permissions::Column::OrgId.eq(org.0))
            .filter(registered_permissions::Column::Key.eq(key))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected > 0)
    }
}
