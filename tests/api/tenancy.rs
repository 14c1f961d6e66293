//! T1, T2.

use crate::harness::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t1_another_orgs_records_answer_404_exactly_like_missing_ones() {
    let app = TestApp::spawn().await;
    let hill = app.org("hill").await;
    let dale = app.org("dale").await;
    let hill_admin = app.admin(&hill).await;
    let dale_admin = app.admin(&dale).await;
    let teacher = app
        .user(&hill, &hill_admin, "t@hill.school", "Teachers")
        .await;
    let hill_group = app.group_id(&hill, &hill_admin, "Teachers").await;
    // Through the other org's path: the foreign id is simply not found.
    let foreign = app
        .get(&format!("/v1/orgs/dale/users/{teacher}"), &dale_admin)
        .await
        .problem(404, "not_found");
    let missing = app
        .get(
            &format!("/v1/orgs/dale/users/{}", uuid::Uuid::new_v4()),
            &dale_admin,
        )
        .await
        .problem(404, "not_found");
    assert_eq!(foreign.body, missing.body);
    app.get(
        &format!("/v1/orgs/dale/user-groups/{hill_group}"),
        &dale_admin,
    )
    .await
    .problem(404, "not_found");
    // Through the foreign org's path: 404 too, before anything is read.
    app.get("/v1/orgs/hill/users", &dale_admin)
        .await
        .problem(404, "not_found");
    app.patch(
        &format!("/v1/orgs/hill/users/{teacher}"),
        &dale_admin,
        json!({"job_title": "x"}),
    )
    .await
    .problem(404, "not_found");
    // A group of another org cannot be given to one's own user.
    let dale_user = app
        .user(&dale, &dale_admin, "t@dale.school", "Teachers")
        .await;
    let r = app
        .patch(
            &format!("/v1/orgs/dale/users/{dale_user}"),
            &dale_admin,
            json!({"user_group_id": hill_group}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        r.field_codes(),
        [("user_group_id".to_owned(), "unknown_group".to_owned())]
    );
    // Lists count only the caller's org.
    let list = app
        .get("/v1/orgs/dale/users", &dale_admin)
        .await
        .expect(200);
    assert_eq!(list.body["total"], 2);
    let audit = app
        .get("/v1/orgs/dale/audit?limit=200", &dale_admin)
        .await
        .expect(200);
    assert!(
        audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["target_id"] != teacher)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t2_only_the_operator_key_creates_orgs_and_it_opens_nothing_inside_one() {
    let app = TestApp::spawn().await;
    let body = json!({"slug": "brook", "name": "Brook Primary", "admin_email": "head@brook.school", "admin_password": "brook admin pass phrase"});
    app.post("/v1/orgs", None, body.clone())
        .await
        .problem(401, "unauthenticated");
    app.post("/v1/orgs", Some("a guess at the key"), body.clone())
        .await
        .problem(401, "unauthenticated");
    let made = app
        .post("/v1/orgs", Some(OPERATOR_KEY), body.clone())
        .await
        .expect(201);
    assert_eq!(made.body["org"]["slug"], "brook");
    assert!(made.body.get("admin_password").is_none());
    app.post("/v1/orgs", Some(OPERATOR_KEY), body)
        .await
        .problem(409, "org_slug_in_use");
    let bad = app
        .post(
            "/v1/orgs",
            Some(OPERATOR_KEY),
            json!({"slug": "Not A Slug", "name": "", "admin_email": "nope"}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(bad.field_codes().len(), 3);
    app.login(
        "brook",
        "head@brook.school",
        "brook admin pass phrase",
        None,
    )
    .await
    .expect(200);
    // The operator key is no token inside an org.
    app.get("/v1/orgs/brook/users", OPERATOR_KEY)
        .await
        .problem(401, "unauthenticated");
    let generated = app
        .post(
            "/v1/orgs",
            Some(OPERATOR_KEY),
            json!({"slug": "fen", "name": "Fen", "admin_email": "head@fen.school"}),
        )
        .await
        .expect(201);
    let pw = generated.body["admin_password"].as_str().unwrap();
    app.login("fen", "head@fen.school", pw, None)
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t2_without_an_operator_key_configured_nobody_creates_orgs_over_http() {
    let app = TestApp::spawn_with(|s| s.operator_key = None).await;
    app.post(
        "/v1/orgs",
        Some(OPERATOR_KEY),
        json!({"slug": "brook", "name": "Brook", "admin_email": "h@brook.school"}),
    )
    .await
    .problem(401, "unauthenticated");
}
