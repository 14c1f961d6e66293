//! R1–R7, R10: who sees which child. Lists are filtered in the query (a scope the store turns
//! into SQL); a single record is decided by the engine with the facts of that pupil.

use super::decisions::{group_reason, inactive, told_without_blocks, unknown_action};
use super::*;
use crate::permission::{CategoryFlags, PermissionSet};
use crate::policy::{Action, Decision, Resource, StudentFacts, decide};
use crate::ports::{Block, StudentQuery, StudentScope};
use crate::rule::Rule;
use serde_json::json;

#[derive(Debug, Clone, Default)]
pub struct StudentListParams {
    pub q: Option<String>,
    pub on_roll: Option<bool>,
    pub group_id: Option<StudentGroupId>,
    /// R9: only pupils monitored for this category (needs view-students on it).
    pub monitored_category_id: Option<CategoryId>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// A pupil in a list or on its own: the record, its groups and the monitoring marks the
/// caller may see (R9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentView<G> {
    pub student: Student,
    pub groups: Vec<G>,
    pub monitored_category_ids: Vec<CategoryId>,
}

/// Attaches to each pupil the marks found for it.
fn with_marks<G>(
    rows: Vec<(Student, Vec<G>)>,
    marks: &[(StudentId, CategoryId)],
) -> Vec<StudentView<G>> {
    rows.into_iter()
        .map(|(student, groups)| {
            let mut monitored_category_ids: Vec<CategoryId> = marks
                .iter()
                .filter(|(s, _)| *s == student.id)
                .map(|(_, c)| *c)
                .collect();
            monitored_category_ids.sort();
            StudentView {
                student,
                groups,
                monitored_category_ids,
            }
        })
        .collect()
}

/// R6: one user at a time, or every user matching a filter.
#[derive(Debug, Clone)]
pub enum AccessSelection {
    Users(Vec<UserId>),
    Filter {
        q: Option<String>,
        user_group_id: Option<GroupId>,
    },
}

/// What an admin may ask the engine about (R10).
#[derive(Debug, Clone, Copy)]
pub enum CheckResource {
    Org,
    Student(StudentId),
    UserGroup(GroupId),
}

/// R10: a user's permissions with and without a second factor.
#[derive(Debug, Clone)]
pub struct EffectivePermissions {
    pub user: UserView,
    pub group: UserGroup,
    pub with_second_factor: (PermissionSet, Vec<(CategoryId, CategoryFlags)>),
    pub without_second_factor: (PermissionSet, Vec<(CategoryId, CategoryFlags)>),
    /// Issue 16: the registered permissions in effect with and without a second factor.
    pub registered_with_second_factor: Vec<String>,
    pub registered_without_second_factor: Vec<String>,
}

/// One pupil as the engine needs it: the subject with the allow-lists and block that bear on the
/// pupil, the pupil's facts, and the record.
pub(super) struct StudentCase {
    pub subject: Subject,
    pub facts: StudentFacts,
    pub student: Student,
    pub groups: Vec<StudentGroup>,
}

impl StudentCase {
    /// The engine's decision about this pupil, for the subject as it bears on the pupil.
    fn decide(&self, action: Action) -> Decision {
        decide(
            &self.subject,
            action,
            Resource::Student {
                org: self.subject.org_id,
                facts: &self.facts,
            },
        )
    }
}

/// The most characters a pupils' search (`q`) may have: a name or an MIS id, never more (a
/// list's counts are held per search, so its text is bounded).
pub const MAX_SEARCH_CHARS: usize = 100;

pub(super) fn search_text(q: Option<&str>) -> Result<()> {
    if q.is_some_and(|q| q.trim().chars().count() > MAX_SEARCH_CHARS) {
        return Err(DomainError::field(
            "q",
            "length",
            format!("at most {MAX_SEARCH_CHARS} characters"),
        ));
    }
    Ok(())
}

impl Keyholder {
    /// R4, R5: the scope of the pupils the subject may see, for a query.
    /// R3-R5 for the subject's lists, from the session's facts (no read).
    pub(super) fn scope(subject: &Subject) -> StudentScope {
        StudentScope {
            user: subject.user_id,
            restricting_types: subject.restricted_group_types.clone(),
        }
    }

    /// The facts of one pupil for R4/R5, and the subject as the engine must see it for that
    /// pupil: with the allow-lists and the block that bear on it. `None`: no such pupil here.
    pub(super) async fn student_facts(
        &self,
        tx: &mut dyn Tx,
        subject: &Subject,
        id: StudentId,
    ) -> Result<Option<StudentCase>> {
        let Some((student, groups)) = tx.student(subject.org_id, id).await? else {
            return Ok(None);
        };
        let org = self.own_org(tx, subject).await?;
        let facts = crate::visibility::student_facts(id, &groups, &org.settings);
        let mut facts_subject = subject.clone();
        let mut allowed = tx
            .allowed_among(subject.org_id, subject.user_id, &facts.restricting_groups)
            .await?;
        allowed.sort();
        facts_subject.allowed_groups = allowed;
        facts_subject.blocked_students =
            if tx.is_blocked(subject.org_id, subject.user_id, id).await? {
                vec![id]
            } else {
                vec![]
            };
        Ok(Some(StudentCase {
            subject: facts_subject,
            facts,
            student,
            groups,
        }))
    }

    /// The engine's decision about one pupil (R4/R5), with the pupil when it exists.
    async fn student_decision(
        &self,
        tx: &mut dyn Tx,
        subject: &Subject,
        action: Action,
        id: StudentId,
    ) -> Result<(Decision, Option<(Student, Vec<StudentGroup>)>)> {
        let Some(case) = self.student_facts(tx, subject, id).await? else {
            return Ok((
                Decision {
                    allowed: false,
                    reasons: vec![],
                },
                None,
            ));
        };
        let d = case.decide(action);
        Ok((d, Some((case.student, case.groups))))
    }

    /// R4: only the pupils the user may see, filtered, paged and counted in the query.
    pub async fn list_students(
        &self,
        subject: &Subject,
        org: &str,
        params: StudentListParams,
    ) -> Result<Page<StudentView<StudentGroupId>>> {
        self.check_org(subject, org, Action::ListStudents)?;
        let (page, per_page) = paging(params.page, params.per_page)?;
        search_text(params.q.as_deref())?;
        let mut tx = self.read_tx().await?;
        let scope = Self::scope(subject);
        let query = StudentQuery {
            q: clean(params.q),
            on_roll: params.on_roll,
            group_id: params.group_id,
            monitored_category: params.monitored_category_id,
            also_visible_to: None,
            page,
            per_page,
        };
        if let Some(c) = params.monitored_category_id
            && !monitoring::viewable_marks(subject).contains(&c)
        {
            return Err(DomainError::Forbidden {
                rule: Rule::R9,
                detail: format!(
                    "the user's group does not grant view students on category {c} in this session"
                ),
            });
        }
        let (rows, total) = tx.students(subject.org_id, &scope, &query).await?;
        let ids: Vec<StudentId> = rows.iter().map(|(s, _)| s.id).collect();
        let marks = self.visible_marks(tx.as_mut(), subject, &ids).await?;
        Ok(Page {
            items: with_marks(rows, &marks),
            page,
            per_page,
            total,
        })
    }

    /// R11's mirror: the list of pupils another user would get (`GET /students` as them, in
    /// a session with or without a second factor), of the pupils the asking admin may see
    /// too (R4, R5 for both, in the query). Empty when the user would be refused the list
    /// (U5, A3, G1, G2): `access/check` says why.
    pub async fn visible_students_of(
        &self,
        subject: &Subject,
        org: &str,
        user: UserId,
        params: StudentListParams,
        second_factor: bool,
    ) -> Result<Page<StudentView<StudentGroupId>>> {
        self.check_org(subject, org, Action::ListVisibleStudents)?;
        let (page, per_page) = paging(params.page, params.per_page)?;
        search_text(params.q.as_deref())?;
        let mut tx = self.read_tx().await?;
        let target = tx
            .user(subject.org_id, user)
            .await?
            .ok_or(DomainError::NotFound)?;
        let org_row = self.own_org(tx.as_mut(), subject).await?;
        let (who, _) = self
            .subject_of(tx.as_mut(), &org_row, &target, second_factor)
            .await?;
        if inactive(&target).is_some()
            || !decide(&who, Action::ListStudents, Resource::Org(who.org_id)).allowed
        {
            return Ok(Page {
                items: vec![],
                page,
                per_page,
                total: 0,
            });
        }
        let query = StudentQuery {
            q: clean(params.q),
            on_roll: params.on_roll,
            group_id: params.group_id,
            monitored_category: None,
            also_visible_to: Some(Self::scope(subject)),
            page,
            per_page,
        };
        let (rows, total) = tx
            .students(subject.org_id, &Self::scope(&who), &query)
            .await?;
        let ids: Vec<StudentId> = rows.iter().map(|(s, _)| s.id).collect();
        // R9: the marks the user would see, of those the admin may see too.
        let mine = monitoring::viewable_marks(subject);
        let marks: Vec<(StudentId, CategoryId)> = self
            .visible_marks(tx.as_mut(), &who, &ids)
            .await?
            .into_iter()
            .filter(|(_, c)| mine.contains(c))
            .collect();
        Ok(Page {
            items: with_marks(rows, &marks),
            page,
            per_page,
            total,
        })
    }

    /// R4, R5: one pupil, or not found (a hidden record is never revealed).
    pub async fn get_student(
        &self,
        subject: &Subject,
        org: &str,
        id: StudentId,
    ) -> Result<StudentView<StudentGroup>> {
        self.check_org(subject, org, Action::ViewStudent)?;
        let mut tx = self.read_tx().await?;
        match self
            .student_decision(tx.as_mut(), subject, Action::ViewStudent, id)
            .await?
        {
            (d, Some(found)) if d.allowed => {
                let marks = self.visible_marks(tx.as_mut(), subject, &[id]).await?;
                Ok(with_marks(vec![found], &marks).remove(0))
            }
            _ => Err(DomainError::NotFound),
        }
    }

    /// R8: names only, for recording an incident; R4's group and block rules apply.
    pub async fn pick_students(
        &self,
        subject: &Subject,
        org: &str,
        q: Option<String>,
        page: Option<u64>,
        per_page: Option<u64>,
    ) -> Result<Page<Student>> {
        self.check_org(subject, org, Action::PickStudents)?;
        let (page, per_page) = paging(page, per_page)?;
        search_text(q.as_deref())?;
        let mut tx = self.read_tx().await?;
        let scope = Self::scope(subject);
        let query = StudentQuery {
            q: clean(q),
            on_roll: Some(true),
            group_id: None,
            monitored_category: None,
            also_visible_to: None,
            page,
            per_page,
        };
        let (rows, total) = tx.students(subject.org_id, &scope, &query).await?;
        Ok(Page {
            items: rows.into_iter().map(|(s, _)| s).collect(),
            page,
            per_page,
            total,
        })
    }

    pub async fn group_access(
        &self,
        subject: &Subject,
        org: &str,
        group: StudentGroupId,
    ) -> Result<(StudentGroup, Vec<UserView>)> {
        self.check_org(subject, org, Action::ManageRestrictions)?;
        let mut tx = self.tx().await?;
        let (g, _) = tx
            .student_group(subject.org_id, group)
            .await?
            .ok_or(DomainError::NotFound)?;
        let users = tx.group_access(subject.org_id, group).await?;
        Ok((g, users))
    }

    /// R6: add users to (or take them off) a group's allow-list, one by one or by filter.
    pub async fn edit_group_access(
        &self,
        subject: &Subject,
        org: &str,
        group: StudentGroupId,
        selection: AccessSelection,
        grant: bool,
        ctx: &RequestContext,
    ) -> Result<u64> {
        self.check_org(subject, org, Action::ManageRestrictions)?;
        let mut tx = self.tx().await?;
        let (g, _) = tx
            .student_group(subject.org_id, group)
            .await?
            .ok_or(DomainError::NotFound)?;
        let users: Vec<UserId> = match selection {
            AccessSelection::Users(ids) => {
                let mut errors = Vec::new();
                for (i, u) in ids.iter().enumerate() {
                    if tx.user(subject.org_id, *u).await?.is_none() {
                        errors.push(crate::error::FieldError::new(
                            &format!("user_ids[{i}]"),
                            "unknown_user",
                            "no such account",
                        ));
                    }
                }
                if !errors.is_empty() {
                    return Err(DomainError::Validation(errors));
                }
                ids
            }
            AccessSelection::Filter { q, user_group_id } => {
                let query = crate::ports::UserQuery {
                    q: clean(q),
                    user_group_id,
                    ..crate::ports::UserQuery::by_name(100_000)
                };
                tx.users(subject.org_id, &query)
                    .await?
                    .0
                    .into_iter()
                    .map(|u| u.user.id)
                    .collect()
            }
        };
        let n = if grant {
            tx.grant_group_access(subject.org_id, group, &users).await?
        } else {
            tx.revoke_group_access(subject.org_id, group, &users)
                .await?
        };
        Audit {
            org: subject.org_id,
            kind: if grant {
                "student_group.access_granted"
            } else {
                "student_group.access_revoked"
            },
            actor: Some(subject.user_id),
            target: Some(("student_group", group.0)),
            changes: json!({"group": g.name, "users": users, "changed": n}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// R5: blocks are admins' only, and never on one's own account.
    fn check_blocks(&self, subject: &Subject, org: &str, user: UserId) -> Result<()> {
        self.check_org(subject, org, Action::ManageBlocks)?;
        self.authorize(
            subject,
            Action::ManageBlocks,
            Resource::BlocksOf {
                org: subject.org_id,
                user,
            },
        )
    }

    /// The pupil, when the subject may see it for `action` (R4, R5); `None` for a hidden pupil
    /// exactly as for a missing one.
    pub(super) async fn visible_student(
        &self,
        tx: &mut dyn Tx,
        subject: &Subject,
        action: Action,
        id: StudentId,
    ) -> Result<Option<StudentCase>> {
        let Some(case) = self.student_facts(tx, subject, id).await? else {
            return Ok(None);
        };
        Ok(case.decide(action).allowed.then_some(case))
    }

    /// R5: the blocks on an account, of the pupils the reader may see (in the query).
    pub async fn list_blocks(
        &self,
        subject: &Subject,
        org: &str,
        user: UserId,
    ) -> Result<Vec<(Block, Student)>> {
        self.check_blocks(subject, org, user)?;
        let mut tx = self.tx().await?;
        tx.user(subject.org_id, user)
            .await?
            .ok_or(DomainError::NotFound)?;
        let reader = Self::scope(subject);
        tx.blocks(subject.org_id, user, &reader).await
    }

    /// R5: a block beats every permission, including an admin's. Only an admin adds one, on
    /// another account, for a pupil the admin may see (a hidden pupil is answered as a missing
    /// one).
    pub async fn block_student(
        &self,
        subject: &Subject,
        org: &str,
        user: UserId,
        student: StudentId,
        reason: &str,
        ctx: &RequestContext,
    ) -> Result<Block> {
        self.check_blocks(subject, org, user)?;
        let reason = reason.trim();
        let mut errors = Vec::new();
        if reason.is_empty() || reason.chars().count() > 1000 {
            errors.push(crate::error::FieldError::new(
                "reason",
                "length",
                "1 to 1000 characters",
            ));
        }
        let mut tx = self.tx().await?;
        tx.user(subject.org_id, user)
            .await?
            .ok_or(DomainError::NotFound)?;
        if self
            .visible_student(tx.as_mut(), subject, Action::ManageBlocks, student)
            .await?
            .is_none()
        {
            errors.push(crate::error::FieldError::new(
                "student_id",
                "unknown_student",
                "no such student",
            ));
        }
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        if tx.is_blocked(subject.org_id, user, student).await? {
            return Err(DomainError::conflict(
                "already_blocked",
                "the student is already blocked for this user",
            ));
        }
        let block = Block {
            user_id: user,
            student_id: student,
            reason: reason.to_owned(),
            created_by: Some(subject.user_id),
            created_at: now(),
        };
        tx.insert_block(subject.org_id, &block).await?;
        Audit {
            org: subject.org_id,
            kind: "student.blocked",
            actor: Some(subject.user_id),
            target: Some(("user", user.0)),
            changes: json!({"student_id": [null, student], "reason": [null, reason]}),
        }
        .write_about(
            tx.as_mut(),
            ctx,
            &[AuditAbout::Student(student), AuditAbout::BlocksOf(user)],
        )
        .await?;
        tx.commit().await?;
        Ok(block)
    }

    /// R5: lifted by an admin, on another account, for a pupil the admin may see.
    pub async fn unblock_student(
        &self,
        subject: &Subject,
        org: &str,
        user: UserId,
        student: StudentId,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.check_blocks(subject, org, user)?;
        let mut tx = self.tx().await?;
        if self
            .visible_student(tx.as_mut(), subject, Action::ManageBlocks, student)
            .await?
            .is_none()
            || !tx.delete_block(subject.org_id, user, student).await?
        {
            return Err(DomainError::NotFound);
        }
        Audit {
            org: subject.org_id,
            kind: "student.unblocked",
            actor: Some(subject.user_id),
            target: Some(("user", user.0)),
            changes: json!({"student_id": [student, null]}),
        }
        .write_about(
            tx.as_mut(),
            ctx,
            &[AuditAbout::Student(student), AuditAbout::BlocksOf(user)],
        )
        .await?;
        tx.commit().await
    }

    /// R7: pupils on roll in no group of a restricting type, so that an admin can fix the data.
    pub async fn students_without_restriction(
        &self,
        subject: &Subject,
        org: &str,
        page: Option<u64>,
        per_page: Option<u64>,
    ) -> Result<Page<Student>> {
        self.check_org(subject, org, Action::RunRestrictionReport)?;
        let (page, per_page) = paging(page, per_page)?;
        let mut tx = self.tx().await?;
        let reader = Self::scope(subject);
        let (items, total) = tx
            .students_without_restricting_group(
                subject.org_id,
                &reader.restricting_types,
                &reader,
                page,
                per_page,
            )
            .await?;
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    }

    /// The subject a user would be in a session with (or without) a second factor.
    async fn subject_of(
        &self,
        tx: &mut dyn Tx,
        org: &Org,
        user: &User,
        second_factor: bool,
    ) -> Result<(Subject, UserGroup)> {
        let group = tx
            .group(org.id, user.user_group_id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let categories = tx.categories(org.id).await?;
        Ok((
            Subject::in_group(
                org,
                user,
                &group,
                &categories,
                second_factor,
                SessionId::new(),
            ),
            group,
        ))
    }

    /// R10: "may user U do action X on resource Y?" — the engine's decision with its rule ids
    /// and facts. An inactive account may do nothing.
    pub async fn check_access(
        &self,
        subject: &Subject,
        org: &str,
        user: UserId,
        asked: Asked,
        resource: CheckResource,
        second_factor: bool,
    ) -> Result<Decision> {
        self.check_org(subject, org, Action::ExplainAccess)?;
        let mut tx = self.tx().await?;
        if matches!(asked, Asked::Registered(_))
            && asked.unknown(&tx.registered_permissions(subject.org_id).await?)
        {
            return Err(unknown_action());
        }
        let org_row = self.own_org(tx.as_mut(), subject).await?;
        let target = tx
            .user(subject.org_id, user)
            .await?
            .ok_or(DomainError::NotFound)?;
        if let Some(denied) = inactive(&target) {
            return Ok(denied);
        }
        let (who, group) = self
            .subject_of(tx.as_mut(), &org_row, &target, second_factor)
            .await?;
        // R5: who is blocked from whom is for admins only; anyone else learns only that the
        // pupil is not visible to the user, worded as any R4 refusal.
        let reads_blocks = self
            .decide_route(subject, None, Action::ManageBlocks)?
            .allowed;
        let decision = match resource {
            CheckResource::Org => asked.decide(&who, Resource::Org(who.org_id)),
            CheckResource::Student(id) => {
                // The asker must see the pupil (R4, R5): a hidden one is answered exactly as a
                // missing one.
                let unknown =
                    || DomainError::field("resource.id", "unknown_student", "no such student");
                if self
                    .visible_student(tx.as_mut(), subject, Action::ViewStudent, id)
                    .await?
                    .is_none()
                {
                    return Err(unknown());
                }
                let case = self
                    .student_facts(tx.as_mut(), &who, id)
                    .await?
                    .ok_or_else(unknown)?;
                let pupil = Resource::Student {
                    org: who.org_id,
                    facts: &case.facts,
                };
                if reads_blocks {
                    asked.decide(&case.subject, pupil)
                } else {
                    told_without_blocks(&case.subject, &asked, pupil)
                }
            }
            CheckResource::UserGroup(id) => {
                let g = tx.group(subject.org_id, id).await?.ok_or_else(|| {
                    DomainError::field("resource.id", "unknown_group", "no such user group")
                })?;
                asked.decide(&who, grant(&g))
            }
        };
        let mut decision = decision;
        decision.reasons.push(group_reason(&group, second_factor));
        Ok(decision)
    }

    /// R10: what is in effect for a user with and without a second factor (G1, G2).
    pub async fn effective_permissions_of(
        &self,
        subject: &Subject,
        org: &str,
        user: UserId,
    ) -> Result<EffectivePermissions> {
        self.check_org(subject, org, Action::ExplainAccess)?;
        let mut tx = self.tx().await?;
        let org_row = self.own_org(tx.as_mut(), subject).await?;
        let view = tx
            .user_view(subject.org_id, user)
            .await?
            .ok_or(DomainError::NotFound)?;
        let (with, group) = self
            .subject_of(tx.as_mut(), &org_row, &view.user, true)
            .await?;
        let (without, _) = self
            .subject_of(tx.as_mut(), &org_row, &view.user, false)
            .await?;
        Ok(EffectivePermissions {
            user: view,
            group,
            registered_with_second_factor: with.registered,
            registered_without_second_factor: without.registered,
            with_second_factor: (with.permissions, with.category_flags),
            without_second_factor: (without.permissions, without.category_flags),
        })
    }
}
