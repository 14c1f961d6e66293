//! U5–U7, U10, A5 (admin reset), AU4: the life of an account.

use super::user_id;
use crate::dto::*;
use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Ctx, IfMatch, Require, etag};
use crate::state::ApiState;
use actix_web::{HttpResponse, get, post, web};
use keyholder_domain::ids::GroupId;
use keyholder_domain::policy::Action;
use keyholder_domain::services::CloneInput;
use uuid::Uuid;

fn ok(u: UserOut) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("ETag", etag(u.version)))
        .json(u)
}

/// U5: the account can no longer log in; its sessions and refresh tokens stop working at once.
/// Its group, email and staff links stay. G5 applies.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), responses(
    (status = 200, body = UserOut),
    (status = 409, description = "`already_deactivated`, `last_admin`", body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
))]
#[post(
    "/v1/orgs/{org}/users/{id}/deactivate",
    wrap = "Require(Action::EditUser)"
)]
pub async fn deactivate(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    if_match: IfMatch,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    Ok(ok(state
        .kh
        .deactivate_user(&who.0, &org, user_id(id), if_match.0, &ctx.0)
        .await?
        .into()))
}

/// U6: clears a deactivated account's email, password, second factor and recovery codes, so
/// that the email can be used again. The account and its history stay.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), responses(
    (status = 200, body = UserOut),
    (status = 409, description = "`not_deactivated`", body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
))]
#[post(
    "/v1/orgs/{org}/users/{id}/remove-login-details",
    wrap = "Require(Action::EditUser)"
)]
pub async fn remove_login_details(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    if_match: IfMatch,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    Ok(ok(state
        .kh
        .remove_login_details(&who.0, &org, user_id(id), if_match.0, &ctx.0)
        .await?
        .into()))
}

/// U7: a deactivated account is active again with an email and a group; it is invited if it
/// has no password.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), request_body = ReactivateIn, responses(
    (status = 200, body = UserOut),
    (status = 409, description = "`not_deactivated`, `email_in_use`", body = Problem, content_type = "application/problem+json"),
))]
#[post(
    "/v1/orgs/{org}/users/{id}/reactivate",
    wrap = "Require(Action::EditUser)"
)]
pub async fn reactivate(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
    body: web::Json<ReactivateIn>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let b = body.into_inner();
    Ok(ok(state
        .kh
        .reactivate_user(
            &who.0,
            &org,
            user_id(id),
            &b.email,
            GroupId(b.user_group_id),
            &ctx.0,
        )
        .await?
        .into()))
}

/// U2/U3: a pending account goes live and is sent its invitation.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 200, body = UserOut),
    (status = 409, description = "`not_pending`", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post(
    "/v1/orgs/{org}/users/{id}/make-live",
    wrap = "Require(Action::EditUser)"
)]
pub async fn make_live(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    Ok(ok(state
        .kh
        .make_live(&who.0, &org, user_id(id), &ctx.0)
        .await?
        .into()))
}

/// U3: sends a new invitation (earlier links stop working) to an active account without a password.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 202, description = "The invitation is in the outbox"),
    (status = 409, description = "`not_active`, `has_password`", body = Problem, content_type = "application/problem+json"),
))]
#[post(
    "/v1/orgs/{org}/users/{id}/send-invitation",
    wrap = "Require(Action::EditUser)"
)]
pub async fn send_invitation(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    state
        .kh
        .send_invitation(&who.0, &org, user_id(id), &ctx.0)
        .await?;
    Ok(HttpResponse::Accepted().finish())
}

/// What ending every session did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SessionsEndedOut {
    pub sessions_ended: u64,
}

/// ASVS 7.4.5: end every session in the org but the caller's (a suspected breach), on every
/// replica at once (admins).
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug")), responses(
    (status = 200, body = SessionsEndedOut),
))]
#[post(
    "/v1/orgs/{org}/sessions/end-all",
    wrap = "Require(Action::EndAllSessions)"
)]
pub async fn end_all_sessions(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<String>,
) -> ApiResult<web::Json<SessionsEndedOut>> {
    let sessions_ended = state.kh.end_all_sessions(&who.0, &path, &ctx.0).await?;
    Ok(web::Json(SessionsEndedOut { sessions_ended }))
}

/// ASVS 7.4.5: end every session of the account on its next request (every replica).
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 200, body = UserOut),
))]
#[post(
    "/v1/orgs/{org}/users/{id}/end-sessions",
    wrap = "Require(Action::EditUser)"
)]
pub async fn end_sessions(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    Ok(ok(state
        .kh
        .end_sessions(&who.0, &org, user_id(id), &ctx.0)
        .await?
        .into()))
}

/// A5: an admin resets a lost key; the user enrols again. The account's sessions end.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 200, body = UserOut),
    (status = 409, description = "`no_second_factor`", body = Problem, content_type = "application/problem+json"),
))]
#[post(
    "/v1/orgs/{org}/users/{id}/reset-second-factor",
    wrap = "Require(Action::EditUser)"
)]
pub async fn reset_second_factor(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    Ok(ok(state
        .kh
        .reset_second_factor(&who.0, &org, user_id(id), &ctx.0)
        .await?
        .into()))
}

/// U10: a new account like this one: same group, allow-lists and notification preferences
/// (and staff links where several staff per user are allowed); no key, blocks or history.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), request_body = CloneIn, responses(
    (status = 201, body = UserOut),
    (status = 409, description = "`clone_of_pending`, `email_in_use`, `username_in_use`", body = Problem, content_type = "application/problem+json"),
))]
#[post(
    "/v1/orgs/{org}/users/{id}/clone",
    wrap = "Require(Action::CreateUser)"
)]
pub async fn clone(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
    body: web::Json<CloneIn>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let b = body.into_inner();
    let input = CloneInput {
        username: b.username,
        email: b.email,
        password: b.password,
        send_invitation: b.send_invitation,
    };
    let u: UserOut = state
        .kh
        .clone_user(&who.0, &org, user_id(id), input, &ctx.0)
        .await?
        .into();
    Ok(HttpResponse::Created()
        .insert_header(("ETag", etag(u.version)))
        .json(u))
}

/// AU4: the account's own history, newest first.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), HistoryQuery), responses(
    (status = 200, body = AuditPageOut),
))]
#[get(
    "/v1/orgs/{org}/users/{id}/history",
    wrap = "Require(Action::ReadUser)"
)]
pub async fn history(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<(String, Uuid)>,
    q: crate::filters::Filters<HistoryQuery>,
) -> ApiResult<web::Json<AuditPageOut>> {
    let (org, id) = path.into_inner();
    let q = q.into_inner();
    let page = state
        .kh
        .user_history(&who.0, &org, user_id(id), q.cursor, q.limit)
        .await?;
    Ok(web::Json(AuditPageOut {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}
