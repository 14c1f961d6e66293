//! The ports: what the domain needs from storage. The store crate implements them; services
//! are the only callers. A [`Tx`] is one database transaction: writes that belong together
//! (a change and its audit entry) go through one and commit together.

pub use crate::auth_cache::AuthFacts;
use crate::error::Result;
use crate::ids::*;
use crate::model::*;
use crate::sso::{IdentityProvider, SsoCode, SsoLink, SsoState};
use async_trait::async_trait;

mod query;
pub use query::*;

#[async_trait]
pub trait Store: Send + Sync {
    /// Starts a transaction.
    async fn begin(&self) -> Result<Box<dyn Tx>>;
    /// Starts a read-only transaction: on SQLite on a reader connection beside the one writer
    /// (WAL: readers never queue behind a writer), on PostgreSQL `REPEATABLE READ, READ ONLY`.
    /// Every statement in it sees one moment. A write in it fails.
    async fn begin_read(&self) -> Result<Box<dyn Tx>>;
    /// Whether the database answers (readiness).
    async fn ping(&self) -> Result<()>;
    /// After a bulk change (a large MIS batch), brings the planner's statistics of the people
    /// tables up to date, so that R4's plan does not rest on what the tables held before.
    async fn refresh_statistics(&self) -> Result<()>;
    /// What this replica holds to authenticate without a round trip; the store reports every
    /// committed change that bears on it (U5).
    fn auth_cache(&self) -> crate::auth_cache::AuthCache;
    /// Open and idle connections of the pool (`/metrics`).
    fn pool_stats(&self) -> (u32, u32);
    /// Whether per-address quotas live in the store, shared by every replica (PostgreSQL).
    fn shares_quotas(&self) -> bool;
    /// Takes one request from the quota `key` allows (`per_minute`, bursting to as many):
    /// `None` if allowed, else the seconds to wait. One statement, committed at once.
    async fn take_quota(&self, key: &str, per_minute: u32) -> Result<Option<u64>>;
}

/// Why an email was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailError {
    /// Worth retrying (server down, timeout, 4xx).
    Transient(String),
    /// Retrying cannot help (bad address, 5xx rejection).
    Permanent(String),
}

/// Sends one email (the binary's SMTP transport, or the log).
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, to: &str, subject: &str, body: &str)
    -> std::result::Result<(), MailError>;
}

/// Keys shared by every replica: sealed TOTP seeds and token-signing keys.
#[async_trait]
pub trait KeysTx: Send {
    /// TOTP seeds stored before seeds were sealed (no `v1.` prefix).
    async fn unsealed_totp_seeds(&mut self) -> Result<Vec<(OrgId, UserId, String)>>;
    async fn set_totp_seed(&mut self, org: OrgId, user: UserId, sealed: &str) -> Result<()>;
    /// The signing keys not retired, newest first.
    async fn live_signing_keys(&mut self) -> Result<Vec<crate::tokens::SigningKey>>;
    async fn insert_signing_key(&mut self, key: &crate::tokens::SigningKey) -> Result<()>;
    /// Retires every live key but these; answers the retired `kid`s.
    async fn retire_signing_keys_except(&mut self, keep: &[String]) -> Result<Vec<String>>;
}

/// Orgs (T1, T2), their settings, and the org row lock writes serialise on.
#[async_trait]
pub trait OrgsTx: Send {
    async fn insert_org(&mut self, org: &Org) -> Result<()>;
    async fn org_by_slug(&mut self, slug: &str) -> Result<Option<Org>>;
    async fn org_by_id(&mut self, id: OrgId) -> Result<Option<Org>>;
    async fn update_org_settings(&mut self, org: OrgId, settings: &OrgSettings) -> Result<()>;
    /// Serialises changes that could remove the org's last admin (G5) across connections.
    async fn lock_org(&mut self, org: OrgId) -> Result<()>;
    /// Every org (for the digest worker).
    async fn all_orgs(&mut self) -> Result<Vec<Org>>;
    /// An earlier answer to the same idempotency key: (endpoint, request hash, status, body).
    async fn idempotent_response(
        &mut self,
        org: OrgId,
        key: &str,
    ) -> Result<Option<(String, String, u16, String)>>;
    async fn save_idempotent_response(
        &mut self,
        org: OrgId,
        key: &str,
        endpoint: &str,
        request_hash: &str,
        status: u16,
        body: &str,
    ) -> Result<()>;
}

/// Incident categories, their per-group flags (G3), and monitoring marks (R9).
#[async_trait]
pub trait CategoriesTx: Send {
    async fn insert_category(&mut self, category: &Category) -> Result<()>;
    async fn categories(&mut self, org: OrgId) -> Result<Vec<Category>>;
    /// Writes name, parent, sensitivity, position and version where the stored version is
    /// `expected`; false when it was not (a concurrent edit).
    async fn update_category(&mut self, category: &Category, expected: i64) -> Result<bool>;
    /// What refers to a category: sub-categories, incidents, monitored students.
    async fn category_usage(&mut self, org: OrgId, id: CategoryId) -> Result<CategoryUsage>;
    /// Deletes the category with its group flags, notification preferences and monitoring.
    async fn delete_category(&mut self, org: OrgId, id: CategoryId) -> Result<()>;
    /// The groups' flags on one category.
    async fn category_flags(
        &mut self,
        org: OrgId,
        category: CategoryId,
    ) -> Result<Vec<(GroupId, crate::permission::CategoryFlags)>>;
    /// Gives these groups flags on a category that none of them has flags on yet (a new one);
    /// each group's version moves on.
    async fn grant_category_flags(
        &mut self,
        org: OrgId,
        category: CategoryId,
        grants: &[(GroupId, crate::permission::CategoryFlags)],
    ) -> Result<()>;
    /// Of these students, which are monitored for which of these categories.
    async fn monitored(
        &mut self,
        org: OrgId,
        students: &[StudentId],
        categories: &[CategoryId],
    ) -> Result<Vec<(StudentId, CategoryId)>>;
    /// Marks or unmarks; true when something changed.
    async fn set_monitored(
        &mut self,
        org: OrgId,
        student: StudentId,
        category: CategoryId,
        monitored: bool,
        by: UserId,
    ) -> Result<bool>;
}

/// User groups (G1-G5).
#[async_trait]
pub trait UserGroupsTx: Send {
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
    /// G5: active users whose active group holds `admin.manage_system`.
    async fn count_active_admins(&mut self, org: OrgId) -> Result<u64>;
}

/// User accounts (U1-U6).
#[async_trait]
pub trait UsersTx: Send {
    async fn insert_user(&mut self, user: &User) -> Result<()>;
    async fn user(&mut self, org: OrgId, id: UserId) -> Result<Option<User>>;
    /// The account, its row locked until the transaction ends (PostgreSQL; SQLite has one
    /// writer): concurrent writers of one account queue instead of losing a version race.
    async fn user_for_update(&mut self, org: OrgId, id: UserId) -> Result<Option<User>>;
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
}

/// Sessions and refresh tokens (A1), login throttling (A2), recovery codes (A5), single-use tokens (U3, A6).
#[async_trait]
pub trait SessionsTx: Send {
    async fn insert_session(&mut self, session: &Session) -> Result<()>;
    async fn auth_facts(&mut self, session: SessionId) -> Result<Option<AuthFacts>>;
    async fn revoke_session(&mut self, session: SessionId) -> Result<()>;
    /// Ends every live session of the org but `keep`; answers how many ended.
    async fn revoke_org_sessions(&mut self, org: OrgId, keep: SessionId) -> Result<u64>;
    /// A8: ends the org's live sessions opened by password but `keep` (with `admins_too`
    /// false, only those of accounts whose group does not hold `admin.manage_system`); how
    /// many.
    async fn revoke_password_sessions(
        &mut self,
        org: OrgId,
        admins_too: bool,
        keep: SessionId,
    ) -> Result<u64>;
    /// The account's live sessions (not revoked, not expired), newest first.
    async fn live_sessions(&mut self, org: OrgId, user: UserId) -> Result<Vec<Session>>;
    /// Ends every live session of the account but `keep`; answers how many ended.
    async fn revoke_other_sessions(
        &mut self,
        org: OrgId,
        user: UserId,
        keep: SessionId,
    ) -> Result<u64>;
    async fn insert_refresh_token(&mut self, token: &RefreshToken) -> Result<()>;
    async fn refresh_token(&mut self, hash: &str) -> Result<Option<RefreshToken>>;
    /// Marks the token spent; false if it already was (a concurrent refresh won).
    async fn spend_refresh_token(&mut self, hash: &str) -> Result<bool>;
    async fn throttle(&mut self, org: OrgId, key: &str) -> Result<Option<LoginThrottle>>;
    /// Counts one more failure, atomically (concurrent failures all count), and answers the
    /// counter as it now is.
    async fn record_login_failure(&mut self, org: OrgId, key: &str) -> Result<LoginThrottle>;
    async fn lock_login(
        &mut self,
        org: OrgId,
        key: &str,
        until: time::OffsetDateTime,
    ) -> Result<()>;
    async fn clear_throttle(&mut self, org: OrgId, key: &str) -> Result<()>;
    async fn replace_recovery_codes(
        &mut self,
        org: OrgId,
        user: UserId,
        hashes: &[String],
    ) -> Result<()>;
    /// Spends a recovery code; false if no unspent code has this hash.
    async fn spend_recovery_code(&mut self, org: OrgId, user: UserId, hash: &str) -> Result<bool>;
    async fn insert_action_token(&mut self, token: &ActionToken) -> Result<()>;
    async fn action_token(&mut self, hash: &str) -> Result<Option<ActionToken>>;
    /// Spends the token; false if it already was.
    async fn spend_action_token(&mut self, hash: &str) -> Result<bool>;
    /// Ends every unspent token of that purpose for the user (a new one replaces them).
    async fn revoke_action_tokens(
        &mut self,
        org: OrgId,
        user: UserId,
        purpose: TokenPurpose,
    ) -> Result<()>;
}

/// Staff records (S1-S4) and their links to accounts.
#[async_trait]
pub trait StaffTx: Send {
    async fn insert_staff(&mut self, staff: &StaffMember) -> Result<()>;
    async fn link_staff(&mut self, org: OrgId, user: UserId, staff: StaffId) -> Result<()>;
    async fn staff_member(&mut self, org: OrgId, id: StaffId) -> Result<Option<StaffMember>>;
    async fn staff(&mut self, org: OrgId, query: &StaffQuery) -> Result<(Vec<StaffMember>, u64)>;
    async fn update_staff(&mut self, staff: &StaffMember, expected_version: i64) -> Result<bool>;
    async fn unlink_staff(&mut self, org: OrgId, user: UserId) -> Result<()>;
    /// S3: staff whose end date is before `today` while an account linked to them is active.
    async fn leavers(&mut self, org: OrgId, today: time::Date) -> Result<Vec<StaffMember>>;
    async fn mis_staff(&mut self, org: OrgId) -> Result<Vec<StaffMember>>;
    async fn insert_staff_many(&mut self, staff: &[StaffMember]) -> Result<()>;
}

/// Pupils and their groups (R1-R3), as the MIS sends them and as admins keep them.
#[async_trait]
pub trait StudentsTx: Send {
    async fn insert_student(&mut self, student: &Student) -> Result<()>;
    async fn insert_student_group(&mut self, group: &StudentGroup) -> Result<()>;
    async fn add_group_member(
        &mut self,
        org: OrgId,
        group: StudentGroupId,
        student: StudentId,
    ) -> Result<()>;
    /// Groups with their member counts.
    async fn student_groups(
        &mut self,
        org: OrgId,
        query: &StudentGroupQuery,
    ) -> Result<(Vec<(StudentGroup, u64)>, u64)>;
    async fn all_students(&mut self, org: OrgId) -> Result<Vec<Student>>;
    async fn insert_students(&mut self, students: &[Student]) -> Result<()>;
    async fn update_student(&mut self, student: &Student) -> Result<()>;
    async fn all_student_groups(&mut self, org: OrgId) -> Result<Vec<StudentGroup>>;
    async fn update_student_group(&mut self, group: &StudentGroup) -> Result<()>;
    async fn all_group_members(&mut self, org: OrgId) -> Result<Vec<(StudentGroupId, StudentId)>>;
    /// Takes these pupils out of these groups and puts those in, in few statements.
    async fn change_group_members(
        &mut self,
        org: OrgId,
        removes: &[(StudentGroupId, StudentId)],
        adds: &[(StudentGroupId, StudentId)],
    ) -> Result<()>;
    /// Students visible under the scope (R4 in SQL), with their group ids.
    async fn students(
        &mut self,
        org: OrgId,
        scope: &StudentScope,
        query: &StudentQuery,
    ) -> Result<(Vec<(Student, Vec<StudentGroupId>)>, u64)>;
    async fn student(
        &mut self,
        org: OrgId,
        id: StudentId,
    ) -> Result<Option<(Student, Vec<StudentGroup>)>>;
    async fn student_group(
        &mut self,
        org: OrgId,
        id: StudentGroupId,
    ) -> Result<Option<(StudentGroup, u64)>>;
    /// The pupils of one group.
    async fn group_members(&mut self, org: OrgId, group: StudentGroupId) -> Result<Vec<StudentId>>;
    /// A group's members changed by hand: its version (ETag) moves on.
    async fn bump_student_group(&mut self, org: OrgId, group: StudentGroupId) -> Result<()>;
    /// R7: pupils on roll in no group of these types that `reader` may see (R5), paged.
    async fn students_without_restricting_group(
        &mut self,
        org: OrgId,
        types: &[StudentGroupType],
        reader: &StudentScope,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<Student>, u64)>;
}

/// Who may see which pupils: allow-lists (R4, R6) and blocks (R5).
#[async_trait]
pub trait RestrictionsTx: Send {
    async fn add_group_access(
        &mut self,
        org: OrgId,
        group: StudentGroupId,
        user: UserId,
    ) -> Result<()>;
    /// R6: the restricting groups whose allow-list names the user.
    async fn access_of_user(&mut self, org: OrgId, user: UserId) -> Result<Vec<StudentGroupId>>;
    /// Of these groups, those whose allow-list names the user.
    async fn allowed_among(
        &mut self,
        org: OrgId,
        user: UserId,
        groups: &[StudentGroupId],
    ) -> Result<Vec<StudentGroupId>>;
    async fn is_blocked(&mut self, org: OrgId, user: UserId, student: StudentId) -> Result<bool>;
    /// Of these pupils, those of the org the scope's user may see (R4, R5), in the query.
    async fn visible_students_among(
        &mut self,
        org: OrgId,
        scope: &StudentScope,
        ids: &[StudentId],
    ) -> Result<Vec<StudentId>>;
    async fn group_access(&mut self, org: OrgId, group: StudentGroupId) -> Result<Vec<UserView>>;
    /// Adds users to an allow-list (already there: unchanged); answers how many were added.
    async fn grant_group_access(
        &mut self,
        org: OrgId,
        group: StudentGroupId,
        users: &[UserId],
    ) -> Result<u64>;
    async fn revoke_group_access(
        &mut self,
        org: OrgId,
        group: StudentGroupId,
        users: &[UserId],
    ) -> Result<u64>;
    /// The blocks on `user` whose pupils `reader` may see (R4, R5), in the query.
    async fn blocks(
        &mut self,
        org: OrgId,
        user: UserId,
        reader: &StudentScope,
    ) -> Result<Vec<(Block, Student)>>;
    /// R5: every block on `user`, for the system's own use (a self-clone carries them).
    async fn all_blocks(&mut self, org: OrgId, user: UserId) -> Result<Vec<Block>>;
    async fn insert_block(&mut self, org: OrgId, block: &Block) -> Result<()>;
    async fn delete_block(&mut self, org: OrgId, user: UserId, student: StudentId) -> Result<bool>;
}

/// The email outbox (N1) and notification preferences.
#[async_trait]
pub trait MailTx: Send {
    /// N1: how many emails wait in the outbox, and when the oldest was written.
    async fn outbox_backlog(&mut self) -> Result<(u64, Option<time::OffsetDateTime>)>;
    async fn enqueue_mail(&mut self, message: &OutboxMessage) -> Result<()>;
    /// Many messages in few statements (an incident's alerts).
    async fn enqueue_mails(&mut self, messages: &[OutboxMessage]) -> Result<()>;
    /// Pending messages due now whose lease has run out, oldest first.
    async fn due_mail(
        &mut self,
        now: time::OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<OutboxMessage>>;
    /// Takes a message for sending until `lease_until`; false if another worker has it.
    async fn claim_mail(
        &mut self,
        id: uuid::Uuid,
        now: time::OffsetDateTime,
        lease_until: time::OffsetDateTime,
    ) -> Result<bool>;
    async fn mail_sent(&mut self, id: uuid::Uuid, at: time::OffsetDateTime) -> Result<()>;
    async fn mail_failed(
        &mut self,
        id: uuid::Uuid,
        attempts: i32,
        retry_at: time::OffsetDateTime,
        error: &str,
    ) -> Result<()>;
    async fn notification_prefs(
        &mut self,
        org: OrgId,
        user: UserId,
    ) -> Result<Vec<(CategoryId, NotificationMode)>>;
    async fn replace_notification_prefs(
        &mut self,
        org: OrgId,
        user: UserId,
        prefs: &[(CategoryId, NotificationMode)],
    ) -> Result<()>;
}

/// Alerts (N2) and daily digests.
#[async_trait]
pub trait AlertsTx: Send {
    /// N2: the users an incident alerts (in SQL: R4, R5, R8 and the preference).
    async fn alert_recipients(
        &mut self,
        org: OrgId,
        audience: &AlertAudience,
    ) -> Result<Vec<AlertRecipient>>;
    async fn insert_alerts(&mut self, alerts: &[Alert]) -> Result<()>;
    /// A user's alerts, unread first, newest first, after `after`.
    async fn alerts(
        &mut self,
        org: OrgId,
        user: UserId,
        after: Option<AlertCursor>,
        limit: u64,
    ) -> Result<Vec<Alert>>;
    /// N2: the org's active users with an email and a `digest` preference (with its
    /// categories) whose digest of `day` is not yet recorded.
    async fn digest_subscribers(&mut self, org: OrgId, day: &str) -> Result<Vec<DigestSubscriber>>;
    /// When the user's latest digest before the one of `day` was sent, if ever.
    async fn last_digest(
        &mut self,
        org: OrgId,
        user: UserId,
        day: &str,
    ) -> Result<Option<time::OffsetDateTime>>;
    /// Records the user's digest of `day`; false when one is already recorded (by anyone).
    async fn claim_digest(
        &mut self,
        org: OrgId,
        user: UserId,
        day: &str,
        at: time::OffsetDateTime,
    ) -> Result<bool>;
    /// N2: what [`DigestQuery`] names, oldest first.
    async fn digest_items(&mut self, org: OrgId, q: &DigestQuery) -> Result<Vec<DigestItem>>;
    /// Marks one of the user's alerts read (once); false when the user has no such alert.
    async fn mark_alert_read(
        &mut self,
        org: OrgId,
        user: UserId,
        id: AlertId,
        at: time::OffsetDateTime,
    ) -> Result<bool>;
}

/// Service accounts and their keys (A7).
#[async_trait]
pub trait ServiceAccountsTx: Send {
    async fn insert_service_account(
        &mut self,
        account: &ServiceAccount,
        key_hash: &str,
    ) -> Result<()>;
    async fn service_accounts(&mut self, org: OrgId) -> Result<Vec<ServiceAccount>>;
    async fn service_account(
        &mut self,
        org: OrgId,
        id: ServiceAccountId,
    ) -> Result<Option<ServiceAccount>>;
    async fn service_account_by_key(&mut self, key_hash: &str) -> Result<Option<ServiceAccount>>;
    async fn revoke_service_account(&mut self, org: OrgId, id: ServiceAccountId) -> Result<()>;
    async fn touch_service_account(
        &mut self,
        id: ServiceAccountId,
        at: time::OffsetDateTime,
    ) -> Result<()>;
}

/// SCIM 2.0: filtered in the query; accounts deleted over SCIM are left out.
#[async_trait]
pub trait ScimTx: Send {
    async fn scim_users(
        &mut self,
        org: OrgId,
        filter: Option<&crate::scim_filter::ScimFilter>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<UserView>, u64)>;
    async fn scim_groups(
        &mut self,
        org: OrgId,
        filter: Option<&crate::scim_filter::ScimFilter>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<UserGroup>, u64)>;
    async fn members_of_groups(
        &mut self,
        org: OrgId,
        groups: &[GroupId],
    ) -> Result<Vec<(GroupId, UserId)>>;
}

/// Incidents (R8).
#[async_trait]
pub trait IncidentsTx: Send {
    async fn insert_incident(&mut self, incident: &Incident) -> Result<()>;
    async fn incident(&mut self, org: OrgId, id: IncidentId) -> Result<Option<Incident>>;
    /// Incidents in these categories about pupils the scope's user may see (R4, R5 in SQL).
    async fn incidents(
        &mut self,
        org: OrgId,
        scope: &StudentScope,
        categories: &[CategoryId],
        student: Option<StudentId>,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<Incident>, u64)>;
}

/// The audit log (AU1-AU4) and its chain (AU3).
#[async_trait]
pub trait AuditTx: Send {
    /// Appends the entry to its org's hash chain (the entry's own `chain` is ignored), with
    /// what it is about (AU4).
    async fn insert_audit(&mut self, entry: &AuditEntry, about: &[AuditAbout]) -> Result<()>;
    /// Entries of the org in chain order, from place `after_seq + 1`.
    async fn audit_chain(
        &mut self,
        org: OrgId,
        after_seq: i64,
        limit: u64,
    ) -> Result<Vec<AuditEntry>>;
    /// An entry of the org outside the chain (none, unless rows were written around the store).
    async fn unchained_audit(&mut self, org: OrgId) -> Result<Option<AuditEntry>>;
    /// The org's last place and hash, if it has entries.
    async fn audit_head(&mut self, org: OrgId) -> Result<Option<(i64, String)>>;
    async fn audit(&mut self, org: OrgId, query: &AuditQuery) -> Result<Vec<AuditEntry>>;
}

/// One transaction: the sum of every area's statements (a service holds a `Box<dyn Tx>` and
/// calls any area's methods on it). The store implements each area in a file of its own.
#[async_trait]
pub trait Tx:
    KeysTx
    + OrgsTx
    + CategoriesTx
    + UserGroupsTx
    + UsersTx
    + SessionsTx
    + StaffTx
    + StudentsTx
    + RestrictionsTx
    + MailTx
    + AlertsTx
    + ServiceAccountsTx
    + ScimTx
    + IncidentsTx
    + AuditTx
    + SsoTx
    + DecisionsTx
    + CatalogueTx
    + Send
{
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// A8: single sign-on. Providers per org; links from a provider's account to a Keyholder
/// account; flows in progress and one-time codes, each spent by taking it (once, whichever
/// replica asks first).
#[async_trait]
pub trait SsoTx: Send {
    async fn identity_providers(&mut self, org: OrgId) -> Result<Vec<IdentityProvider>>;
    async fn identity_provider(
        &mut self,
        org: OrgId,
        id: IdentityProviderId,
    ) -> Result<Option<IdentityProvider>>;
    async fn insert_identity_provider(&mut self, p: &IdentityProvider) -> Result<()>;
    async fn update_identity_provider(&mut self, p: &IdentityProvider) -> Result<()>;
    /// Deletes the provider with its links, states and codes; false when there was none.
    async fn delete_identity_provider(
        &mut self,
        org: OrgId,
        id: IdentityProviderId,
    ) -> Result<bool>;
    async fn sso_link(
        &mut self,
        provider: IdentityProviderId,
        subject: &str,
    ) -> Result<Option<SsoLink>>;
    async fn sso_link_of_user(
        &mut self,
        provider: IdentityProviderId,
        user: UserId,
    ) -> Result<Option<SsoLink>>;
    async fn insert_sso_link(&mut self, link: &SsoLink) -> Result<()>;
    /// The account SCIM provisioned with this `externalId` (not deleted over SCIM).
    async fn user_by_external_id(&mut self, org: OrgId, external_id: &str) -> Result<Option<User>>;
    /// Active accounts whose group holds `admin.manage_system` and which have an SSO link.
    async fn count_sso_linked_admins(&mut self, org: OrgId) -> Result<u64>;
    async fn insert_sso_state(&mut self, s: &SsoState) -> Result<()>;
    /// Takes (deletes) the flow with this state hash, if it is there and unexpired.
    async fn take_sso_state(&mut self, hash: &str) -> Result<Option<SsoState>>;
    async fn insert_sso_code(&mut self, c: &SsoCode) -> Result<()>;
    /// The unexpired one-time code with this hash, left in place.
    async fn sso_code(&mut self, hash: &str) -> Result<Option<SsoCode>>;
    /// Drops a provider's links (its issuer, tenant or client changed: a `sub` names someone
    /// else there); how many went.
    async fn delete_sso_links(&mut self, provider: IdentityProviderId) -> Result<u64>;
    /// Drops a provider's flows in progress and unspent one-time codes.
    async fn delete_sso_flows(&mut self, provider: IdentityProviderId) -> Result<()>;
    /// Drops the account's unspent one-time codes from the provider.
    async fn delete_sso_codes_of(
        &mut self,
        provider: IdentityProviderId,
        user: UserId,
    ) -> Result<()>;
    /// Ends the account's live sessions opened through identity providers; how many.
    async fn revoke_sso_sessions(&mut self, org: OrgId, user: UserId) -> Result<u64>;
    /// Every link of the account (any provider).
    async fn sso_links_of_user(&mut self, user: UserId) -> Result<Vec<SsoLink>>;
    /// Removes the account's link to the provider; false when there was none.
    async fn delete_sso_link(&mut self, provider: IdentityProviderId, user: UserId)
    -> Result<bool>;
    /// Takes (deletes) the one-time code with this hash, if it is there and unexpired.
    async fn take_sso_code(&mut self, hash: &str) -> Result<Option<SsoCode>>;
}

/// R10 in bulk: the facts of many decisions, each kind in one statement.
#[async_trait]
pub trait DecisionsTx: Send {
    /// The org's accounts among these ids.
    async fn users_among(&mut self, org: OrgId, ids: &[UserId]) -> Result<Vec<User>>;
    /// Every user group of the org, with its category flags.
    async fn all_groups(&mut self, org: OrgId) -> Result<Vec<UserGroup>>;
    /// The org's pupils among these ids, each with its groups.
    async fn students_among(
        &mut self,
        org: OrgId,
        ids: &[StudentId],
    ) -> Result<Vec<(Student, Vec<StudentGroup>)>>;
    /// R3: which of these users are on the allow-lists of which of these groups.
    async fn access_among(
        &mut self,
        org: OrgId,
        users: &[UserId],
        groups: &[StudentGroupId],
    ) -> Result<Vec<(UserId, StudentGroupId)>>;
    /// R5: which of these pupils are blocked for which of these users.
    async fn blocks_among(
        &mut self,
        org: OrgId,
        users: &[UserId],
        students: &[StudentId],
    ) -> Result<Vec<(UserId, StudentId)>>;
}

/// Issue 16: the permissions other products registered in an org's catalogue.
#[async_trait]
pub trait CatalogueTx: Send {
    /// By key.
    async fn registered_permissions(
        &mut self,
        org: OrgId,
    ) -> Result<Vec<crate::permission::RegisteredPermission>>;
    /// Inserts the permission or writes its level and description; true when it is new.
    async fn put_registered_permission(
        &mut self,
        org: OrgId,
        permission: &crate::permission::RegisteredPermission,
    ) -> Result<bool>;
    /// False when there was none.
    async fn delete_registered_permission(&mut self, org: OrgId, key: &str) -> Result<bool>;
}
