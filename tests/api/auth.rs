//! A1–A5 and G2 over HTTP.

use crate::harness::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a1_login_answers_a_bearer_pair_and_me_shows_the_account_and_its_org() {
    let (app, org) = TestApp::with_hill().await;
    let r = app.admin_login(&org).await.expect(200);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["second_factor"], false);
    assert_eq!(r.body["must_change_password"], false);
    assert!(r.body["expires_in"].as_i64().unwrap() > 0);
    assert!(r.body["refresh_token"].as_str().unwrap().len() > 30);
    let token = r.body["access_token"].as_str().unwrap();
    let me = app.get("/v1/me", token).await.expect(200);
    assert_eq!(me.body["email"], org.admin_email);
    assert_eq!(me.body["org"], "hill");
    assert_eq!(me.body["admin"], true);
    assert!(me.body["last_login_at"].is_string());
    assert!(me.headers.get("etag").is_some());
    // Login is by username or email, case-insensitively.
    app.login(
        "hill",
        &org.admin_email.to_uppercase(),
        ADMIN_PASSWORD,
        None,
    )
    .await
    .expect(200);
    let ok = app
        .audit(&org, &app.admin(&org).await, "auth.login_succeeded")
        .await;
    assert!(ok.len() >= 2);
    assert_eq!(ok[0]["actor_id"], org.admin_id.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a2_unknown_login_and_wrong_password_get_the_same_answer_and_both_are_audited() {
    let (app, org) = TestApp::with_hill().await;
    let unknown = app
        .login("hill", "nobody@hill.school", ADMIN_PASSWORD, None)
        .await
        .problem(401, "invalid_credentials");
    let wrong = app
        .login("hill", &org.admin_email, "not the password at all", None)
        .await
        .problem(401, "invalid_credentials");
    assert_eq!(unknown.body, wrong.body);
    let no_org = app
        .login("nowhere", &org.admin_email, ADMIN_PASSWORD, None)
        .await
        .problem(401, "invalid_credentials");
    assert_eq!(no_org.body, wrong.body);
    let admin = app.admin(&org).await;
    let failed = app.audit(&org, &admin, "auth.login_failed").await;
    assert_eq!(failed.len(), 2);
    assert!(
        failed
            .iter()
            .any(|e| e["target_id"] == org.admin_id.to_string())
    );
    assert!(
        failed
            .iter()
            .any(|e| e["changes"]["login"] == "nobody@hill.school" && e["target_id"].is_null())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a2_five_failures_lock_the_account_with_retry_after_even_for_the_right_password() {
    let (app, org, admin) = TestApp::hill().await;
    app.user(&org, &admin, "teacher@hill.school", "Teachers")
        .await;
    for _ in 0..5 {
        app.login("hill", "teacher@hill.school", "wrong password here", None)
            .await
            .problem(401, "invalid_credentials");
    }
    let locked = app
        .login("hill", "teacher@hill.school", ADMIN_PASSWORD, None)
        .await
        .problem(429, "account_locked");
    let retry: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    let locks = app.audit(&org, &admin, "auth.locked").await;
    assert_eq!(locks.len(), 1);
    assert!(
        locks[0]["changes"]["locked_until"].is_string(),
        "{}",
        locks[0]
    );
    assert_rfc3339_times(&serde_json::Value::Array(locks.clone()));
    // Unknown logins lock the same way, so a lock does not reveal that an account exists.
    for _ in 0..5 {
        app.login("hill", "ghost@hill.school", "wrong password here", None)
            .await
            .problem(401, "invalid_credentials");
    }
    app.login("hill", "ghost@hill.school", "wrong password here", None)
        .await
        .problem(429, "account_locked");
    // Other accounts are unaffected.
    app.admin_login(&org).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a1_refresh_rotates_and_a_reused_refresh_token_ends_the_whole_session() {
    let (app, org) = TestApp::with_hill().await;
    let first = app.admin_login(&org).await.expect(200);
    let r1 = first.body["refresh_token"].as_str().unwrap().to_owned();
    let second = app
        .post("/v1/auth/refresh", None, json!({"refresh_token": r1}))
        .await
        .expect(200);
    let r2 = second.body["refresh_token"].as_str().unwrap().to_owned();
    let access2 = second.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    app.get("/v1/me", &access2).await.expect(200);
    // Reuse of the spent token: refused, and the family (session) is revoked.
    app.post("/v1/auth/refresh", None, json!({"refresh_token": r1}))
        .await
        .problem(401, "invalid_refresh_token");
    app.post("/v1/auth/refresh", None, json!({"refresh_token": r2}))
        .await
        .problem(401, "invalid_refresh_token");
    app.get("/v1/me", &access2)
        .await
        .problem(401, "unauthenticated");
    let admin = app.admin(&org).await;
    assert_eq!(
        app.audit(&org, &admin, "auth.refresh_token_reused")
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a1_logout_ends_the_session_and_its_refresh_token() {
    let (app, org) = TestApp::with_hill().await;
    let r = app.admin_login(&org).await.expect(200);
    let access = r.body["access_token"].as_str().unwrap();
    let refresh = r.body["refresh_token"].as_str().unwrap();
    app.call(Method::POST, "/v1/auth/logout", Some(access), None)
        .await
        .expect(204);
    app.get("/v1/me", access)
        .await
        .problem(401, "unauthenticated");
    app.post("/v1/auth/refresh", None, json!({"refresh_token": refresh}))
        .await
        .problem(401, "invalid_refresh_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g2_a_session_without_second_factor_holds_only_low_level_permissions() {
    let (app, org) = TestApp::with_hill().await;
    let token = app.token("hill", &org.admin_email, ADMIN_PASSWORD).await;
    let me = app.get("/v1/me", &token).await.expect(200);
    let perms: Vec<String> = serde_json::from_value(me.body["permissions"].clone()).unwrap();
    assert!(perms.contains(&"incidents.add".to_owned()));
    assert!(!perms.contains(&"admin.manage_users".to_owned()));
    let group: Vec<String> = serde_json::from_value(me.body["group_permissions"].clone()).unwrap();
    assert!(group.contains(&"admin.manage_system".to_owned()));
    let denied = app
        .get("/v1/orgs/hill/users", &token)
        .await
        .problem(403, "second_factor_required");
    assert_eq!(denied.body["rule"], "G2");
    // With a key and a code, the admin's high-level permissions are in effect.
    let keyed = app
        .token_with_key("hill", &org.admin_email, ADMIN_PASSWORD)
        .await;
    app.get("/v1/orgs/hill/users", &keyed.token)
        .await
        .expect(200);
    let me = app.get("/v1/me", &keyed.token).await.expect(200);
    assert_eq!(me.body["second_factor"], true);
    assert_eq!(me.body["second_factor_session"], true);
    // An enrolled user who logs in without a code still gets the low-level session (A1).
    let low = app.admin_login(&org).await.expect(200);
    assert_eq!(low.body["second_factor"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a5_enrolment_gives_uri_qr_and_ten_recovery_codes_and_no_code_is_accepted_twice() {
    let (app, org) = TestApp::with_hill().await;
    let t = app.token("hill", &org.admin_email, ADMIN_PASSWORD).await;
    app.post("/v1/me/totp/confirm", Some(&t), json!({"code": "123456"}))
        .await
        .problem(409, "second_factor_not_started");
    let setup = app
        .post("/v1/me/totp/setup", Some(&t), json!({}))
        .await
        .expect(200);
    let secret = setup.body["secret"].as_str().unwrap().to_owned();
    assert!(
        setup.body["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Keyholder:")
    );
    assert!(
        setup.body["otpauth_uri"]
            .as_str()
            .unwrap()
            .contains(&secret)
    );
    assert!(setup.body["qr_png_base64"].as_str().unwrap().len() > 100);
    let wrong = app
        .post("/v1/me/totp/confirm", Some(&t), json!({"code": "000000"}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        wrong.field_codes(),
        [("code".to_owned(), "invalid_code".to_owned())]
    );
    let now_code = code(&secret, 0);
    let confirm = app
        .post("/v1/me/totp/confirm", Some(&t), json!({"code": now_code}))
        .await
        .expect(200);
    let recovery = confirm.body["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(recovery.len(), 10);
    app.post("/v1/me/totp/setup", Some(&t), json!({}))
        .await
        .problem(409, "second_factor_already_enrolled");
    // The confirming code is spent: it cannot open a session.
    app.login("hill", &org.admin_email, ADMIN_PASSWORD, Some(&now_code))
        .await
        .problem(401, "invalid_second_factor");
    let next = code(&secret, 30);
    app.login("hill", &org.admin_email, ADMIN_PASSWORD, Some(&next))
        .await
        .expect(200);
    app.login("hill", &org.admin_email, ADMIN_PASSWORD, Some(&next))
        .await
        .problem(401, "invalid_second_factor");
    // A recovery code works once.
    let rc = recovery[0].as_str().unwrap();
    let r = app
        .login("hill", &org.admin_email, ADMIN_PASSWORD, Some(rc))
        .await
        .expect(200);
    assert_eq!(r.body["second_factor"], true);
    app.login("hill", &org.admin_email, ADMIN_PASSWORD, Some(rc))
        .await
        .problem(401, "invalid_second_factor");
    let admin = r.body["access_token"].as_str().unwrap();
    assert_eq!(
        app.audit(&org, admin, "second_factor.enrolled").await.len(),
        1
    );
    let ok = app.audit(&org, admin, "auth.login_succeeded").await;
    assert_eq!(ok[0]["changes"]["recovery_code_used"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a5_removing_a_key_needs_a_session_that_proved_it() {
    let (app, org) = TestApp::with_hill().await;
    let keyed = app
        .token_with_key("hill", &org.admin_email, ADMIN_PASSWORD)
        .await;
    let low = app.token("hill", &org.admin_email, ADMIN_PASSWORD).await;
    let r = app
        .call(Method::DELETE, "/v1/me/totp", Some(&low), None)
        .await
        .problem(403, "permission_denied");
    assert_eq!(r.body["rule"], "A5");
    app.call(Method::DELETE, "/v1/me/totp", Some(&keyed.token), None)
        .await
        .expect(204);
    // The factor removed ends the account's other sessions (ASVS 7.4.3); this one stays.
    app.get("/v1/me", &low)
        .await
        .problem(401, "unauthenticated");
    app.get("/v1/me", &keyed.token).await.expect(200);
    let again = app.token("hill", &org.admin_email, ADMIN_PASSWORD).await;
    let me = app.get("/v1/me", &again).await.expect(200);
    assert_eq!(me.body["second_factor"], false);
    let removed = app.audit(&org, &keyed.token, "second_factor.removed").await;
    // The enrolment's own password-only session and `low`.
    assert_eq!(removed[0]["changes"]["other_sessions_ended"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a3_an_account_that_must_change_its_password_can_do_nothing_else_until_it_has() {
    let (app, org, admin) = TestApp::hill().await;
    let gid = app.group_id(&org, &admin, "Teachers").await;
    app.post(
        "/v1/orgs/hill/users",
        Some(&admin),
        json!({"email": "new@hill.school", "forename": "New", "surname": "Teacher", "user_group_id": gid,
               "password": "first day password 2026", "must_change_password": true}),
    )
    .await
    .expect(201);
    let r = app
        .login("hill", "new@hill.school", "first day password 2026", None)
        .await
        .expect(200);
    assert_eq!(r.body["must_change_password"], true);
    let t = r.body["access_token"].as_str().unwrap();
    app.get("/v1/me", t).await.expect(200);
    let blocked = app
        .post("/v1/me/totp/setup", Some(t), json!({}))
        .await
        .problem(403, "password_change_required");
    assert_eq!(blocked.body["rule"], "A3");
    app.get("/v1/permissions", t)
        .await
        .problem(403, "password_change_required");
    // A4: the new password is checked.
    let weak = app
        .post(
            "/v1/me/password",
            Some(t),
            json!({"current_password": "first day password 2026", "new_password": "password1"}),
        )
        .await
        .problem(422, "validation_failed");
    assert!(
        weak.field_codes().iter().any(
            |(f, c)| f == "new_password" && (c == "weak_password" || c == "password_too_short")
        )
    );
    app.post("/v1/me/password", Some(t), json!({"current_password": "first day password 2026", "new_password": "a much better pass phrase 7"}))
        .await
        .expect(204);
    app.post("/v1/me/totp/setup", Some(t), json!({}))
        .await
        .expect(200);
    app.login(
        "hill",
        "new@hill.school",
        "a much better pass phrase 7",
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        app.audit(&org, &admin, "user.password_changed").await.len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a1_concurrent_logins_of_one_account_all_succeed_with_their_own_sessions() {
    let (app, org) = TestApp::with_hill().await;
    let logins = (0..8).map(|_| app.admin_login(&org));
    let results = futures_util::future::join_all(logins).await;
    let mut tokens = std::collections::HashSet::new();
    for r in results {
        let r = r.expect(200);
        tokens.insert(r.body["refresh_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(tokens.len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn au1_audit_entries_carry_the_request_id_and_the_peer_address_not_a_forged_one() {
    let (app, org) = TestApp::with_hill().await;
    let body = json!({"org": "hill", "login": org.admin_email, "password": ADMIN_PASSWORD});
    let r = app
        .call_with(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(body),
            &[
                ("x-request-id", "morning-rush-42"),
                ("x-forwarded-for", "203.0.113.9"),
            ],
        )
        .await
        .expect(200);
    assert_eq!(r.headers["x-request-id"], "morning-rush-42");
    let fresh = app
        .call(Method::GET, "/healthz", None, None)
        .await
        .expect(200);
    assert_eq!(fresh.headers["x-request-id"].to_str().unwrap().len(), 36);
    let admin = app.admin(&org).await;
    let ok = app.audit(&org, &admin, "auth.login_succeeded").await;
    let entry = ok
        .iter()
        .find(|e| e["request_id"] == "morning-rush-42")
        .expect("the entry of that request");
    assert_eq!(entry["ip"], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a5_a2_wrong_codes_keep_counting_across_password_only_logins_and_lock_the_account() {
    let (app, org) = TestApp::with_hill().await;
    app.token_with_key("hill", &org.admin_email, ADMIN_PASSWORD)
        .await;
    for _ in 0..4 {
        app.login("hill", &org.admin_email, ADMIN_PASSWORD, Some("000000"))
            .await
            .problem(401, "invalid_second_factor");
    }
    // A password-only session does not wipe the count of wrong codes.
    let low = app.admin_login(&org).await.expect(200);
    assert_eq!(low.body["second_factor"], false);
    app.login("hill", &org.admin_email, ADMIN_PASSWORD, Some("000001"))
        .await
        .problem(401, "invalid_second_factor");
    app.admin_login(&org).await.problem(429, "account_locked");
}
