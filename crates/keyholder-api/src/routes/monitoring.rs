//! R9: a pupil's monitoring marks, set by staff holding `students.edit` and view-students on the
//! category, for pupils they may see.

use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Ctx, Require};
use crate::state::ApiState;
use actix_web::{HttpResponse, delete, post, web};
use keyholder_domain::ids::{CategoryId, StudentId};
use keyholder_domain::policy::Action;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorIn {
    pub category_id: Uuid,
}

/// The pupil's marks the caller may see (R9).
#[derive(Debug, Serialize, ToSchema)]
pub struct MonitoredOut {
    pub student_id: Uuid,
    pub monitored_category_ids: Vec<Uuid>,
}

fn out(student: Uuid, marks: Vec<CategoryId>) -> MonitoredOut {
    MonitoredOut {
        student_id: student,
        monitored_category_ids: marks.into_iter().map(|c| c.0).collect(),
    }
}

/// R9: mark a pupil monitored for a category. Answers the marks the caller may see.
#[utoipa::path(tag = "students", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), request_body = MonitorIn, responses(
    (status = 200, body = MonitoredOut),
    (status = 403, description = "`permission_denied` (G1/G2: `students.edit`; R9: no view-students on the category)", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "no such pupil, or one the caller may not see (R4, R5)", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`unknown_category`", body = Problem, content_type = "application/problem+json"),
))]
#[post(
    "/v1/orgs/{org}/students/{id}/monitored-categories",
    wrap = "Require(Action::EditMonitoring)"
)]
pub async fn mark(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
    body: web::Json<MonitorIn>,
) -> ApiResult<web::Json<MonitoredOut>> {
    let (org, id) = path.into_inner();
    let marks = state
        .kh
        .set_monitoring(
            &who.0,
            &org,
            StudentId(id),
            CategoryId(body.category_id),
            true,
            &ctx.0,
        )
        .await?;
    Ok(web::Json(out(id, marks)))
}

/// R9: take a monitoring mark off a pupil.
#[utoipa::path(tag = "students", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), ("category_id" = Uuid, Path)), responses(
    (status = 204),
))]
#[delete(
    "/v1/orgs/{org}/students/{id}/monitored-categories/{category_id}",
    wrap = "Require(Action::EditMonitoring)"
)]
pub async fn unmark(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id, category) = path.into_inner();
    state
        .kh
        .set_monitoring(
            &who.0,
            &org,
            StudentId(id),
            CategoryId(category),
            false,
            &ctx.0,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
