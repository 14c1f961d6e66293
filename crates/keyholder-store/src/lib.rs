//! Where state lives: the domain's ports on SQLite and PostgreSQL through SeaORM.

mod alerts;
mod audit;
mod categories;
mod convert;
mod entities;
mod page;
mod sqlite_memory;
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
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

/// The statements a database runs, in order (for tests that count them: issue 11, no
/// statement repeated within a request). Asked for by URL before the store connects.
#[derive(Clone, Default)]
pub struct StatementLog(Arc<Mutex<Vec<String>>>);

impl StatementLog {
    fn record(&self, s: &sea_orm::Statement) {
        let line = format!("{} {:?}", s.sql, s.values);
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }

    /// What ran since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

static OBSERVED: LazyLock<Mutex<HashMap<String, StatementLog>>> = LazyLock::new(Default::default);

/// Records every statement a store connected to `url` from now on runs.
pub fn observe_statements(url: &str) -> StatementLog {
    OBSERVED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(url.to_owned())
        .or_default()
        .clone()
}

fn observer(url: &str) -> Option<StatementLog> {
    OBSERVED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(url)
        .cloned()
}

/// Read-only connections beside SQLite's one writer.
const SQLITE_READERS: u32 = 4;

/// A pooled connection idle this long is tried (one round trip) before it is handed out.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(30);

/// The SQLite file used when no database is configured.
pub const DEFAULT_SQLITE_URL: &str = "sqlite://data/keyholder.db?mode=rwc";

/// The PostgreSQL channel on which committed changes that bear on authentication are
/// announced (U5).
pub const AUTH_CHANNEL: &str = "keyholder_auth";

#[derive(Clone)]
pub struct SeaStore {
    db: DatabaseConnection,
    /// Read-only connections for read-only transactions: SQLite's beside the one writer (WAL);
    /// PostgreSQL's open every transaction REPEATABLE READ, read only.
    readers: DatabaseConnection,
    cache: AuthCache,
    /// For the auth-change listener's own connection.
    url: String,
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
        if sqlite {
            sqlite_memory::configure();
        }
        let mut opt = ConnectOptions::new(url.to_owned());
        opt.max_connections(if sqlite { 1 } else { max_connections })
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            // A round trip on every checkout otherwise; only a connection idle long enough to
            // have been dropped by the server or a proxy is tried first.
            .test_before_acquire_if_idle_for(IDLE_BEFORE_PING)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            })
            .map_sqlx_sqlite_pool_opts(|p| p.after_connect(stable_plans));
        let mut db = Database::connect(opt).await.map_err(db_err)?;
        let observer = observer(url);
        if let Some(log) = observer.clone() {
            db.set_metric_callback(move |info| log.record(info.statement));
        }
        // The writer made the file (and runs the migrations); readers open it read-only, and
        // only when first asked, by then migrated.
        let readers = if sqlite {
            let mut ro = ConnectOptions::new(url.to_owned());
            ro.max_connections(SQLITE_READERS)
                .min_connections(0)
                .connect_lazy(true)
                .acquire_timeout(Duration::from_secs(30))
                .test_before_acquire_if_idle_for(IDLE_BEFORE_PING)
                .sqlx_logging(false)
                .map_sqlx_sqlite_opts(|o| {
                    o.read_only(true)
                        .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        .busy_timeout(Duration::from_secs(10))
                        // Pages read through the OS's page cache, shared by every reader,
                        // rather than copied into each connection's own cache of 2 000.
                        .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string())
                })
                .map_sqlx_sqlite_pool_opts(|p| p.after_connect(stable_plans));
            ro
        } else {
            // PostgreSQL: connections whose every transaction is REPEATABLE READ and read only
            // from the start (set when the connection opens), so a read's `BEGIN` is its only
            // round trip before its first statement (no `SET TRANSACTION` after it).
            let mut ro = ConnectOptions::new(url.to_owned());
            ro.max_connections(max_connections)
                .min_connections(0)
                .connect_lazy(true)
                .connect_timeout(Duration::from_secs(10))
                .acquire_timeout(Duration::from_secs(30))
                .test_before_acquire_if_idle_for(IDLE_BEFORE_PING)
                .sqlx_logging(false)
                .map_sqlx_postgres_opts(|o| {
                    o.options([
                        ("default_transaction_isolation", "repeatable read"),
                        ("default_transaction_read_only", "on"),
                    ])
                });
            ro
        };
        let mut readers = Database::connect(readers).await.map_err(db_err)?;
        if let Some(log) = observer {
            readers.set_metric_callback(move |info| log.record(info.statement));
        }
        let store = SeaStore {
            db,
            readers,
            cache,
            url: url.to_owned(),
        };
        if !sqlite {
            // Deaf until the listener is up: nothing is held before then.
            store.cache.set_live(false);
        }
        Ok(store)
    }

    /// U5 across replicas: on PostgreSQL, listens for the changes other replicas announce and
    /// drops what this replica holds about them. The listener has a connection of its own (not
    /// the pool's) and hears its own heartbeat twice per `max_age`: while its connection is
    /// down, or silent for three times `max_age` (at least 3 s), nothing is held (every request
    /// is decided from the database) until it is back. It reconnects by itself. On SQLite there is nothing to
    /// listen to: the serving process makes the changes it serves, and another process's (the
    /// command line's) are held at most `max_age`.
    pub fn listen(&self, max_age: Duration) {
        use sea_orm::sqlx::postgres::PgListener;
        if self.db.get_database_backend() != DbBackend::Postgres || max_age.is_zero() {
            return;
        }
        let (url, cache) = (self.url.clone(), self.cache.clone());
        let beat = (max_age / 2).max(Duration::from_millis(50));
        // Silent this long (several missed heartbeats): deaf. Held entries still end at
        // `max_age` whatever the listener hears, so a busy moment costs nothing but this.
        let silence = (max_age * 3).max(Duration::from_secs(3));
        // The heartbeat: a notification this replica must hear back within `max_age`.
        let pool = self.db.get_postgres_connection_pool().clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(beat).await;
                let _ = sea_orm::sqlx::query("SELECT pg_notify($1, 'h')")
                    .bind(AUTH_CHANNEL)
                    .execute(&pool)
                    .await;
            }
        });
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(50);
            loop {
                match PgListener::connect(&url).await {
                    Ok(mut listener) => {
                        listener.eager_reconnect(false);
                        match listener.listen(AUTH_CHANNEL).await {
                            Ok(()) => {
                                cache.set_live(true);
                                let up = std::time::Instant::now();
                                // `Ok(None)`: the connection was lost; a timeout: nothing, not
                                // even the heartbeat, was heard within the bound.
                                while let Ok(Ok(Some(n))) =
                                    tokio::time::timeout(silence, listener.try_recv()).await
                                {
                                    if n.payload() != "h" {
                                        cache.apply(AuthChange::decode(n.payload()));
                                    }
                                }
                                cache.set_live(false);
                                tracing::warn!(
                                    "the auth-change listener lost its connection or went silent: deciding uncached until it is back"
                                );
                                if up.elapsed() > Duration::from_secs(10) {
                                    wait = Duration::from_millis(50);
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "LISTEN failed"),
                        }
                    }
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
        self.readers.close().await.map_err(db_err)?;
        self.db.close().await.map_err(db_err)
    }
}

#[async_trait]
impl Store for SeaStore {
    async fn begin(&self) -> Result<Box<dyn Tx>> {
        let txn = self.db.begin().await.map_err(db_err)?;
        Ok(Box::new(tx::SeaTx::new(txn, self.cache.clone())))
    }

    async fn begin_read(&self) -> Result<Box<dyn Tx>> {
        // One snapshot for every statement of a read: a pupil's groups, the user's allow-lists
        // and blocks must be read as of one moment, or a change between them could combine into
        // a decision neither state allows. SQLite: a transaction on the read-only readers.
        // PostgreSQL: on the readers, whose transactions are REPEATABLE READ and read only
        // (one that only reads never fails to serialise).
        let txn = self.readers.begin().await.map_err(db_err)?;
        Ok(Box::new(tx::SeaTx::new(txn, self.cache.clone())))
    }

    /// PostgreSQL: `ANALYZE` of the tables R4 reads (a second or less at 100 000 pupils), then,
    /// in the background, `VACUUM` of them: it sets the visibility map on the pages a bulk change
    /// wrote, so that R4's index-only probes do not read the table as well (a year's page at
    /// 10 000 pupils: 6.0 ms before, 3.4 ms after). Its cost grows with the whole database, not
    /// the org, so the request does not wait for it; autovacuum would do the same later.
    /// SQLite keeps no statistics here, and its planner's defaults suit these queries.
    async fn refresh_statistics(&self) -> Result<()> {
        const TABLES: &str = "students, student_groups, student_group_members, \
                              student_group_access, student_blocks, users, user_groups";
        if self.db.get_database_backend() == DbBackend::Postgres {
            self.db
                .execute_unprepared(&format!("ANALYZE {TABLES}"))
                .await
                .map_err(db_err)?;
            let db = self.db.clone();
            tokio::spawn(async move {
                if let Err(e) = db.execute_unprepared(&format!("VACUUM {TABLES}")).await {
                    tracing::warn!(error = %e, "VACUUM after a bulk change failed");
                }
            });
        }
        Ok(())
    }

    fn auth_cache(&self) -> AuthCache {
        self.cache.clone()
    }

    fn shares_quotas(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Postgres
    }

    /// GCRA in one upsert: the bucket's "theoretical arrival time" moves on by one interval per
    /// request, and a request that would move it more than a minute ahead is refused.
    async fn take_quota(&self, key: &str, per_minute: u32) -> Result<Option<u64>> {
        use sea_orm::Statement;
        const WINDOW_US: i64 = 60_000_000;
        let interval = WINDOW_US / i64::from(per_minute.max(1));
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000;
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let backend = self.db.get_database_backend();
        let taken = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                "INSERT INTO rate_quotas AS q (key, tat) VALUES ($1, $2 + $3) \
                 ON CONFLICT (key) DO UPDATE SET tat = GREATEST(q.tat, $2) + $3 \
                 WHERE GREATEST(q.tat, $2) + $3 - $2 <= $4 RETURNING tat",
                [key.into(), now.into(), interval.into(), WINDOW_US.into()],
            ))
            .await
            .map_err(db_err)?;
        if taken.is_some() {
            // Now and then, forget buckets that are full again.
            if now % 1024 == 0 {
                let _ = self
                    .db
                    .execute_raw(Statement::from_sql_and_values(
                        backend,
                        "DELETE FROM rate_quotas WHERE tat < $1",
                        [now.into()],
                    ))
                    .await;
            }
            return Ok(None);
        }
        let tat: Option<i64> = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                "SELECT tat FROM rate_quotas WHERE key = $1",
                [key.into()],
            ))
            .await
            .map_err(db_err)?
            .and_then(|row| row.try_get("", "tat").ok());
        let wait_us = tat
            .map_or(interval, |t| t + interval - WINDOW_US - now)
            .max(1);
        Ok(Some(
            u64::try_from(wait_us)
                .unwrap_or(1)
                .div_ceil(1_000_000)
                .max(1),
        ))
    }

    /// Open and idle connections of the writer's pool and the readers' together.
    fn pool_stats(&self) -> (u32, u32) {
        let of = |db: &DatabaseConnection| match db.get_database_backend() {
            DbBackend::Postgres => {
                let p = db.get_postgres_connection_pool();
                (p.size(), p.num_idle())
            }
            _ => {
                let p = db.get_sqlite_connection_pool();
                (p.size(), p.num_idle())
            }
        };
        let (w, r) = (of(&self.db), of(&self.readers));
        let idle = u32::try_from(w.1.saturating_add(r.1)).unwrap_or(u32::MAX);
        (w.0.saturating_add(r.0), idle)
    }

    /// Ready only when both the writer and the readers answer: reads go to the one, writes to
    /// the other.
    async fn ping(&self) -> Result<()> {
        for db in [&self.db, &self.readers] {
            db.execute_unprepared("SELECT 1").await.map_err(db_err)?;
        }
        Ok(())
    }
}

/// SQLite readers map this much of the database file (a 100 000-pupil school is ~100 MB).
const SQLITE_MMAP_BYTES: u64 = 256 * 1024 * 1024;

/// SQLite: the query planner's stability guarantee (`SQLITE_DBCONFIG_ENABLE_QPSG`) on each
/// connection. Without it, a statement whose bound values the planner looked at (every
/// `LIMIT ?`, `OFFSET ?`) is marked expired when they are bound again, and so parsed and
/// planned again on every run from the statement cache: a fifth of the CPU of a list request.
/// The plans do not depend on the values here, so nothing is lost.
fn stable_plans<'c>(
    conn: &'c mut sea_orm::sqlx::SqliteConnection,
    _: sea_orm::sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), sea_orm::sqlx::Error>> + Send + 'c>,
> {
    Box::pin(async move {
        let mut handle = conn.lock_handle().await?;
        let db = handle.as_raw_handle();
        // SAFETY: `db` is this connection's open handle, held exclusively through the lock for
        // the call; the arguments are those the documented option takes (an int, and a null
        // pointer for the value written back).
        let rc = unsafe {
            libsqlite3_sys::sqlite3_db_config(
                db.as_ptr(),
                libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
                1 as std::ffi::c_int,
                std::ptr::null_mut::<std::ffi::c_int>(),
            )
        };
        if rc == libsqlite3_sys::SQLITE_OK {
            Ok(())
        } else {
            Err(sea_orm::sqlx::Error::Protocol(format!(
                "sqlite3_db_config(ENABLE_QPSG) answered {rc}"
            )))
        }
    })
}
