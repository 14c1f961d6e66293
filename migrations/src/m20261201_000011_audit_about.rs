//! AU4: what an audit entry is about. An entry that names a pupil, or that is bound to a
//! category (an incident, a monitoring mark), is shown only to a reader who may see that pupil
//! (R4, R5) and holds that category's flag (R8, R9). The bindings live beside the entry, one
//! row each, so that the audit list filters in the query and its cursor pages stay whole.

use sea_orm_migration::sea_orm::{FromQueryResult, Statement};
use sea_orm_migration::{prelude::*, schema::*};
use std::collections::{HashMap, HashSet};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditAbout {
    Table,
    OrgId,
    AuditId,
    /// `student`, `incidents` (a category, R8) or `marks` (a category, R9).
    Kind,
    RefId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AuditAbout::Table)
                .if_not_exists()
                .col(uuid(AuditAbout::OrgId))
                .col(uuid(AuditAbout::AuditId))
                .col(string_len(AuditAbout::Kind, 16))
                .col(uuid(AuditAbout::RefId))
                .primary_key(
                    Index::create()
                        .col(AuditAbout::OrgId)
                        .col(AuditAbout::AuditId)
                        .col(AuditAbout::Kind)
                        .col(AuditAbout::RefId),
                )
                .to_owned(),
        )
        .await?;
        backfill(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AuditAbout::Table).to_owned())
            .await
    }
}

#[derive(Debug, FromQueryResult)]
struct Entry {
    id: uuid::Uuid,
    org_id: uuid::Uuid,
    kind: String,
    target_id: Option<uuid::Uuid>,
    changes: String,
}

#[derive(Debug, FromQueryResult)]
struct IncidentRow {
    id: uuid::Uuid,
    student_id: uuid::Uuid,
    category_id: uuid::Uuid,
}

#[derive(Debug, FromQueryResult)]
struct StudentRow {
    id: uuid::Uuid,
}

/// The entries written before bindings existed, bound as the services now bind them when they
/// write: blocks to their pupil and to the account they are on; incidents created, read, refused and listed to their pupils and
/// categories; marks to their pupil and category; a refused request to any pupil in its path.
async fn backfill(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = m.get_connection();
    let backend = m.get_database_backend();
    let entries = Entry::find_by_statement(Statement::from_string(
        backend,
        "SELECT id, org_id, kind, target_id, changes FROM audit_log WHERE kind IN \
         ('student.blocked', 'student.unblocked', 'student.monitoring_added', \
          'student.monitoring_removed', 'incident.created', 'incident.read', \
          'incident.read_denied', 'incident.listed', 'access.denied')",
    ))
    .all(db)
    .await?;
    if entries.is_empty() {
        return Ok(());
    }
    let incidents: HashMap<uuid::Uuid, (uuid::Uuid, uuid::Uuid)> = IncidentRow::find_by_statement(
        Statement::from_string(backend, "SELECT id, student_id, category_id FROM incidents"),
    )
    .all(db)
    .await?
    .into_iter()
    .map(|i| (i.id, (i.student_id, i.category_id)))
    .collect();
    let students: HashSet<uuid::Uuid> =
        StudentRow::find_by_statement(Statement::from_string(backend, "SELECT id FROM students"))
            .all(db)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect();
    let ids = |v: &serde_json::Value| -> Vec<uuid::Uuid> {
        let one = |v: &serde_json::Value| v.as_str().and_then(|s| uuid::Uuid::parse_str(s).ok());
        match v {
            serde_json::Value::Array(a) => a.iter().filter_map(one).collect(),
            other => one(other).into_iter().collect(),
        }
    };
    let mut rows: Vec<(uuid::Uuid, uuid::Uuid, &str, uuid::Uuid)> = Vec::new();
    for e in &entries {
        let changes: serde_json::Value = serde_json::from_str(&e.changes).unwrap_or_default();
        let mut bind = |kind: &'static str, id: uuid::Uuid| rows.push((e.org_id, e.id, kind, id));
        let incident = |id: uuid::Uuid, bind: &mut dyn FnMut(&'static str, uuid::Uuid)| {
            if let Some((s, c)) = incidents.get(&id) {
                bind("student", *s);
                bind("incidents", *c);
            }
        };
        match e.kind.as_str() {
            "student.blocked" | "student.unblocked" => {
                ids(&changes["student_id"])
                    .into_iter()
                    .for_each(|s| bind("student", s));
                e.target_id.into_iter().for_each(|u| bind("blocks", u));
            }
            "student.monitoring_added" | "student.monitoring_removed" => {
                e.target_id.into_iter().for_each(|s| bind("student", s));
                ids(&changes["monitored_category_id"])
                    .into_iter()
                    .for_each(|c| bind("marks", c));
            }
            "incident.created" | "incident.read" | "incident.read_denied" => {
                if let Some(t) = e.target_id {
                    incident(t, &mut bind);
                }
            }
            "incident.listed" => {
                for t in ids(&changes["incident_ids"]) {
                    incident(t, &mut bind);
                }
            }
            _ => {
                let path = changes["path"].as_str().unwrap_or_default();
                path.split('/')
                    .filter_map(|s| uuid::Uuid::parse_str(s).ok())
                    .filter(|s| students.contains(s))
                    .for_each(|s| bind("student", s));
            }
        }
    }
    rows.sort();
    rows.dedup();
    for chunk in rows.chunks(500) {
        let mut insert = Query::insert()
            .into_table(AuditAbout::Table)
            .columns([
                AuditAbout::OrgId,
                AuditAbout::AuditId,
                AuditAbout::Kind,
                AuditAbout::RefId,
            ])
            .on_conflict(
                OnConflict::columns([
                    AuditAbout::OrgId,
                    AuditAbout::AuditId,
                    AuditAbout::Kind,
                    AuditAbout::RefId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .to_owned();
        for (org, audit, kind, id) in chunk {
            insert.values_panic([(*org).into(), (*audit).into(), (*kind).into(), (*id).into()]);
        }
        m.exec_stmt(insert).await?;
    }
    Ok(())
}
