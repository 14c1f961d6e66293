//! N2 alerts and N1 preferences: a recorded incident alerts exactly the users who asked for its
//! top-level category and may read it (R4, R5, R8), never its author, by an email that carries
//! no child data and an alert in the app; written in the incident's transaction (the outbox).

use crate::harness::*;
use crate::smtp::SmtpServer;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

async fn with_mail(smtp: &SmtpServer) -> TestApp {
    let url = smtp.url();
    TestApp::spawn_with(move |s| {
        s.smtp_url = Some(url);
        s.domain.outbox_retry_base_ms = 100;
        s.domain.public_url = "https://safeguarding.hill.school".into();
    })
    .await
}

struct Hill {
    app: TestApp,
    admin: String,
    org: Org,
    /// MIS id → student id.
    pupils: HashMap<String, String>,
    /// MIS id → student group id.
    groups: HashMap<String, String>,
    /// Category name → id.
    categories: HashMap<String, String>,
}

/// P1 (Year 1), P2 (Year 2); year groups restrict; the admin is on both allow-lists.
async fn hill(app: TestApp) -> Hill {
    let org = app.org("hill").await;
    let admin = app.admin(&org).await;
    let key = app
        .post(
            "/v1/orgs/hill/service-accounts",
            Some(&admin),
            json!({"name": "MIS", "scopes": ["mis.sync"]}),
        )
        .await
        .expect(201)
        .body["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    app.two_pupils("hill", &key).await;
    app.call(
        Method::PUT,
        "/v1/orgs/hill/mis/student-groups",
        Some(&key),
        Some(json!({"items": [
            {"mis_id": "Y1", "type": "academic_level", "name": "Year 1", "member_mis_ids": ["P1"]},
            {"mis_id": "Y2", "type": "academic_level", "name": "Year 2", "member_mis_ids": ["P2"]}
        ]})),
    )
    .await
    .expect(200);
    let pupils = app
        .ids_by_mis_id("/v1/orgs/hill/students?per_page=100", &admin)
        .await;
    let groups = app
        .ids_by_mis_id("/v1/orgs/hill/student-groups", &admin)
        .await;
    app.patch(
        "/v1/orgs/hill/settings",
        &admin,
        json!({"restricted_group_types": ["academic_level"]}),
    )
    .await
    .expect(200);
    let cats = app
        .get("/v1/orgs/hill/categories", &admin)
        .await
        .expect(200);
    let mut categories = HashMap::new();
    fn walk(v: &Value, out: &mut HashMap<String, String>) {
        for c in v.as_array().into_iter().flatten() {
            out.insert(
                c["name"].as_str().unwrap_or_default().to_owned(),
                c["id"].as_str().unwrap_or_default().to_owned(),
            );
            walk(&c["children"], out);
        }
    }
    walk(
        cats.body.get("items").unwrap_or(&cats.body),
        &mut categories,
    );
    let h = Hill {
        app,
        admin,
        org,
        pupils,
        groups,
        categories,
    };
    let me = h.app.get("/v1/me", &h.admin).await.expect(200).body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for g in ["Y1", "Y2"] {
        h.allow(g, &me).await;
    }
    h
}

impl Hill {
    async fn allow(&self, group: &str, user: &str) {
        self.app
            .post(
                &format!("/v1/orgs/hill/student-groups/{}/access", self.groups[group]),
                Some(&self.admin),
                json!({"user_ids": [user]}),
            )
            .await
            .expect(200);
    }

    /// A user of `group` on Year 1's allow-list (unless `listed` is false).
    async fn staff(&self, email: &str, group: &str, listed: bool) -> String {
        let id = self.app.user(&self.org, &self.admin, email, group).await;
        if listed {
            self.allow("Y1", &id).await;
        }
        id
    }

    async fn prefs(&self, user: &str, category: &str, mode: &str) -> Res {
        self.app
            .call(
                Method::PUT,
                &format!("/v1/orgs/hill/users/{user}/notification-preferences"),
                Some(&self.admin),
                Some(json!({"items": [{"category_id": self.categories[category], "mode": mode}]})),
            )
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n2_an_incident_alerts_exactly_the_subscribers_who_may_read_it_and_no_child_data() {
    let smtp = SmtpServer::running().await;
    let h = hill(with_mail(&smtp).await).await;
    let author = h.staff("author@hill.school", "Teachers", true).await;
    let subscriber = h.staff("sub@hill.school", "Teachers", true).await;
    let digest = h.staff("digest@hill.school", "Teachers", true).await;
    let none = h.staff("none@hill.school", "Teachers", true).await;
    let restricted = h.staff("restricted@hill.school", "Teachers", false).await;
    let blocked = h.staff("blocked@hill.school", "Teachers", true).await;
    let moved = h.staff("moved@hill.school", "Teachers", true).await;
    let gone = h.staff("gone@hill.school", "Teachers", true).await;
    let no_flag = h.staff("ta@hill.school", "Teaching Assistants", true).await;
    for (u, mode) in [
        (&author, "immediate"),
        (&subscriber, "immediate"),
        (&digest, "digest"),
        (&none, "none"),
        (&restricted, "immediate"),
        (&blocked, "immediate"),
        (&moved, "immediate"),
        (&gone, "immediate"),
    ] {
        h.prefs(u, "Behaviour", mode).await.expect(200);
    }
    // R8: no alert on a category the account cannot read, whoever asks.
    let refused = h
        .prefs(&no_flag, "Behaviour", "immediate")
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        refused.field_codes(),
        [(
            "items[0].category_id".to_owned(),
            "category_not_readable".to_owned()
        )]
    );
    let ta = h.app.token("hill", "ta@hill.school", ADMIN_PASSWORD).await;
    let own = h
        .app
        .patch(
            "/v1/me",
            &ta,
            json!({"notification_preferences": [{"category_id": h.categories["Behaviour"], "mode": "immediate"}]}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        own.field_codes(),
        [(
            "notification_preferences[0].category_id".to_owned(),
            "category_not_readable".to_owned()
        )]
    );
    h.prefs(&no_flag, "Behaviour", "none").await.expect(200);
    // R5: a block; a group change that leaves the category unreadable; a deactivation.
    h.app
        .post(
            &format!("/v1/orgs/hill/users/{blocked}/blocked-students"),
            Some(&h.admin),
            json!({"student_id": h.pupils["P1"], "reason": "a relative"}),
        )
        .await
        .expect(201);
    let ta_group = h
        .app
        .group_id(&h.org, &h.admin, "Teaching Assistants")
        .await;
    h.app
        .patch(
            &format!("/v1/orgs/hill/users/{moved}"),
            &h.admin,
            json!({"user_group_id": ta_group}),
        )
        .await
        .expect(200);
    h.app
        .post(
            &format!("/v1/orgs/hill/users/{gone}/deactivate"),
            Some(&h.admin),
            json!({}),
        )
        .await
        .expect(200);
    // A sub-category alerts its top-level category's subscribers.
    let writer = h
        .app
        .token_with_key("hill", "author@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    let incident = h
        .app
        .post(
            "/v1/orgs/hill/incidents",
            Some(&writer),
            json!({"student_id": h.pupils["P1"], "category_id": h.categories["Against Peers"],
                   "description": "Pushed another pupil over at break", "occurred_at": "2026-11-23T10:15:00Z"}),
        )
        .await
        .expect(201);
    let incident_id = incident.body["id"].as_str().expect("id").to_owned();
    let mails = smtp.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mails_now = smtp.mails();
    assert_eq!(
        mails_now
            .iter()
            .flat_map(|m| m.to.clone())
            .collect::<Vec<_>>(),
        ["sub@hill.school"],
        "only the subscriber who may read it"
    );
    let text = mails[0].text();
    for secret in ["Amelia", "Hughes", "Pushed", "break"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(
        text.contains("Behaviour") && text.contains("Against Peers"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "https://safeguarding.hill.school/orgs/hill/incidents/{incident_id}"
        )),
        "{text}"
    );
    assert!(text.contains("Test User"), "the author's name: {text}");
    // In the app: the subscriber's alert, unread, then read; nobody else has one.
    let t = h.app.token("hill", "sub@hill.school", ADMIN_PASSWORD).await;
    let alerts = h.app.get("/v1/me/alerts", &t).await.expect(200);
    assert_eq!(alerts.body["items"].as_array().map(Vec::len), Some(1));
    let alert = &alerts.body["items"][0];
    assert_eq!(alert["incident_id"], incident_id.as_str());
    assert_eq!(alert["category_name"], "Behaviour › Against Peers");
    assert_eq!(alert["read"], false);
    assert!(alert.get("student_id").is_none() && alert.get("description").is_none());
    let id = alert["id"].as_str().expect("id").to_owned();
    let other = h
        .app
        .token("hill", "digest@hill.school", ADMIN_PASSWORD)
        .await;
    assert_eq!(
        h.app.get("/v1/me/alerts", &other).await.expect(200).body["items"],
        json!([])
    );
    h.app
        .post(&format!("/v1/me/alerts/{id}/read"), Some(&other), json!({}))
        .await
        .problem(404, "not_found");
    h.app
        .post(&format!("/v1/me/alerts/{id}/read"), Some(&t), json!({}))
        .await
        .expect(204);
    let alerts = h.app.get("/v1/me/alerts", &t).await.expect(200);
    assert_eq!(alerts.body["items"][0]["read"], true);
    // Preferences an admin set are audited.
    assert!(
        !h.app
            .audit(&h.org, &h.admin, "user.notification_preferences_changed")
            .await
            .is_empty()
    );
    let read = h
        .app
        .get(
            &format!("/v1/orgs/hill/users/{subscriber}/notification-preferences"),
            &h.admin,
        )
        .await
        .expect(200);
    assert_eq!(
        read.body["items"],
        json!([{"category_id": h.categories["Behaviour"], "mode": "immediate"}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n2_alerts_page_unread_first_and_an_outage_loses_no_email_with_two_replicas() {
    let mut smtp = SmtpServer::stopped();
    let h = hill(with_mail(&smtp).await).await;
    let url = smtp.url();
    // A second replica's outbox worker races this one's for the same messages.
    let _other = h
        .app
        .replica_with(move |s| {
            s.smtp_url = Some(url);
            s.domain.outbox_retry_base_ms = 100;
        })
        .await;
    h.staff("author@hill.school", "Teachers", true).await;
    let sub = h.staff("sub@hill.school", "Teachers", true).await;
    h.prefs(&sub, "Behaviour", "immediate").await.expect(200);
    let writer = h
        .app
        .token_with_key("hill", "author@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    for i in 0..5 {
        h.app
            .post(
                "/v1/orgs/hill/incidents",
                Some(&writer),
                json!({"student_id": h.pupils["P1"], "category_id": h.categories["Behaviour"],
                       "description": format!("incident {i}"), "occurred_at": "2026-11-23T10:15:00Z"}),
            )
            .await
            .expect(201);
    }
    let t = h.app.token("hill", "sub@hill.school", ADMIN_PASSWORD).await;
    let first = h.app.get("/v1/me/alerts?limit=5", &t).await.expect(200);
    let ids: Vec<String> = first.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 5);
    assert!(
        first.body["next_cursor"].is_null(),
        "an exact fit has no next page"
    );
    // Two read (the newest and the middle one): unread first, each part newest first.
    for i in [0, 2] {
        h.app
            .post(
                &format!("/v1/me/alerts/{}/read", ids[i]),
                Some(&t),
                json!({}),
            )
            .await
            .expect(204);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/me/alerts?limit=2&cursor={c}"),
            None => "/v1/me/alerts?limit=2".into(),
        };
        let page = h.app.get(&path, &t).await.expect(200);
        for a in page.body["items"].as_array().expect("items") {
            seen.push((
                a["id"].as_str().expect("id").to_owned(),
                a["read"].as_bool(),
            ));
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let want: Vec<(String, Option<bool>)> =
        [(1, false), (3, false), (4, false), (0, true), (2, true)]
            .iter()
            .map(|(i, r)| (ids[*i].clone(), Some(*r)))
            .collect();
    assert_eq!(
        seen, want,
        "unread newest first, then read newest first, each once"
    );
    h.app
        .get("/v1/me/alerts?cursor=nonsense", &t)
        .await
        .problem(422, "validation_failed");
    h.app
        .get("/v1/me/alerts?limit=0", &t)
        .await
        .problem(422, "validation_failed");
    // The mail server was down throughout: every alert's email waited in the outbox and
    // arrives once, whichever replica sends it.
    smtp.start().await;
    smtp.wait_for(5).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        smtp.to("sub@hill.school").len(),
        5,
        "each alert exactly once"
    );
    assert_eq!(smtp.mails().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n2_one_digest_a_day_lists_what_each_reader_may_read_at_sending_time() {
    let smtp = SmtpServer::running().await;
    let h = hill(with_mail(&smtp).await).await;
    // The org's digest time and zone: bad values are refused, naming the field.
    let bad = h
        .app
        .patch(
            "/v1/orgs/hill/settings",
            &h.admin,
            json!({"timezone": "Mars/Olympus", "digest_time": "25:00"}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        bad.field_codes(),
        [
            ("timezone".to_owned(), "unknown_timezone".to_owned()),
            ("digest_time".to_owned(), "invalid_time".to_owned())
        ]
    );
    let s = h
        .app
        .patch(
            "/v1/orgs/hill/settings",
            &h.admin,
            json!({"timezone": "Europe/London", "digest_time": "00:00"}),
        )
        .await
        .expect(200);
    assert_eq!(s.body["digest_time"], "00:00");
    h.staff("author@hill.school", "Teachers", true).await;
    let reader = h.staff("reader@hill.school", "Teachers", true).await;
    let later = h.staff("later@hill.school", "Teachers", true).await;
    let unlisted = h.staff("unlisted@hill.school", "Teachers", false).await;
    for u in [&reader, &later, &unlisted] {
        h.prefs(u, "Behaviour", "digest").await.expect(200);
    }
    let writer = h
        .app
        .token_with_key("hill", "author@hill.school", ADMIN_PASSWORD)
        .await
        .token;
    let mut behaviour = Vec::new();
    let mut attendance = String::new();
    for (cat, words) in [
        ("Against Peers", "Pushed another pupil over at break"),
        ("Behaviour", "Swore at a lunchtime supervisor"),
        ("Attendance", "Late four days running"),
    ] {
        let r = h
            .app
            .post(
                "/v1/orgs/hill/incidents",
                Some(&writer),
                json!({"student_id": h.pupils["P1"], "category_id": h.categories[cat],
                       "description": words, "occurred_at": "2026-11-23T10:15:00Z"}),
            )
            .await
            .expect(201);
        let id = r.body["id"].as_str().expect("id").to_owned();
        if cat == "Attendance" {
            attendance = id;
        } else {
            behaviour.push(id);
        }
    }
    // A block added after the incidents hides them from that reader's digest (re-checked at
    // sending time).
    h.app
        .post(
            &format!("/v1/orgs/hill/users/{later}/blocked-students"),
            Some(&h.admin),
            json!({"student_id": h.pupils["P1"], "reason": "a relative"}),
        )
        .await
        .expect(201);
    // Two runs at once (two replicas, or the worker and an operator): one digest per user.
    // Three minutes on: a digest covers what was recorded up to two minutes before it.
    let at = (time::OffsetDateTime::now_utc() + time::Duration::minutes(3))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    let runs: Vec<(bool, Value)> = std::thread::scope(|scope| {
        let a = scope.spawn(|| {
            h.app
                .command(&["digests", "send", "--org", "hill", "--at", &at])
        });
        let b = scope.spawn(|| h.app.command(&["digests", "send", "--at", &at]));
        vec![a.join().expect("run"), b.join().expect("run")]
    });
    assert!(runs.iter().all(|(ok, _)| *ok), "{runs:?}");
    let users: u64 = runs
        .iter()
        .map(|(_, v)| v["users"].as_u64().unwrap_or(0))
        .sum();
    let emails: u64 = runs
        .iter()
        .map(|(_, v)| v["emails"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        (users, emails),
        (3, 1),
        "three digests recorded, one with something in it: {runs:?}"
    );
    let mails = smtp.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        smtp.mails()
            .iter()
            .flat_map(|m| m.to.clone())
            .collect::<Vec<_>>(),
        ["reader@hill.school"],
        "nothing to say, no email; a block hides what it blocks"
    );
    let text = mails[0].text();
    for id in &behaviour {
        assert!(text.contains(id.as_str()), "{id} in {text}");
    }
    assert!(
        !text.contains(attendance.as_str()),
        "only the categories asked for: {text}"
    );
    for secret in ["Amelia", "Hughes", "Pushed", "Swore", "Late four"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("Against Peers"), "{text}");
    // Again the same day: nothing more.
    let (ok, again) = h.app.command(&["digests", "send", "--at", &at]);
    assert!(ok);
    assert_eq!(again["users"], 0, "{again}");
    let (ok, _) = h.app.command(&["digests", "send", "--org", "nowhere"]);
    assert!(!ok, "an unknown org is an error");
    let (ok, _) = h.app.command(&["digests", "send", "--at", "yesterday"]);
    assert!(!ok, "a bad time is an error");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.mails().len(), 1);
}
