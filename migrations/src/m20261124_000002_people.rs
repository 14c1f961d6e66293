//! Staff records (S1), students (R1), student groups and memberships (R2), the allow-lists of
//! restricting groups (R3) and blocks (R5). Every key starts with `org_id`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Staff {
    Table,
    Id,
    OrgId,
    MisId,
    Title,
    Forename,
    Surname,
    Email,
    JobTitle,
    Contract,
    Hours,
    StartDate,
    EndDate,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UserStaff {
    Table,
    OrgId,
    UserId,
    StaffId,
}

#[derive(DeriveIden)]
enum Students {
    Table,
    Id,
    OrgId,
    MisId,
    Forename,
    Surname,
    DateOfBirth,
    OnRoll,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StudentGroups {
    Table,
    Id,
    OrgId,
    MisId,
    Kind,
    Name,
    Archived,
}

#[derive(DeriveIden)]
enum StudentGroupMembers {
    Table,
    OrgId,
    GroupId,
    StudentId,
}

#[derive(DeriveIden)]
enum StudentGroupAccess {
    Table,
    OrgId,
    GroupId,
    UserId,
}

#[derive(DeriveIden)]
enum StudentBlocks {
    Table,
    OrgId,
    UserId,
    StudentId,
    Reason,
    CreatedBy,
    CreatedAt,
}

fn cascade(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Staff::Table)
                .if_not_exists()
                .col(pk_uuid(Staff::Id))
                .col(uuid(Staff::OrgId))
                .col(string_null(Staff::MisId))
                .col(string_null(Staff::Title))
                .col(string(Staff::Forename))
                .col(string(Staff::Surname))
                .col(string_null(Staff::Email))
                .col(string_null(Staff::JobTitle))
                .col(string(Staff::Contract))
                .col(string(Staff::Hours))
                .col(string(Staff::StartDate))
                .col(string_null(Staff::EndDate))
                .col(big_integer(Staff::Version))
                .col(big_integer(Staff::CreatedAt))
                .col(big_integer(Staff::UpdatedAt))
                .foreign_key(&mut cascade(
                    "fk_staff_org",
                    (Staff::Table, Staff::OrgId),
                    (Orgs::Table, Orgs::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_staff_org_mis")
                .table(Staff::Table)
                .col(Staff::OrgId)
                .col(Staff::MisId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_staff_org_name")
                .table(Staff::Table)
                .col(Staff::OrgId)
                .col(Staff::Surname)
                .col(Staff::Forename)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UserStaff::Table)
                .if_not_exists()
                .col(uuid(UserStaff::OrgId))
                .col(uuid(UserStaff::UserId))
                .col(uuid(UserStaff::StaffId))
                .primary_key(
                    Index::create()
                        .col(UserStaff::OrgId)
                        .col(UserStaff::UserId)
                        .col(UserStaff::StaffId),
                )
                .foreign_key(&mut cascade(
                    "fk_user_staff_user",
                    (UserStaff::Table, UserStaff::UserId),
                    (Users::Table, Users::Id),
                ))
                .foreign_key(&mut cascade(
                    "fk_user_staff_staff",
                    (UserStaff::Table, UserStaff::StaffId),
                    (Staff::Table, Staff::Id),
                ))
                .to_owned(),
        )
        .await?;
        // Where one login works for several colleagues (S3) a staff record can have several
        // accounts; where not, the domain keeps it to one (S2).
        m.create_index(
            Index::create()
                .name("ix_user_staff_org_staff")
                .table(UserStaff::Table)
                .col(UserStaff::OrgId)
                .col(UserStaff::StaffId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Students::Table)
                .if_not_exists()
                .col(pk_uuid(Students::Id))
                .col(uuid(Students::OrgId))
                .col(string(Students::MisId))
                .col(string(Students::Forename))
                .col(string(Students::Surname))
                .col(string_null(Students::DateOfBirth))
                .col(boolean(Students::OnRoll))
                .col(big_integer(Students::CreatedAt))
                .col(big_integer(Students::UpdatedAt))
                .foreign_key(&mut cascade(
                    "fk_students_org",
                    (Students::Table, Students::OrgId),
                    (Orgs::Table, Orgs::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_students_org_mis")
                .table(Students::Table)
                .col(Students::OrgId)
                .col(Students::MisId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_students_org_name")
                .table(Students::Table)
                .col(Students::OrgId)
                .col(Students::Surname)
                .col(Students::Forename)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(StudentGroups::Table)
                .if_not_exists()
                .col(pk_uuid(StudentGroups::Id))
                .col(uuid(StudentGroups::OrgId))
                .col(string_null(StudentGroups::MisId))
                .col(string(StudentGroups::Kind))
                .col(string(StudentGroups::Name))
                .col(boolean(StudentGroups::Archived))
                .foreign_key(&mut cascade(
                    "fk_student_groups_org",
                    (StudentGroups::Table, StudentGroups::OrgId),
                    (Orgs::Table, Orgs::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_student_groups_org_mis")
                .table(StudentGroups::Table)
                .col(StudentGroups::OrgId)
                .col(StudentGroups::MisId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(StudentGroupMembers::Table)
                .if_not_exists()
                .col(uuid(StudentGroupMembers::OrgId))
                .col(uuid(StudentGroupMembers::GroupId))
                .col(uuid(StudentGroupMembers::StudentId))
                .primary_key(
                    Index::create()
                        .col(StudentGroupMembers::OrgId)
                        .col(StudentGroupMembers::GroupId)
                        .col(StudentGroupMembers::StudentId),
                )
                .foreign_key(&mut cascade(
                    "fk_sgm_group",
                    (StudentGroupMembers::Table, StudentGroupMembers::GroupId),
                    (StudentGroups::Table, StudentGroups::Id),
                ))
                .foreign_key(&mut cascade(
                    "fk_sgm_student",
                    (StudentGroupMembers::Table, StudentGroupMembers::StudentId),
                    (Students::Table, Students::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_sgm_org_student")
                .table(StudentGroupMembers::Table)
                .col(StudentGroupMembers::OrgId)
                .col(StudentGroupMembers::StudentId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(StudentGroupAccess::Table)
                .if_not_exists()
                .col(uuid(StudentGroupAccess::OrgId))
                .col(uuid(StudentGroupAccess::GroupId))
                .col(uuid(StudentGroupAccess::UserId))
                .primary_key(
                    Index::create()
                        .col(StudentGroupAccess::OrgId)
                        .col(StudentGroupAccess::GroupId)
                        .col(StudentGroupAccess::UserId),
                )
                .foreign_key(&mut cascade(
                    "fk_sga_group",
                    (StudentGroupAccess::Table, StudentGroupAccess::GroupId),
                    (StudentGroups::Table, StudentGroups::Id),
                ))
                .foreign_key(&mut cascade(
                    "fk_sga_user",
                    (StudentGroupAccess::Table, StudentGroupAccess::UserId),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_sga_org_user")
                .table(StudentGroupAccess::Table)
                .col(StudentGroupAccess::OrgId)
                .col(StudentGroupAccess::UserId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(StudentBlocks::Table)
                .if_not_exists()
                .col(uuid(StudentBlocks::OrgId))
                .col(uuid(StudentBlocks::UserId))
                .col(uuid(StudentBlocks::StudentId))
                .col(text(StudentBlocks::Reason))
                .col(uuid_null(StudentBlocks::CreatedBy))
                .col(big_integer(StudentBlocks::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(StudentBlocks::OrgId)
                        .col(StudentBlocks::UserId)
                        .col(StudentBlocks::StudentId),
                )
                .foreign_key(&mut cascade(
                    "fk_blocks_user",
                    (StudentBlocks::Table, StudentBlocks::UserId),
                    (Users::Table, Users::Id),
                ))
                .foreign_key(&mut cascade(
                    "fk_blocks_student",
                    (StudentBlocks::Table, StudentBlocks::StudentId),
                    (Students::Table, Students::Id),
                ))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            StudentBlocks::Table.into_iden(),
            StudentGroupAccess::Table.into_iden(),
            StudentGroupMembers::Table.into_iden(),
            StudentGroups::Table.into_iden(),
            Students::Table.into_iden(),
            UserStaff::Table.into_iden(),
            Staff::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
