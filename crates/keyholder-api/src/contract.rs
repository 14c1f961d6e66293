//! The documented contract, completed from what every route can answer: the guard's 401, 403
//! and 404, the extractors' 400, 413 and 415, the rate limits' 429; and 405 with `Allow` for a
//! method a documented path does not take.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{Object, Ref, Schema, Type};
use utoipa::openapi::{Content, OpenApi, RefOr, ResponseBuilder};

const PROBLEM: &str = "application/problem+json";

fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM,
            Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem")))),
        )
        .build()
}

/// Adds `status` unless documented; a documented one gets the problem body as another type.
fn ensure(op: &mut Operation, status: &str, description: &str) {
    match op.responses.responses.get_mut(status) {
        None => {
            op.responses
                .responses
                .insert(status.to_owned(), RefOr::T(problem_response(description)));
        }
        Some(RefOr::T(r)) if !r.content.contains_key(PROBLEM) => {
            r.content.insert(
                PROBLEM.to_owned(),
                RefOr::T(Content::new(Some(RefOr::Ref(Ref::from_schema_name(
                    "Problem",
                ))))),
            );
        }
        Some(_) => {}
    }
}

fn rate_limited(path: &str) -> bool {
    path.starts_with("/scim/")
        || matches!(
            path,
            "/v1/auth/login"
                | "/v1/auth/refresh"
                | "/v1/auth/set-password"
                | "/v1/auth/password-reset"
        )
}

/// Completes every operation's responses and tightens the `If-Match` header's schema.
pub fn complete(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        for op in [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            ensure(op, "400", "Malformed path, query, header or body");
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            if secured {
                ensure(op, "401", "Not authenticated");
                ensure(op, "403", "Not allowed (the rule that denied is named)");
            }
            if path.contains('{') {
                ensure(op, "404", "Not found, or not visible to the caller");
            }
            if op.request_body.is_some() {
                ensure(op, "413", "The body is larger than 16 MiB");
                ensure(op, "415", "The body is not JSON");
            }
            let queried = op
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
            if (queried || op.request_body.is_some()) && !path.starts_with("/scim/") {
                ensure(op, "422", "Invalid fields, every one named at once");
            }
            if rate_limited(path) {
                ensure(
                    op,
                    "429",
                    "Too many requests from this address (see Retry-After)",
                );
            }
            for p in op.parameters.iter_mut().flatten() {
                if let RefOr::T(p) = p
                    && let Some(schema) = tightened(p.parameter_in.clone(), &p.name, path)
                {
                    p.schema = Some(RefOr::T(Schema::Object(schema)));
                }
            }
        }
    }
}

/// What the handlers check of a parameter, as its schema says it (so that a client reading the
/// contract knows the bounds).
fn tightened(place: ParameterIn, name: &str, path: &str) -> Option<Object> {
    use utoipa::openapi::schema::{KnownFormat, SchemaFormat};
    let int = |min: isize, max: Option<isize>| {
        let mut o = Object::with_type(Type::Integer);
        o.minimum = Some(utoipa::Number::Int(min));
        o.maximum = max.map(utoipa::Number::Int);
        o
    };
    let pattern = |p: &str| {
        let mut o = Object::with_type(Type::String);
        o.pattern = Some(p.to_owned());
        o
    };
    match (place, name) {
        (ParameterIn::Header, n) if n.eq_ignore_ascii_case("if-match") => {
            // An ETag this server gave (`"3"`, weak `W/"3"`); the bare number is taken too.
            Some(pattern(r#"^(W/)?"?[0-9]+"?$"#))
        }
        (ParameterIn::Query, _) if path.starts_with("/scim/") => None,
        (ParameterIn::Query, "page") => Some(int(1, None)),
        (ParameterIn::Query, "per_page" | "limit") => Some(int(1, Some(200))),
        (ParameterIn::Query, "from" | "to") => {
            let mut o = Object::with_type(Type::String);
            o.format = Some(SchemaFormat::KnownFormat(KnownFormat::DateTime));
            Some(o)
        }
        (ParameterIn::Query, "sort") if path.ends_with("/users") => Some(pattern(
            "^-?(name|job_title|user_group|last_login|password_changed|elevated|admin)$",
        )),
        _ => None,
    }
}

/// The documented paths and their methods, to answer 405 for the others.
pub struct Routes(Vec<(Vec<String>, Vec<Method>)>);

impl Routes {
    pub fn new(doc: &OpenApi) -> Routes {
        Routes(
            doc.paths
                .paths
                .iter()
                .map(|(path, item)| {
                    let mut methods = Vec::new();
                    for (m, op) in [
                        (Method::GET, &item.get),
                        (Method::PUT, &item.put),
                        (Method::POST, &item.post),
                        (Method::DELETE, &item.delete),
                        (Method::PATCH, &item.patch),
                    ] {
                        if op.is_some() {
                            methods.push(m);
                        }
                    }
                    (path.split('/').map(str::to_owned).collect(), methods)
                })
                .collect(),
        )
    }

    /// The methods of the documented path that `path` matches, if any.
    fn methods(&self, path: &str) -> Option<&[Method]> {
        let segs: Vec<&str> = path.split('/').collect();
        self.0.iter().find_map(|(template, methods)| {
            (template.len() == segs.len()
                && template
                    .iter()
                    .zip(&segs)
                    .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty())))
            .then_some(methods.as_slice())
        })
    }
}

/// The default service: 405 with `Allow` for a documented path, else 404.
pub async fn fallback(req: HttpRequest, routes: actix_web::web::Data<Routes>) -> HttpResponse {
    if let Some(methods) = routes.methods(req.path())
        && !methods.contains(req.method())
    {
        let allow = methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let mut res = actix_web::ResponseError::error_response(
            &crate::error::ApiError::MethodNotAllowed(allow.clone()),
        );
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&allow) {
            res.headers_mut().insert(actix_web::http::header::ALLOW, v);
        }
        return res;
    }
    actix_web::ResponseError::error_response(&crate::error::ApiError::RouteNotFound)
}
