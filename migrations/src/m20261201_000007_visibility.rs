//! R4 at scale. Each student carries the kinds of the unarchived groups it belongs to as a bit
//! mask (academic level 1, registration group 2, house 4, custom 8), so that "in no restricting
//! group" is an index lookup; the membership and allow-list indexes cover the columns R4 reads,
//! so that a restricted user's pupils are found from the user's allow-list outward.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Students {
    Table,
    OrgId,
    KindsMask,
}

#[derive(DeriveIden)]
enum StudentGroupMembers {
    Table,
    OrgId,
    StudentId,
    GroupId,
}

#[derive(DeriveIden)]
enum StudentGroupAccess {
    Table,
    OrgId,
    UserId,
    GroupId,
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
        m.drop_index(
            Index::drop()
                .name("ix_sgm_org_student")
                .table(StudentGroupMembers::Table)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_sgm_org_student")
                .table(StudentGroupMembers::Table)
                .col(StudentGroupMembers::OrgId)
                .col(StudentGroupMembers::StudentId)
                .col(StudentGroupMembers::GroupId)
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("ix_sga_org_user")
                .table(StudentGroupAccess::Table)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_sga_org_user")
                .table(StudentGroupAccess::Table)
                .col(StudentGroupAccess::OrgId)
                .col(StudentGroupAccess::UserId)
                .col(StudentGroupAccess::GroupId)
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(&format!(
                "UPDATE students SET kinds_mask = {}",
                kinds_mask_sql()
            ))
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
        .await?;
        Ok(())
    }
}

/// The kinds mask of the `students` row being updated, from its memberships, with the bits of
/// the domain's one table (`keyholder_domain::visibility::KIND_BITS`), which the store also
/// uses to keep the column current.
fn kinds_mask_sql() -> String {
    format!(
        "COALESCE((SELECT SUM(DISTINCT {}) \
         FROM student_group_members m JOIN student_groups g ON g.id = m.group_id \
         WHERE m.org_id = students.org_id AND m.student_id = students.id AND g.archived = false), 0)",
        keyholder_domain::visibility::kind_bit_sql("g.kind")
    )
}
