//! Abuse limits: requests per client address on the sign-in, password-reset and SCIM doors
//! (429 with `Retry-After`), and the security headers every answer carries.
//!
//! The per-address quotas blunt floods and scripted guessing (A2's lockout counters stay in the
//! database). On PostgreSQL they are kept there too, so that a quota is one quota whichever
//! replica answers (a GCRA bucket per door and address, one upsert per request: the sign-in
//! doors are argon2-bound, so the write costs nothing that matters); on SQLite, which serves
//! from one process, in memory (`governor`). They default far above a school's morning rush
//! through one NAT address (A2: hundreds of logins a minute).

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// Requests a minute per client address, by door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// `POST /v1/auth/login`, `/v1/auth/refresh`, `/v1/auth/set-password`, and every
    /// single sign-on step (`/v1/auth/sso/…`).
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
pub(crate) enum Door {
    SignIn,
    Reset,
    Scim,
}

/// Whether an operation of the contract (`"post"`, `/v1/auth/login`) is behind a quota: the
/// same door list the middleware keeps.
pub(crate) fn is_limited(method: &str, path: &str) -> bool {
    actix_web::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .is_ok_and(|m| door(&m, path).is_some())
}

pub(crate) fn door(method: &actix_web::http::Method, path: &str) -> Option<Door> {
    if path.starts_with("/scim/v2/") {
        return Some(Door::Scim);
    }
    // A8: every step of single sign-on is a sign-in.
    if path.starts_with("/v1/auth/sso/") {
        return Some(Door::SignIn);
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
    pub(crate) settings: RateLimitSettings,
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
    pub(crate) fn check(&self, door: Door, ip: IpAddr) -> Option<u64> {
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
pub(crate) fn subscriber(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}
