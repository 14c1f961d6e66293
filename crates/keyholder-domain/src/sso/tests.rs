use super::*;

fn provider(urls: &[&str]) -> IdentityProvider {
    IdentityProvider {
        id: IdentityProviderId::new(),
        org_id: OrgId::new(),
        kind: ProviderKind::Oidc,
        name: "p".into(),
        issuer: "https://id.example".into(),
        tenant_id: None,
        client_id: "c".into(),
        client_secret_sealed: String::new(),
        allowed_domains: vec![],
        scopes: vec![],
        return_urls: urls.iter().map(|u| u.to_string()).collect(),
        mfa_counts: false,
        created_at: OffsetDateTime::UNIX_EPOCH,
        updated_at: OffsetDateTime::UNIX_EPOCH,
    }
}

#[test]
fn a8_return_to_must_be_under_an_allowed_url_of_the_same_origin() {
    let p = provider(&["https://app.hill.school/sso"]);
    assert!(p.allows_return_to("https://app.hill.school/sso"));
    assert!(p.allows_return_to("https://app.hill.school/sso/done?x=1"));
    assert!(!p.allows_return_to("https://app.hill.school/ssoevil"));
    assert!(!p.allows_return_to("https://app.hill.school.evil.example/sso"));
    assert!(!p.allows_return_to("https://app.hill.school@evil.example/sso"));
    assert!(!p.allows_return_to("http://app.hill.school/sso"));
    assert!(!p.allows_return_to("//evil.example/sso"));
    assert!(!p.allows_return_to("javascript:alert(1)"));
}

#[test]
fn a8_only_public_addresses_are_fetched() {
    let public = |s: &str| public_ip(s.parse().unwrap());
    for ok in [
        "8.8.8.8",
        "20.190.128.1",
        "2606:4700::1",
        "2a00:1450:4009::1",
    ] {
        assert!(public(ok), "{ok}");
    }
    for inside in [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "198.18.0.1",
        "::1",
        "::",
        "fd00::1",
        "fe80::1",
        "fec0::1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",
        "2002:a00:1::1",
        "2001::1",
        "2001:db8::1",
        "ff02::1",
    ] {
        assert!(!public(inside), "{inside}");
    }
    let production = OidcDirectory::new(false);
    assert!(!production.may_fetch("https://[::ffff:a00:1]/x"));
    assert!(
        !production.may_fetch("https://2130706433/x"),
        "decimal 127.0.0.1"
    );
    assert!(!production.may_fetch("https://0x7f.1/x"));
    assert!(!production.may_fetch("https://app.localhost/x"));
}

proptest::proptest! {
    /// Whatever a browser is sent back to stays on an allowed origin, under its path.
    #[test]
    fn a8_return_to_never_leaves_the_allowed_origin(s in "\\PC{0,80}", tail in "[a-z./%;\\\\@?#:-]{0,24}") {
        let p = IdentityProvider::for_return_urls(&["https://app.hill.school/sso"]);
        for candidate in [s.clone(), format!("https://app.hill.school/sso{tail}"), format!("https://app.hill.school{tail}")] {
            if p.allows_return_to(&candidate) {
                let u = web_url(&candidate).expect("parses");
                proptest::prop_assert_eq!(u.host_str(), Some("app.hill.school"));
                proptest::prop_assert!(u.path() == "/sso" || u.path().starts_with("/sso/"), "{}", candidate);
                proptest::prop_assert!(
                    !u.path().split('/').any(|seg| seg == "." || seg.starts_with("..")),
                    "{}",
                    candidate
                );
            }
        }
    }
}

#[test]
fn a8_plain_http_only_to_loopback() {
    assert!(url_allowed("https://login.microsoftonline.com/x/v2.0"));
    assert!(url_allowed("http://127.0.0.1:4000/auth"));
    assert!(url_allowed("http://localhost/auth"));
    assert!(!url_allowed("http://login.example/auth"));
    assert!(!url_allowed("http://127.0.0.1.evil.example/auth"));
    assert!(!url_allowed("ftp://x"));
    let production = OidcDirectory::new(false);
    assert!(production.may_fetch("https://accounts.google.com/.well-known/openid-configuration"));
    assert!(!production.may_fetch("http://127.0.0.1:4000/.well-known/openid-configuration"));
    assert!(OidcDirectory::new(true).may_fetch("http://127.0.0.1:4000/jwks"));
}

#[test]
fn a8_pkce_s256_matches_rfc_7636_appendix_b() {
    assert_eq!(
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}
