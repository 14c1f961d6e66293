//! A8: an account's links to provider accounts: made by a linking flow, listed, removed.

use super::*;

#[derive(Debug, Clone)]
pub struct SsoLinkView {
    pub provider_id: IdentityProviderId,
    pub provider_name: String,
    pub provider_kind: ProviderKind,
    /// The provider's `sub` for the account.
    pub subject: String,
    pub created_at: OffsetDateTime,
}

impl Keyholder {
    /// A8: a member of staff links their own account to a provider account (a provider that
    /// does not provision over SCIM, such as Google Workspace): their current password first
    /// (a stolen session alone adds no way in), then a flow like a sign-in's that ends, in the
    /// same browser, with the link made and `return_to?sso_linked=<provider id>`. Mailed to
    /// the account's address.
    pub async fn sso_link_start(
        &self,
        subject: &Subject,
        provider: IdentityProviderId,
        return_to: &str,
        current_password: &str,
        ctx: &RequestContext,
    ) -> Result<SsoStart> {
        // A new way in is a second-factor matter (not before A3's change, and with the key
        // proved where one is enrolled): a password alone, or a stolen session, adds none.
        self.authorize_in_own_org(subject, Action::ManageOwnSecondFactor)?;
        let (p, account) = {
            let mut tx = self.read_tx().await?;
            let p = tx
                .identity_provider(subject.org_id, provider)
                .await?
                .ok_or(DomainError::NotFound)?;
            let account = self.own_user(tx.as_mut(), subject).await?;
            (p, account)
        };
        own_second_factor(&account, subject)?;
        if account.password_hash.is_none() {
            return Err(DomainError::conflict(
                "no_password",
                "the account has no password to confirm the link with: ask an admin",
            ));
        }
        if current_password.len() > 1024 {
            return Err(DomainError::field(
                "current_password",
                "wrong_password",
                "the current password is wrong",
            ));
        }
        let (_, _, ok) = self
            .check_own_password(subject, current_password, ctx)
            .await?;
        if !ok {
            return Err(DomainError::field(
                "current_password",
                "wrong_password",
                "the current password is wrong",
            ));
        }
        self.begin_sso(&p, return_to, Some(subject.user_id)).await
    }

    /// The link a linking flow makes, once the provider vouched: the provider's account is
    /// not already another account's, and this account has no other link to the provider.
    pub(super) async fn sso_link_account(
        &self,
        tx: &mut dyn Tx,
        p: &IdentityProvider,
        claims: &IdClaims,
        user: UserId,
        ctx: &RequestContext,
    ) -> Result<User> {
        domain_allowed(p, claims)?;
        let account = tx
            .user(p.org_id, user)
            .await?
            .filter(|u| u.status == UserStatus::Active)
            .ok_or_else(|| refused("sso_account_deactivated", "the account is not active"))?;
        match tx.sso_link(p.id, &claims.sub).await? {
            Some(l) if l.user_id == user => return Ok(account),
            Some(_) => {
                return Err(refused(
                    "sso_identity_in_use",
                    "this provider account is linked to another account",
                ));
            }
            None => {}
        }
        if tx.sso_link_of_user(p.id, user).await?.is_some() {
            return Err(refused(
                "sso_already_linked",
                "the account is linked to another account of this provider: unlink it first",
            ));
        }
        tx.insert_sso_link(&new_link(p, claims, user)).await?;
        Audit {
            org: p.org_id,
            kind: "auth.sso_linked",
            actor: Some(user),
            target: Some(("user", user.0)),
            changes: json!({"provider": p.id.0, "subject": claims.sub, "by": "owner"}),
        }
        .write(tx, ctx)
        .await?;
        if let Some(email) = account.email.as_deref() {
            let body = format!(
                "Hello {},\n\nYour Keyholder account can now be signed in to through {}.\n\
                 If you did not ask for this, tell your school's administrator straight away.\n",
                account.forename, p.name
            );
            self.enqueue(
                tx,
                p.org_id,
                "sso_linked",
                email,
                "A new way to sign in to your account",
                body,
            )
            .await?;
        }
        Ok(account)
    }

    /// The account's links, with their providers' names.
    async fn links_of(
        &self,
        tx: &mut dyn Tx,
        org: OrgId,
        user: UserId,
    ) -> Result<Vec<SsoLinkView>> {
        let providers = tx.identity_providers(org).await?;
        Ok(tx
            .sso_links_of_user(user)
            .await?
            .into_iter()
            .filter_map(|l| {
                let p = providers.iter().find(|p| p.id == l.provider_id)?;
                Some(SsoLinkView {
                    provider_id: l.provider_id,
                    provider_name: p.name.clone(),
                    provider_kind: p.kind,
                    subject: l.subject,
                    created_at: l.created_at,
                })
            })
            .collect())
    }

    /// The caller's own links.
    pub async fn own_sso_links(&self, subject: &Subject) -> Result<Vec<SsoLinkView>> {
        self.authorize_in_own_org(subject, Action::ReadOwnAccount)?;
        let mut tx = self.read_tx().await?;
        self.links_of(tx.as_mut(), subject.org_id, subject.user_id)
            .await
    }

    /// An account's links, for an admin who may read the account.
    pub async fn user_sso_links(
        &self,
        subject: &Subject,
        org: &str,
        id: UserId,
    ) -> Result<Vec<SsoLinkView>> {
        self.check_org(subject, org, Action::ReadUser)?;
        let mut tx = self.read_tx().await?;
        tx.user(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        self.links_of(tx.as_mut(), subject.org_id, id).await
    }

    /// Removes one's own link to a provider (G5: not the last way in for an admin).
    pub async fn remove_own_sso_link(
        &self,
        subject: &Subject,
        provider: IdentityProviderId,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.authorize_in_own_org(subject, Action::ManageOwnSecondFactor)?;
        let mut tx = self.tx().await?;
        let account = self.own_user(tx.as_mut(), subject).await?;
        own_second_factor(&account, subject)?;
        self.unlink(tx.as_mut(), subject, subject.user_id, provider, ctx)
            .await?;
        tx.commit().await
    }

    /// An admin removes an account's link (a wrong one, a provider account that changed
    /// hands); the account links again on its next sign-in by SCIM's `externalId`, or by its
    /// owner.
    pub async fn remove_user_sso_link(
        &self,
        subject: &Subject,
        org: &str,
        id: UserId,
        provider: IdentityProviderId,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.check_org(subject, org, Action::EditUser)?;
        let mut tx = self.tx().await?;
        self.managed_user(tx.as_mut(), subject, id).await?;
        self.unlink(tx.as_mut(), subject, id, provider, ctx).await?;
        tx.commit().await
    }

    async fn unlink(
        &self,
        tx: &mut dyn Tx,
        subject: &Subject,
        user: UserId,
        provider: IdentityProviderId,
        ctx: &RequestContext,
    ) -> Result<()> {
        tx.lock_org(subject.org_id).await?;
        let link = tx
            .sso_link_of_user(provider, user)
            .await?
            .filter(|l| l.org_id == subject.org_id)
            .ok_or(DomainError::NotFound)?;
        tx.delete_sso_link(provider, user).await?;
        if admins_who_can_sign_in(tx, subject.org_id).await? == 0 {
            return Err(DomainError::LastAdmin);
        }
        // What the link opened goes with it: the account's sessions from identity providers
        // and any one-time code not yet traded.
        tx.delete_sso_codes_of(provider, user).await?;
        let sessions_ended = tx.revoke_sso_sessions(subject.org_id, user).await?;
        Audit {
            org: subject.org_id,
            kind: "auth.sso_unlinked",
            actor: Some(subject.user_id),
            target: Some(("user", user.0)),
            changes: json!({
                "provider": provider.0,
                "subject": link.subject,
                "sessions_ended": sessions_ended,
            }),
        }
        .write(tx, ctx)
        .await?;
        let owner = tx.user(subject.org_id, user).await?;
        let provider_name = tx
            .identity_provider(subject.org_id, provider)
            .await?
            .map(|p| p.name)
            .unwrap_or_default();
        if let Some(owner) = owner
            && let Some(email) = owner.email.as_deref()
        {
            let body = format!(
                "Hello {},\n\nYour Keyholder account can no longer be signed in to through {}.\n\
                 If you did not ask for this, tell your school's administrator straight away.\n",
                owner.forename, provider_name
            );
            self.enqueue(
                tx,
                subject.org_id,
                "sso_unlinked",
                email,
                "A way to sign in to your account was removed",
                body,
            )
            .await?;
        }
        Ok(())
    }
}
