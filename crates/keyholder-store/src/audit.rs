//! AU1–AU3: the audit trail, appended to each org's hash chain.

use crate::convert::{self, to_us};
use crate::db_err;
use crate::entities::*;
use crate::visibility::hidden_student;
use keyholder_domain::Result;
use keyholder_domain::audit_chain::{self, GENESIS};
use keyholder_domain::ids::*;
use keyholder_domain::model::{AuditAbout, AuditEntry};
use keyholder_domain::ports::AuditReader;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

/// Takes the org's next place in the chain: answers it with the hash of the entry before. On
/// PostgreSQL the update locks the org's head row until the transaction ends, so writers of
/// one org take their places one at a time and the chain never forks.
async fn next_place(db: &impl ConnectionTrait, org: OrgId) -> Result<(i64, String)> {
    let advance = || {
        audit_heads::Entity::update_many()
            .col_expr(
                audit_heads::Column::Seq,
                Expr::col(audit_heads::Column::Seq).add(1),
            )
            .filter(audit_heads::Column::OrgId.eq(org.0))
    };
    if advance().exec(db).await.map_err(db_err)?.rows_affected == 0 {
        audit_heads::Entity::insert(audit_heads::ActiveModel {
            org_id: Set(org.0),
            seq: Set(0),
            hash: Set(GENESIS.to_owned()),
        })
        .on_conflict(
            OnConflict::column(audit_heads::Column::OrgId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
        advance().exec(db).await.map_err(db_err)?;
    }
    let head = audit_heads::Entity::find_by_id(org.0)
        .one(db)
        .await
        .map_err(db_err)?
        .ok_or_else(|| keyholder_domain::DomainError::internal("audit head vanished"))?;
    Ok((head.seq, head.hash))
}

pub(crate) async fn append(
    db: &impl ConnectionTrait,
    e: &AuditEntry,
    about: &[AuditAbout],
) -> Result<()> {
    let (seq, prev_hash) = next_place(db, e.org_id).await?;
    let hash = audit_chain::entry_hash(e, seq, &prev_hash);
    audit_log::Entity::insert(audit_log::ActiveModel {
        id: Set(e.id.0),
        org_id: Set(e.org_id.0),
        at: Set(to_us(e.at)),
        kind: Set(e.kind.clone()),
        actor_id: Set(e.actor_id.map(|a| a.0)),
        target_type: Set(e.target_type.clone()),
        target_id: Set(e.target_id),
        staff_id: Set(e.staff_id),
        changes: Set(e.changes.to_string()),
        ip: Set(e.ip.clone()),
        request_id: Set(e.request_id.clone()),
        seq: Set(Some(seq)),
        hash: Set(Some(hash.clone())),
        prev_hash: Set(Some(prev_hash)),
    })
    .exec_without_returning(db)
    .await
    .map_err(db_err)?;
    if !about.is_empty() {
        audit_about::Entity::insert_many(about.iter().map(|a| {
            let (kind, ref_id) = a.parts();
            audit_about::ActiveModel {
                org_id: Set(e.org_id.0),
                audit_id: Set(e.id.0),
                kind: Set(kind.to_owned()),
                ref_id: Set(ref_id),
            }
        }))
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
    }
    set_head_hash(db, e.org_id, hash).await
}

/// AU4 as SQL on `audit_log`: the entries this reader may see. An entry is left out when it is
/// about a pupil the reader may not see (R4, R5; every pupil, without `students.view`), or is
/// bound to a category whose incidents (R8) or marks (R9) the reader may not see.
pub(crate) fn readable(org: OrgId, reader: &AuditReader) -> Condition {
    use audit_about::Column as B;
    let col = |c: B| Expr::col((audit_about::Entity, c));
    let of_kind = |k: &str| Condition::all().add(col(B::Kind).eq(k));
    let mut student = of_kind("student");
    if reader.sees_students {
        student = student.add(hidden_student(
            org,
            &reader.students,
            (audit_about::Entity, B::RefId),
        ));
    }
    let category = |k: &str, allowed: &[CategoryId]| {
        let c = of_kind(k);
        if allowed.is_empty() {
            c
        } else {
            c.add(col(B::RefId).is_not_in(allowed.iter().map(|c| c.0)))
        }
    };
    // R5: blocks are read by admins only, and never on the reader's own account.
    let mut blocks = of_kind("blocks");
    if reader.reads_blocks {
        blocks = blocks.add(col(B::RefId).eq(reader.students.user.0));
    }
    let hidden = Query::select()
        .expr(Expr::val(1))
        .from(audit_about::Entity)
        .and_where(col(B::OrgId).eq(org.0))
        .and_where(col(B::AuditId).equals((audit_log::Entity, audit_log::Column::Id)))
        .cond_where(
            Condition::any()
                .add(student)
                .add(blocks)
                .add(category("incidents", &reader.incident_categories))
                .add(category("marks", &reader.mark_categories)),
        )
        .to_owned();
    Condition::all().add(Expr::exists(hidden).not())
}

/// The org's head now ends at an entry with this hash.
async fn set_head_hash(db: &impl ConnectionTrait, org: OrgId, hash: String) -> Result<()> {
    audit_heads::Entity::update_many()
        .col_expr(audit_heads::Column::Hash, Expr::value(hash))
        .filter(audit_heads::Column::OrgId.eq(org.0))
        .exec(db)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn chain(
    db: &impl ConnectionTrait,
    org: OrgId,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<AuditEntry>> {
    audit_log::Entity::find()
        .filter(audit_log::Column::OrgId.eq(org.0))
        .filter(audit_log::Column::Seq.gt(after_seq))
        .order_by_asc(audit_log::Column::Seq)
        .limit(limit)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(convert::audit)
        .collect()
}

pub(crate) async fn unchained(db: &impl ConnectionTrait, org: OrgId) -> Result<Option<AuditEntry>> {
    audit_log::Entity::find()
        .filter(audit_log::Column::OrgId.eq(org.0))
        .filter(audit_log::Column::Seq.is_null())
        .order_by_asc(audit_log::Column::At)
        .one(db)
        .await
        .map_err(db_err)?
        .map(convert::audit)
        .transpose()
}

pub(crate) async fn head(db: &impl ConnectionTrait, org: OrgId) -> Result<Option<(i64, String)>> {
    Ok(audit_heads::Entity::find_by_id(org.0)
        .one(db)
        .await
        .map_err(db_err)?
        .map(|h| (h.seq, h.hash)))
}

/// Entries written before the chain existed (the migration that added it leaves them
/// unchained) are chained in the order they were written, for orgs that have no chain yet. Runs
/// when the store opens; a no-op once every such org is chained. An org that has a chain never
/// gets rows chained here: a row written around the service stays outside it, and verification
/// names it. On PostgreSQL an advisory lock keeps two replicas starting at once from both sealing.
pub(crate) async fn seal_unchained(db: &impl ConnectionTrait) -> Result<u64> {
    use sea_orm::sea_query::Query;
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.execute_unprepared("SELECT pg_advisory_xact_lock(7274653)")
            .await
            .map_err(db_err)?;
    }
    let orgs: Vec<uuid::Uuid> = audit_log::Entity::find()
        .select_only()
        .column(audit_log::Column::OrgId)
        .distinct()
        .filter(audit_log::Column::Seq.is_null())
        .filter(
            audit_log::Column::OrgId.not_in_subquery(
                Query::select()
                    .column(audit_heads::Column::OrgId)
                    .from(audit_heads::Entity)
                    .to_owned(),
            ),
        )
        .into_tuple()
        .all(db)
        .await
        .map_err(db_err)?;
    let mut sealed = 0;
    for org in orgs {
        loop {
            let rows = audit_log::Entity::find()
                .filter(audit_log::Column::OrgId.eq(org))
                .filter(audit_log::Column::Seq.is_null())
                .order_by_asc(audit_log::Column::At)
                .order_by_asc(audit_log::Column::Id)
                .limit(500)
                .all(db)
                .await
                .map_err(db_err)?;
            if rows.is_empty() {
                break;
            }
            for m in rows {
                let e = convert::audit(m)?;
                let (seq, prev_hash) = next_place(db, e.org_id).await?;
                let hash = audit_chain::entry_hash(&e, seq, &prev_hash);
                audit_log::Entity::update_many()
                    .col_expr(audit_log::Column::Seq, Expr::value(seq))
                    .col_expr(audit_log::Column::PrevHash, Expr::value(prev_hash))
                    .col_expr(audit_log::Column::Hash, Expr::value(hash.clone()))
                    .filter(audit_log::Column::Id.eq(e.id.0))
                    .filter(audit_log::Column::Seq.is_null())
                    .exec(db)
                    .await
                    .map_err(db_err)?;
                set_head_hash(db, e.org_id, hash).await?;
                sealed += 1;
            }
        }
    }
    Ok(sealed)
}
