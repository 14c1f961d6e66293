//! Issue 16: permissions of other products, registered in an org's catalogue by a service key
//! with scope `catalogue`, and granted by user groups (each grant keeps the level, G2, so that
//! deciding needs no read of the catalogue).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RegisteredPermissions {
    Table,
    OrgId,
    Key,
    /// `high` or `low` (G2).
    Level,
    Description,
    /// The service account whose key registered it (only it changes or removes it).
    RegisteredBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UserGroups {
    Table,
    /// JSON: `[{"key": "governors.content.create", "level": "high"}, …]`.
    RegisteredPermissions,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(RegisteredPermissions::Table)
                .if_not_exists()
                .col(uuid(RegisteredPermissions::OrgId))
                .col(string_len(RegisteredPermissions::Key, 100))
                .col(string_len(RegisteredPermissions::Level, 8))
                .col(text(RegisteredPermissions::Description))
                .col(uuid_null(RegisteredPermissions::RegisteredBy))
                .col(big_integer(RegisteredPermissions::CreatedAt))
                .col(big_integer(RegisteredPermissions::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(RegisteredPermissions::OrgId)
                        .col(RegisteredPermissions::Key),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(UserGroups::Table)
                .add_column(text(UserGroups::RegisteredPermissions).default("[]"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(UserGroups::Table)
                .drop_column(UserGroups::RegisteredPermissions)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(RegisteredPermissions::Table).to_owned())
            .await
    }
}
