//! A7 service accounts (keys kept as hashes) and S4 idempotency keys for MIS batches.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ServiceAccounts {
    Table,
    Id,
    OrgId,
    Name,
    Scopes,
    KeyPrefix,
    KeyHash,
    CreatedAt,
    CreatedBy,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    OrgId,
    Key,
    Endpoint,
    RequestHash,
    Status,
    Response,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ServiceAccounts::Table)
                .if_not_exists()
                .col(pk_uuid(ServiceAccounts::Id))
                .col(uuid(ServiceAccounts::OrgId))
                .col(string(ServiceAccounts::Name))
                .col(text(ServiceAccounts::Scopes))
                .col(string(ServiceAccounts::KeyPrefix))
                .col(string_uniq(ServiceAccounts::KeyHash))
                .col(big_integer(ServiceAccounts::CreatedAt))
                .col(uuid_null(ServiceAccounts::CreatedBy))
                .col(big_integer_null(ServiceAccounts::LastUsedAt))
                .col(big_integer_null(ServiceAccounts::RevokedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_service_accounts_org")
                        .from(ServiceAccounts::Table, ServiceAccounts::OrgId)
                        .to(Orgs::Table, Orgs::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_service_accounts_org")
                .table(ServiceAccounts::Table)
                .col(ServiceAccounts::OrgId)
                .col(ServiceAccounts::CreatedAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(IdempotencyKeys::Table)
                .if_not_exists()
                .col(uuid(IdempotencyKeys::OrgId))
                .col(string(IdempotencyKeys::Key))
                .col(string(IdempotencyKeys::Endpoint))
                .col(string(IdempotencyKeys::RequestHash))
                .col(integer(IdempotencyKeys::Status))
                .col(text(IdempotencyKeys::Response))
                .col(big_integer(IdempotencyKeys::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(IdempotencyKeys::OrgId)
                        .col(IdempotencyKeys::Key),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(IdempotencyKeys::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
        m.drop_table(
            Table::drop()
                .table(ServiceAccounts::Table)
                .if_exists()
                .to_owned(),
        )
        .await
    }
}
