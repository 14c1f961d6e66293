//! SCIM 2.0 provisioning for identity providers. Users map to accounts and Groups to user
//! groups; every change goes through the same rules as any other path: G4 bounded by what the
//! key's creator holds, G5, U4, U5 (deactivating over SCIM ends every session).

use super::*;
use crate::error::FieldError;
use crate::permission::PermissionSet;
use crate::policy::{Action, ServiceSubject};
use crate::rule::Rule;
use serde_json::json;

/// A SCIM User as Keyholder stores it.
#[derive(Debug, Clone, Default)]
pub struct ScimUserInput {
    pub user_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub title: Option<String>,
    pub active: bool,
    /// The primary (or first) address of `emails`: the account's email (U4 applies).
    pub email: Option<String>,
    pub external_id: Option<String>,
    /// `emails` and the enterprise extension, verbatim.
    pub attributes: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default)]
pub struct ScimGroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    /// `None`: leave the members alone.
    pub members: Option<Vec<UserId>>,
}

pub const SCIM_MAX_COUNT: u64 = 200;
/// The furthest `startIndex` read: past it a list is empty anyway, and offsets stay far
/// inside what both databases take.
pub const SCIM_MAX_START: u64 = 1 << 40;

/// RFC 7644 §3.4.2.4: the first result (1-based) and how many, from what the client asked.
/// A `startIndex` below 1 is 1 (and past [`SCIM_MAX_START`] is that); a `count` below 0 is
/// 0, above [`SCIM_MAX_COUNT`] it is the most.
pub fn scim_window(start_index: Option<i64>, count: i64) -> (u64, u64) {
    let start = u64::try_from(start_index.unwrap_or(1).max(1))
        .unwrap_or(1)
        .min(SCIM_MAX_START);
    let count = u64::try_from(count.max(0)).unwrap_or(0).min(SCIM_MAX_COUNT);
    (start, count)
}

impl Keyholder {
    fn check_scim(&self, svc: &ServiceSubject, org: &str) -> Result<()> {
        self.decide_service_route(svc, Some(org), Action::Scim)
    }

    /// G4 for a key: it hands out nothing its creator does not hold (with a second factor).
    async fn acting_subject(&self, tx: &mut dyn Tx, svc: &ServiceSubject) -> Result<Subject> {
        let denied = || DomainError::Forbidden {
            rule: Rule::A7,
            detail: "the key's creator is no longer an active account: make a new key".into(),
        };
        let creator = svc.created_by.ok_or_else(denied)?;
        let user = tx.user(svc.org_id, creator).await?.ok_or_else(denied)?;
        if user.status != UserStatus::Active {
            return Err(denied());
        }
        let group = tx
            .group(svc.org_id, user.user_group_id)
            .await?
            .ok_or_else(denied)?;
        let org = tx
            .org_by_id(svc.org_id)
            .await?
            .ok_or(DomainError::NotFound)?;
        // A provisioning service acts with every permission of the group in effect.
        Ok(Subject {
            must_change_password: false,
            ..Subject::in_group(&org, &user, &group, &[], true, SessionId::new())
        })
    }

    pub async fn scim_list_users(
        &self,
        svc: &ServiceSubject,
        org: &str,
        filter: Option<&ScimFilter>,
        start_index: u64,
        count: u64,
    ) -> Result<(Vec<UserView>, u64)> {
        self.check_scim(svc, org)?;
        let mut tx = self.tx().await?;
        tx.scim_users(
            svc.org_id,
            filter,
            start_index.max(1) - 1,
            count.min(SCIM_MAX_COUNT),
        )
        .await
    }

    pub async fn scim_get_user(
        &self,
        svc: &ServiceSubject,
        org: &str,
        id: UserId,
    ) -> Result<UserView> {
        self.check_scim(svc, org)?;
        let mut tx = self.tx().await?;
        let view = tx
            .user_view(svc.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        if view.user.scim_deleted {
            return Err(DomainError::NotFound);
        }
        Ok(view)
    }

    fn scim_errors(input: &ScimUserInput) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let n = input.user_name.trim().chars().count();
        if !(1..=128).contains(&n) || input.user_name.chars().any(char::is_whitespace) {
            errors.push(FieldError::new(
                "userName",
                "invalid_username",
                "1 to 128 characters, no spaces",
            ));
        }
        if let Some(e) = &input.email
            && !valid_email(e)
        {
            errors.push(FieldError::new("emails", "email", "not an email address"));
        }
        errors
    }

    async fn scim_unique(
        &self,
        tx: &mut dyn Tx,
        org: OrgId,
        input: &ScimUserInput,
        except: Option<UserId>,
    ) -> Result<()> {
        if tx
            .username_taken(org, input.user_name.trim(), except)
            .await?
        {
            return Err(DomainError::UsernameInUse);
        }
        if let Some(e) = &input.email
            && let Some(status) = tx.email_holder(org, e, except).await?
        {
            return Err(DomainError::EmailInUse {
                holder_status: status,
            });
        }
        Ok(())
    }

    fn apply_scim(user: &mut User, input: ScimUserInput) {
        user.username = Some(input.user_name.trim().to_owned());
        user.forename = clean(input.given_name).unwrap_or_default();
        user.surname = clean(input.family_name).unwrap_or_default();
        user.job_title = clean(input.title);
        user.email = clean(input.email);
        user.external_id = clean(input.external_id);
        user.scim = input
            .attributes
            .filter(|a| a.as_object().is_some_and(|m| !m.is_empty()));
    }

    /// An account provisioned by the identity provider, in the org's SCIM group (G4).
    pub async fn scim_create_user(
        &self,
        svc: &ServiceSubject,
        org: &str,
        input: ScimUserInput,
        ctx: &RequestContext,
    ) -> Result<UserView> {
        self.check_scim(svc, org)?;
        let errors = Self::scim_errors(&input);
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let mut tx = self.tx().await?;
        let acting = self.acting_subject(tx.as_mut(), svc).await?;
        let org_row = tx
            .org_by_id(svc.org_id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let group_id = org_row.settings.scim_user_group_id.ok_or_else(|| {
            DomainError::conflict(
                "scim_group_not_set",
                "choose the group SCIM accounts join (settings: scim_user_group_id)",
            )
        })?;
        let group = tx.group(svc.org_id, group_id).await?.ok_or_else(|| {
            DomainError::conflict(
                "scim_group_not_set",
                "the group SCIM accounts join no longer exists",
            )
        })?;
        self.authorize(&acting, Action::GrantGroup, grant(&group))?;
        self.scim_unique(tx.as_mut(), svc.org_id, &input, None)
            .await?;
        let active = input.active;
        let status = if active {
            UserStatus::Active
        } else {
            UserStatus::Deactivated
        };
        let mut user = User::new_in(svc.org_id, group.id, status);
        Self::apply_scim(&mut user, input);
        tx.insert_user(&user).await?;
        Audit {
            org: svc.org_id,
            kind: "user.created",
            actor: None,
            target: Some(("user", user.id.0)),
            changes: json!({
                "username": [null, user.username], "email": [null, user.email],
                "user_group_id": [null, user.user_group_id], "status": [null, user.status],
                "via": [null, "scim"], "service_account_id": [null, svc.account_id],
            }),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        commit_with_view(tx, svc.org_id, user.id).await
    }

    /// PUT (and PATCH, applied to the current representation): U5 when `active` turns false.
    pub async fn scim_replace_user(
        &self,
        svc: &ServiceSubject,
        org: &str,
        id: UserId,
        input: ScimUserInput,
        if_match: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<UserView> {
        self.check_scim(svc, org)?;
        let errors = Self::scim_errors(&input);
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let mut tx = self.tx().await?;
        tx.lock_org(svc.org_id).await?;
        let acting = self.acting_subject(tx.as_mut(), svc).await?;
        let before = tx
            .user(svc.org_id, id)
            .await?
            .filter(|u| !u.scim_deleted)
            .ok_or(DomainError::NotFound)?;
        if let Some(v) = if_match
            && v != before.version
        {
            return Err(DomainError::VersionMismatch { expected: v });
        }
        if let Some(g) = tx.group(svc.org_id, before.user_group_id).await? {
            self.authorize(&acting, Action::GrantGroup, grant(&g))?;
        }
        self.scim_unique(tx.as_mut(), svc.org_id, &input, Some(id))
            .await?;
        let active = input.active;
        let mut after = before.clone();
        Self::apply_scim(&mut after, input);
        match (before.status, active) {
            (UserStatus::Deactivated, true) | (UserStatus::Pending, true) => {
                after.status = UserStatus::Active
            }
            (UserStatus::Active, false) | (UserStatus::Pending, false) => {
                after.status = UserStatus::Deactivated;
                after.token_version += 1;
            }
            _ => {}
        }
        if after == before {
            return tx
                .user_view(svc.org_id, id)
                .await?
                .ok_or(DomainError::NotFound);
        }
        write_user(&mut *tx, &before, &mut after).await?;
        if admins_who_can_sign_in(tx.as_mut(), svc.org_id).await? == 0 {
            return Err(DomainError::LastAdmin);
        }
        self.notify_email_change(tx.as_mut(), &before, &after)
            .await?;
        let mut changes = user_diff(&before, &after);
        if let Some(m) = changes.as_object_mut() {
            if before.external_id != after.external_id {
                m.insert(
                    "external_id".into(),
                    json!([before.external_id, after.external_id]),
                );
            }
            m.insert("via".into(), json!([null, "scim"]));
        }
        let kind = if after.status == UserStatus::Deactivated
            && before.status != UserStatus::Deactivated
        {
            "user.deactivated"
        } else {
            "user.updated"
        };
        Audit {
            org: svc.org_id,
            kind,
            actor: None,
            target: Some(("user", id.0)),
            changes,
        }
        .write(tx.as_mut(), ctx)
        .await?;
        commit_with_view(tx, svc.org_id, id).await
    }

    /// DELETE: the account is deactivated, its login details removed (U5, U6) and it is gone
    /// from SCIM; the account and its history stay for the safeguarding record.
    pub async fn scim_delete_user(
        &self,
        svc: &ServiceSubject,
        org: &str,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.check_scim(svc, org)?;
        let mut tx = self.tx().await?;
        tx.lock_org(svc.org_id).await?;
        let acting = self.acting_subject(tx.as_mut(), svc).await?;
        let before = tx
            .user(svc.org_id, id)
            .await?
            .filter(|u| !u.scim_deleted)
            .ok_or(DomainError::NotFound)?;
        if let Some(g) = tx.group(svc.org_id, before.user_group_id).await? {
            self.authorize(&acting, Action::GrantGroup, grant(&g))?;
        }
        let mut after = before.clone();
        after.status = UserStatus::Deactivated;
        after.email = None;
        after.password_hash = None;
        after.totp = TotpState::default();
        after.scim_deleted = true;
        after.token_version += 1;
        write_user(&mut *tx, &before, &mut after).await?;
        if admins_who_can_sign_in(tx.as_mut(), svc.org_id).await? == 0 {
            return Err(DomainError::LastAdmin);
        }
        tx.replace_recovery_codes(svc.org_id, id, &[]).await?;
        let mut changes = user_diff(&before, &after);
        if let Some(m) = changes.as_object_mut() {
            m.insert("via".into(), json!([null, "scim delete"]));
        }
        Audit {
            org: svc.org_id,
            kind: "user.deactivated",
            actor: None,
            target: Some(("user", id.0)),
            changes,
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await
    }

    pub async fn scim_list_groups(
        &self,
        svc: &ServiceSubject,
        org: &str,
        filter: Option<&ScimFilter>,
        start_index: u64,
        count: u64,
    ) -> Result<(Vec<(UserGroup, Vec<UserId>)>, u64)> {
        self.check_scim(svc, org)?;
        let mut tx = self.tx().await?;
        let (groups, total) = tx
            .scim_groups(
                svc.org_id,
                filter,
                start_index.max(1) - 1,
                count.min(SCIM_MAX_COUNT),
            )
            .await?;
        let ids: Vec<GroupId> = groups.iter().map(|g| g.id).collect();
        let members = tx.members_of_groups(svc.org_id, &ids).await?;
        let out = groups
            .into_iter()
            .map(|g| {
                let m = members
                    .iter()
                    .filter(|(gid, _)| *gid == g.id)
                    .map(|(_, u)| *u)
                    .collect();
                (g, m)
            })
            .collect();
        Ok((out, total))
    }

    pub async fn scim_get_group(
        &self,
        svc: &ServiceSubject,
        org: &str,
        id: GroupId,
    ) -> Result<(UserGroup, Vec<UserId>)> {
        self.check_scim(svc, org)?;
        let mut tx = self.tx().await?;
        let g = tx
            .group(svc.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let m = tx
            .members_of_groups(svc.org_id, &[id])
            .await?
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        Ok((g, m))
    }

    /// Moves users into or out of `group` (out: into the org's SCIM group), under G4 and G5.
    async fn scim_set_members(
        &self,
        tx: &mut dyn Tx,
        acting: &Subject,
        group: &UserGroup,
        wanted: &[UserId],
        ctx: &RequestContext,
    ) -> Result<()> {
        let org = group.org_id;
        let current: Vec<UserId> = tx
            .members_of_groups(org, &[group.id])
            .await?
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        let fallback = tx
            .org_by_id(org)
            .await?
            .and_then(|o| o.settings.scim_user_group_id);
        let moves: Vec<(UserId, GroupId)> = wanted
            .iter()
            .filter(|u| !current.contains(u))
            .map(|u| (*u, group.id))
            .chain(
                current
                    .iter()
                    .filter(|u| !wanted.contains(u))
                    .map(|u| (*u, fallback.unwrap_or(group.id))),
            )
            .collect();
        for (user_id, to) in moves {
            if to == group.id && !wanted.contains(&user_id) {
                return Err(DomainError::conflict(
                    "scim_group_not_set",
                    "members leave for the org's SCIM group, which is not set or is this group",
                ));
            }
            let before = tx
                .user(org, user_id)
                .await?
                .filter(|u| !u.scim_deleted)
                .ok_or_else(|| {
                    DomainError::field("members", "unknown_user", format!("no user {user_id}"))
                })?;
            let from = tx.group(org, before.user_group_id).await?;
            let target = tx.group(org, to).await?.ok_or(DomainError::NotFound)?;
            if let Some(from) = &from {
                self.authorize(acting, Action::GrantGroup, grant(from))?;
            }
            self.authorize(acting, Action::GrantGroup, grant(&target))?;
            let mut after = before.clone();
            after.user_group_id = to;
            write_user(&mut *tx, &before, &mut after).await?;
            Audit {
                org,
                kind: "user.group_changed",
                actor: None,
                target: Some(("user", user_id.0)),
                changes: json!({"user_group_id": [before.user_group_id, to], "via": [null, "scim"]}),
            }
            .write(tx, ctx)
            .await?;
        }
        if admins_who_can_sign_in(tx, org).await? == 0 {
            return Err(DomainError::LastAdmin);
        }
        Ok(())
    }

    /// A user group with no permissions (an admin grants them), and its members.
    pub async fn scim_create_group(
        &self,
        svc: &ServiceSubject,
        org: &str,
        input: ScimGroupInput,
        ctx: &RequestContext,
    ) -> Result<(UserGroup, Vec<UserId>)> {
        self.check_scim(svc, org)?;
        let name = input.display_name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(DomainError::field(
                "displayName",
                "length",
                "1 to 100 characters",
            ));
        }
        let mut tx = self.tx().await?;
        tx.lock_org(svc.org_id).await?;
        let acting = self.acting_subject(tx.as_mut(), svc).await?;
        if tx.group_by_name(svc.org_id, &name).await?.is_some() {
            return Err(DomainError::GroupNameInUse);
        }
        let group = UserGroup {
            id: GroupId::new(),
            org_id: svc.org_id,
            name,
            active: true,
            system_permissions: PermissionSet::EMPTY,
            registered_permissions: vec![],
            category_permissions: vec![],
            version: 1,
            external_id: clean(input.external_id),
        };
        tx.insert_group(&group).await?;
        Audit {
            org: svc.org_id,
            kind: "user_group.created",
            actor: None,
            target: Some(("user_group", group.id.0)),
            changes: json!({"name": [null, group.name], "via": [null, "scim"]}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        if let Some(members) = &input.members {
            self.scim_set_members(tx.as_mut(), &acting, &group, members, ctx)
                .await?;
        }
        let members = tx
            .members_of_groups(svc.org_id, &[group.id])
            .await?
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        tx.commit().await?;
        Ok((group, members))
    }

    pub async fn scim_replace_group(
        &self,
        svc: &ServiceSubject,
        org: &str,
        id: GroupId,
        input: ScimGroupInput,
        if_match: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<(UserGroup, Vec<UserId>)> {
        self.check_scim(svc, org)?;
        let name = input.display_name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(DomainError::field(
                "displayName",
                "length",
                "1 to 100 characters",
            ));
        }
        let mut tx = self.tx().await?;
        tx.lock_org(svc.org_id).await?;
        let acting = self.acting_subject(tx.as_mut(), svc).await?;
        let before = tx
            .group(svc.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        if let Some(v) = if_match
            && v != before.version
        {
            return Err(DomainError::VersionMismatch { expected: v });
        }
        self.authorize(&acting, Action::GrantGroup, grant(&before))?;
        if let Some(other) = tx.group_by_name(svc.org_id, &name).await?
            && other.id != id
        {
            return Err(DomainError::GroupNameInUse);
        }
        let mut after = before.clone();
        after.name = name;
        after.external_id = clean(input.external_id);
        if after != before {
            after.version = before.version + 1;
            if !tx.update_group(&after, before.version).await? {
                return Err(DomainError::VersionMismatch {
                    expected: before.version,
                });
            }
            Audit {
                org: svc.org_id,
                kind: "user_group.updated",
                actor: None,
                target: Some(("user_group", id.0)),
                changes: json!({"name": [before.name, after.name], "via": [null, "scim"]}),
            }
            .write(tx.as_mut(), ctx)
            .await?;
        }
        if let Some(members) = &input.members {
            self.scim_set_members(tx.as_mut(), &acting, &after, members, ctx)
                .await?;
        }
        let members = tx
            .members_of_groups(svc.org_id, &[id])
            .await?
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        tx.commit().await?;
        Ok((after, members))
    }

    /// G3 applies: a group with members stays.
    pub async fn scim_delete_group(
        &self,
        svc: &ServiceSubject,
        org: &str,
        id: GroupId,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.check_scim(svc, org)?;
        let mut tx = self.tx().await?;
        let acting = self.acting_subject(tx.as_mut(), svc).await?;
        let group = tx
            .group(svc.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        self.authorize(&acting, Action::GrantGroup, grant(&group))?;
        let counts = tx.member_counts(svc.org_id, id).await?;
        if counts.active + counts.deactivated + counts.pending > 0 {
            return Err(DomainError::GroupInUse {
                active: counts.active + counts.pending,
                deactivated: counts.deactivated,
            });
        }
        tx.delete_group(svc.org_id, id).await?;
        Audit {
            org: svc.org_id,
            kind: "user_group.deleted",
            actor: None,
            target: Some(("user_group", id.0)),
            changes: json!({"name": [group.name, null], "via": [null, "scim"]}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await
    }
}
