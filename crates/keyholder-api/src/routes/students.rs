//! R1–R7, R10: students, restrictions, blocks and explained decisions.

use super::{group_id, user_id};
use crate::dto::{CategoryPermission, StudentGroupOut, UserOut, ymd};
use crate::error::{ApiError, ApiResult, Problem};
use crate::guard::{Authed, Ctx, Require};
use crate::state::ApiState;
use actix_web::{HttpResponse, delete, get, post, web};
use keyholder_domain::DomainError;
use keyholder_domain::ids::{CategoryId, StudentGroupId, StudentId};
use keyholder_domain::model::Student;
use keyholder_domain::permission::Permission;
use keyholder_domain::policy::Action;
use keyholder_domain::services::{AccessSelection, Asked, CheckResource, StudentListParams};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A pupil (R1).
#[derive(Debug, Serialize, ToSchema)]
pub struct StudentOut {
    pub id: Uuid,
    pub mis_id: String,
    pub forename: String,
    pub surname: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    pub on_roll: bool,
    pub group_ids: Vec<Uuid>,
    /// R9: the categories the pupil is monitored for, of those the caller holds view-students
    /// on in this session.
    pub monitored_category_ids: Vec<Uuid>,
}

impl StudentOut {
    pub(crate) fn new(s: Student, groups: Vec<Uuid>, monitored: Vec<CategoryId>) -> Self {
        StudentOut {
            id: s.id.0,
            mis_id: s.mis_id,
            forename: s.forename,
            surname: s.surname,
            date_of_birth: s.date_of_birth.map(ymd),
            on_roll: s.on_roll,
            group_ids: groups,
            monitored_category_ids: monitored.into_iter().map(|c| c.0).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StudentPage {
    pub items: Vec<StudentOut>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

impl From<keyholder_domain::services::Page<keyholder_domain::services::StudentView<StudentGroupId>>>
    for StudentPage
{
    fn from(
        page: keyholder_domain::services::Page<
            keyholder_domain::services::StudentView<StudentGroupId>,
        >,
    ) -> Self {
        StudentPage {
            items: page
                .items
                .into_iter()
                .map(|v| {
                    StudentOut::new(
                        v.student,
                        v.groups.into_iter().map(|g| g.0).collect(),
                        v.monitored_category_ids,
                    )
                })
                .collect(),
            page: page.page,
            per_page: page.per_page,
            total: page.total,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StudentDetail {
    #[serde(flatten)]
    pub student: StudentOut,
    pub groups: Vec<StudentGroupOut>,
}

/// Names only (R8).
#[derive(Debug, Serialize, ToSchema)]
pub struct StudentName {
    pub id: Uuid,
    pub forename: String,
    pub surname: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StudentListQuery {
    /// Text in name or MIS id.
    pub q: Option<String>,
    pub on_roll: Option<bool>,
    /// Only members of this student group.
    pub group_id: Option<Uuid>,
    /// R9: only pupils monitored for this category (needs view-students on it: 403 R9).
    pub monitored_category_id: Option<Uuid>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PickerQuery {
    pub q: Option<String>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

crate::dto::list_of!(
    /// R8: names of the pupils the caller may record an incident about, by surname.
    StudentNameList,
    StudentName
);

crate::dto::list_of!(
    /// R5: the pupils blocked for a user, of those the caller may see, oldest block first.
    BlockList,
    BlockOut
);

pub use crate::dto::PageQuery;

/// R4: only the pupils the caller may see; filtered, paged and counted in the query.
#[utoipa::path(tag = "students", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), StudentListQuery), responses(
    (status = 200, body = StudentPage),
))]
#[get("/v1/orgs/{org}/students", wrap = "Require(Action::ListStudents)")]
pub async fn list(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: crate::filters::Filters<StudentListQuery>,
) -> ApiResult<web::Json<StudentPage>> {
    let q = q.into_inner();
    let params = StudentListParams {
        q: q.q,
        on_roll: q.on_roll,
        group_id: q.group_id.map(StudentGroupId),
        monitored_category_id: q.monitored_category_id.map(CategoryId),
        page: q.page,
        per_page: q.per_page,
    };
    let page = state.kh.list_students(&who.0, &path, params).await?;
    Ok(web::Json(page.into()))
}

/// R8: names of the pupils the caller may record an incident about (R4's group and block rules).
#[utoipa::path(tag = "students", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), PickerQuery), responses(
    (status = 200, body = StudentNameList),
    (status = 422, description = "`range` (page, per_page)", body = Problem, content_type = "application/problem+json"),
))]
#[get(
    "/v1/orgs/{org}/students/picker",
    wrap = "Require(Action::PickStudents)"
)]
pub async fn picker(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: crate::filters::Filters<PickerQuery>,
) -> ApiResult<web::Json<StudentNameList>> {
    let q = q.into_inner();
    let names = state
        .kh
        .pick_students(&who.0, &path, q.q, q.page, q.per_page)
        .await?;
    Ok(web::Json(
        names
            .map(|s| StudentName {
                id: s.id.0,
                forename: s.forename,
                surname: s.surname,
            })
            .into(),
    ))
}

/// R4, R5: one pupil; 404 when not visible (a hidden record is never revealed).
#[utoipa::path(tag = "students", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 200, body = StudentDetail),
))]
#[get("/v1/orgs/{org}/students/{id}", wrap = "Require(Action::ViewStudent)")]
pub async fn get(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<web::Json<StudentDetail>> {
    let (org, id) = path.into_inner();
    let v = state.kh.get_student(&who.0, &org, StudentId(id)).await?;
    let ids = v.groups.iter().map(|g| g.id.0).collect();
    Ok(web::Json(StudentDetail {
        student: StudentOut::new(v.student, ids, v.monitored_category_ids),
        groups: v
            .groups
            .into_iter()
            .map(|g| StudentGroupOut::new(g, 0))
            .collect(),
    }))
}

/// R7: pupils on roll in no group of a restricting type, so that an admin can fix the data.
/// Needs `admin.manage_users` and `students.list`; a pupil blocked for the caller is left out.
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), PageQuery), responses(
    (status = 200, body = StudentPage),
))]
#[get(
    "/v1/orgs/{org}/reports/students-without-restricted-group",
    wrap = "Require(Action::RunRestrictionReport)"
)]
pub async fn without_restriction(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: crate::filters::Filters<PageQuery>,
) -> ApiResult<web::Json<StudentPage>> {
    let q = q.into_inner();
    let page = state
        .kh
        .students_without_restriction(&who.0, &path, q.page, q.per_page)
        .await?;
    Ok(web::Json(StudentPage {
        items: page
            .items
            .into_iter()
            .map(|s| StudentOut::new(s, vec![], vec![]))
            .collect(),
        page: page.page,
        per_page: page.per_page,
        total: page.total,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessOut {
    pub group: StudentGroupOut,
    /// The users on the group's allow-list (R3).
    pub users: Vec<UserOut>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessFilter {
    /// Text in name, username or email.
    pub q: Option<String>,
    pub user_group_id: Option<Uuid>,
}

/// R6: the users to add or remove: by id, or every user matching a filter.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessEdit {
    pub user_ids: Option<Vec<Uuid>>,
    pub filter: Option<AccessFilter>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessChanged {
    /// How many users were added to (or removed from) the allow-list.
    pub changed: u64,
}

fn selection(b: AccessEdit) -> Result<AccessSelection, ApiError> {
    match (b.user_ids, b.filter) {
        (Some(ids), None) => Ok(AccessSelection::Users(
            ids.into_iter().map(user_id).collect(),
        )),
        (None, Some(f)) => Ok(AccessSelection::Filter {
            q: f.q,
            user_group_id: f.user_group_id.map(group_id),
        }),
        _ => Err(DomainError::field(
            "user_ids",
            "one_of_required",
            "give user_ids or filter, not both",
        )
        .into()),
    }
}

/// R3: a student group's allow-list.
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 200, body = AccessOut),
))]
#[get(
    "/v1/orgs/{org}/student-groups/{id}/access",
    wrap = "Require(Action::ManageRestrictions)"
)]
pub async fn access(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<web::Json<AccessOut>> {
    let (org, id) = path.into_inner();
    let (g, users) = state
        .kh
        .group_access(&who.0, &org, StudentGroupId(id))
        .await?;
    Ok(web::Json(AccessOut {
        group: StudentGroupOut::new(g, 0),
        users: users.into_iter().map(Into::into).collect(),
    }))
}

/// R6: put users on the allow-list, one at a time or every user matching a filter.
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), request_body = AccessEdit, responses(
    (status = 200, body = AccessChanged),
))]
#[post(
    "/v1/orgs/{org}/student-groups/{id}/access",
    wrap = "Require(Action::ManageRestrictions)"
)]
pub async fn grant_access(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
    body: web::Json<AccessEdit>,
) -> ApiResult<web::Json<AccessChanged>> {
    let (org, id) = path.into_inner();
    let n = state
        .kh
        .edit_group_access(
            &who.0,
            &org,
            StudentGroupId(id),
            selection(body.into_inner())?,
            true,
            &ctx.0,
        )
        .await?;
    Ok(web::Json(AccessChanged { changed: n }))
}

/// R6: take users off the allow-list.
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), request_body = AccessEdit, responses(
    (status = 200, body = AccessChanged),
))]
#[delete(
    "/v1/orgs/{org}/student-groups/{id}/access",
    wrap = "Require(Action::ManageRestrictions)"
)]
pub async fn revoke_access(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
    body: web::Json<AccessEdit>,
) -> ApiResult<web::Json<AccessChanged>> {
    let (org, id) = path.into_inner();
    let n = state
        .kh
        .edit_group_access(
            &who.0,
            &org,
            StudentGroupId(id),
            selection(body.into_inner())?,
            false,
            &ctx.0,
        )
        .await?;
    Ok(web::Json(AccessChanged { changed: n }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlockOut {
    pub student_id: Uuid,
    pub forename: String,
    pub surname: String,
    pub reason: String,
    pub created_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockIn {
    pub student_id: Uuid,
    /// Why (a relative, a conflict of interest…).
    pub reason: String,
}

/// R5: the pupils blocked for a user, of those the caller may see. Admins only
/// (`admin.manage_system`, with `students.list`), and never one's own account (403
/// `own_account_blocks`).
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), PageQuery), responses(
    (status = 200, body = BlockList),
    (status = 422, description = "`range` (page, per_page)", body = Problem, content_type = "application/problem+json"),
))]
#[get(
    "/v1/orgs/{org}/users/{id}/blocked-students",
    wrap = "Require(Action::ManageBlocks)"
)]
pub async fn blocks(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<(String, Uuid)>,
    q: crate::filters::Filters<PageQuery>,
) -> ApiResult<web::Json<BlockList>> {
    let (org, id) = path.into_inner();
    let found = state.kh.list_blocks(&who.0, &org, user_id(id)).await?;
    let page =
        keyholder_domain::services::Page::of(found, q.page, q.per_page)?.map(|(b, s)| BlockOut {
            student_id: s.id.0,
            forename: s.forename,
            surname: s.surname,
            reason: b.reason,
            created_by: b.created_by.map(|u| u.0),
            created_at: b.created_at,
        });
    Ok(web::Json(page.into()))
}

/// R5: block a pupil for a user: it beats every permission, an admin's included. Admins only,
/// never on their own account; a pupil the caller may not see is `unknown_student`, as a
/// missing one.
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), request_body = BlockIn, responses(
    (status = 201),
    (status = 409, description = "`already_blocked`", body = Problem, content_type = "application/problem+json"),
))]
#[post(
    "/v1/orgs/{org}/users/{id}/blocked-students",
    wrap = "Require(Action::ManageBlocks)"
)]
pub async fn block(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
    body: web::Json<BlockIn>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    state
        .kh
        .block_student(
            &who.0,
            &org,
            user_id(id),
            StudentId(body.student_id),
            &body.reason,
            &ctx.0,
        )
        .await?;
    Ok(HttpResponse::Created().finish())
}

/// R5: lift a block (admins only, never on their own account).
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), ("student_id" = Uuid, Path)), responses(
    (status = 204),
))]
#[delete(
    "/v1/orgs/{org}/users/{id}/blocked-students/{student_id}",
    wrap = "Require(Action::ManageBlocks)"
)]
pub async fn unblock(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id, student) = path.into_inner();
    state
        .kh
        .unblock_student(&who.0, &org, user_id(id), StudentId(student), &ctx.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckResourceIn {
    /// `org`, `student` or `user_group`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<Uuid>,
}

/// R10: what `access/check` may ask about, in the catalogue's words: a permission of the
/// catalogue (`students.view`: in effect for the user under G1/G2 and, on a pupil, R4 and R5),
/// or one of the engine's actions that no permission names.
pub struct CheckAction;

/// The engine's actions that `access/check` names without a catalogue permission.
const ENGINE_ONLY: [(&str, Action, &str); 2] = [
    (
        "grant_group",
        Action::GrantGroup,
        "G4: hand out a user group's permissions (resource `user_group`)",
    ),
    (
        "read_org",
        Action::ReadOrg,
        "T1: be a signed-in member of the organisation",
    ),
];

impl CheckAction {
    /// A name as the schema lists it, or an engine action's own name (`view_student`: the
    /// spelling before the catalogue's, still understood).
    fn parse(name: &str) -> Option<Action> {
        if let Some(p) = Permission::from_key(name) {
            return Some(Action::Exercise(p));
        }
        if let Some((_, a, _)) = ENGINE_ONLY.iter().find(|(n, _, _)| *n == name) {
            return Some(*a);
        }
        // The engine's own spelling (`view_student`), except the actions that only carry
        // another door's meaning.
        serde_json::from_value(serde_json::Value::String(name.to_owned()))
            .ok()
            .filter(|a| {
                !matches!(
                    a,
                    Action::ExerciseRegistered | Action::ManageCatalogue | Action::CheckBatch
                )
            })
    }
}

impl utoipa::PartialSchema for CheckAction {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let mut names: Vec<&str> = Permission::ALL.iter().map(|p| p.key()).collect();
        names.extend(ENGINE_ONLY.iter().map(|(n, _, _)| *n));
        let engine: Vec<String> = ENGINE_ONLY
            .iter()
            .map(|(n, _, d)| format!("`{n}`: {d}"))
            .collect();
        use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
        AnyOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(names)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"))
                    .max_length(Some(keyholder_domain::permission::MAX_REGISTERED_KEY_CHARS))
                    .description(Some(
                        "A permission another product registered in the org's catalogue",
                    )),
            )
            .description(Some(format!(
                "A permission of the catalogue (`GET /v1/permissions`, registered ones \
                 included): in effect for the user (G1, G2) and, on a `student`, R4 and R5; or \
                 an action no permission names: {}.",
                engine.join("; ")
            )))
            .into()
    }
}

impl utoipa::ToSchema for CheckAction {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessCheckIn {
    pub user_id: Uuid,
    #[schema(value_type = CheckAction)]
    pub action: String,
    pub resource: CheckResourceIn,
    /// Decide for a session with a proven second factor (default true).
    pub second_factor: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReasonOut {
    /// A rule id of the domain (`R4`, `R5`, `G2`…).
    pub rule: String,
    /// The catalogue permission the reason is about (`students.view`), if any.
    pub permission: Option<String>,
    pub detail: String,
}

impl From<keyholder_domain::policy::Reason> for ReasonOut {
    fn from(r: keyholder_domain::policy::Reason) -> Self {
        ReasonOut {
            rule: r.rule.to_string(),
            permission: r.permission.map(|p| p.into_owned()),
            detail: r.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionOut {
    pub allowed: bool,
    pub reasons: Vec<ReasonOut>,
}

/// One check's action and resource as the engine names them, or the field errors (under
/// `prefix`) that say why not.
pub(crate) fn parse_check(
    action: &str,
    resource: &CheckResourceIn,
    prefix: &str,
    errors: &mut Vec<keyholder_domain::FieldError>,
) -> Option<(Asked, CheckResource)> {
    // A key that is none of the engine's may be a permission another product registered
    // (issue 16): the service looks it up in the org's catalogue.
    let parsed = CheckAction::parse(action).map(Asked::Action).or_else(|| {
        keyholder_domain::permission::registered_key_problem(action)
            .is_none()
            .then(|| Asked::Registered(action.to_owned()))
    });
    if parsed.is_none() {
        errors.push(keyholder_domain::FieldError::new(
            &format!("{prefix}action"),
            "unknown_action",
            "neither a permission of the catalogue nor an action of the engine",
        ));
    }
    let resource = match (resource.kind.as_str(), resource.id) {
        ("org", _) => Some(CheckResource::Org),
        ("student", Some(id)) => Some(CheckResource::Student(StudentId(id))),
        ("user_group", Some(id)) => {
            Some(CheckResource::UserGroup(keyholder_domain::ids::GroupId(id)))
        }
        _ => {
            errors.push(keyholder_domain::FieldError::new(
                &format!("{prefix}resource"),
                "invalid_resource",
                "type org, or student / user_group with an id",
            ));
            None
        }
    };
    Some((parsed?, resource?))
}

/// R10: may user U do action X on resource Y? The engine's decision with the rule ids and the
/// facts that decided it (which group, which allow-list, which block).
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug")), request_body = AccessCheckIn, responses(
    (status = 200, body = DecisionOut),
))]
#[post("/v1/orgs/{org}/access/check", wrap = "Require(Action::ExplainAccess)")]
pub async fn check(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<AccessCheckIn>,
) -> ApiResult<web::Json<DecisionOut>> {
    let b = body.into_inner();
    let mut errors = Vec::new();
    let Some((action, resource)) = parse_check(&b.action, &b.resource, "", &mut errors) else {
        return Err(DomainError::Validation(errors).into());
    };
    let d = state
        .kh
        .check_access(
            &who.0,
            &path,
            user_id(b.user_id),
            action,
            resource,
            b.second_factor.unwrap_or(true),
        )
        .await?;
    Ok(web::Json(DecisionOut {
        allowed: d.allowed,
        reasons: d.reasons.into_iter().map(ReasonOut::from).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionsInEffect {
    pub system_permissions: Vec<String>,
    pub category_permissions: Vec<CategoryPermission>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EffectiveOut {
    pub user_id: Uuid,
    pub user_group_id: Uuid,
    pub user_group_name: String,
    pub user_group_active: bool,
    /// In a session that proved a second factor.
    pub with_second_factor: PermissionsInEffect,
    /// In a session without one (G2).
    pub without_second_factor: PermissionsInEffect,
}

/// R10: what is in effect for a user, with and without a second factor.
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 200, body = EffectiveOut),
))]
#[get(
    "/v1/orgs/{org}/users/{id}/effective-permissions",
    wrap = "Require(Action::ExplainAccess)"
)]
pub async fn effective(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<web::Json<EffectiveOut>> {
    let (org, id) = path.into_inner();
    let e = state
        .kh
        .effective_permissions_of(&who.0, &org, user_id(id))
        .await?;
    let conv = |(p, f): (keyholder_domain::permission::PermissionSet, Vec<_>),
                registered: Vec<String>| PermissionsInEffect {
        system_permissions: p.keys().into_iter().chain(registered).collect(),
        category_permissions: f.iter().map(CategoryPermission::from_domain).collect(),
    };
    Ok(web::Json(EffectiveOut {
        user_id: e.user.user.id.0,
        user_group_id: e.group.id.0,
        user_group_name: e.group.name.clone(),
        user_group_active: e.group.active,
        with_second_factor: conv(e.with_second_factor, e.registered_with_second_factor),
        without_second_factor: conv(e.without_second_factor, e.registered_without_second_factor),
    }))
}
