//! A4: argon2id with OWASP parameters, run off the async workers with a bound on hashes in
//! flight, so that a storm of logins neither starves other requests nor exhausts memory.

use crate::error::{DomainError, FieldError, Result};
use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, PasswordHash, Version};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::{Semaphore, oneshot};

/// OWASP's argon2id recommendation: 19 MiB, two passes, one lane.
pub const OWASP_M_COST: u32 = 19 * 1024;
pub const OWASP_T_COST: u32 = 2;
pub const OWASP_P_COST: u32 = 1;

/// How long a hashing thread keeps its buffer with nothing to hash.
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(2);

pub const MIN_PASSWORD_LEN: usize = 10;
pub const MAX_PASSWORD_LEN: usize = 256;

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Hashes on a few dedicated threads, each reusing one memory buffer: memory stays at
/// `in_flight × m_cost` however many logins arrive (allocating 19 MiB per hash lets the
/// allocator keep hundreds of MiB), and the async workers never hash.
#[derive(Clone)]
pub struct PasswordHasherPool {
    params: Params,
    in_flight: usize,
    /// Hashes waiting for a thread (for `/metrics`).
    waiting: Arc<std::sync::atomic::AtomicUsize>,
    permits: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
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
    /// `in_flight` threads hash at once (each holds `m_cost` KiB); other callers wait.
    pub fn new(in_flight: usize) -> Result<Self> {
        Self::with_params(in_flight, OWASP_M_COST, OWASP_T_COST, OWASP_P_COST)
    }

    pub fn with_params(in_flight: usize, m_cost: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        let params = Params::new(m_cost, t_cost, p_cost, None).map_err(DomainError::internal)?;
        let in_flight = in_flight.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..in_flight {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        // Never waits long holding the queue, so that a thread holding a
                        // buffer gets its turn to time out and give the buffer back: an idle
                        // server does not keep `m_cost` per thread.
                        let job = match queue.lock() {
                            Ok(q) => q.recv_timeout(IDLE_RELEASE),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut memory),
                            Err(mpsc::RecvTimeoutError::Timeout) => memory = Vec::new(),
                            Err(mpsc::RecvTimeoutError::Disconnected) => return, // the pool is gone
                        }
                    }
                })
                .map_err(DomainError::internal)?;
        }
        let dummy = hash_with(&params, "an unknown account's password", &mut Vec::new())?;
        Ok(PasswordHasherPool {
            params,
            in_flight,
            waiting: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            permits: Arc::new(Semaphore::new(in_flight)),
            jobs,
            dummy_hash: Arc::new(dummy),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Params, &mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T> {
        use std::sync::atomic::Ordering;
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = self.permits.acquire().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let _permit = permit.map_err(DomainError::internal)?;
        let (tx, rx) = oneshot::channel();
        let params = self.params.clone();
        self.jobs
            .send(Box::new(move |memory| {
                let _ = tx.send(work(&params, memory));
            }))
            .map_err(|_| DomainError::internal("password hashing threads stopped"))?;
        rx.await.map_err(DomainError::internal)
    }

    /// Hashes running now, and waiting for a thread.
    pub fn queue(&self) -> (usize, usize) {
        let running = self
            .in_flight
            .saturating_sub(self.permits.available_permits());
        (
            running,
            self.waiting.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    pub async fn hash(&self, password: &str) -> Result<String> {
        let password = password.to_owned();
        self.run(move |params, memory| hash_with(params, &password, memory))
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
        self.run(move |params, memory| {
            let parsed = PasswordHash::new(&hash).map_err(DomainError::internal)?;
            let ok = verify_with(&parsed, &password, memory)?;
            if !ok || !known {
                return Ok(Verified::No);
            }
            let current = Params::try_from(&parsed).ok();
            let same = current.is_some_and(|p| {
                p.m_cost() == params.m_cost()
                    && p.t_cost() == params.t_cost()
                    && p.p_cost() == params.p_cost()
            }) && parsed.algorithm == ARGON2ID_IDENT;
            if same {
                Ok(Verified::Yes)
            } else {
                Ok(Verified::YesRehashed(hash_with(params, &password, memory)?))
            }
        })
        .await?
    }
}

fn blocks(memory: &mut Vec<Block>, params: &Params) -> usize {
    let n = params.block_count();
    if memory.len() != n {
        memory.clear();
        memory.shrink_to_fit();
        memory.resize(n, Block::new());
    }
    n
}

fn hash_with(params: &Params, password: &str, memory: &mut Vec<Block>) -> Result<String> {
    let salt_bytes = crate::tokens::random_bytes(16);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let n = blocks(memory, params);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt_bytes,
            &mut out,
            &mut memory[..n],
        )
        .map_err(DomainError::internal)?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(DomainError::internal)?,
        salt: Some(Salt::new(&salt_bytes).map_err(DomainError::internal)?),
        hash: Some(Output::new(&out).map_err(DomainError::internal)?),
    };
    Ok(phc.to_string())
}

/// Recomputes the hash with the parameters it records, into the thread's buffer, and compares
/// in constant time.
fn verify_with(parsed: &PasswordHash, password: &str, memory: &mut Vec<Block>) -> Result<bool> {
    let params = Params::try_from(parsed).map_err(DomainError::internal)?;
    let algorithm =
        Algorithm::try_from(parsed.algorithm.as_str()).map_err(DomainError::internal)?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(DomainError::internal)?,
        None => Version::default(),
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(DomainError::internal("stored hash has no salt or output"));
    };
    let mut out = vec![0u8; expected.len()];
    let n = blocks(memory, &params);
    let argon = Argon2::new(algorithm, version, params);
    argon
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut out,
            &mut memory[..n],
        )
        .map_err(DomainError::internal)?;
    Ok(Output::new(&out).map_err(DomainError::internal)? == *expected)
}

/// A4: refuses weak and common passwords with a reason. `field` names the request field;
/// `user_inputs` are the account's own names and addresses, which make a password guessable.
/// ASVS 6.1.2: words of this service that make a password easy to guess, added to the
/// account's own names and logins (and, where known, the org's slug and name).
pub const CONTEXT_WORDS: &[&str] = &["keyholder", "safeguarding", "cpoms", "school"];

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
    let inputs: Vec<&str> = user_inputs
        .iter()
        .copied()
        .chain(CONTEXT_WORDS.iter().copied())
        .collect();
    let entropy = zxcvbn::zxcvbn(password, &inputs);
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
    fn a4_the_services_own_words_and_the_orgs_make_a_password_weak() {
        for (pw, inputs) in [
            ("keyholder2026", vec![]),
            ("safeguarding12", vec![]),
            ("hillcrestprimary", vec!["hillcrest", "primary"]),
            ("hillcrest2026", vec!["hillcrest"]),
        ] {
            let e = check_strength("password", pw, &inputs);
            assert_eq!(e.map(|e| e.code).as_deref(), Some("weak_password"), "{pw}");
        }
    }

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

    #[tokio::test]
    async fn a4_hashes_are_standard_phc_strings_both_ways() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let pool = PasswordHasherPool::with_params(1, 1024, 1, 1).unwrap();
        let ours = pool.hash("a long enough pass phrase").await.unwrap();
        let argon = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            argon
                .verify_password(b"a long enough pass phrase", &parsed)
                .is_ok()
        );
        assert!(
            argon
                .verify_password(b"another pass phrase", &parsed)
                .is_err()
        );
        let theirs = argon
            .hash_password(b"their pass phrase here")
            .unwrap()
            .to_string();
        assert_eq!(
            pool.verify("their pass phrase here", Some(&theirs))
                .await
                .unwrap(),
            Verified::Yes
        );
        assert_eq!(
            pool.verify("not their pass phrase", Some(&theirs))
                .await
                .unwrap(),
            Verified::No
        );
    }
}
