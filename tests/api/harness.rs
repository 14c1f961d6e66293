//! A real server on a free port with a fresh database per test: SQLite in a temp dir, or, when
//! `KEYHOLDER_TEST_POSTGRES_URL` is set, a new PostgreSQL database dropped when the test ends.

use base64::Engine;
use keyholder::{Settings, open, serve};
use keyholder_domain::model::RequestContext;
use keyholder_domain::services::{Config, Keyholder, NewOrg};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// The data key every test server (and replica) seals TOTP seeds with.
pub const TEST_DATA_KEY: [u8; 32] = [42; 32];
pub const OPERATOR_KEY: &str = "operator-key-for-tests-0123456789";

enum Db {
    Sqlite(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

pub struct TestApp {
    pub base: String,
    /// The test's own database, for tests that must reach around the service.
    pub database_url: String,
    pub http: reqwest::Client,
    pub kh: Keyholder,
    handle: actix_web::dev::ServerHandle,
    db: Option<Db>,
}

/// A response as a user sees it.
pub struct Res {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Res {
    /// The answer of a request sent by any client (a test's own browser, a form POST).
    pub async fn read(res: reqwest::Response) -> Res {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Res {
            status,
            headers,
            body,
        }
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Res {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {:#}",
            self.body
        );
        self
    }

    /// Asserts a problem+json with this status and code.
    #[track_caller]
    /// The rule id a 403 names.
    pub fn assert_rule(self, rule: &str) -> Res {
        assert_eq!(self.body["rule"], rule, "body: {:#}", self.body);
        self
    }

    pub fn problem(self, status: u16, code: &str) -> Res {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {:#}",
            self.body
        );
        let ct = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            ct.starts_with("application/problem+json"),
            "content-type {ct}"
        );
        assert_eq!(self.body["code"], code, "body: {:#}", self.body);
        assert_eq!(self.body["status"], status);
        self
    }

    pub fn field_codes(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["field"].as_str().unwrap_or_default().to_owned(),
                            e["code"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `id` of what the call made.
    pub fn id(&self) -> String {
        self.body["id"].as_str().expect("an id").to_owned()
    }

    /// The problem's `(field, code)` pairs, sorted.
    pub fn sorted_field_codes(&self) -> Vec<(String, String)> {
        let mut codes = self.field_codes();
        codes.sort();
        codes
    }
}

/// U5: polls `GET {base}{path}` with `token` until it answers `status`, within the auth cache's
/// bound (`KEYHOLDER_AUTH_CACHE_MAX_AGE`, 1 s here) and some slack; answers how long it took. On
/// PostgreSQL another replica hears of a change at once; on SQLite (one process per database in
/// production) another process's change is seen within the bound.
pub async fn within_bound(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    token: &str,
    status: u16,
) -> std::time::Duration {
    let start = std::time::Instant::now();
    loop {
        let got = http
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16();
        if got == status {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < std::time::Duration::from_millis(2500),
            "GET {path}: still {got} after {:?}, past the bound",
            start.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// [`within_bound`] for `GET /v1/me`.
pub async fn me_within_bound(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    status: u16,
) -> std::time::Duration {
    within_bound(http, base, "/v1/me", token, status).await
}

/// A list's items (or a bare array) as `key` → `id`.
pub fn ids_by(body: &Value, key: &str) -> std::collections::HashMap<String, String> {
    body.get("items")
        .unwrap_or(body)
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| {
            (
                i[key].as_str().expect("key").to_owned(),
                i["id"].as_str().expect("id").to_owned(),
            )
        })
        .collect()
}

pub fn test_settings(database_url: String) -> Settings {
    keyholder::oidc_http::install_tls();
    Settings {
        database_url,
        bind: "127.0.0.1:0".into(),
        db_max_connections: 5,
        workers: 1,
        operator_key: Some(OPERATOR_KEY.into()),
        trust_proxy: false,
        metrics_token: None,
        smtp_url: None,
        mail_from: "Keyholder <no-reply@keyholder.test>".into(),
        mail_dir: std::env::temp_dir()
            .join("keyholder-test-mail")
            .display()
            .to_string(),
        rate_limits: Default::default(),
        outbox_interval_ms: 50,
        domain: Config {
            hashes_in_flight: 2,
            data_key: Some(TEST_DATA_KEY),
            ..Config::default()
        },
    }
}

async fn fresh_database() -> (String, Db) {
    match std::env::var("KEYHOLDER_TEST_POSTGRES_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("kh_test_{}", Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(&admin_url)
                .await
                .expect("PostgreSQL named by KEYHOLDER_TEST_POSTGRES_URL is reachable");
            use sea_orm::ConnectionTrait;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let (prefix, _) = admin_url.rsplit_once('/').expect("a URL with a database");
            (format!("{prefix}/{name}"), Db::Postgres { admin_url, name })
        }
        _ => {
            let dir =
                std::env::temp_dir().join(format!("keyholder-test-{}", Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.join("test.db").display());
            (url, Db::Sqlite(dir))
        }
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// A fresh server with the demo school seeded (`serve --demo`'s) and its admin signed in
    /// with a second factor: the server and the admin's token.
    pub async fn demo() -> (TestApp, String) {
        let app = Self::spawn().await;
        let login = keyholder::demo::system_seed(&app.kh)
            .await
            .expect("seed")
            .expect("made");
        let admin = app
            .token_with_key("demo", &login.login, &login.password)
            .await
            .token;
        (app, admin)
    }

    /// A fresh server with the org `hill` (its admin not yet signed in).
    pub async fn with_hill() -> (TestApp, Org) {
        let app = Self::spawn().await;
        let org = app.org("hill").await;
        (app, org)
    }

    /// A fresh server with the org `hill` and its admin signed in with a second factor: the
    /// server, the org and the admin's token.
    pub async fn hill() -> (TestApp, Org, String) {
        let app = Self::spawn().await;
        let org = app.org("hill").await;
        let admin = app.admin(&org).await;
        (app, org, admin)
    }

    pub async fn spawn_with(tune: impl FnOnce(&mut Settings)) -> TestApp {
        let (url, db) = fresh_database().await;
        let mut settings = test_settings(url.clone());
        tune(&mut settings);
        let (_store, kh) = open(&settings).await.expect("open the database");
        keyholder::start_mail_worker(&settings, kh.clone()).expect("mail worker");
        let running = serve(&settings, kh.clone()).expect("bind");
        let base = format!("http://{}", running.addr);
        tokio::spawn(running.server);
        TestApp {
            base,
            database_url: url,
            http: reqwest::Client::new(),
            kh,
            handle: running.handle,
            db: Some(db),
        }
    }

    /// A service account's key (A7) with one scope, made by the org's admin.
    pub async fn service_key(&self, slug: &str, admin: &str, scope: &str) -> String {
        self.post(
            &format!("/v1/orgs/{slug}/service-accounts"),
            Some(admin),
            json!({"name": format!("{scope} integration"), "scopes": [scope]}),
        )
        .await
        .expect(201)
        .body["api_key"]
            .as_str()
            .expect("api_key")
            .to_owned()
    }

    /// U5: `admin` deactivates the account `user` of `slug` (and it succeeds).
    pub async fn deactivate(&self, slug: &str, admin: &str, user: impl std::fmt::Display) {
        self.post(
            &format!("/v1/orgs/{slug}/users/{user}/deactivate"),
            Some(admin),
            json!({}),
        )
        .await
        .expect(200);
    }

    /// The id of the org's category `name`, as `GET /categories` lists it to `token`.
    pub async fn category_id(&self, slug: &str, token: &str, name: &str) -> Value {
        self.get(&format!("/v1/orgs/{slug}/categories"), token)
            .await
            .expect(200)
            .body["items"]
            .as_array()
            .expect("categories")
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no category {name}"))["id"]
            .clone()
    }

    /// The two pupils many tests start from, pushed by the MIS with `key`: P1 Amelia Hughes and
    /// P2 Noah Patel, both on roll.
    pub async fn two_pupils(&self, slug: &str, key: &str) {
        self.call(
            Method::PUT,
            &format!("/v1/orgs/{slug}/mis/students"),
            Some(key),
            Some(json!({"items": [
                {"mis_id": "P1", "forename": "Amelia", "surname": "Hughes", "on_roll": true},
                {"mis_id": "P2", "forename": "Noah", "surname": "Patel", "on_roll": true}
            ]})),
        )
        .await
        .expect(200);
    }

    /// A second server on this test's database: another replica.
    pub async fn replica(&self) -> Replica {
        self.replica_with(|_| {}).await
    }

    /// A second server on this test's database, with its settings tuned.
    pub async fn replica_with(&self, tune: impl FnOnce(&mut Settings)) -> Replica {
        let mut settings = test_settings(self.database_url.clone());
        tune(&mut settings);
        let (_store, kh) = open(&settings).await.expect("open the database");
        let running = serve(&settings, kh).expect("bind");
        let base = format!("http://{}", running.addr);
        tokio::spawn(running.server);
        Replica {
            base,
            handle: running.handle,
        }
    }

    /// Runs `keyholder ARGS` on this test's database; answers success and its JSON output.
    pub fn command(&self, args: &[&str]) -> (bool, Value) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyholder"))
            .args(args)
            .env("KEYHOLDER_DATABASE_URL", &self.database_url)
            .env(
                "KEYHOLDER_DATA_KEY",
                base64::engine::general_purpose::STANDARD.encode(TEST_DATA_KEY),
            )
            .env("RUST_LOG", "warn")
            .output()
            .expect("run keyholder");
        let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.success(), json)
    }

    /// An org made as the command line makes it (T2), with a known admin password.
    pub async fn org(&self, slug: &str) -> Org {
        let email = format!("dsl@{slug}.school");
        let created = self
            .kh
            .system_create_org(
                NewOrg {
                    slug: slug.into(),
                    name: format!("{slug} school"),
                    admin_email: email.clone(),
                    admin_password: Some(ADMIN_PASSWORD.into()),
                },
                &RequestContext::default(),
            )
            .await
            .expect("create org");
        Org {
            slug: slug.into(),
            admin_email: email,
            admin_id: created.admin.id.0,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Res {
        self.call_with(method, path, token, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Res {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Res::read(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Res {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Res {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Res {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn login(&self, org: &str, login: &str, password: &str, code: Option<&str>) -> Res {
        let mut body = json!({"org": org, "login": login, "password": password});
        if let Some(c) = code {
            body["totp_code"] = json!(c);
        }
        self.post("/v1/auth/login", None, body).await
    }

    /// The org's admin logs in with the password alone.
    pub async fn admin_login(&self, org: &Org) -> Res {
        self.login(&org.slug, &org.admin_email, ADMIN_PASSWORD, None)
            .await
    }

    /// Logs in with the password and the authenticator's next code for `secret` (A5).
    pub async fn login_with_code(&self, org: &str, login: &str, secret: &str) -> Res {
        self.login(org, login, ADMIN_PASSWORD, Some(&code(secret, 30)))
            .await
    }

    /// What `GET {path}` lists to `token`, by MIS id: each item's id.
    pub async fn ids_by_mis_id(
        &self,
        path: &str,
        token: &str,
    ) -> std::collections::HashMap<String, String> {
        ids_by(&self.get(path, token).await.expect(200).body, "mis_id")
    }

    /// A2: five wrong passwords for `login`, each refused: the account is locked after them.
    pub async fn fail_five_times(&self, org: &str, login: &str) {
        for _ in 0..5 {
            self.login(org, login, "guessing the password", None)
                .await
                .problem(401, "invalid_credentials");
        }
    }

    /// Logs in with a password only (G2: low-level permissions).
    pub async fn token(&self, org: &str, login: &str, password: &str) -> String {
        let r = self.login(org, login, password, None).await.expect(200);
        r.body["access_token"].as_str().expect("token").to_owned()
    }

    /// Enrols a key for the account (set up and confirmed); answers its TOTP secret.
    pub async fn enrol_key(&self, org: &str, login: &str, password: &str) -> String {
        let t = self.token(org, login, password).await;
        let secret = self
            .post("/v1/me/totp/setup", Some(&t), json!({}))
            .await
            .expect(200)
            .body["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        self.post(
            "/v1/me/totp/confirm",
            Some(&t),
            json!({"code": code(&secret, 0)}),
        )
        .await
        .expect(200);
        secret
    }

    /// Enrols a key for the account and logs in with a code: a session with every permission
    /// of its group.
    pub async fn token_with_key(&self, org: &str, login: &str, password: &str) -> Keyed {
        let t = self.token(org, login, password).await;
        let setup = self
            .post("/v1/me/totp/setup", Some(&t), json!({}))
            .await
            .expect(200);
        let secret = setup.body["secret"].as_str().expect("secret").to_owned();
        let confirm = self
            .post(
                "/v1/me/totp/confirm",
                Some(&t),
                json!({"code": code(&secret, 0)}),
            )
            .await
            .expect(200);
        assert_eq!(
            confirm.body["recovery_codes"].as_array().map(Vec::len),
            Some(10)
        );
        // The confirming code's step is spent: the next step's code is within the skew.
        let r = self
            .login(org, login, password, Some(&code(&secret, 30)))
            .await
            .expect(200);
        assert_eq!(r.body["second_factor"], true);
        Keyed {
            token: r.body["access_token"].as_str().expect("token").to_owned(),
        }
    }

    /// The org admin's second-factor session.
    pub async fn admin(&self, org: &Org) -> String {
        self.token_with_key(&org.slug, &org.admin_email, ADMIN_PASSWORD)
            .await
            .token
    }

    pub async fn group_id(&self, org: &Org, token: &str, name: &str) -> String {
        let r = self
            .get(
                &format!("/v1/orgs/{}/user-groups?per_page=200", org.slug),
                token,
            )
            .await
            .expect(200);
        r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|g| g["name"] == name)
            .and_then(|g| g["id"].as_str())
            .unwrap_or_else(|| panic!("no group {name}"))
            .to_owned()
    }

    /// Creates an active account with a password in the named group; answers its id.
    pub async fn user(&self, org: &Org, admin: &str, email: &str, group: &str) -> String {
        let gid = self.group_id(org, admin, group).await;
        let r = self
            .post(
                &format!("/v1/orgs/{}/users", org.slug),
                Some(admin),
                json!({"email": email, "forename": "Test", "surname": "User", "user_group_id": gid, "password": ADMIN_PASSWORD}),
            )
            .await
            .expect(201);
        r.body["id"].as_str().expect("id").to_owned()
    }

    /// Audit entries of the org of this type, newest first.
    pub async fn audit(&self, org: &Org, admin: &str, kind: &str) -> Vec<Value> {
        self.audit_in(&org.slug, admin, kind).await
    }

    pub async fn audit_in(&self, slug: &str, admin: &str, kind: &str) -> Vec<Value> {
        let r = self
            .get(
                &format!("/v1/orgs/{slug}/audit?type={kind}&limit=200"),
                admin,
            )
            .await
            .expect(200);
        r.body["items"].as_array().cloned().unwrap_or_default()
    }
}

/// Another server on the same database; stopped when dropped.
pub struct Replica {
    pub base: String,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

pub struct Org {
    pub slug: String,
    pub admin_email: String,
    pub admin_id: Uuid,
}

pub struct Keyed {
    pub token: String,
}

/// The TOTP code `offset` seconds from now.
pub fn code(secret: &str, offset: i64) -> String {
    let t = (time::OffsetDateTime::now_utc().unix_timestamp() + offset) as u64;
    keyholder_domain::tokens::totp::code_at(secret, t).expect("code")
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        let db = self.db.take();
        // Runs on its own thread and runtime: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async move {
                    handle.stop(false).await;
                    match db {
                        Some(Db::Sqlite(dir)) => {
                            let _ = std::fs::remove_dir_all(dir);
                        }
                        Some(Db::Postgres { admin_url, name }) => {
                            use sea_orm::ConnectionTrait;
                            if let Ok(admin) = sea_orm::Database::connect(&admin_url).await {
                                let _ = admin
                                    .execute_unprepared(&format!(
                                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                    ))
                                    .await;
                                let _ = admin.close().await;
                            }
                        }
                        None => {}
                    }
                });
            }
        })
        .join();
    }
}

/// Issue 13 (5): every time in an audit entry's `changes` (a key ending in `_at` or `_until`,
/// at any depth, as a value or a `[before, after]` pair) is RFC 3339 UTC or null, never a Unix
/// number.
pub fn assert_rfc3339_times(v: &Value) {
    fn is_time_key(k: &str) -> bool {
        k.ends_with("_at") || k.ends_with("_until")
    }
    fn check(k: &str, v: &Value) {
        match v {
            Value::Null => {}
            Value::Array(pair) => pair.iter().for_each(|x| check(k, x)),
            Value::String(s) => {
                let t =
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .unwrap_or_else(|e| panic!("{k}: {s} is not RFC 3339: {e}"));
                assert_eq!(t.offset(), time::UtcOffset::UTC, "{k}: {s} is not UTC");
            }
            other => panic!("{k}: {other} is not an RFC 3339 time"),
        }
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if is_time_key(k) {
                    check(k, x);
                } else {
                    assert_rfc3339_times(x);
                }
            }
        }
        Value::Array(xs) => xs.iter().for_each(assert_rfc3339_times),
        _ => {}
    }
}

/// The rule ids of a decision's (or a viewer's) `reasons`, in order.
pub fn rules(decided: &Value) -> Vec<&str> {
    decided["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r["rule"].as_str().expect("a rule"))
        .collect()
}

/// The `name` of each item of a list's body, in order.
pub fn names(body: &Value) -> Vec<&str> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["name"].as_str().expect("a name"))
        .collect()
}
