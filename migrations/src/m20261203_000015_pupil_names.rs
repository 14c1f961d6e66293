//! Lists of pupils in name order: a page for a user who may see a large share of the org is
//! read along `ix_students_org_name_ci`, each pupil tested as it comes, until the page is
//! full (issue 11).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // An expression index: the same text on SQLite and PostgreSQL, matching the lists'
        // `ORDER BY LOWER(surname), LOWER(forename), id`.
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS ix_students_org_name_ci \
                 ON students (org_id, LOWER(surname), LOWER(forename), id)",
            )
            .await?;
        // The case-sensitive name index it replaces served no query (the lists sort without
        // case); the org's other indexes lead with `org_id` too.
        m.get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS ix_students_org_name")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS ix_students_org_name_ci")
            .await?;
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS ix_students_org_name ON students (org_id, surname, forename)",
            )
            .await?;
        Ok(())
    }
}
