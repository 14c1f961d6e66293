//! Abuse limits: requests per client address on the sign-in, password-reset and SCIM doors
//! (429 with `Retry-After`), and the security headers every answer carries.
//!
//! The per-address quotas blunt floods and scripted guessing (A2's lockout counters stay in the
//! database). On PostgreSQL they are kept there too, so that a quota is one quota whichever
//! replica answers (a GCRA bucket per door and address, one upsert per request: the sign-in
//! doors are argon2-bound, so the write costs nothing that matters); on SQLite, which serves
//! from one process, in memory (`governor`). They default far above a school's morning rush
//! through one NAT address (A2: hundreds of logins a minute).

use crate::error::ApiError;
use crate::state::ApiState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, HttpResponse, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// Requests a minute per client address, by door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// `POST /v1/auth/login`, `/v1/auth/refresh`, `/v1/auth/set-password`.
    pub sign_in_per_minute: u32,
    /// `POST /v1/auth/password-reset`.
    pub reset_per_minute: u32,
    /// Everything under `/scim/v2/`.
    pub scim_per_minute: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            sign_in_per_minute: 1200,
            reset_per_minute: 60,
            scim_per_minute: 1200,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Door {
    SignIn,
    Reset,
    Scim,
}

fn door(method: &actix_web::http::Method, path: &str) -> Option<Door> {
    if path.starts_with("/scim/v2/") {
        return Some(Door::Scim);
    }
    if method != actix_web::http::Method::POST {
        return None;
    }
    match path {
        "/v1/auth/login" | "/v1/auth/refresh" | "/v1/auth/set-password" => Some(Door::SignIn),
        "/v1/auth/password-reset" => Some(Door::Reset),
        _ => None,
    }
}

pub struct RateLimits {
    settings: RateLimitSettings,
    sign_in: DefaultKeyedRateLimiter<IpAddr>,
    reset: DefaultKeyedRateLimiter<IpAddr>,
    scim: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl RateLimits {
    pub fn new(s: RateLimitSettings) -> RateLimits {
        RateLimits {
            settings: s,
            sign_in: DefaultKeyedRateLimiter::keyed(per_minute(s.sign_in_per_minute)),
            reset: DefaultKeyedRateLimiter::keyed(per_minute(s.reset_per_minute)),
            scim: DefaultKeyedRateLimiter::keyed(per_minute(s.scim_per_minute)),
            checks: AtomicU64::new(0),
        }
    }

    /// `Some(seconds to wait)` when the address has used its quota at this door. An IPv6
    /// client is counted by its /64, the block one subscriber is given, so that rotating
    /// addresses inside it buys nothing.
    fn check(&self, door: Door, ip: IpAddr) -> Option<u64> {
        let ip = subscriber(ip);
        let limiter = match door {
            Door::SignIn => &self.sign_in,
            Door::Reset => &self.reset,
            Door::Scim => &self.scim,
        };
        // Forget idle addresses now and then, so that memory follows the active ones.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            for l in [&self.sign_in, &self.reset, &self.scim] {
                l.retain_recent();
                l.shrink_to_fit();
            }
        }
        limiter.check_key(&ip).err().map(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// The address a quota counts: an IPv6 client by its /64.
fn subscriber(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// `Some(seconds to wait)` when the address has used its quota at this door: in the database
/// when the store shares quotas between replicas, else in this replica's memory. A database
/// that cannot answer lets the request through (it then fails on its own, or succeeds).
async fn over_quota(state: &ApiState, door: Door, ip: IpAddr) -> Option<u64> {
    if !state.kh.quotas_shared() {
        return state.limits.check(door, ip);
    }
    let (name, per_minute) = match door {
        Door::SignIn => ("sign_in", state.limits.settings.sign_in_per_minute),
        Door::Reset => ("reset", state.limits.settings.reset_per_minute),
        Door::Scim => ("scim", state.limits.settings.scim_per_minute),
    };
    match state
        .kh
        .take_quota(&format!("{name}:{}", subscriber(ip)), per_minute)
        .await
    {
        Ok(wait) => wait,
        Err(e) => {
            tracing::warn!(error = %e, "a shared quota could not be read");
            None
        }
    }
}

/// App middleware: the per-address quotas of the sign-in, reset and SCIM doors.
pub async fn rate_limit(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    // The decoded path, as the router reads it: `/v1/auth/%6cogin` is the login door too.
    let path = req.match_info().as_str().to_owned();
    let limited = match (
        door(req.method(), &path),
        req.app_data::<web::Data<ApiState>>(),
        crate::guard::client_ip(req.request()),
    ) {
        (Some(d), Some(state), Some(ip)) => over_quota(state, d, ip).await.map(|secs| (d, secs)),
        _ => None,
    };
    let Some((d, secs)) = limited else {
        return next.call(req).await.map(|r| r.map_into_left_body());
    };
    let mut res = if d == Door::Scim {
        HttpResponse::TooManyRequests()
            .content_type("application/scim+json")
            .json(serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "429",
                "detail": format!("too many requests from this address; try again in {secs} s"),
            }))
    } else {
        actix_web::ResponseError::error_response(&ApiError::RateLimited {
            retry_after_secs: secs,
        })
    };
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        res.headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, v);
    }
    Ok(req.into_response(res).map_into_right_body())
}

/// App middleware: headers every answer carries (OWASP secure headers for an API; the
/// explorer at `/docs` gets a policy that lets its own scripts and styles run).
pub async fn security_headers(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let docs = req.path().starts_with("/docs");
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    let mut set = |name: &'static str, value: &'static str| {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    set("x-content-type-options", "nosniff");
    set("x-frame-options", "DENY");
    set("referrer-policy", "no-referrer");
    set("cross-origin-opener-policy", "same-origin");
    set("cross-origin-resource-policy", "same-origin");
    set(
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    );
    set(
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
    if docs {
        set(
            "content-security-policy",
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
        );
    } else {
        set(
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        );
        set("cache-control", "no-store");
    }
    Ok(res)
}
