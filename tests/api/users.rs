//! U1, U3, U4, U9, U11, G4, G5 over HTTP, and bad input.

use crate::harness::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u3_an_admin_creates_an_account_with_a_password_and_it_can_log_in() {
    let (app, org, admin) = TestApp::hill().await;
    let gid = app.group_id(&org, &admin, "Teachers").await;
    let r = app
        .post(
            "/v1/orgs/hill/users",
            Some(&admin),
            json!({"email": "Alice.Robinson@hill.school", "username": "arobinson", "title": "Ms", "forename": "Alice",
                   "surname": "Robinson", "job_title": "Year 1 Teacher", "user_group_id": gid, "password": "year one classroom key 9"}),
        )
        .await
        .expect(201);
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["user_group_name"], "Teachers");
    assert_eq!(r.body["last_login_at"], serde_json::Value::Null);
    assert_eq!(r.body["second_factor"], false);
    assert_eq!(r.body["elevated"], false);
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.headers["etag"], "\"1\"");
    let id = r.body["id"].as_str().unwrap().to_owned();
    app.login("hill", "arobinson", "year one classroom key 9", None)
        .await
        .expect(200);
    app.login(
        "hill",
        "alice.robinson@hill.school",
        "year one classroom key 9",
        None,
    )
    .await
    .expect(200);
    let created = app.audit(&org, &admin, "user.created").await;
    assert_eq!(created[0]["target_id"], id);
    assert_eq!(created[0]["actor_id"], org.admin_id.to_string());
    assert_eq!(
        created[0]["changes"]["email"],
        json!([null, "Alice.Robinson@hill.school"])
    );
    assert_eq!(created[0]["changes"]["user_group_id"], json!([null, gid]));
    // Pending accounts exist but cannot log in (U2).
    app.post(
        "/v1/orgs/hill/users",
        Some(&admin),
        json!({"email": "later@hill.school", "forename": "Later", "surname": "Starter", "user_group_id": gid, "pending": true}),
    )
    .await
    .expect(201);
    let got = app
        .get(&format!("/v1/orgs/hill/users/{id}"), &admin)
        .await
        .expect(200);
    assert_eq!(got.body["job_title"], "Year 1 Teacher");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u4_an_email_in_use_is_refused_with_the_holders_status_and_nothing_changes() {
    let (app, org, admin) = TestApp::hill().await;
    let gid = app.group_id(&org, &admin, "Teachers").await;
    let dup = app
        .post(
            "/v1/orgs/hill/users",
            Some(&admin),
            json!({"email": org.admin_email.to_uppercase(), "forename": "A", "surname": "B", "user_group_id": gid, "password": "a fine long password 42"}),
        )
        .await
        .problem(409, "email_in_use");
    assert_eq!(dup.body["holder_status"], "active");
    let list = app.get("/v1/orgs/hill/users", &admin).await.expect(200);
    assert_eq!(list.body["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_lists_every_bad_field_at_once_and_changes_nothing() {
    let (app, org, admin) = TestApp::hill().await;
    let r = app
        .post(
            "/v1/orgs/hill/users",
            Some(&admin),
            json!({"email": "not-an-email", "forename": " ", "surname": "X", "user_group_id": uuid::Uuid::new_v4(), "password": "password"}),
        )
        .await
        .problem(422, "validation_failed");
    let fields: Vec<String> = r.field_codes().into_iter().map(|(f, _)| f).collect();
    for f in ["email", "forename", "password", "user_group_id"] {
        assert!(
            fields.contains(&f.to_owned()),
            "{f} missing from {fields:?}"
        );
    }
    // Malformed JSON, wrong types, unknown fields, bad ids, bad query strings: 4xx, never 500.
    let raw = app
        .http
        .post(format!("{}/v1/orgs/hill/users", app.base))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["code"], "malformed_body");
    app.post("/v1/orgs/hill/users", Some(&admin), json!({"forename": 1}))
        .await
        .problem(400, "malformed_body");
    app.post("/v1/orgs/hill/users", Some(&admin), json!({"forename": "a", "surname": "b", "user_group_id": uuid::Uuid::new_v4(), "colour": "red"}))
        .await
        .problem(400, "malformed_body");
    app.get("/v1/orgs/hill/users/not-a-uuid", &admin)
        .await
        .problem(400, "malformed_path");
    // A filter of the wrong form, or given empty, is named (issue 13).
    let bad = app
        .get(
            "/v1/orgs/hill/users?per_page=abc&status=&user_group_id=7",
            &admin,
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        bad.field_codes(),
        [
            ("per_page".to_owned(), "invalid".to_owned()),
            ("status".to_owned(), "empty".to_owned()),
            ("user_group_id".to_owned(), "invalid".to_owned()),
        ]
    );
    app.get("/v1/orgs/hill/users?q=", &admin).await.expect(200);
    app.get("/v1/orgs/hill/users?per_page=500", &admin)
        .await
        .problem(422, "validation_failed");
    app.get("/v1/orgs/hill/users?sort=shoe_size", &admin)
        .await
        .problem(422, "validation_failed");
    app.get("/v1/orgs/hill/users?status=retired", &admin)
        .await
        .problem(422, "validation_failed");
    app.get(
        &format!("/v1/orgs/hill/users/{}", uuid::Uuid::new_v4()),
        &admin,
    )
    .await
    .problem(404, "not_found");
    let text = app
        .http
        .post(format!("{}/v1/orgs/hill/users", app.base))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    app.get("/v1/no-such-route", &admin)
        .await
        .problem(404, "not_found");
    let list = app.get("/v1/orgs/hill/users", &admin).await.expect(200);
    assert_eq!(list.body["total"], 1);
    assert!(app.audit(&org, &admin, "user.created").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u11_list_filters_sorts_and_pages_with_the_total() {
    let (app, org, admin) = TestApp::hill().await;
    let teachers = app.group_id(&org, &admin, "Teachers").await;
    let slt = app.group_id(&org, &admin, "SLT").await;
    let names = [
        ("Zara", "Adams", &teachers),
        ("Yusuf", "Brown", &slt),
        ("Xena", "Clark", &teachers),
        ("Will", "Davis", &teachers),
    ];
    for (f, s, g) in names {
        app.post(
            "/v1/orgs/hill/users",
            Some(&admin),
            json!({"email": format!("{}@hill.school", f.to_lowercase()), "forename": f, "surname": s, "job_title": format!("{s} role"), "user_group_id": g, "pending": true}),
        )
        .await
        .expect(201);
    }
    let all = app.get("/v1/orgs/hill/users", &admin).await.expect(200);
    assert_eq!(all.body["total"], 5);
    assert_eq!(all.body["per_page"], 15);
    let surnames: Vec<&str> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["surname"].as_str().unwrap())
        .collect();
    assert_eq!(surnames, ["Adams", "Admin", "Brown", "Clark", "Davis"]);
    let desc = app
        .get("/v1/orgs/hill/users?sort=-name&per_page=2&page=2", &admin)
        .await
        .expect(200);
    let s: Vec<&str> = desc.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["surname"].as_str().unwrap())
        .collect();
    assert_eq!(s, ["Brown", "Admin"]);
    assert_eq!(desc.body["total"], 5);
    assert_eq!(desc.body["page"], 2);
    let by_group = app
        .get(
            &format!("/v1/orgs/hill/users?user_group_id={teachers}"),
            &admin,
        )
        .await
        .expect(200);
    assert_eq!(by_group.body["total"], 3);
    let q = app
        .get("/v1/orgs/hill/users?q=xena%20cl", &admin)
        .await
        .expect(200);
    assert_eq!(q.body["total"], 1);
    assert_eq!(q.body["items"][0]["forename"], "Xena");
    let by_mail = app
        .get("/v1/orgs/hill/users?q=WILL@", &admin)
        .await
        .expect(200);
    assert_eq!(by_mail.body["total"], 1);
    let pending = app
        .get("/v1/orgs/hill/users?status=pending", &admin)
        .await
        .expect(200);
    assert_eq!(pending.body["total"], 4);
    let admins = app
        .get("/v1/orgs/hill/users?admin=true", &admin)
        .await
        .expect(200);
    assert_eq!(admins.body["total"], 1);
    assert_eq!(admins.body["items"][0]["email"], org.admin_email);
    let not_elevated = app
        .get("/v1/orgs/hill/users?elevated=false", &admin)
        .await
        .expect(200);
    assert_eq!(not_elevated.body["total"], 4);
    let keyed = app
        .get("/v1/orgs/hill/users?second_factor=true", &admin)
        .await
        .expect(200);
    assert_eq!(keyed.body["total"], 1);
    let by_group_name = app
        .get("/v1/orgs/hill/users?sort=user_group", &admin)
        .await
        .expect(200);
    let groups: Vec<&str> = by_group_name.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_group_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        groups,
        [
            "DSL / Child Protection Team",
            "SLT",
            "Teachers",
            "Teachers",
            "Teachers"
        ]
    );
    let last_login = app
        .get("/v1/orgs/hill/users?sort=-last_login", &admin)
        .await
        .expect(200);
    assert_eq!(last_login.body["items"][0]["email"], org.admin_email);
    let by_admin = app
        .get("/v1/orgs/hill/users?sort=-admin", &admin)
        .await
        .expect(200);
    assert_eq!(by_admin.body["items"][0]["admin"], true);
    let job = app
        .get("/v1/orgs/hill/users?sort=-job_title", &admin)
        .await
        .expect(200);
    assert_eq!(job.body["items"][0]["surname"], "Davis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u9_g4_an_elevated_non_admin_cannot_move_anyone_into_a_group_holding_more_than_they_do() {
    let (app, org, admin) = TestApp::hill().await;
    // A "User managers" group: manage users, nothing else.
    let g = app
        .post("/v1/orgs/hill/user-groups", Some(&admin), json!({"name": "User managers", "system_permissions": ["admin.manage_users", "students.list"]}))
        .await
        .expect(201);
    let managers = g.body["id"].as_str().unwrap().to_owned();
    let teacher = app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let manager = app.user(&org, &admin, "m@hill.school", "Teachers").await;
    app.patch(
        &format!("/v1/orgs/hill/users/{manager}"),
        &admin,
        json!({"user_group_id": managers}),
    )
    .await
    .expect(200);
    let m = app
        .token_with_key("hill", "m@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    let dsl = app.group_id(&org, &m, "DSL / Child Protection Team").await;
    let r = app
        .patch(
            &format!("/v1/orgs/hill/users/{teacher}"),
            &m,
            json!({"user_group_id": dsl}),
        )
        .await
        .problem(403, "escalation_denied");
    assert_eq!(r.body["rule"], "G4");
    // Teachers hold students.view, which the manager lacks: moving someone out of it is refused too.
    let ta = app.group_id(&org, &m, "Teaching Assistants").await;
    app.patch(
        &format!("/v1/orgs/hill/users/{teacher}"),
        &m,
        json!({"user_group_id": ta}),
    )
    .await
    .problem(403, "escalation_denied");
    let unchanged = app
        .get(&format!("/v1/orgs/hill/users/{teacher}"), &admin)
        .await
        .expect(200);
    assert_eq!(unchanged.body["user_group_name"], "Teachers");
    // The admin can.
    let moved = app
        .patch(
            &format!("/v1/orgs/hill/users/{teacher}"),
            &admin,
            json!({"user_group_id": ta}),
        )
        .await
        .expect(200);
    assert_eq!(moved.body["user_group_name"], "Teaching Assistants");
    assert_eq!(moved.body["version"], 2);
    let changed = app.audit(&org, &admin, "user.group_changed").await;
    assert!(
        changed
            .iter()
            .any(|e| e["target_id"] == teacher && e["changes"]["user_group_id"][1] == ta)
    );
    // G4 on every edit of an account above oneself, not only group changes: no taking over
    // an admin by changing their email, no locking them out with must_change_password.
    let admin_path = format!("/v1/orgs/hill/users/{}", org.admin_id);
    app.patch(&admin_path, &m, json!({"email": "mine@evil.example"}))
        .await
        .problem(403, "escalation_denied");
    app.patch(&admin_path, &m, json!({"must_change_password": true}))
        .await
        .problem(403, "escalation_denied");
    let me = app.get("/v1/me", &admin).await.expect(200);
    assert_eq!(me.body["email"], org.admin_email);
    // U12: nobody changes their own group, not even an admin.
    let own = app
        .patch(&admin_path, &admin, json!({"user_group_id": ta}))
        .await
        .problem(403, "permission_denied");
    assert_eq!(own.body["rule"], "U12");
    // G4 on create as well.
    app.post(
        "/v1/orgs/hill/users",
        Some(&m),
        json!({"email": "x@hill.school", "forename": "X", "surname": "Y", "user_group_id": dsl, "pending": true}),
    )
    .await
    .problem(403, "escalation_denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g5_an_admin_may_demote_another_but_the_last_active_admin_stays() {
    let (app, org, admin) = TestApp::hill().await;
    let teachers = app.group_id(&org, &admin, "Teachers").await;
    app.user(
        &org,
        &admin,
        "second@hill.school",
        "DSL / Child Protection Team",
    )
    .await;
    let second = app
        .token_with_key("hill", "second@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    let me = app.get("/v1/me", &second).await.expect(200);
    let second_id = me.body["id"].as_str().unwrap().to_owned();
    // The second admin demotes the first: allowed, one admin remains.
    app.patch(
        &format!("/v1/orgs/hill/users/{}", org.admin_id),
        &second,
        json!({"user_group_id": teachers}),
    )
    .await
    .expect(200);
    // The one left cannot leave the org without an admin.
    let r = app
        .call(
            reqwest::Method::POST,
            &format!("/v1/orgs/hill/users/{second_id}/deactivate"),
            Some(&second),
            None,
        )
        .await
        .problem(409, "last_admin");
    assert_eq!(r.body["rule"], "G5");
    let admins = app
        .get("/v1/orgs/hill/users?admin=true", &second)
        .await
        .expect(200);
    assert_eq!(admins.body["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_if_match_gets_412_and_changes_nothing() {
    let (app, org, admin) = TestApp::hill().await;
    let id = app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let path = format!("/v1/orgs/hill/users/{id}");
    app.call_with(
        Method::PATCH,
        &path,
        Some(&admin),
        Some(json!({"job_title": "Head of Maths"})),
        &[("if-match", "\"1\"")],
    )
    .await
    .expect(200);
    app.call_with(
        Method::PATCH,
        &path,
        Some(&admin),
        Some(json!({"job_title": "Head of English"})),
        &[("if-match", "\"1\"")],
    )
    .await
    .problem(412, "version_mismatch");
    app.call_with(
        Method::PATCH,
        &path,
        Some(&admin),
        Some(json!({"job_title": "x"})),
        &[("if-match", "yesterday")],
    )
    .await
    .problem(400, "malformed_header");
    let u = app.get(&path, &admin).await.expect(200);
    assert_eq!(u.body["job_title"], "Head of Maths");
    assert_eq!(u.headers["etag"], "\"2\"");
    // PATCH null clears a nullable field.
    let cleared = app
        .patch(&path, &admin, json!({"job_title": null}))
        .await
        .expect(200);
    assert_eq!(cleared.body["job_title"], serde_json::Value::Null);
}
