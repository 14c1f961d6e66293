//! SCIM 2.0 filters (RFC 7644 §3.4.2.2): `eq`, `ne`, `co`, `sw`, `ew`, `pr`, `and`, `or`,
//! `not (…)` and parentheses, over the attributes Keyholder stores. The store turns the tree
//! into SQL: lists are filtered in the query.

use crate::error::{DomainError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimAttr {
    UserName,
    ExternalId,
    GivenName,
    FamilyName,
    Title,
    Email,
    Active,
    DisplayName,
    Id,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Pr,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ScimValue {
    Str(String),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ScimFilter {
    Cmp {
        attr: ScimAttr,
        op: ScimOp,
        value: ScimValue,
    },
    And(Box<ScimFilter>, Box<ScimFilter>),
    Or(Box<ScimFilter>, Box<ScimFilter>),
    Not(Box<ScimFilter>),
}

fn invalid(msg: impl Into<String>) -> DomainError {
    DomainError::field("filter", "invalid_filter", msg)
}

/// The longest filter read, in bytes; a longer one is refused before it is lexed.
pub const MAX_FILTER_BYTES: usize = 4096;
/// The most comparisons one filter may hold (a provider asks for one, or a handful).
pub const MAX_FILTER_TERMS: usize = 50;
/// How deeply `not` and parentheses may nest. The parser recurses once per level: past this
/// the answer is a 400, never a stack overflow.
pub const MAX_FILTER_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
}

fn lex(s: &str) -> Result<Vec<Tok>> {
    if s.len() > MAX_FILTER_BYTES {
        return Err(invalid(format!(
            "a filter is at most {MAX_FILTER_BYTES} bytes"
        )));
    }
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Tok::Open);
            }
            ')' => {
                chars.next();
                out.push(Tok::Close);
            }
            '"' => {
                chars.next();
                let mut v = String::new();
                loop {
                    match chars.next() {
                        None => return Err(invalid("unterminated string")),
                        Some('\\') => match chars.next() {
                            Some(e) => v.push(e),
                            None => return Err(invalid("unterminated string")),
                        },
                        Some('"') => break,
                        Some(c) => v.push(c),
                    }
                }
                out.push(Tok::Str(v));
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Ok(out)
}

/// Which attribute a path names, for users (`user = true`) or groups.
pub fn attr(path: &str, user: bool) -> Option<ScimAttr> {
    let p = path.to_ascii_lowercase();
    let p = p
        .strip_prefix("urn:ietf:params:scim:schemas:core:2.0:user:")
        .or_else(|| p.strip_prefix("urn:ietf:params:scim:schemas:core:2.0:group:"))
        .unwrap_or(&p)
        .to_owned();
    match (p.as_str(), user) {
        ("id", _) => Some(ScimAttr::Id),
        ("externalid", _) => Some(ScimAttr::ExternalId),
        ("username", true) => Some(ScimAttr::UserName),
        ("name.givenname", true) => Some(ScimAttr::GivenName),
        ("name.familyname", true) => Some(ScimAttr::FamilyName),
        ("title", true) => Some(ScimAttr::Title),
        ("emails" | "emails.value", true) => Some(ScimAttr::Email),
        ("active", true) => Some(ScimAttr::Active),
        ("displayname", false) => Some(ScimAttr::DisplayName),
        _ => None,
    }
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
    user: bool,
    /// `not` and parentheses open around the token being read.
    depth: usize,
    /// Comparisons read so far.
    terms: usize,
}

impl Parser {
    fn peek_word(&self) -> Option<String> {
        match self.toks.get(self.at) {
            Some(Tok::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<ScimFilter> {
        let mut left = self.and()?;
        while self.peek_word().as_deref() == Some("or") {
            self.at += 1;
            let right = self.and()?;
            left = ScimFilter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<ScimFilter> {
        let mut left = self.unary()?;
        while self.peek_word().as_deref() == Some("and") {
            self.at += 1;
            let right = self.unary()?;
            left = ScimFilter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// One more level of `not` or parentheses, within [`MAX_FILTER_DEPTH`].
    fn nested<T>(&mut self, inner: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.depth >= MAX_FILTER_DEPTH {
            return Err(invalid(format!(
                "`not` and parentheses nest at most {MAX_FILTER_DEPTH} deep"
            )));
        }
        self.depth += 1;
        let out = inner(self);
        self.depth -= 1;
        out
    }

    fn unary(&mut self) -> Result<ScimFilter> {
        if self.peek_word().as_deref() == Some("not") {
            self.at += 1;
            return self.nested(|p| Ok(ScimFilter::Not(Box::new(p.unary()?))));
        }
        if self.toks.get(self.at) == Some(&Tok::Open) {
            self.at += 1;
            let inner = self.nested(Self::or)?;
            if self.toks.get(self.at) != Some(&Tok::Close) {
                return Err(invalid("missing )"));
            }
            self.at += 1;
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<ScimFilter> {
        self.terms += 1;
        if self.terms > MAX_FILTER_TERMS {
            return Err(invalid(format!(
                "a filter holds at most {MAX_FILTER_TERMS} comparisons"
            )));
        }
        let Some(Tok::Word(path)) = self.toks.get(self.at).cloned() else {
            return Err(invalid("expected an attribute"));
        };
        self.at += 1;
        let attr =
            attr(&path, self.user).ok_or_else(|| invalid(format!("cannot filter on `{path}`")))?;
        let op = match self.peek_word().as_deref() {
            Some("eq") => ScimOp::Eq,
            Some("ne") => ScimOp::Ne,
            Some("co") => ScimOp::Co,
            Some("sw") => ScimOp::Sw,
            Some("ew") => ScimOp::Ew,
            Some("pr") => ScimOp::Pr,
            Some(other) => return Err(invalid(format!("unsupported operator `{other}`"))),
            None => return Err(invalid("expected an operator")),
        };
        self.at += 1;
        if op == ScimOp::Pr {
            return Ok(ScimFilter::Cmp {
                attr,
                op,
                value: ScimValue::Null,
            });
        }
        let value = match self.toks.get(self.at).cloned() {
            Some(Tok::Str(s)) => ScimValue::Str(s),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => ScimValue::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => ScimValue::Bool(false),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => ScimValue::Null,
            _ => return Err(invalid("expected a value")),
        };
        self.at += 1;
        Ok(ScimFilter::Cmp { attr, op, value })
    }
}

/// Parses a filter for users (`user = true`) or groups.
pub fn parse_filter(s: &str, user: bool) -> Result<ScimFilter> {
    let mut p = Parser {
        toks: lex(s)?,
        at: 0,
        user,
        depth: 0,
        terms: 0,
    };
    let f = p.or()?;
    if p.at != p.toks.len() {
        return Err(invalid("unexpected text after the filter"));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_and_okta_filters_parse() {
        let f = parse_filter(r#"userName eq "a.b@school.org""#, true).unwrap();
        assert_eq!(
            f,
            ScimFilter::Cmp {
                attr: ScimAttr::UserName,
                op: ScimOp::Eq,
                value: ScimValue::Str("a.b@school.org".into())
            }
        );
        let f = parse_filter(
            r#"(externalId eq "x" or name.familyName sw "Ma") and not (active eq false)"#,
            true,
        )
        .unwrap();
        assert!(matches!(f, ScimFilter::And(_, _)));
        assert!(parse_filter(r#"displayName co "SLT""#, false).is_ok());
        assert!(parse_filter(r#"password eq "x""#, true).is_err());
        assert!(parse_filter(r#"userName gt "x""#, true).is_err());
        assert!(parse_filter(r#"userName eq "x" extra"#, true).is_err());
    }

    #[test]
    fn filters_past_their_bounds_are_refused_not_overflowed() {
        let deep = format!("{}userName eq \"x\"", "not ".repeat(3000));
        assert!(parse_filter(&deep, true).is_err());
        let parens = format!("{}userName eq \"x\"{}", "(".repeat(3000), ")".repeat(3000));
        assert!(parse_filter(&parens, true).is_err());
        let wide = vec![r#"userName eq "x""#; 2000].join(" and ");
        assert!(parse_filter(&wide, true).is_err());
        let long = format!(r#"userName eq "{}""#, "é".repeat(MAX_FILTER_BYTES));
        assert!(parse_filter(&long, true).is_err());
        let at_bounds = format!("{}userName eq \"x\"", "not ".repeat(MAX_FILTER_DEPTH));
        assert!(parse_filter(&at_bounds, true).is_ok());
        let many = vec![r#"userName eq "x""#; MAX_FILTER_TERMS].join(" or ");
        assert!(parse_filter(&many, true).is_ok());
    }

    proptest::proptest! {
        /// Any text at all is parsed or refused with a field error; nothing panics.
        #[test]
        fn any_text_parses_or_is_refused(s in "\\PC{0,300}", user: bool) {
            let _ = parse_filter(&s, user);
        }

        /// Text made of the filter's own words, nested at random, never panics either.
        #[test]
        fn filter_shaped_text_parses_or_is_refused(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "not", "(", ")", "and", "or", "userName", "eq", "\"a\"", "pr",
                    "emails[type eq \"work\"]", "true", "\"", "\\", "é", " ",
                ]),
                0..400,
            ),
            user: bool,
        ) {
            let _ = parse_filter(&parts.join(" "), user);
        }
    }
}
