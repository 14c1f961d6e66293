//! Single sign-on (A8): providers, links, flows in progress and one-time codes.

use super::*;
use keyholder_domain::sso::{IdentityProvider, ProviderKind, SsoCode, SsoLink, SsoState};
use sea_orm::QueryTrait;

fn list(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

fn to_json(v: &[String]) -> Result<String> {
    serde_json::to_string(v).map_err(DomainError::internal)
}

fn provider(m: identity_providers::Model) -> Result<IdentityProvider> {
    Ok(IdentityProvider {
        id: IdentityProviderId(m.id),
        org_id: OrgId(m.org_id),
        kind: ProviderKind::parse(&m.kind)
            .ok_or_else(|| DomainError::internal("unknown identity provider kind"))?,
        name: m.name,
        issuer: m.issuer,
        tenant_id: m.tenant_id,
        client_id: m.client_id,
        client_secret_sealed: m.client_secret,
        allowed_domains: list(&m.allowed_domains),
        scopes: list(&m.scopes),
        return_urls: list(&m.return_urls),
        mfa_counts: m.mfa_counts,
        created_at: convert::from_us(m.created_at),
        updated_at: convert::from_us(m.updated_at),
    })
}

fn provider_row(p: &IdentityProvider) -> Result<identity_providers::ActiveModel> {
    Ok(identity_providers::ActiveModel {
        id: Set(p.id.0),
        org_id: Set(p.org_id.0),
        kind: Set(p.kind.as_str().into()),
        name: Set(p.name.clone()),
        issuer: Set(p.issuer.clone()),
        tenant_id: Set(p.tenant_id.clone()),
        client_id: Set(p.client_id.clone()),
        client_secret: Set(p.client_secret_sealed.clone()),
        allowed_domains: Set(to_json(&p.allowed_domains)?),
        scopes: Set(to_json(&p.scopes)?),
        return_urls: Set(to_json(&p.return_urls)?),
        mfa_counts: Set(p.mfa_counts),
        created_at: Set(to_us(p.created_at)),
        updated_at: Set(to_us(p.updated_at)),
    })
}

fn link(m: sso_links::Model) -> SsoLink {
    SsoLink {
        provider_id: IdentityProviderId(m.provider_id),
        subject: m.subject,
        org_id: OrgId(m.org_id),
        user_id: UserId(m.user_id),
        tenant_id: m.tenant_id,
        object_id: m.object_id,
        created_at: convert::from_us(m.created_at),
    }
}

fn code(m: sso_codes::Model) -> SsoCode {
    SsoCode {
        hash: m.hash,
        org_id: OrgId(m.org_id),
        provider_id: IdentityProviderId(m.provider_id),
        user_id: UserId(m.user_id),
        mfa: m.mfa,
        binding: m.binding,
        expires_at: convert::from_us(m.expires_at),
    }
}

#[async_trait]
impl SsoTx for SeaTx {
    async fn identity_providers(&mut self, org: OrgId) -> Result<Vec<IdentityProvider>> {
        identity_providers::Entity::find()
            .filter(identity_providers::Column::OrgId.eq(org.0))
            .order_by_asc(identity_providers::Column::Name)
            .order_by_asc(identity_providers::Column::Id)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(provider)
            .collect()
    }

    async fn identity_provider(
        &mut self,
        org: OrgId,
        id: IdentityProviderId,
    ) -> Result<Option<IdentityProvider>> {
        identity_providers::Entity::find_by_id(id.0)
            .filter(identity_providers::Column::OrgId.eq(org.0))
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(provider)
            .transpose()
    }

    async fn insert_identity_provider(&mut self, p: &IdentityProvider) -> Result<()> {
        identity_providers::Entity::insert(provider_row(p)?)
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn update_identity_provider(&mut self, p: &IdentityProvider) -> Result<()> {
        identity_providers::Entity::update_many()
            .set(provider_row(p)?)
            .filter(identity_providers::Column::Id.eq(p.id.0))
            .filter(identity_providers::Column::OrgId.eq(p.org_id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete_identity_provider(
        &mut self,
        org: OrgId,
        id: IdentityProviderId,
    ) -> Result<bool> {
        let gone = identity_providers::Entity::delete_many()
            .filter(identity_providers::Column::Id.eq(id.0))
            .filter(identity_providers::Column::OrgId.eq(org.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?
            .rows_affected;
        if gone == 0 {
            return Ok(false);
        }
        sso_links::Entity::delete_many()
            .filter(sso_links::Column::ProviderId.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        self.delete_sso_flows(id).await?;
        Ok(true)
    }

    async fn delete_sso_codes_of(
        &mut self,
        provider: IdentityProviderId,
        user: UserId,
    ) -> Result<()> {
        sso_codes::Entity::delete_many()
            .filter(sso_codes::Column::ProviderId.eq(provider.0))
            .filter(sso_codes::Column::UserId.eq(user.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn revoke_sso_sessions(&mut self, org: OrgId, user: UserId) -> Result<u64> {
        self.changes.push(AuthChange::Org(org));
        Ok(sessions::Entity::update_many()
            .col_expr(sessions::Column::Revoked, Expr::value(true))
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::UserId.eq(user.0))
            .filter(sessions::Column::Method.eq(SessionMethod::Sso.as_str()))
            .filter(sessions::Column::Revoked.eq(false))
            .exec(&self.txn)
            .await
            .map_err(db_err)?
            .rows_affected)
    }

    async fn delete_sso_flows(&mut self, provider: IdentityProviderId) -> Result<()> {
        sso_states::Entity::delete_many()
            .filter(sso_states::Column::ProviderId.eq(provider.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        sso_codes::Entity::delete_many()
            .filter(sso_codes::Column::ProviderId.eq(provider.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn sso_link(
        &mut self,
        provider: IdentityProviderId,
        subject: &str,
    ) -> Result<Option<SsoLink>> {
        Ok(sso_links::Entity::find()
            .filter(sso_links::Column::ProviderId.eq(provider.0))
            .filter(sso_links::Column::Subject.eq(subject))
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(link))
    }

    async fn sso_link_of_user(
        &mut self,
        provider: IdentityProviderId,
        user: UserId,
    ) -> Result<Option<SsoLink>> {
        Ok(sso_links::Entity::find()
            .filter(sso_links::Column::ProviderId.eq(provider.0))
            .filter(sso_links::Column::UserId.eq(user.0))
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(link))
    }

    async fn insert_sso_link(&mut self, l: &SsoLink) -> Result<()> {
        let row = sso_links::ActiveModel {
            provider_id: Set(l.provider_id.0),
            subject: Set(l.subject.clone()),
            org_id: Set(l.org_id.0),
            user_id: Set(l.user_id.0),
            tenant_id: Set(l.tenant_id.clone()),
            object_id: Set(l.object_id.clone()),
            created_at: Set(to_us(l.created_at)),
        };
        match sso_links::Entity::insert(row)
            .exec_without_returning(&self.txn)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Err(DomainError::Conflict {
                    code: "sso_link_exists",
                    detail: "the account or the provider's account is already linked".into(),
                })
            }
            Err(e) => Err(db_err(e)),
        }
    }

    async fn user_by_external_id(&mut self, org: OrgId, external_id: &str) -> Result<Option<User>> {
        users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::ExternalId.eq(external_id))
            .filter(users::Column::ScimDeleted.eq(false))
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(convert::user)
            .transpose()
    }

    async fn count_sso_linked_admins(&mut self, org: OrgId) -> Result<u64> {
        let linked = sso_links::Entity::find()
            .select_only()
            .column(sso_links::Column::UserId)
            .filter(sso_links::Column::OrgId.eq(org.0))
            .as_query()
            .to_owned();
        users::Entity::find()
            .inner_join(user_groups::Entity)
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Status.eq(UserStatus::Active.as_str()))
            .filter(user_groups::Column::Active.eq(true))
            .filter(user_groups::Column::IsAdmin.eq(true))
            .filter(users::Column::Id.in_subquery(linked))
            .count(&self.txn)
            .await
            .map_err(db_err)
    }

    async fn insert_sso_state(&mut self, s: &SsoState) -> Result<()> {
        // Abandoned flows go as new ones start.
        sso_states::Entity::delete_many()
            .filter(sso_states::Column::ExpiresAt.lt(now_us()))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        sso_states::Entity::insert(sso_states::ActiveModel {
            hash: Set(s.hash.clone()),
            org_id: Set(s.org_id.0),
            provider_id: Set(s.provider_id.0),
            browser_hash: Set(s.browser_hash.clone()),
            nonce: Set(s.nonce.clone()),
            verifier: Set(s.verifier.clone()),
            return_to: Set(s.return_to.clone()),
            link_user_id: Set(s.link_user.map(|u| u.0)),
            expires_at: Set(to_us(s.expires_at)),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn take_sso_state(&mut self, hash: &str) -> Result<Option<SsoState>> {
        // One `DELETE … RETURNING`: whoever deletes it first has it, so a replayed callback
        // finds nothing.
        let Some(m) = sso_states::Entity::delete_by_id(hash.to_owned())
            .exec_with_returning(&self.txn)
            .await
            .map_err(db_err)?
            .filter(|m| m.expires_at >= now_us())
        else {
            return Ok(None);
        };
        Ok(Some(SsoState {
            hash: m.hash,
            org_id: OrgId(m.org_id),
            provider_id: IdentityProviderId(m.provider_id),
            browser_hash: m.browser_hash,
            nonce: m.nonce,
            verifier: m.verifier,
            return_to: m.return_to,
            link_user: m.link_user_id.map(UserId),
            expires_at: convert::from_us(m.expires_at),
        }))
    }

    async fn insert_sso_code(&mut self, c: &SsoCode) -> Result<()> {
        sso_codes::Entity::delete_many()
            .filter(sso_codes::Column::ExpiresAt.lt(now_us()))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        sso_codes::Entity::insert(sso_codes::ActiveModel {
            hash: Set(c.hash.clone()),
            org_id: Set(c.org_id.0),
            provider_id: Set(c.provider_id.0),
            user_id: Set(c.user_id.0),
            mfa: Set(c.mfa),
            binding: Set(c.binding.clone()),
            expires_at: Set(to_us(c.expires_at)),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn take_sso_code(&mut self, hash: &str) -> Result<Option<SsoCode>> {
        Ok(sso_codes::Entity::delete_by_id(hash.to_owned())
            .exec_with_returning(&self.txn)
            .await
            .map_err(db_err)?
            .filter(|m| m.expires_at >= now_us())
            .map(code))
    }

    async fn sso_code(&mut self, hash: &str) -> Result<Option<SsoCode>> {
        Ok(sso_codes::Entity::find_by_id(hash.to_owned())
            .filter(sso_codes::Column::ExpiresAt.gte(now_us()))
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(code))
    }

    async fn sso_links_of_user(&mut self, user: UserId) -> Result<Vec<SsoLink>> {
        Ok(sso_links::Entity::find()
            .filter(sso_links::Column::UserId.eq(user.0))
            .order_by_asc(sso_links::Column::CreatedAt)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(link)
            .collect())
    }

    async fn delete_sso_link(
        &mut self,
        provider: IdentityProviderId,
        user: UserId,
    ) -> Result<bool> {
        Ok(sso_links::Entity::delete_many()
            .filter(sso_links::Column::ProviderId.eq(provider.0))
            .filter(sso_links::Column::UserId.eq(user.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?
            .rows_affected
            > 0)
    }

    async fn delete_sso_links(&mut self, provider: IdentityProviderId) -> Result<u64> {
        Ok(sso_links::Entity::delete_many()
            .filter(sso_links::Column::ProviderId.eq(provider.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?
            .rows_affected)
    }
}
