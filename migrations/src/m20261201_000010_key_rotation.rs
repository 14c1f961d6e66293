//! Token signing keys are rotated: each key is named by its `kid`, the newest live one signs,
//! and a rotation retires all but the two newest (tokens signed by the previous key stay valid
//! until they expire).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    CreatedAt,
    Retired,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(SigningKeys::Table)
                .add_column(big_integer(SigningKeys::CreatedAt).default(0))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(SigningKeys::Table)
                .add_column(boolean(SigningKeys::Retired).default(false))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for c in [SigningKeys::CreatedAt, SigningKeys::Retired] {
            m.alter_table(
                Table::alter()
                    .table(SigningKeys::Table)
                    .drop_column(c)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
