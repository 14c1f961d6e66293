//! SCIM filters (RFC 7644 §3.4.2.2) from any bytes: parsed or refused, never a panic or an
//! overflowed stack. `cargo fuzz run scim_filter -- -max_len=8192` (past the 4096-byte bound).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = keyholder_domain::services::parse_filter(s, true);
        let _ = keyholder_domain::services::parse_filter(s, false);
    }
});
