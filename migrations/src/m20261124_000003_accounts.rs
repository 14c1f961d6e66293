//! The email outbox (N1), single-use action tokens (U3 invitations, A6 resets), phone numbers
//! and notification preferences (U12, N1).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Phone,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    OrgId,
    Kind,
    ToAddress,
    Subject,
    Body,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastError,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum ActionTokens {
    Table,
    Hash,
    OrgId,
    UserId,
    Purpose,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum NotificationPrefs {
    Table,
    OrgId,
    UserId,
    CategoryId,
    Mode,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .add_column(string_null(Users::Phone))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Outbox::Table)
                .if_not_exists()
                .col(pk_uuid(Outbox::Id))
                .col(uuid(Outbox::OrgId))
                .col(string(Outbox::Kind))
                .col(string(Outbox::ToAddress))
                .col(string(Outbox::Subject))
                .col(text(Outbox::Body))
                .col(string(Outbox::Status))
                .col(integer(Outbox::Attempts))
                .col(big_integer(Outbox::NextAttemptAt))
                .col(big_integer_null(Outbox::LeaseUntil))
                .col(text_null(Outbox::LastError))
                .col(big_integer(Outbox::CreatedAt))
                .col(big_integer_null(Outbox::SentAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_outbox_due")
                .table(Outbox::Table)
                .col(Outbox::Status)
                .col(Outbox::NextAttemptAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ActionTokens::Table)
                .if_not_exists()
                .col(string(ActionTokens::Hash).primary_key())
                .col(uuid(ActionTokens::OrgId))
                .col(uuid(ActionTokens::UserId))
                .col(string(ActionTokens::Purpose))
                .col(big_integer(ActionTokens::ExpiresAt))
                .col(big_integer_null(ActionTokens::UsedAt))
                .col(big_integer(ActionTokens::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_action_tokens_user")
                        .from(ActionTokens::Table, ActionTokens::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_action_tokens_org_user")
                .table(ActionTokens::Table)
                .col(ActionTokens::OrgId)
                .col(ActionTokens::UserId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NotificationPrefs::Table)
                .if_not_exists()
                .col(uuid(NotificationPrefs::OrgId))
                .col(uuid(NotificationPrefs::UserId))
                .col(uuid(NotificationPrefs::CategoryId))
                .col(string(NotificationPrefs::Mode))
                .primary_key(
                    Index::create()
                        .col(NotificationPrefs::OrgId)
                        .col(NotificationPrefs::UserId)
                        .col(NotificationPrefs::CategoryId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_notification_prefs_user")
                        .from(NotificationPrefs::Table, NotificationPrefs::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            NotificationPrefs::Table.into_iden(),
            ActionTokens::Table.into_iden(),
            Outbox::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .drop_column(Users::Phone)
                .to_owned(),
        )
        .await
    }
}
