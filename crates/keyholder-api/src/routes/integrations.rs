//! A7 service accounts and S4 MIS sync.

use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Ctx, IdempotencyKey, Require, ServiceAuthed};
use crate::state::ApiState;
use actix_web::{HttpResponse, delete, get, post, put, web};
use keyholder_domain::ids::ServiceAccountId;
use keyholder_domain::model::ServiceAccount;
use keyholder_domain::policy::Action;
use keyholder_domain::services::{
    NewServiceAccount, StaffRow, StudentGroupRow, StudentRow, SyncOutcome,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountOut {
    pub id: Uuid,
    pub name: String,
    /// `mis.sync`, `scim`.
    pub scopes: Vec<String>,
    /// The key's first characters, to tell keys apart.
    pub key_prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked: bool,
}

impl From<ServiceAccount> for ServiceAccountOut {
    fn from(a: ServiceAccount) -> Self {
        ServiceAccountOut {
            id: a.id.0,
            name: a.name,
            scopes: a.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            key_prefix: a.key_prefix,
            created_at: a.created_at,
            created_by: a.created_by.map(|u| u.0),
            last_used_at: a.last_used_at,
            revoked: a.revoked,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedServiceAccountOut {
    #[serde(flatten)]
    pub account: ServiceAccountOut,
    /// The key, shown this once: keep it in the integration's secret store.
    pub api_key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccountIn {
    pub name: String,
    /// `mis.sync` (push staff, students and groups) and/or `scim` (provision accounts).
    pub scopes: Vec<String>,
}

/// A7: the org's service accounts (keys are never shown again).
#[utoipa::path(tag = "integrations", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), crate::dto::PageQuery), responses(
    (status = 200, body = ServiceAccountList),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`range` (page, per_page)", body = Problem, content_type = "application/problem+json"),
))]
#[get(
    "/v1/orgs/{org}/service-accounts",
    wrap = "Require(Action::ManageServiceAccounts)"
)]
pub async fn list_service_accounts(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: web::Query<crate::dto::PageQuery>,
) -> ApiResult<web::Json<ServiceAccountList>> {
    let list = state.kh.list_service_accounts(&who.0, &path).await?;
    let page = keyholder_domain::services::Page::of(list, q.page, q.per_page)?;
    Ok(web::Json(page.into()))
}

crate::dto::list_of!(
    /// The org's service accounts, oldest first (keys are never shown again).
    ServiceAccountList,
    ServiceAccountOut
);

/// A7: a service account and its key, answered once. A key opens only its scopes' endpoints;
/// it never reads users or children's data.
#[utoipa::path(tag = "integrations", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug")), request_body = CreateServiceAccountIn, responses(
    (status = 201, body = CreatedServiceAccountOut),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post(
    "/v1/orgs/{org}/service-accounts",
    wrap = "Require(Action::ManageServiceAccounts)"
)]
pub async fn create_service_account(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<String>,
    body: web::Json<CreateServiceAccountIn>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let (account, key) = state
        .kh
        .create_service_account(
            &who.0,
            &path,
            NewServiceAccount {
                name: b.name,
                scopes: b.scopes,
            },
            &ctx.0,
        )
        .await?;
    Ok(HttpResponse::Created().json(CreatedServiceAccountOut {
        account: account.into(),
        api_key: key,
    }))
}

/// A7: revoke a key; it stops working at once.
#[utoipa::path(tag = "integrations", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path)), responses(
    (status = 204),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete(
    "/v1/orgs/{org}/service-accounts/{id}",
    wrap = "Require(Action::ManageServiceAccounts)"
)]
pub async fn revoke_service_account(
    state: web::Data<ApiState>,
    who: Authed,
    ctx: Ctx,
    path: web::Path<(String, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (org, id) = path.into_inner();
    state
        .kh
        .revoke_service_account(&who.0, &org, ServiceAccountId(id), &ctx.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// S4: what a batch did.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncOut {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Marked as left (staff: ended today; students: off roll; groups: archived), only with
    /// `mark_missing_as_left`.
    pub left: u64,
}

fn sync_response(o: SyncOutcome) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    if o.replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    res.json(SyncOut {
        created: o.counts.created,
        updated: o.counts.updated,
        unchanged: o.counts.unchanged,
        left: o.counts.left,
    })
}

/// A staff row (S1). `contract`: permanent, fixed_term, supply, other; `hours`: full_time,
/// part_time; dates `YYYY-MM-DD`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StaffItem {
    pub mis_id: String,
    pub title: Option<String>,
    pub forename: String,
    pub surname: String,
    pub email: Option<String>,
    pub job_title: Option<String>,
    pub contract: String,
    pub hours: String,
    pub start_date: String,
    pub end_date: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffBatch {
    /// Up to 10 000 rows, keyed by `mis_id`.
    pub items: Vec<StaffItem>,
    /// End (today) every record of this org that the batch does not name.
    #[serde(default)]
    pub mark_missing_as_left: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StudentItem {
    pub mis_id: String,
    pub forename: String,
    pub surname: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    pub on_roll: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StudentBatch {
    pub items: Vec<StudentItem>,
    #[serde(default)]
    pub mark_missing_as_left: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StudentGroupItem {
    pub mis_id: String,
    /// `academic_level`, `registration_group`, `house` or `custom`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// The MIS ids of the group's students (synced before).
    #[serde(default)]
    pub member_mis_ids: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StudentGroupBatch {
    pub items: Vec<StudentGroupItem>,
    #[serde(default)]
    pub mark_missing_as_left: bool,
}

/// S4: staff records from the MIS. Applied whole or not at all; every bad row is listed
/// (`items[i].field`); the same batch twice changes nothing the second time.
#[utoipa::path(tag = "integrations", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to the same request")), request_body = StaffBatch, responses(
    (status = 200, body = SyncOut),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`permission_denied` (rule A7: the key lacks `mis.sync`)", body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`idempotency_key_reused`", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[put("/v1/orgs/{org}/mis/staff", wrap = "Require(Action::SyncMis)")]
pub async fn sync_staff(
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    key: IdempotencyKey,
    path: web::Path<String>,
    body: web::Json<StaffBatch>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let rows = b
        .items
        .into_iter()
        .map(|r| StaffRow {
            mis_id: r.mis_id,
            title: r.title,
            forename: r.forename,
            surname: r.surname,
            email: r.email,
            job_title: r.job_title,
            contract: r.contract,
            hours: r.hours,
            start_date: r.start_date,
            end_date: r.end_date,
        })
        .collect();
    let o = state
        .kh
        .sync_staff(
            &who.0,
            &path,
            rows,
            b.mark_missing_as_left,
            key.0.as_deref(),
            &ctx.0,
        )
        .await?;
    Ok(sync_response(o))
}

/// S4, R1: students from the MIS.
#[utoipa::path(tag = "integrations", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to the same request")), request_body = StudentBatch, responses(
    (status = 200, body = SyncOut),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[put("/v1/orgs/{org}/mis/students", wrap = "Require(Action::SyncMis)")]
pub async fn sync_students(
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    key: IdempotencyKey,
    path: web::Path<String>,
    body: web::Json<StudentBatch>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let rows = b
        .items
        .into_iter()
        .map(|r| StudentRow {
            mis_id: r.mis_id,
            forename: r.forename,
            surname: r.surname,
            date_of_birth: r.date_of_birth,
            on_roll: r.on_roll,
        })
        .collect();
    let o = state
        .kh
        .sync_students(
            &who.0,
            &path,
            rows,
            b.mark_missing_as_left,
            key.0.as_deref(),
            &ctx.0,
        )
        .await?;
    Ok(sync_response(o))
}

/// S4, R2: student groups and their members from the MIS (students first).
#[utoipa::path(tag = "integrations", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to the same request")), request_body = StudentGroupBatch, responses(
    (status = 200, body = SyncOut),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[put("/v1/orgs/{org}/mis/student-groups", wrap = "Require(Action::SyncMis)")]
pub async fn sync_student_groups(
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    key: IdempotencyKey,
    path: web::Path<String>,
    body: web::Json<StudentGroupBatch>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let rows = b
        .items
        .into_iter()
        .map(|r| StudentGroupRow {
            mis_id: r.mis_id,
            kind: r.kind,
            name: r.name,
            member_mis_ids: r.member_mis_ids,
        })
        .collect();
    let o = state
        .kh
        .sync_student_groups(
            &who.0,
            &path,
            rows,
            b.mark_missing_as_left,
            key.0.as_deref(),
            &ctx.0,
        )
        .await?;
    Ok(sync_response(o))
}
