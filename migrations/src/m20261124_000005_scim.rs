//! SCIM 2.0: external ids, the SCIM-only attributes an identity provider writes (kept verbatim
//! so that they read back exactly), and accounts deleted over SCIM (hidden there; the account
//! and its history stay).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    OrgId,
    ExternalId,
    ScimAttributes,
    ScimDeleted,
}

#[derive(DeriveIden)]
enum UserGroups {
    Table,
    ExternalId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .add_column(string_null(Users::ExternalId))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .add_column(text_null(Users::ScimAttributes))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .add_column(boolean(Users::ScimDeleted).default(false))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(UserGroups::Table)
                .add_column(string_null(UserGroups::ExternalId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_users_org_external_id")
                .table(Users::Table)
                .col(Users::OrgId)
                .col(Users::ExternalId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_users_org_external_id")
                .table(Users::Table)
                .to_owned(),
        )
        .await?;
        for c in [Users::ExternalId, Users::ScimAttributes, Users::ScimDeleted] {
            m.alter_table(Table::alter().table(Users::Table).drop_column(c).to_owned())
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table(UserGroups::Table)
                .drop_column(UserGroups::ExternalId)
                .to_owned(),
        )
        .await
    }
}
