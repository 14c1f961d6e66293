//! A4: argon2id with OWASP parameters, run off the async workers with a bound on hashes in
//! flight, so that a storm of logins neither starves other requests nor exhausts memory.

use crate::error::{DomainError, FieldError, Result};
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// OWASP's argon2id recommendation: 19 MiB, two passes, one lane.
pub const OWASP_M_COST: u32 = 19 * 1024;
pub const OWASP_T_COST: u32 = 2;
pub const OWASP_P_COST: u32 = 1;

pub const MIN_PASSWORD_LEN: usize = 10;
pub const MAX_PASSWORD_LEN: usize = 256;

#[derive(Clone)]
pub struct PasswordHasherPool {
    params: Params,
    permits: Arc<Semaphore>,
    /// Verified against when the login is unknown, so that both answers take as long (A2).
    dummy_hash: Arc<String>,
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Right password, but hashed with other parameters: here is the new hash (A4).
    YesRehashed(String),
}

impl PasswordHasherPool {
    /// `in_flight` bounds concurrent hashes (each holds `m_cost` KiB while it runs).
    pub fn new(in_flight: usize) -> Result<Self> {
        Self::with_params(in_flight, OWASP_M_COST, OWASP_T_COST, OWASP_P_COST)
    }

    pub fn with_params(in_flight: usize, m_cost: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        let params = Params::new(m_cost, t_cost, p_cost, None).map_err(DomainError::internal)?;
        let dummy = hash_with(&params, "an unknown account's password")?;
        Ok(PasswordHasherPool {
            params,
            permits: Arc::new(Semaphore::new(in_flight.max(1))),
            dummy_hash: Arc::new(dummy),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(Params) -> T + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(DomainError::internal)?;
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || work(params))
            .await
            .map_err(DomainError::internal)
    }

    pub async fn hash(&self, password: &str) -> Result<String> {
        let password = password.to_owned();
        self.run(move |params| hash_with(&params, &password))
            .await?
    }

    /// Verifies `password` against `hash`; with no hash, verifies against a dummy so that an
    /// unknown account costs what a known one does (A2).
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<Verified> {
        let password = password.to_owned();
        let known = hash.is_some();
        let hash = hash
            .map(str::to_owned)
            .unwrap_or_else(|| (*self.dummy_hash).clone());
        self.run(move |params| {
            let parsed = PasswordHash::new(&hash).map_err(DomainError::internal)?;
            let ok = argon(&params)
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            if !ok || !known {
                return Ok(Verified::No);
            }
            let current = Params::try_from(&parsed).ok();
            let same = current.is_some_and(|p| {
                p.m_cost() == params.m_cost()
                    && p.t_cost() == params.t_cost()
                    && p.p_cost() == params.p_cost()
            }) && parsed.algorithm.as_str() == "argon2id";
            if same {
                Ok(Verified::Yes)
            } else {
                Ok(Verified::YesRehashed(hash_with(&params, &password)?))
            }
        })
        .await?
    }
}

fn argon(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_with(params: &Params, password: &str) -> Result<String> {
    argon(params)
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(DomainError::internal)
}

/// A4: refuses weak and common passwords with a reason. `field` names the request field;
/// `user_inputs` are the account's own names and addresses, which make a password guessable.
pub fn check_strength(field: &str, password: &str, user_inputs: &[&str]) -> Option<FieldError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN {
        return Some(FieldError::new(
            field,
            "password_too_short",
            format!("use at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if chars > MAX_PASSWORD_LEN {
        return Some(FieldError::new(
            field,
            "password_too_long",
            format!("use at most {MAX_PASSWORD_LEN} characters"),
        ));
    }
    let entropy = zxcvbn::zxcvbn(password, user_inputs);
    if (entropy.score() as u8) < 3 {
        let mut reason = entropy
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| w.to_string())
            .unwrap_or_else(|| "this password is too easy to guess".to_owned());
        if let Some(s) = entropy.feedback().and_then(|f| f.suggestions().first()) {
            reason.push_str(&format!(" ({s})"));
        }
        return Some(FieldError::new(field, "weak_password", reason));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a4_common_and_short_passwords_are_refused_with_a_reason() {
        let e = check_strength("password", "password123", &[]).expect("refused");
        assert_eq!(e.code, "weak_password");
        assert!(!e.message.is_empty());
        assert_eq!(
            check_strength("password", "short", &[]).map(|e| e.code),
            Some("password_too_short".to_owned())
        );
        assert!(check_strength("password", "correct horse battery staple 42", &[]).is_none());
    }

    #[test]
    fn a4_own_name_makes_a_password_weak() {
        let e = check_strength("password", "siennamaxfield", &["sienna", "maxfield"]);
        assert!(e.is_some());
    }

    #[tokio::test]
    async fn a4_hashes_are_argon2id_and_old_parameters_are_rehashed() {
        let weak = PasswordHasherPool::with_params(2, 1024, 1, 1).unwrap();
        let old = weak.hash("a long enough pass phrase").await.unwrap();
        assert!(old.starts_with("$argon2id$"));
        let pool = PasswordHasherPool::with_params(2, 2048, 2, 1).unwrap();
        assert_eq!(
            pool.verify("wrong", Some(&old)).await.unwrap(),
            Verified::No
        );
        match pool
            .verify("a long enough pass phrase", Some(&old))
            .await
            .unwrap()
        {
            Verified::YesRehashed(new) => assert!(new.contains("m=2048,t=2,p=1")),
            other => panic!("expected a rehash, got {other:?}"),
        }
        assert_eq!(pool.verify("anything", None).await.unwrap(), Verified::No);
    }
}
