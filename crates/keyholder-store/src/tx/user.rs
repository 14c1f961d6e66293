//! User accounts (U1-U6).

use super::*;

/// A write of an account whose email or username another account of the org holds.
fn login_taken(e: sea_orm::DbErr) -> DomainError {
    unique_or(e, |msg| {
        if msg.contains("email") {
            Some(DomainError::EmailInUse {
                holder_status: UserStatus::Active,
            })
        } else if msg.contains("username") {
            Some(DomainError::UsernameInUse)
        } else {
            None
        }
    })
}

#[async_trait]
impl UsersTx for SeaTx {
    async fn insert_user(&mut self, user: &User) -> Result<()> {
        users::Entity::insert(convert::user_row(user))
            .exec_without_returning(&self.txn)
            .await
            .map_err(login_taken)?;
        Ok(())
    }

    async fn user(&mut self, org: OrgId, id: UserId) -> Result<Option<User>> {
        users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Id.eq(id.0))
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(convert::user)
            .transpose()
    }

    async fn user_for_update(&mut self, org: OrgId, id: UserId) -> Result<Option<User>> {
        use sea_orm::{ConnectionTrait, DbBackend};
        let mut q = users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Id.eq(id.0));
        if self.txn.get_database_backend() == DbBackend::Postgres {
            q = q.lock_exclusive();
        }
        q.one(&self.txn)
            .await
            .map_err(db_err)?
            .map(convert::user)
            .transpose()
    }

    async fn user_view(&mut self, org: OrgId, id: UserId) -> Result<Option<UserView>> {
        let select = users::Entity::find()
            .find_also_related(user_groups::Entity)
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Id.eq(id.0));
        Ok(self.user_views_of(select).await?.pop())
    }

    async fn user_by_login(&mut self, org: OrgId, login: &str) -> Result<Option<User>> {
        let key = login.to_lowercase();
        let rows = users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(
                Condition::any()
                    .add(users::Column::UsernameKey.eq(key.clone()))
                    .add(users::Column::EmailKey.eq(key)),
            )
            .order_by_asc(users::Column::CreatedAt)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        // A username wins over another account's email of the same spelling.
        let pick = rows
            .iter()
            .find(|u| u.username_key.as_deref() == Some(login))
            .or(rows.first())
            .cloned();
        pick.map(convert::user).transpose()
    }

    async fn email_holder(
        &mut self,
        org: OrgId,
        email: &str,
        except: Option<UserId>,
    ) -> Result<Option<UserStatus>> {
        let mut select = users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::EmailKey.eq(email.to_lowercase()));
        if let Some(e) = except {
            select = select.filter(users::Column::Id.ne(e.0));
        }
        let row = select.one(&self.txn).await.map_err(db_err)?;
        Ok(row.and_then(|u| UserStatus::parse(&u.status)))
    }

    async fn username_taken(
        &mut self,
        org: OrgId,
        username: &str,
        except: Option<UserId>,
    ) -> Result<bool> {
        let mut select = users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::UsernameKey.eq(username.to_lowercase()));
        if let Some(e) = except {
            select = select.filter(users::Column::Id.ne(e.0));
        }
        Ok(select.count(&self.txn).await.map_err(db_err)? > 0)
    }

    async fn update_user(&mut self, user: &User, expected_version: i64) -> Result<bool> {
        self.changes.push(AuthChange::Org(user.org_id));
        let res = users::Entity::update_many()
            .set(convert::user_row(user))
            .filter(users::Column::OrgId.eq(user.org_id.0))
            .filter(users::Column::Id.eq(user.id.0))
            .filter(users::Column::Version.eq(expected_version))
            .exec(&self.txn)
            .await
            .map_err(login_taken)?;
        Ok(res.rows_affected == 1)
    }

    async fn users(&mut self, org: OrgId, query: &UserQuery) -> Result<(Vec<UserView>, u64)> {
        use user_groups::Column as G;
        use users::Column as U;
        let mut select = users::Entity::find()
            .find_also_related(user_groups::Entity)
            .filter(U::OrgId.eq(org.0));
        if let Some(q) = &query.q {
            let pat = like_pattern(q);
            let like =
                |e: sea_orm::sea_query::SimpleExpr| e.like(LikeExpr::new(pat.clone()).escape('\\'));
            let full_name = Expr::cust("LOWER(users.forename || ' ' || users.surname)");
            select = select.filter(
                Condition::any()
                    .add(like(full_name))
                    .add(like(
                        Func::lower(Expr::col((users::Entity, U::Surname))).into(),
                    ))
                    .add(like(Expr::col((users::Entity, U::UsernameKey))))
                    .add(like(Expr::col((users::Entity, U::EmailKey)))),
            );
        }
        if let Some(s) = query.status {
            select = select.filter(U::Status.eq(s.as_str()));
        }
        if let Some(g) = query.user_group_id {
            select = select.filter(U::UserGroupId.eq(g.0));
        }
        if let Some(sf) = query.second_factor {
            select = select.filter(if sf {
                Condition::all().add(U::TotpConfirmed.eq(true))
            } else {
                Condition::all().add(U::TotpConfirmed.eq(false))
            });
        }
        if let Some(v) = &query.viewers_of {
            select = select.filter(viewers_of(org, v, self.txn.get_database_backend()));
        }
        for (wanted, col) in [(query.elevated, G::IsElevated), (query.admin, G::IsAdmin)] {
            if let Some(w) = wanted {
                select = select.filter(if w {
                    Condition::all().add(G::Active.eq(true)).add(col.eq(true))
                } else {
                    Condition::any().add(G::Active.eq(false)).add(col.eq(false))
                });
            }
        }
        let order = if query.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        let nulls_last = |c: U| Expr::col((users::Entity, c)).is_null();
        select = match query.sort {
            UserSort::Name => select,
            UserSort::JobTitle => select
                .order_by(nulls_last(U::JobTitle), Order::Asc)
                .order_by(
                    Func::lower(Expr::col((users::Entity, U::JobTitle))),
                    order.clone(),
                ),
            UserSort::UserGroup => select.order_by(G::NameKey, order.clone()),
            UserSort::LastLogin => select
                .order_by(nulls_last(U::LastLoginAt), Order::Asc)
                .order_by(U::LastLoginAt, order.clone()),
            UserSort::PasswordChanged => select
                .order_by(nulls_last(U::PasswordChangedAt), Order::Asc)
                .order_by(U::PasswordChangedAt, order.clone()),
            UserSort::Elevated => select.order_by(
                Expr::col((user_groups::Entity, G::IsElevated))
                    .and(Expr::col((user_groups::Entity, G::Active))),
                order.clone(),
            ),
            UserSort::Admin => select.order_by(
                Expr::col((user_groups::Entity, G::IsAdmin))
                    .and(Expr::col((user_groups::Entity, G::Active))),
                order.clone(),
            ),
        };
        let name_order = if query.sort == UserSort::Name {
            order
        } else {
            Order::Asc
        };
        select = select
            .order_by(
                Func::lower(Expr::col((users::Entity, U::Surname))),
                name_order.clone(),
            )
            .order_by(
                Func::lower(Expr::col((users::Entity, U::Forename))),
                name_order,
            )
            .order_by(U::Id, Order::Asc);
        let offset = query.page.saturating_sub(1).saturating_mul(query.per_page);
        self.user_view_page(select, offset, query.per_page).await
    }
}

/// R11 as SQL on `users`: active accounts free to act (U5, A3), in one of the groups that grant
/// the view, the pupil not blocked for them (R5), on every restricting group's allow-list (R4).
fn viewers_of(org: OrgId, v: &ViewerScope, backend: sea_orm::DbBackend) -> Condition {
    use sea_orm::sea_query::Query;
    use users::Column as U;
    let mut c = Condition::all()
        .add(U::Status.eq(UserStatus::Active.as_str()))
        .add(U::MustChangePassword.eq(false))
        .add(U::UserGroupId.is_in(v.groups.iter().map(|g| g.0)))
        .add(
            Expr::exists(
                Query::select()
                    .column(student_blocks::Column::UserId)
                    .from(student_blocks::Entity)
                    .and_where(student_blocks::Column::OrgId.eq(org.0))
                    .and_where(student_blocks::Column::StudentId.eq(v.student.0))
                    .and_where(
                        Expr::col((student_blocks::Entity, student_blocks::Column::UserId))
                            .equals((users::Entity, U::Id)),
                    )
                    .to_owned(),
            )
            .not(),
        );
    for g in &v.restricting_groups {
        let mut on_list = Query::select()
            .column(student_group_access::Column::UserId)
            .from(student_group_access::Entity)
            .and_where(student_group_access::Column::OrgId.eq(org.0))
            .and_where(student_group_access::Column::GroupId.eq(g.0))
            .to_owned();
        c = c.add(if backend == sea_orm::DbBackend::Postgres {
            // One probe of the allow-list's key per candidate. As a semi-join, PostgreSQL
            // scanned the whole list once per candidate when its statistics were stale (400 ms
            // against 13 ms for 5 000 staff after a bulk provisioning); `OFFSET 0` keeps the
            // probe a correlated subplan whatever the statistics say.
            on_list
                .and_where(
                    Expr::col((
                        student_group_access::Entity,
                        student_group_access::Column::UserId,
                    ))
                    .equals((users::Entity, U::Id)),
                )
                .offset(0);
            Expr::exists(on_list)
        } else {
            U::Id.in_subquery(on_list)
        });
    }
    c
}
