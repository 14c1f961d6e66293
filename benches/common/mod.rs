//! What the benches share: a child server that is killed when dropped, a free port, a
//! process's memory, a JSON call, a second-factor sign-in and a load of concurrent clients.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::process::Child;
use std::time::{Duration, Instant};

/// A child process, killed and reaped when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A line of `/proc/{pid}/status` in MiB: `VmRSS:` (resident now) or `VmHWM:` (its peak).
pub fn rss_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// A call that must succeed; its JSON body.
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let mut req = http.request(method, url.clone());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {v}");
    v
}

/// The TOTP code of `secret` at now + `offset` seconds.
pub fn code(secret: &str, offset: i64) -> String {
    let t = (time::OffsetDateTime::now_utc().unix_timestamp() + offset) as u64;
    keyholder_domain::tokens::totp::code_at(secret, t).expect("code")
}

/// Signs in with a second factor (enrolling one first): the access token.
pub async fn keyed(
    http: &reqwest::Client,
    base: &str,
    org: &str,
    email: &str,
    password: &str,
) -> String {
    let login = |code: Option<String>| {
        call(
            http,
            reqwest::Method::POST,
            format!("{base}/v1/auth/login"),
            None,
            Some(json!({"org": org, "login": email, "password": password, "totp_code": code})),
        )
    };
    let t = login(None).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let secret = call(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/me/totp/setup"),
        Some(&t),
        Some(json!({})),
    )
    .await["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    call(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/me/totp/confirm"),
        Some(&t),
        Some(json!({"code": code(&secret, 0)})),
    )
    .await;
    login(Some(code(&secret, 30))).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// What a load measured: requests/s, p50 and p99 in ms, and failed requests.
pub struct Load {
    pub rps: f64,
    pub p50: f64,
    pub p99: f64,
    pub errors: usize,
}

/// The same load from `wrk` (one thread, `connections` connections, `--latency`), when it is
/// installed: a load generator in C leaves more of the machine to the server than one in this
/// process. `None` when there is no `wrk`.
pub fn wrk(url: &str, token: Option<&str>, connections: usize, secs: f64) -> Option<Load> {
    let mut cmd = std::process::Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{}s", secs.ceil().max(1.0)),
        "--latency",
    ]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd.arg(url).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
            .map(str::to_owned)
    };
    let ms = |v: String| -> f64 {
        let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
        let n: f64 = num.parse().unwrap_or(f64::NAN);
        match unit {
            "us" => n / 1e3,
            "ms" => n,
            "s" => n * 1e3,
            "m" => n * 60e3,
            _ => f64::NAN,
        }
    };
    let errors = field("Non-2xx or 3xx responses:")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
        + field("Socket errors:").map_or(0, |s| {
            s.split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<usize>().ok())
                .sum()
        });
    Some(Load {
        rps: field("Requests/sec:")?.parse().ok()?,
        p50: ms(field("50%")?),
        p99: ms(field("99%")?),
        errors,
    })
}

/// `connections` keep-alive clients, each looping one `GET` after another for `secs`.
pub async fn load(url: String, token: Option<String>, connections: usize, secs: f64) -> Load {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .expect("client");
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (http, url, token) = (http.clone(), url.clone(), token.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0;
                while Instant::now() < until {
                    let t = Instant::now();
                    let mut req = http.get(&url);
                    if let Some(tk) = &token {
                        req = req.bearer_auth(tk);
                    }
                    match req.send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            lat.push(t.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.expect("task");
        all.extend(lat);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len().max(1) - 1) as f64 * p).round() as usize)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    Load {
        rps: all.len() as f64 / elapsed,
        p50: pct(0.5),
        p99: pct(0.99),
        errors,
    }
}

/// A fresh PostgreSQL database beside the one `admin_url` names, for one bench run.
pub struct ScratchDb {
    admin: sea_orm::DatabaseConnection,
    name: String,
    pub url: String,
}

impl ScratchDb {
    pub async fn new(admin_url: &str) -> ScratchDb {
        use sea_orm::ConnectionTrait;
        let name = format!("kh_bench_{}", uuid::Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(admin_url)
            .await
            .expect("postgres");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create");
        let (prefix, _) = admin_url.rsplit_once('/').expect("url");
        let url = format!("{prefix}/{name}");
        ScratchDb { admin, name, url }
    }

    /// Drops the database, unless `keep` (then says its name).
    pub async fn finish(self, keep: bool) {
        use sea_orm::ConnectionTrait;
        if keep {
            println!("kept database {}", self.name);
        } else {
            let _ = self
                .admin
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await;
        }
    }
}

/// The settings of a server run in the bench's process on `database_url`: any free port, five
/// connections, two workers, mail to a temp folder, a fixed data key. A bench changes what it
/// needs with `Settings { .., ..common::settings(url) }`.
pub fn settings(database_url: String) -> keyholder::Settings {
    keyholder::Settings {
        database_url,
        bind: "127.0.0.1:0".into(),
        db_max_connections: 5,
        workers: 2,
        operator_key: None,
        trust_proxy: false,
        metrics_token: None,
        smtp_url: None,
        mail_from: "bench@keyholder.invalid".into(),
        mail_dir: std::env::temp_dir()
            .join("keyholder-bench-mail")
            .display()
            .to_string(),
        rate_limits: Default::default(),
        outbox_interval_ms: 1000,
        domain: keyholder_domain::services::Config {
            data_key: Some([42; 32]),
            ..Default::default()
        },
    }
}

/// Opens the store of `settings` and serves it in this process: the store (kept open while
/// it is held), the service, and the server's base URL.
pub async fn start(
    settings: &keyholder::Settings,
) -> (
    keyholder_store::SeaStore,
    keyholder_domain::services::Keyholder,
    String,
) {
    let (store, kh) = keyholder::open(settings).await.expect("open");
    let running = keyholder::serve(settings, kh.clone()).expect("serve");
    let base = format!("http://{}", running.addr);
    tokio::spawn(running.server);
    (store, kh, base)
}

/// The `p` quantile (0 to 1) of sorted durations, in milliseconds.
pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

/// Seconds per measurement from `var` (else `default`).
pub fn secs(var: &str, default: f64) -> f64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Runs `run` on a fresh SQLite file and, when `KEYHOLDER_BENCH_POSTGRES_URL` names a server
/// (an admin database such as `postgres://postgres@127.0.0.1:5432/postgres`), on a scratch
/// PostgreSQL database. `{PREFIX}_ONLY=postgres` skips SQLite; `{PREFIX}_KEEP_DB` keeps the
/// PostgreSQL database (its name is printed).
pub async fn on_each_database<F, Fut>(prefix: &str, mut run: F)
where
    F: FnMut(&'static str, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    keyholder::oidc_http::install_tls();
    if std::env::var(format!("{prefix}_ONLY")).as_deref() != Ok("postgres") {
        let dir = std::env::temp_dir().join(format!(
            "keyholder-{}-{}",
            prefix.to_lowercase(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        run(
            "SQLite",
            format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()),
        )
        .await;
        let _ = std::fs::remove_dir_all(&dir);
    }
    if let Ok(admin_url) = std::env::var("KEYHOLDER_BENCH_POSTGRES_URL") {
        let db = ScratchDb::new(&admin_url).await;
        run("PostgreSQL", db.url.clone()).await;
        db.finish(std::env::var(format!("{prefix}_KEEP_DB")).is_ok())
            .await;
    }
}

/// The API key of a service account with one `scope`, made by `admin` at `{base}/v1/orgs/{slug}/service-accounts`.
pub async fn service_key(
    http: &reqwest::Client,
    base: &str,
    slug: &str,
    admin: &str,
    scope: &str,
) -> String {
    call(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/orgs/{slug}/service-accounts"),
        Some(admin),
        Some(json!({"name": scope, "scopes": [scope]})),
    )
    .await["api_key"]
        .as_str()
        .expect("key")
        .to_owned()
}

/// The pass phrase of every admin an in-process bench makes.
pub const ADMIN_PASSWORD: &str = "bench admin pass phrase";

/// Makes the org `slug` with its admin `dsl@{slug}.test`, and signs the admin in with a second
/// factor: the access token.
pub async fn org_and_admin(
    kh: &keyholder_domain::services::Keyholder,
    http: &reqwest::Client,
    base: &str,
    slug: &str,
) -> String {
    let email = format!("dsl@{slug}.test");
    kh.system_create_org(
        keyholder_domain::services::NewOrg {
            slug: slug.into(),
            name: slug.into(),
            admin_email: email.clone(),
            admin_password: Some(ADMIN_PASSWORD.into()),
        },
        &keyholder_domain::model::RequestContext::default(),
    )
    .await
    .expect("org");
    keyed(http, base, slug, &email, ADMIN_PASSWORD).await
}

/// The id of the org's Teachers group.
pub async fn teachers(http: &reqwest::Client, base: &str, slug: &str, admin: &str) -> String {
    call(
        http,
        reqwest::Method::GET,
        format!("{base}/v1/orgs/{slug}/user-groups?q=teachers"),
        Some(admin),
        None,
    )
    .await["items"][0]["id"]
        .as_str()
        .expect("teachers")
        .to_owned()
}

/// The ids of a list page's `items`.
pub fn ids(page: &Value) -> impl Iterator<Item = String> + '_ {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_owned))
}
