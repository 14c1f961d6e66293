//! U5–U8, U10, A5 (admin reset): the life of an account after it is made.

use super::*;
use crate::error::FieldError;
use crate::password::check_strength;
use crate::policy::Action;
use serde_json::json;

#[derive(Debug, Clone, Default)]
pub struct CloneInput {
    pub username: Option<String>,
    pub email: String,
    pub password: Option<String>,
    pub send_invitation: bool,
}

fn org_name_of(org: &Option<Org>) -> String {
    org.as_ref().map(|o| o.name.clone()).unwrap_or_default()
}

impl Keyholder {
    /// Loads the account and checks G4 on its group: nobody manages an account whose group
    /// holds more than they do.
    pub(crate) async fn managed_user(
        &self,
        tx: &mut dyn Tx,
        subject: &Subject,
        id: UserId,
    ) -> Result<User> {
        tx.lock_org(subject.org_id).await?;
        let user = tx
            .user(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        if let Some(group) = tx.group(subject.org_id, user.user_group_id).await? {
            self.authorize(subject, Action::GrantGroup, grant(&group))?;
        }
        Ok(user)
    }

    async fn save_user(
        &self,
        tx: &mut dyn Tx,
        subject: &Subject,
        before: &User,
        mut after: User,
        kind: &str,
        ctx: &RequestContext,
    ) -> Result<UserView> {
        write_user(&mut *tx, before, &mut after).await?;
        if admins_who_can_sign_in(tx, subject.org_id).await? == 0 {
            return Err(DomainError::LastAdmin);
        }
        Audit {
            org: subject.org_id,
            kind,
            actor: Some(subject.user_id),
            target: Some(("user", after.id.0)),
            changes: user_diff(before, &after),
        }
        .write(tx, ctx)
        .await?;
        tx.user_view(subject.org_id, after.id)
            .await?
            .ok_or(DomainError::NotFound)
    }

    fn check_version(if_match: Option<i64>, user: &User) -> Result<()> {
        match if_match {
            Some(v) if v != user.version => Err(DomainError::VersionMismatch { expected: v }),
            _ => Ok(()),
        }
    }

    /// U5: the account can no longer log in; every session and refresh token it has stops
    /// working on its next request. Group, email and staff links stay. G5 applies.
    pub async fn deactivate_user(
        &self,
        subject: &Subject,
        org: &str,
        id: UserId,
        if_match: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<UserView> {
        self.check_org(subject, org, Action::EditUser)?;
        let mut tx = self.tx().await?;
        let before = self.managed_user(tx.as_mut(), subject, id).await?;
        Self::check_version(if_match, &before)?;
        if before.status == UserStatus::Deactivated {
            return Err(DomainError::conflict(
                "already_deactivated",
                "the account is already deactivated",
            ));
        }
        let mut after = before.clone();
        after.status = UserStatus::Deactivated;
        after.token_version += 1;
        let view = self
            .save_user(
                tx.as_mut(),
                subject,
                &before,
                after,
                "user.deactivated",
                ctx,
            )
            .await?;
        tx.commit().await?;
        Ok(view)
    }

    /// U6: for a deactivated account, clear email, password, second factor and recovery
    /// codes, so that the email is free again. The account and its history stay.
    pub async fn remove_login_details(
        &self,
        subject: &Subject,
        org: &str,
        id: UserId,
        if_match: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<UserView> {
        self.check_org(subject, org, Action::EditUser)?;
        let mut tx = self.tx().await?;
        let before = self.managed_user(tx.as_mut(), subject, id).await?;
        Self::check_version(if_match, &before)?;
        if before.status != UserStatus::Deactivated {
            return Err(DomainError::conflict(
                "not_deactivated",
                "only a deactivated account's login details can be removed: deactivate it first",
            ));
        }
        let mut after = before.clone();
        after.email = None;
        after.password_hash = None;
        after.totp = TotpState::default();
        after.token_version += 1;
        tx.replace_recovery_codes(subject.org_id, id, &[]).await?;
        tx.revoke_action_tokens(subject.org_id, id, TokenPurpose::Invitation)
            .await?;
        tx.revoke_action_tokens(subject.org_id, id, TokenPurpose::PasswordReset)
            .await?;
        let view = self
            .save_user(
                tx.as_mut(),
                subject,
                &before,
                after,
                "user.login_details_removed",
                ctx,
            )
            .await?;
        tx.commit().await?;
        Ok(view)
    }

    /// U7: a deactivated account is active again with an email and a group (G4, U4); it is
    /// invited if it has no password.
    pub async fn reactivate_user(
        &self,
        subject: &Subject,
        org: &str,
        id: UserId,
        email: &str,
        group: GroupId,
        ctx: &RequestContext,
    ) -> Result<UserView> {
        self.check_org(subject, org, Action::EditUser)?;
        let email = email.trim().to_owned();
        let mut tx = self.tx().await?;
        let mut errors = Vec::new();
        if !valid_email(&email) {
            errors.push(FieldError::new("email", "email", "not an email address"));
        }
        let new_group = tx.group(subject.org_id, group).await?;
        if new_group.is_none() {
            errors.push(FieldError::new(
                "user_group_id",
                "unknown_group",
                "no such user group",
            ));
        }
        let before = self.managed_user(tx.as_mut(), subject, id).await?;
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let new_group = new_group.ok_or(DomainError::NotFound)?;
        if before.status != UserStatus::Deactivated {
            return Err(DomainError::conflict(
                "not_deactivated",
                "only a deactivated account can be reactivated",
            ));
        }
        self.authorize(subject, Action::GrantGroup, grant(&new_group))?;
        if let Some(status) = tx.email_holder(subject.org_id, &email, Some(id)).await? {
            return Err(DomainError::EmailInUse {
                holder_status: status,
            });
        }
        let mut after = before.clone();
        after.status = UserStatus::Active;
        after.email = Some(email);
        after.user_group_id = new_group.id;
        self.notify_email_change(tx.as_mut(), &before, &after)
            .await?;
        self.save_live(tx, subject, &before, after, "user.reactivated", ctx)
            .await
    }

    /// Saves an account that is now active (U7, U2) and, if it has no password yet, invites it
    /// (U3), in the caller's transaction, which it commits.
    async fn save_live(
        &self,
        mut tx: Box<dyn Tx>,
        subject: &Subject,
        before: &User,
        after: User,
        kind: &'static str,
        ctx: &RequestContext,
    ) -> Result<UserView> {
        let view = self
            .save_user(tx.as_mut(), subject, before, after.clone(), kind, ctx)
            .await?;
        if after.password_hash.is_none() {
            let org = tx.org_by_slug(&subject.org_slug).await?;
            self.invite(tx.as_mut(), &org_name_of(&org), &after).await?;
        }
        tx.commit().await?;
        Ok(view)
    }

    /// U2/U3: a pending account goes live and is invited.
    pub async fn make_live(
        &self,
        subject: &Subject,
        org: &str,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<UserView> {
        self.check_org(subject, org, Action::EditUser)?;
        let mut tx = self.tx().await?;
        let before = self.managed_user(tx.as_mut(), subject, id).await?;
        if before.status != UserStatus::Pending {
            return Err(DomainError::conflict(
                "not_pending",
                "only a pending account can be made live",
            ));
        }
        if before.email.is_none() {
            return Err(DomainError::field(
                "email",
                "required",
                "give the account an email before making it live",
            ));
        }
        let mut after = before.clone();
        after.status = UserStatus::Active;
        self.save_live(tx, subject, &before, after, "user.made_live", ctx)
            .await
    }

    /// U3: (re)send the invitation of an active account that has no password yet.
    pub async fn send_invitation(
        &self,
        subject: &Subject,
        org: &str,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.check_org(subject, org, Action::EditUser)?;
        let mut tx = self.tx().await?;
        let user = self.managed_user(tx.as_mut(), subject, id).await?;
        if user.status != UserStatus::Active {
            return Err(DomainError::conflict(
                "not_active",
                "only an active account is invited (make a pending account live, reactivate a deactivated one)",
            ));
        }
        if user.password_hash.is_some() {
            return Err(DomainError::conflict(
                "has_password",
                "the account already has a password: it can reset it from the login page",
            ));
        }
        let org = tx.org_by_slug(&subject.org_slug).await?;
        self.invite(tx.as_mut(), &org_name_of(&org), &user).await?;
        Audit {
            org: subject.org_id,
            kind: "user.invitation_sent",
            actor: Some(subject.user_id),
            target: Some(("user", id.0)),
            changes: json!({}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await
    }

    /// A5: an admin resets a user's key (lost phone); the user enrols again. Every session of
    /// the account ends.
    pub async fn reset_second_factor(
        &self,
        subject: &Subject,
        org: &str,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<UserView> {
        self.check_org(subject, org, Action::EditUser)?;
        let mut tx = self.tx().await?;
        let before = self.managed_user(tx.as_mut(), subject, id).await?;
        if before.totp.secret.is_none() {
            return Err(DomainError::conflict(
                "no_second_factor",
                "the account has no second factor to reset",
            ));
        }
        let mut after = before.clone();
        after.totp = TotpState::default();
        after.token_version += 1;
        tx.replace_recovery_codes(subject.org_id, id, &[]).await?;
        let view = self
            .save_user(
                tx.as_mut(),
                subject,
                &before,
                after,
                "second_factor.reset",
                ctx,
            )
            .await?;
        tx.commit().await?;
        Ok(view)
    }

    /// ASVS 7.4.5: an admin ends every session of an account (a lost phone, a shared PC left
    /// signed in); the user signs in again. Audited.
    pub async fn end_sessions(
        &self,
        subject: &Subject,
        org: &str,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<UserView> {
        self.check_org(subject, org, Action::EditUser)?;
        let mut tx = self.tx().await?;
        let before = self.managed_user(tx.as_mut(), subject, id).await?;
        let mut after = before.clone();
        after.token_version += 1;
        let view = self
            .save_user(
                tx.as_mut(),
                subject,
                &before,
                after,
                "user.sessions_ended",
                ctx,
            )
            .await?;
        tx.commit().await?;
        Ok(view)
    }

    /// ASVS 7.4.5: every session in the org ends (a suspected breach), the caller's own
    /// excepted; everyone signs in again. Answers how many ended. Audited.
    pub async fn end_all_sessions(
        &self,
        subject: &Subject,
        org: &str,
        ctx: &RequestContext,
    ) -> Result<u64> {
        self.check_org(subject, org, Action::EndAllSessions)?;
        let mut tx = self.tx().await?;
        let ended = tx
            .revoke_org_sessions(subject.org_id, subject.session_id)
            .await?;
        Audit {
            org: subject.org_id,
            kind: "org.sessions_ended",
            actor: Some(subject.user_id),
            target: Some(("org", subject.org_id.0)),
            changes: serde_json::json!({"sessions_ended": ended}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// U10: a new account copying the group (G4), the staff links (only where several staff
    /// per user are allowed), the allow-lists (R6) and notification preferences; no second
    /// factor, no blocks, no history.
    pub async fn clone_user(
        &self,
        subject: &Subject,
        org: &str,
        id: UserId,
        input: CloneInput,
        ctx: &RequestContext,
    ) -> Result<UserView> {
        self.check_org(subject, org, Action::CreateUser)?;
        let email = input.email.trim().to_owned();
        let username = input
            .username
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        let mut errors = Vec::new();
        if !valid_email(&email) {
            errors.push(FieldError::new("email", "email", "not an email address"));
        }
        if input.password.is_some() == input.send_invitation {
            errors.push(FieldError::new(
                "password",
                "one_of_required",
                "give exactly one of password or send_invitation",
            ));
        }
        let mut tx = self.tx().await?;
        let source = self.managed_user(tx.as_mut(), subject, id).await?;
        if let Some(p) = &input.password {
            let inputs: Vec<&str> = [
                Some(email.as_str()),
                username.as_deref(),
                Some(source.forename.as_str()),
                Some(source.surname.as_str()),
                Some(subject.org_slug.as_str()),
            ]
            .into_iter()
            .flatten()
            .collect();
            if let Some(e) = check_strength("password", p, &inputs) {
                errors.push(e);
            }
        }
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        if source.status == UserStatus::Pending {
            return Err(DomainError::conflict(
                "clone_of_pending",
                "a pending account cannot be cloned: make it live first",
            ));
        }
        if let Some(status) = tx.email_holder(subject.org_id, &email, None).await? {
            return Err(DomainError::EmailInUse {
                holder_status: status,
            });
        }
        if let Some(u) = &username
            && tx.username_taken(subject.org_id, u, None).await?
        {
            return Err(DomainError::UsernameInUse);
        }
        let org_row = tx.org_by_slug(&subject.org_slug).await?;
        let several = org_row
            .as_ref()
            .is_some_and(|o| o.settings.several_staff_per_user);
        let source_view = tx
            .user_view(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let access = tx.access_of_user(subject.org_id, id).await?;
        let prefs = tx.notification_prefs(subject.org_id, id).await?;
        // R5: a clone carries no blocks (U10), except a clone of one's own account, which
        // carries its blocks: else it would be the way around them. The caller learns nothing.
        let blocks = if id == subject.user_id {
            tx.all_blocks(subject.org_id, id).await?
        } else {
            Vec::new()
        };
        drop(tx);
        let password_hash = match &input.password {
            Some(p) => Some(self.hasher.hash(p).await?),
            None => None,
        };
        let user = User {
            username,
            email: Some(email),
            title: source.title.clone(),
            forename: source.forename.clone(),
            surname: source.surname.clone(),
            job_title: source.job_title.clone(),
            password_changed_at: password_hash.as_ref().map(|_| now()),
            password_hash,
            ..User::new_in(subject.org_id, source.user_group_id, UserStatus::Active)
        };
        let mut tx = self.tx().await?;
        tx.insert_user(&user).await?;
        if several {
            for s in &source_view.staff_ids {
                tx.link_staff(subject.org_id, user.id, *s).await?;
            }
        }
        for g in &access {
            tx.add_group_access(subject.org_id, *g, user.id).await?;
        }
        tx.replace_notification_prefs(subject.org_id, user.id, &prefs)
            .await?;
        for b in &blocks {
            let carried = crate::ports::Block {
                user_id: user.id,
                created_by: Some(subject.user_id),
                created_at: now(),
                ..b.clone()
            };
            tx.insert_block(subject.org_id, &carried).await?;
            Audit {
                org: subject.org_id,
                kind: "student.blocked",
                actor: Some(subject.user_id),
                target: Some(("user", user.id.0)),
                changes: serde_json::json!({"student_id": [null, b.student_id], "reason": [null, b.reason], "carried_from": [null, id]}),
            }
            .write_about(
                tx.as_mut(),
                ctx,
                &[AuditAbout::Student(b.student_id), AuditAbout::BlocksOf(user.id)],
            )
            .await?;
        }
        if input.send_invitation {
            self.invite(tx.as_mut(), &org_name_of(&org_row), &user)
                .await?;
        }
        Audit {
            org: subject.org_id,
            kind: "user.cloned",
            actor: Some(subject.user_id),
            target: Some(("user", user.id.0)),
            changes: json!({
                "cloned_from": [null, id],
                "email": [null, user.email],
                "user_group_id": [null, user.user_group_id],
                "allow_lists": [null, access.len()],
            }),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        commit_with_view(tx, subject.org_id, user.id).await
    }
}
