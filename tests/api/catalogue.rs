//! Issue 16 (4): the permissions of other products. A `catalogue` key registers them; user
//! groups grant them like the built-in ones (G1, G2 by their level, G4); `access/check` and
//! `check-batch` decide them; one a group grants cannot be unregistered. On both databases.

use crate::harness::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn register(app: &TestApp, key: &str, permissions: Value) -> Res {
    app.call(
        Method::POST,
        "/v1/orgs/hill/catalogue/permissions",
        Some(key),
        Some(json!({ "permissions": permissions })),
    )
    .await
}

fn governors() -> Value {
    json!([
        {"key": "governors.content.create", "level": "high", "description": "Publish papers to the governors' portal."},
        {"key": "governors.content.edit_others", "level": "low", "description": "Edit papers others published."},
    ])
}

async fn check(app: &TestApp, admin: &str, user: &str, action: &str, second_factor: bool) -> Res {
    app.post(
        "/v1/orgs/hill/access/check",
        Some(admin),
        json!({"user_id": user, "action": action, "resource": {"type": "org"}, "second_factor": second_factor}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_a_registered_permission_is_granted_decided_escalation_checked_and_unregistered()
{
    let (app, org, admin) = TestApp::hill().await;
    let key = app.service_key("hill", &admin, "catalogue").await;

    // Registered, then the same call again changes nothing.
    let r = register(&app, &key, governors()).await.expect(200);
    assert_eq!(r.body["items"][0]["key"], "governors.content.create");
    assert_eq!(r.body["items"][0]["created"], true);
    let r = register(&app, &key, governors()).await.expect(200);
    assert_eq!(r.body["items"][0]["created"], false);
    assert_eq!(
        app.audit(&org, &admin, "catalogue.permission_registered")
            .await
            .len(),
        2,
        "audited once each"
    );
    let listed = app
        .get("/v1/orgs/hill/catalogue/permissions", &key)
        .await
        .expect(200);
    assert_eq!(listed.body["total"], 2);
    // Every member reads them in the catalogue.
    let catalogue = app.get("/v1/permissions", &admin).await.expect(200);
    let registered = catalogue.body["registered_permissions"].as_array().unwrap();
    assert_eq!(registered.len(), 2);
    assert_eq!(registered[0]["level"], "high");

    // Granted by a group like a built-in one.
    let g = app
        .post(
            "/v1/orgs/hill/user-groups",
            Some(&admin),
            json!({"name": "Clerks", "system_permissions": ["profile.edit_own", "governors.content.create", "governors.content.edit_others"]}),
        )
        .await
        .expect(201);
    let group_id = g.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        g.body["system_permissions"],
        json!([
            "profile.edit_own",
            "governors.content.create",
            "governors.content.edit_others"
        ])
    );
    let clerk = app.user(&org, &admin, "clerk@hill.school", "Clerks").await;
    // Decided: in effect with a second factor; without one, only the low-level one (G2).
    let d = check(&app, &admin, &clerk, "governors.content.create", true)
        .await
        .expect(200);
    assert_eq!(d.body["allowed"], true, "{:#}", d.body);
    assert_eq!(
        d.body["reasons"][0]["permission"],
        "governors.content.create"
    );
    let d = check(&app, &admin, &clerk, "governors.content.create", false)
        .await
        .expect(200);
    assert_eq!(d.body["allowed"], false);
    assert_eq!(d.body["reasons"][0]["rule"], "G2");
    let d = check(&app, &admin, &clerk, "governors.content.edit_others", false)
        .await
        .expect(200);
    assert_eq!(d.body["allowed"], true);
    // The admin's group does not grant it: G1.
    let d = check(
        &app,
        &admin,
        &org.admin_id.to_string(),
        "governors.content.create",
        true,
    )
    .await
    .expect(200);
    assert_eq!(d.body["allowed"], false);
    assert_eq!(d.body["reasons"][0]["rule"], "G1");
    // An unregistered key is an unknown action, in both doors.
    let r = check(&app, &admin, &clerk, "governors.nothing", true)
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        r.field_codes(),
        [("action".to_owned(), "unknown_action".to_owned())]
    );
    let decisions = app.service_key("hill", &admin, "decisions").await;
    let b = app
        .call(
            Method::POST,
            "/v1/orgs/hill/access/check-batch",
            Some(&decisions),
            Some(json!({"checks": [
                {"id": "a", "user_id": clerk, "action": "governors.content.create", "resource": {"type": "org"}},
                {"id": "b", "user_id": clerk, "action": "governors.content.create", "resource": {"type": "org"}, "second_factor": false},
                {"id": "c", "user_id": clerk, "action": "governors.nothing", "resource": {"type": "org"}},
            ]})),
        )
        .await
        .expect(200);
    assert_eq!(b.body["results"][0]["allowed"], true);
    assert_eq!(b.body["results"][1]["reasons"][0]["rule"], "G2");
    assert_eq!(b.body["results"][2]["error"]["code"], "unknown_action");
    // The clerk's own session (a password alone) holds only the low-level one.
    let own = app.token("hill", "clerk@hill.school", ADMIN_PASSWORD).await;
    let me = app.get("/v1/me", &own).await.expect(200);
    let perms: Vec<&str> = me.body["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        perms.contains(&"governors.content.edit_others"),
        "{perms:?}"
    );
    assert!(!perms.contains(&"governors.content.create"), "{perms:?}");
    // A level change reaches the group at once (G2): low now, in effect without a key.
    register(
        &app,
        &key,
        json!([{"key": "governors.content.create", "level": "low", "description": "Publish papers to the governors' portal."}]),
    )
    .await
    .expect(200);
    let me = app.get("/v1/me", &own).await.expect(200);
    assert!(
        me.body["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("governors.content.create")),
        "{:#}",
        me.body
    );

    // G4: someone who does not hold it cannot hand it out.
    app.post(
        "/v1/orgs/hill/user-groups",
        Some(&admin),
        json!({"name": "Access managers", "system_permissions": ["admin.manage_users"]}),
    )
    .await
    .expect(201);
    app.user(&org, &admin, "am@hill.school", "Access managers")
        .await;
    let manager = app
        .token_with_key("hill", "am@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    app.post(
        "/v1/orgs/hill/user-groups",
        Some(&manager),
        json!({"name": "Sneaky", "system_permissions": ["governors.content.create"]}),
    )
    .await
    .problem(403, "escalation_denied")
    .assert_rule("G4");

    // Unregistering one a group grants is refused, naming the group; once no group grants
    // it, it goes, and a group can no longer be given it.
    let r = app
        .call(
            Method::DELETE,
            "/v1/orgs/hill/catalogue/permissions/governors.content.create",
            Some(&key),
            None,
        )
        .await
        .problem(409, "permission_in_use");
    assert!(
        r.body["detail"].as_str().unwrap().contains("Clerks"),
        "{:#}",
        r.body
    );
    app.call(
        Method::PATCH,
        &format!("/v1/orgs/hill/user-groups/{group_id}"),
        Some(&admin),
        Some(json!({"system_permissions": ["profile.edit_own", "governors.content.edit_others"]})),
    )
    .await
    .expect(200);
    app.call(
        Method::DELETE,
        "/v1/orgs/hill/catalogue/permissions/governors.content.create",
        Some(&key),
        None,
    )
    .await
    .expect(204);
    app.call(
        Method::DELETE,
        "/v1/orgs/hill/catalogue/permissions/governors.content.create",
        Some(&key),
        None,
    )
    .await
    .problem(404, "not_found");
    assert_eq!(
        app.audit(&org, &admin, "catalogue.permission_unregistered")
            .await
            .len(),
        1
    );
    let r = app
        .post(
            "/v1/orgs/hill/user-groups",
            Some(&admin),
            json!({"name": "Late", "system_permissions": ["governors.content.create"]}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        r.field_codes(),
        [(
            "system_permissions".to_owned(),
            "unknown_permission".to_owned()
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_keys_are_bounded_and_only_a_catalogue_key_registers() {
    let (app, _, admin) = TestApp::hill().await;
    let key = app.service_key("hill", &admin, "catalogue").await;
    let decisions = app.service_key("hill", &admin, "decisions").await;
    for who in [&admin, &decisions] {
        register(&app, who, governors())
            .await
            .problem(403, "permission_denied")
            .assert_rule("A7");
    }
    let r = register(
        &app,
        &key,
        json!([
            {"key": "students.delete_all", "level": "high", "description": "x"},
            {"key": "Governors.Create", "level": "high", "description": "x"},
            {"key": "governors", "level": "high", "description": "x"},
            {"key": format!("governors.{}", "a".repeat(100)), "level": "high", "description": "x"},
            {"key": "planner2.view", "level": "medium", "description": "x"},
            {"key": "library2.view", "level": "low", "description": ""},
        ]),
    )
    .await
    .problem(422, "validation_failed");
    assert_eq!(
        r.field_codes(),
        [(
            "permissions[4].level".to_owned(),
            "invalid_level".to_owned()
        )]
    );
    let r = register(
        &app,
        &key,
        json!([
            {"key": "students.delete_all", "level": "high", "description": "x"},
            {"key": "Governors.Create", "level": "high", "description": "x"},
            {"key": "governors", "level": "high", "description": "x"},
            {"key": format!("governors.{}", "a".repeat(100)), "level": "high", "description": "x"},
            {"key": "library2.view", "level": "low", "description": ""},
            {"key": "library2.view", "level": "low", "description": "y"},
        ]),
    )
    .await
    .problem(422, "validation_failed");
    assert_eq!(
        r.field_codes(),
        [
            (
                "permissions[0].key".to_owned(),
                "reserved_namespace".to_owned()
            ),
            ("permissions[1].key".to_owned(), "invalid_key".to_owned()),
            ("permissions[2].key".to_owned(), "invalid_key".to_owned()),
            ("permissions[3].key".to_owned(), "length".to_owned()),
            ("permissions[4].description".to_owned(), "length".to_owned()),
            ("permissions[5].key".to_owned(), "duplicate".to_owned()),
        ]
    );
    let many: Vec<Value> = (0..201)
        .map(|i| json!({"key": format!("bulk.p{i}"), "level": "low", "description": "x"}))
        .collect();
    let r = register(&app, &key, Value::Array(many))
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        r.field_codes(),
        [("permissions".to_owned(), "length".to_owned())]
    );
    // Nothing was registered by any of it.
    let listed = app
        .get("/v1/orgs/hill/catalogue/permissions", &key)
        .await
        .expect(200);
    assert_eq!(listed.body["total"], 0);
    // Another org's key sees and changes nothing here.
    let dale = app.org("dale").await;
    let dale_admin = app.admin(&dale).await;
    let dale_key = app.service_key("dale", &dale_admin, "catalogue").await;
    register(&app, &dale_key, governors())
        .await
        .problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_a_product_owns_its_permissions_and_levels_change_together() {
    let (app, org, admin) = TestApp::hill().await;
    let governors_key = app.service_key("hill", &admin, "catalogue").await;
    register(&app, &governors_key, governors())
        .await
        .expect(200);
    app.post(
        "/v1/orgs/hill/user-groups",
        Some(&admin),
        json!({"name": "Clerks", "system_permissions": ["governors.content.create", "governors.content.edit_others"]}),
    )
    .await
    .expect(201);
    // Both levels of one group changed in one call.
    let r = register(
        &app,
        &governors_key,
        json!([
            {"key": "governors.content.create", "level": "low", "description": "Publish papers."},
            {"key": "governors.content.edit_others", "level": "high", "description": "Edit others' papers."},
        ]),
    )
    .await
    .expect(200);
    assert_eq!(r.body["items"][1]["level"], "high");
    let edits = app.audit(&org, &admin, "user_group.updated").await;
    assert_eq!(edits.len(), 2, "each group change audited: {edits:#?}");
    // Another product's key neither re-levels nor removes them.
    let planner_key = app.service_key("hill", &admin, "catalogue").await;
    register(
        &app,
        &planner_key,
        json!([{"key": "governors.content.create", "level": "high", "description": "mine now"}]),
    )
    .await
    .problem(403, "permission_denied")
    .assert_rule("A7");
    app.call(
        Method::DELETE,
        "/v1/orgs/hill/catalogue/permissions/governors.content.edit_others",
        Some(&planner_key),
        None,
    )
    .await
    .problem(403, "permission_denied")
    .assert_rule("A7");
    // The engine's internal actions are not names a caller may ask about.
    let clerk = app.user(&org, &admin, "clerk@hill.school", "Clerks").await;
    let r = app
        .post(
            "/v1/orgs/hill/access/check",
            Some(&admin),
            json!({"user_id": clerk, "action": "exercise_registered", "resource": {"type": "org"}}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        r.field_codes(),
        [("action".to_owned(), "unknown_action".to_owned())]
    );
}
