//! A8: single sign-on. An org's identity providers (kept by an admin with
//! `admin.manage_system`), and the three steps of a sign-in: start (a redirect to the
//! provider), callback (the provider's answer; a redirect to the frontend with a one-time
//! code), exchange (the code for the tokens a password login answers). Tokens never travel in
//! a URL.

use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Ctx, Require};
use crate::state::ApiState;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use keyholder_domain::error::DomainError;
use keyholder_domain::ids::IdentityProviderId;
use keyholder_domain::policy::Action;
use keyholder_domain::services::{
    IdentityProviderPatch, NewIdentityProvider, SsoCallback, SsoExchange,
};
use keyholder_domain::sso::IdentityProvider;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The browser's cookie that binds a flow to the browser that started it.
const COOKIE: &str = "kh_sso";

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityProviderOut {
    pub id: Uuid,
    /// `entra`, `google` or `oidc`.
    pub kind: String,
    pub name: String,
    /// The issuer ID tokens must name (derived for Entra and Google).
    pub issuer: String,
    /// Entra: the directory (tenant) id.
    pub tenant_id: Option<String>,
    pub client_id: String,
    /// Only accounts of these domains (Google's `hd`, else the email's); empty: any.
    pub allowed_domains: Vec<String>,
    /// Scopes asked for beside `openid` (and `email`).
    pub scopes: Vec<String>,
    /// Where a sign-in may end: `return_to` must be under one of these.
    pub return_urls: Vec<String>,
    /// G2: the provider's `amr: mfa` counts as the second factor.
    pub mfa_counts: bool,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

fn out(p: IdentityProvider, redirect_uri: String) -> IdentityProviderOut {
    IdentityProviderOut {
        id: p.id.0,
        kind: p.kind.as_str().into(),
        name: p.name,
        issuer: p.issuer,
        tenant_id: p.tenant_id,
        client_id: p.client_id,
        allowed_domains: p.allowed_domains,
        scopes: p.scopes,
        return_urls: p.return_urls,
        mfa_counts: p.mfa_counts,
        redirect_uri,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIdentityProviderIn {
    /// `entra`, `google` or `oidc`.
    pub kind: String,
    #[schema(max_length = 100)]
    pub name: String,
    /// `oidc`: the issuer URL (https).
    #[schema(max_length = 500)]
    pub issuer: Option<String>,
    /// `entra`: the directory (tenant) id.
    #[schema(max_length = 100)]
    pub tenant_id: Option<String>,
    #[schema(max_length = 500)]
    pub client_id: String,
    /// Sealed at rest; never answered back.
    #[schema(max_length = 1000)]
    pub client_secret: String,
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Where a sign-in may end (the frontend's pages), 1 to 20.
    pub return_urls: Vec<String>,
    #[serde(default)]
    pub mfa_counts: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchIdentityProviderIn {
    #[schema(max_length = 100)]
    pub name: Option<String>,
    #[schema(max_length = 500)]
    pub issuer: Option<String>,
    #[schema(max_length = 100)]
    pub tenant_id: Option<String>,
    #[schema(max_length = 500)]
    pub client_id: Option<String>,
    #[schema(max_length = 1000)]
    pub client_secret: Option<String>,
    pub allowed_domains: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub return_urls: Option<Vec<String>>,
    pub mfa_counts: Option<bool>,
}

crate::dto::list_of!(
    /// The org's identity providers, by name.
    IdentityProviderList,
    IdentityProviderOut
);

/// A8: the org's identity providers (client secrets are never answered).
#[utoipa::path(tag = "sso", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), crate::dto::PageQuery), responses(
    (status = 200, body = IdentityProviderList),
))]
#[get(
    "/v1/orgs/{org}/identity-providers",
    wrap = "Require(Action::ReadOrgSettings)"
)]
pub async fn list(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: crate::filters::Filters<crate::dto::PageQuery>,
) -> ApiResult<web::Json<IdentityProviderList>> {
    let list = state.kh.list_identity_providers(&who.0, &path).await?;
    let redirect = state.kh.sso_redirect_uri();
    let list: Vec<IdentityProviderOut> =
        list.into_iter().map(|p| out(p, redirect.clone())).collect();
    let page = keyholder_domain::services::Page::of(list, q.page, q.per_page)?;
    Ok(web::Json(page.into()))
}

/// A8: add an identity provider. Its discovery document is fetched when a sign-in starts.
#[utoipa::path(tag = "sso", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug")), request_body = CreateIdentityProviderIn, responses(
    (status = 201, body = IdentityProviderOut),
))]
#[post(
    "/v1/orgs/{org}/identity-providers",
    wrap = "Require(Action::EditOrgSettings)"
)]
pub async fn create(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<String>,
    body: web::Json<CreateIdentityProviderIn>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let p = state
        .kh
        .create_identity_provider(
            &who.0,
            &path,
            NewIdentityProvider {
                kind: b.kind,
                name: b.name,
                issuer: b.issuer,
                tenant_id: b.tenant_id,
                client_id: b.client_id,
                client_secret: b.client_secret,
                allowed_domains: b.allowed_domains,
                scopes: b.scopes,
                return_urls: b.return_urls,
                mfa_counts: b.mfa_counts,
            },
            &ctx.0,
        )
        .await?;
    Ok(HttpResponse::Created().json(out(p, state.kh.sso_redirect_uri())))
}

/// A8: one identity provider.
#[utoipa::path(tag = "sso", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 200, body = IdentityProviderOut),
))]
#[get(
    "/v1/orgs/{org}/identity-providers/{id}",
    wrap = "Require(Action::ReadOrgSettings)"
)]
pub async fn get_one(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<web::Json<IdentityProviderOut>> {
    let (org, id) = path.into_inner();
    let p = state
        .kh
        .identity_provider(&who.0, &org, IdentityProviderId(id))
        .await?;
    Ok(web::Json(out(p, state.kh.sso_redirect_uri())))
}

/// A8: change a provider (what is given changes; the kind stays).
#[utoipa::path(tag = "sso", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), request_body = PatchIdentityProviderIn, responses(
    (status = 200, body = IdentityProviderOut),
))]
#[patch(
    "/v1/orgs/{org}/identity-providers/{id}",
    wrap = "Require(Action::EditOrgSettings)"
)]
pub async fn update(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
    body: web::Json<PatchIdentityProviderIn>,
) -> ApiResult<web::Json<IdentityProviderOut>> {
    let (org, id) = path.into_inner();
    let b = body.into_inner();
    let p = state
        .kh
        .update_identity_provider(
            &who.0,
            &org,
            IdentityProviderId(id),
            IdentityProviderPatch {
                name: b.name,
                issuer: b.issuer,
                tenant_id: b.tenant_id,
                client_id: b.client_id,
                client_secret: b.client_secret,
                allowed_domains: b.allowed_domains,
                scopes: b.scopes,
                return_urls: b.return_urls,
                mfa_counts: b.mfa_counts,
            },
            &ctx.0,
        )
        .await?;
    Ok(web::Json(out(p, state.kh.sso_redirect_uri())))
}

/// A8: remove a provider and its links. Refused (409 `last_admin`) while passwords are off and
/// no admin could sign in without it.
#[utoipa::path(tag = "sso", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 204),
))]
#[delete(
    "/v1/orgs/{org}/identity-providers/{id}",
    wrap = "Require(Action::EditOrgSettings)"
)]
pub async fn remove(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    state
        .kh
        .delete_identity_provider(&who.0, &org, IdentityProviderId(id), &ctx.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StartQuery {
    /// Where the sign-in ends (under one of the provider's `return_urls`): with `sso_code` to
    /// trade at `POST /v1/auth/sso/exchange`, or `error` (a problem code).
    pub return_to: String,
    /// A frontend that trades the code from a server (without the browser's cookie) ties it
    /// to a secret of its own instead: the PKCE S256 challenge of a verifier it then sends to
    /// the exchange as `code_verifier`.
    pub code_challenge: Option<String>,
    /// `S256`, the only method (with `code_challenge`).
    pub code_challenge_method: Option<String>,
}

/// A8: start a sign-in: 303 to the provider (authorization code flow, PKCE S256, `state` and
/// `nonce`), with a short-lived cookie that binds the flow to this browser.
#[utoipa::path(tag = "sso", params(("org" = String, Path, description = "The org's slug"), ("provider_id" = Uuid, Path), StartQuery), responses(
    (status = 303, description = "To the provider's authorization endpoint"),
    (status = 502, description = "`identity_provider_unavailable`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/v1/auth/sso/{org}/{provider_id}/start")]
pub async fn start(
    state: web::Data<ApiState>,
    path: web::Path<(String, Uuid)>,
    q: web::Query<StartQuery>,
) -> ApiResult<HttpResponse> {
    let (org, provider) = path.into_inner();
    if q.code_challenge_method
        .as_deref()
        .is_some_and(|m| m != "S256")
        || (q.code_challenge_method.is_some() && q.code_challenge.is_none())
    {
        return Err(DomainError::field(
            "code_challenge_method",
            "unsupported",
            "S256, with a code_challenge",
        )
        .into());
    }
    let started = state
        .kh
        .sso_start(
            &org,
            IdentityProviderId(provider),
            &q.return_to,
            q.code_challenge.as_deref(),
        )
        .await?;
    let secure = if state.kh.sso_redirect_uri().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", started.location))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Set-Cookie",
            format!(
                "{COOKIE}={}; Path=/v1/auth/sso; Max-Age=600; HttpOnly; SameSite=Lax{secure}",
                started.browser_secret
            ),
        ))
        .finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub state: Option<String>,
    pub code: Option<String>,
    /// The provider's refusal (`access_denied`, …).
    pub error: Option<String>,
    /// RFC 9207: the issuer of the response; when given, it must be the flow's provider's.
    pub iss: Option<String>,
}

/// The flow's cookie, if the browser sent it (bounded: a long or odd header is no cookie).
fn flow_cookie(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get("cookie")?.to_str().ok()?;
    if header.len() > 8192 {
        return None;
    }
    header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// A8: the provider's answer. An unknown, spent or foreign `state` is refused here (400
/// `sso_invalid_state`); otherwise 303 to the flow's `return_to` with `sso_code` (one use, a
/// minute) or `error` (`sso_account_not_linked`, `sso_account_deactivated`,
/// `sso_account_pending`, `sso_nonce_mismatch`, `sso_issuer_mismatch`, `sso_code_rejected`, `sso_id_token_expired`,
/// `sso_invalid_id_token`, `sso_domain_not_allowed`, `sso_provider_error`,
/// `identity_provider_unavailable`).
#[utoipa::path(tag = "sso", params(CallbackQuery), responses(
    (status = 303, description = "To the flow's return_to, with sso_code or error"),
    (status = 400, description = "`sso_invalid_state`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/v1/auth/sso/callback")]
pub async fn callback(
    state: web::Data<ApiState>,
    ctx: Ctx,
    req: HttpRequest,
    q: web::Query<CallbackQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let location = state
        .kh
        .sso_callback(
            SsoCallback {
                state: q.state,
                code: q.code,
                error: q.error,
                iss: q.iss,
            },
            flow_cookie(&req).as_deref(),
            &ctx.0,
        )
        .await?;
    // The cookie stays: the exchange shows it (the code is tied to this browser).
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeIn {
    /// The `sso_code` the callback sent the frontend.
    #[schema(max_length = 256)]
    pub code: String,
    /// The Keyholder authenticator code (or a recovery code) when the provider's MFA does not
    /// count as the second factor (G2).
    #[schema(max_length = 64)]
    pub totp_code: Option<String>,
    /// The verifier of the `code_challenge` the sign-in was started with (a server-side
    /// frontend); otherwise the browser's flow cookie must come with the request.
    #[schema(min_length = 43, max_length = 128)]
    pub code_verifier: Option<String>,
}

/// A8: trade the one-time code for the tokens a password login answers.
///
/// The code is tied to the browser that signed in (its flow cookie, sent by a same-site `fetch`) or to the
/// frontend's `code_verifier`; without either it is unknown (and stays for its owner).
#[utoipa::path(tag = "sso", request_body = ExchangeIn, responses(
    (status = 200, body = crate::dto::TokenOut),
    (status = 400, description = "`sso_invalid_code` (unknown, used, expired, or shown without its cookie or verifier)", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "`invalid_second_factor`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`sso_account_deactivated`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/v1/auth/sso/exchange")]
pub async fn exchange(
    state: web::Data<ApiState>,
    ctx: Ctx,
    req: HttpRequest,
    body: web::Json<ExchangeIn>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let pair = state
        .kh
        .sso_exchange(
            &SsoExchange {
                code: body.code,
                totp_code: body.totp_code,
                code_verifier: body.code_verifier,
            },
            flow_cookie(&req).as_deref(),
            &ctx.0,
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Set-Cookie",
            format!("{COOKIE}=; Path=/v1/auth/sso; Max-Age=0; HttpOnly; SameSite=Lax"),
        ))
        .json(crate::dto::TokenOut::from(pair)))
}
