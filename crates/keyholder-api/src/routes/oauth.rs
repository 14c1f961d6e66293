//! A9: token introspection (RFC 7662) for the services around Keyholder.

use crate::error::{ApiResult, Problem};
use crate::guard::{Require, ServiceAuthed};
use crate::state::ApiState;
use actix_web::{HttpResponse, post, web};
use keyholder_domain::policy::Action;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// RFC 7662 §2.1, as a form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct IntrospectIn {
    /// The access token to ask about. Other parameters (`token_type_hint`) are accepted and
    /// ignored: only access tokens are ever active.
    #[schema(max_length = 8192)]
    pub token: String,
}

/// RFC 7662 §2.2. An inactive token answers `{"active": false}` and nothing else.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntrospectOut {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// The user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_slug: Option<String>,
    /// The session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// How the session was opened (RFC 8176).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// Whether the session proved a second factor (G2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second_factor: Option<bool>,
}

/// A9: is this access token live right now, and whose is it? For a service key with scope
/// `decisions`, of the key's org. Checked against the database's facts as any request is (U5):
/// a logout, deactivation or ended session makes it inactive on the very next call. A token of
/// another org, a refresh token, an expired or forged one: `{"active": false}`.
#[utoipa::path(tag = "integrations", security(("service_key" = [])),
    request_body(content = IntrospectIn, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = IntrospectOut),
        (status = 400, description = "`malformed_body` (no `token`, or not a form)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied` (rule A7: the key lacks `decisions`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[post("/v1/oauth/introspect", wrap = "Require(Action::Introspect)")]
pub async fn introspect(
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    body: web::Form<IntrospectIn>,
) -> ApiResult<HttpResponse> {
    let found = state.kh.introspect(&who.0, &body.token).await?;
    let out = match found {
        Some((subject, claims)) => IntrospectOut {
            active: true,
            token_type: Some("Bearer".into()),
            sub: Some(claims.sub.0),
            org: Some(claims.org.0),
            org_slug: Some(claims.org_slug),
            sid: Some(claims.sid.0),
            iss: Some(claims.iss),
            aud: Some(claims.aud),
            iat: Some(claims.iat),
            exp: Some(claims.exp),
            amr: Some(claims.amr),
            second_factor: Some(subject.second_factor),
        },
        None => IntrospectOut {
            active: false,
            token_type: None,
            sub: None,
            org: None,
            org_slug: None,
            sid: None,
            iss: None,
            aud: None,
            iat: None,
            exp: None,
            amr: None,
            second_factor: None,
        },
    };
    // RFC 7662 §4: the answer is not to be cached.
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(out))
}
