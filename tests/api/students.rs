//! R3–R8, R10: who sees which child. Lists are filtered in the query; a page never hides
//! rows after the fact and `total` counts only visible pupils.

use crate::harness::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;

struct School {
    app: TestApp,
    admin: String,
    teacher: String,
    teacher_id: String,
    /// The MIS integration's key.
    key: String,
    /// MIS id → student id
    pupils: HashMap<String, String>,
    /// MIS id → student group id
    groups: HashMap<String, String>,
}

/// P1 (Year 1, Kestrel), P2 (Year 1), P3 (Year 2, Kestrel), P4 (no group). Year groups restrict;
/// the teacher is on Year 1's allow-list only.
async fn school() -> School {
    let (app, org, admin) = TestApp::hill().await;
    let key = app
        .post(
            "/v1/orgs/hill/service-accounts",
            Some(&admin),
            json!({"name": "MIS", "scopes": ["mis.sync"]}),
        )
        .await
        .expect(201)
        .body["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let put = |path: &'static str, body: Value| {
        let app = &app;
        let key = key.clone();
        async move {
            app.call(Method::PUT, path, Some(&key), Some(body))
                .await
                .expect(200)
        }
    };
    put(
        "/v1/orgs/hill/mis/students",
        json!({"items": [
            {"mis_id": "P1", "forename": "Amelia", "surname": "Hughes", "on_roll": true},
            {"mis_id": "P2", "forename": "Noah", "surname": "Patel", "on_roll": true},
            {"mis_id": "P3", "forename": "Isla", "surname": "Bennett", "on_roll": true},
            {"mis_id": "P4", "forename": "Leo", "surname": "Kowalski", "on_roll": true}
        ]}),
    )
    .await;
    put("/v1/orgs/hill/mis/student-groups", json!({"items": [
        {"mis_id": "Y1", "type": "academic_level", "name": "Year 1", "member_mis_ids": ["P1", "P2"]},
        {"mis_id": "Y2", "type": "academic_level", "name": "Year 2", "member_mis_ids": ["P3"]},
        {"mis_id": "H1", "type": "house", "name": "Kestrel", "member_mis_ids": ["P1", "P3"]}
    ]}))
    .await;
    // Before years restrict, the admin sees every pupil (no registration groups here).
    let mut pupils = HashMap::new();
    for s in app
        .get("/v1/orgs/hill/students?per_page=200", &admin)
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .unwrap()
    {
        pupils.insert(
            s["mis_id"].as_str().unwrap().to_owned(),
            s["id"].as_str().unwrap().to_owned(),
        );
    }
    assert_eq!(pupils.len(), 4);
    app.patch(
        "/v1/orgs/hill/settings",
        &admin,
        json!({"restricted_group_types": ["academic_level"]}),
    )
    .await
    .expect(200);
    let teacher_id = app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let teacher = app
        .token_with_key("hill", "t@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    let mut groups = HashMap::new();
    for g in app
        .get("/v1/orgs/hill/student-groups", &admin)
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .unwrap()
    {
        groups.insert(
            g["mis_id"].as_str().unwrap().to_owned(),
            g["id"].as_str().unwrap().to_owned(),
        );
    }
    let s = School {
        app,
        admin,
        teacher,
        teacher_id,
        key,
        pupils,
        groups,
    };
    s.grant("Y1", &s.teacher_id).await;
    s
}

impl School {
    async fn admin_id(&self) -> String {
        self.app.get("/v1/me", &self.admin).await.expect(200).body["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The school's admin on every year group's allow-list: sees every pupil.
    async fn admin_sees_all(&self) {
        let id = self.admin_id().await;
        for g in ["Y1", "Y2"] {
            self.grant(g, &id).await;
        }
    }

    async fn grant(&self, group: &str, user: &str) {
        self.app
            .post(
                &format!("/v1/orgs/hill/student-groups/{}/access", self.groups[group]),
                Some(&self.admin),
                json!({"user_ids": [user]}),
            )
            .await
            .expect(200);
    }

    async fn visible(&self, token: &str) -> Vec<String> {
        let r = self
            .app
            .get("/v1/orgs/hill/students?per_page=200", token)
            .await
            .expect(200);
        let mut v: Vec<String> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["mis_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(r.body["total"], v.len(), "total counts only visible pupils");
        v.sort();
        v
    }

    /// The list and the per-record decisions agree for every pupil.
    async fn assert_list_matches_records(&self, token: &str) {
        let listed = self.visible(token).await;
        for (mis, id) in &self.pupils {
            let r = self
                .app
                .get(&format!("/v1/orgs/hill/students/{id}"), token)
                .await;
            let visible = r.status == 200;
            assert_eq!(
                visible,
                listed.contains(mis),
                "{mis}: list and record disagree"
            );
            if !visible {
                assert_eq!(
                    r.status, 404,
                    "a hidden pupil is not found, never forbidden"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_a_teacher_sees_only_pupils_whose_restricting_groups_allow_them() {
    let s = school().await;
    assert_eq!(
        s.visible(&s.teacher).await,
        ["P1", "P2", "P4"],
        "P4 is in no restricting group"
    );
    s.assert_list_matches_records(&s.teacher).await;
    let p3 = s
        .app
        .get(
            &format!("/v1/orgs/hill/students/{}", s.pupils["P3"]),
            &s.teacher,
        )
        .await
        .problem(404, "not_found");
    assert!(
        p3.body.get("rule").is_none(),
        "nothing about a hidden record is revealed"
    );
    s.grant("Y2", &s.teacher_id).await;
    assert_eq!(s.visible(&s.teacher).await, ["P1", "P2", "P3", "P4"]);
    let one = s
        .app
        .get(
            &format!("/v1/orgs/hill/students/{}", s.pupils["P3"]),
            &s.teacher,
        )
        .await
        .expect(200);
    assert_eq!(one.body["forename"], "Isla");
    assert_eq!(one.body["groups"].as_array().unwrap().len(), 2);
    // The list names each pupil's groups as the record does (read with the page's rows).
    let listed = s
        .app
        .get("/v1/orgs/hill/students?q=bennett", &s.teacher)
        .await
        .expect(200);
    let mut from_list: Vec<String> = listed.body["items"][0]["group_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_owned())
        .collect();
    let mut from_record: Vec<String> = one.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect();
    from_list.sort();
    from_record.sort();
    assert_eq!(from_list, from_record);
    let mut expected = vec![s.groups["Y2"].clone(), s.groups["H1"].clone()];
    expected.sort();
    assert_eq!(from_list, expected);
    // Paging and totals are computed in the query.
    let page = s
        .app
        .get("/v1/orgs/hill/students?per_page=2&page=2", &s.teacher)
        .await
        .expect(200);
    assert_eq!(page.body["total"], 4);
    assert_eq!(page.body["items"].as_array().unwrap().len(), 2);
    // A page past the end still tells the total (counted apart: no row carries it).
    let past = s
        .app
        .get("/v1/orgs/hill/students?per_page=2&page=9", &s.teacher)
        .await
        .expect(200);
    assert_eq!(past.body["total"], 4);
    assert_eq!(past.body["items"], json!([]));
    let past = s
        .app
        .get("/v1/orgs/hill/users?per_page=2&page=99", &s.admin)
        .await
        .expect(200);
    assert_eq!(past.body["items"], json!([]));
    assert!(past.body["total"].as_u64().is_some_and(|n| n >= 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_membership_changes_from_the_mis_move_pupils_in_and_out_of_sight() {
    let s = school().await;
    let groups = |items: Value, mark: bool| {
        let s = &s;
        async move {
            s.app
                .call(
                    Method::PUT,
                    "/v1/orgs/hill/mis/student-groups",
                    Some(&s.key),
                    Some(json!({"items": items, "mark_missing_as_left": mark})),
                )
                .await
                .expect(200)
        }
    };
    // P2 moves from Year 1 to Year 2, whose allow-list leaves the teacher off.
    groups(
        json!([
            {"mis_id": "Y1", "type": "academic_level", "name": "Year 1", "member_mis_ids": ["P1"]},
            {"mis_id": "Y2", "type": "academic_level", "name": "Year 2", "member_mis_ids": ["P3", "P2"]}
        ]),
        false,
    )
    .await;
    assert_eq!(s.visible(&s.teacher).await, ["P1", "P4"]);
    s.assert_list_matches_records(&s.teacher).await;
    // P4 joins Year 2: now in a restricting group, hidden.
    groups(
        json!([{"mis_id": "Y2", "type": "academic_level", "name": "Year 2", "member_mis_ids": ["P3", "P2", "P4"]}]),
        false,
    )
    .await;
    assert_eq!(s.visible(&s.teacher).await, ["P1"]);
    s.assert_list_matches_records(&s.teacher).await;
    // Year 2 is archived (the MIS no longer sends it): its pupils are in no restricting group.
    let r = groups(
        json!([
            {"mis_id": "Y1", "type": "academic_level", "name": "Year 1", "member_mis_ids": ["P1"]},
            {"mis_id": "H1", "type": "house", "name": "Kestrel", "member_mis_ids": ["P1", "P3"]}
        ]),
        true,
    )
    .await;
    assert_eq!(r.body["left"], 1);
    assert_eq!(s.visible(&s.teacher).await, ["P1", "P2", "P3", "P4"]);
    s.assert_list_matches_records(&s.teacher).await;
    // Year 1 becomes a custom group: nothing restricts P1 any more either; a house that
    // becomes a year group restricts its members again.
    groups(
        json!([
            {"mis_id": "Y1", "type": "custom", "name": "Year 1", "member_mis_ids": ["P1"]},
            {"mis_id": "H1", "type": "academic_level", "name": "Kestrel", "member_mis_ids": ["P1", "P3"]}
        ]),
        false,
    )
    .await;
    assert_eq!(s.visible(&s.teacher).await, ["P2", "P4"]);
    s.assert_list_matches_records(&s.teacher).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_pupil_in_two_restricting_groups_needs_both() {
    let s = school().await;
    s.app
        .patch(
            "/v1/orgs/hill/settings",
            &s.admin,
            json!({"restricted_group_types": ["academic_level", "house"]}),
        )
        .await
        .expect(200);
    assert_eq!(
        s.visible(&s.teacher).await,
        ["P2", "P4"],
        "P1 is also in Kestrel"
    );
    s.grant("H1", &s.teacher_id).await;
    assert_eq!(s.visible(&s.teacher).await, ["P1", "P2", "P4"]);
    s.assert_list_matches_records(&s.teacher).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r5_a_block_beats_every_permission_including_the_admins() {
    let s = school().await;
    let admin_id = s.admin_id().await;
    // A second admin, whom the school's DSL blocks from a pupil (a relative).
    let org = Org {
        slug: "hill".into(),
        admin_email: "dsl@hill.school".into(),
        admin_id: uuid::Uuid::nil(),
    };
    let head_id = s
        .app
        .user(
            &org,
            &s.admin,
            "head@hill.school",
            "DSL / Child Protection Team",
        )
        .await;
    let head = s
        .app
        .token_with_key("hill", "head@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    for g in ["Y1", "Y2"] {
        s.grant(g, &admin_id).await;
        s.grant(g, &head_id).await;
    }
    assert_eq!(s.visible(&head).await, ["P1", "P2", "P3", "P4"]);
    let path = format!("/v1/orgs/hill/users/{head_id}/blocked-students");
    s.app
        .post(
            &path,
            Some(&s.admin),
            json!({"student_id": s.pupils["P1"], "reason": "my nephew"}),
        )
        .await
        .expect(201);
    s.app
        .post(
            &path,
            Some(&s.admin),
            json!({"student_id": s.pupils["P1"], "reason": "again"}),
        )
        .await
        .problem(409, "already_blocked");
    s.app
        .post(
            &path,
            Some(&s.admin),
            json!({"student_id": uuid::Uuid::new_v4(), "reason": ""}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(s.visible(&head).await, ["P2", "P3", "P4"]);
    s.assert_list_matches_records(&head).await;
    let blocks = s.app.get(&path, &s.admin).await.expect(200);
    assert_eq!(blocks.body["items"][0]["reason"], "my nephew");
    assert_eq!(blocks.body["items"][0]["surname"], "Hughes");
    // Nobody adds, lifts or reads a block on their own account, admins included (R5).
    s.app
        .call(
            Method::DELETE,
            &format!("{path}/{}", s.pupils["P1"]),
            Some(&head),
            None,
        )
        .await
        .problem(403, "own_account_blocks")
        .assert_rule("R5");
    s.app
        .get(&path, &head)
        .await
        .problem(403, "own_account_blocks")
        .assert_rule("R5");
    s.app
        .post(
            &format!("/v1/orgs/hill/users/{admin_id}/blocked-students"),
            Some(&s.admin),
            json!({"student_id": s.pupils["P2"], "reason": "myself"}),
        )
        .await
        .problem(403, "own_account_blocks")
        .assert_rule("R5");
    assert_eq!(s.visible(&head).await, ["P2", "P3", "P4"]);
    // R10 explains it.
    let d = s
        .app
        .post("/v1/orgs/hill/access/check", Some(&s.admin), json!({"user_id": head_id, "action": "view_student", "resource": {"type": "student", "id": s.pupils["P1"]}}))
        .await
        .expect(200);
    assert_eq!(d.body["allowed"], false);
    assert_eq!(d.body["reasons"][0]["rule"], "R5");
    s.app
        .call(
            Method::DELETE,
            &format!("{path}/{}", s.pupils["P1"]),
            Some(&s.admin),
            None,
        )
        .await
        .expect(204);
    s.app
        .call(
            Method::DELETE,
            &format!("{path}/{}", s.pupils["P1"]),
            Some(&s.admin),
            None,
        )
        .await
        .problem(404, "not_found");
    assert_eq!(s.visible(&head).await, ["P1", "P2", "P3", "P4"]);
    assert_eq!(
        s.app
            .audit_in("hill", &s.admin, "student.blocked")
            .await
            .len(),
        1
    );
    assert_eq!(
        s.app
            .audit_in("hill", &s.admin, "student.unblocked")
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g2_r8_without_a_key_no_pupil_list_but_the_names_only_picker_still_works() {
    let s = school().await;
    let low = s.app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    s.app
        .get("/v1/orgs/hill/students", &low)
        .await
        .problem(403, "second_factor_required");
    let names = s
        .app
        .get("/v1/orgs/hill/students/picker?q=a", &low)
        .await
        .expect(200);
    let list = names.body["items"].as_array().unwrap();
    assert!(
        list.iter().all(|n| n.as_object().unwrap().len() == 3),
        "names only: {list:?}"
    );
    let surnames: Vec<&str> = list
        .iter()
        .map(|n| n["surname"].as_str().unwrap())
        .collect();
    assert!(
        surnames.contains(&"Hughes") && !surnames.contains(&"Bennett"),
        "R4 applies to the picker: {surnames:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_r7_allow_lists_by_filter_and_the_report_of_pupils_in_no_restricting_group() {
    let s = school().await;
    let org = Org {
        slug: "hill".into(),
        admin_email: "dsl@hill.school".into(),
        admin_id: uuid::Uuid::nil(),
    };
    s.app
        .user(&org, &s.admin, "t2@hill.school", "Teachers")
        .await;
    let teachers = s.app.group_id(&org, &s.admin, "Teachers").await;
    let y2 = &s.groups["Y2"];
    let r = s
        .app
        .post(
            &format!("/v1/orgs/hill/student-groups/{y2}/access"),
            Some(&s.admin),
            json!({"filter": {"user_group_id": teachers}}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["changed"], 2);
    let access = s
        .app
        .get(
            &format!("/v1/orgs/hill/student-groups/{y2}/access"),
            &s.admin,
        )
        .await
        .expect(200);
    assert_eq!(access.body["users"].as_array().unwrap().len(), 2);
    let r = s
        .app
        .call(
            Method::DELETE,
            &format!("/v1/orgs/hill/student-groups/{y2}/access"),
            Some(&s.admin),
            Some(json!({"filter": {"q": "t2@"}})),
        )
        .await
        .expect(200);
    assert_eq!(r.body["changed"], 1);
    s.app
        .post(
            &format!("/v1/orgs/hill/student-groups/{y2}/access"),
            Some(&s.admin),
            json!({"user_ids": [], "filter": {}}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        s.app
            .audit_in("hill", &s.admin, "student_group.access_granted")
            .await
            .len(),
        2
    );
    let report = s
        .app
        .get(
            "/v1/orgs/hill/reports/students-without-restricted-group",
            &s.admin,
        )
        .await
        .expect(200);
    assert_eq!(report.body["total"], 1);
    assert_eq!(report.body["items"][0]["mis_id"], "P4");
    s.app
        .get(
            "/v1/orgs/hill/reports/students-without-restricted-group",
            &s.teacher,
        )
        .await
        .problem(403, "permission_denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r10_decisions_name_their_rules_and_effective_permissions_show_both_sessions() {
    let s = school().await;
    s.admin_sees_all().await;
    let check = |action: &str, student: &str, second_factor: bool| json!({"user_id": s.teacher_id, "action": action, "resource": {"type": "student", "id": s.pupils[student]}, "second_factor": second_factor});
    let d = s
        .app
        .post(
            "/v1/orgs/hill/access/check",
            Some(&s.admin),
            check("view_student", "P3", true),
        )
        .await
        .expect(200);
    assert_eq!(d.body["allowed"], false);
    assert_eq!(d.body["reasons"][0]["rule"], "R4");
    assert!(
        d.body["reasons"][0]["detail"]
            .as_str()
            .unwrap()
            .contains(&s.groups["Y2"])
    );
    let d = s
        .app
        .post(
            "/v1/orgs/hill/access/check",
            Some(&s.admin),
            check("view_student", "P1", true),
        )
        .await
        .expect(200);
    assert_eq!(d.body["allowed"], true);
    let rules = rules(&d.body);
    assert_eq!(rules, ["G1", "R4", "G1"]);
    let d = s
        .app
        .post(
            "/v1/orgs/hill/access/check",
            Some(&s.admin),
            check("view_student", "P1", false),
        )
        .await
        .expect(200);
    assert_eq!(d.body["reasons"][0]["rule"], "G2");
    s.app
        .post(
            "/v1/orgs/hill/access/check",
            Some(&s.admin),
            json!({"user_id": s.teacher_id, "action": "fly", "resource": {"type": "planet"}}),
        )
        .await
        .problem(422, "validation_failed");
    let e = s
        .app
        .get(
            &format!("/v1/orgs/hill/users/{}/effective-permissions", s.teacher_id),
            &s.admin,
        )
        .await
        .expect(200);
    assert_eq!(e.body["user_group_name"], "Teachers");
    let with: Vec<&str> = e.body["with_second_factor"]["system_permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let without: Vec<&str> = e.body["without_second_factor"]["system_permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(with.contains(&"students.list") && !without.contains(&"students.list"));
    assert!(without.contains(&"incidents.add"));
}

/// Issue 13 (3), R10: `access/check` speaks the catalogue: a permission's name asks whether it
/// is in effect for the user (G1, G2) and, on a pupil, whether R4 and R5 let them exercise it;
/// the reasons name the rule and the permission in the same words; the engine's own names
/// (`view_student`) are still understood; anything else is 422 `unknown_action`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r10_access_check_asks_in_the_catalogues_words() {
    let s = school().await;
    s.admin_sees_all().await;
    let ask = |action: &str, resource: Value, second_factor: bool| {
        let s = &s;
        let body = json!({"user_id": s.teacher_id, "action": action, "resource": resource, "second_factor": second_factor});
        async move {
            s.app
                .post("/v1/orgs/hill/access/check", Some(&s.admin), body)
                .await
        }
    };
    let pupil = |m: &str| json!({"type": "student", "id": s.pupils[m]});
    let reasons = |b: &Value| -> Vec<(String, Option<String>)> {
        b["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["rule"].as_str().unwrap().to_owned(),
                    r["permission"].as_str().map(str::to_owned),
                )
            })
            .collect()
    };
    // On a pupil the teacher may see: the permission in effect, then R4.
    let d = ask("students.view", pupil("P1"), true).await.expect(200);
    assert_eq!(d.body["allowed"], true, "{}", d.body);
    let r = reasons(&d.body);
    assert_eq!(r[0], ("G1".to_owned(), Some("students.view".to_owned())));
    assert!(r.iter().any(|(rule, _)| rule == "R4"), "{r:?}");
    // The same words as the engine's own name for it.
    let legacy = ask("view_student", pupil("P1"), true).await.expect(200);
    assert_eq!(legacy.body["allowed"], true);
    // On a pupil outside the teacher's allow-lists: R4, whatever the permission.
    let d = ask("students.view", pupil("P3"), true).await.expect(200);
    assert_eq!(d.body["allowed"], false);
    assert_eq!(reasons(&d.body)[0].0, "R4");
    // G2: a high-level permission in a session without a second factor, named.
    let d = ask("students.list", json!({"type": "org"}), false)
        .await
        .expect(200);
    assert_eq!(d.body["allowed"], false);
    assert_eq!(
        reasons(&d.body)[0],
        ("G2".to_owned(), Some("students.list".to_owned()))
    );
    // A low-level one holds in any session; one the group lacks is G1, named.
    let d = ask("incidents.add", json!({"type": "org"}), false)
        .await
        .expect(200);
    assert_eq!(d.body["allowed"], true);
    let d = ask("admin.manage_system", json!({"type": "org"}), true)
        .await
        .expect(200);
    assert_eq!(d.body["allowed"], false);
    assert_eq!(
        reasons(&d.body)[0],
        ("G1".to_owned(), Some("admin.manage_system".to_owned()))
    );
    // R5: a block beats the permission.
    s.app
        .post(
            &format!("/v1/orgs/hill/users/{}/blocked-students", s.teacher_id),
            Some(&s.admin),
            json!({"student_id": s.pupils["P1"], "reason": "a neighbour"}),
        )
        .await
        .expect(201);
    let d = ask("students.view", pupil("P1"), true).await.expect(200);
    assert_eq!(d.body["allowed"], false);
    assert_eq!(reasons(&d.body)[0].0, "R5");
    // An engine action no permission names: G4 on a user group.
    let groups = s
        .app
        .get("/v1/orgs/hill/user-groups?per_page=200", &s.admin)
        .await
        .expect(200);
    let gid = groups.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| {
            g["system_permissions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == "admin.manage_system")
        })
        .expect("an admins' group")["id"]
        .clone();
    let d = ask(
        "grant_group",
        json!({"type": "user_group", "id": gid}),
        true,
    )
    .await
    .expect(200);
    assert_eq!(d.body["allowed"], false);
    assert_eq!(reasons(&d.body)[0].0, "G4");
    let bad = ask("students.fly", json!({"type": "org"}), true)
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        bad.field_codes(),
        [("action".to_owned(), "unknown_action".to_owned())]
    );
    // The schema lists the catalogue's names (beside the pattern of registered ones).
    let doc = s.app.get("/openapi.json", &s.admin).await.expect(200);
    let names = &doc.body["components"]["schemas"]["CheckAction"]["anyOf"][0]["enum"];
    for p in [
        "students.view",
        "students.list",
        "incidents.add",
        "grant_group",
    ] {
        assert!(
            names.as_array().unwrap().iter().any(|n| n == p),
            "{p} in {names}"
        );
    }
}

async fn category(s: &School, name: &str) -> String {
    let cats = s
        .app
        .get("/v1/orgs/hill/categories", &s.admin)
        .await
        .expect(200);
    cats.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8_incidents_are_recorded_and_read_by_category_permission_and_pupil_visibility() {
    let s = school().await;
    s.admin_sees_all().await;
    let (behaviour, attendance) = (
        category(&s, "Behaviour").await,
        category(&s, "Attendance").await,
    );
    let incident = |student: &str, cat: &str| json!({"student_id": s.pupils[student], "category_id": cat, "description": "Pushed another pupil at break", "occurred_at": "2026-11-23T10:15:00Z"});
    // Teachers add in every category but view incidents only in Behaviour.
    let b = s
        .app
        .post(
            "/v1/orgs/hill/incidents",
            Some(&s.teacher),
            incident("P1", &behaviour),
        )
        .await
        .expect(201);
    let a = s
        .app
        .post(
            "/v1/orgs/hill/incidents",
            Some(&s.teacher),
            incident("P1", &attendance),
        )
        .await
        .expect(201);
    assert_eq!(b.body["reported_by"], s.teacher_id);
    // A pupil hidden by R4 is not in the pick-list: unknown.
    let hidden = s
        .app
        .post(
            "/v1/orgs/hill/incidents",
            Some(&s.teacher),
            incident("P3", &behaviour),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        hidden.field_codes(),
        [("student_id".to_owned(), "unknown_student".to_owned())]
    );
    let bad = s
        .app
        .post("/v1/orgs/hill/incidents", Some(&s.teacher), json!({"student_id": s.pupils["P1"], "category_id": uuid::Uuid::new_v4(), "description": "", "occurred_at": "2999-01-01T00:00:00Z"}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(bad.field_codes().len(), 3);
    let list = s
        .app
        .get("/v1/orgs/hill/incidents", &s.teacher)
        .await
        .expect(200);
    assert_eq!(
        list.body["total"], 1,
        "only the Behaviour incident is readable"
    );
    assert_eq!(list.body["items"][0]["id"], b.body["id"]);
    s.app
        .get(
            &format!("/v1/orgs/hill/incidents/{}", b.body["id"].as_str().unwrap()),
            &s.teacher,
        )
        .await
        .expect(200);
    s.app
        .get(
            &format!("/v1/orgs/hill/incidents/{}", a.body["id"].as_str().unwrap()),
            &s.teacher,
        )
        .await
        .problem(404, "not_found");
    // Every read, and every refused read, is audited.
    assert_eq!(
        s.app
            .audit_in("hill", &s.admin, "incident.read")
            .await
            .len(),
        1
    );
    let denied = s
        .app
        .audit_in("hill", &s.admin, "incident.read_denied")
        .await;
    assert_eq!(denied[0]["changes"]["rules"], json!(["R8"]));
    assert_eq!(
        s.app
            .audit_in("hill", &s.admin, "incident.listed")
            .await
            .len(),
        1
    );
    // Without a key the teacher still records a concern (add is low level), but reads nothing.
    let low = s.app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    s.app
        .post(
            "/v1/orgs/hill/incidents",
            Some(&low),
            incident("P2", &behaviour),
        )
        .await
        .expect(201);
    assert_eq!(
        s.app
            .get("/v1/orgs/hill/incidents", &low)
            .await
            .expect(200)
            .body["total"],
        0
    );
    // R5: once the pupil is blocked for the teacher, their incidents disappear too.
    s.app
        .post(
            &format!("/v1/orgs/hill/users/{}/blocked-students", s.teacher_id),
            Some(&s.admin),
            json!({"student_id": s.pupils["P1"], "reason": "relative"}),
        )
        .await
        .expect(201);
    assert_eq!(
        s.app
            .get("/v1/orgs/hill/incidents", &s.teacher)
            .await
            .expect(200)
            .body["total"],
        1
    );
    s.app
        .get(
            &format!("/v1/orgs/hill/incidents/{}", b.body["id"].as_str().unwrap()),
            &s.teacher,
        )
        .await
        .problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8_g1_a_sub_category_without_view_incidents_and_a_group_switched_inactive() {
    let s = school().await;
    let behaviour = category(&s, "Behaviour").await;
    let peers = category(&s, "Against Peers").await;
    let teachers = s
        .app
        .get("/v1/orgs/hill/user-groups?q=Teachers", &s.admin)
        .await
        .expect(200)
        .body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Teachers read Behaviour, but its sub-category Against Peers only takes their reports.
    s.app
        .patch(
            &format!("/v1/orgs/hill/user-groups/{teachers}"),
            &s.admin,
            json!({"category_permissions": [
                {"category_id": behaviour, "view_students": true, "view_incidents": true, "add_incidents": true},
                {"category_id": peers, "view_students": false, "view_incidents": false, "add_incidents": true}
            ]}),
        )
        .await
        .expect(200);
    let report = |cat: &str| json!({"student_id": s.pupils["P1"], "category_id": cat, "description": "Name-calling in the line", "occurred_at": "2026-11-30T08:50:00Z"});
    let seen = s
        .app
        .post(
            "/v1/orgs/hill/incidents",
            Some(&s.teacher),
            report(&behaviour),
        )
        .await
        .expect(201);
    let unseen = s
        .app
        .post("/v1/orgs/hill/incidents", Some(&s.teacher), report(&peers))
        .await
        .expect(201);
    let list = s
        .app
        .get("/v1/orgs/hill/incidents", &s.teacher)
        .await
        .expect(200);
    assert_eq!(
        list.body["total"], 1,
        "the sub-category keeps its own flags"
    );
    assert_eq!(list.body["items"][0]["id"], seen.body["id"]);
    let r = s
        .app
        .get(
            &format!(
                "/v1/orgs/hill/incidents/{}",
                unseen.body["id"].as_str().unwrap()
            ),
            &s.teacher,
        )
        .await
        .problem(404, "not_found");
    assert!(r.body.get("rule").is_none());
    // The DSL, on Year 1's allow-list, reads both.
    let admin_id = s.app.get("/v1/me", &s.admin).await.expect(200).body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.grant("Y1", &admin_id).await;
    let admin_list = s
        .app
        .get("/v1/orgs/hill/incidents", &s.admin)
        .await
        .expect(200);
    assert_eq!(admin_list.body["total"], 2);
    // The group switched inactive grants nothing from the teacher's very next request.
    s.app
        .patch(
            &format!("/v1/orgs/hill/user-groups/{teachers}"),
            &s.admin,
            json!({"status": "inactive"}),
        )
        .await
        .expect(200);
    let denied = s
        .app
        .get("/v1/orgs/hill/students", &s.teacher)
        .await
        .problem(403, "permission_denied");
    assert_eq!(denied.body["rule"], "G1");
    s.app
        .get("/v1/orgs/hill/students/picker", &s.teacher)
        .await
        .problem(403, "permission_denied");
    assert_eq!(
        s.app
            .get("/v1/orgs/hill/incidents", &s.teacher)
            .await
            .expect(200)
            .body["total"],
        0
    );
    s.app
        .get(
            &format!(
                "/v1/orgs/hill/incidents/{}",
                seen.body["id"].as_str().unwrap()
            ),
            &s.teacher,
        )
        .await
        .problem(404, "not_found");
}

/// Issue 11: a list's counts are held between requests, so every change that moves a pupil in
/// or out of a list must show in its `total` (and its pages) on the very next request: blocks,
/// allow-lists, new pupils, names (the `q` filter) and the roll (the `on_roll` filter).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_r5_a_lists_total_follows_each_change_on_the_next_request() {
    let s = school().await;
    let total = |query: &'static str| {
        let s = &s;
        async move {
            let mut seen = Vec::new();
            let mut total = None;
            for page in 1..10 {
                let r = s
                    .app
                    .get(
                        &format!("/v1/orgs/hill/students?per_page=1&page={page}{query}"),
                        &s.teacher,
                    )
                    .await
                    .expect(200);
                let t = r.body["total"].as_u64().unwrap();
                assert!(total.is_none_or(|n| n == t), "one total on every page");
                total = Some(t);
                match r.body["items"][0]["mis_id"].as_str() {
                    Some(m) => seen.push(m.to_owned()),
                    None => break,
                }
            }
            let whole = s
                .app
                .get(
                    &format!("/v1/orgs/hill/students?per_page=200{query}"),
                    &s.teacher,
                )
                .await
                .expect(200);
            assert_eq!(whole.body["total"], seen.len(), "the pages hold the total");
            seen.sort();
            seen
        }
    };
    let mis = |items: Value| {
        let s = &s;
        async move {
            s.app
                .call(
                    Method::PUT,
                    "/v1/orgs/hill/mis/students",
                    Some(&s.key),
                    Some(json!({"items": items})),
                )
                .await
                .expect(200)
        }
    };
    assert_eq!(total("").await, ["P1", "P2", "P4"]);
    // R5: a block and its lifting.
    let blocks = format!("/v1/orgs/hill/users/{}/blocked-students", s.teacher_id);
    s.app
        .post(
            &blocks,
            Some(&s.admin),
            json!({"student_id": s.pupils["P4"], "reason": "a cousin"}),
        )
        .await
        .expect(201);
    assert_eq!(total("").await, ["P1", "P2"]);
    s.app
        .call(
            Method::DELETE,
            &format!("{blocks}/{}", s.pupils["P4"]),
            Some(&s.admin),
            None,
        )
        .await
        .expect(204);
    assert_eq!(total("").await, ["P1", "P2", "P4"]);
    // R4: off Year 1's allow-list, and back.
    let access = format!("/v1/orgs/hill/student-groups/{}/access", s.groups["Y1"]);
    s.app
        .call(
            Method::DELETE,
            &access,
            Some(&s.admin),
            Some(json!({"user_ids": [s.teacher_id]})),
        )
        .await
        .expect(200);
    assert_eq!(total("").await, ["P4"]);
    s.grant("Y1", &s.teacher_id).await;
    assert_eq!(total("").await, ["P1", "P2", "P4"]);
    // A new pupil in no group; a rename (the name filter); off the roll (the roll filter).
    assert_eq!(total("&q=hughes").await, ["P1"]);
    // A search is a name or an id: its length is bounded (its counts are held per search).
    let long = "a".repeat(101);
    let r = s
        .app
        .get(&format!("/v1/orgs/hill/students?q={long}"), &s.teacher)
        .await
        .problem(422, "validation_failed");
    assert_eq!(r.field_codes(), [("q".to_owned(), "length".to_owned())]);
    assert!(total("&on_roll=false").await.is_empty());
    mis(json!([
        {"mis_id": "P1", "forename": "Amelia", "surname": "Zeller", "on_roll": true},
        {"mis_id": "P2", "forename": "Noah", "surname": "Patel", "on_roll": false},
        {"mis_id": "P3", "forename": "Isla", "surname": "Bennett", "on_roll": true},
        {"mis_id": "P4", "forename": "Leo", "surname": "Kowalski", "on_roll": true},
        {"mis_id": "P5", "forename": "Ava", "surname": "Okafor", "on_roll": true}
    ]))
    .await;
    assert_eq!(total("").await, ["P1", "P2", "P4", "P5"]);
    assert!(total("&q=hughes").await.is_empty());
    assert_eq!(total("&q=zeller").await, ["P1"]);
    assert_eq!(total("&on_roll=false").await, ["P2"]);
}

/// Issue 13 (7), R2: an admin keeps student groups of their own beside the MIS's: `custom`
/// ones, or of a type the org takes from no MIS (a care provider's centres of care); renames
/// and archives them; adds and removes pupils by id, each one they may see; every change is
/// audited and versioned (ETag, If-Match). The MIS's groups stay the MIS's, and a sync never
/// touches a group it did not make.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r2_an_admin_keeps_student_groups_beside_the_mis_and_the_sync_leaves_them_alone() {
    let s = school().await;
    let base = "/v1/orgs/hill/student-groups";
    let made = s
        .app
        .post(
            base,
            Some(&s.admin),
            json!({"type": "custom", "name": "Nurture group"}),
        )
        .await
        .expect(201);
    assert_eq!(made.headers["etag"], "\"1\"");
    assert_eq!(made.body["mis_id"], Value::Null);
    assert_eq!(made.body["member_count"], 0);
    let gid = made.body["id"].as_str().unwrap().to_owned();
    let one = format!("{base}/{gid}");
    let members = format!("{one}/members");
    // The org's years come from its MIS; it has no registration groups, so those an admin may make.
    let refused = s
        .app
        .post(
            base,
            Some(&s.admin),
            json!({"type": "academic_level", "name": "Year 9"}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        refused.field_codes(),
        [("type".to_owned(), "mis_managed_type".to_owned())]
    );
    s.app
        .post(
            base,
            Some(&s.admin),
            json!({"type": "registration_group", "name": "Oak centre"}),
        )
        .await
        .expect(201);
    let bad = s
        .app
        .post(base, Some(&s.admin), json!({"type": "planet", "name": " "}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        bad.field_codes(),
        [
            ("type".to_owned(), "unknown_type".to_owned()),
            ("name".to_owned(), "length".to_owned())
        ]
    );
    // Pupils the admin cannot see (not on the years' allow-lists) are unknown, as missing ones.
    let hidden = s
        .app
        .post(
            &members,
            Some(&s.admin),
            json!({"student_ids": [s.pupils["P1"], uuid::Uuid::new_v4()]}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        hidden.field_codes(),
        [
            ("student_ids[0]".to_owned(), "unknown_student".to_owned()),
            ("student_ids[1]".to_owned(), "unknown_student".to_owned())
        ]
    );
    s.admin_sees_all().await;
    let added = s
        .app
        .post(
            &members,
            Some(&s.admin),
            json!({"student_ids": [s.pupils["P1"], s.pupils["P2"], s.pupils["P1"]]}),
        )
        .await
        .expect(200);
    assert_eq!(added.body["changed"], 2);
    let again = s
        .app
        .post(
            &members,
            Some(&s.admin),
            json!({"student_ids": [s.pupils["P1"]]}),
        )
        .await
        .expect(200);
    assert_eq!(again.body["changed"], 0, "already in");
    let got = s.app.get(&one, &s.admin).await.expect(200);
    assert_eq!(got.body["member_count"], 2);
    assert_eq!(got.headers["etag"], "\"2\"");
    // A stale copy cannot rename it; the current one can.
    s.app
        .call_with(
            Method::PATCH,
            &one,
            Some(&s.admin),
            Some(json!({"name": "Stale"})),
            &[("if-match", "\"1\"")],
        )
        .await
        .problem(412, "version_mismatch");
    let renamed = s
        .app
        .call_with(
            Method::PATCH,
            &one,
            Some(&s.admin),
            Some(json!({"name": "Nurture"})),
            &[("if-match", "\"2\"")],
        )
        .await
        .expect(200);
    assert_eq!(renamed.body["name"], "Nurture");
    assert_eq!(renamed.headers["etag"], "\"3\"");
    // R4: once custom groups restrict, the teacher (not on its allow-list) loses its pupils;
    // archived, it restricts nobody.
    s.app
        .patch(
            "/v1/orgs/hill/settings",
            &s.admin,
            json!({"restricted_group_types": ["academic_level", "custom"]}),
        )
        .await
        .expect(200);
    assert_eq!(s.visible(&s.teacher).await, ["P4"]);
    s.assert_list_matches_records(&s.teacher).await;
    s.app
        .patch(&one, &s.admin, json!({"archived": true}))
        .await
        .expect(200);
    assert_eq!(s.visible(&s.teacher).await, ["P1", "P2", "P4"]);
    s.app
        .patch(&one, &s.admin, json!({"archived": false}))
        .await
        .expect(200);
    // The admin too sees its pupils only from its allow-list now (R4).
    let admin_id = s.admin_id().await;
    s.app
        .post(
            &format!("{one}/access"),
            Some(&s.admin),
            json!({"user_ids": [admin_id]}),
        )
        .await
        .expect(200);
    let removed = s
        .app
        .call(
            Method::DELETE,
            &members,
            Some(&s.admin),
            Some(json!({"student_ids": [s.pupils["P2"]]})),
        )
        .await
        .expect(200);
    assert_eq!(removed.body["changed"], 1);
    assert_eq!(s.visible(&s.teacher).await, ["P2", "P4"]);
    // The MIS's groups are the MIS's.
    let year = format!("{base}/{}", s.groups["Y1"]);
    s.app
        .patch(&year, &s.admin, json!({"name": "Renamed"}))
        .await
        .problem(409, "mis_managed");
    s.app
        .post(
            &format!("{year}/members"),
            Some(&s.admin),
            json!({"student_ids": [s.pupils["P4"]]}),
        )
        .await
        .problem(409, "mis_managed");
    // A sync that marks missing groups as left leaves the admin's alone.
    s.app
        .call(
            Method::PUT,
            "/v1/orgs/hill/mis/student-groups",
            Some(&s.key),
            Some(json!({"items": [
                {"mis_id": "Y1", "type": "academic_level", "name": "Year 1", "member_mis_ids": ["P1", "P2"]}
            ], "mark_missing_as_left": true})),
        )
        .await
        .expect(200);
    let kept = s.app.get(&one, &s.admin).await.expect(200);
    assert_eq!(kept.body["archived"], false);
    assert_eq!(kept.body["member_count"], 1);
    // Not for a teacher; every change audited.
    s.app
        .post(
            base,
            Some(&s.teacher),
            json!({"type": "custom", "name": "Mine"}),
        )
        .await
        .problem(403, "permission_denied");
    for kind in [
        "student_group.created",
        "student_group.updated",
        "student_group.members_added",
        "student_group.members_removed",
    ] {
        let entries = s.app.audit_in("hill", &s.admin, kind).await;
        assert!(!entries.is_empty(), "{kind} audited");
    }
    let created = s
        .app
        .audit_in("hill", &s.admin, "student_group.created")
        .await;
    let nurture = created
        .iter()
        .find(|e| e["target_id"] == gid.as_str())
        .unwrap_or_else(|| panic!("the group's creation among {created:?}"));
    assert_eq!(nurture["changes"]["name"], json!([null, "Nurture group"]));
    assert_eq!(nurture["changes"]["type"], json!([null, "custom"]));
    let renamed = s
        .app
        .audit_in("hill", &s.admin, "student_group.updated")
        .await;
    assert!(
        renamed
            .iter()
            .any(|e| e["changes"]["name"] == json!(["Nurture group", "Nurture"])),
        "{renamed:?}"
    );
    let added = s
        .app
        .audit_in("hill", &s.admin, "student_group.members_added")
        .await;
    assert_eq!(added[added.len() - 1]["changes"]["count"], 2);
}
