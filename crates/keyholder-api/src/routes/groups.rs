//! G1, G3, G4, G5: user groups.

use super::group_id;
use crate::dto::*;
use crate::error::{ApiError, ApiResult, Problem};
use crate::guard::{Authed, Ctx, IfMatch, Require, etag};
use crate::state::ApiState;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use keyholder_domain::DomainError;
use keyholder_domain::error::FieldError;
use keyholder_domain::permission::{Permission, PermissionSet};
use keyholder_domain::policy::Action;
use keyholder_domain::services::{GroupInput, GroupListParams, GroupPatch};
use uuid::Uuid;

/// The built-in permissions the keys name, and the keys that may name permissions other
/// products registered (issue 16; the service looks those up in the org's catalogue).
fn permission_set(keys: &[String]) -> Result<(PermissionSet, Vec<String>), ApiError> {
    let most = Permission::ALL.len() + keyholder_domain::permission::MAX_REGISTERED_PER_ORG;
    if keys.len() > most {
        return Err(DomainError::field(
            "system_permissions",
            "length",
            format!("at most {most} permissions"),
        )
        .into());
    }
    let mut errors = Vec::new();
    let mut set = PermissionSet::EMPTY;
    let mut registered = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if errors.len() >= 20 {
            break;
        }
        match Permission::from_key(k) {
            Some(p) => set.insert(p),
            None if keyholder_domain::permission::registered_key_problem(k).is_none() => {
                registered.push(k.clone());
            }
            None => errors.push(FieldError::new(
                &format!("system_permissions[{i}]"),
                "unknown_permission",
                format!("`{k}` is not in the catalogue (GET /v1/permissions)"),
            )),
        }
    }
    if errors.is_empty() {
        Ok((set, registered))
    } else {
        Err(DomainError::Validation(errors).into())
    }
}

fn group_response(status: actix_web::http::StatusCode, g: GroupOut) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("ETag", etag(g.version)))
        .json(g)
}

/// The org's user groups with their member counts.
#[utoipa::path(tag = "user groups", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), GroupListQuery), responses(
    (status = 200, body = GroupPage),
))]
#[get("/v1/orgs/{org}/user-groups", wrap = "Require(Action::ListUserGroups)")]
pub async fn list(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: crate::filters::Filters<GroupListQuery>,
) -> ApiResult<web::Json<GroupPage>> {
    let q = q.into_inner();
    let active = match q.status.as_deref() {
        None | Some("") => None,
        Some("active") => Some(true),
        Some("inactive") => Some(false),
        Some(_) => {
            return Err(
                DomainError::field("status", "unknown_status", "active or inactive").into(),
            );
        }
    };
    let page = state
        .kh
        .list_groups(
            &who.0,
            &path,
            GroupListParams {
                q: q.q,
                active,
                page: q.page,
                per_page: q.per_page,
            },
        )
        .await?;
    Ok(web::Json(GroupPage::from(page)))
}

/// G1, G4: a new group; nobody grants what they do not hold.
#[utoipa::path(tag = "user groups", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug")), request_body = CreateGroupIn, responses(
    (status = 201, body = GroupOut),
    (status = 403, description = "`escalation_denied` (G4)", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`group_name_in_use`", body = Problem, content_type = "application/problem+json"),
))]
#[post(
    "/v1/orgs/{org}/user-groups",
    wrap = "Require(Action::CreateUserGroup)"
)]
pub async fn create(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<String>,
    body: web::Json<CreateGroupIn>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let (system_permissions, registered_permissions) = permission_set(&b.system_permissions)?;
    let input = GroupInput {
        name: b.name,
        active: b.status == GroupStatus::Active,
        system_permissions,
        registered_permissions,
        category_permissions: b
            .category_permissions
            .iter()
            .map(CategoryPermission::to_domain)
            .collect(),
    };
    let (g, c) = state.kh.create_group(&who.0, &path, input, &ctx.0).await?;
    Ok(group_response(
        actix_web::http::StatusCode::CREATED,
        GroupOut::new(g, c),
    ))
}

/// One group, with its ETag.
#[utoipa::path(tag = "user groups", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 200, body = GroupOut, headers(("ETag" = String))),
))]
#[get(
    "/v1/orgs/{org}/user-groups/{id}",
    wrap = "Require(Action::ReadUserGroup)"
)]
pub async fn get(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let (g, c) = state.kh.get_group(&who.0, &org, group_id(id)).await?;
    Ok(group_response(
        actix_web::http::StatusCode::OK,
        GroupOut::new(g, c),
    ))
}

/// G1, G4, G5: change a group's name, status or permissions.
#[utoipa::path(tag = "user groups", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = UpdateGroupIn, responses(
    (status = 200, body = GroupOut),
    (status = 409, description = "`group_name_in_use`, `last_admin` (G5)", body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
))]
#[patch(
    "/v1/orgs/{org}/user-groups/{id}",
    wrap = "Require(Action::EditUserGroup)"
)]
pub async fn update(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    if_match: IfMatch,
    path: web::Path<(String, Uuid)>,
    body: web::Json<UpdateGroupIn>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let b = body.into_inner();
    let (system_permissions, registered_permissions) = match b.system_permissions.as_deref() {
        Some(keys) => {
            let (set, registered) = permission_set(keys)?;
            (Some(set), Some(registered))
        }
        None => (None, None),
    };
    let patch = GroupPatch {
        name: b.name,
        active: b.status.map(|s| s == GroupStatus::Active),
        system_permissions,
        registered_permissions,
        category_permissions: b
            .category_permissions
            .map(|v| v.iter().map(CategoryPermission::to_domain).collect()),
    };
    let (g, c) = state
        .kh
        .update_group(&who.0, &org, group_id(id), patch, if_match.0, &ctx.0)
        .await?;
    Ok(group_response(
        actix_web::http::StatusCode::OK,
        GroupOut::new(g, c),
    ))
}

/// G3: delete a group that has no members, deactivated ones included.
#[utoipa::path(tag = "user groups", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), responses(
    (status = 204),
    (status = 409, description = "`group_in_use` with `member_counts`", body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
))]
#[delete(
    "/v1/orgs/{org}/user-groups/{id}",
    wrap = "Require(Action::DeleteUserGroup)"
)]
pub async fn remove(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    if_match: IfMatch,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    state
        .kh
        .delete_group(&who.0, &org, group_id(id), if_match.0, &ctx.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
