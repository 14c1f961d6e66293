//! Who is on the other end of a request.

use crate::state::ApiState;
use actix_web::{HttpRequest, web};

/// The client's address: the peer's, or behind a proxy we run (`KEYHOLDER_TRUST_PROXY`) the
/// address that proxy appended last to `X-Forwarded-For`. Earlier entries are whatever the
/// client sent and are never believed; a value that is not an address falls back to the peer.
pub fn client_ip(req: &HttpRequest) -> Option<std::net::IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    let trust_proxy = req
        .app_data::<web::Data<ApiState>>()
        .is_some_and(|s| s.trust_proxy);
    if !trust_proxy {
        return peer;
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .last();
    forwarded
        .and_then(|a| {
            a.parse::<std::net::IpAddr>()
                .ok()
                .or_else(|| a.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        })
        .or(peer)
}
