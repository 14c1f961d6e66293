//! RFC 7644 §3.5.2 PATCH, applied to a resource's current document: `add`, `remove`,
//! `replace`; paths `attr`, `attr.sub`, `urn:…:User:attr`, the enterprise extension, and
//! value filters such as `emails[type eq "work"].value` or `members[value eq "…"]`.

use super::error::{ScimError, ScimResult};
use super::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, PATCH_SCHEMA, USER_SCHEMA};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    Replace,
}

/// `attr[sub eq "value"]` in a path.
struct Selector {
    sub: String,
    value: String,
}

struct Path {
    /// The key in the document (`userName`, or the enterprise URN).
    top: String,
    /// A sub-attribute (`givenName`, or an enterprise attribute).
    sub: Option<String>,
    selector: Option<Selector>,
}

fn key_ci(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// The longest path read, in bytes (the longest real one, an enterprise attribute with a
/// filter, is under 200).
pub const MAX_PATH_BYTES: usize = 512;
/// The most operations one PatchOp message may carry.
pub const MAX_OPERATIONS: usize = 1000;

/// `p` without a leading `prefix` (ASCII, any case), if it starts with it. Never slices
/// inside a character: a path is outside input.
fn strip_prefix_ci<'a>(p: &'a str, prefix: &str) -> Option<&'a str> {
    let head = p.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| p.get(prefix.len()..))
        .flatten()
}

fn parse_path(raw: &str) -> ScimResult<Path> {
    if raw.len() > MAX_PATH_BYTES {
        return Err(ScimError::bad(
            "invalidPath",
            format!("a path is at most {MAX_PATH_BYTES} bytes"),
        ));
    }
    let mut p = raw.trim().to_owned();
    for urn in [USER_SCHEMA, GROUP_SCHEMA] {
        if let Some(rest) = strip_prefix_ci(&p, urn).and_then(|r| r.strip_prefix(':'))
            && !rest.is_empty()
        {
            p = rest.to_owned();
        }
    }
    if let Some(rest) = strip_prefix_ci(&p, ENTERPRISE_SCHEMA) {
        let rest = rest.trim_start_matches(':');
        return Ok(Path {
            top: ENTERPRISE_SCHEMA.to_owned(),
            sub: (!rest.is_empty()).then(|| rest.split('.').next().unwrap_or(rest).to_owned()),
            selector: None,
        });
    }
    let (head, selector, tail) = match (p.find('['), p.find(']')) {
        (Some(open), Some(close)) if close > open => {
            // `[` and `]` are ASCII: these indices are character boundaries.
            let inner = p.get(open + 1..close).unwrap_or_default();
            let mut parts = inner.splitn(3, ' ');
            let (sub, op, value) = (parts.next(), parts.next(), parts.next());
            let (Some(sub), Some(op), Some(value)) = (sub, op, value) else {
                return Err(ScimError::bad(
                    "invalidPath",
                    format!("cannot read the filter in {raw}"),
                ));
            };
            if !op.eq_ignore_ascii_case("eq") {
                return Err(ScimError::bad("invalidFilter", "only eq filters in paths"));
            }
            let value = value.trim().trim_matches('"').to_owned();
            let tail = p
                .get(close + 1..)
                .unwrap_or_default()
                .trim_start_matches('.')
                .to_owned();
            (
                p.get(..open).unwrap_or_default().to_owned(),
                Some(Selector {
                    sub: sub.to_owned(),
                    value,
                }),
                (!tail.is_empty()).then_some(tail),
            )
        }
        _ => match p.split_once('.') {
            Some((h, t)) => (h.to_owned(), None, Some(t.to_owned())),
            None => (p.clone(), None, None),
        },
    };
    if head.is_empty() {
        return Err(ScimError::bad(
            "invalidPath",
            format!("cannot read the path {raw}"),
        ));
    }
    Ok(Path {
        top: head,
        sub: tail,
        selector,
    })
}

fn matches(item: &Value, sel: &Selector) -> bool {
    item.as_object()
        .and_then(|o| key_ci(o, &sel.sub).and_then(|k| o.get(&k)))
        .map(|v| match v {
            Value::String(s) => s.eq_ignore_ascii_case(&sel.value),
            other => other.to_string().eq_ignore_ascii_case(&sel.value),
        })
        .unwrap_or(false)
}

fn merge_list(existing: Option<Value>, add: Value) -> Value {
    let mut list = match existing {
        Some(Value::Array(l)) => l,
        _ => vec![],
    };
    let items = match add {
        Value::Array(a) => a,
        other => vec![other],
    };
    for item in items {
        let dup = item
            .get("value")
            .is_some_and(|v| list.iter().any(|e| e.get("value") == Some(v)));
        if !dup {
            list.push(item);
        }
    }
    Value::Array(list)
}

fn set(doc: &mut Map<String, Value>, op: Op, path: &Path, value: Option<Value>) -> ScimResult<()> {
    let top = key_ci(doc, &path.top).unwrap_or_else(|| path.top.clone());
    match (op, &path.selector, &path.sub) {
        (Op::Remove, None, None) => {
            doc.remove(&top);
        }
        (Op::Remove, None, Some(sub)) => {
            if let Some(Value::Object(o)) = doc.get_mut(&top) {
                if let Some(k) = key_ci(o, sub) {
                    o.remove(&k);
                }
                if o.is_empty() {
                    doc.remove(&top);
                }
            }
        }
        (Op::Remove, Some(sel), sub) => {
            if let Some(Value::Array(list)) = doc.get_mut(&top) {
                match sub {
                    None => list.retain(|item| !matches(item, sel)),
                    Some(sub) => {
                        for item in list.iter_mut().filter(|i| matches(i, sel)) {
                            if let Some(o) = item.as_object_mut()
                                && let Some(k) = key_ci(o, sub)
                            {
                                o.remove(&k);
                            }
                        }
                    }
                }
                if list.is_empty() {
                    doc.remove(&top);
                }
            }
        }
        (_, None, None) => {
            let value = value
                .ok_or_else(|| ScimError::bad("invalidValue", "add and replace need a value"))?;
            let multi = matches!(top.to_ascii_lowercase().as_str(), "emails" | "members");
            let new = if op == Op::Add && multi {
                merge_list(doc.remove(&top), value)
            } else if op == Op::Add
                && let (Some(Value::Object(old)), Value::Object(add)) =
                    (doc.get(&top).cloned(), &value)
            {
                let mut merged = old;
                for (k, v) in add {
                    merged.insert(k.clone(), v.clone());
                }
                Value::Object(merged)
            } else {
                value
            };
            doc.insert(top, new);
        }
        (_, None, Some(sub)) => {
            let value = value
                .ok_or_else(|| ScimError::bad("invalidValue", "add and replace need a value"))?;
            let entry = doc.entry(top).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(o) = entry else {
                return Err(ScimError::bad(
                    "invalidPath",
                    format!("{} has no sub-attributes", path.top),
                ));
            };
            let k = key_ci(o, sub).unwrap_or_else(|| sub.clone());
            o.insert(k, value);
        }
        (_, Some(sel), sub) => {
            let value = value
                .ok_or_else(|| ScimError::bad("invalidValue", "add and replace need a value"))?;
            let entry = doc.entry(top).or_insert_with(|| Value::Array(vec![]));
            let Value::Array(list) = entry else {
                return Err(ScimError::bad(
                    "invalidPath",
                    format!("{} is not multi-valued", path.top),
                ));
            };
            let mut found = false;
            for item in list.iter_mut().filter(|i| matches(i, sel)) {
                found = true;
                match (sub, item.as_object_mut()) {
                    (Some(sub), Some(o)) => {
                        let k = key_ci(o, sub).unwrap_or_else(|| sub.clone());
                        o.insert(k, value.clone());
                    }
                    (None, _) => *item = value.clone(),
                    _ => {}
                }
            }
            if !found {
                let mut item = Map::new();
                item.insert(sel.sub.clone(), Value::String(sel.value.clone()));
                match sub {
                    Some(sub) => {
                        item.insert(sub.clone(), value);
                    }
                    None => {
                        if let Value::Object(v) = value {
                            item.extend(v);
                        }
                    }
                }
                list.push(Value::Object(item));
            }
        }
    }
    Ok(())
}

/// Applies a PatchOp message to `doc`.
pub fn apply(doc: &mut Value, message: &Value) -> ScimResult<()> {
    let m = message
        .as_object()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "a PatchOp is a JSON object"))?;
    if let Some(Value::Array(schemas)) = m.get("schemas")
        && !schemas.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA))
    {
        return Err(ScimError::bad(
            "invalidSyntax",
            "schemas must name the PatchOp message",
        ));
    }
    let ops = m
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .and_then(|(_, v)| v.as_array())
        .ok_or_else(|| ScimError::bad("invalidSyntax", "Operations is required"))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::bad(
            "invalidValue",
            format!("a PatchOp carries at most {MAX_OPERATIONS} operations"),
        ));
    }
    let Value::Object(target) = doc else {
        return Err(ScimError::bad(
            "invalidSyntax",
            "the resource is not an object",
        ));
    };
    for raw in ops {
        let op = raw
            .get("op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| ScimError::bad("invalidSyntax", "each operation needs an op"))?;
        let op = match op.as_str() {
            "add" => Op::Add,
            "remove" => Op::Remove,
            "replace" => Op::Replace,
            other => {
                return Err(ScimError::bad(
                    "invalidSyntax",
                    format!("unknown op {other}"),
                ));
            }
        };
        let value = raw.get("value").cloned();
        match raw
            .get("path")
            .and_then(Value::as_str)
            .filter(|p| !p.trim().is_empty())
        {
            Some(path) => set(target, op, &parse_path(path)?, value)?,
            None => {
                if op == Op::Remove {
                    return Err(ScimError::bad("noTarget", "remove needs a path"));
                }
                let Some(Value::Object(values)) = value else {
                    return Err(ScimError::bad(
                        "invalidValue",
                        "without a path the value is an object of attributes",
                    ));
                };
                for (k, v) in values {
                    if k == "schemas" {
                        continue;
                    }
                    set(target, op, &parse_path(&k)?, Some(v))?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(doc: Value, ops: Value) -> Value {
        let mut doc = doc;
        apply(
            &mut doc,
            &json!({"schemas": [PATCH_SCHEMA], "Operations": ops}),
        )
        .unwrap();
        doc
    }

    #[test]
    fn entra_style_operations_apply() {
        let doc = json!({"userName": "a@x.org", "active": true, "emails": [{"type": "work", "value": "a@x.org", "primary": true}]});
        let d = patch(
            doc.clone(),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        );
        assert_eq!(d["active"], "False");
        let d = patch(
            doc.clone(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@x.org"}]),
        );
        assert_eq!(d["emails"][0]["value"], "b@x.org");
        let d = patch(
            doc.clone(),
            json!([{"op": "add", "path": "name.givenName", "value": "Ann"}]),
        );
        assert_eq!(d["name"]["givenName"], "Ann");
        let d = patch(
            doc.clone(),
            json!([{"op": "replace", "value": {"userName": "c@x.org", "name.familyName": "Cole"}}]),
        );
        assert_eq!(d["userName"], "c@x.org");
        assert_eq!(d["name"]["familyName"], "Cole");
        let d = patch(
            doc.clone(),
            json!([{"op": "add", "path": format!("{ENTERPRISE_SCHEMA}:department"), "value": "Maths"}]),
        );
        assert_eq!(d[ENTERPRISE_SCHEMA]["department"], "Maths");
        let d = patch(
            d,
            json!([{"op": "remove", "path": ENTERPRISE_SCHEMA}, {"op": "remove", "path": format!("{ENTERPRISE_SCHEMA}:department")}]),
        );
        assert!(d.get(ENTERPRISE_SCHEMA).is_none());
        let g = json!({"displayName": "SLT", "members": [{"value": "1"}, {"value": "2"}]});
        let g2 = patch(
            g.clone(),
            json!([{"op": "remove", "path": "members[value eq \"1\"]"}]),
        );
        assert_eq!(g2["members"], json!([{"value": "2"}]));
        let g3 = patch(
            g,
            json!([{"op": "add", "path": "members", "value": [{"value": "2"}, {"value": "3"}]}]),
        );
        assert_eq!(g3["members"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn a_multi_byte_character_where_a_schema_name_ends_is_a_path_not_a_panic() {
        for raw in [
            format!("{}é", &USER_SCHEMA[..USER_SCHEMA.len() - 1]),
            format!("{USER_SCHEMA}é"),
            format!("{}éé", &ENTERPRISE_SCHEMA[..ENTERPRISE_SCHEMA.len() - 1]),
            "é".repeat(40),
            format!("{}[é eq \"é\"]é", "é".repeat(5)),
        ] {
            let mut doc = json!({"userName": "a@x.org"});
            let _ = apply(
                &mut doc,
                &json!({"Operations": [{"op": "add", "path": raw, "value": "x"}]}),
            );
        }
        let mut doc = json!({});
        let too_long = "a".repeat(MAX_PATH_BYTES + 1);
        assert!(
            apply(
                &mut doc,
                &json!({"Operations": [{"op": "add", "path": too_long, "value": "x"}]})
            )
            .is_err()
        );
        let ops: Vec<Value> = (0..=MAX_OPERATIONS)
            .map(|_| json!({"op": "add", "path": "title", "value": "x"}))
            .collect();
        assert!(apply(&mut doc, &json!({"Operations": ops})).is_err());
    }

    proptest::proptest! {
        /// Any path at all is applied or refused with a SCIM error; nothing panics.
        #[test]
        fn any_path_applies_or_is_refused(raw in "\\PC{0,200}", op in 0..3usize) {
            let op = ["add", "replace", "remove"][op];
            let mut doc = json!({"userName": "a@x.org", "emails": [{"type": "work", "value": "a@x.org"}]});
            let _ = apply(&mut doc, &json!({"Operations": [{"op": op, "path": raw, "value": "x"}]}));
        }

        /// Paths built from the schema names cut anywhere, with multi-byte characters.
        #[test]
        fn schema_shaped_paths_apply_or_are_refused(
            cut in 0..80usize,
            which in 0..3usize,
            tail in "[é:.\\[\\] a-zA-Z\"]{0,20}",
        ) {
            let urn = [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_SCHEMA][which];
            let raw = format!("{}{tail}", &urn[..cut.min(urn.len())]);
            let mut doc = json!({"displayName": "SLT", "members": []});
            let _ = apply(&mut doc, &json!({"Operations": [{"op": "replace", "path": raw, "value": "x"}]}));
        }
    }
}
