//! `GET /metrics` in the Prometheus text format (the `prometheus` crate): requests by route and
//! status with latency histograms, the database pool, the authentication cache, the outbox and
//! the password-hashing queue. Open to loopback peers only, unless `KEYHOLDER_METRICS_TOKEN` is
//! set: then only to a bearer of that token, from anywhere.

use crate::state::ApiState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpRequest, HttpResponse, get, web};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::time::Instant;

/// Every series this server exports.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_size: IntGauge,
    pool_idle: IntGauge,
    cache_hits: IntCounter,
    cache_misses: IntCounter,
    cache_drops: IntCounter,
    cache_held: IntGauge,
    cache_live: IntGauge,
    outbox_depth: IntGauge,
    outbox_age: IntGauge,
    hashing_running: IntGauge,
    hashing_waiting: IntGauge,
}

fn gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let g = IntGauge::new(name, help)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    let c = IntCounter::new(name, help)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    pub fn new() -> prometheus::Result<Metrics> {
        let registry = Registry::new_custom(Some("keyholder".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "Requests answered, by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer, by route and method",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method"],
        )?;
        registry.register(Box::new(latency.clone()))?;
        let r = &registry;
        Ok(Metrics {
            pool_size: gauge(r, "db_pool_connections", "Open database connections")?,
            pool_idle: gauge(r, "db_pool_idle_connections", "Idle database connections")?,
            cache_hits: counter(
                r,
                "auth_cache_hits_total",
                "Requests authenticated from the replica's copies (U5)",
            )?,
            cache_misses: counter(
                r,
                "auth_cache_misses_total",
                "Requests authenticated from the database",
            )?,
            cache_drops: counter(
                r,
                "auth_cache_drops_total",
                "Session copies dropped because something they rest on changed",
            )?,
            cache_held: gauge(r, "auth_cache_sessions", "Sessions held by this replica")?,
            cache_live: gauge(
                r,
                "auth_cache_listening",
                "1 while this replica hears of other replicas' changes (else it holds nothing)",
            )?,
            outbox_depth: gauge(r, "outbox_pending", "Emails waiting in the outbox (N1)")?,
            outbox_age: gauge(
                r,
                "outbox_oldest_pending_seconds",
                "Age of the oldest email waiting in the outbox",
            )?,
            hashing_running: gauge(r, "password_hashes_running", "argon2 hashes running now")?,
            hashing_waiting: gauge(
                r,
                "password_hashes_waiting",
                "argon2 hashes waiting for a thread",
            )?,
            registry,
            requests,
            latency,
        })
    }

    fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(seconds);
    }

    /// Brings the gauges up to date and renders every series.
    async fn render(&self, state: &ApiState) -> String {
        let kh = &state.kh;
        let (size, idle) = kh.pool_stats();
        self.pool_size.set(i64::from(size));
        self.pool_idle.set(i64::from(idle));
        let c = kh.auth_cache_stats();
        let catch_up = |counter: &IntCounter, total: u64| {
            counter.inc_by(total.saturating_sub(counter.get()));
        };
        catch_up(&self.cache_hits, c.hits);
        catch_up(&self.cache_misses, c.misses);
        catch_up(&self.cache_drops, c.drops);
        self.cache_held
            .set(i64::try_from(c.held).unwrap_or(i64::MAX));
        self.cache_live.set(i64::from(c.live));
        match kh.outbox_backlog().await {
            Ok((depth, age)) => {
                self.outbox_depth
                    .set(i64::try_from(depth).unwrap_or(i64::MAX));
                self.outbox_age.set(age.map_or(0, |a| a.whole_seconds()));
            }
            Err(e) => tracing::warn!(error = %e, "outbox depth not read"),
        }
        let (running, waiting) = kh.hashing_queue();
        self.hashing_running
            .set(i64::try_from(running).unwrap_or(i64::MAX));
        self.hashing_waiting
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "metrics not encoded");
        }
        String::from_utf8(out).unwrap_or_default()
    }
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

/// Whether this caller may read the metrics: with `KEYHOLDER_METRICS_TOKEN` set, only a bearer
/// of it; without, only a loopback peer that did not come through a proxy.
fn may_read(req: &HttpRequest, state: &ApiState) -> bool {
    match &state.metrics_token {
        Some(token) => crate::guard::bearer(req).is_some_and(|b| {
            use sha2::Digest;
            // Compared as digests: the time does not depend on where they differ.
            sha2::Sha256::digest(b.as_bytes()) == sha2::Sha256::digest(token.as_bytes())
        }),
        None => {
            let proxied = req.headers().contains_key("x-forwarded-for")
                || req.headers().contains_key("forwarded");
            !proxied && req.peer_addr().is_some_and(|a| a.ip().is_loopback())
        }
    }
}

/// The metrics, in the Prometheus text format (loopback only, or `KEYHOLDER_METRICS_TOKEN`).
#[utoipa::path(tag = "operations", security((), ("metrics_token" = [])), responses(
    (status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4", body = String),
    (status = 404, description = "Not for this caller (not loopback, or not the metrics token)", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/metrics")]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<ApiState>,
) -> crate::error::ApiResult<HttpResponse> {
    if !may_read(&req, &state) {
        return Err(keyholder_domain::DomainError::NotFound.into());
    }
    Ok(HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(state.metrics.render(&state).await))
}
