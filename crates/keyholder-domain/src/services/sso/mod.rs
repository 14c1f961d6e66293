//! A8: single sign-on. An org's admin (`admin.manage_system`) keeps its identity providers;
//! a member of staff signs in through one with the authorization code flow (PKCE S256, a
//! `state` bound to the browser, a `nonce`), and the frontend trades the one-time code it is
//! sent back with for the tokens a password login answers. The account is found by its stored
//! link or by SCIM's `externalId`, never by an email claim.

use super::auth::PresentedCode;
use super::*;
use crate::error::FieldError;
use crate::sso::*;
use crate::tokens::{random_token, secret_hash};
use serde_json::json;

mod flow;
mod links;
mod providers;
pub use flow::{SsoCallback, SsoExchange, SsoStart};
pub use links::SsoLinkView;
pub use providers::{IdentityProviderPatch, NewIdentityProvider};

/// How long a flow may take at the provider, and how long the frontend has to trade its code.
const STATE_TTL_SECS: i64 = 10 * 60;
const CODE_TTL_SECS: i64 = 60;

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
}
