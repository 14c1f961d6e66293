//! Issue 16: a batch of decisions and a registered permission's key from any bytes: parsed or
//! refused, never a panic; at most 1 000 checks kept. `cargo fuzz run check_batch`.
#![no_main]

use keyholder_api::CheckBatchIn;
use keyholder_domain::permission::registered_key_problem;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = registered_key_problem(s);
        let _ = serde_json::from_str::<CheckBatchIn>(s);
    }
});
