//! The rule ids of `domain.md` (T1, U5, R4 …), as decisions, errors and tests name them: a
//! misspelt rule is a compile error, not a string that matches nothing.

use serde::{Serialize, Serializer};

/// A rule of `domain.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    T1,
    T2,
    U1,
    U2,
    U3,
    U4,
    U5,
    U6,
    U7,
    U8,
    U9,
    U10,
    U11,
    U12,
    G1,
    G2,
    G3,
    G4,
    G5,
    G6,
    A1,
    A2,
    A3,
    A4,
    A5,
    A6,
    A7,
    A8,
    A9,
    S1,
    S2,
    S3,
    S4,
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    R7,
    R8,
    R9,
    R10,
    R11,
    AU1,
    AU2,
    AU3,
    AU4,
    N1,
    N2,
}

impl Rule {
    /// The id as `domain.md` writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Rule::T1 => "T1",
            Rule::T2 => "T2",
            Rule::U1 => "U1",
            Rule::U2 => "U2",
            Rule::U3 => "U3",
            Rule::U4 => "U4",
            Rule::U5 => "U5",
            Rule::U6 => "U6",
            Rule::U7 => "U7",
            Rule::U8 => "U8",
            Rule::U9 => "U9",
            Rule::U10 => "U10",
            Rule::U11 => "U11",
            Rule::U12 => "U12",
            Rule::G1 => "G1",
            Rule::G2 => "G2",
            Rule::G3 => "G3",
            Rule::G4 => "G4",
            Rule::G5 => "G5",
            Rule::G6 => "G6",
            Rule::A1 => "A1",
            Rule::A2 => "A2",
            Rule::A3 => "A3",
            Rule::A4 => "A4",
            Rule::A5 => "A5",
            Rule::A6 => "A6",
            Rule::A7 => "A7",
            Rule::A8 => "A8",
            Rule::A9 => "A9",
            Rule::S1 => "S1",
            Rule::S2 => "S2",
            Rule::S3 => "S3",
            Rule::S4 => "S4",
            Rule::R1 => "R1",
            Rule::R2 => "R2",
            Rule::R3 => "R3",
            Rule::R4 => "R4",
            Rule::R5 => "R5",
            Rule::R6 => "R6",
            Rule::R7 => "R7",
            Rule::R8 => "R8",
            Rule::R9 => "R9",
            Rule::R10 => "R10",
            Rule::R11 => "R11",
            Rule::AU1 => "AU1",
            Rule::AU2 => "AU2",
            Rule::AU3 => "AU3",
            Rule::AU4 => "AU4",
            Rule::N1 => "N1",
            Rule::N2 => "N2",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Rule;

    #[test]
    fn a_rule_is_written_as_domain_md_writes_it() {
        assert_eq!(Rule::AU4.as_str(), "AU4");
        assert_eq!(Rule::R11.to_string(), "R11");
        assert_eq!(
            serde_json::to_value(Rule::G2).ok(),
            Some(serde_json::json!("G2"))
        );
    }
}
