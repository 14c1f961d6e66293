//! Pupils and their groups (R1-R3), as the MIS sends them and as admins keep them.

use super::*;

#[async_trait]
impl StudentsTx for SeaTx {
    async fn insert_student(&mut self, s: &Student) -> Result<()> {
        self.pupils_changed(s.org_id);
        students::Entity::insert(convert::student_row(s, now_us()))
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_student_group(&mut self, g: &StudentGroup) -> Result<()> {
        self.pupils_changed(g.org_id);
        student_groups::Entity::insert(student_groups::ActiveModel {
            id: Set(g.id.0),
            org_id: Set(g.org_id.0),
            mis_id: Set(g.mis_id.clone()),
            kind: Set(g.kind.as_str().to_owned()),
            name: Set(g.name.clone()),
            archived: Set(g.archived),
            version: Set(std::cmp::max(g.version, 1)),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn add_group_member(
        &mut self,
        org: OrgId,
        group: StudentGroupId,
        student: StudentId,
    ) -> Result<()> {
        self.pupils_changed(org);
        student_group_members::Entity::insert(student_group_members::ActiveModel {
            org_id: Set(org.0),
            group_id: Set(group.0),
            student_id: Set(student.0),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        visibility::refresh_kinds_mask(&self.txn, org, &[student.0]).await
    }

    async fn student_groups(
        &mut self,
        org: OrgId,
        q: &StudentGroupQuery,
    ) -> Result<(Vec<(StudentGroup, u64)>, u64)> {
        use student_groups::Column as G;
        let mut select = student_groups::Entity::find().filter(G::OrgId.eq(org.0));
        if let Some(kind) = q.kind {
            select = select.filter(G::Kind.eq(kind.as_str()));
        }
        if let Some(a) = q.archived {
            select = select.filter(G::Archived.eq(a));
        }
        if let Some(text) = &q.q {
            select = select.filter(
                Func::lower(Expr::col((student_groups::Entity, G::Name)))
                    .like(LikeExpr::new(like_pattern(text)).escape('\\')),
            );
        }
        let select = select
            .order_by_asc(G::Kind)
            .order_by(
                Expr::col((student_groups::Entity, G::MisId)).is_null(),
                Order::Asc,
            )
            .order_by_asc(G::MisId)
            .order_by_asc(G::Name)
            .order_by_asc(G::Id);
        let pages = select.paginate(&self.txn, q.per_page);
        let total = pages.num_items().await.map_err(db_err)?;
        let rows = pages.fetch_page(q.page - 1).await.map_err(db_err)?;
        let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.id).collect();
        let counts: Vec<(uuid::Uuid, i64)> = student_group_members::Entity::find()
            .select_only()
            .column(student_group_members::Column::GroupId)
            .column_as(student_group_members::Column::StudentId.count(), "n")
            .filter(student_group_members::Column::OrgId.eq(org.0))
            .filter(student_group_members::Column::GroupId.is_in(ids))
            .group_by(student_group_members::Column::GroupId)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            let n = counts
                .iter()
                .find(|(g, _)| *g == r.id)
                .map(|(_, n)| u64::try_from(*n).unwrap_or(0))
                .unwrap_or(0);
            items.push((convert::student_group(r)?, n));
        }
        Ok((items, total))
    }

    async fn all_students(&mut self, org: OrgId) -> Result<Vec<Student>> {
        students::Entity::find()
            .filter(students::Column::OrgId.eq(org.0))
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(convert::student)
            .collect()
    }

    async fn insert_students(&mut self, students_in: &[Student]) -> Result<()> {
        if students_in.is_empty() {
            return Ok(());
        }
        for s in students_in {
            self.pupils_changed(s.org_id);
        }
        let at = now_us();
        students::Entity::insert_many(students_in.iter().map(|s| convert::student_row(s, at)))
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn update_student(&mut self, s: &Student) -> Result<()> {
        self.pupils_changed(s.org_id);
        let mut row = convert::student_row(s, now_us());
        row.created_at = sea_orm::ActiveValue::NotSet;
        students::Entity::update_many()
            .set(row)
            .filter(students::Column::OrgId.eq(s.org_id.0))
            .filter(students::Column::Id.eq(s.id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn all_student_groups(&mut self, org: OrgId) -> Result<Vec<StudentGroup>> {
        student_groups::Entity::find()
            .filter(student_groups::Column::OrgId.eq(org.0))
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(convert::student_group)
            .collect()
    }

    async fn update_student_group(&mut self, g: &StudentGroup) -> Result<()> {
        self.pupils_changed(g.org_id);
        student_groups::Entity::update_many()
            .col_expr(student_groups::Column::Kind, Expr::value(g.kind.as_str()))
            .col_expr(student_groups::Column::Name, Expr::value(g.name.clone()))
            .col_expr(student_groups::Column::Archived, Expr::value(g.archived))
            .col_expr(
                student_groups::Column::Version,
                Expr::col(student_groups::Column::Version).add(1),
            )
            .filter(student_groups::Column::OrgId.eq(g.org_id.0))
            .filter(student_groups::Column::Id.eq(g.id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        // Its kind or archiving may have changed: its members' masks follow.
        let members = visibility::members_of(&self.txn, g.org_id, g.id).await?;
        visibility::refresh_kinds_mask(&self.txn, g.org_id, &members).await
    }

    async fn all_group_members(&mut self, org: OrgId) -> Result<Vec<(StudentGroupId, StudentId)>> {
        Ok(student_group_members::Entity::find()
            .filter(student_group_members::Column::OrgId.eq(org.0))
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| (StudentGroupId(m.group_id), StudentId(m.student_id)))
            .collect())
    }

    async fn change_group_members(
        &mut self,
        org: OrgId,
        removes: &[(StudentGroupId, StudentId)],
        adds: &[(StudentGroupId, StudentId)],
    ) -> Result<()> {
        use student_group_members::Column as M;
        if !removes.is_empty() || !adds.is_empty() {
            self.pupils_changed(org);
        }
        for chunk in removes.chunks(1000) {
            student_group_members::Entity::delete_many()
                .filter(M::OrgId.eq(org.0))
                .filter(
                    Expr::tuple([Expr::col(M::GroupId), Expr::col(M::StudentId)])
                        .in_tuples(chunk.iter().map(|(g, s)| (g.0, s.0))),
                )
                .exec(&self.txn)
                .await
                .map_err(db_err)?;
        }
        for chunk in adds.chunks(2000) {
            student_group_members::Entity::insert_many(chunk.iter().map(|(g, s)| {
                student_group_members::ActiveModel {
                    org_id: Set(org.0),
                    group_id: Set(g.0),
                    student_id: Set(s.0),
                }
            }))
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
        }
        // Each moved pupil's mask once, after both halves.
        let mut ids: Vec<uuid::Uuid> = removes.iter().chain(adds).map(|(_, s)| s.0).collect();
        ids.sort();
        ids.dedup();
        visibility::refresh_kinds_mask(&self.txn, org, &ids).await
    }

    async fn students(
        &mut self,
        org: OrgId,
        scope: &StudentScope,
        q: &StudentQuery,
    ) -> Result<(Vec<(Student, Vec<StudentGroupId>)>, u64)> {
        use sea_orm::sea_query::Query;
        use students::Column as S;
        let mut filters = Condition::all();
        if let Some(text) = &q.q {
            let pat = like_pattern(text);
            let like =
                |e: sea_orm::sea_query::SimpleExpr| e.like(LikeExpr::new(pat.clone()).escape('\\'));
            filters = filters.add(
                Condition::any()
                    .add(like(Expr::cust(
                        "LOWER(students.forename || ' ' || students.surname)",
                    )))
                    .add(like(
                        Func::lower(Expr::col((students::Entity, S::Surname))).into(),
                    ))
                    .add(like(
                        Func::lower(Expr::col((students::Entity, S::MisId))).into(),
                    )),
            );
        }
        if let Some(r) = q.on_roll {
            filters = filters.add(S::OnRoll.eq(r));
        }
        if let Some(c) = q.monitored_category {
            filters = filters.add(
                S::Id.in_subquery(
                    Query::select()
                        .column(student_monitoring::Column::StudentId)
                        .from(student_monitoring::Entity)
                        .and_where(student_monitoring::Column::OrgId.eq(org.0))
                        .and_where(student_monitoring::Column::CategoryId.eq(c.0))
                        .to_owned(),
                ),
            );
        }
        if let Some(g) = q.group_id {
            filters = filters.add(
                S::Id.in_subquery(
                    Query::select()
                        .column(student_group_members::Column::StudentId)
                        .from(student_group_members::Entity)
                        .and_where(student_group_members::Column::OrgId.eq(org.0))
                        .and_where(student_group_members::Column::GroupId.eq(g.0))
                        .to_owned(),
                ),
            );
        }
        if let Some(also) = &q.also_visible_to {
            filters = filters.add(visibility::visibility(org, also));
        }
        // The list's counts (its total, and what chooses how a page is read) are counted once
        // and held until the org's pupils change; the page itself is always read.
        let key = format!(
            "students|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            scope.user,
            scope.restricting_types,
            q.q,
            q.on_roll,
            q.group_id,
            q.monitored_category,
            q.also_visible_to.as_ref().map(|s| s.user)
        );
        let read_at = self.cache.now();
        let counts = match self.cache.list_counts(org, &key) {
            Some(c) => c,
            None => {
                let c = visibility::count_students(&self.txn, org, scope, filters.clone()).await?;
                self.cache.hold_list_counts(read_at, org, key, c);
                c
            }
        };
        let offset = q.page.saturating_sub(1).saturating_mul(q.per_page);
        let condition = if visibility::walk_is_cheaper(&counts, offset.saturating_add(q.per_page)) {
            visibility::visibility_by_walk(org, scope)
        } else {
            let narrow = counts
                .narrow
                .and_then(|i| scope.restricting_types.get(i).copied());
            visibility::visibility_from(org, scope, narrow)
        };
        let rows = students::Entity::find()
            .filter(condition)
            .filter(filters)
            .order_by(
                Func::lower(Expr::col((students::Entity, S::Surname))),
                Order::Asc,
            )
            .order_by(
                Func::lower(Expr::col((students::Entity, S::Forename))),
                Order::Asc,
            )
            .order_by(S::Id, Order::Asc)
            .offset(offset)
            .limit(q.per_page)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let total = counts.total;
        let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.id).collect();
        let members = if ids.is_empty() {
            vec![]
        } else {
            student_group_members::Entity::find()
                .filter(student_group_members::Column::OrgId.eq(org.0))
                .filter(student_group_members::Column::StudentId.is_in(ids))
                .all(&self.txn)
                .await
                .map_err(db_err)?
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id = r.id;
            let mut groups: Vec<StudentGroupId> = members
                .iter()
                .filter(|m| m.student_id == id)
                .map(|m| StudentGroupId(m.group_id))
                .collect();
            groups.sort();
            out.push((convert::student(r)?, groups));
        }
        Ok((out, total))
    }

    async fn student(
        &mut self,
        org: OrgId,
        id: StudentId,
    ) -> Result<Option<(Student, Vec<StudentGroup>)>> {
        // One pupil is read as a batch's pupils are (`tx/decisions.rs`), so that a single
        // decision and a batch's name the same groups in the same order.
        Ok(self.students_among(org, &[id]).await?.pop())
    }

    async fn student_group(
        &mut self,
        org: OrgId,
        id: StudentGroupId,
    ) -> Result<Option<(StudentGroup, u64)>> {
        let Some(g) = student_groups::Entity::find()
            .filter(student_groups::Column::OrgId.eq(org.0))
            .filter(student_groups::Column::Id.eq(id.0))
            .one(&self.txn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let n = student_group_members::Entity::find()
            .filter(student_group_members::Column::OrgId.eq(org.0))
            .filter(student_group_members::Column::GroupId.eq(id.0))
            .count(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(Some((convert::student_group(g)?, n)))
    }

    async fn group_members(&mut self, org: OrgId, group: StudentGroupId) -> Result<Vec<StudentId>> {
        Ok(visibility::members_of(&self.txn, org, group)
            .await?
            .into_iter()
            .map(StudentId)
            .collect())
    }

    async fn bump_student_group(&mut self, org: OrgId, group: StudentGroupId) -> Result<()> {
        self.pupils_changed(org);
        student_groups::Entity::update_many()
            .col_expr(
                student_groups::Column::Version,
                Expr::col(student_groups::Column::Version).add(1),
            )
            .filter(student_groups::Column::OrgId.eq(org.0))
            .filter(student_groups::Column::Id.eq(group.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn students_without_restricting_group(
        &mut self,
        org: OrgId,
        types: &[StudentGroupType],
        reader: &StudentScope,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<Student>, u64)> {
        let mut select = students::Entity::find()
            .filter(students::Column::OrgId.eq(org.0))
            .filter(students::Column::OnRoll.eq(true))
            .filter(crate::visibility::visibility(org, reader));
        if !types.is_empty() {
            select = select
                .filter(students::Column::Id.not_in_subquery(restricting_memberships(org, types)));
        }
        let pages = select
            .order_by_asc(students::Column::Surname)
            .order_by_asc(students::Column::Forename)
            .order_by_asc(students::Column::Id)
            .paginate(&self.txn, per_page);
        let total = pages.num_items().await.map_err(db_err)?;
        let rows = pages.fetch_page(page - 1).await.map_err(db_err)?;
        Ok((
            rows.into_iter()
                .map(convert::student)
                .collect::<Result<Vec<_>>>()?,
            total,
        ))
    }
}
