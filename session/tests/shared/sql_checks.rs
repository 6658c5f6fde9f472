//! Checks the PostgreSQL and SQLite store tests share.

use hyper_session::store::{Record, Revoke, SessionData, SessionStore, Update};
use hyper_session::{StoreError, StoreKey};

/// Stores a session with one value under `k`, created at `now`; returns
/// its data.
pub async fn a_good_session(store: &impl SessionStore, k: &StoreKey, now: u64) -> SessionData {
    let data = SessionData::from_iter([("user".to_owned(), "\"ada\"".to_owned())]);
    let record = Record::new(data.clone(), now, now, now + 60_000);
    assert!(store.create(k, &record).await.expect("create"));
    data
}

/// After rows were written straight into the table under `bad_json`
/// (`data` that is not JSON) and `negative` (a negative expiry): loading
/// either is `StoreError::Corrupt` naming the session's fingerprint and
/// none of its data; updating the first is corrupt too; and `good`, a
/// session stored by the store, still loads `data`.
pub async fn corrupt_rows_are_errors(
    store: &impl SessionStore,
    [good, bad_json, negative]: [&StoreKey; 3],
    data: SessionData,
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

/// Sends every statement the store has once, so that a test can look at
/// what was sent (and its plans): a create, load, update, move, delete,
/// sweep, listing (of `"ada"`, who has `ada_sessions`) and revocation, on
/// keys `k` and `moved`.
pub async fn every_statement(
    store: &impl SessionStore,
    [k, moved]: [&StoreKey; 2],
    ada_sessions: usize,
) {
    let t = u64::try_from(std::time::UNIX_EPOCH.elapsed().expect("clock").as_millis()).expect("ms");
    let r = Record::new(SessionData::default(), t, t, t + 60_000);
    store.create(k, &r).await.expect("create");
    store.load(k).await.expect("load");
    store
        .update(k, &Update::new(t + 60_000).set("a", "1"))
        .await
        .expect("update");
    let caps = store.capabilities();
    caps.atomic_move()
        .expect("a move")
        .move_to(k, moved, &Update::new(t + 60_000))
        .await
        .expect("move");
    store.delete(moved).await.expect("delete");
    caps.sweep().expect("sweep").sweep().await.expect("sweep");
    let index = caps.user_index().expect("an index");
    assert_eq!(index.list("ada").await.expect("list").len(), ada_sessions);
    assert_eq!(
        index.revoke("nobody", Revoke::All).await.expect("revoke"),
        0
    );
}

/// Values of every JSON shape, under keys with quotes, `$` and brackets,
/// stored and read back byte for byte; a merge replaces values whole,
/// nested objects included, and keeps `\u0000`.
pub async fn any_json_value_round_trips(store: &impl SessionStore, k: &StoreKey) {
    let values = [
        r#""nul \u0000 inside""#,
        r#"{"a":{"b":{"c":[1,2,{"d":null}]}},"e":"\u0000"}"#,
        "1.50",
        "1e400",
        "-0",
        r#"  {"spaced" :  true }  "#,
        r#""\ud83d\ude00 and 😀 and \"quotes\" and \\ back""#,
        "null",
        "[]",
        r#""'; DROP TABLE hyper_sessions; --""#,
    ];
    let data: SessionData = values
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("k{i}.with \"odd\" $chars[0]"), (*v).to_owned()))
        .collect();
    let t = u64::try_from(std::time::UNIX_EPOCH.elapsed().expect("clock").as_millis()).expect("ms");
    let record = Record::new(data, t, t, t + 60_000);
    assert!(store.create(k, &record).await.expect("create"));
    assert_eq!(store.load(k).await.expect("load"), Some(record.clone()));
    let update = Update::new(t + 90_000)
        .set("k1.with \"odd\" $chars[0]", r#"{"a":{"x":1}}"#)
        .set("new", r#""\u0000""#)
        .remove("k2.with \"odd\" $chars[0]");
    assert!(store.update(k, &update).await.expect("update"));
    let mut expected = record;
    update.apply_to(&mut expected);
    assert_eq!(store.load(k).await.expect("load"), Some(expected));
}
