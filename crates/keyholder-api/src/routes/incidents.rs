//! R8: incidents.

use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Ctx, Require};
use crate::state::ApiState;
use actix_web::{HttpResponse, get, post, web};
use keyholder_domain::DomainError;
use keyholder_domain::ids::{CategoryId, IncidentId, StudentId};
use keyholder_domain::model::Incident;
use keyholder_domain::policy::Action;
use keyholder_domain::services::{IncidentListParams, NewIncident};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentOut {
    pub id: Uuid,
    pub student_id: Uuid,
    pub category_id: Uuid,
    pub description: String,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub reported_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Incident> for IncidentOut {
    fn from(i: Incident) -> Self {
        IncidentOut {
            id: i.id.0,
            student_id: i.student_id.0,
            category_id: i.category_id.0,
            description: i.description,
            occurred_at: i.occurred_at,
            reported_by: i.reported_by.0,
            created_at: i.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentIn {
    pub student_id: Uuid,
    pub category_id: Uuid,
    pub description: String,
    /// RFC 3339.
    pub occurred_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentPage {
    pub items: Vec<IncidentOut>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    pub student_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// R8: record an incident about a pupil the caller may see in the pick-list, in a category
/// where their group grants add-incidents.
#[utoipa::path(tag = "incidents", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug")), request_body = IncidentIn, responses(
    (status = 201, body = IncidentOut),
    (status = 403, description = "`permission_denied` (rule R8: no add-incidents on the category)", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`validation_failed` (an unknown or hidden pupil is `unknown_student`)", body = Problem, content_type = "application/problem+json"),
))]
#[post("/v1/orgs/{org}/incidents", wrap = "Require(Action::AddIncident)")]
pub async fn create(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<String>,
    body: web::Json<IncidentIn>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let occurred_at = OffsetDateTime::parse(
        &b.occurred_at,
        &time::format_description::well_known::Rfc3339,
    )
    .map_err(|_| {
        DomainError::field(
            "occurred_at",
            "date_time",
            "an RFC 3339 time such as 2026-11-24T09:30:00Z",
        )
    })?;
    let new = NewIncident {
        student_id: StudentId(b.student_id),
        category_id: CategoryId(b.category_id),
        description: b.description,
        occurred_at,
    };
    let i = state.kh.add_incident(&who.0, &path, new, &ctx.0).await?;
    Ok(HttpResponse::Created().json(IncidentOut::from(i)))
}

/// R8: incidents the caller may read (view-incidents on the category, R4/R5 for the pupil),
/// filtered in the query; the read is audited.
#[utoipa::path(tag = "incidents", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), IncidentQuery), responses(
    (status = 200, body = IncidentPage),
))]
#[get("/v1/orgs/{org}/incidents", wrap = "Require(Action::ReadIncident)")]
pub async fn list(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<String>,
    q: crate::filters::Filters<IncidentQuery>,
) -> ApiResult<web::Json<IncidentPage>> {
    let q = q.into_inner();
    let params = IncidentListParams {
        student_id: q.student_id.map(StudentId),
        category_id: q.category_id.map(CategoryId),
        page: q.page,
        per_page: q.per_page,
    };
    let page = state
        .kh
        .list_incidents(&who.0, &path, params, &ctx.0)
        .await?;
    Ok(web::Json(IncidentPage {
        items: page.items.into_iter().map(Into::into).collect(),
        page: page.page,
        per_page: page.per_page,
        total: page.total,
    }))
}

/// R8: one incident; the read (or the refusal) is audited. 404 when the caller may not read it.
#[utoipa::path(tag = "incidents", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 200, body = IncidentOut),
))]
#[get(
    "/v1/orgs/{org}/incidents/{id}",
    wrap = "Require(Action::ReadIncident)"
)]
pub async fn get(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<web::Json<IncidentOut>> {
    let (org, id) = path.into_inner();
    Ok(web::Json(
        state
            .kh
            .get_incident(&who.0, &org, IncidentId(id), &ctx.0)
            .await?
            .into(),
    ))
}
