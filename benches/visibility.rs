//! R4 at scale: a trust of 100 000 pupils in 3 000 registration groups and 7 year groups, with
//! 5 000 staff records, seeded through the MIS sync; then a teacher restricted to one class asks
//! for the first page of pupils, 200 times, at 10 000 and at 100 000 pupils. Prints p50/p99
//! (targets: p99 under 50 ms; p50 at 100 000 no more than 1.5× p50 at 10 000).
//! `cargo bench --bench visibility` (SQLite), plus PostgreSQL when `KEYHOLDER_BENCH_POSTGRES_URL`
//! names an admin database.

use keyholder::{Settings, open, serve};
use keyholder_domain::model::RequestContext;
use keyholder_domain::services::{Config, NewOrg};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PASSWORD: &str = "bench admin pass phrase";
const RUNS: usize = 200;

fn code(secret: &str, offset: i64) -> String {
    let t = (time::OffsetDateTime::now_utc().unix_timestamp() + offset) as u64;
    keyholder_domain::tokens::totp::code_at(secret, t).expect("code")
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> Value {
    let mut req = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {v}");
    v
}

async fn login(
    http: &reqwest::Client,
    base: &str,
    org: &str,
    email: &str,
    code: Option<String>,
) -> String {
    let r: Value = http
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"org": org, "login": email, "password": PASSWORD, "totp_code": code}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    r["access_token"].as_str().expect("token").to_owned()
}

async fn keyed(http: &reqwest::Client, base: &str, org: &str, email: &str) -> String {
    let t = login(http, base, org, email, None).await;
    let setup = send(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/me/totp/setup"),
        &t,
        Some(json!({})),
    )
    .await;
    let secret = setup["secret"].as_str().expect("secret").to_owned();
    send(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/me/totp/confirm"),
        &t,
        Some(json!({"code": code(&secret, 0)})),
    )
    .await;
    login(http, base, org, email, Some(code(&secret, 30))).await
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

/// Seeds one org of `pupils` pupils and measures the restricted teacher's first page.
async fn school(
    http: &reqwest::Client,
    base: &str,
    kh: &keyholder_domain::services::Keyholder,
    slug: &str,
    pupils: usize,
) -> (f64, f64, u64) {
    kh.system_create_org(
        NewOrg {
            slug: slug.into(),
            name: slug.into(),
            admin_email: format!("dsl@{slug}.test"),
            admin_password: Some(PASSWORD.into()),
        },
        &RequestContext::default(),
    )
    .await
    .expect("org");
    let admin = keyed(http, base, slug, &format!("dsl@{slug}.test")).await;
    let key = send(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/orgs/{slug}/service-accounts"),
        &admin,
        Some(json!({"name": "mis", "scopes": ["mis.sync"]})),
    )
    .await["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let mis = |what: &str| format!("{base}/v1/orgs/{slug}/mis/{what}");
    for chunk in (0..pupils).collect::<Vec<_>>().chunks(10_000) {
        let items: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"mis_id": format!("P{i:06}"), "forename": format!("Pupil{}", i % 997), "surname": format!("Surname{:05}", (i * 7919) % 100_000), "on_roll": true}))
            .collect();
        send(
            http,
            reqwest::Method::PUT,
            mis("students"),
            &key,
            Some(json!({"items": items})),
        )
        .await;
    }
    let classes = (pupils / 33).clamp(1, 3000);
    let mut groups: Vec<Value> = (0..classes)
        .map(|c| {
            let members: Vec<String> = (0..pupils).filter(|i| i % classes == c).map(|i| format!("P{i:06}")).collect();
            json!({"mis_id": format!("REG{c:04}"), "type": "registration_group", "name": format!("Class {c}"), "member_mis_ids": members})
        })
        .collect();
    groups.extend((0..7).map(|y| {
        let members: Vec<String> = (0..pupils).filter(|i| i % 7 == y).map(|i| format!("P{i:06}")).collect();
        json!({"mis_id": format!("Y{y}"), "type": "academic_level", "name": format!("Year {y}"), "member_mis_ids": members})
    }));
    send(
        http,
        reqwest::Method::PUT,
        mis("student-groups"),
        &key,
        Some(json!({"items": groups})),
    )
    .await;
    let staff: Vec<Value> = (0..5000)
        .map(|i| json!({"mis_id": format!("S{i:05}"), "forename": "Staff", "surname": format!("Member{i}"), "contract": "permanent", "hours": "full_time", "start_date": "2020-09-01"}))
        .collect();
    send(
        http,
        reqwest::Method::PUT,
        mis("staff"),
        &key,
        Some(json!({"items": staff})),
    )
    .await;
    // A teacher on one class's allow-list (registration groups restrict by default).
    let teachers = send(
        http,
        reqwest::Method::GET,
        format!("{base}/v1/orgs/{slug}/user-groups?q=teachers"),
        &admin,
        None,
    )
    .await["items"][0]["id"]
        .as_str()
        .expect("teachers")
        .to_owned();
    let teacher = send(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/orgs/{slug}/users"),
        &admin,
        Some(json!({"email": format!("t@{slug}.test"), "forename": "Class", "surname": "Teacher", "user_group_id": teachers, "password": PASSWORD})),
    )
    .await["id"]
        .as_str()
        .expect("teacher")
        .to_owned();
    let class = send(
        http,
        reqwest::Method::GET,
        format!("{base}/v1/orgs/{slug}/student-groups?type=registration_group&per_page=1"),
        &admin,
        None,
    )
    .await["items"][0]["id"]
        .as_str()
        .expect("class")
        .to_owned();
    send(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/orgs/{slug}/student-groups/{class}/access"),
        &admin,
        Some(json!({"user_ids": [teacher]})),
    )
    .await;
    let t = keyed(http, base, slug, &format!("t@{slug}.test")).await;
    let url = format!("{base}/v1/orgs/{slug}/students?per_page=25");
    let mut total = 0;
    for _ in 0..10 {
        total = send(http, reqwest::Method::GET, url.clone(), &t, None).await["total"]
            .as_u64()
            .unwrap_or(0);
    }
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t0 = Instant::now();
        send(http, reqwest::Method::GET, url.clone(), &t, None).await;
        times.push(t0.elapsed());
    }
    times.sort();
    (pct(&times, 0.5), pct(&times, 0.99), total)
}

async fn run(label: &str, database_url: String) {
    let settings = Settings {
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
        domain: Config {
            data_key: Some([42; 32]),
            ..Config::default()
        },
    };
    let (_store, kh) = open(&settings).await.expect("open");
    let running = serve(&settings, kh.clone()).expect("serve");
    let base = format!("http://{}", running.addr);
    tokio::spawn(running.server);
    let http = reqwest::Client::new();
    let t0 = Instant::now();
    let small = school(&http, &base, &kh, "small", 10_000).await;
    let large = school(&http, &base, &kh, "trust", 100_000).await;
    println!(
        "R4 first page (25) for a teacher restricted to one class, {label} (seeded in {:.0} s):",
        t0.elapsed().as_secs_f64()
    );
    for (n, (p50, p99, total)) in [(10_000, small), (100_000, large)] {
        println!(
            "  {n:>7} pupils: p50 {p50:6.2} ms, p99 {p99:6.2} ms over {RUNS} requests (total visible {total})"
        );
    }
    println!(
        "  p50 ratio 100k/10k: {:.2} (target <= 1.5); p99 target < 50 ms",
        large.0 / small.0
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = std::env::temp_dir().join(format!(
        "keyholder-visibility-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    run(
        "SQLite",
        format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()),
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    if let Ok(admin_url) = std::env::var("KEYHOLDER_BENCH_POSTGRES_URL") {
        use sea_orm::ConnectionTrait;
        let name = format!("kh_bench_{}", uuid::Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(&admin_url)
            .await
            .expect("postgres");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create");
        let (prefix, _) = admin_url.rsplit_once('/').expect("url");
        run("PostgreSQL", format!("{prefix}/{name}")).await;
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}
