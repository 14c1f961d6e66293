//! SCIM PATCH paths (RFC 7644 §3.5.2) from any bytes, applied to a user and a group: applied or
//! refused with a SCIM error, never a panic (no slicing inside a character).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    for op in ["add", "replace", "remove"] {
        let message = json!({"Operations": [{"op": op, "path": path, "value": "x"}]});
        let mut user = json!({"userName": "a@x.org", "name": {"givenName": "A"},
                              "emails": [{"type": "work", "value": "a@x.org", "primary": true}]});
        let _ = keyholder_api::apply_scim_patch(&mut user, &message);
        let mut group = json!({"displayName": "SLT", "members": [{"value": "1"}]});
        let _ = keyholder_api::apply_scim_patch(&mut group, &message);
    }
});
