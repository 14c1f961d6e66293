//! A8: an org's identity providers, kept by its admins (`admin.manage_system`).

use super::*;

/// A new identity provider, as an admin gives it.
#[derive(Debug, Clone, Default)]
pub struct NewIdentityProvider {
    pub kind: String,
    pub name: String,
    pub issuer: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: String,
    pub client_secret: String,
    pub allowed_domains: Vec<String>,
    pub scopes: Vec<String>,
    pub return_urls: Vec<String>,
    pub mfa_counts: bool,
}

/// A change to a provider: what is given changes (the kind does not).
#[derive(Debug, Clone, Default)]
pub struct IdentityProviderPatch {
    pub name: Option<String>,
    pub issuer: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub allowed_domains: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub return_urls: Option<Vec<String>>,
    pub mfa_counts: Option<bool>,
}

fn token_like(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic())
}

fn domain_like(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').count() >= 2
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Checks and normalises a provider's fields; every bad field at once.
fn check_provider(
    p: &mut IdentityProvider,
    secret: Option<&str>,
    directory: &OidcDirectory,
) -> Result<()> {
    let mut errors = Vec::new();
    p.name = p.name.trim().to_owned();
    if p.name.is_empty() || p.name.chars().count() > 100 {
        errors.push(FieldError::new("name", "length", "1 to 100 characters"));
    }
    match p.kind {
        // The tenant's GUID, as Entra writes it in `tid` and in its issuer (a domain name
        // never matches either).
        ProviderKind::Entra => match p.tenant_id.as_deref().map(uuid::Uuid::try_parse) {
            Some(Ok(t)) if !t.is_nil() => p.tenant_id = Some(t.hyphenated().to_string()),
            _ => errors.push(FieldError::new(
                "tenant_id",
                "required",
                "Entra ID needs the directory (tenant) id: a GUID",
            )),
        },
        ProviderKind::Oidc => {
            if !p.issuer.is_empty() && (!directory.may_fetch(&p.issuer) || p.issuer.len() > 500) {
                errors.push(FieldError::new("issuer", "invalid_url", "an https URL"));
            } else if p.issuer.is_empty() {
                errors.push(FieldError::new(
                    "issuer",
                    "required",
                    "the provider's issuer URL",
                ));
            }
        }
        ProviderKind::Google => {}
    }
    if p.kind != ProviderKind::Entra {
        p.tenant_id = None;
    }
    if let Some(issuer) = issuer_of(p.kind, p.tenant_id.as_deref(), Some(&p.issuer)) {
        p.issuer = issuer;
    }
    if !token_like(&p.client_id, 500) {
        errors.push(FieldError::new(
            "client_id",
            "length",
            "1 to 500 visible characters",
        ));
    }
    if let Some(s) = secret
        && (s.is_empty() || s.len() > 1000)
    {
        errors.push(FieldError::new(
            "client_secret",
            "length",
            "1 to 1000 characters",
        ));
    }
    if p.allowed_domains.len() > 50 {
        errors.push(FieldError::new("allowed_domains", "too_many", "at most 50"));
    }
    for (i, d) in p.allowed_domains.iter_mut().enumerate() {
        *d = d.trim().to_lowercase();
        if !domain_like(d) {
            errors.push(FieldError::new(
                &format!("allowed_domains[{i}]"),
                "invalid_domain",
                "a domain such as hill.school",
            ));
        }
    }
    if p.scopes.len() > 20 {
        errors.push(FieldError::new("scopes", "too_many", "at most 20"));
    }
    for (i, s) in p.scopes.iter().enumerate() {
        if !token_like(s, 100) {
            errors.push(FieldError::new(
                &format!("scopes[{i}]"),
                "invalid_scope",
                "1 to 100 visible characters, no spaces",
            ));
        }
    }
    if p.return_urls.is_empty() || p.return_urls.len() > 20 {
        errors.push(FieldError::new(
            "return_urls",
            "length",
            "1 to 20 URLs where a sign-in may end",
        ));
    }
    for (i, u) in p.return_urls.iter().enumerate() {
        if u.len() > 2048 || !url_allowed(u) || u.contains(['?', '#']) {
            errors.push(FieldError::new(
                &format!("return_urls[{i}]"),
                "invalid_url",
                "an https URL without query or fragment (plain http only to a loopback host)",
            ));
        }
    }
    p.allowed_domains.sort();
    p.allowed_domains.dedup();
    p.scopes.retain(|s| s != "openid");
    p.scopes.dedup();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Validation(errors))
    }
}

/// What the audit trail says of a provider (never its secret).
fn described(p: &IdentityProvider) -> serde_json::Value {
    json!({
        "kind": p.kind.as_str(),
        "name": p.name,
        "issuer": p.issuer,
        "tenant_id": p.tenant_id,
        "client_id": p.client_id,
        "allowed_domains": p.allowed_domains,
        "scopes": p.scopes,
        "return_urls": p.return_urls,
        "mfa_counts": p.mfa_counts,
    })
}

impl Keyholder {
    pub async fn list_identity_providers(
        &self,
        subject: &Subject,
        org: &str,
    ) -> Result<Vec<IdentityProvider>> {
        self.check_org(subject, org, Action::ReadOrgSettings)?;
        self.read_tx()
            .await?
            .identity_providers(subject.org_id)
            .await
    }

    pub async fn identity_provider(
        &self,
        subject: &Subject,
        org: &str,
        id: IdentityProviderId,
    ) -> Result<IdentityProvider> {
        self.check_org(subject, org, Action::ReadOrgSettings)?;
        self.read_tx()
            .await?
            .identity_provider(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)
    }

    pub async fn create_identity_provider(
        &self,
        subject: &Subject,
        org: &str,
        new: NewIdentityProvider,
        ctx: &RequestContext,
    ) -> Result<IdentityProvider> {
        self.check_org(subject, org, Action::EditOrgSettings)?;
        let kind = ProviderKind::parse(&new.kind).ok_or_else(|| {
            DomainError::field("kind", "unknown_kind", "one of entra, google, oidc")
        })?;
        let id = IdentityProviderId::new();
        let mut p = IdentityProvider {
            id,
            org_id: subject.org_id,
            kind,
            name: new.name,
            issuer: new.issuer.unwrap_or_default().trim().to_owned(),
            tenant_id: new.tenant_id.map(|t| t.trim().to_owned()),
            client_id: new.client_id.trim().to_owned(),
            client_secret_sealed: String::new(),
            allowed_domains: new.allowed_domains,
            scopes: new.scopes,
            return_urls: new.return_urls,
            mfa_counts: new.mfa_counts,
            created_at: now(),
            updated_at: now(),
        };
        check_provider(&mut p, Some(&new.client_secret), &self.oidc_directory)?;
        p.client_secret_sealed = self.sealer.seal(&new.client_secret, id.0)?;
        let mut tx = self.tx().await?;
        tx.insert_identity_provider(&p).await?;
        Audit {
            org: subject.org_id,
            kind: "identity_provider.created",
            actor: Some(subject.user_id),
            target: Some(("identity_provider", id.0)),
            changes: json!({"after": described(&p)}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok(p)
    }

    pub async fn update_identity_provider(
        &self,
        subject: &Subject,
        org: &str,
        id: IdentityProviderId,
        patch: IdentityProviderPatch,
        ctx: &RequestContext,
    ) -> Result<IdentityProvider> {
        self.check_org(subject, org, Action::EditOrgSettings)?;
        let mut tx = self.tx().await?;
        // G5's count is decided with the org's other admin changes in line.
        tx.lock_org(subject.org_id).await?;
        let before = tx
            .identity_provider(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let mut p = before.clone();
        if let Some(v) = patch.name {
            p.name = v;
        }
        if let Some(v) = patch.issuer {
            p.issuer = v.trim().to_owned();
        }
        if let Some(v) = patch.tenant_id {
            p.tenant_id = Some(v.trim().to_owned());
        }
        if let Some(v) = patch.client_id {
            p.client_id = v.trim().to_owned();
        }
        if let Some(v) = patch.allowed_domains {
            p.allowed_domains = v;
        }
        if let Some(v) = patch.scopes {
            p.scopes = v;
        }
        if let Some(v) = patch.return_urls {
            p.return_urls = v;
        }
        if let Some(v) = patch.mfa_counts {
            p.mfa_counts = v;
        }
        check_provider(&mut p, patch.client_secret.as_deref(), &self.oidc_directory)?;
        if let Some(s) = &patch.client_secret {
            p.client_secret_sealed = self.sealer.seal(s, id.0)?;
        }
        p.updated_at = now();
        tx.update_identity_provider(&p).await?;
        // Another issuer, tenant or client: a `sub` there names someone else, so the links
        // made through the provider as it was go (each account links again on its next
        // sign-in, by SCIM's externalId). G5 (A8): not where that leaves no admin who can
        // sign in.
        let relinks = p.issuer != before.issuer
            || p.tenant_id != before.tenant_id
            || p.client_id != before.client_id;
        let links_dropped = if relinks {
            tx.delete_sso_flows(id).await?;
            tx.delete_sso_links(id).await?
        } else {
            0
        };
        if links_dropped > 0 && admins_who_can_sign_in(tx.as_mut(), subject.org_id).await? == 0 {
            return Err(DomainError::LastAdmin);
        }
        Audit {
            org: subject.org_id,
            kind: "identity_provider.updated",
            actor: Some(subject.user_id),
            target: Some(("identity_provider", id.0)),
            changes: json!({
                "before": described(&before),
                "after": described(&p),
                "client_secret_changed": patch.client_secret.is_some(),
                "links_dropped": links_dropped,
            }),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok(p)
    }

    /// Its links go with it. Refused while the org's passwords are off and it would leave no
    /// admin who can sign in.
    pub async fn delete_identity_provider(
        &self,
        subject: &Subject,
        org: &str,
        id: IdentityProviderId,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.check_org(subject, org, Action::EditOrgSettings)?;
        let mut tx = self.tx().await?;
        tx.lock_org(subject.org_id).await?;
        let o = tx
            .org_by_slug(&subject.org_slug)
            .await?
            .ok_or(DomainError::NotFound)?;
        let before = tx
            .identity_provider(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        tx.delete_identity_provider(subject.org_id, id).await?;
        if admins_who_can_sign_in(tx.as_mut(), o.id).await? == 0 {
            return Err(DomainError::LastAdmin);
        }
        Audit {
            org: subject.org_id,
            kind: "identity_provider.deleted",
            actor: Some(subject.user_id),
            target: Some(("identity_provider", id.0)),
            changes: json!({"before": described(&before)}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await
    }
}
