//! ServiceProviderConfig, ResourceTypes and Schemas: what this server stores, and so what an
//! identity provider may write and read back exactly.

use super::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, repr};
use serde_json::{Value, json};

fn attr(name: &str, kind: &str, extra: Value) -> Value {
    let mut a = json!({
        "name": name, "type": kind, "multiValued": false, "description": "", "required": false,
        "caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
    });
    if let (Value::Object(a), Value::Object(e)) = (&mut a, extra) {
        a.extend(e);
    }
    a
}

fn user_schema() -> Value {
    json!({
        "id": USER_SCHEMA, "name": "User", "description": "A Keyholder account",
        "attributes": [
            attr("userName", "string", json!({"required": true, "uniqueness": "server", "description": "Unique in the organisation; the login"})),
            attr("name", "complex", json!({"description": "The person's names", "subAttributes": [
                attr("givenName", "string", json!({"description": "Forename"})),
                attr("familyName", "string", json!({"description": "Surname"})),
            ]})),
            attr("title", "string", json!({"description": "Job title"})),
            attr("active", "boolean", json!({"required": true, "description": "false deactivates the account: it can no longer log in (true when left out)"})),
            attr("emails", "complex", json!({"multiValued": true, "description": "The primary one is the account's email", "subAttributes": [
                attr("value", "string", json!({})),
                attr("type", "string", json!({"canonicalValues": ["work", "home", "other"]})),
                attr("primary", "boolean", json!({})),
            ]})),
            attr("groups", "complex", json!({"multiValued": true, "mutability": "readOnly", "description": "The account's user group", "subAttributes": [
                attr("value", "string", json!({"mutability": "readOnly"})),
                attr("$ref", "reference", json!({"mutability": "readOnly", "referenceTypes": ["Group"], "caseExact": true})),
                attr("display", "string", json!({"mutability": "readOnly"})),
            ]})),
        ],
    })
}

fn enterprise_schema() -> Value {
    json!({
        "id": ENTERPRISE_SCHEMA, "name": "EnterpriseUser", "description": "Enterprise User",
        "attributes": [
            attr("employeeNumber", "string", json!({})),
            attr("costCenter", "string", json!({})),
            attr("organization", "string", json!({})),
            attr("division", "string", json!({})),
            attr("department", "string", json!({})),
        ],
    })
}

fn group_schema() -> Value {
    json!({
        "id": GROUP_SCHEMA, "name": "Group", "description": "A Keyholder user group (role)",
        "attributes": [
            attr("displayName", "string", json!({"required": true, "uniqueness": "server"})),
            attr("members", "complex", json!({"multiValued": true, "description": "Accounts in the group (each account is in exactly one)", "subAttributes": [
                attr("value", "string", json!({})),
                attr("$ref", "reference", json!({"referenceTypes": ["User"], "caseExact": true})),
                attr("type", "string", json!({"canonicalValues": ["User"]})),
            ]})),
        ],
    })
}

fn with_meta(mut v: Value, kind: &str, location: String) -> Value {
    v["schemas"] = json!([format!("urn:ietf:params:scim:schemas:core:2.0:{kind}")]);
    v["meta"] = json!({"resourceType": kind, "location": location});
    v
}

pub fn schemas(base: &str) -> Vec<Value> {
    [user_schema(), enterprise_schema(), group_schema()]
        .into_iter()
        .map(|s| {
            let id = s["id"].as_str().unwrap_or_default().to_owned();
            with_meta(s, "Schema", format!("{base}/Schemas/{id}"))
        })
        .collect()
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        with_meta(
            json!({"id": "User", "name": "User", "endpoint": "/Users", "description": "Accounts",
                   "schema": USER_SCHEMA, "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": false}]}),
            "ResourceType",
            format!("{base}/ResourceTypes/User"),
        ),
        with_meta(
            json!({"id": "Group", "name": "Group", "endpoint": "/Groups", "description": "User groups", "schema": GROUP_SCHEMA}),
            "ResourceType",
            format!("{base}/ResourceTypes/Group"),
        ),
    ]
}

pub fn service_provider_config(base: &str) -> Value {
    with_meta(
        json!({
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": keyholder_domain::services::SCIM_MAX_COUNT},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken", "name": "Service account key",
                "description": "A Keyholder service account key with scope scim, as a bearer token",
            }],
        }),
        "ServiceProviderConfig",
        format!("{base}/ServiceProviderConfig"),
    )
}

pub fn list_all(items: Vec<Value>) -> Value {
    let n = items.len() as u64;
    repr::list(items, n, 1)
}
