//! T1, T2: orgs and their settings.

use crate::dto::*;
use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Ctx, OperatorAuth, Require};
use crate::state::ApiState;
use actix_web::{HttpResponse, get, patch, post, web};
use keyholder_domain::policy::Action;
use keyholder_domain::services::{NewOrg, SettingsPatch};

/// T2: a platform operator (bearer = `KEYHOLDER_OPERATOR_KEY`) creates an org with the default
/// categories and groups (G6) and its first admin. An operator key opens nothing inside an org.
#[utoipa::path(tag = "orgs", security(("operator_key" = [])), request_body = CreateOrgIn, responses(
    (status = 201, body = CreatedOrgOut),
    (status = 409, description = "`org_slug_in_use`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/v1/orgs")]
pub async fn create_org(
    operator: OperatorAuth,
    state: web::Data<ApiState>,
    ctx: Ctx,
    body: web::Json<CreateOrgIn>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let created = state
        .kh
        .create_org(
            &operator.0,
            NewOrg {
                slug: b.slug,
                name: b.name,
                admin_email: b.admin_email,
                admin_password: b.admin_password,
            },
            &ctx.0,
        )
        .await?;
    Ok(HttpResponse::Created().json(CreatedOrgOut {
        admin_user_id: created.admin.id.0,
        admin_email: created.admin.email.unwrap_or_default(),
        admin_password: created.generated_password,
        org: created.org.into(),
    }))
}

/// The caller's own org.
#[utoipa::path(tag = "orgs", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug")), responses(
    (status = 200, body = OrgOut),
))]
#[get("/v1/orgs/{org}", wrap = "Require(Action::ReadOrg)")]
pub async fn get_org(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
) -> ApiResult<web::Json<OrgOut>> {
    Ok(web::Json(state.kh.org(&who.0, &path).await?.into()))
}

/// The org's settings (admins).
#[utoipa::path(tag = "orgs", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug")), responses(
    (status = 200, body = SettingsOut),
))]
#[get("/v1/orgs/{org}/settings", wrap = "Require(Action::ReadOrgSettings)")]
pub async fn get_settings(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
) -> ApiResult<web::Json<SettingsOut>> {
    Ok(web::Json(
        state.kh.org_settings(&who.0, &path).await?.into(),
    ))
}

/// Change the org's settings (admins).
#[utoipa::path(tag = "orgs", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug")), request_body = SettingsPatchIn, responses(
    (status = 200, body = SettingsOut),
))]
#[patch("/v1/orgs/{org}/settings", wrap = "Require(Action::EditOrgSettings)")]
pub async fn patch_settings(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<String>,
    body: web::Json<SettingsPatchIn>,
) -> ApiResult<web::Json<SettingsOut>> {
    let b = body.into_inner();
    let patch = SettingsPatch {
        restricted_group_types: b
            .restricted_group_types
            .map(|v| v.into_iter().map(Into::into).collect()),
        several_staff_per_user: b.several_staff_per_user,
        second_factor_for_high_level: b.second_factor_for_high_level,
        scim_user_group_id: b.scim_user_group_id.map(keyholder_domain::ids::GroupId),
        timezone: b.timezone,
        digest_time: b.digest_time,
        password_login: b.password_login.map(Into::into),
    };
    Ok(web::Json(
        state
            .kh
            .update_org_settings(&who.0, &path, patch, &ctx.0)
            .await?
            .into(),
    ))
}
