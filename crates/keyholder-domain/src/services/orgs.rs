//! T1, T2: orgs, their settings, and the platform operator who creates them.

use super::*;
use crate::error::FieldError;
use crate::password::check_strength;
use crate::policy::Action;

/// Proof that the caller presented the platform operator key (T2). Only
/// [`Keyholder::authenticate_operator`] makes one.
#[derive(Debug, Clone)]
pub struct Operator(());

#[derive(Debug, Clone)]
pub struct NewOrg {
    pub slug: String,
    pub name: String,
    pub admin_email: String,
    pub admin_password: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CreatedOrg {
    pub org: Org,
    pub admin: User,
    /// The admin's password when it was generated (shown once).
    pub generated_password: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    pub restricted_group_types: Option<Vec<StudentGroupType>>,
    pub several_staff_per_user: Option<bool>,
    pub second_factor_for_high_level: Option<bool>,
    pub scim_user_group_id: Option<GroupId>,
    pub timezone: Option<String>,
    pub digest_time: Option<String>,
    /// A8.
    pub password_login: Option<PasswordLogin>,
}

pub fn valid_slug(slug: &str) -> bool {
    (2..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.len() <= 254
}

impl Keyholder {
    /// T2: the operator key, compared in constant time. Without a configured key nobody is an
    /// operator and orgs are made with the command line only.
    pub fn authenticate_operator(
        &self,
        configured: Option<&str>,
        presented: &str,
    ) -> Result<Operator> {
        let Some(key) = configured.filter(|k| !k.is_empty()) else {
            return Err(DomainError::Unauthenticated);
        };
        let a = crate::tokens::secret_hash(key);
        let b = crate::tokens::secret_hash(presented);
        let same = a
            .bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0;
        if same {
            Ok(Operator(()))
        } else {
            Err(DomainError::Unauthenticated)
        }
    }

    /// T2 over HTTP: an operator creates an org and its first admin.
    pub async fn create_org(
        &self,
        _operator: &Operator,
        new: NewOrg,
        ctx: &RequestContext,
    ) -> Result<CreatedOrg> {
        self.system_create_org(new, ctx).await
    }

    /// T2 from the command line (and the operator route): a new org with the default
    /// categories and groups (G6) and its first admin in the DSL group.
    pub async fn system_create_org(&self, new: NewOrg, ctx: &RequestContext) -> Result<CreatedOrg> {
        let slug = new.slug.trim().to_owned();
        let name = new.name.trim().to_owned();
        let email = new.admin_email.trim().to_owned();
        let mut errors = Vec::new();
        if !valid_slug(&slug) {
            errors.push(FieldError::new(
                "slug",
                "invalid_slug",
                "2 to 63 lowercase letters, digits and hyphens",
            ));
        }
        if name.is_empty() || name.chars().count() > 200 {
            errors.push(FieldError::new("name", "length", "1 to 200 characters"));
        }
        if !valid_email(&email) {
            errors.push(FieldError::new(
                "admin_email",
                "email",
                "not an email address",
            ));
        }
        let (password, generated) = match new.admin_password {
            Some(p) => {
                if let Some(e) = check_strength("admin_password", &p, &[&email]) {
                    errors.push(e);
                }
                (p, None)
            }
            None => {
                let p = crate::tokens::random_token(15);
                (p.clone(), Some(p))
            }
        };
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let hash = self.hasher.hash(&password).await?;
        let mut org = Org {
            id: OrgId::new(),
            slug,
            name,
            settings: OrgSettings::default(),
            created_at: now(),
        };
        let (categories, groups) = crate::defaults::org_defaults(org.id);
        org.settings.scim_user_group_id = groups
            .iter()
            .find(|g| g.name == crate::defaults::SCIM_GROUP)
            .map(|g| g.id);
        let admin_group = groups
            .iter()
            .find(|g| g.name == crate::defaults::ADMIN_GROUP)
            .map(|g| g.id)
            .ok_or_else(|| DomainError::internal("no admin group in the defaults"))?;
        let admin = User {
            email: Some(email),
            forename: "Organisation".into(),
            surname: "Admin".into(),
            password_hash: Some(hash),
            password_changed_at: Some(now()),
            ..User::new_in(org.id, admin_group, UserStatus::Active)
        };
        let mut tx = self.tx().await?;
        tx.insert_org(&org).await?;
        for c in &categories {
            tx.insert_category(c).await?;
        }
        for g in &groups {
            tx.insert_group(g).await?;
        }
        tx.insert_user(&admin).await?;
        Audit {
            org: org.id,
            kind: "org.created",
            actor: None,
            target: Some(("org", org.id.0)),
            changes: serde_json::json!({
                "slug": [null, org.slug], "name": [null, org.name],
                "admin_user_id": [null, admin.id], "admin_email": [null, admin.email],
            }),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok(CreatedOrg {
            org,
            admin,
            generated_password: generated,
        })
    }

    /// Any signed-in member reads their own org.
    pub async fn org(&self, subject: &Subject, slug: &str) -> Result<Org> {
        self.check_org(subject, slug, Action::ReadOrg)?;
        let mut tx = self.tx().await?;
        tx.org_by_slug(slug).await?.ok_or(DomainError::NotFound)
    }

    pub async fn org_settings(&self, subject: &Subject, slug: &str) -> Result<OrgSettings> {
        self.check_org(subject, slug, Action::ReadOrgSettings)?;
        let mut tx = self.tx().await?;
        Ok(tx
            .org_by_slug(slug)
            .await?
            .ok_or(DomainError::NotFound)?
            .settings)
    }

    pub async fn update_org_settings(
        &self,
        subject: &Subject,
        slug: &str,
        patch: SettingsPatch,
        ctx: &RequestContext,
    ) -> Result<OrgSettings> {
        self.check_org(subject, slug, Action::EditOrgSettings)?;
        let mut tx = self.tx().await?;
        // G5 (A8): passwords go off in line with the org's admin changes, read after the lock.
        tx.lock_org(subject.org_id).await?;
        let org = tx.org_by_slug(slug).await?.ok_or(DomainError::NotFound)?;
        let before = org.settings.clone();
        let mut after = before.clone();
        if let Some(t) = patch.restricted_group_types {
            let mut t = t;
            t.dedup();
            after.restricted_group_types = t;
        }
        if let Some(v) = patch.several_staff_per_user {
            after.several_staff_per_user = v;
        }
        if let Some(v) = patch.second_factor_for_high_level {
            after.second_factor_for_high_level = v;
        }
        if let Some(g) = patch.scim_user_group_id {
            if tx.group(org.id, g).await?.is_none() {
                return Err(DomainError::field(
                    "scim_user_group_id",
                    "unknown_group",
                    "no such user group",
                ));
            }
            after.scim_user_group_id = Some(g);
        }
        let mut errors = Vec::new();
        if let Some(tz) = patch.timezone {
            if crate::digest::zone(&tz).is_none() {
                errors.push(crate::error::FieldError::new(
                    "timezone",
                    "unknown_timezone",
                    "an IANA time zone name, such as Europe/London",
                ));
            }
            after.timezone = tz;
        }
        if let Some(t) = patch.digest_time {
            if crate::digest::clock(&t).is_none() {
                errors.push(crate::error::FieldError::new(
                    "digest_time",
                    "invalid_time",
                    "a local time HH:MM, 00:00 to 23:59",
                ));
            }
            after.digest_time = t;
        }
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        if let Some(p) = patch.password_login {
            // A8 (G5's spirit): passwords off only while an admin can sign in through SSO.
            if p == PasswordLogin::Off
                && before.password_login != PasswordLogin::Off
                && tx.count_sso_linked_admins(org.id).await? == 0
            {
                return Err(DomainError::Conflict {
                    code: "no_sso_admin",
                    detail: "no active admin is linked to an identity provider: turning \
                             passwords off would leave nobody who can sign in to manage the org"
                        .into(),
                });
            }
            after.password_login = p;
        }
        tx.update_org_settings(org.id, &after).await?;
        // A8: what passwords may no longer open is closed now, not when its sessions expire
        // (the caller's own session stays: they are mid-change).
        let sessions_ended = match (before.password_login, after.password_login) {
            (b, a) if b == a => 0,
            (_, PasswordLogin::Off) => {
                tx.revoke_password_sessions(org.id, true, subject.session_id)
                    .await?
            }
            (_, PasswordLogin::AdminsOnly) => {
                tx.revoke_password_sessions(org.id, false, subject.session_id)
                    .await?
            }
            (_, PasswordLogin::All) => 0,
        };
        let b = serde_json::to_value(&before).map_err(DomainError::internal)?;
        let a = serde_json::to_value(&after).map_err(DomainError::internal)?;
        let fields: Vec<_> = [
            "restricted_group_types",
            "several_staff_per_user",
            "second_factor_for_high_level",
            "scim_user_group_id",
            "timezone",
            "digest_time",
            "password_login",
        ]
        .iter()
        .map(|f| (*f, b[f].clone(), a[f].clone()))
        .collect();
        Audit {
            org: org.id,
            kind: "org.settings_changed",
            actor: Some(subject.user_id),
            target: Some(("org", org.id.0)),
            changes: {
                let mut c = diff(&fields);
                if sessions_ended > 0
                    && let Some(m) = c.as_object_mut()
                {
                    m.insert("sessions_ended".into(), sessions_ended.into());
                }
                c
            },
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok(after)
    }
}

/// A staff account for the demo seed.
#[derive(Debug, Clone)]
pub struct DemoUser {
    pub title: String,
    pub forename: String,
    pub surname: String,
    pub job_title: String,
    pub email: String,
    /// The name of one of the org's groups.
    pub group: String,
}

impl Keyholder {
    /// The demo seed (binary only): pending accounts in the named groups, audited.
    pub async fn system_seed_users(
        &self,
        org: OrgId,
        users: &[DemoUser],
        ctx: &RequestContext,
    ) -> Result<()> {
        let mut tx = self.tx().await?;
        for d in users {
            let group = tx
                .group_by_name(org, &d.group)
                .await?
                .ok_or_else(|| DomainError::internal(format!("no group {}", d.group)))?;
            let user = User {
                email: Some(d.email.clone()),
                title: Some(d.title.clone()),
                forename: d.forename.clone(),
                surname: d.surname.clone(),
                job_title: Some(d.job_title.clone()),
                ..User::new_in(org, group.id, UserStatus::Pending)
            };
            tx.insert_user(&user).await?;
            Audit {
                org,
                kind: "user.created",
                actor: None,
                target: Some(("user", user.id.0)),
                changes: serde_json::json!({
                    "email": [null, user.email], "forename": [null, user.forename],
                    "surname": [null, user.surname], "user_group_id": [null, user.user_group_id],
                    "status": [null, "pending"],
                }),
            }
            .write(tx.as_mut(), ctx)
            .await?;
        }
        tx.commit().await
    }
}
