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
    let app = TestApp::spawn().await;
    let org = app.org("hill").await;
    let first = app.admin(&org).await;
    let h = header(&first);
    assert_eq!(h["alg"], "HS256");
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
    assert_eq!(me(&app.http, &app.base, &first).await, 401);
    assert_eq!(me(&app.http, &app.base, &second).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_another_algorithm_or_an_unknown_key_is_refused() {
    let app = TestApp::spawn().await;
    let org = app.org("hill").await;
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
    let app = TestApp::spawn().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let other = app.replica().await;
    app.user(&org, &admin, "t@hill.school", "Teachers").await;
    // Logout on the first replica; the token stops on the second.
    let t = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    assert_eq!(me(&app.http, &other.base, &t).await, 200);
    app.call(Method::POST, "/v1/auth/logout", Some(&t), Some(json!({})))
        .await
        .expect(204);
    assert_eq!(me(&app.http, &other.base, &t).await, 401);
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
    assert_eq!(me(&app.http, &app.base, &t).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_the_other_sessions_and_wrong_current_passwords_lock() {
    let app = TestApp::spawn().await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
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
