//! The OpenAPI contract: the committed document is what the server serves, and every path in
//! it is refused without credentials, with another org's token, and to a user lacking the
//! permission.

use crate::harness::*;
use reqwest::Method;
use serde_json::{Value, json};

/// Paths anyone may call.
const PUBLIC: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    // A9: the public keys that verify access tokens.
    ("get", "/.well-known/jwks.json"),
    // Loopback peers only (tests call from loopback), or a bearer of KEYHOLDER_METRICS_TOKEN.
    ("get", "/metrics"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),
    ("post", "/v1/auth/password-reset"),
    ("post", "/v1/auth/set-password"),
    // A8: the steps of single sign-on (a browser's, before anyone is signed in).
    ("get", "/v1/auth/sso/{org}/{provider_id}/start"),
    ("get", "/v1/auth/sso/callback"),
    ("post", "/v1/auth/sso/exchange"),
];

/// The caller's own account, behind a permission (U12: `profile.edit_own`).
const OWN_WITH_PERMISSION: &[(&str, &str)] = &[("patch", "/v1/me")];

/// Paths any signed-in user of the org may call (their own account, the catalogue).
const ANY_MEMBER: &[(&str, &str)] = &[
    ("post", "/v1/auth/logout"),
    ("get", "/v1/me"),
    ("post", "/v1/me/password"),
    ("post", "/v1/me/totp/setup"),
    ("post", "/v1/me/totp/confirm"),
    ("delete", "/v1/me/totp"),
    ("get", "/v1/me/sessions"),
    ("delete", "/v1/me/sessions/{id}"),
    // A8: one's own links to identity providers.
    ("post", "/v1/me/sso-links"),
    ("get", "/v1/me/sso-links"),
    ("delete", "/v1/me/sso-links/{provider_id}"),
    // N2: one's own alerts.
    ("get", "/v1/me/alerts"),
    ("post", "/v1/me/alerts/{id}/read"),
    ("get", "/v1/permissions"),
    ("get", "/v1/orgs/{org}"),
    ("get", "/v1/orgs/{org}/categories"),
    ("get", "/v1/orgs/{org}/categories/{id}"),
    // Incidents are read by category flag, not by a system permission (R8): a member whose
    // group views no category reads an empty list.
    ("get", "/v1/orgs/{org}/incidents"),
    ("get", "/v1/orgs/{org}/incidents/{id}"),
];

/// Paths for a service key of the caller's org, not under `/v1/orgs/{org}` (A9).
const SERVICE: &[(&str, &str)] = &[("post", "/v1/oauth/introspect")];

/// Paths under `/v1/orgs/{org}` for a service key of that org only (A7): a person is refused
/// by rule A7 whatever they hold.
const SERVICE_UNDER_ORG: &[(&str, &str)] = &[
    ("post", "/v1/orgs/{org}/access/check-batch"),
    ("post", "/v1/orgs/{org}/catalogue/permissions"),
    ("get", "/v1/orgs/{org}/catalogue/permissions"),
    ("delete", "/v1/orgs/{org}/catalogue/permissions/{key}"),
];

/// Paths that take the operator key, not a user's token (T2).
const OPERATOR: &[(&str, &str)] = &[("post", "/v1/orgs")];

pub(crate) fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                ops.push((method.to_owned(), path.clone()));
            }
        }
    }
    ops
}

fn concrete(path: &str, org: &str) -> String {
    let mut out = String::new();
    for seg in path.split('/') {
        if seg.is_empty() {
            continue;
        }
        out.push('/');
        if seg == "{org}" {
            out.push_str(org);
        } else if seg.starts_with('{') {
            out.push_str(&uuid::Uuid::new_v4().to_string());
        } else {
            out.push_str(seg);
        }
    }
    out
}

fn listed(list: &[(&str, &str)], m: &str, p: &str) -> bool {
    list.iter().any(|(lm, lp)| *lm == m && *lp == p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_openapi_document_is_the_committed_one_and_is_openapi_3_1() {
    let app = TestApp::spawn().await;
    let served = app
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .expect(200)
        .body;
    let committed: Value = serde_json::from_str(include_str!("../../openapi/openapi.json"))
        .expect("committed document parses");
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(
        served == committed,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`"
    );
    // Client generators name functions by operationId: each one unique and camelCase, and
    // every response and operation described (OpenAPI; Spectral's `oas` rules in CI).
    let mut ids = std::collections::HashSet::new();
    for (path, item) in served["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                keyholder_api::contract::OPERATION_IDS
                    .iter()
                    .any(|(m, p, i)| m == method && p == path && *i == id),
                "{method} {path}: name its operationId in contract::OPERATION_IDS"
            );
            assert!(
                !id.is_empty()
                    && id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{method} {path}: operationId `{id}` is not camelCase: name it in contract::OPERATION_IDS"
            );
            assert!(
                ids.insert(id.to_owned()),
                "{method} {path}: `{id}` used twice"
            );
            assert!(
                op["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{method} {path}: no description"
            );
            for (status, r) in op["responses"].as_object().expect("responses") {
                assert!(
                    r["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status}: no description"
                );
            }
        }
    }
    let docs = app
        .http
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.unwrap();
    assert!(
        html.contains("swagger"),
        "the explorer page is served from the binary"
    );
    assert!(!html.contains("cdn"), "no CDN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_is_refused_without_credentials_with_another_orgs_token_and_without_the_permission()
 {
    let app = TestApp::spawn().await;
    let hill = app.org("hill").await;
    let dale = app.org("dale").await;
    let hill_admin = app.admin(&hill).await;
    let dale_admin = app.admin(&dale).await;
    // A member of hill whose group grants nothing, with a second factor proved.
    app.post(
        "/v1/orgs/hill/user-groups",
        Some(&hill_admin),
        json!({"name": "Nothing"}),
    )
    .await
    .expect(201);
    app.user(&hill, &hill_admin, "nobody@hill.school", "Nothing")
        .await;
    let powerless = app
        .token_with_key("hill", "nobody@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    let doc = app
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .expect(200)
        .body;
    let ops = operations(&doc);
    assert!(ops.len() >= 25, "only {} operations documented", ops.len());
    for (m, p) in &ops {
        let known = listed(PUBLIC, m, p)
            || listed(ANY_MEMBER, m, p)
            || listed(OPERATOR, m, p)
            || listed(SERVICE, m, p)
            || listed(OWN_WITH_PERMISSION, m, p)
            || p.starts_with("/v1/orgs/{org}")
            || p.starts_with("/scim/v2/{org}");
        assert!(
            known,
            "{m} {p}: add it to a list in this test or put it under /v1/orgs/{{org}}"
        );
        if listed(PUBLIC, m, p) {
            continue;
        }
        let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
        let url = concrete(p, "hill");
        let anon = app.call(method.clone(), &url, None, None).await;
        assert_eq!(
            anon.status, 401,
            "{m} {p} without credentials: {:#}",
            anon.body
        );
        assert_eq!(anon.body["code"], "unauthenticated", "{m} {p}");
        let forged = app
            .call(
                method.clone(),
                &url,
                Some("eyJhbGciOiJIUzI1NiJ9.e30.forged"),
                None,
            )
            .await;
        assert_eq!(forged.status, 401, "{m} {p} with a forged token");
        if p.contains("{org}") {
            let other = app
                .call(method.clone(), &url, Some(&dale_admin), None)
                .await;
            assert_eq!(
                other.status, 404,
                "{m} {p} with another org's token: {:#}",
                other.body
            );
            assert_eq!(other.body["code"], "not_found");
        }
        if !listed(ANY_MEMBER, m, p) && !listed(OPERATOR, m, p) {
            let denied = app.call(method.clone(), &url, Some(&powerless), None).await;
            assert_eq!(
                denied.status, 403,
                "{m} {p} without the permission: {:#}",
                denied.body
            );
            assert_eq!(denied.body["code"], "permission_denied", "{m} {p}");
            // Integration doors open to service keys only (A7); the rest to a group's grant (G1).
            let rule = if p.contains("/mis/")
                || p.starts_with("/scim/")
                || listed(SERVICE, m, p)
                || listed(SERVICE_UNDER_ORG, m, p)
            {
                "A7"
            } else {
                "G1"
            };
            assert_eq!(denied.body["rule"], rule, "{m} {p}");
        }
    }
}

/// Issue 13 (2): every list answers one envelope, `{items, page, per_page, total}`, pages by
/// `page`/`per_page`, and refuses a page size outside 1–200 naming the parameter; the six lists
/// that used to answer a bare array included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_answers_one_envelope_and_pages() {
    let (app, org, admin) = TestApp::hill().await;
    let teacher = app.user(&org, &admin, "t@hill.school", "Teachers").await;
    app.service_key("hill", &admin, "mis.sync").await;
    let key = app.service_key("hill", &admin, "mis.sync").await;
    app.two_pupils("hill", &key).await;
    let pupils = app
        .get("/v1/orgs/hill/students", &admin)
        .await
        .expect(200)
        .body["items"]
        .clone();
    for p in pupils.as_array().unwrap() {
        app.post(
            &format!("/v1/orgs/hill/users/{teacher}/blocked-students"),
            Some(&admin),
            json!({"student_id": p["id"], "reason": "a relative"}),
        )
        .await
        .expect(201);
    }
    // A second session of the admin's.
    app.token("hill", &org.admin_email, ADMIN_PASSWORD).await;
    let lists = [
        "/v1/me/sessions".to_owned(),
        "/v1/orgs/hill/categories".to_owned(),
        "/v1/orgs/hill/reports/leavers".to_owned(),
        "/v1/orgs/hill/service-accounts".to_owned(),
        "/v1/orgs/hill/students/picker".to_owned(),
        format!("/v1/orgs/hill/users/{teacher}/blocked-students"),
        "/v1/orgs/hill/users".to_owned(),
        "/v1/orgs/hill/students".to_owned(),
    ];
    for path in &lists {
        let whole = app.get(path, &admin).await.expect(200);
        let keys: Vec<&str> = whole
            .body
            .as_object()
            .unwrap_or_else(|| panic!("{path}: an object, not {}", whole.body))
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["items", "page", "per_page", "total"], "{path}");
        let total = whole.body["total"].as_u64().unwrap();
        assert_eq!(
            whole.body["items"].as_array().unwrap().len() as u64,
            total.min(whole.body["per_page"].as_u64().unwrap()),
            "{path}"
        );
        let sep = if path.contains('?') { '&' } else { '?' };
        let one = app
            .get(&format!("{path}{sep}per_page=1&page=2"), &admin)
            .await
            .expect(200);
        assert_eq!(one.body["total"], total, "{path}");
        assert_eq!(one.body["page"], 2, "{path}");
        assert_eq!(
            one.body["items"].as_array().unwrap().len() as u64,
            u64::from(total >= 2),
            "{path}"
        );
        if total >= 2 {
            assert_eq!(
                one.body["items"][0], whole.body["items"][1],
                "{path}: page 2 of 1"
            );
        }
        let bad = app
            .get(&format!("{path}{sep}per_page=0"), &admin)
            .await
            .problem(422, "validation_failed");
        assert_eq!(
            bad.field_codes(),
            [("per_page".to_owned(), "range".to_owned())],
            "{path}"
        );
        // Given empty or of the wrong form: named, never taken for "no filter" (issue 13, 6).
        let bad = app
            .get(&format!("{path}{sep}page=&per_page=ten"), &admin)
            .await
            .problem(422, "validation_failed");
        assert_eq!(
            bad.field_codes(),
            [
                ("page".to_owned(), "empty".to_owned()),
                ("per_page".to_owned(), "invalid".to_owned())
            ],
            "{path}"
        );
    }
    // More than one of each (the leavers report aside), so that paging was tried on them.
    for path in lists.iter().filter(|p| !p.contains("leavers")) {
        assert!(
            app.get(path, &admin).await.expect(200).body["total"]
                .as_u64()
                .unwrap()
                >= 2
        );
    }
}
