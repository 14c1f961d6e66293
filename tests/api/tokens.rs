//! Access tokens: signing keys named by `kid` and rotated with two valid at once; sessions
//! ended on one replica are ended on every replica at once.

use crate::harness::*;
use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

fn header(token: &str) -> Value {
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h)
            .unwrap(),
    )
    .unwrap()
}

async fn me(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    http.get(format!("{base}/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_keeps_the_previous_key_valid_and_retires_the_one_before() {
    let (app, org) = TestApp::with_hill().await;
    let first = app.admin(&org).await;
    let h = header(&first);
    assert_eq!(h["alg"], "EdDSA");
    assert_eq!(h["typ"], "at+jwt");
    let first_kid = h["kid"].as_str().unwrap().to_owned();
    let (ok, out) = app.command(&["keys", "rotate"]);
    assert!(ok, "{out}");
    let second_kid = out["kid"].as_str().unwrap().to_owned();
    assert_ne!(second_kid, first_kid);
    assert_eq!(out["retired"], json!([]));
    // New tokens carry the new key; the old token still works until it expires.
    let second = app.token("hill", &org.admin_email, ADMIN_PASSWORD).await;
    assert_eq!(header(&second)["kid"], second_kid.as_str());
    assert_eq!(me(&app.http, &app.base, &first).await, 200);
    assert_eq!(me(&app.http, &app.base, &second).await, 200);
    // A second rotation retires the first key: its tokens stop at once.
    let (ok, out) = app.command(&["keys", "rotate"]);
    assert!(ok, "{out}");
    assert_eq!(out["retired"], json!([first_kid]));
    // The command is another process: the server hears of it (PostgreSQL) or holds the keys
    // no longer than the bound (SQLite).
    me_within_bound(&app.http, &app.base, &first, 401).await;
    assert_eq!(me(&app.http, &app.base, &second).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_another_algorithm_or_an_unknown_key_is_refused() {
    let (app, org) = TestApp::with_hill().await;
    let token = app.admin(&org).await;
    let parts: Vec<&str> = token.split('.').collect();
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    for h in [
        r#"{"alg":"none","typ":"at+jwt"}"#.to_owned(),
        format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{}"}}"#, "nope"),
        r#"{"alg":"HS256","typ":"JWT"}"#.to_owned(),
    ] {
        let forged = format!("{}.{}.{}", b64(&h), parts[1], parts[2]);
        let r = app.get("/v1/me", &forged).await;
        r.problem(401, "unauthenticated");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_and_deactivation_end_sessions_on_every_replica_at_once() {
    let (app, org, admin) = TestApp::hill().await;
    let other = app.replica().await;
    app.user(&org, &admin, "t@hill.school", "Teachers").await;
    // Logout on the first replica; the token stops on the second.
    let t = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    assert_eq!(me(&app.http, &other.base, &t).await, 200);
    app.call(Method::POST, "/v1/auth/logout", Some(&t), Some(json!({})))
        .await
        .expect(204);
    me_within_bound(&app.http, &other.base, &t, 401).await;
    // Deactivation on the second replica; the token stops on the first.
    let t = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    let id = app.get("/v1/me", &t).await.expect(200).body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .http
        .post(format!("{}/v1/orgs/hill/users/{id}/deactivate", other.base))
        .bearer_auth(&admin)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    me_within_bound(&app.http, &app.base, &t, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_the_other_sessions_and_wrong_current_passwords_lock() {
    let (app, org, admin) = TestApp::hill().await;
    app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let here = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    let elsewhere = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    app.post(
        "/v1/me/password",
        Some(&here),
        json!({"current_password": ADMIN_PASSWORD, "new_password": "a fresh pass phrase for term"}),
    )
    .await
    .expect(204);
    assert_eq!(
        me(&app.http, &app.base, &here).await,
        200,
        "this session stays"
    );
    assert_eq!(me(&app.http, &app.base, &elsewhere).await, 401);
    let changed = app.audit(&org, &admin, "user.password_changed").await;
    assert_eq!(changed[0]["changes"]["other_sessions_ended"], 1);
    // Guessing the current password through this door counts toward the account's lock.
    for _ in 0..5 {
        app.post(
            "/v1/me/password",
            Some(&here),
            json!({"current_password": "a guess at the password", "new_password": "another pass phrase entirely"}),
        )
        .await
        .problem(422, "validation_failed");
    }
    app.post(
        "/v1/me/password",
        Some(&here),
        json!({"current_password": "a fresh pass phrase for term", "new_password": "another pass phrase entirely"}),
    )
    .await
    .problem(429, "account_locked");
    app.login(
        "hill",
        "t@hill.school",
        "a fresh pass phrase for term",
        None,
    )
    .await
    .problem(429, "account_locked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_ends_every_session_of_an_account_on_every_replica() {
    let (app, org, admin) = TestApp::hill().await;
    let other = app.replica().await;
    let id = app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let a = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    let b = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    app.post(
        &format!("/v1/orgs/hill/users/{id}/end-sessions"),
        Some(&admin),
        json!({}),
    )
    .await
    .expect(200);
    assert_eq!(me(&app.http, &app.base, &a).await, 401);
    assert_eq!(me(&app.http, &other.base, &b).await, 401);
    let ended = app.audit(&org, &admin, "user.sessions_ended").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["target_id"], id.as_str());
    assert_eq!(ended[0]["actor_id"], org.admin_id.to_string());
    // The account itself is untouched: the user signs in again.
    app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    // A teacher cannot end anyone's sessions (G1).
    let t = app
        .token_with_key("hill", "t@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    app.post(
        &format!("/v1/orgs/hill/users/{}/end-sessions", org.admin_id),
        Some(&t),
        json!({}),
    )
    .await
    .problem(403, "permission_denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_sees_where_they_are_signed_in_and_ends_a_session_left_open() {
    let (app, org, admin) = TestApp::hill().await;
    app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let classroom = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    let phone = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    let list = app.get("/v1/me/sessions", &phone).await.expect(200);
    let sessions = list.body["items"].as_array().unwrap().clone();
    assert_eq!(list.body["total"], 2);
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["current"], true, "newest first: this one");
    assert_eq!(sessions[1]["current"], false);
    let left_open = sessions[1]["id"].as_str().unwrap().to_owned();
    app.call(
        Method::DELETE,
        &format!("/v1/me/sessions/{left_open}"),
        Some(&phone),
        None,
    )
    .await
    .expect(204);
    assert_eq!(me(&app.http, &app.base, &classroom).await, 401);
    assert_eq!(me(&app.http, &app.base, &phone).await, 200);
    // Another account's session is not found, exactly like a missing one.
    let admins = app.get("/v1/me/sessions", &admin).await.expect(200);
    let theirs = admins.body["items"][0]["id"].as_str().unwrap().to_owned();
    app.call(
        Method::DELETE,
        &format!("/v1/me/sessions/{theirs}"),
        Some(&phone),
        None,
    )
    .await
    .problem(404, "not_found");
    assert_eq!(me(&app.http, &app.base, &admin).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_not_refreshed_within_its_idle_time_ends() {
    let app = TestApp::spawn_with(|s| s.domain.session_idle_secs = 1).await;
    let org = app.org("hill").await;
    let r = app.admin_login(&org).await.expect(200);
    let refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
    // Refreshed in time: a new pair, whose refresh token is again good for the idle time.
    let again = app
        .post("/v1/auth/refresh", None, json!({"refresh_token": refresh}))
        .await
        .expect(200);
    let refresh = again.body["refresh_token"].as_str().unwrap().to_owned();
    let access = again.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/v1/me/sessions", &access).await.expect(200).body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    app.post("/v1/auth/refresh", None, json!({"refresh_token": refresh}))
        .await
        .problem(401, "invalid_refresh_token");
    // An idle session is no longer listed as a place one is signed in.
    let listed = app.get("/v1/me/sessions", &access).await.expect(200);
    assert_eq!(listed.body["items"], json!([]));
    assert_eq!(listed.body["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_ends_every_session_in_the_org_but_their_own() {
    let (app, org) = TestApp::with_hill().await;
    let dale = app.org("dale").await;
    let admin = app.admin(&org).await;
    app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let teacher = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    let elsewhere = app.token("hill", &org.admin_email, ADMIN_PASSWORD).await;
    let other_org = app.token("dale", &dale.admin_email, ADMIN_PASSWORD).await;
    let r = app
        .post("/v1/orgs/hill/sessions/end-all", Some(&admin), json!({}))
        .await
        .expect(200);
    assert!(r.body["sessions_ended"].as_u64().unwrap() >= 2);
    assert_eq!(me(&app.http, &app.base, &teacher).await, 401);
    assert_eq!(me(&app.http, &app.base, &elsewhere).await, 401);
    assert_eq!(
        me(&app.http, &app.base, &admin).await,
        200,
        "the caller's stays"
    );
    assert_eq!(
        me(&app.http, &app.base, &other_org).await,
        200,
        "T1: only this org"
    );
    let audit = app.audit(&org, &admin, "org.sessions_ended").await;
    assert_eq!(
        audit[0]["changes"]["sessions_ended"],
        r.body["sessions_ended"]
    );
    // Admins only (G1).
    let t = app
        .token_with_key("hill", "t@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    app.post("/v1/orgs/hill/sessions/end-all", Some(&t), json!({}))
        .await
        .problem(403, "permission_denied");
}

/// Polls until `f` holds (a change made by another process reaches the server within the
/// auth cache's bound), for at most five seconds.
async fn eventually<F, Fut>(f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if f().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("not within five seconds");
}

/// The claims of a token, unverified (the test compares what the server signed).
fn payload(token: &str) -> Value {
    let p = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a9_a_sibling_verifies_an_access_token_with_only_the_published_keys() {
    let (app, org) = TestApp::with_hill().await;
    let token = app.token("hill", &org.admin_email, ADMIN_PASSWORD).await;
    // No credentials: the keys are public.
    let r = app
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .expect(200);
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(r.body.clone()).unwrap();
    assert!(
        !r.body.to_string().contains("\"d\""),
        "no private part is published"
    );
    let kid = header(&token)["kid"].as_str().unwrap().to_owned();
    let jwk = set.find(&kid).expect("the token's key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_issuer(&["keyholder"]);
    v.set_audience(&["keyholder-api"]);
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &v)
        .expect("verifies with the JWKS alone")
        .claims;
    assert_eq!(claims["sub"], org.admin_id.to_string());
    assert_eq!(claims["org_slug"], "hill");
    // At rest the private key is sealed with the data key: a copy of the database signs nothing.
    {
        use sea_orm::{ConnectionTrait, Statement};
        let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
        let backend = db.get_database_backend();
        let sql = match backend {
            sea_orm::DbBackend::Postgres => "SELECT secret FROM signing_keys WHERE name = $1",
            _ => "SELECT secret FROM signing_keys WHERE name = ?",
        };
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [kid.clone().into()],
            ))
            .await
            .unwrap()
            .expect("the key's row");
        let secret: Vec<u8> = row.try_get("", "secret").unwrap();
        assert!(secret.starts_with(b"v1."), "sealed, not a raw seed");
    }
    // A token whose signature is altered does not, here or at the server.
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .unwrap();
    bytes[10] ^= 1;
    let forged = format!(
        "{signed}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes)
    );
    assert!(jsonwebtoken::decode::<Value>(&forged, &key, &v).is_err());
    app.get("/v1/me", &forged)
        .await
        .problem(401, "unauthenticated");
    // After a rotation both keys are published; after the next, the first is gone.
    let (ok, _) = app.command(&["keys", "rotate"]);
    assert!(ok);
    let (ok, _) = app.command(&["keys", "rotate"]);
    assert!(ok);
    eventually(|| async {
        let r = app
            .call(Method::GET, "/.well-known/jwks.json", None, None)
            .await
            .expect(200);
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(r.body).unwrap();
        set.keys.len() == 2 && set.find(&kid).is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a9_tokens_signed_by_a_key_from_before_verify_until_it_retires_and_no_key_is_confused() {
    use sea_orm::{ConnectionTrait, Statement};
    let (app, org) = TestApp::with_hill().await;
    let token = app.token("hill", &org.admin_email, ADMIN_PASSWORD).await;
    // An HS256 key as the service kept them before A9, and a token it signed for this session.
    let secret = b"a-key-from-before-ed25519-came-in-0123456789";
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "INSERT INTO signing_keys (name, secret, alg, created_at, retired) VALUES ($1, $2, 'HS256', 0, false)"
        }
        _ => {
            "INSERT INTO signing_keys (name, secret, alg, created_at, retired) VALUES (?, ?, 'HS256', 0, false)"
        }
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        ["old-hs256".into(), secret.to_vec().into()],
    ))
    .await
    .unwrap();
    let claims = payload(&token);
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.typ = Some("at+jwt".into());
    h.kid = Some("old-hs256".into());
    let old =
        jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_secret(secret)).unwrap();
    eventually(|| async { me(&app.http, &app.base, &old).await == 200 }).await;
    // It is never published, and new tokens are EdDSA.
    let r = app
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .expect(200);
    assert!(!r.body.to_string().contains("old-hs256"));
    assert_eq!(
        header(&app.token("hill", &org.admin_email, ADMIN_PASSWORD).await)["alg"],
        "EdDSA"
    );
    // Key confusion: the Ed25519 key's public half used as an HMAC secret verifies nothing.
    let kid = header(&token)["kid"].as_str().unwrap().to_owned();
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(r.body).unwrap();
    let x = match &set.find(&kid).unwrap().algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(p) => p.x.clone(),
        other => panic!("an OKP key, not {other:?}"),
    };
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.typ = Some("at+jwt".into());
    h.kid = Some(kid);
    for secret in [
        x.as_bytes().to_vec(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&x)
            .unwrap(),
    ] {
        let forged = jsonwebtoken::encode(
            &h,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        app.get("/v1/me", &forged)
            .await
            .problem(401, "unauthenticated");
    }
    // A rotation retires the key from before with the rest but the newest two Ed25519 keys.
    let (ok, out) = app.command(&["keys", "rotate"]);
    assert!(ok, "{out}");
    assert_eq!(out["retired"], json!(["old-hs256"]));
    eventually(|| async { me(&app.http, &app.base, &old).await == 401 }).await;
    assert_eq!(me(&app.http, &app.base, &token).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a9_a_token_checked_once_is_refused_once_it_has_expired() {
    let app = TestApp::spawn_with(|s| s.domain.access_ttl_secs = 1).await;
    let org = app.org("hill").await;
    let token = app.token("hill", &org.admin_email, ADMIN_PASSWORD).await;
    // Checked (and held by this replica) while it is live.
    assert_eq!(me(&app.http, &app.base, &token).await, 200);
    assert_eq!(me(&app.http, &app.base, &token).await, 200);
    // Past its `exp` and the 5 s leeway, holding it does not keep it alive.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    app.get("/v1/me", &token)
        .await
        .problem(401, "unauthenticated");
}

/// `POST /v1/oauth/introspect` as a form, with `key`.
async fn introspect(app: &TestApp, key: &str, form: &[(&str, &str)]) -> Res {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let r = app
        .http
        .post(format!("{}/v1/oauth/introspect", app.base))
        .bearer_auth(key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    Res::read(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a9_introspection_tells_a_service_at_once_when_a_token_stops_being_live() {
    let (app, org, admin) = TestApp::hill().await;
    let teacher = app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let token = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    let key = app.service_key("hill", &admin, "decisions").await;
    // RFC 7662: a live token, with what it says.
    let r = introspect(
        &app,
        &key,
        &[("token", &token), ("token_type_hint", "access_token")],
    )
    .await
    .expect(200);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["sub"], teacher.as_str());
    assert_eq!(r.body["org_slug"], "hill");
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["second_factor"], false);
    assert_eq!(r.body["amr"], json!(["pwd"]));
    assert!(r.body["exp"].as_i64() > r.body["iat"].as_i64());
    assert_eq!(r.headers["cache-control"], "no-store");
    // Deactivated: inactive on the very next call (U5), and nothing else is said.
    app.deactivate("hill", &admin, teacher).await;
    let r = introspect(&app, &key, &[("token", &token)])
        .await
        .expect(200);
    assert_eq!(r.body, json!({"active": false}));
    // Garbage, a refresh token, another org's token: inactive alike.
    let dale = app.org("dale").await;
    let dale_token = app.token("dale", &dale.admin_email, ADMIN_PASSWORD).await;
    let refresh = app.admin_login(&org).await.expect(200).body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for t in ["not a token", refresh.as_str(), dale_token.as_str()] {
        let r = introspect(&app, &key, &[("token", t)]).await.expect(200);
        assert_eq!(r.body, json!({"active": false}), "{t}");
    }
    // Only a key with `decisions`; a person's token is no key; a form, with a token.
    let mis = app.service_key("hill", &admin, "mis.sync").await;
    let r = introspect(&app, &mis, &[("token", &admin)]).await;
    let r = r.problem(403, "permission_denied");
    assert_eq!(r.body["rule"], "A7");
    introspect(&app, &admin, &[("token", &admin)])
        .await
        .problem(403, "permission_denied");
    introspect(&app, &key, &[("nothing", "here")])
        .await
        .problem(400, "malformed_body");
    app.call_with(
        Method::POST,
        "/v1/oauth/introspect",
        Some(&key),
        Some(json!({"token": admin})),
        &[],
    )
    .await
    .problem(415, "unsupported_media_type");
}
