//! S1–S3, R1–R3: staff records and student groups, read by those who manage access; the
//! demo seed writes them.

use super::*;
use crate::policy::Action;
use crate::ports::{StaffQuery, StudentGroupQuery};

#[derive(Debug, Clone, Default)]
pub struct StaffListParams {
    pub q: Option<String>,
    /// S2: only records a new account can be made from today.
    pub eligible_for_account: Option<bool>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct StudentGroupListParams {
    pub kind: Option<StudentGroupType>,
    pub q: Option<String>,
    pub archived: Option<bool>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// The demo's people (binary only).
#[derive(Debug, Clone, Default)]
pub struct PeopleSeed {
    /// Staff records, each with the email of the account it belongs to, if any.
    pub staff: Vec<(StaffMember, Option<String>)>,
    pub groups: Vec<StudentGroup>,
    /// Students with the MIS ids of their groups.
    pub students: Vec<(Student, Vec<String>)>,
    /// (group MIS id, account email): R3 allow-lists.
    pub access: Vec<(String, String)>,
    pub settings: Option<OrgSettings>,
}

impl Keyholder {
    /// S1/S2: staff records; `eligible_for_account=true` filters in the query (S2, S3).
    /// Each record comes with whether it is eligible for a new account today (S2).
    pub async fn list_staff(
        &self,
        subject: &Subject,
        org: &str,
        params: StaffListParams,
    ) -> Result<Page<(StaffMember, bool)>> {
        self.check_org(subject, org, Action::ListStaff)?;
        let (page, per_page) = paging(params.page, params.per_page)?;
        let mut tx = self.tx().await?;
        let several = self.several_per_user(tx.as_mut(), subject).await?;
        let today = now().date();
        let eligible_on = (params.eligible_for_account == Some(true)).then_some((today, several));
        let query = StaffQuery {
            q: clean(params.q),
            eligible_on,
            page,
            per_page,
        };
        let (items, total) = tx.staff(subject.org_id, &query).await?;
        Ok(Page {
            items: items
                .into_iter()
                .map(|s| {
                    let eligible = s.eligible_for_account(today, several);
                    (s, eligible)
                })
                .collect(),
            page,
            per_page,
            total,
        })
    }

    /// S3: whether the org lets one account work as several staff records.
    async fn several_per_user(&self, tx: &mut dyn Tx, subject: &Subject) -> Result<bool> {
        Ok(self
            .own_org(tx, subject)
            .await?
            .settings
            .several_staff_per_user)
    }

    pub async fn get_staff(
        &self,
        subject: &Subject,
        org: &str,
        id: StaffId,
    ) -> Result<(StaffMember, bool)> {
        self.check_org(subject, org, Action::ReadStaff)?;
        let mut tx = self.tx().await?;
        let several = self.several_per_user(tx.as_mut(), subject).await?;
        let s = tx
            .staff_member(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let eligible = s.eligible_for_account(now().date(), several);
        Ok((s, eligible))
    }

    /// R2: student groups with their member counts.
    pub async fn list_student_groups(
        &self,
        subject: &Subject,
        org: &str,
        params: StudentGroupListParams,
    ) -> Result<Page<(StudentGroup, u64)>> {
        self.check_org(subject, org, Action::ListStudentGroups)?;
        let (page, per_page) = paging(params.page, params.per_page)?;
        let query = StudentGroupQuery {
            kind: params.kind,
            q: clean(params.q),
            archived: params.archived,
            page,
            per_page,
        };
        let mut tx = self.tx().await?;
        let (items, total) = tx.student_groups(subject.org_id, &query).await?;
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    }

    /// The demo seed (binary only): staff records linked to accounts, student groups, pupils,
    /// memberships and allow-lists, in one transaction with one audit entry.
    pub async fn system_seed_people(
        &self,
        org: OrgId,
        seed: PeopleSeed,
        ctx: &RequestContext,
    ) -> Result<()> {
        let mut tx = self.tx().await?;
        let accounts = tx
            .users(org, &crate::ports::UserQuery::by_name(10_000))
            .await?
            .0;
        let account = |email: &str| {
            accounts
                .iter()
                .find(|u| u.user.email.as_deref() == Some(email))
                .map(|u| u.user.id)
                .ok_or_else(|| DomainError::internal(format!("no account {email}")))
        };
        for (s, email) in &seed.staff {
            tx.insert_staff(s).await?;
            if let Some(e) = email {
                tx.link_staff(org, account(e)?, s.id).await?;
            }
        }
        for g in &seed.groups {
            tx.insert_student_group(g).await?;
        }
        let group = |mis: &str| {
            seed.groups
                .iter()
                .find(|g| g.mis_id.as_deref() == Some(mis))
                .map(|g| g.id)
                .ok_or_else(|| DomainError::internal(format!("no group {mis}")))
        };
        for (s, groups) in &seed.students {
            tx.insert_student(s).await?;
            for g in groups {
                tx.add_group_member(org, group(g)?, s.id).await?;
            }
        }
        for (g, email) in &seed.access {
            tx.add_group_access(org, group(g)?, account(email)?).await?;
        }
        if let Some(settings) = &seed.settings {
            tx.update_org_settings(org, settings).await?;
        }
        Audit {
            org,
            kind: "demo.seeded",
            actor: None,
            target: Some(("org", org.0)),
            changes: serde_json::json!({
                "staff": [null, seed.staff.len()],
                "student_groups": [null, seed.groups.len()],
                "students": [null, seed.students.len()],
            }),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await
    }
}

/// S1: a staff record typed in by hand (schools without an MIS connection).
#[derive(Debug, Clone)]
pub struct StaffInput {
    pub mis_id: Option<String>,
    pub title: Option<String>,
    pub forename: String,
    pub surname: String,
    pub email: Option<String>,
    pub job_title: Option<String>,
    pub contract: Contract,
    pub hours: Hours,
    pub start_date: time::Date,
    pub end_date: Option<time::Date>,
}

#[derive(Debug, Clone, Default)]
pub struct StaffPatch {
    pub mis_id: Option<Option<String>>,
    pub title: Option<Option<String>>,
    pub forename: Option<String>,
    pub surname: Option<String>,
    pub email: Option<Option<String>>,
    pub job_title: Option<Option<String>>,
    pub contract: Option<Contract>,
    pub hours: Option<Hours>,
    pub start_date: Option<time::Date>,
    pub end_date: Option<Option<time::Date>>,
}

fn staff_errors(s: &StaffMember) -> Vec<crate::error::FieldError> {
    use crate::error::FieldError;
    let mut errors = Vec::new();
    for (field, v) in [("forename", &s.forename), ("surname", &s.surname)] {
        let n = v.chars().count();
        if n == 0 || n > 100 {
            errors.push(FieldError::new(field, "length", "1 to 100 characters"));
        }
    }
    if let Some(e) = &s.email
        && !valid_email(e)
    {
        errors.push(FieldError::new("email", "email", "not an email address"));
    }
    if let Some(m) = &s.mis_id
        && (m.is_empty() || m.chars().count() > 64)
    {
        errors.push(FieldError::new("mis_id", "length", "1 to 64 characters"));
    }
    if let Some(end) = s.end_date
        && end < s.start_date
    {
        errors.push(FieldError::new(
            "end_date",
            "before_start",
            "the end date is before the start date",
        ));
    }
    errors
}

fn staff_json(s: &StaffMember) -> serde_json::Value {
    serde_json::json!({
        "mis_id": s.mis_id, "title": s.title, "forename": s.forename, "surname": s.surname,
        "email": s.email, "job_title": s.job_title, "contract": s.contract, "hours": s.hours,
        "start_date": s.start_date.to_string(), "end_date": s.end_date.map(|d| d.to_string()),
    })
}

fn staff_diff(b: &StaffMember, a: &StaffMember) -> serde_json::Value {
    let (b, a) = (staff_json(b), staff_json(a));
    let fields: Vec<_> = b
        .as_object()
        .map(|m| m.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|k| {
            let (x, y) = (b[&k].clone(), a[&k].clone());
            (k, x, y)
        })
        .collect();
    let pairs: Vec<(&str, serde_json::Value, serde_json::Value)> = fields
        .iter()
        .map(|(k, x, y)| (k.as_str(), x.clone(), y.clone()))
        .collect();
    diff(&pairs)
}

impl Keyholder {
    /// S1: a staff record made by hand.
    pub async fn create_staff(
        &self,
        subject: &Subject,
        org: &str,
        input: StaffInput,
        ctx: &RequestContext,
    ) -> Result<(StaffMember, bool)> {
        self.check_org(subject, org, Action::EditStaff)?;
        let trim = |o: Option<String>| o.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let staff = StaffMember {
            id: StaffId::new(),
            org_id: subject.org_id,
            mis_id: trim(input.mis_id),
            title: trim(input.title),
            forename: input.forename.trim().to_owned(),
            surname: input.surname.trim().to_owned(),
            email: trim(input.email),
            job_title: trim(input.job_title),
            contract: input.contract,
            hours: input.hours,
            start_date: input.start_date,
            end_date: input.end_date,
            user_ids: vec![],
            version: 1,
        };
        let errors = staff_errors(&staff);
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let mut tx = self.tx().await?;
        let several = self.several_per_user(tx.as_mut(), subject).await?;
        tx.insert_staff(&staff).await?;
        let empty = StaffMember {
            mis_id: None,
            title: None,
            email: None,
            job_title: None,
            forename: String::new(),
            surname: String::new(),
            ..staff.clone()
        };
        Audit {
            org: subject.org_id,
            kind: "staff.created",
            actor: Some(subject.user_id),
            target: Some(("staff", staff.id.0)),
            changes: staff_diff(&empty, &staff),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        let eligible = staff.eligible_for_account(now().date(), several);
        Ok((staff, eligible))
    }

    /// S1: edit a staff record; `If-Match` turns a lost update into 412.
    pub async fn update_staff(
        &self,
        subject: &Subject,
        org: &str,
        id: StaffId,
        patch: StaffPatch,
        if_match: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<(StaffMember, bool)> {
        self.check_org(subject, org, Action::EditStaff)?;
        let mut tx = self.tx().await?;
        let several = self.several_per_user(tx.as_mut(), subject).await?;
        let before = tx
            .staff_member(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        if let Some(v) = if_match
            && v != before.version
        {
            return Err(DomainError::VersionMismatch { expected: v });
        }
        let trim = |o: Option<String>| o.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let mut after = before.clone();
        if let Some(v) = patch.mis_id {
            after.mis_id = trim(v);
        }
        if let Some(v) = patch.title {
            after.title = trim(v);
        }
        if let Some(v) = patch.forename {
            after.forename = v.trim().to_owned();
        }
        if let Some(v) = patch.surname {
            after.surname = v.trim().to_owned();
        }
        if let Some(v) = patch.email {
            after.email = trim(v);
        }
        if let Some(v) = patch.job_title {
            after.job_title = trim(v);
        }
        if let Some(v) = patch.contract {
            after.contract = v;
        }
        if let Some(v) = patch.hours {
            after.hours = v;
        }
        if let Some(v) = patch.start_date {
            after.start_date = v;
        }
        if let Some(v) = patch.end_date {
            after.end_date = v;
        }
        let errors = staff_errors(&after);
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let changes = staff_diff(&before, &after);
        if changes.as_object().is_some_and(|m| !m.is_empty()) {
            after.version = before.version + 1;
            if !tx.update_staff(&after, before.version).await? {
                return Err(DomainError::VersionMismatch {
                    expected: before.version,
                });
            }
            Audit {
                org: subject.org_id,
                kind: "staff.updated",
                actor: Some(subject.user_id),
                target: Some(("staff", id.0)),
                changes,
            }
            .write(tx.as_mut(), ctx)
            .await?;
        }
        tx.commit().await?;
        let eligible = after.eligible_for_account(now().date(), several);
        Ok((after, eligible))
    }

    /// S3: staff whose end date has passed while an account working as them is still active.
    pub async fn leavers_report(
        &self,
        subject: &Subject,
        org: &str,
    ) -> Result<Vec<(StaffMember, Vec<UserView>)>> {
        self.check_org(subject, org, Action::RunLeaversReport)?;
        let mut tx = self.tx().await?;
        let staff = tx.leavers(subject.org_id, now().date()).await?;
        let mut out = Vec::with_capacity(staff.len());
        for s in staff {
            let mut users = Vec::new();
            for u in &s.user_ids {
                if let Some(v) = tx.user_view(subject.org_id, *u).await?
                    && v.user.status == UserStatus::Active
                {
                    users.push(v);
                }
            }
            out.push((s, users));
        }
        Ok(out)
    }
}
