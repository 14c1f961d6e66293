//! Abuse: per-address limits on the sign-in, reset and SCIM doors (429 with Retry-After), a
//! lockout that cannot shut an enrolled admin out for good, body limits and security headers.

use crate::harness::*;
use reqwest::Method;
use serde_json::json;

fn retry_after(r: &Res) -> u64 {
    r.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_and_reset_doors_answer_429_with_retry_after_past_their_quota() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limits.sign_in_per_minute = 4;
        s.rate_limits.reset_per_minute = 2;
    })
    .await;
    let org = app.org("hill").await;
    for _ in 0..4 {
        app.login("hill", &org.admin_email, "not the password", None)
            .await
            .problem(401, "invalid_credentials");
    }
    let r = app.admin_login(&org).await.problem(429, "rate_limited");
    assert!((1..=60).contains(&retry_after(&r)), "{:?}", r.headers);
    for _ in 0..2 {
        app.post(
            "/v1/auth/password-reset",
            None,
            json!({"org": "hill", "email": org.admin_email}),
        )
        .await
        .expect(202);
    }
    let r = app
        .post(
            "/v1/auth/password-reset",
            None,
            json!({"org": "hill", "email": org.admin_email}),
        )
        .await
        .problem(429, "rate_limited");
    assert!(retry_after(&r) >= 1);
    // Other doors are not limited by these quotas.
    app.call(Method::GET, "/healthz", None, None)
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scim_door_answers_429_in_scim_s_own_error_shape() {
    let app = TestApp::spawn_with(|s| s.rate_limits.scim_per_minute = 2).await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let key = app.service_key("hill", &admin, "scim").await;
    for _ in 0..2 {
        app.get("/scim/v2/hill/Users", &key).await.expect(200);
    }
    let r = app.get("/scim/v2/hill/Users", &key).await;
    assert_eq!(r.status.as_u16(), 429);
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(r.body["status"], "429");
    assert!(retry_after(&r) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a2_a_locked_admin_gets_in_with_password_and_authenticator_code_and_nothing_less() {
    let (app, org) = TestApp::with_hill().await;
    let secret = app
        .enrol_key("hill", &org.admin_email, ADMIN_PASSWORD)
        .await;
    // Someone fails on purpose until the admin is locked.
    app.fail_five_times("hill", &org.admin_email).await;
    app.admin_login(&org).await.problem(429, "account_locked");
    // While locked, a wrong password or a wrong code is answered as the lock: no oracle.
    app.login(
        "hill",
        &org.admin_email,
        "guessing the password",
        Some(&code(&secret, 30)),
    )
    .await
    .problem(429, "account_locked");
    app.login("hill", &org.admin_email, ADMIN_PASSWORD, Some("000000"))
        .await
        .problem(429, "account_locked");
    // Someone without the password keeps failing with codes: the bypass stays open.
    for _ in 0..8 {
        app.login(
            "hill",
            &org.admin_email,
            "still guessing the password",
            Some("123456"),
        )
        .await
        .problem(429, "account_locked");
    }
    // Both factors pass the lock, and clear it.
    let ok = app
        .login_with_code("hill", &org.admin_email, &secret)
        .await
        .expect(200);
    assert_eq!(ok.body["second_factor"], true);
    app.admin_login(&org).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_security_headers_and_oversized_bodies_are_refused() {
    let (app, org, admin) = TestApp::hill().await;
    for r in [
        app.get("/v1/me", &admin).await,
        app.call(Method::GET, "/v1/me", None, None).await,
        app.call(Method::GET, "/healthz", None, None).await,
    ] {
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
        assert_eq!(r.headers["x-frame-options"], "DENY");
        assert_eq!(r.headers["cache-control"], "no-store");
        assert_eq!(
            r.headers["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'"
        );
        assert!(r.headers.contains_key("strict-transport-security"));
        assert_eq!(r.headers["referrer-policy"], "no-referrer");
    }
    // A body past 16 MiB is refused before it is parsed, and nothing is written.
    let huge = "x".repeat(17 * 1024 * 1024);
    app.post(
        "/v1/orgs/hill/user-groups",
        Some(&admin),
        json!({"name": huge}),
    )
    .await
    .problem(413, "payload_too_large");
    assert!(
        app.audit(&org, &admin, "user_group.created")
            .await
            .is_empty()
    );
    // Pages have a ceiling.
    app.get("/v1/orgs/hill/users?per_page=201", &admin)
        .await
        .problem(422, "validation_failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_a_documented_path_does_not_take_is_405_with_allow() {
    let (app, _, admin) = TestApp::hill().await;
    let r = app
        .call(Method::PUT, "/v1/me", Some(&admin), Some(json!({})))
        .await
        .problem(405, "method_not_allowed");
    assert_eq!(r.headers["allow"], "GET, PATCH");
    let r = app
        .call(
            Method::DELETE,
            "/v1/orgs/hill/categories",
            Some(&admin),
            None,
        )
        .await
        .problem(405, "method_not_allowed");
    assert_eq!(r.headers["allow"], "GET, POST");
    app.call(Method::GET, "/v1/nowhere", Some(&admin), None)
        .await
        .problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a2_whoever_holds_the_password_cannot_guess_codes_through_a_lock() {
    let (app, org) = TestApp::with_hill().await;
    let secret = app
        .enrol_key("hill", &org.admin_email, ADMIN_PASSWORD)
        .await;
    app.fail_five_times("hill", &org.admin_email).await;
    // Five wrong codes behind the right password turn the bypass off until its own lock ends.
    for guess in ["000001", "000002", "000003", "000004", "000005"] {
        app.login("hill", &org.admin_email, ADMIN_PASSWORD, Some(guess))
            .await
            .problem(429, "account_locked");
    }
    app.login_with_code("hill", &org.admin_email, &secret)
        .await
        .problem(429, "account_locked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_quota_holds_for_an_encoded_path_and_a_forged_forwarded_address() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limits.sign_in_per_minute = 3;
        s.trust_proxy = true;
    })
    .await;
    let org = app.org("hill").await;
    let attempt = |path: &'static str, forwarded: String| {
        let app = &app;
        let body =
            json!({"org": "hill", "login": "nobody@hill.school", "password": "not the password"});
        async move {
            app.call_with(
                Method::POST,
                path,
                None,
                Some(body),
                &[("x-forwarded-for", forwarded.as_str())],
            )
            .await
        }
    };
    // Behind our proxy the last X-Forwarded-For hop is the client; what the client wrote before
    // it is not believed, so a fresh forged address per request buys nothing.
    for i in 0..3 {
        attempt("/v1/auth/login", format!("198.51.100.{i}, 203.0.113.7"))
            .await
            .problem(401, "invalid_credentials");
    }
    attempt("/v1/auth/%6cogin", "192.0.2.1, 203.0.113.7".into())
        .await
        .problem(429, "rate_limited");
    // Another client behind the same proxy has its own quota.
    attempt("/v1/auth/login", "203.0.113.8".into())
        .await
        .problem(401, "invalid_credentials");
    // An address that is not one falls back to the peer, and is limited with it.
    attempt("/v1/auth/login", "not-an-address".into())
        .await
        .problem(401, "invalid_credentials");
    let admin = app.admin(&org).await;
    let failed = app.audit(&org, &admin, "auth.login_failed").await;
    assert!(failed.iter().any(|e| e["ip"] == "203.0.113.7"));
    assert!(
        failed.iter().any(|e| e["ip"] == "127.0.0.1"),
        "the peer, for a non-address"
    );
    assert!(failed.iter().all(|e| e["ip"] != "198.51.100.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_the_password_through_an_email_change_locks_the_account() {
    let (app, org, admin) = TestApp::hill().await;
    app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let t = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    for _ in 0..5 {
        app.patch(
            "/v1/me",
            &t,
            json!({"email": "stolen@elsewhere.example", "current_password": "a guess at it"}),
        )
        .await
        .problem(422, "validation_failed");
    }
    app.patch(
        "/v1/me",
        &t,
        json!({"email": "stolen@elsewhere.example", "current_password": ADMIN_PASSWORD}),
    )
    .await
    .problem(429, "account_locked");
    app.login("hill", "t@hill.school", ADMIN_PASSWORD, None)
        .await
        .problem(429, "account_locked");
}
