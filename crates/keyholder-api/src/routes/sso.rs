//! A8: single sign-on. An org's identity providers (kept by an admin with
//! `admin.manage_system`), and the three steps of a sign-in: start (a redirect to the
//! provider), callback (the provider's answer; a redirect to the frontend with a one-time
//! code), exchange (the code for the tokens a password login answers). Tokens never travel in
//! a URL.

use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Ctx, Require};
use crate::state::ApiState;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use keyholder_domain::ids::{IdentityProviderId, UserId};
use keyholder_domain::policy::Action;
use keyholder_domain::services::{
    IdentityProviderPatch, NewIdentityProvider, SsoCallback, SsoExchange, SsoLinkView,
};
use keyholder_domain::sso::IdentityProvider;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The browser's cookie that binds a flow to the browser that started it.
const COOKIE: &str = "kh_sso";
/// The same over HTTPS, bound to this host alone.
const HOST_COOKIE: &str = "__Host-kh_sso";

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
    let started = state
        .kh
        .sso_start(&org, IdentityProviderId(provider), &q.return_to)
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", started.location))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Set-Cookie",
            flow_cookie_header(&state, &started.browser_secret, 600),
        ))
        .finish())
}

/// The cookie that ties a flow to the browser. Over HTTPS it is `__Host-` (Secure, the whole
/// host, no `Domain`): a sibling subdomain cannot plant one of its own. Plain HTTP (a
/// loopback test setup) keeps the unprefixed name, which browsers require there.
fn flow_cookie_header(state: &ApiState, secret: &str, max_age: u32) -> String {
    if https(state) {
        format!("{HOST_COOKIE}={secret}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax")
    } else {
        format!("{COOKIE}={secret}; Path=/v1/auth/sso; Max-Age={max_age}; HttpOnly; SameSite=Lax")
    }
}

fn https(state: &ApiState) -> bool {
    state.kh.sso_redirect_uri().starts_with("https://")
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
fn flow_cookie(state: &ApiState, req: &HttpRequest) -> Option<String> {
    let name = if https(state) { HOST_COOKIE } else { COOKIE };
    let header = req.headers().get("cookie")?.to_str().ok()?;
    if header.len() > 8192 {
        return None;
    }
    header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

/// A8: the provider's answer. An unknown, spent or foreign `state` is refused here (400
/// `sso_invalid_state`); otherwise 303 to the flow's `return_to` with `sso_code` (one use, a
/// minute) or `error` (`sso_account_not_linked`, `sso_account_deactivated`,
/// `sso_account_pending`, `sso_nonce_mismatch`, `sso_issuer_mismatch`, `sso_code_rejected`, `sso_id_token_expired`,
/// `sso_invalid_id_token`, `sso_domain_not_allowed`, `sso_provider_error`,
/// `identity_provider_unavailable`). A linking flow (`POST /v1/me/sso-links`) ends with
/// `sso_linked=<provider id>`, or `error` `sso_identity_in_use`, `sso_already_linked` or
/// `sso_link_exists` (two flows raced).
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
            flow_cookie(&state, &req).as_deref(),
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
}

/// A8: trade the one-time code for the tokens a password login answers.
///
/// The code is tied to the browser that signed in: the request must carry its flow cookie (a
/// same-origin `fetch` from that browser sends it); without it the code is unknown (and stays
/// for its owner).
#[utoipa::path(tag = "sso", request_body = ExchangeIn, responses(
    (status = 200, body = crate::dto::TokenOut),
    (status = 400, description = "`sso_invalid_code` (unknown, used, expired, or shown without its cookie)", body = Problem, content_type = "application/problem+json"),
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
            },
            flow_cookie(&state, &req).as_deref(),
            &ctx.0,
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Set-Cookie", flow_cookie_header(&state, "", 0)))
        .json(crate::dto::TokenOut::from(pair)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkStartIn {
    pub provider_id: Uuid,
    /// Where the flow ends (under one of the provider's `return_urls`), with
    /// `sso_linked=<provider id>` or `error` (a problem code).
    #[schema(max_length = 2048)]
    pub return_to: String,
    /// A stolen session alone adds no way in.
    #[schema(max_length = 1024)]
    pub current_password: String,
}

/// Where to send the browser to link its account.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkStartOut {
    /// The provider's authorization URL: navigate the browser (the one that called) there.
    pub location: String,
}

/// An account's link to an identity provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct SsoLinkOut {
    pub provider_id: Uuid,
    pub provider_name: String,
    /// `entra`, `google` or `oidc`.
    pub provider_kind: String,
    /// The provider's `sub` for the account.
    pub subject: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<SsoLinkView> for SsoLinkOut {
    fn from(l: SsoLinkView) -> SsoLinkOut {
        SsoLinkOut {
            provider_id: l.provider_id.0,
            provider_name: l.provider_name,
            provider_kind: l.provider_kind.as_str().to_owned(),
            subject: l.subject,
            created_at: l.created_at,
        }
    }
}

crate::dto::list_of!(
    /// An account's links to identity providers, oldest first.
    SsoLinkList,
    SsoLinkOut
);

/// A8: link the caller's account to an identity provider account (for providers that do not
/// provision over SCIM, such as Google Workspace).
///
/// Answers where to send the browser, with the flow's cookie: call it from the browser itself
/// (a same-origin `fetch`), then navigate there. The flow ends at `return_to` with
/// `sso_linked=<provider id>` (the account's address is told), or `error`:
/// `sso_identity_in_use`, `sso_already_linked`, `sso_domain_not_allowed`, or a sign-in's.
#[utoipa::path(tag = "sso", security(("bearer" = [])), request_body = LinkStartIn, responses(
    (status = 200, body = LinkStartOut),
    (status = 403, description = "`second_factor_required` (a key is enrolled and this session did not prove it), `password_change_required`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such provider in the caller's org", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`no_password`: the account has none to confirm the link with", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`current_password` (wrong_password), `return_to` (not_allowed)", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`account_locked` (wrong passwords count toward the lock, A2)", body = Problem, content_type = "application/problem+json"),
    (status = 502, description = "`identity_provider_unavailable`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/v1/me/sso-links", wrap = "Require(Action::ManageOwnSecondFactor)")]
pub async fn link_start(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    body: web::Json<LinkStartIn>,
) -> ApiResult<HttpResponse> {
    let started = state
        .kh
        .sso_link_start(
            &who.0,
            IdentityProviderId(body.provider_id),
            &body.return_to,
            &body.current_password,
            &ctx.0,
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Set-Cookie",
            flow_cookie_header(&state, &started.browser_secret, 600),
        ))
        .json(LinkStartOut {
            location: started.location,
        }))
}

/// A8: the caller's links to identity providers.
#[utoipa::path(tag = "sso", security(("bearer" = [])), params(crate::dto::PageQuery), responses(
    (status = 200, body = SsoLinkList),
))]
#[get("/v1/me/sso-links", wrap = "Require(Action::ReadOwnAccount)")]
pub async fn own_links(
    state: web::Data<ApiState>,
    who: Authed,
    q: crate::filters::Filters<crate::dto::PageQuery>,
) -> ApiResult<web::Json<SsoLinkList>> {
    let links = state.kh.own_sso_links(&who.0).await?;
    let page = keyholder_domain::services::Page::of(links, q.page, q.per_page)?;
    Ok(web::Json(page.into()))
}

/// A8: remove the caller's link to a provider (G5: not an admin's last way in while passwords
/// are off).
#[utoipa::path(tag = "sso", security(("bearer" = [])), params(("provider_id" = Uuid, Path)), responses(
    (status = 204),
    (status = 403, description = "`second_factor_required` (a key is enrolled and this session did not prove it)", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`last_admin`", body = Problem, content_type = "application/problem+json"),
))]
#[delete(
    "/v1/me/sso-links/{provider_id}",
    wrap = "Require(Action::ManageOwnSecondFactor)"
)]
pub async fn remove_own_link(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state
        .kh
        .remove_own_sso_link(&who.0, IdentityProviderId(path.into_inner()), &ctx.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A8: an account's links to identity providers.
#[utoipa::path(tag = "sso", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), crate::dto::PageQuery), responses(
    (status = 200, body = SsoLinkList),
))]
#[get(
    "/v1/orgs/{org}/users/{id}/sso-links",
    wrap = "Require(Action::ReadUser)"
)]
pub async fn user_links(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<(String, Uuid)>,
    q: crate::filters::Filters<crate::dto::PageQuery>,
) -> ApiResult<web::Json<SsoLinkList>> {
    let (org, id) = path.into_inner();
    let links = state.kh.user_sso_links(&who.0, &org, UserId(id)).await?;
    let page = keyholder_domain::services::Page::of(links, q.page, q.per_page)?;
    Ok(web::Json(page.into()))
}

/// A8: remove an account's link to a provider (a wrong link, a provider account that changed
/// hands). The account links again by SCIM's `externalId` or by its owner.
#[utoipa::path(tag = "sso", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), ("provider_id" = Uuid, Path)), responses(
    (status = 204),
    (status = 409, description = "`last_admin`", body = Problem, content_type = "application/problem+json"),
))]
#[delete(
    "/v1/orgs/{org}/users/{id}/sso-links/{provider_id}",
    wrap = "Require(Action::EditUser)"
)]
pub async fn remove_user_link(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id, provider) = path.into_inner();
    state
        .kh
        .remove_user_sso_link(
            &who.0,
            &org,
            UserId(id),
            IdentityProviderId(provider),
            &ctx.0,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
