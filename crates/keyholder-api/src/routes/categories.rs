//! G1: the org's categories and sub-categories. Any member reads them; admins shape them.

use crate::dto::*;
use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Ctx, IfMatch, Require, etag};
use crate::state::ApiState;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use keyholder_domain::ids::CategoryId;
use keyholder_domain::policy::Action;
use keyholder_domain::services::{CategoryInput, CategoryPatch};
use uuid::Uuid;

fn category_response(status: actix_web::http::StatusCode, c: CategoryOut) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("ETag", etag(c.version)))
        .json(c)
}

crate::dto::list_of!(
    /// The org's categories and sub-categories, parents before children in their order (each
    /// names its `parent_id`).
    CategoryList,
    CategoryOut
);

/// The org's categories and sub-categories, parents before children in their order; the whole
/// tree unless paged (`per_page` defaults to 200 here).
#[utoipa::path(tag = "categories", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), crate::dto::PageQuery), responses(
    (status = 200, body = CategoryList),
    (status = 422, description = "`range` (page, per_page)", body = Problem, content_type = "application/problem+json"),
))]
#[get("/v1/orgs/{org}/categories", wrap = "Require(Action::ListCategories)")]
pub async fn list(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: crate::filters::Filters<crate::dto::PageQuery>,
) -> ApiResult<web::Json<CategoryList>> {
    let cats = state.kh.list_categories(&who.0, &path).await?;
    // The tree is answered whole unless the caller pages it: `per_page` defaults to the most.
    let per_page = q
        .per_page
        .or(Some(keyholder_domain::services::MAX_PER_PAGE));
    let page = keyholder_domain::services::Page::of(cats, q.page, per_page)?;
    Ok(web::Json(page.into()))
}

/// G1: a new category or sub-category (admins). It grants nothing to any group until its flags
/// are set on the groups.
#[utoipa::path(tag = "categories", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug")), request_body = CreateCategoryIn, responses(
    (status = 201, body = CategoryOut, headers(("ETag" = String))),
    (status = 409, description = "`category_name_in_use`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`length`, `unknown_category` (parent_id)", body = Problem, content_type = "application/problem+json"),
))]
#[post("/v1/orgs/{org}/categories", wrap = "Require(Action::EditCategories)")]
pub async fn create(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<String>,
    body: web::Json<CreateCategoryIn>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let input = CategoryInput {
        name: b.name,
        parent_id: b.parent_id.map(CategoryId),
        sensitive: b.sensitive,
    };
    let c = state
        .kh
        .create_category(&who.0, &path, input, &ctx.0)
        .await?;
    Ok(category_response(
        actix_web::http::StatusCode::CREATED,
        c.into(),
    ))
}

/// One category, with its ETag.
#[utoipa::path(tag = "categories", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 200, body = CategoryOut, headers(("ETag" = String))),
))]
#[get(
    "/v1/orgs/{org}/categories/{id}",
    wrap = "Require(Action::ListCategories)"
)]
pub async fn get(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let c = state.kh.get_category(&who.0, &org, CategoryId(id)).await?;
    Ok(category_response(actix_web::http::StatusCode::OK, c.into()))
}

/// G1, G2: rename, move (`parent_id`), reorder (`position`) or mark sensitive (admins).
#[utoipa::path(tag = "categories", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = UpdateCategoryIn, responses(
    (status = 200, body = CategoryOut, headers(("ETag" = String))),
    (status = 409, description = "`category_name_in_use`", body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`length`, `unknown_category`, `cycle`, `range`", body = Problem, content_type = "application/problem+json"),
))]
#[patch(
    "/v1/orgs/{org}/categories/{id}",
    wrap = "Require(Action::EditCategories)"
)]
pub async fn update(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    if_match: IfMatch,
    path: web::Path<(String, Uuid)>,
    body: web::Json<UpdateCategoryIn>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let b = body.into_inner();
    let patch = CategoryPatch {
        name: b.name,
        parent_id: b.parent_id.map(|p| p.map(CategoryId)),
        sensitive: b.sensitive,
        position: b.position,
    };
    let c = state
        .kh
        .update_category(&who.0, &org, CategoryId(id), patch, if_match.0, &ctx.0)
        .await?;
    Ok(category_response(actix_web::http::StatusCode::OK, c.into()))
}

/// G1: delete a category without sub-categories or incidents (admins); the groups' flags,
/// notification preferences and monitoring marks for it go with it.
#[utoipa::path(tag = "categories", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), responses(
    (status = 204),
    (status = 409, description = "`category_in_use`", body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
))]
#[delete(
    "/v1/orgs/{org}/categories/{id}",
    wrap = "Require(Action::EditCategories)"
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
        .delete_category(&who.0, &org, CategoryId(id), if_match.0, &ctx.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
