//! The hot path, side by side with a bare actix-web server in the same run (issue 11).
//!
//! Starts the release binary (`serve`) on a fresh database and, as a child process of this
//! bench, a bare actix-web server answering a body of the same size as each route. Drives both
//! with the same load generator (`wrk -t1 -c32` when installed, else 32 keep-alive reqwest
//! clients in this process) for `HOT_PATH_SECS` (default 5) seconds per route. Prints
//! requests/s, p50 and p99 for each, the ratio to bare, and the server's resident memory idle
//! (after seeding) and at its peak.
//!
//! Routes: `GET /v1/me`; `GET /users?per_page=15` (an admin, 40 accounts);
//! `GET /students?per_page=25` (10 000 pupils in 334 registration groups, a teacher on one
//! group's allow-list).
//!
//! `cargo bench --bench hot_path` (SQLite in a temp dir); with
//! `KEYHOLDER_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres` also on a fresh
//! PostgreSQL database. `KEYHOLDER_BENCH_BINARY` runs another build of the server (a before).

use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const BENCH_DATA_KEY: &str = "YmVuY2ggZGF0YSBrZXkgYmVuY2ggZGF0YSBrZXkgYmU=";
const PASSWORD: &str = "hot path bench pass phrase";
const CONNECTIONS: usize = 32;
const PUPILS: usize = 10_000;
const CLASSES: usize = 334;

mod common;
use common::{Server, call, free_port, load, rss_mib, service_key};

async fn wait_up(http: &reqwest::Client, base: &str) {
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base} did not come up");
}

/// The bare server: `GET /{n}` answers `n` bytes of JSON-ish text.
fn bare(port: u16) {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let body: Arc<String> = Arc::new(format!("\"{}\"", "x".repeat(1 << 20)));
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            let body = body.clone();
            App::new().route(
                "/{n}",
                web::get().to(move |n: web::Path<usize>| {
                    let body = body.clone();
                    async move {
                        let n = n.into_inner().min(body.len());
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(body[..n].to_owned())
                    }
                }),
            )
        })
        .bind(("127.0.0.1", port))
        .expect("bind")
        .run()
        .await
        .expect("bare server")
    });
}

/// Signs in with a second factor (enrolling one).
async fn keyed(http: &reqwest::Client, base: &str, email: &str) -> String {
    common::keyed(http, base, "hot", email, PASSWORD).await
}

async fn run(label: &str, bin: &str, db: &str, bare_base: &str, secs: f64) {
    let env = |c: &mut Command| {
        c.env("KEYHOLDER_DATABASE_URL", db)
            .env("KEYHOLDER_DATA_KEY", BENCH_DATA_KEY)
            .env("KEYHOLDER_RATE_SIGN_IN_PER_MINUTE", "100000")
            .env("RUST_LOG", "warn");
    };
    let mut create = Command::new(bin);
    create.args([
        "org",
        "create",
        "--slug",
        "hot",
        "--name",
        "Hot Path Academy",
        "--admin-email",
        "dsl@hot.school",
        "--admin-password",
        PASSWORD,
    ]);
    env(&mut create);
    let out = create.output().expect("org create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = Command::new(bin);
    serve
        .arg("serve")
        .env("KEYHOLDER_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    env(&mut serve);
    let server = Server(serve.spawn().expect("serve"));
    let http = reqwest::Client::new();
    wait_up(&http, &base).await;
    let admin = keyed(&http, &base, "dsl@hot.school").await;
    let key = service_key(&http, &base, "hot", &admin, "mis.sync").await;
    let pupils: Vec<Value> = (0..PUPILS)
        .map(|i| json!({"mis_id": format!("P{i:05}"), "forename": format!("Pupil{}", i % 97), "surname": format!("Surname{:05}", (i * 7919) % PUPILS), "on_roll": true}))
        .collect();
    call(
        &http,
        reqwest::Method::PUT,
        format!("{base}/v1/orgs/hot/mis/students"),
        Some(&key),
        Some(json!({"items": pupils})),
    )
    .await;
    let classes: Vec<Value> = (0..CLASSES)
        .map(|c| {
            let members: Vec<String> = (0..PUPILS)
                .filter(|i| i % CLASSES == c)
                .map(|i| format!("P{i:05}"))
                .collect();
            json!({"mis_id": format!("C{c:03}"), "type": "registration_group", "name": format!("Class {c}"), "member_mis_ids": members})
        })
        .collect();
    call(
        &http,
        reqwest::Method::PUT,
        format!("{base}/v1/orgs/hot/mis/student-groups"),
        Some(&key),
        Some(json!({"items": classes})),
    )
    .await;
    let groups = call(
        &http,
        reqwest::Method::GET,
        format!("{base}/v1/orgs/hot/user-groups"),
        Some(&admin),
        None,
    )
    .await;
    let teachers = groups["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|g| g["name"] == "Teachers")
        .and_then(|g| g["id"].as_str())
        .expect("Teachers")
        .to_owned();
    let mut teacher_id = String::new();
    for i in 0..40 {
        let u = call(
            &http,
            reqwest::Method::POST,
            format!("{base}/v1/orgs/hot/users"),
            Some(&admin),
            Some(json!({"email": format!("t{i}@hot.school"), "forename": format!("Teacher{i}"), "surname": "Hot", "user_group_id": teachers, "password": PASSWORD})),
        )
        .await;
        if i == 0 {
            teacher_id = u["id"].as_str().expect("id").to_owned();
        }
    }
    let class = call(
        &http,
        reqwest::Method::GET,
        format!("{base}/v1/orgs/hot/student-groups?per_page=1"),
        Some(&admin),
        None,
    )
    .await["items"][0]["id"]
        .as_str()
        .expect("a class")
        .to_owned();
    call(
        &http,
        reqwest::Method::POST,
        format!("{base}/v1/orgs/hot/student-groups/{class}/access"),
        Some(&admin),
        Some(json!({"user_ids": [teacher_id]})),
    )
    .await;
    let teacher = keyed(&http, &base, "t0@hot.school").await;
    let listed = call(
        &http,
        reqwest::Method::GET,
        format!("{base}/v1/orgs/hot/students?per_page=25"),
        Some(&teacher),
        None,
    )
    .await;
    assert_eq!(listed["total"], (PUPILS / CLASSES + 1) as u64, "one class");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_mib(server.0.id(), "VmRSS:");
    let routes = [
        ("GET /v1/me", format!("{base}/v1/me"), teacher.clone()),
        (
            "GET /users?per_page=15",
            format!("{base}/v1/orgs/hot/users?per_page=15"),
            admin.clone(),
        ),
        (
            "GET /students?per_page=25",
            format!("{base}/v1/orgs/hot/students?per_page=25"),
            teacher.clone(),
        ),
    ];
    println!(
        "\n{label} (load: {})",
        if common::wrk(&format!("{base}/healthz"), None, 1, 1.0).is_some() {
            "wrk -t1 -c32"
        } else {
            "32 reqwest clients in this process"
        }
    );
    println!("| route | keyholder req/s | p50 ms | p99 ms | bare req/s | bare p99 ms | ratio |");
    println!("|---|---|---|---|---|---|---|");
    for (name, url, token) in routes {
        let bytes = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("sample")
            .bytes()
            .await
            .expect("body")
            .len();
        let bare_url = format!("{bare_base}/{bytes}");
        let (k, b) = match (
            common::wrk(&url, Some(&token), CONNECTIONS, secs),
            common::wrk(&bare_url, None, CONNECTIONS, secs),
        ) {
            (Some(k), Some(b)) => (k, b),
            _ => (
                load(url, Some(token), CONNECTIONS, secs).await,
                load(bare_url, None, CONNECTIONS, secs).await,
            ),
        };
        println!(
            "| {name} ({bytes} B) | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.3} |{}",
            k.rps,
            k.p50,
            k.p99,
            b.rps,
            b.p99,
            k.rps / b.rps,
            if k.errors + b.errors > 0 {
                format!(" errors: {} / {}", k.errors, b.errors)
            } else {
                String::new()
            }
        );
    }
    println!(
        "memory: {idle:.1} MiB resident idle after seeding, {:.1} MiB peak",
        rss_mib(server.0.id(), "VmHWM:")
    );
}

fn main() {
    keyholder::oidc_http::install_tls();
    if let Ok(port) = std::env::var("HOT_PATH_BARE_PORT") {
        bare(port.parse().expect("port"));
        return;
    }
    let secs: f64 = std::env::var("HOT_PATH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let bin = std::env::var("KEYHOLDER_BENCH_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_keyholder").to_owned());
    let bare_port = free_port();
    let _bare = Server(
        Command::new(std::env::current_exe().expect("this bench"))
            .env("HOT_PATH_BARE_PORT", bare_port.to_string())
            .stdout(Stdio::null())
            .spawn()
            .expect("bare server"),
    );
    let bare_base = format!("http://127.0.0.1:{bare_port}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        wait_bare(&bare_base).await;
        let dir =
            std::env::temp_dir().join(format!("keyholder-hot-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let sqlite = format!("sqlite://{}?mode=rwc", dir.join("hot.db").display());
        // `HOT_PATH_ONLY=postgres` skips SQLite; `HOT_PATH_KEEP_DB=1` keeps the PostgreSQL
        // database (its name is printed) to look at its plans.
        if std::env::var("HOT_PATH_ONLY").as_deref() != Ok("postgres") {
            run("SQLite", &bin, &sqlite, &bare_base, secs).await;
        }
        if let Ok(admin) = std::env::var("KEYHOLDER_BENCH_POSTGRES_URL") {
            use sea_orm::ConnectionTrait;
            let name = format!("kh_hot_{}", uuid::Uuid::new_v4().simple());
            let conn = sea_orm::Database::connect(&admin)
                .await
                .expect("PostgreSQL");
            conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create database");
            let (prefix, _) = admin.rsplit_once('/').expect("a URL with a database");
            run(
                "PostgreSQL",
                &bin,
                &format!("{prefix}/{name}"),
                &bare_base,
                secs,
            )
            .await;
            if std::env::var("HOT_PATH_KEEP_DB").is_ok() {
                println!("kept database {name}");
            } else {
                let _ = conn
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        }
    });
}

async fn wait_bare(base: &str) {
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{base}/2")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the bare server did not come up");
}
