//! The PostgreSQL store: sessions in the application's own database.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Row as _;

use crate::error::StoreError;
use crate::id::StoreKey;
use crate::owner::SessionInfo;
use crate::store::sql::{self, InvalidTableName, Row, TableName, SWEEP_BATCH};
use crate::store::sweeper::{self, Sweeper};
use crate::store::{
    AtomicMove, BoxFuture, Capabilities, Record, Revoke, SessionStore, Sweep, Update, UserIndex,
};

/// Sessions in PostgreSQL (feature `postgres`), shared by every process
/// that uses the database.
///
/// # Schema
///
/// One row per session; [`migrate`](Self::migrate) creates the table and
/// its indexes if they are missing (safe to run from every process at
/// start-up). To run your own migrations instead, take the SQL from
/// [`migration_sql`](Self::migration_sql); for the default table it is:
///
/// ```sql
/// CREATE TABLE IF NOT EXISTS "hyper_sessions" (
///     key        BYTEA PRIMARY KEY,  -- SHA-256 of the session id, never the id
///     data       TEXT NOT NULL,      -- {"name": "<the value's JSON text>", ...}
///     created_at BIGINT NOT NULL,    -- ms since the Unix epoch
///     renewed_at BIGINT NOT NULL,    -- when the current id was issued
///     expires_at BIGINT NOT NULL,    -- when the session ends
///     owner      TEXT,               -- the signed-in user, for "who is signed in where"
///     handle     TEXT,               -- a public name of the session (not its id)
///     label      TEXT,               -- e.g. the device, shown next to the handle
///     seen_at    BIGINT              -- when a request last wrote the session
/// );
/// CREATE INDEX IF NOT EXISTS "hyper_sessions_expires_at"
///     ON "hyper_sessions" (expires_at);
/// CREATE INDEX IF NOT EXISTS "hyper_sessions_owner"
///     ON "hyper_sessions" (owner, expires_at) WHERE owner IS NOT NULL;
/// ```
///
/// `data` is `TEXT`, not `jsonb`: each value is kept as a JSON string
/// holding its exact JSON text (see the layout in the crate's README), so
/// every value round-trips byte for byte, `\u0000` included, which `jsonb`
/// refuses. Updates parse it as `jsonb` for the merge. `owner`, `handle`
/// and `label` are the per-user session index ([`UserIndex`]): listing
/// and revoking a user's sessions are one statement each on the `owner`
/// index.
///
/// # Statements
///
/// Every call is one statement on the primary key, with `now` passed in
/// from this process's clock, so that every store agrees on liveness:
///
/// - `load`: a `SELECT` by key; a row past `expires_at` is not returned,
///   swept or not.
/// - `create`: an `INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE` the
///   existing row has expired: never overwrites a live session.
/// - `update`: an `UPDATE ... WHERE key = $1 AND expires_at > now` that
///   merges only the changed keys (`jsonb ||`, then `null`s removed; each
///   value replaces the old one whole) and never creates a row.
/// - `delete`: a `DELETE ... RETURNING expires_at`: whether a live session
///   ended.
/// - [`AtomicMove`] (`cycle_id`): an `UPDATE` that changes the key and
///   applies the changes, only while the session is alive.
///
/// # Sweeping
///
/// A background task (started with the store, ended when it is dropped)
/// deletes expired rows every [`SWEEP_EVERY`](Self::SWEEP_EVERY), in
/// statements of at most [`SWEEP_BATCH`](Self::SWEEP_BATCH) rows that skip
/// rows a request has locked. Each statement takes a transaction-level
/// advisory lock first (`pg_try_advisory_xact_lock`, see
/// [`SWEEP_LOCK_CLASS`](Self::SWEEP_LOCK_CLASS)), so of several
/// processes sharing the table only one sweeps at a time; the others find
/// the lock taken and stop. [`Sweep`] runs the same by hand.
///
/// # Connections
///
/// [`connect`](Self::connect) opens a pool of
/// [`MAX_CONNECTIONS`](Self::MAX_CONNECTIONS) that waits at most
/// [`ACQUIRE_TIMEOUT`](Self::ACQUIRE_TIMEOUT) (1 s, below the manager's
/// 2 s `store_timeout`) for a connection, and does not ping a connection
/// before each use (`test_before_acquire(false)`: that would be a second
/// round trip per call). [`from_pool`](Self::from_pool) takes the
/// application's own pool; build it the same way. When a call finds its
/// connection lost (PostgreSQL restarted, a network cut), the store closes
/// the pool's idle connections, which were lost the same way, and runs the
/// call once more on a fresh one: the first request after an outage
/// works. Errors name the host, port and database, never the user name or
/// password. For TLS, enable one of sqlx's `tls-*` features in your own
/// `Cargo.toml` and give `sslmode` in the URL.
///
/// # Example
///
/// ```no_run
/// use hyper_session::{PgStore, Sessions};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PgStore::connect("postgres://app@127.0.0.1:5432/app").await?;
/// store.migrate().await?;
/// let sessions = Sessions::builder()
///     .secret(std::env::var("SESSION_SECRET")?) // the same in every process
///     .store(store)
///     .build()?;
/// # let _ = sessions;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    table: TableName,
    sql: Statements,
    _sweeper: Option<Sweeper>,
}

/// The SQL text of every call, built once for the table.
struct Statements {
    load: String,
    create: String,
    update: String,
    delete: String,
    move_to: String,
    sweep: String,
    list: String,
    revoke: String,
}

impl Statements {
    fn new(table: &TableName) -> Self {
        let t = table.quoted();
        // `$2` is the patch, NULL when no key changed: then `data` is not
        // even parsed.
        let merge = "CASE WHEN $2::text IS NULL THEN data \
                     ELSE jsonb_strip_nulls(data::jsonb || $2::jsonb)::text END";
        // `$7` says whether the request signed the session in: only then
        // are the owner columns written, so a request that did not see a
        // sign-in never undoes it.
        let set = format!(
            "data = {merge}, expires_at = $3, renewed_at = COALESCE($4, renewed_at), \
             seen_at = $6, owner = CASE WHEN $7 THEN $8 ELSE owner END, \
             handle = CASE WHEN $7 THEN $9 ELSE handle END, \
             label = CASE WHEN $7 THEN $10 ELSE label END"
        );
        Self {
            load: format!(
                "SELECT data, created_at, renewed_at, expires_at, seen_at, owner, handle, label \
                 FROM {t} WHERE key = $1"
            ),
            create: format!(
                "INSERT INTO {t} AS s (key, data, created_at, renewed_at, expires_at, seen_at, \
                 owner, handle, label) VALUES ($1, $2, $3, $4, $5, $7, $8, $9, $10) \
                 ON CONFLICT (key) DO UPDATE SET data = excluded.data, \
                 created_at = excluded.created_at, renewed_at = excluded.renewed_at, \
                 expires_at = excluded.expires_at, seen_at = excluded.seen_at, \
                 owner = excluded.owner, handle = excluded.handle, label = excluded.label \
                 WHERE s.expires_at <= $6"
            ),
            update: format!("UPDATE {t} SET {set} WHERE key = $1 AND expires_at > $5"),
            delete: format!("DELETE FROM {t} WHERE key = $1 RETURNING expires_at"),
            move_to: format!("UPDATE {t} SET key = $11, {set} WHERE key = $1 AND expires_at > $5"),
            // Both on the `owner` index: the user's rows, never a scan.
            list: format!(
                "SELECT handle, created_at, COALESCE(seen_at, renewed_at), expires_at, label \
                 FROM {t} WHERE owner = $1 AND expires_at > $2"
            ),
            revoke: format!(
                "DELETE FROM {t} WHERE owner = $1 AND expires_at > $2 \
                 AND ($3::text IS NULL OR handle = $3) AND ($4::text IS NULL OR handle <> $4)"
            ),
            // The lock is an InitPlan evaluated once, before any row is
            // touched, and released when the statement's transaction ends.
            // `key = ANY(ARRAY(...))`, not `key IN (...)`: the array is
            // another InitPlan, so the delete is always primary-key
            // lookups, where `IN` may be planned as a join over the table.
            // Its second key is the table's OID: one lock per table, not
            // per name (the same name in two schemas is two tables).
            sweep: format!(
                "DELETE FROM {t} WHERE \
                 (SELECT pg_try_advisory_xact_lock({class}, '{t}'::regclass::oid::int)) \
                 AND key = ANY(ARRAY(SELECT key FROM {t} WHERE expires_at <= $1 \
                 ORDER BY expires_at LIMIT {SWEEP_BATCH} FOR UPDATE SKIP LOCKED))",
                class = PgStore::SWEEP_LOCK_CLASS,
            ),
        }
    }
}

/// Builds the SQL text of the schema for `table`.
fn schema(table: &TableName) -> String {
    let t = table.quoted();
    let (expires, owner, handle) = (
        table.index("expires_at"),
        table.index("owner"),
        table.index("handle"),
    );
    format!(
        "CREATE TABLE IF NOT EXISTS {t} (\n    \
             key        BYTEA PRIMARY KEY,\n    \
             data       TEXT NOT NULL,\n    \
             created_at BIGINT NOT NULL,\n    \
             renewed_at BIGINT NOT NULL,\n    \
             expires_at BIGINT NOT NULL,\n    \
             owner      TEXT,\n    \
             handle     TEXT,\n    \
             label      TEXT,\n    \
             seen_at    BIGINT\n\
         );\n\
         ALTER TABLE {t} ADD COLUMN IF NOT EXISTS seen_at BIGINT;\n\
         DROP INDEX IF EXISTS {handle};\n\
         CREATE INDEX IF NOT EXISTS {expires} ON {t} (expires_at);\n\
         CREATE INDEX IF NOT EXISTS {owner} ON {t} (owner, expires_at) WHERE owner IS NOT NULL;\n"
    )
}

impl PgStore {
    /// The table used unless [`PgStoreBuilder::table`] names another.
    pub const DEFAULT_TABLE: &'static str = TableName::DEFAULT;
    /// How often the background task sweeps, unless
    /// [`PgStoreBuilder::sweep_every`] says otherwise.
    pub const SWEEP_EVERY: Duration = Duration::from_secs(60);
    /// Rows one sweep statement deletes, at most.
    pub const SWEEP_BATCH: u64 = SWEEP_BATCH;
    /// The first key of the advisory lock a sweep statement takes
    /// (`pg_try_advisory_xact_lock(SWEEP_LOCK_CLASS, table's OID)`): hold
    /// `pg_advisory_lock(SWEEP_LOCK_CLASS, 'hyper_sessions'::regclass::oid::int)`
    /// to keep every process from sweeping the table.
    pub const SWEEP_LOCK_CLASS: i32 = 0x6873_7377; // "hssw"
    /// Connections in the pool [`connect`](Self::connect) opens.
    pub const MAX_CONNECTIONS: u32 = 16;
    /// How long a call waits for a connection from the pool
    /// [`connect`](Self::connect) opens (including to open one).
    pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

    /// Connects to the PostgreSQL at `url`
    /// (`postgres://[user[:password]@]host[:port]/database[?options]`) with
    /// the default table and sweeper; the same as
    /// `PgStore::builder().connect(url)`. Run [`migrate`](Self::migrate)
    /// (or the SQL yourself) before the first request.
    ///
    /// # Errors
    ///
    /// A [`StoreError::Backend`] if the URL is invalid or PostgreSQL cannot
    /// be reached or refuses the credentials; it names the host, port and
    /// database, never the user name or password.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder().connect(url).await
    }

    /// A store on the application's own pool, with the default table and
    /// sweeper; see [`builder`](Self::builder) for others. Build the pool
    /// with `test_before_acquire(false)` and an `acquire_timeout` below
    /// the manager's `store_timeout`, as [`connect`](Self::connect) does.
    /// Call it within a tokio runtime, for the background sweeper.
    pub fn from_pool(pool: PgPool) -> Self {
        Self::builder().pool(pool)
    }

    /// Starts a configuration: another table, another sweep interval.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use hyper_session::PgStore;
    ///
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = PgStore::builder()
    ///     .table("app_sessions")?
    ///     .sweep_every(Duration::from_secs(300))
    ///     .connect("postgres://app@db.internal/app")
    ///     .await?;
    /// store.migrate().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> PgStoreBuilder {
        PgStoreBuilder {
            table: TableName::default_table(),
            sweep_every: Some(Self::SWEEP_EVERY),
        }
    }

    /// Creates the table and its indexes if they are missing. Idempotent,
    /// and safe to run from several processes at once (an advisory lock
    /// serializes them).
    ///
    /// # Errors
    ///
    /// What PostgreSQL reports, e.g. a user not allowed to create tables.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let table = &self.inner.table;
        // One simple-protocol query: its statements run in one implicit
        // transaction, under the lock.
        let sql = format!(
            "SELECT pg_advisory_xact_lock({});\n{}",
            table.lock_id("migrate"),
            schema(table)
        );
        sqlx::raw_sql(&sql)
            .execute(&self.inner.pool)
            .await
            .map_err(|e| failure("creating the session table failed", e))?;
        Ok(())
    }

    /// The SQL that [`migrate`](Self::migrate) runs (without its lock), for
    /// your own migration tool.
    pub fn migration_sql(&self) -> String {
        schema(&self.inner.table)
    }

    /// The pool the store uses.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        self.inner.table.as_str()
    }

    /// Runs `call`; if it found its connection lost, closes the pool's idle
    /// connections (lost the same way, most likely) and runs it once more,
    /// on a fresh connection.
    async fn run<T, F, Fut>(&self, call: F) -> Result<T, sqlx::Error>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        match call().await {
            Err(e) if lost(&e) => {
                tracing::debug!(error = %e, "PostgreSQL connection lost; retrying once on a new one");
                let pool = &self.inner.pool;
                for _ in 0..pool.num_idle() {
                    match pool.try_acquire() {
                        Some(mut conn) => conn.close_on_drop(),
                        None => break,
                    }
                }
                call().await
            }
            result => result,
        }
    }

    /// One sweep statement: deletes up to [`SWEEP_BATCH`] expired rows,
    /// unless another process holds the sweep lock; returns how many.
    async fn sweep_batch(&self, now: i64) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let done = self
            .run(|| sqlx::query(&inner.sql.sweep).bind(now).execute(&inner.pool))
            .await
            .map_err(|e| failure("sweeping expired sessions failed", e))?;
        Ok(done.rows_affected())
    }

    async fn sweep_all(&self) -> Result<u64, StoreError> {
        let now = sql::now_sql_ms();
        let mut swept = 0;
        loop {
            let batch = self.sweep_batch(now).await?;
            swept += batch;
            if batch < SWEEP_BATCH {
                return Ok(swept);
            }
        }
    }

    async fn write(
        &self,
        statement: &str,
        from: &StoreKey,
        to: Option<&StoreKey>,
        update: &Update<'_>,
        what: &'static str,
    ) -> Result<bool, StoreError> {
        let patch = sql::encode_patch(update);
        let now = sql::now_sql_ms();
        let [owner, handle, label] = sql::owner_columns(update.new_owner());
        let done = self
            .run(|| {
                let mut query = sqlx::query(statement)
                    .bind(from.as_bytes().as_slice())
                    .bind(patch.as_deref())
                    .bind(sql::to_sql_ms(update.expires_at))
                    .bind(update.renewed_at.map(sql::to_sql_ms))
                    .bind(now)
                    .bind(sql::to_sql_ms(update.seen_at))
                    .bind(update.owner_changed)
                    .bind(owner)
                    .bind(handle)
                    .bind(label);
                if let Some(to) = to {
                    query = query.bind(to.as_bytes().as_slice());
                }
                query.execute(&self.inner.pool)
            })
            .await
            .map_err(|e| row_failure(what, from, e))?;
        Ok(done.rows_affected() == 1)
    }
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("table", &self.inner.table)
            .field("sweeper", &self.inner._sweeper.is_some())
            .finish_non_exhaustive()
    }
}

/// Configures a [`PgStore`]; made by [`PgStore::builder`].
#[derive(Debug, Clone)]
pub struct PgStoreBuilder {
    table: TableName,
    sweep_every: Option<Duration>,
}

impl PgStoreBuilder {
    /// Keeps sessions in table `name` instead of
    /// [`PgStore::DEFAULT_TABLE`]: 1 to 48 lowercase ASCII letters, digits
    /// and `_`, not starting with a digit. For another schema, set the
    /// connection's `search_path` (e.g. `?options=-csearch_path%3Dapp` in
    /// the URL).
    ///
    /// # Errors
    ///
    /// [`InvalidTableName`] for any other name: it is written into SQL
    /// text, so it is checked here, once.
    pub fn table(mut self, name: &str) -> Result<Self, InvalidTableName> {
        self.table = TableName::new(name)?;
        Ok(self)
    }

    /// Sweeps expired sessions in the background every `every` (default
    /// [`PgStore::SWEEP_EVERY`]).
    #[must_use]
    pub fn sweep_every(mut self, every: Duration) -> Self {
        self.sweep_every = Some(every);
        self
    }

    /// Starts no background sweeper: for a process that sweeps from a job
    /// of its own ([`Sessions::sweep`](crate::Sessions::sweep)), or that
    /// leaves sweeping to other processes. Expired sessions are never
    /// served either way.
    #[must_use]
    pub fn no_background_sweep(mut self) -> Self {
        self.sweep_every = None;
        self
    }

    /// Connects to the PostgreSQL at `url`; see [`PgStore::connect`].
    ///
    /// # Errors
    ///
    /// As [`PgStore::connect`].
    pub async fn connect(self, url: &str) -> Result<PgStore, StoreError> {
        let shown = redact(url);
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            failure(
                format!("invalid PostgreSQL URL {shown} (expected postgres://[user[:password]@]host[:port]/database)"),
                e,
            )
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(PgStore::MAX_CONNECTIONS)
            .acquire_timeout(PgStore::ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| connect_failure(&shown, e))?;
        tracing::debug!(postgres = %shown, "connected to PostgreSQL");
        Ok(self.pool(pool))
    }

    /// A store on the application's own pool; see [`PgStore::from_pool`].
    pub fn pool(self, pool: PgPool) -> PgStore {
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| Inner {
            sql: Statements::new(&self.table),
            _sweeper: self.sweep_every.and_then(|every| {
                sweeper::spawn(weak.clone(), every, "postgres", |inner| async move {
                    PgStore { inner }.sweep_all().await
                })
            }),
            table: self.table,
            pool,
        });
        PgStore { inner }
    }
}

impl SessionStore for PgStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let inner = &self.inner;
        let row = self
            .run(|| {
                sqlx::query(&inner.sql.load)
                    .bind(key.as_bytes().as_slice())
                    .fetch_optional(&inner.pool)
            })
            .await
            .map_err(|e| row_failure("loading a session failed", key, e))?;
        let Some(row) = row else { return Ok(None) };
        let row = Row {
            data: row.try_get(0).map_err(|e| decode_failure(key, e))?,
            created_at: row.try_get(1).map_err(|e| decode_failure(key, e))?,
            renewed_at: row.try_get(2).map_err(|e| decode_failure(key, e))?,
            expires_at: row.try_get(3).map_err(|e| decode_failure(key, e))?,
            seen_at: row.try_get(4).map_err(|e| decode_failure(key, e))?,
            owner: row.try_get(5).map_err(|e| decode_failure(key, e))?,
            handle: row.try_get(6).map_err(|e| decode_failure(key, e))?,
            label: row.try_get(7).map_err(|e| decode_failure(key, e))?,
        };
        // The liveness check is here rather than in the WHERE clause so
        // that a negative expiry is reported as corrupt, not hidden.
        let record = row.into_record(key)?;
        Ok((record.expires_at > crate::expiry::now_ms()).then_some(record))
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let data = sql::encode_data(&record.data);
        let now = sql::now_sql_ms();
        let [owner, handle, label] = sql::owner_columns(record.owner.as_ref());
        let done = self
            .run(|| {
                sqlx::query(&inner.sql.create)
                    .bind(key.as_bytes().as_slice())
                    .bind(data.as_str())
                    .bind(sql::to_sql_ms(record.created_at))
                    .bind(sql::to_sql_ms(record.renewed_at))
                    .bind(sql::to_sql_ms(record.expires_at))
                    .bind(now)
                    .bind(sql::to_sql_ms(record.seen_at))
                    .bind(owner)
                    .bind(handle)
                    .bind(label)
                    .execute(&inner.pool)
            })
            .await
            .map_err(|e| row_failure("creating a session failed", key, e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn update(&self, key: &StoreKey, update: &Update<'_>) -> Result<bool, StoreError> {
        let statement = &self.inner.sql.update;
        self.write(statement, key, None, update, "saving a session failed")
            .await
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let now = sql::now_sql_ms();
        let ended: Option<i64> = self
            .run(|| {
                sqlx::query_scalar(&inner.sql.delete)
                    .bind(key.as_bytes().as_slice())
                    .fetch_optional(&inner.pool)
            })
            .await
            .map_err(|e| row_failure("deleting a session failed", key, e))?;
        Ok(ended.is_some_and(|expires_at| expires_at > now))
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::none()
            .with_sweep(self)
            .with_atomic_move(self)
            .with_user_index(self)
    }
}

/// The index is the table: a user's rows, found through the `owner`
/// index. A move (`UPDATE ... SET key`) keeps the row, so a revocation
/// (one `DELETE`) and a move never miss each other.
impl UserIndex for PgStore {
    fn list<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>> {
        Box::pin(async move {
            let inner = &self.inner;
            let now = sql::now_sql_ms();
            let rows: Vec<sql::ListedRow> = self
                .run(|| {
                    sqlx::query_as(&inner.sql.list)
                        .bind(user)
                        .bind(now)
                        .fetch_all(&inner.pool)
                })
                .await
                .map_err(|e| failure("listing a user's sessions failed", e))?;
            sql::listing(rows)
        })
    }

    fn revoke<'a>(
        &'a self,
        user: &'a str,
        which: Revoke<'a>,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let inner = &self.inner;
            let now = sql::now_sql_ms();
            let (only, keep) = sql::revoke_params(&which);
            let done = self
                .run(|| {
                    sqlx::query(&inner.sql.revoke)
                        .bind(user)
                        .bind(now)
                        .bind(only)
                        .bind(keep)
                        .execute(&inner.pool)
                })
                .await
                .map_err(|e| failure("revoking a user's sessions failed", e))?;
            Ok(done.rows_affected())
        })
    }
}

impl Sweep for PgStore {
    fn sweep(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(self.sweep_all())
    }
}

impl AtomicMove for PgStore {
    fn move_to<'a>(
        &'a self,
        from: &'a StoreKey,
        to: &'a StoreKey,
        update: &'a Update<'a>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let statement = &self.inner.sql.move_to;
        Box::pin(self.write(
            statement,
            from,
            Some(to),
            update,
            "moving a session to a new id failed",
        ))
    }
}

/// Whether `e` means the connection is gone (so the call may be run again
/// on another): an I/O error, or PostgreSQL ending the connection
/// (class 08, connection exception; 57P01-03, shutdown and restart).
fn lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
        _ => false,
    }
}

/// A sqlx error with what the store was doing. sqlx's messages carry
/// PostgreSQL's message, never the statement's parameters; `what` names at
/// most the [`redact`]ed URL.
#[derive(Debug)]
struct Failure {
    what: Cow<'static, str>,
    source: sqlx::Error,
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

fn failure(what: impl Into<Cow<'static, str>>, source: sqlx::Error) -> StoreError {
    match source {
        sqlx::Error::PoolTimedOut => StoreError::backend(format!(
            "{}: no PostgreSQL connection could be had in time; is PostgreSQL running and reachable?",
            what.into()
        )),
        source => StoreError::backend(Failure {
            what: what.into(),
            source,
        }),
    }
}

/// A failure on the row of session `key`: a `data` column that is not
/// JSON (PostgreSQL fails to parse it for the merge) is corrupt data, not
/// a backend failure.
fn row_failure(what: &'static str, key: &StoreKey, e: sqlx::Error) -> StoreError {
    let not_json = matches!(&e, sqlx::Error::Database(db)
        if db.code().is_some_and(|c| matches!(&*c, "22P02" | "22P05" | "22032")));
    if not_json {
        return sql::corrupt(
            key,
            "column `data` is not valid JSON; another program wrote it",
        );
    }
    failure(what, e)
}

fn decode_failure(key: &StoreKey, _: sqlx::Error) -> StoreError {
    sql::corrupt(key, "a column does not have the type of the session schema")
}

fn connect_failure(shown: &str, e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        // PostgreSQL's message names the user: say it without that.
        if db.code().is_some_and(|c| c.starts_with("28")) {
            return StoreError::backend(format!(
                "PostgreSQL at {shown} refused the user name or password in the URL"
            ));
        }
        if db.code().as_deref() == Some("3D000") {
            return StoreError::backend(format!(
                "PostgreSQL at {shown} has no such database; create it first"
            ));
        }
    }
    failure(format!("cannot connect to PostgreSQL at {shown}"), e)
}

/// `url` without anything that may be secret, for messages: no user name
/// or password and no query (it may carry a password); `scheme://host:port/db`
/// is left.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<a PostgreSQL URL that does not parse>".to_owned();
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let rest = &rest[..end];
    // After the last `@`: a password with an unescaped `@` stays hidden.
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_keeps_only_scheme_host_port_and_database() {
        for (url, shown) in [
            (
                "postgres://127.0.0.1:5432/test",
                "postgres://127.0.0.1:5432/test",
            ),
            (
                "postgresql://app:s3cret@db:5432/app",
                "postgresql://db:5432/app",
            ),
            ("postgres://app:s3c@ret@db/app", "postgres://db/app"),
            ("postgres://db/app?password=s3cret", "postgres://db/app"),
            (
                "postgres://db/app?user=me@x&password=s3cret",
                "postgres://db/app",
            ),
            ("app:s3cret@db", "<a PostgreSQL URL that does not parse>"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn the_schema_names_the_table_and_its_indexes() {
        let table = TableName::new("app_sessions").expect("valid");
        let sql = schema(&table);
        assert!(sql.contains("CREATE TABLE IF NOT EXISTS \"app_sessions\""));
        assert!(sql.contains("\"app_sessions_expires_at\" ON \"app_sessions\" (expires_at)"));
        assert!(sql.contains("WHERE owner IS NOT NULL"));
        assert!(!sql.contains("hyper_sessions"));
    }

    #[tokio::test]
    async fn start_up_errors_never_show_credentials() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port(); // closed again: nothing listens there
        for url in [
            format!("postgres://app:s3cret@127.0.0.1:{port}/db"),
            "postgres://app:s3cret@127.0.0.1:notaport/db".to_owned(),
            format!("postgres://127.0.0.1:{port}/db?password=s3cret"),
        ] {
            let e = PgStore::connect(&url).await.expect_err(&url);
            let text = format!("{e} {e:?}");
            assert!(!text.contains("s3cret") && !text.contains("app:"), "{text}");
        }
    }
}
