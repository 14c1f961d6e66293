//! Authentication and the route's declared action, decided before the handler runs.
//!
//! Every protected route names its action once, in its route attribute:
//! `#[get("/users", wrap = "Require(Action::ListUsers)")]`. [`Require`] authenticates the bearer
//! token (401), checks the path's org against the subject's (T1: 404), asks the policy engine
//! about the action (403 with the rule), and only then lets extraction and the handler run, so
//! a malformed body from a stranger is still a 401. Handlers take the subject as [`Authed`],
//! which answers 401 by itself if the guard did not run.

use crate::error::ApiError;
use crate::state::ApiState;
use actix_web::body::BoxBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest, web};
use keyholder_domain::DomainError;
use keyholder_domain::model::RequestContext;
use keyholder_domain::policy::{Action, ServiceSubject, Subject};
use keyholder_domain::services::{Refused, is_service_key};
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

/// The bearer token of a request, if any.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
        Some(token.trim())
    } else {
        None
    }
}

/// Route middleware: authenticate, then the policy engine decides the route's action.
#[derive(Clone, Copy)]
pub struct Require(pub Action);

impl<S> Transform<S, ServiceRequest> for Require
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = Error> + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Transform = RequireService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireService {
            service: Rc::new(service),
            action: self.0,
        }))
    }
}

pub struct RequireService<S> {
    service: Rc<S>,
    action: Action,
}

/// Who a guarded request speaks for: a person, or a service account's key (A7).
enum Principal {
    User(Subject),
    Service(ServiceSubject),
}

async fn decide(req: &ServiceRequest, action: Action) -> Result<Principal, ApiError> {
    let state = req
        .app_data::<web::Data<ApiState>>()
        .ok_or_else(|| DomainError::internal("no state"))?;
    let token = bearer(req.request()).ok_or(DomainError::Unauthenticated)?;
    let org = req.match_info().get("org");
    if is_service_key(token) {
        let service = state.kh.authenticate_service(token).await?;
        if let Err(e) = state.kh.decide_service_route(&service, org, action) {
            refused(req, state, Refused::Service(&service), action, &e).await;
            return Err(e.into());
        }
        return Ok(Principal::Service(service));
    }
    let subject = state.kh.authenticate(token).await?;
    if let Err(e) = state
        .kh
        .decide_route(&subject, org, action)
        .and_then(|d| d.into_result())
    {
        refused(req, state, Refused::User(&subject), action, &e).await;
        return Err(e.into());
    }
    Ok(Principal::User(subject))
}

/// AU1: every refusal on a protected route goes into the audit trail. A failure to write it
/// is logged; the caller is refused either way.
async fn refused(
    req: &ServiceRequest,
    state: &ApiState,
    who: Refused<'_>,
    action: Action,
    error: &DomainError,
) {
    let ctx = context(req.request());
    if let Err(e) = state
        .kh
        .record_refusal(who, action, error, req.method().as_str(), req.path(), &ctx)
        .await
    {
        tracing::error!(error = %e, "could not audit a refused request");
    }
}

impl<S> Service<ServiceRequest> for RequireService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = Error> + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = self.service.clone();
        let action = self.action;
        Box::pin(async move {
            match decide(&req, action).await {
                Ok(Principal::User(subject)) => {
                    req.extensions_mut().insert(subject);
                    service.call(req).await
                }
                Ok(Principal::Service(subject)) => {
                    req.extensions_mut().insert(subject);
                    service.call(req).await
                }
                Err(e) => Ok(req.error_response(e)),
            }
        })
    }
}

/// The authenticated subject of a guarded route.
pub struct Authed(pub Subject);

impl FromRequest for Authed {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Subject>()
                .cloned()
                .map(Authed)
                .ok_or(ApiError::Domain(DomainError::Unauthenticated)),
        )
    }
}

/// The service account of a guarded integration route.
pub struct ServiceAuthed(pub ServiceSubject);

impl FromRequest for ServiceAuthed {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<ServiceSubject>()
                .cloned()
                .map(ServiceAuthed)
                .ok_or(ApiError::Domain(DomainError::Unauthenticated)),
        )
    }
}

/// Who asks on a route open to people and to service accounts alike (R11): the subject the
/// guard let through, either kind.
pub enum Caller {
    User(Subject),
    Service(ServiceSubject),
}

impl Caller {
    pub fn asker(&self) -> keyholder_domain::services::Asker<'_> {
        match self {
            Caller::User(s) => keyholder_domain::services::Asker::User(s),
            Caller::Service(s) => keyholder_domain::services::Asker::Service(s),
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ext = req.extensions();
        ready(match (ext.get::<Subject>(), ext.get::<ServiceSubject>()) {
            (Some(s), _) => Ok(Caller::User(s.clone())),
            (None, Some(s)) => Ok(Caller::Service(s.clone())),
            (None, None) => Err(ApiError::Domain(DomainError::Unauthenticated)),
        })
    }
}

/// `Idempotency-Key` (S4), when sent.
pub struct IdempotencyKey(pub Option<String>);

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(v) = req.headers().get("idempotency-key") else {
            return ready(Ok(IdempotencyKey(None)));
        };
        ready(match v.to_str() {
            Ok(s) if !s.trim().is_empty() && s.len() <= 255 => {
                Ok(IdempotencyKey(Some(s.trim().to_owned())))
            }
            _ => Err(ApiError::MalformedHeader(
                "Idempotency-Key",
                "1 to 255 visible characters".into(),
            )),
        })
    }
}

/// Where a request came from, for the audit trail.
pub struct Ctx(pub RequestContext);

/// The request's id: the caller's `X-Request-Id` when it is sane, else a new one. Echoed in the
/// response and recorded with every audit entry.
#[derive(Clone)]
pub struct RequestId(pub String);

/// The client's address as text, for the audit trail.
fn client_addr(req: &HttpRequest) -> Option<String> {
    crate::peer::client_ip(req).map(|ip| ip.to_string())
}

/// Where the request came from, for the audit trail.
fn context(req: &HttpRequest) -> RequestContext {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    RequestContext {
        ip: client_addr(req),
        request_id,
    }
}

impl FromRequest for Ctx {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Ctx(context(req))))
    }
}

/// App middleware: assigns the request id and logs one line per request.
pub async fn request_log(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<ServiceResponse<impl actix_web::body::MessageBody>, Error> {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let mut res = next.call(req).await?;
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&id) {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            v,
        );
    }
    let status = res.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if status >= 500 {
        tracing::error!(%method, %path, status, ms, request_id = %id, "request");
    } else if matches!(status, 401 | 403 | 413 | 429) {
        // ASVS 16.3.3: refused credentials, refused access, oversized bodies and rate limiting
        // are security events, at a level an operator alerts on.
        tracing::warn!(%method, %path, status, ms, request_id = %id, security_event = true, "request refused");
    } else {
        tracing::info!(%method, %path, status, ms, request_id = %id, "request");
    }
    Ok(res)
}

/// `If-Match: "3"` (or `W/"3"`) → 3. Absent → None (last writer wins).
pub struct IfMatch(pub Option<i64>);

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(v) = req.headers().get(actix_web::http::header::IF_MATCH) else {
            return ready(Ok(IfMatch(None)));
        };
        let parsed = v.to_str().ok().and_then(|s| {
            let s = s.trim();
            let s = s.strip_prefix("W/").unwrap_or(s);
            s.trim_matches('"').parse::<i64>().ok()
        });
        ready(match parsed {
            Some(n) => Ok(IfMatch(Some(n))),
            None => Err(ApiError::MalformedHeader(
                "If-Match",
                "expected an ETag this server gave, such as \"3\"".into(),
            )),
        })
    }
}

/// The ETag of a versioned resource.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// T2: the platform operator's key as the bearer. Extracted before the body, so a stranger's
/// malformed body is still a 401.
pub struct OperatorAuth(pub keyholder_domain::services::Operator);

impl FromRequest for OperatorAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = (|| {
            let state = req
                .app_data::<web::Data<ApiState>>()
                .ok_or_else(|| DomainError::internal("no state"))?;
            let key = bearer(req).ok_or(DomainError::Unauthenticated)?;
            let op = state
                .kh
                .authenticate_operator(state.operator_key.as_deref(), key)?;
            Ok(OperatorAuth(op))
        })();
        ready(result)
    }
}
