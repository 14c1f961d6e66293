//! One schema history for SQLite and PostgreSQL. Every org-scoped table carries `org_id`, and
//! every unique index that can starts with it. Times are stored as Unix microseconds (BIGINT):
//! exact and ordered the same way on both engines.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_foundation;
mod m20261124_000002_people;
mod m20261124_000003_accounts;
mod m20261124_000004_integrations;
mod m20261124_000005_scim;
mod m20261124_000006_incidents;
mod m20261201_000007_visibility;
mod m20261201_000008_categories;
mod m20261201_000009_audit_chain;
mod m20261201_000010_key_rotation;
mod m20261201_000011_audit_about;
mod m20261201_000012_rate_quotas;
mod m20261202_000013_alerts;
mod m20261202_000014_digests;
mod m20261203_000015_pupil_names;
mod m20261203_000016_student_group_versions;
mod m20261204_000017_single_sign_on;
mod m20261205_000018_sso_binding;
mod m20261206_000019_eddsa_keys;
mod m20261207_000020_registered_permissions;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_foundation::Migration),
            Box::new(m20261124_000002_people::Migration),
            Box::new(m20261124_000003_accounts::Migration),
            Box::new(m20261124_000004_integrations::Migration),
            Box::new(m20261124_000005_scim::Migration),
            Box::new(m20261124_000006_incidents::Migration),
            Box::new(m20261201_000007_visibility::Migration),
            Box::new(m20261201_000008_categories::Migration),
            Box::new(m20261201_000009_audit_chain::Migration),
            Box::new(m20261201_000010_key_rotation::Migration),
            Box::new(m20261201_000011_audit_about::Migration),
            Box::new(m20261201_000012_rate_quotas::Migration),
            Box::new(m20261202_000013_alerts::Migration),
            Box::new(m20261202_000014_digests::Migration),
            Box::new(m20261203_000015_pupil_names::Migration),
            Box::new(m20261203_000016_student_group_versions::Migration),
            Box::new(m20261204_000017_single_sign_on::Migration),
            Box::new(m20261205_000018_sso_binding::Migration),
            Box::new(m20261206_000019_eddsa_keys::Migration),
            Box::new(m20261207_000020_registered_permissions::Migration),
        ]
    }
}
