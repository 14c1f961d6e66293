//! A1–A3, A5 at login: sign-in, refresh with rotation and reuse detection, logout, and turning
//! an access token into a [`Subject`].

use super::*;
use crate::password::Verified;
use crate::policy::ServiceSubject;
use crate::tokens::{Claims, normalise_recovery_code, random_token, secret_hash, totp};

#[derive(Debug, Clone)]
pub struct LoginRequest {
    pub org: String,
    pub login: String,
    pub password: String,
    pub totp_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub second_factor: bool,
    pub must_change_password: bool,
}

/// The throttle key of wrong codes presented with the right password while the account is
/// locked: its own lock turns the lock's bypass off (A2).
fn bypass_key(user: &User) -> String {
    format!("bypass:{}", user.id)
}

/// A second-factor code as presented (A5): the authenticator's step it matches, or else the
/// hash of a recovery code to spend. Whether the step is fresh, or the recovery code unspent,
/// is for the caller's transaction to find.
pub(super) enum PresentedCode {
    Step(i64),
    Recovery(String),
}

/// Why a login attempt failed, as the audit trail records it (the caller sees less).
pub(super) enum Failure {
    Password,
    SecondFactor,
}

impl Keyholder {
    /// A1/A2: the same answer, in about the same time, for an unknown login and a wrong password.
    pub async fn login(&self, req: LoginRequest, ctx: &RequestContext) -> Result<TokenPair> {
        let login = req.login.trim().to_lowercase();
        // One short read: the org, the account and its lockout counter (A2).
        let (org, user, throttle_key, locked) = {
            let mut tx = self.tx().await?;
            let org = tx.org_by_slug(req.org.trim()).await?;
            let user = match &org {
                Some(org) => tx.user_by_login(org.id, &login).await?,
                None => None,
            };
            let throttle_key = match &user {
                Some(u) => format!("user:{}", u.id),
                None => format!("login:{login}"),
            };
            let mut locked = None;
            if let Some(org) = &org
                && let Some(t) = tx.throttle(org.id, &throttle_key).await?
                && let Some(until) = t.locked_until
                && until > now()
            {
                let secs = (until - now()).whole_seconds().max(1) as u64;
                // A lock cannot shut an enrolled account out for good (an attacker failing on
                // purpose every hour): the right password with a fresh authenticator code gets
                // through it. Anything less is answered "locked", right password or not. Wrong
                // codes behind a right password are counted on a key of their own, so that
                // whoever holds the password cannot guess codes through the lock either.
                let enrolled = user.as_ref().is_some_and(|u| u.totp.enrolled());
                let with_code = req
                    .totp_code
                    .as_deref()
                    .is_some_and(|c| !c.trim().is_empty());
                let bypass_locked = match &user {
                    Some(u) => tx
                        .throttle(org.id, &bypass_key(u))
                        .await?
                        .and_then(|b| b.locked_until)
                        .is_some_and(|b| b > now()),
                    None => true,
                };
                if !enrolled || !with_code || bypass_locked {
                    return Err(DomainError::AccountLocked {
                        retry_after_secs: secs,
                    });
                }
                locked = Some(secs);
            }
            (org, user, throttle_key, locked)
        };
        // While locked, every failure is answered as the lock: no oracle for the password.
        let refuse = |normal: DomainError| match locked {
            Some(secs) => DomainError::AccountLocked {
                retry_after_secs: secs,
            },
            None => normal,
        };
        let hash = user
            .as_ref()
            .filter(|u| u.status == UserStatus::Active)
            .and_then(|u| u.password_hash.as_deref());
        let verified = self.hasher.verify(&req.password, hash).await?;
        let Some(org) = org else {
            return Err(DomainError::InvalidCredentials);
        };
        let Some(user) = user else {
            self.login_failed(&org, None, &throttle_key, &login, Failure::Password, ctx)
                .await?;
            return Err(refuse(DomainError::InvalidCredentials));
        };
        if verified == Verified::No {
            self.login_failed(
                &org,
                Some(&user),
                &throttle_key,
                &login,
                Failure::Password,
                ctx,
            )
            .await?;
            return Err(refuse(DomainError::InvalidCredentials));
        }
        // A8: where the org has turned passwords off (or kept them for admins only), the right
        // password is told so; a wrong one was refused above like any other.
        if org.settings.password_login != PasswordLogin::All {
            let admin = match self
                .read_tx()
                .await?
                .group(org.id, user.user_group_id)
                .await?
            {
                Some(g) => {
                    g.active
                        && g.system_permissions
                            .contains(crate::permission::Permission::AdminManageSystem)
                }
                None => false,
            };
            if org.settings.password_login == PasswordLogin::Off || !admin {
                let mut tx = self.tx().await?;
                Audit {
                    org: org.id,
                    kind: "auth.login_refused",
                    actor: None,
                    target: Some(("user", user.id.0)),
                    changes: serde_json::json!({"login": login, "reason": "password_login_off"}),
                }
                .write(tx.as_mut(), ctx)
                .await?;
                tx.commit().await?;
                return Err(DomainError::SsoRefused {
                    code: "password_login_off",
                    detail: "this organisation signs in through its identity provider".into(),
                });
            }
        }
        let rehash = match verified {
            Verified::YesRehashed(h) => Some(h),
            _ => None,
        };
        let mut totp_step = None;
        let mut recovery_hash = None;
        if user.totp.enrolled()
            && let Some(code) = req.totp_code.as_deref().filter(|c| !c.trim().is_empty())
        {
            match self.presented_code(&user, code)? {
                PresentedCode::Step(step) => totp_step = Some(step),
                PresentedCode::Recovery(hash) => recovery_hash = Some(hash),
            }
        }
        // Apply the login to the account as it is now: a concurrent login of the same account
        // (two tabs) must not fail, but a code's step is spent exactly once.
        let mut attempt = 0;
        let mut has_failures;
        let (mut tx, updated, second_factor) = loop {
            attempt += 1;
            let mut tx = self.tx().await?;
            let Some(mut fresh) = tx.user_for_update(org.id, user.id).await? else {
                return Err(DomainError::InvalidCredentials);
            };
            if fresh.status != UserStatus::Active || fresh.password_hash != user.password_hash {
                return Err(DomainError::InvalidCredentials);
            }
            // A2: a lock that came into force while this password was being checked holds.
            let throttle = tx.throttle(org.id, &throttle_key).await?;
            let lock = throttle
                .as_ref()
                .and_then(|t| t.locked_until)
                .filter(|until| *until > now())
                .map(|until| (until - now()).whole_seconds().max(1) as u64);
            let locked_error = |secs: u64| DomainError::AccountLocked {
                retry_after_secs: secs,
            };
            // Only a fresh authenticator code passes a lock: a wrong, reused or recovery code
            // behind the right password counts as a failure of the account and of its bypass.
            let stale =
                totp_step.is_none_or(|step| fresh.totp.last_step.is_some_and(|l| step <= l));
            if let Some(secs) = lock
                && stale
            {
                drop(tx);
                for key in [throttle_key.clone(), bypass_key(&user)] {
                    self.second_factor_refused(&org, &user, &key, &login, ctx)
                        .await?;
                }
                return Err(locked_error(secs));
            }
            has_failures = throttle.is_some();
            let mut second_factor = false;
            if let Some(step) = totp_step {
                if fresh.totp.last_step.is_some_and(|last| step <= last) {
                    drop(tx);
                    self.second_factor_refused(&org, &user, &throttle_key, &login, ctx)
                        .await?;
                    return Err(match lock {
                        Some(secs) => locked_error(secs),
                        None => refuse(DomainError::InvalidSecondFactor),
                    });
                }
                fresh.totp.last_step = Some(step);
                second_factor = true;
            }
            if let Some(h) = &recovery_hash {
                if !tx.spend_recovery_code(org.id, user.id, h).await? {
                    drop(tx);
                    self.second_factor_refused(&org, &user, &throttle_key, &login, ctx)
                        .await?;
                    return Err(DomainError::InvalidSecondFactor);
                }
                second_factor = true;
            }
            if let Some(h) = &rehash {
                fresh.password_hash = Some(h.clone());
            }
            fresh.last_login_at = Some(now());
            let expected = fresh.version;
            fresh.version += 1;
            if tx.update_user(&fresh, expected).await? {
                break (tx, fresh, second_factor);
            }
            if attempt >= 5 {
                return Err(DomainError::internal(
                    "the account kept changing during login",
                ));
            }
        };
        // A password alone does not wipe failed codes of an enrolled key (A5).
        if has_failures && (second_factor || !updated.totp.enrolled()) {
            tx.clear_throttle(org.id, &throttle_key).await?;
        }
        if second_factor {
            tx.clear_throttle(org.id, &bypass_key(&updated)).await?;
        }
        let pair = self
            .open_session(
                tx.as_mut(),
                &org,
                &updated,
                SessionMethod::Password,
                second_factor,
            )
            .await?;
        Audit {
            org: org.id,
            kind: "auth.login_succeeded",
            actor: Some(user.id),
            target: Some(("user", user.id.0)),
            changes: serde_json::json!({
                "second_factor": second_factor,
                "recovery_code_used": recovery_hash.is_some(),
            }),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok(pair)
    }

    /// What `code` is for this account: one reading of the user's key for every door that
    /// takes a code (the password login, the single sign-on exchange).
    pub(super) fn presented_code(&self, user: &User, code: &str) -> Result<PresentedCode> {
        let secret = match &user.totp.secret {
            Some(sealed) => self.sealer.open(sealed, user.id.0)?,
            None => String::new(),
        };
        Ok(
            match totp::matching_step(&secret, code, now().unix_timestamp().unsigned_abs())? {
                Some(step) => PresentedCode::Step(step),
                None => PresentedCode::Recovery(secret_hash(&normalise_recovery_code(code))),
            },
        )
    }

    /// A refused second factor (A2): one failure of the account under `key`.
    pub(super) async fn second_factor_refused(
        &self,
        org: &Org,
        user: &User,
        key: &str,
        login: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.login_failed(org, Some(user), key, login, Failure::SecondFactor, ctx)
            .await
    }

    pub(super) async fn login_failed(
        &self,
        org: &Org,
        user: Option<&User>,
        key: &str,
        login: &str,
        failure: Failure,
        ctx: &RequestContext,
    ) -> Result<()> {
        let mut tx = self.tx().await?;
        let mut t = tx.record_login_failure(org.id, key).await?;
        // Failures while already locked extend the lock but tell the owner only once.
        let already_locked = t.locked_until.is_some_and(|u| u > now());
        let over = t.failures - self.config.lockout_threshold;
        let locks = over >= 0;
        if locks {
            let secs =
                (self.config.lockout_base_secs << over.min(20)).min(self.config.lockout_max_secs);
            let until = now() + time::Duration::seconds(secs);
            tx.lock_login(org.id, key, until).await?;
            t.locked_until = Some(until);
        }
        let reason = match failure {
            Failure::Password => "password",
            Failure::SecondFactor => "second_factor",
        };
        let target = user.map(|u| ("user", u.id.0));
        Audit {
            org: org.id,
            kind: "auth.login_failed",
            actor: None,
            target,
            changes: serde_json::json!({"login": login, "reason": reason, "failures": t.failures}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        if locks {
            Audit {
                org: org.id,
                kind: "auth.locked",
                actor: None,
                target,
                changes: serde_json::json!({
                    "login": login,
                    "locked_until": t.locked_until.map(super::alerts::rfc3339),
                }),
            }
            .write(tx.as_mut(), ctx)
            .await?;
            if let Some(email) = user
                .filter(|_| !already_locked && !key.starts_with("bypass:"))
                .and_then(|u| u.email.as_deref())
            {
                let minutes = t
                    .locked_until
                    .map(|u| ((u - now()).whole_seconds().max(60) + 59) / 60)
                    .unwrap_or(1);
                let body = format!(
                    "Your Keyholder account was locked after {} failed logins in a row.\n                     You can try again in about {minutes} minutes. If this was not you, tell your \
                     school's administrator.\n",
                    t.failures
                );
                self.enqueue(
                    tx.as_mut(),
                    org.id,
                    "account_locked",
                    email,
                    "Your account was locked",
                    body,
                )
                .await?;
            }
        }
        tx.commit().await
    }

    pub(super) async fn open_session(
        &self,
        tx: &mut dyn Tx,
        org: &Org,
        user: &User,
        method: SessionMethod,
        second_factor: bool,
    ) -> Result<TokenPair> {
        let session = Session {
            id: SessionId::new(),
            org_id: org.id,
            user_id: user.id,
            method,
            second_factor,
            token_version: user.token_version,
            created_at: now(),
            expires_at: now() + time::Duration::seconds(self.config.session_ttl_secs),
            revoked: false,
        };
        tx.insert_session(&session).await?;
        self.issue(tx, org, user, &session).await
    }

    async fn issue(
        &self,
        tx: &mut dyn Tx,
        org: &Org,
        user: &User,
        session: &Session,
    ) -> Result<TokenPair> {
        let refresh = random_token(32);
        tx.insert_refresh_token(&RefreshToken {
            hash: secret_hash(&refresh),
            session_id: session.id,
            org_id: org.id,
            spent: false,
            expires_at: session
                .expires_at
                .min(now() + time::Duration::seconds(self.config.session_idle_secs)),
        })
        .await?;
        let iat = now().unix_timestamp();
        // RFC 8176 where it has a word: `pwd` and `otp` for a password (and key); a session
        // from an identity provider says `fed`, and `mfa` once a second factor is proved there
        // or at the exchange.
        let amr = match (session.method, session.second_factor) {
            (SessionMethod::Password, false) => vec!["pwd".to_owned()],
            (SessionMethod::Password, true) => vec!["pwd".to_owned(), "otp".to_owned()],
            (SessionMethod::Sso, false) => vec!["fed".to_owned()],
            (SessionMethod::Sso, true) => vec!["fed".to_owned(), "mfa".to_owned()],
        };
        let claims = Claims {
            iss: crate::tokens::ISSUER.into(),
            aud: crate::tokens::AUDIENCE.into(),
            sub: user.id,
            org: org.id,
            org_slug: org.slug.clone(),
            sid: session.id,
            ver: user.token_version,
            amr,
            iat,
            exp: iat + self.config.access_ttl_secs,
        };
        Ok(TokenPair {
            access_token: self.signing_key(tx).await?.sign(&claims)?,
            expires_in: self.config.access_ttl_secs,
            refresh_token: refresh,
            second_factor: session.second_factor,
            must_change_password: user.must_change_password,
        })
    }

    /// A1: rotates the refresh token; a spent one presented again revokes its whole family.
    pub async fn refresh(&self, refresh_token: &str, ctx: &RequestContext) -> Result<TokenPair> {
        let hash = secret_hash(refresh_token.trim());
        let mut tx = self.tx().await?;
        let Some(token) = tx.refresh_token(&hash).await? else {
            return Err(DomainError::InvalidRefreshToken);
        };
        let Some(facts) = tx.auth_facts(token.session_id).await? else {
            return Err(DomainError::InvalidRefreshToken);
        };
        if token.spent || !tx.spend_refresh_token(&hash).await? {
            tx.revoke_session(token.session_id).await?;
            Audit {
                org: token.org_id,
                kind: "auth.refresh_token_reused",
                actor: None,
                target: Some(("user", facts.user.id.0)),
                changes: serde_json::json!({"session_id": token.session_id}),
            }
            .write(tx.as_mut(), ctx)
            .await?;
            tx.commit().await?;
            return Err(DomainError::InvalidRefreshToken);
        }
        if !session_live(&facts.session, &facts.user, facts.session.token_version)
            || token.expires_at <= now()
        {
            return Err(DomainError::InvalidRefreshToken);
        }
        let pair = self
            .issue(tx.as_mut(), &facts.org, &facts.user, &facts.session)
            .await?;
        tx.commit().await?;
        Ok(pair)
    }

    /// Ends the subject's session: its access and refresh tokens stop working.
    pub async fn logout(&self, subject: &Subject, ctx: &RequestContext) -> Result<()> {
        let mut tx = self.tx().await?;
        tx.revoke_session(subject.session_id).await?;
        Audit {
            org: subject.org_id,
            kind: "auth.logout",
            actor: Some(subject.user_id),
            target: Some(("user", subject.user_id.0)),
            changes: serde_json::json!({}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await
    }

    /// The token's claims: from a check this replica made of the very same token (while it has
    /// not expired), else checked now by `key` (its key must be live: the caller found it so).
    fn verified_claims(&self, key: &crate::tokens::SigningKey, bearer: &str) -> Result<Claims> {
        let held = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(bearer)
            .cloned();
        if let Some(c) = held
            && c.exp > now().unix_timestamp()
        {
            return Ok(c);
        }
        let claims = key.verify(bearer)?;
        if key.alg == crate::tokens::KeyAlg::EdDsa {
            let mut held = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if held.len() >= super::VERIFIED_HELD {
                let now = now().unix_timestamp();
                held.retain(|_, c| c.exp > now);
                if held.len() >= super::VERIFIED_HELD {
                    held.clear();
                }
            }
            held.insert(bearer.into(), claims.clone());
        }
        Ok(claims)
    }

    /// Turns a bearer token into the subject it speaks for, checking in the database that the
    /// session, the account and its token version are still live (U5: a deactivated account's
    /// tokens stop working on the very next request).
    pub async fn authenticate(&self, bearer: &str) -> Result<Subject> {
        self.authenticate_with_claims(bearer).await.map(|(s, _)| s)
    }

    /// A9: RFC 7662 for a service key with scope `decisions`: whether `token` is a live access
    /// token of the key's own org right now (a deactivation, logout or ended session is
    /// inactive on the very next call), and if so what it says. A token of another org, a
    /// refresh token or anything else is simply inactive.
    pub async fn introspect(
        &self,
        svc: &ServiceSubject,
        token: &str,
    ) -> Result<Option<(Subject, Claims)>> {
        self.decide_service_route(svc, None, Action::Introspect)?;
        if token.is_empty() || token.len() > 8192 {
            return Ok(None);
        }
        match self.authenticate_with_claims(token.trim()).await {
            Ok((subject, claims)) if subject.org_id == svc.org_id => Ok(Some((subject, claims))),
            Ok(_) | Err(DomainError::Unauthenticated) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn authenticate_with_claims(&self, bearer: &str) -> Result<(Subject, Claims)> {
        let kid = crate::tokens::access_token_kid(bearer)?;
        // A transaction only when something is not held (U5: none in the steady state). What
        // it reads is held only if nothing changed since before it began.
        let read_at = self.auth.now();
        let mut tx: Option<Box<dyn Tx>> = None;
        let key = self
            .held_verification_key(&mut tx, &kid, read_at)
            .await?
            .ok_or(DomainError::Unauthenticated)?;
        let claims = self.verified_claims(&key, bearer)?;
        let (facts, categories) = match self.auth.facts(claims.sid) {
            Some(held) => held,
            None => {
                let t = match &mut tx {
                    Some(t) => t,
                    None => tx.insert(self.read_tx().await?),
                };
                let facts = t
                    .auth_facts(claims.sid)
                    .await?
                    .ok_or(DomainError::Unauthenticated)?;
                let categories = if facts.org.settings.second_factor_for_high_level {
                    Vec::new()
                } else {
                    t.categories(facts.org.id).await?
                };
                self.auth.hold_facts(read_at, &facts, &categories);
                (facts, categories)
            }
        };
        drop(tx);
        if facts.user.id != claims.sub
            || facts.org.id != claims.org
            || !session_live(&facts.session, &facts.user, claims.ver)
        {
            return Err(DomainError::Unauthenticated);
        }
        let subject = Subject::in_group(
            &facts.org,
            &facts.user,
            &facts.group,
            &categories,
            facts.session.second_factor,
            facts.session.id,
        );
        Ok((subject, claims))
    }
}

fn session_live(session: &Session, user: &User, token_version: i64) -> bool {
    !session.revoked
        && session.expires_at > now()
        && user.status == UserStatus::Active
        && user.token_version == token_version
        && session.token_version == user.token_version
}
