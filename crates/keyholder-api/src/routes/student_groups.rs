//! Issue 13 (7): student groups an admin keeps beside the MIS's: made, renamed, archived, and
//! their pupils added and removed by id. The MIS's own groups answer 409 `mis_managed`.

use crate::dto::{GroupType, StudentGroupOut};
use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Ctx, IfMatch, Require, etag};
use crate::state::ApiState;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use keyholder_domain::ids::{StudentGroupId, StudentId};
use keyholder_domain::model::StudentGroup;
use keyholder_domain::policy::Action;
use keyholder_domain::services::{NewStudentGroup, StudentGroupPatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStudentGroupIn {
    /// `custom`, or a type the organisation takes from no MIS (422 `mis_managed_type`).
    #[serde(rename = "type")]
    #[schema(value_type = GroupType)]
    pub kind: String,
    /// 1 to 100 characters.
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStudentGroupIn {
    pub name: Option<String>,
    /// `true` archives the group: it restricts nobody any more (R4) and its allow-list stays.
    pub archived: Option<bool>,
}

/// Pupils by id (1 to 10 000), each one the caller may see.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembersIn {
    pub student_ids: Vec<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembersChanged {
    /// How many pupils joined (or left) the group; those already in (or out) are not counted.
    pub changed: u64,
}

fn group_response(status: actix_web::http::StatusCode, g: StudentGroup, n: u64) -> HttpResponse {
    let version = g.version;
    HttpResponse::build(status)
        .insert_header(("ETag", etag(version)))
        .json(StudentGroupOut::new(g, n))
}

/// A student group with its member count; its ETag is its version.
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 200, body = StudentGroupOut, headers(("ETag" = String))),
))]
#[get(
    "/v1/orgs/{org}/student-groups/{id}",
    wrap = "Require(Action::ListStudentGroups)"
)]
pub async fn get(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let (g, n) = state
        .kh
        .get_student_group(&who.0, &org, StudentGroupId(id))
        .await?;
    Ok(group_response(actix_web::http::StatusCode::OK, g, n))
}

/// A group the admin keeps (a centre of care, a custom group): `custom`, or any type the
/// organisation takes from no MIS. Audited (`student_group.created`).
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug")), request_body = CreateStudentGroupIn, responses(
    (status = 201, body = StudentGroupOut, headers(("ETag" = String))),
    (status = 422, description = "`unknown_type`, `mis_managed_type` (type), `length` (name)", body = Problem, content_type = "application/problem+json"),
))]
#[post(
    "/v1/orgs/{org}/student-groups",
    wrap = "Require(Action::ManageStudentGroups)"
)]
pub async fn create(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<String>,
    body: web::Json<CreateStudentGroupIn>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let (g, n) = state
        .kh
        .create_student_group(
            &who.0,
            &path,
            NewStudentGroup {
                kind: b.kind,
                name: b.name,
            },
            &ctx.0,
        )
        .await?;
    Ok(group_response(actix_web::http::StatusCode::CREATED, g, n))
}

/// Renames, archives or restores a group the admin keeps (`If-Match` with its ETag turns a
/// lost update into 412). Audited (`student_group.updated`).
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "The ETag the change was made from")), request_body = UpdateStudentGroupIn, responses(
    (status = 200, body = StudentGroupOut, headers(("ETag" = String))),
    (status = 409, description = "`mis_managed`: the group comes from the MIS", body = Problem, content_type = "application/problem+json"),
    (status = 412, description = "`version_mismatch`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`length` (name)", body = Problem, content_type = "application/problem+json"),
))]
#[patch(
    "/v1/orgs/{org}/student-groups/{id}",
    wrap = "Require(Action::ManageStudentGroups)"
)]
pub async fn update(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    if_match: IfMatch,
    path: web::Path<(String, Uuid)>,
    body: web::Json<UpdateStudentGroupIn>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    let b = body.into_inner();
    let (g, n) = state
        .kh
        .update_student_group(
            &who.0,
            &org,
            StudentGroupId(id),
            StudentGroupPatch {
                name: b.name,
                archived: b.archived,
            },
            if_match.0,
            &ctx.0,
        )
        .await?;
    Ok(group_response(actix_web::http::StatusCode::OK, g, n))
}

async fn members(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
    body: web::Json<MembersIn>,
    add: bool,
) -> ApiResult<web::Json<MembersChanged>> {
    let (org, id) = path.into_inner();
    let students = body
        .into_inner()
        .student_ids
        .into_iter()
        .map(StudentId)
        .collect();
    let changed = state
        .kh
        .edit_student_group_members(&who.0, &org, StudentGroupId(id), students, add, &ctx.0)
        .await?;
    Ok(web::Json(MembersChanged { changed }))
}

/// Adds pupils by id to a group the admin keeps; each must be one the caller may see (R4/R5,
/// else `unknown_student`, as a missing one). Audited (`student_group.members_added`).
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), request_body = MembersIn, responses(
    (status = 200, body = MembersChanged),
    (status = 409, description = "`mis_managed`: the group comes from the MIS", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`unknown_student` (student_ids[i]), `length` (student_ids)", body = Problem, content_type = "application/problem+json"),
))]
#[post(
    "/v1/orgs/{org}/student-groups/{id}/members",
    wrap = "Require(Action::ManageStudentGroups)"
)]
pub async fn add_members(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
    body: web::Json<MembersIn>,
) -> ApiResult<web::Json<MembersChanged>> {
    members(state, who, ctx, path, body, true).await
}

/// Removes pupils by id from a group the admin keeps. Audited
/// (`student_group.members_removed`).
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), request_body = MembersIn, responses(
    (status = 200, body = MembersChanged),
    (status = 409, description = "`mis_managed`: the group comes from the MIS", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`unknown_student` (student_ids[i]), `length` (student_ids)", body = Problem, content_type = "application/problem+json"),
))]
#[delete(
    "/v1/orgs/{org}/student-groups/{id}/members",
    wrap = "Require(Action::ManageStudentGroups)"
)]
pub async fn remove_members(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
    body: web::Json<MembersIn>,
) -> ApiResult<web::Json<MembersChanged>> {
    members(state, who, ctx, path, body, false).await
}
