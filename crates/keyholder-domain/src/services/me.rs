//! A3, A5: the caller's own account, password and second factor.

use super::*;
use crate::password::{Verified, check_strength};
use crate::permission::{CategoryFlags, PermissionSet};
use crate::policy::Action;
use crate::rule::Rule;
use crate::tokens::{recovery_codes, secret_hash, totp};
use serde_json::json;

/// `GET /v1/me`: the account, its org, and what is in effect in this session.
#[derive(Debug, Clone)]
pub struct Me {
    pub user: UserView,
    pub org_slug: String,
    pub permissions: PermissionSet,
    pub held: PermissionSet,
    /// Issue 16: the registered permissions of other products, in effect and held.
    pub registered: Vec<String>,
    pub registered_held: Vec<String>,
    pub category_flags: Vec<(CategoryId, CategoryFlags)>,
    pub second_factor_session: bool,
    /// N1: per top-level category.
    pub notification_preferences: Vec<(CategoryId, NotificationMode)>,
}

/// U12: what a user may change about themselves.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub title: Option<Option<String>>,
    pub forename: Option<String>,
    pub surname: Option<String>,
    pub phone: Option<Option<String>>,
    pub email: Option<String>,
    pub notification_preferences: Option<Vec<(CategoryId, NotificationMode)>>,
    /// ASVS 7.5.1: needed to change the email (where resets are sent).
    pub current_password: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_png_base64: String,
}

impl Keyholder {
    pub async fn me(&self, subject: &Subject) -> Result<Me> {
        self.authorize_in_own_org(subject, Action::ReadOwnAccount)?;
        // U5: held beside the session's facts, so the steady state needs no round trip.
        let (user, notification_preferences) = match self.auth.profile(subject.session_id) {
            Some((user, group, held)) => (
                UserView::of(user, &group, held.staff_ids),
                held.notification_prefs,
            ),
            None => {
                let read_at = self.auth.now();
                let mut tx = self.read_tx().await?;
                let user = tx
                    .user_view(subject.org_id, subject.user_id)
                    .await?
                    .ok_or(DomainError::Unauthenticated)?;
                let prefs = tx
                    .notification_prefs(subject.org_id, subject.user_id)
                    .await?;
                drop(tx);
                self.auth.hold_profile(
                    read_at,
                    subject.session_id,
                    crate::auth_cache::HeldProfile {
                        staff_ids: user.staff_ids.clone(),
                        notification_prefs: prefs.clone(),
                    },
                );
                (user, prefs)
            }
        };
        Ok(Me {
            notification_preferences,
            user,
            org_slug: subject.org_slug.clone(),
            permissions: subject.permissions,
            held: subject.held,
            registered: subject.registered.clone(),
            registered_held: subject.registered_held.clone(),
            category_flags: subject.category_flags.clone(),
            second_factor_session: subject.second_factor,
        })
    }

    pub(super) async fn own_user(&self, tx: &mut dyn Tx, subject: &Subject) -> Result<User> {
        tx.user(subject.org_id, subject.user_id)
            .await?
            .ok_or(DomainError::Unauthenticated)
    }

    /// The caller's org as stored.
    pub(super) async fn own_org(&self, tx: &mut dyn Tx, subject: &Subject) -> Result<Org> {
        tx.org_by_id(subject.org_id)
            .await?
            .ok_or(DomainError::NotFound)
    }

    /// A5: a new secret, not yet in force until confirmed with a code.
    pub async fn totp_setup(
        &self,
        subject: &Subject,
        ctx: &RequestContext,
    ) -> Result<TotpEnrolment> {
        self.authorize_in_own_org(subject, Action::ManageOwnSecondFactor)?;
        let mut tx = self.tx().await?;
        let before = self.own_user(tx.as_mut(), subject).await?;
        if before.totp.enrolled() {
            return Err(DomainError::SecondFactorAlreadyEnrolled);
        }
        let secret = totp::new_secret();
        let account = before
            .email
            .clone()
            .or(before.username.clone())
            .unwrap_or_else(|| before.id.to_string());
        let (otpauth_uri, qr_png_base64) =
            totp::enrolment(&secret, &format!("{} ({})", account, subject.org_slug))?;
        let mut after = before.clone();
        after.totp = TotpState {
            secret: Some(self.sealer.seal(&secret, before.id.0)?),
            confirmed: false,
            last_step: None,
        };
        write_user(&mut *tx, &before, &mut after).await?;
        Audit {
            org: subject.org_id,
            kind: "second_factor.setup_started",
            actor: Some(subject.user_id),
            target: Some(("user", subject.user_id.0)),
            changes: json!({}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok(TotpEnrolment {
            secret,
            otpauth_uri,
            qr_png_base64,
        })
    }

    /// A5: the first good code enrols the key and answers ten recovery codes, shown once.
    pub async fn totp_confirm(
        &self,
        subject: &Subject,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<Vec<String>> {
        self.authorize_in_own_org(subject, Action::ManageOwnSecondFactor)?;
        let mut tx = self.tx().await?;
        let before = self.own_user(tx.as_mut(), subject).await?;
        if before.totp.enrolled() {
            return Err(DomainError::SecondFactorAlreadyEnrolled);
        }
        let Some(sealed) = before.totp.secret.clone() else {
            return Err(DomainError::SecondFactorNotStarted);
        };
        let secret = self.sealer.open(&sealed, before.id.0)?;
        let Some(step) = totp::matching_step(&secret, code, now().unix_timestamp() as u64)? else {
            return Err(DomainError::field(
                "code",
                "invalid_code",
                "the code does not match the key",
            ));
        };
        let mut after = before.clone();
        after.totp = TotpState {
            secret: Some(sealed),
            confirmed: true,
            last_step: Some(step),
        };
        write_user(&mut *tx, &before, &mut after).await?;
        let codes = recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| secret_hash(c)).collect();
        tx.replace_recovery_codes(subject.org_id, subject.user_id, &hashes)
            .await?;
        Audit {
            org: subject.org_id,
            kind: "second_factor.enrolled",
            actor: Some(subject.user_id),
            target: Some(("user", subject.user_id.0)),
            changes: json!({"second_factor": [false, true]}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// A5: removing one's own key needs a session that proved it, so that a stolen password
    /// alone cannot strip it.
    pub async fn totp_remove(&self, subject: &Subject, ctx: &RequestContext) -> Result<()> {
        self.authorize_in_own_org(subject, Action::ManageOwnSecondFactor)?;
        let mut tx = self.tx().await?;
        let before = self.own_user(tx.as_mut(), subject).await?;
        if before.totp.enrolled() && !subject.second_factor {
            return Err(DomainError::Forbidden {
                rule: Rule::A5,
                detail: "log in with your second factor to remove it".into(),
            });
        }
        if before.totp.secret.is_none() {
            return Err(DomainError::NotFound);
        }
        let mut after = before.clone();
        after.totp = TotpState::default();
        write_user(&mut *tx, &before, &mut after).await?;
        tx.replace_recovery_codes(subject.org_id, subject.user_id, &[])
            .await?;
        // ASVS 7.4.3: a factor removed ends the account's other sessions.
        let ended = tx
            .revoke_other_sessions(subject.org_id, subject.user_id, subject.session_id)
            .await?;
        Audit {
            org: subject.org_id,
            kind: "second_factor.removed",
            actor: Some(subject.user_id),
            target: Some(("user", subject.user_id.0)),
            changes: json!({
                "second_factor": [before.totp.enrolled(), false],
                "other_sessions_ended": ended,
            }),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await
    }

    /// The caller's current password, checked as a login checks it (A2): refused while the
    /// account is locked, and a wrong one counts toward the lock. Runs outside any open
    /// transaction (argon2 takes a while). Answers the account, its org and whether it matched.
    pub(super) async fn check_own_password(
        &self,
        subject: &Subject,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<(User, Org, bool)> {
        let throttle_key = format!("user:{}", subject.user_id);
        let (user, org) = {
            let mut tx = self.tx().await?;
            let user = self.own_user(tx.as_mut(), subject).await?;
            let org = self.own_org(tx.as_mut(), subject).await?;
            if let Some(t) = tx.throttle(org.id, &throttle_key).await?
                && let Some(until) = t.locked_until
                && until > now()
            {
                return Err(DomainError::AccountLocked {
                    retry_after_secs: (until - now()).whole_seconds().max(1) as u64,
                });
            }
            (user, org)
        };
        let ok = self
            .hasher
            .verify(password, user.password_hash.as_deref())
            .await?
            != Verified::No;
        if !ok {
            let login = user
                .email
                .clone()
                .or(user.username.clone())
                .unwrap_or_default();
            self.login_failed(
                &org,
                Some(&user),
                &throttle_key,
                &login,
                super::auth::Failure::Password,
                ctx,
            )
            .await?;
        }
        Ok((user, org, ok))
    }

    /// A3, A4: change one's own password (the only thing an account that must change it can do).
    /// The account's other sessions end; a wrong current password counts toward its lock (A2).
    pub async fn change_own_password(
        &self,
        subject: &Subject,
        current: &str,
        new: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.authorize_in_own_org(subject, Action::ReadOwnAccount)?;
        let (user, org, current_ok) = self.check_own_password(subject, current, ctx).await?;
        let inputs: Vec<&str> = [user.email.as_deref(), user.username.as_deref()]
            .into_iter()
            .flatten()
            .chain([
                user.forename.as_str(),
                user.surname.as_str(),
                org.slug.as_str(),
            ])
            .chain(org.name.split_whitespace())
            .collect();
        let mut errors = Vec::new();
        if let Some(e) = check_strength("new_password", new, &inputs) {
            errors.push(e);
        }
        if new == current {
            errors.push(crate::error::FieldError::new(
                "new_password",
                "unchanged",
                "choose a password you have not just used",
            ));
        }
        if !current_ok {
            errors.push(crate::error::FieldError::new(
                "current_password",
                "wrong_password",
                "the current password is wrong",
            ));
        }
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let hash = self.hasher.hash(new).await?;
        let mut tx = self.tx().await?;
        let before = self.own_user(tx.as_mut(), subject).await?;
        let mut after = before.clone();
        after.password_hash = Some(hash);
        after.must_change_password = false;
        after.password_changed_at = Some(now());
        write_user(&mut *tx, &before, &mut after).await?;
        // Whoever else held the account's old password loses its sessions; this one stays.
        let ended = tx
            .revoke_other_sessions(subject.org_id, subject.user_id, subject.session_id)
            .await?;
        Audit {
            org: subject.org_id,
            kind: "user.password_changed",
            actor: Some(subject.user_id),
            target: Some(("user", subject.user_id.0)),
            changes: json!({
                "must_change_password": [before.must_change_password, false],
                "other_sessions_ended": ended,
            }),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await
    }
}

impl Keyholder {
    /// U12: with `profile.edit_own`, one's own title, names, phone, email (U4, U8) and
    /// notification preferences (N1, top-level categories); never group, permissions or status.
    pub async fn update_own_profile(
        &self,
        subject: &Subject,
        patch: ProfilePatch,
        if_match: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<Me> {
        self.authorize_in_own_org(subject, Action::EditOwnProfile)?;
        // ASVS 7.5.1: checked before the transaction, and counted like a login (A2).
        let password_ok = match (&patch.email, patch.current_password.as_deref()) {
            (Some(_), Some(p)) => Some(self.check_own_password(subject, p, ctx).await?.2),
            _ => None,
        };
        let mut tx = self.tx().await?;
        let before = self.own_user(tx.as_mut(), subject).await?;
        if let Some(v) = if_match
            && v != before.version
        {
            return Err(DomainError::VersionMismatch { expected: v });
        }
        let mut errors = Vec::new();
        let mut after = before.clone();
        let clean = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        if let Some(t) = patch.title {
            after.title = t.and_then(clean);
        }
        for (field, value, slot) in [
            ("forename", patch.forename, &mut after.forename),
            ("surname", patch.surname, &mut after.surname),
        ] {
            if let Some(v) = value {
                let v = v.trim().to_owned();
                if v.is_empty() || v.chars().count() > 100 {
                    errors.push(crate::error::FieldError::new(
                        field,
                        "length",
                        "1 to 100 characters",
                    ));
                }
                *slot = v;
            }
        }
        if let Some(p) = patch.phone {
            after.phone = p.and_then(clean);
            if let Some(p) = &after.phone
                && !valid_phone(p)
            {
                errors.push(crate::error::FieldError::new(
                    "phone",
                    "phone",
                    "digits, spaces and + ( ) - only, 6 to 20 digits",
                ));
            }
        }
        if let Some(e) = patch.email {
            let e = e.trim().to_owned();
            if !valid_email(&e) {
                errors.push(crate::error::FieldError::new(
                    "email",
                    "email",
                    "not an email address",
                ));
            }
            let changed = before.email.as_deref().map(str::to_lowercase) != Some(e.to_lowercase());
            // ASVS 7.5.1: the email is where password resets go; changing it needs the password.
            if changed && valid_email(&e) {
                match password_ok {
                    None => errors.push(crate::error::FieldError::new(
                        "current_password",
                        "required",
                        "give your current password to change your email",
                    )),
                    Some(false) => errors.push(crate::error::FieldError::new(
                        "current_password",
                        "wrong_password",
                        "the current password is wrong",
                    )),
                    Some(true) => {}
                }
            }
            after.email = Some(e);
        }
        if let Some(prefs) = &patch.notification_preferences {
            let categories = tx.categories(subject.org_id).await?;
            let group = tx
                .group(subject.org_id, before.user_group_id)
                .await?
                .ok_or_else(|| DomainError::internal("user without a group"))?;
            errors.extend(super::alerts::preference_errors(
                &categories,
                &group,
                prefs,
                "notification_preferences",
            ));
        }
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        if after.email != before.email
            && let Some(e) = &after.email
            && let Some(status) = tx
                .email_holder(subject.org_id, e, Some(subject.user_id))
                .await?
        {
            return Err(DomainError::EmailInUse {
                holder_status: status,
            });
        }
        let mut changes = user_diff(&before, &after);
        if let Some(prefs) = &patch.notification_preferences
            && let (_, Some(change)) = super::alerts::replace_preferences(
                tx.as_mut(),
                subject.org_id,
                subject.user_id,
                prefs,
            )
            .await?
            && let Some(m) = changes.as_object_mut()
        {
            m.insert("notification_preferences".into(), change);
        }
        if changes.as_object().is_some_and(|m| !m.is_empty()) {
            if after != before {
                write_user(&mut *tx, &before, &mut after).await?;
            }
            self.notify_email_change(tx.as_mut(), &before, &after)
                .await?;
            Audit {
                org: subject.org_id,
                kind: "user.profile_updated",
                actor: Some(subject.user_id),
                target: Some(("user", subject.user_id.0)),
                changes,
            }
            .write(tx.as_mut(), ctx)
            .await?;
        }
        tx.commit().await?;
        self.me(subject).await
    }
}

impl Keyholder {
    /// ASVS 7.5.2: the caller's own live sessions (where they are signed in), newest first.
    pub async fn own_sessions(&self, subject: &Subject) -> Result<Vec<Session>> {
        self.authorize_in_own_org(subject, Action::ReadOwnAccount)?;
        let mut tx = self.tx().await?;
        tx.live_sessions(subject.org_id, subject.user_id).await
    }

    /// ASVS 7.5.2: end one of one's own sessions (a PC left signed in). Audited.
    pub async fn end_own_session(
        &self,
        subject: &Subject,
        session: SessionId,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.authorize_in_own_org(subject, Action::ReadOwnAccount)?;
        let mut tx = self.tx().await?;
        if !tx
            .live_sessions(subject.org_id, subject.user_id)
            .await?
            .iter()
            .any(|s| s.id == session)
        {
            return Err(DomainError::NotFound);
        }
        tx.revoke_session(session).await?;
        Audit {
            org: subject.org_id,
            kind: "auth.session_ended",
            actor: Some(subject.user_id),
            target: Some(("user", subject.user_id.0)),
            changes: json!({"session_id": session}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await
    }
}
