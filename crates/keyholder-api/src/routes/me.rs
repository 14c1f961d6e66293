//! The caller's own account (A3, A5).

use crate::dto::*;
use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Ctx, Require, etag};
use crate::state::ApiState;
use actix_web::{HttpResponse, delete, get, post, web};
use keyholder_domain::policy::Action;

/// The caller's account, org, and the permissions in effect in this session.
#[utoipa::path(tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = MeOut),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
#[get("/v1/me", wrap = "Require(Action::ReadOwnAccount)")]
pub async fn me(state: web::Data<ApiState>, who: Authed) -> ApiResult<HttpResponse> {
    let me = state.kh.me(&who.0).await?;
    let version = me.user.user.version;
    let body = MeOut {
        user: me.user.into(),
        org: me.org_slug,
        permissions: me.permissions.keys(),
        group_permissions: me.held.keys(),
        category_permissions: me
            .category_flags
            .iter()
            .map(CategoryPermission::from_domain)
            .collect(),
        second_factor_session: me.second_factor_session,
    };
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", etag(version)))
        .json(body))
}

/// Change one's own password (A4). An account that must change its password (A3) can do this
/// and nothing else.
#[utoipa::path(tag = "me", security(("bearer" = [])), request_body = ChangePasswordIn, responses(
    (status = 204),
    (status = 401, body = Problem, content_type = "application/problem+json"),
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
    (status = 401, body = Problem, content_type = "application/problem+json"),
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
    (status = 401, body = Problem, content_type = "application/problem+json"),
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
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
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
