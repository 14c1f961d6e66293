//! Pupils' groups (R1-R3).

use super::*;

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

list_of!(StudentGroupPage, StudentGroupOut);

impl From<(StudentGroup, u64)> for StudentGroupOut {
    fn from((a, b): (StudentGroup, u64)) -> Self {
        StudentGroupOut::new(a, b)
    }
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
