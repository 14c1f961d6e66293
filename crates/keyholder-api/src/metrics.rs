//! `GET /metrics` in the Prometheus text format (the `prometheus` crate): requests by route and
//! status with latency histograms, the database pool, the authentication cache, the outbox and
//! the password-hashing queue. Open to loopback peers only, unless `KEYHOLDER_METRICS_TOKEN` is
//! set: then only to a bearer of that token, from anywhere.

use keyholder_domain::services::Keyholder;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

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

    pub(crate) fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(seconds);
    }

    /// Brings the gauges up to date and renders every series.
    pub(crate) async fn render(&self, kh: &Keyholder) -> String {
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
