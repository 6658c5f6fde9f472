//! The SQLite store: sessions in a file that outlives the process.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row as _;

use crate::error::StoreError;
use crate::id::StoreKey;
use crate::owner::SessionInfo;
use crate::store::sql::{self, InvalidTableName, Row, TableName, SWEEP_BATCH};
use crate::store::sweeper::{self, Sweeper};
use crate::store::{
    AtomicMove, BoxFuture, Capabilities, Record, Revoke, SessionStore, Sweep, Update, UserIndex,
};

/// Sessions in a SQLite database file (feature `sqlite`; SQLite is
/// compiled in): the embedded store whose sessions survive a restart.
///
/// # Schema
///
/// One row per session in a `STRICT` table; [`migrate`](Self::migrate)
/// creates it and its indexes if they are missing. For your own
/// migrations, [`migration_sql`](Self::migration_sql) gives the SQL; for
/// the default table:
///
/// ```sql
/// CREATE TABLE IF NOT EXISTS "hyper_sessions" (
///     key        BLOB PRIMARY KEY,    -- SHA-256 of the session id, never the id
///     data       TEXT NOT NULL,       -- {"name": "<the value's JSON text>", ...}
///     created_at INTEGER NOT NULL,    -- ms since the Unix epoch
///     renewed_at INTEGER NOT NULL,    -- when the current id was issued
///     expires_at INTEGER NOT NULL,    -- when the session ends
///     owner      TEXT,                -- the signed-in user
///     handle     TEXT,                -- a public name of the session (not its id)
///     label      TEXT,               -- the application's name for it (a device)
///     seen_at    INTEGER             -- when a request last wrote it
/// ) STRICT;
/// CREATE INDEX IF NOT EXISTS "hyper_sessions_expires_at"
///     ON "hyper_sessions" (expires_at);
/// CREATE INDEX IF NOT EXISTS "hyper_sessions_owner"
///     ON "hyper_sessions" (owner, expires_at) WHERE owner IS NOT NULL;
/// ```
///
/// # Statements and locking
///
/// Every call is one statement, as on [`PgStore`](crate::PgStore): no
/// read-then-write transaction, which under WAL fails with "database is
/// locked" when another writer got in between. An update merges the
/// changed keys with `json_patch` (each value is a JSON string there, so
/// nothing nested is merged into).
///
/// [`connect`](Self::connect) and [`open`](Self::open) create the file if
/// it is missing, use WAL (readers never wait for the writer), and set a
/// `busy_timeout` of [`BUSY_TIMEOUT`](Self::BUSY_TIMEOUT) (1 s): a database
/// locked longer than that by another process fails the call (the request
/// gets the manager's 503) instead of holding it. Reads go through a pool
/// of connections; writes through one connection, so that this process's
/// writers queue in order instead of polling SQLite's lock.
///
/// # Sweeping
///
/// As on PostgreSQL: a background task deletes expired rows every
/// [`SWEEP_EVERY`](Self::SWEEP_EVERY), at most
/// [`SWEEP_BATCH`](Self::SWEEP_BATCH) per statement, and ends when the
/// store is dropped; [`Sweep`] runs the same by hand.
///
/// # Example
///
/// ```no_run
/// use hyper_session::{Sessions, SqliteStore};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = SqliteStore::open("sessions.db").await?;
/// store.migrate().await?;
/// let sessions = Sessions::builder()
///     .secret(std::env::var("SESSION_SECRET")?) // kept across restarts
///     .store(store)
///     .build()?;
/// # let _ = sessions;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    reader: SqlitePool,
    writer: SqlitePool,
    table: TableName,
    sql: Statements,
    shared: bool,
    _sweeper: Option<Sweeper>,
}

struct Statements {
    load: String,
    create: String,
    update: String,
    delete: String,
    move_to: String,
    sweep: String,
    list: String,
    revoke: String,
    has_seen_at: String,
}

impl Statements {
    fn new(table: &TableName) -> Self {
        let t = table.quoted();
        let merge = "CASE WHEN ?2 IS NULL THEN data ELSE json_patch(data, ?2) END";
        // `?7` says whether the request signed the session in: only then
        // are the owner columns written, so a request that did not see a
        // sign-in never undoes it.
        let set = format!(
            "data = {merge}, expires_at = ?3, renewed_at = COALESCE(?4, renewed_at), \
             seen_at = ?6, owner = CASE WHEN ?7 THEN ?8 ELSE owner END, \
             handle = CASE WHEN ?7 THEN ?9 ELSE handle END, \
             label = CASE WHEN ?7 THEN ?10 ELSE label END"
        );
        Self {
            load: format!(
                "SELECT data, created_at, renewed_at, expires_at, seen_at, owner, handle, label \
                 FROM {t} WHERE key = ?1"
            ),
            create: format!(
                "INSERT INTO {t} AS s (key, data, created_at, renewed_at, expires_at, seen_at, \
                 owner, handle, label) VALUES (?1, ?2, ?3, ?4, ?5, ?7, ?8, ?9, ?10) \
                 ON CONFLICT (key) DO UPDATE SET data = excluded.data, \
                 created_at = excluded.created_at, renewed_at = excluded.renewed_at, \
                 expires_at = excluded.expires_at, seen_at = excluded.seen_at, \
                 owner = excluded.owner, handle = excluded.handle, label = excluded.label \
                 WHERE s.expires_at <= ?6"
            ),
            update: format!("UPDATE {t} SET {set} WHERE key = ?1 AND expires_at > ?5"),
            delete: format!("DELETE FROM {t} WHERE key = ?1 RETURNING expires_at"),
            move_to: format!("UPDATE {t} SET key = ?11, {set} WHERE key = ?1 AND expires_at > ?5"),
            // Both on the `owner` index: the user's rows, never a scan.
            list: format!(
                "SELECT handle, created_at, COALESCE(seen_at, renewed_at), expires_at, label \
                 FROM {t} WHERE owner = ?1 AND expires_at > ?2"
            ),
            revoke: format!(
                "DELETE FROM {t} WHERE owner = ?1 AND expires_at > ?2 \
                 AND (?3 IS NULL OR handle = ?3) AND (?4 IS NULL OR handle <> ?4)"
            ),
            has_seen_at: format!(
                "SELECT count(*) FROM pragma_table_info('{}') WHERE name = 'seen_at'",
                table.as_str()
            ),
            sweep: format!(
                "DELETE FROM {t} WHERE rowid IN \
                 (SELECT rowid FROM {t} WHERE expires_at <= ?1 ORDER BY expires_at LIMIT {SWEEP_BATCH})"
            ),
        }
    }
}

fn schema(table: &TableName) -> String {
    let t = table.quoted();
    let (expires, owner, handle) = (
        table.index("expires_at"),
        table.index("owner"),
        table.index("handle"),
    );
    format!(
        "CREATE TABLE IF NOT EXISTS {t} (\n    \
             key        BLOB PRIMARY KEY,\n    \
             data       TEXT NOT NULL,\n    \
             created_at INTEGER NOT NULL,\n    \
             renewed_at INTEGER NOT NULL,\n    \
             expires_at INTEGER NOT NULL,\n    \
             owner      TEXT,\n    \
             handle     TEXT,\n    \
             label      TEXT,\n    \
             seen_at    INTEGER\n\
         ) STRICT;\n\
         DROP INDEX IF EXISTS {handle};\n\
         CREATE INDEX IF NOT EXISTS {expires} ON {t} (expires_at);\n\
         CREATE INDEX IF NOT EXISTS {owner} ON {t} (owner, expires_at) WHERE owner IS NOT NULL;\n"
    )
}

impl SqliteStore {
    /// The table used unless [`SqliteStoreBuilder::table`] names another.
    pub const DEFAULT_TABLE: &'static str = TableName::DEFAULT;
    /// How often the background task sweeps, unless
    /// [`SqliteStoreBuilder::sweep_every`] says otherwise.
    pub const SWEEP_EVERY: Duration = Duration::from_secs(60);
    /// Rows one sweep statement deletes, at most.
    pub const SWEEP_BATCH: u64 = SWEEP_BATCH;
    /// How long a statement waits for another process's lock on the
    /// database before it fails.
    pub const BUSY_TIMEOUT: Duration = Duration::from_secs(1);
    /// How long a call waits for a connection of this process's pools,
    /// unless [`SqliteStoreBuilder::acquire_timeout`] says otherwise.
    pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
    /// Read connections [`open`](Self::open) and [`connect`](Self::connect)
    /// keep (writes have one of their own).
    pub const READERS: u32 = 4;

    /// Opens (and creates, if missing) the database at `url`:
    /// `sqlite://relative/path.db` or `sqlite:///absolute/path.db`; the
    /// same as `SqliteStore::builder().connect(url)`. The directory must
    /// exist. Run [`migrate`](Self::migrate) before the first request.
    ///
    /// # Errors
    ///
    /// A [`StoreError::Backend`] if the URL is invalid or the file cannot
    /// be opened or created.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder().connect(url).await
    }

    /// Opens (and creates, if missing) the database file at `path`.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::builder().open(path).await
    }

    /// A store on the application's own pool, for reads and writes, with
    /// the default table and sweeper. Set WAL, a `busy_timeout` below the
    /// manager's `store_timeout`, and `test_before_acquire(false)` on it,
    /// as [`open`](Self::open) does. Call it within a tokio runtime, for
    /// the background sweeper.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self::builder().pool(pool)
    }

    /// Starts a configuration: another table, another sweep interval.
    pub fn builder() -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            table: TableName::default_table(),
            sweep_every: Some(Self::SWEEP_EVERY),
            acquire_timeout: Self::ACQUIRE_TIMEOUT,
        }
    }

    /// Creates the table and its indexes if they are missing; idempotent.
    ///
    /// # Errors
    ///
    /// What SQLite reports, e.g. a read-only file.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        let sql = schema(&inner.table);
        sqlx::raw_sql(&sql)
            .execute(&inner.writer)
            .await
            .map_err(|e| failure("creating the session table failed", e))?;
        // A table made before `seen_at` existed gets it (SQLite has no
        // `ADD COLUMN IF NOT EXISTS`).
        let has: i64 = sqlx::query_scalar(&inner.sql.has_seen_at)
            .fetch_one(&inner.writer)
            .await
            .map_err(|e| failure("reading the session table's columns failed", e))?;
        if has == 0 {
            let alter = format!(
                "ALTER TABLE {} ADD COLUMN seen_at INTEGER",
                inner.table.quoted()
            );
            sqlx::raw_sql(&alter)
                .execute(&inner.writer)
                .await
                .map_err(|e| failure("adding column `seen_at` to the session table failed", e))?;
        }
        Ok(())
    }

    /// The SQL that [`migrate`](Self::migrate) runs, for your own
    /// migration tool.
    pub fn migration_sql(&self) -> String {
        schema(&self.inner.table)
    }

    /// The pool the store reads with (the application's, with
    /// [`from_pool`](Self::from_pool)).
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.reader
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        self.inner.table.as_str()
    }

    /// One sweep statement: deletes up to [`SWEEP_BATCH`] rows expired at
    /// `now`; returns how many.
    async fn sweep_batch(&self, now: i64) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let done = sqlx::query(&inner.sql.sweep)
            .bind(now)
            .execute(&inner.writer)
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
        let [owner, handle, label] = sql::owner_columns(update.new_owner());
        let mut query = sqlx::query(statement)
            .bind(from.as_bytes().as_slice())
            .bind(patch)
            .bind(sql::to_sql_ms(update.expires_at))
            .bind(update.renewed_at.map(sql::to_sql_ms))
            .bind(sql::now_sql_ms())
            .bind(sql::to_sql_ms(update.seen_at))
            .bind(update.owner_changed)
            .bind(owner)
            .bind(handle)
            .bind(label);
        if let Some(to) = to {
            query = query.bind(to.as_bytes().as_slice());
        }
        let done = query
            .execute(&self.inner.writer)
            .await
            .map_err(|e| row_failure(what, from, e))?;
        Ok(done.rows_affected() == 1)
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("table", &self.inner.table)
            .field("shared", &self.inner.shared)
            .field("sweeper", &self.inner._sweeper.is_some())
            .finish_non_exhaustive()
    }
}

/// Configures a [`SqliteStore`]; made by [`SqliteStore::builder`].
#[derive(Debug, Clone)]
pub struct SqliteStoreBuilder {
    table: TableName,
    sweep_every: Option<Duration>,
    acquire_timeout: Duration,
}

impl SqliteStoreBuilder {
    /// Keeps sessions in table `name` instead of
    /// [`SqliteStore::DEFAULT_TABLE`]: 1 to 48 lowercase ASCII letters,
    /// digits and `_`, not starting with a digit.
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
    /// [`SqliteStore::SWEEP_EVERY`]).
    #[must_use]
    pub fn sweep_every(mut self, every: Duration) -> Self {
        self.sweep_every = Some(every);
        self
    }

    /// Starts no background sweeper; expired sessions are never served
    /// either way.
    #[must_use]
    pub fn no_background_sweep(mut self) -> Self {
        self.sweep_every = None;
        self
    }

    /// How long [`open`](Self::open) and [`connect`](Self::connect)'s pools
    /// let a call wait for a connection (default
    /// [`SqliteStore::ACQUIRE_TIMEOUT`]); keep it below the manager's
    /// `store_timeout`, so that a burst of writes is answered with 503s
    /// rather than held.
    #[must_use]
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Opens the database at a `sqlite://` URL; see [`SqliteStore::connect`].
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::connect`].
    pub async fn connect(self, url: &str) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url).map_err(|e| {
            failure(
                "invalid SQLite URL (expected sqlite://relative/path.db or sqlite:///absolute/path.db)",
                e,
            )
        })?;
        self.open_with(options).await
    }

    /// Opens the database file at `path`; see [`SqliteStore::open`].
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::connect`].
    pub async fn open(self, path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        self.open_with(SqliteConnectOptions::new().filename(path))
            .await
    }

    async fn open_with(self, options: SqliteConnectOptions) -> Result<SqliteStore, StoreError> {
        let shown = options.get_filename().display().to_string();
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durable against a crash of the process; a power loss may
            // lose the last commits, which for sessions is a sign-in.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SqliteStore::BUSY_TIMEOUT);
        let acquire_timeout = self.acquire_timeout;
        let pools = |max| {
            SqlitePoolOptions::new()
                .max_connections(max)
                .acquire_timeout(acquire_timeout)
                .test_before_acquire(false)
        };
        let open_failure = |e| failure(format!("cannot open the SQLite database {shown}"), e);
        // The writer first: it creates the file and switches it to WAL.
        let writer = pools(1)
            .connect_with(options.clone())
            .await
            .map_err(open_failure)?;
        let reader = pools(SqliteStore::READERS)
            .connect_with(options)
            .await
            .map_err(open_failure)?;
        Ok(self.pools(reader, writer))
    }

    /// A store on the application's own pool; see [`SqliteStore::from_pool`].
    pub fn pool(self, pool: SqlitePool) -> SqliteStore {
        self.pools(pool.clone(), pool)
    }

    fn pools(self, reader: SqlitePool, writer: SqlitePool) -> SqliteStore {
        let shared = !in_memory(&reader.connect_options());
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| Inner {
            sql: Statements::new(&self.table),
            _sweeper: self.sweep_every.and_then(|every| {
                sweeper::spawn(weak.clone(), every, "sqlite", |inner| async move {
                    SqliteStore { inner }.sweep_all().await
                })
            }),
            table: self.table,
            shared,
            reader,
            writer,
        });
        SqliteStore { inner }
    }
}

/// Whether the options name an in-memory database (sqlx names those
/// `file:sqlx-in-memory-N`): private to the process, so no secret is needed.
fn in_memory(options: &SqliteConnectOptions) -> bool {
    let name = options.get_filename().to_string_lossy();
    name == ":memory:" || name.starts_with("file:sqlx-in-memory-") || name.is_empty()
}

impl SessionStore for SqliteStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let inner = &self.inner;
        let row = sqlx::query(&inner.sql.load)
            .bind(key.as_bytes().as_slice())
            .fetch_optional(&inner.reader)
            .await
            .map_err(|e| row_failure("loading a session failed", key, e))?;
        let Some(row) = row else { return Ok(None) };
        let row = Row {
            data: row.try_get(0).map_err(|_| wrong_type(key))?,
            created_at: row.try_get(1).map_err(|_| wrong_type(key))?,
            renewed_at: row.try_get(2).map_err(|_| wrong_type(key))?,
            expires_at: row.try_get(3).map_err(|_| wrong_type(key))?,
            seen_at: row.try_get(4).map_err(|_| wrong_type(key))?,
            owner: row.try_get(5).map_err(|_| wrong_type(key))?,
            handle: row.try_get(6).map_err(|_| wrong_type(key))?,
            label: row.try_get(7).map_err(|_| wrong_type(key))?,
        };
        // Checked here rather than in the WHERE clause, so that a negative
        // expiry is reported as corrupt, not hidden.
        let record = row.into_record(key)?;
        Ok((record.expires_at > crate::expiry::now_ms()).then_some(record))
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let [owner, handle, label] = sql::owner_columns(record.owner.as_ref());
        let done = sqlx::query(&inner.sql.create)
            .bind(key.as_bytes().as_slice())
            .bind(sql::encode_data(&record.data))
            .bind(sql::to_sql_ms(record.created_at))
            .bind(sql::to_sql_ms(record.renewed_at))
            .bind(sql::to_sql_ms(record.expires_at))
            .bind(sql::now_sql_ms())
            .bind(sql::to_sql_ms(record.seen_at))
            .bind(owner)
            .bind(handle)
            .bind(label)
            .execute(&inner.writer)
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
        let ended: Option<i64> = sqlx::query_scalar(&inner.sql.delete)
            .bind(key.as_bytes().as_slice())
            .fetch_optional(&inner.writer)
            .await
            .map_err(|e| row_failure("deleting a session failed", key, e))?;
        Ok(ended.is_some_and(|expires_at| expires_at > now))
    }

    fn is_shared(&self) -> bool {
        self.inner.shared
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
impl UserIndex for SqliteStore {
    fn list<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>> {
        Box::pin(async move {
            let inner = &self.inner;
            let rows: Vec<sql::ListedRow> = sqlx::query_as(&inner.sql.list)
                .bind(user)
                .bind(sql::now_sql_ms())
                .fetch_all(&inner.reader)
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
            let (only, keep) = sql::revoke_params(&which);
            let done = sqlx::query(&inner.sql.revoke)
                .bind(user)
                .bind(sql::now_sql_ms())
                .bind(only)
                .bind(keep)
                .execute(&inner.writer)
                .await
                .map_err(|e| failure("revoking a user's sessions failed", e))?;
            Ok(done.rows_affected())
        })
    }
}

impl Sweep for SqliteStore {
    fn sweep(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(self.sweep_all())
    }
}

impl AtomicMove for SqliteStore {
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

/// A sqlx error with what the store was doing; sqlx's messages carry
/// SQLite's message, never the statement's parameters.
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
    let what = what.into();
    match &source {
        sqlx::Error::PoolTimedOut => StoreError::backend(format!(
            "{what}: no SQLite connection was free in time (is another process holding the database locked?)"
        )),
        // SQLITE_BUSY and its extended codes: the busy_timeout passed.
        sqlx::Error::Database(db) if db.code().is_some_and(|c| is_busy(&c)) => {
            StoreError::backend(Failure {
                what: format!(
                    "{what}: the SQLite database stayed locked by another connection past busy_timeout"
                )
                .into(),
                source,
            })
        }
        _ => StoreError::backend(Failure { what, source }),
    }
}

/// Whether an extended result code is `SQLITE_BUSY` (5) or one of its
/// kinds (its low byte is 5).
fn is_busy(code: &str) -> bool {
    code.parse::<u32>().is_ok_and(|n| n & 0xff == 5)
}

/// A failure on the row of session `key`: `json_patch` refusing the
/// stored `data` means the data is corrupt, not that SQLite failed.
fn row_failure(what: &'static str, key: &StoreKey, e: sqlx::Error) -> StoreError {
    if matches!(&e, sqlx::Error::Database(db) if db.message().contains("malformed JSON")) {
        return sql::corrupt(
            key,
            "column `data` is not valid JSON; another program wrote it",
        );
    }
    failure(what, e)
}

fn wrong_type(key: &StoreKey) -> StoreError {
    sql::corrupt(key, "a column does not have the type of the session schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiry::now_ms;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "hyper-session-sqlite-unit-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[tokio::test]
    async fn a_sweep_statement_deletes_at_most_a_batch() {
        let dir = scratch("batch");
        let store = SqliteStore::builder()
            .no_background_sweep()
            .open(dir.join("s.db"))
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        let now = now_ms();
        let dead = Record::new(Default::default(), now - 10, now - 10, now - 1);
        for i in 0u32..2_500 {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            assert!(store
                .create(&StoreKey::from_bytes(k), &dead)
                .await
                .expect("create"));
        }
        let live = StoreKey::from_bytes([0xff; 32]);
        let record = Record::new(Default::default(), now, now, now + 60_000);
        assert!(store.create(&live, &record).await.expect("create"));
        let at = sql::now_sql_ms();
        let batches = [
            store.sweep_batch(at).await.expect("sweep"),
            store.sweep_batch(at).await.expect("sweep"),
            store.sweep_batch(at).await.expect("sweep"),
            store.sweep_batch(at).await.expect("sweep"),
        ];
        assert_eq!(
            batches,
            [1_000, 1_000, 500, 0],
            "each statement deletes at most 1,000 rows"
        );
        assert!(store.load(&live).await.expect("load").is_some());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn in_memory_databases_are_not_shared() {
        let memory = SqliteConnectOptions::from_str("sqlite::memory:").expect("valid");
        assert!(in_memory(&memory));
        let file = SqliteConnectOptions::from_str("sqlite://sessions.db").expect("valid");
        assert!(!in_memory(&file));
        assert_eq!(file.get_filename(), Path::new("sessions.db"));
        let absolute = SqliteConnectOptions::from_str("sqlite:///tmp/s.db").expect("valid");
        assert_eq!(absolute.get_filename(), Path::new("/tmp/s.db"));
    }
}
