//! Accounts (U1-U6): their answers, what creates and changes them, and their list.

use super::*;

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

list_of!(UserPage, UserOut);

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
