//! N1: the email outbox and its delivery; U3 invitations and A6 password resets through
//! single-use tokens kept only as hashes.

use super::*;
use crate::password::check_strength;
use crate::ports::Mailer;
use crate::tokens::{random_token, secret_hash};
use serde_json::json;

/// Undelivered mail is retried for about a day, then left `failed` for an operator to see.
const MAX_ATTEMPTS: i32 = 20;

impl Keyholder {
    /// Puts an email in the outbox, in the caller's transaction.
    pub(crate) async fn enqueue(
        &self,
        tx: &mut dyn Tx,
        org: OrgId,
        kind: &str,
        to: &str,
        subject: &str,
        body: String,
    ) -> Result<()> {
        tx.enqueue_mail(&OutboxMessage {
            id: uuid::Uuid::new_v4(),
            org_id: org,
            kind: kind.to_owned(),
            to: to.to_owned(),
            subject: subject.to_owned(),
            body,
            attempts: 0,
        })
        .await
    }

    /// A new single-use token for the user (earlier ones of that purpose stop working).
    async fn issue_token(
        &self,
        tx: &mut dyn Tx,
        user: &User,
        purpose: TokenPurpose,
    ) -> Result<String> {
        tx.revoke_action_tokens(user.org_id, user.id, purpose)
            .await?;
        let token = random_token(32);
        let ttl = match purpose {
            TokenPurpose::Invitation => self.config.invitation_ttl_secs,
            TokenPurpose::PasswordReset => self.config.reset_ttl_secs,
        };
        tx.insert_action_token(&ActionToken {
            hash: secret_hash(&token),
            org_id: user.org_id,
            user_id: user.id,
            purpose,
            expires_at: now() + time::Duration::seconds(ttl),
            used: false,
        })
        .await?;
        Ok(token)
    }

    fn link(&self, token: &str) -> String {
        format!(
            "{}/set-password?token={token}",
            self.config.public_url.trim_end_matches('/')
        )
    }

    /// U3: an invitation with a set-password link valid 72 hours, in the caller's transaction.
    pub(crate) async fn invite(&self, tx: &mut dyn Tx, org_name: &str, user: &User) -> Result<()> {
        let Some(email) = user.email.clone() else {
            return Err(DomainError::field(
                "email",
                "required",
                "an invitation needs an email address",
            ));
        };
        let token = self.issue_token(tx, user, TokenPurpose::Invitation).await?;
        let hours = self.config.invitation_ttl_secs / 3600;
        let body = format!(
            "Hello {},\n\nAn account has been made for you on Keyholder for {org_name}.\n\
             Choose your password here (the link works once, for {hours} hours):\n\n{}\n\n\
             If you did not expect this, you can ignore this email.\n",
            user.forename,
            self.link(&token)
        );
        self.enqueue(
            tx,
            user.org_id,
            "invitation",
            &email,
            &format!("Your {org_name} account"),
            body,
        )
        .await
    }

    /// A6: always answered the same way, after the same work (no enumeration): the request
    /// checks only the address's form; looking the account up and writing its link happen
    /// after the answer, in a task of their own, so that neither the answer nor its time says
    /// whether the address is known. An active account with this email gets a single-use link
    /// valid one hour.
    pub async fn request_password_reset(
        &self,
        org: &str,
        email: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let email = email.trim().to_lowercase();
        if !valid_email(&email) {
            return Err(DomainError::field("email", "email", "not an email address"));
        }
        let (kh, org, ctx) = (self.clone(), org.trim().to_owned(), ctx.clone());
        tokio::spawn(async move {
            // A few at a time: a flood of requests waits here, holding no connection.
            let Ok(_turn) = kh.resets.clone().acquire_owned().await else {
                return;
            };
            if let Err(e) = kh.issue_password_reset(&org, &email, &ctx).await {
                tracing::error!(error = %e, "a password reset could not be written");
            }
        });
        Ok(())
    }

    /// A6, after the answer: the link for an active account with this email, if there is one.
    async fn issue_password_reset(
        &self,
        org: &str,
        email: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let email = email.to_owned();
        let mut tx = self.tx().await?;
        let Some(org) = tx.org_by_slug(org).await? else {
            return Ok(());
        };
        let Some(user) = tx.user_by_login(org.id, &email).await? else {
            return Ok(());
        };
        if user.status != UserStatus::Active
            || user.email.as_deref().map(str::to_lowercase) != Some(email.clone())
        {
            return Ok(());
        }
        let token = self
            .issue_token(tx.as_mut(), &user, TokenPurpose::PasswordReset)
            .await?;
        let body = format!(
            "Hello {},\n\nSomeone (we hope you) asked to reset your Keyholder password for {}.\n\
             Choose a new password here (the link works once, for one hour):\n\n{}\n\n\
             If you did not ask for this, ignore this email: your password stays as it is.\n",
            user.forename,
            org.name,
            self.link(&token)
        );
        self.enqueue(
            tx.as_mut(),
            org.id,
            "password_reset",
            &email,
            "Reset your password",
            body,
        )
        .await?;
        Audit {
            org: org.id,
            kind: "auth.password_reset_requested",
            actor: None,
            target: Some(("user", user.id.0)),
            changes: json!({}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await
    }

    /// U3/A6: a token from an invitation or reset email sets the password; a reset ends every
    /// session of the account.
    pub async fn set_password(
        &self,
        token: &str,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let hash = secret_hash(token.trim());
        let invalid = || {
            DomainError::field(
                "token",
                "invalid_token",
                "the link is not valid: it was used, replaced or has expired",
            )
        };
        let user = {
            let mut tx = self.tx().await?;
            let Some(t) = tx.action_token(&hash).await? else {
                return Err(invalid());
            };
            if t.used || t.expires_at <= now() {
                return Err(invalid());
            }
            let user = tx.user(t.org_id, t.user_id).await?.ok_or_else(invalid)?;
            if user.status == UserStatus::Deactivated {
                return Err(invalid());
            }
            user
        };
        let inputs: Vec<&str> = [user.email.as_deref(), user.username.as_deref()]
            .into_iter()
            .flatten()
            .chain([user.forename.as_str(), user.surname.as_str()])
            .collect();
        if let Some(e) = check_strength("password", password, &inputs) {
            return Err(DomainError::Validation(vec![e]));
        }
        let password_hash = self.hasher.hash(password).await?;
        let mut tx = self.tx().await?;
        let t = tx.action_token(&hash).await?.ok_or_else(invalid)?;
        if t.expires_at <= now() || !tx.spend_action_token(&hash).await? {
            return Err(invalid());
        }
        let before = tx.user(t.org_id, t.user_id).await?.ok_or_else(invalid)?;
        if before.status == UserStatus::Deactivated {
            return Err(invalid());
        }
        let mut after = before.clone();
        after.password_hash = Some(password_hash);
        after.must_change_password = false;
        after.password_changed_at = Some(now());
        after.token_version += 1;
        write_user(&mut *tx, &before, &mut after).await?;
        tx.clear_throttle(t.org_id, &format!("user:{}", before.id))
            .await?;
        Audit {
            org: t.org_id,
            kind: match t.purpose {
                TokenPurpose::Invitation => "user.invitation_accepted",
                TokenPurpose::PasswordReset => "user.password_reset",
            },
            actor: Some(before.id),
            target: Some(("user", before.id.0)),
            changes: json!({"password_changed_at": [
                before.password_changed_at.map(super::alerts::rfc3339),
                after.password_changed_at.map(super::alerts::rfc3339),
            ]}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await
    }

    /// N1 delivery (binary only): sends what is due, each message claimed first so that two
    /// replicas never send the same one; a failure is retried with a doubling wait.
    pub async fn system_deliver_due_mail(&self, mailer: &dyn Mailer) -> Result<usize> {
        let due = {
            let mut tx = self.tx().await?;
            tx.due_mail(now(), 20).await?
        };
        let mut sent = 0;
        for m in due {
            {
                let mut tx = self.tx().await?;
                if !tx
                    .claim_mail(m.id, now(), now() + time::Duration::seconds(120))
                    .await?
                {
                    continue;
                }
                tx.commit().await?;
            }
            let result = mailer.send(&m.to, &m.subject, &m.body).await;
            let mut tx = self.tx().await?;
            match result {
                Ok(()) => {
                    tx.mail_sent(m.id, now()).await?;
                    sent += 1;
                }
                Err(e) => {
                    let (e, permanent) = match e {
                        crate::ports::MailError::Transient(e) => (e, false),
                        crate::ports::MailError::Permanent(e) => (e, true),
                    };
                    let attempts = if permanent {
                        MAX_ATTEMPTS
                    } else {
                        m.attempts + 1
                    };
                    let factor = 1u64 << (attempts - 1).clamp(0, 10);
                    let wait_ms = self
                        .config
                        .outbox_retry_base_ms
                        .saturating_mul(factor)
                        .min(15 * 60 * 1000);
                    let retry_at = now() + time::Duration::milliseconds(wait_ms as i64);
                    let error = if attempts >= MAX_ATTEMPTS {
                        format!("gave up: {e}")
                    } else {
                        e.clone()
                    };
                    tracing::warn!(mail = %m.id, kind = %m.kind, attempts, error = %e, "email not delivered; will retry");
                    tx.mail_failed(m.id, attempts, retry_at, &error).await?;
                }
            }
            tx.commit().await?;
        }
        Ok(sent)
    }
}
