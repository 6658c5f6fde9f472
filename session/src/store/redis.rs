//! The Redis store: sessions shared by several server processes.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{
    Cmd, ConnectionAddr, ErrorKind, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, Value,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::error::StoreError;
use crate::expiry::now_ms;
use crate::id::StoreKey;
use crate::owner::Owner;
use crate::store::{AtomicMove, BoxFuture, Capabilities, Record, SessionStore, Update};

mod user_index;

/// Field-name prefix of a session value in the hash.
const DATA: &str = "d:";
/// The session's times, and the field that makes it live: when it was
/// created, when it ends and, once its id has changed, when the id was
/// issued, in ms since the epoch: `<created>,<expires>[,<renewed>]`. One
/// field rather than three: each field of a hash costs Redis work on every
/// `HGETALL`, and a returning request's `HGETALL` and `HSET` took a fifth
/// less of its CPU with two fields than with three (`benches/redis_commands.sh`).
/// Earlier releases kept the end and the renewal in [`OLD_EXPIRES`] and
/// [`OLD_RENEWED`], and only the creation here (`<created>ms`): such hashes
/// are read as well, and the next refresh or move rewrites them this way.
const TIMES: &str = "m:c";
/// Fields of earlier releases' hashes (see [`TIMES`]).
const OLD_RENEWED: &str = "m:r";
const OLD_EXPIRES: &str = "m:e";
/// When a request last wrote a signed-in session (ms since the epoch).
const SEEN: &str = "m:s";
/// The signed-in user, the session's handle and its label.
const OWNER: &str = "m:o";
const HANDLE: &str = "m:h";
const LABEL: &str = "m:l";
/// Suffix of the digits of `m:s` (and of earlier releases' timestamps).
/// Redis keeps a field value that reads as an integer as one, and must
/// format it back into text for every `HGETALL`: with the suffix it is kept
/// as the text it is, which took a returning request's `HGETALL` and `HSET`
/// about a fifth less Redis CPU (`redis-benchmark`, `INFO commandstats`).
/// [`TIMES`], with its commas, is text anyway. Values without it (written
/// by earlier releases) are read as well.
const MS: &str = "ms";
/// Suffix of the staging key a `create` builds the hash under.
const STAGING: &str = ":new";

/// Sessions in Redis, shared by every process that connects to it
/// (feature `redis`).
///
/// # Layout
///
/// One Redis hash per session, at key `{prefix}{store key in hex}` (the
/// prefix defaults to [`DEFAULT_PREFIX`](Self::DEFAULT_PREFIX)); in
/// [cluster mode](#cluster-mode) the hex is in braces, `{prefix}{{hex}}`.
/// Each session
/// value is a field `d:<key>` holding its JSON text; the field `m:c` holds
/// the session's times, in ms since the Unix epoch: when it was created,
/// when it ends and, once its id has changed, when the id was issued
/// (`<created>,<expires>[,<renewed>]`; one field, as each field costs Redis
/// work on every load). The key expires in Redis itself at the same end
/// (`PEXPIREAT`), so Redis reclaims ended sessions; a session past its end
/// is never returned either way. (Earlier releases kept the end and the
/// renewal in fields `m:e` and `m:r` of their own: such hashes are read
/// too, and rewritten this way at their next expiry refresh or move. They
/// cannot read this layout: replace every process of an earlier release
/// at once, rather than one by one, and do not roll back to one.) The key holds a SHA-256 of the
/// session id, not the id, so a dump of Redis hands out no live session.
///
/// # Round trips
///
/// Each call is one round trip: `load` an `HGETALL`; `create` one pipeline
/// of `HSET` and `PEXPIREAT` on a staging key (the hash's key and `:new`)
/// and `RENAMENX` into place (atomic, never overwrites); `update` one
/// pipeline of `HSET` (changed values, and `m:s` if signed in) and `HDEL`
/// (removed keys), closed by `HEXISTS m:c` when the `HSET` cannot tell
/// that the session lives, so that a plain commit over a stored value is
/// one command (see [Liveness](#liveness), also for the second round trip
/// of a write that finds its session ended); an update that moves the
/// expiry (a refresh, once a quarter of the idle window) one script that
/// writes it with the changes, if the session lives; `delete` one pipeline
/// of `HDEL m:c` and `UNLINK`; the move of `cycle_id` ([`AtomicMove`],
/// single node only) one script that checks the session and `RENAMENX`es
/// it, then writes the update's fields on the new name. Only refreshes and
/// moves use a script (it costs Redis several times the CPU of plain
/// commands, and both are rare: refreshes, logins and renewals). A signed-in session (the [`UserIndex`](crate::store::UserIndex),
/// see [`Session::set_user`](crate::Session::set_user)) costs one more
/// command on a write, a login and a logout, for its user's index; fields
/// `m:s` (last written), `m:o`, `m:h` and `m:l` (user, handle, label) hold
/// what a listing shows. A call that finds its connection lost is
/// sent once more (see below). A write that waits for a replica ends its
/// pipeline with `WAIT 1 <ms>` (see [Failover](#failover)): still one
/// round trip.
///
/// # Cluster mode
///
/// With a `redis+cluster://host:port[,host:port...]` URL (or
/// `rediss+cluster://`; see [`builder`](Self::builder)) the store talks to a
/// Redis Cluster, where one command or pipeline may only touch keys of one
/// hash slot. Every key of a session carries the same hash tag, the store
/// key's hex in braces (`{prefix}{{hex}}` and its staging key
/// `{prefix}{{hex}}:new`), so each call's pipeline goes to one slot's
/// master: load and commit stay one round trip each. The commands of a
/// write run there as one `MULTI`/`EXEC`, so that a session whose slot is
/// being moved to another master is served during the move (`ASK`); a
/// create in a slot mid-move gets `TRYAGAIN` until the move ends, which the
/// cluster client retries, as it follows `MOVED` after a move and finds the
/// new master after a failover, within the same timeouts.
///
/// `cycle_id` (login) moves a session between two ids, which hash to
/// different slots: cluster mode offers no [`AtomicMove`], and the manager
/// creates the new entry, deletes the old one, and deletes the new one
/// again if the old one had ended: two or three round trips after the
/// load, the one exception to the rule above. The single-node layout is
/// unchanged (no braces): existing sessions survive an upgrade, and the
/// two layouts differ only in the function that names a session's key.
///
/// # Failover
///
/// Redis replicates asynchronously: a master that dies can take writes
/// it acknowledged with it, and the replica promoted in its place never
/// had them. For a logout, that would bring a logged-out session back.
/// [`RedisConfig::wait_for_replica`] (for any deployment with replicas, a
/// cluster or a single master with replicas) makes a logout wait until a
/// replica has it (`WAIT 1 <ms>` in its pipeline); if none confirms in
/// time, the logout fails with a [`StoreError`] (a 503 the client can
/// retry), and once answered it is final even across a failover.
/// [`RedisConfig::durable_commits`] makes every commit wait the same way:
/// no acknowledged write is lost, at the price of a replica's round trip
/// in each commit. While a master has no replica in sync (its replica was
/// just promoted, or is down), the writes that wait answer 503 in its
/// slots until one is back; a second replica per master keeps them
/// available through one failure.
///
/// # Liveness
///
/// A session is alive while its hash has `m:c` (and Redis has not expired
/// it). A write that loses a race with a logout (the logout's `HDEL m:c`,
/// `UNLINK` lands first) recreates at most a *fragment*: a hash without
/// `m:c`. Every operation agrees that a fragment is dead: `load` ignores
/// it, the move checks `m:c` in its script, and `delete` answers from
/// `HDEL m:c`, so deleting a fragment reports that nothing was alive, and
/// of two concurrent deletes only one reports ending the session. A
/// logout, once answered, is final.
///
/// `m:c` also holds the session's end, so no plain write may set it: on a
/// session a logout had just ended, that would make it live again. An
/// update that moves the end is a script that checks `m:c` and rewrites
/// it in one step. Every other update is plain commands, checked on the
/// way: on a single Redis without durable commits, when it sets a field
/// its live session has (a value it writes over, which its request loaded,
/// or `m:s`, which a signed-in session has), `HSET` answers how many of
/// its fields were new; otherwise `HEXISTS m:c` closes its pipeline. Only
/// when every field was new (the write made a fragment, or a value it wrote
/// over was removed meanwhile), or when the store sent it twice (the first
/// may have made the fragment), does it ask `HEXISTS m:c` in a second
/// round trip, and if the session is gone, it reports "not saved" and
/// removes what it wrote.
/// A write dropped before it knows (at the store's timeout), or failed
/// after it was sent, hands that check and removal to a Tokio task of its
/// own: a fragment has no expiry, and would otherwise stay for good.
/// A write that lands on another write's fragment before that one is
/// removed reports "saved", which changes nothing a load can see. In a
/// cluster (whose client resends a write by itself, unseen by the store)
/// and with durable commits (a write no replica confirmed fails, and must
/// not leave a fragment behind), `HEXISTS m:c` closes the write's own
/// pipeline instead, as it did for every write before.
///
/// # Failures
///
/// The connection is a [`ConnectionManager`] that reconnects by itself
/// (in cluster mode, a cluster connection that reconnects to each node).
/// With [`connect`](Self::connect) it is configured by
/// [`connection_config`](Self::connection_config): a connection attempt
/// gives up after [`CONNECTION_TIMEOUT`](Self::CONNECTION_TIMEOUT) (1 s), a
/// command after [`RESPONSE_TIMEOUT`](Self::RESPONSE_TIMEOUT) (1 s), and a
/// reconnection is one attempt, without backoff, so a dead Redis fails a
/// request at once (a refused connection) or within about a second (an
/// unreachable host), rather than holding it. When a call finds its
/// connection lost or refused, the store retries it once on a fresh
/// connection: after a Redis restart or a killed connection, the next
/// request succeeds. (Every call is safe to repeat; a `create` that did run
/// before its connection died answers "taken" the second time, and the
/// manager stores the session under another fresh id, leaving an
/// unreachable copy that Redis drops when it expires.) While Redis stays
/// down, requests get the manager's error response (503 by default) at
/// once, and work again once it is back, without restarting the server. A
/// hung Redis fails a request after the response timeout.
///
/// # Managed Redis: TLS and ACL users
///
/// [`builder`](Self::builder) takes `rediss://` URLs (TLS over rustls, no
/// OpenSSL; the server is verified against the system's root certificates
/// or a private CA, [`RedisConfig::ca_file`]) and ACL users
/// (`rediss://user:password@host:port/db`). A certificate that does not
/// match, or a refused user name or password, fails at start-up with an
/// error that says what to fix. The URL's user name and password appear in
/// no error, `Debug` output or log event. Timeouts, reconnection and the
/// outage behaviour are the same over TLS. The user needs the hash and key
/// commands and `@scripting` (`EVAL` for expiry refreshes and moves,
/// `EVALSHA` for the user index).
///
/// # Example
///
/// ```no_run
/// use hyper_session::{RedisStore, Sessions};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379")
///     .await?
///     .with_prefix("myapp:session:");
/// let sessions = Sessions::builder()
///     .secret(std::env::var("SESSION_SECRET")?) // the same in every process
///     .store(store)
///     .build()?;
/// sessions.install()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: Conn,
    prefix: String,
    /// How long a write that must reach a replica waits for one (`WAIT 1
    /// <ms>`); `None`: nothing waits.
    replica_wait: Option<Duration>,
    /// Whether every commit waits for a replica, not only logouts.
    durable: bool,
}

/// The connection: to one Redis (the connection manager reconnects by
/// itself) or to a cluster (the cluster connection follows `MOVED` and
/// `ASK`, and finds the new master after a failover). Both run the same
/// pipelines.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

impl RedisStore {
    /// The key prefix used unless [`with_prefix`](Self::with_prefix) sets
    /// another.
    pub const DEFAULT_PREFIX: &'static str = "hyper-session:";
    /// How long [`connect`](Self::connect)'s connection waits for one
    /// connection attempt, at start-up and on every reconnection.
    pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
    /// How long [`connect`](Self::connect)'s connection waits for the answer
    /// to one command (plus the replica wait, if one is set: see
    /// [`RedisConfig::wait_for_replica`]).
    pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
    /// How long a write waits for a replica when
    /// [`RedisConfig::wait_for_replica`] is on without a duration of its
    /// own ([`RedisConfig::durable_commits`], the examples).
    pub const DEFAULT_REPLICA_WAIT: Duration = Duration::from_millis(500);

    /// Connects to the Redis at `url` with [`connection_config`](Self::connection_config);
    /// the same as `RedisStore::builder(url).connect()`, where
    /// [`builder`](Self::builder) tells the URL forms apart and has the
    /// options for a private CA and replicas.
    ///
    /// # Errors
    ///
    /// A [`StoreError::Backend`] if the URL is invalid or Redis cannot be
    /// used now: unreachable, a TLS certificate it does not trust, a user
    /// name or password Redis refuses. A store that is unusable at start-up
    /// is reported at start-up, not on the first request. No error holds
    /// the URL's user name or password.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).connect().await
    }

    /// Starts the configuration of a connection to the Redis (or Valkey)
    /// at `url`:
    ///
    /// - `redis://[[user]:password@]host[:port][/db]`: plain TCP;
    /// - `rediss://[[user]:password@]host[:port][/db]`: TLS (rustls), the
    ///   server's certificate checked against the system's root
    ///   certificates, or against a private CA given with
    ///   [`RedisConfig::ca_file`] or [`RedisConfig::ca_pem`];
    /// - `valkey://` and `valkeys://`: the same as `redis://` and `rediss://`;
    /// - `redis+cluster://[[user]:password@]host:port[,host:port...]` (and
    ///   `rediss+cluster://`, `valkey+cluster://`, `valkeys+cluster://`): a
    ///   Redis Cluster, reached through any of the listed nodes (the
    ///   others are found from them). A `/db` path is refused: a cluster
    ///   has only database 0. See [Cluster mode](RedisStore#cluster-mode).
    ///
    /// `user` is a Redis ACL user (Redis 6 and later; without it, the
    /// password is the `default` user's, as with `requirepass`). Characters
    /// such as `@`, `:`, `/` or `,` in the user name or password must be
    /// percent-encoded (`%40`, `%3A`, `%2F`, `%2C`).
    ///
    /// # Example
    ///
    /// ```no_run
    /// use hyper_session::RedisStore;
    ///
    /// # async fn demo() -> Result<(), hyper_session::StoreError> {
    /// // A managed Redis with an ACL user, behind a private CA.
    /// let store = RedisStore::builder("rediss://app:s3cret@redis.internal:6380/0")
    ///     .ca_file("/etc/myapp/redis-ca.pem")
    ///     .connect()
    ///     .await?
    ///     .with_prefix("myapp:session:");
    ///
    /// // A cluster of masters with a replica each: logouts wait for a replica.
    /// let store = RedisStore::builder("redis+cluster://10.0.0.1:6379,10.0.0.2:6379")
    ///     .wait_for_replica(RedisStore::DEFAULT_REPLICA_WAIT)
    ///     .connect()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            ca: None,
            replica_wait: None,
            durable: false,
        }
    }

    /// Uses a connection set up by the caller (with the `redis` crate 0.32),
    /// e.g. with other timeouts or a client certificate; start from
    /// [`connection_config`](Self::connection_config). Keep its response
    /// timeout below the manager's `store_timeout`. A `rediss://` client
    /// needs a rustls crypto provider installed as the process default
    /// (`rustls::crypto::ring::default_provider().install_default()`);
    /// [`RedisConfig::connect`] does that for you.
    pub fn from_connection(connection: ConnectionManager) -> Self {
        Self::with_connection(Conn::Single(connection))
    }

    /// Like [`from_connection`](Self::from_connection), for a Redis
    /// Cluster: a connection made with `redis::cluster::ClusterClient`
    /// (feature `cluster-async` of the `redis` crate). The store then uses
    /// the [cluster layout](RedisStore#cluster-mode). Give the client a
    /// connection and a response timeout, and retry waits short enough
    /// that a call ends within the manager's `store_timeout`.
    pub fn from_cluster_connection(connection: ClusterConnection) -> Self {
        Self::with_connection(Conn::Cluster(connection))
    }

    fn with_connection(connection: Conn) -> Self {
        Self {
            connection,
            prefix: Self::DEFAULT_PREFIX.to_owned(),
            replica_wait: None,
            durable: false,
        }
    }

    /// Stores sessions under keys that start with `prefix` instead of
    /// [`DEFAULT_PREFIX`](Self::DEFAULT_PREFIX), e.g. to keep two
    /// applications apart in one Redis. Every process of one application
    /// must use the same prefix. In cluster mode, a prefix with a `}`
    /// could hold the hash tag and put every session in one slot: keep
    /// braces out of it.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        if self.is_cluster() && self.prefix.contains('{') && self.prefix.contains('}') {
            tracing::warn!(
                "the Redis key prefix holds braces: in cluster mode they may make the hash tag \
                 and put every session in one slot"
            );
        }
        self
    }

    /// The key prefix in use.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Makes writes that must survive a failover wait until a replica has
    /// them (`WAIT 1 <timeout>` in the same pipeline): logouts always, and
    /// every commit with [`with_durable_commits`](Self::with_durable_commits).
    /// If no replica confirms within `timeout`, the call fails (a 503 the
    /// client can retry). [`RedisConfig::wait_for_replica`] sets it for a
    /// connection the builder makes; here, for one of
    /// [`from_connection`](Self::from_connection), whose response timeout
    /// must exceed `timeout`.
    #[must_use]
    pub fn with_replica_wait(mut self, timeout: Duration) -> Self {
        self.replica_wait = Some(timeout);
        self
    }

    /// Makes every commit (create, change, logout) wait for a replica, not
    /// only logouts: an answered request is then never lost in a failover,
    /// at the price of a replica's acknowledgement in every commit's time.
    /// Without [`with_replica_wait`](Self::with_replica_wait), the wait is
    /// [`DEFAULT_REPLICA_WAIT`](Self::DEFAULT_REPLICA_WAIT).
    #[must_use]
    pub fn with_durable_commits(mut self) -> Self {
        self.durable = true;
        self.replica_wait = self.replica_wait.or(Some(Self::DEFAULT_REPLICA_WAIT));
        self
    }

    /// Whether the store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.connection, Conn::Cluster(_))
    }

    /// The configuration [`connect`](Self::connect) uses: connection and
    /// response timeouts of 1 s ([`CONNECTION_TIMEOUT`](Self::CONNECTION_TIMEOUT),
    /// [`RESPONSE_TIMEOUT`](Self::RESPONSE_TIMEOUT)) and a single connection
    /// attempt per reconnection (the store itself retries a call once).
    pub fn connection_config() -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Self::CONNECTION_TIMEOUT)
            .set_response_timeout(Self::RESPONSE_TIMEOUT)
            .set_number_of_retries(0)
    }

    /// The Redis key of a session's hash: the one place that derives it,
    /// so that the single-node and cluster layouts differ here and nowhere
    /// else. Single node: `{prefix}{hex}`. Cluster: `{prefix}{{hex}}`,
    /// the hex in braces, Redis's hash tag: only it decides the slot, so
    /// the staging key ([`staging`]) lands in the same slot and each
    /// pipeline touches one slot. Field names are [`DATA`], [`TIMES`] and
    /// those of a signed-in session ([`SEEN`], [`OWNER`], [`HANDLE`],
    /// [`LABEL`]).
    fn key(&self, key: &StoreKey) -> String {
        self.named(|name| key.push_hex(name))
    }

    /// [`key`](Self::key), from the store key's hex.
    fn key_of_hex(&self, hex: &str) -> String {
        self.named(|name| name.push_str(hex))
    }

    /// The prefix, then the hex `push` appends (in braces on a cluster),
    /// with room for the staging suffix.
    fn named(&self, push: impl FnOnce(&mut String)) -> String {
        let mut name = String::with_capacity(self.prefix.len() + 64 + 2 + STAGING.len());
        name.push_str(&self.prefix);
        match self.connection {
            Conn::Single(_) => push(&mut name),
            Conn::Cluster(_) => {
                name.push('{');
                push(&mut name);
                name.push('}');
            }
        }
        name
    }

    /// A batch for the commands of one store call on one session's keys.
    fn batch(&self) -> Batch {
        Batch::new(matches!(self.connection, Conn::Cluster(_)))
    }

    /// How long this write waits for a replica, if it must: a logout
    /// whenever a wait is set, any commit with durable commits.
    fn replica_wait(&self, write: Write) -> Option<Duration> {
        self.replica_wait
            .filter(|_| write == Write::Logout || self.durable)
    }

    /// Runs `batch` (see [`Batch`]), closed by `WAIT 1 <ms>` if this write
    /// must reach a replica; returns the batch's answer, and whether the
    /// batch was sent twice (see [`retry`](Self::retry)). A replica that
    /// does not confirm in time fails the call, unless the answer says the
    /// write did not take effect (see [`Write`]), which needs no replica.
    async fn run(&self, what: &'static str, batch: Batch, write: Write) -> Result<Ran, StoreError> {
        let wait = self.replica_wait(write);
        let (pipe, replies) = batch.finish(wait);
        let pipe = &pipe;
        let sent = &AtomicU8::new(0);
        let (answer, replicas) = self
            .retry(what, move |mut conn| {
                sent.fetch_add(1, Ordering::Relaxed);
                async move { replies.read(pipe.query_async(&mut conn).await?) }
            })
            .await?;
        let took_effect = write != Write::ZeroIsNone || answer != 0;
        match (wait, replicas) {
            (Some(timeout), Some(n)) if n < 1 && took_effect => Err(StoreError::backend(format!(
                "no Redis replica confirmed the write within {timeout:?} (WAIT); it is on \
                     the master only and could be lost in a failover, so the request failed \
                     and can be retried"
            ))),
            _ => Ok(Ran {
                answer,
                resent: sent.load(Ordering::Relaxed) > 1,
            }),
        }
    }

    /// Runs `call` on the connection; if it failed because the connection
    /// was lost or refused, runs it once more on the fresh connection the
    /// manager is then making.
    async fn retry<T, F, Fut>(&self, what: &'static str, call: F) -> Result<T, StoreError>
    where
        F: Fn(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        match call(self.connection.clone()).await {
            Ok(value) => Ok(value),
            Err(e) if e.is_connection_dropped() || e.is_connection_refusal() => {
                tracing::debug!(error = %e, "Redis connection lost; retrying once");
                call(self.connection.clone())
                    .await
                    .map_err(|e| context(what, e))
            }
            Err(e) => Err(context(what, e)),
        }
    }
}

impl fmt::Debug for RedisStore {
    // The connection's URL may hold a password: only the prefix is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("cluster", &self.is_cluster())
            .field("replica_wait", &self.replica_wait)
            .field("durable", &self.durable)
            .finish_non_exhaustive()
    }
}

/// How to reach a Redis or a Redis Cluster: its URL, which certificate
/// authority to trust for TLS, and whether writes wait for a replica.
/// Made by [`RedisStore::builder`]; [`connect`](Self::connect) makes the
/// store.
///
/// Its `Debug` output shows the URL without user name and password.
#[derive(Clone)]
pub struct RedisConfig {
    url: String,
    ca: Option<Ca>,
    replica_wait: Option<Duration>,
    durable: bool,
}

/// A private certificate authority for `rediss://`.
#[derive(Clone)]
enum Ca {
    File(PathBuf),
    Pem(Vec<u8>),
}

impl RedisConfig {
    /// Verifies a `rediss://` server against the certificate authority (or
    /// authorities) in the PEM file at `path` instead of the system's root
    /// certificates: for a Redis whose certificate a private CA signed. The
    /// file is read by [`connect`](Self::connect).
    #[must_use]
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = Some(Ca::File(path.into()));
        self
    }

    /// Like [`ca_file`](Self::ca_file), with the PEM text itself (one or
    /// more `-----BEGIN CERTIFICATE-----` blocks), e.g. from a secret store.
    #[must_use]
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(Ca::Pem(pem.into()));
        self
    }

    /// The deployment has replicas: a logout waits until one has it
    /// (`WAIT 1 <timeout>`, in the logout's pipeline), so that a logout,
    /// once answered, stays final even if the master dies and its replica
    /// takes over. If no replica confirms within `timeout`, the logout
    /// fails with a [`StoreError`] (a 503 the client can retry). The
    /// connection's response timeout grows by `timeout`. Off by default:
    /// without replicas every logout would fail. See
    /// [Failover](RedisStore#failover).
    #[must_use]
    pub fn wait_for_replica(mut self, timeout: Duration) -> Self {
        self.replica_wait = Some(timeout);
        self
    }

    /// Every commit, not only logouts, waits for a replica as
    /// [`wait_for_replica`](Self::wait_for_replica) says (with
    /// [`RedisStore::DEFAULT_REPLICA_WAIT`] if it was not called): no
    /// answered write is lost in a failover, at the price of a replica's
    /// acknowledgement in every commit's time.
    #[must_use]
    pub fn durable_commits(mut self) -> Self {
        self.durable = true;
        self
    }

    /// Connects, with [`RedisStore::connection_config`], and checks that
    /// Redis accepts the connection's credentials. A `+cluster` URL
    /// connects to the cluster, with the same timeouts.
    ///
    /// A `rediss://` connection runs on rustls; if the process has no
    /// default rustls crypto provider yet, this installs `ring`'s (install
    /// your own before, if you want another).
    ///
    /// # Errors
    ///
    /// A [`StoreError::Backend`] that says what to fix, and never holds the
    /// URL's user name or password, when:
    ///
    /// - the URL is invalid, or a CA is given for a URL without TLS, or a
    ///   cluster URL names a database;
    /// - the CA file cannot be read or holds no certificate;
    /// - Redis cannot be reached (1 s connection timeout);
    /// - its TLS certificate is not signed by a trusted CA, does not name
    ///   the URL's host, or has expired;
    /// - it refuses the user name or password (`WRONGPASS`), or wants a
    ///   password and the URL has none (`NOAUTH`).
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        let shown = redact(&self.url);
        let wait = match (self.replica_wait, self.durable) {
            (None, true) => Some(RedisStore::DEFAULT_REPLICA_WAIT),
            (wait, _) => wait,
        };
        let response_timeout = RedisStore::RESPONSE_TIMEOUT + wait.unwrap_or_default();
        let (connection, tls) = match cluster_nodes(&self.url, &shown)? {
            Some(nodes) => {
                self.connect_cluster(&nodes, &shown, response_timeout)
                    .await?
            }
            None => self.connect_single(&shown, response_timeout).await?,
        };
        // Connecting sends the URL's credentials, if any; a Redis that
        // wants some and got none only says so at the first command.
        // NOPERM means the user is known but may not PING: the store needs
        // only its hash and key commands, so that is fine.
        let mut check = connection.clone();
        match redis::cmd("PING").query_async::<()>(&mut check).await {
            Err(e) if e.code() != Some("NOPERM") => return Err(start_up_error(&shown, tls, e)),
            _ => {}
        }
        let cluster = matches!(connection, Conn::Cluster(_));
        tracing::debug!(redis = %shown, tls, cluster, "connected to Redis");
        let mut store = RedisStore::with_connection(connection);
        store.replica_wait = wait;
        store.durable = self.durable;
        Ok(store)
    }

    /// The CA's PEM text, if one is set; refused for a URL without TLS.
    fn root_cert(&self, tls: bool, shown: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.ca {
            None => Ok(None),
            Some(_) if !tls => Err(StoreError::backend(format!(
                "a CA certificate is set for Redis, but {shown} does not use TLS: \
                 use a rediss:// URL"
            ))),
            Some(ca) => ca.pem().map(Some),
        }
    }

    async fn connect_single(
        &self,
        shown: &str,
        response_timeout: Duration,
    ) -> Result<(Conn, bool), StoreError> {
        let info = self.url.as_str().into_connection_info().map_err(|e| {
            let expected = if redis::parse_redis_url(&self.url).is_none() {
                " (expected redis://, rediss://, valkey://, valkeys:// or one of them with +cluster)"
            } else {
                ""
            };
            context(format!("invalid Redis URL {shown}{expected}"), e)
        })?;
        let tls = matches!(info.addr, ConnectionAddr::TcpTls { .. });
        let client = match self.root_cert(tls, shown)? {
            None => redis::Client::open(info),
            Some(pem) => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                },
            ),
        }
        .map_err(|e| context(format!("invalid Redis configuration for {shown}"), e))?;
        if tls {
            install_crypto_provider();
        }
        let config = RedisStore::connection_config().set_response_timeout(response_timeout);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| start_up_error(shown, tls, e))?;
        Ok((Conn::Single(connection), tls))
    }

    /// A cluster connection with the single-node timeouts. The cluster
    /// client's own retries (a `MOVED`, a node being replaced) wait 10 to
    /// 100 ms, and the response timeout bounds a call with all of them.
    async fn connect_cluster(
        &self,
        nodes: &[String],
        shown: &str,
        response_timeout: Duration,
    ) -> Result<(Conn, bool), StoreError> {
        let tls = self.url.starts_with("rediss") || self.url.starts_with("valkeys");
        let mut builder = ClusterClient::builder(nodes.iter().map(String::as_str))
            .connection_timeout(RedisStore::CONNECTION_TIMEOUT)
            .response_timeout(response_timeout)
            .retries(CLUSTER_RETRIES)
            .min_retry_wait(10)
            .max_retry_wait(100);
        if let Some(pem) = self.root_cert(tls, shown)? {
            builder = builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            });
        }
        let client = builder
            .build()
            .map_err(|e| context(format!("invalid Redis Cluster URL {shown}"), e))?;
        if tls {
            install_crypto_provider();
        }
        let connection = client
            .get_async_connection()
            .await
            .map_err(|e| start_up_error(shown, tls, e))?;
        Ok((Conn::Cluster(connection), tls))
    }
}

/// How often the cluster client retries a call by itself (after a
/// `MOVED`, `ASK`, `TRYAGAIN` or a lost node), within the response timeout.
const CLUSTER_RETRIES: u32 = 10;

/// The node URLs of a `redis+cluster://[user:pass@]host:port[,host:port...]`
/// URL (`rediss+cluster`, `valkey+cluster`, `valkeys+cluster` alike), each
/// a plain `redis://` or `rediss://` URL with the same credentials and
/// query; `None` for a URL without `+cluster`.
fn cluster_nodes(url: &str, shown: &str) -> Result<Option<Vec<String>>, StoreError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(None);
    };
    let base = match scheme.to_ascii_lowercase().as_str() {
        "redis+cluster" | "valkey+cluster" => "redis",
        "rediss+cluster" | "valkeys+cluster" => "rediss",
        _ => return Ok(None),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, format!("?{query}")),
        None => (tail, String::new()),
    };
    let path = path.split('#').next().unwrap_or_default();
    if !path.is_empty() && path != "/" {
        return Err(StoreError::backend(format!(
            "the Redis Cluster URL {shown} names a database: a cluster has only database 0; \
             remove the /db path"
        )));
    }
    let (user, hosts) = match authority.rsplit_once('@') {
        Some((user, hosts)) => (format!("{user}@"), hosts),
        None => (String::new(), authority),
    };
    let nodes: Vec<String> = hosts
        .split(',')
        .filter(|host| !host.is_empty())
        .map(|host| format!("{base}://{user}{host}{query}"))
        .collect();
    if nodes.is_empty() {
        return Err(StoreError::backend(format!(
            "the Redis Cluster URL {shown} names no node; expected \
             {scheme}://host:port[,host:port...]"
        )));
    }
    Ok(Some(nodes))
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact(&self.url))
            .field("ca", &self.ca)
            .field("replica_wait", &self.replica_wait)
            .field("durable", &self.durable)
            .finish()
    }
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Pem(pem) => write!(f, "Pem({} bytes)", pem.len()),
        }
    }
}

impl Ca {
    /// The PEM text, checked to hold at least one certificate: an empty
    /// trust store would fail every handshake with a misleading error.
    fn pem(&self) -> Result<Vec<u8>, StoreError> {
        let (pem, source) = match self {
            Self::File(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    StoreError::backend(format!(
                        "cannot read the Redis CA file {}: {e}",
                        path.display()
                    ))
                })?;
                (pem, format!("the Redis CA file {}", path.display()))
            }
            Self::Pem(pem) => (pem.clone(), "the Redis CA PEM text".to_owned()),
        };
        let mut certificates = 0;
        for certificate in CertificateDer::pem_slice_iter(&pem) {
            certificate
                .map_err(|e| StoreError::backend(format!("{source} is not valid PEM: {e}")))?;
            certificates += 1;
        }
        if certificates == 0 {
            return Err(StoreError::backend(format!(
                "{source} holds no certificate (no -----BEGIN CERTIFICATE----- block)"
            )));
        }
        Ok(pem)
    }
}

/// Makes `ring` the process's rustls crypto provider unless one is set:
/// the `redis` crate's rustls needs a default, and would panic without one
/// if several providers are compiled in.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err: another thread installed one meanwhile, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A failure to connect at start-up, turned into what to fix.
fn start_up_error(shown: &str, tls: bool, e: RedisError) -> StoreError {
    use rustls::CertificateError as Cert;
    let problem = if e.kind() == ErrorKind::AuthenticationFailed || e.code() == Some("WRONGPASS") {
        format!(
            "Redis at {shown} refused the user name or password (WRONGPASS); \
             check the ACL user and password in the URL"
        )
    } else if e.code() == Some("NOAUTH") {
        format!(
            "Redis at {shown} requires a password (NOAUTH); \
             put the ACL user and password in the URL: rediss://user:password@host:port"
        )
    } else if let Some(tls) = tls_error(&e) {
        match tls {
            rustls::Error::InvalidCertificate(Cert::UnknownIssuer | Cert::BadSignature) => format!(
                "the TLS certificate of Redis at {shown} is not signed by a trusted certificate \
                 authority; for a private CA, give its certificate (RedisConfig::ca_file)"
            ),
            rustls::Error::InvalidCertificate(
                Cert::NotValidForName | Cert::NotValidForNameContext { .. },
            ) => format!(
                "the TLS certificate of Redis at {shown} is not valid for that host; \
                 connect with a host name or address the certificate lists"
            ),
            rustls::Error::InvalidCertificate(
                Cert::Expired
                | Cert::ExpiredContext { .. }
                | Cert::NotValidYet
                | Cert::NotValidYetContext { .. },
            ) => format!("the TLS certificate of Redis at {shown} has expired or is not valid yet"),
            rustls::Error::InvalidCertificate(_) => {
                format!("the TLS certificate of Redis at {shown} was rejected")
            }
            _ => format!(
                "the TLS handshake with Redis at {shown} failed; \
                 is that port Redis's TLS port (tls-port)?"
            ),
        }
    } else if e.is_timeout() && tls {
        // A plain port waits for a command to end, and never answers a
        // TLS hello: it looks like a host that does not answer.
        format!(
            "Redis at {shown} did not answer; is the host reachable, \
             and is that port Redis's TLS port (tls-port)?"
        )
    } else if e.is_connection_dropped() && !tls {
        // A TLS port drops a client that does not speak TLS.
        format!(
            "Redis at {shown} closed the connection; \
             if that port speaks TLS (tls-port), use a rediss:// URL"
        )
    } else {
        format!("cannot connect to Redis at {shown}")
    };
    context(problem, e)
}

/// The rustls error under a failed TLS connection, if that is what failed.
fn tls_error(e: &RedisError) -> Option<&rustls::Error> {
    let io = std::error::Error::source(e)?.downcast_ref::<std::io::Error>()?;
    io.get_ref()?.downcast_ref::<rustls::Error>()
}

/// `url` without anything that may be secret, for messages: no user name
/// or password, no query (a `unix://` URL may carry a password there) and
/// no fragment; `scheme://host:port/db` is left.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<a Redis URL that does not parse>".to_owned();
    };
    // After the last `@`: a password with an unescaped `@` stays hidden.
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    format!("{scheme}://{}", &rest[..end])
}

impl SessionStore for RedisStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let name = self.key(key);
        let name = name.as_str();
        // Read as pairs, not into a map: the fields are only walked once,
        // and a `HashMap` hashed each name with SipHash first.
        let fields: Vec<(Vec<u8>, Vec<u8>)> = self
            .retry("Redis HGETALL failed", move |mut conn| async move {
                redis::cmd("HGETALL").arg(name).query_async(&mut conn).await
            })
            .await?;
        // No `m:c`: nothing, or the fragment a commit racing a destroy
        // leaves for an instant (see `update`).
        if !fields.iter().any(|(field, _)| field == TIMES.as_bytes()) {
            return Ok(None);
        }
        let record = parse(fields)?;
        Ok((record.expires_at > now_ms()).then_some(record))
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        let name = self.key(key);
        let name = name.as_str();
        // Built under a staging name, then RENAMENX'd into place: atomic,
        // never overwrites (RENAMENX refuses an existing name), one round
        // trip, and less Redis time than a Lua script (9.6 µs against 12.5).
        // The staging key carries the expiry, which the rename keeps; if the
        // rename is refused, the staging key is deleted (and would expire
        // anyway).
        let staging = format!("{name}{STAGING}");
        let staging = staging.as_str();
        let mut fields: Vec<Vec<u8>> = Vec::with_capacity(14 + 2 * record.data.len());
        fields.push(TIMES.as_bytes().to_vec());
        fields.push(times(
            record.created_at,
            record.expires_at,
            record.renewed_at,
        ));
        if let Some(owner) = &record.owner {
            // Read only by the user's listing, and written only for it.
            push_meta(&mut fields, SEEN, record.seen_at);
            push_owner(&mut fields, owner);
            // The index first: a revocation that reads it from now on
            // finds this key, before the session exists under it.
            self.index_touch(owner, Some(key), record.expires_at)
                .await?;
        }
        for (field, value) in &record.data {
            fields.push(data_field(field));
            fields.push(value.as_bytes().to_vec());
        }
        let expires = record.expires_at;
        let mut batch = self.batch();
        batch.cmd("HSET").arg(staging).arg(fields);
        batch.cmd("PEXPIREAT").arg(staging).arg(expires);
        batch.answer("RENAMENX").arg(staging).arg(name);
        let renamed = self
            .run("Redis session create failed", batch, Write::ZeroIsNone)
            .await?
            .answer;
        if renamed != 1 {
            self.unlink(staging).await?;
            return Ok(false);
        }
        Ok(true)
    }

    async fn update(&self, key: &StoreKey, update: &Update<'_>) -> Result<bool, StoreError> {
        let name = self.key(key);
        let name = name.as_str();
        if let Some(owner) = update.new_owner() {
            self.index_touch(owner, Some(key), update.expires_at)
                .await?;
        }
        let alive = if rewrites_times(update) {
            self.rewrite(name, update).await?
        } else {
            self.write(name, update).await?
        };
        if !alive {
            return Ok(false);
        }
        // A signed-in session's new expiry must not outlast its index
        // entry: one more command, on signed-in writes that move it.
        if let (Some(owner), None, true) = (update.owner, update.new_owner(), update.expiry_moved) {
            self.index_touch(owner, None, update.expires_at).await?;
        }
        Ok(true)
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.end(&self.key(key)).await
    }

    fn capabilities(&self) -> Capabilities<'_> {
        match self.connection {
            Conn::Single(_) => Capabilities::none()
                .with_atomic_move(self)
                .with_user_index(self),
            // The old and the new id hash to different slots, which no
            // one command or pipeline may span: `cycle_id` takes the
            // manager's create / delete / delete-if-dead path.
            Conn::Cluster(_) => Capabilities::none().with_user_index(self),
        }
    }
}

impl AtomicMove for RedisStore {
    fn move_to<'a>(
        &'a self,
        from: &'a StoreKey,
        to: &'a StoreKey,
        update: &'a Update<'a>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.rename(from, to, update))
    }
}

impl RedisStore {
    /// `cycle_id` in one script ([`MOVE`]) on the two names: if the old
    /// one is a live session signed in as this request believes, `RENAMENX`
    /// moves the whole hash at once, then the changes and the expiry are
    /// written on the new name. Signed in otherwise (another request signed
    /// it in meanwhile, which this one did not see): nothing moves, so that
    /// the session never leaves the index entry the sign-in made; the
    /// session keeps its id, and this request's changes are dropped as for
    /// a session that ended.
    ///
    /// A script, unlike the other calls: the check and the move must be
    /// one step. Moves are rare (logins, renewals).
    async fn rename(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        update: &Update<'_>,
    ) -> Result<bool, StoreError> {
        let (old, new) = (self.key(from), self.key(to));
        let (old, new) = (old.as_str(), new.as_str());
        if let Some(owner) = update.owner {
            // The index first, as for a create.
            self.index_touch(owner, Some(to), update.expires_at).await?;
        }
        let expected = match update.owner {
            _ if update.owner_changed => "*",
            Some(owner) => owner.handle.as_str(),
            None => "",
        };
        let mut batch = self.batch();
        let script = batch
            .answer("EVAL")
            .arg(MOVE)
            .arg(2)
            .arg(old)
            .arg(new)
            .arg(expected);
        script_changes(script, update);
        let moved = match self
            .run("Redis session move failed", batch, Write::ZeroIsNone)
            .await?
            .answer
        {
            1 => true,
            -1 => {
                tracing::debug!(session = %from.fingerprint(), "session signed in by another request meanwhile; not moved to a new id");
                false
            }
            // Not alive: ended by a logout, or moved by this very script
            // already (its answer lost with a dropped connection, then
            // resent): only the new name can tell.
            _ => self.is_alive(new).await?,
        };
        if !moved {
            self.unlink(new).await?;
        }
        Ok(moved)
    }

    /// An update that leaves the session's times as they are: the common
    /// commit, in one pipeline of plain commands (a Lua script costs Redis
    /// several times as much, a `MULTI` twice). No atomicity is needed: a
    /// live session has `m:c`, which this write never sets, so if the
    /// session is gone after it, a destroy (or expiry) won the race and
    /// this write made or touched a fragment, which no load returns; it is
    /// removed at once.
    ///
    /// On a single Redis, without durable commits, the `HSET`'s own answer
    /// tells, when it sets a field a live session has (see
    /// [`shows_liveness`]): it answers how many fields were new. Only when
    /// all were, or when the store sent the write twice (the first may
    /// have made the fragment), does a second round trip ask
    /// `HEXISTS m:c`. Otherwise (no such field; in a cluster, whose client
    /// resends by itself; when a replica must confirm the write),
    /// `HEXISTS m:c` closes the write's own pipeline.
    async fn write(&self, name: &str, update: &Update<'_>) -> Result<bool, StoreError> {
        let (set, remove) = changes(update);
        let mut batch = self.batch();
        // How many fields the `HSET` writes, when its answer is the one
        // that tells: the count is compared with it.
        let counted = (!(batch.cluster || self.durable) && shows_liveness(update))
            .then(|| distinct_fields(&set));
        if !set.is_empty() {
            let hset = if counted.is_some() {
                batch.answer("HSET")
            } else {
                batch.cmd("HSET")
            };
            hset.arg(name).arg(set);
        }
        if !remove.is_empty() {
            batch.cmd("HDEL").arg(name).arg(remove);
        }
        let write = if counted.is_some() {
            Write::Always
        } else {
            batch.answer("HEXISTS").arg(name).arg(TIMES);
            Write::ZeroIsNone
        };
        // Until this write knows the session alive, or has removed the
        // fragment it made, a drop (the store's timeout) or an error hands
        // the check to a task of its own: a fragment has no expiry.
        let mut unsettled = Unsettled {
            store: self,
            name,
            armed: true,
        };
        let ran = self
            .run("Redis session update failed", batch, write)
            .await?;
        let ended = match counted {
            Some(fields) => (ran.answer == fields || ran.resent) && !self.is_alive(name).await?,
            None => ran.answer != 1,
        };
        if ended {
            self.unlink(name).await?;
        }
        unsettled.armed = false;
        Ok(!ended)
    }

    /// An update that moves the session's end (an expiry refresh, a
    /// handler's stricter limit) or its renewal: [`REWRITE`], one script that writes
    /// the changes and the new `m:c` only if the session is alive, as a
    /// plain write could not without bringing back a session that a logout
    /// ended (`m:c` is what makes it live). Refreshes are rare (once a
    /// quarter of the idle window), so the script's cost is too.
    async fn rewrite(&self, name: &str, update: &Update<'_>) -> Result<bool, StoreError> {
        let mut batch = self.batch();
        script_changes(batch.answer("EVAL").arg(REWRITE).arg(1).arg(name), update);
        let ran = self
            .run("Redis session update failed", batch, Write::ZeroIsNone)
            .await?;
        Ok(ran.answer == 1)
    }

    /// Ends the session hash `name`: `delete`, and revocation.
    async fn end(&self, name: &str) -> Result<bool, StoreError> {
        // `HDEL m:c` answers whether this call ended a live session: a
        // fragment has no `m:c`, an expired key is gone, and of two
        // concurrent deletes only the first finds the field. With replicas,
        // the logout is answered only once one of them has it (or the one
        // that ended the session before, on this connection), so no
        // failover brings the session back.
        let mut batch = self.batch();
        batch.answer("HDEL").arg(name).arg(TIMES);
        batch.cmd("UNLINK").arg(name);
        let ended = self
            .run("Redis session delete failed", batch, Write::Logout)
            .await?;
        Ok(ended.answer == 1)
    }

    /// Whether the hash `name` is a live session (has `m:c`). Nobody but
    /// this process knows a fresh id, so a live hash there is the move's.
    async fn is_alive(&self, name: &str) -> Result<bool, StoreError> {
        self.retry("Redis HEXISTS failed", move |mut conn| async move {
            redis::cmd("HEXISTS")
                .arg(name)
                .arg(TIMES)
                .query_async::<bool>(&mut conn)
                .await
        })
        .await
    }

    /// `UNLINK name`, for what a losing write left behind.
    async fn unlink(&self, name: &str) -> Result<(), StoreError> {
        self.retry("Redis UNLINK failed", move |mut conn| async move {
            redis::cmd("UNLINK")
                .arg(name)
                .query_async::<i64>(&mut conn)
                .await
        })
        .await?;
        Ok(())
    }
}

/// A write that may have made a fragment (a hash without `m:c`, and
/// without an expiry) and has not yet learned whether it did. Dropped
/// while armed (the request's future dropped at the store's timeout, or
/// the write failed after it was sent), it checks from a task of its own
/// and removes the fragment if there is one; Redis would otherwise keep
/// it, and the values in it, for good.
struct Unsettled<'a> {
    store: &'a RedisStore,
    name: &'a str,
    armed: bool,
}

impl Drop for Unsettled<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("a Redis session write was abandoned outside a Tokio runtime; a hash without expiry may remain under the session prefix");
            return;
        };
        let (store, name) = (self.store.clone(), self.name.to_owned());
        runtime.spawn(async move {
            let settled = match store.is_alive(&name).await {
                Ok(true) => Ok(()),
                Ok(false) => store.unlink(&name).await,
                Err(error) => Err(error),
            };
            // While Redis is out, every failed write comes here: the
            // request's failure is logged already, at ERROR.
            if let Err(error) = settled {
                tracing::debug!(%error, "could not check what an abandoned Redis session write left; a hash without expiry may remain under the session prefix");
            }
        });
    }
}

/// A Redis error with what the store was doing. The message of a Redis
/// error names no key and no URL; `what` names at most the
/// [`redact`]ed URL.
#[derive(Debug)]
struct Failure {
    what: Cow<'static, str>,
    source: RedisError,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.source)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn context(what: impl Into<Cow<'static, str>>, source: RedisError) -> StoreError {
    if source.code() == Some("WRONGTYPE") {
        return StoreError::Corrupt(
            "a Redis key under the session prefix is not a hash; another program writes there"
                .into(),
        );
    }
    StoreError::backend(Failure {
        what: what.into(),
        source,
    })
}

/// How many distinct field names the `HSET` items `set` (name, value,
/// name, value...) write: `HSET` counts a field written twice once, and an
/// [`Update`] built by hand may set a key twice.
fn distinct_fields(set: &[Vec<u8>]) -> i64 {
    let names = || set.iter().step_by(2);
    // A few names (every commit but a large one) are compared in place.
    let distinct = if set.len() <= 16 {
        names()
            .enumerate()
            .filter(|&(i, name)| !names().take(i).any(|earlier| earlier == name))
            .count()
    } else {
        names().collect::<std::collections::HashSet<_>>().len()
    };
    i64::try_from(distinct).unwrap_or(i64::MAX)
}

/// Whether `update` moves the session's times, which [`REWRITE`] writes.
fn rewrites_times(update: &Update<'_>) -> bool {
    update.expiry_moved || update.renewed_at.is_some()
}

/// Whether the `HSET` of `update` (see [`changes`]) sets a field the live
/// session has already, so that its answer (how many fields were new)
/// shows the session still there (see [Liveness](RedisStore#liveness)):
/// a stored value it writes over, or `m:s`, which a signed-in session has
/// and every write to it sets.
fn shows_liveness(update: &Update<'_>) -> bool {
    update.owner.is_some() || (update.overwrites && !update.set.is_empty())
}

/// The arguments [`REWRITE`] and [`MOVE`] end with: the new expiry, the
/// new `renewed_at` (`""`: kept), the number of field/value items to
/// write, those items, then the fields to remove (see [`changes`]).
fn script_changes(script: &mut Pipeline, update: &Update<'_>) {
    let (set, remove) = changes(update);
    let renewed = update
        .renewed_at
        .map_or_else(String::new, |ms| ms.to_string());
    script
        .arg(update.expires_at)
        .arg(renewed)
        .arg(set.len())
        .arg(set)
        .arg(remove);
}

/// The fields `update` writes with `HSET` (name, value, name, value...:
/// `seen_at` of a signed-in session, the changed values, and a new owner),
/// and those it removes. The times are [`REWRITE`]'s and [`MOVE`]'s.
fn changes(update: &Update<'_>) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut set = Vec::with_capacity(2 + 2 * update.set.len());
    if update.owner.is_some() {
        push_meta(&mut set, SEEN, update.seen_at);
    }
    for (field, value) in &update.set {
        set.push(data_field(field));
        set.push(value.as_bytes().to_vec());
    }
    let mut remove: Vec<Vec<u8>> = update.remove.iter().map(|f| data_field(f)).collect();
    if let Some(owner) = update.new_owner() {
        push_owner(&mut set, owner);
        if owner.label.is_none() {
            remove.push(LABEL.as_bytes().to_vec());
        }
    }
    (set, remove)
}

/// The owner fields of a session hash.
fn push_owner(fields: &mut Vec<Vec<u8>>, owner: &Owner) {
    fields.push(OWNER.as_bytes().to_vec());
    fields.push(owner.user.as_bytes().to_vec());
    fields.push(HANDLE.as_bytes().to_vec());
    fields.push(owner.handle.as_str().as_bytes().to_vec());
    if let Some(label) = &owner.label {
        fields.push(LABEL.as_bytes().to_vec());
        fields.push(label.as_bytes().to_vec());
    }
}

/// Lua shared by [`REWRITE`] and [`MOVE`].
///
/// `times(key, expires, renewed)` reads the session's times and returns
/// its new [`TIMES`] text: the creation as stored, the new end, and
/// `renewed` if not `""`, else the stored renewal (from an earlier
/// release's `m:r` too). It fails on times it cannot read before the
/// script writes anything (Redis does not undo a script's writes when it
/// fails part-way), and reads as [`Times::parse`] does.
///
/// `write(key, n)` writes the `n` field/value items from `ARGV[first]`
/// on, then removes the fields that follow them, in `HSET`s and `HDEL`s of
/// at most 1,000 arguments (Lua's `unpack` fails at about 8,000).
///
/// `retime(key, times, expires)` sets them, removes the earlier fields, and
/// sets the key's TTL to the same end, so that the two never differ.
macro_rules! lua_functions {
    () => {
        r"
local function times(key, expires, renewed)
  local created, rest = string.match(redis.call('HGET', key, 'm:c'), '^(%d+)(.*)$')
  local kept
  if rest == 'ms' or rest == '' then
    local old = redis.call('HGET', key, 'm:r') or ''
    kept = string.match(old, '^(%d+)$') or string.match(old, '^(%d+)ms$')
  elseif rest and not string.match(rest, '^,%d+$') then
    kept = string.match(rest, '^,%d+,(%d+)$')
    if not kept then created = nil end
  end
  if not created then error('session field m:c is not its times') end
  if renewed == '' then renewed = kept end
  local text = created .. ',' .. expires
  if renewed and renewed ~= created then text = text .. ',' .. renewed end
  return text
end
local function each(command, key, from, to)
  for i = from, to, 1000 do
    redis.call(command, key, unpack(ARGV, i, math.min(i + 999, to)))
  end
end
local function write(key, first)
  local n = tonumber(ARGV[first - 1])
  each('HSET', key, first, first + n - 1)
  each('HDEL', key, first + n, #ARGV)
end
local function retime(key, text, expires)
  redis.call('HSET', key, 'm:c', text)
  redis.call('HDEL', key, 'm:e', 'm:r')
  redis.call('PEXPIREAT', key, expires)
end
"
    };
}

/// An update that moves the times (see [`RedisStore::rewrite`]). KEYS: the
/// session's name. ARGV: the new expiry, the new `renewed_at` (`""`: kept),
/// the number `n` of field/value items to write, those items, then the
/// fields to remove. Answers 1 (written), 0 (not a live session: nothing
/// written, and a fragment there is removed).
const REWRITE: &str = concat!(
    lua_functions!(),
    r"
if redis.call('HEXISTS', KEYS[1], 'm:c') == 0 then redis.call('DEL', KEYS[1]) return 0 end
local text = times(KEYS[1], ARGV[1], ARGV[2])
write(KEYS[1], 4)
retime(KEYS[1], text, ARGV[1])
return 1
"
);

/// The move of `cycle_id` (see [`RedisStore::rename`]). KEYS: the old and
/// the new name. ARGV: the handle the request expects the session to have
/// (`""`: none; `"*"`: any, for a request that signs it in), the new
/// expiry, the new `renewed_at`, the number `n` of field/value items to
/// write, those items, then the fields to remove. Answers 1 (moved), 0
/// (not a live session; a fragment there is removed), -1 (signed in as the
/// request did not expect; nothing moved).
const MOVE: &str = concat!(
    lua_functions!(),
    r"
if redis.call('HEXISTS', KEYS[1], 'm:c') == 0 then redis.call('DEL', KEYS[1]) return 0 end
if ARGV[1] ~= '*' and (redis.call('HGET', KEYS[1], 'm:h') or '') ~= ARGV[1] then return -1 end
local text = times(KEYS[1], ARGV[2], ARGV[3])
if redis.call('RENAMENX', KEYS[1], KEYS[2]) == 0 then return -2 end
write(KEYS[2], 5)
retime(KEYS[2], text, ARGV[2])
return 1
"
);

/// What [`RedisStore::run`] learned of a [`Batch`].
struct Ran {
    /// The batch's answer.
    answer: i64,
    /// Whether the store sent it a second time, its connection lost: the
    /// first may have been carried out, its answer never read. (The
    /// cluster client's own resends do not show here.)
    resent: bool,
}

/// What kind of write a [`Batch`] is, for the replica wait.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    /// Ends a session: waits for a replica whenever the store is set to
    /// ([`RedisConfig::wait_for_replica`]), and always needs one.
    Logout,
    /// Waits only for durable commits, and an answer of 0 means it did
    /// not take effect (a create whose id was taken, a move of a session
    /// that had ended), which needs no replica.
    ZeroIsNone,
    /// Waits only for durable commits, and took effect whatever its answer
    /// (an update: its answer counts the fields that were new).
    Always,
}

/// The commands of one store call, all on the keys of one session (one
/// slot), of which one, the *answer*, says whether the write took effect.
///
/// On a single Redis they are a plain pipeline. In cluster mode they run
/// as one `MULTI`/`EXEC` transaction in the pipeline: during a resharding,
/// Redis serves a slot that is moving only to a client that sends `ASKING`
/// first, and `ASKING` covers one command, or one whole transaction; a
/// plain pipeline would run its first command on the new node and be sent
/// back for the rest. (A transaction whose keys are split between the two
/// nodes gets `TRYAGAIN`, which the cluster client retries.) `WAIT`, if
/// any, follows the transaction: inside one it would not wait.
struct Batch {
    pipe: Pipeline,
    cluster: bool,
    /// How many commands were added, and which one is the answer.
    len: usize,
    answer: usize,
}

impl Batch {
    fn new(cluster: bool) -> Self {
        let mut pipe = redis::pipe();
        if cluster {
            pipe.cmd("MULTI").ignore();
        }
        Self {
            pipe,
            cluster,
            len: 0,
            answer: 0,
        }
    }

    /// Adds a command whose reply is not needed; chain its arguments.
    fn cmd(&mut self, name: &str) -> &mut Pipeline {
        self.len += 1;
        self.pipe.cmd(name).ignore()
    }

    /// Adds the command whose integer reply is the batch's answer.
    fn answer(&mut self, name: &str) -> &mut Pipeline {
        self.answer = self.len;
        self.len += 1;
        let pipe = self.pipe.cmd(name);
        // In a transaction every reply is `QUEUED`; the answer is in EXEC's.
        if self.cluster {
            pipe.ignore()
        } else {
            pipe
        }
    }

    /// The pipeline to send, closed by `WAIT 1 <ms>` if `wait` is set, and
    /// how to read its replies.
    fn finish(self, wait: Option<Duration>) -> (Pipeline, Replies) {
        let mut pipe = self.pipe;
        if self.cluster {
            pipe.cmd("EXEC");
        }
        if let Some(wait) = wait {
            let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            pipe.cmd("WAIT").arg(1).arg(ms);
        }
        let replies = Replies {
            cluster: self.cluster,
            answer: self.answer,
        };
        (pipe, replies)
    }
}

/// How to read the replies of a finished [`Batch`].
#[derive(Clone, Copy)]
struct Replies {
    cluster: bool,
    answer: usize,
}

impl Replies {
    /// The answer and, if the pipeline waited, how many replicas confirmed,
    /// from the replies of its commands that were not ignored.
    fn read(self, replies: Vec<Value>) -> Result<(i64, Option<i64>), RedisError> {
        let mut replies = replies.into_iter();
        let answer = match replies.next() {
            Some(Value::Array(exec)) if self.cluster => {
                exec.into_iter().nth(self.answer).unwrap_or(Value::Nil)
            }
            Some(reply) => reply,
            None => Value::Nil,
        };
        let answer = redis::from_owned_redis_value(answer)?;
        let replicas = replies
            .next()
            .map(redis::from_owned_redis_value)
            .transpose()?;
        Ok((answer, replicas))
    }
}

fn data_field(key: &str) -> Vec<u8> {
    let mut field = Vec::with_capacity(DATA.len() + key.len());
    field.extend_from_slice(DATA.as_bytes());
    field.extend_from_slice(key.as_bytes());
    field
}

fn push_meta(args: &mut Vec<Vec<u8>>, field: &str, ms: u64) {
    args.push(field.as_bytes().to_vec());
    args.push(format!("{ms}{MS}").into_bytes());
}

/// A timestamp of a metadata field: digits, then [`MS`] (or not, as
/// earlier releases wrote it).
fn parse_ms(text: &str) -> Option<u64> {
    digits(text.strip_suffix(MS).unwrap_or(text))
}

/// A number of digits alone (no sign), as the scripts read them too. One
/// pass: a check for digits, then `str::parse`, took a returning request
/// about 130 instructions more.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.bytes().try_fold(0u64, |n, b| {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// What [`TIMES`] holds: `<created>,<expires>[,<renewed>]`, or an earlier
/// release's `<created>ms`, whose end and renewal are fields of their own.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Times {
    pub(super) created: u64,
    pub(super) expires: Option<u64>,
    pub(super) renewed: Option<u64>,
}

impl Times {
    pub(super) fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(',');
        let created = parts.next()?;
        let Some(expires) = parts.next() else {
            return Some(Self {
                created: parse_ms(created)?,
                expires: None,
                renewed: None,
            });
        };
        let renewed = match parts.next() {
            Some(renewed) => Some(digits(renewed)?),
            None => None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            created: digits(created)?,
            expires: Some(digits(expires)?),
            renewed,
        })
    }
}

/// [`TIMES`]' text for a session written whole (the renewal only once it
/// differs from the creation, as [`REWRITE`] and [`MOVE`] write it too).
fn times(created: u64, expires: u64, renewed: u64) -> Vec<u8> {
    if renewed == created {
        format!("{created},{expires}").into_bytes()
    } else {
        format!("{created},{expires},{renewed}").into_bytes()
    }
}

/// Rebuilds a record from the fields of its hash.
fn parse(fields: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Record, StoreError> {
    let mut record = Record::default();
    let mut times = None;
    let (mut old_renewed, mut old_expires, mut seen) = (None, None, None);
    let (mut user, mut handle, mut label) = (None, None, None);
    for (field, value) in fields {
        let field = String::from_utf8(field)
            .map_err(|_| StoreError::Corrupt("a session field name is not UTF-8".into()))?;
        if let Some(key) = field.strip_prefix(DATA) {
            let value = String::from_utf8(value).map_err(|_| {
                StoreError::Corrupt(format!("session value `{key}` is not UTF-8 text"))
            })?;
            record.data.insert(key.to_owned(), value);
            continue;
        }
        let text = match field.as_str() {
            OWNER => Some(&mut user),
            HANDLE => Some(&mut handle),
            LABEL => Some(&mut label),
            _ => None,
        };
        if let Some(slot) = text {
            *slot = Some(String::from_utf8(value).map_err(|_| {
                StoreError::Corrupt(format!("session field `{field}` is not UTF-8 text"))
            })?);
            continue;
        }
        if field == TIMES {
            times = Some(
                std::str::from_utf8(&value)
                    .ok()
                    .and_then(Times::parse)
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("session field `{TIMES}` is not its times"))
                    })?,
            );
            continue;
        }
        let slot = match field.as_str() {
            OLD_RENEWED => &mut old_renewed,
            OLD_EXPIRES => &mut old_expires,
            SEEN => &mut seen,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unexpected field `{other}` in a session hash"
                )))
            }
        };
        *slot = Some(millis(&field, &value)?);
    }
    let missing = |name: &str| StoreError::Corrupt(format!("session hash lacks field `{name}`"));
    let times = times.ok_or_else(|| missing(TIMES))?;
    record.created_at = times.created;
    record.renewed_at = times.renewed.or(old_renewed).unwrap_or(times.created);
    record.expires_at = times
        .expires
        .or(old_expires)
        .ok_or_else(|| missing(OLD_EXPIRES))?;
    record.seen_at = seen.unwrap_or(record.renewed_at);
    if let (Some(user), Some(handle)) = (user, handle) {
        let handle = crate::Handle::parse(&handle)
            .ok_or_else(|| StoreError::Corrupt("session field `m:h` is not a handle".into()))?;
        record.owner = Some(Owner::new(user, handle, label));
    }
    Ok(record)
}

fn millis(field: &str, value: &[u8]) -> Result<u64, StoreError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(parse_ms)
        .ok_or_else(|| {
            StoreError::Corrupt(format!("session field `{field}` is not a timestamp in ms"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn parses_a_hash_of_this_release_and_of_earlier_ones() {
        let this = fields(&[("m:c", "1,3,2"), ("d:user", "\"ada\""), ("d:d:x", "1")]);
        let earlier = fields(&[
            ("m:c", "1"),
            ("m:r", "2"),
            ("m:e", "3"),
            ("d:user", "\"ada\""),
            ("d:d:x", "1"),
        ]);
        for hash in [this, earlier] {
            let record = parse(hash).expect("valid");
            assert_eq!(record.created_at, 1);
            assert_eq!(record.renewed_at, 2);
            assert_eq!(record.expires_at, 3);
            assert_eq!(record.data.get("user").map(String::as_str), Some("\"ada\""));
            assert_eq!(record.data.get("d:x").map(String::as_str), Some("1"));
        }
    }

    #[test]
    fn times_are_digits_alone() {
        for (text, value) in [
            ("0", Some(0)),
            ("1764345600000", Some(1_764_345_600_000)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("", None),
            ("+1", None),
            ("-1", None),
            (" 1", None),
            ("1a", None),
            ("1ms", None),
        ] {
            assert_eq!(digits(text), value, "{text:?}");
        }
    }

    #[test]
    fn times_are_one_field_with_the_renewal_only_once_it_differs() {
        assert_eq!(
            times(1_764_345_600_000, 1_765_555_200_000, 1_764_345_600_000),
            b"1764345600000,1765555200000"
        );
        assert_eq!(times(1, 3, 2), b"1,3,2");
        for (created, expires, renewed) in [(1, 3, 1), (1, 3, 2), (u64::MAX - 1, u64::MAX, 0)] {
            let text = times(created, expires, renewed);
            let parsed = Times::parse(std::str::from_utf8(&text).expect("digits")).expect("valid");
            assert_eq!(parsed.created, created);
            assert_eq!(parsed.expires, Some(expires));
            assert_eq!(parsed.renewed.unwrap_or(created), renewed);
            let record = parse(fields(&[(
                "m:c",
                std::str::from_utf8(&text).expect("digits"),
            )]))
            .expect("valid");
            assert_eq!(
                (record.created_at, record.expires_at, record.renewed_at),
                (created, expires, renewed)
            );
        }
    }

    #[test]
    fn distinct_fields_count_a_repeated_name_once_in_small_and_large_writes() {
        let items = |names: &[&str]| -> Vec<Vec<u8>> {
            names
                .iter()
                .flat_map(|n| [n.as_bytes().to_vec(), b"v".to_vec()])
                .collect()
        };
        assert_eq!(distinct_fields(&items(&["m:s", "d:a"])), 2);
        assert_eq!(distinct_fields(&items(&["m:s", "d:a", "d:a"])), 2);
        let many: Vec<String> = (0..20).map(|i| format!("d:{}", i % 15)).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(distinct_fields(&items(&many)), 15);
    }

    #[test]
    fn timestamps_carry_their_unit_and_an_unrenewed_id_is_as_old_as_the_session() {
        let mut written = Vec::new();
        push_meta(&mut written, SEEN, 1_764_345_600_000);
        assert_eq!(written[1], b"1764345600000ms");
        let record = parse(fields(&[
            ("m:c", "1764345600000ms"),
            ("m:e", "1764345700000ms"),
            ("m:s", "1764345650000"),
        ]))
        .expect("valid");
        assert_eq!(record.created_at, 1_764_345_600_000);
        assert_eq!(
            record.renewed_at, record.created_at,
            "no m:r: never renewed"
        );
        assert_eq!(record.expires_at, 1_764_345_700_000);
        assert_eq!(
            record.seen_at, 1_764_345_650_000,
            "an earlier release's digits"
        );
    }

    #[test]
    fn redact_keeps_only_scheme_host_port_and_db() {
        for (url, shown) in [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            (
                "rediss://app:s3cret@r.example:6380/2",
                "rediss://r.example:6380/2",
            ),
            ("redis://:s3cret@host", "redis://host"),
            ("redis://app:s3c@ret@host/0", "redis://host/0"),
            ("redis://app:s3c/ret@host/0", "redis://host/0"),
            ("redis://host/0?protocol=resp3#insecure", "redis://host/0"),
            (
                "redis+unix:///tmp/r.sock?pass=s3cret",
                "redis+unix:///tmp/r.sock",
            ),
            ("app:s3cret@host", "<a Redis URL that does not parse>"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn a_cluster_url_names_every_node_with_the_same_credentials() {
        let nodes = |url: &str| cluster_nodes(url, &redact(url));
        assert_eq!(nodes("redis://h:1/0").expect("valid"), None);
        assert_eq!(
            nodes("redis+cluster://app:s%40c@10.0.0.1:7000,10.0.0.2:7001/").expect("valid"),
            Some(vec![
                "redis://app:s%40c@10.0.0.1:7000".to_owned(),
                "redis://app:s%40c@10.0.0.2:7001".to_owned(),
            ])
        );
        assert_eq!(
            nodes("rediss+cluster://[::1]:7000?protocol=resp3").expect("valid"),
            Some(vec!["rediss://[::1]:7000?protocol=resp3".to_owned()])
        );
        assert_eq!(
            nodes("valkeys+cluster://h:1").expect("valid"),
            Some(vec!["rediss://h:1".to_owned()])
        );
        for bad in [
            "redis+cluster://app:s3cret@h:1/0",
            "redis+cluster://app:s3cret@h:1,h:2/2",
            "redis+cluster://app:s3cret@",
        ] {
            let e = nodes(bad).expect_err(bad).to_string();
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn config_debug_hides_credentials() {
        let config = RedisStore::builder("rediss://app:s3cret@r.example:6380/2").ca_pem("x");
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("app:"),
            "{debug}"
        );
        assert!(debug.contains("rediss://r.example:6380/2"), "{debug}");
    }

    #[tokio::test]
    async fn start_up_errors_never_show_credentials() {
        for (url, ca) in [
            ("rediss://app:s3cret@127.0.0.1:1/0", Some("not pem")),
            ("redis://app:s3cret@127.0.0.1:1/0", Some("")),
            ("redis://app:s3cret@127.0.0.1:1/x", None),
            ("http://app:s3cret@127.0.0.1:1/0", None),
            ("redis://app:s3cret@127.0.0.1:1/0", None),
        ] {
            let mut config = RedisStore::builder(url);
            if let Some(ca) = ca {
                config = config.ca_pem(ca);
            }
            let e = config.connect().await.expect_err(url);
            let (display, debug) = (e.to_string(), format!("{e:?}"));
            println!("{display}");
            assert!(
                !display.contains("s3cret") && !debug.contains("s3cret"),
                "{debug}"
            );
            assert!(
                !display.contains("app:") && !debug.contains("app:"),
                "{debug}"
            );
        }
    }

    #[test]
    fn malformed_metadata_is_corrupt() {
        for bad in [
            fields(&[("m:c", "1"), ("m:r", "2")]),
            fields(&[("m:r", "2ms"), ("m:e", "3ms")]),
            fields(&[("m:c", "1ms"), ("m:e", "3 ms")]),
            fields(&[("m:c", "1ms"), ("m:e", "ms")]),
            fields(&[("m:c", "1ms"), ("m:e", "3msms")]),
            fields(&[("m:c", "1"), ("m:r", "2"), ("m:e", "soon")]),
            fields(&[("m:c", "1"), ("m:r", "-2"), ("m:e", "3")]),
            fields(&[("m:c", "1"), ("m:r", "2"), ("m:e", "3"), ("x", "1")]),
            fields(&[("m:c", "1,")]),
            fields(&[("m:c", ",3")]),
            fields(&[("m:c", "1,,2")]),
            fields(&[("m:c", "1,3,2,4")]),
            fields(&[("m:c", "1,3ms")]),
            fields(&[("m:c", "1ms,3,2")]),
            fields(&[("m:c", "+1,+3")]),
            fields(&[("m:c", "1,soon")]),
        ] {
            assert!(matches!(parse(bad), Err(StoreError::Corrupt(_))));
        }
    }
}
