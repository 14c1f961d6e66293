//! App middleware: the per-address quotas of the sign-in, reset and SCIM doors, the headers
//! every answer carries, and the metrics of every request.

use crate::error::ApiError;
use crate::limits::{Door, door, subscriber};
use crate::routes::scim::error::ScimError;
use crate::state::ApiState;
use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, web};
use std::net::IpAddr;
use std::time::Instant;

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
        crate::peer::client_ip(req.request()),
    ) {
        (Some(d), Some(state), Some(ip)) => over_quota(state, d, ip).await.map(|secs| (d, secs)),
        _ => None,
    };
    let Some((d, secs)) = limited else {
        return next.call(req).await.map(|r| r.map_into_left_body());
    };
    let mut res = if d == Door::Scim {
        ScimError::new(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            None,
            format!("too many requests from this address; try again in {secs} s"),
        )
        .error_response()
    } else {
        ApiError::RateLimited {
            retry_after_secs: secs,
        }
        .error_response()
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

/// Times every request and counts it by route (the route's pattern, never the raw path: the
/// label set stays bounded whatever a client sends).
pub async fn record(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let start = Instant::now();
    let series = req
        .app_data::<web::Data<ApiState>>()
        .map(|s| s.metrics.clone());
    let method = req.method().as_str().to_owned();
    let res = next.call(req).await?;
    if let Some(m) = series {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        m.observe(
            &route,
            &method,
            res.status().as_u16(),
            start.elapsed().as_secs_f64(),
        );
    }
    Ok(res)
}
