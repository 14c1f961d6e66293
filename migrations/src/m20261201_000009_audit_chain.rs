//! AU3: the audit trail as a hash chain per org. Each entry carries its place in its org's
//! chain (`seq`), the hash of the entry before it and its own hash; `audit_heads` holds each
//! org's last place and hash, so that a deleted last entry is found too, and so that writers
//! of one org take their places one at a time (the head row is locked by the update).
//! Entries written before this migration are sealed into the chain when the store opens.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    OrgId,
    Seq,
    Hash,
    PrevHash,
}

#[derive(DeriveIden)]
enum AuditHeads {
    Table,
    OrgId,
    Seq,
    Hash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            big_integer_null(AuditLog::Seq),
            string_null(AuditLog::Hash),
            string_null(AuditLog::PrevHash),
        ] {
            let mut col = col;
            m.alter_table(
                Table::alter()
                    .table(AuditLog::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("ux_audit_org_seq")
                .table(AuditLog::Table)
                .col(AuditLog::OrgId)
                .col(AuditLog::Seq)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AuditHeads::Table)
                .if_not_exists()
                .col(pk_uuid(AuditHeads::OrgId))
                .col(big_integer(AuditHeads::Seq))
                .col(string(AuditHeads::Hash))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AuditHeads::Table).to_owned())
            .await?;
        m.drop_index(
            Index::drop()
                .name("ux_audit_org_seq")
                .table(AuditLog::Table)
                .to_owned(),
        )
        .await?;
        for c in [AuditLog::Seq, AuditLog::Hash, AuditLog::PrevHash] {
            m.alter_table(
                Table::alter()
                    .table(AuditLog::Table)
                    .drop_column(c)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
