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

/// Outbound HTTP to identity providers (the binary's is reqwest, with timeouts and a bound on
/// the answer's size). Errors are short descriptions for the log.
#[async_trait::async_trait]
pub trait OidcHttp: Send + Sync {
    async fn get_json(&self, url: &str) -> std::result::Result<serde_json::Value, String>;
    /// A form POST (the token endpoint); the status and the JSON answer.
    async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> std::result::Result<(u16, serde_json::Value), String>;
}

/// What Keyholder needs of a provider's discovery document.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    /// RFC 9207: the provider names itself in every authorization response; one without `iss`
    /// is then not its.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// How long a discovery document and a key set are held; a token signed by a key not in the
/// set held refetches it (at most once per [`REFETCH_GAP`]), so a key rotated at the provider
/// is picked up without a restart.
const HOLD: Duration = Duration::from_secs(60 * 60);
const REFETCH_GAP: Duration = Duration::from_secs(1);
/// How long an issuer whose discovery failed is answered "unavailable" without asking again:
/// a provider that hangs costs one timeout per this, not one per sign-in.
const FAILED_HOLD: Duration = Duration::from_secs(30);

/// Discovery documents and key sets, by URL, shared by the replica's requests.
#[derive(Clone, Default)]
pub struct OidcDirectory {
    inner: Arc<Mutex<Directory>>,
    /// Plain HTTP to a loopback provider (the tests'); off in production, so that no org's
    /// admin can point Keyholder's fetches at a service on its own host.
    allow_loopback_http: bool,
}

#[derive(Default)]
struct Directory {
    discovery: HashMap<String, (Discovery, Instant)>,
    keys: HashMap<String, (JwkSet, Instant)>,
    failed: HashMap<String, Instant>,
}

/// At most this many issuers (or key sets, or failures) are held; past it the map starts
/// again (every org's admin can add providers).
const MAX_HELD: usize = 10_000;

impl Directory {
    fn failed_now(&mut self, url: &str) {
        if self.failed.len() >= MAX_HELD {
            self.failed.clear();
        }
        self.failed.insert(url.to_owned(), Instant::now());
    }
}

fn unavailable(e: impl std::fmt::Display) -> DomainError {
    DomainError::ProviderUnavailable(e.to_string())
}

impl OidcDirectory {
    pub fn new(allow_loopback_http: bool) -> OidcDirectory {
        OidcDirectory {
            allow_loopback_http,
            ..Default::default()
        }
    }

    /// Whether Keyholder may fetch from this URL: HTTPS, or plain HTTP to loopback where
    /// allowed.
    /// A host named by address must be a public one (the binary's resolver holds names to the
    /// same rule); loopback only where plain HTTP to loopback is allowed.
    pub fn may_fetch(&self, url: &str) -> bool {
        let Some(u) = web_url(url) else {
            return false;
        };
        if self.allow_loopback_http && loopback_host(&u) {
            return true;
        }
        let public = match u.host() {
            Some(url::Host::Ipv4(ip)) => public_ip(ip.into()),
            Some(url::Host::Ipv6(ip)) => public_ip(ip.into()),
            Some(url::Host::Domain(d)) => d != "localhost" && !d.ends_with(".localhost"),
            None => false,
        };
        u.scheme() == "https" && public
    }

    /// Whether fetches may go to loopback addresses (the tests' provider).
    pub fn allows_loopback(&self) -> bool {
        self.allow_loopback_http
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Directory> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The issuer's discovery document (`{issuer}/.well-known/openid-configuration`); its
    /// `issuer` must be the one asked for, and every endpoint HTTPS (or loopback).
    pub async fn discovery(&self, http: &dyn OidcHttp, issuer: &str) -> Result<Discovery> {
        if let Some((d, at)) = self.lock().discovery.get(issuer)
            && at.elapsed() < HOLD
        {
            return Ok(d.clone());
        }
        self.recently_failed(issuer)?;
        let found = self.fetch_discovery(http, issuer).await;
        let mut held = self.lock();
        match &found {
            Ok(d) => {
                held.failed.remove(issuer);
                if held.discovery.len() >= MAX_HELD {
                    held.discovery.clear();
                }
                held.discovery
                    .insert(issuer.to_owned(), (d.clone(), Instant::now()));
            }
            Err(_) => held.failed_now(issuer),
        }
        found
    }

    /// A URL that failed within [`FAILED_HOLD`] is not asked again yet.
    fn recently_failed(&self, url: &str) -> Result<()> {
        match self.lock().failed.get(url) {
            Some(at) if at.elapsed() < FAILED_HOLD => {
                Err(unavailable("the provider failed moments ago"))
            }
            _ => Ok(()),
        }
    }

    async fn fetch_discovery(&self, http: &dyn OidcHttp, issuer: &str) -> Result<Discovery> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        if !self.may_fetch(&url) {
            return Err(unavailable("the issuer is not an HTTPS URL"));
        }
        let doc = http.get_json(&url).await.map_err(unavailable)?;
        let d: Discovery = serde_json::from_value(doc).map_err(unavailable)?;
        if d.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(unavailable("the discovery document names another issuer"));
        }
        for u in [&d.authorization_endpoint, &d.token_endpoint, &d.jwks_uri] {
            if !self.may_fetch(u) {
                return Err(unavailable("an endpoint of the provider is not HTTPS"));
            }
        }
        Ok(d)
    }

    /// The key named `kid` from the provider's key set, refetching the set when it is old or
    /// lacks the key.
    async fn key(&self, http: &dyn OidcHttp, jwks_uri: &str, kid: &str) -> Result<Option<Jwk>> {
        let held = self.lock().keys.get(jwks_uri).cloned();
        if let Some((set, at)) = &held
            && let Some(k) = set.find(kid)
            && at.elapsed() < HOLD
        {
            return Ok(Some(k.clone()));
        }
        if let Some((_, at)) = &held
            && at.elapsed() < REFETCH_GAP
        {
            return Ok(None);
        }
        self.recently_failed(jwks_uri)?;
        let fetched = match http.get_json(jwks_uri).await {
            Ok(doc) => serde_json::from_value::<JwkSet>(doc).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let mut held = self.lock();
        let set = match fetched {
            Ok(set) => set,
            Err(e) => {
                held.failed_now(jwks_uri);
                return Err(unavailable(e));
            }
        };
        let found = set.find(kid).cloned();
        held.failed.remove(jwks_uri);
        if held.keys.len() >= MAX_HELD {
            held.keys.clear();
        }
        held.keys.insert(jwks_uri.to_owned(), (set, Instant::now()));
        Ok(found)
    }
}

/// The claims of an ID token Keyholder reads.
#[derive(Debug, Clone, Deserialize)]
pub struct IdClaims {
    pub sub: String,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub hd: Option<String>,
    /// Entra: the sign-in name, in one of the tenant's verified domains.
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// The party the token was issued to (OIDC Core 3.1.3.7: required when `aud` names more
    /// than one).
    #[serde(default)]
    pub azp: Option<String>,
    #[serde(default)]
    pub aud: serde_json::Value,
    #[serde(default)]
    pub amr: Vec<String>,
    /// Entra: the tenant and the account's object id.
    #[serde(default)]
    pub tid: Option<String>,
    #[serde(default)]
    pub oid: Option<String>,
}

impl IdClaims {
    /// The provider says a second factor was used.
    pub fn mfa(&self) -> bool {
        self.amr.iter().any(|a| a == "mfa")
    }

    /// The account's domain as the provider vouches for it: Google's `hd`; an email the
    /// provider says it verified; for Entra, the sign-in name (its domain is one the tenant
    /// verified). An unverified email names no domain.
    pub fn vouched_domain(&self, kind: ProviderKind) -> Option<String> {
        let domain_of = |e: &str| e.rsplit_once('@').map(|(_, d)| d.to_lowercase());
        if kind == ProviderKind::Google {
            return self.hd.as_deref().map(str::to_lowercase);
        }
        if self.email_verified == Some(true)
            && let Some(d) = self.email.as_deref().and_then(domain_of)
        {
            return Some(d);
        }
        if kind == ProviderKind::Entra {
            return self.preferred_username.as_deref().and_then(domain_of);
        }
        None
    }
}

/// A flow that cannot go on (400, a problem `code`).
pub(crate) fn invalid(code: &'static str, detail: &str) -> DomainError {
    DomainError::SsoInvalid {
        code,
        detail: detail.to_owned(),
    }
}

/// Longest ID token accepted (a compact JWS): anything longer is refused unread.
const MAX_ID_TOKEN: usize = 16 * 1024;

/// A8: checks an ID token: signed (RS256/ES256 only) by a key in the provider's JWKS, issued by
/// the provider for this client, unexpired, carrying this flow's nonce, and for Entra from
/// the configured tenant.
pub async fn verify_id_token(
    directory: &OidcDirectory,
    http: &dyn OidcHttp,
    provider: &IdentityProvider,
    discovery: &Discovery,
    token: &str,
    nonce: &str,
    leeway_secs: u64,
) -> Result<IdClaims> {
    if token.len() > MAX_ID_TOKEN {
        return Err(invalid("sso_invalid_id_token", "the ID token is too long"));
    }
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| invalid("sso_invalid_id_token", "the ID token is not a JWT"))?;
    let alg = match header.alg {
        Algorithm::RS256 | Algorithm::ES256 | Algorithm::PS256 => header.alg,
        _ => {
            return Err(invalid(
                "sso_invalid_id_token",
                "the ID token's algorithm is not accepted",
            ));
        }
    };
    let kid = header.kid.unwrap_or_default();
    let jwk = directory
        .key(http, &discovery.jwks_uri, &kid)
        .await?
        .ok_or_else(|| {
            invalid(
                "sso_invalid_id_token",
                "the ID token is signed by a key the provider does not publish",
            )
        })?;
    // A key published for encryption, or for another algorithm, signs nothing.
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
        || jwk
            .common
            .key_algorithm
            .is_some_and(|a| a != jsonwebtoken::jwk::KeyAlgorithm::from(alg))
    {
        return Err(invalid(
            "sso_invalid_id_token",
            "the ID token is signed by a key the provider does not publish for it",
        ));
    }
    let key = DecodingKey::from_jwk(&jwk)
        .map_err(|_| invalid("sso_invalid_id_token", "the provider's key is not usable"))?;
    let mut v = Validation::new(alg);
    v.set_audience(&[&provider.client_id]);
    v.set_issuer(&[&discovery.issuer]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v.leeway = leeway_secs;
    let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &v)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => invalid("sso_id_token_expired", "the ID token has expired"),
                K::InvalidIssuer => {
                    invalid("sso_invalid_id_token", "the ID token's issuer is wrong")
                }
                K::InvalidAudience => invalid(
                    "sso_invalid_id_token",
                    "the ID token was issued for another client",
                ),
                _ => invalid("sso_invalid_id_token", "the ID token does not verify"),
            }
        })?
        .claims;
    if claims.nonce.as_deref() != Some(nonce) {
        return Err(invalid(
            "sso_nonce_mismatch",
            "the ID token was not issued for this sign-in",
        ));
    }
    if provider.kind == ProviderKind::Entra
        && claims.tid.as_deref() != provider.tenant_id.as_deref()
    {
        return Err(invalid(
            "sso_invalid_id_token",
            "the ID token is from another tenant",
        ));
    }
    let audiences = match &claims.aud {
        serde_json::Value::Array(a) => a.len(),
        _ => 1,
    };
    if claims
        .azp
        .as_deref()
        .is_some_and(|a| a != provider.client_id)
        || (audiences > 1 && claims.azp.is_none())
    {
        return Err(invalid(
            "sso_invalid_id_token",
            "the ID token was issued to another client",
        ));
    }
    let bounded = |v: &Option<String>| v.as_deref().is_none_or(|s| s.len() <= 100);
    if claims.sub.is_empty()
        || claims.sub.len() > 255
        || !bounded(&claims.oid)
        || !bounded(&claims.tid)
        || !bounded(&claims.email)
        || !bounded(&claims.hd)
        || !bounded(&claims.preferred_username)
    {
        return Err(invalid(
            "sso_invalid_id_token",
            "the ID token's subject is not usable",
        ));
    }
    Ok(claims)
}

/// PKCE S256: the challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

/// `application/x-www-form-urlencoded` of one value.
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(urls: &[&str]) -> IdentityProvider {
        IdentityProvider {
            id: IdentityProviderId::new(),
            org_id: OrgId::new(),
            kind: ProviderKind::Oidc,
            name: "p".into(),
            issuer: "https://id.example".into(),
            tenant_id: None,
            client_id: "c".into(),
            client_secret_sealed: String::new(),
            allowed_domains: vec![],
            scopes: vec![],
            return_urls: urls.iter().map(|u| u.to_string()).collect(),
            mfa_counts: false,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a8_return_to_must_be_under_an_allowed_url_of_the_same_origin() {
        let p = provider(&["https://app.hill.school/sso"]);
        assert!(p.allows_return_to("https://app.hill.school/sso"));
        assert!(p.allows_return_to("https://app.hill.school/sso/done?x=1"));
        assert!(!p.allows_return_to("https://app.hill.school/ssoevil"));
        assert!(!p.allows_return_to("https://app.hill.school.evil.example/sso"));
        assert!(!p.allows_return_to("https://app.hill.school@evil.example/sso"));
        assert!(!p.allows_return_to("http://app.hill.school/sso"));
        assert!(!p.allows_return_to("//evil.example/sso"));
        assert!(!p.allows_return_to("javascript:alert(1)"));
    }

    #[test]
    fn a8_only_public_addresses_are_fetched() {
        let public = |s: &str| public_ip(s.parse().unwrap());
        for ok in [
            "8.8.8.8",
            "20.190.128.1",
            "2606:4700::1",
            "2a00:1450:4009::1",
        ] {
            assert!(public(ok), "{ok}");
        }
        for inside in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "198.18.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "fec0::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "2001::1",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(!public(inside), "{inside}");
        }
        let production = OidcDirectory::new(false);
        assert!(!production.may_fetch("https://[::ffff:a00:1]/x"));
        assert!(
            !production.may_fetch("https://2130706433/x"),
            "decimal 127.0.0.1"
        );
        assert!(!production.may_fetch("https://0x7f.1/x"));
        assert!(!production.may_fetch("https://app.localhost/x"));
    }

    proptest::proptest! {
        /// Whatever a browser is sent back to stays on an allowed origin, under its path.
        #[test]
        fn a8_return_to_never_leaves_the_allowed_origin(s in "\\PC{0,80}", tail in "[a-z./%;\\\\@?#:-]{0,24}") {
            let p = IdentityProvider::for_return_urls(&["https://app.hill.school/sso"]);
            for candidate in [s.clone(), format!("https://app.hill.school/sso{tail}"), format!("https://app.hill.school{tail}")] {
                if p.allows_return_to(&candidate) {
                    let u = web_url(&candidate).expect("parses");
                    proptest::prop_assert_eq!(u.host_str(), Some("app.hill.school"));
                    proptest::prop_assert!(u.path() == "/sso" || u.path().starts_with("/sso/"), "{}", candidate);
                    proptest::prop_assert!(
                        !u.path().split('/').any(|seg| seg == "." || seg.starts_with("..")),
                        "{}",
                        candidate
                    );
                }
            }
        }
    }

    #[test]
    fn a8_plain_http_only_to_loopback() {
        assert!(url_allowed("https://login.microsoftonline.com/x/v2.0"));
        assert!(url_allowed("http://127.0.0.1:4000/auth"));
        assert!(url_allowed("http://localhost/auth"));
        assert!(!url_allowed("http://login.example/auth"));
        assert!(!url_allowed("http://127.0.0.1.evil.example/auth"));
        assert!(!url_allowed("ftp://x"));
        let production = OidcDirectory::new(false);
        assert!(
            production.may_fetch("https://accounts.google.com/.well-known/openid-configuration")
        );
        assert!(!production.may_fetch("http://127.0.0.1:4000/.well-known/openid-configuration"));
        assert!(OidcDirectory::new(true).may_fetch("http://127.0.0.1:4000/jwks"));
    }

    #[test]
    fn a8_pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
