//! Issue 16 (A9): access tokens are signed with Ed25519 keys whose public halves are published;
//! each signing key says its algorithm (keys from before are HS256 and only verify).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Alg,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(SigningKeys::Table)
                .add_column(string_len(SigningKeys::Alg, 16).default("HS256"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(SigningKeys::Table)
                .drop_column(SigningKeys::Alg)
                .to_owned(),
        )
        .await
    }
}
