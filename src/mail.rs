//! N1 delivery: a worker that sends the outbox over SMTP (lettre), or writes it to the log
//! when no `KEYHOLDER_SMTP_URL` is set so that the demo still works.

use async_trait::async_trait;
use keyholder_domain::ports::{MailError, Mailer};
use keyholder_domain::services::Keyholder;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// `smtp://host:port` (plain), `smtp://host:587?tls=required` (STARTTLS) or
    /// `smtps://user:pass@host` (TLS), as lettre reads them.
    pub fn new(url: &str, from: &str) -> Result<SmtpMailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("KEYHOLDER_SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = from
            .parse()
            .map_err(|e| format!("KEYHOLDER_MAIL_FROM: {e}"))?;
        Ok(SmtpMailer { transport, from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| MailError::Permanent(format!("bad recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| MailError::Permanent(e.to_string()))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(e.to_string())),
            Err(e) => Err(MailError::Transient(e.to_string())),
        }
    }
}

/// Without SMTP: the message goes to the log (and counts as delivered).
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        tracing::info!(%to, %subject, %body, "email (KEYHOLDER_SMTP_URL is not set: logged, not sent)");
        Ok(())
    }
}

/// Delivers due mail every `interval` until the runtime stops.
pub fn spawn_worker(
    kh: Keyholder,
    mailer: Box<dyn Mailer>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match kh.system_deliver_due_mail(mailer.as_ref()).await {
                Ok(n) if n > 0 => tracing::debug!(sent = n, "outbox delivered"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox delivery failed; will retry"),
            }
            tokio::time::sleep(interval).await;
        }
    })
}
