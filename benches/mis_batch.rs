//! S4: a 10 000-row staff batch over HTTP, then the same batch re-sent (targets: under 2 s and
//! under 1 s), on SQLite and, when `KEYHOLDER_BENCH_POSTGRES_URL` names a server (an admin
//! database such as `postgres://postgres@127.0.0.1:5432/postgres`), on PostgreSQL too.
//! `cargo bench --bench mis_batch`

mod common;
use common::{keyed, service_key};
use keyholder_domain::model::RequestContext;
use keyholder_domain::services::NewOrg;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ROWS: usize = 10_000;
use common::ADMIN_PASSWORD as PASSWORD;

fn rows(changed: usize) -> Value {
    let items: Vec<Value> = (0..ROWS)
        .map(|i| {
            let surname = if i < changed { format!("Changed {i}") } else { format!("Number {i}") };
            json!({"mis_id": format!("S{i:05}"), "title": "Ms", "forename": "Staff", "surname": surname,
                   "email": format!("staff{i}@bench.school"), "job_title": "Teacher", "contract": "permanent",
                   "hours": "full_time", "start_date": "2020-09-01"})
        })
        .collect();
    json!({"items": items})
}

async fn run(label: &str, database_url: String) {
    let settings = common::settings(database_url);
    let (_store, kh, base) = common::start(&settings).await;
    kh.system_create_org(
        NewOrg {
            slug: "bench".into(),
            name: "Bench".into(),
            admin_email: "dsl@bench.school".into(),
            admin_password: Some(PASSWORD.into()),
        },
        &RequestContext::default(),
    )
    .await
    .expect("org");
    let http = reqwest::Client::new();
    let admin = keyed(&http, &base, "bench", "dsl@bench.school", PASSWORD).await;
    let key = service_key(&http, &base, "bench", &admin, "mis.sync").await;
    let url = format!("{base}/v1/orgs/bench/mis/staff");
    let mut timings = Vec::new();
    for (what, body) in [
        ("first batch (10 000 new)", rows(0)),
        ("same batch re-sent", rows(0)),
        ("batch with 100 rows changed", rows(100)),
    ] {
        let t = Instant::now();
        let res = http
            .put(&url)
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .expect("put");
        let status = res.status();
        let counts: Value = res.json().await.unwrap_or(Value::Null);
        let took = t.elapsed();
        assert!(status.is_success(), "{what}: {status} {counts}");
        timings.push((what, took, counts));
    }
    println!("MIS staff batch of {ROWS} rows over HTTP, {label}:");
    for (what, took, counts) in timings {
        println!(
            "  {what:<30} {:>8.1} ms   {counts}",
            took.as_secs_f64() * 1e3
        );
    }
    // A new school year: 10 000 pupils in 300 classes, then every pupil moves to another class
    // (10 000 memberships removed and 10 000 added in one batch of 300 groups).
    let put = |path: &str, body: Value| {
        let req = http
            .put(format!("{base}/v1/orgs/bench/mis/{path}"))
            .bearer_auth(&key)
            .json(&body);
        async move {
            let t = Instant::now();
            let res = req.send().await.expect("put");
            let status = res.status();
            let counts: Value = res.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "{status} {counts}");
            (t.elapsed(), counts)
        }
    };
    let pupils: Vec<Value> = (0..ROWS)
        .map(|i| json!({"mis_id": format!("P{i:05}"), "forename": "Pupil", "surname": format!("Number{i}"), "on_roll": true}))
        .collect();
    put("students", json!({ "items": pupils })).await;
    let classes = |shift: usize| {
        let groups: Vec<Value> = (0..300)
            .map(|c| {
                let members: Vec<String> = (0..ROWS)
                    .filter(|i| (i + shift) % 300 == c)
                    .map(|i| format!("P{i:05}"))
                    .collect();
                json!({"mis_id": format!("C{c:03}"), "type": "registration_group", "name": format!("Class {c}"), "member_mis_ids": members})
            })
            .collect();
        json!({ "items": groups })
    };
    let (first, _) = put("student-groups", classes(0)).await;
    let (moved, counts) = put("student-groups", classes(1)).await;
    println!("MIS student groups, 300 classes of 10 000 pupils, {label}:");
    println!(
        "  {:<30} {:>8.1} ms",
        "first batch",
        first.as_secs_f64() * 1e3
    );
    println!(
        "  {:<30} {:>8.1} ms   {counts}",
        "every pupil moved",
        moved.as_secs_f64() * 1e3
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    common::on_each_database("MIS_BATCH", run).await;
}
