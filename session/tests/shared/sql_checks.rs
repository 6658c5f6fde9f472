//! Checks the PostgreSQL and SQLite store tests share.

use std::collections::HashMap;

use hyper_session::store::{SessionStore, Update};
use hyper_session::{StoreError, StoreKey};

/// After rows were written straight into the table under `bad_json`
/// (`data` that is not JSON) and `negative` (a negative expiry): loading
/// either is `StoreError::Corrupt` naming the session's fingerprint and
/// none of its data; updating the first is corrupt too; and `good`, a
/// session stored by the store, still loads `data`.
pub async fn corrupt_rows_are_errors(
    store: &impl SessionStore,
    [good, bad_json, negative]: [&StoreKey; 3],
    data: HashMap<String, String>,
    now: u64,
) {
    for k in [bad_json, negative] {
        match store.load(k).await {
            Err(StoreError::Corrupt(text)) => {
                assert!(text.contains(&k.fingerprint().to_string()), "{text}");
                assert!(
                    !text.contains("not json") && !text.contains("ada"),
                    "{text}"
                );
            }
            other => panic!("a corrupt row must be StoreError::Corrupt, got {other:?}"),
        }
    }
    // The merge parses `data` in the database: that failure is corrupt data too.
    match store
        .update(bad_json, &Update::new(now + 1).set("a", "1"))
        .await
    {
        Err(StoreError::Corrupt(text)) => {
            assert!(text.contains(&bad_json.fingerprint().to_string()), "{text}")
        }
        other => panic!("an update of a corrupt row must be Corrupt, got {other:?}"),
    }
    // Others' sessions are unaffected, and a request gets an error, not data.
    assert_eq!(
        store.load(good).await.expect("load").map(|r| r.data),
        Some(data)
    );
}
