//! Issue 13: student groups an admin makes (a care provider's centres of care, a school's
//! custom groups) beside the MIS's. An admin makes `custom` groups, and groups of any type the
//! org takes from no MIS; renames and archives them; adds and removes their pupils by id (each
//! one visible to the admin, R4/R5). The MIS's groups stay the MIS's: an admin edits none of
//! them, and a sync never touches a group it did not make. Every change is audited; the
//! group's version is its ETag.

use super::*;
use crate::FieldError;
use crate::policy::Action;
use serde_json::json;

/// A new group.
#[derive(Debug, Clone)]
pub struct NewStudentGroup {
    pub kind: String,
    pub name: String,
}

/// What to change of a group (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct StudentGroupPatch {
    pub name: Option<String>,
    pub archived: Option<bool>,
}

/// The most pupils named in one members request.
pub const MAX_MEMBERS_PER_REQUEST: usize = 10_000;

fn group_name(name: &str, errors: &mut Vec<FieldError>) -> String {
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 || n > 100 {
        errors.push(FieldError::new("name", "length", "1 to 100 characters"));
    }
    name.to_owned()
}

impl Keyholder {
    /// The group, with its member count, if it is the org's.
    pub async fn get_student_group(
        &self,
        subject: &Subject,
        org: &str,
        id: StudentGroupId,
    ) -> Result<(StudentGroup, u64)> {
        self.check_org(subject, org, Action::ListStudentGroups)?;
        let mut tx = self.read_tx().await?;
        tx.student_group(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)
    }

    /// A group the admin keeps: `custom`, or a type the org takes from no MIS.
    pub async fn create_student_group(
        &self,
        subject: &Subject,
        org: &str,
        new: NewStudentGroup,
        ctx: &RequestContext,
    ) -> Result<(StudentGroup, u64)> {
        self.check_org(subject, org, Action::ManageStudentGroups)?;
        let mut errors = Vec::new();
        let kind = StudentGroupType::parse(new.kind.trim());
        if kind.is_none() {
            errors.push(FieldError::new(
                "type",
                "unknown_type",
                "one of academic_level, registration_group, house, custom",
            ));
        }
        let name = group_name(&new.name, &mut errors);
        let mut tx = self.tx().await?;
        if let Some(kind) = kind
            && kind != StudentGroupType::Custom
            && tx
                .all_student_groups(subject.org_id)
                .await?
                .iter()
                .any(|g| g.kind == kind && g.mis_id.is_some())
        {
            errors.push(FieldError::new(
                "type",
                "mis_managed_type",
                format!(
                    "this organisation's {} groups come from its MIS; make a custom group instead",
                    kind.as_str()
                ),
            ));
        }
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let Some(kind) = kind else {
            return Err(DomainError::internal("a checked type"));
        };
        let group = StudentGroup {
            id: StudentGroupId::new(),
            org_id: subject.org_id,
            mis_id: None,
            kind,
            name,
            archived: false,
            version: 1,
        };
        tx.insert_student_group(&group).await?;
        Audit {
            org: subject.org_id,
            kind: "student_group.created",
            actor: Some(subject.user_id),
            target: Some(("student_group", group.id.0)),
            changes: json!({"type": [null, kind.as_str()], "name": [null, group.name]}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok((group, 0))
    }

    /// The admin's group of `id`, for an edit: the MIS's are refused (409 `mis_managed`).
    async fn kept_group(
        &self,
        tx: &mut dyn Tx,
        subject: &Subject,
        id: StudentGroupId,
        expected_version: Option<i64>,
    ) -> Result<(StudentGroup, u64)> {
        let (group, n) = tx
            .student_group(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        if group.mis_id.is_some() {
            return Err(DomainError::conflict(
                "mis_managed",
                "this group comes from the MIS: change it there",
            ));
        }
        if let Some(v) = expected_version
            && v != group.version
        {
            return Err(DomainError::VersionMismatch { expected: v });
        }
        Ok((group, n))
    }

    /// Renames or archives (or restores) a group the admin keeps.
    pub async fn update_student_group(
        &self,
        subject: &Subject,
        org: &str,
        id: StudentGroupId,
        patch: StudentGroupPatch,
        expected_version: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<(StudentGroup, u64)> {
        self.check_org(subject, org, Action::ManageStudentGroups)?;
        let mut errors = Vec::new();
        let name = patch.name.as_deref().map(|n| group_name(n, &mut errors));
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let mut tx = self.tx().await?;
        let (before, n) = self
            .kept_group(tx.as_mut(), subject, id, expected_version)
            .await?;
        let mut after = before.clone();
        if let Some(name) = name {
            after.name = name;
        }
        if let Some(a) = patch.archived {
            after.archived = a;
        }
        if after == before {
            return Ok((before, n));
        }
        tx.update_student_group(&after).await?;
        after.version = before.version + 1;
        Audit {
            org: subject.org_id,
            kind: "student_group.updated",
            actor: Some(subject.user_id),
            target: Some(("student_group", id.0)),
            changes: diff(&[
                ("name", json!(before.name), json!(after.name)),
                ("archived", json!(before.archived), json!(after.archived)),
            ]),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok((after, n))
    }

    /// Adds (or removes) pupils by id to a group the admin keeps; each must be a pupil the
    /// admin may see (R4, R5: otherwise `unknown_student`, as a missing one). Answers how many
    /// memberships changed.
    pub async fn edit_student_group_members(
        &self,
        subject: &Subject,
        org: &str,
        id: StudentGroupId,
        students: Vec<StudentId>,
        add: bool,
        ctx: &RequestContext,
    ) -> Result<u64> {
        self.check_org(subject, org, Action::ManageStudentGroups)?;
        if students.is_empty() || students.len() > MAX_MEMBERS_PER_REQUEST {
            return Err(DomainError::field(
                "student_ids",
                "length",
                format!("1 to {MAX_MEMBERS_PER_REQUEST} pupils"),
            ));
        }
        let mut tx = self.tx().await?;
        self.kept_group(tx.as_mut(), subject, id, None).await?;
        let scope = Self::scope(subject);
        let mut wanted = students.clone();
        wanted.sort();
        wanted.dedup();
        let visible: std::collections::HashSet<StudentId> = tx
            .visible_students_among(subject.org_id, &scope, &wanted)
            .await?
            .into_iter()
            .collect();
        let errors: Vec<FieldError> = students
            .iter()
            .enumerate()
            .filter(|(_, s)| !visible.contains(s))
            .map(|(i, _)| {
                FieldError::new(
                    &format!("student_ids[{i}]"),
                    "unknown_student",
                    "no such student",
                )
            })
            .collect();
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let current: std::collections::HashSet<StudentId> = tx
            .group_members(subject.org_id, id)
            .await?
            .into_iter()
            .collect();
        let moved: Vec<(StudentGroupId, StudentId)> = wanted
            .into_iter()
            .filter(|s| current.contains(s) != add)
            .map(|s| (id, s))
            .collect();
        if moved.is_empty() {
            return Ok(0);
        }
        if add {
            tx.change_group_members(subject.org_id, &[], &moved).await?;
        } else {
            tx.change_group_members(subject.org_id, &moved, &[]).await?;
        }
        tx.bump_student_group(subject.org_id, id).await?;
        let ids: Vec<StudentId> = moved.iter().map(|(_, s)| *s).collect();
        Audit {
            org: subject.org_id,
            kind: if add {
                "student_group.members_added"
            } else {
                "student_group.members_removed"
            },
            actor: Some(subject.user_id),
            target: Some(("student_group", id.0)),
            changes: json!({"student_ids": ids, "count": ids.len()}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok(u64::try_from(ids.len()).unwrap_or(u64::MAX))
    }
}
