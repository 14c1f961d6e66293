use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Name,
    Secret,
}

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
    Slug,
    Name,
    Settings,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Categories {
    Table,
    Id,
    OrgId,
    Name,
    ParentId,
    Sensitive,
    Position,
}

#[derive(DeriveIden)]
enum UserGroups {
    Table,
    Id,
    OrgId,
    Name,
    NameKey,
    Active,
    SystemPermissions,
    IsAdmin,
    IsElevated,
    Version,
}

#[derive(DeriveIden)]
enum GroupCategoryPermissions {
    Table,
    OrgId,
    GroupId,
    CategoryId,
    ViewStudents,
    ViewIncidents,
    AddIncidents,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    OrgId,
    Username,
    UsernameKey,
    Email,
    EmailKey,
    Title,
    Forename,
    Surname,
    JobTitle,
    UserGroupId,
    Status,
    PasswordHash,
    MustChangePassword,
    PasswordChangedAt,
    LastLoginAt,
    TotpSecret,
    TotpConfirmed,
    TotpLastStep,
    TokenVersion,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    OrgId,
    UserId,
    SecondFactor,
    TokenVersion,
    CreatedAt,
    ExpiresAt,
    Revoked,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Hash,
    OrgId,
    SessionId,
    Spent,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum LoginThrottles {
    Table,
    OrgId,
    Key,
    Failures,
    LockedUntil,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    OrgId,
    UserId,
    Hash,
    UsedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    OrgId,
    At,
    Kind,
    ActorId,
    TargetType,
    TargetId,
    StaffId,
    Changes,
    Ip,
    RequestId,
}

fn fk(
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
                .table(SigningKeys::Table)
                .if_not_exists()
                .col(string(SigningKeys::Name).primary_key())
                .col(blob(SigningKeys::Secret))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Orgs::Table)
                .if_not_exists()
                .col(pk_uuid(Orgs::Id))
                .col(string_uniq(Orgs::Slug))
                .col(string(Orgs::Name))
                .col(text(Orgs::Settings))
                .col(big_integer(Orgs::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Categories::Table)
                .if_not_exists()
                .col(pk_uuid(Categories::Id))
                .col(uuid(Categories::OrgId))
                .col(string(Categories::Name))
                .col(uuid_null(Categories::ParentId))
                .col(boolean(Categories::Sensitive))
                .col(integer(Categories::Position))
                .foreign_key(&mut fk(
                    "fk_categories_org",
                    (Categories::Table, Categories::OrgId),
                    (Orgs::Table, Orgs::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_categories_org")
                .table(Categories::Table)
                .col(Categories::OrgId)
                .col(Categories::Position)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UserGroups::Table)
                .if_not_exists()
                .col(pk_uuid(UserGroups::Id))
                .col(uuid(UserGroups::OrgId))
                .col(string(UserGroups::Name))
                .col(string(UserGroups::NameKey))
                .col(boolean(UserGroups::Active))
                .col(text(UserGroups::SystemPermissions))
                .col(boolean(UserGroups::IsAdmin))
                .col(boolean(UserGroups::IsElevated))
                .col(big_integer(UserGroups::Version))
                .foreign_key(&mut fk(
                    "fk_user_groups_org",
                    (UserGroups::Table, UserGroups::OrgId),
                    (Orgs::Table, Orgs::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_user_groups_org_name")
                .table(UserGroups::Table)
                .col(UserGroups::OrgId)
                .col(UserGroups::NameKey)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(GroupCategoryPermissions::Table)
                .if_not_exists()
                .col(uuid(GroupCategoryPermissions::OrgId))
                .col(uuid(GroupCategoryPermissions::GroupId))
                .col(uuid(GroupCategoryPermissions::CategoryId))
                .col(boolean(GroupCategoryPermissions::ViewStudents))
                .col(boolean(GroupCategoryPermissions::ViewIncidents))
                .col(boolean(GroupCategoryPermissions::AddIncidents))
                .primary_key(
                    Index::create()
                        .col(GroupCategoryPermissions::OrgId)
                        .col(GroupCategoryPermissions::GroupId)
                        .col(GroupCategoryPermissions::CategoryId),
                )
                .foreign_key(&mut fk(
                    "fk_gcp_group",
                    (
                        GroupCategoryPermissions::Table,
                        GroupCategoryPermissions::GroupId,
                    ),
                    (UserGroups::Table, UserGroups::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_gcp_category",
                    (
                        GroupCategoryPermissions::Table,
                        GroupCategoryPermissions::CategoryId,
                    ),
                    (Categories::Table, Categories::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Users::Table)
                .if_not_exists()
                .col(pk_uuid(Users::Id))
                .col(uuid(Users::OrgId))
                .col(string_null(Users::Username))
                .col(string_null(Users::UsernameKey))
                .col(string_null(Users::Email))
                .col(string_null(Users::EmailKey))
                .col(string_null(Users::Title))
                .col(string(Users::Forename))
                .col(string(Users::Surname))
                .col(string_null(Users::JobTitle))
                .col(uuid(Users::UserGroupId))
                .col(string(Users::Status))
                .col(string_null(Users::PasswordHash))
                .col(boolean(Users::MustChangePassword))
                .col(big_integer_null(Users::PasswordChangedAt))
                .col(big_integer_null(Users::LastLoginAt))
                .col(string_null(Users::TotpSecret))
                .col(boolean(Users::TotpConfirmed))
                .col(big_integer_null(Users::TotpLastStep))
                .col(big_integer(Users::TokenVersion))
                .col(big_integer(Users::Version))
                .col(big_integer(Users::CreatedAt))
                .col(big_integer(Users::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_users_org",
                    (Users::Table, Users::OrgId),
                    (Orgs::Table, Orgs::Id),
                ))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_users_group")
                        .from(Users::Table, Users::UserGroupId)
                        .to(UserGroups::Table, UserGroups::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("ux_users_org_username", Users::UsernameKey),
            ("ux_users_org_email", Users::EmailKey),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(Users::Table)
                    .col(Users::OrgId)
                    .col(col)
                    .unique()
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("ix_users_org_group")
                .table(Users::Table)
                .col(Users::OrgId)
                .col(Users::UserGroupId)
                .col(Users::Status)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_users_org_name")
                .table(Users::Table)
                .col(Users::OrgId)
                .col(Users::Surname)
                .col(Users::Forename)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .if_not_exists()
                .col(pk_uuid(Sessions::Id))
                .col(uuid(Sessions::OrgId))
                .col(uuid(Sessions::UserId))
                .col(boolean(Sessions::SecondFactor))
                .col(big_integer(Sessions::TokenVersion))
                .col(big_integer(Sessions::CreatedAt))
                .col(big_integer(Sessions::ExpiresAt))
                .col(boolean(Sessions::Revoked))
                .foreign_key(&mut fk(
                    "fk_sessions_user",
                    (Sessions::Table, Sessions::UserId),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RefreshTokens::Table)
                .if_not_exists()
                .col(string(RefreshTokens::Hash).primary_key())
                .col(uuid(RefreshTokens::OrgId))
                .col(uuid(RefreshTokens::SessionId))
                .col(boolean(RefreshTokens::Spent))
                .col(big_integer(RefreshTokens::ExpiresAt))
                .foreign_key(&mut fk(
                    "fk_refresh_tokens_session",
                    (RefreshTokens::Table, RefreshTokens::SessionId),
                    (Sessions::Table, Sessions::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LoginThrottles::Table)
                .if_not_exists()
                .col(uuid(LoginThrottles::OrgId))
                .col(string(LoginThrottles::Key))
                .col(integer(LoginThrottles::Failures))
                .col(big_integer_null(LoginThrottles::LockedUntil))
                .primary_key(
                    Index::create()
                        .col(LoginThrottles::OrgId)
                        .col(LoginThrottles::Key),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RecoveryCodes::Table)
                .if_not_exists()
                .col(uuid(RecoveryCodes::OrgId))
                .col(uuid(RecoveryCodes::UserId))
                .col(string(RecoveryCodes::Hash))
                .col(big_integer_null(RecoveryCodes::UsedAt))
                .primary_key(
                    Index::create()
                        .col(RecoveryCodes::OrgId)
                        .col(RecoveryCodes::UserId)
                        .col(RecoveryCodes::Hash),
                )
                .foreign_key(&mut fk(
                    "fk_recovery_codes_user",
                    (RecoveryCodes::Table, RecoveryCodes::UserId),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AuditLog::Table)
                .if_not_exists()
                .col(pk_uuid(AuditLog::Id))
                .col(uuid(AuditLog::OrgId))
                .col(big_integer(AuditLog::At))
                .col(string(AuditLog::Kind))
                .col(uuid_null(AuditLog::ActorId))
                .col(string_null(AuditLog::TargetType))
                .col(uuid_null(AuditLog::TargetId))
                .col(uuid_null(AuditLog::StaffId))
                .col(text(AuditLog::Changes))
                .col(string_null(AuditLog::Ip))
                .col(string_null(AuditLog::RequestId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_audit_org_at")
                .table(AuditLog::Table)
                .col(AuditLog::OrgId)
                .col(AuditLog::At)
                .col(AuditLog::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_audit_org_target")
                .table(AuditLog::Table)
                .col(AuditLog::OrgId)
                .col(AuditLog::TargetId)
                .col(AuditLog::At)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            AuditLog::Table.into_iden(),
            RecoveryCodes::Table.into_iden(),
            LoginThrottles::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Sessions::Table.into_iden(),
            Users::Table.into_iden(),
            GroupCategoryPermissions::Table.into_iden(),
            UserGroups::Table.into_iden(),
            Categories::Table.into_iden(),
            Orgs::Table.into_iden(),
            SigningKeys::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
