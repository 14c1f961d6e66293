//! N2: a recorded incident alerts the users who asked for its top-level category and may read
//! it, in the incident's own transaction (an alert in the app and an email in the outbox); N1:
//! the preferences, as each user and an admin set them.

use super::*;
use crate::error::FieldError;
use crate::ports::{AlertAudience, AlertCursor};
use serde_json::json;

/// A page of the caller's alerts.
#[derive(Debug, Clone)]
pub struct AlertPage {
    pub items: Vec<(Alert, String)>,
    pub next_cursor: Option<String>,
}

/// The top-level category a category is under (itself when it is top-level).
pub(crate) fn top_category(categories: &[Category], id: CategoryId) -> Option<&Category> {
    let mut c = categories.iter().find(|c| c.id == id)?;
    // Bounded by the tree's size: a cycle cannot loop.
    for _ in 0..=categories.len() {
        match c.parent_id {
            None => return Some(c),
            Some(parent) => c = categories.iter().find(|k| k.id == parent)?,
        }
    }
    None
}

/// A category as an email names it: `Behaviour › Bullying`.
pub(crate) fn category_path(categories: &[Category], id: CategoryId) -> String {
    let mut names = Vec::new();
    let mut next = categories.iter().find(|c| c.id == id);
    while let Some(c) = next {
        if names.len() > categories.len() {
            break;
        }
        names.push(c.name.clone());
        next = c
            .parent_id
            .and_then(|p| categories.iter().find(|k| k.id == p));
    }
    names.reverse();
    names.join(" › ")
}

pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

fn encode_cursor(a: &Alert) -> String {
    format!(
        "{}_{}_{}",
        if a.read_at.is_none() { "u" } else { "r" },
        a.created_at.unix_timestamp_nanos() / 1000,
        a.id
    )
}

fn decode_cursor(c: &str) -> Result<AlertCursor> {
    let bad = || DomainError::field("cursor", "invalid_cursor", "not a cursor this server gave");
    let mut parts = c.splitn(3, '_');
    let (Some(state), Some(micros), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let unread = match state {
        "u" => true,
        "r" => false,
        _ => return Err(bad()),
    };
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let created_at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map_err(|_| bad())?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(AlertCursor {
        unread,
        created_at,
        id: AlertId(id),
    })
}

/// N1, R8: a preference other than `none` only on a top-level category under which the account's
/// group lets it read something (view-incidents on the category or one of its sub-categories:
/// each incident's own category then decides, G1); every bad one named by its index.
pub(crate) fn preference_errors(
    categories: &[Category],
    group: &UserGroup,
    prefs: &[(CategoryId, NotificationMode)],
    field: &str,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, (c, mode)) in prefs.iter().enumerate() {
        let name = format!("{field}[{i}].category_id");
        if !categories
            .iter()
            .any(|k| k.id == *c && k.parent_id.is_none())
        {
            errors.push(FieldError::new(
                &name,
                "unknown_category",
                "not a top-level category of the organisation",
            ));
        } else if *mode != NotificationMode::None
            && !(group.active
                && categories.iter().any(|k| {
                    top_category(categories, k.id).is_some_and(|t| t.id == *c)
                        && group.flags_for(k.id).view_incidents
                }))
        {
            errors.push(FieldError::new(
                &name,
                "category_not_readable",
                "R8: the account's group does not grant view incidents on this category, so it cannot be alerted about it",
            ));
        }
    }
    errors
}

/// N1: replaces a user's preferences (sorted, one per category); answers them and, when they changed, the audit's `[before, after]`.
pub(crate) async fn replace_preferences(
    tx: &mut dyn Tx,
    org: OrgId,
    user: UserId,
    prefs: &[(CategoryId, NotificationMode)],
) -> Result<(
    Vec<(CategoryId, NotificationMode)>,
    Option<serde_json::Value>,
)> {
    let mut sorted = prefs.to_vec();
    sorted.sort_by_key(|(c, _)| *c);
    sorted.dedup_by_key(|(c, _)| *c);
    let before = tx.notification_prefs(org, user).await?;
    if before == sorted {
        return Ok((sorted, None));
    }
    tx.replace_notification_prefs(org, user, &sorted).await?;
    let as_json = |p: &[(CategoryId, NotificationMode)]| {
        p.iter()
            .map(|(c, m)| json!({"category_id": c, "mode": m}))
            .collect::<Vec<_>>()
    };
    Ok((
        sorted.clone(),
        Some(json!([as_json(&before), as_json(&sorted)])),
    ))
}

impl Keyholder {
    /// N2: the alerts and emails an incident sends at once, in its transaction. Answers how
    /// many users were alerted.
    pub(crate) async fn alert_immediately(
        &self,
        tx: &mut dyn Tx,
        org: &Org,
        incident: &Incident,
        categories: &[Category],
    ) -> Result<usize> {
        let top = top_category(categories, incident.category_id)
            .ok_or_else(|| DomainError::internal("an incident's category is not in the tree"))?;
        let recipients = tx
            .alert_recipients(
                org.id,
                &AlertAudience {
                    category: incident.category_id,
                    top_category: top.id,
                    student: incident.student_id,
                    author: incident.reported_by,
                    mode: NotificationMode::Immediate,
                    restricting_types: org.settings.restricted_group_types.clone(),
                },
            )
            .await?;
        if recipients.is_empty() {
            return Ok(0);
        }
        let author = tx
            .user(org.id, incident.reported_by)
            .await?
            .map(|u| format!("{} {}", u.forename, u.surname))
            .unwrap_or_else(|| "a member of staff".into());
        let path = category_path(categories, incident.category_id);
        let when = rfc3339(incident.created_at);
        let link = self.incident_link(org, incident.id);
        let subject = format!("New {} record", top.name);
        let body = format!(
            "A record was added under {path} at {when} by {author}.\n\n\
             Open it (you will be asked to sign in): {link}\n\n\
             You get this email because you asked for immediate alerts on {top}. You can change \
             that in your notification preferences.\n",
            top = top.name
        );
        let alerts: Vec<Alert> = recipients
            .iter()
            .map(|r| Alert {
                id: AlertId::new(),
                org_id: org.id,
                user_id: r.user_id,
                incident_id: incident.id,
                category_id: incident.category_id,
                created_at: incident.created_at,
                read_at: None,
            })
            .collect();
        tx.insert_alerts(&alerts).await?;
        let mails: Vec<OutboxMessage> = recipients
            .iter()
            .filter_map(|r| r.email.as_ref())
            .map(|to| OutboxMessage {
                id: uuid::Uuid::new_v4(),
                org_id: org.id,
                kind: "incident.alert".into(),
                to: to.clone(),
                subject: subject.clone(),
                body: body.clone(),
                attempts: 0,
            })
            .collect();
        tx.enqueue_mails(&mails).await?;
        Ok(recipients.len())
    }

    /// Where an alert's link opens the incident: `KEYHOLDER_PUBLIC_URL` and the frontend's path
    /// (`KEYHOLDER_INCIDENT_LINK_PATH`, `{org}` and `{id}` filled in).
    pub(crate) fn incident_link(&self, org: &Org, id: IncidentId) -> String {
        format!(
            "{}{}",
            self.config.public_url.trim_end_matches('/'),
            self.config
                .incident_link_path
                .replace("{org}", &org.slug)
                .replace("{id}", &id.to_string())
        )
    }

    /// N2: the caller's alerts, unread first, then newest first.
    pub async fn my_alerts(
        &self,
        subject: &Subject,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<AlertPage> {
        self.authorize_in_own_org(subject, Action::ReadOwnAccount)?;
        let limit = limit.unwrap_or(25);
        if !(1..=100).contains(&limit) {
            return Err(DomainError::field("limit", "out_of_range", "1 to 100"));
        }
        let after = cursor.map(decode_cursor).transpose()?;
        let mut tx = self.read_tx().await?;
        let mut items = tx
            .alerts(subject.org_id, subject.user_id, after, limit + 1)
            .await?;
        let categories = tx.categories(subject.org_id).await?;
        drop(tx);
        let next_cursor = next_page(&mut items, limit, encode_cursor);
        Ok(AlertPage {
            items: items
                .into_iter()
                .map(|a| {
                    let name = category_path(&categories, a.category_id);
                    (a, name)
                })
                .collect(),
            next_cursor,
        })
    }

    /// N2: marks one of the caller's alerts read; another user's alert is not found.
    pub async fn read_alert(&self, subject: &Subject, id: AlertId) -> Result<()> {
        self.authorize_in_own_org(subject, Action::ReadOwnAccount)?;
        let mut tx = self.tx().await?;
        if !tx
            .mark_alert_read(subject.org_id, subject.user_id, id, now())
            .await?
        {
            return Err(DomainError::NotFound);
        }
        tx.commit().await
    }

    /// N1: a user's preferences, for an admin (`admin.manage_users`).
    pub async fn user_preferences(
        &self,
        subject: &Subject,
        org: &str,
        user: UserId,
    ) -> Result<Vec<(CategoryId, NotificationMode)>> {
        self.check_org(subject, org, Action::ReadUser)?;
        let mut tx = self.read_tx().await?;
        if tx.user(subject.org_id, user).await?.is_none() {
            return Err(DomainError::NotFound);
        }
        tx.notification_prefs(subject.org_id, user).await
    }

    /// N1: an admin sets a user's preferences, within R8 (as the user would); audited.
    pub async fn set_user_preferences(
        &self,
        subject: &Subject,
        org: &str,
        user: UserId,
        prefs: Vec<(CategoryId, NotificationMode)>,
        ctx: &RequestContext,
    ) -> Result<Vec<(CategoryId, NotificationMode)>> {
        self.check_org(subject, org, Action::EditUser)?;
        if prefs.len() > 1000 {
            return Err(DomainError::field("items", "too_many", "at most 1000"));
        }
        let mut tx = self.tx().await?;
        let target = tx
            .user(subject.org_id, user)
            .await?
            .ok_or(DomainError::NotFound)?;
        let group = tx
            .group(subject.org_id, target.user_group_id)
            .await?
            .ok_or_else(|| DomainError::internal("user without a group"))?;
        let categories = tx.categories(subject.org_id).await?;
        let errors = preference_errors(&categories, &group, &prefs, "items");
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let (sorted, change) =
            replace_preferences(tx.as_mut(), subject.org_id, user, &prefs).await?;
        if let Some(change) = change {
            Audit {
                org: subject.org_id,
                kind: "user.notification_preferences_changed",
                actor: Some(subject.user_id),
                target: Some(("user", user.0)),
                changes: json!({"notification_preferences": change}),
            }
            .write(tx.as_mut(), ctx)
            .await?;
        }
        tx.commit().await?;
        Ok(sorted)
    }
}
