//! What a transaction's statements run on. Reads once ran on SQLite's readers without a
//! transaction (two round trips fewer), but a decision about one pupil reads several tables and
//! must read them as of one moment: every read is a transaction again (see `begin_read`).

use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, Statement,
};

pub enum Conn {
    Tx(DatabaseTransaction),
}

#[async_trait]
impl ConnectionTrait for Conn {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Conn::Tx(t) => t.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Conn::Tx(t) => t.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Conn::Tx(t) => t.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Conn::Tx(t) => t.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Conn::Tx(t) => t.query_all_raw(stmt).await,
        }
    }

    fn support_returning(&self) -> bool {
        match self {
            Conn::Tx(t) => t.support_returning(),
        }
    }
}

impl Conn {
    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), DbErr> {
        match self {
            Conn::Tx(t) => t.commit().await,
        }
    }
}
