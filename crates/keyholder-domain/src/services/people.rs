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
        let several = tx
            .org_by_slug(org)
            .await?
            .ok_or(DomainError::NotFound)?
            .settings
            .several_staff_per_user;
        let today = now().date();
        let eligible_on = (params.eligible_for_account == Some(true)).then_some((today, several));
        let query = StaffQuery {
            q: params
                .q
                .map(|q| q.trim().to_owned())
                .filter(|q| !q.is_empty()),
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

    pub async fn get_staff(
        &self,
        subject: &Subject,
        org: &str,
        id: StaffId,
    ) -> Result<(StaffMember, bool)> {
        self.check_org(subject, org, Action::ReadStaff)?;
        let mut tx = self.tx().await?;
        let several = tx
            .org_by_slug(org)
            .await?
            .ok_or(DomainError::NotFound)?
            .settings
            .several_staff_per_user;
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
            q: params
                .q
                .map(|q| q.trim().to_owned())
                .filter(|q| !q.is_empty()),
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
            .users(
                org,
                &crate::ports::UserQuery {
                    q: None,
                    status: None,
                    user_group_id: None,
                    second_factor: None,
                    elevated: None,
                    admin: None,
                    sort: crate::ports::UserSort::Name,
                    descending: false,
                    page: 1,
                    per_page: 10_000,
                },
            )
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
