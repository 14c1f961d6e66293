//! Alerts (N2) and daily digests.

use super::*;

#[async_trait]
impl AlertsTx for SeaTx {
    async fn alert_recipients(
        &mut self,
        org: OrgId,
        audience: &AlertAudience,
    ) -> Result<Vec<AlertRecipient>> {
        crate::alerts::recipients(&self.txn, org, audience).await
    }

    async fn insert_alerts(&mut self, alerts: &[Alert]) -> Result<()> {
        crate::alerts::insert(&self.txn, alerts).await
    }

    async fn alerts(
        &mut self,
        org: OrgId,
        user: UserId,
        after: Option<AlertCursor>,
        limit: u64,
    ) -> Result<Vec<Alert>> {
        crate::alerts::list(&self.txn, org, user, after, limit).await
    }

    async fn digest_subscribers(&mut self, org: OrgId, day: &str) -> Result<Vec<DigestSubscriber>> {
        crate::alerts::digest_subscribers(&self.txn, org, day).await
    }

    async fn last_digest(
        &mut self,
        org: OrgId,
        user: UserId,
        day: &str,
    ) -> Result<Option<time::OffsetDateTime>> {
        crate::alerts::last_digest(&self.txn, org, user, day).await
    }

    async fn claim_digest(
        &mut self,
        org: OrgId,
        user: UserId,
        day: &str,
        at: time::OffsetDateTime,
    ) -> Result<bool> {
        crate::alerts::claim_digest(&self.txn, org, user, day, at).await
    }

    async fn digest_items(&mut self, org: OrgId, q: &DigestQuery) -> Result<Vec<DigestItem>> {
        crate::alerts::digest_items(&self.txn, org, q).await
    }

    async fn mark_alert_read(
        &mut self,
        org: OrgId,
        user: UserId,
        id: AlertId,
        at: time::OffsetDateTime,
    ) -> Result<bool> {
        crate::alerts::mark_read(&self.txn, org, user, id, at).await
    }
}
