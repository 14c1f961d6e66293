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

/// Every operation's `operationId`: unique and readable, as client generators name their
/// functions by it (issue 13). A route missing here keeps its function's name, and the contract
/// test fails naming it.
pub const OPERATION_IDS: &[(&str, &str, &str)] = &[
    ("get", "/healthz", "checkHealth"),
    ("get", "/readyz", "checkReadiness"),
    ("get", "/metrics", "getMetrics"),
    ("get", "/.well-known/jwks.json", "getJsonWebKeySet"),
    ("post", "/v1/oauth/introspect", "introspectToken"),
    (
        "get",
        "/v1/auth/sso/{org}/{provider_id}/start",
        "startSingleSignOn",
    ),
    ("get", "/v1/auth/sso/callback", "finishSingleSignOn"),
    ("post", "/v1/auth/sso/exchange", "exchangeSingleSignOnCode"),
    ("post", "/v1/me/sso-links", "startOwnSingleSignOnLink"),
    ("get", "/v1/me/sso-links", "listOwnSingleSignOnLinks"),
    (
        "delete",
        "/v1/me/sso-links/{provider_id}",
        "removeOwnSingleSignOnLink",
    ),
    (
        "get",
        "/v1/orgs/{org}/users/{id}/sso-links",
        "listUserSingleSignOnLinks",
    ),
    (
        "delete",
        "/v1/orgs/{org}/users/{id}/sso-links/{provider_id}",
        "removeUserSingleSignOnLink",
    ),
    (
        "get",
        "/v1/orgs/{org}/identity-providers",
        "listIdentityProviders",
    ),
    (
        "post",
        "/v1/orgs/{org}/identity-providers",
        "createIdentityProvider",
    ),
    (
        "get",
        "/v1/orgs/{org}/identity-providers/{id}",
        "getIdentityProvider",
    ),
    (
        "patch",
        "/v1/orgs/{org}/identity-providers/{id}",
        "updateIdentityProvider",
    ),
    (
        "delete",
        "/v1/orgs/{org}/identity-providers/{id}",
        "deleteIdentityProvider",
    ),
    ("post", "/scim/v2/{org}/.search", "scimSearch"),
    ("get", "/scim/v2/{org}/Groups", "scimListGroups"),
    ("post", "/scim/v2/{org}/Groups", "scimCreateGroup"),
    ("get", "/scim/v2/{org}/Groups/{id}", "scimGetGroup"),
    ("put", "/scim/v2/{org}/Groups/{id}", "scimReplaceGroup"),
    ("delete", "/scim/v2/{org}/Groups/{id}", "scimDeleteGroup"),
    ("patch", "/scim/v2/{org}/Groups/{id}", "scimPatchGroup"),
    (
        "get",
        "/scim/v2/{org}/ResourceTypes",
        "scimListResourceTypes",
    ),
    (
        "get",
        "/scim/v2/{org}/ResourceTypes/{id}",
        "scimGetResourceType",
    ),
    ("get", "/scim/v2/{org}/Schemas", "scimListSchemas"),
    ("get", "/scim/v2/{org}/Schemas/{id}", "scimGetSchema"),
    (
        "get",
        "/scim/v2/{org}/ServiceProviderConfig",
        "scimGetServiceProviderConfig",
    ),
    ("get", "/scim/v2/{org}/Users", "scimListUsers"),
    ("post", "/scim/v2/{org}/Users", "scimCreateUser"),
    ("get", "/scim/v2/{org}/Users/{id}", "scimGetUser"),
    ("put", "/scim/v2/{org}/Users/{id}", "scimReplaceUser"),
    ("delete", "/scim/v2/{org}/Users/{id}", "scimDeleteUser"),
    ("patch", "/scim/v2/{org}/Users/{id}", "scimPatchUser"),
    ("post", "/v1/auth/login", "login"),
    ("post", "/v1/auth/logout", "logout"),
    ("post", "/v1/auth/password-reset", "requestPasswordReset"),
    ("post", "/v1/auth/refresh", "refreshTokens"),
    ("post", "/v1/auth/set-password", "setPassword"),
    ("get", "/v1/me", "getMe"),
    ("patch", "/v1/me", "updateMe"),
    ("get", "/v1/me/alerts", "listMyAlerts"),
    ("post", "/v1/me/alerts/{id}/read", "markMyAlertRead"),
    ("post", "/v1/me/password", "changeMyPassword"),
    ("get", "/v1/me/sessions", "listMySessions"),
    ("delete", "/v1/me/sessions/{id}", "endMySession"),
    ("delete", "/v1/me/totp", "removeMySecondFactor"),
    ("post", "/v1/me/totp/confirm", "confirmMySecondFactor"),
    ("post", "/v1/me/totp/setup", "setUpMySecondFactor"),
    ("get", "/v1/permissions", "listPermissions"),
    ("post", "/v1/orgs", "createOrg"),
    ("get", "/v1/orgs/{org}", "getOrg"),
    ("post", "/v1/orgs/{org}/access/check", "checkAccess"),
    (
        "post",
        "/v1/orgs/{org}/access/check-batch",
        "checkAccessBatch",
    ),
    (
        "post",
        "/v1/orgs/{org}/catalogue/permissions",
        "registerPermissions",
    ),
    (
        "get",
        "/v1/orgs/{org}/catalogue/permissions",
        "listRegisteredPermissions",
    ),
    (
        "delete",
        "/v1/orgs/{org}/catalogue/permissions/{key}",
        "unregisterPermission",
    ),
    (
        "get",
        "/v1/orgs/{org}/students/{id}/viewers",
        "listStudentViewers",
    ),
    (
        "get",
        "/v1/orgs/{org}/users/{id}/visible-students",
        "listVisibleStudents",
    ),
    ("get", "/v1/orgs/{org}/audit", "listAuditEntries"),
    ("get", "/v1/orgs/{org}/audit/export", "exportAuditEntries"),
    ("get", "/v1/orgs/{org}/audit/verify", "verifyAuditChain"),
    ("get", "/v1/orgs/{org}/categories", "listCategories"),
    ("post", "/v1/orgs/{org}/categories", "createCategory"),
    ("get", "/v1/orgs/{org}/categories/{id}", "getCategory"),
    ("delete", "/v1/orgs/{org}/categories/{id}", "deleteCategory"),
    ("patch", "/v1/orgs/{org}/categories/{id}", "updateCategory"),
    ("get", "/v1/orgs/{org}/incidents", "listIncidents"),
    ("post", "/v1/orgs/{org}/incidents", "createIncident"),
    ("get", "/v1/orgs/{org}/incidents/{id}", "getIncident"),
    ("put", "/v1/orgs/{org}/mis/staff", "syncMisStaff"),
    (
        "put",
        "/v1/orgs/{org}/mis/student-groups",
        "syncMisStudentGroups",
    ),
    ("put", "/v1/orgs/{org}/mis/students", "syncMisStudents"),
    ("get", "/v1/orgs/{org}/reports/leavers", "listLeavers"),
    (
        "get",
        "/v1/orgs/{org}/reports/students-without-restricted-group",
        "listStudentsWithoutRestrictedGroup",
    ),
    (
        "get",
        "/v1/orgs/{org}/service-accounts",
        "listServiceAccounts",
    ),
    (
        "post",
        "/v1/orgs/{org}/service-accounts",
        "createServiceAccount",
    ),
    (
        "delete",
        "/v1/orgs/{org}/service-accounts/{id}",
        "revokeServiceAccount",
    ),
    ("post", "/v1/orgs/{org}/sessions/end-all", "endAllSessions"),
    ("get", "/v1/orgs/{org}/settings", "getOrgSettings"),
    ("patch", "/v1/orgs/{org}/settings", "updateOrgSettings"),
    ("get", "/v1/orgs/{org}/staff", "listStaff"),
    ("post", "/v1/orgs/{org}/staff", "createStaffMember"),
    ("get", "/v1/orgs/{org}/staff/{id}", "getStaffMember"),
    ("patch", "/v1/orgs/{org}/staff/{id}", "updateStaffMember"),
    ("get", "/v1/orgs/{org}/student-groups", "listStudentGroups"),
    (
        "post",
        "/v1/orgs/{org}/student-groups",
        "createStudentGroup",
    ),
    (
        "get",
        "/v1/orgs/{org}/student-groups/{id}",
        "getStudentGroup",
    ),
    (
        "patch",
        "/v1/orgs/{org}/student-groups/{id}",
        "updateStudentGroup",
    ),
    (
        "post",
        "/v1/orgs/{org}/student-groups/{id}/members",
        "addStudentGroupMembers",
    ),
    (
        "delete",
        "/v1/orgs/{org}/student-groups/{id}/members",
        "removeStudentGroupMembers",
    ),
    (
        "get",
        "/v1/orgs/{org}/student-groups/{id}/access",
        "listStudentGroupAccess",
    ),
    (
        "post",
        "/v1/orgs/{org}/student-groups/{id}/access",
        "grantStudentGroupAccess",
    ),
    (
        "delete",
        "/v1/orgs/{org}/student-groups/{id}/access",
        "revokeStudentGroupAccess",
    ),
    ("get", "/v1/orgs/{org}/students", "listStudents"),
    ("get", "/v1/orgs/{org}/students/picker", "pickStudents"),
    ("get", "/v1/orgs/{org}/students/{id}", "getStudent"),
    (
        "post",
        "/v1/orgs/{org}/students/{id}/monitored-categories",
        "markStudentMonitored",
    ),
    (
        "delete",
        "/v1/orgs/{org}/students/{id}/monitored-categories/{category_id}",
        "unmarkStudentMonitored",
    ),
    ("get", "/v1/orgs/{org}/user-groups", "listUserGroups"),
    ("post", "/v1/orgs/{org}/user-groups", "createUserGroup"),
    ("get", "/v1/orgs/{org}/user-groups/{id}", "getUserGroup"),
    (
        "delete",
        "/v1/orgs/{org}/user-groups/{id}",
        "deleteUserGroup",
    ),
    (
        "patch",
        "/v1/orgs/{org}/user-groups/{id}",
        "updateUserGroup",
    ),
    ("get", "/v1/orgs/{org}/users", "listUsers"),
    ("post", "/v1/orgs/{org}/users", "createUser"),
    ("get", "/v1/orgs/{org}/users/{id}", "getUser"),
    ("patch", "/v1/orgs/{org}/users/{id}", "updateUser"),
    (
        "get",
        "/v1/orgs/{org}/users/{id}/blocked-students",
        "listBlockedStudents",
    ),
    (
        "post",
        "/v1/orgs/{org}/users/{id}/blocked-students",
        "blockStudent",
    ),
    (
        "delete",
        "/v1/orgs/{org}/users/{id}/blocked-students/{student_id}",
        "unblockStudent",
    ),
    ("post", "/v1/orgs/{org}/users/{id}/clone", "cloneUser"),
    (
        "post",
        "/v1/orgs/{org}/users/{id}/deactivate",
        "deactivateUser",
    ),
    (
        "get",
        "/v1/orgs/{org}/users/{id}/effective-permissions",
        "getEffectivePermissions",
    ),
    (
        "post",
        "/v1/orgs/{org}/users/{id}/end-sessions",
        "endUserSessions",
    ),
    ("get", "/v1/orgs/{org}/users/{id}/history", "getUserHistory"),
    (
        "post",
        "/v1/orgs/{org}/users/{id}/make-live",
        "makeUserLive",
    ),
    (
        "get",
        "/v1/orgs/{org}/users/{id}/notification-preferences",
        "getUserNotificationPreferences",
    ),
    (
        "put",
        "/v1/orgs/{org}/users/{id}/notification-preferences",
        "setUserNotificationPreferences",
    ),
    (
        "post",
        "/v1/orgs/{org}/users/{id}/reactivate",
        "reactivateUser",
    ),
    (
        "post",
        "/v1/orgs/{org}/users/{id}/remove-login-details",
        "removeLoginDetails",
    ),
    (
        "post",
        "/v1/orgs/{org}/users/{id}/reset-second-factor",
        "resetSecondFactor",
    ),
    (
        "post",
        "/v1/orgs/{org}/users/{id}/send-invitation",
        "sendInvitation",
    ),
];

/// What a response means when its route says nothing more.
fn status_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted: the work is queued",
        "204" => "Done; no content",
        "400" => "Malformed path, query, header or body",
        "401" => "Not authenticated",
        "403" => "Not allowed (the rule that denied is named)",
        "404" => "Not found, or not visible to the caller",
        "405" => "Method not allowed (see Allow)",
        "409" => "Conflict (the `code` names it)",
        "412" => "The If-Match version is not the current one",
        "413" => "The body is larger than 16 MiB",
        "415" => "The body is not JSON",
        "422" => "Invalid fields, every one named at once",
        "429" => "Too many requests from this address (see Retry-After)",
        "503" => "Not ready",
        _ => "See the problem's `code`",
    }
}

/// Completes every operation's responses and tightens the `If-Match` header's schema.
pub fn complete(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let mut methods = ["get", "put", "post", "delete", "patch"]
            .into_iter()
            .zip([
                item.get.is_some(),
                item.put.is_some(),
                item.post.is_some(),
                item.delete.is_some(),
                item.patch.is_some(),
            ])
            .filter(|(_, present)| *present)
            .map(|(m, _)| m);
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
            let method = methods.next().unwrap_or_default();
            if let Some((_, _, id)) = OPERATION_IDS
                .iter()
                .find(|(m, p, _)| *m == method && *p == path.as_str())
            {
                op.operation_id = Some((*id).to_owned());
            }
            // Spectral's `operation-description`: the summary says it when nothing more does.
            if op.description.as_deref().is_none_or(str::is_empty) {
                op.description = op.summary.clone().or_else(|| Some(path.clone()));
            }
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
            if crate::limits::is_limited(method, path) {
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
            // OpenAPI requires every response to be described.
            for (status, r) in op.responses.responses.iter_mut() {
                if let RefOr::T(r) = r
                    && r.description.is_empty()
                {
                    r.description = status_description(status).to_owned();
                }
            }
        }
    }
    doc.servers = Some(vec![
        utoipa::openapi::ServerBuilder::new()
            .url("/")
            .description(Some("This server"))
            .build(),
    ]);
    doc.info.contact = Some(
        utoipa::openapi::info::ContactBuilder::new()
            .name(Some("Keyholder maintainers"))
            .url(Some("https://keyholder.dev"))
            .build(),
    );
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
