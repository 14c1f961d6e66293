//! Issue 16: the permissions of other products, registered by a service key with scope
//! `catalogue` (a governors' portal registers `governors.content.create`, …). User groups
//! grant them in `system_permissions` like the built-in ones; `access/check` and
//! `check-batch` decide them.

use crate::dto::PermissionOut;
use crate::error::{ApiResult, Problem};
use crate::guard::{Ctx, Require, ServiceAuthed};
use crate::state::ApiState;
use actix_web::{HttpResponse, delete, get, post, web};
use keyholder_domain::DomainError;
use keyholder_domain::permission::{Level, RegisteredPermission};
use keyholder_domain::policy::Action;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisteredPermissionIn {
    /// `product.area.action`: lower-case segments of letters, digits and `_`, not in a
    /// namespace of the built-in catalogue (`students.`, `admin.`…).
    #[schema(max_length = 100, pattern = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")]
    pub key: String,
    /// `high` (needs a session with a proven second factor, G2) or `low`.
    #[schema(value_type = String, pattern = "^(high|low)$")]
    pub level: String,
    #[schema(min_length = 1, max_length = 500)]
    pub description: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterPermissionsIn {
    /// 1 to 200 permissions; each key once.
    #[schema(min_items = 1, max_items = 200)]
    pub permissions: Vec<RegisteredPermissionIn>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredOut {
    #[serde(flatten)]
    pub permission: PermissionOut,
    /// Registered by this call (false: it was, and its level or description may have changed).
    pub created: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredList {
    pub items: Vec<RegisteredOut>,
}

crate::dto::list_of!(
    /// The permissions registered in the org's catalogue, by key.
    RegisteredPage,
    PermissionOut
);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegisteredQuery {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// Registers the product's permissions in the org's catalogue, or writes the level and
/// description of ones already there (the same call twice changes nothing the second time). A
/// level change reaches every group that grants the permission at once (G2), each group's
/// change audited. A permission another product's key registered is refused (403 A7) while
/// that service account lives. Audited.
#[utoipa::path(tag = "integrations", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug")), request_body = RegisterPermissionsIn, responses(
    (status = 200, body = RegisteredList),
    (status = 403, description = "`permission_denied` (rule A7: the key lacks `catalogue`)", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`validation_failed`: a key malformed, repeated or in a built-in namespace; a level not `high`/`low`; a description empty or over 500; more than 200, or more than 500 in the org", body = Problem, content_type = "application/problem+json"),
))]
#[post(
    "/v1/orgs/{org}/catalogue/permissions",
    wrap = "Require(Action::ManageCatalogue)"
)]
pub async fn register(
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    path: web::Path<String>,
    body: web::Json<RegisterPermissionsIn>,
) -> ApiResult<web::Json<RegisteredList>> {
    let mut errors = Vec::new();
    let mut items = Vec::new();
    for (i, p) in body.into_inner().permissions.into_iter().enumerate() {
        let level = match p.level.as_str() {
            "high" => Level::High,
            "low" => Level::Low,
            _ => {
                errors.push(keyholder_domain::FieldError::new(
                    &format!("permissions[{i}].level"),
                    "invalid_level",
                    "`high` or `low`",
                ));
                continue;
            }
        };
        items.push(RegisteredPermission {
            key: p.key,
            level,
            description: p.description,
            registered_by: Some(who.0.account_id),
        });
    }
    if !errors.is_empty() {
        errors.truncate(20);
        return Err(DomainError::Validation(errors).into());
    }
    let done = state
        .kh
        .register_permissions(&who.0, &path, items, &ctx.0)
        .await?;
    Ok(web::Json(RegisteredList {
        items: done
            .into_iter()
            .map(|(p, created)| RegisteredOut {
                permission: PermissionOut::registered(p),
                created,
            })
            .collect(),
    }))
}

/// The permissions registered in the org's catalogue (any product's), by key.
#[utoipa::path(tag = "integrations", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), RegisteredQuery), responses(
    (status = 200, body = RegisteredPage),
))]
#[get(
    "/v1/orgs/{org}/catalogue/permissions",
    wrap = "Require(Action::ManageCatalogue)"
)]
pub async fn list(
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    path: web::Path<String>,
    q: crate::filters::Filters<RegisteredQuery>,
) -> ApiResult<web::Json<RegisteredPage>> {
    let all = state.kh.list_registered_permissions(&who.0, &path).await?;
    let page = keyholder_domain::services::Page::of(all, q.page, q.per_page)?
        .map(PermissionOut::registered);
    Ok(web::Json(page.into()))
}

/// Takes a registered permission out of the catalogue. Refused while a group grants it (409
/// `permission_in_use`, naming the groups). Audited.
#[utoipa::path(tag = "integrations", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("key" = String, Path)), responses(
    (status = 204, description = "Unregistered"),
    (status = 409, description = "`permission_in_use`: a group grants it", body = Problem, content_type = "application/problem+json"),
))]
#[delete(
    "/v1/orgs/{org}/catalogue/permissions/{key}",
    wrap = "Require(Action::ManageCatalogue)"
)]
pub async fn unregister(
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (org, key) = path.into_inner();
    state
        .kh
        .unregister_permission(&who.0, &org, &key, &ctx.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
