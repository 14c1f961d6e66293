//! A8: single sign-on. Each org's OpenID Connect providers (the client secret sealed with the
//! data key), the stored links from a provider's account to a Keyholder account, the flows in
//! progress (`state`, bound to the browser that started them) and the one-time codes the
//! frontend trades for tokens. States and codes are kept as hashes and spent by deleting them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdentityProviders {
    Table,
    Id,
    OrgId,
    /// `entra`, `google` or `oidc`.
    Kind,
    Name,
    /// The issuer as the provider names itself (derived for Entra and Google).
    Issuer,
    TenantId,
    ClientId,
    /// Sealed (XChaCha20-Poly1305 with the data key, bound to the provider's id).
    ClientSecret,
    /// JSON arrays.
    AllowedDomains,
    Scopes,
    ReturnUrls,
    /// G2: whether the provider's `amr: mfa` counts as the second factor.
    MfaCounts,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SsoLinks {
    Table,
    ProviderId,
    Subject,
    OrgId,
    UserId,
    TenantId,
    ObjectId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SsoStates {
    Table,
    Hash,
    OrgId,
    ProviderId,
    BrowserHash,
    Nonce,
    Verifier,
    ReturnTo,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SsoCodes {
    Table,
    Hash,
    OrgId,
    ProviderId,
    UserId,
    Mfa,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(IdentityProviders::Table)
                .if_not_exists()
                .col(uuid(IdentityProviders::Id).primary_key())
                .col(uuid(IdentityProviders::OrgId))
                .col(string_len(IdentityProviders::Kind, 16))
                .col(string_len(IdentityProviders::Name, 100))
                .col(string_len(IdentityProviders::Issuer, 500))
                .col(string_len_null(IdentityProviders::TenantId, 100))
                .col(string_len(IdentityProviders::ClientId, 500))
                .col(text(IdentityProviders::ClientSecret))
                .col(text(IdentityProviders::AllowedDomains))
                .col(text(IdentityProviders::Scopes))
                .col(text(IdentityProviders::ReturnUrls))
                .col(boolean(IdentityProviders::MfaCounts))
                .col(big_integer(IdentityProviders::CreatedAt))
                .col(big_integer(IdentityProviders::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("identity_providers_org")
                .table(IdentityProviders::Table)
                .col(IdentityProviders::OrgId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SsoLinks::Table)
                .if_not_exists()
                .col(uuid(SsoLinks::ProviderId))
                .col(string_len(SsoLinks::Subject, 255))
                .col(uuid(SsoLinks::OrgId))
                .col(uuid(SsoLinks::UserId))
                .col(string_len_null(SsoLinks::TenantId, 100))
                .col(string_len_null(SsoLinks::ObjectId, 100))
                .col(big_integer(SsoLinks::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(SsoLinks::ProviderId)
                        .col(SsoLinks::Subject),
                )
                .to_owned(),
        )
        .await?;
        // One link per account and provider.
        m.create_index(
            Index::create()
                .name("sso_links_user")
                .table(SsoLinks::Table)
                .col(SsoLinks::ProviderId)
                .col(SsoLinks::UserId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SsoStates::Table)
                .if_not_exists()
                .col(string_len(SsoStates::Hash, 64).primary_key())
                .col(uuid(SsoStates::OrgId))
                .col(uuid(SsoStates::ProviderId))
                .col(string_len(SsoStates::BrowserHash, 64))
                .col(string_len(SsoStates::Nonce, 64))
                .col(string_len(SsoStates::Verifier, 128))
                .col(string_len(SsoStates::ReturnTo, 2048))
                .col(big_integer(SsoStates::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SsoCodes::Table)
                .if_not_exists()
                .col(string_len(SsoCodes::Hash, 64).primary_key())
                .col(uuid(SsoCodes::OrgId))
                .col(uuid(SsoCodes::ProviderId))
                .col(uuid(SsoCodes::UserId))
                .col(boolean(SsoCodes::Mfa))
                .col(big_integer(SsoCodes::ExpiresAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            SsoCodes::Table.into_iden(),
            SsoStates::Table.into_iden(),
            SsoLinks::Table.into_iden(),
            IdentityProviders::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
