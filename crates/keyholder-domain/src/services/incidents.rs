//! R8: incidents. Recording needs `incidents.add`, add-incidents on the category and a pupil the
//! user may see in the pick-list; reading needs view-incidents on the category and R4/R5 for the
//! pupil. Every read is audited (AU1).

use super::*;
use crate::error::FieldError;
use crate::policy::{Action, decide};
use crate::visibility::CategoryGuard;
use serde_json::json;

#[derive(Debug, Clone)]
pub struct NewIncident {
    pub student_id: StudentId,
    pub category_id: CategoryId,
    pub description: String,
    pub occurred_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default)]
pub struct IncidentListParams {
    pub student_id: Option<StudentId>,
    pub category_id: Option<CategoryId>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// AU4: an entry about an incident names its pupil and is bound to its category (R8).
fn about(i: &Incident) -> [AuditAbout; 2] {
    [
        AuditAbout::Student(i.student_id),
        AuditAbout::Incidents(i.category_id),
    ]
}

impl Keyholder {
    /// The engine's decision about an incident in `category` on `student`.
    async fn incident_decision(
        &self,
        tx: &mut dyn Tx,
        subject: &Subject,
        action: Action,
        category: CategoryId,
        student: StudentId,
    ) -> Result<Option<crate::policy::Decision>> {
        let Some(case) = self.student_facts(tx, subject, student).await? else {
            return Ok(None);
        };
        Ok(Some(decide(
            &case.subject,
            action,
            Resource::Incident {
                org: subject.org_id,
                category,
                facts: &case.facts,
            },
        )))
    }

    pub async fn add_incident(
        &self,
        subject: &Subject,
        org: &str,
        new: NewIncident,
        ctx: &RequestContext,
    ) -> Result<Incident> {
        self.check_org(subject, org, Action::AddIncident)?;
        let mut errors = Vec::new();
        let description = new.description.trim().to_owned();
        if description.is_empty() || description.chars().count() > 20_000 {
            errors.push(FieldError::new(
                "description",
                "length",
                "1 to 20000 characters",
            ));
        }
        if new.occurred_at > now() + time::Duration::minutes(5) {
            errors.push(FieldError::new(
                "occurred_at",
                "in_future",
                "an incident cannot have happened in the future",
            ));
        }
        let mut tx = self.tx().await?;
        let categories = tx.categories(subject.org_id).await?;
        if !categories.iter().any(|c| c.id == new.category_id) {
            errors.push(FieldError::new(
                "category_id",
                "unknown_category",
                "no such category",
            ));
        }
        // R8: a pupil the pick-list would not show (hidden, or off roll) is unknown to the caller, in the same place
        // of the same error list as a pupil that does not exist (R4, R5).
        let case = self
            .visible_student(tx.as_mut(), subject, Action::PickStudents, new.student_id)
            .await?
            .filter(|c| c.student.on_roll);
        if case.is_none() {
            errors.push(FieldError::new(
                "student_id",
                "unknown_student",
                "no such student",
            ));
        }
        let Some(case) = case.filter(|_| errors.is_empty()) else {
            return Err(DomainError::Validation(errors));
        };
        decide(
            &case.subject,
            Action::AddIncident,
            Resource::Incident {
                org: subject.org_id,
                category: new.category_id,
                facts: &case.facts,
            },
        )
        .into_result()?;
        let incident = Incident {
            id: IncidentId::new(),
            org_id: subject.org_id,
            student_id: new.student_id,
            category_id: new.category_id,
            description,
            occurred_at: new.occurred_at,
            reported_by: subject.user_id,
            created_at: now(),
        };
        tx.insert_incident(&incident).await?;
        Audit {
            org: subject.org_id,
            kind: "incident.created",
            actor: Some(subject.user_id),
            target: Some(("incident", incident.id.0)),
            changes: json!({"student_id": [null, incident.student_id], "category_id": [null, incident.category_id]}),
        }
        .write_about(tx.as_mut(), ctx, &about(&incident))
        .await?;
        // N2: the alerts go with the incident, or not at all (the outbox).
        let org = self.own_org(tx.as_mut(), subject).await?;
        self.alert_immediately(tx.as_mut(), &org, &incident, &categories)
            .await?;
        tx.commit().await?;
        Ok(incident)
    }

    /// One incident, audited; not found when the caller may not read it.
    pub async fn get_incident(
        &self,
        subject: &Subject,
        org: &str,
        id: IncidentId,
        ctx: &RequestContext,
    ) -> Result<Incident> {
        self.check_org(subject, org, Action::ReadIncident)?;
        let mut tx = self.tx().await?;
        let incident = tx
            .incident(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let d = self
            .incident_decision(
                tx.as_mut(),
                subject,
                Action::ReadIncident,
                incident.category_id,
                incident.student_id,
            )
            .await?
            .ok_or(DomainError::NotFound)?;
        let allowed = d.allowed;
        Audit {
            org: subject.org_id,
            kind: if allowed {
                "incident.read"
            } else {
                "incident.read_denied"
            },
            actor: Some(subject.user_id),
            target: Some(("incident", id.0)),
            changes: json!({"rules": d.reasons.iter().map(|r| r.rule).collect::<Vec<_>>()}),
        }
        .write_about(tx.as_mut(), ctx, &about(&incident))
        .await?;
        tx.commit().await?;
        if allowed {
            Ok(incident)
        } else {
            Err(DomainError::NotFound)
        }
    }

    /// Incidents the caller may read, filtered in the query; the read is audited.
    pub async fn list_incidents(
        &self,
        subject: &Subject,
        org: &str,
        params: IncidentListParams,
        ctx: &RequestContext,
    ) -> Result<Page<Incident>> {
        self.check_org(subject, org, Action::ReadIncident)?;
        let (page, per_page) = paging(params.page, params.per_page)?;
        let mut categories = CategoryGuard::ViewIncidents.categories(subject);
        if let Some(c) = params.category_id {
            categories.retain(|k| *k == c);
        }
        let mut tx = self.tx().await?;
        let org_row = self.own_org(tx.as_mut(), subject).await?;
        let scope = crate::ports::StudentScope::new(subject.user_id, &org_row.settings);
        let (items, total) = tx
            .incidents(
                subject.org_id,
                &scope,
                &categories,
                params.student_id,
                page,
                per_page,
            )
            .await?;
        if !items.is_empty() {
            Audit {
                org: subject.org_id,
                kind: "incident.listed",
                actor: Some(subject.user_id),
                target: None,
                changes: json!({"incident_ids": items.iter().map(|i| i.id).collect::<Vec<_>>()}),
            }
            .write_about(
                tx.as_mut(),
                ctx,
                &items.iter().flat_map(about).collect::<Vec<_>>(),
            )
            .await?;
            tx.commit().await?;
        }
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    }
}
