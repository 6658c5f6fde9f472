//! What the per-user index costs on Redis, counted command by command
//! through a proxy, on a Redis of the test's own (a throwaway
//! `redis-server` on a free port): a session that is not signed in pays
//! nothing; a signed-in write pays one command, a read none; listing and
//! revoking a user's sessions send the same commands among 100,000 other
//! sessions as in an empty store.
#![cfg(feature = "redis")]

use std::sync::Arc;

use http::HeaderMap;
use hyper_session::__bench::cookie_header;
use hyper_session::{RedisStore, Session, SessionConfig, Sessions};

#[allow(dead_code)]
#[path = "../../tests/common/redis_env.rs"]
mod redis_env;

// Not every test binary cuts connections.
#[allow(dead_code)]
#[path = "../../tests/common/counting_proxy.rs"]
mod counting_proxy;

use counting_proxy::CountingProxy;
use redis_env::{free_port, redis_url, Throwaway};

const CONFIG: SessionConfig = SessionConfig::DEFAULT;

/// A throwaway Redis, a proxy that counts what reaches it, and a manager
/// whose store talks through the proxy.
struct Bench {
    _redis: Throwaway,
    port: u16,
    proxy: CountingProxy,
    sessions: Sessions,
}

impl Bench {
    async fn start() -> Option<Self> {
        // Where Redis tests are skipped, so is this one (it needs
        // `redis-server`, which CI installs).
        redis_url()?;
        let port = free_port();
        let redis = Throwaway::start(port);
        let proxy = CountingProxy::start(([127, 0, 0, 1], port).into());
        let store = RedisStore::connect(&format!("redis://{}", proxy.addr))
            .await
            .expect("connect through the proxy");
        let sessions = Sessions::builder()
            .secret("redis user index test secret, 32 bytes+")
            .store(store)
            .build()
            .expect("manager");
        Some(Self {
            _redis: redis,
            port,
            proxy,
            sessions,
        })
    }

    async fn load(&self, cookie: &HeaderMap) -> Session {
        self.sessions.load(&CONFIG, cookie).await.expect("load")
    }

    async fn commit(&self, session: Session) -> Option<HeaderMap> {
        let set = self
            .sessions
            .commit(&CONFIG, session)
            .await
            .expect("commit");
        set.map(|value| cookie_header(&value))
    }

    /// A new session signed in as `user`: its cookie.
    async fn sign_in(&self, user: &str) -> HeaderMap {
        let mut s = self.load(&HeaderMap::new()).await;
        s.set_user(user).expect("user");
        self.commit(s).await.expect("a cookie")
    }

    /// The commands of each round trip since the last call, with
    /// `EVALSHA` and `EVAL` counted alike (a script the server has not
    /// cached yet is sent whole once).
    fn take(&self) -> Vec<Vec<String>> {
        self.proxy
            .take()
            .into_iter()
            .map(|trip| {
                trip.into_iter()
                    .map(|c| if c == "EVALSHA" { "EVAL".to_owned() } else { c })
                    .collect()
            })
            .collect()
    }
}

fn trips(commands: &[&[&str]]) -> Vec<Vec<String>> {
    commands
        .iter()
        .map(|trip| trip.iter().map(|c| (*c).to_owned()).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_costs_one_command_per_login_and_logout_and_nothing_per_write() {
    let Some(bench) = Bench::start().await else {
        return;
    };
    // Every script runs once first, so that the server has them cached.
    let warm = bench.sign_in("warm").await;
    bench.sessions.user_sessions("warm").await.expect("list");
    let mut s = bench.load(&warm).await;
    s.destroy();
    bench.commit(s).await;
    bench.sign_in("warm").await;
    bench.sessions.revoke_all("warm").await.expect("revoke");
    bench.take();

    // A visitor who never signs in: the store's own commands, nothing more.
    let mut s = bench.load(&HeaderMap::new()).await;
    s.insert("n", 1).expect("insert");
    let cookie = bench.commit(s).await.expect("a cookie");
    let mut s = bench.load(&cookie).await;
    s.insert("n", 2).expect("insert");
    bench.commit(s).await;
    assert_eq!(
        bench.take(),
        trips(&[&["HSET", "PEXPIREAT", "RENAMENX"], &["HGETALL"], &["HSET"],]),
        "a session that is not signed in pays nothing for the index"
    );

    // Login: sign in and a new id; the index entry first, then the move.
    let mut s = bench.load(&cookie).await;
    s.cycle_id();
    s.set_user("ada").expect("user");
    let cookie = bench.commit(s).await.expect("a new cookie");
    assert_eq!(
        bench.take(),
        trips(&[&["HGETALL"], &["EVAL"], &["EVAL"]]),
        "login pays one command for the index"
    );

    // A signed-in write between expiry refreshes: nothing, as the
    // session's end does not move (the refresh's one command, which keeps
    // the index alive as long as the session, is in the test below).
    let mut s = bench.load(&cookie).await;
    s.insert("n", 3).expect("insert");
    bench.commit(s).await;
    assert_eq!(
        bench.take(),
        trips(&[&["HGETALL"], &["HSET"]]),
        "a signed-in write pays nothing for the index"
    );

    // A signed-in read: nothing.
    let s = bench.load(&cookie).await;
    assert_eq!(s.user(), Some("ada"));
    bench.commit(s).await;
    assert_eq!(bench.take(), trips(&[&["HGETALL"]]), "a read pays nothing");

    // Logout: one more, to drop the entry now.
    let mut s = bench.load(&cookie).await;
    s.destroy();
    bench.commit(s).await;
    assert_eq!(
        bench.take(),
        trips(&[&["HGETALL"], &["HDEL", "UNLINK"], &["EVAL"]]),
        "a logout pays one command for the index"
    );
    assert!(bench
        .sessions
        .user_sessions("ada")
        .await
        .expect("list")
        .is_empty());
}

/// A plain commit that changes one key sends one command (the write, whose
/// answer also says whether the session was alive); once the expiry refresh
/// is due, the commit is one script that also moves the end and the key's
/// TTL, and a signed-in one extends the user's index entry with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_commit_is_one_command_and_a_refresh_is_one_script() {
    let Some(bench) = Bench::start().await else {
        return;
    };
    // Refresh due once a quarter of the idle window has passed: 1 s.
    const SHORT: SessionConfig = SessionConfig::DEFAULT.with_idle_timeout(4).validated();
    let warm = bench.sign_in("warm").await;
    let mut s = bench.sessions.load(&SHORT, &warm).await.expect("load");
    s.insert("n", 0).expect("insert");
    bench.sessions.commit(&SHORT, s).await.expect("commit");

    for user in [None, Some("ada")] {
        let mut s = bench
            .sessions
            .load(&SHORT, &HeaderMap::new())
            .await
            .expect("load");
        if let Some(user) = user {
            s.set_user(user).expect("user");
        }
        s.insert("n", 1).expect("insert");
        let set = bench.sessions.commit(&SHORT, s).await.expect("commit");
        let cookie = cookie_header(&set.expect("a cookie"));
        bench.take();

        let mut s = bench.sessions.load(&SHORT, &cookie).await.expect("load");
        s.insert("n", 2).expect("insert");
        bench.sessions.commit(&SHORT, s).await.expect("commit");
        assert_eq!(
            bench.take(),
            trips(&[&["HGETALL"], &["HSET"]]),
            "a plain commit, signed in as {user:?}"
        );

        let before = bench
            .sessions
            .load(&SHORT, &cookie)
            .await
            .expect("load")
            .expires_at();
        bench.take();
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        let mut s = bench.sessions.load(&SHORT, &cookie).await.expect("load");
        s.insert("n", 3).expect("insert");
        bench.sessions.commit(&SHORT, s).await.expect("commit");
        let expected: &[&[&str]] = match user {
            None => &[&["HGETALL"], &["EVAL"]],
            Some(_) => &[&["HGETALL"], &["EVAL"], &["EVAL"]],
        };
        assert_eq!(
            bench.take(),
            trips(expected),
            "a refresh, signed in as {user:?}"
        );
        // The refresh moved the end the store reports.
        let loaded = bench.sessions.load(&SHORT, &cookie).await.expect("load");
        assert_eq!(loaded.get::<u64>("n").expect("a number"), Some(3));
        let moved = loaded
            .expires_at()
            .expect("stored")
            .duration_since(before.expect("stored"))
            .expect("a later end");
        assert!(
            moved >= std::time::Duration::from_secs(1),
            "the end moved by {moved:?}"
        );
    }
}

/// Signs `user` in on three sessions, then lists and revokes them all:
/// the commands each of the two sent.
async fn list_and_revoke(bench: &Bench, user: &str) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    for _ in 0..3 {
        bench.sign_in(user).await;
    }
    bench.take();
    assert_eq!(
        bench
            .sessions
            .user_sessions(user)
            .await
            .expect("list")
            .len(),
        3
    );
    let listing = bench.take();
    assert_eq!(bench.sessions.revoke_all(user).await.expect("revoke"), 3);
    let revoking = bench.take();
    (listing, revoking)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_and_revoking_cost_the_same_among_100000_other_sessions() {
    let Some(bench) = Bench::start().await else {
        return;
    };
    // Warm the scripts (see above).
    bench.sign_in("warm").await;
    bench.sessions.user_sessions("warm").await.expect("list");
    bench.sessions.revoke_all("warm").await.expect("revoke");

    let alone = list_and_revoke(&bench, "ada").await;
    assert_eq!(
        alone.0,
        trips(&[&["HGETALL"], &["HMGET"; 3]]),
        "a listing: the user's index, then every key it names, in one pipeline"
    );

    // 100,000 other sessions, a tenth of them signed in (as 10,000 other
    // users), written straight into the throwaway Redis.
    let client = redis::Client::open(format!("redis://127.0.0.1:{}", bench.port)).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let store = RedisStore::from_connection(
        redis::aio::ConnectionManager::new(client.clone())
            .await
            .expect("connect"),
    );
    let others = Arc::new(
        Sessions::builder()
            .secret("redis user index test secret, 32 bytes+")
            .store(store)
            .build()
            .expect("manager"),
    );
    for batch in 0..10u32 {
        let mut pipe = redis::pipe();
        for i in 0..10_000u32 {
            let n = batch * 10_000 + i;
            pipe.cmd("HSET")
                .arg(format!("hyper-session:{n:064x}"))
                .arg("m:c")
                .arg(1)
                .arg("m:r")
                .arg(1)
                .arg("m:e")
                .arg(u64::MAX / 2)
                .ignore();
        }
        let () = pipe.query_async(&mut conn).await.expect("fill");
    }
    for n in 0..1_000 {
        // Real signed-in sessions of other users, through the store.
        let mut s = others.load(&CONFIG, &HeaderMap::new()).await.expect("load");
        s.set_user(&format!("user {n}")).expect("user");
        others.commit(&CONFIG, s).await.expect("commit");
    }
    let size: u64 = redis::cmd("DBSIZE")
        .query_async(&mut conn)
        .await
        .expect("DBSIZE");
    assert!(size > 100_000, "{size} keys");
    bench.take();

    let crowded = list_and_revoke(&bench, "bob").await;
    assert_eq!(
        crowded, alone,
        "listing and revoking a user's 3 sessions send the same commands among {size} keys as alone"
    );
}
