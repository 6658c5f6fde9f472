//! The Redis store against a real Redis Cluster of three masters with a
//! replica each, started by the test on free loopback ports: the shared
//! conformance suite, the cluster key layout, the round trips, a
//! resharding, and logouts that wait for a replica. Like the other Redis
//! tests, they run when `REDIS_URL` is set (CI) and are skipped otherwise.
#![cfg(all(feature = "redis", feature = "conformance"))]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper_session::store::{Record, SessionStore, Update};
use hyper_session::{RedisStore, SessionConfig, Sessions, StoreKey};

#[allow(dead_code)]
#[path = "shared/steps.rs"]
mod steps;

#[allow(dead_code)]
#[path = "../../tests/common/redis_env.rs"]
mod redis_env;

#[allow(dead_code)]
#[path = "../../tests/common/redis_cluster.rs"]
mod redis_cluster;

#[allow(dead_code)]
#[path = "../../tests/common/counting_proxy.rs"]
mod counting_proxy;

use counting_proxy::CountingProxy;
use redis_cluster::Cluster;
use redis_env::{redis_url, unique_prefix};

/// One cluster at a time: six `redis-server` processes per test are
/// enough for a small machine, and the replica waits are timed.
static ONE_CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store_conforms() {
    if redis_url().is_none() {
        return;
    }
    let _alone = ONE_CLUSTER.lock().await;
    let cluster = Cluster::start(3, 1);
    let store = RedisStore::builder(cluster.url())
        .connect()
        .await
        .expect("connect to the cluster")
        .with_prefix(unique_prefix("cluster-conformance"));
    assert!(store.is_cluster());
    assert!(
        store.capabilities().atomic_move().is_none(),
        "no atomic move across slots"
    );
    hyper_session::conformance::run(Arc::new(store)).await;
}

const CONFIG: SessionConfig = SessionConfig::DEFAULT;

fn manager(store: RedisStore) -> Sessions {
    Sessions::builder()
        .secret("redis cluster test secret, long enough!")
        .store(store)
        .build()
        .expect("valid manager")
}

/// Counting proxies in front of every node of `cluster`, each node
/// announcing its proxy's port (`cluster-announce-port`), so that the
/// cluster client, which learns the nodes from `CLUSTER SLOTS` and follows
/// `MOVED` to announced addresses, sends everything through them.
fn proxies(cluster: &Cluster) -> Vec<CountingProxy> {
    let proxies: Vec<CountingProxy> = cluster
        .nodes
        .iter()
        .map(|node| CountingProxy::start(SocketAddr::from(([127, 0, 0, 1], node.port))))
        .collect();
    for (node, proxy) in cluster.nodes.iter().zip(&proxies) {
        let port = proxy.addr.port().to_string();
        cluster.cli(
            node.port,
            &["CONFIG", "SET", "cluster-announce-port", &port],
        );
    }
    // Gossip carries the new ports to every node within a second or so.
    let deadline = Instant::now() + Duration::from_secs(20);
    for node in &cluster.nodes {
        loop {
            let slots = cluster.cli(node.port, &["CLUSTER", "SLOTS"]);
            let listed = proxies
                .iter()
                .filter(|p| {
                    slots
                        .lines()
                        .any(|line| line.trim() == p.addr.port().to_string())
                })
                .count();
            if listed == proxies.len() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the announced ports did not spread"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    proxies
}

/// The round trips every proxy saw since the last call: (node, commands).
fn round_trips(proxies: &[CountingProxy]) -> Vec<(usize, Vec<String>)> {
    proxies
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.take().into_iter().map(move |batch| (i, batch)))
        .collect()
}

/// The commands of each round trip, in no particular order across nodes.
fn commands(trips: &[(usize, Vec<String>)]) -> Vec<Vec<&str>> {
    let mut commands: Vec<Vec<&str>> = trips
        .iter()
        .map(|(_, batch)| batch.iter().map(String::as_str).collect())
        .collect();
    commands.sort();
    commands
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_round_trip_to_load_and_one_to_commit_in_cluster_mode_too() {
    if redis_url().is_none() {
        return;
    }
    let _alone = ONE_CLUSTER.lock().await;
    let cluster = Cluster::start(3, 1);
    let proxies = proxies(&cluster);
    let url = format!(
        "redis+cluster://{}",
        proxies
            .iter()
            .map(|p| p.addr.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let store = RedisStore::builder(url)
        .wait_for_replica(Duration::from_millis(1500))
        .connect()
        .await
        .expect("connect through the proxies")
        .with_prefix(unique_prefix("cluster-round-trips"));
    let sessions = manager(store);

    // Warm up: the cluster client connects to every node at start; make a
    // session on each master, so that no count below includes a connect.
    for _ in 0..12 {
        let cookie = steps::create(&sessions, &CONFIG, &[("warm", serde_json::json!(true))]).await;
        let s = sessions.load(&CONFIG, &cookie).await.expect("load");
        sessions.commit(&CONFIG, s).await.expect("commit");
    }
    round_trips(&proxies);

    let cookie = hyper_session::__bench::first_visit(&sessions, &CONFIG, &[("n", 1), ("gone", 1)])
        .await
        .expect("commit")
        .expect("cookie");
    assert_eq!(
        commands(&round_trips(&proxies)),
        [["MULTI", "HSET", "PEXPIREAT", "RENAMENX", "EXEC"]],
        "a new session: one pipeline to one node, renamed into place within its slot"
    );

    let mut s = sessions.load(&CONFIG, &cookie).await.expect("load");
    assert_eq!(commands(&round_trips(&proxies)), [["HGETALL"]], "a load");
    s.insert("n", 2).expect("insert");
    assert!(s.remove("gone"));
    sessions.commit(&CONFIG, s).await.expect("commit");
    assert_eq!(
        commands(&round_trips(&proxies)),
        [["MULTI", "HSET", "HDEL", "HEXISTS", "EXEC"]],
        "a commit of changes: one pipeline, no replica wait unless durable, no TTL until the refresh is due"
    );

    steps::untouched(&sessions, &CONFIG, &cookie).await;
    assert_eq!(
        commands(&round_trips(&proxies)),
        [["HGETALL"]],
        "an untouched session writes nothing"
    );

    // cycle_id is exempt: the old and the new id live in different slots.
    let cycled = steps::cycle(&sessions, &CONFIG, &cookie).await;
    let trips = round_trips(&proxies);
    println!("cycle_id in cluster mode: {trips:?}");
    assert_eq!(
        commands(&trips),
        [
            vec!["HGETALL"],
            vec!["MULTI", "HDEL", "UNLINK", "EXEC", "WAIT"],
            vec!["MULTI", "HSET", "PEXPIREAT", "RENAMENX", "EXEC"],
        ],
        "cycle_id: a load, the create of the new id, the logout of the old one (which waits for a replica)"
    );

    steps::destroy(&sessions, &CONFIG, &cycled).await;
    let trips = round_trips(&proxies);
    assert_eq!(
        commands(&trips),
        [
            vec!["HGETALL"],
            vec!["MULTI", "HDEL", "UNLINK", "EXEC", "WAIT"]
        ],
        "a logout: one pipeline that waits for a replica"
    );
    let node = trips[0].0;
    assert!(
        trips.iter().all(|(n, _)| *n == node),
        "one session's commands all go to one node: {trips:?}"
    );
}

/// Redis Cluster's hash slot of a key whose hash tag is `tag`.
fn slot(tag: &str) -> u16 {
    let mut crc: u16 = 0;
    for &byte in tag.as_bytes() {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            };
        }
    }
    crc % 16_384
}

fn record(pairs: &[(&str, &str)]) -> Record {
    let now = now_ms();
    let data = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Record::new(data, now, now, now + 60_000)
}

fn now_ms() -> u64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    u64::try_from(ms).expect("ms")
}

/// A session whose slot moves to another master while it is used: during
/// the migration (`ASK`) and after it (`MOVED`), every call works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_survives_a_resharding_of_its_slot() {
    if redis_url().is_none() {
        return;
    }
    let _alone = ONE_CLUSTER.lock().await;
    let cluster = Cluster::start(3, 0);
    let prefix = unique_prefix("cluster-reshard");
    let store = RedisStore::connect(&cluster.url())
        .await
        .expect("connect")
        .with_prefix(&prefix);
    let a = StoreKey::from_bytes([1; 32]);
    let the_slot = slot(&a.to_hex());
    // Another session in the same slot, to be created mid-migration.
    let b = (0..=u32::MAX)
        .map(|i| {
            let mut bytes = [2; 32];
            bytes[..4].copy_from_slice(&i.to_le_bytes());
            StoreKey::from_bytes(bytes)
        })
        .find(|k| slot(&k.to_hex()) == the_slot)
        .expect("a key in the slot");
    let name = |k: &StoreKey| format!("{prefix}{{{}}}", k.to_hex());
    assert!(store
        .create(&a, &record(&[("n", "1")]))
        .await
        .expect("create"));

    let source = cluster.master_of(&name(&a));
    // The layout: `{prefix}{{hex}}`, one hash, no staging key left.
    assert_eq!(cluster.cli(source, &["TYPE", &name(&a)]), "hash");
    let keys = cluster.cli(source, &["--scan", "--pattern", &format!("{prefix}*")]);
    assert_eq!(keys, name(&a), "one key per session");
    let target = cluster
        .live_ports()
        .into_iter()
        .find(|p| *p != source)
        .expect("another master");
    let (source_id, target_id) = (cluster.id(source), cluster.id(target));
    let s = the_slot.to_string();
    cluster.cli(target, &["CLUSTER", "SETSLOT", &s, "IMPORTING", &source_id]);
    cluster.cli(source, &["CLUSTER", "SETSLOT", &s, "MIGRATING", &target_id]);

    // Migrating, A still on the source: served there.
    let update = Update::new(now_ms() + 60_000).set("n", "2");
    assert!(store
        .update(&a, &update)
        .await
        .expect("update while migrating"));
    // A moves over; the slot is still migrating: the source answers ASK,
    // and the whole transaction runs on the target after ASKING.
    let port = target.to_string();
    let a_name = name(&a);
    cluster.cli(
        source,
        &[
            "MIGRATE",
            "127.0.0.1",
            &port,
            "",
            "0",
            "5000",
            "KEYS",
            &a_name,
        ],
    );
    let update = Update::new(now_ms() + 60_000).set("n", "3");
    assert!(store.update(&a, &update).await.expect("update after ASK"));
    assert_eq!(
        store
            .load(&a)
            .await
            .expect("load after ASK")
            .expect("live")
            .data["n"],
        "3"
    );
    // A create in the moving slot touches two keys that neither node
    // holds: Redis answers TRYAGAIN until the move ends, and the cluster
    // client retries.
    let creating = {
        let store = store.clone();
        tokio::spawn(async move { store.create(&b, &record(&[("n", "1")])).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    for port in cluster.live_ports() {
        cluster.cli(port, &["CLUSTER", "SETSLOT", &s, "NODE", &target_id]);
    }
    assert!(creating
        .await
        .expect("create task")
        .expect("a create while the slot moves completes once it has moved"),);
    // Moved: the client follows MOVED from its old view.
    let update = Update::new(now_ms() + 60_000).set("n", "4");
    assert!(store.update(&a, &update).await.expect("update after MOVED"));
    assert_eq!(
        store.load(&a).await.expect("load").expect("live").data["n"],
        "4"
    );
    assert!(store.load(&b).await.expect("load").is_some());
    assert_eq!(cluster.master_of(&a_name), target);
    assert!(store.delete(&a).await.expect("delete"));
    assert!(store.delete(&b).await.expect("delete"));
}

/// Logouts (and, when durable, every commit) wait for a replica: answered
/// while one confirms, a retryable error while none can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_wait_for_a_replica_and_fail_when_none_confirms() {
    if redis_url().is_none() {
        return;
    }
    let _alone = ONE_CLUSTER.lock().await;
    let cluster = Cluster::start(3, 1);
    let prefix = unique_prefix("cluster-wait");
    let store = RedisStore::builder(cluster.url())
        .durable_commits()
        // Long enough for a replica on a busy 2-core machine to confirm;
        // the stopped replica below shows the bound.
        .wait_for_replica(Duration::from_millis(1500))
        .connect()
        .await
        .expect("connect")
        .with_prefix(&prefix);
    let key = StoreKey::from_bytes([5; 32]);
    assert!(store
        .create(&key, &record(&[("n", "1")]))
        .await
        .expect("a durable create"));
    let update = Update::new(now_ms() + 60_000).set("n", "2");
    assert!(store.update(&key, &update).await.expect("a durable update"));

    // The session's replica stops: nothing can confirm.
    let master = cluster.master_of(&format!("{prefix}{{{}}}", key.to_hex()));
    let replica = cluster.replicas_of(master)[0];
    cluster.signal(replica, "-STOP");
    let started = Instant::now();
    let update = Update::new(now_ms() + 60_000).set("n", "3");
    let err = store
        .update(&key, &update)
        .await
        .expect_err("no replica confirms");
    let took = started.elapsed();
    assert!(
        err.to_string().contains("no Redis replica confirmed"),
        "{err}"
    );
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(3),
        "the wait is bounded by wait_for_replica: {took:?}"
    );
    let err = store
        .delete(&key)
        .await
        .expect_err("a logout no replica confirms");
    assert!(
        err.to_string().contains("no Redis replica confirmed"),
        "{err}"
    );
    cluster.signal(replica, "-CONT");

    // Back: the logout, retried, is answered (the session had ended on
    // the master already, so it reports no live session ended).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.delete(&key).await {
            Ok(_) => break,
            Err(e) => assert!(
                Instant::now() < deadline,
                "the replica did not come back: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(store.load(&key).await.expect("load"), None);
}
