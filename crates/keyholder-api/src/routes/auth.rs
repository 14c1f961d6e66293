//! A1, A2: login, refresh, logout.

use crate::dto::{LoginIn, PasswordResetIn, RefreshIn, SetPasswordIn, TokenOut};
use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Ctx, Require};
use crate::state::ApiState;
use actix_web::{HttpResponse, post, web};
use keyholder_domain::policy::Action;
use keyholder_domain::services::LoginRequest;

/// Log in with org, username or email, password and (when enrolled) a TOTP or recovery code.
/// Without a code an enrolled user gets a session holding only the low-level permissions (G2).
#[utoipa::path(tag = "auth", request_body = LoginIn, responses(
    (status = 200, body = TokenOut),
    (status = 401, description = "`invalid_credentials` (unknown login or wrong password, indistinguishable) or `invalid_second_factor`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`account_locked`, with Retry-After", body = Problem, content_type = "application/problem+json"),
))]
#[post("/v1/auth/login")]
pub async fn login(
    state: web::Data<ApiState>,
    ctx: Ctx,
    body: web::Json<LoginIn>,
) -> ApiResult<web::Json<TokenOut>> {
    let b = body.into_inner();
    let pair = state
        .kh
        .login(
            LoginRequest {
                org: b.org,
                login: b.login,
                password: b.password,
                totp_code: b.totp_code,
            },
            &ctx.0,
        )
        .await?;
    Ok(web::Json(pair.into()))
}

/// Exchange a refresh token for a new pair. Each refresh token works once; presenting a spent
/// one ends its whole session (A1).
#[utoipa::path(tag = "auth", request_body = RefreshIn, responses(
    (status = 200, body = TokenOut),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
#[post("/v1/auth/refresh")]
pub async fn refresh(
    state: web::Data<ApiState>,
    ctx: Ctx,
    body: web::Json<RefreshIn>,
) -> ApiResult<web::Json<TokenOut>> {
    Ok(web::Json(
        state.kh.refresh(&body.refresh_token, &ctx.0).await?.into(),
    ))
}

/// End this session: its access and refresh tokens stop working.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses(
    (status = 204),
))]
#[post("/v1/auth/logout", wrap = "Require(Action::ReadOwnAccount)")]
pub async fn logout(state: web::Data<ApiState>, who: Authed, ctx: Ctx) -> ApiResult<HttpResponse> {
    state.kh.logout(&who.0, &ctx.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A6: asks for a password-reset email. Always 202, whether or not the account exists.
#[utoipa::path(tag = "auth", request_body = PasswordResetIn, responses(
    (status = 202, description = "If an active account has this email, a single-use link valid one hour is on its way"),
))]
#[post("/v1/auth/password-reset")]
pub async fn password_reset(
    state: web::Data<ApiState>,
    ctx: Ctx,
    body: web::Json<PasswordResetIn>,
) -> ApiResult<HttpResponse> {
    state
        .kh
        .request_password_reset(&body.org, &body.email, &ctx.0)
        .await?;
    Ok(HttpResponse::Accepted().finish())
}

/// U3/A6: sets a password with the token from an invitation or reset link (single use). A
/// reset ends every session of the account.
#[utoipa::path(tag = "auth", request_body = SetPasswordIn, responses(
    (status = 204),
    (status = 422, description = "`validation_failed`: `invalid_token`, `weak_password`…", body = Problem, content_type = "application/problem+json"),
))]
#[post("/v1/auth/set-password")]
pub async fn set_password(
    state: web::Data<ApiState>,
    ctx: Ctx,
    body: web::Json<SetPasswordIn>,
) -> ApiResult<HttpResponse> {
    state
        .kh
        .set_password(&body.token, &body.password, &ctx.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
