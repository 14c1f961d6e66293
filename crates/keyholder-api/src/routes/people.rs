//! S1, S2: staff records; R2: student groups.

use crate::dto::*;
use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Require, etag};
use crate::state::ApiState;
use actix_web::{HttpResponse, get, web};
use keyholder_domain::ids::StaffId;
use keyholder_domain::policy::Action;
use keyholder_domain::services::{StaffListParams, StudentGroupListParams};
use uuid::Uuid;

/// Staff records, to make accounts from; `eligible_for_account=true` keeps those a new account
/// can be made from today (S2: started, not ended, permanent, full time, not yet linked where
/// one staff per user).
#[utoipa::path(tag = "staff", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), StaffListQuery), responses(
    (status = 200, body = StaffPage),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[get("/v1/orgs/{org}/staff", wrap = "Require(Action::ListStaff)")]
pub async fn list_staff(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: web::Query<StaffListQuery>,
) -> ApiResult<web::Json<StaffPage>> {
    let q = q.into_inner();
    let page = state
        .kh
        .list_staff(
            &who.0,
            &path,
            StaffListParams {
                q: q.q,
                eligible_for_account: q.eligible_for_account,
                page: q.page,
                per_page: q.per_page,
            },
        )
        .await?;
    Ok(web::Json(StaffPage {
        items: page
            .items
            .into_iter()
            .map(|(s, eligible)| StaffOut::new(s, eligible))
            .collect(),
        page: page.page,
        per_page: page.per_page,
        total: page.total,
    }))
}

/// One staff record.
#[utoipa::path(tag = "staff", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 200, body = StaffOut, headers(("ETag" = String))),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/v1/orgs/{org}/staff/{id}", wrap = "Require(Action::ReadStaff)")]
pub async fn get_staff(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let (s, eligible) = state.kh.get_staff(&who.0, &org, StaffId(id)).await?;
    let out = StaffOut::new(s, eligible);
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", etag(out.version)))
        .json(out))
}

/// Student groups (years, registration groups, houses, custom) with their member counts.
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), StudentGroupListQuery), responses(
    (status = 200, body = StudentGroupPage),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[get(
    "/v1/orgs/{org}/student-groups",
    wrap = "Require(Action::ListStudentGroups)"
)]
pub async fn list_student_groups(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: web::Query<StudentGroupListQuery>,
) -> ApiResult<web::Json<StudentGroupPage>> {
    let q = q.into_inner();
    let params = StudentGroupListParams {
        kind: q.kind.map(Into::into),
        q: q.q,
        archived: q.archived,
        page: q.page,
        per_page: q.per_page,
    };
    let page = state.kh.list_student_groups(&who.0, &path, params).await?;
    Ok(web::Json(StudentGroupPage {
        items: page
            .items
            .into_iter()
            .map(|(g, n)| StudentGroupOut::new(g, n))
            .collect(),
        page: page.page,
        per_page: page.per_page,
        total: page.total,
    }))
}
