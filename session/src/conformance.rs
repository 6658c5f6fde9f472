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
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderValue, COOKIE};

use crate::config::SessionConfig;
use crate::expiry::now_ms;
use crate::id::SessionId;
use crate::store::{Record, SessionStore, Update};
use crate::Sessions;

/// Runs every check against `store`.
///
/// # Panics
///
/// On the first property the store breaks, naming it.
pub async fn run<S: SessionStore>(store: Arc<S>) {
    records(&*store).await;
    expiry(&*store).await;
    let sessions = Sessions::builder()
        .secret("conformance suite secret, not for production")
        .store(store)
        .build()
        .expect("a valid manager");
    lifecycle(&sessions).await;
    concurrent_keys(&sessions, 50).await;
}

fn fresh_key() -> crate::StoreKey {
    SessionId::generate().expect("OS random").store_key()
}

fn record(pairs: &[(&str, &str)], expires_in_ms: u64) -> Record {
    let now = now_ms();
    Record {
        data: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        created_at: now,
        renewed_at: now,
        expires_at: now + expires_in_ms,
    }
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

    let update = Update {
        set: vec![("a", "10"), ("c", "3")],
        remove: vec!["b"],
        expires_at: original.expires_at + 1_000,
    };
    assert!(
        store.update(&key, &update).await.expect("update"),
        "update of a live key must apply"
    );
    let mut merged = original.clone();
    update.apply_to(&mut merged);
    assert_eq!(
        store.load(&key).await.expect("load"),
        Some(merged),
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

const CONFIG: SessionConfig = SessionConfig::DEFAULT;

/// The `Cookie` header a browser would send back after `set_cookie`.
fn cookie_header(set_cookie: &HeaderValue) -> HeaderMap {
    let text = set_cookie.to_str().expect("ascii Set-Cookie");
    let pair = text.split(';').next().expect("name=value");
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(pair).expect("cookie pair"));
    headers
}

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
