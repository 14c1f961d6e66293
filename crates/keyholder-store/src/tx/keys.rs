//! Keys shared by every replica: sealed TOTP seeds and token-signing keys.

use super::*;

#[async_trait]
impl KeysTx for SeaTx {
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
            .filter_map(|m| {
                let alg = keyholder_domain::tokens::KeyAlg::parse(&m.alg)?;
                Some(keyholder_domain::tokens::SigningKey::new(
                    m.name,
                    alg,
                    m.secret,
                    convert::from_us(m.created_at),
                ))
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
            alg: Set(key.alg.as_str().to_owned()),
            created_at: Set(to_us(key.created_at)),
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
}
