//! Sessions and refresh tokens (A1), login throttling (A2), recovery codes (A5), single-use tokens (U3, A6).

use super::*;

#[async_trait]
impl SessionsTx for SeaTx {
    async fn insert_session(&mut self, s: &Session) -> Result<()> {
        sessions::Entity::insert(sessions::ActiveModel {
            id: Set(s.id.0),
            org_id: Set(s.org_id.0),
            user_id: Set(s.user_id.0),
            method: Set(s.method.as_str().to_owned()),
            second_factor: Set(s.second_factor),
            token_version: Set(s.token_version),
            created_at: Set(to_us(s.created_at)),
            expires_at: Set(to_us(s.expires_at)),
            revoked: Set(s.revoked),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn auth_facts(&mut self, session: SessionId) -> Result<Option<AuthFacts>> {
        let Some(s) = self.by_id::<sessions::Entity>(session.0).await? else {
            return Ok(None);
        };
        let Some((u, Some(g))) = users::Entity::find()
            .find_also_related(user_groups::Entity)
            .filter(users::Column::OrgId.eq(s.org_id))
            .filter(users::Column::Id.eq(s.user_id))
            .one(&self.txn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let Some(o) = self.by_id::<orgs::Entity>(s.org_id).await? else {
            return Ok(None);
        };
        Ok(Some(AuthFacts {
            session: convert::session(s),
            user: convert::user(u)?,
            group: self.load_group(g).await?,
            org: convert::org(o)?,
        }))
    }

    async fn revoke_session(&mut self, session: SessionId) -> Result<()> {
        self.changes.push(AuthChange::Session(session));
        sessions::Entity::update_many()
            .col_expr(sessions::Column::Revoked, Expr::value(true))
            .filter(sessions::Column::Id.eq(session.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn revoke_org_sessions(&mut self, org: OrgId, keep: SessionId) -> Result<u64> {
        self.changes.push(AuthChange::Org(org));
        Ok(sessions::Entity::update_many()
            .col_expr(sessions::Column::Revoked, Expr::value(true))
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::Id.ne(keep.0))
            .filter(sessions::Column::Revoked.eq(false))
            .exec(&self.txn)
            .await
            .map_err(db_err)?
            .rows_affected)
    }

    async fn revoke_password_sessions(
        &mut self,
        org: OrgId,
        admins_too: bool,
        keep: SessionId,
    ) -> Result<u64> {
        use sea_orm::sea_query::Query;
        self.changes.push(AuthChange::Org(org));
        let mut q = sessions::Entity::update_many()
            .col_expr(sessions::Column::Revoked, Expr::value(true))
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::Method.eq(SessionMethod::Password.as_str()))
            .filter(sessions::Column::Id.ne(keep.0))
            .filter(sessions::Column::Revoked.eq(false));
        if !admins_too {
            let admins = Query::select()
                .column((users::Entity, users::Column::Id))
                .from(users::Entity)
                .inner_join(
                    user_groups::Entity,
                    Expr::col((user_groups::Entity, user_groups::Column::Id))
                        .equals((users::Entity, users::Column::UserGroupId)),
                )
                .and_where(Expr::col((users::Entity, users::Column::OrgId)).eq(org.0))
                .and_where(Expr::col((user_groups::Entity, user_groups::Column::Active)).eq(true))
                .and_where(Expr::col((user_groups::Entity, user_groups::Column::IsAdmin)).eq(true))
                .to_owned();
            q = q.filter(sessions::Column::UserId.not_in_subquery(admins));
        }
        Ok(q.exec(&self.txn).await.map_err(db_err)?.rows_affected)
    }

    async fn live_sessions(&mut self, org: OrgId, user: UserId) -> Result<Vec<Session>> {
        use sea_orm::sea_query::Query;
        Ok(sessions::Entity::find()
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::UserId.eq(user.0))
            .filter(sessions::Column::Revoked.eq(false))
            .filter(sessions::Column::ExpiresAt.gt(now_us()))
            // Still refreshable: an unspent refresh token inside its idle window.
            .filter(
                sessions::Column::Id.in_subquery(
                    Query::select()
                        .column(refresh_tokens::Column::SessionId)
                        .from(refresh_tokens::Entity)
                        .and_where(refresh_tokens::Column::OrgId.eq(org.0))
                        .and_where(refresh_tokens::Column::Spent.eq(false))
                        .and_where(refresh_tokens::Column::ExpiresAt.gt(now_us()))
                        .to_owned(),
                ),
            )
            .order_by_desc(sessions::Column::CreatedAt)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(convert::session)
            .collect())
    }

    async fn revoke_other_sessions(
        &mut self,
        org: OrgId,
        user: UserId,
        keep: SessionId,
    ) -> Result<u64> {
        self.changes.push(AuthChange::Org(org));
        Ok(sessions::Entity::update_many()
            .col_expr(sessions::Column::Revoked, Expr::value(true))
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::UserId.eq(user.0))
            .filter(sessions::Column::Id.ne(keep.0))
            .filter(sessions::Column::Revoked.eq(false))
            .exec(&self.txn)
            .await
            .map_err(db_err)?
            .rows_affected)
    }

    async fn insert_refresh_token(&mut self, t: &RefreshToken) -> Result<()> {
        refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
            hash: Set(t.hash.clone()),
            org_id: Set(t.org_id.0),
            session_id: Set(t.session_id.0),
            spent: Set(t.spent),
            expires_at: Set(to_us(t.expires_at)),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn refresh_token(&mut self, hash: &str) -> Result<Option<RefreshToken>> {
        Ok(self
            .by_id::<refresh_tokens::Entity>(hash.to_owned())
            .await?
            .map(|m| RefreshToken {
                hash: m.hash,
                session_id: SessionId(m.session_id),
                org_id: OrgId(m.org_id),
                spent: m.spent,
                expires_at: convert::from_us(m.expires_at),
            }))
    }

    async fn spend_refresh_token(&mut self, hash: &str) -> Result<bool> {
        let res = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::Spent, Expr::value(true))
            .filter(refresh_tokens::Column::Hash.eq(hash))
            .filter(refresh_tokens::Column::Spent.eq(false))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn throttle(&mut self, org: OrgId, key: &str) -> Result<Option<LoginThrottle>> {
        Ok(self
            .by_id::<login_throttles::Entity>((org.0, key.to_owned()))
            .await?
            .map(|m| LoginThrottle {
                key: m.key,
                org_id: OrgId(m.org_id),
                failures: m.failures,
                locked_until: m.locked_until.map(convert::from_us),
            }))
    }

    async fn record_login_failure(&mut self, org: OrgId, key: &str) -> Result<LoginThrottle> {
        use login_throttles::Column as T;
        let row = login_throttles::ActiveModel {
            org_id: Set(org.0),
            key: Set(key.to_owned()),
            failures: Set(1),
            locked_until: Set(None),
        };
        login_throttles::Entity::insert(row)
            .on_conflict(
                sea_orm::sea_query::OnConflict::columns([T::OrgId, T::Key])
                    .value(
                        T::Failures,
                        Expr::col((login_throttles::Entity, T::Failures)).add(1),
                    )
                    .to_owned(),
            )
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
        self.throttle(org, key)
            .await?
            .ok_or_else(|| DomainError::internal("login counter vanished"))
    }

    async fn lock_login(
        &mut self,
        org: OrgId,
        key: &str,
        until: time::OffsetDateTime,
    ) -> Result<()> {
        login_throttles::Entity::update_many()
            .col_expr(
                login_throttles::Column::LockedUntil,
                Expr::value(to_us(until)),
            )
            .filter(login_throttles::Column::OrgId.eq(org.0))
            .filter(login_throttles::Column::Key.eq(key))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn clear_throttle(&mut self, org: OrgId, key: &str) -> Result<()> {
        login_throttles::Entity::delete_many()
            .filter(login_throttles::Column::OrgId.eq(org.0))
            .filter(login_throttles::Column::Key.eq(key))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn replace_recovery_codes(
        &mut self,
        org: OrgId,
        user: UserId,
        hashes: &[String],
    ) -> Result<()> {
        recovery_codes::Entity::delete_many()
            .filter(recovery_codes::Column::OrgId.eq(org.0))
            .filter(recovery_codes::Column::UserId.eq(user.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        if hashes.is_empty() {
            return Ok(());
        }
        recovery_codes::Entity::insert_many(hashes.iter().map(|h| recovery_codes::ActiveModel {
            org_id: Set(org.0),
            user_id: Set(user.0),
            hash: Set(h.clone()),
            used_at: Set(None),
        }))
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn spend_recovery_code(&mut self, org: OrgId, user: UserId, hash: &str) -> Result<bool> {
        let res = recovery_codes::Entity::update_many()
            .col_expr(recovery_codes::Column::UsedAt, Expr::value(now_us()))
            .filter(recovery_codes::Column::OrgId.eq(org.0))
            .filter(recovery_codes::Column::UserId.eq(user.0))
            .filter(recovery_codes::Column::Hash.eq(hash))
            .filter(recovery_codes::Column::UsedAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn insert_action_token(&mut self, t: &ActionToken) -> Result<()> {
        action_tokens::Entity::insert(action_tokens::ActiveModel {
            hash: Set(t.hash.clone()),
            org_id: Set(t.org_id.0),
            user_id: Set(t.user_id.0),
            purpose: Set(t.purpose.as_str().to_owned()),
            expires_at: Set(to_us(t.expires_at)),
            used_at: Set(None),
            created_at: Set(now_us()),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn action_token(&mut self, hash: &str) -> Result<Option<ActionToken>> {
        let Some(m) = self.by_id::<action_tokens::Entity>(hash.to_owned()).await? else {
            return Ok(None);
        };
        Ok(Some(ActionToken {
            hash: m.hash,
            org_id: OrgId(m.org_id),
            user_id: UserId(m.user_id),
            purpose: TokenPurpose::parse(&m.purpose)
                .ok_or_else(|| DomainError::internal("stored token purpose"))?,
            expires_at: convert::from_us(m.expires_at),
            used: m.used_at.is_some(),
        }))
    }

    async fn spend_action_token(&mut self, hash: &str) -> Result<bool> {
        let res = action_tokens::Entity::update_many()
            .col_expr(action_tokens::Column::UsedAt, Expr::value(now_us()))
            .filter(action_tokens::Column::Hash.eq(hash))
            .filter(action_tokens::Column::UsedAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn revoke_action_tokens(
        &mut self,
        org: OrgId,
        user: UserId,
        purpose: TokenPurpose,
    ) -> Result<()> {
        action_tokens::Entity::update_many()
            .col_expr(action_tokens::Column::UsedAt, Expr::value(now_us()))
            .filter(action_tokens::Column::OrgId.eq(org.0))
            .filter(action_tokens::Column::UserId.eq(user.0))
            .filter(action_tokens::Column::Purpose.eq(purpose.as_str()))
            .filter(action_tokens::Column::UsedAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
