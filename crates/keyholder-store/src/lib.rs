//! Where state lives: the domain's ports on SQLite and PostgreSQL through SeaORM.

mod audit;
mod categories;
mod convert;
mod entities;
mod tx;
mod visibility;

use async_trait::async_trait;
use keyholder_domain::ports::{Store, Tx};
use keyholder_domain::{DomainError, Result};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, TransactionTrait,
};
use std::time::Duration;

/// The SQLite file used when no database is configured.
pub const DEFAULT_SQLITE_URL: &str = "sqlite://data/keyholder.db?mode=rwc";

#[derive(Clone)]
pub struct SeaStore {
    db: DatabaseConnection,
}

pub(crate) fn db_err(e: sea_orm::DbErr) -> DomainError {
    DomainError::Internal(format!("database: {e}"))
}

impl SeaStore {
    /// Connects; for a SQLite file, creates its folder first. SQLite gets one connection (one
    /// writer at a time, no lock upgrades to fail); PostgreSQL a pool of `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<SeaStore> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            let file = path.split('?').next().unwrap_or(path);
            if let Some(dir) = std::path::Path::new(file).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(DomainError::internal)?;
            }
        }
        let sqlite = url.starts_with("sqlite:");
        let mut opt = ConnectOptions::new(url.to_owned());
        opt.max_connections(if sqlite { 1 } else { max_connections })
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        let db = Database::connect(opt).await.map_err(db_err)?;
        Ok(SeaStore { db })
    }

    /// Brings the schema up to date (both engines run the same history).
    /// Then chains audit entries written before the chain existed (AU3).
    pub async fn system_migrate(&self) -> Result<()> {
        Migrator::up(&self.db, None).await.map_err(db_err)?;
        let txn = self.db.begin().await.map_err(db_err)?;
        let sealed = audit::seal_unchained(&txn).await?;
        txn.commit().await.map_err(db_err)?;
        if sealed > 0 {
            tracing::info!(sealed, "audit entries chained");
        }
        Ok(())
    }

    pub fn backend(&self) -> &'static str {
        match self.db.get_database_backend() {
            DbBackend::Sqlite => "sqlite",
            DbBackend::Postgres => "postgres",
            _ => "other",
        }
    }

    pub async fn close(self) -> Result<()> {
        self.db.close().await.map_err(db_err)
    }
}

#[async_trait]
impl Store for SeaStore {
    async fn begin(&self) -> Result<Box<dyn Tx>> {
        let txn = self.db.begin().await.map_err(db_err)?;
        Ok(Box::new(tx::SeaTx::new(txn)))
    }

    /// PostgreSQL: `ANALYZE` of the tables R4 reads (a second or less at 100 000 pupils);
    /// SQLite keeps no statistics here, and its planner's defaults suit these queries.
    async fn refresh_statistics(&self) -> Result<()> {
        if self.db.get_database_backend() == DbBackend::Postgres {
            self.db
                .execute_unprepared(
                    "ANALYZE students, student_groups, student_group_members, student_group_access",
                )
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        self.db
            .execute_unprepared("SELECT 1")
            .await
            .map(|_| ())
            .map_err(db_err)
    }
}
