//! Issue 15 after review (A8): a one-time code is tied to the browser that signed in (the
//! flow's cookie), and abandoned flows and codes are
//! swept by an index on their expiry; a flow may link an account (its owner's) rather than
//! sign in; a session says how it was opened (its tokens' `amr`, and passwords turned off end
//! the password ones).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SsoStates {
    Table,
    LinkUserId,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Method,
}

#[derive(DeriveIden)]
enum SsoCodes {
    Table,
    Binding,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Sessions opened before this were opened by password.
        m.alter_table(
            Table::alter()
                .table(Sessions::Table)
                .add_column(string_len(Sessions::Method, 16).default("password"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(SsoStates::Table)
                .add_column(uuid_null(SsoStates::LinkUserId))
                .to_owned(),
        )
        .await?;
        // Codes minted before this migration were tied to nothing: none can be traded now.
        m.alter_table(
            Table::alter()
                .table(SsoCodes::Table)
                .add_column(string_len(SsoCodes::Binding, 100).default(""))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_sso_states_expires_at")
                .table(SsoStates::Table)
                .col(SsoStates::ExpiresAt)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_sso_codes_expires_at")
                .table(SsoCodes::Table)
                .col(SsoCodes::ExpiresAt)
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Sessions::Table)
                .drop_column(Sessions::Method)
                .to_owned(),
        )
        .await?;
        for (name, table) in [
            ("idx_sso_codes_expires_at", SsoCodes::Table.into_iden()),
            ("idx_sso_states_expires_at", SsoStates::Table.into_iden()),
        ] {
            m.drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table(SsoCodes::Table)
                .drop_column(SsoCodes::Binding)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(SsoStates::Table)
                .drop_column(SsoStates::LinkUserId)
                .to_owned(),
        )
        .await
    }
}
