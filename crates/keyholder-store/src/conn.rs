//! What a transaction's statements run on: a transaction, or (SQLite reads) a read-only
//! connection of the readers' pool, each statement on its own. A SQLite read needs no
//! `BEGIN`/`ROLLBACK` of its own: the readers are opened read-only, so nothing can be written
//! through them, and each statement reads a committed state, as each statement of a
//! PostgreSQL `READ COMMITTED` transaction does. The two round trips through SQLite's worker
//! thread were two of a list request's five (issue 11).

use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement,
};

pub enum Conn {
    Tx(DatabaseTransaction),
    /// SQLite's read-only readers only.
    ReadOnly(DatabaseConnection),
}

#[async_trait]
impl ConnectionTrait for Conn {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Conn::Tx(t) => t.get_database_backend(),
            Conn::ReadOnly(c) => c.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Conn::Tx(t) => t.execute_raw(stmt).await,
            Conn::ReadOnly(c) => c.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Conn::Tx(t) => t.execute_unprepared(sql).await,
            Conn::ReadOnly(c) => c.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Conn::Tx(t) => t.query_one_raw(stmt).await,
            Conn::ReadOnly(c) => c.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Conn::Tx(t) => t.query_all_raw(stmt).await,
            Conn::ReadOnly(c) => c.query_all_raw(stmt).await,
        }
    }

    fn support_returning(&self) -> bool {
        match self {
            Conn::Tx(t) => t.support_returning(),
            Conn::ReadOnly(c) => c.support_returning(),
        }
    }
}

impl Conn {
    /// Commits the transaction; a read on the readers has nothing to commit.
    pub async fn commit(self) -> Result<(), DbErr> {
        match self {
            Conn::Tx(t) => t.commit().await,
            Conn::ReadOnly(_) => Ok(()),
        }
    }
}
