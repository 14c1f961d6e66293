//! S4: MIS sync. Each batch is an idempotent upsert keyed by MIS id, applied whole or not at
//! all, every bad row reported at once, one audit entry per batch, and an `Idempotency-Key`
//! replays the first answer.

use super::*;
use crate::error::FieldError;
use crate::policy::{Action, ServiceSubject};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{HashMap, HashSet};

pub const MAX_BATCH: usize = 10_000;

/// Rows changed by one batch from which the planner's statistics are refreshed.
const BULK_CHANGE: u64 = 500;

/// A staff row as the MIS sends it; enums and dates arrive as text so that every bad row
/// can be reported, not just the first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaffRow {
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudentRow {
    pub mis_id: String,
    pub forename: String,
    pub surname: String,
    pub date_of_birth: Option<String>,
    pub on_roll: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudentGroupRow {
    pub mis_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub member_mis_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCounts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub left: u64,
}

/// The answer to a batch, and whether it is the replay of an earlier one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub counts: SyncCounts,
    pub replayed: bool,
}

pub(crate) fn parse_date(s: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), &format).ok()
}

fn opt(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// A batch from the MIS: its rows, what the transport found missing or mistyped in them
/// (`items[i].field`, reported with every other bad row), and whether rows it does not name
/// have left.
#[derive(Debug, Clone, Default)]
pub struct MisBatch<R> {
    pub rows: Vec<R>,
    pub shape_errors: Vec<FieldError>,
    pub mark_missing_as_left: bool,
}

struct Rows<'a> {
    errors: Vec<FieldError>,
    seen: HashSet<&'a str>,
    /// What the transport found missing or mistyped (`items[i].field`), in place of which a
    /// default was checked: these stand for the field, the defaults' complaints do not.
    shape: Vec<FieldError>,
}

impl<'a> Rows<'a> {
    fn new(n: usize, shape: Vec<FieldError>) -> Self {
        let mut errors = Vec::new();
        if n > MAX_BATCH {
            errors.push(FieldError::new(
                "items",
                "too_many_items",
                format!("at most {MAX_BATCH} rows per batch"),
            ));
        }
        Rows {
            errors,
            seen: HashSet::with_capacity(n),
            shape,
        }
    }

    fn err(&mut self, i: usize, field: &str, code: &str, message: &str) {
        self.errors.push(FieldError::new(
            &format!("items[{i}].{field}"),
            code,
            message,
        ));
    }

    /// A person's row (staff, pupil): its MIS id and both names.
    fn person(&mut self, i: usize, mis_id: &'a str, forename: &str, surname: &str) {
        self.mis_id(i, mis_id);
        self.name(i, "forename", forename);
        self.name(i, "surname", surname);
    }

    fn mis_id(&mut self, i: usize, id: &'a str) {
        let t = id.trim();
        if t.is_empty() || t.chars().count() > 64 {
            self.err(i, "mis_id", "length", "1 to 64 characters");
        } else if !self.seen.insert(t) {
            self.err(
                i,
                "mis_id",
                "duplicate",
                "the MIS id appears earlier in the batch",
            );
        }
    }

    fn name(&mut self, i: usize, field: &str, v: &str) {
        let n = v.trim().chars().count();
        if n == 0 || n > 100 {
            self.err(i, field, "length", "1 to 100 characters");
        }
    }

    /// Every bad row at once, in row order: the transport's findings first for their field.
    fn done(self) -> Result<()> {
        let Rows {
            mut errors, shape, ..
        } = self;
        // A field the transport named, or anything in a row it named whole (not an object):
        // looked up, so that this stays linear in the errors.
        let named: HashSet<&str> = shape.iter().map(|s| s.field.as_str()).collect();
        // `items[i]`: the field up to its first `]`.
        let row_of = |field: &str| field.split_inclusive(']').next().map(str::to_owned);
        errors.retain(|e| {
            !named.contains(e.field.as_str())
                && !row_of(&e.field).is_some_and(|row| named.contains(row.as_str()))
        });
        errors.extend(shape);
        if errors.is_empty() {
            return Ok(());
        }
        let row = |field: &str| -> Option<usize> {
            field
                .strip_prefix("items[")
                .and_then(|rest| rest.split(']').next())
                .and_then(|i| i.parse().ok())
        };
        errors.sort_by_key(|e| row(&e.field));
        Err(DomainError::Validation(errors))
    }
}

/// What the audit entry and the idempotency record of a batch need.
struct Batch<'a> {
    kind: &'a str,
    key: Option<&'a str>,
    endpoint: &'a str,
    hash: &'a str,
    rows: usize,
    /// Memberships added or removed: each moves a pupil's kinds mask, which R4's plan reads.
    memberships: usize,
}

fn request_hash<T: Serialize>(
    endpoint: &str,
    rows: &[T],
    mark_missing_as_left: bool,
) -> Result<String> {
    let body = serde_json::to_string(&(endpoint, rows, mark_missing_as_left))
        .map_err(DomainError::internal)?;
    Ok(crate::tokens::secret_hash(&body))
}

impl Keyholder {
    /// The earlier answer to this idempotency key, if any; a key reused for another request
    /// is refused.
    async fn replay(
        &self,
        tx: &mut dyn Tx,
        org: OrgId,
        key: Option<&str>,
        endpoint: &str,
        hash: &str,
    ) -> Result<Option<SyncOutcome>> {
        let Some(key) = key else {
            return Ok(None);
        };
        if key.is_empty() || key.len() > 255 {
            return Err(DomainError::field(
                "Idempotency-Key",
                "length",
                "1 to 255 characters",
            ));
        }
        match tx.idempotent_response(org, key).await? {
            None => Ok(None),
            Some((e, h, _, body)) if e == endpoint && h == hash => {
                let counts = serde_json::from_str(&body).map_err(DomainError::internal)?;
                Ok(Some(SyncOutcome {
                    counts,
                    replayed: true,
                }))
            }
            Some(_) => Err(DomainError::conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was used for another request",
            )),
        }
    }

    /// Commits a batch; one that changed [`BULK_CHANGE`] rows or more refreshes the planner's
    /// statistics (a first sync of a trust changes every pupil's group kinds at once).
    async fn finish_batch(
        &self,
        mut tx: Box<dyn Tx>,
        svc: &ServiceSubject,
        batch: Batch<'_>,
        counts: SyncCounts,
        ctx: &RequestContext,
    ) -> Result<SyncOutcome> {
        if let Some(key) = batch.key {
            let body = serde_json::to_string(&counts).map_err(DomainError::internal)?;
            tx.save_idempotent_response(svc.org_id, key, batch.endpoint, batch.hash, 200, &body)
                .await?;
        }
        Audit {
            org: svc.org_id,
            kind: batch.kind,
            actor: None,
            target: Some(("service_account", svc.account_id.0)),
            changes: json!({
                "rows": batch.rows, "created": counts.created, "updated": counts.updated,
                "unchanged": counts.unchanged, "left": counts.left,
            }),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        let memberships = u64::try_from(batch.memberships).unwrap_or(u64::MAX);
        if counts.created + counts.updated + counts.left + memberships >= BULK_CHANGE
            && let Err(e) = self.store.refresh_statistics().await
        {
            // The batch is committed: a failed refresh costs speed, never the answer.
            tracing::warn!(error = %e, "could not refresh the planner's statistics");
        }
        Ok(SyncOutcome {
            counts,
            replayed: false,
        })
    }

    fn check_service(&self, svc: &ServiceSubject, org: &str) -> Result<()> {
        self.decide_service_route(svc, Some(org), Action::SyncMis)
    }

    /// S1, S4: staff records keyed by MIS id. `mark_missing_as_left` ends (today) every
    /// record the batch does not name.
    pub async fn sync_staff(
        &self,
        svc: &ServiceSubject,
        org: &str,
        batch: MisBatch<StaffRow>,
        idempotency_key: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<SyncOutcome> {
        let MisBatch {
            rows,
            shape_errors: shape,
            mark_missing_as_left,
        } = batch;
        self.check_service(svc, org)?;
        let mut v = Rows::new(rows.len(), shape);
        let mut parsed = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            v.person(i, &r.mis_id, &r.forename, &r.surname);
            if let Some(e) = opt(&r.email)
                && !valid_email(&e)
            {
                v.err(i, "email", "email", "not an email address");
            }
            let contract = Contract::parse(r.contract.trim());
            if contract.is_none() {
                v.err(
                    i,
                    "contract",
                    "unknown_contract",
                    "one of permanent, fixed_term, supply, other",
                );
            }
            let hours = Hours::parse(r.hours.trim());
            if hours.is_none() {
                v.err(i, "hours", "unknown_hours", "full_time or part_time");
            }
            let start = parse_date(&r.start_date);
            if start.is_none() {
                v.err(i, "start_date", "date", "a date as YYYY-MM-DD");
            }
            let end = match opt(&r.end_date) {
                None => Some(None),
                Some(d) => parse_date(&d).map(Some),
            };
            if end.is_none() {
                v.err(i, "end_date", "date", "a date as YYYY-MM-DD");
            }
            if let (Some(s), Some(Some(e))) = (start, end)
                && e < s
            {
                v.err(
                    i,
                    "end_date",
                    "before_start",
                    "the end date is before the start date",
                );
            }
            if let (Some(contract), Some(hours), Some(start_date), Some(end_date)) =
                (contract, hours, start, end)
            {
                parsed.push(StaffMember {
                    id: StaffId::new(),
                    org_id: svc.org_id,
                    mis_id: Some(r.mis_id.trim().to_owned()),
                    title: opt(&r.title),
                    forename: r.forename.trim().to_owned(),
                    surname: r.surname.trim().to_owned(),
                    email: opt(&r.email),
                    job_title: opt(&r.job_title),
                    contract,
                    hours,
                    start_date,
                    end_date,
                    user_ids: vec![],
                    version: 1,
                });
            }
        }
        v.done()?;
        let endpoint = "mis/staff";
        let hash = request_hash(endpoint, &rows, mark_missing_as_left)?;
        let mut tx = self.tx().await?;
        if let Some(done) = self
            .replay(tx.as_mut(), svc.org_id, idempotency_key, endpoint, &hash)
            .await?
        {
            return Ok(done);
        }
        let existing = tx.mis_staff(svc.org_id).await?;
        let mut by_mis: HashMap<String, StaffMember> = existing
            .into_iter()
            .filter_map(|s| s.mis_id.clone().map(|m| (m, s)))
            .collect();
        let mut counts = SyncCounts::default();
        let mut new = Vec::new();
        for mut s in parsed {
            let key = s.mis_id.clone().unwrap_or_default();
            match by_mis.remove(&key) {
                None => {
                    counts.created += 1;
                    new.push(s);
                }
                Some(old) => {
                    s.id = old.id;
                    s.version = old.version;
                    s.user_ids = old.user_ids.clone();
                    if s == old {
                        counts.unchanged += 1;
                    } else {
                        s.version = old.version + 1;
                        if !tx.update_staff(&s, old.version).await? {
                            return Err(DomainError::VersionMismatch {
                                expected: old.version,
                            });
                        }
                        counts.updated += 1;
                    }
                }
            }
        }
        if mark_missing_as_left {
            let today = now().date();
            for (_, mut old) in by_mis {
                if old.end_date.is_none_or(|e| e > today) {
                    let version = old.version;
                    old.end_date = Some(today);
                    old.version += 1;
                    tx.update_staff(&old, version).await?;
                    counts.left += 1;
                }
            }
        }
        for chunk in new.chunks(1000) {
            tx.insert_staff_many(chunk).await?;
        }
        self.finish_batch(
            tx,
            svc,
            Batch {
                kind: "mis.staff_synced",
                key: idempotency_key,
                endpoint,
                hash: &hash,
                rows: rows.len(),
                memberships: 0,
            },
            counts,
            ctx,
        )
        .await
    }

    /// R1, S4: students keyed by MIS id; `mark_missing_as_left` takes the others off roll.
    pub async fn sync_students(
        &self,
        svc: &ServiceSubject,
        org: &str,
        batch: MisBatch<StudentRow>,
        idempotency_key: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<SyncOutcome> {
        let MisBatch {
            rows,
            shape_errors: shape,
            mark_missing_as_left,
        } = batch;
        self.check_service(svc, org)?;
        let mut v = Rows::new(rows.len(), shape);
        let mut parsed = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            v.person(i, &r.mis_id, &r.forename, &r.surname);
            let dob = match opt(&r.date_of_birth) {
                None => Some(None),
                Some(d) => parse_date(&d).map(Some),
            };
            match dob {
                None => v.err(i, "date_of_birth", "date", "a date as YYYY-MM-DD"),
                Some(date_of_birth) => parsed.push(Student {
                    id: StudentId::new(),
                    org_id: svc.org_id,
                    mis_id: r.mis_id.trim().to_owned(),
                    forename: r.forename.trim().to_owned(),
                    surname: r.surname.trim().to_owned(),
                    date_of_birth,
                    on_roll: r.on_roll,
                }),
            }
        }
        v.done()?;
        let endpoint = "mis/students";
        let hash = request_hash(endpoint, &rows, mark_missing_as_left)?;
        let mut tx = self.tx().await?;
        if let Some(done) = self
            .replay(tx.as_mut(), svc.org_id, idempotency_key, endpoint, &hash)
            .await?
        {
            return Ok(done);
        }
        let mut by_mis: HashMap<String, Student> = tx
            .all_students(svc.org_id)
            .await?
            .into_iter()
            .map(|s| (s.mis_id.clone(), s))
            .collect();
        let mut counts = SyncCounts::default();
        let mut new = Vec::new();
        for mut s in parsed {
            match by_mis.remove(&s.mis_id) {
                None => {
                    counts.created += 1;
                    new.push(s);
                }
                Some(old) => {
                    s.id = old.id;
                    if s == old {
                        counts.unchanged += 1;
                    } else {
                        tx.update_student(&s).await?;
                        counts.updated += 1;
                    }
                }
            }
        }
        if mark_missing_as_left {
            for (_, mut old) in by_mis {
                if old.on_roll {
                    old.on_roll = false;
                    tx.update_student(&old).await?;
                    counts.left += 1;
                }
            }
        }
        for chunk in new.chunks(1000) {
            tx.insert_students(chunk).await?;
        }
        self.finish_batch(
            tx,
            svc,
            Batch {
                kind: "mis.students_synced",
                key: idempotency_key,
                endpoint,
                hash: &hash,
                rows: rows.len(),
                memberships: 0,
            },
            counts,
            ctx,
        )
        .await
    }

    /// R2, S4: student groups and their members keyed by MIS id; `mark_missing_as_left`
    /// archives the others.
    pub async fn sync_student_groups(
        &self,
        svc: &ServiceSubject,
        org: &str,
        batch: MisBatch<StudentGroupRow>,
        idempotency_key: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<SyncOutcome> {
        let MisBatch {
            rows,
            shape_errors: shape,
            mark_missing_as_left,
        } = batch;
        self.check_service(svc, org)?;
        let mut tx = self.tx().await?;
        // One group sync of an org at a time: two at once would each compute pupils' group
        // kinds from their own snapshot, and the later could leave a pupil out of lists.
        tx.lock_org(svc.org_id).await?;
        let students: HashMap<String, StudentId> = tx
            .all_students(svc.org_id)
            .await?
            .into_iter()
            .map(|s| (s.mis_id, s.id))
            .collect();
        let mut v = Rows::new(rows.len(), shape);
        let mut parsed = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            v.mis_id(i, &r.mis_id);
            v.name(i, "name", &r.name);
            let kind = StudentGroupType::parse(r.kind.trim());
            if kind.is_none() {
                v.err(
                    i,
                    "type",
                    "unknown_type",
                    "one of academic_level, registration_group, house, custom",
                );
            }
            let mut members = Vec::with_capacity(r.member_mis_ids.len());
            for (j, m) in r.member_mis_ids.iter().enumerate() {
                match students.get(m.trim()) {
                    Some(id) => members.push(*id),
                    None => v.errors.push(FieldError::new(
                        &format!("items[{i}].member_mis_ids[{j}]"),
                        "unknown_student",
                        "no student has this MIS id (sync students first)",
                    )),
                }
            }
            members.sort();
            members.dedup();
            if let Some(kind) = kind {
                parsed.push((
                    StudentGroup {
                        id: StudentGroupId::new(),
                        org_id: svc.org_id,
                        mis_id: Some(r.mis_id.trim().to_owned()),
                        kind,
                        name: r.name.trim().to_owned(),
                        archived: false,
                        version: 1,
                    },
                    members,
                ));
            }
        }
        v.done()?;
        let endpoint = "mis/student-groups";
        let hash = request_hash(endpoint, &rows, mark_missing_as_left)?;
        if let Some(done) = self
            .replay(tx.as_mut(), svc.org_id, idempotency_key, endpoint, &hash)
            .await?
        {
            return Ok(done);
        }
        let mut by_mis: HashMap<String, StudentGroup> = tx
            .all_student_groups(svc.org_id)
            .await?
            .into_iter()
            .filter_map(|g| g.mis_id.clone().map(|m| (m, g)))
            .collect();
        let mut current: HashMap<StudentGroupId, HashSet<StudentId>> = HashMap::new();
        for (g, s) in tx.all_group_members(svc.org_id).await? {
            current.entry(g).or_default().insert(s);
        }
        let mut counts = SyncCounts::default();
        let mut adds = Vec::new();
        let mut removes = Vec::new();
        for (mut g, members) in parsed {
            let key = g.mis_id.clone().unwrap_or_default();
            let wanted: HashSet<StudentId> = members.into_iter().collect();
            match by_mis.remove(&key) {
                None => {
                    tx.insert_student_group(&g).await?;
                    adds.extend(wanted.iter().map(|s| (g.id, *s)));
                    counts.created += 1;
                }
                Some(old) => {
                    g.id = old.id;
                    g.version = old.version;
                    let have = current.remove(&old.id).unwrap_or_default();
                    let mut changed = g != old;
                    if changed {
                        tx.update_student_group(&g).await?;
                    }
                    for s in have.difference(&wanted) {
                        removes.push((g.id, *s));
                        changed = true;
                    }
                    for s in wanted.difference(&have) {
                        adds.push((g.id, *s));
                        changed = true;
                    }
                    if changed {
                        counts.updated += 1;
                    } else {
                        counts.unchanged += 1;
                    }
                }
            }
        }
        if mark_missing_as_left {
            for (_, mut old) in by_mis {
                if !old.archived {
                    old.archived = true;
                    tx.update_student_group(&old).await?;
                    counts.left += 1;
                }
            }
        }
        let members_changed = removes.len() + adds.len();
        tx.change_group_members(svc.org_id, &removes, &adds).await?;
        self.finish_batch(
            tx,
            svc,
            Batch {
                kind: "mis.student_groups_synced",
                key: idempotency_key,
                endpoint,
                hash: &hash,
                rows: rows.len(),
                memberships: members_changed,
            },
            counts,
            ctx,
        )
        .await
    }
}
