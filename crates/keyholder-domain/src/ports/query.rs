//! What the ports' reads take and answer beside the model: list queries and their sorts, the
//! scopes of a read, and small facts about a list.

use crate::ids::*;
use crate::model::*;

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
    /// R11: only the users who may see one pupil.
    pub viewers_of: Option<ViewerScope>,
}

impl UserQuery {
    /// The first page of `per_page` users of the org, by name, nothing filtered.
    pub fn by_name(per_page: u64) -> UserQuery {
        UserQuery {
            q: None,
            status: None,
            user_group_id: None,
            second_factor: None,
            elevated: None,
            admin: None,
            sort: UserSort::Name,
            descending: false,
            page: 1,
            per_page,
            viewers_of: None,
        }
    }
}

/// R11 as a filter of the users' list: active accounts free to act (U5, A3) in a group whose
/// permissions in effect grant the view (G1, G2: the service decides which groups), on the
/// allow-list of each of the pupil's restricting groups (R4), the pupil not blocked (R5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerScope {
    pub groups: Vec<GroupId>,
    pub student: StudentId,
    pub restricting_groups: Vec<StudentGroupId>,
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
    /// Entries naming this staff record, or about it.
    pub staff_id: Option<StaffId>,
    /// `from <= at < to`.
    pub from: Option<time::OffsetDateTime>,
    pub to: Option<time::OffsetDateTime>,
    /// Entries strictly older than this position (newest first).
    pub before: Option<(time::OffsetDateTime, AuditId)>,
    pub limit: u64,
    /// AU4: who reads, so that entries about what they may not see are left out in the query.
    pub reader: AuditReader,
}

/// AU4: what an audit reader may see of the entries bound to pupils and categories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReader {
    /// R4, R5: the pupils the reader may see.
    pub students: StudentScope,
    /// R4: the reader holds `students.view` in effect; without it no entry naming a pupil shows.
    pub sees_students: bool,
    /// R8: the categories whose incidents the reader may read.
    pub incident_categories: Vec<CategoryId>,
    /// R9: the categories whose monitoring marks the reader may see.
    pub mark_categories: Vec<CategoryId>,
    /// R5: the reader may read blocks (an admin); never those on their own account
    /// (`students.user`).
    pub reads_blocks: bool,
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

/// What refers to a category (its deletion is refused while sub-categories or incidents do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CategoryUsage {
    pub sub_categories: u64,
    pub incidents: u64,
    pub monitored_students: u64,
}

/// Lists of pupils are filtered by this scope in the query (R4, R5).
pub use crate::visibility::StudentScope;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentQuery {
    pub q: Option<String>,
    pub on_roll: Option<bool>,
    pub group_id: Option<StudentGroupId>,
    /// R9: only pupils monitored for this category.
    pub monitored_category: Option<CategoryId>,
    /// R11: only pupils this scope may see as well (the admin asking what another user sees).
    pub also_visible_to: Option<StudentScope>,
    pub page: u64,
    pub per_page: u64,
}

/// R5: a pupil blocked for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub user_id: UserId,
    pub student_id: StudentId,
    pub reason: String,
    pub created_by: Option<UserId>,
    pub created_at: time::OffsetDateTime,
}

/// N2: whom an incident alerts: the org's active users, other than its author, whose
/// preference for its top-level category is `mode`, whose active group grants view-incidents on
/// its category (R8), who are not blocked from its pupil (R5) and are on the allow-list of every
/// restricting group the pupil is in (R4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertAudience {
    pub category: CategoryId,
    pub top_category: CategoryId,
    pub student: StudentId,
    pub author: UserId,
    pub mode: NotificationMode,
    pub restricting_types: Vec<StudentGroupType>,
}

/// N2: the incidents recorded in `(since, until]` in these categories, by someone other than
/// the scope's user, that the user may read now: view-incidents on each one's category through
/// `group` (R8) and its pupil visible (R4, R5). At most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestQuery {
    pub scope: StudentScope,
    pub group: GroupId,
    pub categories: Vec<CategoryId>,
    pub since: time::OffsetDateTime,
    pub until: time::OffsetDateTime,
    pub limit: u64,
}

/// Where a page of alerts starts: after this one (unread first, then newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertCursor {
    pub unread: bool,
    pub created_at: time::OffsetDateTime,
    pub id: AlertId,
}
