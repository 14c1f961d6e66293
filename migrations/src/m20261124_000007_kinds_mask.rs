//! R4 at scale: each student carries the kinds of (unarchived) groups it belongs to as a bit
//! mask (academic level 1, registration group 2, house 4, custom 8), so that "in no restricting
//! group" is an index lookup rather than a scan of every membership.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Students {
    Table,
    OrgId,
    KindsMask,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Students::Table)
                .add_column(integer(Students::KindsMask).default(0))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_students_org_kinds")
                .table(Students::Table)
                .col(Students::OrgId)
                .col(Students::KindsMask)
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "UPDATE students SET kinds_mask = COALESCE((SELECT SUM(DISTINCT CASE g.kind \
                 WHEN 'academic_level' THEN 1 WHEN 'registration_group' THEN 2 WHEN 'house' THEN 4 ELSE 8 END) \
                 FROM student_group_members m JOIN student_groups g ON g.id = m.group_id \
                 WHERE m.student_id = students.id AND g.archived = false), 0)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_students_org_kinds")
                .table(Students::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Students::Table)
                .drop_column(Students::KindsMask)
                .to_owned(),
        )
        .await
    }
}
