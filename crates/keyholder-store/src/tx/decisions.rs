//! R10 in bulk: the facts of many decisions, each kind read in one statement.

use super::*;
use std::collections::HashMap;

/// `table.org_id = org` for a lookup by primary keys. On SQLite, which keeps no statistics here,
/// the org's condition is written so that it cannot choose an index: with `org_id = ?` beside
/// `id IN (…)` its planner scanned the org's index (every pupil of a 100 000-pupil trust: 15 ms
/// a statement) instead of probing the keys.
fn of_org(backend: sea_orm::DbBackend, table: &str, org: OrgId) -> sea_orm::sea_query::SimpleExpr {
    if backend == sea_orm::DbBackend::Sqlite {
        Expr::cust_with_values(format!("+\"{table}\".\"org_id\" = ?"), [org.0])
    } else {
        Expr::col((
            sea_orm::sea_query::Alias::new(table),
            sea_orm::sea_query::Alias::new("org_id"),
        ))
        .eq(org.0)
    }
}

/// The most group ids in one statement, beside a batch's thousand user ids (SQLite takes
/// 32 766 parameters, PostgreSQL 65 535).
const GROUPS_PER_STATEMENT: usize = 10_000;

#[async_trait]
impl DecisionsTx for SeaTx {
    async fn users_among(&mut self, org: OrgId, ids: &[UserId]) -> Result<Vec<User>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        users::Entity::find()
            .filter(of_org(self.txn.get_database_backend(), "users", org))
            .filter(users::Column::Id.is_in(ids.iter().map(|u| u.0)))
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(convert::user)
            .collect()
    }

    async fn all_groups(&mut self, org: OrgId) -> Result<Vec<UserGroup>> {
        let groups = user_groups::Entity::find()
            .filter(user_groups::Column::OrgId.eq(org.0))
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut flags: HashMap<uuid::Uuid, Vec<group_category_permissions::Model>> = HashMap::new();
        for f in group_category_permissions::Entity::find()
            .filter(group_category_permissions::Column::OrgId.eq(org.0))
            .all(&self.txn)
            .await
            .map_err(db_err)?
        {
            flags.entry(f.group_id).or_default().push(f);
        }
        groups
            .into_iter()
            .map(|g| {
                let f = flags.remove(&g.id).unwrap_or_default();
                convert::group(g, f)
            })
            .collect()
    }

    async fn students_among(
        &mut self,
        org: OrgId,
        ids: &[StudentId],
    ) -> Result<Vec<(Student, Vec<StudentGroup>)>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let backend = self.txn.get_database_backend();
        let rows = students::Entity::find()
            .filter(of_org(backend, "students", org))
            .filter(students::Column::Id.is_in(ids.iter().map(|s| s.0)))
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let members = student_group_members::Entity::find()
            .filter(student_group_members::Column::OrgId.eq(org.0))
            .filter(student_group_members::Column::StudentId.is_in(rows.iter().map(|s| s.id)))
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        // The groups of these pupils (as a subquery: a thousand pupils may be in more groups
        // than a statement takes parameters), in the order one pupil's groups are read
        // (`student`), so that reasons naming a group name the same one.
        let groups: Vec<StudentGroup> = if members.is_empty() {
            vec![]
        } else {
            student_groups::Entity::find()
                .filter(of_org(backend, "student_groups", org))
                .filter(
                    student_groups::Column::Id.in_subquery(
                        sea_orm::sea_query::Query::select()
                            .column(student_group_members::Column::GroupId)
                            .from(student_group_members::Entity)
                            .and_where(student_group_members::Column::OrgId.eq(org.0))
                            .and_where(
                                student_group_members::Column::StudentId
                                    .is_in(ids.iter().map(|s| s.0)),
                            )
                            .to_owned(),
                    ),
                )
                .order_by_asc(student_groups::Column::Kind)
                .order_by_asc(student_groups::Column::Name)
                .order_by_asc(student_groups::Column::Id)
                .all(&self.txn)
                .await
                .map_err(db_err)?
                .into_iter()
                .map(convert::student_group)
                .collect::<Result<_>>()?
        };
        let mut of: HashMap<uuid::Uuid, std::collections::HashSet<uuid::Uuid>> = HashMap::new();
        for m in members {
            of.entry(m.student_id).or_default().insert(m.group_id);
        }
        rows.into_iter()
            .map(|s| {
                let mine = of.remove(&s.id).unwrap_or_default();
                let groups = groups
                    .iter()
                    .filter(|g| mine.contains(&g.id.0))
                    .cloned()
                    .collect();
                Ok((convert::student(s)?, groups))
            })
            .collect()
    }

    async fn access_among(
        &mut self,
        org: OrgId,
        users: &[UserId],
        groups: &[StudentGroupId],
    ) -> Result<Vec<(UserId, StudentGroupId)>> {
        let mut out = Vec::new();
        if users.is_empty() {
            return Ok(out);
        }
        // A thousand pupils may be in more groups than a statement takes parameters.
        for chunk in groups.chunks(GROUPS_PER_STATEMENT) {
            out.extend(
                student_group_access::Entity::find()
                    .filter(student_group_access::Column::OrgId.eq(org.0))
                    .filter(student_group_access::Column::UserId.is_in(users.iter().map(|u| u.0)))
                    .filter(student_group_access::Column::GroupId.is_in(chunk.iter().map(|g| g.0)))
                    .all(&self.txn)
                    .await
                    .map_err(db_err)?
                    .into_iter()
                    .map(|a| (UserId(a.user_id), StudentGroupId(a.group_id))),
            );
        }
        Ok(out)
    }

    async fn blocks_among(
        &mut self,
        org: OrgId,
        users: &[UserId],
        students: &[StudentId],
    ) -> Result<Vec<(UserId, StudentId)>> {
        if users.is_empty() || students.is_empty() {
            return Ok(vec![]);
        }
        Ok(student_blocks::Entity::find()
            .filter(student_blocks::Column::OrgId.eq(org.0))
            .filter(student_blocks::Column::UserId.is_in(users.iter().map(|u| u.0)))
            .filter(student_blocks::Column::StudentId.is_in(students.iter().map(|s| s.0)))
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|b| (UserId(b.user_id), StudentId(b.student_id)))
            .collect())
    }
}
