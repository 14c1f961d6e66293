//! Issue 13: student groups an admin makes and edits carry a version, answered as their ETag,
//! so that an edit made from a stale copy is refused (412) rather than lost.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StudentGroups {
    Table,
    Version,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(StudentGroups::Table)
                .add_column(big_integer(StudentGroups::Version).default(1))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(StudentGroups::Table)
                .drop_column(StudentGroups::Version)
                .to_owned(),
        )
        .await
    }
}
