//! The conformance suite every [`SessionStore`] must pass (feature
//! `conformance`). The shipped stores run it against their real backends;
//! run it against yours:
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use hyper_session::MemoryStore;
//!
//! hyper_session::conformance::run(Arc::new(MemoryStore::new())).await;
//! # }
//! ```
//!
//! Each check panics with a message naming the broken property. The suite
//! needs a multi-threaded tokio runtime for its concurrency check and
//! writes only under fresh random keys, so it can share a backend with
//! other data.

use std::collections::HashMap;

use crate::__bench::cookie_header;
use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;

use http::header::{HeaderMap, HeaderValue, COOKIE};

use crate::config::SessionConfig;
use crate::expiry::now_ms;
use crate::id::{SessionId, StoreKey};
use crate::owner::{Owner, SessionInfo};
use crate::store::SessionData;
use crate::store::{
    AtomicMove, BoxFuture, Capabilities, Record, Revoke, SessionStore, Update, UserIndex,
};
use crate::{Sessions, StoreError};

/// Runs every check against `store`.
///
/// # Panics
///
/// On the first property the store breaks, naming it.
pub async fn run<S: SessionStore>(store: Arc<S>) {
    records(&*store).await;
    liveness(&*store).await;
    expiry(&*store).await;
    sweep(&*store).await;
    let sessions = manager(store.clone());
    lifecycle(&sessions).await;
    logout_is_final(store.clone(), true).await;
    logout_is_final(store.clone(), false).await;
    failures_keep_the_session(store.clone()).await;
    concurrent_keys(&sessions, 50).await;
    if store.capabilities().user_index().is_some() {
        user_index::run(store.clone(), true).await;
        user_index::run(store.clone(), false).await;
    }
}

mod user_index;

const SECRET: &str = "conformance suite secret, not for production";

fn manager(store: impl SessionStore) -> Sessions {
    Sessions::builder()
        .secret(SECRET)
        .store(store)
        .build()
        .expect("a valid manager")
}

fn fresh_key() -> crate::StoreKey {
    SessionId::generate().expect("OS random").store_key()
}

fn record(pairs: &[(&str, &str)], expires_in_ms: u64) -> Record {
    let now = now_ms();
    let data = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Record::new(data, now, now, now + expires_in_ms)
}

/// `record` as far as every store must keep it: [`Record::seen_at`] only
/// for a signed-in session.
fn kept(record: Option<Record>) -> Option<Record> {
    record.map(|mut r| {
        if r.owner.is_none() {
            r.seen_at = 0;
        }
        r
    })
}

/// load / create / update / delete on raw records.
async fn records<S: SessionStore>(store: &S) {
    let key = fresh_key();
    assert_eq!(
        store.load(&key).await.expect("load"),
        None,
        "load of an unknown key must be None"
    );

    let original = record(&[("a", "1"), ("b", "\"two\"")], 60_000);
    assert!(
        store.create(&key, &original).await.expect("create"),
        "create of a new key must store"
    );
    assert_eq!(
        store.load(&key).await.expect("load"),
        Some(original.clone()),
        "load must return what create stored"
    );

    let clobber = record(&[("evil", "1")], 60_000);
    assert!(
        !store.create(&key, &clobber).await.expect("create"),
        "create must refuse an existing key"
    );
    assert_eq!(
        store.load(&key).await.expect("load"),
        Some(original.clone()),
        "a refused create must not overwrite"
    );

    let update = Update::new(original.expires_at + 1_000)
        .set("a", "10")
        .set("c", "3")
        .remove("b");
    assert!(
        store.update(&key, &update).await.expect("update"),
        "update of a live key must apply"
    );
    let mut merged = original.clone();
    update.apply_to(&mut merged);
    assert_eq!(
        kept(store.load(&key).await.expect("load")),
        kept(Some(merged)),
        "update must merge only the changed keys"
    );

    let missing = fresh_key();
    assert!(
        !store.update(&missing, &update).await.expect("update"),
        "update of an unknown key must say so"
    );
    assert_eq!(
        store.load(&missing).await.expect("load"),
        None,
        "update must never create an entry"
    );

    assert!(
        store.delete(&key).await.expect("delete"),
        "delete must report that the entry existed"
    );
    assert_eq!(
        store.load(&key).await.expect("load"),
        None,
        "delete must remove the entry"
    );
    assert!(
        !store
            .delete(&key)
            .await
            .expect("deleting an unknown key is not an error"),
        "delete must report that there was no entry"
    );
}

/// The liveness rule: once an entry is deleted, no write brings it back
/// and every method agrees it is dead; a value replaces the old one whole.
async fn liveness<S: SessionStore>(store: &S) {
    let key = fresh_key();
    let nested = r#"{"a":{"b":1,"c":[1,2]},"s":"nul \u0000 and \"quotes\""}"#;
    assert!(store
        .create(&key, &record(&[("n", nested)], 60_000))
        .await
        .expect("create"));
    let replace = r#"{"a":{"d":2}}"#;
    let update = Update::new(now_ms() + 60_000).set("n", replace);
    assert!(store.update(&key, &update).await.expect("update"));
    let loaded = store.load(&key).await.expect("load").expect("live");
    assert_eq!(
        loaded.data.get("n").map(String::as_str),
        Some(replace),
        "an update must replace a value whole (no JSON merge of nested objects)"
    );

    assert!(
        store.delete(&key).await.expect("delete"),
        "delete of a live entry must say so"
    );
    let late = Update::new(now_ms() + 60_000).set("late", "1");
    assert!(
        !store.update(&key, &late).await.expect("update"),
        "an update after a delete must report that nothing was saved"
    );
    assert_eq!(
        store.load(&key).await.expect("load"),
        None,
        "an update after a delete must not resurrect the entry"
    );
    assert!(
        !store.delete(&key).await.expect("delete"),
        "deleting what a losing update left behind must report that nothing was alive"
    );
    assert!(
        !store.update(&key, &late).await.expect("update"),
        "a second late update must report that nothing was saved either"
    );
    assert_eq!(store.load(&key).await.expect("load"), None);

    // Of two concurrent deletes of one live entry, only one ends it.
    let key = fresh_key();
    assert!(store
        .create(&key, &record(&[("k", "1")], 60_000))
        .await
        .expect("create"));
    let (a, b) = tokio::join!(store.delete(&key), store.delete(&key));
    assert_eq!(
        u8::from(a.expect("delete")) + u8::from(b.expect("delete")),
        1,
        "of two concurrent deletes exactly one must report ending the session"
    );

    // An expired entry is not alive: delete and update say so.
    let key = fresh_key();
    assert!(store
        .create(&key, &record(&[("k", "1")], 150))
        .await
        .expect("create"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !store.update(&key, &late).await.expect("update"),
        "an update of an expired entry must report that nothing was saved"
    );
    assert_eq!(store.load(&key).await.expect("load"), None);
    assert!(
        !store.delete(&key).await.expect("delete"),
        "delete of an expired entry must report that nothing was alive"
    );

    if let Some(mover) = store.capabilities().atomic_move() {
        atomic_move(store, mover).await;
    }
}

/// The optional atomic move: the data and the changes arrive under the
/// new key, the old key dies, and a dead session is never moved.
async fn atomic_move<S: SessionStore>(store: &S, mover: &dyn AtomicMove) {
    let (from, to) = (fresh_key(), fresh_key());
    let original = record(&[("keep", "1"), ("drop", "2")], 60_000);
    assert!(store.create(&from, &original).await.expect("create"));
    let now = now_ms();
    let update = Update::new(now + 30_000)
        .set("new", "3")
        .remove("drop")
        .renewed_at(now);
    assert!(
        mover.move_to(&from, &to, &update).await.expect("move"),
        "a move of a live session must succeed"
    );
    assert_eq!(
        store.load(&from).await.expect("load"),
        None,
        "a move must end the old key"
    );
    let mut expected = original.clone();
    update.apply_to(&mut expected);
    assert_eq!(
        kept(store.load(&to).await.expect("load")),
        kept(Some(expected)),
        "a move must carry the data, apply the changes and set renewed_at"
    );

    // A dead source: nothing arrives under the target.
    let (gone, target) = (fresh_key(), fresh_key());
    assert!(
        !mover.move_to(&gone, &target, &update).await.expect("move"),
        "a move of an unknown key must say nothing was moved"
    );
    assert_eq!(store.load(&target).await.expect("load"), None);
    assert!(store.create(&gone, &original).await.expect("create"));
    assert!(store.delete(&gone).await.expect("delete"));
    let _ = store.update(&gone, &update).await.expect("update");
    assert!(
        !mover.move_to(&gone, &target, &update).await.expect("move"),
        "a move after a delete (and a late update) must say nothing was moved"
    );
    assert_eq!(
        store.load(&target).await.expect("load"),
        None,
        "a move of a dead session must leave nothing live under the target"
    );
}

/// An entry past its `expires_at` is gone.
async fn expiry<S: SessionStore>(store: &S) {
    let key = fresh_key();
    assert!(store
        .create(&key, &record(&[("k", "1")], 300))
        .await
        .expect("create"));
    assert!(
        store.load(&key).await.expect("load").is_some(),
        "a live entry must load"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        store.load(&key).await.expect("load"),
        None,
        "an entry past expires_at must not load"
    );
}

/// The optional sweep removes expired entries and keeps live ones.
async fn sweep<S: SessionStore>(store: &S) {
    let Some(sweep) = store.capabilities().sweep() else {
        return;
    };
    let (dead, live) = (fresh_key(), fresh_key());
    assert!(store
        .create(&dead, &record(&[("k", "1")], 100))
        .await
        .expect("create"));
    assert!(store
        .create(&live, &record(&[("k", "1")], 60_000))
        .await
        .expect("create"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    sweep.sweep().await.expect("sweep");
    assert_eq!(store.load(&dead).await.expect("load"), None);
    assert!(
        store.load(&live).await.expect("load").is_some(),
        "a sweep must keep live sessions"
    );
    assert!(store.delete(&live).await.expect("delete"));
}

const CONFIG: SessionConfig = SessionConfig::DEFAULT;

async fn commit(sessions: &Sessions, session: crate::Session) -> Option<HeaderValue> {
    sessions.commit(&CONFIG, session).await.expect("commit")
}

/// Create, change, cycle_id, delta merge, destroy, and destroy racing a commit.
async fn lifecycle(sessions: &Sessions) {
    let mut s = sessions
        .load(&CONFIG, &HeaderMap::new())
        .await
        .expect("load");
    s.insert("user", "ada").expect("insert");
    let first = cookie_header(
        &commit(sessions, s)
            .await
            .expect("a new session sets a cookie"),
    );

    // Two requests of one session change different keys: both survive.
    let mut a = sessions.load(&CONFIG, &first).await.expect("load");
    let mut b = sessions.load(&CONFIG, &first).await.expect("load");
    assert_eq!(
        a.get::<String>("user").expect("type"),
        Some("ada".into()),
        "the session must load"
    );
    a.insert("theme", "dark").expect("insert");
    b.insert("lang", "en").expect("insert");
    commit(sessions, a).await;
    commit(sessions, b).await;
    let merged = sessions.load(&CONFIG, &first).await.expect("load");
    let keys: HashMap<_, _> = merged.keys().map(|k| (k.to_owned(), ())).collect();
    for key in ["user", "theme", "lang"] {
        assert!(
            keys.contains_key(key),
            "concurrent changes to different keys must all survive; `{key}` was lost"
        );
    }

    // cycle_id: data moves, the old id dies at once.
    let mut c = sessions.load(&CONFIG, &first).await.expect("load");
    c.cycle_id();
    let second = cookie_header(
        &commit(sessions, c)
            .await
            .expect("a cycled session sets a cookie"),
    );
    assert_ne!(first, second, "cycle_id must issue a new id");
    assert!(
        sessions.load(&CONFIG, &first).await.expect("load").is_new(),
        "the old id must stop working after cycle_id"
    );
    let moved = sessions.load(&CONFIG, &second).await.expect("load");
    assert_eq!(
        moved.get::<String>("theme").expect("type"),
        Some("dark".into()),
        "cycle_id must keep the data"
    );

    // A destroy racing a commit: the commit must not resurrect the session.
    let mut late = sessions.load(&CONFIG, &second).await.expect("load");
    let mut logout = sessions.load(&CONFIG, &second).await.expect("load");
    logout.destroy();
    let removal = commit(sessions, logout)
        .await
        .expect("destroy removes the cookie");
    assert!(
        removal.to_str().expect("ascii").contains("Max-Age=0"),
        "destroy must expire the cookie"
    );
    late.insert("after", "logout").expect("insert");
    assert_eq!(
        commit(sessions, late).await,
        None,
        "a commit after destroy must not set a cookie"
    );
    assert!(
        sessions
            .load(&CONFIG, &second)
            .await
            .expect("load")
            .is_new(),
        "a commit racing destroy must not resurrect the session"
    );

    // A login (cycle_id) racing a logout: the logout stays final.
    let mut s = sessions
        .load(&CONFIG, &HeaderMap::new())
        .await
        .expect("load");
    s.insert("user", "bob").expect("insert");
    let third = cookie_header(
        &commit(sessions, s)
            .await
            .expect("a new session sets a cookie"),
    );
    let mut login = sessions.load(&CONFIG, &third).await.expect("load");
    let mut logout = sessions.load(&CONFIG, &third).await.expect("load");
    logout.destroy();
    commit(sessions, logout).await;
    login.cycle_id();
    assert_eq!(
        commit(sessions, login).await,
        None,
        "a cycle_id racing destroy must not move the session to a new id (nor set a cookie)"
    );
}

/// A store wrapper for the suite: records every key a session was
/// created or moved under, can fail one chosen call, and can hide the
/// inner store's atomic move so that the manager's fallback runs.
struct Probe<S> {
    inner: S,
    with_move: bool,
    written: Mutex<Vec<StoreKey>>,
    fail: Mutex<Option<&'static str>>,
}

impl<S: SessionStore> Probe<S> {
    fn new(inner: S, with_move: bool) -> Self {
        Self {
            inner,
            with_move,
            written: Mutex::new(Vec::new()),
            fail: Mutex::new(None),
        }
    }

    fn fail_next(&self, call: &'static str) {
        *self.fail.lock().expect("probe lock") = Some(call);
    }

    fn check(&self, call: &'static str) -> Result<(), StoreError> {
        let mut fail = self.fail.lock().expect("probe lock");
        if *fail == Some(call) {
            *fail = None;
            return Err(StoreError::backend(format!(
                "{call} failed (injected by the conformance suite)"
            )));
        }
        Ok(())
    }

    fn written(&self) -> Vec<StoreKey> {
        self.written.lock().expect("probe lock").clone()
    }
}

impl<S: SessionStore> SessionStore for Probe<S> {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.check("load")?;
        self.inner.load(key).await
    }
    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        self.check("create")?;
        self.written.lock().expect("probe lock").push(*key);
        self.inner.create(key, record).await
    }
    async fn update(&self, key: &StoreKey, update: &Update<'_>) -> Result<bool, StoreError> {
        self.check("update")?;
        self.inner.update(key, update).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.check("delete")?;
        self.inner.delete(key).await
    }
    fn is_shared(&self) -> bool {
        self.inner.is_shared()
    }
    fn may_block(&self) -> bool {
        self.inner.may_block()
    }
    fn capabilities(&self) -> Capabilities<'_> {
        let inner = self.inner.capabilities();
        let mut caps = Capabilities::none();
        if inner.atomic_move().is_some() && self.with_move {
            caps = caps.with_atomic_move(self);
        }
        if inner.user_index().is_some() {
            caps = caps.with_user_index(self);
        }
        caps
    }
}

impl<S: SessionStore> Probe<S> {
    fn index(&self) -> &dyn UserIndex {
        self.inner
            .capabilities()
            .user_index()
            .expect("offered only when the inner store has it")
    }
}

impl<S: SessionStore> UserIndex for Probe<S> {
    fn list<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>> {
        Box::pin(async move {
            self.check("list")?;
            self.index().list(user).await
        })
    }
    fn revoke<'a>(
        &'a self,
        user: &'a str,
        which: Revoke<'a>,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            self.check("revoke")?;
            self.index().revoke(user, which).await
        })
    }
    fn forget<'a>(
        &'a self,
        owner: &'a Owner,
        key: &'a StoreKey,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.index().forget(owner, key)
    }
}

impl<S: SessionStore> AtomicMove for Probe<S> {
    fn move_to<'a>(
        &'a self,
        from: &'a StoreKey,
        to: &'a StoreKey,
        update: &'a Update<'a>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            self.check("move")?;
            self.written.lock().expect("probe lock").push(*to);
            let mover = self
                .inner
                .capabilities()
                .atomic_move()
                .expect("offered only when the inner store has it");
            mover.move_to(from, to, update).await
        })
    }
}

/// A `Cookie` header naming a session stored directly (with chosen
/// timestamps), signed as the manager would.
fn signed_cookie(sessions: &Sessions, id: &SessionId) -> HeaderMap {
    let value = crate::cookie::value(id, &CONFIG, sessions.keys());
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        HeaderValue::from_str(&format!("{}={value}", CONFIG.cookie_name())).expect("ascii"),
    );
    headers
}

/// Which path of `cycle_id` a check ran on, for its messages.
fn how(with_move: bool) -> &'static str {
    if with_move {
        "with the store's atomic move"
    } else {
        "with create/delete"
    }
}

/// The three-way race of a logout: a destroy, then an update of the same
/// session that arrives after it, then a `cycle_id` (or an automatic
/// renewal) of it. The logout must stay final: no key the store was ever
/// asked to write holds a live session afterwards.
async fn logout_is_final<S: SessionStore>(store: Arc<S>, with_move: bool) {
    let how = how(with_move);
    let probe = Arc::new(Probe::new(store, with_move));
    let sessions = manager(probe.clone());
    let renewing = CONFIG.with_renew_after(60);
    for renewal in [false, true] {
        let what = if renewal { "a renewal" } else { "a cycle_id" };
        let id = SessionId::generate().expect("OS random");
        let now = now_ms();
        // Issued two minutes ago, so that `renewing` wants a new id.
        let record = Record::new(
            SessionData::from_iter([("secret".to_owned(), "\"pre-logout\"".to_owned())]),
            now - 120_000,
            now - 120_000,
            now + 60_000,
        );
        assert!(probe
            .create(&id.store_key(), &record)
            .await
            .expect("create"));
        let cookie = signed_cookie(&sessions, &id);

        let mut logout = sessions.load(&CONFIG, &cookie).await.expect("load");
        let mut late = sessions.load(&CONFIG, &cookie).await.expect("load");
        let mut moving = if renewal {
            sessions.load(&renewing, &cookie).await.expect("load")
        } else {
            sessions.load(&CONFIG, &cookie).await.expect("load")
        };
        assert!(!logout.is_new(), "the session must load");

        logout.destroy();
        assert!(
            commit(&sessions, logout).await.is_some(),
            "a logout removes the cookie"
        );
        late.insert("counter", 2).expect("insert");
        assert_eq!(
            commit(&sessions, late).await,
            None,
            "a commit after a logout sets no cookie"
        );
        let moved = if renewal {
            sessions.commit(&renewing, moving).await.expect("commit")
        } else {
            moving.cycle_id();
            moving.insert("user", "victim").expect("insert");
            commit(&sessions, moving).await
        };
        assert_eq!(
            moved, None,
            "{what} after a logout and a late update must not move the session ({how})"
        );
        for key in probe.written() {
            assert_eq!(
                probe.inner.load(&key).await.expect("load"),
                None,
                "after a logout, a late update and {what}, a live session holds the pre-logout data ({how})"
            );
        }
    }
}

/// A store failure in the middle of a `cycle_id` answers an error and
/// leaves the original session loadable with its data.
async fn failures_keep_the_session<S: SessionStore>(store: Arc<S>) {
    let has_move = store.capabilities().atomic_move().is_some();
    let mut cases = vec![(false, "create"), (false, "delete")];
    if has_move {
        cases.push((true, "move"));
    }
    for (with_move, call) in cases {
        let probe = Arc::new(Probe::new(store.clone(), with_move));
        let sessions = manager(probe.clone());
        let mut s = sessions
            .load(&CONFIG, &HeaderMap::new())
            .await
            .expect("load");
        s.insert("user", "ada").expect("insert");
        let cookie = cookie_header(&commit(&sessions, s).await.expect("a cookie"));
        let mut login = sessions.load(&CONFIG, &cookie).await.expect("load");
        login.cycle_id();
        probe.fail_next(call);
        assert!(
            sessions.commit(&CONFIG, login).await.is_err(),
            "a cycle_id whose `{call}` fails must answer an error"
        );
        let after = sessions.load(&CONFIG, &cookie).await.expect("load");
        assert_eq!(
            after.get::<String>("user").expect("type"),
            Some("ada".into()),
            "a cycle_id whose `{call}` failed must leave the original session loadable"
        );
    }
}

/// `n` requests of one session, each setting its own key, all loaded before
/// any commits: every key must be there afterwards.
async fn concurrent_keys(sessions: &Sessions, n: usize) {
    let mut s = sessions
        .load(&CONFIG, &HeaderMap::new())
        .await
        .expect("load");
    s.insert("base", 0).expect("insert");
    let cookie = cookie_header(
        &commit(sessions, s)
            .await
            .expect("a new session sets a cookie"),
    );
    let mut loaded = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = sessions.load(&CONFIG, &cookie).await.expect("load");
        s.insert(&format!("key{i}"), i).expect("insert");
        loaded.push(s);
    }
    let tasks: Vec<_> = loaded
        .into_iter()
        .map(|s| {
            let sessions = sessions.clone();
            tokio::spawn(async move { sessions.commit(&CONFIG, s).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("commit task").expect("commit");
    }
    let end = sessions.load(&CONFIG, &cookie).await.expect("load");
    for i in 0..n {
        assert_eq!(
            end.get::<usize>(&format!("key{i}")).expect("type"),
            Some(i),
            "{n} concurrent requests each set their own key; key{i} was lost"
        );
    }
}

/// `pairs` pairs of requests of one session, all loaded before any
/// commits; the two requests of a pair change different keys and commit
/// at the same moment, and every pair commits at once: afterwards every
/// key is there. Not part of [`run`] (it is long on a remote store); the
/// shipped SQL stores run it with 1,000 pairs.
///
/// The manager it uses waits up to 60 s per store call: what is checked
/// is that no commit is lost, not how fast 2 × `pairs` commits to one
/// session queue up.
///
/// # Panics
///
/// When a commit fails or a key is lost.
pub async fn concurrent_pairs<S: SessionStore>(store: Arc<S>, pairs: usize) {
    let sessions = Sessions::builder()
        .secret(SECRET)
        .store(store)
        .store_timeout(Duration::from_secs(60))
        .build()
        .expect("a valid manager");
    let mut s = sessions
        .load(&CONFIG, &HeaderMap::new())
        .await
        .expect("load");
    s.insert("base", 0).expect("insert");
    let cookie = cookie_header(
        &commit(&sessions, s)
            .await
            .expect("a new session sets a cookie"),
    );
    let mut loaded = Vec::with_capacity(pairs);
    for i in 0..pairs {
        let mut a = sessions.load(&CONFIG, &cookie).await.expect("load");
        let mut b = sessions.load(&CONFIG, &cookie).await.expect("load");
        a.insert(&format!("a{i}"), i).expect("insert");
        b.insert(&format!("b{i}"), i).expect("insert");
        loaded.push((a, b));
    }
    let tasks: Vec<_> = loaded
        .into_iter()
        .map(|(a, b)| {
            let sessions = sessions.clone();
            tokio::spawn(async move {
                let (a, b) = tokio::join!(sessions.commit(&CONFIG, a), sessions.commit(&CONFIG, b));
                a.and(b)
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("commit task").expect("commit");
    }
    let end = sessions.load(&CONFIG, &cookie).await.expect("load");
    for i in 0..pairs {
        for side in ["a", "b"] {
            assert_eq!(
                end.get::<usize>(&format!("{side}{i}")).expect("type"),
                Some(i),
                "{pairs} concurrent pairs of commits each set their own keys; {side}{i} was lost"
            );
        }
    }
}
