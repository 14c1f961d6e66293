//! Operations: liveness, readiness and the permission catalogue.

use crate::dto::{Catalogue, Health, catalogue};
use crate::error::{ApiResult, Problem};
use crate::guard::Require;
use crate::state::ApiState;
use actix_web::{get, web};
use keyholder_domain::policy::Action;

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health {
        status: "ok".into(),
    })
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

/// The permission catalogue: every system permission and category flag, with its level (G2).
#[utoipa::path(tag = "user groups", security(("bearer" = [])), responses(
    (status = 200, body = Catalogue),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
#[get("/v1/permissions", wrap = "Require(Action::ReadCatalogue)")]
pub async fn permissions() -> ApiResult<web::Json<Catalogue>> {
    Ok(web::Json(catalogue()))
}
