//! A store written outside the crate, used end to end: the trait is all a
//! backend needs to implement.

mod common;

use common::counter_server::serve_counter;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{browser, get_json};
use hyper_session::store::{Record, SessionStore, Update};
use hyper_session::{BuildError, Sessions, StoreError, StoreKey};

/// A map behind one lock that counts its calls.
#[derive(Default)]
struct CountingStore {
    map: Mutex<HashMap<StoreKey, Record>>,
    loads: AtomicUsize,
    writes: AtomicUsize,
}

impl SessionStore for CountingStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        Ok(self.map.lock().expect("lock").get(key).cloned())
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        let mut map = self.map.lock().expect("lock");
        if map.contains_key(key) {
            return Ok(false);
        }
        map.insert(*key, record.clone());
        Ok(true)
    }

    async fn update(&self, key: &StoreKey, update: &Update<'_>) -> Result<bool, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        let mut map = self.map.lock().expect("lock");
        let Some(record) = map.get_mut(key) else {
            return Ok(false);
        };
        update.apply_to(record);
        Ok(true)
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(self.map.lock().expect("lock").remove(key).is_some())
    }
}

#[test]
fn a_shared_store_without_a_secret_is_refused() {
    let err = Sessions::builder()
        .store(Arc::new(CountingStore::default()))
        .build()
        .expect_err("a custom store is shared unless it says otherwise");
    assert!(matches!(err, BuildError::SecretRequired), "{err}");
    assert!(
        err.to_string().contains(".secret("),
        "the message says what to do: {err}"
    );
}

#[tokio::test]
async fn a_user_store_serves_sessions_with_one_load_and_one_write_per_request() {
    let store = Arc::new(CountingStore::default());
    let url = serve_counter(store.clone()).await;
    let client = browser();
    for n in 1..=3 {
        assert_eq!(get_json(&client, &url).await["n"], n);
    }
    // The first request had no cookie: no load. Then one load per request.
    assert_eq!(store.loads.load(Ordering::SeqCst), 2);
    assert_eq!(store.writes.load(Ordering::SeqCst), 3);
    assert_eq!(store.map.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_capability_the_store_lacks_is_a_typed_error() {
    let sessions = Sessions::builder()
        .secret("custom store test secret, long enough!")
        .store(CountingStore::default())
        .build()
        .expect("valid manager");
    let err = sessions.sweep().await.expect_err("this store cannot sweep");
    assert!(
        matches!(err, StoreError::Unsupported { capability } if capability.contains("sweep")),
        "{err}"
    );
    // The memory store can.
    let memory = Sessions::in_memory().expect("manager");
    assert_eq!(memory.sweep().await.expect("the memory store sweeps"), 0);
}
