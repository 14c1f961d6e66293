//! Signed access tokens (A1), opaque refresh/recovery secrets kept only as hashes, and TOTP (A5).

use crate::error::{DomainError, Result};
use crate::ids::{OrgId, SessionId, UserId};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Who issues access tokens and for whom (`iss`, `aud`), and the JWT `typ` of an access token
/// (RFC 9068): a token of another kind, or meant for another service, is refused.
pub const ISSUER: &str = "keyholder";
pub const AUDIENCE: &str = "keyholder-api";
pub const ACCESS_TYP: &str = "at+jwt";

/// Claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user.
    pub sub: UserId,
    /// The org id and slug (T1).
    pub org: OrgId,
    pub org_slug: String,
    /// The session (its refresh-token family).
    pub sid: SessionId,
    /// The account's token version when issued: bumped to end every session (U5, A6).
    pub ver: i64,
    /// RFC 8176 authentication methods: `pwd` (`fed` through an identity provider), plus `otp`
    /// (`mfa`) when a second factor was proved.
    pub amr: Vec<String>,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    pub fn second_factor(&self) -> bool {
        self.amr.iter().any(|m| m == "otp" || m == "mfa")
    }
}

/// How a key signs: A9's Ed25519 (`EdDSA`), whose public half anyone may verify with from
/// `/.well-known/jwks.json`; or the HS256 secret of keys made before it (and of
/// `KEYHOLDER_JWT_SECRET`), which verify the tokens they signed until those expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    Hs256,
    EdDsa,
}

impl KeyAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlg::Hs256 => "HS256",
            KeyAlg::EdDsa => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<KeyAlg> {
        match s {
            "HS256" => Some(KeyAlg::Hs256),
            "EdDSA" => Some(KeyAlg::EdDsa),
            _ => None,
        }
    }

    fn jwt(self) -> Algorithm {
        match self {
            KeyAlg::Hs256 => Algorithm::HS256,
            KeyAlg::EdDsa => Algorithm::EdDSA,
        }
    }
}

/// A key that signs access tokens, named by the `kid` in each token's header. `secret` is
/// the HS256 secret, or the Ed25519 private key's 32-byte seed.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub alg: KeyAlg,
    pub secret: Vec<u8>,
    pub created_at: time::OffsetDateTime,
    /// Ed25519: the public key, derived once (a derivation per verification would cost more
    /// than the verification).
    public: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key as stored. An Ed25519 seed that is not 32 bytes makes a key that verifies
    /// nothing.
    pub fn new(
        kid: String,
        alg: KeyAlg,
        secret: Vec<u8>,
        created_at: time::OffsetDateTime,
    ) -> SigningKey {
        let public = match alg {
            KeyAlg::EdDsa => ed25519(&secret)
                .map(|k| k.verifying_key().to_bytes().to_vec())
                .unwrap_or_default(),
            KeyAlg::Hs256 => Vec::new(),
        };
        SigningKey {
            kid,
            alg,
            secret,
            created_at,
            public,
        }
    }

    /// A9: a new Ed25519 key with a random `kid`.
    pub fn generate() -> SigningKey {
        SigningKey::new(
            random_token(9),
            KeyAlg::EdDsa,
            random_bytes(32),
            time::OffsetDateTime::now_utc(),
        )
    }

    /// A fixed HS256 secret (`KEYHOLDER_JWT_SECRET`).
    pub fn configured(secret: Vec<u8>) -> SigningKey {
        SigningKey::new(
            "configured".into(),
            KeyAlg::Hs256,
            secret,
            time::OffsetDateTime::UNIX_EPOCH,
        )
    }

    fn ed25519(&self) -> Result<ed25519_dalek::SigningKey> {
        ed25519(&self.secret)
    }

    /// Whether the key can sign and verify (an Ed25519 row whose seed is not 32 bytes cannot).
    pub fn usable(&self) -> bool {
        match self.alg {
            KeyAlg::Hs256 => !self.secret.is_empty(),
            KeyAlg::EdDsa => self.public.len() == 32,
        }
    }

    /// The public half as a JWK (RFC 8037), for `/.well-known/jwks.json`; none for HS256.
    pub fn public_jwk(&self) -> Result<Option<serde_json::Value>> {
        if self.alg != KeyAlg::EdDsa || !self.usable() {
            return Ok(None);
        }
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.public);
        Ok(Some(serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": x,
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })))
    }

    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let mut header = Header::new(self.alg.jwt());
        header.typ = Some(ACCESS_TYP.to_owned());
        header.kid = Some(self.kid.clone());
        let key = match self.alg {
            KeyAlg::Hs256 => EncodingKey::from_secret(&self.secret),
            KeyAlg::EdDsa => {
                use ed25519_dalek::pkcs8::EncodePrivateKey;
                let der = self
                    .ed25519()?
                    .to_pkcs8_der()
                    .map_err(DomainError::internal)?;
                EncodingKey::from_ed_der(der.as_bytes())
            }
        };
        jsonwebtoken::encode(&header, claims, &key).map_err(DomainError::internal)
    }

    /// Checks signature, algorithm (this key's only: no confusion between a secret and a
    /// public key), `exp`, `iss` and `aud`; any failure is simply "not authenticated".
    pub fn verify(&self, token: &str) -> Result<Claims> {
        let mut validation = Validation::new(self.alg.jwt());
        validation.algorithms = vec![self.alg.jwt()];
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        let key = match self.alg {
            KeyAlg::Hs256 => DecodingKey::from_secret(&self.secret),
            KeyAlg::EdDsa if self.public.len() == 32 => DecodingKey::from_ed_der(&self.public),
            KeyAlg::EdDsa => return Err(DomainError::Unauthenticated),
        };
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|_| DomainError::Unauthenticated)
    }
}

fn ed25519(seed: &[u8]) -> Result<ed25519_dalek::SigningKey> {
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| DomainError::internal("an Ed25519 key's seed is not 32 bytes"))?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
}

/// The `kid` of an access token, once its header passes the allow-list: EdDSA, or HS256 from
/// before A9 (no `none`), and `typ` `at+jwt`. The key named must then be of that algorithm.
pub fn access_token_kid(token: &str) -> Result<String> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| DomainError::Unauthenticated)?;
    if !matches!(header.alg, Algorithm::HS256 | Algorithm::EdDSA)
        || header.typ.as_deref() != Some(ACCESS_TYP)
    {
        return Err(DomainError::Unauthenticated);
    }
    header.kid.ok_or(DomainError::Unauthenticated)
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

/// Ten recovery codes, `xxxxx-xxxxx-xxxxx-xxxxx-xxxxx` from an unambiguous alphabet of 32:
/// 125 random bits each, so that a fast hash is enough to keep them (ASVS 6.5.2: 112 bits).
pub fn recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz234567890";
    let mut rng = rand::rng();
    (0..10)
        .map(|_| {
            let mut s = String::with_capacity(29);
            for i in 0..25 {
                if i > 0 && i % 5 == 0 {
                    s.push('-');
                }
                // 32 symbols: the low five bits of a random byte, without bias.
                s.push(ALPHABET[(rng.next_u32() & 31) as usize] as char);
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

    fn claims(exp_in: i64) -> Claims {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: UserId::new(),
            org: OrgId::new(),
            org_slug: "demo".into(),
            sid: SessionId::new(),
            ver: 1,
            amr: vec!["pwd".into(), "otp".into()],
            iat: now,
            exp: now + exp_in,
        }
    }

    #[test]
    fn a1_tokens_round_trip_and_a_foreign_key_or_an_expired_token_is_refused() {
        let key = SigningKey::generate();
        let c = claims(60);
        let t = key.sign(&c).unwrap();
        assert_eq!(access_token_kid(&t).unwrap(), key.kid);
        assert_eq!(key.verify(&t).unwrap(), c);
        assert!(matches!(
            SigningKey::generate().verify(&t),
            Err(DomainError::Unauthenticated)
        ));
        let t = key.sign(&claims(-60)).unwrap();
        assert!(key.verify(&t).is_err());
    }

    #[test]
    fn a1_another_audience_issuer_algorithm_or_token_type_is_refused() {
        let key = SigningKey::generate();
        for c in [
            Claims {
                aud: "another-service".into(),
                ..claims(60)
            },
            Claims {
                iss: "someone-else".into(),
                ..claims(60)
            },
        ] {
            assert!(key.verify(&key.sign(&c).unwrap()).is_err());
        }
        let enc = EncodingKey::from_secret(&key.secret);
        let mut header = Header::new(Algorithm::HS512);
        header.typ = Some(ACCESS_TYP.into());
        header.kid = Some(key.kid.clone());
        let t = jsonwebtoken::encode(&header, &claims(60), &enc).unwrap();
        assert!(
            access_token_kid(&t).is_err(),
            "HS512 is not on the allow-list"
        );
        assert!(key.verify(&t).is_err());
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        let t = jsonwebtoken::encode(&header, &claims(60), &enc).unwrap();
        assert!(
            access_token_kid(&t).is_err(),
            "typ JWT is not an access token"
        );
        // alg none, hand-made: refused before any key is looked up.
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let none = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"at+jwt","kid":"x"}"#),
            b64(&serde_json::to_string(&claims(60)).unwrap())
        );
        assert!(access_token_kid(&none).is_err());
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
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 29 && c.split('-').count() == 5)
        );
        let (uri, qr) = totp::enrolment(&secret, "head@school.example").unwrap();
        assert!(uri.starts_with("otpauth://totp/"));
        assert!(!qr.is_empty());
    }
}
