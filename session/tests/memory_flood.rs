//! Issue 10, finding 2: a flood of new visitors must not push out the
//! users who come back, and the memory store holds what it was given.

use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{HeaderMap, HeaderValue, COOKIE};
use hyper_session::store::{Record, SessionStore};
use hyper_session::{MemoryStore, SessionConfig, Sessions, StoreKey};
use sha2::{Digest, Sha256};

const CAPACITY: usize = 1_000;
const USERS: u64 = 100;
const FLOOD: u64 = 5_000;

/// Uniform keys, as real ones are (SHA-256 outputs).
fn key(n: u64) -> StoreKey {
    StoreKey::from_bytes(Sha256::digest(n.to_le_bytes()).into())
}

fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    u64::try_from(since.as_millis()).expect("ms fit")
}

/// What a one-request visitor's commit stores, with a later expiry than
/// the users' (a fresh session expires last).
fn record(n: u64) -> Record {
    let now = now_ms();
    let data = [("test_counter".to_owned(), n.to_string())]
        .into_iter()
        .collect();
    Record::new(data, now, now, now + 3_600_000 + n)
}

#[tokio::test]
async fn returning_users_survive_a_flood_of_one_request_sessions() {
    let store = MemoryStore::with_capacity(CAPACITY);
    let mut most = 0;
    for n in 0..USERS {
        assert!(store.create(&key(n), &record(n)).await.expect("create"));
        assert!(store.load(&key(n)).await.expect("load").is_some());
    }
    for n in USERS..USERS + FLOOD {
        assert!(store.create(&key(n), &record(n)).await.expect("create"));
        most = most.max(store.len());
    }
    for n in 0..USERS {
        assert!(
            store.load(&key(n)).await.expect("load").is_some(),
            "returning user {n} was evicted by the flood"
        );
    }
    assert!(most <= CAPACITY, "held {most} > {CAPACITY}");
    assert_eq!(store.len(), CAPACITY);
}

const CONFIG: SessionConfig = SessionConfig::DEFAULT;

/// One request that writes the counter; returns the `Cookie` header a
/// browser would send next, if the session is new.
async fn visit(sessions: &Sessions, cookie: &HeaderMap) -> Option<HeaderMap> {
    let mut s = sessions.load(&CONFIG, cookie).await.expect("load");
    let n = s.get::<u64>("test_counter").expect("a number").unwrap_or(0);
    s.insert("test_counter", n + 1).expect("fits");
    let set = sessions.commit(&CONFIG, s).await.expect("commit")?;
    let pair = set
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("pair");
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(pair).expect("header"));
    Some(headers)
}

#[tokio::test]
async fn through_the_manager_a_cookieless_flood_leaves_returning_users_signed_in() {
    let store = MemoryStore::with_capacity(CAPACITY);
    let sessions = Sessions::builder()
        .store(store.clone())
        .build()
        .expect("manager");
    let mut users = Vec::new();
    for _ in 0..USERS {
        let cookie = visit(&sessions, &HeaderMap::new()).await.expect("new");
        assert!(visit(&sessions, &cookie).await.is_none(), "came back");
        users.push(cookie);
    }
    let mut most = 0;
    for _ in 0..FLOOD {
        visit(&sessions, &HeaderMap::new()).await.expect("new");
        most = most.max(store.len());
    }
    for (i, cookie) in users.iter().enumerate() {
        let s = sessions.load(&CONFIG, cookie).await.expect("load");
        assert_eq!(
            s.get::<u64>("test_counter").expect("a number"),
            Some(2),
            "user {i} lost their session to the flood"
        );
    }
    assert!(most <= CAPACITY, "held {most} > {CAPACITY}");
}

#[tokio::test]
async fn a_small_store_holds_no_more_than_it_was_given() {
    let store = MemoryStore::with_capacity(10);
    for n in 0..1_000 {
        assert!(store.create(&key(n), &record(n)).await.expect("create"));
        assert!(store.len() <= 10, "held {}", store.len());
    }
    assert_eq!(store.len(), 10);
}
