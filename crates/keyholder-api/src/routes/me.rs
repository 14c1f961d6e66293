//! The caller's own account (A3, A5).

use crate::dto::*;
use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Ctx, IfMatch, Require, etag};
use crate::state::ApiState;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use keyholder_domain::policy::Action;

/// The caller's account, org, and the permissions in effect in this session.
#[utoipa::path(tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = MeOut),
))]
#[get("/v1/me", wrap = "Require(Action::ReadOwnAccount)")]
pub async fn me(state: web::Data<ApiState>, who: Authed) -> ApiResult<HttpResponse> {
    Ok(me_response(state.kh.me(&who.0).await?))
}

fn me_response(m: keyholder_domain::services::Me) -> HttpResponse {
    let version = m.user.user.version;
    let body = MeOut {
        user: m.user.into(),
        org: m.org_slug,
        permissions: m
            .permissions
            .keys()
            .into_iter()
            .chain(m.registered.iter().cloned())
            .collect(),
        group_permissions: m
            .held
            .keys()
            .into_iter()
            .chain(m.registered_held.iter().cloned())
            .collect(),
        category_permissions: m
            .category_flags
            .iter()
            .map(CategoryPermission::from_domain)
            .collect(),
        second_factor_session: m.second_factor_session,
        notification_preferences: m
            .notification_preferences
            .iter()
            .map(|(c, mode)| NotificationPreference {
                category_id: c.0,
                mode: (*mode).into(),
            })
            .collect(),
    };
    HttpResponse::Ok()
        .insert_header(("ETag", etag(version)))
        .json(body)
}

/// U12: one's own title, names, phone, email (the old address is told, U8) and notification
/// preferences (N1); needs `profile.edit_own`. Never one's own group, permissions or status.
#[utoipa::path(tag = "me", security(("bearer" = [])), params(("If-Match" = Option<String>, Header)), request_body = UpdateMeIn, responses(
    (status = 200, body = MeOut),
    (status = 409, description = "`email_in_use`", body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/v1/me", wrap = "Require(Action::EditOwnProfile)")]
pub async fn update_me(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    if_match: IfMatch,
    body: web::Json<UpdateMeIn>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let patch = keyholder_domain::services::ProfilePatch {
        title: b.title,
        forename: b.forename,
        surname: b.surname,
        phone: b.phone,
        email: b.email,
        current_password: b.current_password,
        notification_preferences: b.notification_preferences.map(|v| {
            v.into_iter()
                .map(|p| {
                    (
                        keyholder_domain::ids::CategoryId(p.category_id),
                        p.mode.into(),
                    )
                })
                .collect()
        }),
    };
    Ok(me_response(
        state
            .kh
            .update_own_profile(&who.0, patch, if_match.0, &ctx.0)
            .await?,
    ))
}

/// Change one's own password (A4). An account that must change its password (A3) can do this
/// and nothing else.
#[utoipa::path(tag = "me", security(("bearer" = [])), request_body = ChangePasswordIn, responses(
    (status = 204),
    (status = 422, description = "`validation_failed`: wrong current password, weak new password", body = Problem, content_type = "application/problem+json"),
))]
#[post("/v1/me/password", wrap = "Require(Action::ReadOwnAccount)")]
pub async fn change_password(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    body: web::Json<ChangePasswordIn>,
) -> ApiResult<HttpResponse> {
    state
        .kh
        .change_own_password(&who.0, &body.current_password, &body.new_password, &ctx.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Start enrolling a TOTP key: a secret, its otpauth URI and a QR code (A5).
#[utoipa::path(tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = TotpSetupOut),
    (status = 409, description = "`second_factor_already_enrolled`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/v1/me/totp/setup", wrap = "Require(Action::ManageOwnSecondFactor)")]
pub async fn totp_setup(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
) -> ApiResult<web::Json<TotpSetupOut>> {
    let e = state.kh.totp_setup(&who.0, &ctx.0).await?;
    Ok(web::Json(TotpSetupOut {
        secret: e.secret,
        otpauth_uri: e.otpauth_uri,
        qr_png_base64: e.qr_png_base64,
    }))
}

/// Confirm the key with a code; answers ten recovery codes, once (A5).
#[utoipa::path(tag = "me", security(("bearer" = [])), request_body = TotpConfirmIn, responses(
    (status = 200, body = RecoveryCodesOut),
    (status = 409, description = "`second_factor_not_started` or `second_factor_already_enrolled`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`validation_failed` (code `invalid_code`)", body = Problem, content_type = "application/problem+json"),
))]
#[post("/v1/me/totp/confirm", wrap = "Require(Action::ManageOwnSecondFactor)")]
pub async fn totp_confirm(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    body: web::Json<TotpConfirmIn>,
) -> ApiResult<web::Json<RecoveryCodesOut>> {
    let codes = state.kh.totp_confirm(&who.0, &body.code, &ctx.0).await?;
    Ok(web::Json(RecoveryCodesOut {
        recovery_codes: codes,
    }))
}

/// Remove one's own key; needs a session that proved it (A5).
#[utoipa::path(tag = "me", security(("bearer" = [])), responses(
    (status = 204),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/v1/me/totp", wrap = "Require(Action::ManageOwnSecondFactor)")]
pub async fn totp_remove(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
) -> ApiResult<HttpResponse> {
    state.kh.totp_remove(&who.0, &ctx.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One of the caller's sessions (ASVS 7.5.2).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SessionOut {
    pub id: uuid::Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
    /// The session proved a second factor at sign-in.
    pub second_factor: bool,
    /// The session this request was made in.
    pub current: bool,
}

crate::dto::list_of!(
    /// The caller's live sessions, newest first.
    SessionList,
    SessionOut
);

/// Where the caller is signed in: their live sessions, newest first.
#[utoipa::path(tag = "me", security(("bearer" = [])), params(crate::dto::PageQuery), responses(
    (status = 200, body = SessionList),
    (status = 422, description = "`range` (page, per_page)", body = Problem, content_type = "application/problem+json"),
))]
#[get("/v1/me/sessions", wrap = "Require(Action::ReadOwnAccount)")]
pub async fn sessions(
    state: web::Data<ApiState>,
    who: Authed,
    q: crate::filters::Filters<crate::dto::PageQuery>,
) -> ApiResult<web::Json<SessionList>> {
    let current = who.0.session_id;
    let all = state.kh.own_sessions(&who.0).await?;
    let page = keyholder_domain::services::Page::of(all, q.page, q.per_page)?.map(|s| SessionOut {
        id: s.id.0,
        created_at: s.created_at,
        expires_at: s.expires_at,
        second_factor: s.second_factor,
        current: s.id == current,
    });
    Ok(web::Json(page.into()))
}

/// End one of the caller's own sessions (a PC left signed in); its tokens stop at once.
#[utoipa::path(tag = "me", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), responses(
    (status = 204),
))]
#[delete("/v1/me/sessions/{id}", wrap = "Require(Action::ReadOwnAccount)")]
pub async fn end_session(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<uuid::Uuid>,
) -> ApiResult<HttpResponse> {
    state
        .kh
        .end_own_session(
            &who.0,
            keyholder_domain::ids::SessionId(path.into_inner()),
            &ctx.0,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
