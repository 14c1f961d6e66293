//! G1, G3, G4, G5, G6 over HTTP.

use crate::harness::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g6_a_new_org_starts_with_the_default_categories_and_groups() {
    let (app, _, admin) = TestApp::hill().await;
    let groups = app
        .get("/v1/orgs/hill/user-groups", &admin)
        .await
        .expect(200);
    let names = names(&groups.body);
    assert_eq!(
        names,
        [
            "Administration",
            "DSL / Child Protection Team",
            "SLT",
            "Teachers",
            "Teaching Assistants"
        ]
    );
    assert_eq!(groups.body["total"], 5);
    let dsl = groups.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "DSL / Child Protection Team")
        .unwrap();
    assert_eq!(dsl["member_counts"]["active"], 1);
    assert!(
        dsl["system_permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("admin.manage_system"))
    );
    let cats = app
        .get("/v1/orgs/hill/categories", &admin)
        .await
        .expect(200);
    let cats = cats.body["items"].as_array().unwrap();
    let top: Vec<&str> = cats
        .iter()
        .filter(|c| c["parent_id"].is_null())
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        top,
        [
            "Attendance",
            "Behaviour",
            "Cause for Concern",
            "Child Protection"
        ]
    );
    let cp = cats
        .iter()
        .find(|c| c["name"] == "Child Protection")
        .unwrap();
    assert_eq!(cp["sensitive"], true);
    assert!(
        cats.iter()
            .any(|c| c["name"] == "Punctuality" && c["parent_id"].is_string())
    );
    let catalogue = app.get("/v1/permissions", &admin).await.expect(200);
    let keys: Vec<&str> = catalogue.body["system_permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 19);
    assert!(
        catalogue.body["system_permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["key"] == "incidents.add" && p["level"] == "low")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g1_groups_are_created_edited_and_audited_with_unique_names() {
    let (app, org, admin) = TestApp::hill().await;
    let behaviour = app.category_id("hill", &admin, "Behaviour").await;
    let g = app
        .post(
            "/v1/orgs/hill/user-groups",
            Some(&admin),
            json!({"name": "Pastoral", "system_permissions": ["students.list", "incidents.add"],
                   "category_permissions": [{"category_id": behaviour, "view_students": true, "add_incidents": true}]}),
        )
        .await
        .expect(201);
    assert_eq!(g.body["status"], "active");
    assert_eq!(g.body["category_permissions"][0]["view_incidents"], false);
    let id = g.body["id"].as_str().unwrap().to_owned();
    app.post(
        "/v1/orgs/hill/user-groups",
        Some(&admin),
        json!({"name": "PASTORAL"}),
    )
    .await
    .problem(409, "group_name_in_use");
    let bad = app
        .post("/v1/orgs/hill/user-groups", Some(&admin), json!({"name": "", "system_permissions": ["students.fly"], "category_permissions": [{"category_id": uuid::Uuid::new_v4()}]}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        bad.field_codes()[0],
        (
            "system_permissions[0]".to_owned(),
            "unknown_permission".to_owned()
        )
    );
    let edited = app
        .patch(
            &format!("/v1/orgs/hill/user-groups/{id}"),
            &admin,
            json!({"status": "inactive", "system_permissions": ["students.list"]}),
        )
        .await
        .expect(200);
    assert_eq!(edited.body["status"], "inactive");
    assert_eq!(edited.body["version"], 2);
    let audit = app.audit(&org, &admin, "user_group.updated").await;
    assert_eq!(audit[0]["changes"]["status"], json!(["active", "inactive"]));
    assert_eq!(
        audit[0]["changes"]["system_permissions"],
        json!([["students.list", "incidents.add"], ["students.list"]])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g3_a_group_with_members_cannot_be_deleted_and_says_who_is_in_it() {
    let (app, org, admin) = TestApp::hill().await;
    app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let teachers = app.group_id(&org, &admin, "Teachers").await;
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/orgs/hill/user-groups/{teachers}"),
            Some(&admin),
            None,
        )
        .await
        .problem(409, "group_in_use");
    assert_eq!(r.body["member_counts"]["active"], 1);
    assert_eq!(r.body["member_counts"]["deactivated"], 0);
    app.get(&format!("/v1/orgs/hill/user-groups/{teachers}"), &admin)
        .await
        .expect(200);
    let empty = app.group_id(&org, &admin, "Administration").await;
    app.call(
        Method::DELETE,
        &format!("/v1/orgs/hill/user-groups/{empty}"),
        Some(&admin),
        None,
    )
    .await
    .expect(204);
    app.get(&format!("/v1/orgs/hill/user-groups/{empty}"), &admin)
        .await
        .problem(404, "not_found");
    assert_eq!(app.audit(&org, &admin, "user_group.deleted").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g4_nobody_creates_or_edits_a_group_to_hold_what_they_do_not_hold() {
    let (app, org, admin) = TestApp::hill().await;
    let g = app
        .post(
            "/v1/orgs/hill/user-groups",
            Some(&admin),
            json!({"name": "User managers", "system_permissions": ["admin.manage_users"]}),
        )
        .await
        .expect(201);
    let managers = g.body["id"].as_str().unwrap().to_owned();
    let m = app
        .user(&org, &admin, "m@hill.school", "Teaching Assistants")
        .await;
    app.patch(
        &format!("/v1/orgs/hill/users/{m}"),
        &admin,
        json!({"user_group_id": managers}),
    )
    .await
    .expect(200);
    let mt = app
        .token_with_key("hill", "m@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    let r = app
        .post(
            "/v1/orgs/hill/user-groups",
            Some(&mt),
            json!({"name": "Sneaky", "system_permissions": ["audits.view"]}),
        )
        .await
        .problem(403, "escalation_denied");
    assert!(r.body["detail"].as_str().unwrap().contains("audits.view"));
    app.patch(
        &format!("/v1/orgs/hill/user-groups/{managers}"),
        &mt,
        json!({"system_permissions": ["admin.manage_users", "admin.manage_system"]}),
    )
    .await
    .problem(403, "escalation_denied");
    // Within their own permissions they may.
    app.post(
        "/v1/orgs/hill/user-groups",
        Some(&mt),
        json!({"name": "Helpers", "system_permissions": ["admin.manage_users"]}),
    )
    .await
    .expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g5_editing_or_deactivating_the_admin_group_cannot_leave_no_admin() {
    let (app, org, admin) = TestApp::hill().await;
    let dsl = app
        .group_id(&org, &admin, "DSL / Child Protection Team")
        .await;
    app.patch(
        &format!("/v1/orgs/hill/user-groups/{dsl}"),
        &admin,
        json!({"status": "inactive"}),
    )
    .await
    .problem(409, "last_admin");
    app.patch(
        &format!("/v1/orgs/hill/user-groups/{dsl}"),
        &admin,
        json!({"system_permissions": ["admin.manage_users"]}),
    )
    .await
    .problem(409, "last_admin");
    let g = app
        .get(&format!("/v1/orgs/hill/user-groups/{dsl}"), &admin)
        .await
        .expect(200);
    assert_eq!(g.body["status"], "active");
    assert_eq!(g.body["version"], 1);
    assert!(
        app.audit(&org, &admin, "user_group.updated")
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_if_match_on_a_group_gets_412_and_changes_nothing() {
    let (app, org, admin) = TestApp::hill().await;
    let ta = app.group_id(&org, &admin, "Teaching Assistants").await;
    let path = format!("/v1/orgs/hill/user-groups/{ta}");
    let g = app.get(&path, &admin).await.expect(200);
    assert_eq!(g.headers["etag"], "\"1\"");
    app.call_with(
        Method::PATCH,
        &path,
        Some(&admin),
        Some(json!({"name": "TAs"})),
        &[("if-match", "\"1\"")],
    )
    .await
    .expect(200);
    app.call_with(
        Method::PATCH,
        &path,
        Some(&admin),
        Some(json!({"name": "Assistants"})),
        &[("if-match", "\"1\"")],
    )
    .await
    .problem(412, "version_mismatch");
    app.call_with(
        Method::DELETE,
        &path,
        Some(&admin),
        None,
        &[("if-match", "\"1\"")],
    )
    .await
    .problem(412, "version_mismatch");
    let g = app.get(&path, &admin).await.expect(200);
    assert_eq!(g.body["name"], "TAs");
    assert_eq!(g.headers["etag"], "\"2\"");
}
