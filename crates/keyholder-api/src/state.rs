use keyholder_domain::services::Keyholder;

/// What every handler can reach: the domain (never the store) and the operator key (T2).
pub struct ApiState {
    pub kh: Keyholder,
    pub operator_key: Option<String>,
    /// Take the client address from `X-Forwarded-For` / `Forwarded` (behind a proxy you run);
    /// otherwise the peer address, which a client cannot forge.
    pub trust_proxy: bool,
    /// Per-address quotas of the sign-in, reset and SCIM doors.
    pub limits: crate::limits::RateLimits,
    /// `/metrics`: the series, and who may read them (`KEYHOLDER_METRICS_TOKEN`; loopback
    /// peers only without it).
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub metrics_token: Option<String>,
}
