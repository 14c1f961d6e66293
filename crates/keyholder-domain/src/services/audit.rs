//! AU1, AU2 (first part): reading the audit trail, newest first, in cursor pages.

use super::*;
use crate::permission::Permission;
use crate::policy::Action;
use crate::ports::{AuditQuery, AuditReader};
use crate::rule::Rule;
use crate::visibility::CategoryGuard;

#[derive(Debug, Clone, Default)]
pub struct AuditListParams {
    pub kind: Option<String>,
    pub actor_id: Option<UserId>,
    pub target_user_id: Option<UserId>,
    /// Entries about this staff record (its own changes, and account events naming it).
    pub staff_id: Option<StaffId>,
    /// From this time on (inclusive).
    pub from: Option<OffsetDateTime>,
    /// Before this time (exclusive).
    pub to: Option<OffsetDateTime>,
    pub cursor: Option<String>,
    pub limit: Option<u64>,
}

/// At most this many entries in one CSV export; a longer span is asked for in parts.
pub const AUDIT_EXPORT_MAX: u64 = 100_000;

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

fn audit_query(params: &AuditListParams, limit: u64, reader: AuditReader) -> Result<AuditQuery> {
    if let (Some(f), Some(t)) = (params.from, params.to)
        && f > t
    {
        return Err(DomainError::field(
            "to",
            "before_from",
            "`to` is before `from`",
        ));
    }
    Ok(AuditQuery {
        kind: params.kind.clone().filter(|k| !k.is_empty()),
        actor_id: params.actor_id,
        target_id: params.target_user_id.map(|u| u.0),
        staff_id: params.staff_id,
        from: params.from,
        to: params.to,
        before: params.cursor.as_deref().map(decode_cursor).transpose()?,
        limit,
        reader,
    })
}

impl Keyholder {
    /// AU4: what this reader may see of entries about pupils and categories.
    async fn audit_reader(&self, _tx: &mut dyn Tx, subject: &Subject) -> Result<AuditReader> {
        Ok(AuditReader {
            students: Self::scope(subject),
            sees_students: subject.holds(Permission::StudentsView),
            incident_categories: CategoryGuard::ViewIncidents.categories(subject),
            mark_categories: CategoryGuard::ViewStudents.categories(subject),
            reads_blocks: self
                .decide_route(subject, None, Action::ManageBlocks)?
                .allowed,
        })
    }

    /// AU2: every entry matching the filters, newest first, for a CSV export (at most
    /// [`AUDIT_EXPORT_MAX`]; more is refused with a field error on `from`).
    pub async fn export_audit(
        &self,
        subject: &Subject,
        org: &str,
        params: AuditListParams,
    ) -> Result<Vec<AuditEntry>> {
        self.check_org(subject, org, Action::ReadAudit)?;
        let mut tx = self.read_tx().await?;
        let reader = self.audit_reader(tx.as_mut(), subject).await?;
        let mut query = audit_query(&params, 1000, reader)?;
        let mut out = Vec::new();
        loop {
            let page = tx.audit(subject.org_id, &query).await?;
            let done = (page.len() as u64) < query.limit;
            query.before = page.last().map(|e| (e.at, e.id));
            out.extend(page);
            if out.len() as u64 > AUDIT_EXPORT_MAX {
                return Err(DomainError::field(
                    "from",
                    "too_many_entries",
                    format!("more than {AUDIT_EXPORT_MAX} entries: export a shorter span"),
                ));
            }
            if done {
                return Ok(out);
            }
        }
    }

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
        let mut tx = self.read_tx().await?;
        let reader = self.audit_reader(tx.as_mut(), subject).await?;
        let query = audit_query(&params, limit + 1, reader)?;
        let mut items = tx.audit(subject.org_id, &query).await?;
        let next_cursor = next_page(&mut items, limit, encode_cursor);
        Ok(AuditPage { items, next_cursor })
    }
}

impl Keyholder {
    /// AU3: walks the org's chain and names the first entry that was edited, or that follows
    /// a deleted one.
    pub async fn verify_audit(
        &self,
        subject: &Subject,
        org: &str,
    ) -> Result<crate::audit_chain::Verification> {
        self.check_org(subject, org, Action::ReadAudit)?;
        self.verify_chain(subject.org_id).await
    }

    /// AU3 for the command line (`keyholder audit verify --org SLUG`): no subject, reads only.
    pub async fn system_verify_audit(
        &self,
        org_slug: &str,
    ) -> Result<crate::audit_chain::Verification> {
        let org = {
            let mut tx = self.tx().await?;
            tx.org_by_slug(org_slug)
                .await?
                .ok_or(DomainError::NotFound)?
        };
        self.verify_chain(org.id).await
    }

    async fn verify_chain(&self, org: OrgId) -> Result<crate::audit_chain::Verification> {
        const PAGE: u64 = 1000;
        let mut tx = self.tx().await?;
        // The head first: entries written while the walk runs lie beyond it and are left for
        // the next verification, instead of looking like a chain cut short.
        let head = tx.audit_head(org).await?;
        let end = head.as_ref().map_or(0, |(seq, _)| *seq);
        let mut v = crate::audit_chain::Verifier::new();
        'walk: loop {
            let page = tx.audit_chain(org, v.last_seq(), PAGE).await?;
            for e in &page {
                if e.chain.as_ref().is_some_and(|c| c.seq > end) {
                    break 'walk;
                }
                v.check(e, e.chain.as_ref());
            }
            if v.failed() || (page.len() as u64) < PAGE {
                break;
            }
        }
        let mut result = v.finish(head);
        if result.valid
            && let Some(e) = tx.unchained_audit(org).await?
        {
            result.valid = false;
            result.first_bad_id = Some(e.id);
            result.detail =
                Some("an entry outside the chain was written around the service".into());
        }
        Ok(result)
    }
}

/// Who was refused (AU1).
#[derive(Debug, Clone, Copy)]
pub enum Refused<'a> {
    User(&'a Subject),
    Service(&'a crate::policy::ServiceSubject),
}

impl Keyholder {
    /// AU1: a request refused on a protected route, recorded in the caller's own org (for a
    /// foreign org's path too: probing is worth knowing about) in a transaction of its own.
    pub async fn record_refusal(
        &self,
        who: Refused<'_>,
        action: Action,
        error: &DomainError,
        method: &str,
        path: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let (rule, detail) = match error {
            DomainError::Forbidden { rule, detail } => (*rule, detail.clone()),
            DomainError::NotFound => (Rule::T1, "the path names another organisation".to_owned()),
            DomainError::PasswordChangeRequired => (
                Rule::A3,
                "the account must change its password first".to_owned(),
            ),
            _ => return Ok(()),
        };
        let (org, actor, target) = match who {
            Refused::User(s) => (s.org_id, Some(s.user_id), Some(("user", s.user_id.0))),
            Refused::Service(s) => (s.org_id, None, Some(("service_account", s.account_id.0))),
        };
        let mut tx = self.tx().await?;
        // AU4: a pupil's id in the refused path binds the entry to that pupil.
        let mut about = Vec::new();
        for id in path
            .split('/')
            .filter_map(|s| uuid::Uuid::parse_str(s).ok())
            .take(4)
        {
            if tx.student(org, StudentId(id)).await?.is_some() {
                about.push(AuditAbout::Student(StudentId(id)));
            }
        }
        Audit {
            org,
            kind: "access.denied",
            actor,
            target,
            changes: serde_json::json!({
                "action": action, "rule": rule, "detail": detail,
                "method": method, "path": path,
            }),
        }
        .write_about(tx.as_mut(), ctx, &about)
        .await?;
        tx.commit().await
    }
}
