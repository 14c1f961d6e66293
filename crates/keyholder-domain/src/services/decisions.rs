//! The decision point for the services around Keyholder: R10 in bulk (many decisions from one
//! read of the facts) and R11 (who may see a pupil, as the inverse of R4/R5/R8 in SQL).

use super::students::search_text;
use super::users::grant;
use super::*;
use crate::permission::Permission;
use crate::policy::{
    Action, Decision, Reason, Resource, ServiceSubject, StudentFacts, decide, effective_permissions,
};
use crate::ports::{UserQuery, ViewerScope};
use crate::rule::Rule;
use crate::visibility::{CategoryGuard, restricts, student_facts};
use std::collections::HashMap;

/// The most checks one batch may carry.
pub const MAX_BATCH_CHECKS: usize = 1000;

/// One question of a batch: may `user` do `action` on `resource`, in a session with (or
/// without) a second factor?
#[derive(Debug, Clone)]
pub struct BatchCheck {
    pub user: UserId,
    pub action: Asked,
    pub resource: CheckResource,
    pub second_factor: bool,
}

/// The answer to one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchAnswer {
    Decided(Decision),
    /// The check names a record the org does not have (`field`, `code`): `user_id`
    /// `unknown_user`, `resource.id` `unknown_student` or `unknown_group`, or `action`
    /// `unknown_action` (a registered permission's key the org's catalogue does not hold).
    Unknown {
        field: &'static str,
        code: &'static str,
    },
}

/// Everything a batch's decisions need, read once; each check is then decided in memory by
/// the engine, exactly as `access/check` decides one (for an asker who may not read blocks).
pub struct BatchFacts {
    org: Org,
    users: HashMap<UserId, User>,
    groups: HashMap<GroupId, UserGroup>,
    students: HashMap<StudentId, StudentFacts>,
    subjects: HashMap<(UserId, bool), Subject>,
    catalogue: Vec<crate::permission::RegisteredPermission>,
}

/// The parts of a batch's facts, as the store reads them.
pub struct BatchParts {
    pub org: Org,
    pub categories: Vec<Category>,
    pub users: Vec<User>,
    pub groups: Vec<UserGroup>,
    pub students: Vec<(Student, Vec<StudentGroup>)>,
    /// R3: (user, restricting group) pairs of the allow-lists that bear on the batch.
    pub access: Vec<(UserId, StudentGroupId)>,
    /// R5: (user, pupil) pairs of the blocks that bear on the batch.
    pub blocks: Vec<(UserId, StudentId)>,
    /// Issue 16: the permissions other products registered in the org's catalogue.
    pub catalogue: Vec<crate::permission::RegisteredPermission>,
}

impl BatchFacts {
    /// One subject per user and session kind, holding every allow-list and block among the
    /// batch's pupils: R4 asks only whether a pupil's restricting groups are among the
    /// subject's, and R5 whether the pupil is among its blocks, so the extra ones change
    /// nothing.
    pub fn new(parts: BatchParts, checks: &[BatchCheck]) -> BatchFacts {
        let BatchParts {
            org,
            categories,
            users,
            groups,
            students,
            access,
            blocks,
            catalogue,
        } = parts;
        let users: HashMap<UserId, User> = users.into_iter().map(|u| (u.id, u)).collect();
        let groups: HashMap<GroupId, UserGroup> = groups.into_iter().map(|g| (g.id, g)).collect();
        let students = students
            .into_iter()
            .map(|(s, gs)| (s.id, student_facts(s.id, &gs, &org.settings)))
            .collect();
        let mut allowed: HashMap<UserId, Vec<StudentGroupId>> = HashMap::new();
        for (u, g) in access {
            allowed.entry(u).or_default().push(g);
        }
        let mut blocked: HashMap<UserId, Vec<StudentId>> = HashMap::new();
        for (u, s) in blocks {
            blocked.entry(u).or_default().push(s);
        }
        let mut subjects = HashMap::new();
        for c in checks {
            let key = (c.user, c.second_factor);
            if subjects.contains_key(&key) {
                continue;
            }
            let Some(user) = users.get(&c.user) else {
                continue;
            };
            let Some(group) = groups.get(&user.user_group_id) else {
                continue;
            };
            let mut s = Subject::in_group(
                &org,
                user,
                group,
                &categories,
                c.second_factor,
                SessionId::new(),
            );
            s.allowed_groups = allowed.get(&c.user).cloned().unwrap_or_default();
            s.allowed_groups.sort();
            s.allowed_groups.dedup();
            s.blocked_students = blocked.get(&c.user).cloned().unwrap_or_default();
            s.blocked_students.sort();
            s.blocked_students.dedup();
            subjects.insert(key, s);
        }
        BatchFacts {
            org,
            users,
            groups,
            students,
            subjects,
            catalogue,
        }
    }

    /// One check, decided by the engine (U5, G1, G2, G4, R4, R5, T1), told as to someone who
    /// may not read blocks (R5).
    pub fn decide(&self, check: &BatchCheck) -> BatchAnswer {
        let unknown_user = BatchAnswer::Unknown {
            field: "user_id",
            code: "unknown_user",
        };
        if check.action.unknown(&self.catalogue) {
            return BatchAnswer::Unknown {
                field: "action",
                code: "unknown_action",
            };
        }
        let Some(user) = self.users.get(&check.user) else {
            return unknown_user;
        };
        if let Some(denied) = inactive(user) {
            return BatchAnswer::Decided(denied);
        }
        let (Some(subject), Some(group)) = (
            self.subjects.get(&(check.user, check.second_factor)),
            self.groups.get(&user.user_group_id),
        ) else {
            return unknown_user;
        };
        let mut decision = match check.resource {
            CheckResource::Org => check.action.decide(subject, Resource::Org(self.org.id)),
            CheckResource::Student(id) => match self.students.get(&id) {
                Some(facts) => told_without_blocks(
                    subject,
                    &check.action,
                    Resource::Student {
                        org: self.org.id,
                        facts,
                    },
                ),
                None => {
                    return BatchAnswer::Unknown {
                        field: "resource.id",
                        code: "unknown_student",
                    };
                }
            },
            CheckResource::UserGroup(id) => match self.groups.get(&id) {
                Some(g) => check.action.decide(subject, grant(g)),
                None => {
                    return BatchAnswer::Unknown {
                        field: "resource.id",
                        code: "unknown_group",
                    };
                }
            },
        };
        decision
            .reasons
            .push(group_reason(group, check.second_factor));
        BatchAnswer::Decided(decision)
    }
}

/// R11: what `viewers` is asked.
#[derive(Debug, Clone, Default)]
pub struct ViewerParams {
    /// Who may read the pupil's incidents in this category (R8), instead of its record.
    pub category_id: Option<CategoryId>,
    /// Decide for sessions with a second factor (default true).
    pub second_factor: Option<bool>,
    pub q: Option<String>,
    pub user_group_id: Option<GroupId>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// R11: a user who may see the pupil, with the engine's reasons.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: UserView,
    pub reasons: Vec<Reason>,
}

/// Who asks a decision-point question: an admin, or a service account's key.
#[derive(Debug, Clone, Copy)]
pub enum Asker<'a> {
    User(&'a Subject),
    Service(&'a ServiceSubject),
}

impl Keyholder {
    /// R10 in bulk, for a service account with `decisions`: each check answered as
    /// `access/check` would answer it, from one read of the facts.
    pub async fn check_access_batch(
        &self,
        service: &ServiceSubject,
        org: &str,
        checks: &[BatchCheck],
    ) -> Result<Vec<BatchAnswer>> {
        self.decide_service_route(service, Some(org), Action::CheckBatch)?;
        if checks.is_empty() || checks.len() > MAX_BATCH_CHECKS {
            return Err(DomainError::field(
                "checks",
                "length",
                format!("1 to {MAX_BATCH_CHECKS} checks"),
            ));
        }
        let org_id = service.org_id;
        let mut users: Vec<UserId> = checks.iter().map(|c| c.user).collect();
        users.sort();
        users.dedup();
        let mut pupils: Vec<StudentId> = checks
            .iter()
            .filter_map(|c| match c.resource {
                CheckResource::Student(id) => Some(id),
                _ => None,
            })
            .collect();
        pupils.sort();
        pupils.dedup();
        let mut tx = self.read_tx().await?;
        let org_row = tx.org_by_id(org_id).await?.ok_or(DomainError::NotFound)?;
        let students = tx.students_among(org_id, &pupils).await?;
        let mut restricting: Vec<StudentGroupId> = students
            .iter()
            .flat_map(|(_, gs)| gs.iter())
            .filter(|g| restricts(g, &org_row.settings.restricted_group_types))
            .map(|g| g.id)
            .collect();
        restricting.sort();
        restricting.dedup();
        let parts = BatchParts {
            categories: tx.categories(org_id).await?,
            users: tx.users_among(org_id, &users).await?,
            groups: tx.all_groups(org_id).await?,
            access: tx.access_among(org_id, &users, &restricting).await?,
            blocks: tx.blocks_among(org_id, &users, &pupils).await?,
            catalogue: if checks
                .iter()
                .any(|c| matches!(c.action, Asked::Registered(_)))
            {
                tx.registered_permissions(org_id).await?
            } else {
                vec![]
            },
            students,
            org: org_row,
        };
        let facts = BatchFacts::new(parts, checks);
        Ok(checks.iter().map(|c| facts.decide(c)).collect())
    }

    /// R11: every user who may see this pupil's record (or, with `category_id`, read its
    /// incidents in that category), filtered and paged in the query, each with the engine's
    /// reasons. For an admin who may see the pupil (a hidden pupil is answered as a missing
    /// one), or a service account with `decisions`.
    pub async fn student_viewers(
        &self,
        asker: Asker<'_>,
        org: &str,
        student: StudentId,
        params: ViewerParams,
    ) -> Result<Page<Viewer>> {
        let org_id = match asker {
            Asker::User(s) => {
                self.check_org(s, org, Action::ListViewers)?;
                s.org_id
            }
            Asker::Service(s) => {
                self.decide_service_route(s, Some(org), Action::ListViewers)?;
                s.org_id
            }
        };
        let (page, per_page) = paging(params.page, params.per_page)?;
        search_text(params.q.as_deref())?;
        let mut tx = self.read_tx().await?;
        let groups_of_pupil = match asker {
            Asker::User(s) => {
                self.visible_student(tx.as_mut(), s, Action::ViewStudent, student)
                    .await?
                    .ok_or(DomainError::NotFound)?
                    .groups
            }
            Asker::Service(_) => {
                tx.student(org_id, student)
                    .await?
                    .ok_or(DomainError::NotFound)?
                    .1
            }
        };
        let org_row = tx.org_by_id(org_id).await?.ok_or(DomainError::NotFound)?;
        let facts = student_facts(student, &groups_of_pupil, &org_row.settings);
        let categories = tx.categories(org_id).await?;
        if let Some(c) = params.category_id
            && !categories.iter().any(|k| k.id == c)
        {
            return Err(DomainError::field(
                "category_id",
                "unknown_category",
                "no such category",
            ));
        }
        let second_factor = params.second_factor.unwrap_or(true);
        let groups: HashMap<GroupId, UserGroup> = tx
            .all_groups(org_id)
            .await?
            .into_iter()
            .map(|g| (g.id, g))
            .collect();
        // G1, G2 (and R8's flag): the groups whose permissions in effect grant the view.
        let granting: Vec<GroupId> = groups
            .values()
            .filter(|g| {
                let (permissions, flags) =
                    effective_permissions(g, &categories, second_factor, &org_row.settings);
                match params.category_id {
                    None => permissions.contains(Permission::StudentsView),
                    Some(c) => flags
                        .iter()
                        .any(|(k, f)| *k == c && CategoryGuard::ViewIncidents.holds(*f)),
                }
            })
            .map(|g| g.id)
            .collect();
        let query = UserQuery {
            q: clean(params.q),
            user_group_id: params.user_group_id,
            page,
            viewers_of: Some(ViewerScope {
                groups: granting,
                student,
                restricting_groups: facts.restricting_groups.clone(),
            }),
            ..UserQuery::by_name(per_page)
        };
        let (rows, total) = tx.users(org_id, &query).await?;
        // The engine's own reasons for each: the query found them, the engine says why.
        let (action, resource) = match params.category_id {
            None => (
                Action::ViewStudent,
                Resource::Student {
                    org: org_id,
                    facts: &facts,
                },
            ),
            Some(category) => (
                Action::ReadIncident,
                Resource::Incident {
                    org: org_id,
                    category,
                    facts: &facts,
                },
            ),
        };
        let mut items = Vec::with_capacity(rows.len());
        for view in rows {
            let group = groups
                .get(&view.user.user_group_id)
                .ok_or_else(|| DomainError::internal("a user without a group"))?;
            let mut who = Subject::in_group(
                &org_row,
                &view.user,
                group,
                &categories,
                second_factor,
                SessionId::new(),
            );
            who.allowed_groups = facts.restricting_groups.clone();
            who.allowed_groups.sort();
            let decision = decide(&who, action, resource);
            if !decision.allowed {
                return Err(DomainError::internal(format!(
                    "R11: the query and the engine disagree about user {}",
                    view.user.id
                )));
            }
            let mut reasons = decision.reasons;
            // R5 is named to admins only: a service is told R4's reason alone.
            if matches!(asker, Asker::User(_)) {
                reasons.push(Reason {
                    rule: Rule::R5,
                    permission: None,
                    detail: "the student is not blocked for this user".into(),
                });
            }
            reasons.push(group_reason(group, second_factor));
            items.push(Viewer {
                user: view,
                reasons,
            });
        }
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    }
}

/// What `access/check` asks the engine: one of its actions (a built-in permission among them),
/// or a permission another product registered in the org's catalogue (issue 16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    Action(Action),
    Registered(String),
}

impl Asked {
    pub(crate) fn decide(&self, subject: &Subject, resource: Resource<'_>) -> Decision {
        match self {
            Asked::Action(a) => decide(subject, *a, resource),
            Asked::Registered(key) => crate::policy::decide_registered(subject, key, resource),
        }
    }

    /// A registered key the org's catalogue does not hold, as the field error `access/check`
    /// answers for any unknown action.
    pub(crate) fn unknown(&self, catalogue: &[crate::permission::RegisteredPermission]) -> bool {
        matches!(self, Asked::Registered(key) if !catalogue.iter().any(|p| &p.key == key))
    }
}

pub(crate) fn unknown_action() -> DomainError {
    DomainError::field(
        "action",
        "unknown_action",
        "neither a permission of the catalogue nor an action of the engine",
    )
}

/// U5: an account that is not active may do nothing.
pub(crate) fn inactive(user: &User) -> Option<Decision> {
    (user.status != UserStatus::Active).then(|| Decision {
        allowed: false,
        reasons: vec![crate::policy::Reason {
            rule: Rule::U5,
            permission: None,
            detail: format!("the account is {}", user.status),
        }],
    })
}

/// R5: a decision as told to someone who may not read blocks. A block must not show, neither
/// by its rule nor by what it hides: decided again without the block, a pupil the user still
/// may not see is answered with that other reason, and one the block alone hides as R4; and
/// every R4 refusal reads the same ("not visible to this user"), naming no group, so that a
/// block's R4 and an allow-list's R4 cannot be told apart.
pub(crate) fn told_without_blocks(
    subject: &Subject,
    asked: &Asked,
    resource: Resource<'_>,
) -> Decision {
    let decided = asked.decide(subject, resource);
    let mut told = if decided.reasons.iter().any(|r| r.rule == Rule::R5) && !decided.allowed {
        let mut unblocked = subject.clone();
        unblocked.blocked_students.clear();
        let again = asked.decide(&unblocked, resource);
        if again.allowed {
            Decision::deny(Rule::R4, String::new())
        } else {
            again
        }
    } else {
        decided
    };
    if !told.allowed {
        for r in told.reasons.iter_mut().filter(|r| r.rule == Rule::R4) {
            r.detail = "the student is not visible to this user".into();
        }
    }
    told
}

/// G1: the group a decision was made in, and the session it assumed (G2).
pub(crate) fn group_reason(group: &UserGroup, second_factor: bool) -> crate::policy::Reason {
    crate::policy::Reason {
        rule: Rule::G1,
        permission: None,
        detail: format!(
            "in group `{}` ({}){}",
            group.name,
            if group.active { "active" } else { "inactive" },
            if second_factor {
                ", session with a second factor"
            } else {
                ", session without a second factor"
            }
        ),
    }
}
