//! A7: service accounts for MIS integrators and identity providers.

use super::*;
use crate::error::FieldError;
use crate::policy::{Action, ServiceSubject, decide_service};
use crate::tokens::{random_token, secret_hash};
use serde_json::json;

/// Keys look like `kh_…` so that a leaked one is easy to recognise (and to scan for).
pub const KEY_PREFIX: &str = "kh_";

pub fn is_service_key(bearer: &str) -> bool {
    bearer.starts_with(KEY_PREFIX)
}

#[derive(Debug, Clone)]
pub struct NewServiceAccount {
    pub name: String,
    pub scopes: Vec<String>,
}

impl Keyholder {
    /// A7: a key answers to its service account while it is not revoked; its last use is
    /// recorded (at most once a minute).
    pub async fn authenticate_service(&self, key: &str) -> Result<ServiceSubject> {
        let hash = secret_hash(key.trim());
        let mut tx = self.tx().await?;
        let account = tx
            .service_account_by_key(&hash)
            .await?
            .filter(|a| !a.revoked)
            .ok_or(DomainError::Unauthenticated)?;
        let org = tx
            .org_by_id(account.org_id)
            .await?
            .ok_or(DomainError::Unauthenticated)?;
        if account
            .last_used_at
            .is_none_or(|t| now() - t > time::Duration::minutes(1))
        {
            tx.touch_service_account(account.id, now()).await?;
            tx.commit().await?;
        }
        Ok(ServiceSubject {
            account_id: account.id,
            created_by: account.created_by,
            org_id: org.id,
            org_slug: org.slug,
            scopes: account.scopes,
        })
    }

    /// The route layer's decision for a service account.
    pub fn decide_service_route(
        &self,
        subject: &ServiceSubject,
        org_slug: Option<&str>,
        action: Action,
    ) -> Result<()> {
        if let Some(slug) = org_slug
            && slug != subject.org_slug
        {
            return Err(DomainError::NotFound);
        }
        decide_service(subject, action, Resource::Org(subject.org_id)).into_result()
    }

    pub async fn list_service_accounts(
        &self,
        subject: &Subject,
        org: &str,
    ) -> Result<Vec<ServiceAccount>> {
        self.check_org(subject, org, Action::ManageServiceAccounts)?;
        let mut tx = self.tx().await?;
        tx.service_accounts(subject.org_id).await
    }

    /// A7: a new key, answered once.
    pub async fn create_service_account(
        &self,
        subject: &Subject,
        org: &str,
        new: NewServiceAccount,
        ctx: &RequestContext,
    ) -> Result<(ServiceAccount, String)> {
        self.check_org(subject, org, Action::ManageServiceAccounts)?;
        let mut errors = Vec::new();
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            errors.push(FieldError::new("name", "length", "1 to 100 characters"));
        }
        let mut scopes = Vec::new();
        for (i, s) in new.scopes.iter().enumerate() {
            match Scope::parse(s) {
                Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
                Some(_) => {}
                None => errors.push(FieldError::new(
                    &format!("scopes[{i}]"),
                    "unknown_scope",
                    "one of mis.sync, scim, decisions",
                )),
            }
        }
        if new.scopes.is_empty() {
            errors.push(FieldError::new(
                "scopes",
                "required",
                "give at least one scope",
            ));
        }
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        scopes.sort();
        let key = format!("{KEY_PREFIX}{}", random_token(32));
        let account = ServiceAccount {
            id: ServiceAccountId::new(),
            org_id: subject.org_id,
            name,
            scopes,
            key_prefix: key.chars().take(10).collect(),
            created_at: now(),
            created_by: Some(subject.user_id),
            last_used_at: None,
            revoked: false,
        };
        let mut tx = self.tx().await?;
        tx.insert_service_account(&account, &secret_hash(&key))
            .await?;
        Audit {
            org: subject.org_id,
            kind: "service_account.created",
            actor: Some(subject.user_id),
            target: Some(("service_account", account.id.0)),
            changes: json!({
                "name": [null, account.name],
                "scopes": [null, account.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>()],
            }),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok((account, key))
    }

    /// A7: the key stops working at once.
    pub async fn revoke_service_account(
        &self,
        subject: &Subject,
        org: &str,
        id: ServiceAccountId,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.check_org(subject, org, Action::ManageServiceAccounts)?;
        let mut tx = self.tx().await?;
        let account = tx
            .service_account(subject.org_id, id)
            .await?
            .filter(|a| !a.revoked)
            .ok_or(DomainError::NotFound)?;
        tx.revoke_service_account(subject.org_id, id).await?;
        Audit {
            org: subject.org_id,
            kind: "service_account.revoked",
            actor: Some(subject.user_id),
            target: Some(("service_account", id.0)),
            changes: json!({"name": [account.name, null]}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await
    }
}
