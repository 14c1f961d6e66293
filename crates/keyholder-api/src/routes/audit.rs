//! AU1, AU2 (first part): the audit trail, newest first.

use crate::dto::*;
use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Require};
use crate::state::ApiState;
use actix_web::{get, web};
use keyholder_domain::ids::UserId;
use keyholder_domain::policy::Action;
use keyholder_domain::services::AuditListParams;

/// Audit entries, newest first, in cursor pages.
#[utoipa::path(tag = "audit", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), AuditQueryIn), responses(
    (status = 200, body = AuditPageOut),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[get("/v1/orgs/{org}/audit", wrap = "Require(Action::ReadAudit)")]
pub async fn list(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: web::Query<AuditQueryIn>,
) -> ApiResult<web::Json<AuditPageOut>> {
    let q = q.into_inner();
    let page = state
        .kh
        .list_audit(
            &who.0,
            &path,
            AuditListParams {
                kind: q.kind,
                actor_id: q.actor_id.map(UserId),
                target_user_id: q.target_user_id.map(UserId),
                cursor: q.cursor,
                limit: q.limit,
            },
        )
        .await?;
    Ok(web::Json(AuditPageOut {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}
