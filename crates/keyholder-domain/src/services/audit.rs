//! AU1, AU2 (first part): reading the audit trail, newest first, in cursor pages.

use super::*;
use crate::policy::Action;
use crate::ports::AuditQuery;

#[derive(Debug, Clone, Default)]
pub struct AuditListParams {
    pub kind: Option<String>,
    pub actor_id: Option<UserId>,
    pub target_user_id: Option<UserId>,
    pub cursor: Option<String>,
    pub limit: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

fn encode_cursor(e: &AuditEntry) -> String {
    format!("{}_{}", e.at.unix_timestamp_nanos(), e.id)
}

fn decode_cursor(c: &str) -> Result<(OffsetDateTime, AuditId)> {
    let bad = || DomainError::field("cursor", "invalid_cursor", "not a cursor this server gave");
    let (nanos, id) = c.split_once('_').ok_or_else(bad)?;
    let nanos: i128 = nanos.parse().map_err(|_| bad())?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| bad())?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((at, AuditId(id)))
}

impl Keyholder {
    /// AU4: one account's own history, newest first.
    pub async fn user_history(
        &self,
        subject: &Subject,
        org: &str,
        id: UserId,
        cursor: Option<String>,
        limit: Option<u64>,
    ) -> Result<AuditPage> {
        self.check_org(subject, org, Action::ReadUser)?;
        {
            let mut tx = self.tx().await?;
            tx.user(subject.org_id, id)
                .await?
                .ok_or(DomainError::NotFound)?;
        }
        self.audit_page(
            subject,
            AuditListParams {
                target_user_id: Some(id),
                cursor,
                limit,
                ..AuditListParams::default()
            },
        )
        .await
    }

    pub async fn list_audit(
        &self,
        subject: &Subject,
        org: &str,
        params: AuditListParams,
    ) -> Result<AuditPage> {
        self.check_org(subject, org, Action::ReadAudit)?;
        self.audit_page(subject, params).await
    }

    async fn audit_page(&self, subject: &Subject, params: AuditListParams) -> Result<AuditPage> {
        let limit = params.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(DomainError::field("limit", "range", "between 1 and 200"));
        }
        let before = params.cursor.as_deref().map(decode_cursor).transpose()?;
        let query = AuditQuery {
            kind: params.kind.filter(|k| !k.is_empty()),
            actor_id: params.actor_id,
            target_id: params.target_user_id.map(|u| u.0),
            before,
            limit: limit + 1,
        };
        let mut tx = self.tx().await?;
        let mut items = tx.audit(subject.org_id, &query).await?;
        let more = items.len() as u64 > limit;
        items.truncate(limit as usize);
        let next_cursor = if more {
            items.last().map(encode_cursor)
        } else {
            None
        };
        Ok(AuditPage { items, next_cursor })
    }
}
