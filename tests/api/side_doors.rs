//! Issue 10: the children's rules hold on every door, not only the front ones (R4, R5, R7, R8,
//! R9, AU4, A6). One school with a pupil blocked for the staff who try the doors and one hidden
//! from them by a restricting group; every answer about either must be the answer about a pupil
//! that does not exist.

use crate::harness::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The three pupils the doors are tried with. Names and MIS ids are unique in every answer.
pub(crate) const VISIBLE: (&str, &str, &str) = ("SD-VISIBLE-2208", "Vera", "Vanterpool");
pub(crate) const BLOCKED: (&str, &str, &str) = ("SD-BLOCKED-4417", "Bartholomew", "Quillfeather");
pub(crate) const HIDDEN: (&str, &str, &str) = ("SD-HIDDEN-8812", "Hermione", "Zabrowski");
/// Off roll (left the school), in Year 1.
pub(crate) const LEFT: (&str, &str, &str) = ("SD-LEFT-5531", "Lionel", "Ashcombe");

pub(crate) struct Doors {
    pub app: TestApp,
    pub org: Org,
    pub admin: String,
    /// MIS id → student id.
    pub pupils: HashMap<String, String>,
    /// MIS id → student group id.
    pub groups: HashMap<String, String>,
    /// Category name → id.
    pub categories: HashMap<String, String>,
}

impl Doors {
    pub fn id(&self, pupil: (&str, &str, &str)) -> &str {
        &self.pupils[pupil.0]
    }

    /// A user of this group on Year 1's allow-list (so the blocked pupil is hidden by the block
    /// alone), with the blocked pupil blocked for them by the admin; answers (id, token).
    pub async fn staff(&self, email: &str, group: &str) -> (String, String) {
        let id = self.app.user(&self.org, &self.admin, email, group).await;
        self.app
            .post(
                &format!("/v1/orgs/hill/student-groups/{}/access", self.groups["Y1"]),
                Some(&self.admin),
                json!({"user_ids": [id]}),
            )
            .await
            .expect(200);
        self.app
            .post(
                &format!("/v1/orgs/hill/users/{id}/blocked-students"),
                Some(&self.admin),
                json!({"student_id": self.id(BLOCKED), "reason": "a relative"}),
            )
            .await
            .expect(201);
        let token = self
            .app
            .token_with_key("hill", email, ADMIN_PASSWORD)
            .await
            .token;
        (id, token)
    }

    /// A custom group (G1) with these permissions and, on these categories, every flag.
    pub async fn group(&self, name: &str, permissions: &[&str], categories: &[&str]) {
        let flags: Vec<Value> = categories
            .iter()
            .map(|c| json!({"category_id": self.categories[*c], "view_students": true, "view_incidents": true, "add_incidents": true}))
            .collect();
        self.app
            .post(
                "/v1/orgs/hill/user-groups",
                Some(&self.admin),
                json!({"name": name, "system_permissions": permissions, "category_permissions": flags}),
            )
            .await
            .expect(201);
    }

    /// An incident recorded by the admin; answers its id.
    pub async fn incident(&self, pupil: (&str, &str, &str), category: &str) -> String {
        self.app
            .post(
                "/v1/orgs/hill/incidents",
                Some(&self.admin),
                json!({"student_id": self.id(pupil), "category_id": self.categories[category],
                       "description": "a concern", "occurred_at": "2026-11-30T10:00:00Z"}),
            )
            .await
            .expect(201)
            .id()
    }

    pub async fn mark(&self, pupil: (&str, &str, &str), category: &str) {
        self.app
            .post(
                &format!(
                    "/v1/orgs/hill/students/{}/monitored-categories",
                    self.id(pupil)
                ),
                Some(&self.admin),
                json!({"category_id": self.categories[category]}),
            )
            .await
            .expect(200);
    }
}

/// Year groups restrict. VISIBLE and BLOCKED are in Year 1, HIDDEN in Year 2; the admin is on
/// both allow-lists and sees every pupil.
pub(crate) async fn doors() -> Doors {
    let (app, org, admin) = TestApp::hill().await;
    let key = app.service_key("hill", &admin, "mis.sync").await;
    let pupils: Vec<Value> = [VISIBLE, BLOCKED, HIDDEN, LEFT]
        .iter()
        .map(|(mis, f, s)| json!({"mis_id": mis, "forename": f, "surname": s, "on_roll": *mis != LEFT.0}))
        .collect();
    app.call(
        Method::PUT,
        "/v1/orgs/hill/mis/students",
        Some(&key),
        Some(json!({"items": pupils})),
    )
    .await
    .expect(200);
    app.call(Method::PUT, "/v1/orgs/hill/mis/student-groups", Some(&key), Some(json!({"items": [
        {"mis_id": "Y1", "type": "academic_level", "name": "Year 1", "member_mis_ids": [VISIBLE.0, BLOCKED.0, LEFT.0]},
        {"mis_id": "Y2", "type": "academic_level", "name": "Year 2", "member_mis_ids": [HIDDEN.0]}
    ]}))).await.expect(200);
    app.patch(
        "/v1/orgs/hill/settings",
        &admin,
        json!({"restricted_group_types": ["academic_level"]}),
    )
    .await
    .expect(200);
    let ids = ids_by;
    let groups = ids(
        &app.get("/v1/orgs/hill/student-groups", &admin)
            .await
            .expect(200)
            .body,
        "mis_id",
    );
    let admin_id = app.get("/v1/me", &admin).await.expect(200).body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for g in ["Y1", "Y2"] {
        app.post(
            &format!("/v1/orgs/hill/student-groups/{}/access", groups[g]),
            Some(&admin),
            json!({"user_ids": [admin_id]}),
        )
        .await
        .expect(200);
    }
    let pupils = ids(
        &app.get("/v1/orgs/hill/students?per_page=200", &admin)
            .await
            .expect(200)
            .body,
        "mis_id",
    );
    assert_eq!(pupils.len(), 4);
    let categories = ids(
        &app.get("/v1/orgs/hill/categories", &admin)
            .await
            .expect(200)
            .body,
        "name",
    );
    Doors {
        app,
        org,
        admin,
        pupils,
        groups,
        categories,
    }
}

/// The text of an answer names none of these pupils: no id, MIS id, forename or surname.
#[track_caller]
fn names_none(what: &str, body: &str, pupils: &[(&str, &str, &str, &str)]) {
    for (id, mis, forename, surname) in pupils {
        for needle in [*id, *mis, *forename, *surname] {
            assert!(
                !body.contains(needle),
                "{what} names a pupil the caller may not see ({needle}): {body:.600}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r5_blocks_are_added_lifted_and_read_by_admins_only_and_every_change_is_audited() {
    let d = doors().await;
    // `admin.manage_users` alone (with the pupil lists) no longer opens the blocks.
    d.group(
        "Access managers",
        &["admin.manage_users", "students.list", "students.view"],
        &[],
    )
    .await;
    let (manager_id, manager) = d.staff("am@hill.school", "Access managers").await;
    let (teacher_id, _) = d.staff("t@hill.school", "Teachers").await;
    let admin_id = d.org.admin_id.to_string();
    for target in [&teacher_id, &admin_id, &manager_id] {
        let path = format!("/v1/orgs/hill/users/{target}/blocked-students");
        d.app
            .post(
                &path,
                Some(&manager),
                json!({"student_id": d.id(VISIBLE), "reason": "x"}),
            )
            .await
            .problem(403, "permission_denied")
            .assert_rule("G1");
        d.app
            .get(&path, &manager)
            .await
            .problem(403, "permission_denied");
        d.app
            .call(
                Method::DELETE,
                &format!("{path}/{}", d.id(BLOCKED)),
                Some(&manager),
                None,
            )
            .await
            .problem(403, "permission_denied");
    }
    // Nor through R10: to anyone but an admin, a block is "not visible" (R4 includes it).
    let d2 = d
        .app
        .post(
            "/v1/orgs/hill/access/check",
            Some(&manager),
            json!({"user_id": teacher_id, "action": "view_student", "resource": {"type": "student", "id": d.id(BLOCKED)}}),
        )
        .await;
    // The manager has BLOCKED blocked too: asked as a missing pupil.
    assert_eq!(d2.status, 422, "{:#}", d2.body);
    d.group(
        "Access managers 2",
        &["admin.manage_users", "students.list", "students.view"],
        &[],
    )
    .await;
    let manager2_id = d
        .app
        .user(&d.org, &d.admin, "am2@hill.school", "Access managers 2")
        .await;
    d.app
        .post(
            &format!("/v1/orgs/hill/student-groups/{}/access", d.groups["Y1"]),
            Some(&d.admin),
            json!({"user_ids": [manager2_id]}),
        )
        .await
        .expect(200);
    let manager2 = d
        .app
        .token_with_key("hill", "am2@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    let r = d
        .app
        .post(
            "/v1/orgs/hill/access/check",
            Some(&manager2),
            json!({"user_id": teacher_id, "action": "view_student", "resource": {"type": "student", "id": d.id(BLOCKED)}}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["allowed"], false);
    assert_eq!(r.body["reasons"][0]["rule"], "R4");
    assert!(!r.body.to_string().contains("R5"), "{:#}", r.body);
    let r = d
        .app
        .post(
            "/v1/orgs/hill/access/check",
            Some(&d.admin),
            json!({"user_id": teacher_id, "action": "view_student", "resource": {"type": "student", "id": d.id(BLOCKED)}}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["reasons"][0]["rule"], "R5", "admins read blocks");
    // A clone carries no blocks (U10), but a clone of one's own account carries its blocks:
    // it is no way around them.
    d.app
        .post(
            &format!("/v1/orgs/hill/users/{manager_id}/clone"),
            Some(&manager),
            json!({"email": "am.clone@hill.school", "password": "a long pass phrase for the clone"}),
        )
        .await
        .expect(201);
    let clone = d
        .app
        .token_with_key(
            "hill",
            "am.clone@hill.school",
            "a long pass phrase for the clone",
        )
        .await
        .token;
    d.app
        .get(&format!("/v1/orgs/hill/students/{}", d.id(BLOCKED)), &clone)
        .await
        .problem(404, "not_found");
    d.app
        .get(&format!("/v1/orgs/hill/students/{}", d.id(VISIBLE)), &clone)
        .await
        .expect(200);
    // The block on the teacher is still there, and the admin's changes are audited.
    let blocks = d
        .app
        .get(
            &format!("/v1/orgs/hill/users/{teacher_id}/blocked-students"),
            &d.admin,
        )
        .await
        .expect(200);
    assert_eq!(blocks.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(blocks.body["total"], 1);
    assert_eq!(blocks.body["items"][0]["surname"], BLOCKED.2);
    let audited = d.app.audit(&d.org, &d.admin, "student.blocked").await;
    assert!(
        audited.iter().any(|e| e["target_id"] == teacher_id.as_str()
            && e["changes"]["student_id"][1] == d.id(BLOCKED))
    );
    d.app
        .call(
            Method::DELETE,
            &format!(
                "/v1/orgs/hill/users/{teacher_id}/blocked-students/{}",
                d.id(BLOCKED)
            ),
            Some(&d.admin),
            None,
        )
        .await
        .expect(204);
    let lifted = d.app.audit(&d.org, &d.admin, "student.unblocked").await;
    assert_eq!(lifted[0]["actor_id"], admin_id.as_str());
    assert_eq!(lifted[0]["target_id"], teacher_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r7_the_report_needs_students_list_and_names_only_pupils_the_caller_may_see() {
    let d = doors().await;
    // Nothing restricts: every pupil is in the report (R7), save those blocked for the caller.
    d.app
        .patch(
            "/v1/orgs/hill/settings",
            &d.admin,
            json!({"restricted_group_types": ["house"]}),
        )
        .await
        .expect(200);
    d.group("Access managers", &["admin.manage_users"], &[])
        .await;
    let (_, manager) = d.staff("am@hill.school", "Access managers").await;
    d.app
        .get(
            "/v1/orgs/hill/reports/students-without-restricted-group",
            &manager,
        )
        .await
        .problem(403, "permission_denied")
        .assert_rule("G1");
    d.group(
        "Listing managers",
        &["admin.manage_users", "students.list"],
        &[],
    )
    .await;
    let (_, lister) = d.staff("lm@hill.school", "Listing managers").await;
    let r = d
        .app
        .get(
            "/v1/orgs/hill/reports/students-without-restricted-group?per_page=200",
            &lister,
        )
        .await
        .expect(200);
    assert_eq!(r.body["total"], 2, "{:#}", r.body);
    let text = r.body.to_string();
    assert!(text.contains(VISIBLE.2) && text.contains(HIDDEN.2));
    names_none(
        "the R7 report",
        &text,
        &[(d.id(BLOCKED), BLOCKED.0, BLOCKED.1, BLOCKED.2)],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_pupils_are_answered_exactly_as_missing_ones_on_every_door() {
    let d = doors().await;
    d.group(
        "Heads of year",
        &[
            "admin.manage_users",
            "admin.manage_system",
            "students.list",
            "students.view",
            "students.edit",
            "incidents.add",
        ],
        &["Behaviour"],
    )
    .await;
    let (_, head) = d.staff("hoy@hill.school", "Heads of year").await;
    let (teacher_id, _) = d.staff("t@hill.school", "Teachers").await;
    let missing = uuid::Uuid::new_v4().to_string();
    let same = |what: &str, hidden: Res, missing: Res| {
        assert_eq!(hidden.status, missing.status, "{what}: {:#}", hidden.body);
        assert_eq!(hidden.body, missing.body, "{what}");
    };
    for pupil in [BLOCKED, HIDDEN] {
        let hidden = d.id(pupil);
        // R10: the asker must see the pupil.
        let check = |id: &str| json!({"user_id": teacher_id, "action": "view_student", "resource": {"type": "student", "id": id}});
        same(
            "access/check",
            d.app
                .post("/v1/orgs/hill/access/check", Some(&head), check(hidden))
                .await,
            d.app
                .post("/v1/orgs/hill/access/check", Some(&head), check(&missing))
                .await,
        );
        // R8: the same error list, in the same order, with another bad field beside it.
        let incident = |id: &str, category: &str| json!({"student_id": id, "category_id": category, "description": "", "occurred_at": "2026-11-30T10:00:00Z"});
        for category in ["Behaviour", "Child Protection"] {
            let c = &d.categories[category];
            let h = d
                .app
                .post("/v1/orgs/hill/incidents", Some(&head), incident(hidden, c))
                .await;
            let m = d
                .app
                .post(
                    "/v1/orgs/hill/incidents",
                    Some(&head),
                    incident(&missing, c),
                )
                .await;
            assert_eq!(
                h.field_codes(),
                [
                    ("description".to_owned(), "length".to_owned()),
                    ("student_id".to_owned(), "unknown_student".to_owned())
                ]
            );
            same("incident validation", h, m);
            let valid = |id: &str| json!({"student_id": id, "category_id": c, "description": "a concern", "occurred_at": "2026-11-30T10:00:00Z"});
            same(
                "incident with a valid body",
                d.app
                    .post("/v1/orgs/hill/incidents", Some(&head), valid(hidden))
                    .await,
                d.app
                    .post("/v1/orgs/hill/incidents", Some(&head), valid(&missing))
                    .await,
            );
        }
        // R9: monitoring marks.
        let marks = |id: &str| format!("/v1/orgs/hill/students/{id}/monitored-categories");
        let behaviour = json!({"category_id": d.categories["Behaviour"]});
        same(
            "monitoring",
            d.app
                .post(&marks(hidden), Some(&head), behaviour.clone())
                .await,
            d.app.post(&marks(&missing), Some(&head), behaviour).await,
        );
        // R5: blocks, with and without a bad reason.
        for reason in ["", "a relative"] {
            let block = |id: &str| json!({"student_id": id, "reason": reason});
            let path = format!("/v1/orgs/hill/users/{teacher_id}/blocked-students");
            same(
                "block",
                d.app.post(&path, Some(&head), block(hidden)).await,
                d.app.post(&path, Some(&head), block(&missing)).await,
            );
            same(
                "unblock",
                d.app
                    .call(
                        Method::DELETE,
                        &format!("{path}/{hidden}"),
                        Some(&head),
                        None,
                    )
                    .await,
                d.app
                    .call(
                        Method::DELETE,
                        &format!("{path}/{missing}"),
                        Some(&head),
                        None,
                    )
                    .await,
            );
        }
        same(
            "student",
            d.app
                .get(&format!("/v1/orgs/hill/students/{hidden}"), &head)
                .await,
            d.app
                .get(&format!("/v1/orgs/hill/students/{missing}"), &head)
                .await,
        );
    }
    // R8: a pupil off roll is not in the pick-list, so not recordable, even when visible.
    let r = d
        .app
        .post(
            "/v1/orgs/hill/incidents",
            Some(&head),
            json!({"student_id": d.id(LEFT), "category_id": d.categories["Behaviour"], "description": "x", "occurred_at": "2026-11-30T10:00:00Z"}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        r.field_codes(),
        [("student_id".to_owned(), "unknown_student".to_owned())]
    );
    // Nothing was written about the hidden pupils by any of it.
    let incidents = d
        .app
        .get("/v1/orgs/hill/incidents?per_page=200", &d.admin)
        .await
        .expect(200);
    assert_eq!(incidents.body["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a6_a_reset_for_an_unknown_address_is_answered_exactly_as_for_a_known_one() {
    let d = doors().await;
    let ask = |org: &str, email: &str| json!({"org": org, "email": email});
    let known = d
        .app
        .post(
            "/v1/auth/password-reset",
            None,
            ask("hill", &d.org.admin_email),
        )
        .await;
    for (org, email) in [
        ("hill", "nobody@hill.school"),
        ("nowhere", "dsl@hill.school"),
    ] {
        let unknown = d
            .app
            .post("/v1/auth/password-reset", None, ask(org, email))
            .await;
        assert_eq!(unknown.status, known.status);
        assert_eq!(unknown.body, known.body);
        let header = |r: &Res, h: &str| r.headers.get(h).map(|v| v.as_bytes().to_vec());
        for h in ["content-type", "content-length", "cache-control"] {
            assert_eq!(header(&unknown, h), header(&known, h), "{h}");
        }
    }
    assert_eq!(known.status, 202);
    // The known address still gets its link (written after the answer).
    let mut audited = Vec::new();
    for _ in 0..50 {
        audited = d
            .app
            .audit(&d.org, &d.admin, "auth.password_reset_requested")
            .await;
        if !audited.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(audited.len(), 1, "one reset, for the one known address");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn au4_audit_list_export_and_history_show_only_entries_about_what_the_reader_may_see() {
    let d = doors().await;
    // The reader audits and manages users, reads Behaviour only, is on Year 1's allow-list and
    // has BLOCKED blocked for them.
    d.group(
        "Auditors",
        &[
            "audits.view",
            "admin.manage_users",
            "students.list",
            "students.view",
        ],
        &["Behaviour"],
    )
    .await;
    let (reader_id, reader) = d.staff("aud@hill.school", "Auditors").await;
    let (teacher_id, _) = d.staff("t@hill.school", "Teachers").await;
    let (dsl2_id, dsl2) = d
        .staff("dsl2@hill.school", "DSL / Child Protection Team")
        .await;
    d.app
        .post(
            &format!("/v1/orgs/hill/users/{teacher_id}/blocked-students"),
            Some(&d.admin),
            json!({"student_id": d.id(VISIBLE), "reason": "a neighbour"}),
        )
        .await
        .expect(201);
    // A block on another admin, lifted since: it is theirs to never read.
    let block = format!("/v1/orgs/hill/users/{dsl2_id}/blocked-students");
    d.app
        .post(
            &block,
            Some(&d.admin),
            json!({"student_id": d.id(VISIBLE), "reason": "a cousin"}),
        )
        .await
        .expect(201);
    d.app
        .call(
            Method::DELETE,
            &format!("{block}/{}", d.id(VISIBLE)),
            Some(&d.admin),
            None,
        )
        .await
        .expect(204);
    // Entries about each pupil: incidents in a readable and an unreadable category, marks,
    // an incident read and listed, and a refusal naming the pupil in its path.
    let low = d.app.token("hill", "aud@hill.school", ADMIN_PASSWORD).await;
    for pupil in [VISIBLE, BLOCKED, HIDDEN] {
        let b = d.incident(pupil, "Behaviour").await;
        d.incident(pupil, "Child Protection").await;
        d.mark(pupil, "Behaviour").await;
        d.mark(pupil, "Child Protection").await;
        d.app
            .get(&format!("/v1/orgs/hill/incidents/{b}"), &d.admin)
            .await
            .expect(200);
        // G2: a session without a key is refused the record, and the refusal is audited.
        d.app
            .get(&format!("/v1/orgs/hill/students/{}", d.id(pupil)), &low)
            .await
            .problem(403, "second_factor_required");
    }
    d.app
        .get("/v1/orgs/hill/incidents?per_page=200", &d.admin)
        .await
        .expect(200);
    let hidden = [
        (d.id(BLOCKED), BLOCKED.0, BLOCKED.1, BLOCKED.2),
        (d.id(HIDDEN), HIDDEN.0, HIDDEN.1, HIDDEN.2),
    ];
    let child_protection = d.categories["Child Protection"].as_str();
    // The list, page by page: every page but the last is full (filtered in the query).
    let all = d
        .app
        .get("/v1/orgs/hill/audit?limit=200", &reader)
        .await
        .expect(200);
    let items = all.body["items"].as_array().unwrap();
    names_none("the audit list", &all.body.to_string(), &hidden);
    for e in items {
        if e["type"].as_str().unwrap().starts_with("incident.")
            || e["type"]
                .as_str()
                .unwrap()
                .starts_with("student.monitoring")
        {
            assert!(
                !e.to_string().contains(child_protection),
                "an entry bound to a category the reader cannot read: {e}"
            );
        }
    }
    // What the reader may see stays: the entries about VISIBLE in Behaviour, and nothing else
    // of these kinds (each pupil had one of each, in Behaviour and in Child Protection).
    let count = |k: &str| items.iter().filter(|e| e["type"] == k).count();
    for (k, n) in [
        ("incident.created", 1),
        ("incident.read", 1),
        ("student.monitoring_added", 1),
        ("access.denied", 1),
        ("incident.listed", 0),
        // R5: blocks are read by admins only.
        ("student.blocked", 0),
        ("student.unblocked", 0),
    ] {
        assert_eq!(count(k), n, "{k}");
    }
    for k in [
        "incident.created",
        "student.monitoring_added",
        "access.denied",
    ] {
        assert!(
            items
                .iter()
                .any(|e| e["type"] == k && e.to_string().contains(d.id(VISIBLE))),
            "{k} about the pupil the reader may see"
        );
    }
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/v1/orgs/hill/audit?limit=3&cursor={c}"),
            None => "/v1/orgs/hill/audit?limit=3".to_owned(),
        };
        let page = d.app.get(&url, &reader).await.expect(200);
        let n = page.body["items"].as_array().unwrap().len();
        paged.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(n, 3, "a page before the last is whole");
                cursor = Some(c.to_owned());
            }
            None => break,
        }
    }
    assert_eq!(paged.len(), items.len());
    // The export and a user's history hold the same line.
    let csv = d
        .app
        .get("/v1/orgs/hill/audit/export", &reader)
        .await
        .expect(200);
    let text = csv.body.as_str().unwrap_or_default().to_owned();
    assert!(text.contains(d.id(VISIBLE)));
    names_none("the audit export", &text, &hidden);
    let history = d
        .app
        .get(&format!("/v1/orgs/hill/users/{reader_id}/history"), &reader)
        .await
        .expect(200);
    names_none("the reader's history", &history.body.to_string(), &hidden);
    // An admin reads the blocks of others (the teacher's), never those on their own account.
    let own = d
        .app
        .get("/v1/orgs/hill/audit?type=student.blocked&limit=200", &dsl2)
        .await
        .expect(200);
    let own = own.body["items"].as_array().unwrap();
    assert!(own.iter().any(|e| e["target_id"] == teacher_id.as_str()));
    assert!(
        own.iter().all(|e| e["target_id"] != dsl2_id.as_str()),
        "{own:?}"
    );
    let history = d
        .app
        .get(&format!("/v1/orgs/hill/users/{dsl2_id}/history"), &dsl2)
        .await
        .expect(200);
    assert!(!history.body.to_string().contains("a cousin"));
    // The admin, who may see every pupil, sees the same entries about them.
    let admin_view = d
        .app
        .get("/v1/orgs/hill/audit?limit=200", &d.admin)
        .await
        .expect(200)
        .body
        .to_string();
    assert!(admin_view.contains(d.id(HIDDEN)) && admin_view.contains(d.id(BLOCKED)));
    assert!(admin_view.contains(child_protection));
}

/// The door walker: for staff of several groups, every GET route of the served OpenAPI document,
/// with the hidden pupils' ids (and the school's other ids) in every path parameter and id
/// filter, and their surnames in every text filter. No answer may name a pupil blocked for the
/// caller (R5) or hidden from them by a restricting group (R4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_door_walker_finds_no_get_route_that_names_a_pupil_its_caller_may_not_see() {
    let d = doors().await;
    d.group(
        "Auditors",
        &[
            "audits.view",
            "admin.manage_users",
            "students.list",
            "students.view",
            "reports.run",
            "incidents.add",
        ],
        &[
            "Behaviour",
            "Child Protection",
            "Attendance",
            "Cause for Concern",
        ],
    )
    .await;
    let walkers = [
        d.staff("t@hill.school", "Teachers").await,
        d.staff("slt@hill.school", "SLT").await,
        d.staff("aud@hill.school", "Auditors").await,
        d.staff("dsl2@hill.school", "DSL / Child Protection Team")
            .await,
    ];
    // Records about every pupil, made by the admin who sees them all.
    let mut incidents = Vec::new();
    for pupil in [VISIBLE, BLOCKED, HIDDEN] {
        for c in ["Behaviour", "Child Protection"] {
            let id = d.incident(pupil, c).await;
            if pupil != VISIBLE {
                incidents.push(id);
            }
            d.mark(pupil, c).await;
        }
    }
    d.app
        .get("/v1/orgs/hill/incidents?per_page=200", &d.admin)
        .await
        .expect(200);
    let hidden = [
        (d.id(BLOCKED), BLOCKED.0, BLOCKED.1, BLOCKED.2),
        (d.id(HIDDEN), HIDDEN.0, HIDDEN.1, HIDDEN.2),
    ];
    // Every path parameter and id filter takes each of: the hidden pupils, every account, the
    // incidents about the hidden pupils, the student groups and two categories.
    let mut ids: Vec<String> = vec![d.id(BLOCKED).to_owned(), d.id(HIDDEN).to_owned()];
    ids.extend(walkers.iter().map(|(id, _)| id.clone()));
    ids.push(d.org.admin_id.to_string());
    ids.extend(incidents);
    ids.extend(d.groups.values().cloned());
    ids.push(d.categories["Behaviour"].clone());
    ids.push(d.categories["Child Protection"].clone());
    let doc = d
        .app
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .expect(200)
        .body;
    let gets: Vec<String> = crate::contract::operations(&doc)
        .into_iter()
        .filter(|(m, p)| m == "get" && !matches!(p.as_str(), "/openapi.json" | "/docs"))
        .map(|(_, p)| p)
        .collect();
    assert!(gets.len() >= 30, "only {} GET routes", gets.len());
    let params = |path: &str| -> Vec<(String, bool)> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "query")
                    .map(|p| {
                        let schema = &p["schema"];
                        let uuid = schema["format"] == "uuid"
                            || schema["oneOf"].to_string().contains("uuid")
                            || schema["type"].to_string().contains("null")
                                && schema.to_string().contains("uuid");
                        (p["name"].as_str().unwrap().to_owned(), uuid)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut calls = 0;
    for (_, token) in &walkers {
        for path in &gets {
            let query = params(path);
            let mut refused = false;
            for id in &ids {
                let url: String = path
                    .split('/')
                    .map(|seg| match seg {
                        "{org}" => "hill",
                        s if s.starts_with('{') => id.as_str(),
                        s => s,
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                let mut urls = vec![url.clone()];
                let filters: Vec<String> = query
                    .iter()
                    .filter_map(|(name, uuid)| {
                        if *uuid {
                            Some(format!("{name}={id}"))
                        } else if name == "q" || name == "filter" {
                            Some(format!("{name}={}", HIDDEN.2))
                        } else {
                            None
                        }
                    })
                    .collect();
                if !filters.is_empty() {
                    urls.push(format!("{url}?{}", filters.join("&")));
                }
                for url in urls {
                    let r = d.app.get(&url, token).await;
                    assert!(r.status.as_u16() < 500, "GET {url}: {:#}", r.body);
                    calls += 1;
                    let body = r.body.to_string();
                    if hidden.iter().any(|h| body.contains(h.0)) && body.contains(id.as_str()) {
                        // An answer that only echoes the id it was asked about must be the
                        // answer about an id that does not exist.
                        let missing = uuid::Uuid::new_v4().to_string();
                        let m = d.app.get(&url.replace(id.as_str(), &missing), token).await;
                        if m.status == r.status
                            && m.body.to_string().replace(&missing, "ID")
                                == body.replace(id.as_str(), "ID")
                        {
                            continue;
                        }
                    }
                    names_none(&format!("GET {url}"), &body, &hidden);
                    // The route's own refusal (G1, G2, A7) does not depend on the ids.
                    if r.status == 403
                        && matches!(r.body["rule"].as_str(), Some("G1" | "G2" | "A7"))
                    {
                        refused = true;
                    }
                }
                if refused || !path.contains('{') || path == "/v1/orgs/{org}" {
                    break;
                }
            }
        }
    }
    assert!(calls > 300, "the walk made {calls} calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_body_nested_past_the_limit_is_a_400_problem_not_a_crash() {
    let (app, _, admin) = TestApp::hill().await;
    for path in ["/v1/auth/login", "/v1/orgs/hill/user-groups"] {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(50_000), "]".repeat(50_000));
        let r = app
            .http
            .post(format!("{}{path}", app.base))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(deep)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "malformed_body", "{path}: {body}");
    }
    app.get("/v1/me", &admin).await.expect(200);
}

/// AU4 for entries written before they carried their bindings: the migration that added them
/// binds the old entries as the services bind new ones (run here by taking it back and again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn au4_entries_written_before_bindings_existed_are_bound_by_the_migration() {
    use migration::MigratorTrait;
    let d = doors().await;
    d.group(
        "Auditors",
        &["audits.view", "students.list", "students.view"],
        &["Behaviour"],
    )
    .await;
    let (_, reader) = d.staff("aud@hill.school", "Auditors").await;
    for pupil in [VISIBLE, HIDDEN] {
        let i = d.incident(pupil, "Behaviour").await;
        d.app
            .get(&format!("/v1/orgs/hill/incidents/{i}"), &d.admin)
            .await
            .expect(200);
        d.mark(pupil, "Child Protection").await;
    }
    d.app
        .get("/v1/orgs/hill/incidents", &d.admin)
        .await
        .expect(200);
    let hidden = [
        (d.id(BLOCKED), BLOCKED.0, BLOCKED.1, BLOCKED.2),
        (d.id(HIDDEN), HIDDEN.0, HIDDEN.1, HIDDEN.2),
    ];
    let seen = |token: String| {
        let app = &d.app;
        async move {
            app.get("/v1/orgs/hill/audit?limit=200", &token)
                .await
                .expect(200)
                .body
                .to_string()
        }
    };
    let before = seen(reader.clone()).await;
    names_none("the audit list", &before, &hidden);
    let db = sea_orm::Database::connect(&d.app.database_url)
        .await
        .unwrap();
    migration::Migrator::down(&db, Some(1)).await.unwrap();
    migration::Migrator::up(&db, None).await.unwrap();
    let after = seen(reader).await;
    names_none("the audit list after the backfill", &after, &hidden);
    assert_eq!(before, after);
    let admin = seen(d.admin.clone()).await;
    assert!(admin.contains(d.id(HIDDEN)) && admin.contains(d.id(BLOCKED)));
}
