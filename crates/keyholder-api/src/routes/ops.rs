//! Operations: liveness, readiness, metrics and the permission catalogue.

use crate::dto::{Catalogue, Health, catalogue};
use crate::error::ApiResult;
use crate::guard::Require;
use crate::state::ApiState;
use actix_web::{HttpRequest, HttpResponse, get, web};
use keyholder_domain::policy::Action;

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health {
        status: "ok".into(),
    })
}

/// A JSON Web Key Set (RFC 7517).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Jwks {
    /// Ed25519 public keys (`kty` `OKP`, `crv` `Ed25519`, `x`, `kid`, `alg` `EdDSA`, `use`
    /// `sig`), newest first.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}

/// A9: the keys that verify Keyholder's access tokens, for the services around it: a token's
/// `kid` names its key; a key stays here until it is retired (the rotation after next). Fetch
/// again when a token names a `kid` not in the set held.
#[utoipa::path(tag = "operations", responses((status = 200, body = Jwks)))]
#[get("/.well-known/jwks.json")]
pub async fn jwks(state: web::Data<ApiState>) -> ApiResult<HttpResponse> {
    let keys = state.kh.published_keys().await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=60"))
        .json(Jwks { keys }))
}

/// The database answers.
#[utoipa::path(tag = "operations", responses(
    (status = 200, body = Health),
    (status = 503, body = Health),
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<ApiState>) -> actix_web::HttpResponse {
    match state.kh.ready().await {
        Ok(()) => actix_web::HttpResponse::Ok().json(Health {
            status: "ready".into(),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            actix_web::HttpResponse::ServiceUnavailable().json(Health {
                status: "database unavailable".into(),
            })
        }
    }
}

/// The permission catalogue: every system permission and category flag, with its level (G2),
/// and the permissions other products registered in the caller's org (issue 16).
#[utoipa::path(tag = "user groups", security(("bearer" = [])), responses(
    (status = 200, body = Catalogue),
))]
#[get("/v1/permissions", wrap = "Require(Action::ReadCatalogue)")]
pub async fn permissions(
    state: web::Data<ApiState>,
    who: crate::guard::Authed,
) -> ApiResult<web::Json<Catalogue>> {
    let mut c = catalogue();
    c.registered_permissions = state
        .kh
        .catalogue_of(&who.0)
        .await?
        .into_iter()
        .map(crate::dto::PermissionOut::registered)
        .collect();
    Ok(web::Json(c))
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
        .body(state.metrics.render(&state.kh).await))
}
