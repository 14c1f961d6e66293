//! A1, A2: login, refresh, logout.

use crate::dto::{LoginIn, RefreshIn, TokenOut};
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
    (status = 400, body = Problem, content_type = "application/problem+json"),
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
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
#[post("/v1/auth/logout", wrap = "Require(Action::ReadOwnAccount)")]
pub async fn logout(state: web::Data<ApiState>, who: Authed, ctx: Ctx) -> ApiResult<HttpResponse> {
    state.kh.logout(&who.0, &ctx.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
