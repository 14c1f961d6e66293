//! U2–U10, U12, A5 (admin reset), A6, N1, S1–S3, AU4: the life of a staff login, with the
//! email it sends through the outbox to a real SMTP server.

use crate::harness::*;
use crate::smtp::SmtpServer;
use reqwest::Method;
use serde_json::json;

async fn with_mail(smtp: &SmtpServer) -> TestApp {
    let url = smtp.url();
    TestApp::spawn_with(move |s| {
        s.smtp_url = Some(url);
        s.domain.outbox_retry_base_ms = 100;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u3_an_invitation_email_carries_a_single_use_link_that_sets_the_password() {
    let smtp = SmtpServer::running().await;
    let app = with_mail(&smtp).await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let gid = app.group_id(&org, &admin, "Teachers").await;
    let r = app
        .post("/v1/orgs/hill/users", Some(&admin), json!({"email": "nadia@hill.school", "forename": "Nadia", "surname": "Okafor", "user_group_id": gid, "send_invitation": true}))
        .await
        .expect(201);
    assert_eq!(r.body["status"], "active");
    let id = r.body["id"].as_str().unwrap().to_owned();
    smtp.wait_for(1).await;
    let mails = smtp.to("nadia@hill.school");
    assert_eq!(mails.len(), 1);
    assert!(mails[0].text().contains("/set-password?token="));
    let token = mails[0].token();
    // No password yet: the account cannot log in.
    app.login("hill", "nadia@hill.school", "anything at all here", None)
        .await
        .problem(401, "invalid_credentials");
    let weak = app
        .post(
            "/v1/auth/set-password",
            None,
            json!({"token": token, "password": "nadia"}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(weak.field_codes()[0].0, "password");
    app.post(
        "/v1/auth/set-password",
        None,
        json!({"token": token, "password": "nadia's own pass phrase"}),
    )
    .await
    .expect(204);
    app.login("hill", "nadia@hill.school", "nadia's own pass phrase", None)
        .await
        .expect(200);
    let again = app
        .post(
            "/v1/auth/set-password",
            None,
            json!({"token": token, "password": "another pass phrase 9"}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        again.field_codes(),
        [("token".to_owned(), "invalid_token".to_owned())]
    );
    let history = app
        .get(&format!("/v1/orgs/hill/users/{id}/history"), &admin)
        .await
        .expect(200);
    let kinds: Vec<&str> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds[..4],
        [
            "auth.login_succeeded",
            "user.invitation_accepted",
            "auth.login_failed",
            "user.created"
        ]
    );
    // Times in the trail are RFC 3339 UTC, the password's change included.
    let accepted = &history.body["items"][1]["changes"];
    assert!(accepted["password_changed_at"][1].is_string(), "{accepted}");
    assert_rfc3339_times(&history.body);
    // A link sent to a wrong address dies when the address is corrected (U8).
    let r = app
        .post("/v1/orgs/hill/users", Some(&admin), json!({"email": "typo@hil.school", "forename": "Typo", "surname": "Person", "user_group_id": gid, "send_invitation": true}))
        .await
        .expect(201);
    let typo_id = r.body["id"].as_str().unwrap().to_owned();
    smtp.wait_for(2).await;
    let stale = smtp.to("typo@hil.school")[0].token();
    app.patch(
        &format!("/v1/orgs/hill/users/{typo_id}"),
        &admin,
        json!({"email": "typo@hill.school"}),
    )
    .await
    .expect(200);
    app.post(
        "/v1/auth/set-password",
        None,
        json!({"token": stale, "password": "a stranger's pass phrase"}),
    )
    .await
    .problem(422, "validation_failed");
    // Resending to an account that has a password is refused.
    app.call(
        Method::POST,
        &format!("/v1/orgs/hill/users/{id}/send-invitation"),
        Some(&admin),
        None,
    )
    .await
    .problem(409, "has_password");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a6_a_reset_is_always_202_works_once_for_an_hour_and_ends_every_session() {
    let smtp = SmtpServer::running().await;
    let app = with_mail(&smtp).await;
    let org = app.org("hill").await;
    let session = app.token("hill", &org.admin_email, ADMIN_PASSWORD).await;
    app.post(
        "/v1/auth/password-reset",
        None,
        json!({"org": "hill", "email": "nobody@hill.school"}),
    )
    .await
    .expect(202);
    app.post(
        "/v1/auth/password-reset",
        None,
        json!({"org": "nowhere", "email": "nobody@hill.school"}),
    )
    .await
    .expect(202);
    app.post(
        "/v1/auth/password-reset",
        None,
        json!({"org": "hill", "email": org.admin_email.to_uppercase()}),
    )
    .await
    .expect(202);
    app.post(
        "/v1/auth/password-reset",
        None,
        json!({"org": "hill", "email": "not an email"}),
    )
    .await
    .problem(422, "validation_failed");
    let mails = smtp.wait_for(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        smtp.mails().len(),
        1,
        "only the real account is mailed: {mails:?}"
    );
    let token = smtp.to(&org.admin_email)[0].token();
    app.post(
        "/v1/auth/set-password",
        None,
        json!({"token": token, "password": "a brand new pass phrase"}),
    )
    .await
    .expect(204);
    app.get("/v1/me", &session)
        .await
        .problem(401, "unauthenticated");
    app.admin_login(&org)
        .await
        .problem(401, "invalid_credentials");
    app.login("hill", &org.admin_email, "a brand new pass phrase", None)
        .await
        .expect(200);
    app.post(
        "/v1/auth/set-password",
        None,
        json!({"token": token, "password": "yet another pass phrase"}),
    )
    .await
    .problem(422, "validation_failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n1_mail_written_while_the_smtp_server_is_down_arrives_exactly_once_when_it_is_back() {
    let mut smtp = SmtpServer::running().await;
    let app = with_mail(&smtp).await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let gid = app.group_id(&org, &admin, "Teachers").await;
    app.post("/v1/orgs/hill/users", Some(&admin), json!({"email": "first@hill.school", "forename": "First", "surname": "One", "user_group_id": gid, "send_invitation": true}))
        .await
        .expect(201);
    smtp.wait_for(1).await;
    smtp.stop();
    for name in ["second", "third"] {
        app.post(
            "/v1/orgs/hill/users",
            Some(&admin),
            json!({"email": format!("{name}@hill.school"), "forename": name, "surname": "Two", "user_group_id": gid, "send_invitation": true}),
        )
        .await
        .expect(201);
    }
    app.post(
        "/v1/auth/password-reset",
        None,
        json!({"org": "hill", "email": org.admin_email}),
    )
    .await
    .expect(202);
    // The worker tries, fails and backs off while the server is down.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(smtp.mails().len(), 1);
    smtp.start().await;
    smtp.wait_for(4).await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(smtp.mails().len(), 4, "each message exactly once");
    for to in [
        "first@hill.school",
        "second@hill.school",
        "third@hill.school",
        org.admin_email.as_str(),
    ] {
        assert_eq!(smtp.to(to).len(), 1, "{to}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u5_deactivation_ends_every_session_on_the_next_request_and_keeps_group_and_email() {
    let (app, org, admin) = TestApp::hill().await;
    let id = app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let r = app
        .login("hill", "t@hill.school", ADMIN_PASSWORD, None)
        .await
        .expect(200);
    let (access, refresh) = (
        r.body["access_token"].as_str().unwrap().to_owned(),
        r.body["refresh_token"].as_str().unwrap().to_owned(),
    );
    app.get("/v1/me", &access).await.expect(200);
    let d = app
        .call(
            Method::POST,
            &format!("/v1/orgs/hill/users/{id}/deactivate"),
            Some(&admin),
            None,
        )
        .await
        .expect(200);
    assert_eq!(d.body["status"], "deactivated");
    assert_eq!(d.body["email"], "t@hill.school");
    assert_eq!(d.body["user_group_name"], "Teachers");
    app.get("/v1/me", &access)
        .await
        .problem(401, "unauthenticated");
    app.post("/v1/auth/refresh", None, json!({"refresh_token": refresh}))
        .await
        .problem(401, "invalid_refresh_token");
    app.login("hill", "t@hill.school", ADMIN_PASSWORD, None)
        .await
        .problem(401, "invalid_credentials");
    app.call(
        Method::POST,
        &format!("/v1/orgs/hill/users/{id}/deactivate"),
        Some(&admin),
        None,
    )
    .await
    .problem(409, "already_deactivated");
    let audit = app.audit(&org, &admin, "user.deactivated").await;
    assert_eq!(
        audit[0]["changes"]["status"],
        json!(["active", "deactivated"])
    );
    // G5: the last admin cannot be deactivated.
    let r = app
        .call(
            Method::POST,
            &format!("/v1/orgs/hill/users/{}/deactivate", org.admin_id),
            Some(&admin),
            None,
        )
        .await
        .problem(409, "last_admin");
    assert_eq!(r.body["rule"], "G5");
    app.get("/v1/me", &admin).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u6_u4_u7_removing_login_details_frees_the_email_and_reactivation_invites_again() {
    let smtp = SmtpServer::running().await;
    let app = with_mail(&smtp).await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let gid = app.group_id(&org, &admin, "Teachers").await;
    let office = app
        .user(&org, &admin, "office@hill.school", "Administration")
        .await;
    let path = format!("/v1/orgs/hill/users/{office}");
    app.call(
        Method::POST,
        &format!("{path}/remove-login-details"),
        Some(&admin),
        None,
    )
    .await
    .problem(409, "not_deactivated");
    app.call(
        Method::POST,
        &format!("{path}/deactivate"),
        Some(&admin),
        None,
    )
    .await
    .expect(200);
    let taken = app
        .post("/v1/orgs/hill/users", Some(&admin), json!({"email": "office@hill.school", "forename": "New", "surname": "Office", "user_group_id": gid, "pending": true}))
        .await
        .problem(409, "email_in_use");
    assert_eq!(taken.body["holder_status"], "deactivated");
    assert!(
        taken.body["detail"]
            .as_str()
            .unwrap()
            .contains("remove that account's login details")
    );
    let removed = app
        .call(
            Method::POST,
            &format!("{path}/remove-login-details"),
            Some(&admin),
            None,
        )
        .await
        .expect(200);
    assert_eq!(removed.body["email"], serde_json::Value::Null);
    assert_eq!(removed.body["status"], "deactivated");
    app.post("/v1/orgs/hill/users", Some(&admin), json!({"email": "office@hill.school", "forename": "New", "surname": "Office", "user_group_id": gid, "pending": true}))
        .await
        .expect(201);
    // U7: back with a new address and group; no password any more, so an invitation goes out.
    let ta = app.group_id(&org, &admin, "Teaching Assistants").await;
    let back = app
        .post(
            &format!("{path}/reactivate"),
            Some(&admin),
            json!({"email": "office2@hill.school", "user_group_id": ta}),
        )
        .await
        .expect(200);
    assert_eq!(back.body["status"], "active");
    assert_eq!(back.body["user_group_name"], "Teaching Assistants");
    let mails = smtp.wait_for(1).await;
    assert!(
        mails
            .iter()
            .any(|m| m.to.contains(&"office2@hill.school".to_owned()))
    );
    app.post(
        &format!("{path}/reactivate"),
        Some(&admin),
        json!({"email": "office3@hill.school", "user_group_id": ta}),
    )
    .await
    .problem(409, "not_deactivated");
    let bad = app
        .post(
            &format!("{path}/reactivate"),
            Some(&admin),
            json!({"email": "nope", "user_group_id": uuid::Uuid::new_v4()}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(bad.field_codes().len(), 2);
    for kind in ["user.login_details_removed", "user.reactivated"] {
        assert_eq!(app.audit(&org, &admin, kind).await.len(), 1, "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u2_a_pending_account_is_configured_first_and_invited_when_made_live() {
    let smtp = SmtpServer::running().await;
    let app = with_mail(&smtp).await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let gid = app.group_id(&org, &admin, "Teachers").await;
    let r = app
        .post("/v1/orgs/hill/users", Some(&admin), json!({"email": "sept@hill.school", "forename": "Sept", "surname": "Starter", "user_group_id": gid, "pending": true}))
        .await
        .expect(201);
    let id = r.body["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(smtp.mails().is_empty(), "no email for a pending account");
    let live = app
        .call(
            Method::POST,
            &format!("/v1/orgs/hill/users/{id}/make-live"),
            Some(&admin),
            None,
        )
        .await
        .expect(200);
    assert_eq!(live.body["status"], "active");
    smtp.wait_for(1).await;
    assert_eq!(smtp.to("sept@hill.school").len(), 1);
    app.call(
        Method::POST,
        &format!("/v1/orgs/hill/users/{id}/make-live"),
        Some(&admin),
        None,
    )
    .await
    .problem(409, "not_pending");
    // Resending replaces the first link.
    let first = smtp.to("sept@hill.school")[0].token();
    app.call(
        Method::POST,
        &format!("/v1/orgs/hill/users/{id}/send-invitation"),
        Some(&admin),
        None,
    )
    .await
    .expect(202);
    smtp.wait_for(2).await;
    let second = smtp.to("sept@hill.school")[1].token();
    app.post(
        "/v1/auth/set-password",
        None,
        json!({"token": first, "password": "september pass phrase"}),
    )
    .await
    .problem(422, "validation_failed");
    app.post(
        "/v1/auth/set-password",
        None,
        json!({"token": second, "password": "september pass phrase"}),
    )
    .await
    .expect(204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u10_a_clone_copies_group_staff_and_allow_lists_but_no_key_and_pending_accounts_cannot_be_cloned()
 {
    let (app, admin) = TestApp::demo().await;
    let alice = app
        .get("/v1/orgs/demo/users?q=alice", &admin)
        .await
        .expect(200)
        .body["items"][0]
        .clone();
    let alice_id = alice["id"].as_str().unwrap();
    let pending = app
        .post(
            &format!("/v1/orgs/demo/users/{alice_id}/clone"),
            Some(&admin),
            json!({"email": "alice2@demo.school", "password": "cloned account pass phrase"}),
        )
        .await
        .problem(409, "clone_of_pending");
    assert!(pending.body["detail"].as_str().unwrap().contains("pending"));
    let made = app
        .post(
            &format!(
                "/v1/orgs/demo/users/{}/clone",
                org_admin_id(&app, &admin).await
            ),
            Some(&admin),
            json!({"email": "deputy.dsl@demo.school", "password": "cloned account pass phrase"}),
        )
        .await
        .expect(201);
    assert_eq!(made.body["user_group_name"], "DSL / Child Protection Team");
    assert_eq!(made.body["second_factor"], false);
    assert_eq!(made.body["status"], "active");
    app.login(
        "demo",
        "deputy.dsl@demo.school",
        "cloned account pass phrase",
        None,
    )
    .await
    .expect(200);
    let audit = app.audit_in("demo", &admin, "user.cloned").await;
    assert_eq!(
        audit[0]["changes"]["allow_lists"][1], 7,
        "the DSL is on every year's allow-list"
    );
    app.post(
        &format!("/v1/orgs/demo/users/{alice_id}/clone"),
        Some(&admin),
        json!({"email": "x@demo.school"}),
    )
    .await
    .problem(422, "validation_failed");
}

async fn org_admin_id(app: &TestApp, admin: &str) -> String {
    app.get("/v1/me", admin).await.expect(200).body["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a5_an_admin_resets_a_lost_key_and_the_users_sessions_end() {
    let (app, org, admin) = TestApp::hill().await;
    let id = app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let keyed = app
        .token_with_key("hill", "t@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    let u = app
        .call(
            Method::POST,
            &format!("/v1/orgs/hill/users/{id}/reset-second-factor"),
            Some(&admin),
            None,
        )
        .await
        .expect(200);
    assert_eq!(u.body["second_factor"], false);
    app.get("/v1/me", &keyed)
        .await
        .problem(401, "unauthenticated");
    let again = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    app.post("/v1/me/totp/setup", Some(&again), json!({}))
        .await
        .expect(200);
    app.call(
        Method::POST,
        &format!("/v1/orgs/hill/users/{id}/reset-second-factor"),
        Some(&admin),
        None,
    )
    .await
    .expect(200);
    let audit = app.audit(&org, &admin, "second_factor.reset").await;
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1]["changes"]["second_factor"], json!([true, false]));
    assert_eq!(audit[0]["actor_id"], org.admin_id.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u12_u8_a_user_edits_their_own_profile_and_the_old_address_is_told_of_a_new_email() {
    let smtp = SmtpServer::running().await;
    let app = with_mail(&smtp).await;
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let t = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    let cats = app.get("/v1/orgs/hill/categories", &t).await.expect(200);
    let behaviour = cats.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Behaviour")
        .unwrap()["id"]
        .clone();
    let punctuality = cats.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Punctuality")
        .unwrap()["id"]
        .clone();
    let me = app
        .patch("/v1/me", &t, json!({"forename": "Tess", "phone": "+44 7700 900123", "email": "tess@hill.school", "current_password": ADMIN_PASSWORD,
                                    "notification_preferences": [{"category_id": behaviour, "mode": "digest"}]}))
        .await
        .expect(200);
    assert_eq!(me.body["forename"], "Tess");
    assert_eq!(me.body["phone"], "+44 7700 900123");
    assert_eq!(me.body["email"], "tess@hill.school");
    assert_eq!(
        me.body["notification_preferences"],
        json!([{"category_id": behaviour, "mode": "digest"}])
    );
    smtp.wait_for(1).await;
    let told = smtp.to("t@hill.school");
    assert_eq!(told.len(), 1);
    assert!(told[0].text().contains("tess@hill.school"));
    app.login("hill", "tess@hill.school", ADMIN_PASSWORD, None)
        .await
        .expect(200);
    // Never one's own group or status; sub-categories have no preferences of their own.
    app.patch("/v1/me", &t, json!({"user_group_id": uuid::Uuid::new_v4()}))
        .await
        .problem(400, "malformed_body");
    let bad = app
        .patch("/v1/me", &t, json!({"phone": "call me", "email": "x", "notification_preferences": [{"category_id": punctuality, "mode": "immediate"}]}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(bad.field_codes().len(), 3);
    app.patch(
        "/v1/me",
        &t,
        json!({"email": org.admin_email, "current_password": ADMIN_PASSWORD}),
    )
    .await
    .problem(409, "email_in_use");
    // ASVS 7.5.1: the email (where resets go) changes only with the current password.
    let r = app
        .patch("/v1/me", &t, json!({"email": "someone.else@hill.school"}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        r.field_codes(),
        [("current_password".to_owned(), "required".to_owned())]
    );
    let r = app
        .patch("/v1/me", &t, json!({"email": "someone.else@hill.school", "current_password": "not my password at all"}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        r.field_codes(),
        [("current_password".to_owned(), "wrong_password".to_owned())]
    );
    let audit = app.audit(&org, &admin, "user.profile_updated").await;
    assert_eq!(
        audit[0]["changes"]["email"],
        json!(["t@hill.school", "tess@hill.school"])
    );
    // Without profile.edit_own (Teaching Assistants in a group without it) the edit is refused.
    app.post(
        "/v1/orgs/hill/user-groups",
        Some(&admin),
        json!({"name": "No self edit", "system_permissions": ["incidents.add"]}),
    )
    .await
    .expect(201);
    app.user(&org, &admin, "n@hill.school", "No self edit")
        .await;
    let n = app.token("hill", "n@hill.school", ADMIN_PASSWORD).await;
    app.patch("/v1/me", &n, json!({"forename": "Nope"}))
        .await
        .problem(403, "permission_denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_s2_s3_staff_by_hand_an_account_from_an_eligible_record_and_the_leavers_report() {
    let (app, org, admin) = TestApp::hill().await;
    let s = app
        .post("/v1/orgs/hill/staff", Some(&admin), json!({"mis_id": "T100", "title": "Mr", "forename": "Omar", "surname": "Haddad", "email": "omar@hill.school",
                                                         "job_title": "Year 4 Teacher", "contract": "permanent", "hours": "full_time", "start_date": "2024-09-02"}))
        .await
        .expect(201);
    assert_eq!(s.body["eligible_for_account"], true);
    let sid = s.body["id"].as_str().unwrap().to_owned();
    app.post("/v1/orgs/hill/staff", Some(&admin), json!({"mis_id": "T100", "forename": "A", "surname": "B", "contract": "supply", "hours": "part_time", "start_date": "2024-09-02"}))
        .await
        .problem(409, "mis_id_in_use");
    let bad = app
        .post("/v1/orgs/hill/staff", Some(&admin), json!({"forename": "", "surname": "B", "email": "x", "contract": "supply", "hours": "part_time", "start_date": "2024-13-02"}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        bad.field_codes(),
        [("start_date".to_owned(), "date".to_owned())]
    );
    app.post("/v1/orgs/hill/staff", Some(&admin), json!({"forename": "A", "surname": "B", "contract": "zero_hours", "hours": "part_time", "start_date": "2024-09-02"}))
        .await
        .problem(400, "malformed_body");
    // U3: an account from the staff record, names and email prefilled.
    let gid = app.group_id(&org, &admin, "Teachers").await;
    let u = app
        .post("/v1/orgs/hill/users", Some(&admin), json!({"user_group_id": gid, "staff_ids": [sid], "password": "omar's first pass phrase"}))
        .await
        .expect(201);
    assert_eq!(u.body["forename"], "Omar");
    assert_eq!(u.body["email"], "omar@hill.school");
    assert_eq!(u.body["job_title"], "Year 4 Teacher");
    assert_eq!(u.body["staff_ids"], json!([sid]));
    let s = app
        .get(&format!("/v1/orgs/hill/staff/{sid}"), &admin)
        .await
        .expect(200);
    assert_eq!(s.body["eligible_for_account"], false);
    assert_eq!(s.body["user_ids"], json!([u.body["id"]]));
    let twice = app
        .post("/v1/orgs/hill/users", Some(&admin), json!({"user_group_id": gid, "staff_ids": [sid], "email": "o2@hill.school", "forename": "O", "surname": "H", "pending": true}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        twice.field_codes(),
        [("staff_ids[0]".to_owned(), "not_eligible".to_owned())]
    );
    // S3: the record ends while the account is active: the leavers report shows it.
    assert_eq!(
        app.get("/v1/orgs/hill/reports/leavers", &admin)
            .await
            .expect(200)
            .body,
        json!({"items": [], "page": 1, "per_page": 15, "total": 0})
    );
    app.call_with(
        Method::PATCH,
        &format!("/v1/orgs/hill/staff/{sid}"),
        Some(&admin),
        Some(json!({"end_date": "2025-07-18"})),
        &[("if-match", "\"9\"")],
    )
    .await
    .problem(412, "version_mismatch");
    let ended = app
        .patch(
            &format!("/v1/orgs/hill/staff/{sid}"),
            &admin,
            json!({"end_date": "2025-07-18"}),
        )
        .await
        .expect(200);
    assert_eq!(ended.body["version"], 2);
    assert_eq!(ended.headers["etag"], "\"2\"");
    let leavers = app
        .get("/v1/orgs/hill/reports/leavers", &admin)
        .await
        .expect(200);
    assert_eq!(leavers.body["items"][0]["staff"]["surname"], "Haddad");
    assert_eq!(
        leavers.body["items"][0]["active_users"][0]["email"],
        "omar@hill.school"
    );
    // Deactivating the account leaves the staff record alone and clears the report.
    let uid = u.body["id"].as_str().unwrap();
    app.call(
        Method::POST,
        &format!("/v1/orgs/hill/users/{uid}/deactivate"),
        Some(&admin),
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        app.get("/v1/orgs/hill/reports/leavers", &admin)
            .await
            .expect(200)
            .body,
        json!({"items": [], "page": 1, "per_page": 15, "total": 0})
    );
    let s = app
        .get(&format!("/v1/orgs/hill/staff/{sid}"), &admin)
        .await
        .expect(200);
    assert_eq!(s.body["user_ids"], json!([uid]));
    assert_eq!(
        app.audit(&org, &admin, "staff.updated").await[0]["changes"]["end_date"],
        json!([null, "2025-07-18"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u3_a_new_account_can_copy_the_access_configuration_of_an_existing_one() {
    let (app, admin) = TestApp::demo().await;
    let alice = app
        .get("/v1/orgs/demo/users?q=alice", &admin)
        .await
        .expect(200)
        .body["items"][0]
        .clone();
    let r = app
        .post(
            "/v1/orgs/demo/users",
            Some(&admin),
            json!({"email": "year1.cover@demo.school", "forename": "Year One", "surname": "Cover", "user_group_id": alice["user_group_id"],
                   "pending": true, "copy_access_from": alice["id"]}),
        )
        .await
        .expect(201);
    let created = app.audit_in("demo", &admin, "user.created").await;
    let entry = created
        .iter()
        .find(|e| e["target_id"] == r.body["id"])
        .expect("audited");
    assert_eq!(
        entry["changes"]["allow_lists"],
        json!([null, 1]),
        "Alice is on the Year 1 allow-list"
    );
    assert_eq!(
        entry["changes"]["copy_access_from"],
        json!([null, alice["id"]])
    );
    let bad = app
        .post(
            "/v1/orgs/demo/users",
            Some(&admin),
            json!({"email": "x@demo.school", "forename": "X", "surname": "Y", "user_group_id": alice["user_group_id"], "pending": true, "copy_access_from": uuid::Uuid::new_v4()}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        bad.field_codes(),
        [("copy_access_from".to_owned(), "unknown_user".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n1_a_locked_account_is_told_by_email() {
    let smtp = SmtpServer::running().await;
    let app = with_mail(&smtp).await;
    let org = app.org("hill").await;
    for _ in 0..5 {
        app.login("hill", &org.admin_email, "not the right password", None)
            .await
            .problem(401, "invalid_credentials");
    }
    smtp.wait_for(1).await;
    let mails = smtp.to(&org.admin_email);
    assert_eq!(mails.len(), 1);
    assert!(mails[0].text().contains("locked after 5 failed logins"));
}
