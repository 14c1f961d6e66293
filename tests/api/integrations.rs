//! A7 service accounts and S4 MIS sync.

use crate::harness::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn service_key(app: &TestApp, org: &str, admin: &str, scopes: &[&str]) -> String {
    let r = app
        .post(
            &format!("/v1/orgs/{org}/service-accounts"),
            Some(admin),
            json!({"name": "MIS connector", "scopes": scopes}),
        )
        .await
        .expect(201);
    r.body["api_key"].as_str().unwrap().to_owned()
}

async fn put(app: &TestApp, path: &str, key: &str, body: Value, headers: &[(&str, &str)]) -> Res {
    app.call_with(Method::PUT, path, Some(key), Some(body), headers)
        .await
}

fn staff_row(mis: &str, surname: &str) -> Value {
    json!({"mis_id": mis, "title": "Ms", "forename": "Sam", "surname": surname, "email": format!("{}@hill.school", mis.to_lowercase()),
           "job_title": "Teacher", "contract": "permanent", "hours": "full_time", "start_date": "2024-09-02"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a7_a_key_is_shown_once_opens_only_its_scopes_records_its_use_and_dies_when_revoked() {
    let (app, org, admin) = TestApp::hill().await;
    let created = app
        .post(
            "/v1/orgs/hill/service-accounts",
            Some(&admin),
            json!({"name": "Arbor MIS", "scopes": ["mis.sync"]}),
        )
        .await
        .expect(201);
    let key = created.body["api_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("kh_"));
    assert_eq!(created.body["scopes"], json!(["mis.sync"]));
    let id = created.body["id"].as_str().unwrap().to_owned();
    let list = app
        .get("/v1/orgs/hill/service-accounts", &admin)
        .await
        .expect(200);
    assert!(
        list.body["items"][0].get("api_key").is_none(),
        "the key is never shown again"
    );
    assert_eq!(list.body["items"][0]["last_used_at"], Value::Null);
    assert!(key.starts_with(list.body["items"][0]["key_prefix"].as_str().unwrap()));
    put(
        &app,
        "/v1/orgs/hill/mis/staff",
        &key,
        json!({"items": [staff_row("S1", "One")]}),
        &[],
    )
    .await
    .expect(200);
    let list = app
        .get("/v1/orgs/hill/service-accounts", &admin)
        .await
        .expect(200);
    assert!(list.body["items"][0]["last_used_at"].is_string());
    // A key never reads users or children's data, and a person's token cannot push.
    let r = app
        .get("/v1/orgs/hill/users", &key)
        .await
        .problem(403, "permission_denied");
    assert_eq!(r.body["rule"], "A7");
    app.get("/v1/orgs/hill/staff", &key)
        .await
        .problem(403, "permission_denied");
    let r = put(
        &app,
        "/v1/orgs/hill/mis/staff",
        &admin,
        json!({"items": []}),
        &[],
    )
    .await
    .problem(403, "permission_denied");
    assert_eq!(r.body["rule"], "A7");
    let scim_only = service_key(&app, "hill", &admin, &["scim"]).await;
    put(
        &app,
        "/v1/orgs/hill/mis/staff",
        &scim_only,
        json!({"items": []}),
        &[],
    )
    .await
    .problem(403, "permission_denied");
    // Another org's path: not found.
    app.org("dale").await;
    put(
        &app,
        "/v1/orgs/dale/mis/staff",
        &key,
        json!({"items": []}),
        &[],
    )
    .await
    .problem(404, "not_found");
    // Bad input.
    let bad = app
        .post(
            "/v1/orgs/hill/service-accounts",
            Some(&admin),
            json!({"name": "", "scopes": ["students.read"]}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(bad.field_codes().len(), 2);
    app.call(
        Method::DELETE,
        &format!("/v1/orgs/hill/service-accounts/{id}"),
        Some(&admin),
        None,
    )
    .await
    .expect(204);
    put(
        &app,
        "/v1/orgs/hill/mis/staff",
        &key,
        json!({"items": []}),
        &[],
    )
    .await
    .problem(401, "unauthenticated");
    app.call(
        Method::DELETE,
        &format!("/v1/orgs/hill/service-accounts/{id}"),
        Some(&admin),
        None,
    )
    .await
    .problem(404, "not_found");
    assert_eq!(
        app.audit(&org, &admin, "service_account.created")
            .await
            .len(),
        2
    );
    assert_eq!(
        app.audit(&org, &admin, "service_account.revoked")
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s4_the_same_staff_batch_twice_changes_nothing_the_second_time_and_missing_rows_are_marked_left()
 {
    let (app, org, admin) = TestApp::hill().await;
    let key = service_key(&app, "hill", &admin, &["mis.sync"]).await;
    let batch = json!({"items": [staff_row("S1", "One"), staff_row("S2", "Two"), staff_row("S3", "Three")]});
    let first = put(&app, "/v1/orgs/hill/mis/staff", &key, batch.clone(), &[])
        .await
        .expect(200);
    assert_eq!(
        first.body,
        json!({"created": 3, "updated": 0, "unchanged": 0, "left": 0})
    );
    let again = put(&app, "/v1/orgs/hill/mis/staff", &key, batch, &[])
        .await
        .expect(200);
    assert_eq!(
        again.body,
        json!({"created": 0, "updated": 0, "unchanged": 3, "left": 0})
    );
    let staff = app.get("/v1/orgs/hill/staff", &admin).await.expect(200);
    assert_eq!(staff.body["total"], 3);
    assert!(
        staff.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["version"] == 1),
        "no writes the second time"
    );
    let changed = put(
        &app,
        "/v1/orgs/hill/mis/staff",
        &key,
        json!({"items": [staff_row("S1", "One"), staff_row("S2", "Twoo")], "mark_missing_as_left": true}),
        &[],
    )
    .await
    .expect(200);
    assert_eq!(
        changed.body,
        json!({"created": 0, "updated": 1, "unchanged": 1, "left": 1})
    );
    let s3 = app
        .get("/v1/orgs/hill/staff?q=three", &admin)
        .await
        .expect(200);
    let today = time::OffsetDateTime::now_utc().date();
    assert_eq!(
        s3.body["items"][0]["end_date"],
        format!(
            "{:04}-{:02}-{:02}",
            today.year(),
            u8::from(today.month()),
            today.day()
        )
    );
    let audit = app.audit(&org, &admin, "mis.staff_synced").await;
    assert_eq!(audit.len(), 3, "one entry per batch");
    assert_eq!(audit[1]["changes"]["unchanged"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s4_a_batch_with_bad_rows_lists_every_one_and_changes_nothing() {
    let (app, org, admin) = TestApp::hill().await;
    let key = service_key(&app, "hill", &admin, &["mis.sync"]).await;
    let mut bad = staff_row("S2", "Two");
    bad["contract"] = json!("zero_hours");
    bad["start_date"] = json!("2024-02-30");
    let mut worse = staff_row("S1", "");
    worse["email"] = json!("not-an-email");
    let r = put(
        &app,
        "/v1/orgs/hill/mis/staff",
        &key,
        json!({"items": [staff_row("S1", "One"), bad, worse]}),
        &[],
    )
    .await
    .problem(422, "validation_failed");
    let errors = r.field_codes();
    for expected in [
        ("items[1].contract", "unknown_contract"),
        ("items[1].start_date", "date"),
        ("items[2].mis_id", "duplicate"),
        ("items[2].surname", "length"),
        ("items[2].email", "email"),
    ] {
        assert!(
            errors.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} missing from {errors:?}"
        );
    }
    assert_eq!(
        app.get("/v1/orgs/hill/staff", &admin)
            .await
            .expect(200)
            .body["total"],
        0
    );
    assert!(app.audit(&org, &admin, "mis.staff_synced").await.is_empty());
    let too_many: Vec<Value> = (0..10_001)
        .map(|i| staff_row(&format!("M{i}"), "Many"))
        .collect();
    let r = put(
        &app,
        "/v1/orgs/hill/mis/staff",
        &key,
        json!({"items": too_many}),
        &[],
    )
    .await
    .problem(422, "validation_failed");
    assert_eq!(
        r.field_codes()[0],
        ("items".to_owned(), "too_many_items".to_owned())
    );
    put(
        &app,
        "/v1/orgs/hill/mis/staff",
        &key,
        json!({"items": "lots"}),
        &[],
    )
    .await
    .problem(400, "malformed_body");
}

/// Issue 13 (4): a row missing a field, or with a field of the wrong JSON type, is named by index
/// and field like any other bad row (`required`, `invalid_type`), with every other bad row of the
/// batch at once; nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s4_missing_and_mistyped_fields_are_named_by_row_with_every_other_bad_row() {
    let (app, _, admin) = TestApp::hill().await;
    let key = service_key(&app, "hill", &admin, &["mis.sync"]).await;
    let mut no_surname = staff_row("S2", "Two");
    no_surname.as_object_mut().unwrap().remove("surname");
    let mut numeric_date = staff_row("S3", "Three");
    numeric_date["start_date"] = json!(20240902);
    numeric_date["email"] = json!(["s3@hill.school"]);
    let mut bad_date = staff_row("S4", "Four");
    bad_date["start_date"] = json!("2024-13-01");
    let r = put(
        &app,
        "/v1/orgs/hill/mis/staff",
        &key,
        json!({"items": [staff_row("S1", "One"), no_surname, numeric_date, bad_date, "a row"]}),
        &[],
    )
    .await
    .problem(422, "validation_failed");
    let pair = |f: &str, c: &str| (f.to_owned(), c.to_owned());
    assert_eq!(
        r.field_codes(),
        [
            pair("items[1].surname", "required"),
            pair("items[2].email", "invalid_type"),
            pair("items[2].start_date", "invalid_type"),
            pair("items[3].start_date", "date"),
            pair("items[4]", "invalid_type"),
        ]
    );
    assert_eq!(
        app.get("/v1/orgs/hill/staff", &admin)
            .await
            .expect(200)
            .body["total"],
        0,
        "nothing written"
    );
    // Pupils and groups the same way.
    let r = put(
        &app,
        "/v1/orgs/hill/mis/students",
        &key,
        json!({"items": [
            {"mis_id": "P1", "forename": "Amelia", "surname": "Hughes", "on_roll": "yes"},
            {"mis_id": 2, "forename": "Noah", "surname": "Patel", "on_roll": true},
            {"mis_id": "P3", "surname": "Bennett", "on_roll": true}
        ]}),
        &[],
    )
    .await
    .problem(422, "validation_failed");
    assert_eq!(
        r.field_codes(),
        [
            pair("items[0].on_roll", "invalid_type"),
            pair("items[1].mis_id", "invalid_type"),
            pair("items[2].forename", "required"),
        ]
    );
    let r = put(
        &app,
        "/v1/orgs/hill/mis/student-groups",
        &key,
        json!({"items": [
            {"mis_id": "Y1", "name": "Year 1", "member_mis_ids": []},
            {"mis_id": "Y2", "type": "academic_level", "name": "Year 2", "member_mis_ids": [7]}
        ]}),
        &[],
    )
    .await
    .problem(422, "validation_failed");
    assert_eq!(
        r.field_codes(),
        [
            pair("items[0].type", "required"),
            pair("items[1].member_mis_ids[0]", "invalid_type"),
        ]
    );
    assert_eq!(
        app.get("/v1/orgs/hill/students", &admin)
            .await
            .expect(200)
            .body["total"],
        0
    );
    // Over the row limit, refused before any row is read: one finding, not one per row.
    let r = put(
        &app,
        "/v1/orgs/hill/mis/staff",
        &key,
        json!({"items": vec![json!({}); 10_001]}),
        &[],
    )
    .await
    .problem(422, "validation_failed");
    assert_eq!(r.field_codes(), [pair("items", "too_many_items")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s4_an_idempotency_key_replays_the_first_answer_and_cannot_be_reused_for_another_batch() {
    let (app, org, admin) = TestApp::hill().await;
    let key = service_key(&app, "hill", &admin, &["mis.sync"]).await;
    let batch = json!({"items": [staff_row("S1", "One")]});
    let h = [("idempotency-key", "nightly-2026-11-24")];
    let first = put(&app, "/v1/orgs/hill/mis/staff", &key, batch.clone(), &h)
        .await
        .expect(200);
    assert_eq!(first.body["created"], 1);
    let replay = put(&app, "/v1/orgs/hill/mis/staff", &key, batch, &h)
        .await
        .expect(200);
    assert_eq!(replay.body["created"], 1, "the first answer, replayed");
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(app.audit(&org, &admin, "mis.staff_synced").await.len(), 1);
    put(
        &app,
        "/v1/orgs/hill/mis/staff",
        &key,
        json!({"items": [staff_row("S9", "Nine")]}),
        &h,
    )
    .await
    .problem(409, "idempotency_key_reused");
    assert_eq!(
        app.get("/v1/orgs/hill/staff", &admin)
            .await
            .expect(200)
            .body["total"],
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s4_r2_students_then_groups_with_their_members_sync_and_resync_idempotently() {
    let (app, _, admin) = TestApp::hill().await;
    let key = service_key(&app, "hill", &admin, &["mis.sync"]).await;
    let students = json!({"items": [
        {"mis_id": "P1", "forename": "Amelia", "surname": "Hughes", "date_of_birth": "2019-03-01", "on_roll": true},
        {"mis_id": "P2", "forename": "Noah", "surname": "Patel", "on_roll": true},
        {"mis_id": "P3", "forename": "Isla", "surname": "Bennett", "date_of_birth": "2018-05-05", "on_roll": true}
    ]});
    let r = put(
        &app,
        "/v1/orgs/hill/mis/students",
        &key,
        students.clone(),
        &[],
    )
    .await
    .expect(200);
    assert_eq!(r.body["created"], 3);
    assert_eq!(
        put(&app, "/v1/orgs/hill/mis/students", &key, students, &[])
            .await
            .expect(200)
            .body["unchanged"],
        3
    );
    let groups = json!({"items": [
        {"mis_id": "Y1", "type": "academic_level", "name": "Year 1", "member_mis_ids": ["P1", "P2"]},
        {"mis_id": "Y2", "type": "academic_level", "name": "Year 2", "member_mis_ids": ["P3"]},
        {"mis_id": "H1", "type": "house", "name": "Kestrel", "member_mis_ids": ["P1", "P3"]}
    ]});
    assert_eq!(
        put(
            &app,
            "/v1/orgs/hill/mis/student-groups",
            &key,
            groups.clone(),
            &[]
        )
        .await
        .expect(200)
        .body["created"],
        3
    );
    assert_eq!(
        put(&app, "/v1/orgs/hill/mis/student-groups", &key, groups, &[])
            .await
            .expect(200)
            .body["unchanged"],
        3
    );
    let list = app
        .get("/v1/orgs/hill/student-groups?type=academic_level", &admin)
        .await
        .expect(200);
    assert_eq!(list.body["items"][0]["member_count"], 2);
    // P2 moves to Year 2; the house is gone.
    let moved = put(
        &app,
        "/v1/orgs/hill/mis/student-groups",
        &key,
        json!({"items": [
            {"mis_id": "Y1", "type": "academic_level", "name": "Year 1", "member_mis_ids": ["P1"]},
            {"mis_id": "Y2", "type": "academic_level", "name": "Year 2", "member_mis_ids": ["P3", "P2"]}
        ], "mark_missing_as_left": true}),
        &[],
    )
    .await
    .expect(200);
    assert_eq!(
        moved.body,
        json!({"created": 0, "updated": 2, "unchanged": 0, "left": 1})
    );
    let list = app
        .get("/v1/orgs/hill/student-groups?type=academic_level", &admin)
        .await
        .expect(200);
    assert_eq!(list.body["items"][1]["member_count"], 2);
    let houses = app
        .get("/v1/orgs/hill/student-groups?type=house", &admin)
        .await
        .expect(200);
    assert_eq!(houses.body["items"][0]["archived"], true);
    let bad = put(
        &app,
        "/v1/orgs/hill/mis/student-groups",
        &key,
        json!({"items": [{"mis_id": "Y3", "type": "year", "name": "Year 3", "member_mis_ids": ["P404"]}]}),
        &[],
    )
    .await
    .problem(422, "validation_failed");
    assert_eq!(
        bad.field_codes(),
        [
            ("items[0].type".to_owned(), "unknown_type".to_owned()),
            (
                "items[0].member_mis_ids[0]".to_owned(),
                "unknown_student".to_owned()
            )
        ]
    );
    let left = put(
        &app,
        "/v1/orgs/hill/mis/students",
        &key,
        json!({"items": [], "mark_missing_as_left": true}),
        &[],
    )
    .await
    .expect(200);
    assert_eq!(left.body["left"], 3);
}
