//! A real SMTP server on loopback for the tests, built on the `mailin` SMTP state machine:
//! it can be stopped (every connection dropped) and started again on the same port.

use mailin::{Action, Handler, Response, SessionBuilder};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    /// The body, with quoted-printable soft breaks and escapes undone.
    pub fn text(&self) -> String {
        if self
            .data
            .to_ascii_lowercase()
            .contains("content-transfer-encoding: quoted-printable")
        {
            self.data.replace("=\r\n", "").replace("=3D", "=")
        } else {
            self.data.clone()
        }
    }

    /// The token of the set-password link in the body.
    pub fn token(&self) -> String {
        let text = self.text();
        let start = text.find("token=").expect("a set-password link") + "token=".len();
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

#[derive(Clone)]
struct Inbox {
    mails: Arc<Mutex<Vec<Mail>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Inbox {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mail = Mail {
            to: std::mem::take(&mut self.to),
            data: String::from_utf8_lossy(&self.data).into_owned(),
        };
        if let Ok(mut m) = self.mails.lock() {
            m.push(mail);
        }
        mailin::response::OK
    }
}

pub struct SmtpServer {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl SmtpServer {
    /// A server that is not running yet, on a port of its own.
    pub fn stopped() -> SmtpServer {
        SmtpServer {
            port: free_port(),
            mails: Arc::default(),
            task: None,
        }
    }

    pub async fn running() -> SmtpServer {
        let mut s = SmtpServer::stopped();
        s.start().await;
        s
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub async fn start(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind smtp");
        let mails = self.mails.clone();
        self.task = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let handler = Inbox {
                    mails: mails.clone(),
                    to: vec![],
                    data: vec![],
                };
                connections.spawn(async move {
                    let mut session = SessionBuilder::new("smtp.test").build(peer.ip(), handler);
                    let (read, mut write) = stream.into_split();
                    let mut read = BufReader::new(read);
                    let greeting = session.greeting().buffer().unwrap_or_default();
                    if write.write_all(&greeting).await.is_err() {
                        return;
                    }
                    let mut line = Vec::new();
                    loop {
                        line.clear();
                        match read.read_until(b'\n', &mut line).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        let res = session.process(&line);
                        match res.action {
                            Action::Reply => {
                                if write
                                    .write_all(&res.buffer().unwrap_or_default())
                                    .await
                                    .is_err()
                                {
                                    return;
                                }
                            }
                            Action::Close | Action::UpgradeTls => {
                                let _ = write.write_all(&res.buffer().unwrap_or_default()).await;
                                return;
                            }
                            Action::NoReply => {}
                        }
                    }
                });
            }
        }));
    }

    /// Drops the listener and every open connection.
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Waits until at least `n` messages have arrived (or 10 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let m = self.mails();
            if m.len() >= n || std::time::Instant::now() > deadline {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The messages to one address.
    pub fn to(&self, address: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
