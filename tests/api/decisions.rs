//! Issue 16: the decision point. R10 in bulk for services (`access/check-batch`), R11 (who can
//! see this child, and what can this user see). The random-school property tests are in
//! `differential.rs`; these hold the doors, the bounds and the rules one by one.

use crate::harness::*;
use crate::side_doors::{BLOCKED, HIDDEN, VISIBLE, doors};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn check(id: &str, user: &str, action: &str, pupil: &str) -> Value {
    json!({"id": id, "user_id": user, "action": action, "resource": {"type": "student", "id": pupil}})
}

async fn batch(app: &TestApp, key: &str, checks: Value) -> Res {
    app.call(
        Method::POST,
        "/v1/orgs/hill/access/check-batch",
        Some(key),
        Some(json!({ "checks": checks })),
    )
    .await
}

fn user_ids(page: &Value) -> BTreeSet<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["user_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r10_check_batch_answers_each_check_and_tells_a_block_as_r4_and_unknown_records_per_check()
{
    let d = doors().await;
    let (teacher, _) = d.staff("t@hill.school", "Teachers").await;
    let gone = d
        .app
        .user(&d.org, &d.admin, "gone@hill.school", "Teachers")
        .await;
    d.app
        .post(
            &format!("/v1/orgs/hill/users/{gone}/deactivate"),
            Some(&d.admin),
            json!({}),
        )
        .await
        .expect(200);
    // Sees nothing, and BLOCKED is blocked for them: the block must not show through the
    // order in which the rules are asked either.
    d.group("Nothing", &[], &[]).await;
    let (nobody, _) = d.staff("n@hill.school", "Nothing").await;
    let key = d.app.service_key("hill", &d.admin, "decisions").await;
    let missing = uuid::Uuid::new_v4().to_string();
    let r = batch(
        &d.app,
        &key,
        json!([
            check("visible", &teacher, "students.view", d.id(VISIBLE)),
            check("blocked", &teacher, "students.view", d.id(BLOCKED)),
            check("hidden", &teacher, "students.view", d.id(HIDDEN)),
            check("gone", &gone, "students.view", d.id(VISIBLE)),
            check("no-user", &missing, "students.view", d.id(VISIBLE)),
            check("no-pupil", &teacher, "students.view", &missing),
            {"id": "org", "user_id": teacher, "action": "admin.manage_users", "resource": {"type": "org"}},
            {"id": "no-group", "user_id": teacher, "action": "grant_group", "resource": {"type": "user_group", "id": missing}},
            check("nobody-blocked", &nobody, "students.view", d.id(BLOCKED)),
            check("nobody-visible", &nobody, "students.view", d.id(VISIBLE)),
        ]),
    )
    .await
    .expect(200);
    let results = r.body["results"].as_array().unwrap();
    let by_id = |id: &str| results.iter().find(|x| x["id"] == id).unwrap().clone();
    let ids: Vec<&str> = results.iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "visible",
            "blocked",
            "hidden",
            "gone",
            "no-user",
            "no-pupil",
            "org",
            "no-group",
            "nobody-blocked",
            "nobody-visible"
        ],
        "in the order asked"
    );
    let first_rule = |id: &str| {
        by_id(id)["reasons"][0]["rule"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(by_id("visible")["allowed"], true);
    assert_eq!(by_id("blocked")["allowed"], false);
    assert_eq!(
        first_rule("blocked"),
        "R4",
        "a block is told as R4 to a service"
    );
    assert!(!r.body.to_string().contains("R5"), "{:#}", r.body);
    assert_eq!(by_id("hidden")["allowed"], false);
    assert_eq!(first_rule("hidden"), "R4");
    // A block's R4 and an allow-list's R4 read the same.
    assert_eq!(by_id("blocked")["reasons"], by_id("hidden")["reasons"]);
    assert_eq!(
        by_id("blocked")["reasons"][0]["detail"],
        "the student is not visible to this user"
    );
    // Blocked or not, someone without the permission is refused by G1.
    assert_eq!(first_rule("nobody-blocked"), "G1");
    assert_eq!(
        by_id("nobody-blocked")["reasons"],
        by_id("nobody-visible")["reasons"]
    );
    assert_eq!(by_id("gone")["allowed"], false);
    assert_eq!(first_rule("gone"), "U5");
    assert_eq!(by_id("no-user")["error"]["code"], "unknown_user");
    assert_eq!(by_id("no-user")["allowed"], false);
    assert_eq!(by_id("no-pupil")["error"]["code"], "unknown_student");
    assert_eq!(by_id("no-pupil")["error"]["field"], "resource.id");
    assert_eq!(by_id("org")["allowed"], false);
    assert_eq!(first_rule("org"), "G1");
    assert_eq!(by_id("no-group")["error"]["code"], "unknown_group");
    assert!(by_id("visible").get("error").is_none());

    // Another org's pupil is a missing one.
    let dale = d.app.org("dale").await;
    let dale_admin = d.app.admin(&dale).await;
    let dale_key = d.app.service_key("dale", &dale_admin, "decisions").await;
    let r = d
        .app
        .call(
            Method::POST,
            "/v1/orgs/dale/access/check-batch",
            Some(&dale_key),
            Some(json!({"checks": [check("x", &dale.admin_id.to_string(), "students.view", d.id(VISIBLE))]})),
        )
        .await
        .expect(200);
    assert_eq!(r.body["results"][0]["error"]["code"], "unknown_student");
    // A key asks about its own org only.
    batch(
        &d.app,
        &dale_key,
        json!([check("x", &teacher, "students.view", d.id(VISIBLE))]),
    )
    .await
    .problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r10_check_batch_is_for_decisions_keys_only_and_bounded() {
    let d = doors().await;
    let (teacher, _) = d.staff("t@hill.school", "Teachers").await;
    let one = json!([check("a", &teacher, "students.view", d.id(VISIBLE))]);
    // A person, even an admin, is refused by A7; so is a key of another scope.
    batch(&d.app, &d.admin, one.clone())
        .await
        .problem(403, "permission_denied")
        .assert_rule("A7");
    let mis = d.app.service_key("hill", &d.admin, "mis.sync").await;
    batch(&d.app, &mis, one.clone())
        .await
        .problem(403, "permission_denied")
        .assert_rule("A7");
    let key = d.app.service_key("hill", &d.admin, "decisions").await;
    // None, or more than 1 000: refused whole, naming `checks`.
    for checks in [
        json!([]),
        Value::Array(
            (0..1001)
                .map(|i| check(&format!("c{i}"), &teacher, "students.view", d.id(VISIBLE)))
                .collect(),
        ),
    ] {
        let r = batch(&d.app, &key, checks)
            .await
            .problem(422, "validation_failed");
        assert_eq!(
            r.field_codes(),
            [("checks".to_owned(), "length".to_owned())]
        );
    }
    // 1 000 are answered.
    let full: Vec<Value> = (0..1000)
        .map(|i| check(&format!("c{i}"), &teacher, "students.view", d.id(VISIBLE)))
        .collect();
    let r = batch(&d.app, &key, Value::Array(full)).await.expect(200);
    assert_eq!(r.body["results"].as_array().unwrap().len(), 1000);
    // Malformed checks name themselves; nothing is answered.
    let r = batch(
        &d.app,
        &key,
        json!([
            check("a", &teacher, "students.view", d.id(VISIBLE)),
            check("a", &teacher, "students.fly", d.id(VISIBLE)),
            {"id": "", "user_id": teacher, "action": "students.view", "resource": {"type": "planet"}},
        ]),
    )
    .await
    .problem(422, "validation_failed");
    assert_eq!(
        r.field_codes(),
        [
            ("checks[1].id".to_owned(), "duplicate".to_owned()),
            ("checks[1].action".to_owned(), "unknown_action".to_owned()),
            ("checks[2].id".to_owned(), "length".to_owned()),
            (
                "checks[2].resource".to_owned(),
                "invalid_resource".to_owned()
            ),
        ]
    );
    // Not a list, an unknown field, a user id that is no uuid: 400, as any malformed body.
    for body in [
        json!({"checks": {"a": 1}}),
        json!({"checks": [], "extra": true}),
        json!({"checks": [{"id": "a", "user_id": "x", "action": "students.view", "resource": {"type": "org"}}]}),
    ] {
        d.app
            .call(
                Method::POST,
                "/v1/orgs/hill/access/check-batch",
                Some(&key),
                Some(body),
            )
            .await
            .problem(400, "malformed_body");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r11_viewers_lists_who_may_see_a_pupil_and_who_may_read_its_incidents_per_category() {
    let d = doors().await;
    let (teacher, _) = d.staff("t@hill.school", "Teachers").await;
    // On Year 1's allow-list, nothing blocked.
    let other = d
        .app
        .user(&d.org, &d.admin, "o@hill.school", "Teachers")
        .await;
    d.app
        .post(
            &format!("/v1/orgs/hill/student-groups/{}/access", d.groups["Y1"]),
            Some(&d.admin),
            json!({"user_ids": [other]}),
        )
        .await
        .expect(200);
    // Off every allow-list.
    d.app
        .user(&d.org, &d.admin, "off@hill.school", "Teachers")
        .await;
    // Reads Behaviour incidents, sees no record; on Year 1's allow-list.
    d.group("Behaviour readers", &[], &["Behaviour"]).await;
    let reader = d
        .app
        .user(&d.org, &d.admin, "r@hill.school", "Behaviour readers")
        .await;
    // Deactivated, though on the allow-list.
    let gone = d
        .app
        .user(&d.org, &d.admin, "gone@hill.school", "Teachers")
        .await;
    for u in [&reader, &gone] {
        d.app
            .post(
                &format!("/v1/orgs/hill/student-groups/{}/access", d.groups["Y1"]),
                Some(&d.admin),
                json!({"user_ids": [u]}),
            )
            .await
            .expect(200);
    }
    d.app
        .post(
            &format!("/v1/orgs/hill/users/{gone}/deactivate"),
            Some(&d.admin),
            json!({}),
        )
        .await
        .expect(200);
    let admin_id = d.org.admin_id.to_string();
    let key = d.app.service_key("hill", &d.admin, "decisions").await;
    let path = |pupil: &str| format!("/v1/orgs/hill/students/{pupil}/viewers");
    for asker in [d.admin.as_str(), key.as_str()] {
        let r = d.app.get(&path(d.id(VISIBLE)), asker).await.expect(200);
        assert_eq!(
            user_ids(&r.body),
            BTreeSet::from([teacher.clone(), other.clone(), admin_id.clone()]),
            "{:#}",
            r.body
        );
        assert_eq!(r.body["total"], 3);
        let v = &r.body["items"][0];
        for field in [
            "user_id",
            "username",
            "forename",
            "surname",
            "user_group_id",
            "user_group_name",
            "reasons",
        ] {
            assert!(v.get(field).is_some(), "{field}: {v:#}");
        }
        assert!(v.get("email").is_none(), "names and group only: {v:#}");
        let rules = rules(v);
        // R5 is named to admins only.
        let expected: &[&str] = if asker == d.admin {
            &["G1", "R4", "R5", "G1"]
        } else {
            &["G1", "R4", "G1"]
        };
        assert_eq!(rules, expected, "{v:#}");
        // The block keeps the teacher off the blocked pupil's viewers.
        let r = d.app.get(&path(d.id(BLOCKED)), asker).await.expect(200);
        assert_eq!(
            user_ids(&r.body),
            BTreeSet::from([other.clone(), admin_id.clone()])
        );
        // Year 2's allow-list names only the admin.
        let r = d.app.get(&path(d.id(HIDDEN)), asker).await.expect(200);
        assert_eq!(user_ids(&r.body), BTreeSet::from([admin_id.clone()]));
        // Per category: who reads its incidents (R8), not who sees its record.
        let r = d
            .app
            .get(
                &format!(
                    "{}?category_id={}",
                    path(d.id(VISIBLE)),
                    d.categories["Behaviour"]
                ),
                asker,
            )
            .await
            .expect(200);
        let readers = user_ids(&r.body);
        assert!(readers.contains(&reader), "{:#}", r.body);
        assert!(!readers.contains(&gone));
        let reader_row = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["user_id"] == reader.as_str())
            .unwrap()
            .clone();
        assert_eq!(reader_row["reasons"][0]["rule"], "R8", "{reader_row:#}");
        // Filters, in the query.
        let r = d
            .app
            .get(
                &format!("{}?q=o%40hill&per_page=1", path(d.id(VISIBLE))),
                asker,
            )
            .await
            .expect(200);
        assert_eq!(user_ids(&r.body), BTreeSet::from([other.clone()]));
        assert_eq!(r.body["total"], 1);
        // An unknown category names the parameter.
        d.app
            .get(
                &format!(
                    "{}?category_id={}",
                    path(d.id(VISIBLE)),
                    uuid::Uuid::new_v4()
                ),
                asker,
            )
            .await
            .problem(422, "validation_failed");
        // A missing pupil: 404.
        d.app
            .get(&path(&uuid::Uuid::new_v4().to_string()), asker)
            .await
            .problem(404, "not_found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r11_viewers_of_a_pupil_the_admin_may_not_see_is_a_missing_one_and_others_are_refused() {
    let d = doors().await;
    // An admin on Year 1's allow-list only, with BLOCKED blocked.
    d.group(
        "Deputy admins",
        &[
            "admin.manage_system",
            "admin.manage_users",
            "students.list",
            "students.view",
        ],
        &[],
    )
    .await;
    let (_, manager) = d.staff("am@hill.school", "Deputy admins").await;
    let missing = d
        .app
        .get(
            &format!("/v1/orgs/hill/students/{}/viewers", uuid::Uuid::new_v4()),
            &manager,
        )
        .await
        .problem(404, "not_found");
    for hidden in [HIDDEN, BLOCKED] {
        let r = d
            .app
            .get(
                &format!("/v1/orgs/hill/students/{}/viewers", d.id(hidden)),
                &manager,
            )
            .await
            .problem(404, "not_found");
        assert_eq!(r.body, missing.body, "a hidden pupil is a missing one");
    }
    d.app
        .get(
            &format!("/v1/orgs/hill/students/{}/viewers", d.id(VISIBLE)),
            &manager,
        )
        .await
        .expect(200);
    // A teacher, and an access manager (`admin.manage_users` but no `admin.manage_system`:
    // who is missing from either list may be blocked, and blocks are admins' only, R5), and a
    // key without `decisions` are refused.
    let (_, teacher) = d.staff("t@hill.school", "Teachers").await;
    d.group(
        "Access managers",
        &["admin.manage_users", "students.list", "students.view"],
        &[],
    )
    .await;
    let (access_manager_id, access_manager) = d.staff("acc@hill.school", "Access managers").await;
    for who in [&teacher, &access_manager] {
        d.app
            .get(
                &format!("/v1/orgs/hill/students/{}/viewers", d.id(VISIBLE)),
                who,
            )
            .await
            .problem(403, "permission_denied")
            .assert_rule("G1");
        d.app
            .get(
                &format!("/v1/orgs/hill/users/{access_manager_id}/visible-students"),
                who,
            )
            .await
            .problem(403, "permission_denied")
            .assert_rule("G1");
    }
    let mis = d.app.service_key("hill", &d.admin, "mis.sync").await;
    d.app
        .get(
            &format!("/v1/orgs/hill/students/{}/viewers", d.id(VISIBLE)),
            &mis,
        )
        .await
        .problem(403, "permission_denied")
        .assert_rule("A7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r11_visible_students_is_the_list_the_user_would_get_of_pupils_the_admin_sees_too() {
    let d = doors().await;
    let (teacher, token) = d.staff("t@hill.school", "Teachers").await;
    let mis_ids = |page: &Value| -> BTreeSet<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["mis_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let own = d
        .app
        .get("/v1/orgs/hill/students", &token)
        .await
        .expect(200);
    let path = format!("/v1/orgs/hill/users/{teacher}/visible-students");
    let asked = d.app.get(&path, &d.admin).await.expect(200);
    assert_eq!(mis_ids(&asked.body), mis_ids(&own.body));
    assert_eq!(asked.body["total"], own.body["total"]);
    assert!(!asked.body.to_string().contains(BLOCKED.0));
    assert!(!asked.body.to_string().contains(HIDDEN.0));
    // Filters and pages as the list does.
    let r = d
        .app
        .get(&format!("{path}?on_roll=true&per_page=1"), &d.admin)
        .await
        .expect(200);
    assert_eq!(r.body["total"], 1);
    assert_eq!(mis_ids(&r.body), BTreeSet::from([VISIBLE.0.to_owned()]));
    // An admin blocked from VISIBLE does not learn it through another's list.
    d.group(
        "Deputy admins",
        &[
            "admin.manage_system",
            "admin.manage_users",
            "students.list",
            "students.view",
        ],
        &[],
    )
    .await;
    let (manager_id, manager) = d.staff("am@hill.school", "Deputy admins").await;
    d.app
        .post(
            &format!("/v1/orgs/hill/users/{manager_id}/blocked-students"),
            Some(&d.admin),
            json!({"student_id": d.id(VISIBLE), "reason": "a relative"}),
        )
        .await
        .expect(201);
    let r = d.app.get(&path, &manager).await.expect(200);
    assert!(!r.body.to_string().contains(VISIBLE.0), "{:#}", r.body);
    // A user refused the list gets none; a missing user is 404; a teacher is refused.
    d.group("Nothing", &[], &[]).await;
    let nobody = d
        .app
        .user(&d.org, &d.admin, "n@hill.school", "Nothing")
        .await;
    let r = d
        .app
        .get(
            &format!("/v1/orgs/hill/users/{nobody}/visible-students"),
            &d.admin,
        )
        .await
        .expect(200);
    assert_eq!(r.body["total"], 0);
    assert_eq!(r.body["items"], json!([]));
    d.app
        .get(
            &format!(
                "/v1/orgs/hill/users/{}/visible-students",
                uuid::Uuid::new_v4()
            ),
            &d.admin,
        )
        .await
        .problem(404, "not_found");
    d.app
        .get(&path, &token)
        .await
        .problem(403, "permission_denied");
}
