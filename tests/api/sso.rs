//! A8 single sign-on, end to end against a real OpenID provider (the npm package
//! `oidc-provider`, run by `tests/oidc/provider.mjs`), driven over HTTP the way a browser goes:
//! Keyholder's start, the provider's authorization endpoint, its (non-interactive) sign-in,
//! back to Keyholder's callback, on to the frontend with a one-time code, and the exchange.

use crate::harness::*;
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where Keyholder tells providers to send the browser back; the test's browser turns it into
/// the test server's own address (its port is not known before it starts).
const CALLBACK: &str = "http://127.0.0.1:9/v1/auth/sso/callback";
/// The frontend page a sign-in ends on (nothing listens: the browser stops there).
const FRONTEND: &str = "http://127.0.0.1:9/app/sso";
const CLIENT_ID: &str = "keyholder-test";
const CLIENT_SECRET: &str = "a-client-secret-for-the-tests";

/// A running provider; killed when dropped.
struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn provider(env: &[(&str, &str)]) -> Provider {
    let root = env!("CARGO_MANIFEST_DIR");
    // Installed once per run (CI installs it before the tests), never by two tests at once.
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let ok = Command::new("bash")
            .arg(format!("{root}/.ci/oidc-provider-install"))
            .status()
            .expect("run .ci/oidc-provider-install");
        assert!(
            ok.success(),
            "oidc-provider installs (npm ci in tests/oidc)"
        );
    });
    let mut cmd = Command::new("node");
    cmd.arg(format!("{root}/tests/oidc/provider.mjs"))
        .env("PORT", "0")
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .env("REDIRECT_URI", CALLBACK)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("node runs tests/oidc/provider.mjs");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the provider says where it listens");
    let issuer = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line from the provider: {line:?}"))
        .to_owned();
    Provider { child, issuer }
}

async fn app() -> TestApp {
    TestApp::spawn_with(|s| {
        s.domain.sso_redirect_uri = Some(CALLBACK.into());
        // The test's provider is plain HTTP on loopback.
        s.domain.sso_allow_http_loopback = true;
    })
    .await
}

async fn add_provider(app: &TestApp, admin: &str, p: &Provider, extra: Value) -> String {
    let mut body = json!({
        "kind": "oidc",
        "name": "Hill's provider",
        "issuer": p.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "return_urls": [FRONTEND],
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let r = app
        .post("/v1/orgs/hill/identity-providers", Some(admin), body)
        .await
        .expect(201);
    assert!(
        r.body.get("client_secret").is_none(),
        "the secret is never answered"
    );
    r.body["id"].as_str().expect("id").to_owned()
}

/// The browser: keeps cookies, follows nothing by itself.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn query_param(url: &str, key: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Starts a sign-in and follows it through the provider up to Keyholder's callback: that URL,
/// on the test server, not yet called. `tamper` may change the authorization URL before the
/// browser goes there.
async fn to_callback(
    app: &TestApp,
    b: &reqwest::Client,
    provider_id: &str,
    login_hint: &str,
    tamper: impl FnOnce(String) -> String,
) -> String {
    let start = format!(
        "{}/v1/auth/sso/hill/{provider_id}/start?return_to={}",
        app.base,
        form_urlencoded::byte_serialize(FRONTEND.as_bytes()).collect::<String>()
    );
    let r = b.get(&start).send().await.expect("start");
    if r.status().as_u16() != 303 {
        let status = r.status();
        panic!(
            "start answered {status}: {}",
            r.text().await.unwrap_or_default()
        );
    }
    let authorize = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    through_provider(app, b, &authorize, login_hint, tamper).await
}

/// From the provider's authorization URL, through its sign-in, up to Keyholder's callback.
async fn through_provider(
    app: &TestApp,
    b: &reqwest::Client,
    authorize: &str,
    login_hint: &str,
    tamper: impl FnOnce(String) -> String,
) -> String {
    let hint: String = form_urlencoded::byte_serialize(login_hint.as_bytes()).collect();
    let mut url = tamper(format!("{authorize}&login_hint={hint}"));
    for _ in 0..20 {
        let r = b.get(&url).send().await.expect("provider");
        assert!(
            r.status().is_redirection(),
            "the provider answered {} at {url}",
            r.status()
        );
        let loc = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        if let Some(rest) = loc.strip_prefix(CALLBACK) {
            return format!("{}/v1/auth/sso/callback{rest}", app.base);
        }
        url = if loc.starts_with("http") {
            loc
        } else {
            let origin = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
            format!("{origin}{loc}")
        };
    }
    panic!("the provider never sent the browser back");
}

/// Calls the callback: the frontend URL it redirects to, or Keyholder's answer.
async fn callback(b: &reqwest::Client, url: &str) -> Result<String, (u16, Value)> {
    let r = b.get(url).send().await.expect("callback");
    let status = r.status().as_u16();
    if status == 303 {
        let loc = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        assert!(loc.starts_with(FRONTEND), "ends on the frontend: {loc}");
        return Ok(loc);
    }
    Err((status, r.json().await.unwrap_or(Value::Null)))
}

/// A signed-in browser: the one-time code it was sent, and its cookies.
struct Signed {
    code: String,
    browser: reqwest::Client,
}

impl std::fmt::Debug for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signed({})", self.code)
    }
}

impl PartialEq for Signed {
    fn eq(&self, other: &Signed) -> bool {
        self.code == other.code
    }
}

/// A whole sign-in: the one-time code, or the problem code the frontend is sent.
async fn sign_in(app: &TestApp, provider_id: &str, login_hint: &str) -> Result<Signed, String> {
    let b = browser();
    let url = to_callback(app, &b, provider_id, login_hint, |u| u).await;
    let landed = callback(&b, &url)
        .await
        .expect("a redirect to the frontend");
    match query_param(&landed, "sso_code") {
        Some(code) => Ok(Signed { code, browser: b }),
        None => Err(query_param(&landed, "error").expect("sso_code or error")),
    }
}

/// `POST /v1/auth/sso/exchange` from `http` (the signed-in browser, or another client).
async fn exchange_from(app: &TestApp, http: &reqwest::Client, body: Value) -> Res {
    let r = http
        .post(format!("{}/v1/auth/sso/exchange", app.base))
        .json(&body)
        .send()
        .await
        .expect("exchange");
    Res::read(r).await
}

/// The exchange, from the browser that signed in.
async fn exchange(app: &TestApp, s: &Signed, totp: Option<&str>) -> Res {
    let mut body = json!({"code": s.code});
    if let Some(t) = totp {
        body["totp_code"] = json!(t);
    }
    exchange_from(app, &s.browser, body).await
}

/// The claims of an access token (read, not verified: the server verified it).
fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// SCIM gave the account this `externalId` (set around the service, as provisioning would).
async fn provisioned(app: &TestApp, user: &str, external_id: &str) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "UPDATE users SET external_id = $1 WHERE id = $2",
        _ => "UPDATE users SET external_id = ? WHERE id = ?",
    };
    let id = uuid::Uuid::parse_str(user).expect("a user id");
    let done = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [external_id.into(), id.into()],
        ))
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1, "the account is there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_a_provisioned_member_signs_in_through_the_provider_and_is_linked() {
    let p = provider(&[]);
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let pid = add_provider(&app, &admin, &p, json!({})).await;
    let teacher = app
        .user(&org, &admin, "alice@hill.school", "Teachers")
        .await;
    provisioned(&app, &teacher, "alice").await;

    let code = sign_in(&app, &pid, "alice").await.expect("signed in");
    let r = exchange(&app, &code, None).await.expect(200);
    assert_eq!(r.body["token_type"], "Bearer");
    assert!(r.body["refresh_token"].is_string());
    assert_eq!(r.body["second_factor"], false);
    let t = r.body["access_token"].as_str().unwrap().to_owned();
    let me = app.get("/v1/me", &t).await.expect(200);
    assert_eq!(me.body["id"], teacher.as_str());
    // The code works once.
    exchange(&app, &code, None)
        .await
        .problem(400, "sso_invalid_code");
    // AU1: the first link and the sign-in are audited.
    let linked = app.audit(&org, &admin, "auth.sso_linked").await;
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0]["changes"]["subject"], "alice");
    let logins = app.audit(&org, &admin, "auth.login_succeeded").await;
    assert!(logins.iter().any(|e| e["changes"]["method"] == "sso"));

    // The stored link finds the account from now on, whatever SCIM's id becomes.
    provisioned(&app, &teacher, "someone-else").await;
    let code = sign_in(&app, &pid, "alice").await.expect("by the link");
    exchange(&app, &code, None).await.expect(200);

    // The provider's record: the secret is never answered, the redirect URI to register is.
    let got = app
        .get(&format!("/v1/orgs/hill/identity-providers/{pid}"), &admin)
        .await
        .expect(200);
    assert_eq!(got.body["redirect_uri"], CALLBACK);
    assert!(got.body.get("client_secret").is_none());
    let listed = app
        .get("/v1/orgs/hill/identity-providers", &admin)
        .await
        .expect(200);
    assert_eq!(listed.body["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_an_unlinked_account_or_an_email_alone_is_refused_and_audited() {
    let p = provider(&[]);
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let pid = add_provider(&app, &admin, &p, json!({})).await;
    // The provider's email claim names this account, but nothing links it.
    app.user(&org, &admin, "bob@hill.school", "Teachers").await;
    assert_eq!(
        sign_in(&app, &pid, "bob").await,
        Err("sso_account_not_linked".into())
    );
    let refused = app.audit(&org, &admin, "auth.sso_refused").await;
    assert_eq!(refused[0]["changes"]["reason"], "sso_account_not_linked");
    assert_eq!(refused[0]["changes"]["subject"], "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_a_deactivated_account_is_refused_at_the_callback_and_at_the_exchange() {
    let p = provider(&[]);
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let pid = add_provider(&app, &admin, &p, json!({})).await;
    let teacher = app
        .user(&org, &admin, "alice@hill.school", "Teachers")
        .await;
    provisioned(&app, &teacher, "alice").await;
    // A code issued before the deactivation is worthless after it.
    let code = sign_in(&app, &pid, "alice").await.expect("signed in");
    app.deactivate("hill", &admin, teacher).await;
    exchange(&app, &code, None)
        .await
        .problem(403, "sso_account_deactivated");
    assert_eq!(
        sign_in(&app, &pid, "alice").await,
        Err("sso_account_deactivated".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_a_wrong_or_replayed_state_and_a_replayed_callback_are_refused() {
    let p = provider(&[]);
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let pid = add_provider(&app, &admin, &p, json!({})).await;
    let teacher = app
        .user(&org, &admin, "alice@hill.school", "Teachers")
        .await;
    provisioned(&app, &teacher, "alice").await;
    let b = browser();
    // A state nobody issued.
    let forged = format!("{}/v1/auth/sso/callback?state=forged&code=x", app.base);
    let (status, body) = callback(&b, &forged).await.expect_err("refused");
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("sso_invalid_state"))
    );
    // A flow finished in another browser (login CSRF): refused, and spent.
    let url = to_callback(&app, &b, &pid, "alice", |u| u).await;
    let (status, body) = callback(&browser(), &url).await.expect_err("refused");
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("sso_invalid_state"))
    );
    let (status, _) = callback(&b, &url).await.expect_err("spent");
    assert_eq!(status, 400);
    // A callback replayed after it worked.
    let url = to_callback(&app, &b, &pid, "alice", |u| u).await;
    let landed = callback(&b, &url).await.expect("signed in");
    assert!(query_param(&landed, "sso_code").is_some());
    let (status, body) = callback(&b, &url).await.expect_err("replayed");
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("sso_invalid_state"))
    );
    // A return_to that is not the org's.
    let r = b
        .get(format!(
            "{}/v1/auth/sso/hill/{pid}/start?return_to=https%3A%2F%2Fevil.example%2F",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "validation_failed");
    assert_eq!(body["errors"][0]["field"], "return_to", "{body:#}");
    assert_eq!(body["errors"][0]["code"], "not_allowed", "{body:#}");
    // Unknown provider and unknown org look alike.
    let mut answers = Vec::new();
    for path in [
        format!("/v1/auth/sso/hill/{}/start", uuid::Uuid::new_v4()),
        format!("/v1/auth/sso/nowhere/{pid}/start"),
    ] {
        let r = b
            .get(format!("{}{path}?return_to=x", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{path}");
        let mut body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "not_found", "{path}");
        if let Some(o) = body.as_object_mut() {
            o.remove("instance");
            o.remove("request_id");
        }
        answers.push(body);
    }
    assert_eq!(answers[0], answers[1], "the same answer for both");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_an_id_token_with_another_nonce_is_refused() {
    let p = provider(&[]);
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let pid = add_provider(&app, &admin, &p, json!({})).await;
    let teacher = app
        .user(&org, &admin, "alice@hill.school", "Teachers")
        .await;
    provisioned(&app, &teacher, "alice").await;
    let b = browser();
    let url = to_callback(&app, &b, &pid, "alice", |u| {
        let nonce = query_param(&u, "nonce").expect("a nonce");
        u.replace(&format!("nonce={nonce}"), "nonce=another-sign-ins-nonce")
    })
    .await;
    let landed = callback(&b, &url).await.expect("to the frontend");
    assert_eq!(
        query_param(&landed, "error").as_deref(),
        Some("sso_nonce_mismatch")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_an_authorization_response_naming_another_issuer_is_refused() {
    let p = provider(&[]);
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let pid = add_provider(&app, &admin, &p, json!({})).await;
    let teacher = app
        .user(&org, &admin, "alice@hill.school", "Teachers")
        .await;
    provisioned(&app, &teacher, "alice").await;
    let b = browser();
    let url = to_callback(&app, &b, &pid, "alice", |u| u).await;
    let iss = query_param(&url, "iss").expect("the provider names itself (RFC 9207)");
    let encoded: String = form_urlencoded::byte_serialize(iss.as_bytes()).collect();
    let mixed_up = url.replace(
        &format!("iss={encoded}"),
        "iss=https%3A%2F%2Fanother-provider.example",
    );
    assert_ne!(mixed_up, url);
    let landed = callback(&b, &mixed_up).await.expect("to the frontend");
    assert_eq!(
        query_param(&landed, "error").as_deref(),
        Some("sso_issuer_mismatch")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_an_expired_id_token_is_refused() {
    // The provider's clock runs an hour behind: every ID token it signs has expired.
    let p = provider(&[("CLOCK_OFFSET_SECS", "-3600")]);
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let pid = add_provider(&app, &admin, &p, json!({})).await;
    let teacher = app
        .user(&org, &admin, "alice@hill.school", "Teachers")
        .await;
    provisioned(&app, &teacher, "alice").await;
    assert_eq!(
        sign_in(&app, &pid, "alice").await,
        Err("sso_id_token_expired".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_a_key_rotated_at_the_provider_is_picked_up_without_a_restart() {
    let p = provider(&[]);
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let pid = add_provider(&app, &admin, &p, json!({})).await;
    let teacher = app
        .user(&org, &admin, "alice@hill.school", "Teachers")
        .await;
    provisioned(&app, &teacher, "alice").await;
    sign_in(&app, &pid, "alice")
        .await
        .expect("with the first key");
    let r = reqwest::Client::new()
        .post(format!("{}/__rotate", p.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    // Keyholder refetches a key set that lacks the token's key at most once a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let code = sign_in(&app, &pid, "alice")
        .await
        .expect("with the new key");
    exchange(&app, &code, None).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_g2_the_providers_mfa_counts_only_where_the_org_allows_it() {
    let p = provider(&[]);
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let counts = add_provider(&app, &admin, &p, json!({"mfa_counts": true})).await;
    let teacher = app
        .user(&org, &admin, "alice@hill.school", "Teachers")
        .await;
    provisioned(&app, &teacher, "alice").await;
    let secret = app
        .enrol_key("hill", "alice@hill.school", ADMIN_PASSWORD)
        .await;
    // MFA at the provider, and the org counts it.
    let code = sign_in(&app, &counts, "alice+mfa")
        .await
        .expect("signed in");
    let r = exchange(&app, &code, None).await.expect(200);
    assert_eq!(r.body["second_factor"], true);
    // No MFA at the provider: a session without the second factor, unless the user proves
    // their Keyholder key at the exchange.
    let code = sign_in(&app, &counts, "alice").await.expect("signed in");
    let r = exchange(&app, &code, None).await.expect(200);
    assert_eq!(r.body["second_factor"], false);
    let code = sign_in(&app, &counts, "alice").await.expect("signed in");
    exchange(&app, &code, Some("000000"))
        .await
        .problem(401, "invalid_second_factor");
    let code = sign_in(&app, &counts, "alice").await.expect("signed in");
    let r = exchange(&app, &code, Some(&crate::harness::code(&secret, 30)))
        .await
        .expect(200);
    assert_eq!(r.body["second_factor"], true);
    // The org does not count this provider's MFA.
    app.patch(
        &format!("/v1/orgs/hill/identity-providers/{counts}"),
        &admin,
        json!({"mfa_counts": false}),
    )
    .await
    .expect(200);
    let code = sign_in(&app, &counts, "alice+mfa")
        .await
        .expect("signed in");
    let r = exchange(&app, &code, None).await.expect(200);
    assert_eq!(r.body["second_factor"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_password_login_off_needs_an_admin_who_can_sign_in_through_the_provider() {
    let p = provider(&[]);
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let pid = add_provider(&app, &admin, &p, json!({})).await;
    app.user(&org, &admin, "t@hill.school", "Teachers").await;
    // No admin is linked: turning passwords off would lock everyone out.
    app.patch(
        "/v1/orgs/hill/settings",
        &admin,
        json!({"password_login": "off"}),
    )
    .await
    .problem(409, "no_sso_admin");
    // Sessions opened by password before the change.
    let teacher_session = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    let admin_elsewhere = app.token("hill", &org.admin_email, ADMIN_PASSWORD).await;
    // Admins only (break-glass): staff are told to use SSO, the admin still signs in.
    let r = app
        .patch(
            "/v1/orgs/hill/settings",
            &admin,
            json!({"password_login": "admins_only"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["password_login"], "admins_only");
    // What passwords may no longer open is closed at once; an admin's password session stays.
    app.get("/v1/me", &teacher_session)
        .await
        .problem(401, "unauthenticated");
    app.get("/v1/me", &admin_elsewhere).await.expect(200);
    app.login("hill", "t@hill.school", ADMIN_PASSWORD, None)
        .await
        .problem(403, "password_login_off");
    // A wrong password is still only a wrong password.
    app.login("hill", "t@hill.school", "wrong password", None)
        .await
        .problem(401, "invalid_credentials");
    app.admin_login(&org).await.expect(200);
    // The admin signs in through the provider once (linked by SCIM's id); then passwords can go.
    provisioned(&app, &org.admin_id.to_string(), "dsl").await;
    let code = sign_in(&app, &pid, "dsl")
        .await
        .expect("the admin signs in");
    let r = exchange(&app, &code, None).await.expect(200);
    let sso_session = r.body["access_token"].as_str().unwrap().to_owned();
    // The token says how it was opened (RFC 8176): through a federation, not a password.
    assert_eq!(claims_of(&sso_session)["amr"], json!(["fed"]));
    assert_eq!(claims_of(&admin)["amr"][0], "pwd");
    app.patch(
        "/v1/orgs/hill/settings",
        &admin,
        json!({"password_login": "off"}),
    )
    .await
    .expect(200);
    // Off: every password session ends but the caller's own (mid-change); SSO ones stay.
    app.get("/v1/me", &admin_elsewhere)
        .await
        .problem(401, "unauthenticated");
    app.get("/v1/me", &admin).await.expect(200);
    app.get("/v1/me", &sso_session).await.expect(200);
    app.admin_login(&org)
        .await
        .problem(403, "password_login_off");
    // The provider cannot be removed while it is the only way in.
    app.call(
        reqwest::Method::DELETE,
        &format!("/v1/orgs/hill/identity-providers/{pid}"),
        Some(&admin),
        None,
    )
    .await
    .problem(409, "last_admin");
    let changed = app.audit(&org, &admin, "org.settings_changed").await;
    assert_eq!(changed[0]["changes"]["password_login"][1], "off");
    // Off ended the admin's other password sessions (this test opened several); admins only,
    // the teacher's one.
    assert!(changed[0]["changes"]["sessions_ended"].as_u64() >= Some(1));
    assert_eq!(changed[1]["changes"]["sessions_ended"], 1);
    // AU1: a password refused for the setting is audited.
    let refused = app.audit(&org, &admin, "auth.login_refused").await;
    assert_eq!(refused[0]["changes"]["reason"], "password_login_off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_by_default_an_issuer_must_be_https_even_on_loopback() {
    let (app, _, admin) = TestApp::hill().await;
    let r = app
        .post(
            "/v1/orgs/hill/identity-providers",
            Some(&admin),
            json!({"kind": "oidc", "name": "Local", "issuer": "http://127.0.0.1:8080",
                   "client_id": "c", "client_secret": "s", "return_urls": [FRONTEND]}),
        )
        .await
        .expect(422);
    assert_eq!(
        r.field_codes(),
        [("issuer".to_owned(), "invalid_url".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_identity_providers_are_admins_only_and_checked_field_by_field() {
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let teacher = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    app.get("/v1/orgs/hill/identity-providers", &teacher)
        .await
        .problem(403, "permission_denied");
    let r = app
        .post(
            "/v1/orgs/hill/identity-providers",
            Some(&admin),
            json!({
                "kind": "oidc", "name": "", "issuer": "http://id.example.com",
                "client_id": "", "client_secret": "s", "return_urls": ["javascript:x"],
                "allowed_domains": ["not a domain"]
            }),
        )
        .await
        .expect(422);
    let mut fields: Vec<String> = r.field_codes().into_iter().map(|(f, _)| f).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "allowed_domains[0]",
            "client_id",
            "issuer",
            "name",
            "return_urls[0]"
        ]
    );
    app.post(
        "/v1/orgs/hill/identity-providers",
        Some(&admin),
        json!({"kind": "entra", "name": "Entra", "client_id": "c", "client_secret": "s",
               "return_urls": ["https://app.hill.school/sso"]}),
    )
    .await
    .expect(422);
    let r = app
        .post(
            "/v1/orgs/hill/identity-providers",
            Some(&admin),
            json!({"kind": "entra", "name": "Entra", "tenant_id": "9188040d-6c67-4c5b-b112-36a304b66dad",
                   "client_id": "c", "client_secret": "s", "return_urls": ["https://app.hill.school/sso"]}),
        )
        .await
        .expect(201);
    assert_eq!(
        r.body["issuer"],
        "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
    );
    let created = app.audit(&org, &admin, "identity_provider.created").await;
    assert_eq!(created.len(), 1);
    assert!(
        !created[0].to_string().contains("\"s\""),
        "no secret in the audit"
    );
    assert_eq!(
        app.get("/v1/orgs/hill/identity-providers", &admin)
            .await
            .expect(200)
            .body["total"],
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_a_code_read_from_the_url_is_worth_nothing_without_the_browser_that_signed_in() {
    let p = provider(&[]);
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let pid = add_provider(&app, &admin, &p, json!({})).await;
    let teacher = app
        .user(&org, &admin, "alice@hill.school", "Teachers")
        .await;
    provisioned(&app, &teacher, "alice").await;
    let signed = sign_in(&app, &pid, "alice").await.expect("signed in");
    // Someone who saw the URL (a proxy's log, the history, a Referer) but has no cookie.
    exchange_from(&app, &browser(), json!({"code": signed.code}))
        .await
        .problem(400, "sso_invalid_code");
    // Another browser's cookie is no way round it either.
    let other = sign_in(&app, &pid, "alice").await.expect("signed in again");
    exchange_from(&app, &other.browser, json!({"code": signed.code}))
        .await
        .problem(400, "sso_invalid_code");
    // The code stays for the browser that signed in; the exchange ends the flow's cookie.
    let r = exchange(&app, &signed, None).await.expect(200);
    let cookie = r.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("kh_sso=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
    assert_eq!(r.headers["cache-control"], "no-store");
    exchange(&app, &signed, None)
        .await
        .problem(400, "sso_invalid_code");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_a2_a_wrong_key_at_the_exchange_keeps_the_code_and_a_password_spray_locks_no_sso_user_out()
 {
    let p = provider(&[]);
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let pid = add_provider(&app, &admin, &p, json!({})).await;
    let teacher = app
        .user(&org, &admin, "alice@hill.school", "Teachers")
        .await;
    provisioned(&app, &teacher, "alice").await;
    let secret = app
        .enrol_key("hill", "alice@hill.school", ADMIN_PASSWORD)
        .await;
    // Someone sprays passwords at her login until it locks.
    for _ in 0..6 {
        let r = app
            .login("hill", "alice@hill.school", "wrong password here", None)
            .await;
        assert!(matches!(r.status.as_u16(), 401 | 429), "{}", r.status);
    }
    app.login("hill", "alice@hill.school", ADMIN_PASSWORD, None)
        .await
        .problem(429, "account_locked");
    // She still signs in through the provider; a mistyped key does not spend the code.
    let signed = sign_in(&app, &pid, "alice").await.expect("signed in");
    exchange(&app, &signed, Some("000000"))
        .await
        .problem(401, "invalid_second_factor");
    let r = exchange(&app, &signed, Some(&crate::harness::code(&secret, 30)))
        .await
        .expect(200);
    assert_eq!(r.body["second_factor"], true);
    // AU1: the wrong key is audited against her account.
    let failed = app.audit(&org, &admin, "auth.login_failed").await;
    assert!(
        failed.iter().any(
            |e| e["changes"]["reason"] == "second_factor" && e["target_id"] == teacher.as_str()
        ),
        "{failed:?}"
    );
    // Guessing keys at the exchange locks the exchange's own counter.
    let signed = sign_in(&app, &pid, "alice").await.expect("signed in");
    for _ in 0..5 {
        exchange(&app, &signed, Some("000000"))
            .await
            .problem(401, "invalid_second_factor");
    }
    exchange(&app, &signed, Some("000000"))
        .await
        .problem(429, "account_locked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_return_to_that_a_browser_could_read_two_ways_is_refused_not_a_500() {
    let p = provider(&[]);
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let pid = add_provider(&app, &admin, &p, json!({})).await;
    for bad in [
        format!("{FRONTEND}\r\nSet-Cookie: x=1"),
        format!("{FRONTEND}/../../admin"),
        format!("{FRONTEND}/%2e%2e/admin"),
        format!("{FRONTEND}/%2E%2E%2Fadmin"),
        format!("{FRONTEND}\\..\\admin"),
        "http://127.0.0.1:9\\@evil.example/app/sso".to_owned(),
        format!("{FRONTEND}/ok\tx"),
        "http://user@127.0.0.1:9/app/sso".to_owned(),
        "http://127.0.0.1:9/app/ssoevil".to_owned(),
        "http://127.0.0.1:99/app/sso".to_owned(),
        format!("{FRONTEND}/..;/admin"),
        format!("{FRONTEND}/x;jsessionid=1"),
        // What the flow adds cannot be planted for the frontend to read first.
        format!("{FRONTEND}?sso_code=planted"),
        format!("{FRONTEND}/done?error=x"),
    ] {
        let r = browser()
            .get(format!(
                "{}/v1/auth/sso/hill/{pid}/start?return_to={}",
                app.base,
                form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 422, "{bad:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], "return_to", "{bad:?}");
        assert_eq!(body["errors"][0]["code"], "not_allowed", "{bad:?}");
    }
    // Under the allowed path, with a query and a fragment: the code goes in the query.
    let b = browser();
    let r = b
        .get(format!(
            "{}/v1/auth/sso/hill/{pid}/start?return_to={}",
            app.base,
            form_urlencoded::byte_serialize(format!("{FRONTEND}/done?tab=1#top").as_bytes())
                .collect::<String>()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let teacher = app
        .user(&org, &admin, "alice@hill.school", "Teachers")
        .await;
    provisioned(&app, &teacher, "alice").await;
    let authorize = r.headers()["location"].to_str().unwrap().to_owned();
    let url = through_provider(&app, &b, &authorize, "alice", |u| u).await;
    let landed = callback(&b, &url).await.expect("to the frontend");
    let (page, fragment) = landed.split_once('#').expect("the fragment kept");
    assert_eq!(fragment, "top");
    assert!(page.starts_with(&format!("{FRONTEND}/done?")), "{landed}");
    assert_eq!(query_param(page, "tab").as_deref(), Some("1"));
    let code = query_param(page, "sso_code").expect("the code in the query, not the fragment");
    let signed = Signed { code, browser: b };
    let r = exchange(&app, &signed, None).await.expect(200);
    assert!(r.body["access_token"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_g5_with_passwords_off_the_last_admin_who_can_sign_in_stays() {
    let p = provider(&[]);
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let pid = add_provider(&app, &admin, &p, json!({"mfa_counts": true})).await;
    // A second admin, not linked: still an active admin, but one who cannot sign in.
    let other = app
        .user(
            &org,
            &admin,
            "head@hill.school",
            "DSL / Child Protection Team",
        )
        .await;
    provisioned(&app, &org.admin_id.to_string(), "dsl").await;
    let signed = sign_in(&app, &pid, "dsl+mfa")
        .await
        .expect("the admin signs in");
    let r = exchange(&app, &signed, None).await.expect(200);
    assert_eq!(r.body["second_factor"], true);
    let sso_admin = r.body["access_token"].as_str().unwrap().to_owned();
    app.patch(
        "/v1/orgs/hill/settings",
        &admin,
        json!({"password_login": "off"}),
    )
    .await
    .expect(200);
    // The only admin who can sign in cannot be deactivated (though another admin is active).
    app.post(
        &format!("/v1/orgs/hill/users/{}/deactivate", org.admin_id),
        Some(&sso_admin),
        json!({}),
    )
    .await
    .problem(409, "last_admin");
    // Nor can the provider be pointed at another issuer, which drops the links.
    app.patch(
        &format!("/v1/orgs/hill/identity-providers/{pid}"),
        &sso_admin,
        json!({"client_id": "another-client"}),
    )
    .await
    .problem(409, "last_admin");
    // Nor can that admin remove their own link.
    app.call(
        reqwest::Method::DELETE,
        &format!("/v1/me/sso-links/{pid}"),
        Some(&sso_admin),
        None,
    )
    .await
    .problem(409, "last_admin");
    // The other admin may go: the linked one remains.
    app.deactivate("hill", &sso_admin, other).await;
    // With passwords back on, a client change drops the links, audited; the next sign-in
    // links again by SCIM's id.
    app.patch(
        "/v1/orgs/hill/settings",
        &sso_admin,
        json!({"password_login": "all"}),
    )
    .await
    .expect(200);
    let r = app
        .patch(
            &format!("/v1/orgs/hill/identity-providers/{pid}"),
            &sso_admin,
            json!({"issuer": format!("{}/", p.issuer)}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["issuer"], p.issuer.trim_end_matches('/'));
    let updated = app.audit(&org, &admin, "identity_provider.updated").await;
    assert_eq!(updated[0]["changes"]["links_dropped"], 0, "same issuer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_a_member_links_their_own_account_and_an_admin_can_unlink_it() {
    let smtp = crate::smtp::SmtpServer::running().await;
    let url = smtp.url();
    let p = provider(&[]);
    let app = TestApp::spawn_with(move |s| {
        s.domain.sso_redirect_uri = Some(CALLBACK.into());
        s.domain.sso_allow_http_loopback = true;
        s.smtp_url = Some(url);
    })
    .await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let pid = add_provider(&app, &admin, &p, json!({})).await;
    let teacher = app
        .user(&org, &admin, "carol@hill.school", "Teachers")
        .await;
    app.user(&org, &admin, "dave@hill.school", "Teachers").await;
    // Not provisioned over SCIM: nothing links her yet.
    assert_eq!(
        sign_in(&app, &pid, "carol-g").await,
        Err("sso_account_not_linked".into())
    );
    let token = app.token("hill", "carol@hill.school", ADMIN_PASSWORD).await;
    let link = |password: &str| json!({"provider_id": pid, "return_to": FRONTEND, "current_password": password});
    // A session alone does not add a way in: her password first.
    let r = app
        .post("/v1/me/sso-links", Some(&token), link("not her password"))
        .await
        .expect(422);
    assert_eq!(
        r.field_codes(),
        [("current_password".to_owned(), "wrong_password".to_owned())]
    );
    app.post(
        "/v1/me/sso-links",
        Some(&token),
        json!({"provider_id": uuid::Uuid::new_v4(), "return_to": FRONTEND,
               "current_password": ADMIN_PASSWORD}),
    )
    .await
    .problem(404, "not_found");
    // From her browser: the answer sets the flow's cookie; the browser goes to the provider.
    let start = |b: reqwest::Client, token: String| {
        let body = link(ADMIN_PASSWORD);
        let base = app.base.clone();
        async move {
            let r = b
                .post(format!("{base}/v1/me/sso-links"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("link");
            assert_eq!(r.status().as_u16(), 200);
            let v: Value = r.json().await.expect("json");
            v["location"].as_str().expect("location").to_owned()
        }
    };
    let b = browser();
    let authorize = start(b.clone(), token.clone()).await;
    // Another browser cannot finish her flow (it lacks the cookie).
    let stranger = browser();
    let url = through_provider(&app, &stranger, &authorize, "carol-g", |u| u).await;
    let (status, body) = callback(&stranger, &url)
        .await
        .expect_err("another browser");
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("sso_invalid_state"))
    );
    let authorize = start(b.clone(), token.clone()).await;
    let url = through_provider(&app, &b, &authorize, "carol-g", |u| u).await;
    let landed = callback(&b, &url).await.expect("to the frontend");
    assert_eq!(
        query_param(&landed, "sso_linked").as_deref(),
        Some(pid.as_str())
    );
    // She now signs in through the provider.
    let signed = sign_in(&app, &pid, "carol-g").await.expect("linked");
    let r = exchange(&app, &signed, None).await.expect(200);
    let t = r.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/v1/me", &t).await.expect(200).body["id"],
        teacher.as_str()
    );
    let mine = app.get("/v1/me/sso-links", &token).await.expect(200);
    assert_eq!(mine.body["total"], 1);
    assert_eq!(mine.body["items"][0]["subject"], "carol-g");
    assert_eq!(mine.body["items"][0]["provider_name"], "Hill's provider");
    // She is told at her address.
    let mails = smtp.wait_for(1).await;
    assert!(
        mails
            .iter()
            .any(|m| m.to.iter().any(|t| t.contains("carol@hill.school"))
                && m.text().contains("Hill's provider")),
        "{mails:?}"
    );
    // With a key enrolled, only a session that proved it adds a way in (G2): a known
    // password alone does not.
    let dave_password_only = app.token("hill", "dave@hill.school", ADMIN_PASSWORD).await;
    let dave = app
        .token_with_key("hill", "dave@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    app.post(
        "/v1/me/sso-links",
        Some(&dave_password_only),
        link(ADMIN_PASSWORD),
    )
    .await
    .problem(403, "second_factor_required");
    // Nobody else can take the same provider account.
    let b2 = browser();
    let authorize = start(b2.clone(), dave).await;
    let url = through_provider(&app, &b2, &authorize, "carol-g", |u| u).await;
    let landed = callback(&b2, &url).await.expect("to the frontend");
    assert_eq!(
        query_param(&landed, "error").as_deref(),
        Some("sso_identity_in_use")
    );
    // AU1: linked by its owner, and refused.
    let linked = app.audit(&org, &admin, "auth.sso_linked").await;
    assert_eq!(linked[0]["changes"]["by"], "owner");
    let refused = app.audit(&org, &admin, "auth.sso_refused").await;
    assert_eq!(refused[0]["changes"]["reason"], "sso_identity_in_use");
    // An admin sees the link and removes it; the provider account no longer signs her in.
    let listed = app
        .get(&format!("/v1/orgs/hill/users/{teacher}/sso-links"), &admin)
        .await
        .expect(200);
    assert_eq!(listed.body["items"][0]["provider_id"], pid.as_str());
    let path = format!("/v1/orgs/hill/users/{teacher}/sso-links/{pid}");
    // A teacher cannot remove another account's link.
    app.call(reqwest::Method::DELETE, &path, Some(&t), None)
        .await
        .problem(403, "permission_denied");
    app.call(reqwest::Method::DELETE, &path, Some(&admin), None)
        .await
        .expect(204);
    // What the link opened goes with it: her session from the provider ends at once, and
    // she is told.
    app.get("/v1/me", &t).await.problem(401, "unauthenticated");
    let mails = smtp.wait_for(2).await;
    assert!(
        mails.iter().any(|m| m
            .text()
            .contains("can no longer be signed in to through Hill's provider")),
        "{mails:?}"
    );
    app.call(reqwest::Method::DELETE, &path, Some(&admin), None)
        .await
        .problem(404, "not_found");
    assert_eq!(
        sign_in(&app, &pid, "carol-g").await,
        Err("sso_account_not_linked".into())
    );
    let unlinked = app.audit(&org, &admin, "auth.sso_unlinked").await;
    assert_eq!(unlinked[0]["changes"]["subject"], "carol-g");
    assert_eq!(unlinked[0]["changes"]["sessions_ended"], 1);
    // A teacher cannot read other accounts' links; another org's admin finds no such account.
    app.get(&format!("/v1/orgs/hill/users/{teacher}/sso-links"), &token)
        .await
        .problem(403, "permission_denied");
    let dale = app.org("dale").await;
    let dale_admin = app.admin(&dale).await;
    app.get(
        &format!("/v1/orgs/dale/users/{teacher}/sso-links"),
        &dale_admin,
    )
    .await
    .problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_no_issuer_may_aim_keyholder_at_a_private_or_loopback_address() {
    // Production settings: HTTPS only, and only to public addresses.
    let (app, _, admin) = TestApp::hill().await;
    for issuer in [
        "https://127.0.0.1:8443",
        "https://localhost",
        "https://10.1.2.3",
        "https://192.168.0.1",
        "https://169.254.169.254",
        "https://100.64.0.1",
        "https://[::1]",
        "https://[fd00::1]",
        "https://[::ffff:169.254.169.254]",
        "https://[fe80::1]",
        "https://0.0.0.0",
        "https://id.example\\@10.0.0.1",
    ] {
        let r = app
            .post(
                "/v1/orgs/hill/identity-providers",
                Some(&admin),
                json!({"kind": "oidc", "name": "Inside", "issuer": issuer,
                       "client_id": "c", "client_secret": "s", "return_urls": [FRONTEND]}),
            )
            .await
            .expect(422);
        assert_eq!(
            r.field_codes(),
            [("issuer".to_owned(), "invalid_url".to_owned())],
            "{issuer}"
        );
    }
    // A name is held to the same rule after DNS: `localhost` leads to no public address.
    let http = keyholder::oidc_http::ReqwestOidc::new(false).expect("client");
    use keyholder_domain::sso::OidcHttp;
    let err = http
        .get_json("https://localhost:1/.well-known/openid-configuration")
        .await
        .expect_err("refused before connecting");
    assert!(err.contains("no public address"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_an_unreachable_provider_is_a_502_that_tells_nothing_of_the_network() {
    let app = app().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    // Nothing listens on this loopback port.
    let port = crate::smtp::free_port();
    let r = app
        .post(
            "/v1/orgs/hill/identity-providers",
            Some(&admin),
            json!({"kind": "oidc", "name": "Down", "issuer": format!("http://127.0.0.1:{port}"),
                   "client_id": "c", "client_secret": "s", "return_urls": [FRONTEND]}),
        )
        .await
        .expect(201);
    let pid = r.body["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let r = browser()
            .get(format!(
                "{}/v1/auth/sso/hill/{pid}/start?return_to={}",
                app.base,
                form_urlencoded::byte_serialize(FRONTEND.as_bytes()).collect::<String>()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 502);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "identity_provider_unavailable");
        // A fixed text: not the address, not the connection error.
        assert_eq!(
            body["detail"],
            "the identity provider could not be reached or answered nonsense; try again later"
        );
    }
}
