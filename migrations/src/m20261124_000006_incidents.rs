//! R8: incidents, a safeguarding record about a pupil in a category.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Incidents {
    Table,
    Id,
    OrgId,
    StudentId,
    CategoryId,
    Description,
    OccurredAt,
    ReportedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Students {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Categories {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Incidents::Table)
                .if_not_exists()
                .col(pk_uuid(Incidents::Id))
                .col(uuid(Incidents::OrgId))
                .col(uuid(Incidents::StudentId))
                .col(uuid(Incidents::CategoryId))
                .col(text(Incidents::Description))
                .col(big_integer(Incidents::OccurredAt))
                .col(uuid(Incidents::ReportedBy))
                .col(big_integer(Incidents::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_incidents_student")
                        .from(Incidents::Table, Incidents::StudentId)
                        .to(Students::Table, Students::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_incidents_category")
                        .from(Incidents::Table, Incidents::CategoryId)
                        .to(Categories::Table, Categories::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("ix_incidents_org_student", Incidents::StudentId),
            ("ix_incidents_org_category", Incidents::CategoryId),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(Incidents::Table)
                    .col(Incidents::OrgId)
                    .col(col)
                    .col(Incidents::OccurredAt)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Incidents::Table).if_exists().to_owned())
            .await
    }
}
