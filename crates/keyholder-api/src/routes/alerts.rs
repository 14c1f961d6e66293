//! N2 alerts in the app, and N1 preferences as an admin sets them; the contract types beside
//! their routes.

use crate::dto::{Mode, NotificationPreference};
use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Ctx, Require};
use crate::state::ApiState;
use actix_web::{HttpResponse, get, post, put, web};
use keyholder_domain::ids::*;
use keyholder_domain::policy::Action;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An alert: an incident was recorded in a category the caller asked to be alerted about. It
/// never names the pupil or the concern: open the incident to read it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertOut {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub category_id: Uuid,
    /// The category and its parents, `Behaviour › Bullying`.
    pub category_name: String,
    /// When the incident was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub read: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub read_at: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertPageOut {
    pub items: Vec<AlertOut>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertListQuery {
    pub cursor: Option<String>,
    /// 1 to 100, default 25.
    pub limit: Option<u64>,
}

/// N1: a user's preferences, one per top-level category.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationPreferences {
    pub items: Vec<NotificationPreference>,
}

fn preferences(
    p: Vec<(CategoryId, keyholder_domain::model::NotificationMode)>,
) -> NotificationPreferences {
    NotificationPreferences {
        items: p
            .into_iter()
            .map(|(c, m)| NotificationPreference {
                category_id: c.0,
                mode: Mode::from(m),
            })
            .collect(),
    }
}

/// N2: the caller's alerts, unread first, then newest first, in cursor pages.
#[utoipa::path(tag = "me", security(("bearer" = [])), params(AlertListQuery), responses(
    (status = 200, body = AlertPageOut),
    (status = 422, description = "a bad `cursor` or `limit`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/v1/me/alerts", wrap = "Require(Action::ReadOwnAccount)")]
pub async fn list_my_alerts(
    state: web::Data<ApiState>,
    who: Authed,
    q: crate::filters::Filters<AlertListQuery>,
) -> ApiResult<web::Json<AlertPageOut>> {
    let q = q.into_inner();
    let page = state
        .kh
        .my_alerts(&who.0, q.cursor.as_deref(), q.limit)
        .await?;
    Ok(web::Json(AlertPageOut {
        items: page
            .items
            .into_iter()
            .map(|(a, category_name)| AlertOut {
                id: a.id.0,
                incident_id: a.incident_id.0,
                category_id: a.category_id.0,
                category_name,
                created_at: a.created_at,
                read: a.read_at.is_some(),
                read_at: a.read_at,
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// N2: marks one of the caller's alerts read (again is fine); another user's is not found.
#[utoipa::path(tag = "me", security(("bearer" = [])), params(("id" = Uuid, Path)), responses(
    (status = 204, description = "read"),
))]
#[post("/v1/me/alerts/{id}/read", wrap = "Require(Action::ReadOwnAccount)")]
pub async fn read_my_alert(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state
        .kh
        .read_alert(&who.0, AlertId(path.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// N1: a user's notification preferences (`admin.manage_users`).
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 200, body = NotificationPreferences),
))]
#[get(
    "/v1/orgs/{org}/users/{id}/notification-preferences",
    wrap = "Require(Action::ReadUser)"
)]
pub async fn get_user_notification_preferences(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<web::Json<NotificationPreferences>> {
    let (org, id) = path.into_inner();
    Ok(web::Json(preferences(
        state.kh.user_preferences(&who.0, &org, UserId(id)).await?,
    )))
}

/// N1: sets a user's notification preferences, all of them (`admin.manage_users`; audited). A
/// preference other than `none` needs the user's group to grant view incidents on the category
/// (422 `category_not_readable`, R8).
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), request_body = NotificationPreferences, responses(
    (status = 200, body = NotificationPreferences),
))]
#[put(
    "/v1/orgs/{org}/users/{id}/notification-preferences",
    wrap = "Require(Action::EditUser)"
)]
pub async fn put_user_notification_preferences(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
    body: web::Json<NotificationPreferences>,
) -> ApiResult<web::Json<NotificationPreferences>> {
    let (org, id) = path.into_inner();
    let prefs = body
        .into_inner()
        .items
        .into_iter()
        .map(|p| (CategoryId(p.category_id), p.mode.into()))
        .collect();
    Ok(web::Json(preferences(
        state
            .kh
            .set_user_preferences(&who.0, &org, UserId(id), prefs, &ctx.0)
            .await?,
    )))
}
