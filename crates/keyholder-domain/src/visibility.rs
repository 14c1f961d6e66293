//! Who sees which child: the one room for R3, R4, R5, R8 and R9.
//!
//! Everything that decides whether a pupil, an incident or a monitoring mark is shown takes its
//! facts from here: what a restricting group is (R3), the bit each group kind sets in a pupil's
//! kinds mask (the store keeps `students.kinds_mask` with these bits, and the migration that made
//! the column computed it from this table), the scope a list is filtered by, R4's allow-list test
//! as the engine applies it, and which category flag guards incidents (R8) and marks (R9). The
//! store's SQL and the engine are two readings of these definitions; a differential test on both
//! databases holds them equal.

use crate::ids::*;
use crate::model::{OrgSettings, StudentGroup, StudentGroupType};
use crate::permission::CategoryFlags;
use crate::policy::{Decision, Reason, StudentFacts, Subject};
use crate::rule::Rule;

/// The bit each group kind sets in a pupil's kinds mask: the kinds of the pupil's unarchived
/// groups, or-ed together.
pub const KIND_BITS: [(StudentGroupType, i32); 4] = [
    (StudentGroupType::AcademicLevel, 1),
    (StudentGroupType::RegistrationGroup, 2),
    (StudentGroupType::House, 4),
    (StudentGroupType::Custom, 8),
];

/// Every mask a pupil can have: `0..MASKS`.
pub const MASKS: i32 = 1 << KIND_BITS.len();

/// The bit of one kind.
pub fn kind_bit(kind: StudentGroupType) -> i32 {
    KIND_BITS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(0, |(_, b)| *b)
}

/// The mask of a set of kinds.
pub fn mask_of(kinds: impl IntoIterator<Item = StudentGroupType>) -> i32 {
    kinds.into_iter().map(kind_bit).fold(0, |a, b| a | b)
}

/// The masks of pupils in no unarchived group of these kinds (R4: free of restrictions).
pub fn free_masks(restricting: &[StudentGroupType]) -> Vec<i32> {
    let restricting = mask_of(restricting.iter().copied());
    (0..MASKS).filter(|m| m & restricting == 0).collect()
}

/// An SQL expression of a group kind's bit, for the column `kind_column` (the migration that
/// made `kinds_mask` filled it with this).
pub fn kind_bit_sql(kind_column: &str) -> String {
    let arms: String = KIND_BITS
        .iter()
        .map(|(k, b)| format!(" WHEN '{}' THEN {b}", k.as_str()))
        .collect();
    format!("CASE {kind_column}{arms} ELSE 0 END")
}

/// R3: a group restricts access when it is not archived and its kind is one the org chose.
pub fn restricts(group: &StudentGroup, restricting_types: &[StudentGroupType]) -> bool {
    !group.archived && restricting_types.contains(&group.kind)
}

/// The facts R4 needs of one pupil: its restricting groups (R3).
pub fn student_facts(
    id: StudentId,
    groups: &[StudentGroup],
    settings: &OrgSettings,
) -> StudentFacts {
    StudentFacts {
        id,
        restricting_groups: groups
            .iter()
            .filter(|g| restricts(g, &settings.restricted_group_types))
            .map(|g| g.id)
            .collect(),
    }
}

/// What a list of pupils is filtered by in the query (R4, R5): the user, and the org's
/// restricting group types. The store turns it into SQL (`keyholder-store`'s `visibility`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentScope {
    pub user: UserId,
    /// R3: the org's restricting group types.
    pub restricting_types: Vec<StudentGroupType>,
}

impl StudentScope {
    pub fn new(user: UserId, settings: &OrgSettings) -> StudentScope {
        StudentScope {
            user,
            restricting_types: settings.restricted_group_types.clone(),
        }
    }
}

/// R4 as the engine applies it: the user is on the allow-list of every restricting group of
/// the pupil.
pub(crate) fn r4(subject: &Subject, facts: &StudentFacts) -> Result<Reason, Decision> {
    if let Some(g) = facts
        .restricting_groups
        .iter()
        .find(|g| subject.allowed_groups.binary_search(g).is_err())
    {
        return Err(Decision::deny(
            Rule::R4,
            format!("the user is not on the allow-list of restricting group {g}"),
        ));
    }
    Ok(Reason {
        rule: Rule::R4,
        permission: None,
        detail: format!(
            "on the allow-list of all {} restricting groups of the student",
            facts.restricting_groups.len()
        ),
    })
}

/// R5 as the engine applies it: a block beats every permission.
pub(crate) fn r5(subject: &Subject, facts: &StudentFacts) -> Result<(), Decision> {
    if subject.blocked_students.binary_search(&facts.id).is_ok() {
        return Err(Decision::deny(
            Rule::R5,
            format!("student {} is blocked for this user", facts.id),
        ));
    }
    Ok(())
}

/// The category flag that guards a kind of record bound to a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CategoryGuard {
    /// R8: reading an incident.
    ViewIncidents,
    /// R8: recording an incident.
    AddIncidents,
    /// R9: seeing (or setting) a pupil's monitoring mark.
    ViewStudents,
}

impl CategoryGuard {
    pub fn rule(self) -> Rule {
        match self {
            CategoryGuard::ViewIncidents | CategoryGuard::AddIncidents => Rule::R8,
            CategoryGuard::ViewStudents => Rule::R9,
        }
    }

    pub fn flag_name(self) -> &'static str {
        match self {
            CategoryGuard::ViewIncidents => "view incidents",
            CategoryGuard::AddIncidents => "add incidents",
            CategoryGuard::ViewStudents => "view students",
        }
    }

    pub fn holds(self, flags: CategoryFlags) -> bool {
        match self {
            CategoryGuard::ViewIncidents => flags.view_incidents,
            CategoryGuard::AddIncidents => flags.add_incidents,
            CategoryGuard::ViewStudents => flags.view_students,
        }
    }

    /// The categories on which this session holds the flag (after G2), sorted.
    pub fn categories(self, subject: &Subject) -> Vec<CategoryId> {
        let mut out: Vec<CategoryId> = subject
            .category_flags
            .iter()
            .filter(|(_, f)| self.holds(*f))
            .map(|(c, _)| *c)
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r4_free_masks_leave_out_every_restricting_kind() {
        let masks = free_masks(&[StudentGroupType::RegistrationGroup]);
        assert_eq!(masks, vec![0, 1, 4, 5, 8, 9, 12, 13]);
        assert_eq!(
            free_masks(&[
                StudentGroupType::AcademicLevel,
                StudentGroupType::RegistrationGroup,
                StudentGroupType::House,
                StudentGroupType::Custom
            ]),
            vec![0]
        );
        assert_eq!(free_masks(&[]).len(), MASKS as usize);
    }

    #[test]
    fn r3_every_kind_has_its_own_bit_and_the_sql_names_each() {
        let all = mask_of(KIND_BITS.iter().map(|(k, _)| *k));
        assert_eq!(all, MASKS - 1);
        let sql = kind_bit_sql("g.kind");
        for (k, b) in KIND_BITS {
            assert!(sql.contains(&format!("WHEN '{}' THEN {b}", k.as_str())));
        }
    }
}
