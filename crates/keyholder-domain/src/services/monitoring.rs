//! R9: a pupil is monitored for some categories; each mark is shown only to a session holding
//! view-students on that category, and set only by one holding `students.edit` as well, for a
//! pupil it may see (R4, R5).

use super::*;
use crate::error::FieldError;
use crate::policy::{Action, decide};
use serde_json::json;

/// R9: the categories whose monitoring marks this session may see (after G2).
pub(super) fn viewable_marks(subject: &Subject) -> Vec<CategoryId> {
    crate::visibility::CategoryGuard::ViewStudents.categories(subject)
}

impl Keyholder {
    /// R9: the marks of these pupils that the subject may see, in one query.
    pub(super) async fn visible_marks(
        &self,
        tx: &mut dyn Tx,
        subject: &Subject,
        students: &[StudentId],
    ) -> Result<Vec<(StudentId, CategoryId)>> {
        let categories = viewable_marks(subject);
        if students.is_empty() || categories.is_empty() {
            return Ok(vec![]);
        }
        tx.monitored(subject.org_id, students, &categories).await
    }

    /// R9: mark a pupil monitored for a category (`monitored`), or take the mark off. Answers
    /// the pupil's marks the subject may see. A pupil the subject may not see is not found.
    pub async fn set_monitoring(
        &self,
        subject: &Subject,
        org: &str,
        student: StudentId,
        category: CategoryId,
        monitored: bool,
        ctx: &RequestContext,
    ) -> Result<Vec<CategoryId>> {
        self.check_org(subject, org, Action::EditMonitoring)?;
        let mut tx = self.tx().await?;
        let case = self
            .student_facts(tx.as_mut(), subject, student)
            .await?
            .ok_or(DomainError::NotFound)?;
        // A hidden pupil is not revealed, whatever the category.
        let sees = decide(
            &case.subject,
            Action::EditMonitoring,
            Resource::Student {
                org: subject.org_id,
                facts: &case.facts,
            },
        );
        if !sees.allowed {
            return Err(DomainError::NotFound);
        }
        if !tx
            .categories(subject.org_id)
            .await?
            .iter()
            .any(|c| c.id == category)
        {
            return Err(if monitored {
                DomainError::Validation(vec![FieldError::new(
                    "category_id",
                    "unknown_category",
                    "no such category",
                )])
            } else {
                DomainError::NotFound
            });
        }
        decide(
            &case.subject,
            Action::EditMonitoring,
            Resource::Monitoring {
                org: subject.org_id,
                category,
                facts: &case.facts,
            },
        )
        .into_result()?;
        if tx
            .set_monitored(
                subject.org_id,
                student,
                category,
                monitored,
                subject.user_id,
            )
            .await?
        {
            let (kind, change) = if monitored {
                ("student.monitoring_added", json!([null, category]))
            } else {
                ("student.monitoring_removed", json!([category, null]))
            };
            Audit {
                org: subject.org_id,
                kind,
                actor: Some(subject.user_id),
                target: Some(("student", student.0)),
                changes: json!({ "monitored_category_id": change }),
            }
            .write_about(
                tx.as_mut(),
                ctx,
                &[AuditAbout::Student(student), AuditAbout::Marks(category)],
            )
            .await?;
        }
        let marks = self.visible_marks(tx.as_mut(), subject, &[student]).await?;
        tx.commit().await?;
        Ok(marks.into_iter().map(|(_, c)| c).collect())
    }
}
