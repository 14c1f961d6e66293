//! The services: the only door to data. Every method that acts for someone takes the acting
//! [`Subject`] first and asks the policy engine before it touches a port. Methods that must
//! bypass the policy (creating an org, the demo seed) are named `system_*` and are called only
//! from the binary.

mod accounts;
mod alerts;
mod audit;
mod auth;
mod catalogue;
mod categories;
mod decisions;
mod digests;
mod groups;
mod incidents;
mod integrations;
mod mail;
mod me;
mod mis;
mod monitoring;
mod orgs;
mod people;
mod scim;
mod sso;
mod student_groups;
mod students;
mod users;

pub use crate::scim_filter::*;
pub use accounts::*;
pub use alerts::*;
pub use audit::*;
pub use auth::*;
pub use catalogue::*;
pub use categories::*;
pub use decisions::*;
pub use digests::*;
pub use groups::*;
pub use incidents::*;
pub use integrations::*;
pub use me::*;
pub use mis::*;
pub use orgs::*;
pub use people::*;
pub use scim::*;
pub use sso::*;
pub use student_groups::*;
pub use students::*;
pub use users::*;

use crate::error::{DomainError, Result};
use crate::ids::*;
use crate::model::*;
use crate::password::PasswordHasherPool;
use crate::policy::{Action, Decision, Resource, Subject, decide};
use crate::ports::{Store, Tx};
use crate::tokens::SigningKey;
use std::sync::Arc;
use time::OffsetDateTime;

/// Tunables of the service (all have defaults; the binary reads them from `KEYHOLDER_*`).
#[derive(Debug, Clone)]
pub struct Config {
    /// Lifetime of an access token.
    pub access_ttl_secs: i64,
    /// Lifetime of a session (and its refresh tokens).
    pub session_ttl_secs: i64,
    /// A session not refreshed for this long ends (ASVS 7.3.1): each refresh token expires
    /// this long after it is issued, and never after its session.
    pub session_idle_secs: i64,
    /// Failures in a row before an account locks (A2).
    pub lockout_threshold: i32,
    /// The first lock lasts this long; each further failure doubles it, up to `lockout_max_secs`.
    pub lockout_base_secs: i64,
    pub lockout_max_secs: i64,
    /// The signing key for access tokens; without it one is made and kept in the database,
    /// so every replica shares it.
    pub jwt_secret: Option<Vec<u8>>,
    /// Concurrent password hashes (each holds 19 MiB while it runs).
    pub hashes_in_flight: usize,
    /// Where people open links from emails (`{public_url}/set-password?token=…`).
    pub public_url: String,
    /// N2: the frontend's path of an incident, after `public_url` in an alert's link
    /// (`KEYHOLDER_INCIDENT_LINK_PATH`; `{org}` and `{id}` are filled in).
    pub incident_link_path: String,
    /// The first retry of an undelivered email waits this long; each further one doubles it.
    pub outbox_retry_base_ms: u64,
    pub invitation_ttl_secs: i64,
    pub reset_ttl_secs: i64,
    /// The data key that seals TOTP seeds (`KEYHOLDER_DATA_KEY`); required to start.
    pub data_key: Option<[u8; 32]>,
    /// U5: the longest a replica holds a session's facts or the verification keys, even if the
    /// announcement of a change is lost (`KEYHOLDER_AUTH_CACHE_MAX_AGE`, seconds). Zero holds
    /// nothing.
    pub auth_cache_max_age: std::time::Duration,
    /// Issue 11: the longest a replica holds a list's counts (its `total`, and what chooses how
    /// its pages are read) if the announcement of a change to the org's pupils is lost
    /// (`KEYHOLDER_LIST_COUNT_MAX_AGE`, seconds). Zero (or a zero `auth_cache_max_age`) holds
    /// nothing.
    pub list_count_max_age: std::time::Duration,
    /// A8: where identity providers send the browser back (`KEYHOLDER_SSO_REDIRECT_URI`; by
    /// default `{public_url}/v1/auth/sso/callback`). Register it at the provider.
    pub sso_redirect_uri: Option<String>,
    /// A8: the clock skew allowed on an ID token's `exp` and `iat`, seconds.
    pub sso_leeway_secs: u64,
    /// A8: plain HTTP to a provider on a loopback host (`KEYHOLDER_SSO_ALLOW_HTTP_LOOPBACK`;
    /// for tests and local development only). Off, every issuer and endpoint is HTTPS.
    pub sso_allow_http_loopback: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            access_ttl_secs: 15 * 60,
            session_ttl_secs: 12 * 60 * 60,
            session_idle_secs: 30 * 60,
            lockout_threshold: 5,
            lockout_base_secs: 60,
            lockout_max_secs: 60 * 60,
            jwt_secret: None,
            hashes_in_flight: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            public_url: "http://127.0.0.1:8080".into(),
            incident_link_path: "/orgs/{org}/incidents/{id}".into(),
            outbox_retry_base_ms: 2_000,
            invitation_ttl_secs: 72 * 60 * 60,
            reset_ttl_secs: 60 * 60,
            data_key: None,
            auth_cache_max_age: std::time::Duration::from_secs(1),
            list_count_max_age: crate::auth_cache::LIST_MAX_AGE,
            sso_redirect_uri: None,
            sso_leeway_secs: 60,
            sso_allow_http_loopback: false,
        }
    }
}

/// The domain, wired to a store.
#[derive(Clone)]
pub struct Keyholder {
    store: Arc<dyn Store>,
    hasher: PasswordHasherPool,
    /// A key from configuration (`KEYHOLDER_JWT_SECRET`): then it alone signs and verifies,
    /// and rotation is done by changing the setting.
    configured_key: Option<SigningKey>,
    sealer: crate::sealing::Sealer,
    config: Config,
    /// A6: password resets looked up after their answer, a few at a time.
    resets: Arc<tokio::sync::Semaphore>,
    /// U5: keys and session facts held by this replica.
    auth: crate::auth_cache::AuthCache,
    /// A8: outbound HTTP to identity providers, and their discovery documents and keys.
    oidc: Option<Arc<dyn crate::sso::OidcHttp>>,
    oidc_directory: crate::sso::OidcDirectory,
    /// A9: access tokens whose Ed25519 signature this replica has checked, with their claims
    /// (a signature check costs tens of microseconds; the same token comes on every request).
    /// Only consulted once the token's key is known live; bounded.
    verified: Arc<std::sync::Mutex<std::collections::HashMap<Box<str>, crate::tokens::Claims>>>,
}

/// A9: what a key's seed is sealed under (the AEAD's associated data): its `kid`, so that a
/// sealed seed copied to another row does not open.
fn key_owner(kid: &str) -> uuid::Uuid {
    use sha2::Digest;
    let h = sha2::Sha256::digest(kid.as_bytes());
    h.first_chunk::<16>()
        .map(|b| uuid::Uuid::from_bytes(*b))
        .unwrap_or_default()
}

/// The live signing keys, Ed25519 seeds opened with the data key (they are sealed at rest, so a
/// copy of the database signs nothing); a row that does not open or cannot sign is no key.
async fn live_keys(tx: &mut dyn Tx, sealer: &crate::sealing::Sealer) -> Result<Vec<SigningKey>> {
    use base64::Engine;
    let mut out = Vec::new();
    for k in tx.live_signing_keys().await? {
        let k = match std::str::from_utf8(&k.secret) {
            Ok(sealed) if sealed.starts_with("v1.") => {
                let seed = sealer.open(sealed, key_owner(&k.kid)).and_then(|b64| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(b64)
                        .map_err(DomainError::internal)
                });
                match seed {
                    Ok(seed) => SigningKey::new(k.kid, k.alg, seed, k.created_at),
                    Err(_) => {
                        tracing::error!(kid = %k.kid, "a signing key does not open with the data key");
                        continue;
                    }
                }
            }
            _ => k,
        };
        if k.usable() {
            out.push(k);
        }
    }
    Ok(out)
}

/// Stores a new key, its seed sealed with the data key.
async fn insert_key(
    tx: &mut dyn Tx,
    sealer: &crate::sealing::Sealer,
    key: &SigningKey,
) -> Result<()> {
    use base64::Engine;
    let sealed = sealer.seal(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&key.secret),
        key_owner(&key.kid),
    )?;
    tx.insert_signing_key(&SigningKey::new(
        key.kid.clone(),
        key.alg,
        sealed.into_bytes(),
        key.created_at,
    ))
    .await
}

/// At most this many checked tokens are held (about 2 MiB); past it the map starts again.
const VERIFIED_HELD: usize = 4096;

impl Keyholder {
    /// Wires the domain to a migrated store; makes the first signing key if there is none.
    pub async fn start(store: Arc<dyn Store>, config: Config) -> Result<Keyholder> {
        let sealer = crate::sealing::Sealer::new(
            config
                .data_key
                .as_ref()
                .ok_or_else(|| DomainError::internal("no data key is configured"))?,
        );
        let configured_key = config
            .jwt_secret
            .as_ref()
            .map(|s| SigningKey::configured(s.clone()));
        if configured_key.is_none() {
            // A9: new tokens are signed with Ed25519. Keys from before (HS256) keep verifying
            // what they signed until it has expired, then retire.
            let mut tx = store.begin().await?;
            let live = live_keys(tx.as_mut(), &sealer).await?;
            let first_ed = live
                .iter()
                .filter(|k| k.alg == crate::tokens::KeyAlg::EdDsa)
                .map(|k| k.created_at)
                .min();
            match first_ed {
                None => {
                    insert_key(tx.as_mut(), &sealer, &SigningKey::generate()).await?;
                    tx.commit().await?;
                }
                Some(since)
                    if live.iter().any(|k| k.alg == crate::tokens::KeyAlg::Hs256)
                        && since + time::Duration::seconds(config.access_ttl_secs + 60)
                            < OffsetDateTime::now_utc() =>
                {
                    let keep: Vec<String> = live
                        .iter()
                        .filter(|k| k.alg == crate::tokens::KeyAlg::EdDsa)
                        .map(|k| k.kid.clone())
                        .collect();
                    tx.retire_signing_keys_except(&keep).await?;
                    tx.commit().await?;
                }
                Some(_) => {}
            }
        }
        // Seeds enrolled before seeds were sealed are sealed now, once.
        {
            let mut tx = store.begin().await?;
            let plain = tx.unsealed_totp_seeds().await?;
            if !plain.is_empty() {
                for (org, user, seed) in &plain {
                    tx.set_totp_seed(*org, *user, &sealer.seal(seed, user.0)?)
                        .await?;
                }
                tx.commit().await?;
                tracing::info!(sealed = plain.len(), "TOTP seeds sealed with the data key");
            }
        }
        let oidc_directory = crate::sso::OidcDirectory::new(config.sso_allow_http_loopback);
        Ok(Keyholder {
            auth: store.auth_cache(),
            store,
            hasher: PasswordHasherPool::new(config.hashes_in_flight)?,
            configured_key,
            sealer,
            config,
            resets: Arc::new(tokio::sync::Semaphore::new(4)),
            oidc: None,
            oidc_directory,
            verified: Arc::default(),
        })
    }

    /// A9: the public halves of the live Ed25519 keys, as JWKs (RFC 7517, 8037), newest first:
    /// a token verifies with the one its `kid` names until that key is retired.
    pub async fn published_keys(&self) -> Result<Vec<serde_json::Value>> {
        // A fixed HS256 secret verifies alone: nothing this server accepts can be published.
        if self.configured_key.is_some() {
            return Ok(Vec::new());
        }
        let keys = match self.auth.keys() {
            Some(k) => k,
            None => {
                let read_at = self.auth.now();
                let keys = live_keys(self.read_tx().await?.as_mut(), &self.sealer).await?;
                self.auth.hold_keys(read_at, &keys);
                keys
            }
        };
        let mut out = Vec::new();
        for k in &keys {
            if let Some(jwk) = k.public_jwk()? {
                out.push(jwk);
            }
        }
        Ok(out)
    }

    /// The key that signs new access tokens: the newest live one.
    async fn signing_key(&self, tx: &mut dyn Tx) -> Result<SigningKey> {
        if let Some(k) = &self.configured_key {
            return Ok(k.clone());
        }
        if let Some(k) = live_keys(tx, &self.sealer)
            .await?
            .into_iter()
            .find(|k| k.alg == crate::tokens::KeyAlg::EdDsa)
        {
            return Ok(k);
        }
        // None live (an older binary's rotations retired them): one is made, rather than no
        // sign-in working until a restart.
        let key = SigningKey::generate();
        insert_key(tx, &self.sealer, &key).await?;
        Ok(key)
    }

    /// The live key named `kid`, from what this replica holds when it can (U5), else read in
    /// `tx` (begun here if need be) and held.
    async fn held_verification_key(
        &self,
        tx: &mut Option<Box<dyn Tx>>,
        kid: &str,
        read_at: std::time::Instant,
    ) -> Result<Option<SigningKey>> {
        if let Some(k) = &self.configured_key {
            return Ok((k.kid == kid).then(|| k.clone()));
        }
        if let Some(k) = self
            .auth
            .keys()
            .and_then(|keys| keys.into_iter().find(|k| k.kid == kid))
        {
            return Ok(Some(k));
        }
        // Not held, or a key newer than what is held: read them.
        let t = match tx {
            Some(t) => t,
            None => tx.insert(self.read_tx().await?),
        };
        let keys = live_keys(t.as_mut(), &self.sealer).await?;
        self.auth.hold_keys(read_at, &keys);
        Ok(keys.into_iter().find(|k| k.kid == kid))
    }

    /// Whether per-address quotas are shared by every replica (kept in PostgreSQL).
    pub fn quotas_shared(&self) -> bool {
        self.store.shares_quotas()
    }

    /// A per-address quota shared by every replica: `None` if this request is within it, else
    /// the seconds to wait.
    pub async fn take_quota(&self, key: &str, per_minute: u32) -> Result<Option<u64>> {
        self.store.take_quota(key, per_minute).await
    }

    /// `/metrics`: the database pool's open and idle connections.
    pub fn pool_stats(&self) -> (u32, u32) {
        self.store.pool_stats()
    }

    /// `/metrics`: argon2 hashes running and waiting.
    pub fn hashing_queue(&self) -> (usize, usize) {
        self.hasher.queue()
    }

    /// `/metrics`: the outbox's depth, and the age of its oldest waiting email (N1).
    pub async fn outbox_backlog(&self) -> Result<(u64, Option<time::Duration>)> {
        let mut tx = self.tx().await?;
        let (n, oldest) = tx.outbox_backlog().await?;
        Ok((n, oldest.map(|at| now() - at)))
    }

    /// U5, for `/metrics`: what this replica's authentication cache holds and did.
    pub fn auth_cache_stats(&self) -> crate::auth_cache::AuthCacheStats {
        self.auth.stats()
    }

    /// `keyholder keys rotate`: a new key signs from now on; the previous one still verifies
    /// the tokens it signed until they expire; any older one is retired. Answers the new key's
    /// `kid` and the retired ones.
    pub async fn system_rotate_signing_key(&self) -> Result<(String, Vec<String>)> {
        if self.configured_key.is_some() {
            return Err(DomainError::Conflict {
                code: "configured_key",
                detail: "KEYHOLDER_JWT_SECRET is set: rotate by changing it".into(),
            });
        }
        let mut tx = self.tx().await?;
        let live = live_keys(tx.as_mut(), &self.sealer).await?;
        // The new key sorts first (signs from now on) even where this host's clock is behind
        // the one that made the newest key.
        let mut key = SigningKey::generate();
        if let Some(newest) = live.iter().map(|k| k.created_at).max()
            && newest >= key.created_at
        {
            key.created_at = newest + time::Duration::milliseconds(1);
        }
        insert_key(tx.as_mut(), &self.sealer, &key).await?;
        // The new key and the newest before it (Ed25519; HS256 keys from before A9 go).
        let mut keep = vec![key.kid.clone()];
        keep.extend(
            live.iter()
                .filter(|k| k.alg == crate::tokens::KeyAlg::EdDsa)
                .take(1)
                .map(|k| k.kid.clone()),
        );
        let retired = tx.retire_signing_keys_except(&keep).await?;
        tx.commit().await?;
        Ok((key.kid, retired))
    }

    /// Readiness: the database answers.
    pub async fn ready(&self) -> Result<()> {
        self.store.ping().await
    }

    async fn tx(&self) -> Result<Box<dyn Tx>> {
        self.store.begin().await
    }

    /// A read-only transaction, for requests that only read.
    async fn read_tx(&self) -> Result<Box<dyn Tx>> {
        self.store.begin_read().await
    }

    /// Asks the engine and turns a denial into the caller's error.
    fn authorize(&self, subject: &Subject, action: Action, resource: Resource<'_>) -> Result<()> {
        decide(subject, action, resource).into_result()
    }

    /// `action` on the subject's own org (one's own account, alerts, sessions, links).
    fn authorize_in_own_org(&self, subject: &Subject, action: Action) -> Result<()> {
        self.authorize(subject, action, Resource::Org(subject.org_id))
    }

    /// T1: the path's org must be the subject's; anything else is not found.
    fn check_org(&self, subject: &Subject, org_slug: &str, action: Action) -> Result<()> {
        if subject.org_slug != org_slug {
            return Err(DomainError::NotFound);
        }
        self.authorize(subject, action, Resource::Org(subject.org_id))
    }

    /// Exposed for the route layer: the route's declared action, on the path's org.
    pub fn decide_route(
        &self,
        subject: &Subject,
        org_slug: Option<&str>,
        action: Action,
    ) -> Result<Decision> {
        if let Some(slug) = org_slug
            && slug != subject.org_slug
        {
            return Err(DomainError::NotFound);
        }
        Ok(decide(subject, action, Resource::Org(subject.org_id)))
    }
}

/// A keyset page read one item past `limit`: cut to `limit`, and the cursor of the next page
/// (its last item's) when there was more.
pub(crate) fn next_page<T>(
    items: &mut Vec<T>,
    limit: u64,
    cursor: impl Fn(&T) -> String,
) -> Option<String> {
    // No cast: a limit past what this platform can count keeps every item.
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = items.len() > limit;
    items.truncate(limit);
    if more { items.last().map(cursor) } else { None }
}

/// Writes `after` as the next version of `before` (a version up, `updated_at` now); another
/// write in between is a version mismatch (optimistic concurrency).
pub(crate) async fn write_user(tx: &mut dyn Tx, before: &User, after: &mut User) -> Result<()> {
    after.version = before.version + 1;
    after.updated_at = now();
    if !tx.update_user(after, before.version).await? {
        return Err(DomainError::VersionMismatch {
            expected: before.version,
        });
    }
    Ok(())
}

/// Reads the account as it now stands, then commits: what a write of an account answers.
pub(crate) async fn commit_with_view(
    mut tx: Box<dyn Tx>,
    org: OrgId,
    user: UserId,
) -> Result<UserView> {
    let view = tx
        .user_view(org, user)
        .await?
        .ok_or(DomainError::NotFound)?;
    tx.commit().await?;
    Ok(view)
}

/// A search text or optional field as given, trimmed; blank is none.
pub(crate) fn clean(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// An audit entry for a change or an event (AU1).
/// G5 (with A8): the org's active admins who can still sign in: with passwords off, only
/// those linked to an identity provider. Counted inside the writing transaction, after the
/// change, so that the change is undone when it leaves none.
pub(crate) async fn admins_who_can_sign_in(tx: &mut dyn Tx, org: OrgId) -> Result<u64> {
    let passwords_off = tx
        .org_by_id(org)
        .await?
        .is_some_and(|o| o.settings.password_login == crate::model::PasswordLogin::Off);
    if passwords_off {
        tx.count_sso_linked_admins(org).await
    } else {
        tx.count_active_admins(org).await
    }
}

pub(crate) struct Audit<'a> {
    pub org: OrgId,
    pub kind: &'a str,
    pub actor: Option<UserId>,
    pub target: Option<(&'a str, uuid::Uuid)>,
    pub changes: serde_json::Value,
}

impl Audit<'_> {
    pub(crate) async fn write(self, tx: &mut dyn Tx, ctx: &RequestContext) -> Result<()> {
        self.write_about(tx, ctx, &[]).await
    }

    /// AU4: an entry that names pupils, or is bound to categories, says so here; readers who
    /// may not see one of them do not see the entry.
    pub(crate) async fn write_about(
        self,
        tx: &mut dyn Tx,
        ctx: &RequestContext,
        about: &[AuditAbout],
    ) -> Result<()> {
        let entry = AuditEntry {
            id: AuditId::new(),
            org_id: self.org,
            at: now(),
            kind: self.kind.to_owned(),
            actor_id: self.actor,
            target_type: self.target.map(|(t, _)| t.to_owned()),
            target_id: self.target.map(|(_, id)| id),
            staff_id: None,
            changes: self.changes,
            ip: ctx.ip.clone(),
            request_id: ctx.request_id.clone(),
            chain: None,
        };
        let mut about = about.to_vec();
        about.sort();
        about.dedup();
        tx.insert_audit(&entry, &about).await
    }
}

/// `{field: [before, after]}` for the fields that differ.
pub(crate) fn diff(pairs: &[(&str, serde_json::Value, serde_json::Value)]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (field, before, after) in pairs {
        if before != after {
            map.insert(
                (*field).to_owned(),
                serde_json::Value::Array(vec![before.clone(), after.clone()]),
            );
        }
    }
    serde_json::Value::Object(map)
}

/// A page of items with the total the caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

impl<T> Page<T> {
    /// A page of a list that is read whole (it is short by nature: one account's sessions, an
    /// org's service accounts or categories, one user's blocks, the leavers report), already
    /// filtered to what the caller may see; `page`/`per_page` checked as every list's are.
    pub fn of(all: Vec<T>, page: Option<u64>, per_page: Option<u64>) -> Result<Page<T>> {
        let (page, per_page) = paging(page, per_page)?;
        let total = u64::try_from(all.len()).unwrap_or(u64::MAX);
        let skip =
            usize::try_from(page.saturating_sub(1).saturating_mul(per_page)).unwrap_or(usize::MAX);
        let take = usize::try_from(per_page).unwrap_or(usize::MAX);
        Ok(Page {
            items: all.into_iter().skip(skip).take(take).collect(),
            page,
            per_page,
            total,
        })
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            page: self.page,
            per_page: self.per_page,
            total: self.total,
        }
    }
}
