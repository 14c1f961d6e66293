//! N2: each user's daily digest, one row per org-local day. The primary key makes a second
//! digest for the same day impossible, whichever replica or command tries; the latest row is
//! where the next digest starts.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Digests {
    Table,
    OrgId,
    UserId,
    /// The org's local date, `YYYY-MM-DD`.
    Day,
    /// Unix microseconds: what the digest covered up to.
    SentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Digests::Table)
                .if_not_exists()
                .col(uuid(Digests::OrgId))
                .col(uuid(Digests::UserId))
                .col(string_len(Digests::Day, 10))
                .col(big_integer(Digests::SentAt))
                .primary_key(
                    Index::create()
                        .col(Digests::OrgId)
                        .col(Digests::UserId)
                        .col(Digests::Day),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Digests::Table).to_owned())
            .await
    }
}
