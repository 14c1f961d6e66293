//! Secrets at rest and in logs: TOTP seeds are sealed in the database, and a full run of the
//! binary (sign-in, second factor, refresh, keys, invitations, resets, a wrong password) leaves
//! no password, token, key, seed or recovery code in its log.

use crate::harness::*;
use base64::Engine;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    m: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> Value {
    let mut req = http.request(m, format!("{base}{path}")).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    res.json().await.unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_seeds_are_sealed_in_the_database() {
    let (app, org) = TestApp::with_hill().await;
    let t = app.token("hill", &org.admin_email, ADMIN_PASSWORD).await;
    let secret = app
        .post("/v1/me/totp/setup", Some(&t), json!({}))
        .await
        .expect(200)
        .body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let stored = stored_totp_secret(&db).await;
    db.close().await.ok();
    assert!(stored.starts_with("v1."), "{stored}");
    assert!(!stored.contains(&secret));
    // The sealed seed still checks codes.
    app.post(
        "/v1/me/totp/confirm",
        Some(&t),
        json!({"code": code(&secret, 0)}),
    )
    .await
    .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_secret_reaches_the_log_of_a_full_run() {
    // A fresh database (SQLite, or PostgreSQL in CI) for the binary to run on; this process's
    // own mail worker is kept idle so that the binary delivers (and logs) the mail.
    let app = TestApp::spawn_with(|s| s.outbox_interval_ms = 3_600_000).await;
    let dir =
        std::env::temp_dir().join(format!("keyholder-logs-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = dir.join("keyholder.log");
    let data_key = base64::engine::general_purpose::STANDARD.encode(TEST_DATA_KEY);
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_keyholder"))
            .args(["serve", "--demo"])
            .env("KEYHOLDER_DATABASE_URL", &app.database_url)
            .env("KEYHOLDER_BIND", format!("127.0.0.1:{port}"))
            .env("KEYHOLDER_MAIL_DIR", dir.join("mail"))
            .env("KEYHOLDER_DATA_KEY", &data_key)
            .env("KEYHOLDER_OUTBOX_INTERVAL_MS", "50")
            .env("KEYHOLDER_WORKERS", "1")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .expect("start keyholder"),
    );
    let mut login = String::new();
    let mut password = String::new();
    for line in BufReader::new(child.0.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(v) = line.trim().strip_prefix("login:") {
            login = v.trim().to_owned();
        }
        if let Some(v) = line.trim().strip_prefix("password:") {
            password = v.trim().to_owned();
            break;
        }
    }
    assert!(
        !password.is_empty(),
        "the demo prints its admin's password once"
    );
    let base = format!("http://127.0.0.1:{port}");
    keyholder::oidc_http::install_tls();
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    use reqwest::Method as M;
    let mut secrets = vec![password.clone(), data_key.clone()];
    let first = call(
        &http,
        &base,
        M::POST,
        "/v1/auth/login",
        None,
        json!({"org": "demo", "login": login, "password": password}),
    )
    .await;
    let t = first["access_token"]
        .as_str()
        .expect("signed in")
        .to_owned();
    secrets.push(t.clone());
    secrets.push(first["refresh_token"].as_str().unwrap().to_owned());
    let setup = call(
        &http,
        &base,
        M::POST,
        "/v1/me/totp/setup",
        Some(&t),
        json!({}),
    )
    .await;
    let seed = setup["secret"].as_str().unwrap().to_owned();
    secrets.push(seed.clone());
    let confirm = call(
        &http,
        &base,
        M::POST,
        "/v1/me/totp/confirm",
        Some(&t),
        json!({"code": code(&seed, 0)}),
    )
    .await;
    for c in confirm["recovery_codes"].as_array().unwrap() {
        secrets.push(c.as_str().unwrap().to_owned());
    }
    let keyed = call(
        &http,
        &base,
        M::POST,
        "/v1/auth/login",
        None,
        json!({"org": "demo", "login": login, "password": password, "totp_code": code(&seed, 30)}),
    )
    .await;
    let admin = keyed["access_token"].as_str().unwrap().to_owned();
    secrets.push(admin.clone());
    let refreshed = call(
        &http,
        &base,
        M::POST,
        "/v1/auth/refresh",
        None,
        json!({"refresh_token": keyed["refresh_token"]}),
    )
    .await;
    secrets.push(keyed["refresh_token"].as_str().unwrap().to_owned());
    secrets.push(refreshed["access_token"].as_str().unwrap().to_owned());
    secrets.push(refreshed["refresh_token"].as_str().unwrap().to_owned());
    let key = call(
        &http,
        &base,
        M::POST,
        "/v1/orgs/demo/service-accounts",
        Some(&admin),
        json!({"name": "MIS", "scopes": ["mis.sync"]}),
    )
    .await;
    secrets.push(key["api_key"].as_str().expect("a key").to_owned());
    let groups = call(
        &http,
        &base,
        M::GET,
        "/v1/orgs/demo/user-groups?q=Teachers",
        Some(&admin),
        json!(null),
    )
    .await;
    let teachers = groups["items"][0]["id"].as_str().unwrap().to_owned();
    let own = "a teacher's very own pass phrase";
    secrets.push(own.into());
    let made = call(&http, &base, M::POST, "/v1/orgs/demo/users", Some(&admin), json!({"email": "new.teacher@demo.school", "forename": "New", "surname": "Teacher", "user_group_id": teachers, "password": own})).await;
    assert!(made["id"].is_string(), "{made}");
    call(&http, &base, M::POST, "/v1/orgs/demo/users", Some(&admin), json!({"email": "invited@demo.school", "forename": "In", "surname": "Vited", "user_group_id": teachers, "send_invitation": true})).await;
    call(
        &http,
        &base,
        M::POST,
        "/v1/auth/password-reset",
        None,
        json!({"org": "demo", "email": login}),
    )
    .await;
    let wrong = "somebody guessing wrongly";
    secrets.push(wrong.into());
    call(
        &http,
        &base,
        M::POST,
        "/v1/auth/login",
        None,
        json!({"org": "demo", "login": login, "password": wrong}),
    )
    .await;
    // The emailed links' tokens, from the mail folder.
    let mut tokens = Vec::new();
    for _ in 0..100 {
        tokens = std::fs::read_dir(dir.join("mail"))
            .map(|d| {
                d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .filter_map(|m| {
                        m.split("token=").nth(1).map(|t| {
                            t.chars()
                                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                                .collect::<String>()
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        if tokens.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        tokens.len() >= 2,
        "an invitation and a reset were written: {tokens:?}"
    );
    secrets.extend(tokens);
    drop(child);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("/v1/auth/login"), "the run was logged");
    assert!(log.contains("email written"), "the mail worker ran");
    for s in &secrets {
        assert!(s.len() >= 8, "{s}");
        assert!(!log.contains(s.as_str()), "a secret is in the log: {s}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_stored_before_sealing_is_sealed_at_start_and_still_works() {
    let (app, org) = TestApp::with_hill().await;
    let secret = app
        .enrol_key("hill", &org.admin_email, ADMIN_PASSWORD)
        .await;
    // As an older version stored it: the seed in plain text.
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    db.execute_unprepared(&format!(
        "UPDATE users SET totp_secret = '{secret}' WHERE totp_secret IS NOT NULL"
    ))
    .await
    .unwrap();
    // A replica starting on the database seals it; the account signs in with its key.
    let _replica = app.replica().await;
    let stored = stored_totp_secret(&db).await;
    db.close().await.ok();
    assert!(stored.starts_with("v1.") && !stored.contains(&secret));
    let r = app
        .login_with_code("hill", &org.admin_email, &secret)
        .await
        .expect(200);
    assert_eq!(r.body["second_factor"], true);
}

/// The one second-factor secret as the database holds it.
async fn stored_totp_secret(db: &sea_orm::DatabaseConnection) -> String {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT totp_secret FROM users WHERE totp_secret IS NOT NULL",
        ))
        .await
        .unwrap()
        .expect("a row");
    row.try_get("", "totp_secret").unwrap()
}
