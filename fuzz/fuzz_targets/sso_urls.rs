//! A8: the URLs single sign-on takes from outside (`return_to`, issuers and discovery
//! endpoints) from any bytes: parsed or refused, never a panic; what is allowed stays on the
//! allowed origin. `cargo fuzz run sso_urls -- -max_len=4096`.
#![no_main]

use keyholder_domain::sso::{IdentityProvider, OidcDirectory, web_url};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = OidcDirectory::new(false).may_fetch(s);
        if let Some(u) = web_url(s) {
            assert!(!u.as_str().contains(['\r', '\n', '\\']));
        }
        let p = IdentityProvider::for_return_urls(&["https://app.hill.school/sso"]);
        if p.allows_return_to(s) {
            let u = web_url(s).expect("an allowed URL parses");
            assert_eq!(u.host_str(), Some("app.hill.school"));
            assert_eq!(u.scheme(), "https");
        }
    }
});
