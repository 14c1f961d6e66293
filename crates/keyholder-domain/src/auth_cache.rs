//! U5 at speed: what a replica holds so that authenticating a request needs no round trip in
//! the steady state — the verification keys, and each session's facts (session, account, token
//! version, group, org settings, categories) — and how it is dropped when the truth changes.
//!
//! - The replica that makes a change drops what it holds at once: the store reports every
//!   committed change that bears on authentication ([`AuthChange`]).
//! - Other replicas drop it when the change is announced (PostgreSQL `NOTIFY`, sent in the
//!   changing transaction, so it is delivered exactly when the change commits).
//! - While the announcements cannot be heard (the listener's connection is down), nothing is
//!   held: every request is decided uncached until the listener is back ([`AuthCache::set_live`]).
//! - Nothing is held longer than `max_age`, even if an announcement is lost.
//!
//! A read races a change it did not see: an entry is kept only if its read *started* after the
//! last change that bears on it, so a read that began before a change can never be held after it.

use crate::ids::*;
use crate::model::{Category, NotificationMode, Org, Session, User, UserGroup};
use crate::tokens::SigningKey;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What authenticating one request needs, loaded together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFacts {
    pub session: Session,
    pub user: User,
    pub group: UserGroup,
    pub org: Org,
}

/// A committed change that bears on authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthChange {
    /// An account, group, category, setting or the sessions of an org.
    Org(OrgId),
    /// One session ended.
    Session(SessionId),
    /// A signing key was made or retired.
    Keys,
    /// The org's pupils, their groups, allow-lists, blocks or marks: drops the held list
    /// counts ([`ListCounts`]), not the sessions.
    Pupils(OrgId),
    /// Anything: drop everything.
    All,
}

impl AuthChange {
    /// The text announced on the `keyholder_auth` channel.
    pub fn encode(self) -> String {
        match self {
            AuthChange::Org(o) => format!("o:{o}"),
            AuthChange::Session(s) => format!("s:{s}"),
            AuthChange::Pupils(o) => format!("p:{o}"),
            AuthChange::Keys => "k".into(),
            AuthChange::All => "*".into(),
        }
    }

    /// An announcement read back; anything unreadable drops everything.
    pub fn decode(s: &str) -> AuthChange {
        let id = |rest: &str| uuid::Uuid::parse_str(rest).ok();
        match s.split_once(':') {
            Some(("o", rest)) => id(rest).map_or(AuthChange::All, |u| AuthChange::Org(OrgId(u))),
            Some(("p", rest)) => id(rest).map_or(AuthChange::All, |u| AuthChange::Pupils(OrgId(u))),
            Some(("s", rest)) => {
                id(rest).map_or(AuthChange::All, |u| AuthChange::Session(SessionId(u)))
            }
            _ if s == "k" => AuthChange::Keys,
            _ => AuthChange::All,
        }
    }
}

/// The replica's copies. Cheap to clone (shared).
#[derive(Clone)]
pub struct AuthCache {
    inner: Arc<Inner>,
}

struct Inner {
    max_age: Duration,
    /// How long a list's counts are held ([`LIST_MAX_AGE`], or zero with `max_age`).
    list_max_age: Duration,
    /// False while changes cannot be heard: nothing is held or served.
    live: AtomicBool,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
    drops: AtomicU64,
}

struct Entry {
    facts: AuthFacts,
    categories: Vec<Category>,
    /// Filled by the first `GET /v1/me` of the session; dropped with the facts.
    profile: Option<HeldProfile>,
    read_at: Instant,
}

/// What `GET /v1/me` shows beyond the session's facts: held beside them and dropped with them
/// (linking staff records and setting preferences are changes to the org, [`AuthChange::Org`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldProfile {
    pub staff_ids: Vec<StaffId>,
    pub notification_prefs: Vec<(CategoryId, NotificationMode)>,
}

/// What a list's plan needs, counted once and held until the org's pupils change: how many rows
/// the list has (`total`, answered to the client), how many rows of the org the list's table
/// holds, and how many candidates the narrowest restricting kind gives (`narrow`, its index in
/// the scope's restricting types). Only the counts are held, never a row: every page is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCounts {
    pub total: u64,
    pub org_rows: u64,
    pub candidates: u64,
    pub narrow: Option<usize>,
}

/// How long list counts are held at most when no change is heard (a lost announcement), by
/// default (`KEYHOLDER_LIST_COUNT_MAX_AGE`).
pub const LIST_MAX_AGE: Duration = Duration::from_secs(30);

/// The most list counts held; past it they are dropped and refilled.
const MAX_LISTS: usize = 100_000;

#[derive(Default)]
struct State {
    sessions: HashMap<SessionId, Entry>,
    lists: HashMap<(OrgId, String), (Instant, ListCounts)>,
    /// When each org's pupils last changed (kept for the list bound).
    pupils_changed: HashMap<OrgId, Instant>,
    keys: Option<(Instant, Vec<SigningKey>)>,
    /// When each org, session and the keys last changed (kept for `max_age`).
    org_changed: HashMap<OrgId, Instant>,
    session_changed: HashMap<SessionId, Instant>,
    keys_changed: Option<Instant>,
    all_changed: Option<Instant>,
}

/// The most sessions held; past it the copies are dropped and refilled.
const MAX_SESSIONS: usize = 200_000;

/// Counts for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub drops: u64,
    pub held: u64,
    pub live: bool,
}

impl AuthCache {
    /// `max_age` zero holds nothing. A cache starts live; a replica that must hear changes from
    /// others turns it off until its listener is up.
    pub fn new(max_age: Duration) -> AuthCache {
        AuthCache::with_list_bound(max_age, LIST_MAX_AGE)
    }

    /// [`AuthCache::new`], holding list counts at most `list_max_age` (nothing when either
    /// bound is zero).
    pub fn with_list_bound(max_age: Duration, list_max_age: Duration) -> AuthCache {
        AuthCache {
            inner: Arc::new(Inner {
                max_age,
                list_max_age: if max_age.is_zero() {
                    Duration::ZERO
                } else {
                    list_max_age
                },
                live: AtomicBool::new(!max_age.is_zero()),
                state: Mutex::new(State::default()),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                drops: AtomicU64::new(0),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind: carry on with it.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn live(&self) -> bool {
        self.inner.live.load(Ordering::Acquire)
    }

    /// When a read starts: what it brings back is kept only if nothing changed since.
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// The session's facts, if held and still good.
    pub fn facts(&self, session: SessionId) -> Option<(AuthFacts, Vec<Category>)> {
        if !self.live() {
            return None;
        }
        let mut st = self.state();
        let fresh = st.sessions.get(&session).map(|e| {
            let org = e.facts.org.id;
            e.read_at.elapsed() < self.inner.max_age
                && !changed_since(&st, Some(org), Some(session), false, e.read_at)
        });
        match fresh {
            Some(true) => {
                self.inner.hits.fetch_add(1, Ordering::Relaxed);
                st.sessions
                    .get(&session)
                    .map(|e| (e.facts.clone(), e.categories.clone()))
            }
            Some(false) => {
                st.sessions.remove(&session);
                self.inner.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => {
                self.inner.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Holds a session's facts read from the database by a read that started at `read_at`.
    pub fn hold_facts(&self, read_at: Instant, facts: &AuthFacts, categories: &[Category]) {
        if !self.live() {
            return;
        }
        let mut st = self.state();
        if changed_since(
            &st,
            Some(facts.org.id),
            Some(facts.session.id),
            false,
            read_at,
        ) {
            return;
        }
        if st.sessions.len() >= MAX_SESSIONS {
            st.sessions.clear();
        }
        st.sessions.insert(
            facts.session.id,
            Entry {
                facts: facts.clone(),
                categories: categories.to_vec(),
                profile: None,
                read_at,
            },
        );
    }

    /// The account, its group and its profile, if the session's facts and profile are held
    /// and still good.
    pub fn profile(&self, session: SessionId) -> Option<(User, UserGroup, HeldProfile)> {
        if !self.live() {
            return None;
        }
        let st = self.state();
        let e = st.sessions.get(&session)?;
        let fresh = e.read_at.elapsed() < self.inner.max_age
            && !changed_since(&st, Some(e.facts.org.id), Some(session), false, e.read_at);
        let profile = e.profile.clone().filter(|_| fresh)?;
        Some((e.facts.user.clone(), e.facts.group.clone(), profile))
    }

    /// Holds a session's profile read by a read that started at `read_at`, beside its facts
    /// (if they are held: the profile is never held alone).
    pub fn hold_profile(&self, read_at: Instant, session: SessionId, profile: HeldProfile) {
        if !self.live() {
            return;
        }
        let mut st = self.state();
        let Some(org) = st.sessions.get(&session).map(|e| e.facts.org.id) else {
            return;
        };
        if changed_since(&st, Some(org), Some(session), false, read_at) {
            return;
        }
        if let Some(e) = st.sessions.get_mut(&session) {
            e.profile = Some(profile);
        }
    }

    /// The live verification keys, if held and still good.
    pub fn keys(&self) -> Option<Vec<SigningKey>> {
        if !self.live() {
            return None;
        }
        let st = self.state();
        match &st.keys {
            Some((at, keys))
                if at.elapsed() < self.inner.max_age
                    && !changed_since(&st, None, None, true, *at) =>
            {
                Some(keys.clone())
            }
            _ => None,
        }
    }

    pub fn hold_keys(&self, read_at: Instant, keys: &[SigningKey]) {
        if !self.live() {
            return;
        }
        let mut st = self.state();
        if !changed_since(&st, None, None, true, read_at) {
            st.keys = Some((read_at, keys.to_vec()));
        }
    }

    /// The counts held for a list of `org` (`key` names the list, its caller and its filters),
    /// if still good.
    pub fn list_counts(&self, org: OrgId, key: &str) -> Option<ListCounts> {
        if !self.live() {
            return None;
        }
        let st = self.state();
        let (at, counts) = st.lists.get(&(org, key.to_owned()))?;
        let fresh = at.elapsed() < self.inner.list_max_age && !pupils_changed_since(&st, org, *at);
        fresh.then_some(*counts)
    }

    /// Holds a list's counts made by a read that started at `read_at`.
    pub fn hold_list_counts(&self, read_at: Instant, org: OrgId, key: String, counts: ListCounts) {
        if !self.live() || self.inner.list_max_age.is_zero() {
            return;
        }
        let mut st = self.state();
        if pupils_changed_since(&st, org, read_at) {
            return;
        }
        if st.lists.len() >= MAX_LISTS {
            st.lists.clear();
        }
        st.lists.insert((org, key), (read_at, counts));
    }

    /// A committed change: drop what it bears on.
    pub fn apply(&self, change: AuthChange) {
        let now = Instant::now();
        let max_age = self.inner.max_age;
        let mut st = self.state();
        let before = st.sessions.len();
        match change {
            AuthChange::Org(org) => {
                st.org_changed.insert(org, now);
                st.sessions.retain(|_, e| e.facts.org.id != org);
            }
            AuthChange::Session(s) => {
                st.session_changed.insert(s, now);
                st.sessions.remove(&s);
            }
            AuthChange::Keys => {
                st.keys_changed = Some(now);
                st.keys = None;
            }
            AuthChange::Pupils(org) => {
                st.pupils_changed.insert(org, now);
                st.lists.retain(|(o, _), _| *o != org);
            }
            AuthChange::All => {
                st.all_changed = Some(now);
                st.sessions.clear();
                st.lists.clear();
                st.keys = None;
            }
        }
        let dropped = before - st.sessions.len();
        self.inner
            .drops
            .fetch_add(dropped as u64, Ordering::Relaxed);
        // A change older than `max_age` bears on nothing still held.
        st.org_changed.retain(|_, at| at.elapsed() < max_age);
        st.session_changed.retain(|_, at| at.elapsed() < max_age);
        let list_max_age = self.inner.list_max_age;
        st.pupils_changed
            .retain(|_, at| at.elapsed() < list_max_age);
    }

    /// Whether changes from other replicas can be heard. Either way, everything held is
    /// dropped: what was missed while deaf is not known.
    pub fn set_live(&self, live: bool) {
        if self.inner.max_age.is_zero() {
            return;
        }
        self.inner.live.store(false, Ordering::Release);
        self.apply(AuthChange::All);
        if live {
            self.inner.live.store(true, Ordering::Release);
        }
    }

    pub fn stats(&self) -> AuthCacheStats {
        AuthCacheStats {
            hits: self.inner.hits.load(Ordering::Relaxed),
            misses: self.inner.misses.load(Ordering::Relaxed),
            drops: self.inner.drops.load(Ordering::Relaxed),
            held: self.state().sessions.len() as u64,
            live: self.live(),
        }
    }
}

/// Whether the org's pupils (or everything) changed at or after `since`.
fn pupils_changed_since(st: &State, org: OrgId, since: Instant) -> bool {
    st.all_changed.is_some_and(|c| c >= since)
        || st.pupils_changed.get(&org).is_some_and(|c| *c >= since)
}

/// Whether anything that bears on these changed at or after `since`.
fn changed_since(
    st: &State,
    org: Option<OrgId>,
    session: Option<SessionId>,
    keys: bool,
    since: Instant,
) -> bool {
    let after = |at: Option<&Instant>| at.is_some_and(|at| *at >= since);
    after(st.all_changed.as_ref())
        || org.is_some_and(|o| after(st.org_changed.get(&o)))
        || session.is_some_and(|s| after(st.session_changed.get(&s)))
        || (keys && after(st.keys_changed.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn facts(org: OrgId, session: SessionId) -> AuthFacts {
        let at = time::OffsetDateTime::now_utc();
        let group = crate::defaults::org_defaults(org)
            .1
            .into_iter()
            .next()
            .expect("a default group");
        let user = User {
            email: Some("t@hill.school".into()),
            forename: "Tess".into(),
            surname: "Teacher".into(),
            created_at: at,
            updated_at: at,
            ..User::new_in(org, group.id, UserStatus::Active)
        };
        AuthFacts {
            session: Session {
                id: session,
                org_id: org,
                user_id: user.id,
                method: SessionMethod::Password,
                second_factor: false,
                token_version: 1,
                created_at: at,
                expires_at: at + time::Duration::hours(1),
                revoked: false,
            },
            user,
            group,
            org: Org {
                id: org,
                slug: "hill".into(),
                name: "Hill".into(),
                settings: OrgSettings::default(),
                created_at: at,
            },
        }
    }

    #[test]
    fn u5_announcements_read_back_and_anything_unreadable_drops_everything() {
        let org = OrgId::new();
        let s = SessionId::new();
        for c in [
            AuthChange::Org(org),
            AuthChange::Session(s),
            AuthChange::Keys,
            AuthChange::Pupils(org),
            AuthChange::All,
        ] {
            assert_eq!(AuthChange::decode(&c.encode()), c);
        }
        assert_eq!(AuthChange::decode("o:nonsense"), AuthChange::All);
        assert_eq!(AuthChange::decode(""), AuthChange::All);
    }

    #[test]
    fn u5_keys_read_before_a_change_are_never_held_after_it() {
        let cache = AuthCache::new(Duration::from_secs(60));
        let read_at = cache.now();
        cache.apply(AuthChange::Keys);
        cache.hold_keys(read_at, &[]);
        assert!(cache.keys().is_none(), "the read began before the change");
        let read_at = cache.now();
        cache.hold_keys(read_at, &[]);
        assert!(cache.keys().is_some());
        cache.set_live(false);
        assert!(cache.keys().is_none(), "a deaf replica holds nothing");
        cache.hold_keys(cache.now(), &[]);
        assert!(cache.keys().is_none());
        cache.set_live(true);
        let read_at = cache.now();
        cache.hold_keys(read_at, &[]);
        assert!(cache.keys().is_some());
    }

    #[test]
    fn u5_a_profile_is_held_only_beside_its_session_and_drops_with_it() {
        let cache = AuthCache::new(Duration::from_secs(60));
        let session = SessionId::new();
        let profile = HeldProfile::default();
        cache.hold_profile(cache.now(), session, profile.clone());
        assert!(cache.profile(session).is_none(), "never held alone");
        let org = OrgId::new();
        let facts = facts(org, session);
        cache.hold_facts(cache.now(), &facts, &[]);
        let read_at = cache.now();
        cache.apply(AuthChange::Org(org));
        cache.hold_facts(cache.now(), &facts, &[]);
        cache.hold_profile(read_at, session, profile.clone());
        assert!(
            cache.profile(session).is_none(),
            "read before the change: not held"
        );
        cache.hold_profile(cache.now(), session, profile.clone());
        assert_eq!(cache.profile(session).map(|p| p.2), Some(profile));
        cache.apply(AuthChange::Org(org));
        assert!(cache.profile(session).is_none(), "dropped with the facts");
    }

    #[test]
    fn list_counts_drop_with_the_orgs_pupils_and_a_read_before_a_change_is_not_held() {
        let cache = AuthCache::new(Duration::from_secs(1));
        let (org, other) = (OrgId::new(), OrgId::new());
        let counts = ListCounts {
            total: 3,
            org_rows: 10,
            candidates: 4,
            narrow: None,
        };
        cache.hold_list_counts(cache.now(), org, "k".into(), counts);
        cache.hold_list_counts(cache.now(), other, "k".into(), counts);
        assert_eq!(cache.list_counts(org, "k"), Some(counts));
        assert_eq!(cache.list_counts(org, "other key"), None);
        cache.apply(AuthChange::Org(org));
        assert_eq!(cache.list_counts(org, "k"), Some(counts), "sessions only");
        let read_at = cache.now();
        cache.apply(AuthChange::Pupils(org));
        assert_eq!(cache.list_counts(org, "k"), None);
        assert_eq!(cache.list_counts(other, "k"), Some(counts));
        cache.hold_list_counts(read_at, org, "k".into(), counts);
        assert_eq!(cache.list_counts(org, "k"), None, "read before the change");
        cache.set_live(false);
        assert_eq!(
            cache.list_counts(other, "k"),
            None,
            "a deaf replica holds nothing"
        );
        cache.set_live(true);
        cache.hold_list_counts(cache.now(), org, "k".into(), counts);
        assert_eq!(cache.list_counts(org, "k"), Some(counts));
        let off = AuthCache::new(Duration::ZERO);
        off.hold_list_counts(off.now(), org, "k".into(), counts);
        assert_eq!(off.list_counts(org, "k"), None);
    }

    #[test]
    fn u5_nothing_is_held_past_max_age_or_with_max_age_zero() {
        let cache = AuthCache::new(Duration::from_millis(20));
        cache.hold_keys(cache.now(), &[]);
        assert!(cache.keys().is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert!(cache.keys().is_none());
        let off = AuthCache::new(Duration::ZERO);
        off.hold_keys(off.now(), &[]);
        assert!(off.keys().is_none());
    }
}
