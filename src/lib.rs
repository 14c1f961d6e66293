//! The binary's wiring: settings, the store, the domain and the HTTP server. The `system_*`
//! calls that bypass the policy (migrations, org creation, the demo seed) live here only.

pub mod demo;
pub mod mail;
pub mod oidc_http;

use actix_web::{HttpServer, web};
use keyholder_api::ApiState;
use keyholder_domain::services::{Config as DomainConfig, Keyholder};
use keyholder_store::SeaStore;
use std::net::SocketAddr;
use std::sync::Arc;

/// Every setting, from `KEYHOLDER_*` environment variables (see the README's table).
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub bind: String,
    pub db_max_connections: u32,
    pub workers: usize,
    pub operator_key: Option<String>,
    pub trust_proxy: bool,
    /// `KEYHOLDER_METRICS_TOKEN`: a bearer of it reads `/metrics` from anywhere; unset, only
    /// loopback peers do.
    pub metrics_token: Option<String>,
    /// SMTP server for the outbox; `None` writes mail to the log.
    pub smtp_url: Option<String>,
    pub mail_from: String,
    /// Without SMTP, where emails are written as files.
    pub mail_dir: String,
    pub outbox_interval_ms: u64,
    /// Requests a minute per client address at the sign-in, reset and SCIM doors.
    pub rate_limits: keyholder_api::limits::RateLimitSettings,
    pub domain: DomainConfig,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    match env(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name}={v} is not valid")),
    }
}

/// `KEYHOLDER_DATA_KEY`: 32 bytes, base64.
fn parse_data_key(v: &str) -> Result<[u8; 32], String> {
    use base64::Engine;
    let v = v.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v))
        .map_err(|_| "KEYHOLDER_DATA_KEY is not base64".to_owned())?;
    bytes
        .try_into()
        .map_err(|_| "KEYHOLDER_DATA_KEY must be 32 bytes (openssl rand -base64 32)".to_owned())
}

/// The data key that seals TOTP seeds. From `KEYHOLDER_DATA_KEY`; without it, on SQLite, a key
/// file beside the database (made once, readable by its owner only), so that one command still
/// runs the service. On PostgreSQL it must be set: every replica needs the same key.
fn data_key(database_url: &str) -> Result<[u8; 32], String> {
    if let Some(v) = env("KEYHOLDER_DATA_KEY") {
        return parse_data_key(&v);
    }
    let Some(path) = database_url.strip_prefix("sqlite://") else {
        return Err(
            "KEYHOLDER_DATA_KEY must be set (the same on every replica): \
                    openssl rand -base64 32"
                .into(),
        );
    };
    let db = std::path::Path::new(path.split('?').next().unwrap_or(path));
    let file = db.with_extension("data-key");
    if let Ok(text) = std::fs::read_to_string(&file) {
        return parse_data_key(&text);
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let key: [u8; 32] = keyholder_domain::tokens::random_bytes(32)
        .try_into()
        .map_err(|_| "random key".to_owned())?;
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    options
        .open(&file)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("{}: {e}", file.display()))?;
    tracing::warn!(file = %file.display(), "KEYHOLDER_DATA_KEY is not set: made a data key file; keep it with the database, and back it up");
    Ok(key)
}

impl Settings {
    pub fn from_env() -> Result<Settings, String> {
        let mut domain = DomainConfig::default();
        if let Some(s) = env("KEYHOLDER_JWT_SECRET") {
            if s.len() < 32 {
                return Err("KEYHOLDER_JWT_SECRET must be at least 32 characters".into());
            }
            domain.jwt_secret = Some(s.into_bytes());
        }
        if let Some(v) = env_parse("KEYHOLDER_ACCESS_TOKEN_TTL_SECS")? {
            domain.access_ttl_secs = v;
        }
        if let Some(v) = env_parse("KEYHOLDER_SESSION_TTL_SECS")? {
            domain.session_ttl_secs = v;
        }
        if let Some(v) = env_parse("KEYHOLDER_SESSION_IDLE_SECS")? {
            domain.session_idle_secs = v;
        }
        if let Some(v) = env_parse("KEYHOLDER_LOCKOUT_THRESHOLD")? {
            domain.lockout_threshold = v;
        }
        if let Some(v) = env_parse("KEYHOLDER_LOCKOUT_BASE_SECS")? {
            domain.lockout_base_secs = v;
        }
        if let Some(v) = env_parse("KEYHOLDER_HASHES_IN_FLIGHT")? {
            domain.hashes_in_flight = v;
        }
        if let Some(v) = env("KEYHOLDER_PUBLIC_URL") {
            domain.public_url = v;
        }
        if let Some(v) = env("KEYHOLDER_INCIDENT_LINK_PATH") {
            if !v.starts_with('/') || !v.contains("{id}") {
                return Err(
                    "KEYHOLDER_INCIDENT_LINK_PATH is a path starting with / that contains {id}"
                        .into(),
                );
            }
            domain.incident_link_path = v;
        }
        if let Some(v) = env("KEYHOLDER_SSO_REDIRECT_URI") {
            if !keyholder_domain::sso::url_allowed(&v) {
                return Err(
                    "KEYHOLDER_SSO_REDIRECT_URI is an https URL (http only to a loopback host)"
                        .into(),
                );
            }
            domain.sso_redirect_uri = Some(v);
        }
        if let Some(v) = env_parse("KEYHOLDER_SSO_ALLOW_HTTP_LOOPBACK")? {
            domain.sso_allow_http_loopback = v;
        }
        if let Some(v) = env_parse("KEYHOLDER_SSO_LEEWAY_SECS")? {
            domain.sso_leeway_secs = v;
        }
        if let Some(v) = env_parse("KEYHOLDER_OUTBOX_RETRY_BASE_MS")? {
            domain.outbox_retry_base_ms = v;
        }
        if let Some(v) = env_parse::<f64>("KEYHOLDER_AUTH_CACHE_MAX_AGE")? {
            domain.auth_cache_max_age = std::time::Duration::try_from_secs_f64(v)
                .map_err(|_| "KEYHOLDER_AUTH_CACHE_MAX_AGE is a number of seconds, 0 or more")?;
        }
        if let Some(v) = env_parse::<f64>("KEYHOLDER_LIST_COUNT_MAX_AGE")? {
            domain.list_count_max_age = std::time::Duration::try_from_secs_f64(v)
                .map_err(|_| "KEYHOLDER_LIST_COUNT_MAX_AGE is a number of seconds, 0 or more")?;
        }
        let mut rate_limits = keyholder_api::limits::RateLimitSettings::default();
        if let Some(v) = env_parse("KEYHOLDER_RATE_SIGN_IN_PER_MINUTE")? {
            rate_limits.sign_in_per_minute = v;
        }
        if let Some(v) = env_parse("KEYHOLDER_RATE_RESET_PER_MINUTE")? {
            rate_limits.reset_per_minute = v;
        }
        if let Some(v) = env_parse("KEYHOLDER_RATE_SCIM_PER_MINUTE")? {
            rate_limits.scim_per_minute = v;
        }
        let database_url = env("KEYHOLDER_DATABASE_URL")
            .unwrap_or_else(|| keyholder_store::DEFAULT_SQLITE_URL.to_owned());
        domain.data_key = Some(data_key(&database_url)?);
        Ok(Settings {
            rate_limits,
            database_url,
            bind: env("KEYHOLDER_BIND").unwrap_or_else(|| "127.0.0.1:8080".to_owned()),
            db_max_connections: env_parse("KEYHOLDER_DB_MAX_CONNECTIONS")?.unwrap_or(10),
            workers: env_parse("KEYHOLDER_WORKERS")?.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            }),
            operator_key: env("KEYHOLDER_OPERATOR_KEY"),
            trust_proxy: env_parse("KEYHOLDER_TRUST_PROXY")?.unwrap_or(false),
            metrics_token: env("KEYHOLDER_METRICS_TOKEN").filter(|t| !t.is_empty()),
            smtp_url: env("KEYHOLDER_SMTP_URL"),
            mail_from: env("KEYHOLDER_MAIL_FROM")
                .unwrap_or_else(|| "Keyholder <no-reply@keyholder.invalid>".to_owned()),
            mail_dir: env("KEYHOLDER_MAIL_DIR").unwrap_or_else(|| "data/mail".to_owned()),
            outbox_interval_ms: env_parse("KEYHOLDER_OUTBOX_INTERVAL_MS")?.unwrap_or(1000),
            domain,
        })
    }
}

/// Connects, migrates and wires the domain to the store.
pub async fn open(settings: &Settings) -> Result<(SeaStore, Keyholder), String> {
    let cache = keyholder_domain::auth_cache::AuthCache::with_list_bound(
        settings.domain.auth_cache_max_age,
        settings.domain.list_count_max_age,
    );
    let store = SeaStore::connect(&settings.database_url, settings.db_max_connections, cache)
        .await
        .map_err(|e| e.to_string())?;
    store.system_migrate().await.map_err(|e| e.to_string())?;
    store.listen(settings.domain.auth_cache_max_age);
    let kh = Keyholder::start(Arc::new(store.clone()), settings.domain.clone())
        .await
        .map_err(|e| e.to_string())?
        .with_oidc_http(Arc::new(oidc_http::ReqwestOidc::new(
            settings.domain.sso_allow_http_loopback,
        )?));
    Ok((store, kh))
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: actix_web::dev::ServerHandle,
    pub server: actix_web::dev::Server,
}

/// Binds and starts serving (the caller awaits `server`).
pub fn serve(settings: &Settings, kh: Keyholder) -> std::io::Result<Running> {
    let state = web::Data::new(ApiState {
        kh,
        operator_key: settings.operator_key.clone(),
        trust_proxy: settings.trust_proxy,
        limits: keyholder_api::limits::RateLimits::new(settings.rate_limits),
        metrics: std::sync::Arc::new(
            keyholder_api::metrics::Metrics::new()
                .map_err(|e| std::io::Error::other(e.to_string()))?,
        ),
        metrics_token: settings.metrics_token.clone(),
    });
    let published = keyholder_api::Published::new(&keyholder_api::openapi())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let server = HttpServer::new(move || keyholder_api::app(state.clone(), published.clone()))
        .workers(settings.workers.max(1))
        .shutdown_timeout(10)
        .bind(&settings.bind)?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("no address bound"))?;
    let server = server.run();
    let handle = server.handle();
    Ok(Running {
        addr,
        handle,
        server,
    })
}

/// Starts the digest worker (N2): once a minute it sends the digests that are due (each
/// user's once per local day, whichever replica gets there first).
pub fn start_digest_worker(kh: Keyholder) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match kh
                .system_send_digests(None, time::OffsetDateTime::now_utc())
                .await
            {
                Ok(run) if run.users > 0 => tracing::info!(
                    users = run.users,
                    emails = run.emails,
                    "daily digests recorded"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "digests not sent; retrying next minute"),
            }
        }
    })
}

/// Starts the outbox worker: SMTP when configured, the log otherwise.
pub fn start_mail_worker(
    settings: &Settings,
    kh: Keyholder,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let mailer: Box<dyn keyholder_domain::ports::Mailer> = match &settings.smtp_url {
        Some(url) => Box::new(mail::SmtpMailer::new(url, &settings.mail_from)?),
        None => Box::new(mail::DirMailer::new(&settings.mail_dir)?),
    };
    Ok(mail::spawn_worker(
        kh,
        mailer,
        std::time::Duration::from_millis(settings.outbox_interval_ms.max(10)),
    ))
}
