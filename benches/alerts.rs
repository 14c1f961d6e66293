//! N2 at scale: the time to record an incident when 500 users asked for immediate alerts on its
//! category (each alert and email written in the incident's transaction), beside the same
//! incident with no subscriber. 100 incidents one at a time each; prints p50/p99 and the alerts
//! written per incident (checked on a sample of subscribers).
//! `cargo bench --bench alerts` (SQLite), plus PostgreSQL when `KEYHOLDER_BENCH_POSTGRES_URL`
//! names an admin database.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

mod common;
use common::{call, keyed, pct, service_key};

use common::ADMIN_PASSWORD as PASSWORD;
const SUBSCRIBERS: usize = 500;
const RUNS: usize = 100;

async fn record(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    student: &str,
    category: &str,
) -> Duration {
    let t0 = Instant::now();
    call(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/orgs/alerts/incidents"),
        Some(token),
        Some(json!({"student_id": student, "category_id": category, "description": "bench", "occurred_at": "2026-11-23T10:15:00Z"})),
    )
    .await;
    t0.elapsed()
}

async fn run(label: &str, database_url: String) {
    let mut settings = common::settings(database_url);
    settings.outbox_interval_ms = 3_600_000;
    settings.domain.hashes_in_flight = 2;
    let (_store, kh, base) = common::start(&settings).await;
    let http = reqwest::Client::new();
    let admin = common::org_and_admin(&kh, &http, &base, "alerts").await;
    let org = |p: &str| format!("{base}/v1/orgs/alerts/{p}");
    // Nothing restricts: every teacher may read the pupil's Behaviour incidents.
    call(
        &http,
        reqwest::Method::PATCH,
        org("settings"),
        Some(&admin),
        Some(json!({"restricted_group_types": []})),
    )
    .await;
    let key = service_key(&http, &base, "alerts", &admin, "mis.sync").await;
    call(
        &http,
        reqwest::Method::PUT,
        org("mis/students"),
        Some(&key),
        Some(json!({"items": [{"mis_id": "P1", "forename": "Bench", "surname": "Pupil", "on_roll": true}]})),
    )
    .await;
    let student = call(
        &http,
        reqwest::Method::GET,
        org("students"),
        Some(&admin),
        None,
    )
    .await["items"][0]["id"]
        .as_str()
        .expect("pupil")
        .to_owned();
    let cats = call(
        &http,
        reqwest::Method::GET,
        org("categories"),
        Some(&admin),
        None,
    )
    .await;
    let find = |name: &str| -> String {
        cats.get("items")
            .unwrap_or(&cats)
            .as_array()
            .expect("categories")
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["id"].as_str())
            .expect(name)
            .to_owned()
    };
    let (behaviour, attendance) = (find("Behaviour"), find("Attendance"));
    let teachers = common::teachers(&http, &base, "alerts", &admin).await;
    let t0 = Instant::now();
    let mut subscribers = Vec::new();
    for i in 0..=SUBSCRIBERS {
        let id = call(
            &http,
            reqwest::Method::POST,
            org("users"),
            Some(&admin),
            Some(json!({"email": format!("t{i}@alerts.test"), "forename": "Teacher", "surname": format!("{i}"), "user_group_id": teachers, "password": PASSWORD})),
        )
        .await["id"]
            .as_str()
            .expect("user")
            .to_owned();
        if i > 0 {
            call(
                &http,
                reqwest::Method::PUT,
                org(&format!("users/{id}/notification-preferences")),
                Some(&admin),
                Some(json!({"items": [{"category_id": behaviour, "mode": "immediate"}]})),
            )
            .await;
            subscribers.push(format!("t{i}@alerts.test"));
        }
    }
    let seeded = t0.elapsed();
    let author = keyed(&http, &base, "alerts", "t0@alerts.test", PASSWORD).await;
    let mut with = Vec::new();
    let mut without = Vec::new();
    for _ in 0..RUNS {
        with.push(record(&http, &base, &author, &student, &behaviour).await);
        without.push(record(&http, &base, &author, &student, &attendance).await);
    }
    with.sort();
    without.sort();
    let mut counts = Vec::new();
    for email in subscribers.iter().step_by(SUBSCRIBERS / 5) {
        let t = keyed(&http, &base, "alerts", email, PASSWORD).await;
        let mut n = 0;
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{base}/v1/me/alerts?limit=100&cursor={c}"),
                None => format!("{base}/v1/me/alerts?limit=100"),
            };
            let page: Value = call(&http, reqwest::Method::GET, url, Some(&t), None).await;
            n += page["items"].as_array().map_or(0, Vec::len);
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        counts.push(n);
    }
    println!(
        "\nN2, {label}: recording an incident ({SUBSCRIBERS} subscribers seeded in {:.0} s)",
        seeded.as_secs_f64()
    );
    println!("| incident | p50 ms | p99 ms |");
    println!("|---|---|---|");
    println!(
        "| Behaviour: {SUBSCRIBERS} immediate subscribers | {:.2} | {:.2} |",
        pct(&with, 0.5),
        pct(&with, 0.99)
    );
    println!(
        "| Attendance: nobody subscribed | {:.2} | {:.2} |",
        pct(&without, 0.5),
        pct(&without, 0.99)
    );
    println!(
        "alerts per subscriber sampled (of {RUNS} Behaviour incidents): {counts:?}; so {SUBSCRIBERS} alerts and emails per incident"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    common::on_each_database("ALERTS", run).await;
}
