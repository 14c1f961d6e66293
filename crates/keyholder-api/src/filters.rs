//! A list's query string read strictly (api-conventions, Lists; issue 13): a parameter given
//! empty (`status=`) or with a value of the wrong form (`user_group_id=abc`, `page=x`) answers
//! 422 naming it, every such parameter at once, instead of meaning "no filter" or a 400 that
//! names nothing. `q=` empty is the one exception: an empty search box, no text filter.

use crate::error::ApiError;
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use futures_util::future::{Ready, ready};
use keyholder_domain::{DomainError, FieldError};
use serde::de::DeserializeOwned;

/// The parameters a caller may give empty.
const MAY_BE_EMPTY: [&str; 1] = ["q"];

/// The most malformed parameters named in one answer (each costs one more reading).
const MAX_NAMED: usize = 20;

/// `web::Query`, strict: see the module.
pub struct Filters<T>(pub T);

impl<T> Filters<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Filters<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Filters<T> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            parse(req.query_string())
                .map(Filters)
                .map_err(|e| ApiError::from(e).into()),
        )
    }
}

/// Reads `query` as `T`; every empty or malformed parameter is a field error named after it.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, DomainError> {
    let mut errors = Vec::new();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let order: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if v.is_empty() && !MAY_BE_EMPTY.contains(&k.as_ref()) {
            errors.push(FieldError::new(
                &k,
                "empty",
                "give a value, or leave the parameter out",
            ));
        } else {
            pairs.push((k.into_owned(), v.into_owned()));
        }
    }
    // A malformed parameter stops the reading: it is named and left out, and the rest read
    // again, so that each one is named.
    for _ in 0..MAX_NAMED {
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter())
            .finish();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(t) if errors.is_empty() => return Ok(t),
            Ok(_) => break,
            Err(e) => {
                let path = e.path().to_string();
                let message = e.inner().to_string();
                let field = if path.is_empty() || path == "." {
                    "query".to_owned()
                } else {
                    path
                };
                let before = pairs.len();
                pairs.retain(|(k, _)| *k != field);
                errors.push(FieldError::new(&field, "invalid", message));
                if pairs.len() == before {
                    // Not one parameter's fault (a duplicate, an unknown one): named as it is.
                    break;
                }
            }
        }
    }
    // Named in the order the query string gives them.
    errors.sort_by_key(|e| order.iter().position(|k| *k == e.field));
    Err(DomainError::Validation(errors))
}

#[cfg(test)]
mod tests {
    use super::parse;
    use keyholder_domain::DomainError;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Q {
        q: Option<String>,
        status: Option<String>,
        user_group_id: Option<uuid::Uuid>,
        second_factor: Option<bool>,
        page: Option<u64>,
    }

    fn fields(r: Result<Q, DomainError>) -> Vec<(String, String)> {
        match r {
            Err(DomainError::Validation(es)) => es.into_iter().map(|e| (e.field, e.code)).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn empty_and_malformed_parameters_are_each_named() {
        assert!(parse::<Q>("").is_ok());
        assert!(parse::<Q>("q=").is_ok(), "an empty search box");
        let q: Q = parse("q=ab&status=active&page=2").expect("good");
        assert_eq!(q.page, Some(2));
        assert_eq!(
            fields(parse(
                "status=&user_group_id=nope&page=x&second_factor=maybe"
            )),
            [
                ("status".to_owned(), "empty".to_owned()),
                ("user_group_id".to_owned(), "invalid".to_owned()),
                ("page".to_owned(), "invalid".to_owned()),
                ("second_factor".to_owned(), "invalid".to_owned()),
            ]
        );
    }

    proptest! {
        /// Any query string: read, or refused with field errors; never a panic.
        #[test]
        fn any_query_string_is_read_or_refused_by_name(s in ".{0,80}") {
            match parse::<Q>(&s) {
                Ok(_) => {}
                Err(DomainError::Validation(es)) => prop_assert!(!es.is_empty()),
                Err(other) => prop_assert!(false, "{other:?}"),
            }
        }
    }
}
