//! Who may see which pupils: allow-lists (R4, R6) and blocks (R5).

use super::*;

#[async_trait]
impl RestrictionsTx for SeaTx {
    async fn add_group_access(
        &mut self,
        org: OrgId,
        group: StudentGroupId,
        user: UserId,
    ) -> Result<()> {
        self.pupils_changed(org);
        student_group_access::Entity::insert(student_group_access::ActiveModel {
            org_id: Set(org.0),
            group_id: Set(group.0),
            user_id: Set(user.0),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn access_of_user(&mut self, org: OrgId, user: UserId) -> Result<Vec<StudentGroupId>> {
        Ok(student_group_access::Entity::find()
            .filter(student_group_access::Column::OrgId.eq(org.0))
            .filter(student_group_access::Column::UserId.eq(user.0))
            .order_by_asc(student_group_access::Column::GroupId)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|r| StudentGroupId(r.group_id))
            .collect())
    }

    async fn allowed_among(
        &mut self,
        org: OrgId,
        user: UserId,
        groups: &[StudentGroupId],
    ) -> Result<Vec<StudentGroupId>> {
        if groups.is_empty() {
            return Ok(vec![]);
        }
        Ok(student_group_access::Entity::find()
            .filter(student_group_access::Column::OrgId.eq(org.0))
            .filter(student_group_access::Column::UserId.eq(user.0))
            .filter(student_group_access::Column::GroupId.is_in(groups.iter().map(|g| g.0)))
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|a| StudentGroupId(a.group_id))
            .collect())
    }

    async fn is_blocked(&mut self, org: OrgId, user: UserId, student: StudentId) -> Result<bool> {
        Ok(self
            .by_id::<student_blocks::Entity>((org.0, user.0, student.0))
            .await?
            .is_some())
    }

    async fn visible_students_among(
        &mut self,
        org: OrgId,
        scope: &StudentScope,
        ids: &[StudentId],
    ) -> Result<Vec<StudentId>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            let found: Vec<uuid::Uuid> = students::Entity::find()
                .select_only()
                .column(students::Column::Id)
                .filter(visibility::visibility(org, scope))
                .filter(students::Column::Id.is_in(chunk.iter().map(|s| s.0)))
                .into_tuple()
                .all(&self.txn)
                .await
                .map_err(db_err)?;
            out.extend(found.into_iter().map(StudentId));
        }
        Ok(out)
    }

    async fn group_access(&mut self, org: OrgId, group: StudentGroupId) -> Result<Vec<UserView>> {
        use sea_orm::sea_query::Query;
        let select = users::Entity::find()
            .find_also_related(user_groups::Entity)
            .filter(users::Column::OrgId.eq(org.0))
            .filter(
                users::Column::Id.in_subquery(
                    Query::select()
                        .column(student_group_access::Column::UserId)
                        .from(student_group_access::Entity)
                        .and_where(student_group_access::Column::OrgId.eq(org.0))
                        .and_where(student_group_access::Column::GroupId.eq(group.0))
                        .to_owned(),
                ),
            )
            .order_by(
                Func::lower(Expr::col((users::Entity, users::Column::Surname))),
                Order::Asc,
            )
            .order_by(
                Func::lower(Expr::col((users::Entity, users::Column::Forename))),
                Order::Asc,
            )
            .order_by(users::Column::Id, Order::Asc);
        self.user_views_of(select).await
    }

    async fn grant_group_access(
        &mut self,
        org: OrgId,
        group: StudentGroupId,
        users: &[UserId],
    ) -> Result<u64> {
        self.pupils_changed(org);
        let mut added = 0;
        for u in users {
            let res = student_group_access::Entity::insert(student_group_access::ActiveModel {
                org_id: Set(org.0),
                group_id: Set(group.0),
                user_id: Set(u.0),
            })
            .on_conflict_do_nothing()
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
            if let sea_orm::TryInsertResult::Inserted(n) = res {
                added += n;
            }
        }
        Ok(added)
    }

    async fn revoke_group_access(
        &mut self,
        org: OrgId,
        group: StudentGroupId,
        users: &[UserId],
    ) -> Result<u64> {
        if users.is_empty() {
            return Ok(0);
        }
        self.pupils_changed(org);
        Ok(student_group_access::Entity::delete_many()
            .filter(student_group_access::Column::OrgId.eq(org.0))
            .filter(student_group_access::Column::GroupId.eq(group.0))
            .filter(student_group_access::Column::UserId.is_in(users.iter().map(|u| u.0)))
            .exec(&self.txn)
            .await
            .map_err(db_err)?
            .rows_affected)
    }

    async fn blocks(
        &mut self,
        org: OrgId,
        user: UserId,
        reader: &StudentScope,
    ) -> Result<Vec<(Block, Student)>> {
        let blocks = student_blocks::Entity::find()
            .filter(student_blocks::Column::OrgId.eq(org.0))
            .filter(student_blocks::Column::UserId.eq(user.0))
            .filter(
                student_blocks::Column::StudentId
                    .in_subquery(crate::visibility::visible_student_ids(org, reader)),
            )
            .order_by_asc(student_blocks::Column::CreatedAt)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let pupils: std::collections::HashMap<uuid::Uuid, students::Model> =
            students::Entity::find()
                .filter(students::Column::OrgId.eq(org.0))
                .filter(students::Column::Id.is_in(blocks.iter().map(|b| b.student_id)))
                .all(&self.txn)
                .await
                .map_err(db_err)?
                .into_iter()
                .map(|s| (s.id, s))
                .collect();
        let mut out = Vec::with_capacity(blocks.len());
        for b in blocks {
            if let Some(s) = pupils.get(&b.student_id) {
                out.push((
                    Block {
                        user_id: UserId(b.user_id),
                        student_id: StudentId(b.student_id),
                        reason: b.reason,
                        created_by: b.created_by.map(UserId),
                        created_at: convert::from_us(b.created_at),
                    },
                    convert::student(s.clone())?,
                ));
            }
        }
        Ok(out)
    }

    async fn all_blocks(&mut self, org: OrgId, user: UserId) -> Result<Vec<Block>> {
        Ok(student_blocks::Entity::find()
            .filter(student_blocks::Column::OrgId.eq(org.0))
            .filter(student_blocks::Column::UserId.eq(user.0))
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|b| Block {
                user_id: UserId(b.user_id),
                student_id: StudentId(b.student_id),
                reason: b.reason,
                created_by: b.created_by.map(UserId),
                created_at: convert::from_us(b.created_at),
            })
            .collect())
    }

    async fn insert_block(&mut self, org: OrgId, b: &Block) -> Result<()> {
        self.pupils_changed(org);
        student_blocks::Entity::insert(student_blocks::ActiveModel {
            org_id: Set(org.0),
            user_id: Set(b.user_id.0),
            student_id: Set(b.student_id.0),
            reason: Set(b.reason.clone()),
            created_by: Set(b.created_by.map(|u| u.0)),
            created_at: Set(to_us(b.created_at)),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(|e| {
            unique_or(e, |_| {
                Some(DomainError::conflict(
                    "already_blocked",
                    "the student is already blocked for this user",
                ))
            })
        })?;
        Ok(())
    }

    async fn delete_block(&mut self, org: OrgId, user: UserId, student: StudentId) -> Result<bool> {
        self.pupils_changed(org);
        Ok(student_blocks::Entity::delete_many()
            .filter(student_blocks::Column::OrgId.eq(org.0))
            .filter(student_blocks::Column::UserId.eq(user.0))
            .filter(student_blocks::Column::StudentId.eq(student.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?
            .rows_affected
            == 1)
    }
}
