//! SCIM representations of accounts and user groups, and back.

use super::error::{ScimError, ScimResult};
use super::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, LIST_SCHEMA, USER_SCHEMA};
use keyholder_domain::ids::{GroupId, UserId};
use keyholder_domain::model::{UserGroup, UserStatus, UserView};
use keyholder_domain::services::{ScimGroupInput, ScimUserInput};
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub fn version(v: i64) -> String {
    format!("W/\"{v}\"")
}

/// The emails the identity provider wrote, while they still agree with the account's email;
/// otherwise the account's email.
fn emails(view: &UserView) -> Option<Value> {
    let u = &view.user;
    let stored = u.scim.as_ref().and_then(|s| s.get("emails")).cloned();
    if let Some(Value::Array(list)) = &stored {
        let primary = list
            .iter()
            .find(|e| e.get("primary") == Some(&Value::Bool(true)))
            .or(list.first())
            .and_then(|e| e.get("value"))
            .and_then(Value::as_str)
            .map(str::to_lowercase);
        if primary == u.email.as_deref().map(str::to_lowercase) {
            return stored;
        }
    }
    u.email
        .as_ref()
        .map(|e| json!([{"value": e, "type": "work", "primary": true}]))
}

pub fn user_json(view: &UserView, base: &str) -> Value {
    let u = &view.user;
    let mut m = Map::new();
    let enterprise = u
        .scim
        .as_ref()
        .and_then(|s| s.get("enterprise"))
        .filter(|e| e.as_object().is_some_and(|o| !o.is_empty()));
    let mut schemas = vec![json!(USER_SCHEMA)];
    if enterprise.is_some() {
        schemas.push(json!(ENTERPRISE_SCHEMA));
    }
    m.insert("schemas".into(), Value::Array(schemas));
    m.insert("id".into(), json!(u.id));
    if let Some(e) = &u.external_id {
        m.insert("externalId".into(), json!(e));
    }
    m.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": rfc3339(u.created_at),
            "lastModified": rfc3339(u.updated_at),
            "location": format!("{base}/Users/{}", u.id),
            "version": version(u.version),
        }),
    );
    m.insert(
        "userName".into(),
        json!(
            u.username
                .clone()
                .or(u.email.clone())
                .unwrap_or_else(|| u.id.to_string())
        ),
    );
    let mut name = Map::new();
    if !u.forename.is_empty() {
        name.insert("givenName".into(), json!(u.forename));
    }
    if !u.surname.is_empty() {
        name.insert("familyName".into(), json!(u.surname));
    }
    if !name.is_empty() {
        m.insert("name".into(), Value::Object(name));
    }
    if let Some(t) = &u.job_title {
        m.insert("title".into(), json!(t));
    }
    m.insert("active".into(), json!(u.status == UserStatus::Active));
    if let Some(e) = emails(view) {
        m.insert("emails".into(), e);
    }
    m.insert(
        "groups".into(),
        json!([{"value": u.user_group_id, "$ref": format!("{base}/Groups/{}", u.user_group_id), "display": view.group_name}]),
    );
    if let Some(e) = enterprise {
        m.insert(ENTERPRISE_SCHEMA.into(), e.clone());
    }
    Value::Object(m)
}

pub fn group_json(g: &UserGroup, members: &[UserId], base: &str) -> Value {
    let mut m = Map::new();
    m.insert("schemas".into(), json!([GROUP_SCHEMA]));
    m.insert("id".into(), json!(g.id));
    if let Some(e) = &g.external_id {
        m.insert("externalId".into(), json!(e));
    }
    m.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": rfc3339(time::OffsetDateTime::UNIX_EPOCH),
            "lastModified": rfc3339(time::OffsetDateTime::UNIX_EPOCH),
            "location": format!("{base}/Groups/{}", g.id),
            "version": version(g.version),
        }),
    );
    m.insert("displayName".into(), json!(g.name));
    if !members.is_empty() {
        m.insert(
            "members".into(),
            Value::Array(
                members
                    .iter()
                    .map(|u| json!({"value": u, "$ref": format!("{base}/Users/{u}"), "type": "User"}))
                    .collect(),
            ),
        );
    }
    Value::Object(m)
}

/// `attributes` / `excludedAttributes` (top-level names, case-insensitive; `id` and `schemas`
/// always stay).
pub fn project(mut v: Value, attributes: &[String], excluded: &[String]) -> Value {
    let top = |a: &String| {
        let a = a.trim();
        let a = a
            .strip_prefix(USER_SCHEMA)
            .or_else(|| a.strip_prefix(GROUP_SCHEMA))
            .map(|r| r.trim_start_matches(':'))
            .unwrap_or(a);
        if a.to_ascii_lowercase().starts_with("urn:") {
            a.to_ascii_lowercase()
        } else {
            a.split('.').next().unwrap_or(a).to_ascii_lowercase()
        }
    };
    if let Value::Object(m) = &mut v {
        if !attributes.is_empty() {
            let keep: Vec<String> = attributes.iter().map(top).collect();
            m.retain(|k, _| {
                let k = k.to_ascii_lowercase();
                k == "id" || k == "schemas" || keep.contains(&k)
            });
        }
        if !excluded.is_empty() {
            let drop: Vec<String> = excluded.iter().map(top).collect();
            m.retain(|k, _| {
                let k = k.to_ascii_lowercase();
                k == "id" || k == "schemas" || !drop.contains(&k)
            });
        }
    }
    v
}

pub fn list(resources: Vec<Value>, total: u64, start_index: u64) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

fn get_ci<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn string(m: &Map<String, Value>, key: &str) -> ScimResult<Option<String>> {
    match get_ci(m, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::bad(
            "invalidValue",
            format!("{key} must be a string"),
        )),
    }
}

/// Entra ID sends booleans as `"True"`/`"False"` in PATCH: both are accepted.
pub fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A User document (POST, PUT, or the result of a PATCH) as the domain's input.
pub fn user_input(doc: &Value) -> ScimResult<ScimUserInput> {
    let m = doc
        .as_object()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "a User is a JSON object"))?;
    let user_name = string(m, "userName")?
        .ok_or_else(|| ScimError::bad("invalidValue", "userName is required"))?;
    let (given_name, family_name) = match get_ci(m, "name") {
        None | Some(Value::Null) => (None, None),
        Some(Value::Object(n)) => (string(n, "givenName")?, string(n, "familyName")?),
        Some(_) => return Err(ScimError::bad("invalidValue", "name must be an object")),
    };
    let active = match get_ci(m, "active") {
        None | Some(Value::Null) => true,
        Some(v) => {
            boolean(v).ok_or_else(|| ScimError::bad("invalidValue", "active must be a boolean"))?
        }
    };
    let mut attributes = Map::new();
    let email = match get_ci(m, "emails") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) if list.is_empty() => None,
        Some(Value::Array(list)) => {
            if list
                .iter()
                .any(|e| !e.is_object() || !e.get("value").is_some_and(Value::is_string))
            {
                return Err(ScimError::bad(
                    "invalidValue",
                    "each of emails needs a string value",
                ));
            }
            if list
                .iter()
                .filter(|e| e.get("primary") == Some(&Value::Bool(true)))
                .count()
                > 1
            {
                return Err(ScimError::bad("invalidValue", "at most one primary email"));
            }
            attributes.insert("emails".into(), Value::Array(list.clone()));
            list.iter()
                .find(|e| e.get("primary") == Some(&Value::Bool(true)))
                .or(list.first())
                .and_then(|e| e.get("value"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        }
        Some(_) => return Err(ScimError::bad("invalidValue", "emails must be a list")),
    };
    match get_ci(m, ENTERPRISE_SCHEMA) {
        None | Some(Value::Null) => {}
        Some(Value::Object(e)) => {
            let mut e = e.clone();
            e.retain(|k, v| k != "schemas" && !v.is_null());
            if !e.is_empty() {
                attributes.insert("enterprise".into(), Value::Object(e));
            }
        }
        Some(_) => {
            return Err(ScimError::bad(
                "invalidValue",
                "the enterprise extension must be an object",
            ));
        }
    }
    Ok(ScimUserInput {
        user_name,
        given_name,
        family_name,
        title: string(m, "title")?,
        active,
        email,
        external_id: string(m, "externalId")?,
        attributes: Some(Value::Object(attributes)),
    })
}

/// The member ids of a Group document (`value`, or the last segment of `$ref`).
pub fn member_ids(v: &Value) -> ScimResult<Vec<UserId>> {
    let Value::Array(list) = v else {
        return Err(ScimError::bad("invalidValue", "members must be a list"));
    };
    let mut out = Vec::new();
    for item in list {
        let raw = item
            .get("value")
            .and_then(Value::as_str)
            .or_else(|| {
                item.get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.rsplit('/').next())
            })
            .ok_or_else(|| ScimError::bad("invalidValue", "each member needs a value"))?;
        let id = uuid::Uuid::parse_str(raw.trim())
            .map_err(|_| ScimError::bad("invalidValue", format!("no user {raw}")))?;
        if !out.contains(&UserId(id)) {
            out.push(UserId(id));
        }
    }
    Ok(out)
}

pub fn group_input(doc: &Value) -> ScimResult<ScimGroupInput> {
    let m = doc
        .as_object()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "a Group is a JSON object"))?;
    let display_name = string(m, "displayName")?
        .ok_or_else(|| ScimError::bad("invalidValue", "displayName is required"))?;
    let members = match get_ci(m, "members") {
        None | Some(Value::Null) => Some(vec![]),
        Some(v) => Some(member_ids(v)?),
    };
    Ok(ScimGroupInput {
        display_name,
        external_id: string(m, "externalId")?,
        members,
    })
}

pub fn user_id(s: &str) -> ScimResult<UserId> {
    uuid::Uuid::parse_str(s)
        .map(UserId)
        .map_err(|_| ScimError::not_found())
}

pub fn group_id(s: &str) -> ScimResult<GroupId> {
    uuid::Uuid::parse_str(s)
        .map(GroupId)
        .map_err(|_| ScimError::not_found())
}
