//! Staff records (S1-S4).

use super::*;

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

list_of!(StaffPage, StaffOut);

impl From<(StaffMember, bool)> for StaffOut {
    fn from((a, b): (StaffMember, bool)) -> Self {
        StaffOut::new(a, b)
    }
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
