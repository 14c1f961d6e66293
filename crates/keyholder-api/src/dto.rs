//! Request and response bodies. Request bodies are never entities; responses are built from
//! domain types.

use keyholder_domain::model::{
    AuditEntry, Category, Contract, Hours, MemberCounts, NotificationMode, Org, OrgSettings,
    StaffMember, StudentGroup, StudentGroupType, UserGroup, UserView,
};
use keyholder_domain::permission::{CategoryFlags, Level, Permission};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// PATCH: absent leaves a field alone, `null` clears it.
pub fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberCountsOut {
    pub active: u64,
    pub deactivated: u64,
    pub pending: u64,
}

impl From<MemberCounts> for MemberCountsOut {
    fn from(c: MemberCounts) -> Self {
        MemberCountsOut {
            active: c.active,
            deactivated: c.deactivated,
            pending: c.pending,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema, Clone, Copy)]
pub struct CategoryPermission {
    pub category_id: Uuid,
    #[serde(default)]
    pub view_students: bool,
    #[serde(default)]
    pub view_incidents: bool,
    #[serde(default)]
    pub add_incidents: bool,
}

impl CategoryPermission {
    pub fn from_domain((c, f): &(keyholder_domain::ids::CategoryId, CategoryFlags)) -> Self {
        CategoryPermission {
            category_id: c.0,
            view_students: f.view_students,
            view_incidents: f.view_incidents,
            add_incidents: f.add_incidents,
        }
    }

    pub fn to_domain(&self) -> (keyholder_domain::ids::CategoryId, CategoryFlags) {
        (
            keyholder_domain::ids::CategoryId(self.category_id),
            CategoryFlags {
                view_students: self.view_students,
                view_incidents: self.view_incidents,
                add_incidents: self.add_incidents,
            },
        )
    }
}

/// A user account.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    pub id: Uuid,
    pub username: Option<String>,
    pub email: Option<String>,
    pub title: Option<String>,
    pub forename: String,
    pub surname: String,
    pub job_title: Option<String>,
    pub phone: Option<String>,
    pub user_group_id: Uuid,
    pub user_group_name: String,
    /// `pending`, `active` or `deactivated` (U2).
    pub status: String,
    pub staff_ids: Vec<Uuid>,
    /// A second factor is enrolled (A5).
    pub second_factor: bool,
    pub must_change_password: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub password_changed_at: Option<OffsetDateTime>,
    /// Null: never logged in.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
    /// Holds `admin.manage_users`.
    pub elevated: bool,
    /// Holds `admin.manage_system`.
    pub admin: bool,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<UserView> for UserOut {
    fn from(v: UserView) -> Self {
        let u = v.user;
        UserOut {
            id: u.id.0,
            username: u.username,
            email: u.email,
            title: u.title,
            forename: u.forename,
            surname: u.surname,
            job_title: u.job_title,
            phone: u.phone,
            user_group_id: u.user_group_id.0,
            user_group_name: v.group_name,
            status: u.status.as_str().to_owned(),
            staff_ids: v.staff_ids.iter().map(|s| s.0).collect(),
            second_factor: u.totp.enrolled(),
            must_change_password: u.must_change_password,
            password_changed_at: u.password_changed_at,
            last_login_at: u.last_login_at,
            elevated: v.elevated,
            admin: v.admin,
            version: u.version,
            created_at: u.created_at,
        }
    }
}

/// A list's answer, the one envelope of every paged list (api-conventions, Lists):
/// `{items, page, per_page, total}`, `total` counting only what the caller may see.
macro_rules! list_of {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            pub page: u64,
            pub per_page: u64,
            pub total: u64,
        }

        impl<T: Into<$item>> From<keyholder_domain::services::Page<T>> for $name {
            fn from(p: keyholder_domain::services::Page<T>) -> Self {
                $name {
                    items: p.items.into_iter().map(Into::into).collect(),
                    page: p.page,
                    per_page: p.per_page,
                    total: p.total,
                }
            }
        }
    };
}
pub(crate) use list_of;

/// `page` (from 1) and `per_page` (default 15, at most 200) of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserOut>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserIn {
    pub email: Option<String>,
    pub username: Option<String>,
    pub title: Option<String>,
    /// Required unless prefilled from `staff_ids` (U3).
    #[serde(default)]
    pub forename: String,
    /// Required unless prefilled from `staff_ids` (U3).
    #[serde(default)]
    pub surname: String,
    pub job_title: Option<String>,
    pub user_group_id: Uuid,
    /// Eligible staff records (S2) the account works as; names, email, title and job title
    /// not given are taken from the first.
    #[serde(default)]
    pub staff_ids: Vec<Uuid>,
    #[serde(default)]
    pub send_invitation: bool,
    pub password: Option<String>,
    #[serde(default)]
    pub must_change_password: bool,
    #[serde(default)]
    pub pending: bool,
    /// Copy the allow-lists of restricted groups (R6) and the notification preferences of
    /// this existing account.
    pub copy_access_from: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserIn {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    pub forename: Option<String>,
    pub surname: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub job_title: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub username: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    pub user_group_id: Option<Uuid>,
    pub must_change_password: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
}

/// U11 filters and sorting.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Text in name, username or email.
    pub q: Option<String>,
    /// `pending`, `active` or `deactivated`.
    pub status: Option<String>,
    pub user_group: Option<Uuid>,
    pub user_group_id: Option<Uuid>,
    /// Second factor enrolled.
    pub second_factor: Option<bool>,
    pub elevated: Option<bool>,
    pub admin: Option<bool>,
    /// `name`, `job_title`, `user_group`, `last_login`, `password_changed`, `elevated`, `admin`; prefix `-` for descending.
    pub sort: Option<String>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// A user group (role).
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupOut {
    pub id: Uuid,
    pub name: String,
    /// `active` or `inactive` (an inactive group grants nothing).
    pub status: String,
    pub system_permissions: Vec<String>,
    pub category_permissions: Vec<CategoryPermission>,
    pub member_counts: MemberCountsOut,
    pub version: i64,
}

impl GroupOut {
    pub fn new(g: UserGroup, c: MemberCounts) -> Self {
        GroupOut {
            id: g.id.0,
            name: g.name,
            status: if g.active { "active" } else { "inactive" }.to_owned(),
            system_permissions: g.system_permissions.keys(),
            category_permissions: g
                .category_permissions
                .iter()
                .map(CategoryPermission::from_domain)
                .collect(),
            member_counts: c.into(),
            version: g.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupPage {
    pub items: Vec<GroupOut>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

#[derive(Debug, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GroupStatus {
    Active,
    Inactive,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupIn {
    pub name: String,
    #[serde(default = "active")]
    pub status: GroupStatus,
    #[serde(default)]
    pub system_permissions: Vec<String>,
    #[serde(default)]
    pub category_permissions: Vec<CategoryPermission>,
}

fn active() -> GroupStatus {
    GroupStatus::Active
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupIn {
    pub name: Option<String>,
    pub status: Option<GroupStatus>,
    pub system_permissions: Option<Vec<String>>,
    pub category_permissions: Option<Vec<CategoryPermission>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupListQuery {
    pub q: Option<String>,
    /// `active` or `inactive`.
    pub status: Option<String>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionOut {
    pub key: String,
    /// `high` needs a session with a proven second factor (G2).
    pub level: String,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Catalogue {
    pub system_permissions: Vec<PermissionOut>,
    /// The per-category flags and their levels.
    pub category_flags: Vec<PermissionOut>,
}

pub fn level(l: Level) -> String {
    match l {
        Level::Low => "low",
        Level::High => "high",
    }
    .to_owned()
}

pub fn catalogue() -> Catalogue {
    let flag = |k: &str, l: Level, d: &str| PermissionOut {
        key: k.to_owned(),
        level: level(l),
        description: d.to_owned(),
    };
    Catalogue {
        system_permissions: Permission::ALL
            .iter()
            .map(|p| PermissionOut {
                key: p.key().to_owned(),
                level: level(p.level()),
                description: p.description().to_owned(),
            })
            .collect(),
        category_flags: vec![
            flag(
                "view_students",
                Level::High,
                "See that a student is monitored for the category.",
            ),
            flag(
                "view_incidents",
                Level::High,
                "Read incidents of the category.",
            ),
            flag(
                "add_incidents",
                Level::Low,
                "Record incidents in the category.",
            ),
        ],
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryOut {
    pub id: Uuid,
    pub name: String,
    pub parent_id: Option<Uuid>,
    /// Child protection and its sub-categories: always need a second factor (G2). A category
    /// under a sensitive one is treated as sensitive whatever its own flag says.
    pub sensitive: bool,
    /// Order among its siblings (0 first).
    pub position: i32,
    pub version: i64,
}

impl From<Category> for CategoryOut {
    fn from(c: Category) -> Self {
        CategoryOut {
            id: c.id.0,
            name: c.name,
            parent_id: c.parent_id.map(|p| p.0),
            sensitive: c.sensitive,
            position: c.position,
            version: c.version,
        }
    }
}

/// A new category; with `parent_id`, a sub-category.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCategoryIn {
    pub name: String,
    pub parent_id: Option<Uuid>,
    #[serde(default)]
    pub sensitive: bool,
}

/// Only the fields to change; `"parent_id": null` makes the category top level.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCategoryIn {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub parent_id: Option<Option<Uuid>>,
    pub sensitive: Option<bool>,
    pub position: Option<i32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginIn {
    /// The org's slug.
    pub org: String,
    /// Username or email.
    pub login: String,
    pub password: String,
    /// A TOTP code or a recovery code, when a second factor is enrolled.
    pub totp_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOut {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_token: String,
    /// Whether this session proved a second factor (G2: high-level permissions need it).
    pub second_factor: bool,
    /// A3: the account must change its password before anything else.
    pub must_change_password: bool,
}

impl From<keyholder_domain::services::TokenPair> for TokenOut {
    fn from(p: keyholder_domain::services::TokenPair) -> Self {
        TokenOut {
            access_token: p.access_token,
            token_type: "Bearer".into(),
            expires_in: p.expires_in,
            refresh_token: p.refresh_token,
            second_factor: p.second_factor,
            must_change_password: p.must_change_password,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshIn {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeOut {
    #[serde(flatten)]
    pub user: UserOut,
    /// The org's slug.
    pub org: String,
    /// The permissions in effect in this session (after G2).
    pub permissions: Vec<String>,
    /// What the group grants, including what needs a second factor this session lacks.
    pub group_permissions: Vec<String>,
    pub category_permissions: Vec<CategoryPermission>,
    /// This session proved a second factor.
    pub second_factor_session: bool,
    /// N1: per top-level category; categories not listed get no email.
    pub notification_preferences: Vec<NotificationPreference>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    None,
    Immediate,
    Digest,
}

impl From<Mode> for NotificationMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::None => NotificationMode::None,
            Mode::Immediate => NotificationMode::Immediate,
            Mode::Digest => NotificationMode::Digest,
        }
    }
}

impl From<NotificationMode> for Mode {
    fn from(m: NotificationMode) -> Self {
        match m {
            NotificationMode::None => Mode::None,
            NotificationMode::Immediate => Mode::Immediate,
            NotificationMode::Digest => Mode::Digest,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct NotificationPreference {
    /// A top-level category.
    pub category_id: Uuid,
    pub mode: Mode,
}

/// U12: what one may change about oneself.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeIn {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    pub forename: Option<String>,
    pub surname: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    pub email: Option<String>,
    pub notification_preferences: Option<Vec<NotificationPreference>>,
    /// Needed with a new `email` (where password resets are sent).
    pub current_password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetIn {
    pub org: String,
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordIn {
    /// The token from an invitation or reset link.
    pub token: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReactivateIn {
    pub email: String,
    pub user_group_id: Uuid,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloneIn {
    pub username: Option<String>,
    pub email: String,
    pub password: Option<String>,
    #[serde(default)]
    pub send_invitation: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ContractIn {
    Permanent,
    FixedTerm,
    Supply,
    Other,
}

impl From<ContractIn> for Contract {
    fn from(c: ContractIn) -> Self {
        match c {
            ContractIn::Permanent => Contract::Permanent,
            ContractIn::FixedTerm => Contract::FixedTerm,
            ContractIn::Supply => Contract::Supply,
            ContractIn::Other => Contract::Other,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HoursIn {
    FullTime,
    PartTime,
}

impl From<HoursIn> for Hours {
    fn from(h: HoursIn) -> Self {
        match h {
            HoursIn::FullTime => Hours::FullTime,
            HoursIn::PartTime => Hours::PartTime,
        }
    }
}

/// `YYYY-MM-DD`.
pub fn parse_date(field: &str, s: &str) -> Result<time::Date, keyholder_domain::FieldError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), &format)
        .map_err(|_| keyholder_domain::FieldError::new(field, "date", "a date as YYYY-MM-DD"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStaffIn {
    pub mis_id: Option<String>,
    pub title: Option<String>,
    pub forename: String,
    pub surname: String,
    pub email: Option<String>,
    pub job_title: Option<String>,
    pub contract: ContractIn,
    pub hours: HoursIn,
    /// `YYYY-MM-DD`.
    pub start_date: String,
    pub end_date: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStaffIn {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub mis_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    pub forename: Option<String>,
    pub surname: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub job_title: Option<Option<String>>,
    pub contract: Option<ContractIn>,
    pub hours: Option<HoursIn>,
    pub start_date: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub end_date: Option<Option<String>>,
}

/// S3: a staff member who has left while an account working as them is active.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaverOut {
    pub staff: StaffOut,
    pub active_users: Vec<UserOut>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordIn {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpSetupOut {
    /// Base32 secret, for typing into an app (or `oathtool --totp -b <secret>`).
    pub secret: String,
    pub otpauth_uri: String,
    /// A PNG QR code of the URI, base64.
    pub qr_png_base64: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirmIn {
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesOut {
    /// Ten single-use codes, shown once.
    pub recovery_codes: Vec<String>,
}

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

#[derive(Debug, Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GroupType {
    AcademicLevel,
    RegistrationGroup,
    House,
    Custom,
}

impl From<GroupType> for StudentGroupType {
    fn from(t: GroupType) -> Self {
        match t {
            GroupType::AcademicLevel => StudentGroupType::AcademicLevel,
            GroupType::RegistrationGroup => StudentGroupType::RegistrationGroup,
            GroupType::House => StudentGroupType::House,
            GroupType::Custom => StudentGroupType::Custom,
        }
    }
}

impl From<StudentGroupType> for GroupType {
    fn from(t: StudentGroupType) -> Self {
        match t {
            StudentGroupType::AcademicLevel => GroupType::AcademicLevel,
            StudentGroupType::RegistrationGroup => GroupType::RegistrationGroup,
            StudentGroupType::House => GroupType::House,
            StudentGroupType::Custom => GroupType::Custom,
        }
    }
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
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryOut {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(rename = "type")]
    pub kind: String,
    pub actor_id: Option<Uuid>,
    pub target_type: Option<String>,
    pub target_id: Option<Uuid>,
    pub staff_id: Option<Uuid>,
    /// `{field: [before, after]}`: an open object, each value any JSON.
    #[schema(value_type = std::collections::HashMap<String, serde_json::Value>)]
    pub changes: serde_json::Value,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    /// AU3: the entry's place in the org's chain, its hash and the hash of the entry before.
    pub seq: Option<i64>,
    pub hash: Option<String>,
    pub prev_hash: Option<String>,
}

impl From<AuditEntry> for AuditEntryOut {
    fn from(e: AuditEntry) -> Self {
        let (seq, hash, prev_hash) = match e.chain {
            Some(c) => (Some(c.seq), Some(c.hash), Some(c.prev_hash)),
            None => (None, None, None),
        };
        AuditEntryOut {
            seq,
            hash,
            prev_hash,
            id: e.id.0,
            at: e.at,
            kind: e.kind,
            actor_id: e.actor_id.map(|a| a.0),
            target_type: e.target_type,
            target_id: e.target_id,
            staff_id: e.staff_id,
            changes: e.changes,
            ip: e.ip,
            request_id: e.request_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPageOut {
    pub items: Vec<AuditEntryOut>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQueryIn {
    /// From this time on, RFC 3339 (inclusive).
    pub from: Option<String>,
    /// Before this time, RFC 3339 (exclusive).
    pub to: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    pub actor_id: Option<Uuid>,
    pub target_user_id: Option<Uuid>,
    /// Entries about this staff record.
    pub staff_id: Option<Uuid>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
}

/// AU3: what verifying the org's chain found.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerifyOut {
    pub valid: bool,
    /// Entries checked.
    pub checked: u64,
    /// The first entry that was edited or follows a deleted one; null when valid, or when
    /// entries are missing at the end of the chain.
    pub first_bad_id: Option<Uuid>,
    pub detail: Option<String>,
}

impl From<keyholder_domain::audit_chain::Verification> for AuditVerifyOut {
    fn from(v: keyholder_domain::audit_chain::Verification) -> Self {
        AuditVerifyOut {
            valid: v.valid,
            checked: v.checked,
            first_bad_id: v.first_bad_id.map(|i| i.0),
            detail: v.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// S1: a staff member as the MIS (or an admin) recorded them.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffOut {
    pub id: Uuid,
    pub mis_id: Option<String>,
    pub title: Option<String>,
    pub forename: String,
    pub surname: String,
    pub email: Option<String>,
    pub job_title: Option<String>,
    /// `permanent`, `fixed_term`, `supply` or `other`.
    pub contract: String,
    /// `full_time` or `part_time`.
    pub hours: String,
    /// `YYYY-MM-DD`.
    pub start_date: String,
    pub end_date: Option<String>,
    /// The accounts working as this person.
    pub user_ids: Vec<Uuid>,
    /// S2: a new account can be made from this record today.
    pub eligible_for_account: bool,
    pub version: i64,
}

/// `YYYY-MM-DD`.
pub fn ymd(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl StaffOut {
    pub fn new(s: StaffMember, eligible_for_account: bool) -> Self {
        StaffOut {
            eligible_for_account,
            id: s.id.0,
            mis_id: s.mis_id,
            title: s.title,
            forename: s.forename,
            surname: s.surname,
            email: s.email,
            job_title: s.job_title,
            contract: s.contract.as_str().to_owned(),
            hours: s.hours.as_str().to_owned(),
            start_date: ymd(s.start_date),
            end_date: s.end_date.map(ymd),
            user_ids: s.user_ids.iter().map(|u| u.0).collect(),
            version: s.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffPage {
    pub items: Vec<StaffOut>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaffListQuery {
    /// Text in name, email or MIS id.
    pub q: Option<String>,
    /// S2: only records a new account can be made from today.
    pub eligible_for_account: Option<bool>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// R2: a student group.
#[derive(Debug, Serialize, ToSchema)]
pub struct StudentGroupOut {
    pub id: Uuid,
    pub mis_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: GroupType,
    pub name: String,
    pub archived: bool,
    pub member_count: u64,
}

impl StudentGroupOut {
    pub fn new(g: StudentGroup, member_count: u64) -> Self {
        StudentGroupOut {
            id: g.id.0,
            mis_id: g.mis_id,
            kind: g.kind.into(),
            name: g.name,
            archived: g.archived,
            member_count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StudentGroupPage {
    pub items: Vec<StudentGroupOut>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StudentGroupListQuery {
    /// `academic_level`, `registration_group`, `house` or `custom`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<GroupType>,
    pub q: Option<String>,
    pub archived: Option<bool>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}
