//! Keyholder's rules: types, the permission catalogue, the policy engine, the services and the
//! ports. No web and no database crate: the API reaches data only through [`services`], and
//! every service method takes the acting [`policy::Subject`] first and asks the engine.

pub mod audit_chain;
pub mod auth_cache;
pub mod defaults;
pub mod digest;
pub mod error;
pub mod ids;
pub mod model;
pub mod password;
pub mod permission;
pub mod policy;
pub mod ports;
pub mod rule;
pub mod scim_filter;
pub mod sealing;
pub mod services;
pub mod sso;
pub mod tokens;
pub mod visibility;

pub use error::{DomainError, FieldError, Result};
