//! Where state lives: the domain's ports on SQLite and PostgreSQL through SeaORM.

mod audit;
mod categories;
mod convert;
mod entities;
mod tx;
mod visibility;

use async_trait::async_trait;
use keyholder_domain::auth_cache::{AuthCache, AuthChange};
use keyholder_domain::ports::{Store, Tx};
use keyholder_domain::{DomainError, Result};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, TransactionTrait,
};
use std::time::Duration;

/// The SQLite file used when no database is configured.
pub const DEFAULT_SQLITE_URL: &str = "sqlite://data/keyholder.db?mode=rwc";

/// The PostgreSQL channel on which committed changes that bear on authentication are
/// announced (U5).
pub const AUTH_CHANNEL: &str = "keyholder_auth";

#[derive(Clone)]
pub struct SeaStore {
    db: DatabaseConnection,
    cache: AuthCache,
}

pub(crate) fn db_err(e: sea_orm::DbErr) -> DomainError {
    DomainError::Internal(format!("database: {e}"))
}

impl SeaStore {
    /// Connects; for a SQLite file, creates its folder first. SQLite gets one connection (one
    /// writer at a time, no lock upgrades to fail); PostgreSQL a pool of `max_connections`.
    pub async fn connect(url: &str, max_connections: u32, cache: AuthCache) -> Result<SeaStore> {
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
        let store = SeaStore { db, cache };
        if !sqlite {
            // Deaf until the listener is up: nothing is held before then.
            store.cache.set_live(false);
        }
        Ok(store)
    }

    /// U5 across replicas: on PostgreSQL, listens for the changes other replicas announce and
    /// drops what this replica holds about them. While the listener's connection is down,
    /// nothing is held (every request is decided from the database); it reconnects by itself.
    /// On SQLite there is nothing to listen to: this process makes every change it serves.
    pub fn listen(&self) {
        use sea_orm::sqlx::postgres::PgListener;
        if self.db.get_database_backend() != DbBackend::Postgres {
            return;
        }
        let pool = self.db.get_postgres_connection_pool().clone();
        let cache = self.cache.clone();
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(50);
            loop {
                match PgListener::connect_with(&pool).await {
                    Ok(mut listener) => match listener.listen(AUTH_CHANNEL).await {
                        Ok(()) => {
                            cache.set_live(true);
                            wait = Duration::from_millis(50);
                            // `None`: the connection was lost (what was sent meanwhile is not
                            // known).
                            while let Ok(Some(n)) = listener.try_recv().await {
                                cache.apply(AuthChange::decode(n.payload()));
                            }
                            cache.set_live(false);
                            tracing::warn!(
                                "the auth-change listener lost its connection: deciding uncached until it is back"
                            );
                        }
                        Err(e) => tracing::warn!(error = %e, "LISTEN failed"),
                    },
                    Err(e) => tracing::warn!(error = %e, "the auth-change listener cannot connect"),
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        });
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
        Ok(Box::new(tx::SeaTx::new(txn, self.cache.clone())))
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

    fn auth_cache(&self) -> AuthCache {
        self.cache.clone()
    }

    async fn ping(&self) -> Result<()> {
        self.db
            .execute_unprepared("SELECT 1")
            .await
            .map(|_| ())
            .map_err(db_err)
    }
}
