//! The ports: what the domain needs from storage. The store crate implements them; services
//! are the only callers. A [`Tx`] is one database transaction: writes that belong together
//! (a change and its audit entry) go through one and commit together.

use crate::error::Result;
use crate::ids::*;
use crate::model::*;
use async_trait::async_trait;

#[async_trait]
pub trait Store: Send + Sync {
    /// Starts a transaction.
    async fn begin(&self) -> Result<Box<dyn Tx>>;
    /// Whether the database answers (readiness).
    async fn ping(&self) -> Result<()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    Name,
    JobTitle,
    UserGroup,
    LastLogin,
    PasswordChanged,
    Elevated,
    Admin,
}

/// U11: a page of users, filtered and sorted in the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserQuery {
    pub q: Option<String>,
    pub status: Option<UserStatus>,
    pub user_group_id: Option<GroupId>,
    pub second_factor: Option<bool>,
    pub elevated: Option<bool>,
    pub admin: Option<bool>,
    pub sort: UserSort,
    pub descending: bool,
    pub page: u64,
    pub per_page: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupQuery {
    pub q: Option<String>,
    pub active: Option<bool>,
    pub page: u64,
    pub per_page: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub kind: Option<String>,
    pub actor_id: Option<UserId>,
    pub target_id: Option<uuid::Uuid>,
    /// Entries strictly older than this position (newest first).
    pub before: Option<(time::OffsetDateTime, AuditId)>,
    pub limit: u64,
}

/// S1/S2: a page of staff records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffQuery {
    pub q: Option<String>,
    /// Only records eligible for a new account on this day (S2); `bool`: several staff per user.
    pub eligible_on: Option<(time::Date, bool)>,
    pub page: u64,
    pub per_page: u64,
}

/// R2: a page of student groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentGroupQuery {
    pub kind: Option<StudentGroupType>,
    pub q: Option<String>,
    pub archived: Option<bool>,
    pub page: u64,
    pub per_page: u64,
}

/// What authenticating one request needs, loaded together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFacts {
    pub session: Session,
    pub user: User,
    pub group: UserGroup,
    pub org: Org,
}

#[async_trait]
pub trait Tx: Send {
    async fn commit(self: Box<Self>) -> Result<()>;

    // Keys shared by every replica.
    async fn signing_secret(&mut self) -> Result<Option<Vec<u8>>>;
    async fn insert_signing_secret(&mut self, secret: &[u8]) -> Result<()>;

    // Orgs (T1, T2).
    async fn insert_org(&mut self, org: &Org) -> Result<()>;
    async fn org_by_slug(&mut self, slug: &str) -> Result<Option<Org>>;
    async fn update_org_settings(&mut self, org: OrgId, settings: &OrgSettings) -> Result<()>;

    // Categories.
    async fn insert_category(&mut self, category: &Category) -> Result<()>;
    async fn categories(&mut self, org: OrgId) -> Result<Vec<Category>>;

    // User groups.
    async fn insert_group(&mut self, group: &UserGroup) -> Result<()>;
    async fn group(&mut self, org: OrgId, id: GroupId) -> Result<Option<UserGroup>>;
    async fn group_by_name(&mut self, org: OrgId, name: &str) -> Result<Option<UserGroup>>;
    async fn groups(
        &mut self,
        org: OrgId,
        query: &GroupQuery,
    ) -> Result<(Vec<(UserGroup, MemberCounts)>, u64)>;
    /// Writes the group if its stored version is `expected_version`; false otherwise.
    async fn update_group(&mut self, group: &UserGroup, expected_version: i64) -> Result<bool>;
    async fn delete_group(&mut self, org: OrgId, id: GroupId) -> Result<()>;
    async fn member_counts(&mut self, org: OrgId, id: GroupId) -> Result<MemberCounts>;

    // Users.
    async fn insert_user(&mut self, user: &User) -> Result<()>;
    async fn user(&mut self, org: OrgId, id: UserId) -> Result<Option<User>>;
    async fn user_view(&mut self, org: OrgId, id: UserId) -> Result<Option<UserView>>;
    /// Username or email, case-insensitive; only accounts that hold login details.
    async fn user_by_login(&mut self, org: OrgId, login: &str) -> Result<Option<User>>;
    /// The status of the account holding this email (case-insensitive), if any.
    async fn email_holder(
        &mut self,
        org: OrgId,
        email: &str,
        except: Option<UserId>,
    ) -> Result<Option<UserStatus>>;
    async fn username_taken(
        &mut self,
        org: OrgId,
        username: &str,
        except: Option<UserId>,
    ) -> Result<bool>;
    /// Writes the user if its stored version is `expected_version`; false otherwise.
    async fn update_user(&mut self, user: &User, expected_version: i64) -> Result<bool>;
    async fn users(&mut self, org: OrgId, query: &UserQuery) -> Result<(Vec<UserView>, u64)>;
    /// G5: active users whose active group holds `admin.manage_system`.
    async fn count_active_admins(&mut self, org: OrgId) -> Result<u64>;

    // Sessions and refresh tokens (A1).
    async fn insert_session(&mut self, session: &Session) -> Result<()>;
    async fn auth_facts(&mut self, session: SessionId) -> Result<Option<AuthFacts>>;
    async fn revoke_session(&mut self, session: SessionId) -> Result<()>;
    async fn insert_refresh_token(&mut self, token: &RefreshToken) -> Result<()>;
    async fn refresh_token(&mut self, hash: &str) -> Result<Option<RefreshToken>>;
    /// Marks the token spent; false if it already was (a concurrent refresh won).
    async fn spend_refresh_token(&mut self, hash: &str) -> Result<bool>;

    // Login throttling (A2).
    async fn throttle(&mut self, org: OrgId, key: &str) -> Result<Option<LoginThrottle>>;
    async fn save_throttle(&mut self, throttle: &LoginThrottle) -> Result<()>;
    async fn clear_throttle(&mut self, org: OrgId, key: &str) -> Result<()>;

    // Recovery codes (A5), kept as hashes.
    async fn replace_recovery_codes(
        &mut self,
        org: OrgId,
        user: UserId,
        hashes: &[String],
    ) -> Result<()>;
    /// Spends a recovery code; false if no unspent code has this hash.
    async fn spend_recovery_code(&mut self, org: OrgId, user: UserId, hash: &str) -> Result<bool>;

    // Staff records (S1–S3).
    async fn insert_staff(&mut self, staff: &StaffMember) -> Result<()>;
    async fn link_staff(&mut self, org: OrgId, user: UserId, staff: StaffId) -> Result<()>;
    async fn staff_member(&mut self, org: OrgId, id: StaffId) -> Result<Option<StaffMember>>;
    async fn staff(&mut self, org: OrgId, query: &StaffQuery) -> Result<(Vec<StaffMember>, u64)>;

    // Students and their groups (R1–R3).
    async fn insert_student(&mut self, student: &Student) -> Result<()>;
    async fn insert_student_group(&mut self, group: &StudentGroup) -> Result<()>;
    async fn add_group_member(
        &mut self,
        org: OrgId,
        group: StudentGroupId,
        student: StudentId,
    ) -> Result<()>;
    async fn add_group_access(
        &mut self,
        org: OrgId,
        group: StudentGroupId,
        user: UserId,
    ) -> Result<()>;
    /// Groups with their member counts.
    async fn student_groups(
        &mut self,
        org: OrgId,
        query: &StudentGroupQuery,
    ) -> Result<(Vec<(StudentGroup, u64)>, u64)>;

    // Audit (AU1).
    async fn insert_audit(&mut self, entry: &AuditEntry) -> Result<()>;
    async fn audit(&mut self, org: OrgId, query: &AuditQuery) -> Result<Vec<AuditEntry>>;
}
