//! S4: a 10 000-row staff batch over HTTP, then the same batch re-sent (targets: under 2 s and
//! under 1 s), on SQLite and, when `KEYHOLDER_BENCH_POSTGRES_URL` names a server (an admin
//! database such as `postgres://postgres@127.0.0.1:5432/postgres`), on PostgreSQL too.
//! `cargo bench --bench mis_batch`

use keyholder::{Settings, open, serve};
use keyholder_domain::model::RequestContext;
use keyholder_domain::services::{Config, NewOrg};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ROWS: usize = 10_000;
const PASSWORD: &str = "bench admin pass phrase";

fn code(secret: &str, offset: i64) -> String {
    let t = (time::OffsetDateTime::now_utc().unix_timestamp() + offset) as u64;
    keyholder_domain::tokens::totp::code_at(secret, t).expect("code")
}

fn rows(changed: usize) -> Value {
    let items: Vec<Value> = (0..ROWS)
        .map(|i| {
            let surname = if i < changed { format!("Changed {i}") } else { format!("Number {i}") };
            json!({"mis_id": format!("S{i:05}"), "title": "Ms", "forename": "Staff", "surname": surname,
                   "email": format!("staff{i}@bench.school"), "job_title": "Teacher", "contract": "permanent",
                   "hours": "full_time", "start_date": "2020-09-01"})
        })
        .collect();
    json!({"items": items})
}

async fn post(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send()
        .await
        .expect("request")
        .json()
        .await
        .unwrap_or(Value::Null)
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
    kh.system_create_org(
        NewOrg {
            slug: "bench".into(),
            name: "Bench".into(),
            admin_email: "dsl@bench.school".into(),
            admin_password: Some(PASSWORD.into()),
        },
        &RequestContext::default(),
    )
    .await
    .expect("org");
    let running = serve(&settings, kh).expect("serve");
    let base = format!("http://{}", running.addr);
    tokio::spawn(running.server);
    let http = reqwest::Client::new();
    let login = |code: Option<String>| json!({"org": "bench", "login": "dsl@bench.school", "password": PASSWORD, "totp_code": code});
    let t = post(&http, format!("{base}/v1/auth/login"), None, login(None)).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let secret = post(
        &http,
        format!("{base}/v1/me/totp/setup"),
        Some(&t),
        json!({}),
    )
    .await["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    post(
        &http,
        format!("{base}/v1/me/totp/confirm"),
        Some(&t),
        json!({"code": code(&secret, 0)}),
    )
    .await;
    let admin = post(
        &http,
        format!("{base}/v1/auth/login"),
        None,
        login(Some(code(&secret, 30))),
    )
    .await["access_token"]
        .as_str()
        .expect("admin")
        .to_owned();
    let key = post(
        &http,
        format!("{base}/v1/orgs/bench/service-accounts"),
        Some(&admin),
        json!({"name": "bench", "scopes": ["mis.sync"]}),
    )
    .await["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let url = format!("{base}/v1/orgs/bench/mis/staff");
    let mut timings = Vec::new();
    for (what, body) in [
        ("first batch (10 000 new)", rows(0)),
        ("same batch re-sent", rows(0)),
        ("batch with 100 rows changed", rows(100)),
    ] {
        let t = Instant::now();
        let res = http
            .put(&url)
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .expect("put");
        let status = res.status();
        let counts: Value = res.json().await.unwrap_or(Value::Null);
        let took = t.elapsed();
        assert!(status.is_success(), "{what}: {status} {counts}");
        timings.push((what, took, counts));
    }
    println!("MIS staff batch of {ROWS} rows over HTTP, {label}:");
    for (what, took, counts) in timings {
        println!(
            "  {what:<30} {:>8.1} ms   {counts}",
            took.as_secs_f64() * 1e3
        );
    }
    // A new school year: 10 000 pupils in 300 classes, then every pupil moves to another class
    // (10 000 memberships removed and 10 000 added in one batch of 300 groups).
    let put = |path: &str, body: Value| {
        let req = http
            .put(format!("{base}/v1/orgs/bench/mis/{path}"))
            .bearer_auth(&key)
            .json(&body);
        async move {
            let t = Instant::now();
            let res = req.send().await.expect("put");
            let status = res.status();
            let counts: Value = res.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "{status} {counts}");
            (t.elapsed(), counts)
        }
    };
    let pupils: Vec<Value> = (0..ROWS)
        .map(|i| json!({"mis_id": format!("P{i:05}"), "forename": "Pupil", "surname": format!("Number{i}"), "on_roll": true}))
        .collect();
    put("students", json!({ "items": pupils })).await;
    let classes = |shift: usize| {
        let groups: Vec<Value> = (0..300)
            .map(|c| {
                let members: Vec<String> = (0..ROWS)
                    .filter(|i| (i + shift) % 300 == c)
                    .map(|i| format!("P{i:05}"))
                    .collect();
                json!({"mis_id": format!("C{c:03}"), "type": "registration_group", "name": format!("Class {c}"), "member_mis_ids": members})
            })
            .collect();
        json!({ "items": groups })
    };
    let (first, _) = put("student-groups", classes(0)).await;
    let (moved, counts) = put("student-groups", classes(1)).await;
    println!("MIS student groups, 300 classes of 10 000 pupils, {label}:");
    println!(
        "  {:<30} {:>8.1} ms",
        "first batch",
        first.as_secs_f64() * 1e3
    );
    println!(
        "  {:<30} {:>8.1} ms   {counts}",
        "every pupil moved",
        moved.as_secs_f64() * 1e3
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    keyholder::oidc_http::install_tls();
    let dir = std::env::temp_dir().join(format!(
        "keyholder-mis-bench-{}",
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
