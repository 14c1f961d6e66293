//! The demo org (modelled on the reference school), S1–S3 staff records and R2 student groups.

use crate::harness::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_org_has_the_reference_schools_staff_years_and_pupils_and_seeds_once() {
    let app = TestApp::spawn().await;
    let login = keyholder::demo::system_seed(&app.kh)
        .await
        .expect("seed")
        .expect("made");
    assert_eq!(login.org, "demo");
    assert!(
        keyholder::demo::system_seed(&app.kh)
            .await
            .expect("seed again")
            .is_none()
    );
    let admin = app
        .token_with_key("demo", &login.login, &login.password)
        .await
        .token;
    let years = app
        .get("/v1/orgs/demo/student-groups?type=academic_level", &admin)
        .await
        .expect(200);
    let names = names(&years.body);
    assert_eq!(
        names,
        [
            "Reception",
            "Year 1",
            "Year 2",
            "Year 3",
            "Year 4",
            "Year 5",
            "Year 6"
        ]
    );
    assert_eq!(years.body["items"][1]["mis_id"], "102-42");
    assert!(
        years.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["member_count"] == 2 && g["type"] == "academic_level")
    );
    let all = app
        .get("/v1/orgs/demo/student-groups", &admin)
        .await
        .expect(200);
    assert_eq!(all.body["total"], 14);
    let settings = app.get("/v1/orgs/demo/settings", &admin).await.expect(200);
    assert_eq!(
        settings.body["restricted_group_types"],
        json!(["academic_level"])
    );
    let users = app
        .get("/v1/orgs/demo/users?q=alice", &admin)
        .await
        .expect(200);
    assert_eq!(users.body["items"][0]["job_title"], "Year 1 Teacher");
    assert_eq!(
        users.body["items"][0]["staff_ids"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let staff = app
        .get("/v1/orgs/demo/staff?per_page=50", &admin)
        .await
        .expect(200);
    assert_eq!(staff.body["total"], 18);
    let alice = staff.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["surname"] == "Robinson")
        .unwrap();
    assert_eq!(alice["user_ids"][0], users.body["items"][0]["id"]);
    assert_eq!(alice["eligible_for_account"], false);
    let one = app
        .get(
            &format!("/v1/orgs/demo/staff/{}", alice["id"].as_str().unwrap()),
            &admin,
        )
        .await
        .expect(200);
    assert_eq!(one.body["contract"], "permanent");
    assert_eq!(one.body["start_date"], "2019-09-02");
    assert_eq!(one.headers["etag"], "\"1\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_eligible_staff_are_started_not_ended_permanent_full_time_and_without_an_account() {
    let (app, admin) = TestApp::demo().await;
    let eligible = app
        .get("/v1/orgs/demo/staff?eligible_for_account=true", &admin)
        .await
        .expect(200);
    let names: Vec<String> = eligible.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["forename"].as_str().unwrap(),
                s["surname"].as_str().unwrap()
            )
        })
        .collect();
    // Not: Tom Evans (supply), Hannah Lee (part time), Grace Okoro (starts in 2030),
    // Jonathan Taylor (left in 2025), nor anyone who already has an account.
    assert_eq!(names, ["Priya Shah"]);
    assert_eq!(eligible.body["total"], 1);
    assert!(
        eligible.body["items"][0]["eligible_for_account"]
            .as_bool()
            .unwrap()
    );
    // S3: where one login may work for several staff, linked records are eligible again.
    app.patch(
        "/v1/orgs/demo/settings",
        &admin,
        json!({"several_staff_per_user": true}),
    )
    .await
    .expect(200);
    let several = app
        .get(
            "/v1/orgs/demo/staff?eligible_for_account=true&per_page=50",
            &admin,
        )
        .await
        .expect(200);
    assert_eq!(several.body["total"], 12, "{:#}", several.body);
    let q = app
        .get("/v1/orgs/demo/staff?q=okoro", &admin)
        .await
        .expect(200);
    assert_eq!(q.body["total"], 1);
    assert_eq!(q.body["items"][0]["eligible_for_account"], false);
    let changed = app
        .get("/v1/orgs/demo/audit?type=org.settings_changed", &admin)
        .await
        .expect(200);
    assert_eq!(
        changed.body["items"][0]["changes"]["several_staff_per_user"],
        json!([false, true])
    );
}
