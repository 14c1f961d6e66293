//! The records the rules talk about. The store converts its rows into these at its edge.

use crate::ids::*;
use crate::permission::{CategoryFlags, PermissionSet};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StudentGroupType {
    AcademicLevel,
    RegistrationGroup,
    House,
    Custom,
}

impl StudentGroupType {
    pub fn as_str(self) -> &'static str {
        match self {
            StudentGroupType::AcademicLevel => "academic_level",
            StudentGroupType::RegistrationGroup => "registration_group",
            StudentGroupType::House => "house",
            StudentGroupType::Custom => "custom",
        }
    }

    pub fn parse(s: &str) -> Option<StudentGroupType> {
        match s {
            "academic_level" => Some(StudentGroupType::AcademicLevel),
            "registration_group" => Some(StudentGroupType::RegistrationGroup),
            "house" => Some(StudentGroupType::House),
            "custom" => Some(StudentGroupType::Custom),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSettings {
    /// R3: which student-group types restrict access.
    pub restricted_group_types: Vec<StudentGroupType>,
    /// S3: whether one account may be linked to several staff records.
    pub several_staff_per_user: bool,
    /// G2: whether high-level permissions need a proven second factor. Whatever this says,
    /// `admin.*` and sensitive categories always do.
    pub second_factor_for_high_level: bool,
    /// The group accounts created over SCIM join (a low-level group by default).
    #[serde(default)]
    pub scim_user_group_id: Option<GroupId>,
    /// N2: the org's time zone (IANA name): its day and its digest time are local.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// N2: when the daily digest goes, local `HH:MM`.
    #[serde(default = "default_digest_time")]
    pub digest_time: String,
    /// A8: who may sign in with a password where single sign-on is on.
    #[serde(default)]
    pub password_login: PasswordLogin,
}

/// A8: password sign-in per org: everyone, admins only (break-glass), or nobody (single
/// sign-on only). Turning it off needs an admin who can sign in through a provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordLogin {
    #[default]
    All,
    AdminsOnly,
    Off,
}

impl PasswordLogin {
    pub fn parse(s: &str) -> Option<PasswordLogin> {
        match s {
            "all" => Some(PasswordLogin::All),
            "admins_only" => Some(PasswordLogin::AdminsOnly),
            "off" => Some(PasswordLogin::Off),
            _ => None,
        }
    }
}

fn default_timezone() -> String {
    "Europe/London".into()
}

fn default_digest_time() -> String {
    "16:00".into()
}

impl Default for OrgSettings {
    fn default() -> Self {
        OrgSettings {
            restricted_group_types: vec![StudentGroupType::RegistrationGroup],
            several_staff_per_user: false,
            second_factor_for_high_level: true,
            scim_user_group_id: None,
            timezone: default_timezone(),
            digest_time: default_digest_time(),
            password_login: PasswordLogin::All,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    pub id: OrgId,
    pub slug: String,
    pub name: String,
    pub settings: OrgSettings,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Pending,
    Active,
    Deactivated,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Pending => "pending",
            UserStatus::Active => "active",
            UserStatus::Deactivated => "deactivated",
        }
    }

    pub fn parse(s: &str) -> Option<UserStatus> {
        match s {
            "pending" => Some(UserStatus::Pending),
            "active" => Some(UserStatus::Active),
            "deactivated" => Some(UserStatus::Deactivated),
            _ => None,
        }
    }
}

impl std::fmt::Display for UserStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Second-factor state of an account (A5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TotpState {
    /// The base32 secret set at setup, sealed with the data key for this account
    /// ([`crate::sealing`]); opened only to check a code.
    pub secret: Option<String>,
    /// True once confirmed with a code: from then on the key is enrolled.
    pub confirmed: bool,
    /// The last time step accepted, so that no code is accepted twice.
    pub last_step: Option<i64>,
}

impl TotpState {
    pub fn enrolled(&self) -> bool {
        self.confirmed && self.secret.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub org_id: OrgId,
    pub username: Option<String>,
    pub email: Option<String>,
    pub title: Option<String>,
    pub forename: String,
    pub surname: String,
    pub job_title: Option<String>,
    pub phone: Option<String>,
    pub user_group_id: GroupId,
    pub status: UserStatus,
    pub password_hash: Option<String>,
    pub must_change_password: bool,
    pub password_changed_at: Option<OffsetDateTime>,
    pub last_login_at: Option<OffsetDateTime>,
    pub totp: TotpState,
    /// Bumped to end every session of the account at once (U5, A6).
    pub token_version: i64,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// SCIM: the identity provider's id for the account.
    pub external_id: Option<String>,
    /// SCIM-only attributes as the identity provider wrote them (`emails`, the enterprise
    /// extension), so that they read back exactly.
    pub scim: Option<serde_json::Value>,
    /// Deleted over SCIM: gone from SCIM, while the account and its history stay.
    pub scim_deleted: bool,
}

impl User {
    /// A new account of `org_id` in `user_group_id` with `status`, made now: no name, no login
    /// details, no second factor, never signed in, not provisioned (version 1, token version
    /// 1). Callers give what they know with `User { .., ..User::new_in(..) }`.
    pub fn new_in(org_id: OrgId, user_group_id: GroupId, status: UserStatus) -> User {
        let at = OffsetDateTime::now_utc();
        User {
            id: UserId::new(),
            org_id,
            username: None,
            email: None,
            title: None,
            forename: String::new(),
            surname: String::new(),
            job_title: None,
            phone: None,
            user_group_id,
            status,
            password_hash: None,
            must_change_password: false,
            password_changed_at: None,
            last_login_at: None,
            totp: TotpState::default(),
            token_version: 1,
            version: 1,
            created_at: at,
            updated_at: at,
            external_id: None,
            scim: None,
            scim_deleted: false,
        }
    }
}

/// A user as a list shows it, with what its group makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView {
    pub user: User,
    /// The staff records the account works as (S3).
    pub staff_ids: Vec<StaffId>,
    pub group_name: String,
    /// Holds `admin.manage_users` through an active group.
    pub elevated: bool,
    /// Holds `admin.manage_system` through an active group.
    pub admin: bool,
}

impl UserView {
    /// The view of an account in its group.
    pub fn of(user: User, group: &UserGroup, staff_ids: Vec<StaffId>) -> UserView {
        use crate::permission::Permission;
        UserView {
            user,
            staff_ids,
            group_name: group.name.clone(),
            elevated: group.active
                && group
                    .system_permissions
                    .contains(Permission::AdminManageUsers),
            admin: group.active
                && group
                    .system_permissions
                    .contains(Permission::AdminManageSystem),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGroup {
    pub id: GroupId,
    pub org_id: OrgId,
    pub name: String,
    pub active: bool,
    pub system_permissions: PermissionSet,
    /// Issue 16: the registered permissions of other products the group grants (sorted).
    pub registered_permissions: Vec<crate::permission::RegisteredGrant>,
    pub category_permissions: Vec<(CategoryId, CategoryFlags)>,
    pub version: i64,
    /// SCIM: the identity provider's id for the group.
    pub external_id: Option<String>,
}

impl UserGroup {
    /// Every permission key the group grants: the built-in ones in catalogue order, then the
    /// registered ones by key.
    pub fn permission_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .system_permissions
            .iter()
            .map(|p| p.key().to_owned())
            .collect();
        keys.extend(self.registered_permissions.iter().map(|r| r.key.clone()));
        keys
    }

    pub fn flags_for(&self, category: CategoryId) -> CategoryFlags {
        self.category_permissions
            .iter()
            .find(|(c, _)| *c == category)
            .map(|(_, f)| *f)
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberCounts {
    pub active: u64,
    pub deactivated: u64,
    pub pending: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: CategoryId,
    pub org_id: OrgId,
    pub name: String,
    pub parent_id: Option<CategoryId>,
    pub sensitive: bool,
    pub position: i32,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub org_id: OrgId,
    pub user_id: UserId,
    /// How it was opened (its tokens' `amr`; A8: an org that turns passwords off ends the
    /// sessions opened by password).
    pub method: SessionMethod,
    pub second_factor: bool,
    pub token_version: i64,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked: bool,
}

/// How a session was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionMethod {
    #[default]
    Password,
    /// A8: through an identity provider.
    Sso,
}

impl SessionMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionMethod::Password => "password",
            SessionMethod::Sso => "sso",
        }
    }

    pub fn parse(s: &str) -> SessionMethod {
        match s {
            "sso" => SessionMethod::Sso,
            _ => SessionMethod::Password,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub hash: String,
    pub session_id: SessionId,
    pub org_id: OrgId,
    pub spent: bool,
    pub expires_at: OffsetDateTime,
}

/// Failed-login counters for one login key (a user id, or an unknown login), kept in the
/// database so that every replica agrees (A2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginThrottle {
    pub key: String,
    pub org_id: OrgId,
    pub failures: i32,
    pub locked_until: Option<OffsetDateTime>,
}

/// AU4: what an audit entry is about, beyond its target: a pupil it names (shown only to a
/// reader who may see that pupil, R4/R5), or the category of an incident (R8, view incidents) or
/// of a monitoring mark (R9, view students) it is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AuditAbout {
    Student(crate::ids::StudentId),
    /// R5: the blocks of this account (who is blocked from whom, and why): admins only, and
    /// never the account's own holder.
    BlocksOf(crate::ids::UserId),
    Incidents(crate::ids::CategoryId),
    Marks(crate::ids::CategoryId),
}

impl AuditAbout {
    /// The stored kind and id.
    pub fn parts(self) -> (&'static str, uuid::Uuid) {
        match self {
            AuditAbout::Student(s) => ("student", s.0),
            AuditAbout::BlocksOf(u) => ("blocks", u.0),
            AuditAbout::Incidents(c) => ("incidents", c.0),
            AuditAbout::Marks(c) => ("marks", c.0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: AuditId,
    pub org_id: OrgId,
    pub at: OffsetDateTime,
    pub kind: String,
    pub actor_id: Option<UserId>,
    pub target_type: Option<String>,
    pub target_id: Option<uuid::Uuid>,
    pub staff_id: Option<uuid::Uuid>,
    /// `{field: [before, after]}`.
    pub changes: serde_json::Value,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    /// AU3: its place in the org's hash chain, once the store has written it.
    pub chain: Option<ChainLink>,
}

/// Who asked, from where: carried into audit entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

/// S1: a staff member's contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Contract {
    Permanent,
    FixedTerm,
    Supply,
    Other,
}

impl Contract {
    pub fn as_str(self) -> &'static str {
        match self {
            Contract::Permanent => "permanent",
            Contract::FixedTerm => "fixed_term",
            Contract::Supply => "supply",
            Contract::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Contract> {
        match s {
            "permanent" => Some(Contract::Permanent),
            "fixed_term" => Some(Contract::FixedTerm),
            "supply" => Some(Contract::Supply),
            "other" => Some(Contract::Other),
            _ => None,
        }
    }
}

/// S1: full or part time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hours {
    FullTime,
    PartTime,
}

impl Hours {
    pub fn as_str(self) -> &'static str {
        match self {
            Hours::FullTime => "full_time",
            Hours::PartTime => "part_time",
        }
    }

    pub fn parse(s: &str) -> Option<Hours> {
        match s {
            "full_time" => Some(Hours::FullTime),
            "part_time" => Some(Hours::PartTime),
            _ => None,
        }
    }
}

/// S1: a person as the MIS knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    pub id: StaffId,
    pub org_id: OrgId,
    pub mis_id: Option<String>,
    pub title: Option<String>,
    pub forename: String,
    pub surname: String,
    pub email: Option<String>,
    pub job_title: Option<String>,
    pub contract: Contract,
    pub hours: Hours,
    pub start_date: time::Date,
    pub end_date: Option<time::Date>,
    /// The accounts working as this person.
    pub user_ids: Vec<UserId>,
    pub version: i64,
}

impl StaffMember {
    /// S2: may a new account be made from this record today? (`linked_ok`: the org lets one
    /// account work for several staff, or the record has no account yet.)
    pub fn eligible_for_account(&self, today: time::Date, several_staff_per_user: bool) -> bool {
        self.start_date <= today
            && self.end_date.is_none_or(|end| end >= today)
            && self.contract == Contract::Permanent
            && self.hours == Hours::FullTime
            && (several_staff_per_user || self.user_ids.is_empty())
    }
}

/// R1: a pupil.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Student {
    pub id: StudentId,
    pub org_id: OrgId,
    pub mis_id: String,
    pub forename: String,
    pub surname: String,
    pub date_of_birth: Option<time::Date>,
    pub on_roll: bool,
}

/// R2: a year, registration group, house or custom group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentGroup {
    pub id: StudentGroupId,
    pub org_id: OrgId,
    pub mis_id: Option<String>,
    pub kind: StudentGroupType,
    pub name: String,
    pub archived: bool,
    /// Bumped by every change to the group or (for a group an admin keeps) its members: its ETag.
    pub version: i64,
}

/// N1: an email waiting in the outbox, written in the same transaction as its change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: uuid::Uuid,
    pub org_id: OrgId,
    /// `invitation`, `password_reset`, `email_changed`, `account_locked`…
    pub kind: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub attempts: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// U3: set a first password (72 h).
    Invitation,
    /// A6: set a new password (1 h).
    PasswordReset,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Invitation => "invitation",
            TokenPurpose::PasswordReset => "password_reset",
        }
    }

    pub fn parse(s: &str) -> Option<TokenPurpose> {
        match s {
            "invitation" => Some(TokenPurpose::Invitation),
            "password_reset" => Some(TokenPurpose::PasswordReset),
            _ => None,
        }
    }
}

/// A single-use token, kept only as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionToken {
    pub hash: String,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    pub expires_at: OffsetDateTime,
    pub used: bool,
}

/// N1: how a user hears about a top-level category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationMode {
    None,
    Immediate,
    Digest,
}

impl NotificationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationMode::None => "none",
            NotificationMode::Immediate => "immediate",
            NotificationMode::Digest => "digest",
        }
    }

    pub fn parse(s: &str) -> Option<NotificationMode> {
        match s {
            "none" => Some(NotificationMode::None),
            "immediate" => Some(NotificationMode::Immediate),
            "digest" => Some(NotificationMode::Digest),
            _ => None,
        }
    }
}

/// A7: what a service account's key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// Push staff, students and student groups (S4).
    #[serde(rename = "mis.sync")]
    MisSync,
    /// Provision accounts over SCIM 2.0.
    #[serde(rename = "scim")]
    Scim,
    /// A9: ask Keyholder about its tokens (introspection) and, with issue 16, for decisions.
    #[serde(rename = "decisions")]
    Decisions,
    /// Issue 16: register the permissions of another product in the org's catalogue.
    #[serde(rename = "catalogue")]
    Catalogue,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::MisSync => "mis.sync",
            Scope::Scim => "scim",
            Scope::Decisions => "decisions",
            Scope::Catalogue => "catalogue",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "mis.sync" => Some(Scope::MisSync),
            "scim" => Some(Scope::Scim),
            "decisions" => Some(Scope::Decisions),
            "catalogue" => Some(Scope::Catalogue),
            _ => None,
        }
    }
}

/// A7: an integration's identity. Its key is shown once and kept only as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub id: ServiceAccountId,
    pub org_id: OrgId,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The first characters of the key, to tell keys apart in a list.
    pub key_prefix: String,
    pub created_at: OffsetDateTime,
    pub created_by: Option<UserId>,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked: bool,
}

/// R8: a safeguarding record about a pupil in a category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: IncidentId,
    pub org_id: OrgId,
    pub student_id: StudentId,
    pub category_id: CategoryId,
    pub description: String,
    pub occurred_at: OffsetDateTime,
    pub reported_by: UserId,
    pub created_at: OffsetDateTime,
}

/// N2: an alert in the app, telling a user that an incident was recorded. It names the incident
/// and its category only: never the pupil or the concern's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: AlertId,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub incident_id: IncidentId,
    pub category_id: CategoryId,
    pub created_at: OffsetDateTime,
    pub read_at: Option<OffsetDateTime>,
}

/// N2: a user an incident alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecipient {
    pub user_id: UserId,
    pub email: Option<String>,
}

/// N2: a user who asked for a daily digest on some top-level categories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSubscriber {
    pub user_id: UserId,
    pub email: String,
    pub group_id: GroupId,
    pub categories: Vec<CategoryId>,
}

/// N2: an incident as a digest lists it: its id, category and time, nothing of the pupil.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestItem {
    pub incident_id: IncidentId,
    pub category_id: CategoryId,
    pub created_at: OffsetDateTime,
}

/// Where an entry sits in its org's chain, as the store recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    /// 1 for the org's first entry, then one more for each.
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
}
