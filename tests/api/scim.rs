//! SCIM 2.0 for identity providers: the same rules as every other path (A7, U5, G3, G4, G5).

use crate::harness::*;
use reqwest::Method;
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn scim_key(app: &TestApp, org: &str, admin: &str) -> String {
    app.post(
        &format!("/v1/orgs/{org}/service-accounts"),
        Some(admin),
        json!({"name": "Entra ID", "scopes": ["scim"]}),
    )
    .await
    .expect(201)
    .body["api_key"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn scim(app: &TestApp, method: Method, path: &str, key: &str, body: Option<Value>) -> Res {
    app.call_with(
        method,
        &format!("/scim/v2/hill{path}"),
        Some(key),
        body,
        &[("content-type", "application/scim+json")],
    )
    .await
}

fn entra_user(upn: &str, given: &str, family: &str) -> Value {
    json!({"schemas": [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"], "userName": upn, "externalId": format!("ext-{upn}"),
           "active": true, "name": {"givenName": given, "familyName": family}, "title": "Teacher",
           "emails": [{"primary": true, "type": "work", "value": upn}],
           "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Maths", "employeeNumber": "E1"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_an_identity_provider_provisions_filters_deactivates_and_deprovisions_accounts() {
    let (app, org, admin) = TestApp::hill().await;
    let key = scim_key(&app, "hill", &admin).await;
    let created = scim(
        &app,
        Method::POST,
        "/Users",
        &key,
        Some(entra_user("ann.lee@hill.school", "Ann", "Lee")),
    )
    .await
    .expect(201);
    assert_eq!(created.headers["content-type"], "application/scim+json");
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.body["groups"][0]["display"], "Teaching Assistants",
        "SCIM accounts join the org's low-level group"
    );
    assert_eq!(
        created.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "Maths"
    );
    assert!(
        created.headers["etag"]
            .to_str()
            .unwrap()
            .starts_with("W/\"")
    );
    scim(
        &app,
        Method::POST,
        "/Users",
        &key,
        Some(entra_user("ann.lee@hill.school", "Ann", "Lee")),
    )
    .await
    .expect(409);
    // Filters (eq, co, sw, and, or) in the query.
    for (f, n) in [
        (r#"userName eq "ANN.LEE@hill.school""#, 1),
        (r#"name.familyName sw "Le""#, 1),
        (r#"emails.value co "@hill.school" and active eq true"#, 2),
        (
            r#"externalId eq "nope" or userName eq "ann.lee@hill.school""#,
            1,
        ),
        (r#"userName eq "someone.else@hill.school""#, 0),
    ] {
        let r = app
            .get(
                &format!("/scim/v2/hill/Users?filter={}", urlencode(f)),
                &key,
            )
            .await
            .expect(200);
        assert_eq!(r.body["totalResults"], n, "{f}");
    }
    let bad = app
        .get(
            &format!(
                "/scim/v2/hill/Users?filter={}",
                urlencode("password eq \"x\"")
            ),
            &key,
        )
        .await
        .expect(400);
    assert_eq!(bad.body["scimType"], "invalidFilter");
    assert_eq!(
        bad.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    // The account shows in Keyholder's own API, and can be given a password there later.
    let users = app
        .get("/v1/orgs/hill/users?q=ann.lee", &admin)
        .await
        .expect(200);
    assert_eq!(users.body["items"][0]["forename"], "Ann");
    // Entra deactivates with PATCH active "False": U5.
    scim(&app, Method::PATCH, &format!("/Users/{id}"), &key, Some(json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})))
        .await
        .expect(204);
    let u = app
        .get(&format!("/v1/orgs/hill/users/{id}"), &admin)
        .await
        .expect(200);
    assert_eq!(u.body["status"], "deactivated");
    let audit = app.audit(&org, &admin, "user.deactivated").await;
    assert_eq!(audit[0]["changes"]["via"], json!([null, "scim"]));
    scim(&app, Method::PATCH, &format!("/Users/{id}"), &key, Some(json!({"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "ann.lee2@hill.school"},
        {"op": "replace", "value": {"active": true, "name.givenName": "Annie"}}
    ]})))
    .await
    .expect(204);
    let got = scim(&app, Method::GET, &format!("/Users/{id}"), &key, None)
        .await
        .expect(200);
    assert_eq!(got.body["active"], true);
    assert_eq!(got.body["name"]["givenName"], "Annie");
    assert_eq!(got.body["emails"][0]["value"], "ann.lee2@hill.school");
    // Deprovisioning: gone from SCIM; the account and its history stay, without login details.
    scim(&app, Method::DELETE, &format!("/Users/{id}"), &key, None)
        .await
        .expect(204);
    scim(&app, Method::GET, &format!("/Users/{id}"), &key, None)
        .await
        .expect(404);
    let u = app
        .get(&format!("/v1/orgs/hill/users/{id}"), &admin)
        .await
        .expect(200);
    assert_eq!(u.body["status"], "deactivated");
    assert_eq!(u.body["email"], Value::Null);
    let history = app
        .get(&format!("/v1/orgs/hill/users/{id}/history"), &admin)
        .await
        .expect(200);
    assert!(history.body["items"].as_array().unwrap().len() >= 3);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_group_membership_moves_accounts_under_g3_g4_g5_and_keys_are_scoped() {
    let (app, org, admin) = TestApp::hill().await;
    let key = scim_key(&app, "hill", &admin).await;
    let ann = scim(
        &app,
        Method::POST,
        "/Users",
        &key,
        Some(entra_user("ann@hill.school", "Ann", "Lee")),
    )
    .await
    .expect(201)
    .body["id"]
        .clone();
    let g = scim(&app, Method::POST, "/Groups", &key, Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Year 2 team", "members": [{"value": ann}]})))
        .await
        .expect(201);
    let gid = g.body["id"].as_str().unwrap().to_owned();
    assert_eq!(g.body["members"][0]["value"], ann);
    let u = app
        .get(
            &format!("/v1/orgs/hill/users/{}", ann.as_str().unwrap()),
            &admin,
        )
        .await
        .expect(200);
    assert_eq!(u.body["user_group_name"], "Year 2 team");
    let group = app
        .get(&format!("/v1/orgs/hill/user-groups/{gid}"), &admin)
        .await
        .expect(200);
    assert_eq!(
        group.body["system_permissions"],
        json!([]),
        "a SCIM group grants nothing until an admin says so"
    );
    // G3: a group with members stays.
    scim(&app, Method::DELETE, &format!("/Groups/{gid}"), &key, None)
        .await
        .expect(409);
    // Removing the member sends the account back to the SCIM group.
    scim(&app, Method::PATCH, &format!("/Groups/{gid}"), &key, Some(json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{}\"]", ann.as_str().unwrap())}]})))
        .await
        .expect(204);
    let u = app
        .get(
            &format!("/v1/orgs/hill/users/{}", ann.as_str().unwrap()),
            &admin,
        )
        .await
        .expect(200);
    assert_eq!(u.body["user_group_name"], "Teaching Assistants");
    scim(&app, Method::DELETE, &format!("/Groups/{gid}"), &key, None)
        .await
        .expect(204);
    // G5: the only admin cannot be moved out of the admin group over SCIM either.
    let dsl = app
        .group_id(&org, &admin, "DSL / Child Protection Team")
        .await;
    let r = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{dsl}"),
        &key,
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": "members"}]})),
    )
    .await
    .expect(409);
    assert!(r.body["detail"].as_str().unwrap().contains("admin"));
    // The org chooses the group SCIM accounts join.
    let teachers = app.group_id(&org, &admin, "Teachers").await;
    app.patch(
        "/v1/orgs/hill/settings",
        &admin,
        json!({"scim_user_group_id": uuid::Uuid::new_v4()}),
    )
    .await
    .problem(422, "validation_failed");
    let s = app
        .patch(
            "/v1/orgs/hill/settings",
            &admin,
            json!({"scim_user_group_id": teachers}),
        )
        .await
        .expect(200);
    assert_eq!(s.body["scim_user_group_id"], teachers);
    let bob = scim(
        &app,
        Method::POST,
        "/Users",
        &key,
        Some(entra_user("bob@hill.school", "Bob", "Ray")),
    )
    .await
    .expect(201);
    assert_eq!(bob.body["groups"][0]["display"], "Teachers");
    // A7: a scim key reads nothing else; a mis key cannot use SCIM; a person's token neither.
    app.get("/v1/orgs/hill/users", &key)
        .await
        .problem(403, "permission_denied");
    let mis = app
        .post(
            "/v1/orgs/hill/service-accounts",
            Some(&admin),
            json!({"name": "MIS", "scopes": ["mis.sync"]}),
        )
        .await
        .expect(201);
    app.get("/scim/v2/hill/Users", mis.body["api_key"].as_str().unwrap())
        .await
        .expect(403);
    app.get("/scim/v2/hill/Users", &admin).await.expect(403);
    app.get("/scim/v2/hill/Users", "kh_not-a-key")
        .await
        .expect(401);
    // Unknown paths and writes to discovery answer in SCIM's own error shape.
    let nf = scim(&app, Method::GET, "/Widgets", &key, None)
        .await
        .expect(404);
    assert_eq!(nf.body["status"], "404");
    scim(&app, Method::POST, "/Schemas", &key, None)
        .await
        .expect(405);
}

/// Issue 10: no SCIM request brings the service down. Each answer is a 400 in SCIM's error shape
/// (or a list, for windows RFC 7644 says to clamp), and the server still answers after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_filters_windows_and_patch_paths_past_their_bounds_answer_400_not_a_crash() {
    let (app, _, admin) = TestApp::hill().await;
    let key = scim_key(&app, "hill", &admin).await;
    let id = scim(
        &app,
        Method::POST,
        "/Users",
        &key,
        Some(entra_user("ann.lee@hill.school", "Ann", "Lee")),
    )
    .await
    .expect(201)
    .id();
    let scim_400 = |r: Res, scim_type: &str| {
        assert_eq!(r.status, 400, "{:?}", r.body);
        assert_eq!(r.headers["content-type"], "application/scim+json");
        assert_eq!(r.body["status"], "400");
        assert_eq!(r.body["scimType"], scim_type, "{:?}", r.body);
    };
    // 3 000 nested `not` overflowed the parser's stack and aborted the process.
    let deep = format!("{}userName eq \"x\"", "not ".repeat(3000));
    let r = scim(
        &app,
        Method::GET,
        &format!("/Users?filter={deep}"),
        &key,
        None,
    )
    .await;
    scim_400(r, "invalidFilter");
    let nested = format!("{}userName eq \"x\"", "not (".repeat(20)) + &")".repeat(20);
    let r = scim(
        &app,
        Method::GET,
        &format!("/Users?filter={nested}"),
        &key,
        None,
    )
    .await;
    scim_400(r, "invalidFilter");
    // 2 000 `and` terms were a 500.
    let wide = vec![r#"userName eq "ann.lee@hill.school""#; 2000].join(" and ");
    let r = scim(
        &app,
        Method::POST,
        "/.search",
        &key,
        Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": wide})),
    )
    .await;
    scim_400(r, "invalidFilter");
    let r = scim(
        &app,
        Method::GET,
        &format!("/Users?filter={}", &wide[..3000]),
        &key,
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    // startIndex past 2^63 panicked a worker; below 1 it is 1, and count is clamped.
    for start in [
        "9223372036854775808",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        let r = scim(
            &app,
            Method::GET,
            &format!("/Users?startIndex={start}"),
            &key,
            None,
        )
        .await
        .expect(200);
        assert_eq!(r.body["Resources"], json!([]));
        assert_eq!(r.body["totalResults"], 2, "the admin and Ann");
    }
    let r = scim(
        &app,
        Method::GET,
        "/Users?startIndex=-5&count=5000",
        &key,
        None,
    )
    .await
    .expect(200);
    assert_eq!(r.body["startIndex"], 1);
    assert_eq!(r.body["Resources"].as_array().unwrap().len(), 2);
    // RFC 7644 3.4.2.4: `count=0` (or less) asks for the total alone.
    let r = scim(&app, Method::GET, "/Users?count=0", &key, None)
        .await
        .expect(200);
    assert_eq!(r.body["Resources"], json!([]));
    assert_eq!(r.body["totalResults"], 2, "the admin and Ann");
    let all = scim(&app, Method::GET, "/Groups", &key, None)
        .await
        .expect(200);
    let r = scim(&app, Method::GET, "/Groups?count=-3", &key, None)
        .await
        .expect(200);
    assert_eq!(r.body["Resources"], json!([]));
    assert!(all.body["totalResults"].as_u64().unwrap() > 0);
    assert_eq!(r.body["totalResults"], all.body["totalResults"]);
    scim_400(
        scim(&app, Method::GET, "/Users?startIndex=abc", &key, None).await,
        "invalidValue",
    );
    let r = scim(
        &app,
        Method::POST,
        "/.search",
        &key,
        Some(json!({"startIndex": 1e300, "count": "-1"})),
    )
    .await;
    scim_400(r, "invalidValue");
    // A multi-byte character where a schema name ends panicked a worker.
    for path in [
        format!("{}é", &USER[..USER.len() - 1]),
        format!("{USER}é"),
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:Useré".to_owned(),
        "é".repeat(600),
    ] {
        let r = scim(
            &app,
            Method::PATCH,
            &format!("/Users/{id}"),
            &key,
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": path, "value": "x"}]})),
        )
        .await;
        assert!(
            matches!(r.status.as_u16(), 200 | 204 | 400),
            "{path}: {} {:?}",
            r.status,
            r.body
        );
    }
    // A body nested past serde_json's limit is a 400 in SCIM's shape, on the raw body.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = app
        .http
        .post(format!("{}/scim/v2/hill/Users", app.base))
        .bearer_auth(&key)
        .header("content-type", "application/scim+json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The service is still up, and nothing changed.
    let r = scim(&app, Method::GET, &format!("/Users/{id}"), &key, None)
        .await
        .expect(200);
    assert_eq!(r.body["userName"], "ann.lee@hill.school");
    assert_eq!(r.body["title"], "Teacher");
}
