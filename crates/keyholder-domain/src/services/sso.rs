//! A8: single sign-on. An org's admin (`admin.manage_system`) keeps its identity providers;
//! a member of staff signs in through one with the authorization code flow (PKCE S256, a
//! `state` bound to the browser, a `nonce`), and the frontend trades the one-time code it is
//! sent back with for the tokens a password login answers. The account is found by its stored
//! link or by SCIM's `externalId`, never by an email claim.

use super::auth::{Failure, PresentedCode};
use super::*;
use crate::error::FieldError;
use crate::sso::*;
use crate::tokens::{random_token, secret_hash};
use serde_json::json;

/// How long a flow may take at the provider, and how long the frontend has to trade its code.
const STATE_TTL_SECS: i64 = 10 * 60;
const CODE_TTL_SECS: i64 = 60;

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

/// Where the browser goes to sign in, and the secret its cookie must carry back.
#[derive(Debug, Clone)]
pub struct SsoStart {
    pub location: String,
    pub browser_secret: String,
}

/// What the frontend trades at the exchange.
#[derive(Debug, Clone, Default)]
pub struct SsoExchange {
    pub code: String,
    /// The user's Keyholder authenticator (or recovery) code, where the provider's MFA does
    /// not count.
    pub totp_code: Option<String>,
}

/// What the provider sent the browser back with.
#[derive(Debug, Clone, Default)]
pub struct SsoCallback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    /// RFC 9207: the issuer the authorization response names, when the provider sends it.
    pub iss: Option<String>,
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

fn refused(code: &'static str, detail: &str) -> DomainError {
    DomainError::SsoRefused {
        code,
        detail: detail.to_owned(),
    }
}

/// `url` with `key=value` added to its query (before any fragment). Every URL given here passed
/// `web_url` when it was stored (a `return_to`, a provider's endpoint).
fn with_query(url: &str, pairs: &[(&str, &str)]) -> Result<String> {
    let mut u = web_url(url).ok_or_else(|| DomainError::internal("a stored URL does not parse"))?;
    u.query_pairs_mut().extend_pairs(pairs);
    Ok(u.into())
}

/// What a one-time code is tied to: the flow's browser cookie.
fn binding_of(flow: &SsoState) -> String {
    format!("browser:{}", flow.browser_hash)
}

/// Whether the exchange carries the cookie the code was tied to.
fn binding_holds(binding: &str, browser_secret: Option<&str>) -> bool {
    binding.strip_prefix("browser:").is_some_and(|hash| {
        browser_secret
            .filter(|b| b.len() <= 256)
            .is_some_and(|b| secret_hash(b) == hash)
    })
}

/// The link a sign-in makes: the provider's `sub`, and for Entra its `tid` and `oid`.
fn new_link(p: &IdentityProvider, claims: &IdClaims, user: UserId) -> SsoLink {
    let entra = |v: &Option<String>| v.clone().filter(|_| p.kind == ProviderKind::Entra);
    SsoLink {
        provider_id: p.id,
        subject: claims.sub.clone(),
        org_id: p.org_id,
        user_id: user,
        tenant_id: entra(&claims.tid),
        object_id: entra(&claims.oid),
        created_at: now(),
    }
}

/// Only accounts of the provider's allowed domains, as the provider vouches for them.
fn domain_allowed(p: &IdentityProvider, claims: &IdClaims) -> Result<()> {
    if p.allowed_domains.is_empty()
        || claims
            .vouched_domain(p.kind)
            .is_some_and(|d| p.allowed_domains.contains(&d))
    {
        Ok(())
    } else {
        Err(refused(
            "sso_domain_not_allowed",
            "the account is not in a domain the org allows",
        ))
    }
}

/// A5's rule for one's own ways in: with a key enrolled, only a session that proved it.
fn own_second_factor(account: &User, subject: &Subject) -> Result<()> {
    if account.totp.enrolled() && !subject.second_factor {
        return Err(DomainError::Forbidden {
            rule: crate::rule::Rule::G2,
            detail: "sign in with your second factor to change how your account is signed in to"
                .into(),
        });
    }
    Ok(())
}

/// How a callback ended well: a one-time code to trade, or a link made.
enum Finished {
    Code(String),
    Linked,
}

/// An account's link to a provider, as its owner and admins see it.
#[derive(Debug, Clone)]
pub struct SsoLinkView {
    pub provider_id: IdentityProviderId,
    pub provider_name: String,
    pub provider_kind: ProviderKind,
    /// The provider's `sub` for the account.
    pub subject: String,
    pub created_at: OffsetDateTime,
}

/// The audit entry of a sign-in through a provider that went wrong after the flow was known
/// (AU1): which flow, which provider, why.
fn failed_entry(flow: &SsoState, reason: &str) -> Audit<'static> {
    Audit {
        org: flow.org_id,
        kind: "auth.sso_failed",
        actor: None,
        target: Some(("identity_provider", flow.provider_id.0)),
        changes: json!({"reason": reason}),
    }
}

impl Keyholder {
    /// Wires the outbound HTTP single sign-on uses (without it, SSO answers "unavailable").
    pub fn with_oidc_http(mut self, http: Arc<dyn OidcHttp>) -> Keyholder {
        self.oidc = Some(http);
        self
    }

    fn oidc_http(&self) -> Result<&dyn OidcHttp> {
        self.oidc
            .as_deref()
            .ok_or_else(|| DomainError::ProviderUnavailable("no HTTP client is configured".into()))
    }

    /// Where providers send the browser back (registered at the provider as the redirect URI).
    pub fn sso_redirect_uri(&self) -> String {
        self.config.sso_redirect_uri.clone().unwrap_or_else(|| {
            format!(
                "{}/v1/auth/sso/callback",
                self.config.public_url.trim_end_matches('/')
            )
        })
    }

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

    /// A8: starts a sign-in: a stored flow (`state` and `nonce`, PKCE's verifier, where it
    /// ends) and the provider's authorization URL. Unknown org and unknown provider look alike.
    pub async fn sso_start(
        &self,
        org_slug: &str,
        provider: IdentityProviderId,
        return_to: &str,
    ) -> Result<SsoStart> {
        let p = {
            let mut tx = self.read_tx().await?;
            let org = tx
                .org_by_slug(org_slug)
                .await?
                .ok_or(DomainError::NotFound)?;
            tx.identity_provider(org.id, provider)
                .await?
                .ok_or(DomainError::NotFound)?
        };
        self.begin_sso(&p, return_to, None).await
    }

    /// A flow through `p`: stored, and the provider's authorization URL. `link_user`: the
    /// flow links the provider's account to this account instead of signing in.
    async fn begin_sso(
        &self,
        p: &IdentityProvider,
        return_to: &str,
        link_user: Option<UserId>,
    ) -> Result<SsoStart> {
        // What the flow will add to `return_to` cannot be in it already (a frontend reading the
        // first `sso_code` would read a planted one).
        let planted = web_url(return_to).is_some_and(|u| {
            u.query_pairs()
                .any(|(k, _)| matches!(k.as_ref(), "sso_code" | "error" | "sso_linked"))
        });
        if return_to.len() > 2048 || planted || !p.allows_return_to(return_to) {
            return Err(DomainError::field(
                "return_to",
                "not_allowed",
                "return_to must be under one of the provider's return URLs",
            ));
        }
        let discovery = self
            .oidc_directory
            .discovery(self.oidc_http()?, &p.issuer)
            .await?;
        let (state, nonce, verifier, browser) = (
            random_token(32),
            random_token(32),
            random_token(48),
            random_token(32),
        );
        let flow = SsoState {
            hash: secret_hash(&state),
            org_id: p.org_id,
            provider_id: p.id,
            browser_hash: secret_hash(&browser),
            nonce: nonce.clone(),
            verifier: verifier.clone(),
            return_to: return_to.to_owned(),
            link_user,
            expires_at: now() + time::Duration::seconds(STATE_TTL_SECS),
        };
        let mut tx = self.tx().await?;
        tx.insert_sso_state(&flow).await?;
        tx.commit().await?;
        let mut scopes = vec!["openid".to_owned()];
        scopes.extend(p.scopes.iter().cloned());
        if !scopes.iter().any(|s| s == "email") {
            scopes.push("email".into());
        }
        let redirect_uri = self.sso_redirect_uri();
        let challenge = pkce_challenge(&verifier);
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", p.client_id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let scope = scopes.join(" ");
        pairs.push(("scope", scope.as_str()));
        let hd = p.allowed_domains.first().cloned();
        if p.kind == ProviderKind::Google
            && p.allowed_domains.len() == 1
            && let Some(hd) = hd.as_deref()
        {
            pairs.push(("hd", hd));
        }
        Ok(SsoStart {
            location: with_query(&discovery.authorization_endpoint, &pairs)?,
            browser_secret: browser,
        })
    }

    /// A8: the provider's answer. A `state` that is unknown, spent, expired or from another
    /// browser is refused here (400); anything after that ends at the flow's `return_to`, with
    /// `sso_code` on success or `error` (a problem code) on refusal.
    pub async fn sso_callback(
        &self,
        back: SsoCallback,
        browser_secret: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<String> {
        let state = back
            .state
            .as_deref()
            .filter(|s| s.len() <= 256)
            .ok_or_else(|| invalid("sso_invalid_state", "the sign-in is unknown or was used"))?;
        // Spent first, in its own transaction: a replayed callback finds nothing.
        let flow = {
            let mut tx = self.tx().await?;
            let flow = tx.take_sso_state(&secret_hash(state)).await?;
            tx.commit().await?;
            flow
        }
        .ok_or_else(|| invalid("sso_invalid_state", "the sign-in is unknown or was used"))?;
        let same_browser = browser_secret
            .filter(|b| b.len() <= 256)
            .is_some_and(|b| secret_hash(b) == flow.browser_hash);
        if !same_browser {
            let mut tx = self.tx().await?;
            failed_entry(&flow, "sso_other_browser")
                .write(tx.as_mut(), ctx)
                .await?;
            tx.commit().await?;
            return Err(invalid(
                "sso_invalid_state",
                "the sign-in was started in another browser",
            ));
        }
        let reason = match self.sso_finish(&flow, back, ctx).await {
            Ok(Finished::Code(code)) => {
                return with_query(&flow.return_to, &[("sso_code", &code)]);
            }
            Ok(Finished::Linked) => {
                let provider = flow.provider_id.0.to_string();
                return with_query(&flow.return_to, &[("sso_linked", &provider)]);
            }
            // Refusals are audited where they are decided, with the account they name.
            Err(DomainError::SsoRefused { code, .. }) => {
                return with_query(&flow.return_to, &[("error", code)]);
            }
            Err(DomainError::SsoInvalid { code, .. } | DomainError::Conflict { code, .. }) => code,
            Err(DomainError::ProviderUnavailable(why)) => {
                tracing::warn!(%why, "single sign-on: the identity provider is unavailable");
                "identity_provider_unavailable"
            }
            Err(e) => return Err(e),
        };
        let mut tx = self.tx().await?;
        failed_entry(&flow, reason).write(tx.as_mut(), ctx).await?;
        tx.commit().await?;
        with_query(&flow.return_to, &[("error", reason)])
    }

    async fn sso_finish(
        &self,
        flow: &SsoState,
        back: SsoCallback,
        ctx: &RequestContext,
    ) -> Result<Finished> {
        if back.error.is_some() {
            return Err(invalid(
                "sso_provider_error",
                "the identity provider did not sign the user in",
            ));
        }
        let code = back
            .code
            .filter(|c| !c.is_empty() && c.len() <= 2048)
            .ok_or_else(|| invalid("sso_invalid_code", "the provider sent no code"))?;
        let p = self
            .read_tx()
            .await?
            .identity_provider(flow.org_id, flow.provider_id)
            .await?
            .ok_or_else(|| invalid("sso_invalid_state", "the provider was removed"))?;
        let http = self.oidc_http()?;
        let discovery = self.oidc_directory.discovery(http, &p.issuer).await?;
        // Mix-up defence (RFC 9207): a response that names another issuer is not this flow's,
        // nor one without a name from a provider that always gives it.
        let named = match &back.iss {
            Some(iss) => iss.trim_end_matches('/') == discovery.issuer.trim_end_matches('/'),
            None => !discovery.authorization_response_iss_parameter_supported,
        };
        if !named {
            return Err(invalid(
                "sso_issuer_mismatch",
                "the answer came from another identity provider",
            ));
        }
        let secret = self.sealer.open(&p.client_secret_sealed, p.id.0)?;
        let redirect_uri = self.sso_redirect_uri();
        let (status, answer) = http
            .post_form(
                &discovery.token_endpoint,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &redirect_uri),
                    ("client_id", &p.client_id),
                    ("client_secret", &secret),
                    ("code_verifier", &flow.verifier),
                ],
            )
            .await
            .map_err(DomainError::ProviderUnavailable)?;
        if status != 200 {
            return Err(invalid(
                "sso_code_rejected",
                "the provider refused the code (used, expired or not for this sign-in)",
            ));
        }
        let id_token = answer["id_token"]
            .as_str()
            .ok_or_else(|| invalid("sso_invalid_id_token", "the provider sent no ID token"))?;
        let claims = verify_id_token(
            &self.oidc_directory,
            http,
            &p,
            &discovery,
            id_token,
            &flow.nonce,
            self.config.sso_leeway_secs,
        )
        .await?;
        let mut tx = self.tx().await?;
        let result = match flow.link_user {
            Some(user) => {
                self.sso_link_account(tx.as_mut(), &p, &claims, user, ctx)
                    .await
            }
            None => self.sso_account(tx.as_mut(), &p, &claims, ctx).await,
        };
        let user = match result {
            Ok(user) => user,
            Err(DomainError::SsoRefused { code, detail }) => {
                Audit {
                    org: p.org_id,
                    kind: "auth.sso_refused",
                    actor: None,
                    target: Some(("identity_provider", p.id.0)),
                    changes: json!({"reason": code, "subject": claims.sub, "email": claims.email}),
                }
                .write(tx.as_mut(), ctx)
                .await?;
                tx.commit().await?;
                return Err(DomainError::SsoRefused { code, detail });
            }
            Err(e) => return Err(e),
        };
        if flow.link_user.is_some() {
            tx.commit().await?;
            return Ok(Finished::Linked);
        }
        let one_time = random_token(32);
        tx.insert_sso_code(&SsoCode {
            hash: secret_hash(&one_time),
            org_id: p.org_id,
            provider_id: p.id,
            user_id: user.id,
            mfa: p.mfa_counts && claims.mfa(),
            binding: binding_of(flow),
            expires_at: now() + time::Duration::seconds(CODE_TTL_SECS),
        })
        .await?;
        tx.commit().await?;
        Ok(Finished::Code(one_time))
    }

    /// The account the provider vouched for: by its stored link, else (first sign-in) by the
    /// `externalId` SCIM gave it (Entra: the `oid`; others: the `sub`), then linked. Never by
    /// an email claim.
    async fn sso_account(
        &self,
        tx: &mut dyn Tx,
        p: &IdentityProvider,
        claims: &IdClaims,
        ctx: &RequestContext,
    ) -> Result<User> {
        domain_allowed(p, claims)?;
        let user = match tx.sso_link(p.id, &claims.sub).await? {
            Some(link) => tx.user(p.org_id, link.user_id).await?,
            None => {
                let external = match p.kind {
                    ProviderKind::Entra => claims.oid.as_deref(),
                    _ => Some(claims.sub.as_str()),
                };
                let found = match external {
                    Some(x) => tx.user_by_external_id(p.org_id, x).await?,
                    None => None,
                };
                let Some(user) = found else {
                    return Err(refused(
                        "sso_account_not_linked",
                        "no account of this org is linked to this sign-in",
                    ));
                };
                if user.status == UserStatus::Active
                    && tx.sso_link_of_user(p.id, user.id).await?.is_none()
                {
                    tx.insert_sso_link(&new_link(p, claims, user.id)).await?;
                    Audit {
                        org: p.org_id,
                        kind: "auth.sso_linked",
                        actor: Some(user.id),
                        target: Some(("user", user.id.0)),
                        changes: json!({
                            "provider": p.id.0,
                            "subject": claims.sub,
                            "by": "scim_external_id",
                        }),
                    }
                    .write(tx, ctx)
                    .await?;
                }
                Some(user)
            }
        };
        let user = user.ok_or_else(|| {
            refused(
                "sso_account_not_linked",
                "no account of this org is linked to this sign-in",
            )
        })?;
        match user.status {
            UserStatus::Active => Ok(user),
            UserStatus::Pending => Err(refused(
                "sso_account_pending",
                "the account has not been activated",
            )),
            _ => Err(refused(
                "sso_account_deactivated",
                "the account is deactivated",
            )),
        }
    }

    /// A8: the frontend trades the one-time code for tokens. It must show what the code was
    /// tied to (the flow's browser cookie, or the verifier of the frontend's challenge): a
    /// code read from a URL is worth nothing alone, and stays for its owner. The second factor
    /// (G2): the provider's MFA where the org counts it, else the user's Keyholder code as at a
    /// password login; wrong codes count on the exchange's own lock, so passwords guessed at
    /// the login cannot lock an SSO user out (A2). A wrong code does not spend the one-time
    /// code; the session it opens does.
    pub async fn sso_exchange(
        &self,
        req: &SsoExchange,
        browser_secret: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<TokenPair> {
        let unknown = || invalid("sso_invalid_code", "the code is unknown or was used");
        if req.code.is_empty() || req.code.len() > 256 {
            return Err(unknown());
        }
        let hash = secret_hash(&req.code);
        let (held, org) = {
            let mut tx = self.read_tx().await?;
            let held = tx.sso_code(&hash).await?.ok_or_else(unknown)?;
            let org = tx.org_by_id(held.org_id).await?.ok_or_else(unknown)?;
            (held, org)
        };
        if !binding_holds(&held.binding, browser_secret) {
            return Err(unknown());
        }
        let throttle_key = format!("sso:{}", held.user_id);
        let totp_code = req
            .totp_code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = self.tx().await?;
            let mut user = tx
                .user_for_update(org.id, held.user_id)
                .await?
                .filter(|u| u.status == UserStatus::Active)
                .ok_or_else(|| refused("sso_account_deactivated", "the account is not active"))?;
            // Spent with the session it opens: a concurrent exchange of it finds nothing, and a
            // wrong second factor below drops this transaction, which puts it back.
            if tx.take_sso_code(&hash).await?.is_none() {
                return Err(unknown());
            }
            let login = user.email.clone().unwrap_or_default();
            let code = totp_code.filter(|_| !held.mfa && user.totp.enrolled());
            let mut second_factor = held.mfa;
            let mut recovery_used = false;
            if let Some(code) = code {
                if let Some(t) = tx.throttle(org.id, &throttle_key).await?
                    && let Some(until) = t.locked_until
                    && until > now()
                {
                    return Err(DomainError::AccountLocked {
                        retry_after_secs: (until - now()).whole_seconds().max(1).unsigned_abs(),
                    });
                }
                let ok = match self.presented_code(&user, code)? {
                    PresentedCode::Step(step) if user.totp.last_step.is_none_or(|l| step > l) => {
                        user.totp.last_step = Some(step);
                        true
                    }
                    PresentedCode::Step(_) => false,
                    PresentedCode::Recovery(hash) => {
                        recovery_used = tx.spend_recovery_code(org.id, user.id, &hash).await?;
                        recovery_used
                    }
                };
                if !ok {
                    drop(tx);
                    self.login_failed(
                        &org,
                        Some(&user),
                        &throttle_key,
                        &login,
                        Failure::SecondFactor,
                        ctx,
                    )
                    .await?;
                    return Err(DomainError::InvalidSecondFactor);
                }
                second_factor = true;
            }
            user.last_login_at = Some(now());
            let expected = user.version;
            user.version += 1;
            if !tx.update_user(&user, expected).await? {
                if attempt >= 5 {
                    return Err(DomainError::internal(
                        "the account kept changing during sign-in",
                    ));
                }
                continue;
            }
            if code.is_some() {
                tx.clear_throttle(org.id, &throttle_key).await?;
            }
            let pair = self
                .open_session(tx.as_mut(), &org, &user, SessionMethod::Sso, second_factor)
                .await?;
            Audit {
                org: org.id,
                kind: "auth.login_succeeded",
                actor: Some(user.id),
                target: Some(("user", user.id.0)),
                changes: json!({
                    "method": "sso",
                    "provider": held.provider_id.0,
                    "second_factor": second_factor,
                    "provider_mfa": held.mfa,
                    "recovery_code_used": recovery_used,
                }),
            }
            .write(tx.as_mut(), ctx)
            .await?;
            tx.commit().await?;
            return Ok(pair);
        }
    }

    /// A8: a member of staff links their own account to a provider account (a provider that
    /// does not provision over SCIM, such as Google Workspace): their current password first
    /// (a stolen session alone adds no way in), then a flow like a sign-in's that ends, in the
    /// same browser, with the link made and `return_to?sso_linked=<provider id>`. Mailed to
    /// the account's address.
    pub async fn sso_link_start(
        &self,
        subject: &Subject,
        provider: IdentityProviderId,
        return_to: &str,
        current_password: &str,
        ctx: &RequestContext,
    ) -> Result<SsoStart> {
        // A new way in is a second-factor matter (not before A3's change, and with the key
        // proved where one is enrolled): a password alone, or a stolen session, adds none.
        self.authorize(
            subject,
            Action::ManageOwnSecondFactor,
            Resource::Org(subject.org_id),
        )?;
        let (p, account) = {
            let mut tx = self.read_tx().await?;
            let p = tx
                .identity_provider(subject.org_id, provider)
                .await?
                .ok_or(DomainError::NotFound)?;
            let account = self.own_user(tx.as_mut(), subject).await?;
            (p, account)
        };
        own_second_factor(&account, subject)?;
        if account.password_hash.is_none() {
            return Err(DomainError::conflict(
                "no_password",
                "the account has no password to confirm the link with: ask an admin",
            ));
        }
        if current_password.len() > 1024 {
            return Err(DomainError::field(
                "current_password",
                "wrong_password",
                "the current password is wrong",
            ));
        }
        let (_, _, ok) = self
            .check_own_password(subject, current_password, ctx)
            .await?;
        if !ok {
            return Err(DomainError::field(
                "current_password",
                "wrong_password",
                "the current password is wrong",
            ));
        }
        self.begin_sso(&p, return_to, Some(subject.user_id)).await
    }

    /// The link a linking flow makes, once the provider vouched: the provider's account is
    /// not already another account's, and this account has no other link to the provider.
    async fn sso_link_account(
        &self,
        tx: &mut dyn Tx,
        p: &IdentityProvider,
        claims: &IdClaims,
        user: UserId,
        ctx: &RequestContext,
    ) -> Result<User> {
        domain_allowed(p, claims)?;
        let account = tx
            .user(p.org_id, user)
            .await?
            .filter(|u| u.status == UserStatus::Active)
            .ok_or_else(|| refused("sso_account_deactivated", "the account is not active"))?;
        match tx.sso_link(p.id, &claims.sub).await? {
            Some(l) if l.user_id == user => return Ok(account),
            Some(_) => {
                return Err(refused(
                    "sso_identity_in_use",
                    "this provider account is linked to another account",
                ));
            }
            None => {}
        }
        if tx.sso_link_of_user(p.id, user).await?.is_some() {
            return Err(refused(
                "sso_already_linked",
                "the account is linked to another account of this provider: unlink it first",
            ));
        }
        tx.insert_sso_link(&new_link(p, claims, user)).await?;
        Audit {
            org: p.org_id,
            kind: "auth.sso_linked",
            actor: Some(user),
            target: Some(("user", user.0)),
            changes: json!({"provider": p.id.0, "subject": claims.sub, "by": "owner"}),
        }
        .write(tx, ctx)
        .await?;
        if let Some(email) = account.email.as_deref() {
            let body = format!(
                "Hello {},\n\nYour Keyholder account can now be signed in to through {}.\n\
                 If you did not ask for this, tell your school's administrator straight away.\n",
                account.forename, p.name
            );
            self.enqueue(
                tx,
                p.org_id,
                "sso_linked",
                email,
                "A new way to sign in to your account",
                body,
            )
            .await?;
        }
        Ok(account)
    }

    /// The account's links, with their providers' names.
    async fn links_of(
        &self,
        tx: &mut dyn Tx,
        org: OrgId,
        user: UserId,
    ) -> Result<Vec<SsoLinkView>> {
        let providers = tx.identity_providers(org).await?;
        Ok(tx
            .sso_links_of_user(user)
            .await?
            .into_iter()
            .filter_map(|l| {
                let p = providers.iter().find(|p| p.id == l.provider_id)?;
                Some(SsoLinkView {
                    provider_id: l.provider_id,
                    provider_name: p.name.clone(),
                    provider_kind: p.kind,
                    subject: l.subject,
                    created_at: l.created_at,
                })
            })
            .collect())
    }

    /// The caller's own links.
    pub async fn own_sso_links(&self, subject: &Subject) -> Result<Vec<SsoLinkView>> {
        self.authorize(
            subject,
            Action::ReadOwnAccount,
            Resource::Org(subject.org_id),
        )?;
        let mut tx = self.read_tx().await?;
        self.links_of(tx.as_mut(), subject.org_id, subject.user_id)
            .await
    }

    /// An account's links, for an admin who may read the account.
    pub async fn user_sso_links(
        &self,
        subject: &Subject,
        org: &str,
        id: UserId,
    ) -> Result<Vec<SsoLinkView>> {
        self.check_org(subject, org, Action::ReadUser)?;
        let mut tx = self.read_tx().await?;
        tx.user(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        self.links_of(tx.as_mut(), subject.org_id, id).await
    }

    /// Removes one's own link to a provider (G5: not the last way in for an admin).
    pub async fn remove_own_sso_link(
        &self,
        subject: &Subject,
        provider: IdentityProviderId,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.authorize(
            subject,
            Action::ManageOwnSecondFactor,
            Resource::Org(subject.org_id),
        )?;
        let mut tx = self.tx().await?;
        let account = self.own_user(tx.as_mut(), subject).await?;
        own_second_factor(&account, subject)?;
        self.unlink(tx.as_mut(), subject, subject.user_id, provider, ctx)
            .await?;
        tx.commit().await
    }

    /// An admin removes an account's link (a wrong one, a provider account that changed
    /// hands); the account links again on its next sign-in by SCIM's `externalId`, or by its
    /// owner.
    pub async fn remove_user_sso_link(
        &self,
        subject: &Subject,
        org: &str,
        id: UserId,
        provider: IdentityProviderId,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.check_org(subject, org, Action::EditUser)?;
        let mut tx = self.tx().await?;
        self.managed_user(tx.as_mut(), subject, id).await?;
        self.unlink(tx.as_mut(), subject, id, provider, ctx).await?;
        tx.commit().await
    }

    async fn unlink(
        &self,
        tx: &mut dyn Tx,
        subject: &Subject,
        user: UserId,
        provider: IdentityProviderId,
        ctx: &RequestContext,
    ) -> Result<()> {
        tx.lock_org(subject.org_id).await?;
        let link = tx
            .sso_link_of_user(provider, user)
            .await?
            .filter(|l| l.org_id == subject.org_id)
            .ok_or(DomainError::NotFound)?;
        tx.delete_sso_link(provider, user).await?;
        if admins_who_can_sign_in(tx, subject.org_id).await? == 0 {
            return Err(DomainError::LastAdmin);
        }
        // What the link opened goes with it: the account's sessions from identity providers
        // and any one-time code not yet traded.
        tx.delete_sso_codes_of(provider, user).await?;
        let sessions_ended = tx.revoke_sso_sessions(subject.org_id, user).await?;
        Audit {
            org: subject.org_id,
            kind: "auth.sso_unlinked",
            actor: Some(subject.user_id),
            target: Some(("user", user.0)),
            changes: json!({
                "provider": provider.0,
                "subject": link.subject,
                "sessions_ended": sessions_ended,
            }),
        }
        .write(tx, ctx)
        .await?;
        let owner = tx.user(subject.org_id, user).await?;
        let provider_name = tx
            .identity_provider(subject.org_id, provider)
            .await?
            .map(|p| p.name)
            .unwrap_or_default();
        if let Some(owner) = owner
            && let Some(email) = owner.email.as_deref()
        {
            let body = format!(
                "Hello {},\n\nYour Keyholder account can no longer be signed in to through {}.\n\
                 If you did not ask for this, tell your school's administrator straight away.\n",
                owner.forename, provider_name
            );
            self.enqueue(
                tx,
                subject.org_id,
                "sso_unlinked",
                email,
                "A way to sign in to your account was removed",
                body,
            )
            .await?;
        }
        Ok(())
    }
}
