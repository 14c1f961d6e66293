//! AU1–AU3: the audit trail, newest first, filtered, exported and verified.

use crate::dto::*;
use crate::error::ApiResult;
use crate::guard::{Authed, Require};
use crate::state::ApiState;
use actix_web::{HttpResponse, get, web};
use keyholder_domain::DomainError;
use keyholder_domain::error::FieldError;
use keyholder_domain::ids::{StaffId, UserId};
use keyholder_domain::policy::Action;
use keyholder_domain::services::AuditListParams;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The query's filters, every bad one named at once.
fn params(q: AuditQueryIn) -> Result<AuditListParams, DomainError> {
    // Empty parameters never get here: `Filters` names them (422 `empty`) for every list.
    let mut errors = Vec::new();
    let mut time = |field: &str, v: Option<String>| -> Option<OffsetDateTime> {
        let v = v?;
        match OffsetDateTime::parse(&v, &Rfc3339) {
            Ok(t) => Some(t),
            Err(_) => {
                errors.push(FieldError::new(
                    field,
                    "invalid_time",
                    "an RFC 3339 time such as 2026-12-01T09:00:00Z",
                ));
                None
            }
        }
    };
    let from = time("from", q.from);
    let to = time("to", q.to);
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors));
    }
    Ok(AuditListParams {
        kind: q.kind,
        actor_id: q.actor_id.map(UserId),
        target_user_id: q.target_user_id.map(UserId),
        staff_id: q.staff_id.map(StaffId),
        from,
        to,
        cursor: q.cursor,
        limit: q.limit,
    })
}

/// AU2: audit entries, newest first, in cursor pages; filter by time span, type, actor,
/// target user and staff member.
#[utoipa::path(tag = "audit", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), AuditQueryIn), responses(
    (status = 200, body = AuditPageOut),
))]
#[get("/v1/orgs/{org}/audit", wrap = "Require(Action::ReadAudit)")]
pub async fn list(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: crate::filters::Filters<AuditQueryIn>,
) -> ApiResult<web::Json<AuditPageOut>> {
    let page = state
        .kh
        .list_audit(&who.0, &path, params(q.into_inner())?)
        .await?;
    Ok(web::Json(AuditPageOut {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// AU2: the entries matching the filters as CSV (newest first; `changes` as JSON), for an
/// inspector or a spreadsheet. At most 100 000 entries: a longer span is exported in parts.
#[utoipa::path(tag = "audit", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), AuditQueryIn), responses(
    (status = 200, description = "`text/csv` with a header row: id, at, type, actor_id, target_type, target_id, staff_id, changes, ip, request_id, seq, prev_hash, hash", body = String, content_type = "text/csv"),
))]
#[get("/v1/orgs/{org}/audit/export", wrap = "Require(Action::ReadAudit)")]
pub async fn export(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
    q: crate::filters::Filters<AuditQueryIn>,
) -> ApiResult<HttpResponse> {
    let entries = state
        .kh
        .export_audit(&who.0, &path, params(q.into_inner())?)
        .await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| DomainError::internal(e);
    w.write_record([
        "id",
        "at",
        "type",
        "actor_id",
        "target_type",
        "target_id",
        "staff_id",
        "changes",
        "ip",
        "request_id",
        "seq",
        "prev_hash",
        "hash",
    ])
    .map_err(csv_err)?;
    // A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) is quoted first:
    // request ids and some changes come from callers (CSV injection).
    let cell = |v: String| {
        if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{v}")
        } else {
            v
        }
    };
    let text = |v: Option<String>| cell(v.unwrap_or_default());
    for e in entries {
        let at = e.at.format(&Rfc3339).map_err(DomainError::internal)?;
        let (seq, prev, hash) = match e.chain {
            Some(c) => (c.seq.to_string(), c.prev_hash, c.hash),
            None => Default::default(),
        };
        w.write_record([
            e.id.to_string(),
            at,
            cell(e.kind),
            text(e.actor_id.map(|a| a.to_string())),
            text(e.target_type),
            text(e.target_id.map(|t| t.to_string())),
            text(e.staff_id.map(|s| s.to_string())),
            cell(e.changes.to_string()),
            text(e.ip),
            text(e.request_id),
            seq,
            prev,
            hash,
        ])
        .map_err(csv_err)?;
    }
    let body = w
        .into_inner()
        .map_err(|e| DomainError::internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"audit-{}.csv\"", path.as_str()),
        ))
        .body(body))
}

/// AU3: walks the org's hash chain; names the first entry that was edited, or that follows a
/// deleted one.
#[utoipa::path(tag = "audit", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug")), responses(
    (status = 200, body = AuditVerifyOut),
))]
#[get("/v1/orgs/{org}/audit/verify", wrap = "Require(Action::ReadAudit)")]
pub async fn verify(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<String>,
) -> ApiResult<web::Json<AuditVerifyOut>> {
    Ok(web::Json(
        state.kh.verify_audit(&who.0, &path).await?.into(),
    ))
}
