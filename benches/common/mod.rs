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
