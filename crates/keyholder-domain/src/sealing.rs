//! Secrets that must be read back (TOTP seeds) are kept sealed: XChaCha20-Poly1305 with the
//! data key from configuration (`KEYHOLDER_DATA_KEY`), a random nonce per value, and the
//! owner's id as associated data, so that a sealed seed copied onto another account's row
//! does not open. Secrets that need only be compared (passwords, refresh tokens, API keys,
//! reset tokens, recovery codes) are kept as hashes instead, never sealed.

use crate::error::{DomainError, Result};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

const PREFIX: &str = "v1.";

/// The data key: 32 bytes.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// `v1.` + base64url(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plaintext: &str, owner: uuid::Uuid) -> Result<String> {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| DomainError::internal("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend(ct);
        Ok(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
        ))
    }

    /// Opens a value sealed for `owner` with this key; anything else (another key, another
    /// owner, an edited or a plaintext value) is an error, never a silent fallback.
    pub fn open(&self, sealed: &str, owner: uuid::Uuid) -> Result<String> {
        let bad = || DomainError::internal("a sealed secret does not open with the data key");
        let raw = sealed.strip_prefix(PREFIX).ok_or_else(bad)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| bad())?;
        if bytes.len() < 24 + 16 {
            return Err(bad());
        }
        let (nonce, ct) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| bad())?;
        let pt = self
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| bad())?;
        String::from_utf8(pt).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_seed_opens_only_with_its_key_and_for_its_owner() {
        let s = Sealer::new(&[7; 32]);
        let owner = uuid::Uuid::new_v4();
        let sealed = s.seal("JBSWY3DPEHPK3PXP", owner).unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_ne!(
            sealed,
            s.seal("JBSWY3DPEHPK3PXP", owner).unwrap(),
            "fresh nonce"
        );
        assert_eq!(s.open(&sealed, owner).unwrap(), "JBSWY3DPEHPK3PXP");
        assert!(
            s.open(&sealed, uuid::Uuid::new_v4()).is_err(),
            "another owner"
        );
        assert!(
            Sealer::new(&[8; 32]).open(&sealed, owner).is_err(),
            "another key"
        );
        assert!(
            s.open("JBSWY3DPEHPK3PXP", owner).is_err(),
            "plaintext is refused"
        );
        let mut edited = sealed.into_bytes();
        let last = edited.len() - 1;
        edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
        assert!(
            s.open(std::str::from_utf8(&edited).unwrap(), owner)
                .is_err()
        );
    }
}
