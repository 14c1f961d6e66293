//! A8: single sign-on through an org's OpenID Connect provider (Microsoft Entra ID, Google
//! Workspace or any OpenID provider). What is here is pure: the providers' records, the
//! outbound HTTP port ([`OidcHttp`]), the cache of discovery documents and key sets, and the
//! check of an ID token (signature from the provider's JWKS, `iss`, `aud`, `exp`, `nonce`,
//! Entra's `tid`). The flow itself is in `services::sso`.

use crate::error::{DomainError, Result};
use crate::ids::*;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::Digest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Which kind of provider: it decides the issuer and the extra checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Microsoft Entra ID: the issuer is the tenant's, and the ID token's `tid` must be it.
    Entra,
    /// Google Workspace: `hd` names the Workspace domain.
    Google,
    /// Any OpenID provider, by its issuer.
    Oidc,
}

impl ProviderKind {
    pub fn parse(s: &str) -> Option<ProviderKind> {
        match s {
            "entra" => Some(ProviderKind::Entra),
            "google" => Some(ProviderKind::Google),
            "oidc" => Some(ProviderKind::Oidc),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Entra => "entra",
            ProviderKind::Google => "google",
            ProviderKind::Oidc => "oidc",
        }
    }
}

/// An org's identity provider. The client secret is sealed with the data key and never
/// answered back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    pub id: IdentityProviderId,
    pub org_id: OrgId,
    pub kind: ProviderKind,
    pub name: String,
    /// The issuer the ID tokens must name (Entra's and Google's are derived).
    pub issuer: String,
    /// Entra: the directory (tenant) id.
    pub tenant_id: Option<String>,
    pub client_id: String,
    pub client_secret_sealed: String,
    /// Only accounts of these domains (Google's `hd`, else the email's domain); empty: any.
    pub allowed_domains: Vec<String>,
    /// Scopes asked for beside `openid`.
    pub scopes: Vec<String>,
    /// Where the flow may end: `return_to` must start with one of these.
    pub return_urls: Vec<String>,
    /// G2: whether the provider's word that MFA was used (`amr` holds `mfa`) counts as the
    /// second factor.
    pub mfa_counts: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl IdentityProvider {
    /// Whether `return_to` is one the org allows: the same origin as an allowed URL and under
    /// its path, segment by segment (no dot segments, raw or encoded, to climb out of it).
    pub fn allows_return_to(&self, return_to: &str) -> bool {
        let Some(to) = web_url(return_to) else {
            return false;
        };
        self.return_urls.iter().any(|allowed| {
            web_url(allowed).is_some_and(|a| {
                a.scheme() == to.scheme()
                    && a.host_str() == to.host_str()
                    && a.port_or_known_default() == to.port_or_known_default()
                    && {
                        let base = a.path().trim_end_matches('/');
                        let path = to.path();
                        path == a.path() || path == base || path.starts_with(&format!("{base}/"))
                    }
            })
        })
    }
}

impl IdentityProvider {
    /// A provider with only these return URLs (for checking `return_to` in tests and fuzzing).
    pub fn for_return_urls(urls: &[&str]) -> IdentityProvider {
        IdentityProvider {
            id: IdentityProviderId(uuid::Uuid::nil()),
            org_id: OrgId(uuid::Uuid::nil()),
            kind: ProviderKind::Oidc,
            name: String::new(),
            issuer: String::new(),
            tenant_id: None,
            client_id: String::new(),
            client_secret_sealed: String::new(),
            allowed_domains: vec![],
            scopes: vec![],
            return_urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            mfa_counts: false,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }
}

/// An absolute http(s) URL from outside, parsed; `None` for anything a browser or a proxy
/// could read two ways: control characters, spaces or backslashes anywhere, user info, dot
/// segments in the path (raw or percent-encoded), or over 2 048 bytes.
pub fn web_url(s: &str) -> Option<url::Url> {
    if s.len() > 2048
        || s.bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\' || b >= 0x80)
    {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    if lower.contains("%2e") || lower.contains("%5c") || lower.contains("%00") {
        return None;
    }
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))?;
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    // `..;` is `..` to servlet containers; `.`/`..` climb anywhere.
    if path.contains(';')
        || path
            .split('/')
            .skip(1)
            .any(|seg| seg == "." || seg.starts_with(".."))
    {
        return None;
    }
    let u = url::Url::parse(s).ok()?;
    if !matches!(u.scheme(), "https" | "http")
        || u.host_str().is_none_or(str::is_empty)
        || !u.username().is_empty()
        || u.password().is_some()
    {
        return None;
    }
    Some(u)
}

fn loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Plain HTTP is allowed only to a loopback host (a provider run by the tests); everything
/// else must be HTTPS.
pub fn url_allowed(url: &str) -> bool {
    match web_url(url) {
        Some(u) if u.scheme() == "https" => true,
        Some(u) => loopback_host(&u),
        None => false,
    }
}

/// Whether an address is on the public internet: not loopback, private (RFC 1918, unique
/// local), link-local (cloud metadata), shared (CGNAT), documentation, multicast or
/// unspecified, nor an IPv4 address dressed as IPv6. Keyholder fetches from providers only at
/// such addresses, so that no org's admin can aim its requests inside the platform's network.
pub fn public_ip(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public_ip(IpAddr::V4(v4));
            }
            // Global unicast only (2000::/3), without the ranges that carry an IPv4 address
            // or a tunnel inside (6to4, Teredo, ORCHID) or are for documentation.
            let [a, b, ..] = v6.segments();
            (a & 0xe000) == 0x2000
                && a != 0x2002
                && !(a == 0x2001 && (b < 0x0200 || b == 0x0db8))
                && a != 0x3fff
        }
    }
}

/// The issuer ID tokens must name, by kind.
pub fn issuer_of(
    kind: ProviderKind,
    tenant_id: Option<&str>,
    issuer: Option<&str>,
) -> Option<String> {
    match kind {
        ProviderKind::Entra => {
            tenant_id.map(|t| format!("https://login.microsoftonline.com/{t}/v2.0"))
        }
        ProviderKind::Google => Some("https://accounts.google.com".into()),
        ProviderKind::Oidc => issuer.map(|i| i.trim_end_matches('/').to_owned()),
    }
}

/// A stored link from a provider's account to a Keyholder account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoLink {
    pub provider_id: IdentityProviderId,
    /// The ID token's `sub` (unique per issuer).
    pub subject: String,
    pub org_id: OrgId,
    pub user_id: UserId,
    /// Entra: `tid` and `oid`.
    pub tenant_id: Option<String>,
    pub object_id: Option<String>,
    pub created_at: OffsetDateTime,
}

/// A flow in progress, found by the hash of its `state`; spent when the provider calls back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoState {
    pub hash: String,
    pub org_id: OrgId,
    pub provider_id: IdentityProviderId,
    /// The hash of the secret in the browser's cookie: the flow ends only in the browser that
    /// started it.
    pub browser_hash: String,
    pub nonce: String,
    /// PKCE's code verifier.
    pub verifier: String,
    pub return_to: String,
    /// A linking flow: the account the provider's account is linked to (no sign-in).
    pub link_user: Option<UserId>,
    pub expires_at: OffsetDateTime,
}

/// The one-time code the frontend trades for tokens, found by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoCode {
    pub hash: String,
    pub org_id: OrgId,
    pub provider_id: IdentityProviderId,
    pub user_id: UserId,
    /// The provider said MFA was used and the org counts it (G2).
    pub mfa: bool,
    /// What the exchange must show: `browser:<hash of the flow cookie>`.
    pub binding: String,
    pub expires_at: OffsetDateTime,
}

mod oidc;
pub use oidc::*;

#[cfg(test)]
mod tests;
