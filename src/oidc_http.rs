//! A8: the outbound HTTP single sign-on needs (discovery documents, key sets, the token
//! endpoint): reqwest over rustls (ring; the platform's roots), no redirects followed, short
//! timeouts, and an answer of at most 1 MiB. Which URLs may be asked is decided in the domain
//! (HTTPS, or plain HTTP to a loopback host); where a name may lead is decided here, after DNS:
//! only to public addresses (no org's admin aims Keyholder at the platform's own network), or
//! loopback where plain HTTP to loopback is allowed (the tests).

use keyholder_domain::sso::{OidcHttp, form_encode, public_ip};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The largest answer read from a provider.
const MAX_ANSWER: usize = 1024 * 1024;

pub struct ReqwestOidc {
    client: reqwest::Client,
}

/// reqwest is built without a crypto provider of its own (no aws-lc): rustls's ring, as sqlx
/// uses, becomes the process's. Every program of this package that builds a reqwest client
/// (the server, the tests, the benchmarks) calls this first.
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The system's resolver, keeping only the addresses Keyholder may reach.
struct PublicOnly {
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_loopback = self.allow_loopback;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| public_ip(a.ip()) || (allow_loopback && a.ip().is_loopback()))
                .collect();
            if found.is_empty() {
                return Err("the provider's name leads to no public address".into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl ReqwestOidc {
    /// `allow_loopback`: `KEYHOLDER_SSO_ALLOW_HTTP_LOOPBACK` (a provider on this host).
    pub fn new(allow_loopback: bool) -> Result<ReqwestOidc, String> {
        install_tls();
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(PublicOnly { allow_loopback }))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would resolve the provider's name itself, past the
            // public-address rule.
            .no_proxy()
            .user_agent(concat!("keyholder/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the HTTP client for single sign-on: {e}"))?;
        Ok(ReqwestOidc { client })
    }
}

/// The error with its causes, for the log (never for the caller).
fn described(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

async fn bounded_json(mut r: reqwest::Response) -> Result<(u16, serde_json::Value), String> {
    let status = r.status().as_u16();
    if r.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
        return Err("the answer is too large".into());
    }
    let mut body = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err("the answer is too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    Ok((status, json))
}

#[async_trait::async_trait]
impl OidcHttp for ReqwestOidc {
    async fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let r = self
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(described)?;
        match bounded_json(r).await? {
            (200, json) if !json.is_null() => Ok(json),
            (status, _) => Err(format!("{url} answered {status}")),
        }
    }

    async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<(u16, serde_json::Value), String> {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let r = self
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(described)?;
        bounded_json(r).await
    }
}
