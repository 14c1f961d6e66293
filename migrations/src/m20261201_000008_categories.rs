//! G1, R9: categories are edited (with a version for ETags), and students are monitored for
//! categories.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Categories {
    Table,
    Id,
    Version,
}

#[derive(DeriveIden)]
enum Students {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum StudentMonitoring {
    Table,
    OrgId,
    StudentId,
    CategoryId,
    CreatedBy,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Categories::Table)
                .add_column(big_integer(Categories::Version).default(1))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(StudentMonitoring::Table)
                .if_not_exists()
                .col(uuid(StudentMonitoring::OrgId))
                .col(uuid(StudentMonitoring::StudentId))
                .col(uuid(StudentMonitoring::CategoryId))
                .col(uuid_null(StudentMonitoring::CreatedBy))
                .col(big_integer(StudentMonitoring::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(StudentMonitoring::OrgId)
                        .col(StudentMonitoring::StudentId)
                        .col(StudentMonitoring::CategoryId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_student_monitoring_student")
                        .from(StudentMonitoring::Table, StudentMonitoring::StudentId)
                        .to(Students::Table, Students::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_student_monitoring_category")
                        .from(StudentMonitoring::Table, StudentMonitoring::CategoryId)
                        .to(Categories::Table, Categories::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_student_monitoring_org_category")
                .table(StudentMonitoring::Table)
                .col(StudentMonitoring::OrgId)
                .col(StudentMonitoring::CategoryId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(StudentMonitoring::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Categories::Table)
                .drop_column(Categories::Version)
                .to_owned(),
        )
        .await
    }
}
