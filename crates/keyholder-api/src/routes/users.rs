//! U1–U4, U9, U11: accounts.

use super::{group_id, parse_status, user_id};
use crate::dto::*;
use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Ctx, IfMatch, Require, etag};
use crate::state::ApiState;
use actix_web::{HttpResponse, get, patch, post, web};
use keyholder_domain::policy::Action;
use keyholder_domain::services::{NewUser, UserListParams, UserPatch};
use uuid::Uuid;

fn user_response(status: actix_web::http::StatusCode, u: UserOut) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("ETag", etag(u.version)))
        .json(u)
}

/// U11: filter, sort and page the org's accounts.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), UserListQuery), responses(
    (status = 200, body = UserPage),
))]
#[get("/v1/orgs/{org}/users", wrap = "Require(Action::ListUsers)")]
pub async fn list(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: crate::filters::Filters<UserListQuery>,
) -> ApiResult<web::Json<UserPage>> {
    let q = q.into_inner();
    let params = UserListParams {
        q: q.q,
        status: parse_status(q.status.as_deref())?,
        user_group_id: q.user_group_id.or(q.user_group).map(group_id),
        second_factor: q.second_factor,
        elevated: q.elevated,
        admin: q.admin,
        sort: q.sort,
        page: q.page,
        per_page: q.per_page,
    };
    let page = state.kh.list_users(&who.0, &path, params).await?;
    Ok(web::Json(UserPage::from(page)))
}

/// U3: create an account with a password (optionally to change at first login) or pending.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug")), request_body = CreateUserIn, responses(
    (status = 201, body = UserOut),
    (status = 403, description = "`permission_denied`, or `escalation_denied` (G4)", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`email_in_use` (with `holder_status`), `username_in_use`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/v1/orgs/{org}/users", wrap = "Require(Action::CreateUser)")]
pub async fn create(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<String>,
    body: web::Json<CreateUserIn>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let new = NewUser {
        email: b.email,
        username: b.username,
        title: b.title,
        forename: b.forename,
        surname: b.surname,
        job_title: b.job_title,
        user_group_id: group_id(b.user_group_id),
        staff_ids: b.staff_ids,
        send_invitation: b.send_invitation,
        password: b.password,
        must_change_password: b.must_change_password,
        pending: b.pending,
        copy_access_from: b.copy_access_from.map(user_id),
    };
    let user = state.kh.create_user(&who.0, &path, new, &ctx.0).await?;
    Ok(user_response(
        actix_web::http::StatusCode::CREATED,
        user.into(),
    ))
}

/// One account, with its ETag.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 200, body = UserOut, headers(("ETag" = String))),
))]
#[get("/v1/orgs/{org}/users/{id}", wrap = "Require(Action::ReadUser)")]
pub async fn get(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let user = state.kh.get_user(&who.0, &org, user_id(id)).await?;
    Ok(user_response(actix_web::http::StatusCode::OK, user.into()))
}

/// Change an account's fields or group (U9: G4 and G5 apply). `If-Match` turns a lost update into 412.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = UpdateUserIn, responses(
    (status = 200, body = UserOut),
    (status = 409, description = "`email_in_use`, `username_in_use`, `last_admin` (G5)", body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/v1/orgs/{org}/users/{id}", wrap = "Require(Action::EditUser)")]
pub async fn update(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    if_match: IfMatch,
    path: web::Path<(String, Uuid)>,
    body: web::Json<UpdateUserIn>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let b = body.into_inner();
    let patch = UserPatch {
        title: b.title,
        forename: b.forename,
        surname: b.surname,
        job_title: b.job_title,
        username: b.username,
        email: b.email,
        user_group_id: b.user_group_id.map(group_id),
        must_change_password: b.must_change_password,
        phone: b.phone,
    };
    let user = state
        .kh
        .update_user(&who.0, &org, user_id(id), patch, if_match.0, &ctx.0)
        .await?;
    Ok(user_response(actix_web::http::StatusCode::OK, user.into()))
}
