//! The decision point (issue 16): R10 in bulk for services, and R11 (who can see this child,
//! and what can this user see).

use super::students::{CheckResourceIn, ReasonOut, StudentPage, parse_check};
use super::user_id;
use crate::error::{ApiResult, Problem};
use crate::guard::{Authed, Caller, Require, ServiceAuthed};
use crate::state::ApiState;
use actix_web::{get, post, web};
use keyholder_domain::DomainError;
use keyholder_domain::ids::{CategoryId, GroupId, StudentGroupId, StudentId};
use keyholder_domain::policy::Action;
use keyholder_domain::services::{
    BatchAnswer, BatchCheck, MAX_BATCH_CHECKS, StudentListParams, Viewer, ViewerParams,
};
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The most characters of a check's `id` (the caller's own label, echoed back).
const MAX_CHECK_ID_CHARS: usize = 128;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchCheckIn {
    /// The caller's label for this check, echoed in its result; unique in the batch.
    #[schema(min_length = 1, max_length = 128)]
    pub id: String,
    pub user_id: Uuid,
    #[schema(value_type = super::students::CheckAction)]
    pub action: String,
    pub resource: CheckResourceIn,
    /// Decide for a session with a proven second factor (default true).
    pub second_factor: Option<bool>,
}

/// The checks of a batch: at most the most a batch may carry are kept; the rest of a longer
/// list is read past without being kept (the batch is then refused whole, 422 `checks`), so a
/// body's size, not its count, bounds what it costs.
#[derive(Debug)]
pub struct Checks {
    items: Vec<BatchCheckIn>,
    too_many: bool,
}

impl<'de> Deserialize<'de> for Checks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bounded;
        impl<'de> Visitor<'de> for Bounded {
            type Value = Checks;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a list of at most {MAX_BATCH_CHECKS} checks")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checks, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                let mut too_many = false;
                while items.len() < MAX_BATCH_CHECKS {
                    match seq.next_element()? {
                        Some(c) => items.push(c),
                        None => return Ok(Checks { items, too_many }),
                    }
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    too_many = true;
                }
                Ok(Checks { items, too_many })
            }
        }
        d.deserialize_seq(Bounded)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBatchIn {
    #[schema(value_type = Vec<BatchCheckIn>, min_items = 1, max_items = 1000)]
    pub checks: Checks,
}

/// Why one check has no decision: it names a record the org does not have.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckErrorOut {
    /// `unknown_user`, `unknown_student` or `unknown_group`.
    pub code: String,
    /// The check's field that names it: `user_id` or `resource.id`.
    pub field: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResultOut {
    pub id: String,
    pub allowed: bool,
    pub reasons: Vec<ReasonOut>,
    /// Set when the check could not be decided (then `allowed` is false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<CheckErrorOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckBatchOut {
    /// One per check, in the order asked.
    pub results: Vec<CheckResultOut>,
}

/// R10 in bulk, for a service account with scope `decisions`: up to 1 000 checks, each
/// answered as `access/check` answers it (U5, G1, G2, G4, R4, R5 — a block is told as R4, "not
/// visible to this user"), from one read of the facts. A check naming a user, pupil or group
/// the org does not have is answered with an `error` and `allowed: false`. A check with an
/// unknown action, a resource of no known type, or an empty, over-long (128) or repeated `id`
/// refuses the batch (422, each field named `checks[i].…`; the first 20 named); a body that is
/// not this shape (a field of the wrong type, an unknown field) is 400 `malformed_body`.
#[utoipa::path(tag = "restrictions", security(("service_key" = [])), params(("org" = String, Path, description = "The org's slug")), request_body = CheckBatchIn, responses(
    (status = 200, body = CheckBatchOut),
    (status = 403, description = "`permission_denied` (rule A7: the key lacks `decisions`)", body = Problem, content_type = "application/problem+json"),
))]
#[post(
    "/v1/orgs/{org}/access/check-batch",
    wrap = "Require(Action::CheckBatch)"
)]
pub async fn check_batch(
    state: web::Data<ApiState>,
    who: ServiceAuthed,
    path: web::Path<String>,
    body: web::Json<CheckBatchIn>,
) -> ApiResult<web::Json<CheckBatchOut>> {
    let Checks { items, too_many } = body.into_inner().checks;
    if too_many || items.is_empty() {
        return Err(DomainError::field(
            "checks",
            "length",
            format!("1 to {MAX_BATCH_CHECKS} checks"),
        )
        .into());
    }
    let mut errors = Vec::new();
    let mut checks = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    for (i, c) in items.iter().enumerate() {
        let prefix = format!("checks[{i}].");
        let n = c.id.chars().count();
        if n == 0 || n > MAX_CHECK_ID_CHARS {
            errors.push(keyholder_domain::FieldError::new(
                &format!("{prefix}id"),
                "length",
                format!("1 to {MAX_CHECK_ID_CHARS} characters"),
            ));
        } else if !seen.insert(c.id.as_str()) {
            errors.push(keyholder_domain::FieldError::new(
                &format!("{prefix}id"),
                "duplicate",
                "each check's id is unique in the batch",
            ));
        }
        if let Some((action, resource)) = parse_check(&c.action, &c.resource, &prefix, &mut errors)
        {
            checks.push(BatchCheck {
                user: user_id(c.user_id),
                action,
                resource,
                second_factor: c.second_factor.unwrap_or(true),
            });
        }
        if errors.len() >= 20 {
            break;
        }
    }
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors).into());
    }
    let answers = state.kh.check_access_batch(&who.0, &path, &checks).await?;
    Ok(web::Json(CheckBatchOut {
        results: items
            .into_iter()
            .zip(answers)
            .map(|(c, a)| match a {
                BatchAnswer::Decided(d) => CheckResultOut {
                    id: c.id,
                    allowed: d.allowed,
                    reasons: d.reasons.into_iter().map(ReasonOut::from).collect(),
                    error: None,
                },
                BatchAnswer::Unknown { field, code } => CheckResultOut {
                    id: c.id,
                    allowed: false,
                    reasons: vec![],
                    error: Some(CheckErrorOut {
                        code: code.into(),
                        field: field.into(),
                    }),
                },
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViewersQuery {
    /// Who may read the pupil's incidents in this category (R8), instead of who may see its
    /// record (R4).
    pub category_id: Option<Uuid>,
    /// Decide for sessions with a proven second factor (default true; G2).
    pub second_factor: Option<bool>,
    /// Text in the user's name, username or email.
    pub q: Option<String>,
    pub user_group_id: Option<Uuid>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// A user who may see the pupil (R11): who they are, and the engine's reasons.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViewerOut {
    pub user_id: Uuid,
    pub username: Option<String>,
    pub forename: String,
    pub surname: String,
    pub user_group_id: Uuid,
    pub user_group_name: String,
    /// The deciding rules: the permission or category flag (G1, R8), the allow-lists (R4), no
    /// block (R5), the group and session (G1, G2).
    pub reasons: Vec<ReasonOut>,
}

impl From<Viewer> for ViewerOut {
    fn from(v: Viewer) -> Self {
        ViewerOut {
            user_id: v.user.user.id.0,
            username: v.user.user.username,
            forename: v.user.user.forename,
            surname: v.user.user.surname,
            user_group_id: v.user.user.user_group_id.0,
            user_group_name: v.user.group_name,
            reasons: v.reasons.into_iter().map(ReasonOut::from).collect(),
        }
    }
}

crate::dto::list_of!(
    /// R11: the users who may see a pupil, by surname.
    ViewerPage,
    ViewerOut
);

/// R11: who can see this child — every user who may see the pupil's record or, with
/// `category_id`, read its incidents in that category; filtered and paged in the query (the
/// inverse of R4, R5, R8), each with the deciding rules. For an admin who may see the pupil
/// (a pupil hidden from them is answered 404, as a missing one), or a service account with
/// scope `decisions`.
#[utoipa::path(tag = "restrictions", security(("bearer" = []), ("service_key" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), ViewersQuery), responses(
    (status = 200, body = ViewerPage),
))]
#[get(
    "/v1/orgs/{org}/students/{id}/viewers",
    wrap = "Require(Action::ListViewers)"
)]
pub async fn viewers(
    state: web::Data<ApiState>,
    who: Caller,
    path: web::Path<(String, Uuid)>,
    q: crate::filters::Filters<ViewersQuery>,
) -> ApiResult<web::Json<ViewerPage>> {
    let (org, id) = path.into_inner();
    let q = q.into_inner();
    let params = ViewerParams {
        category_id: q.category_id.map(CategoryId),
        second_factor: q.second_factor,
        q: q.q,
        user_group_id: q.user_group_id.map(GroupId),
        page: q.page,
        per_page: q.per_page,
    };
    let page = state
        .kh
        .student_viewers(who.asker(), &org, StudentId(id), params)
        .await?;
    Ok(web::Json(page.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VisibleStudentsQuery {
    /// Text in name or MIS id.
    pub q: Option<String>,
    pub on_roll: Option<bool>,
    /// Only members of this student group.
    pub group_id: Option<Uuid>,
    /// The list the user would get in a session with a proven second factor (default true;
    /// G2).
    pub second_factor: Option<bool>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// R11's mirror: what can this user see? The list `GET /students` would give them (R4, R5,
/// G1, G2; empty when they would be refused it — `access/check` says why), of the pupils the
/// asking admin may see as well.
#[utoipa::path(tag = "restrictions", security(("bearer" = [])), params(("org" = String, Path, description = "The org's slug"), ("id" = Uuid, Path), VisibleStudentsQuery), responses(
    (status = 200, body = StudentPage),
))]
#[get(
    "/v1/orgs/{org}/users/{id}/visible-students",
    wrap = "Require(Action::ListVisibleStudents)"
)]
pub async fn visible_students(
    state: web::Data<ApiState>,
    who: Authed,
    path: web::Path<(String, Uuid)>,
    q: crate::filters::Filters<VisibleStudentsQuery>,
) -> ApiResult<web::Json<StudentPage>> {
    let (org, id) = path.into_inner();
    let q = q.into_inner();
    let params = StudentListParams {
        q: q.q,
        on_roll: q.on_roll,
        group_id: q.group_id.map(StudentGroupId),
        monitored_category_id: None,
        page: q.page,
        per_page: q.per_page,
    };
    let page = state
        .kh
        .visible_students_of(
            &who.0,
            &org,
            user_id(id),
            params,
            q.second_factor.unwrap_or(true),
        )
        .await?;
    Ok(web::Json(page.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A batch's checks are kept up to the most a batch may carry and the rest is read
        /// past: any length parses without a panic, and a longer list is marked, never kept.
        #[test]
        fn a_list_of_any_length_keeps_at_most_the_most_a_batch_carries(n in 0usize..2500, junk in proptest::bool::ANY) {
            let item = if junk {
                serde_json::json!({"id": "x", "user_id": uuid::Uuid::nil(), "action": "students.view", "resource": {"type": "org"}})
            } else {
                serde_json::json!({"id": "y", "user_id": uuid::Uuid::nil(), "action": "a.b", "resource": {"type": "student", "id": uuid::Uuid::nil()}, "second_factor": false})
            };
            let body = serde_json::json!({"checks": vec![item; n]}).to_string();
            let parsed = serde_json::from_str::<CheckBatchIn>(&body);
            prop_assert!(parsed.is_ok(), "{:?}", parsed.err());
            let Ok(parsed) = parsed else { return Ok(()) };
            prop_assert_eq!(parsed.checks.items.len(), n.min(MAX_BATCH_CHECKS));
            prop_assert_eq!(parsed.checks.too_many, n > MAX_BATCH_CHECKS);
        }

        /// Any bytes: a body, or an error; never a panic.
        #[test]
        fn any_text_is_a_batch_or_an_error(text in "\\PC{0,400}") {
            let _ = serde_json::from_str::<CheckBatchIn>(&text);
        }
    }
}
