//! A7 service accounts and S4 MIS sync.

use crate::error::{ApiError, ApiResult, Problem};
use crate::guard::{Authed, Ctx, IdempotencyKey, Require, ServiceAuthed};
use crate::state::ApiState;
use actix_web::{HttpResponse, delete, get, post, put, web};
use keyholder_domain::DomainError;
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
    /// `mis.sync`, `scim`, `decisions`, `catalogue`.
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
    /// `mis.sync` (push staff, students and groups), `scim` (provision accounts),
    /// `decisions` (introspect access tokens, A9; batch decisions and R11) and/or `catalogue`
    /// (register another product's permissions, issue 16).
    pub scopes: Vec<String>,
}

/// A7: the org's service accounts (keys are never shown again).
#[utoipa::path(tag = "integrations", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), crate::dto::PageQuery), responses(
    (status = 200, body = ServiceAccountList),
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
    q: crate::filters::Filters<crate::dto::PageQuery>,
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
#[allow(dead_code)] // the row's schema: rows are read field by field (`RowReader`)
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

/// The batch's schema; the handler reads it as a [`LenientBatch`], row by row.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct StaffBatch {
    /// Up to 10 000 rows, keyed by `mis_id`.
    pub items: Vec<StaffItem>,
    /// End (today) every record of this org that the batch does not name.
    #[serde(default)]
    pub mark_missing_as_left: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // the row's schema: rows are read field by field (`RowReader`)
pub struct StudentItem {
    pub mis_id: String,
    pub forename: String,
    pub surname: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    pub on_roll: bool,
}

/// The batch's schema; the handler reads it as a [`LenientBatch`], row by row.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct StudentBatch {
    pub items: Vec<StudentItem>,
    #[serde(default)]
    pub mark_missing_as_left: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // the row's schema: rows are read field by field (`RowReader`)
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

/// The batch's schema; the handler reads it as a [`LenientBatch`], row by row.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct StudentGroupBatch {
    pub items: Vec<StudentGroupItem>,
    #[serde(default)]
    pub mark_missing_as_left: bool,
}

/// A batch as it arrives: each row read leniently (a missing or mistyped field is named, not
/// fatal), so that a 10 000-row push learns of every bad row at once (issue 13).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LenientBatch {
    items: Vec<serde_json::Value>,
    #[serde(default)]
    mark_missing_as_left: bool,
}

/// The most missing or mistyped fields one answer lists.
const MAX_SHAPE_ERRORS: usize = 10_000;

/// A batch over the row limit is refused before any row is read.
fn within_limit(b: &LenientBatch) -> Result<(), ApiError> {
    if b.items.len() > keyholder_domain::services::MAX_BATCH {
        return Err(DomainError::field(
            "items",
            "too_many_items",
            format!(
                "at most {} rows per batch",
                keyholder_domain::services::MAX_BATCH
            ),
        )
        .into());
    }
    Ok(())
}

/// One row of a batch read field by field: what is missing or of the wrong JSON type is
/// recorded as `items[i].field` (`required`, `invalid_type`) and a default stands in for it,
/// so the rest of the row is still checked. Fields the row does not define are ignored.
/// Reads a lenient MIS batch within its bound, row by row: every missing or mistyped field is
/// named (`items[i].field`) beside the defaults `read` is given in their place.
fn read_batch<R>(
    b: LenientBatch,
    read: impl Fn(&mut RowReader<'_>) -> R,
) -> Result<keyholder_domain::services::MisBatch<R>, ApiError> {
    within_limit(&b)?;
    let mut shape = Vec::new();
    let rows = b
        .items
        .iter()
        .enumerate()
        .map(|(i, row)| read(&mut RowReader::new(i, row, &mut shape)))
        .collect();
    Ok(keyholder_domain::services::MisBatch {
        rows,
        shape_errors: shape,
        mark_missing_as_left: b.mark_missing_as_left,
    })
}

struct RowReader<'a> {
    i: usize,
    row: Option<&'a serde_json::Map<String, serde_json::Value>>,
    errors: &'a mut Vec<keyholder_domain::FieldError>,
}

impl<'a> RowReader<'a> {
    fn new(
        i: usize,
        row: &'a serde_json::Value,
        errors: &'a mut Vec<keyholder_domain::FieldError>,
    ) -> Self {
        let object = row.as_object();
        if object.is_none() && errors.len() < MAX_SHAPE_ERRORS {
            errors.push(keyholder_domain::FieldError::new(
                &format!("items[{i}]"),
                "invalid_type",
                "each row is a JSON object",
            ));
        }
        RowReader {
            i,
            row: object,
            errors,
        }
    }

    fn bad(&mut self, field: &str, code: &str, message: &str) {
        // A row that is not an object was named once, as a whole; past a bound, the rest of
        // what the transport finds is not listed (the batch is refused all the same).
        if self.row.is_some() && self.errors.len() < MAX_SHAPE_ERRORS {
            self.errors.push(keyholder_domain::FieldError::new(
                &format!("items[{}].{field}", self.i),
                code,
                message,
            ));
        }
    }

    fn get(&self, field: &str) -> Option<&'a serde_json::Value> {
        self.row.and_then(|r| r.get(field)).filter(|v| !v.is_null())
    }

    fn string(&mut self, field: &str) -> String {
        match self.get(field) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(_) => {
                self.bad(field, "invalid_type", "a string");
                String::new()
            }
            None => {
                self.bad(field, "required", "required");
                String::new()
            }
        }
    }

    fn optional_string(&mut self, field: &str) -> Option<String> {
        match self.get(field) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.bad(field, "invalid_type", "a string or null");
                None
            }
            None => None,
        }
    }

    fn boolean(&mut self, field: &str) -> bool {
        match self.get(field) {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(_) => {
                self.bad(field, "invalid_type", "true or false");
                false
            }
            None => {
                self.bad(field, "required", "required");
                false
            }
        }
    }

    fn strings(&mut self, field: &str) -> Vec<String> {
        match self.get(field) {
            None => Vec::new(),
            Some(serde_json::Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (j, v) in items.iter().enumerate() {
                    match v.as_str() {
                        Some(s) => out.push(s.to_owned()),
                        None => self.bad(&format!("{field}[{j}]"), "invalid_type", "a string"),
                    }
                }
                out
            }
            Some(_) => {
                self.bad(field, "invalid_type", "an array of strings");
                Vec::new()
            }
        }
    }
}

/// S4: staff records from the MIS. Applied whole or not at all; every bad row is listed
/// (`items[i].field`); the same batch twice changes nothing the second time.
#[utoipa::path(tag = "integrations", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to the same request")), request_body = StaffBatch, responses(
    (status = 200, body = SyncOut),
    (status = 403, description = "`permission_denied` (rule A7: the key lacks `mis.sync`)", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`idempotency_key_reused`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "every bad row at once, `items[i].field`: `required`, `invalid_type` (missing or mistyped), `length`, `duplicate`, `email`, `unknown_contract`, `unknown_hours`, `date`, `before_start`; `items`: `too_many_items`", body = Problem, content_type = "application/problem+json"),
))]
#[put("/v1/orgs/{org}/mis/staff", wrap = "Require(Action::SyncMis)")]
pub async fn sync_staff(
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    key: IdempotencyKey,
    path: web::Path<String>,
    body: web::Json<LenientBatch>,
) -> ApiResult<HttpResponse> {
    let batch = read_batch(body.into_inner(), |r| StaffRow {
        mis_id: r.string("mis_id"),
        title: r.optional_string("title"),
        forename: r.string("forename"),
        surname: r.string("surname"),
        email: r.optional_string("email"),
        job_title: r.optional_string("job_title"),
        contract: r.string("contract"),
        hours: r.string("hours"),
        start_date: r.string("start_date"),
        end_date: r.optional_string("end_date"),
    })?;
    let o = state
        .kh
        .sync_staff(&who.0, &path, batch, key.0.as_deref(), &ctx.0)
        .await?;
    Ok(sync_response(o))
}

/// S4, R1: students from the MIS.
#[utoipa::path(tag = "integrations", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to the same request")), request_body = StudentBatch, responses(
    (status = 200, body = SyncOut),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[put("/v1/orgs/{org}/mis/students", wrap = "Require(Action::SyncMis)")]
pub async fn sync_students(
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    key: IdempotencyKey,
    path: web::Path<String>,
    body: web::Json<LenientBatch>,
) -> ApiResult<HttpResponse> {
    let batch = read_batch(body.into_inner(), |r| StudentRow {
        mis_id: r.string("mis_id"),
        forename: r.string("forename"),
        surname: r.string("surname"),
        date_of_birth: r.optional_string("date_of_birth"),
        on_roll: r.boolean("on_roll"),
    })?;
    let o = state
        .kh
        .sync_students(&who.0, &path, batch, key.0.as_deref(), &ctx.0)
        .await?;
    Ok(sync_response(o))
}

/// S4, R2: student groups and their members from the MIS (students first).
#[utoipa::path(tag = "integrations", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to the same request")), request_body = StudentGroupBatch, responses(
    (status = 200, body = SyncOut),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[put("/v1/orgs/{org}/mis/student-groups", wrap = "Require(Action::SyncMis)")]
pub async fn sync_student_groups(
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    ctx: Ctx,
    key: IdempotencyKey,
    path: web::Path<String>,
    body: web::Json<LenientBatch>,
) -> ApiResult<HttpResponse> {
    let batch = read_batch(body.into_inner(), |r| StudentGroupRow {
        mis_id: r.string("mis_id"),
        kind: r.string("type"),
        name: r.string("name"),
        member_mis_ids: r.strings("member_mis_ids"),
    })?;
    let o = state
        .kh
        .sync_student_groups(&who.0, &path, batch, key.0.as_deref(), &ctx.0)
        .await?;
    Ok(sync_response(o))
}

#[cfg(test)]
mod tests {
    use super::RowReader;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// Any JSON a row may hold: the fields a staff row reads, with values of every type, and
    /// others it ignores.
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("mis_id".to_owned()),
                        Just("surname".to_owned()),
                        Just("start_date".to_owned()),
                        Just("member_mis_ids".to_owned()),
                        ".{0,6}".prop_map(|s| s),
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Issue 13 (4): reading a row never fails or panics, whatever it holds; every finding
        /// names that row, and a string field that is present as a string is read as it is.
        #[test]
        fn a_row_of_any_shape_is_read_and_its_findings_name_it(i in 0usize..10_000, row in value()) {
            let mut errors = Vec::new();
            let mut r = RowReader::new(i, &row, &mut errors);
            let mis_id = r.string("mis_id");
            let _ = r.optional_string("email");
            let _ = r.boolean("on_roll");
            let _ = r.strings("member_mis_ids");
            let prefix = format!("items[{i}]");
            for e in &errors {
                prop_assert!(e.field.starts_with(&prefix), "{} names another row", e.field);
                prop_assert!(["required", "invalid_type"].contains(&e.code.as_str()));
            }
            if let Some(Value::String(s)) = row.get("mis_id") {
                prop_assert_eq!(&mis_id, s);
                let field = format!("{prefix}.mis_id");
                prop_assert!(!errors.iter().any(|e| e.field == field));
            }
        }
    }
}
