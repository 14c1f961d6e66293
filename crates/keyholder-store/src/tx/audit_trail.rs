//! The audit log (AU1-AU4) and its chain (AU3).

use super::*;

#[async_trait]
impl AuditTx for SeaTx {
    async fn insert_audit(&mut self, e: &AuditEntry, about: &[AuditAbout]) -> Result<()> {
        crate::audit::append(&self.txn, e, about).await
    }

    async fn audit_chain(
        &mut self,
        org: OrgId,
        after_seq: i64,
        limit: u64,
    ) -> Result<Vec<AuditEntry>> {
        crate::audit::chain(&self.txn, org, after_seq, limit).await
    }

    async fn unchained_audit(&mut self, org: OrgId) -> Result<Option<AuditEntry>> {
        crate::audit::unchained(&self.txn, org).await
    }

    async fn audit_head(&mut self, org: OrgId) -> Result<Option<(i64, String)>> {
        crate::audit::head(&self.txn, org).await
    }

    async fn audit(&mut self, org: OrgId, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        use audit_log::Column as A;
        let mut select = audit_log::Entity::find()
            .filter(A::OrgId.eq(org.0))
            .filter(crate::audit::readable(org, &q.reader));
        if let Some(k) = &q.kind {
            select = select.filter(A::Kind.eq(k.as_str()));
        }
        if let Some(a) = q.actor_id {
            select = select.filter(A::ActorId.eq(a.0));
        }
        if let Some(t) = q.target_id {
            select = select.filter(A::TargetId.eq(t));
        }
        if let Some(s) = q.staff_id {
            select = select.filter(
                Condition::any().add(A::StaffId.eq(s.0)).add(
                    Condition::all()
                        .add(A::TargetType.eq("staff"))
                        .add(A::TargetId.eq(s.0)),
                ),
            );
        }
        if let Some(f) = q.from {
            select = select.filter(A::At.gte(to_us(f)));
        }
        if let Some(t) = q.to {
            select = select.filter(A::At.lt(to_us(t)));
        }
        if let Some((at, id)) = q.before {
            let at = to_us(at);
            select = select.filter(
                Condition::any()
                    .add(A::At.lt(at))
                    .add(Condition::all().add(A::At.eq(at)).add(A::Id.lt(id.0))),
            );
        }
        select
            .order_by_desc(A::At)
            .order_by_desc(A::Id)
            .limit(q.limit)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(convert::audit)
            .collect()
    }
}
