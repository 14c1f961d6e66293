//! A8: what Keyholder does with a provider over HTTP: the outbound port, the cache of
//! discovery documents and key sets, and the check of an ID token.

use super::*;

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
