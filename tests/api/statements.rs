//! Issue 11: what one request costs the database. In the steady state `GET /v1/me` runs no
//! statement at all (U5), and no request runs the same statement (same SQL, same values) twice.

use crate::harness::*;
use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u5_me_runs_no_statement_and_no_read_runs_one_twice() {
    let mut log = None;
    let app = TestApp::spawn_with(|s| {
        log = Some(keyholder_store::observe_statements(&s.database_url));
        s.domain.auth_cache_max_age = std::time::Duration::from_secs(60);
    })
    .await;
    let log = log.expect("observed");
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let key = app.service_key("hill", &admin, "mis.sync").await;
    app.two_pupils("hill", &key).await;
    app.call(Method::PUT, "/v1/orgs/hill/mis/student-groups", Some(&key), Some(json!({"items": [
        {"mis_id": "R1", "type": "registration_group", "name": "1A", "member_mis_ids": ["P1", "P2"]}
    ]})))
    .await
    .expect(200);
    let teacher_id = app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let groups = app
        .ids_by_mis_id("/v1/orgs/hill/student-groups", &admin)
        .await;
    app.post(
        &format!("/v1/orgs/hill/student-groups/{}/access", groups["R1"]),
        Some(&admin),
        json!({"user_ids": [teacher_id]}),
    )
    .await
    .expect(200);
    let teacher = app
        .token_with_key("hill", "t@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    let pupils: HashMap<String, String> =
        app.ids_by_mis_id("/v1/orgs/hill/students", &teacher).await;
    let behaviour = app.category_id("hill", &admin, "Behaviour").await;
    let incident = app
        .post(
            "/v1/orgs/hill/incidents",
            Some(&teacher),
            json!({"student_id": pupils["P1"], "category_id": behaviour, "description": "x", "occurred_at": "2026-11-23T10:15:00Z"}),
        )
        .await
        .expect(201)
        .id();
    let reads = [
        ("/v1/me".to_owned(), &teacher),
        ("/v1/orgs/hill/users?per_page=15".to_owned(), &admin),
        ("/v1/orgs/hill/students?per_page=25".to_owned(), &teacher),
        (format!("/v1/orgs/hill/students/{}", pupils["P1"]), &teacher),
        ("/v1/orgs/hill/students/picker?q=am".to_owned(), &teacher),
        ("/v1/orgs/hill/incidents".to_owned(), &teacher),
        (format!("/v1/orgs/hill/incidents/{incident}"), &teacher),
        ("/v1/orgs/hill/audit?limit=50".to_owned(), &admin),
        ("/v1/orgs/hill/user-groups".to_owned(), &admin),
        ("/v1/orgs/hill/categories".to_owned(), &admin),
        ("/v1/orgs/hill/staff".to_owned(), &admin),
        ("/v1/orgs/hill/student-groups".to_owned(), &admin),
        ("/v1/me/alerts".to_owned(), &teacher),
    ];
    for (path, token) in reads {
        // Once to fill what the replica holds, then the steady state.
        app.get(&path, token).await.expect(200);
        log.take();
        app.get(&path, token).await.expect(200);
        // The outbox worker polls on its own: not this request's.
        let ran: Vec<String> = log
            .take()
            .into_iter()
            .filter(|s| !s.contains("\"outbox\""))
            .collect();
        if path == "/v1/me" {
            assert!(ran.is_empty(), "GET /v1/me ran {ran:#?}");
        } else {
            assert!(!ran.is_empty(), "the log saw nothing of GET {path}");
        }
        if std::env::var("KEYHOLDER_PRINT_STATEMENTS").is_ok() {
            println!("GET {path}: {} statements", ran.len());
            for s in &ran {
                println!("  {}", s.chars().take(300).collect::<String>());
            }
        }
        let mut seen = std::collections::HashSet::new();
        for s in &ran {
            assert!(seen.insert(s), "GET {path} ran twice: {s}\nall: {ran:#?}");
        }
    }
}
