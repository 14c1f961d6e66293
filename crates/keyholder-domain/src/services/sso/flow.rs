//! A8: a sign-in through a provider: the start, the provider's callback, and the exchange of
//! the one-time code for tokens.

use super::*;

/// Where the browser goes to sign in, and the secret its cookie must carry back.
#[derive(Debug, Clone)]
pub struct SsoStart {
    pub location: String,
    pub browser_secret: String,
}

/// What the frontend trades at the exchange.
#[derive(Debug, Clone, Default)]
pub struct SsoExchange {
    pub code: String,
    /// The user's Keyholder authenticator (or recovery) code, where the provider's MFA does
    /// not count.
    pub totp_code: Option<String>,
}

/// What the provider sent the browser back with.
#[derive(Debug, Clone, Default)]
pub struct SsoCallback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    /// RFC 9207: the issuer the authorization response names, when the provider sends it.
    pub iss: Option<String>,
}

enum Finished {
    Code(String),
    Linked,
}

/// The audit entry of a sign-in through a provider that went wrong after the flow was known
/// (AU1): which flow, which provider, why.
fn failed_entry(flow: &SsoState, reason: &str) -> Audit<'static> {
    Audit {
        org: flow.org_id,
        kind: "auth.sso_failed",
        actor: None,
        target: Some(("identity_provider", flow.provider_id.0)),
        changes: json!({"reason": reason}),
    }
}

impl Keyholder {
    /// A8: starts a sign-in: a stored flow (`state` and `nonce`, PKCE's verifier, where it
    /// ends) and the provider's authorization URL. Unknown org and unknown provider look alike.
    pub async fn sso_start(
        &self,
        org_slug: &str,
        provider: IdentityProviderId,
        return_to: &str,
    ) -> Result<SsoStart> {
        let p = {
            let mut tx = self.read_tx().await?;
            let org = tx
                .org_by_slug(org_slug)
                .await?
                .ok_or(DomainError::NotFound)?;
            tx.identity_provider(org.id, provider)
                .await?
                .ok_or(DomainError::NotFound)?
        };
        self.begin_sso(&p, return_to, None).await
    }

    /// A flow through `p`: stored, and the provider's authorization URL. `link_user`: the
    /// flow links the provider's account to this account instead of signing in.
    pub(super) async fn begin_sso(
        &self,
        p: &IdentityProvider,
        return_to: &str,
        link_user: Option<UserId>,
    ) -> Result<SsoStart> {
        // What the flow will add to `return_to` cannot be in it already (a frontend reading the
        // first `sso_code` would read a planted one).
        let planted = web_url(return_to).is_some_and(|u| {
            u.query_pairs()
                .any(|(k, _)| matches!(k.as_ref(), "sso_code" | "error" | "sso_linked"))
        });
        if return_to.len() > 2048 || planted || !p.allows_return_to(return_to) {
            return Err(DomainError::field(
                "return_to",
                "not_allowed",
                "return_to must be under one of the provider's return URLs",
            ));
        }
        let discovery = self
            .oidc_directory
            .discovery(self.oidc_http()?, &p.issuer)
            .await?;
        let (state, nonce, verifier, browser) = (
            random_token(32),
            random_token(32),
            random_token(48),
            random_token(32),
        );
        let flow = SsoState {
            hash: secret_hash(&state),
            org_id: p.org_id,
            provider_id: p.id,
            browser_hash: secret_hash(&browser),
            nonce: nonce.clone(),
            verifier: verifier.clone(),
            return_to: return_to.to_owned(),
            link_user,
            expires_at: now() + time::Duration::seconds(STATE_TTL_SECS),
        };
        let mut tx = self.tx().await?;
        tx.insert_sso_state(&flow).await?;
        tx.commit().await?;
        let mut scopes = vec!["openid".to_owned()];
        scopes.extend(p.scopes.iter().cloned());
        if !scopes.iter().any(|s| s == "email") {
            scopes.push("email".into());
        }
        let redirect_uri = self.sso_redirect_uri();
        let challenge = pkce_challenge(&verifier);
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", p.client_id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let scope = scopes.join(" ");
        pairs.push(("scope", scope.as_str()));
        let hd = p.allowed_domains.first().cloned();
        if p.kind == ProviderKind::Google
            && p.allowed_domains.len() == 1
            && let Some(hd) = hd.as_deref()
        {
            pairs.push(("hd", hd));
        }
        Ok(SsoStart {
            location: with_query(&discovery.authorization_endpoint, &pairs)?,
            browser_secret: browser,
        })
    }

    /// A8: the provider's answer. A `state` that is unknown, spent, expired or from another
    /// browser is refused here (400); anything after that ends at the flow's `return_to`, with
    /// `sso_code` on success or `error` (a problem code) on refusal.
    pub async fn sso_callback(
        &self,
        back: SsoCallback,
        browser_secret: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<String> {
        let state = back
            .state
            .as_deref()
            .filter(|s| s.len() <= 256)
            .ok_or_else(|| invalid("sso_invalid_state", "the sign-in is unknown or was used"))?;
        // Spent first, in its own transaction: a replayed callback finds nothing.
        let flow = {
            let mut tx = self.tx().await?;
            let flow = tx.take_sso_state(&secret_hash(state)).await?;
            tx.commit().await?;
            flow
        }
        .ok_or_else(|| invalid("sso_invalid_state", "the sign-in is unknown or was used"))?;
        let same_browser = browser_secret
            .filter(|b| b.len() <= 256)
            .is_some_and(|b| secret_hash(b) == flow.browser_hash);
        if !same_browser {
            let mut tx = self.tx().await?;
            failed_entry(&flow, "sso_other_browser")
                .write(tx.as_mut(), ctx)
                .await?;
            tx.commit().await?;
            return Err(invalid(
                "sso_invalid_state",
                "the sign-in was started in another browser",
            ));
        }
        let reason = match self.sso_finish(&flow, back, ctx).await {
            Ok(Finished::Code(code)) => {
                return with_query(&flow.return_to, &[("sso_code", &code)]);
            }
            Ok(Finished::Linked) => {
                let provider = flow.provider_id.0.to_string();
                return with_query(&flow.return_to, &[("sso_linked", &provider)]);
            }
            // Refusals are audited where they are decided, with the account they name.
            Err(DomainError::SsoRefused { code, .. }) => {
                return with_query(&flow.return_to, &[("error", code)]);
            }
            Err(DomainError::SsoInvalid { code, .. } | DomainError::Conflict { code, .. }) => code,
            Err(DomainError::ProviderUnavailable(why)) => {
                tracing::warn!(%why, "single sign-on: the identity provider is unavailable");
                "identity_provider_unavailable"
            }
            Err(e) => return Err(e),
        };
        let mut tx = self.tx().await?;
        failed_entry(&flow, reason).write(tx.as_mut(), ctx).await?;
        tx.commit().await?;
        with_query(&flow.return_to, &[("error", reason)])
    }

    async fn sso_finish(
        &self,
        flow: &SsoState,
        back: SsoCallback,
        ctx: &RequestContext,
    ) -> Result<Finished> {
        if back.error.is_some() {
            return Err(invalid(
                "sso_provider_error",
                "the identity provider did not sign the user in",
            ));
        }
        let code = back
            .code
            .filter(|c| !c.is_empty() && c.len() <= 2048)
            .ok_or_else(|| invalid("sso_invalid_code", "the provider sent no code"))?;
        let p = self
            .read_tx()
            .await?
            .identity_provider(flow.org_id, flow.provider_id)
            .await?
            .ok_or_else(|| invalid("sso_invalid_state", "the provider was removed"))?;
        let http = self.oidc_http()?;
        let discovery = self.oidc_directory.discovery(http, &p.issuer).await?;
        // Mix-up defence (RFC 9207): a response that names another issuer is not this flow's,
        // nor one without a name from a provider that always gives it.
        let named = match &back.iss {
            Some(iss) => iss.trim_end_matches('/') == discovery.issuer.trim_end_matches('/'),
            None => !discovery.authorization_response_iss_parameter_supported,
        };
        if !named {
            return Err(invalid(
                "sso_issuer_mismatch",
                "the answer came from another identity provider",
            ));
        }
        let secret = self.sealer.open(&p.client_secret_sealed, p.id.0)?;
        let redirect_uri = self.sso_redirect_uri();
        let (status, answer) = http
            .post_form(
                &discovery.token_endpoint,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &redirect_uri),
                    ("client_id", &p.client_id),
                    ("client_secret", &secret),
                    ("code_verifier", &flow.verifier),
                ],
            )
            .await
            .map_err(DomainError::ProviderUnavailable)?;
        if status != 200 {
            return Err(invalid(
                "sso_code_rejected",
                "the provider refused the code (used, expired or not for this sign-in)",
            ));
        }
        let id_token = answer["id_token"]
            .as_str()
            .ok_or_else(|| invalid("sso_invalid_id_token", "the provider sent no ID token"))?;
        let claims = verify_id_token(
            &self.oidc_directory,
            http,
            &p,
            &discovery,
            id_token,
            &flow.nonce,
            self.config.sso_leeway_secs,
        )
        .await?;
        let mut tx = self.tx().await?;
        let result = match flow.link_user {
            Some(user) => {
                self.sso_link_account(tx.as_mut(), &p, &claims, user, ctx)
                    .await
            }
            None => self.sso_account(tx.as_mut(), &p, &claims, ctx).await,
        };
        let user = match result {
            Ok(user) => user,
            Err(DomainError::SsoRefused { code, detail }) => {
                Audit {
                    org: p.org_id,
                    kind: "auth.sso_refused",
                    actor: None,
                    target: Some(("identity_provider", p.id.0)),
                    changes: json!({"reason": code, "subject": claims.sub, "email": claims.email}),
                }
                .write(tx.as_mut(), ctx)
                .await?;
                tx.commit().await?;
                return Err(DomainError::SsoRefused { code, detail });
            }
            Err(e) => return Err(e),
        };
        if flow.link_user.is_some() {
            tx.commit().await?;
            return Ok(Finished::Linked);
        }
        let one_time = random_token(32);
        tx.insert_sso_code(&SsoCode {
            hash: secret_hash(&one_time),
            org_id: p.org_id,
            provider_id: p.id,
            user_id: user.id,
            mfa: p.mfa_counts && claims.mfa(),
            binding: binding_of(flow),
            expires_at: now() + time::Duration::seconds(CODE_TTL_SECS),
        })
        .await?;
        tx.commit().await?;
        Ok(Finished::Code(one_time))
    }

    /// The account the provider vouched for: by its stored link, else (first sign-in) by the
    /// `externalId` SCIM gave it (Entra: the `oid`; others: the `sub`), then linked. Never by
    /// an email claim.
    async fn sso_account(
        &self,
        tx: &mut dyn Tx,
        p: &IdentityProvider,
        claims: &IdClaims,
        ctx: &RequestContext,
    ) -> Result<User> {
        domain_allowed(p, claims)?;
        let user = match tx.sso_link(p.id, &claims.sub).await? {
            Some(link) => tx.user(p.org_id, link.user_id).await?,
            None => {
                let external = match p.kind {
                    ProviderKind::Entra => claims.oid.as_deref(),
                    _ => Some(claims.sub.as_str()),
                };
                let found = match external {
                    Some(x) => tx.user_by_external_id(p.org_id, x).await?,
                    None => None,
                };
                let Some(user) = found else {
                    return Err(refused(
                        "sso_account_not_linked",
                        "no account of this org is linked to this sign-in",
                    ));
                };
                if user.status == UserStatus::Active
                    && tx.sso_link_of_user(p.id, user.id).await?.is_none()
                {
                    tx.insert_sso_link(&new_link(p, claims, user.id)).await?;
                    Audit {
                        org: p.org_id,
                        kind: "auth.sso_linked",
                        actor: Some(user.id),
                        target: Some(("user", user.id.0)),
                        changes: json!({
                            "provider": p.id.0,
                            "subject": claims.sub,
                            "by": "scim_external_id",
                        }),
                    }
                    .write(tx, ctx)
                    .await?;
                }
                Some(user)
            }
        };
        let user = user.ok_or_else(|| {
            refused(
                "sso_account_not_linked",
                "no account of this org is linked to this sign-in",
            )
        })?;
        match user.status {
            UserStatus::Active => Ok(user),
            UserStatus::Pending => Err(refused(
                "sso_account_pending",
                "the account has not been activated",
            )),
            _ => Err(refused(
                "sso_account_deactivated",
                "the account is deactivated",
            )),
        }
    }

    /// A8: the frontend trades the one-time code for tokens. It must show what the code was
    /// tied to (the flow's browser cookie, or the verifier of the frontend's challenge): a
    /// code read from a URL is worth nothing alone, and stays for its owner. The second factor
    /// (G2): the provider's MFA where the org counts it, else the user's Keyholder code as at a
    /// password login; wrong codes count on the exchange's own lock, so passwords guessed at
    /// the login cannot lock an SSO user out (A2). A wrong code does not spend the one-time
    /// code; the session it opens does.
    pub async fn sso_exchange(
        &self,
        req: &SsoExchange,
        browser_secret: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<TokenPair> {
        let unknown = || invalid("sso_invalid_code", "the code is unknown or was used");
        if req.code.is_empty() || req.code.len() > 256 {
            return Err(unknown());
        }
        let hash = secret_hash(&req.code);
        let (held, org) = {
            let mut tx = self.read_tx().await?;
            let held = tx.sso_code(&hash).await?.ok_or_else(unknown)?;
            let org = tx.org_by_id(held.org_id).await?.ok_or_else(unknown)?;
            (held, org)
        };
        if !binding_holds(&held.binding, browser_secret) {
            return Err(unknown());
        }
        let throttle_key = format!("sso:{}", held.user_id);
        let totp_code = req
            .totp_code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = self.tx().await?;
            let mut user = tx
                .user_for_update(org.id, held.user_id)
                .await?
                .filter(|u| u.status == UserStatus::Active)
                .ok_or_else(|| refused("sso_account_deactivated", "the account is not active"))?;
            // Spent with the session it opens: a concurrent exchange of it finds nothing, and a
            // wrong second factor below drops this transaction, which puts it back.
            if tx.take_sso_code(&hash).await?.is_none() {
                return Err(unknown());
            }
            let login = user.email.clone().unwrap_or_default();
            let code = totp_code.filter(|_| !held.mfa && user.totp.enrolled());
            let mut second_factor = held.mfa;
            let mut recovery_used = false;
            if let Some(code) = code {
                if let Some(t) = tx.throttle(org.id, &throttle_key).await?
                    && let Some(until) = t.locked_until
                    && until > now()
                {
                    return Err(DomainError::AccountLocked {
                        retry_after_secs: (until - now()).whole_seconds().max(1).unsigned_abs(),
                    });
                }
                let ok = match self.presented_code(&user, code)? {
                    PresentedCode::Step(step) if user.totp.last_step.is_none_or(|l| step > l) => {
                        user.totp.last_step = Some(step);
                        true
                    }
                    PresentedCode::Step(_) => false,
                    PresentedCode::Recovery(hash) => {
                        recovery_used = tx.spend_recovery_code(org.id, user.id, &hash).await?;
                        recovery_used
                    }
                };
                if !ok {
                    drop(tx);
                    self.second_factor_refused(&org, &user, &throttle_key, &login, ctx)
                        .await?;
                    return Err(DomainError::InvalidSecondFactor);
                }
                second_factor = true;
            }
            user.last_login_at = Some(now());
            let expected = user.version;
            user.version += 1;
            if !tx.update_user(&user, expected).await? {
                if attempt >= 5 {
                    return Err(DomainError::internal(
                        "the account kept changing during sign-in",
                    ));
                }
                continue;
            }
            if code.is_some() {
                tx.clear_throttle(org.id, &throttle_key).await?;
            }
            let pair = self
                .open_session(tx.as_mut(), &org, &user, SessionMethod::Sso, second_factor)
                .await?;
            Audit {
                org: org.id,
                kind: "auth.login_succeeded",
                actor: Some(user.id),
                target: Some(("user", user.id.0)),
                changes: json!({
                    "method": "sso",
                    "provider": held.provider_id.0,
                    "second_factor": second_factor,
                    "provider_mfa": held.mfa,
                    "recovery_code_used": recovery_used,
                }),
            }
            .write(tx.as_mut(), ctx)
            .await?;
            tx.commit().await?;
            return Ok(pair);
        }
    }
}
