//! The SCIM endpoints. Every one is guarded by the `scim` scope (A7); the service account's
//! key is the only door, and its creator's permissions bound what it hands out (G4).

use super::error::{ScimError, ScimResult};
use super::{CONTENT_TYPE, ENTERPRISE_SCHEMA, base, discovery, patch as scim_patch, repr};
use crate::guard::{Ctx, IfMatch, Require, ServiceAuthed};
use crate::state::ApiState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use keyholder_domain::policy::Action;
use keyholder_domain::services::{ScimFilter, parse_filter};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ScimQuery {
    /// e.g. `userName eq "a.b@school.org"`: eq, ne, co, sw, ew, pr, and, or, not.
    pub filter: Option<String>,
    /// 1-based; below 1 reads as 1 (RFC 7644 §3.4.2.4).
    #[param(value_type = Option<i64>)]
    pub start_index: Option<String>,
    /// At most 200 (more reads as 200, below 0 as 0); 100 by default.
    #[param(value_type = Option<i64>)]
    pub count: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

fn split(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .map(|s| {
            s.split(',')
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn json_response(
    status: StatusCode,
    body: &Value,
    version: Option<String>,
    location: Option<String>,
) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.content_type(CONTENT_TYPE);
    if let Some(v) = version {
        res.insert_header(("ETag", v));
    }
    if let Some(l) = location {
        res.insert_header(("Location", l));
    }
    res.body(body.to_string())
}

fn body_json(bytes: &web::Bytes) -> ScimResult<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| ScimError::bad("invalidSyntax", format!("the body is not JSON: {e}")))
}

/// An integer parameter as a client wrote it: any integer, however large, is read (saturated
/// to the i64 range, the window then clamps it); anything else is a 400 `invalidValue`.
fn scim_int(name: &str, raw: Option<&Value>) -> ScimResult<Option<i64>> {
    let bad = || ScimError::bad("invalidValue", format!("{name} is an integer"));
    let text = match raw {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(i));
            }
            if n.as_u64().is_some() {
                return Ok(Some(i64::MAX));
            }
            n.to_string()
        }
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(_) => return Err(bad()),
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    Ok(Some(match digits.parse::<i64>() {
        Ok(i) if negative => -i,
        Ok(i) => i,
        Err(_) if negative => i64::MIN,
        Err(_) => i64::MAX,
    }))
}

/// The window a list asks for: `startIndex` and `count` read leniently, then clamped.
fn window(
    start_index: Option<&Value>,
    count: Option<&Value>,
    default_count: i64,
) -> ScimResult<(u64, u64)> {
    let start = scim_int("startIndex", start_index)?;
    let count = scim_int("count", count)?.unwrap_or(default_count);
    Ok(keyholder_domain::services::scim_window(start, count))
}

fn query_window(q: &ScimQuery) -> ScimResult<(u64, u64)> {
    let as_value = |s: &Option<String>| s.clone().map(Value::String);
    window(
        as_value(&q.start_index).as_ref(),
        as_value(&q.count).as_ref(),
        100,
    )
}

fn filter(q: &ScimQuery, user: bool) -> ScimResult<Option<ScimFilter>> {
    q.filter
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(|f| parse_filter(f, user))
        .transpose()
        .map_err(Into::into)
}

/// `If-Match: W/"3"` on a write (412 when stale).
fn if_match(m: IfMatch) -> Option<i64> {
    m.0
}

/// What this SCIM server supports.
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug")), responses((status = 200, description = "ServiceProviderConfig")))]
#[get("/scim/v2/{org}/ServiceProviderConfig", wrap = "Require(Action::Scim)")]
pub async fn scim_service_provider_config(
    req: HttpRequest,
    _who: ServiceAuthed,
    path: web::Path<String>,
) -> HttpResponse {
    json_response(
        StatusCode::OK,
        &discovery::service_provider_config(&base(&req, &path)),
        None,
        None,
    )
}

/// The resource types: User (with the EnterpriseUser extension) and Group.
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug")), responses((status = 200, description = "ListResponse of ResourceTypes")))]
#[get("/scim/v2/{org}/ResourceTypes", wrap = "Require(Action::Scim)")]
pub async fn scim_resource_types(
    req: HttpRequest,
    _who: ServiceAuthed,
    path: web::Path<String>,
) -> HttpResponse {
    json_response(
        StatusCode::OK,
        &discovery::list_all(discovery::resource_types(&base(&req, &path))),
        None,
        None,
    )
}

/// One resource type.
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = String, Path)), responses((status = 200, description = "ResourceType"), (status = 404, description = "SCIM Error")))]
#[get("/scim/v2/{org}/ResourceTypes/{id}", wrap = "Require(Action::Scim)")]
pub async fn scim_resource_type(
    req: HttpRequest,
    _who: ServiceAuthed,
    path: web::Path<(String, String)>,
) -> ScimResult<HttpResponse> {
    let (org, id) = path.into_inner();
    discovery::resource_types(&base(&req, &org))
        .into_iter()
        .find(|r| r["id"].as_str() == Some(id.as_str()))
        .map(|r| json_response(StatusCode::OK, &r, None, None))
        .ok_or_else(ScimError::not_found)
}

/// The schemas of User, EnterpriseUser and Group: exactly the attributes stored.
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug")), responses((status = 200, description = "ListResponse of Schemas")))]
#[get("/scim/v2/{org}/Schemas", wrap = "Require(Action::Scim)")]
pub async fn scim_schemas(
    req: HttpRequest,
    _who: ServiceAuthed,
    path: web::Path<String>,
) -> HttpResponse {
    json_response(
        StatusCode::OK,
        &discovery::list_all(discovery::schemas(&base(&req, &path))),
        None,
        None,
    )
}

/// One schema.
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = String, Path)), responses((status = 200, description = "Schema"), (status = 404, description = "SCIM Error")))]
#[get("/scim/v2/{org}/Schemas/{id}", wrap = "Require(Action::Scim)")]
pub async fn scim_schema(
    req: HttpRequest,
    _who: ServiceAuthed,
    path: web::Path<(String, String)>,
) -> ScimResult<HttpResponse> {
    let (org, id) = path.into_inner();
    discovery::schemas(&base(&req, &org))
        .into_iter()
        .find(|s| s["id"].as_str() == Some(id.as_str()))
        .map(|s| json_response(StatusCode::OK, &s, None, None))
        .ok_or_else(ScimError::not_found)
}

/// Users, newest first, filtered in the query.
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ScimQuery), responses((status = 200, description = "ListResponse of Users"), (status = 400, description = "SCIM Error (invalidFilter)")))]
#[get("/scim/v2/{org}/Users", wrap = "Require(Action::Scim)")]
pub async fn list_users(
    req: HttpRequest,
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    path: web::Path<String>,
    q: web::Query<ScimQuery>,
) -> ScimResult<HttpResponse> {
    let q = q.into_inner();
    let f = filter(&q, true)?;
    let (start, count) = query_window(&q)?;
    let (users, total) = state
        .kh
        .scim_list_users(&who.0, &path, f.as_ref(), start, count)
        .await?;
    let b = base(&req, &path);
    let (inc, exc) = (split(&q.attributes), split(&q.excluded_attributes));
    let items = users
        .iter()
        .map(|u| repr::project(repr::user_json(u, &b), &inc, &exc))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &repr::list(items, total, start),
        None,
        None,
    ))
}

/// Provision an account; it joins the org's SCIM group (settings `scim_user_group_id`).
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug")), request_body(content = std::collections::HashMap<String, serde_json::Value>, content_type = "application/scim+json", description = "A SCIM resource or PATCH request (RFC 7643, RFC 7644)"), responses((status = 201, description = "User"), (status = 400, description = "SCIM Error"), (status = 409, description = "SCIM Error (uniqueness)")))]
#[post("/scim/v2/{org}/Users", wrap = "Require(Action::Scim)")]
pub async fn create_user(
    req: HttpRequest,
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    path: web::Path<String>,
    body: web::Bytes,
) -> ScimResult<HttpResponse> {
    let input = repr::user_input(&body_json(&body)?)?;
    let view = state
        .kh
        .scim_create_user(&who.0, &path, input, &ctx.0)
        .await?;
    let b = base(&req, &path);
    let v = repr::user_json(&view, &b);
    Ok(json_response(
        StatusCode::CREATED,
        &v,
        Some(repr::version(view.user.version)),
        Some(format!("{b}/Users/{}", view.user.id)),
    ))
}

/// One account.
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = String, Path), ScimQuery), responses((status = 200, description = "User"), (status = 404, description = "SCIM Error")))]
#[get("/scim/v2/{org}/Users/{id}", wrap = "Require(Action::Scim)")]
pub async fn get_user(
    req: HttpRequest,
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    path: web::Path<(String, String)>,
    q: web::Query<ScimQuery>,
) -> ScimResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let view = state
        .kh
        .scim_get_user(&who.0, &org, repr::user_id(&id)?)
        .await?;
    let v = repr::project(
        repr::user_json(&view, &base(&req, &org)),
        &split(&q.attributes),
        &split(&q.excluded_attributes),
    );
    Ok(json_response(
        StatusCode::OK,
        &v,
        Some(repr::version(view.user.version)),
        None,
    ))
}

/// Replace an account's SCIM attributes (`active: false` deactivates it: U5).
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body(content = std::collections::HashMap<String, serde_json::Value>, content_type = "application/scim+json", description = "A SCIM resource or PATCH request (RFC 7643, RFC 7644)"), responses((status = 200, description = "User"), (status = 404, description = "SCIM Error"), (status = 412, description = "SCIM Error")))]
#[put("/scim/v2/{org}/Users/{id}", wrap = "Require(Action::Scim)")]
pub async fn replace_user(
    req: HttpRequest,
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    m: IfMatch,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> ScimResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let input = repr::user_input(&body_json(&body)?)?;
    let view = state
        .kh
        .scim_replace_user(
            &who.0,
            &org,
            repr::user_id(&id)?,
            input,
            if_match(m),
            &ctx.0,
        )
        .await?;
    let v = repr::user_json(&view, &base(&req, &org));
    Ok(json_response(
        StatusCode::OK,
        &v,
        Some(repr::version(view.user.version)),
        None,
    ))
}

/// The writable part of a User's current representation, for PATCH.
fn user_document(v: &Value) -> Value {
    let mut doc = v.clone();
    if let Value::Object(m) = &mut doc {
        for k in ["schemas", "id", "meta", "groups"] {
            m.remove(k);
        }
    }
    doc
}

/// PATCH (add, remove, replace; Entra ID's `active` and `emails[type eq "work"].value` included).
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = String, Path)), request_body(content = std::collections::HashMap<String, serde_json::Value>, content_type = "application/scim+json", description = "A SCIM resource or PATCH request (RFC 7643, RFC 7644)"), responses((status = 204), (status = 400, description = "SCIM Error"), (status = 404, description = "SCIM Error")))]
#[patch("/scim/v2/{org}/Users/{id}", wrap = "Require(Action::Scim)")]
pub async fn patch_user(
    req: HttpRequest,
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> ScimResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let id = repr::user_id(&id)?;
    let message = body_json(&body)?;
    let current = state.kh.scim_get_user(&who.0, &org, id).await?;
    let mut doc = user_document(&repr::user_json(&current, &base(&req, &org)));
    scim_patch::apply(&mut doc, &message)?;
    if let Some(Value::Object(e)) = doc.get_mut(ENTERPRISE_SCHEMA) {
        e.remove("schemas");
    }
    let input = repr::user_input(&doc)?;
    let view = state
        .kh
        .scim_replace_user(&who.0, &org, id, input, None, &ctx.0)
        .await?;
    Ok(HttpResponse::NoContent()
        .insert_header(("ETag", repr::version(view.user.version)))
        .finish())
}

/// Deprovision: the account is deactivated and its login details removed; it is gone from
/// SCIM, while the account and its history stay.
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = String, Path)), responses((status = 204), (status = 404, description = "SCIM Error")))]
#[delete("/scim/v2/{org}/Users/{id}", wrap = "Require(Action::Scim)")]
pub async fn delete_user(
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    path: web::Path<(String, String)>,
) -> ScimResult<HttpResponse> {
    let (org, id) = path.into_inner();
    state
        .kh
        .scim_delete_user(&who.0, &org, repr::user_id(&id)?, &ctx.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// User groups, with their members.
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ScimQuery), responses((status = 200, description = "ListResponse of Groups")))]
#[get("/scim/v2/{org}/Groups", wrap = "Require(Action::Scim)")]
pub async fn list_groups(
    req: HttpRequest,
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    path: web::Path<String>,
    q: web::Query<ScimQuery>,
) -> ScimResult<HttpResponse> {
    let q = q.into_inner();
    let f = filter(&q, false)?;
    let (start, count) = query_window(&q)?;
    let (groups, total) = state
        .kh
        .scim_list_groups(&who.0, &path, f.as_ref(), start, count)
        .await?;
    let b = base(&req, &path);
    let (inc, exc) = (split(&q.attributes), split(&q.excluded_attributes));
    let items = groups
        .iter()
        .map(|(g, m)| repr::project(repr::group_json(g, m, &b), &inc, &exc))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &repr::list(items, total, start),
        None,
        None,
    ))
}

/// A user group with no permissions (an admin grants them) and its members (G4, G5).
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug")), request_body(content = std::collections::HashMap<String, serde_json::Value>, content_type = "application/scim+json", description = "A SCIM resource or PATCH request (RFC 7643, RFC 7644)"), responses((status = 201, description = "Group"), (status = 400, description = "SCIM Error"), (status = 409, description = "SCIM Error (uniqueness)")))]
#[post("/scim/v2/{org}/Groups", wrap = "Require(Action::Scim)")]
pub async fn create_group(
    req: HttpRequest,
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    path: web::Path<String>,
    body: web::Bytes,
) -> ScimResult<HttpResponse> {
    let input = repr::group_input(&body_json(&body)?)?;
    let (g, members) = state
        .kh
        .scim_create_group(&who.0, &path, input, &ctx.0)
        .await?;
    let b = base(&req, &path);
    let v = repr::group_json(&g, &members, &b);
    Ok(json_response(
        StatusCode::CREATED,
        &v,
        Some(repr::version(g.version)),
        Some(format!("{b}/Groups/{}", g.id)),
    ))
}

/// One user group.
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = String, Path), ScimQuery), responses((status = 200, description = "Group"), (status = 404, description = "SCIM Error")))]
#[get("/scim/v2/{org}/Groups/{id}", wrap = "Require(Action::Scim)")]
pub async fn get_group(
    req: HttpRequest,
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    path: web::Path<(String, String)>,
    q: web::Query<ScimQuery>,
) -> ScimResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let (g, m) = state
        .kh
        .scim_get_group(&who.0, &org, repr::group_id(&id)?)
        .await?;
    let v = repr::project(
        repr::group_json(&g, &m, &base(&req, &org)),
        &split(&q.attributes),
        &split(&q.excluded_attributes),
    );
    Ok(json_response(
        StatusCode::OK,
        &v,
        Some(repr::version(g.version)),
        None,
    ))
}

/// Replace a group's name and members.
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body(content = std::collections::HashMap<String, serde_json::Value>, content_type = "application/scim+json", description = "A SCIM resource or PATCH request (RFC 7643, RFC 7644)"), responses((status = 200, description = "Group"), (status = 404, description = "SCIM Error"), (status = 412, description = "SCIM Error")))]
#[put("/scim/v2/{org}/Groups/{id}", wrap = "Require(Action::Scim)")]
pub async fn replace_group(
    req: HttpRequest,
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    m: IfMatch,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> ScimResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let input = repr::group_input(&body_json(&body)?)?;
    let (g, members) = state
        .kh
        .scim_replace_group(
            &who.0,
            &org,
            repr::group_id(&id)?,
            input,
            if_match(m),
            &ctx.0,
        )
        .await?;
    let v = repr::group_json(&g, &members, &base(&req, &org));
    Ok(json_response(
        StatusCode::OK,
        &v,
        Some(repr::version(g.version)),
        None,
    ))
}

/// PATCH a group (members added or removed move accounts between groups: G4, G5).
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = String, Path)), request_body(content = std::collections::HashMap<String, serde_json::Value>, content_type = "application/scim+json", description = "A SCIM resource or PATCH request (RFC 7643, RFC 7644)"), responses((status = 204), (status = 400, description = "SCIM Error"), (status = 404, description = "SCIM Error")))]
#[patch("/scim/v2/{org}/Groups/{id}", wrap = "Require(Action::Scim)")]
pub async fn patch_group(
    req: HttpRequest,
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> ScimResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let gid = repr::group_id(&id)?;
    let message = body_json(&body)?;
    let (g, m) = state.kh.scim_get_group(&who.0, &org, gid).await?;
    let mut doc = repr::group_json(&g, &m, &base(&req, &org));
    if let Value::Object(o) = &mut doc {
        for k in ["schemas", "id", "meta"] {
            o.remove(k);
        }
    }
    scim_patch::apply(&mut doc, &message)?;
    let input = repr::group_input(&doc)?;
    let (g, _) = state
        .kh
        .scim_replace_group(&who.0, &org, gid, input, None, &ctx.0)
        .await?;
    Ok(HttpResponse::NoContent()
        .insert_header(("ETag", repr::version(g.version)))
        .finish())
}

/// G3: a group with members, deactivated ones included, stays.
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = String, Path)), responses((status = 204), (status = 404, description = "SCIM Error"), (status = 409, description = "SCIM Error")))]
#[delete("/scim/v2/{org}/Groups/{id}", wrap = "Require(Action::Scim)")]
pub async fn delete_group(
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    path: web::Path<(String, String)>,
) -> ScimResult<HttpResponse> {
    let (org, id) = path.into_inner();
    state
        .kh
        .scim_delete_group(&who.0, &org, repr::group_id(&id)?, &ctx.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchRequest {
    #[serde(default)]
    attributes: Vec<String>,
    #[serde(default)]
    excluded_attributes: Vec<String>,
    filter: Option<String>,
    start_index: Option<Value>,
    count: Option<Value>,
}

/// Search Users and Groups together (RFC 7644 §3.4.3).
#[utoipa::path(tag = "scim", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug")), request_body(content = std::collections::HashMap<String, serde_json::Value>, content_type = "application/scim+json", description = "A SCIM resource or PATCH request (RFC 7643, RFC 7644)"), responses((status = 200, description = "ListResponse")))]
#[post("/scim/v2/{org}/.search", wrap = "Require(Action::Scim)")]
pub async fn scim_search(
    req: HttpRequest,
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    path: web::Path<String>,
    body: web::Bytes,
) -> ScimResult<HttpResponse> {
    let s: SearchRequest = serde_json::from_value(body_json(&body)?)
        .map_err(|e| ScimError::bad("invalidSyntax", e.to_string()))?;
    let b = base(&req, &path);
    let (start, count) = window(
        s.start_index.as_ref(),
        s.count.as_ref(),
        i64::try_from(keyholder_domain::services::SCIM_MAX_COUNT).unwrap_or(200),
    )?;
    let (uf, gf) = match s.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        None => (None, None),
        Some(f) => match (parse_filter(f, true), parse_filter(f, false)) {
            // Neither reading works: the users' reading says why (a bound, or the syntax).
            (Err(e), Err(_)) => return Err(e.into()),
            (u, g) => (u.ok(), g.ok()),
        },
    };
    let mut items = Vec::new();
    let mut total = 0;
    if s.filter.is_none() || uf.is_some() {
        let (users, n) = state
            .kh
            .scim_list_users(&who.0, &path, uf.as_ref(), start, count)
            .await?;
        total += n;
        items.extend(users.iter().map(|u| {
            repr::project(
                repr::user_json(u, &b),
                &s.attributes,
                &s.excluded_attributes,
            )
        }));
    }
    if s.filter.is_none() || gf.is_some() {
        let room = count.saturating_sub(items.len() as u64).max(1);
        let (groups, n) = state
            .kh
            .scim_list_groups(&who.0, &path, gf.as_ref(), 1, room)
            .await?;
        total += n;
        items.extend(groups.iter().map(|(g, m)| {
            repr::project(
                repr::group_json(g, m, &b),
                &s.attributes,
                &s.excluded_attributes,
            )
        }));
    }
    if s.filter.is_some() && uf.is_none() && gf.is_none() {
        return Err(ScimError::bad(
            "invalidFilter",
            "the filter names no attribute of Users or Groups",
        ));
    }
    Ok(json_response(
        StatusCode::OK,
        &repr::list(items, total, start),
        None,
        None,
    ))
}

/// 405 for writes to the discovery endpoints.
pub async fn method_not_allowed() -> HttpResponse {
    let mut res = actix_web::ResponseError::error_response(&ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "this endpoint is read-only",
    ));
    res.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_static("GET"),
    );
    res
}

/// 404 for any other path under the SCIM base.
pub async fn not_found() -> ScimResult<HttpResponse> {
    Err(ScimError::not_found())
}
