//! Signed access tokens (A1), opaque refresh/recovery secrets kept only as hashes, and TOTP (A5).

use crate::error::{DomainError, Result};
use crate::ids::{OrgId, SessionId, UserId};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: UserId,
    /// The org id and slug (T1).
    pub org: OrgId,
    pub org_slug: String,
    /// The session (its refresh-token family).
    pub sid: SessionId,
    /// The account's token version when issued: bumped to end every session (U5, A6).
    pub ver: i64,
    /// RFC 8176 authentication methods: `pwd`, plus `otp` when a second factor was proved.
    pub amr: Vec<String>,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    pub fn second_factor(&self) -> bool {
        self.amr.iter().any(|m| m == "otp")
    }
}

/// Signs and checks access tokens with a key every replica shares.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn sign(&self, claims: &Claims) -> Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(DomainError::internal)
    }

    /// Any failure (bad signature, expired, malformed) is simply "not authenticated".
    pub fn verify(&self, token: &str) -> Result<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|_| DomainError::Unauthenticated)
    }
}

/// `n` random bytes, URL-safe base64 without padding.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// SHA-256 of a high-entropy secret (refresh tokens, recovery codes, API keys), hex.
/// Those secrets are random, so a fast hash is enough: nothing to brute-force.
pub fn secret_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Ten recovery codes, `xxxxx-xxxxx` from an unambiguous alphabet.
pub fn recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..10)
        .map(|_| {
            let mut s = String::with_capacity(11);
            for i in 0..10 {
                if i == 5 {
                    s.push('-');
                }
                s.push(ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char);
            }
            s
        })
        .collect()
}

/// Normalises a typed recovery code (case, spaces) before hashing.
pub fn normalise_recovery_code(code: &str) -> String {
    code.trim().to_ascii_lowercase().replace(' ', "")
}

pub mod totp {
    use crate::error::{DomainError, Result};
    use totp_rs::{Algorithm, Builder, Secret, Totp};

    pub const ISSUER: &str = "Keyholder";

    fn build(secret_b32: &str, account: &str) -> Result<Totp> {
        let secret = Secret::try_from_base32(secret_b32).map_err(DomainError::internal)?;
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_step_duration(30)
            .with_skew(1)
            .with_secret(secret)
            .with_issuer(Some(ISSUER))
            .with_account_name(account.replace(':', " "))
            .build()
            .map_err(DomainError::internal)
    }

    /// A new 160-bit secret, base32.
    pub fn new_secret() -> String {
        Secret::generate().to_base32()
    }

    /// The otpauth URI and a QR code PNG (base64) for an authenticator app.
    pub fn enrolment(secret_b32: &str, account: &str) -> Result<(String, String)> {
        let totp = build(secret_b32, account)?;
        let uri = totp.to_url().map_err(DomainError::internal)?;
        let qr = totp.to_qr_base64().map_err(DomainError::internal)?;
        Ok((uri, qr))
    }

    /// The time step the code matches at `unix_time` (one step of skew either way), if any.
    pub fn matching_step(secret_b32: &str, code: &str, unix_time: u64) -> Result<Option<i64>> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let totp = build(secret_b32, "x")?;
        Ok(totp.check(&code, unix_time).map(|s| s as i64))
    }

    /// The code for `unix_time` (for tests and the demo).
    pub fn code_at(secret_b32: &str, unix_time: u64) -> Result<String> {
        Ok(build(secret_b32, "x")?.generate(unix_time).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a1_tokens_round_trip_and_a_foreign_key_is_refused() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: UserId::new(),
            org: OrgId::new(),
            org_slug: "demo".into(),
            sid: SessionId::new(),
            ver: 1,
            amr: vec!["pwd".into(), "otp".into()],
            iat: now,
            exp: now + 60,
        };
        let t = keys.sign(&claims).unwrap();
        assert_eq!(keys.verify(&t).unwrap(), claims);
        let other = TokenKeys::new(b"another key another key another k");
        assert!(matches!(
            other.verify(&t),
            Err(DomainError::Unauthenticated)
        ));
        let expired = Claims {
            exp: now - 60,
            ..claims
        };
        let t = keys.sign(&expired).unwrap();
        assert!(keys.verify(&t).is_err());
    }

    #[test]
    fn a5_codes_match_their_step_and_recovery_codes_are_ten_and_distinct() {
        let secret = totp::new_secret();
        let t = 1_800_000_000;
        let code = totp::code_at(&secret, t).unwrap();
        assert_eq!(
            totp::matching_step(&secret, &code, t).unwrap(),
            Some((t / 30) as i64)
        );
        assert_eq!(totp::matching_step(&secret, "12345", t).unwrap(), None);
        let codes = recovery_codes();
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        let (uri, qr) = totp::enrolment(&secret, "head@school.example").unwrap();
        assert!(uri.starts_with("otpauth://totp/"));
        assert!(!qr.is_empty());
    }
}
