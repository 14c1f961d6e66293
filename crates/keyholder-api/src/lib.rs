//! How the world talks to Keyholder: actix-web routes, authentication, problem+json and the
//! OpenAPI document. This crate reaches data only through `keyholder_domain::services`.

pub mod contract;
pub mod dto;
pub mod error;
pub mod filters;
pub mod guard;
pub mod limits;
pub mod metrics;
mod middleware;
pub mod peer;
mod routes;
pub mod state;

/// SCIM PATCH applied to a document (the fuzz target `scim_patch_path` drives it).
pub use routes::decisions::CheckBatchIn;
pub use routes::scim::patch::apply as apply_scim_patch;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, Error, HttpRequest, HttpResponse, web};
use error::ApiError;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config, SwaggerUi};

pub use state::ApiState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyholder",
        description = "Access management for school safeguarding and care record systems: who may log in, what each member of staff may do, and which children's records each person may see.\n\nErrors are `application/problem+json` (RFC 9457) with a stable `code`.",
        license(name = "AGPL-3.0-only", identifier = "AGPL-3.0-only")
    ),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Sign-in (A1–A3)"),
        (name = "me", description = "The caller's own account and second factor (A5)"),
        (name = "orgs", description = "Organisations (T1, T2)"),
        (name = "users", description = "Accounts (U1–U11)"),
        (name = "user groups", description = "Roles and permissions (G1–G6)"),
        (name = "categories", description = "Kinds of safeguarding record, a tree (G1, G6)"),
        (name = "staff", description = "Staff records from the MIS (S1–S3)"),
        (name = "students", description = "Pupils, visible under R4/R5 only"),
        (name = "incidents", description = "Safeguarding records (R8)"),
        (name = "restrictions", description = "Student groups and their allow-lists (R2–R7)"),
        (name = "integrations", description = "Service accounts and MIS sync (A7, S4)"),
        (name = "sso", description = "Single sign-on through an org's identity provider (A8)"),
        (name = "scim", description = "SCIM 2.0 for identity providers (RFC 7643/7644), with a `scim` service key"),
        (name = "audit", description = "The audit trail (AU1)"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi
            .components
            .get_or_insert_with(utoipa::openapi::Components::new);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from POST /v1/auth/login"))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "service_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A service account's API key (`kh_…`), for the scopes it holds",
                    ))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "KEYHOLDER_METRICS_TOKEN, when set (else loopback only)",
                    ))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "operator_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The platform operator key (KEYHOLDER_OPERATOR_KEY)"))
                    .build(),
            ),
        );
    }
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(16 * 1024 * 1024)
        .error_handler(|err, _req: &HttpRequest| {
            use actix_web::error::JsonPayloadError as J;
            let e = match &err {
                J::ContentType => ApiError::UnsupportedMediaType,
                J::Overflow { .. } | J::OverflowKnownLength { .. } => ApiError::PayloadTooLarge,
                J::Deserialize(d) => ApiError::MalformedBody(d.to_string()),
                other => ApiError::MalformedBody(other.to_string()),
            };
            e.into()
        })
}

fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(64 * 1024)
        .error_handler(|err, _req: &HttpRequest| {
            use actix_web::error::UrlencodedError as U;
            let e = match &err {
                U::ContentType => ApiError::UnsupportedMediaType,
                U::Overflow { .. } => ApiError::PayloadTooLarge,
                other => ApiError::MalformedBody(other.to_string()),
            };
            e.into()
        })
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _req: &HttpRequest| ApiError::MalformedQuery(err.to_string()).into())
}

fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|err, _req: &HttpRequest| ApiError::MalformedPath(err.to_string()).into())
}

fn documented_app() -> (
    App<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<impl MessageBody>,
            Error = Error,
            InitError = (),
        >,
    >,
    utoipa::openapi::OpenApi,
) {
    use routes::*;
    App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .app_data(json_config())
        .app_data(query_config())
        .app_data(form_config())
        .app_data(path_config())
        .service(ops::healthz)
        .service(ops::jwks)
        .service(oauth::introspect)
        .service(ops::readyz)
        .service(ops::metrics)
        .service(ops::permissions)
        .service(auth::login)
        .service(auth::refresh)
        .service(auth::logout)
        .service(auth::password_reset)
        .service(auth::set_password)
        .service(me::me)
        .service(me::update_me)
        .service(me::change_password)
        .service(me::totp_setup)
        .service(me::totp_confirm)
        .service(me::totp_remove)
        .service(me::sessions)
        .service(me::end_session)
        .service(alerts::list_my_alerts)
        .service(alerts::read_my_alert)
        .service(alerts::get_user_notification_preferences)
        .service(alerts::put_user_notification_preferences)
        .service(orgs::create_org)
        .service(orgs::get_org)
        .service(orgs::get_settings)
        .service(orgs::patch_settings)
        .service(categories::list)
        .service(categories::create)
        .service(categories::get)
        .service(categories::update)
        .service(categories::remove)
        .service(users::list)
        .service(users::create)
        .service(users::get)
        .service(users::update)
        .service(accounts::deactivate)
        .service(accounts::reactivate)
        .service(accounts::remove_login_details)
        .service(accounts::make_live)
        .service(accounts::send_invitation)
        .service(accounts::reset_second_factor)
        .service(accounts::end_sessions)
        .service(accounts::end_all_sessions)
        .service(accounts::clone)
        .service(accounts::history)
        .service(groups::list)
        .service(groups::create)
        .service(groups::get)
        .service(groups::update)
        .service(groups::remove)
        .service(people::list_staff)
        .service(people::get_staff)
        .service(people::create_staff)
        .service(people::update_staff)
        .service(people::leavers)
        .service(people::list_student_groups)
        .service(student_groups::create)
        .service(student_groups::get)
        .service(student_groups::update)
        .service(student_groups::add_members)
        .service(student_groups::remove_members)
        .service(students::picker)
        .service(students::list)
        .service(students::get)
        .service(monitoring::mark)
        .service(monitoring::unmark)
        .service(students::without_restriction)
        .service(students::access)
        .service(students::grant_access)
        .service(students::revoke_access)
        .service(students::blocks)
        .service(students::block)
        .service(students::unblock)
        .service(students::check)
        .service(decisions::check_batch)
        .service(catalogue::register)
        .service(catalogue::list)
        .service(catalogue::unregister)
        .service(decisions::viewers)
        .service(decisions::visible_students)
        .service(students::effective)
        .service(incidents::create)
        .service(incidents::list)
        .service(incidents::get)
        .service(sso::list)
        .service(sso::create)
        .service(sso::get_one)
        .service(sso::update)
        .service(sso::remove)
        .service(sso::start)
        .service(sso::callback)
        .service(sso::exchange)
        .service(sso::link_start)
        .service(sso::own_links)
        .service(sso::remove_own_link)
        .service(sso::user_links)
        .service(sso::remove_user_link)
        .service(integrations::list_service_accounts)
        .service(integrations::create_service_account)
        .service(integrations::revoke_service_account)
        .service(integrations::sync_staff)
        .service(integrations::sync_students)
        .service(integrations::sync_student_groups)
        .service(scim::resources::scim_service_provider_config)
        .service(scim::resources::scim_resource_types)
        .service(scim::resources::scim_resource_type)
        .service(scim::resources::scim_schemas)
        .service(scim::resources::scim_schema)
        .service(scim::resources::list_users)
        .service(scim::resources::create_user)
        .service(scim::resources::get_user)
        .service(scim::resources::replace_user)
        .service(scim::resources::patch_user)
        .service(scim::resources::delete_user)
        .service(scim::resources::list_groups)
        .service(scim::resources::create_group)
        .service(scim::resources::get_group)
        .service(scim::resources::replace_group)
        .service(scim::resources::patch_group)
        .service(scim::resources::delete_group)
        .service(scim::resources::scim_search)
        .service(audit::list)
        .service(audit::export)
        .service(audit::verify)
        .split_for_parts()
}

/// The OpenAPI 3.1 document: the list of registered routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = documented_app().1;
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    contract::complete(&mut doc);
    doc
}

/// The OpenAPI document as every worker serves it: serialised once, with the route table the
/// fallback answers 405 from (issue 11: one copy per process, not a tree per worker).
pub struct Published {
    json: web::Bytes,
    routes: web::Data<contract::Routes>,
}

impl Published {
    pub fn new(doc: &utoipa::openapi::OpenApi) -> Result<web::Data<Published>, serde_json::Error> {
        Ok(web::Data::new(Published {
            json: web::Bytes::from(serde_json::to_vec(doc)?),
            routes: web::Data::new(contract::Routes::new(doc)),
        }))
    }
}

async fn openapi_json(published: web::Data<Published>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(published.json.clone())
}

/// The whole application: the documented routes, `/openapi.json` and the explorer at `/docs`.
pub fn app(
    state: web::Data<ApiState>,
    published: web::Data<Published>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let (app, _) = documented_app();
    let routes = published.routes.clone();
    let read_only = |path: &'static str| {
        web::resource(path).route(web::route().to(routes::scim::resources::method_not_allowed))
    };
    app.app_data(state)
        .app_data(routes)
        .service(read_only("/scim/v2/{org}/ServiceProviderConfig"))
        .service(read_only("/scim/v2/{org}/ResourceTypes"))
        .service(read_only("/scim/v2/{org}/Schemas"))
        .service(
            web::resource("/scim/v2/{org}/{tail:.*}")
                .route(web::route().to(routes::scim::resources::not_found)),
        )
        .service(
            web::resource("/openapi.json")
                .guard(actix_web::guard::Get())
                .to(openapi_json),
        )
        .service(
            SwaggerUi::new("/docs/{_:.*}")
                .config(Config::new(["/openapi.json"]).validator_url("none")),
        )
        .app_data(published)
        .service(web::redirect("/docs", "/docs/"))
        .default_service(web::to(contract::fallback))
        .wrap(actix_web::middleware::from_fn(middleware::rate_limit))
        .wrap(actix_web::middleware::from_fn(middleware::record))
        .wrap(actix_web::middleware::from_fn(middleware::security_headers))
        .wrap(actix_web::middleware::from_fn(guard::request_log))
}
