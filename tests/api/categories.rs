//! G1 categories (a tree, edited by admins, every change audited) and R9 monitoring marks.

use crate::harness::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn categories(app: &TestApp, token: &str, slug: &str) -> Vec<Value> {
    app.get(&format!("/v1/orgs/{slug}/categories"), token)
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn category_id(app: &TestApp, token: &str, slug: &str, name: &str) -> String {
    categories(app, token, slug)
        .await
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["id"].as_str())
        .unwrap_or_else(|| panic!("no category {name}"))
        .to_owned()
}

/// One pupil on roll, pushed through the MIS; answers its id.
async fn pupil(app: &TestApp, admin: &str, slug: &str) -> String {
    let key = app.service_key(slug, admin, "mis.sync").await;
    app.call(
        Method::PUT,
        &format!("/v1/orgs/{slug}/mis/students"),
        Some(&key),
        Some(json!({"items": [{"mis_id": "P1", "forename": "Amelia", "surname": "Hughes", "on_roll": true}]})),
    )
    .await
    .expect(200);
    app.get(&format!("/v1/orgs/{slug}/students"), admin)
        .await
        .expect(200)
        .body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g1_admins_shape_the_category_tree_and_every_change_is_audited() {
    let (app, org, admin) = TestApp::hill().await;
    let base = "/v1/orgs/hill/categories";
    let created = app
        .post(base, Some(&admin), json!({"name": " Online Safety "}))
        .await
        .expect(201);
    assert_eq!(created.headers["etag"], "\"1\"");
    assert_eq!(created.body["name"], "Online Safety");
    assert_eq!(created.body["sensitive"], false);
    assert_eq!(
        created.body["position"], 4,
        "placed after the four default categories"
    );
    let online = created.body["id"].as_str().unwrap().to_owned();
    let sub = app
        .post(
            base,
            Some(&admin),
            json!({"name": "Cyberbullying", "parent_id": online}),
        )
        .await
        .expect(201);
    assert_eq!(sub.body["parent_id"], online.as_str());
    assert_eq!(sub.body["position"], 0);
    let sub_id = sub.body["id"].as_str().unwrap().to_owned();
    let audit = app.audit(&org, &admin, "category.created").await;
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1]["target_id"], online.as_str());
    assert_eq!(audit[1]["changes"]["name"], json!([null, "Online Safety"]));
    // Sibling names are unique, whatever the case; the same name elsewhere is fine.
    app.post(base, Some(&admin), json!({"name": "online safety"}))
        .await
        .problem(409, "category_name_in_use");
    app.post(
        base,
        Some(&admin),
        json!({"name": "Online Safety", "parent_id": online}),
    )
    .await
    .expect(201);
    // Every bad field at once; nothing is written.
    let bad = app
        .post(
            base,
            Some(&admin),
            json!({"name": "", "parent_id": uuid::Uuid::new_v4()}),
        )
        .await
        .problem(422, "validation_failed");
    let codes = bad.sorted_field_codes();
    assert_eq!(
        codes,
        [
            ("name".to_owned(), "length".to_owned()),
            ("parent_id".to_owned(), "unknown_category".to_owned())
        ]
    );
    assert_eq!(categories(&app, &admin, "hill").await.len(), 4 + 13 + 3);
    // The tree stays a tree.
    let path = format!("{base}/{online}");
    app.patch(&path, &admin, json!({"parent_id": sub_id}))
        .await
        .problem(422, "validation_failed");
    // A stale If-Match is refused; the right one moves the version on.
    app.call_with(
        Method::PATCH,
        &path,
        Some(&admin),
        Some(json!({"name": "E-Safety"})),
        &[("If-Match", "\"7\"")],
    )
    .await
    .problem(412, "version_mismatch");
    let renamed = app
        .call_with(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"name": "E-Safety", "sensitive": true})),
            &[("If-Match", "\"1\"")],
        )
        .await
        .expect(200);
    assert_eq!(renamed.headers["etag"], "\"2\"");
    assert_eq!(renamed.body["sensitive"], true);
    let one = app.get(&path, &admin).await.expect(200);
    assert_eq!(one.body["name"], "E-Safety");
    let audit = app.audit(&org, &admin, "category.updated").await;
    assert_eq!(
        audit[0]["changes"]["name"],
        json!(["Online Safety", "E-Safety"])
    );
    assert_eq!(audit[0]["changes"]["sensitive"], json!([false, true]));
    // Any member reads the tree; only admins change it (G1).
    app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let teacher = app
        .token_with_key("hill", "t@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    assert_eq!(categories(&app, &teacher, "hill").await.len(), 20);
    let denied = app
        .post(base, Some(&teacher), json!({"name": "Mine"}))
        .await
        .problem(403, "permission_denied");
    assert_eq!(denied.body["rule"], "G1");
    // A category with sub-categories stays; without, it goes with its audit entry.
    let del = |p: String| {
        let app = &app;
        let admin = admin.clone();
        async move { app.call(Method::DELETE, &p, Some(&admin), None).await }
    };
    let refused = del(path.clone()).await.problem(409, "category_in_use");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("2 sub-categories")
    );
    del(format!("{base}/{sub_id}")).await.expect(204);
    let twin = category_id(&app, &admin, "hill", "Online Safety").await;
    del(format!("{base}/{twin}")).await.expect(204);
    del(path.clone()).await.expect(204);
    app.get(&path, &admin).await.problem(404, "not_found");
    assert_eq!(app.audit(&org, &admin, "category.deleted").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g1_a_new_category_is_granted_where_its_parent_was_and_an_incident_keeps_it() {
    let (app, org, admin) = TestApp::hill().await;
    let student = pupil(&app, &admin, "hill").await;
    let behaviour = category_id(&app, &admin, "hill", "Behaviour").await;
    let cp = category_id(&app, &admin, "hill", "Child Protection").await;
    let new_sub = |parent: &str, name: &str| {
        let app = &app;
        let admin = admin.clone();
        let body = json!({"name": name, "parent_id": parent});
        async move {
            app.post("/v1/orgs/hill/categories", Some(&admin), body)
                .await
                .expect(201)
                .id()
        }
    };
    let online = new_sub(&behaviour, "Online").await;
    let fgm = new_sub(&cp, "FGM").await;
    let flags = |group: &str, category: &str| {
        let app = &app;
        let admin = admin.clone();
        let (group, category) = (group.to_owned(), category.to_owned());
        let org = &org;
        async move {
            let id = app.group_id(org, &admin, &group).await;
            let g = app
                .get(&format!("/v1/orgs/hill/user-groups/{id}"), &admin)
                .await
                .expect(200);
            g.body["category_permissions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["category_id"] == category.as_str())
                .map(|p| {
                    (
                        p["view_students"].as_bool().unwrap(),
                        p["view_incidents"].as_bool().unwrap(),
                        p["add_incidents"].as_bool().unwrap(),
                    )
                })
        }
    };
    // Teachers see Behaviour's records: they see the new branch's; Child Protection's new
    // branch stays with those who held Child Protection.
    assert_eq!(flags("Teachers", &online).await, Some((true, true, true)));
    assert_eq!(flags("Teachers", &fgm).await, Some((false, false, true)));
    assert_eq!(flags("SLT", &fgm).await, Some((false, false, true)));
    assert_eq!(
        flags("DSL / Child Protection Team", &fgm).await,
        Some((true, true, true))
    );
    // A top-level category: only the creating admin's group holds it.
    let top = app
        .post(
            "/v1/orgs/hill/categories",
            Some(&admin),
            json!({"name": "Young Carers"}),
        )
        .await
        .expect(201)
        .id();
    assert_eq!(flags("Teachers", &top).await, None);
    assert_eq!(
        flags("DSL / Child Protection Team", &top).await,
        Some((true, true, true))
    );
    // An incident keeps its category.
    app.post(
        "/v1/orgs/hill/incidents",
        Some(&admin),
        json!({"student_id": student, "category_id": top, "description": "Cares for a parent", "occurred_at": "2026-11-30T09:00:00Z"}),
    )
    .await
    .expect(201);
    let refused = app
        .call(
            Method::DELETE,
            &format!("/v1/orgs/hill/categories/{top}"),
            Some(&admin),
            None,
        )
        .await
        .problem(409, "category_in_use");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("1 incidents")
    );
    assert!(
        categories(&app, &admin, "hill")
            .await
            .iter()
            .any(|c| c["id"] == top.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r9_a_monitoring_mark_shows_only_to_sessions_with_view_students_on_its_category() {
    let (app, org, admin) = TestApp::hill().await;
    let student = pupil(&app, &admin, "hill").await;
    let behaviour = category_id(&app, &admin, "hill", "Behaviour").await;
    let cp = category_id(&app, &admin, "hill", "Child Protection").await;
    let peers = category_id(&app, &admin, "hill", "Against Peers").await;
    let marks = format!("/v1/orgs/hill/students/{student}/monitored-categories");
    for c in [&behaviour, &cp, &peers] {
        app.post(&marks, Some(&admin), json!({"category_id": c}))
            .await
            .expect(200);
    }
    let mut all = vec![behaviour.clone(), cp.clone(), peers.clone()];
    all.sort();
    let shown = |r: &Value| {
        let mut v: Vec<String> = r["monitored_category_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    // Marking twice changes nothing and writes one audit entry per mark.
    let again = app
        .post(&marks, Some(&admin), json!({"category_id": cp}))
        .await
        .expect(200);
    assert_eq!(shown(&again.body), all);
    let audit = app.audit(&org, &admin, "student.monitoring_added").await;
    assert_eq!(audit.len(), 3);
    assert_eq!(audit[0]["target_id"], student.as_str());
    // A pastoral lead: edits students, views students on Behaviour but not on its
    // sub-category Against Peers, and nothing on Child Protection.
    let pastoral = app
        .post(
            "/v1/orgs/hill/user-groups",
            Some(&admin),
            json!({"name": "Pastoral", "system_permissions": ["students.list", "students.view", "students.edit"],
                   "category_permissions": [{"category_id": behaviour, "view_students": true, "view_incidents": false, "add_incidents": false}]}),
        )
        .await
        .expect(201);
    assert_eq!(pastoral.body["name"], "Pastoral");
    app.user(&org, &admin, "p@hill.school", "Pastoral").await;
    let lead = app
        .token_with_key("hill", "p@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    let one = app
        .get(&format!("/v1/orgs/hill/students/{student}"), &lead)
        .await
        .expect(200);
    assert_eq!(shown(&one.body), vec![behaviour.clone()]);
    let list = app.get("/v1/orgs/hill/students", &lead).await.expect(200);
    assert_eq!(shown(&list.body["items"][0]), vec![behaviour.clone()]);
    // Filtering by a mark one may see works in the query; by one one may not, is refused.
    let by = |c: &str| format!("/v1/orgs/hill/students?monitored_category_id={c}");
    assert_eq!(
        app.get(&by(&behaviour), &lead).await.expect(200).body["total"],
        1
    );
    let refused = app
        .get(&by(&cp), &lead)
        .await
        .problem(403, "permission_denied");
    assert_eq!(refused.body["rule"], "R9");
    // Setting a mark needs view-students on that very category (a sub-category has its own).
    let r = app
        .post(&marks, Some(&lead), json!({"category_id": peers}))
        .await
        .problem(403, "permission_denied");
    assert_eq!(r.body["rule"], "R9");
    app.call(
        Method::DELETE,
        &format!("{marks}/{behaviour}"),
        Some(&lead),
        None,
    )
    .await
    .expect(204);
    assert_eq!(
        app.get(&by(&behaviour), &lead).await.expect(200).body["total"],
        0
    );
    let removed = app.audit(&org, &admin, "student.monitoring_removed").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(
        removed[0]["changes"]["monitored_category_id"],
        json!([behaviour, null])
    );
    // The admin still sees the marks the lead cannot.
    let one = app
        .get(&format!("/v1/orgs/hill/students/{student}"), &admin)
        .await
        .expect(200);
    let mut rest = vec![cp.clone(), peers.clone()];
    rest.sort();
    assert_eq!(shown(&one.body), rest);
    // A teacher holds no students.edit (G1); an unknown category is a field error.
    app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let teacher = app
        .token_with_key("hill", "t@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    let r = app
        .post(&marks, Some(&teacher), json!({"category_id": behaviour}))
        .await
        .problem(403, "permission_denied");
    assert_eq!(r.body["rule"], "G1");
    let r = app
        .post(
            &marks,
            Some(&admin),
            json!({"category_id": uuid::Uuid::new_v4()}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        r.field_codes(),
        [("category_id".to_owned(), "unknown_category".to_owned())]
    );
    // R5: a pupil blocked for the admin (by another admin: nobody blocks on their own
    // account) is not found, marks or not.
    let admin_id = org.admin_id.to_string();
    app.user(
        &org,
        &admin,
        "head@hill.school",
        "DSL / Child Protection Team",
    )
    .await;
    let head = app
        .token_with_key("hill", "head@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    app.post(
        &format!("/v1/orgs/hill/users/{admin_id}/blocked-students"),
        Some(&head),
        json!({"student_id": student, "reason": "my niece"}),
    )
    .await
    .expect(201);
    app.post(&marks, Some(&admin), json!({"category_id": behaviour}))
        .await
        .problem(404, "not_found");
    // Deleting a category takes its marks with it, and says how many in the audit.
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/orgs/hill/categories/{peers}"),
            Some(&admin),
            None,
        )
        .await;
    r.expect(204);
    let deleted = app.audit(&org, &admin, "category.deleted").await;
    assert_eq!(deleted[0]["changes"]["monitored_students"], json!([1, 0]));
}
