//! A page of a list and its total in one statement: `COUNT(*) OVER ()` beside the page's rows,
//! so the list's filter (R4/R5 for pupils) is evaluated once per request, not once for the
//! count and again for the page.

use crate::db_err;
use keyholder_domain::Result;
use sea_orm::DatabaseTransaction;
use sea_orm::sea_query::{Alias, Expr, Query, SelectStatement};
use sea_orm::{ConnectionTrait, QueryResult, SelectorTrait};

const TOTAL: &str = "kh_total_rows";

/// `limit` rows of `query` from `offset` (SCIM's `startIndex` and `count`), and how many rows
/// the whole query has.
pub(crate) async fn rows_and_total<S: SelectorTrait>(
    txn: &DatabaseTransaction,
    query: SelectStatement,
    offset: u64,
    limit: u64,
) -> Result<(Vec<S::Item>, u64)> {
    decoded_rows_and_total(txn, query, offset, limit, |row| {
        S::from_raw_query_result(row).map_err(db_err)
    })
    .await
}

/// [`rows_and_total`], each row read by `decode` (for a column the query adds beside a model's).
pub(crate) async fn decoded_rows_and_total<T>(
    txn: &DatabaseTransaction,
    query: SelectStatement,
    offset: u64,
    limit: u64,
    decode: impl Fn(QueryResult) -> Result<T>,
) -> Result<(Vec<T>, u64)> {
    let backend = txn.get_database_backend();
    let mut paged = query.clone();
    paged
        .expr_as(Expr::cust("COUNT(*) OVER ()"), Alias::new(TOTAL))
        .limit(limit)
        .offset(offset);
    let rows = txn
        .query_all_raw(backend.build(&paged))
        .await
        .map_err(db_err)?;
    let mut total = None;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        if total.is_none() {
            total = Some(row.try_get::<i64>("", TOTAL).map_err(db_err)?);
        }
        items.push(decode(row)?);
    }
    let total = match total {
        Some(n) => u64::try_from(n).unwrap_or(0),
        // No row to carry the total: an empty list, or a window past the end or of no rows
        // (SCIM's `count=0` asks for the total alone) that counts separately.
        None if offset == 0 && limit > 0 => 0,
        None => {
            let mut inner = query;
            inner.clear_order_by();
            let count = Query::select()
                .expr_as(Expr::cust("COUNT(*)"), Alias::new(TOTAL))
                .from_subquery(inner, Alias::new("kh_page"))
                .to_owned();
            match txn
                .query_one_raw(backend.build(&count))
                .await
                .map_err(db_err)?
            {
                Some(row) => {
                    u64::try_from(row.try_get::<i64>("", TOTAL).map_err(db_err)?).unwrap_or(0)
                }
                None => 0,
            }
        }
    };
    Ok((items, total))
}
