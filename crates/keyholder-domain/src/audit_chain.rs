//! AU3: each org's audit entries form a hash chain. An entry's hash covers every field a reader
//! sees, its place in the chain and the hash of the entry before it, so that editing any field,
//! deleting an entry or reordering entries breaks the chain at that entry.

use crate::model::AuditEntry;
pub use crate::model::ChainLink;
use sha2::{Digest, Sha256};

/// The `prev_hash` of an org's first entry.
pub const GENESIS: &str = "";

/// The hash of `entry` at place `seq` after an entry whose hash is `prev_hash` (SHA-256, hex,
/// over a JSON array of the fields in a fixed order; times in microseconds as stored).
pub fn entry_hash(entry: &AuditEntry, seq: i64, prev_hash: &str) -> String {
    let at_us = (entry.at.unix_timestamp_nanos() / 1000) as i64;
    let canonical = serde_json::json!([
        1,
        seq,
        entry.id,
        entry.org_id,
        at_us,
        entry.kind,
        entry.actor_id,
        entry.target_type,
        entry.target_id,
        entry.staff_id,
        entry.changes,
        entry.ip,
        entry.request_id,
        prev_hash,
    ]);
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What verifying an org's chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub valid: bool,
    /// Entries checked.
    pub checked: u64,
    /// The first entry whose hash, link or place is wrong (after a deleted entry: the one
    /// that follows the gap). `None` with `valid: false` when entries are missing at the end.
    pub first_bad_id: Option<crate::ids::AuditId>,
    pub detail: Option<String>,
}

/// Walks an org's chain in pages. Feed it entries in `seq` order, then the head.
#[derive(Debug, Default)]
pub struct Verifier {
    checked: u64,
    last_seq: i64,
    last_hash: String,
    bad: Option<(crate::ids::AuditId, String)>,
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier {
            last_hash: GENESIS.to_owned(),
            ..Verifier::default()
        }
    }

    /// The last place seen (to ask for the next page after it).
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    pub fn failed(&self) -> bool {
        self.bad.is_some()
    }

    /// One entry, in order. `link` is `None` for an entry the store never chained.
    pub fn check(&mut self, entry: &AuditEntry, link: Option<&ChainLink>) {
        if self.bad.is_some() {
            return;
        }
        self.checked += 1;
        let fail = |why: String| Some((entry.id, why));
        self.bad = match link {
            None => fail("the entry is not in the chain".into()),
            Some(l) if l.seq != self.last_seq + 1 => fail(format!(
                "entry {} follows entry {}: an entry before it is missing",
                l.seq, self.last_seq
            )),
            Some(l) if l.prev_hash != self.last_hash => {
                fail("the entry does not link to the entry before it".into())
            }
            Some(l) if entry_hash(entry, l.seq, &l.prev_hash) != l.hash => {
                fail("the entry was changed after it was written".into())
            }
            Some(l) => {
                self.last_seq = l.seq;
                self.last_hash = l.hash.clone();
                None
            }
        };
    }

    /// The org's head (last place and hash) closes the walk: entries removed from the end
    /// leave the head pointing past the last entry.
    pub fn finish(self, head: Option<(i64, String)>) -> Verification {
        if let Some((id, why)) = self.bad {
            return Verification {
                valid: false,
                checked: self.checked,
                first_bad_id: Some(id),
                detail: Some(why),
            };
        }
        let (seq, hash) = head.unwrap_or((0, GENESIS.to_owned()));
        if seq != self.last_seq || hash != self.last_hash {
            return Verification {
                valid: false,
                checked: self.checked,
                first_bad_id: None,
                detail: Some(format!(
                    "the chain ends at entry {} but {} were written",
                    self.last_seq, seq
                )),
            };
        }
        Verification {
            valid: true,
            checked: self.checked,
            first_bad_id: None,
            detail: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::*;

    fn entry(kind: &str) -> AuditEntry {
        AuditEntry {
            id: AuditId::new(),
            org_id: OrgId::new(),
            at: time::OffsetDateTime::now_utc(),
            kind: kind.into(),
            actor_id: None,
            target_type: None,
            target_id: None,
            staff_id: None,
            changes: serde_json::json!({"name": ["a", "b"]}),
            ip: Some("192.0.2.1".into()),
            request_id: None,
            chain: None,
        }
    }

    fn chain(n: usize) -> Vec<(AuditEntry, ChainLink)> {
        let mut prev = GENESIS.to_owned();
        (0..n)
            .map(|i| {
                let e = entry(&format!("e{i}"));
                let seq = i as i64 + 1;
                let hash = entry_hash(&e, seq, &prev);
                let link = ChainLink {
                    seq,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                (e, link)
            })
            .collect()
    }

    fn verify(entries: &[(AuditEntry, ChainLink)], head: (i64, String)) -> Verification {
        let mut v = Verifier::new();
        for (e, l) in entries {
            v.check(e, Some(l));
        }
        v.finish(Some(head))
    }

    #[test]
    fn au3_an_untouched_chain_verifies() {
        let c = chain(5);
        let head = (5, c[4].1.hash.clone());
        let v = verify(&c, head);
        assert!(v.valid);
        assert_eq!(v.checked, 5);
    }

    #[test]
    fn au3_an_edited_field_fails_at_that_entry() {
        let mut c = chain(5);
        let head = (5, c[4].1.hash.clone());
        c[2].0.changes = serde_json::json!({"name": ["a", "c"]});
        let v = verify(&c, head.clone());
        assert!(!v.valid);
        assert_eq!(v.first_bad_id, Some(c[2].0.id));
        let mut c = chain(3);
        c[1].0.ip = None;
        let head = (3, c[2].1.hash.clone());
        assert_eq!(verify(&c, head).first_bad_id, Some(c[1].0.id));
    }

    #[test]
    fn au3_a_deleted_entry_fails_at_the_one_after_it_and_a_deleted_last_one_at_the_head() {
        let mut c = chain(5);
        let head = (5, c[4].1.hash.clone());
        let after = c[3].0.id;
        c.remove(2);
        assert_eq!(verify(&c, head.clone()).first_bad_id, Some(after));
        let mut c = chain(5);
        c.pop();
        let v = verify(&c, head);
        assert!(!v.valid);
        assert_eq!(v.first_bad_id, None);
    }

    #[test]
    fn au3_a_rehashed_edit_still_breaks_the_link_to_the_next_entry() {
        let mut c = chain(4);
        let head = (4, c[3].1.hash.clone());
        c[1].0.kind = "forged".into();
        c[1].1.hash = entry_hash(&c[1].0, 2, &c[1].1.prev_hash);
        assert_eq!(verify(&c, head).first_bad_id, Some(c[2].0.id));
    }
}
