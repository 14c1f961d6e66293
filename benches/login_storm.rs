//! A login storm against the release binary: 200 concurrent logins of 200 accounts (a school's
//! morning rush through one NAT address), repeated, while a prober times `/healthz`.
//! Prints logins per second against what the argon2 parameters allow on this machine's cores,
//! the p99 of `/healthz` during the storm, and the server's peak memory (VmHWM).
//!
//! `cargo bench --bench login_storm` (SQLite in a temp dir), or with
//! `KEYHOLDER_BENCH_DATABASE_URL=postgres://…/db` against PostgreSQL.

use keyholder_domain::password::PasswordHasherPool;
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The data key the bench servers seal TOTP seeds with (required on PostgreSQL).
const BENCH_DATA_KEY: &str = "YmVuY2ggZGF0YSBrZXkgYmVuY2ggZGF0YSBrZXkgYmU=";

const USERS: usize = 200;
const ROUNDS: usize = 3;
const PASSWORD: &str = "storm bench pass phrase 2026";

mod common;
use common::{Server, free_port, rss_mib};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    keyholder::oidc_http::install_tls();
    let bin = env!("CARGO_BIN_EXE_keyholder");
    let dir =
        std::env::temp_dir().join(format!("keyholder-storm-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = std::env::var("KEYHOLDER_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", dir.join("storm.db").display()));
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);

    // What argon2 allows here: as many hashes at once as there are cores, nothing else.
    let pool = PasswordHasherPool::new(cores).expect("hasher");
    let hash = pool.hash(PASSWORD).await.expect("hash");
    let n = 40 * cores as u32;
    let t = Instant::now();
    let all = (0..n).map(|_| pool.verify(PASSWORD, Some(&hash)));
    for r in futures_util::future::join_all(all).await {
        r.expect("verify");
    }
    let capacity = n as f64 / t.elapsed().as_secs_f64();
    let per_hash = t.elapsed() * cores as u32 / n;
    drop(pool);

    let created = Command::new(bin)
        .args([
            "org",
            "create",
            "--slug",
            "storm",
            "--name",
            "Storm Primary",
            "--admin-email",
            "dsl@storm.school",
            "--admin-password",
            PASSWORD,
        ])
        .env("KEYHOLDER_DATABASE_URL", &db)
        .env("KEYHOLDER_DATA_KEY", BENCH_DATA_KEY)
        .env("RUST_LOG", "warn")
        .output()
        .expect("org create");
    assert!(
        created.status.success(),
        "org create: {}",
        String::from_utf8_lossy(&created.stderr)
    );

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = Server(
        Command::new(bin)
            .arg("serve")
            .envs(
                std::env::var("STORM_SERVER_ENV")
                    .ok()
                    .and_then(|kv| {
                        kv.split_once('=')
                            .map(|(k, v)| vec![(k.to_owned(), v.to_owned())])
                    })
                    .unwrap_or_default(),
            )
            .env("KEYHOLDER_DATABASE_URL", &db)
            .env("KEYHOLDER_DATA_KEY", BENCH_DATA_KEY)
            .env("KEYHOLDER_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let pid = server.0.id();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(USERS + 8)
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Set up: the admin enrols a key, then creates the accounts.
    let login = |login: String, code: Option<String>| {
        let mut body = json!({"org": "storm", "login": login, "password": PASSWORD});
        if let Some(c) = code {
            body["totp_code"] = json!(c);
        }
        body
    };
    let admin = common::keyed(&http, &base, "storm", "dsl@storm.school", PASSWORD).await;
    let groups: Value = http
        .get(format!("{base}/v1/orgs/storm/user-groups?q=teachers"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("groups")
        .json()
        .await
        .expect("json");
    let teachers = groups["items"][0]["id"]
        .as_str()
        .expect("Teachers")
        .to_owned();
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(cores * 2) {
        let made = chunk.iter().map(|i| {
            post(
                &http,
                format!("{base}/v1/orgs/storm/users"),
                Some(&admin),
                json!({"email": format!("teacher{i}@storm.school"), "forename": "Teacher", "surname": format!("Number {i}"),
                       "user_group_id": teachers, "password": PASSWORD}),
            )
        });
        for (status, body) in futures_util::future::join_all(made).await {
            assert_eq!(status, 201, "create user: {body}");
        }
    }

    // The storm, with a prober timing /healthz all along.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = {
        let (http, base, stop) = (http.clone(), base.clone(), stop.clone());
        tokio::spawn(async move {
            let mut times = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                let ok = http
                    .get(format!("{base}/healthz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                assert!(ok, "healthz failed during the storm");
                times.push(t.elapsed());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            times
        })
    };
    let mut ok = 0usize;
    let mut login_times = Vec::new();
    let t = Instant::now();
    for _ in 0..ROUNDS {
        let storm = (0..USERS).map(|i| {
            let http = http.clone();
            let url = format!("{base}/v1/auth/login");
            let body = login(format!("teacher{i}@storm.school"), None);
            async move {
                let t = Instant::now();
                let res = http.post(url).json(&body).send().await.expect("login");
                (res.status().as_u16(), t.elapsed())
            }
        });
        for (status, took) in futures_util::future::join_all(storm).await {
            assert_eq!(status, 200, "a login failed during the storm");
            ok += 1;
            login_times.push(took);
        }
    }
    let elapsed = t.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut health = prober.await.expect("prober");
    health.sort();
    login_times.sort();
    let rate = ok as f64 / elapsed.as_secs_f64();
    let peak = rss_mib(pid, "VmHWM:");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "login storm: {USERS} concurrent logins x {ROUNDS} rounds, database {}",
        if db.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    println!("  cores                          {cores}");
    println!(
        "  argon2id alone, {cores} at a time   {:.1} ms per verify => capacity {:.1} verifies/s",
        per_hash.as_secs_f64() * 1e3,
        capacity
    );
    println!(
        "  logins                         {ok} in {:.2} s = {:.1} logins/s ({:.0}% of capacity; target >= 90%)",
        elapsed.as_secs_f64(),
        rate,
        100.0 * rate / capacity
    );
    println!(
        "  login latency p50 / p99        {:.0} ms / {:.0} ms",
        percentile(&login_times, 0.5).as_secs_f64() * 1e3,
        percentile(&login_times, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "  /healthz during storm          n={} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 < 10 ms)",
        health.len(),
        percentile(&health, 0.5).as_secs_f64() * 1e3,
        percentile(&health, 0.99).as_secs_f64() * 1e3,
        health.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!("  server peak memory (VmHWM)     {peak:.1} MiB (target < 300 MiB)");
}
