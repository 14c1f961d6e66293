//! AU4: what an audit entry is about. An entry that names a pupil, or that is bound to a
//! category (an incident, a monitoring mark), is shown only to a reader who may see that pupil
//! (R4, R5) and holds that category's flag (R8, R9). The bindings live beside the entry, one
//! row each, so that the audit list filters in the query and its cursor pages stay whole.

use sea_orm_migration::{prelude::*, schema::*};

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
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AuditAbout::Table).to_owned())
            .await
    }
}
