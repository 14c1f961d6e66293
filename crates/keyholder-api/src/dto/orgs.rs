//! Orgs (T1, T2) and their settings.

use super::*;

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgOut {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Org> for OrgOut {
    fn from(o: Org) -> Self {
        OrgOut {
            id: o.id.0,
            slug: o.slug,
            name: o.name,
            created_at: o.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrgIn {
    pub slug: String,
    pub name: String,
    pub admin_email: String,
    /// Without it a password is generated and answered once.
    pub admin_password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedOrgOut {
    pub org: OrgOut,
    pub admin_user_id: Uuid,
    pub admin_email: String,
    /// Only when generated; shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsOut {
    /// R3: which student-group types restrict access.
    pub restricted_group_types: Vec<GroupType>,
    /// S3.
    pub several_staff_per_user: bool,
    /// G2: high-level permissions need a second factor (never relaxed for admin.* or sensitive categories).
    pub second_factor_for_high_level: bool,
    /// The user group accounts created over SCIM join.
    pub scim_user_group_id: Option<Uuid>,
    /// N2: the org's IANA time zone; its days and digest time are local.
    pub timezone: String,
    /// N2: when the daily digest goes, local `HH:MM`.
    pub digest_time: String,
    /// A8: who may sign in with a password: everyone, admins only (break-glass), or nobody
    /// (single sign-on only; needs an admin linked to an identity provider).
    pub password_login: PasswordLoginIn,
}

/// A8: password sign-in per org.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PasswordLoginIn {
    All,
    AdminsOnly,
    Off,
}

impl From<keyholder_domain::model::PasswordLogin> for PasswordLoginIn {
    fn from(p: keyholder_domain::model::PasswordLogin) -> Self {
        use keyholder_domain::model::PasswordLogin as P;
        match p {
            P::All => PasswordLoginIn::All,
            P::AdminsOnly => PasswordLoginIn::AdminsOnly,
            P::Off => PasswordLoginIn::Off,
        }
    }
}

impl From<PasswordLoginIn> for keyholder_domain::model::PasswordLogin {
    fn from(p: PasswordLoginIn) -> Self {
        use keyholder_domain::model::PasswordLogin as P;
        match p {
            PasswordLoginIn::All => P::All,
            PasswordLoginIn::AdminsOnly => P::AdminsOnly,
            PasswordLoginIn::Off => P::Off,
        }
    }
}

impl From<OrgSettings> for SettingsOut {
    fn from(s: OrgSettings) -> Self {
        SettingsOut {
            restricted_group_types: s
                .restricted_group_types
                .into_iter()
                .map(Into::into)
                .collect(),
            several_staff_per_user: s.several_staff_per_user,
            second_factor_for_high_level: s.second_factor_for_high_level,
            scim_user_group_id: s.scim_user_group_id.map(|g| g.0),
            timezone: s.timezone,
            digest_time: s.digest_time,
            password_login: s.password_login.into(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatchIn {
    pub restricted_group_types: Option<Vec<GroupType>>,
    pub several_staff_per_user: Option<bool>,
    pub second_factor_for_high_level: Option<bool>,
    pub scim_user_group_id: Option<Uuid>,
    /// An IANA time zone name (`Europe/London`); 422 `unknown_timezone` otherwise.
    #[schema(max_length = 64)]
    pub timezone: Option<String>,
    /// `HH:MM`, 00:00 to 23:59; 422 `invalid_time` otherwise.
    #[schema(max_length = 5)]
    pub digest_time: Option<String>,
    /// A8: `off` is refused (409 `no_sso_admin`) unless an active admin is linked to an
    /// identity provider.
    pub password_login: Option<PasswordLoginIn>,
}
