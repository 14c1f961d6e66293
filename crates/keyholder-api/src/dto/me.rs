//! The signed-in user's own account and notification preferences.

use super::*;

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
