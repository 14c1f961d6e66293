//! Per-address quotas shared by every replica (issue 11): on PostgreSQL each door and address
//! has a row with its GCRA "theoretical arrival time", so a quota is one quota whichever
//! replica answers. (SQLite serves from one process and keeps them in memory.)

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RateQuotas {
    Table,
    Key,
    /// Unix microseconds: when the bucket is next fully replenished.
    Tat,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(RateQuotas::Table)
                .if_not_exists()
                .col(string_len(RateQuotas::Key, 128).primary_key())
                .col(big_integer(RateQuotas::Tat))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RateQuotas::Table).to_owned())
            .await
    }
}
