//! SCIM 2.0 (RFC 7643/7644) at `/scim/v2/{org}/…`, for identity providers (Microsoft Entra ID,
//! Google, Okta): SCIM's media type, error shape, filters, PATCH and ListResponse here only.
//! The mapping to accounts and user groups is `repr`; PATCH is applied to the current
//! representation and saved as a replacement, so PUT and PATCH obey the same rules.

pub mod discovery;
pub mod error;
pub mod patch;
pub mod repr;
pub mod resources;

pub const CONTENT_TYPE: &str = "application/scim+json";
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The absolute base of an org's SCIM endpoints, as the caller reached it.
pub fn base(req: &actix_web::HttpRequest, org: &str) -> String {
    let info = req.connection_info();
    format!("{}://{}/scim/v2/{org}", info.scheme(), info.host())
}
