//! Issue 11: `/metrics` in the Prometheus text format, for loopback peers or a bearer of
//! `KEYHOLDER_METRICS_TOKEN`.

use crate::harness::*;

async fn scrape(app: &TestApp, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = app.http.get(format!("{}/metrics", app.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// The value of a series line that starts with `prefix` (labels included).
fn value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_and_show_the_pool_cache_outbox_and_hashing() {
    let (app, _, admin) = TestApp::hill().await;
    for _ in 0..3 {
        app.get("/v1/me", &admin).await.expect(200);
    }
    app.get(
        &format!("/v1/orgs/hill/users/{}", uuid::Uuid::new_v4()),
        &admin,
    )
    .await
    .expect(404);
    let (status, text) = scrape(&app, &[]).await;
    assert_eq!(status, 200);
    let me = r#"keyholder_http_requests_total{method="GET",route="/v1/me",status="200"}"#;
    assert!(value(&text, me).unwrap_or(0.0) >= 3.0, "{text}");
    // Labelled by the route's pattern, never the raw path.
    assert!(text.contains(r#"route="/v1/orgs/{org}/users/{id}",status="404""#));
    assert!(!text.contains("/v1/orgs/hill/"));
    assert!(text.contains(
        r#"keyholder_http_request_duration_seconds_bucket{method="GET",route="/v1/me",le="0.005"}"#
    ));
    for series in [
        "keyholder_db_pool_connections ",
        "keyholder_db_pool_idle_connections ",
        "keyholder_auth_cache_hits_total ",
        "keyholder_auth_cache_misses_total ",
        "keyholder_auth_cache_sessions ",
        "keyholder_auth_cache_listening ",
        "keyholder_outbox_pending ",
        "keyholder_outbox_oldest_pending_seconds ",
        "keyholder_password_hashes_running ",
        "keyholder_password_hashes_waiting ",
    ] {
        assert!(text.contains(series), "{series} missing: {text}");
    }
    // SQLite has no listener to wait for: the copies are held from the first request on.
    if !app.database_url.starts_with("postgres") {
        assert!(text.contains("keyholder_auth_cache_listening 1"));
        assert!(value(&text, "keyholder_auth_cache_hits_total").unwrap_or(0.0) >= 2.0);
    }
    // Through a proxy the peer is not the caller: refused, as a missing page.
    let (status, _) = scrape(&app, &[("x-forwarded-for", "203.0.113.9")]).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_with_a_token_answer_only_its_bearer() {
    let app = TestApp::spawn_with(|s| s.metrics_token = Some("scrape-me-0123456789".into())).await;
    assert_eq!(scrape(&app, &[]).await.0, 404);
    assert_eq!(
        scrape(&app, &[("authorization", "Bearer not-the-token")])
            .await
            .0,
        404
    );
    let (status, text) = scrape(&app, &[("authorization", "Bearer scrape-me-0123456789")]).await;
    assert_eq!(status, 200);
    assert!(text.contains("keyholder_db_pool_connections"));
}
