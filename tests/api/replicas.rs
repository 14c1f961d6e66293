//! U5 across replicas (issue 11): each replica holds session facts and verification keys, drops
//! them when a change is announced (PostgreSQL `LISTEN`/`NOTIFY`) and never holds them past
//! `KEYHOLDER_AUTH_CACHE_MAX_AGE`. A change is enforced by the replica that made it on the very
//! next request, and by the others within the bound.

use crate::harness::*;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

async fn within_bound(app: &TestApp, base: &str, path: &str, token: &str, status: u16) -> Duration {
    crate::harness::within_bound(&app.http, base, path, token, status).await
}

/// A fresh session of the teacher, held by the other replica.
async fn held_by(app: &TestApp, other: &str) -> String {
    let t = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    within_bound(app, other, "/v1/me", &t, 200).await;
    t
}

/// How long until the other replica refuses `token` (within the bound).
async fn refused_by(app: &TestApp, other: &str, token: &str) -> Duration {
    within_bound(app, other, "/v1/me", token, 401).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u5_a_change_on_one_replica_is_enforced_by_the_other_within_the_bound() {
    let (app, org, admin) = TestApp::hill().await;
    let other = app.replica().await;
    let teacher = app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let keyed = app
        .token_with_key("hill", "t@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    let mut windows = Vec::new();
    // Held by the other replica first.
    for _ in 0..3 {
        within_bound(&app, &other.base, "/v1/orgs/hill/students", &keyed, 200).await;
    }
    // A group edit on this replica: the other stops granting at once it hears of it.
    let gid = app.group_id(&org, &admin, "Teachers").await;
    app.patch(
        &format!("/v1/orgs/hill/user-groups/{gid}"),
        &admin,
        json!({"system_permissions": ["incidents.add", "profile.edit_own"]}),
    )
    .await
    .expect(200);
    app.get("/v1/orgs/hill/students", &keyed)
        .await
        .problem(403, "permission_denied");
    windows.push((
        "group edit",
        within_bound(&app, &other.base, "/v1/orgs/hill/students", &keyed, 403).await,
    ));
    // Logout here; the other refuses the token.
    let t = held_by(&app, &other.base).await;
    app.call(Method::POST, "/v1/auth/logout", Some(&t), Some(json!({})))
        .await
        .expect(204);
    windows.push(("logout", refused_by(&app, &other.base, &t).await));
    // An admin ends the account's sessions here.
    let t = held_by(&app, &other.base).await;
    app.post(
        &format!("/v1/orgs/hill/users/{teacher}/end-sessions"),
        Some(&admin),
        json!({}),
    )
    .await
    .expect(200);
    windows.push(("end-sessions", refused_by(&app, &other.base, &t).await));
    // A deactivation here.
    let t = held_by(&app, &other.base).await;
    app.deactivate("hill", &admin, teacher).await;
    app.get("/v1/me", &t).await.problem(401, "unauthenticated");
    windows.push(("deactivation", refused_by(&app, &other.base, &t).await));
    // Two key rotations (another process): the first key's tokens stop on both replicas.
    within_bound(&app, &other.base, "/v1/me", &admin, 200).await;
    for _ in 0..2 {
        let (ok, out) = app.command(&["keys", "rotate"]);
        assert!(ok, "{out}");
    }
    windows.push(("key retired", refused_by(&app, &other.base, &admin).await));
    within_bound(&app, &app.base, "/v1/me", &admin, 401).await;
    eprintln!(
        "U5 window on {} (change on one replica until the other refuses): {windows:?}",
        if app.database_url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
}

/// `GET /v1/me` of the other replica until `field` reads `want`: how long that took (within the
/// bound).
async fn me_shows(
    app: &TestApp,
    base: &str,
    token: &str,
    field: &str,
    want: &serde_json::Value,
) -> Duration {
    let start = Instant::now();
    loop {
        let body: serde_json::Value = app
            .http
            .get(format!("{base}/v1/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        if &body[field] == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_millis(2500),
            "{field} still {} after {:?}, past the bound",
            body[field],
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `GET /v1/me` is answered from what the replica holds beside the session (no round trip in the
/// steady state), and so drops with it: an admin's edit of the account and the user's own
/// preferences show at once on the replica that made them, and on the other within the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u5_me_held_beside_the_session_shows_every_change_to_the_account() {
    let (app, org, admin) = TestApp::hill().await;
    let other = app.replica().await;
    let teacher = app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let t = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    for base in [&app.base, &other.base] {
        for _ in 0..3 {
            within_bound(&app, base, "/v1/me", &t, 200).await;
        }
    }
    app.patch(
        &format!("/v1/orgs/hill/users/{teacher}"),
        &admin,
        json!({"forename": "Renamed"}),
    )
    .await
    .expect(200);
    let here = app.get("/v1/me", &t).await.expect(200);
    assert_eq!(here.body["forename"], "Renamed", "at once where it changed");
    me_shows(&app, &other.base, &t, "forename", &json!("Renamed")).await;
    let behaviour = app.category_id("hill", &admin, "Behaviour").await;
    let prefs = json!([{"category_id": behaviour, "mode": "digest"}]);
    within_bound(&app, &other.base, "/v1/me", &t, 200).await;
    app.call(
        Method::PATCH,
        "/v1/me",
        Some(&t),
        Some(json!({"notification_preferences": prefs})),
    )
    .await
    .expect(200);
    let here = app.get("/v1/me", &t).await.expect(200);
    assert_eq!(here.body["notification_preferences"], prefs);
    me_shows(&app, &other.base, &t, "notification_preferences", &prefs).await;
    // A group rename shows as the account's group name.
    let gid = app.group_id(&org, &admin, "Teachers").await;
    app.patch(
        &format!("/v1/orgs/hill/user-groups/{gid}"),
        &admin,
        json!({"name": "Class Teachers"}),
    )
    .await
    .expect(200);
    let here = app.get("/v1/me", &t).await.expect(200);
    assert_eq!(here.body["user_group_name"], "Class Teachers");
    me_shows(
        &app,
        &other.base,
        &t,
        "user_group_name",
        &json!("Class Teachers"),
    )
    .await;
}

/// PostgreSQL: a replica whose listener's connection is killed holds nothing until it is back,
/// so a change it could not hear about is enforced at once (here, one made around the service,
/// which announces nothing, with a bound of a minute that would otherwise hold it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u5_a_replica_whose_listener_drops_decides_uncached_until_it_is_back() {
    let app = TestApp::spawn_with(|s| {
        s.domain.auth_cache_max_age = Duration::from_secs(60);
    })
    .await;
    if !app.database_url.starts_with("postgres") {
        return;
    }
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let teacher = app.user(&org, &admin, "t@hill.school", "Teachers").await;
    let t = app.token("hill", "t@hill.school", ADMIN_PASSWORD).await;
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    // A replica starts deaf and holds nothing until its listener is up (and drops what it holds
    // when the listener comes up): wait for it, or the first answer below is not held.
    listener_is_up(&db).await;
    app.get("/v1/me", &t).await.expect(200);
    db.execute_unprepared(&format!(
        "UPDATE users SET status = 'deactivated' WHERE id = '{teacher}'"
    ))
    .await
    .unwrap();
    // Held: the change around the service was not announced.
    app.get("/v1/me", &t).await.expect(200);
    let killed = db
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .await
        .unwrap();
    assert_eq!(killed.rows_affected(), 1, "one listener");
    let window = within_bound(&app, &app.base, "/v1/me", &t, 401).await;
    eprintln!("U5: refused {window:?} after the listener's connection was killed");
    // The listener comes back and holds again.
    db.execute_unprepared(&format!(
        "UPDATE users SET status = 'active' WHERE id = '{teacher}'"
    ))
    .await
    .unwrap();
    listener_is_up(&db).await;
    app.get("/v1/me", &t).await.expect(200);
}

/// Waits (up to 10 s) until the replica's listener connection has run its `LISTEN`, then a
/// moment more for the listener to mark the replica live.
async fn listener_is_up(db: &sea_orm::DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let start = Instant::now();
    loop {
        let listening = db
            .execute_unprepared(
                "SELECT pid FROM pg_stat_activity \
                 WHERE datname = current_database() AND query LIKE 'LISTEN%'",
            )
            .await
            .unwrap();
        if listening.rows_affected() == 1 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the listener is up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// PostgreSQL: a per-address quota is one quota whichever replica answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_address_quota_is_one_quota_across_replicas() {
    let tune = |s: &mut keyholder::Settings| s.rate_limits.reset_per_minute = 4;
    let app = TestApp::spawn_with(tune).await;
    if !app.database_url.starts_with("postgres") {
        return;
    }
    let other = app.replica_with(tune).await;
    let ask = |base: String| {
        let http = app.http.clone();
        async move {
            http.post(format!("{base}/v1/auth/password-reset"))
                .json(&json!({"org": "hill", "email": "someone@hill.school"}))
                .send()
                .await
                .unwrap()
        }
    };
    for base in [&app.base, &other.base, &app.base, &other.base] {
        assert_eq!(ask(base.clone()).await.status(), 202);
    }
    for base in [&app.base, &other.base] {
        let r = ask(base.clone()).await;
        assert_eq!(r.status(), 429, "the fifth request, on either replica");
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (1..=15).contains(&wait),
            "retry after {wait} s (one request a 15 s)"
        );
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "rate_limited");
    }
}

/// Issue 11: a read-only transaction never queues behind a writer (SQLite: reader connections
/// beside the one writer, in WAL; PostgreSQL: readers whose transactions are REPEATABLE READ and
/// READ ONLY from the start), sees one moment, and cannot write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_does_not_wait_for_an_open_write_and_cannot_write() {
    use keyholder_domain::ports::Store;
    let (app, org) = TestApp::with_hill().await;
    let store = keyholder_store::SeaStore::connect(
        &app.database_url,
        2,
        keyholder_domain::auth_cache::AuthCache::new(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    // The writer is busy: a write transaction that has written and not committed.
    let mut writing = store.begin().await.unwrap();
    writing
        .lock_org(keyholder_domain::ids::OrgId(uuid::Uuid::nil()))
        .await
        .unwrap();
    let read = tokio::time::timeout(Duration::from_secs(2), async {
        let mut tx = store.begin_read().await.unwrap();
        tx.org_by_slug("hill").await.unwrap()
    })
    .await
    .expect("a read does not wait for the writer");
    assert_eq!(read.map(|o| o.slug), Some(org.slug.clone()));
    drop(writing);
    let mut ro = store.begin_read().await.unwrap();
    let mut settings = ro.org_by_slug("hill").await.unwrap().unwrap();
    let before = settings.settings.several_staff_per_user;
    // A change committed while the read is open is not seen by it: every statement of a read
    // sees one moment (REPEATABLE READ on PostgreSQL, a WAL snapshot on SQLite).
    let mut writing = store.begin().await.unwrap();
    let mut changed = settings.settings.clone();
    changed.several_staff_per_user = !before;
    writing
        .update_org_settings(settings.id, &changed)
        .await
        .unwrap();
    writing.commit().await.unwrap();
    let again = ro.org_by_slug("hill").await.unwrap().unwrap();
    assert_eq!(
        again.settings.several_staff_per_user, before,
        "a read sees one moment"
    );
    let fresh = store
        .begin_read()
        .await
        .unwrap()
        .org_by_slug("hill")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        fresh.settings.several_staff_per_user, !before,
        "the next read sees the change"
    );
    settings.settings.several_staff_per_user = true;
    assert!(
        ro.update_org_settings(settings.id, &settings.settings)
            .await
            .is_err(),
        "a read-only transaction cannot write"
    );
}

/// Issue 11: a list's counts (its `total`) are held between requests; on PostgreSQL a change to
/// the org's pupils made on one replica is announced, and the other drops what it holds as soon
/// as it hears (here well inside the one-second auth bound, although list counts may be held
/// for 30 s when nothing is heard).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lists_total_on_the_other_replica_follows_a_change_to_the_pupils() {
    let app = TestApp::spawn().await;
    if !app.database_url.starts_with("postgres") {
        return;
    }
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let other = app.replica().await;
    let key = app.service_key("hill", &admin, "mis.sync").await;
    let push = |n: usize| {
        let (app, key) = (&app, key.clone());
        async move {
            let items: Vec<_> = (0..n)
                .map(|i| json!({"mis_id": format!("P{i}"), "forename": "Pupil", "surname": format!("N{i}"), "on_roll": true}))
                .collect();
            app.call(
                Method::PUT,
                "/v1/orgs/hill/mis/students",
                Some(&key),
                Some(json!({"items": items})),
            )
            .await
            .expect(200);
        }
    };
    let total_on = |base: String| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let body: serde_json::Value = app
                .http
                .get(format!("{base}/v1/orgs/hill/students?per_page=2"))
                .bearer_auth(&admin)
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json");
            body["total"].as_u64().expect("a total")
        }
    };
    push(3).await;
    for _ in 0..3 {
        assert_eq!(total_on(other.base.clone()).await, 3, "held by the other");
    }
    push(4).await;
    assert_eq!(
        total_on(app.base.clone()).await,
        4,
        "at once where it changed"
    );
    let start = Instant::now();
    while total_on(other.base.clone()).await != 4 {
        assert!(
            start.elapsed() < Duration::from_millis(900),
            "the other replica still counts 3 after {:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "list total window on the other replica: {:?}",
        start.elapsed()
    );
}
