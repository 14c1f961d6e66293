//! N2: the daily digest. Once a day, at the org's `digest_time` in its `timezone`, each user with
//! a `digest` preference gets one email listing, per category, the incidents recorded since
//! their previous digest that they may read at sending time (R4, R5, R8 re-checked then), with
//! their time and link. Nothing to say, no email. One digest per user per local day, however
//! many replicas or commands try: the day is claimed in the digest's own transaction.

use super::alerts::{category_path, rfc3339, top_category};
use super::*;
use crate::visibility::StudentScope;

/// The most incidents one digest lists; past it, the email says how many more there are.
const MAX_ITEMS: u64 = 500;

/// A digest covers up to this long before it is sent, so that an incident stamped just before
/// and committed just after (its transaction still writing its alerts) falls in the next one
/// instead of between the two.
const SETTLE: time::Duration = time::Duration::minutes(2);

/// What a run of the digests did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigestRun {
    /// Orgs whose digest time had come.
    pub orgs_due: usize,
    /// Users whose digest of the day this run recorded.
    pub users: usize,
    /// Users whose digest failed (logged; tried again on the next run).
    pub failed: usize,
    /// Emails written to the outbox (users with something to read).
    pub emails: usize,
}

impl Keyholder {
    /// Sends the digests that are due at `at`, for one org or all (the worker, and
    /// `keyholder digests send`).
    pub async fn system_send_digests(
        &self,
        org: Option<&str>,
        at: time::OffsetDateTime,
    ) -> Result<DigestRun> {
        let orgs = {
            let mut tx = self.read_tx().await?;
            match org {
                Some(slug) => vec![tx.org_by_slug(slug).await?.ok_or(DomainError::NotFound)?],
                None => tx.all_orgs().await?,
            }
        };
        let mut run = DigestRun::default();
        for org in orgs {
            let (day, due) = crate::digest::local_day(&org.settings, at);
            if !due {
                continue;
            }
            run.orgs_due += 1;
            let (subscribers, categories) = {
                let mut tx = self.read_tx().await?;
                (
                    tx.digest_subscribers(org.id, &day).await?,
                    tx.categories(org.id).await?,
                )
            };
            for s in subscribers {
                // One user's failure is theirs alone: logged, and tried again next run.
                match self.digest_one(&org, &categories, &s, &day, at).await {
                    Ok(Some(emailed)) => {
                        run.users += 1;
                        run.emails += usize::from(emailed);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(org = %org.slug, user = %s.user_id, error = %e, "a digest failed");
                        run.failed += 1;
                    }
                }
            }
        }
        Ok(run)
    }

    /// One user's digest of `day`: None when it was already recorded; else whether an email
    /// was written.
    async fn digest_one(
        &self,
        org: &Org,
        categories: &[Category],
        s: &DigestSubscriber,
        day: &str,
        at: time::OffsetDateTime,
    ) -> Result<Option<bool>> {
        let mut tx = self.tx().await?;
        // The claim first: the transaction writes before it reads, so on SQLite it waits for
        // another writer (a second process) instead of failing on a stale snapshot.
        let until = at - SETTLE;
        if !tx.claim_digest(org.id, s.user_id, day, until).await? {
            return Ok(None);
        }
        let since = tx
            .last_digest(org.id, s.user_id, day)
            .await?
            .unwrap_or(until - time::Duration::days(1));
        // The account and its choices as they are now, inside the claim: a user deactivated,
        // moved or given another address since the list was read gets what is true now.
        let Some(user) = tx
            .user(org.id, s.user_id)
            .await?
            .filter(|u| u.status == UserStatus::Active)
        else {
            tx.commit().await?;
            return Ok(Some(false));
        };
        let Some(email) = user.email.clone() else {
            tx.commit().await?;
            return Ok(Some(false));
        };
        let chosen: Vec<CategoryId> = tx
            .notification_prefs(org.id, user.id)
            .await?
            .into_iter()
            .filter(|(_, m)| *m == NotificationMode::Digest)
            .map(|(c, _)| c)
            .collect();
        // Every category under the chosen top-level ones (each incident's own flag decides).
        let under: Vec<CategoryId> = categories
            .iter()
            .filter(|c| top_category(categories, c.id).is_some_and(|t| chosen.contains(&t.id)))
            .map(|c| c.id)
            .collect();
        let group = tx.group(org.id, user.user_group_id).await?;
        let items = match group {
            Some(g) if g.active => {
                tx.digest_items(
                    org.id,
                    &crate::ports::DigestQuery {
                        scope: StudentScope::new(user.id, &org.settings),
                        group: g.id,
                        categories: under,
                        since,
                        until,
                        limit: MAX_ITEMS + 1,
                    },
                )
                .await?
            }
            _ => Vec::new(),
        };
        if items.is_empty() {
            tx.commit().await?;
            return Ok(Some(false));
        }
        let more = items.len() as u64 > MAX_ITEMS;
        let shown = &items[..items.len().min(MAX_ITEMS as usize)];
        let mut by_category: Vec<(String, Vec<&DigestItem>)> = Vec::new();
        for item in shown {
            let name = category_path(categories, item.category_id);
            match by_category.iter_mut().find(|(n, _)| *n == name) {
                Some((_, list)) => list.push(item),
                None => by_category.push((name, vec![item])),
            }
        }
        by_category.sort_by(|a, b| a.0.cmp(&b.0));
        let mut body = format!(
            "Your daily digest for {}, {day}: {} new record{} you may read.\n",
            org.name,
            shown.len(),
            if shown.len() == 1 { "" } else { "s" }
        );
        for (name, list) in &by_category {
            body.push_str(&format!("\n{name}\n"));
            for item in list {
                body.push_str(&format!(
                    "  {}  {}\n",
                    rfc3339(item.created_at),
                    self.incident_link(org, item.incident_id)
                ));
            }
        }
        if more {
            body.push_str(&format!(
                "\nAnd more: only the first {MAX_ITEMS} are listed; open Keyholder for the rest.\n"
            ));
        }
        body.push_str(
            "\nYou get this email because you asked for a daily digest. You can change that in your \
             notification preferences.\n",
        );
        let subject = format!("Daily digest: {} new records", shown.len());
        self.enqueue(tx.as_mut(), org.id, "digest", &email, &subject, body)
            .await?;
        tx.commit().await?;
        Ok(Some(true))
    }
}
