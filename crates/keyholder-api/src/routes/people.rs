//! S1, S2: staff records; R2: student groups.

use crate::dto::*;
use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Ctx, IfMatch, Require, etag};
use crate::state::ApiState;
use actix_web::{HttpResponse, get, patch, post, web};
use keyholder_domain::DomainError;
use keyholder_domain::ids::StaffId;
use keyholder_domain::policy::Action;
use keyholder_domain::services::{StaffInput, StaffListParams, StaffPatch, StudentGroupListParams};
use uuid::Uuid;

/// Staff records, to make accounts from; `eligible_for_account=true` keeps those a new account
/// can be made from today (S2: started, not ended, permanent, full time, not yet linked where
/// one staff per user).
#[utoipa::path(tag = "staff", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), StaffListQuery), responses(
    (status = 200, body = StaffPage),
))]
#[get("/v1/orgs/{org}/staff", wrap = "Require(Action::ListStaff)")]
pub async fn list_staff(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: crate::filters::Filters<StaffListQuery>,
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
    Ok(web::Json(StaffPage::from(page)))
}

/// One staff record.
#[utoipa::path(tag = "staff", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 200, body = StaffOut, headers(("ETag" = String))),
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
))]
#[get(
    "/v1/orgs/{org}/student-groups",
    wrap = "Require(Action::ListStudentGroups)"
)]
pub async fn list_student_groups(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: crate::filters::Filters<StudentGroupListQuery>,
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
    Ok(web::Json(StudentGroupPage::from(page)))
}

fn staff_response(status: actix_web::http::StatusCode, s: StaffOut) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("ETag", etag(s.version)))
        .json(s)
}

/// S1: a staff record typed in by hand (schools without an MIS connection).
#[utoipa::path(tag = "staff", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug")), request_body = CreateStaffIn, responses(
    (status = 201, body = StaffOut),
    (status = 409, description = "`mis_id_in_use`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/v1/orgs/{org}/staff", wrap = "Require(Action::EditStaff)")]
pub async fn create_staff(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<String>,
    body: web::Json<CreateStaffIn>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let mut errors = Vec::new();
    let start = parse_date("start_date", &b.start_date)
        .map_err(|e| errors.push(e))
        .ok();
    let end = b
        .end_date
        .as_deref()
        .map(|d| parse_date("end_date", d))
        .transpose()
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let (Some(start_date), true) = (start, errors.is_empty()) else {
        return Err(DomainError::Validation(errors).into());
    };
    let input = StaffInput {
        mis_id: b.mis_id,
        title: b.title,
        forename: b.forename,
        surname: b.surname,
        email: b.email,
        job_title: b.job_title,
        contract: b.contract.into(),
        hours: b.hours.into(),
        start_date,
        end_date: end,
    };
    let (s, eligible) = state.kh.create_staff(&who.0, &path, input, &ctx.0).await?;
    Ok(staff_response(
        actix_web::http::StatusCode::CREATED,
        StaffOut::new(s, eligible),
    ))
}

/// S1: edit a staff record.
#[utoipa::path(tag = "staff", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = UpdateStaffIn, responses(
    (status = 200, body = StaffOut),
    (status = 409, description = "`mis_id_in_use`", body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/v1/orgs/{org}/staff/{id}", wrap = "Require(Action::EditStaff)")]
pub async fn update_staff(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    if_match: IfMatch,
    path: web::Path<(String, Uuid)>,
    body: web::Json<UpdateStaffIn>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let b = body.into_inner();
    let mut errors = Vec::new();
    let start_date = b
        .start_date
        .as_deref()
        .map(|d| parse_date("start_date", d))
        .transpose()
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let end_date = match b.end_date {
        None => None,
        Some(None) => Some(None),
        Some(Some(d)) => match parse_date("end_date", &d) {
            Ok(d) => Some(Some(d)),
            Err(e) => {
                errors.push(e);
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors).into());
    }
    let patch = StaffPatch {
        mis_id: b.mis_id,
        title: b.title,
        forename: b.forename,
        surname: b.surname,
        email: b.email,
        job_title: b.job_title,
        contract: b.contract.map(Into::into),
        hours: b.hours.map(Into::into),
        start_date,
        end_date,
    };
    let (s, eligible) = state
        .kh
        .update_staff(&who.0, &org, StaffId(id), patch, if_match.0, &ctx.0)
        .await?;
    Ok(staff_response(
        actix_web::http::StatusCode::OK,
        StaffOut::new(s, eligible),
    ))
}

/// S3: staff whose end date has passed while an account working as them is still active.
#[utoipa::path(tag = "staff", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), crate::dto::PageQuery), responses(
    (status = 200, body = LeaverList),
    (status = 422, description = "`range` (page, per_page)", body = Problem, content_type = "application/problem+json"),
))]
#[get(
    "/v1/orgs/{org}/reports/leavers",
    wrap = "Require(Action::RunLeaversReport)"
)]
pub async fn leavers(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: crate::filters::Filters<crate::dto::PageQuery>,
) -> ApiResult<web::Json<LeaverList>> {
    let rows = state.kh.leavers_report(&who.0, &path).await?;
    let page = keyholder_domain::services::Page::of(rows, q.page, q.per_page)?.map(|(s, users)| {
        LeaverOut {
            staff: StaffOut::new(s, false),
            active_users: users.into_iter().map(Into::into).collect(),
        }
    });
    Ok(web::Json(page.into()))
}

crate::dto::list_of!(
    /// S3: staff whose end date has passed while an account working as them is still active.
    LeaverList,
    LeaverOut
);
