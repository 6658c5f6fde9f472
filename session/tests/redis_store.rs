//! The shared store conformance suite against a real Redis (env
//! `REDIS_URL`), the store's Redis layout, and its round trips.
#![cfg(all(feature = "redis", feature = "conformance"))]

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::header::{HeaderMap, HeaderValue, COOKIE};
use hyper_session::store::{Record, SessionStore, Update};
use hyper_session::{RedisStore, RequestError, SessionConfig, Sessions, StoreError};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;

// The same Redis environment as the end-to-end tests.
#[allow(dead_code)]
#[path = "shared/steps.rs"]
mod steps;

#[allow(dead_code)]
#[path = "../../tests/common/redis_env.rs"]
mod redis_env;

use redis_env::{redis_url, unique_prefix};

#[path = "../../tests/common/counting_proxy.rs"]
mod counting_proxy;

use counting_proxy::CountingProxy;

/// The store under test, its keys under `prefix`.
async fn connect(url: &str, prefix: &str) -> RedisStore {
    RedisStore::connect(url)
        .await
        .expect("connect")
        .with_prefix(prefix)
}

/// The Redis URL, a prefix of the test's own, and the store under it; or
/// `None` when Redis tests are skipped.
async fn store_for(test: &str) -> Option<(String, String, RedisStore)> {
    let url = redis_url()?;
    let prefix = unique_prefix(test);
    let store = connect(&url, &prefix).await;
    Some((url, prefix, store))
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms")
}

/// A plain connection for looking at what the store wrote.
async fn raw(url: &str) -> ConnectionManager {
    let client = redis::Client::open(url).expect("valid REDIS_URL");
    ConnectionManager::new(client)
        .await
        .expect("Redis reachable")
}

/// The keys under `prefix`. SCAN, not KEYS: the Redis is shared, and KEYS
/// blocks it for as long as it takes to walk every key it holds.
async fn keys_under(conn: &mut ConnectionManager, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

/// Deletes every key under `prefix`; returns how many there were.
async fn cleanup(url: &str, prefix: &str) -> usize {
    let mut conn = raw(url).await;
    let keys = keys_under(&mut conn, prefix).await;
    if !keys.is_empty() {
        let _: () = conn.del(&keys).await.expect("DEL");
    }
    keys.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_conforms() {
    let Some((url, prefix, store)) = store_for("conformance").await else {
        return;
    };
    assert_eq!(store.prefix(), prefix);
    assert!(store.is_shared(), "Redis is shared between processes");
    hyper_session::conformance::run(Arc::new(store)).await;
    cleanup(&url, &prefix).await;
}

const CONFIG: SessionConfig = SessionConfig::DEFAULT;

fn manager(store: RedisStore) -> Sessions {
    Sessions::builder()
        .secret("redis store test secret, long enough!")
        .store(store)
        .build()
        .expect("valid manager")
}

#[tokio::test]
async fn one_hash_per_session_with_data_and_metadata_fields_and_a_redis_expiry() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix("layout");
    let sessions = manager(
        RedisStore::connect(&url)
            .await
            .expect("connect")
            .with_prefix(&prefix),
    );
    let cookie = steps::create(
        &sessions,
        &CONFIG,
        &[
            ("user", serde_json::json!("ada")),
            ("n", serde_json::json!(7)),
        ],
    )
    .await;

    let mut conn = raw(&url).await;
    let keys = keys_under(&mut conn, &prefix).await;
    assert_eq!(keys.len(), 1, "one key per session: {keys:?}");
    let hex = &keys[0][prefix.len()..];
    assert_eq!(
        hex.len(),
        64,
        "the key is the prefix and the store key in hex"
    );
    assert!(hex
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let cookie_text = cookie[COOKIE].to_str().expect("ascii");
    let id = cookie_text
        .split('=')
        .nth(1)
        .and_then(|v| v.split('.').next())
        .expect("id");
    assert!(
        !keys[0].contains(id),
        "Redis must not hold the session id itself"
    );

    let fields: std::collections::HashMap<String, String> =
        conn.hgetall(&keys[0]).await.expect("HGETALL");
    assert_eq!(fields.get("d:user").map(String::as_str), Some("\"ada\""));
    assert_eq!(fields.get("d:n").map(String::as_str), Some("7"));
    // The times are one field, `<created>,<expires>` in ms (a new
    // session's id is as old as it: no third part): text that Redis hands
    // back as it is.
    let times: Vec<u64> = fields["m:c"]
        .split(',')
        .map(|ms| ms.parse().expect("digits"))
        .collect();
    let [created, expires] = times[..] else {
        panic!("m:c is not <created>,<expires>: {}", fields["m:c"]);
    };
    assert!(expires > created);
    assert!(
        !fields.contains_key("m:s"),
        "last seen is kept for signed-in sessions only"
    );
    assert_eq!(fields.len(), 3, "the values and m:c: {fields:?}");
    let pttl: i64 = conn.pttl(&keys[0]).await.expect("PTTL");
    let now = now_ms();
    let pttl = u64::try_from(pttl).expect("Redis has an expiry for the key");
    let left = expires - now;
    assert!(
        pttl <= left + 50 && pttl + 5_000 >= left,
        "Redis expires the key when the session ends: PTTL {pttl} ms, the end in {left} ms"
    );

    // A removed key is an HDEL of its field; the others stay.
    let mut s = sessions.load(&CONFIG, &cookie).await.expect("load");
    s.remove("n");
    sessions.commit(&CONFIG, s).await.expect("commit");
    let fields: std::collections::HashMap<String, String> =
        conn.hgetall(&keys[0]).await.expect("HGETALL");
    assert!(!fields.contains_key("d:n"), "remove deletes the field");
    assert!(fields.contains_key("d:user"));

    // Metadata that this library did not write is reported, not guessed at.
    let _: () = conn
        .hset(&keys[0], "m:c", "1,tomorrow")
        .await
        .expect("HSET");
    let err = sessions
        .load(&CONFIG, &cookie)
        .await
        .expect_err("corrupt metadata");
    assert!(
        matches!(err, RequestError::Store(StoreError::Corrupt(_))),
        "{err}"
    );

    // Logged-out sessions leave nothing behind.
    let _: () = conn
        .hset(&keys[0], "m:c", format!("{created},{}", u64::MAX / 2))
        .await
        .expect("HSET");
    let mut s = sessions.load(&CONFIG, &cookie).await.expect("load");
    assert!(!s.is_new());
    s.destroy();
    sessions.commit(&CONFIG, s).await.expect("commit");
    assert_eq!(cleanup(&url, &prefix).await, 0, "destroy deletes the key");
}

#[tokio::test]
async fn an_entry_whose_end_has_passed_is_not_returned_even_before_redis_reclaims_it() {
    let Some((url, prefix, store)) = store_for("past").await else {
        return;
    };
    let key = hyper_session::StoreKey::from_bytes([7; 32]);
    let name = format!("{prefix}{}", key.to_hex());
    let mut conn = raw(&url).await;
    // This release's layout, and an earlier one's.
    for fields in [
        &["m:c", "1,2", "d:a", "1"][..],
        &["m:c", "1", "m:r", "1", "m:e", "2", "d:a", "1"],
    ] {
        let _: () = redis::cmd("HSET")
            .arg(&name)
            .arg(fields)
            .query_async(&mut conn)
            .await
            .expect("HSET");
        let _: () = conn.expire(&name, 60).await.expect("EXPIRE");
        assert_eq!(store.load(&key).await.expect("load"), None);
        let _: () = conn.del(&name).await.expect("DEL");
    }
    // A key that is not a hash is reported as corrupt.
    let _: () = conn.set(&name, "not a hash").await.expect("SET");
    let err = store.load(&key).await.expect_err("WRONGTYPE");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    cleanup(&url, &prefix).await;
}

#[tokio::test]
async fn connect_fails_clearly_for_a_bad_url_or_an_unreachable_redis() {
    let err = RedisStore::connect("http://127.0.0.1:6379")
        .await
        .expect_err("not a redis URL");
    assert!(err.to_string().contains("invalid Redis URL"), "{err}");

    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port(); // closed again: nothing listens there
    let started = Instant::now();
    let err = RedisStore::connect(&format!("redis://127.0.0.1:{port}"))
        .await
        .expect_err("nothing listens");
    assert!(err.to_string().contains("cannot connect to Redis"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "connect to a closed port gave up after {:?}",
        started.elapsed()
    );
}

/// `host:port` of a `redis://[user:pass@]host[:port][/db]` URL.
fn upstream(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().expect("authority");
    let host_port = authority.rsplit('@').next().expect("host");
    let with_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:6379")
    };
    std::net::ToSocketAddrs::to_socket_addrs(&with_port)
        .expect("resolvable Redis host")
        .next()
        .expect("an address")
}

/// `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let user = authority
        .rsplit_once('@')
        .map_or(String::new(), |(u, _)| format!("{u}@"));
    format!("{scheme}://{user}{addr}/{path}")
}

#[tokio::test]
async fn one_round_trip_to_load_one_to_commit_none_without_a_cookie() {
    let Some(url) = redis_url() else { return };
    let proxy = CountingProxy::start(upstream(&url));
    let prefix = unique_prefix("round-trips");
    let sessions = manager(
        RedisStore::connect(&through(&url, proxy.addr))
            .await
            .expect("connect through the proxy")
            .with_prefix(&prefix),
    );

    // Warm up the connection before counting.
    let warm = steps::create(&sessions, &CONFIG, &[("warm", serde_json::json!(true))]).await;
    steps::write(&sessions, &CONFIG, &warm, "warm", serde_json::json!(false)).await;
    proxy.take();

    // No cookie, no store call, even when the handler only reads.
    let s = sessions
        .load(&CONFIG, &HeaderMap::new())
        .await
        .expect("load");
    assert_eq!(s.get::<u64>("n").expect("type"), None);
    assert_eq!(sessions.commit(&CONFIG, s).await.expect("commit"), None);
    assert_eq!(
        proxy.take(),
        Vec::<Vec<String>>::new(),
        "a request without a cookie"
    );

    // A forged cookie: its tag fails, so no store call either.
    let mut forged = HeaderMap::new();
    forged.insert(
        COOKIE,
        HeaderValue::from_static("sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    );
    let s = sessions.load(&CONFIG, &forged).await.expect("load");
    assert!(s.is_new());
    assert_eq!(sessions.commit(&CONFIG, s).await.expect("commit"), None);
    assert_eq!(
        proxy.take(),
        Vec::<Vec<String>>::new(),
        "a request with a forged cookie"
    );

    let cookie = hyper_session::__bench::first_visit(&sessions, &CONFIG, &[("n", 1), ("gone", 1)])
        .await
        .expect("commit")
        .expect("cookie");
    assert_eq!(
        proxy.take(),
        [["HSET", "PEXPIREAT", "RENAMENX"]],
        "a new session: one pipeline, renamed into place"
    );

    let mut s = sessions.load(&CONFIG, &cookie).await.expect("load");
    assert_eq!(proxy.take(), [["HGETALL"]], "a load");
    s.insert("n", 2).expect("insert");
    assert!(s.remove("gone"));
    sessions.commit(&CONFIG, s).await.expect("commit");
    // redis-rs writes a pipeline at once and then reads every reply: one
    // round trip, two commands (the expiry refresh is not due: no TTL).
    assert_eq!(
        proxy.take(),
        [["HSET", "HDEL"]],
        "a commit of changes: one pipeline; HSET's answer is the liveness check"
    );

    let s = sessions.load(&CONFIG, &cookie).await.expect("load");
    assert_eq!(s.get::<u64>("n").expect("type"), Some(2));
    sessions.commit(&CONFIG, s).await.expect("commit");
    assert_eq!(
        proxy.take(),
        [["HGETALL"]],
        "an untouched session writes nothing"
    );

    let cycled = steps::cycle(&sessions, &CONFIG, &cookie).await;
    assert_eq!(
        proxy.take(),
        [vec!["HGETALL"], vec!["EVAL"]],
        "cycle_id: one script that checks the live hash and renames it"
    );

    steps::destroy(&sessions, &CONFIG, &cycled).await;
    assert_eq!(
        proxy.take(),
        [vec!["HGETALL"], vec!["HDEL", "UNLINK"]],
        "destroy: one pipeline that says whether a live session ended"
    );

    steps::destroy(&sessions, &CONFIG, &warm).await;
    assert_eq!(cleanup(&url, &prefix).await, 0);
}

#[tokio::test]
async fn sessions_with_hundreds_of_keys_are_written_and_changed() {
    let Some((url, prefix, store)) = store_for("many-keys").await else {
        return;
    };
    let key = hyper_session::StoreKey::from_bytes([9; 32]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let now = u64::try_from(now).expect("ms");
    let data = (0..1_000)
        .map(|i| (format!("k{i}"), i.to_string()))
        .collect();
    let record = Record::new(data, now, now, now + 60_000);
    assert!(store.create(&key, &record).await.expect("create"));
    assert_eq!(store.load(&key).await.expect("load"), Some(record.clone()));

    let removed: Vec<String> = (0..700).map(|i| format!("k{i}")).collect();
    let added: Vec<(String, String)> = (1_000..1_700)
        .map(|i| (format!("k{i}"), format!("\"{i}\"")))
        .collect();
    let mut update = Update::new(now + 120_000);
    for (k, v) in &added {
        update = update.set(k, v);
    }
    for k in &removed {
        update = update.remove(k);
    }
    assert!(store.update(&key, &update).await.expect("update"));
    let mut expected = record;
    update.apply_to(&mut expected);
    assert_eq!(expected.data.len(), 1_000);
    let loaded = store.load(&key).await.expect("load").expect("alive");
    assert_eq!(loaded.data, expected.data);
    assert_eq!(loaded.expires_at, expected.expires_at);
    store.delete(&key).await.expect("delete");
    assert_eq!(cleanup(&url, &prefix).await, 0);
}

/// A fragment (what a write losing a race with a logout leaves: data, no
/// `m:c`) is dead to every operation.
#[tokio::test]
async fn a_fragment_is_dead_to_load_update_delete_and_move() {
    let Some((url, prefix, store)) = store_for("fragment").await else {
        return;
    };
    let mut conn = raw(&url).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let later = u64::try_from(now).expect("ms") + 60_000;
    let fragment = |byte: u8| {
        let key = hyper_session::StoreKey::from_bytes([byte; 32]);
        (key, format!("{prefix}{}", key.to_hex()))
    };
    async fn plant(conn: &mut ConnectionManager, name: &str, later: u64) {
        let _: () = redis::cmd("HSET")
            .arg(name)
            .arg("m:e")
            .arg(later)
            .arg("d:test_counter")
            .arg("3")
            .query_async(conn)
            .await
            .expect("HSET");
        let _: () = conn.expire(name, 60).await.expect("EXPIRE");
    }
    let update = Update::new(later).set("test_counter", "4");

    let (key, name) = fragment(1);
    plant(&mut conn, &name, later).await;
    assert_eq!(
        store.load(&key).await.expect("load"),
        None,
        "load ignores a fragment"
    );
    assert!(
        !store.delete(&key).await.expect("delete"),
        "deleting a fragment reports that no live session ended"
    );
    assert!(
        !conn.exists::<_, bool>(&name).await.expect("EXISTS"),
        "and removes it"
    );

    // An update over a stored value learns about liveness from its HSET's
    // answer (see the next test): on a fragment that was there before it,
    // it may report "saved" (whichever write made the fragment removes
    // it), but the fragment stays dead, and keeps the expiry it had.
    plant(&mut conn, &name, later).await;
    let mut between_refreshes = update.clone();
    between_refreshes.expiry_moved = false;
    between_refreshes.overwrites = true;
    store
        .update(&key, &between_refreshes)
        .await
        .expect("update");
    assert_eq!(
        store.load(&key).await.expect("load"),
        None,
        "an update that lands on a fragment does not bring it back"
    );
    assert!(
        conn.pttl::<_, i64>(&name).await.expect("PTTL") > 0,
        "and it still expires"
    );
    // One that writes over nothing asks `HEXISTS m:c` in its pipeline,
    // and one that moves the expiry checks `m:c` in its script: both
    // find the session dead, and remove the fragment.
    let mut plain = update.clone();
    plain.expiry_moved = false;
    for dead_end in [plain, update.clone()] {
        plant(&mut conn, &name, later).await;
        assert!(
            !store.update(&key, &dead_end).await.expect("update"),
            "not saved: the session had ended"
        );
        assert!(!conn.exists::<_, bool>(&name).await.expect("EXISTS"));
    }

    plant(&mut conn, &name, later).await;
    let (to, to_name) = fragment(2);
    let mover = store
        .capabilities()
        .atomic_move()
        .expect("Redis moves atomically");
    assert!(
        !mover.move_to(&key, &to, &update).await.expect("move"),
        "a fragment is never moved to a live id"
    );
    assert_eq!(store.load(&to).await.expect("load"), None);
    assert!(!conn.exists::<_, bool>(&to_name).await.expect("EXISTS"));
    assert_eq!(cleanup(&url, &prefix).await, 0, "nothing left behind");
}

/// [`store_for`], the store's connection through a [`CountingProxy`].
async fn proxied_store_for(test: &str) -> Option<(String, String, CountingProxy, RedisStore)> {
    let url = redis_url()?;
    let proxy = CountingProxy::start(upstream(&url));
    let prefix = unique_prefix(test);
    let store = connect(&through(&url, proxy.addr), &prefix).await;
    Some((url, prefix, proxy, store))
}

/// A write over a value it loaded learns whether the session is alive
/// from its own `HSET` (a field its live session has), and asks
/// `HEXISTS m:c` only when every field was new: for a value written over
/// that a concurrent request removed, which it saves, and for a session
/// that ended, whose fragment it removes. A write over nothing closes its
/// pipeline with `HEXISTS m:c`; one that moves the end is a script, which
/// rewrites an earlier release's hash in this release's layout.
#[tokio::test]
async fn an_update_checks_m_c_only_when_its_hset_added_every_field() {
    let Some((url, prefix, proxy, store)) = proxied_store_for("liveness").await else {
        return;
    };
    let mut conn = raw(&url).await;
    let now = now_ms();
    let later = now + 60_000;
    let key = hyper_session::StoreKey::from_bytes([7; 32]);
    let name = format!("{prefix}{}", key.to_hex());
    // As an earlier release wrote it: integer timestamps.
    let _: () = redis::cmd("HSET")
        .arg(&name)
        .arg(&["m:c", &now.to_string(), "m:e", &later.to_string()])
        .arg(&["d:test_counter", "3"])
        .query_async(&mut conn)
        .await
        .expect("HSET");
    let _: () = conn.expire(&name, 60).await.expect("EXPIRE");
    proxy.take();
    // Writes `field` between expiry refreshes, over a value the request
    // loaded or not: saved, the fields written, and the commands sent.
    let write = async |field: &'static str, n: &'static str, overwrites: bool| {
        let mut update = Update::new(later).set(field, n);
        update.expiry_moved = false;
        update.overwrites = overwrites;
        let saved = store.update(&key, &update).await.expect("update");
        (saved, proxy.take())
    };
    let one_trip = vec![vec!["HSET".to_owned()]];

    // A new key: `HEXISTS m:c` in the same round trip.
    assert_eq!(
        write("other", "1", false).await,
        (true, vec![vec!["HSET".to_owned(), "HEXISTS".to_owned()]])
    );
    // Over a loaded value: the value alone, and it was there.
    assert_eq!(write("test_counter", "5", true).await, (true, one_trip));
    let fields: std::collections::HashMap<String, String> =
        conn.hgetall(&name).await.expect("HGETALL");
    assert_eq!(fields.len(), 4, "m:c, m:e and two values: {fields:?}");
    assert_eq!(fields["m:e"], later.to_string(), "m:e as it was");
    assert_eq!(fields["d:test_counter"], "5");
    assert_eq!(fields["d:other"], "1");
    // A loaded value that a concurrent request removed meanwhile: every
    // field is new, yet the session lives.
    let _: () = conn.hdel(&name, "d:other").await.expect("HDEL");
    assert_eq!(
        write("other", "2", true).await,
        (
            true,
            vec![vec!["HSET".to_owned()], vec!["HEXISTS".to_owned()]]
        ),
        "every field new: m:c tells"
    );
    let loaded = store.load(&key).await.expect("load").expect("alive");
    assert_eq!(loaded.data.get("other").map(String::as_str), Some("2"));
    assert_eq!((loaded.created_at, loaded.expires_at), (now, later));

    // A refresh: one script, which writes the times in one field, with
    // the renewal an earlier release kept apart, and the TTL to match.
    let _: () = conn.hset(&name, "m:r", now + 1).await.expect("HSET");
    proxy.take();
    let refreshed = later + 1_000;
    let update = Update::new(refreshed).set("test_counter", "6");
    assert!(store.update(&key, &update).await.expect("update"));
    assert_eq!(proxy.take(), vec![vec!["EVAL".to_owned()]]);
    let fields: std::collections::HashMap<String, String> =
        conn.hgetall(&name).await.expect("HGETALL");
    assert_eq!(fields.len(), 3, "m:c and two values: {fields:?}");
    assert_eq!(fields["m:c"], format!("{now},{refreshed},{}", now + 1));
    assert_eq!(fields["d:test_counter"], "6");
    let pexpiretime: i64 = redis::cmd("PEXPIRETIME")
        .arg(&name)
        .query_async(&mut conn)
        .await
        .expect("PEXPIRETIME");
    assert_eq!(
        u64::try_from(pexpiretime).ok(),
        Some(refreshed),
        "TTL as the end"
    );
    let loaded = store.load(&key).await.expect("load").expect("alive");
    assert_eq!(
        (loaded.created_at, loaded.renewed_at, loaded.expires_at),
        (now, now + 1, refreshed)
    );
    proxy.take();

    assert!(store.delete(&key).await.expect("delete"));
    proxy.take();
    assert_eq!(
        write("test_counter", "7", true).await,
        (
            false,
            ["HSET", "HEXISTS", "UNLINK"]
                .map(|c| vec![c.to_owned()])
                .to_vec()
        ),
        "a write after the logout: not saved, and the fragment it made removed"
    );
    assert_eq!(store.load(&key).await.expect("load"), None);
    assert_eq!(cleanup(&url, &prefix).await, 0, "nothing left behind");
}

/// Creates a session under `key` and ends it (a logout that won the race
/// with the writes that follow).
async fn ended_session(store: &RedisStore, key: &hyper_session::StoreKey, now: u64) {
    let data = [("n".to_owned(), "1".to_owned())].into_iter().collect();
    assert!(store
        .create(key, &Record::new(data, now, now, now + 60_000))
        .await
        .expect("create"));
    assert!(store.delete(key).await.expect("delete"));
}

/// A write to a session that had ended, whose answer is lost with its
/// connection: the resent write finds the fields the first one made, yet
/// asks `HEXISTS m:c`, and removes that fragment rather than leave it
/// without an expiry.
#[tokio::test]
async fn a_resent_write_to_an_ended_session_leaves_nothing() {
    let Some((url, prefix, proxy, store)) = proxied_store_for("resent").await else {
        return;
    };
    let now = now_ms();
    let key = hyper_session::StoreKey::from_bytes([9; 32]);
    ended_session(&store, &key, now).await;
    proxy.take();

    // Over the value it loaded: the `HSET` alone, no `PEXPIREAT`.
    let mut update = Update::new(now + 60_000).set("n", "2");
    update.expiry_moved = false;
    update.overwrites = true;
    proxy.cut_next_answer();
    assert!(
        !store.update(&key, &update).await.expect("update, resent"),
        "not saved"
    );
    // The new connection introduces itself (`CLIENT SETINFO`) first.
    let sent: Vec<Vec<String>> = proxy
        .take()
        .into_iter()
        .filter(|trip| trip.iter().all(|c| c != "CLIENT"))
        .collect();
    assert_eq!(
        sent,
        ["HSET", "HSET", "HEXISTS", "UNLINK"]
            .map(|c| vec![c.to_owned()])
            .to_vec(),
        "sent twice, then the check and the removal"
    );
    assert_eq!(cleanup(&url, &prefix).await, 0, "nothing left behind");
}

/// A write to a session that had ended, dropped before its answer came
/// (the store's timeout): the fragment it made is checked and removed from
/// a task of its own, rather than left without an expiry.
#[tokio::test]
async fn a_write_dropped_in_flight_leaves_nothing() {
    let Some((url, prefix, proxy, store)) = proxied_store_for("dropped").await else {
        return;
    };
    let now = now_ms();
    let key = hyper_session::StoreKey::from_bytes([11; 32]);
    let name = format!("{prefix}{}", key.to_hex());
    ended_session(&store, &key, now).await;

    // Over the value it loaded: the `HSET` alone, no `PEXPIREAT`.
    let mut update = Update::new(now + 60_000).set("n", "2");
    update.expiry_moved = false;
    update.overwrites = true;
    proxy.hold_next_answer(Duration::from_millis(400));
    let dropped = tokio::time::timeout(Duration::from_millis(100), store.update(&key, &update));
    assert!(dropped.await.is_err(), "dropped before its answer came");
    let mut conn = raw(&url).await;
    let written: bool = conn.exists(&name).await.expect("EXISTS");
    assert!(written, "the write reached Redis and made a fragment");

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: bool = conn.exists(&name).await.expect("EXISTS");
        if !left {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the fragment is still there, TTL {} ms",
            conn.pttl::<_, i64>(&name).await.expect("PTTL")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cleanup(&url, &prefix).await, 0, "nothing left behind");
}

/// The store resends a call once when its connection drops; a move whose
/// first run did happen (its answer lost) must not then delete the moved
/// session when the resent `RENAMENX` finds the old name gone.
/// A move takes an earlier release's hash (`m:e` and `m:r` apart) into
/// this release's one times field, with the new renewal and the TTL at the
/// new end; times that cannot be read fail a refresh before it writes
/// anything; and a refresh or move of thousands of keys at once is
/// written whole (Lua's `unpack` alone stops at about 8,000 values).
#[tokio::test]
async fn scripts_take_earlier_hashes_refuse_unreadable_times_and_write_any_number_of_keys() {
    let Some((url, prefix, store)) = store_for("scripts").await else {
        return;
    };
    let mut conn = raw(&url).await;
    let now = now_ms();
    let named = |byte: u8| {
        let key = hyper_session::StoreKey::from_bytes([byte; 32]);
        (key, format!("{prefix}{}", key.to_hex()))
    };
    let (from, from_name) = named(1);
    let (to, to_name) = named(2);
    let _: () = redis::cmd("HSET")
        .arg(&from_name)
        .arg(&["m:c", &format!("{now}ms"), "m:r", &format!("{}ms", now + 1)])
        .arg(&["m:e", &format!("{}ms", now + 60_000), "d:a", "1"])
        .query_async(&mut conn)
        .await
        .expect("HSET");
    let _: () = conn.expire(&from_name, 60).await.expect("EXPIRE");
    let end = now + 120_000;
    let update = Update::new(end).renewed_at(now + 2).set("b", "2");
    let mover = store.capabilities().atomic_move().expect("a move");
    assert!(mover.move_to(&from, &to, &update).await.expect("move"));
    let fields: std::collections::HashMap<String, String> =
        conn.hgetall(&to_name).await.expect("HGETALL");
    assert_eq!(fields.len(), 3, "m:c and two values: {fields:?}");
    assert_eq!(fields["m:c"], format!("{now},{end},{}", now + 2));
    let pexpiretime: i64 = redis::cmd("PEXPIRETIME")
        .arg(&to_name)
        .query_async(&mut conn)
        .await
        .expect("PEXPIRETIME");
    assert_eq!(u64::try_from(pexpiretime).ok(), Some(end));
    let moved = store.load(&to).await.expect("load").expect("alive");
    assert_eq!(
        (moved.created_at, moved.renewed_at, moved.expires_at),
        (now, now + 2, end)
    );

    // Unreadable times: the refresh fails, and writes nothing.
    let _: () = conn.hset(&to_name, "m:c", "1ms,3,2").await.expect("HSET");
    let refresh = Update::new(end + 1).set("c", "3");
    assert!(store.update(&to, &refresh).await.is_err());
    assert!(!conn
        .hexists::<_, _, bool>(&to_name, "d:c")
        .await
        .expect("HEXISTS"));
    let _: () = conn
        .hset(&to_name, "m:c", format!("{now},{end}"))
        .await
        .expect("HSET");

    // 5,000 keys written and 3,000 removed in one refresh, then moved.
    let keys: Vec<String> = (0..5_000).map(|i| format!("k{i}")).collect();
    let mut many = Update::new(end + 2);
    many.set = keys.iter().map(|k| (k.as_str(), "1")).collect();
    assert!(store
        .update(&to, &many)
        .await
        .expect("a refresh of 5,000 keys"));
    let mut fewer = Update::new(end + 3);
    fewer.remove = keys[..3_000].iter().map(String::as_str).collect();
    assert!(mover
        .move_to(&to, &from, &fewer)
        .await
        .expect("a move removing 3,000 keys"));
    let record = store.load(&from).await.expect("load").expect("alive");
    assert_eq!(record.data.len(), 2 + 2_000, "a, b and the last 2,000 keys");
    assert_eq!(record.expires_at, end + 3);
    assert!(store.delete(&from).await.expect("delete"));
    assert_eq!(cleanup(&url, &prefix).await, 0, "nothing left behind");
}

#[tokio::test]
async fn a_move_run_twice_keeps_the_moved_session() {
    let Some((url, prefix, store)) = store_for("move-twice").await else {
        return;
    };
    let now = now_ms();
    let (from, to) = (
        hyper_session::StoreKey::from_bytes([3; 32]),
        hyper_session::StoreKey::from_bytes([4; 32]),
    );
    let data = [("user".to_owned(), "\"ada\"".to_owned())]
        .into_iter()
        .collect();
    assert!(store
        .create(&from, &Record::new(data, now, now, now + 60_000))
        .await
        .expect("create"));
    let update = Update::new(now + 60_000).renewed_at(now);
    let mover = store.capabilities().atomic_move().expect("a move");
    assert!(mover.move_to(&from, &to, &update).await.expect("move"));
    assert!(
        mover
            .move_to(&from, &to, &update)
            .await
            .expect("move again"),
        "the second run finds the session already moved"
    );
    let moved = store.load(&to).await.expect("load").expect("still there");
    assert_eq!(moved.data["user"], "\"ada\"");
    assert!(store.delete(&to).await.expect("delete"));
    assert_eq!(cleanup(&url, &prefix).await, 0);
}
