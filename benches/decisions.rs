//! The decision point at platform scale (issue 16). One trust of 100 000 pupils (3 000
//! registration groups of 33, restricting) and 5 000 staff accounts (provisioned through SCIM,
//! each on the allow-lists of three classes), plus the admin on every class's list. Measures:
//!
//! - `POST /access/check-batch` with 1 000 checks (100 staff × 10 pupils, by a `decisions`
//!   key): p50/p99 of 100 requests one at a time (the server's time, on loopback), and with 32
//!   concurrent clients;
//! - `GET /students/{id}/viewers?per_page=25` for a pupil whose class's allow-list names 200
//!   staff: p50/p99 one at a time, by the admin and by the key, and requests/s, p50, p99 with
//!   32 clients (`wrk -t1 -c32` when installed).
//!
//! `cargo bench --bench decisions` (SQLite), plus PostgreSQL when
//! `KEYHOLDER_BENCH_POSTGRES_URL` names an admin database (`DECISIONS_ONLY=postgres` skips
//! SQLite); `DECISIONS_SECS` (default 3) per concurrent measurement.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

mod common;
use common::{call, load, pct, service_key};

const PUPILS: usize = 100_000;
const CLASSES: usize = 3_000;
const STAFF: usize = 5_000;
const CONNECTIONS: usize = 32;
const RUNS: usize = 100;

async fn serial(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
) -> (f64, f64) {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t0 = Instant::now();
        call(
            http,
            method.clone(),
            url.to_owned(),
            Some(token),
            body.cloned(),
        )
        .await;
        times.push(t0.elapsed());
    }
    times.sort();
    (pct(&times, 0.5), pct(&times, 0.99))
}

/// 32 clients posting the same body for `secs`: requests/s, p50, p99.
async fn posts(url: String, token: String, body: Value, secs: f64) -> (f64, f64, f64) {
    let http = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (http, url, token, body) = (http.clone(), url.clone(), token.clone(), body.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    let r = http
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .expect("post");
                    assert!(r.status().is_success(), "{}", r.status());
                    let _ = r.bytes().await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let rps = all.len() as f64 / start.elapsed().as_secs_f64();
    all.sort();
    (rps, pct(&all, 0.5), pct(&all, 0.99))
}

async fn run(label: &str, database_url: String, secs: f64) {
    let mut settings = common::settings(database_url);
    // Five thousand accounts are provisioned through SCIM from one address.
    settings.rate_limits.scim_per_minute = 1_000_000;
    let (_store, kh, base) = common::start(&settings).await;
    let http = reqwest::Client::new();
    let slug = "trust";
    let t0 = Instant::now();
    let admin = common::org_and_admin(&kh, &http, &base, slug).await;
    let org_url = |p: &str| format!("{base}/v1/orgs/{slug}{p}");
    let mis = service_key(&http, &base, slug, &admin, "mis.sync").await;
    for chunk in (0..PUPILS).collect::<Vec<_>>().chunks(10_000) {
        let items: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"mis_id": format!("P{i:06}"), "forename": format!("Pupil{}", i % 997), "surname": format!("Surname{:05}", (i * 7919) % 100_000), "on_roll": true}))
            .collect();
        call(
            &http,
            reqwest::Method::PUT,
            org_url("/mis/students"),
            Some(&mis),
            Some(json!({"items": items})),
        )
        .await;
    }
    let groups: Vec<Value> = (0..CLASSES)
        .map(|c| {
            let members: Vec<String> = (0..PUPILS).filter(|i| i % CLASSES == c).map(|i| format!("P{i:06}")).collect();
            json!({"mis_id": format!("REG{c:04}"), "type": "registration_group", "name": format!("Class {c:04}"), "member_mis_ids": members})
        })
        .collect();
    call(
        &http,
        reqwest::Method::PUT,
        org_url("/mis/student-groups"),
        Some(&mis),
        Some(json!({"items": groups})),
    )
    .await;
    call(
        &http,
        reqwest::Method::PATCH,
        org_url("/settings"),
        Some(&admin),
        Some(json!({"restricted_group_types": ["registration_group"]})),
    )
    .await;
    // Staff accounts through SCIM, into the Teachers group.
    let teachers = common::teachers(&http, &base, slug, &admin).await;
    call(
        &http,
        reqwest::Method::PATCH,
        org_url("/settings"),
        Some(&admin),
        Some(json!({"scim_user_group_id": teachers})),
    )
    .await;
    let scim = service_key(&http, &base, slug, &admin, "scim").await;
    let mut staff: Vec<String> = Vec::with_capacity(STAFF);
    for chunk in (0..STAFF).collect::<Vec<_>>().chunks(CONNECTIONS) {
        let made: Vec<_> = chunk
            .iter()
            .map(|i| {
                let (http, scim) = (http.clone(), scim.clone());
                let url = format!("{base}/scim/v2/{slug}/Users");
                let upn = format!("staff{i:05}@{slug}.test");
                tokio::spawn(async move {
                    let r = http
                        .post(url)
                        .bearer_auth(scim)
                        .header("content-type", "application/scim+json")
                        .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": upn, "active": true,
                                      "name": {"givenName": "Staff", "familyName": format!("Member{upn}")}, "emails": [{"primary": true, "value": upn}]}))
                        .send()
                        .await
                        .expect("scim");
                    assert!(r.status().is_success(), "{}", r.status());
                    r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned()
                })
            })
            .collect();
        for t in made {
            staff.push(t.await.expect("task"));
        }
    }
    // Allow-lists: each member of staff on three classes; 200 staff on class 0; the admin on
    // every class.
    let classes: Vec<String> = {
        let mut ids = Vec::new();
        for page in 1..=(CLASSES / 200 + 1) {
            let v = call(
                &http,
                reqwest::Method::GET,
                org_url(&format!("/student-groups?per_page=200&page={page}")),
                Some(&admin),
                None,
            )
            .await;
            ids.extend(common::ids(&v));
        }
        ids.sort();
        ids
    };
    assert_eq!(classes.len(), CLASSES);
    let admin_id = call(
        &http,
        reqwest::Method::GET,
        format!("{base}/v1/me"),
        Some(&admin),
        None,
    )
    .await["id"]
        .as_str()
        .expect("me")
        .to_owned();
    for (c, g) in classes.iter().enumerate() {
        let mut users: Vec<&String> = staff
            .iter()
            .enumerate()
            .filter(|(i, _)| (0..3).any(|k| (i * 3 + k) % CLASSES == c))
            .map(|(_, s)| s)
            .collect();
        if c == 0 {
            users.extend(staff.iter().skip(1000).take(200));
        }
        users.push(&admin_id);
        call(
            &http,
            reqwest::Method::POST,
            org_url(&format!("/student-groups/{g}/access")),
            Some(&admin),
            Some(json!({"user_ids": users})),
        )
        .await;
    }
    let pupils_of_class0: Vec<String> = call(
        &http,
        reqwest::Method::GET,
        org_url(&format!("/students?group_id={}&per_page=10", classes[0])),
        Some(&admin),
        None,
    )
    .await["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(pupils_of_class0.len(), 10);
    let seeded = t0.elapsed().as_secs_f64();
    let decisions = service_key(&http, &base, slug, &admin, "decisions").await;

    // A batch of 1 000: 100 staff × 10 pupils.
    let checks: Vec<Value> = staff
        .iter()
        .skip(990)
        .take(100)
        .flat_map(|u| {
            pupils_of_class0.iter().map(move |p| json!({"id": format!("{u}/{p}"), "user_id": u, "action": "students.view", "resource": {"type": "student", "id": p}}))
        })
        .collect();
    assert_eq!(checks.len(), 1000);
    let body = json!({ "checks": checks });
    let batch_url = org_url("/access/check-batch");
    let answer = call(
        &http,
        reqwest::Method::POST,
        batch_url.clone(),
        Some(&decisions),
        Some(body.clone()),
    )
    .await;
    let allowed = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["allowed"] == true)
        .count();
    let (b50, b99) = serial(
        &http,
        reqwest::Method::POST,
        &batch_url,
        &decisions,
        Some(&body),
    )
    .await;
    let (brps, bc50, bc99) = posts(batch_url, decisions.clone(), body, secs).await;

    // Viewers of a pupil in class 0.
    let viewers_url = org_url(&format!(
        "/students/{}/viewers?per_page=25",
        pupils_of_class0[0]
    ));
    let total = call(
        &http,
        reqwest::Method::GET,
        viewers_url.clone(),
        Some(&admin),
        None,
    )
    .await["total"]
        .as_u64()
        .unwrap_or(0);
    let (va50, va99) = serial(&http, reqwest::Method::GET, &viewers_url, &admin, None).await;
    let (vk50, vk99) = serial(&http, reqwest::Method::GET, &viewers_url, &decisions, None).await;
    let c = match common::wrk(&viewers_url, Some(&decisions), CONNECTIONS, secs) {
        Some(c) => c,
        None => {
            load(
                viewers_url.clone(),
                Some(decisions.clone()),
                CONNECTIONS,
                secs,
            )
            .await
        }
    };
    println!(
        "\nDecision point, {label}: {PUPILS} pupils in {CLASSES} restricting classes, {STAFF} staff (seeded in {seeded:.0} s)"
    );
    println!(
        "| request | answer | one at a time p50 ms | p99 ms | {CONNECTIONS} clients req/s | p50 ms | p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| check-batch, 1 000 checks (key) | {allowed} allowed | {b50:.2} | {b99:.2} | {brps:.0} | {bc50:.2} | {bc99:.2} |"
    );
    println!("| viewers per_page=25 (admin) | {total} viewers | {va50:.2} | {va99:.2} | | | |");
    println!(
        "| viewers per_page=25 (key) | {total} viewers | {vk50:.2} | {vk99:.2} | {:.0} | {:.2} | {:.2} |{}",
        c.rps,
        c.p50,
        c.p99,
        if c.errors > 0 {
            format!(" errors: {}", c.errors)
        } else {
            String::new()
        }
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs = common::secs("DECISIONS_SECS", 3.0);
    common::on_each_database("DECISIONS", |label, url| run(label, url, secs)).await;
}
