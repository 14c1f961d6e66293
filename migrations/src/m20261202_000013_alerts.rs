//! N2: alerts. An incident recorded alerts, in its own transaction, each user who asked for
//! immediate alerts on its top-level category and may read it: one row per user for the app
//! (`GET /v1/me/alerts`) beside the email in the outbox.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Alerts {
    Table,
    Id,
    OrgId,
    UserId,
    IncidentId,
    CategoryId,
    /// Unix microseconds.
    CreatedAt,
    ReadAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alerts::Table)
                .if_not_exists()
                .col(uuid(Alerts::Id).primary_key())
                .col(uuid(Alerts::OrgId))
                .col(uuid(Alerts::UserId))
                .col(uuid(Alerts::IncidentId))
                .col(uuid(Alerts::CategoryId))
                .col(big_integer(Alerts::CreatedAt))
                .col(big_integer_null(Alerts::ReadAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("alerts_by_user")
                .table(Alerts::Table)
                .col(Alerts::OrgId)
                .col(Alerts::UserId)
                .col(Alerts::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alerts::Table).to_owned())
            .await
    }
}
