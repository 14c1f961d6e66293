//! Issue 16: the permissions of other products. A service account with scope `catalogue`
//! registers its product's permissions in the org's catalogue (each high or low level, G2);
//! user groups then grant them like the built-in ones (G4 applies), and decisions cover them.
//! One that a group grants cannot be unregistered.

use super::*;
use crate::error::FieldError;
use crate::permission::{
    MAX_REGISTERED_DESCRIPTION_CHARS, MAX_REGISTERED_PER_ORG, RegisteredGrant,
    RegisteredPermission, registered_key_problem,
};
use crate::policy::{Action, ServiceSubject};
use crate::rule::Rule;
use serde_json::json;

/// The most permissions one registration may carry.
pub const MAX_REGISTERED_PER_CALL: usize = 200;

impl Keyholder {
    /// The keys among these that another product's service account registered and still
    /// holds (an account deleted or revoked lets its permissions go to whichever key asks).
    async fn owners_alive(
        &self,
        tx: &mut dyn Tx,
        svc: &ServiceSubject,
        registered: &[RegisteredPermission],
    ) -> Result<std::collections::HashSet<String>> {
        let others: Vec<&RegisteredPermission> = registered
            .iter()
            .filter(|p| p.registered_by.is_some_and(|a| a != svc.account_id))
            .collect();
        if others.is_empty() {
            return Ok(Default::default());
        }
        let live: Vec<ServiceAccountId> = tx
            .service_accounts(svc.org_id)
            .await?
            .into_iter()
            .filter(|a| !a.revoked)
            .map(|a| a.id)
            .collect();
        Ok(others
            .into_iter()
            .filter(|p| p.registered_by.is_some_and(|a| live.contains(&a)))
            .map(|p| p.key.clone())
            .collect())
    }

    /// The org's registered permissions, for its `catalogue` key.
    pub async fn list_registered_permissions(
        &self,
        svc: &ServiceSubject,
        org: &str,
    ) -> Result<Vec<RegisteredPermission>> {
        self.decide_service_route(svc, Some(org), Action::ManageCatalogue)?;
        let mut tx = self.read_tx().await?;
        tx.registered_permissions(svc.org_id).await
    }

    /// The registered permissions of the caller's org, for the catalogue any member reads.
    pub async fn catalogue_of(&self, subject: &Subject) -> Result<Vec<RegisteredPermission>> {
        self.check_org(subject, &subject.org_slug, Action::ReadCatalogue)?;
        let mut tx = self.read_tx().await?;
        tx.registered_permissions(subject.org_id).await
    }

    /// Registers the permissions, or writes their level and description (the same call twice
    /// changes nothing the second time). A level change reaches every group that grants the
    /// permission at once (G2). Answers each with whether it is new.
    pub async fn register_permissions(
        &self,
        svc: &ServiceSubject,
        org: &str,
        items: Vec<RegisteredPermission>,
        ctx: &RequestContext,
    ) -> Result<Vec<(RegisteredPermission, bool)>> {
        self.decide_service_route(svc, Some(org), Action::ManageCatalogue)?;
        let mut errors = Vec::new();
        if items.is_empty() || items.len() > MAX_REGISTERED_PER_CALL {
            errors.push(FieldError::new(
                "permissions",
                "length",
                format!("1 to {MAX_REGISTERED_PER_CALL} permissions"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in items.iter().enumerate() {
            if let Some((code, message)) = registered_key_problem(&p.key) {
                errors.push(FieldError::new(
                    &format!("permissions[{i}].key"),
                    code,
                    message,
                ));
            } else if !seen.insert(p.key.as_str()) {
                errors.push(FieldError::new(
                    &format!("permissions[{i}].key"),
                    "duplicate",
                    "each key once per registration",
                ));
            }
            let n = p.description.trim().chars().count();
            if n == 0 || n > MAX_REGISTERED_DESCRIPTION_CHARS {
                errors.push(FieldError::new(
                    &format!("permissions[{i}].description"),
                    "length",
                    format!("1 to {MAX_REGISTERED_DESCRIPTION_CHARS} characters"),
                ));
            }
        }
        if !errors.is_empty() {
            errors.truncate(20);
            return Err(DomainError::Validation(errors));
        }
        let mut tx = self.tx().await?;
        tx.lock_org(svc.org_id).await?;
        let before = tx.registered_permissions(svc.org_id).await?;
        let new_keys = items
            .iter()
            .filter(|p| !before.iter().any(|b| b.key == p.key))
            .count();
        if before.len() + new_keys > MAX_REGISTERED_PER_ORG {
            return Err(DomainError::field(
                "permissions",
                "too_many",
                format!(
                    "an org's catalogue holds at most {MAX_REGISTERED_PER_ORG} registered permissions"
                ),
            ));
        }
        let owned_elsewhere = self.owners_alive(tx.as_mut(), svc, &before).await?;
        if let Some(p) = items.iter().find(|p| owned_elsewhere.contains(&p.key)) {
            return Err(DomainError::Forbidden {
                rule: Rule::A7,
                detail: format!("`{}` was registered by another product's key", p.key),
            });
        }
        let mut groups = tx.all_groups(svc.org_id).await?;
        let mut out = Vec::with_capacity(items.len());
        for mut p in items {
            p.description = p.description.trim().to_owned();
            let old = before.iter().find(|b| b.key == p.key);
            let unchanged = old.is_some_and(|o| {
                o.level == p.level
                    && o.description == p.description
                    && o.registered_by == p.registered_by
            });
            if !unchanged {
                let created = tx.put_registered_permission(svc.org_id, &p).await?;
                Audit {
                    org: svc.org_id,
                    kind: if created {
                        "catalogue.permission_registered"
                    } else {
                        "catalogue.permission_updated"
                    },
                    actor: None,
                    target: Some(("service_account", svc.account_id.0)),
                    changes: json!({
                        "key": [old.map(|o| o.key.clone()), p.key],
                        "level": [old.map(|o| o.level), p.level],
                        "description": [old.map(|o| o.description.clone()), p.description],
                    }),
                }
                .write(tx.as_mut(), ctx)
                .await?;
            }
            // G2 follows the level into every group whose grant says otherwise (and drops what
            // replicas hold of those groups' sessions, as any group edit does); each group's
            // change is audited as a group edit.
            for g in groups.iter_mut() {
                let stale: Vec<usize> = g
                    .registered_permissions
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.key == p.key && r.level != p.level)
                    .map(|(i, _)| i)
                    .collect();
                if stale.is_empty() {
                    continue;
                }
                let mut after = g.clone();
                for i in stale {
                    if let Some(r) = after.registered_permissions.get_mut(i) {
                        *r = RegisteredGrant {
                            key: p.key.clone(),
                            level: p.level,
                        };
                    }
                }
                after.version = g.version + 1;
                if !tx.update_group(&after, g.version).await? {
                    return Err(DomainError::VersionMismatch {
                        expected: g.version,
                    });
                }
                Audit {
                    org: svc.org_id,
                    kind: "user_group.updated",
                    actor: None,
                    target: Some(("user_group", g.id.0)),
                    changes: json!({
                        "registered_permission_level": [
                            {"key": p.key, "level": old.map(|o| o.level)},
                            {"key": p.key, "level": p.level}
                        ],
                    }),
                }
                .write(tx.as_mut(), ctx)
                .await?;
                *g = after;
            }
            out.push((p, !unchanged && old.is_none()));
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Takes a registered permission out of the catalogue; refused (409 `permission_in_use`)
    /// while a group grants it, naming the groups.
    pub async fn unregister_permission(
        &self,
        svc: &ServiceSubject,
        org: &str,
        key: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.decide_service_route(svc, Some(org), Action::ManageCatalogue)?;
        let mut tx = self.tx().await?;
        tx.lock_org(svc.org_id).await?;
        let Some(old) = tx
            .registered_permissions(svc.org_id)
            .await?
            .into_iter()
            .find(|p| p.key == key)
        else {
            return Err(DomainError::NotFound);
        };
        if self
            .owners_alive(tx.as_mut(), svc, std::slice::from_ref(&old))
            .await?
            .contains(&old.key)
        {
            return Err(DomainError::Forbidden {
                rule: Rule::A7,
                detail: format!("`{key}` was registered by another product's key"),
            });
        }
        let granting: Vec<String> = tx
            .all_groups(svc.org_id)
            .await?
            .into_iter()
            .filter(|g| g.registered_permissions.iter().any(|r| r.key == key))
            .map(|g| format!("`{}`", g.name))
            .collect();
        if !granting.is_empty() {
            return Err(DomainError::Conflict {
                code: "permission_in_use",
                detail: format!(
                    "`{key}` is granted by {}: take it out of those groups first",
                    granting.join(", ")
                ),
            });
        }
        tx.delete_registered_permission(svc.org_id, key).await?;
        Audit {
            org: svc.org_id,
            kind: "catalogue.permission_unregistered",
            actor: None,
            target: Some(("service_account", svc.account_id.0)),
            changes: json!({
                "key": [old.key, null],
                "level": [old.level, null],
                "description": [old.description, null],
            }),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await
    }
}
