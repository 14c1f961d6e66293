//! The email outbox (N1) and notification preferences.

use super::*;

#[async_trait]
impl MailTx for SeaTx {
    async fn outbox_backlog(&mut self) -> Result<(u64, Option<time::OffsetDateTime>)> {
        let pending = || outbox::Entity::find().filter(outbox::Column::Status.eq("pending"));
        let n = pending().count(&self.txn).await.map_err(db_err)?;
        let oldest: Option<i64> = pending()
            .select_only()
            .column(outbox::Column::CreatedAt)
            .order_by_asc(outbox::Column::CreatedAt)
            .into_tuple()
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        Ok((n, oldest.map(convert::from_us)))
    }

    async fn enqueue_mail(&mut self, m: &OutboxMessage) -> Result<()> {
        self.enqueue_mails(std::slice::from_ref(m)).await
    }

    async fn enqueue_mails(&mut self, messages: &[OutboxMessage]) -> Result<()> {
        let at = now_us();
        for chunk in messages.chunks(500) {
            outbox::Entity::insert_many(chunk.iter().map(|m| outbox::ActiveModel {
                id: Set(m.id),
                org_id: Set(m.org_id.0),
                kind: Set(m.kind.clone()),
                to_address: Set(m.to.clone()),
                subject: Set(m.subject.clone()),
                body: Set(m.body.clone()),
                status: Set("pending".into()),
                attempts: Set(0),
                next_attempt_at: Set(at),
                lease_until: Set(None),
                last_error: Set(None),
                created_at: Set(at),
                sent_at: Set(None),
            }))
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }

    async fn due_mail(
        &mut self,
        now: time::OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<OutboxMessage>> {
        let now = to_us(now);
        Ok(outbox::Entity::find()
            .filter(outbox::Column::Status.eq("pending"))
            .filter(outbox::Column::NextAttemptAt.lte(now))
            .filter(
                Condition::any()
                    .add(outbox::Column::LeaseUntil.is_null())
                    .add(outbox::Column::LeaseUntil.lt(now)),
            )
            .order_by_asc(outbox::Column::CreatedAt)
            .limit(limit)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| OutboxMessage {
                id: m.id,
                org_id: OrgId(m.org_id),
                kind: m.kind,
                to: m.to_address,
                subject: m.subject,
                body: m.body,
                attempts: m.attempts,
            })
            .collect())
    }

    async fn claim_mail(
        &mut self,
        id: uuid::Uuid,
        now: time::OffsetDateTime,
        lease_until: time::OffsetDateTime,
    ) -> Result<bool> {
        let now = to_us(now);
        let res = outbox::Entity::update_many()
            .col_expr(outbox::Column::LeaseUntil, Expr::value(to_us(lease_until)))
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::Status.eq("pending"))
            .filter(
                Condition::any()
                    .add(outbox::Column::LeaseUntil.is_null())
                    .add(outbox::Column::LeaseUntil.lt(now)),
            )
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn mail_sent(&mut self, id: uuid::Uuid, at: time::OffsetDateTime) -> Result<()> {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value("sent"))
            .col_expr(outbox::Column::SentAt, Expr::value(to_us(at)))
            .col_expr(outbox::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(outbox::Column::Id.eq(id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn mail_failed(
        &mut self,
        id: uuid::Uuid,
        attempts: i32,
        retry_at: time::OffsetDateTime,
        error: &str,
    ) -> Result<()> {
        let status = if error.starts_with("gave up") {
            "failed"
        } else {
            "pending"
        };
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value(status))
            .col_expr(outbox::Column::Attempts, Expr::value(attempts))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(to_us(retry_at)))
            .col_expr(outbox::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .col_expr(
                outbox::Column::LastError,
                Expr::value(error.chars().take(1000).collect::<String>()),
            )
            .filter(outbox::Column::Id.eq(id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn notification_prefs(
        &mut self,
        org: OrgId,
        user: UserId,
    ) -> Result<Vec<(CategoryId, NotificationMode)>> {
        notification_prefs::Entity::find()
            .filter(notification_prefs::Column::OrgId.eq(org.0))
            .filter(notification_prefs::Column::UserId.eq(user.0))
            .order_by_asc(notification_prefs::Column::CategoryId)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| {
                NotificationMode::parse(&m.mode)
                    .map(|mode| (CategoryId(m.category_id), mode))
                    .ok_or_else(|| DomainError::internal("stored notification mode"))
            })
            .collect()
    }

    async fn replace_notification_prefs(
        &mut self,
        org: OrgId,
        user: UserId,
        prefs: &[(CategoryId, NotificationMode)],
    ) -> Result<()> {
        self.changes.push(AuthChange::Org(org));
        notification_prefs::Entity::delete_many()
            .filter(notification_prefs::Column::OrgId.eq(org.0))
            .filter(notification_prefs::Column::UserId.eq(user.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        if prefs.is_empty() {
            return Ok(());
        }
        notification_prefs::Entity::insert_many(prefs.iter().map(|(c, m)| {
            notification_prefs::ActiveModel {
                org_id: Set(org.0),
                user_id: Set(user.0),
                category_id: Set(c.0),
                mode: Set(m.as_str().to_owned()),
            }
        }))
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
