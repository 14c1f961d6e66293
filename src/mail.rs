//! N1 delivery: a worker that sends the outbox over SMTP (lettre), or, when no
//! `KEYHOLDER_SMTP_URL` is set, writes each message to a file in `KEYHOLDER_MAIL_DIR` so that
//! the demo still works. Never to the log: invitations and resets carry single-use tokens.

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

/// Without SMTP: each message is a file `<time>-<id>.eml` in a folder (and counts as
/// delivered); the log says only that one was written.
pub struct DirMailer {
    dir: std::path::PathBuf,
}

impl DirMailer {
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Result<DirMailer, String> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(DirMailer { dir })
    }
}

#[async_trait]
impl Mailer for DirMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let now = time::OffsetDateTime::now_utc();
        let name = format!(
            "{:020}-{}.eml",
            now.unix_timestamp_nanos(),
            uuid::Uuid::new_v4().simple()
        );
        let path = self.dir.join(&name);
        let text = format!("To: {to}\nSubject: {subject}\n\n{body}");
        let written = path.clone();
        tokio::task::spawn_blocking(move || std::fs::write(&written, text))
            .await
            .map_err(|e| MailError::Transient(e.to_string()))?
            .map_err(|e| MailError::Transient(format!("{}: {e}", path.display())))?;
        tracing::info!(file = %name, "email written to KEYHOLDER_MAIL_DIR (KEYHOLDER_SMTP_URL is not set)");
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
