//! What a transaction's statements run on: a transaction (every write, and every read that
//! combines facts from several statements into one decision), or the readers' pool, where each
//! statement is its own moment (a read whose every decision is made within one statement; no
//! `BEGIN` and `COMMIT` round trips). See `Store::begin_read_each`.

use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement,
};

pub enum Conn {
    Tx(DatabaseTransaction),
    /// Read-only connections (SQLite's readers; PostgreSQL's read-only readers): each
    /// statement sees the moment it runs.
    Each(DatabaseConnection),
}

#[async_trait]
impl ConnectionTrait for Conn {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Conn::Tx(t) => t.get_database_backend(),
            Conn::Each(c) => c.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Conn::Tx(t) => t.execute_raw(stmt).await,
            Conn::Each(c) => c.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Conn::Tx(t) => t.execute_unprepared(sql).await,
            Conn::Each(c) => c.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Conn::Tx(t) => t.query_one_raw(stmt).await,
            Conn::Each(c) => c.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Conn::Tx(t) => t.query_all_raw(stmt).await,
            Conn::Each(c) => c.query_all_raw(stmt).await,
        }
    }

    fn support_returning(&self) -> bool {
        match self {
            Conn::Tx(t) => t.support_returning(),
            Conn::Each(c) => c.support_returning(),
        }
    }
}

impl Conn {
    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), DbErr> {
        match self {
            Conn::Tx(t) => t.commit().await,
            Conn::Each(_) => Ok(()),
        }
    }
}
