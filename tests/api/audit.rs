//! AU1–AU3: the audit trail is filtered, exported, and a hash chain that finds any edited or
//! deleted entry, through the API and the command line.

use crate::harness::*;
use reqwest::Method;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

/// Three audited changes after the org's own creation entries.
async fn three_groups(app: &TestApp, admin: &str) {
    for name in ["Pastoral", "Office", "Governors"] {
        app.post(
            "/v1/orgs/hill/user-groups",
            Some(admin),
            json!({"name": name}),
        )
        .await
        .expect(201);
    }
}

async fn verify(app: &TestApp, admin: &str) -> Value {
    app.get("/v1/orgs/hill/audit/verify", admin)
        .await
        .expect(200)
        .body
}

/// `keyholder audit verify --org hill` against the test's database.
fn verify_cli(app: &TestApp) -> (bool, Value) {
    app.command(&["audit", "verify", "--org", "hill"])
}

/// Someone with database access runs `sql`; the chain no longer verifies (AU3).
async fn tampered(app: &TestApp, admin: &str, sql: &str) -> Value {
    raw(app, sql).await;
    let v = verify(app, admin).await;
    assert_eq!(v["valid"], false, "{v}");
    v
}

async fn raw(app: &TestApp, sql: &str) {
    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("connect");
    db.execute_unprepared(sql).await.expect(sql);
    db.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn au3_an_audit_row_edited_in_the_database_fails_verification_at_that_entry() {
    let (app, org, admin) = TestApp::hill().await;
    three_groups(&app, &admin).await;
    let v = verify(&app, &admin).await;
    assert_eq!(v["valid"], true, "{v}");
    let checked = v["checked"].as_u64().unwrap();
    assert!(checked >= 4, "{v}");
    assert_eq!(v["first_bad_id"], Value::Null);
    // Every entry shows its place and both hashes; each links to the one before.
    let items = app
        .get("/v1/orgs/hill/audit?limit=200", &admin)
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .unwrap()
        .clone();
    for w in items.windows(2) {
        assert_eq!(w[0]["prev_hash"], w[1]["hash"], "newest first, each linked");
        assert_eq!(
            w[0]["seq"].as_i64().unwrap(),
            w[1]["seq"].as_i64().unwrap() + 1
        );
    }
    let (ok, out) = verify_cli(&app);
    assert!(ok, "{out}");
    assert_eq!(out["checked"], checked);
    // Someone with database access rewrites history: the group was called something else.
    let office = app.audit(&org, &admin, "user_group.created").await[1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // (Rows are picked by content: ids are stored differently by the two engines.)
    let v = tampered(
        &app,
        &admin,
        "UPDATE audit_log SET changes = REPLACE(changes, 'Office', 'Staffroom') \
         WHERE kind = 'user_group.created' AND changes LIKE '%Office%'",
    )
    .await;
    assert_eq!(v["first_bad_id"], office.as_str());
    assert!(v["detail"].as_str().unwrap().contains("changed"), "{v}");
    let (ok, out) = verify_cli(&app);
    assert!(!ok, "the command fails on a broken chain");
    assert_eq!(out["first_bad_id"], office.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn au3_a_deleted_audit_row_is_found_in_the_middle_and_at_the_end() {
    let (app, org, admin) = TestApp::hill().await;
    three_groups(&app, &admin).await;
    let created = app.audit(&org, &admin, "user_group.created").await;
    // Newest first: Governors, Office, Pastoral.
    let governors = created[0]["id"].as_str().unwrap().to_owned();
    // An entry in the middle goes: the one after the gap is named.
    // (Rows are picked by content: ids are stored differently by the two engines.)
    let v = tampered(
        &app,
        &admin,
        "DELETE FROM audit_log WHERE kind = 'user_group.created' AND changes LIKE '%Office%'",
    )
    .await;
    assert_eq!(v["first_bad_id"], governors.as_str());
    assert!(v["detail"].as_str().unwrap().contains("missing"), "{v}");
    // The last entry written (Governors) goes too: nothing follows the gap now, but the org's
    // head still counts what was written.
    let v = tampered(
        &app,
        &admin,
        "DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)",
    )
    .await;
    assert_eq!(v["first_bad_id"], Value::Null);
    assert!(
        v["detail"].as_str().unwrap().contains("were written"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn au2_the_trail_is_filtered_by_time_type_actor_and_target_and_exported_as_csv() {
    let (app, org, admin) = TestApp::hill().await;
    let start = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let teacher = app.user(&org, &admin, "t@hill.school", "Teachers").await;
    three_groups(&app, &admin).await;
    let q = |query: &str| {
        let app = &app;
        let admin = admin.clone();
        let path = format!("/v1/orgs/hill/audit?{query}");
        async move { app.get(&path, &admin).await }
    };
    let enc = |t: &str| t.replace(':', "%3A").replace('+', "%2B");
    let since = q(&format!("from={}&limit=200", enc(&start)))
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        since
            .iter()
            .all(|e| e["at"].as_str().unwrap() >= start.as_str())
    );
    assert!(since.iter().any(|e| e["type"] == "user.created"));
    let before = q(&format!("to={}&limit=200", enc(&start)))
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .unwrap()
        .clone();
    assert!(before.iter().all(|e| e["type"] != "user.created"));
    let about_teacher = q(&format!("target_user_id={teacher}")).await.expect(200);
    assert_eq!(about_teacher.body["items"][0]["type"], "user.created");
    let by_admin = q(&format!(
        "actor_id={}&type=user_group.created",
        org.admin_id
    ))
    .await
    .expect(200);
    assert_eq!(by_admin.body["items"].as_array().unwrap().len(), 3);
    // Bad filters are named, all at once.
    let bad = q("from=yesterday&to=soon")
        .await
        .problem(422, "validation_failed");
    let codes = bad.sorted_field_codes();
    assert_eq!(
        codes,
        [
            ("from".to_owned(), "invalid_time".to_owned()),
            ("to".to_owned(), "invalid_time".to_owned())
        ]
    );
    q(&format!("from={}&to=2020-01-01T00%3A00%3A00Z", enc(&start)))
        .await
        .problem(422, "validation_failed");
    // Empty values are not "no filter": each is named (issue 13).
    let empty = q("from=&to=&type=").await.problem(422, "validation_failed");
    let codes = empty.sorted_field_codes();
    assert_eq!(
        codes,
        [
            ("from".to_owned(), "empty".to_owned()),
            ("to".to_owned(), "empty".to_owned()),
            ("type".to_owned(), "empty".to_owned())
        ]
    );
    // The export: one CSV row per entry, the same filters.
    let csv = app
        .call(
            Method::GET,
            "/v1/orgs/hill/audit/export?type=user_group.created",
            Some(&admin),
            None,
        )
        .await
        .expect(200);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.body.as_str().unwrap().to_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "id,at,type,actor_id,target_type,target_id,staff_id,changes,ip,request_id,seq,prev_hash,hash"
    );
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[1].contains("Governors") && lines[1].contains("user_group.created"));
    // A caller-chosen request id that a spreadsheet would run as a formula is quoted.
    app.call_with(
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"org": "hill", "login": org.admin_email, "password": ADMIN_PASSWORD})),
        &[("x-request-id", "=HYPERLINK(\"http://evil.example\")")],
    )
    .await
    .expect(200);
    let csv = app
        .call(
            Method::GET,
            "/v1/orgs/hill/audit/export?type=auth.login_succeeded",
            Some(&admin),
            None,
        )
        .await
        .expect(200);
    let text = csv.body.as_str().unwrap().to_owned();
    assert!(text.contains("'=HYPERLINK("), "{text}");
    assert!(!text.contains(",=HYPERLINK("), "{text}");
    // Only with audits.view.
    let t = app
        .token_with_key("hill", "t@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    let denied = app
        .get("/v1/orgs/hill/audit/export", &t)
        .await
        .problem(403, "permission_denied");
    assert_eq!(denied.body["rule"], "G1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn au1_every_refused_request_on_a_protected_route_is_recorded() {
    let (app, org) = TestApp::with_hill().await;
    let dale = app.org("dale").await;
    let admin = app.admin(&org).await;
    let teacher_id = app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let teacher = app
        .token_with_key("hill", "t@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    app.get("/v1/orgs/hill/users", &teacher)
        .await
        .problem(403, "permission_denied");
    let denied = app.audit(&org, &admin, "access.denied").await;
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["actor_id"], teacher_id.as_str());
    assert_eq!(denied[0]["changes"]["rule"], "G1");
    assert_eq!(denied[0]["changes"]["action"], "list_users");
    assert_eq!(denied[0]["changes"]["path"], "/v1/orgs/hill/users");
    assert!(denied[0]["request_id"].is_string());
    // Another org's admin probing hill's paths: recorded in the prober's own org.
    let dale_admin = app.admin(&dale).await;
    app.get("/v1/orgs/hill/users", &dale_admin)
        .await
        .problem(404, "not_found");
    let probes = app.audit(&dale, &dale_admin, "access.denied").await;
    assert_eq!(probes[0]["changes"]["rule"], "T1");
    assert_eq!(app.audit(&org, &admin, "access.denied").await.len(), 1);
    // A service key on a person's door (A7).
    let key = app.service_key("hill", &admin, "mis.sync").await;
    app.get("/v1/orgs/hill/students", &key)
        .await
        .problem(403, "permission_denied");
    let denied = app.audit(&org, &admin, "access.denied").await;
    assert_eq!(denied[0]["changes"]["rule"], "A7");
    assert_eq!(denied[0]["target_type"], "service_account");
    // The chain still holds with refusals in it.
    assert_eq!(verify(&app, &admin).await["valid"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn au3_a_row_written_around_the_service_stays_outside_the_chain_after_a_restart() {
    let (app, _, admin) = TestApp::hill().await;
    three_groups(&app, &admin).await;
    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("connect");
    let new_id = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "gen_random_uuid()",
        _ => "randomblob(16)",
    };
    db.execute_unprepared(&format!(
        "INSERT INTO audit_log (id, org_id, at, kind, actor_id, target_type, target_id, staff_id, changes, ip, request_id, seq, hash, prev_hash) \
         SELECT {new_id}, org_id, at, 'user.forged', actor_id, target_type, target_id, staff_id, changes, ip, request_id, NULL, NULL, NULL \
         FROM audit_log WHERE seq = 1"
    ))
    .await
    .expect("insert");
    db.close().await.ok();
    let v = verify(&app, &admin).await;
    assert_eq!(v["valid"], false);
    assert!(
        v["detail"].as_str().unwrap().contains("around the service"),
        "{v}"
    );
    // The command line opens the store as a restart does (migrations, sealing): still refused.
    let (ok, out) = verify_cli(&app);
    assert!(!ok, "{out}");
    assert_eq!(out["first_bad_id"], v["first_bad_id"]);
}
