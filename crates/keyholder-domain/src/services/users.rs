//! U1–U4, U9, U11, G4, G5: accounts.

use super::*;
use crate::error::FieldError;
use crate::password::check_strength;
use crate::policy::Action;
use crate::ports::{UserQuery, UserSort};
use crate::rule::Rule;
use serde_json::json;

#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub email: Option<String>,
    pub username: Option<String>,
    pub title: Option<String>,
    pub forename: String,
    pub surname: String,
    pub job_title: Option<String>,
    pub user_group_id: GroupId,
    pub staff_ids: Vec<uuid::Uuid>,
    pub send_invitation: bool,
    pub password: Option<String>,
    pub must_change_password: bool,
    pub pending: bool,
    /// Copy the allow-lists (R6) and notification preferences of this account.
    pub copy_access_from: Option<UserId>,
}

/// A PATCH: `None` leaves a field alone; `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub title: Option<Option<String>>,
    pub forename: Option<String>,
    pub surname: Option<String>,
    pub job_title: Option<Option<String>>,
    pub username: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub user_group_id: Option<GroupId>,
    pub must_change_password: Option<bool>,
    pub phone: Option<Option<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct UserListParams {
    pub q: Option<String>,
    pub status: Option<UserStatus>,
    pub user_group_id: Option<GroupId>,
    pub second_factor: Option<bool>,
    pub elevated: Option<bool>,
    pub admin: Option<bool>,
    /// `name`, `-name`, `job_title`, `user_group`, `last_login`, `password_changed`, `elevated`, `admin`.
    pub sort: Option<String>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

pub const DEFAULT_PER_PAGE: u64 = 15;
pub const MAX_PER_PAGE: u64 = 200;

/// Checks `page`/`per_page` (api-conventions: pages from 1, 15 by default, at most 200).
pub fn paging(page: Option<u64>, per_page: Option<u64>) -> Result<(u64, u64)> {
    let mut errors = Vec::new();
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
    if !(1..=1_000_000).contains(&page) {
        errors.push(FieldError::new(
            "page",
            "range",
            "pages run from 1 to 1000000",
        ));
    }
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        errors.push(FieldError::new(
            "per_page",
            "range",
            format!("between 1 and {MAX_PER_PAGE}"),
        ));
    }
    if errors.is_empty() {
        Ok((page, per_page))
    } else {
        Err(DomainError::Validation(errors))
    }
}

fn parse_sort(sort: Option<&str>) -> Result<(UserSort, bool)> {
    let Some(s) = sort.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok((UserSort::Name, false));
    };
    let (desc, key) = match s.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, s),
    };
    let sort = match key {
        "name" => UserSort::Name,
        "job_title" => UserSort::JobTitle,
        "user_group" => UserSort::UserGroup,
        "last_login" | "last_login_at" => UserSort::LastLogin,
        "password_changed" | "password_changed_at" => UserSort::PasswordChanged,
        "elevated" => UserSort::Elevated,
        "admin" => UserSort::Admin,
        _ => {
            return Err(DomainError::field(
                "sort",
                "unknown_sort",
                "one of name, job_title, user_group, last_login, password_changed, elevated, admin (prefix - for descending)",
            ));
        }
    };
    Ok((sort, desc))
}

fn name_errors(errors: &mut Vec<FieldError>, field: &str, value: &str, required: bool) {
    let n = value.trim().chars().count();
    if required && n == 0 {
        errors.push(FieldError::new(field, "required", "must not be empty"));
    } else if n > 100 {
        errors.push(FieldError::new(field, "length", "at most 100 characters"));
    }
}

fn username_errors(errors: &mut Vec<FieldError>, username: &str) {
    let ok = (2..=128).contains(&username.chars().count())
        && username
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'));
    if !ok {
        errors.push(FieldError::new(
            "username",
            "invalid_username",
            "2 to 128 letters, digits and . _ - @ +",
        ));
    }
}

impl Keyholder {
    /// U11: filtered, sorted and paged in the query.
    pub async fn list_users(
        &self,
        subject: &Subject,
        org: &str,
        params: UserListParams,
    ) -> Result<Page<UserView>> {
        self.check_org(subject, org, Action::ListUsers)?;
        let (page, per_page) = paging(params.page, params.per_page)?;
        let (sort, descending) = parse_sort(params.sort.as_deref())?;
        let query = UserQuery {
            q: clean(params.q),
            status: params.status,
            user_group_id: params.user_group_id,
            second_factor: params.second_factor,
            elevated: params.elevated,
            admin: params.admin,
            sort,
            descending,
            page,
            per_page,
            viewers_of: None,
        };
        let mut tx = self.read_tx().await?;
        let (items, total) = tx.users(subject.org_id, &query).await?;
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    }

    pub async fn get_user(&self, subject: &Subject, org: &str, id: UserId) -> Result<UserView> {
        self.check_org(subject, org, Action::ReadUser)?;
        let mut tx = self.tx().await?;
        tx.user_view(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)
    }

    /// U3 (with a password, or pending), U4, G4.
    pub async fn create_user(
        &self,
        subject: &Subject,
        org: &str,
        new: NewUser,
        ctx: &RequestContext,
    ) -> Result<UserView> {
        self.check_org(subject, org, Action::CreateUser)?;
        let mut errors = Vec::new();
        let mut tx = self.tx().await?;
        let org_row = self.own_org(tx.as_mut(), subject).await?;
        let several = org_row.settings.several_staff_per_user;
        if new.staff_ids.len() > 1 && !several {
            errors.push(FieldError::new(
                "staff_ids",
                "one_staff_per_user",
                "this organisation links one staff record per account (setting several_staff_per_user)",
            ));
        }
        let mut staff = Vec::new();
        for (i, sid) in new.staff_ids.iter().enumerate() {
            match tx.staff_member(subject.org_id, StaffId(*sid)).await? {
                None => errors.push(FieldError::new(
                    &format!("staff_ids[{i}]"),
                    "unknown_staff",
                    "no such staff record",
                )),
                Some(s) if !s.eligible_for_account(now().date(), several) => errors.push(FieldError::new(
                    &format!("staff_ids[{i}]"),
                    "not_eligible",
                    "the staff record is not eligible for an account (S2: started, not ended, permanent, full time, not yet linked)",
                )),
                Some(s) => staff.push(s),
            }
        }
        // U3: a record made from a staff member is prefilled from it.
        let first = staff.first();
        let pick =
            |given: Option<String>, from: Option<&String>| clean(given).or_else(|| from.cloned());
        let email = pick(new.email, first.and_then(|s| s.email.as_ref()));
        let username = clean(new.username);
        let title = pick(new.title, first.and_then(|s| s.title.as_ref()));
        let job_title = pick(new.job_title, first.and_then(|s| s.job_title.as_ref()));
        let forename = pick(Some(new.forename), first.map(|s| &s.forename)).unwrap_or_default();
        let surname = pick(Some(new.surname), first.map(|s| &s.surname)).unwrap_or_default();
        if email.is_none() && username.is_none() {
            errors.push(FieldError::new(
                "email",
                "required",
                "give an email or a username",
            ));
        }
        if let Some(e) = &email
            && !valid_email(e)
        {
            errors.push(FieldError::new("email", "email", "not an email address"));
        }
        if let Some(u) = &username {
            username_errors(&mut errors, u);
        }
        name_errors(&mut errors, "forename", &forename, true);
        name_errors(&mut errors, "surname", &surname, true);
        let modes = [new.send_invitation, new.password.is_some(), new.pending];
        if modes.iter().filter(|m| **m).count() != 1 {
            errors.push(FieldError::new(
                "password",
                "one_of_required",
                "give exactly one of password, send_invitation or pending",
            ));
        }
        if new.send_invitation && email.is_none() {
            errors.push(FieldError::new(
                "email",
                "required",
                "an invitation needs an email address",
            ));
        }
        if let Some(p) = &new.password {
            let inputs: Vec<&str> = [email.as_deref(), username.as_deref()]
                .into_iter()
                .flatten()
                .chain([
                    forename.as_str(),
                    surname.as_str(),
                    subject.org_slug.as_str(),
                ])
                .collect();
            if let Some(e) = check_strength("password", p, &inputs) {
                errors.push(e);
            }
        }
        let group = tx.group(subject.org_id, new.user_group_id).await?;
        if group.is_none() {
            errors.push(FieldError::new(
                "user_group_id",
                "unknown_group",
                "no such user group",
            ));
        }
        let mut copied = (Vec::new(), Vec::new());
        if let Some(from) = new.copy_access_from {
            if tx.user(subject.org_id, from).await?.is_some() {
                copied = (
                    tx.access_of_user(subject.org_id, from).await?,
                    tx.notification_prefs(subject.org_id, from).await?,
                );
            } else {
                errors.push(FieldError::new(
                    "copy_access_from",
                    "unknown_user",
                    "no such account",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let group = group.ok_or(DomainError::NotFound)?;
        self.authorize(subject, Action::GrantGroup, grant(&group))?;
        if let Some(e) = &email
            && let Some(status) = tx.email_holder(subject.org_id, e, None).await?
        {
            return Err(DomainError::EmailInUse {
                holder_status: status,
            });
        }
        if let Some(u) = &username
            && tx.username_taken(subject.org_id, u, None).await?
        {
            return Err(DomainError::UsernameInUse);
        }
        drop(tx);
        let password_hash = match &new.password {
            Some(p) => Some(self.hasher.hash(p).await?),
            None => None,
        };
        let user = User {
            username,
            email,
            title,
            forename,
            surname,
            job_title,
            must_change_password: new.password.is_some() && new.must_change_password,
            password_changed_at: password_hash.as_ref().map(|_| now()),
            password_hash,
            ..User::new_in(
                subject.org_id,
                group.id,
                if new.pending {
                    UserStatus::Pending
                } else {
                    UserStatus::Active
                },
            )
        };
        let mut tx = self.tx().await?;
        tx.insert_user(&user).await?;
        for s in &staff {
            tx.link_staff(subject.org_id, user.id, s.id).await?;
        }
        for g in &copied.0 {
            tx.add_group_access(subject.org_id, *g, user.id).await?;
        }
        tx.replace_notification_prefs(subject.org_id, user.id, &copied.1)
            .await?;
        if new.send_invitation {
            self.invite(tx.as_mut(), &org_row.name, &user).await?;
        }
        Audit {
            org: subject.org_id,
            kind: "user.created",
            actor: Some(subject.user_id),
            target: Some(("user", user.id.0)),
            changes: diff(&[
                ("username", json!(null), json!(user.username)),
                ("email", json!(null), json!(user.email)),
                ("title", json!(null), json!(user.title)),
                ("forename", json!(null), json!(user.forename)),
                ("surname", json!(null), json!(user.surname)),
                ("job_title", json!(null), json!(user.job_title)),
                ("user_group_id", json!(null), json!(user.user_group_id)),
                ("status", json!(null), json!(user.status)),
                (
                    "must_change_password",
                    json!(null),
                    json!(user.must_change_password),
                ),
                (
                    "staff_ids",
                    json!(null),
                    json!(staff.iter().map(|s| s.id).collect::<Vec<_>>()),
                ),
                ("invitation_sent", json!(null), json!(new.send_invitation)),
                ("copy_access_from", json!(null), json!(new.copy_access_from)),
                ("allow_lists", json!(null), json!(copied.0.len())),
            ]),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        commit_with_view(tx, subject.org_id, user.id).await
    }

    /// U1, U8 (uniqueness), U9 (group change under G4 and G5).
    pub async fn update_user(
        &self,
        subject: &Subject,
        org: &str,
        id: UserId,
        patch: UserPatch,
        if_match: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<UserView> {
        self.check_org(subject, org, Action::EditUser)?;
        if id == subject.user_id && patch.user_group_id.is_some() {
            return Err(DomainError::Forbidden {
                rule: Rule::U12,
                detail: "nobody changes their own user group".into(),
            });
        }
        let mut tx = self.tx().await?;
        tx.lock_org(subject.org_id).await?;
        // G4: nobody edits an account whose group holds more than they do.
        let before = self.managed_user(tx.as_mut(), subject, id).await?;
        if let Some(v) = if_match
            && v != before.version
        {
            return Err(DomainError::VersionMismatch { expected: v });
        }
        let mut errors = Vec::new();
        let mut after = before.clone();
        if let Some(t) = patch.title {
            after.title = clean(t);
        }
        if let Some(f) = patch.forename {
            name_errors(&mut errors, "forename", &f, true);
            after.forename = f.trim().to_owned();
        }
        if let Some(s) = patch.surname {
            name_errors(&mut errors, "surname", &s, true);
            after.surname = s.trim().to_owned();
        }
        if let Some(j) = patch.job_title {
            after.job_title = clean(j);
        }
        if let Some(u) = patch.username {
            after.username = clean(u);
            if let Some(u) = &after.username {
                username_errors(&mut errors, u);
            }
        }
        if let Some(e) = patch.email {
            after.email = clean(e);
            if let Some(e) = &after.email
                && !valid_email(e)
            {
                errors.push(FieldError::new("email", "email", "not an email address"));
            }
        }
        if after.email.is_none()
            && after.username.is_none()
            && after.status != UserStatus::Deactivated
        {
            errors.push(FieldError::new(
                "email",
                "required",
                "an account needs an email or a username",
            ));
        }
        if let Some(m) = patch.must_change_password {
            after.must_change_password = m;
        }
        if let Some(p) = patch.phone {
            after.phone = clean(p);
            if let Some(p) = &after.phone
                && !valid_phone(p)
            {
                errors.push(FieldError::new(
                    "phone",
                    "phone",
                    "digits, spaces and + ( ) - only, 6 to 20 digits",
                ));
            }
        }
        let mut new_group = None;
        if let Some(g) = patch.user_group_id {
            match tx.group(subject.org_id, g).await? {
                Some(group) => {
                    after.user_group_id = group.id;
                    new_group = Some(group);
                }
                None => errors.push(FieldError::new(
                    "user_group_id",
                    "unknown_group",
                    "no such user group",
                )),
            }
        }
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        if let Some(group) = &new_group
            && group.id != before.user_group_id
        {
            // G4: nor moves one into a group holding more than they do.
            self.authorize(subject, Action::GrantGroup, grant(group))?;
        }
        if after.email != before.email
            && let Some(e) = &after.email
            && let Some(status) = tx.email_holder(subject.org_id, e, Some(id)).await?
        {
            return Err(DomainError::EmailInUse {
                holder_status: status,
            });
        }
        if after.username != before.username
            && let Some(u) = &after.username
            && tx.username_taken(subject.org_id, u, Some(id)).await?
        {
            return Err(DomainError::UsernameInUse);
        }
        let changes = user_diff(&before, &after);
        if changes.as_object().is_some_and(|m| m.is_empty()) {
            return tx
                .user_view(subject.org_id, id)
                .await?
                .ok_or(DomainError::NotFound);
        }
        after.version = before.version + 1;
        after.updated_at = now();
        if !tx.update_user(&after, before.version).await? {
            return Err(DomainError::VersionMismatch {
                expected: if_match.unwrap_or(before.version),
            });
        }
        // G5: the org keeps an active admin.
        if after.user_group_id != before.user_group_id
            && admins_who_can_sign_in(tx.as_mut(), subject.org_id).await? == 0
        {
            return Err(DomainError::LastAdmin);
        }
        self.notify_email_change(tx.as_mut(), &before, &after)
            .await?;
        let kind = if after.user_group_id != before.user_group_id {
            "user.group_changed"
        } else {
            "user.updated"
        };
        Audit {
            org: subject.org_id,
            kind,
            actor: Some(subject.user_id),
            target: Some(("user", id.0)),
            changes,
        }
        .write(tx.as_mut(), ctx)
        .await?;
        commit_with_view(tx, subject.org_id, id).await
    }
}

pub(crate) fn valid_phone(p: &str) -> bool {
    let digits = p.chars().filter(|c| c.is_ascii_digit()).count();
    (6..=20).contains(&digits) && p.chars().all(|c| c.is_ascii_digit() || " +()-".contains(c))
}

impl Keyholder {
    /// U8: the old address is told of a change of email, in the change's transaction.
    pub(crate) async fn notify_email_change(
        &self,
        tx: &mut dyn Tx,
        before: &User,
        after: &User,
    ) -> Result<()> {
        if before.email != after.email {
            // Links sent to the old address must not outlive it.
            tx.revoke_action_tokens(before.org_id, before.id, TokenPurpose::Invitation)
                .await?;
            tx.revoke_action_tokens(before.org_id, before.id, TokenPurpose::PasswordReset)
                .await?;
        }
        if let Some(old) = &before.email
            && before.email != after.email
        {
            let new = after.email.as_deref().unwrap_or("(none)");
            let body = format!(
                "Hello {},\n\nThe email address of your Keyholder account was changed from {old} to {new}.\n                 If you did not ask for this, tell your school's administrator straight away.\n",
                before.forename
            );
            self.enqueue(
                tx,
                before.org_id,
                "email_changed",
                old,
                "Your email address was changed",
                body,
            )
            .await?;
        }
        Ok(())
    }
}

pub(crate) fn grant(group: &UserGroup) -> crate::policy::Resource<'_> {
    crate::policy::Resource::Grant {
        org: group.org_id,
        permissions: group.system_permissions,
        registered: &group.registered_permissions,
        categories: &group.category_permissions,
    }
}

pub(crate) fn user_diff(b: &User, a: &User) -> serde_json::Value {
    diff(&[
        ("username", json!(b.username), json!(a.username)),
        ("email", json!(b.email), json!(a.email)),
        ("title", json!(b.title), json!(a.title)),
        ("forename", json!(b.forename), json!(a.forename)),
        ("surname", json!(b.surname), json!(a.surname)),
        ("job_title", json!(b.job_title), json!(a.job_title)),
        (
            "user_group_id",
            json!(b.user_group_id),
            json!(a.user_group_id),
        ),
        ("status", json!(b.status), json!(a.status)),
        (
            "must_change_password",
            json!(b.must_change_password),
            json!(a.must_change_password),
        ),
        (
            "second_factor",
            json!(b.totp.enrolled()),
            json!(a.totp.enrolled()),
        ),
    ])
}
