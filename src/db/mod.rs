//! Storage plumbing shared by every module: one connection pool for SQLite or PostgreSQL,
//! write transactions, a small SQL builder for dynamic filters, and the migration runner.
//!
//! One code path for both backends: SQL is written once with `$1`-style placeholders (which
//! both SQLite and PostgreSQL accept) and portable types (BIGINT, TEXT, BOOLEAN; timestamps
//! as BIGINT milliseconds since the epoch). What must differ lives in [`Backend`] methods:
//! the identity column in migrations, `FOR UPDATE SKIP LOCKED` when claiming jobs, and the
//! migration lock. Named locks ([`lock`]) are one portable upsert on both.

pub mod copy;
mod migrate;
pub mod page;
pub mod sql;
mod writer;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions, Executor};

pub use migrate::{migrate, migrate_to, MIGRATIONS};
pub use sql::Sql;

/// A write transaction ([`Db::begin`]): it derefs to the connection (`&mut *tx`, `&mut **tx`
/// as any executor) and ends with [`Tx::commit`] or [`Tx::rollback`]; dropped without
/// either, it is rolled back. On PostgreSQL a plain transaction; on SQLite a unit of the
/// writer's group commit (`writer.rs`): it commits when its group's `COMMIT` succeeds.
pub struct Tx(TxInner);

enum TxInner {
    Plain(sqlx::Transaction<'static, Any>),
    Unit(writer::Unit),
}

impl Tx {
    /// Commits; returns once the transaction's writes are committed.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.0 {
            TxInner::Plain(t) => t.commit().await,
            TxInner::Unit(u) => u.commit().await,
        }
    }

    /// Rolls back this transaction's writes (on SQLite, this unit's alone).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.0 {
            TxInner::Plain(t) => t.rollback().await,
            TxInner::Unit(u) => u.rollback().await,
        }
    }
}

impl std::ops::Deref for Tx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        match &self.0 {
            TxInner::Plain(t) => t,
            TxInner::Unit(u) => u.conn_ref(),
        }
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        match &mut self.0 {
            TxInner::Plain(t) => &mut *t,
            TxInner::Unit(u) => u.conn(),
        }
    }
}

/// A stored flag. Flags are BIGINT 0/1 on both backends (the `Any` driver cannot map
/// SQLite booleans); bind `flag as i64`, and read rows with
/// `#[sqlx(try_from = "crate::db::Flag")]` on a `bool` field.
#[derive(Debug, Clone, Copy)]
pub struct Flag(pub i64);

impl From<Flag> for bool {
    fn from(f: Flag) -> bool {
        f.0 != 0
    }
}

impl sqlx::Type<Any> for Flag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <i64 as sqlx::Type<Any>>::type_info()
    }
}

impl<'r> sqlx::Decode<'r, Any> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <i64 as sqlx::Decode<'r, Any>>::decode(value).map(Flag)
    }
}

/// The type of a column read from JSON by [`Backend::json_rows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonCol {
    Text,
    Int,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, DbError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(DbError::UnsupportedUrl)
        }
    }

    /// The backend a connection talks to (for code handed a connection rather than a [`Db`]).
    pub fn of(conn: &sqlx::AnyConnection) -> Backend {
        if conn.backend_name().eq_ignore_ascii_case("postgresql") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// `expr`'s values of a group joined with commas (NULL when the group is empty).
    pub fn comma_list(self, expr: &str) -> String {
        match self {
            Backend::Sqlite => format!("group_concat({expr}, ',')"),
            Backend::Postgres => format!("string_agg({expr}, ',')"),
        }
    }

    /// A subquery whose column `value` lists the integers of the JSON array bound at
    /// `param` (such as `[12,15,40]`): thousands of ids as one parameter, for bulk statements
    /// (one parameter per id is quadratic in sqlx's SQLite binding; literals cost SQLite more
    /// to parse than the statement takes to run).
    pub fn json_ids(self, param: &str) -> String {
        match self {
            Backend::Sqlite => format!("SELECT value FROM json_each({param})"),
            Backend::Postgres => format!("SELECT CAST(value AS BIGINT) AS value FROM json_array_elements_text(CAST({param} AS JSON))"),
        }
    }

    /// A subquery over the JSON array of arrays bound at `param` (such as
    /// `[[12,"dupont"],[15,null]]`): one row per inner array, in the array's order, its
    /// elements as the columns `cols` (name and type), for multi-row writes with one parameter
    /// whatever the number of rows (see [`Backend::json_ids`] for why).
    pub fn json_rows(self, param: &str, cols: &[(&str, JsonCol)]) -> String {
        let mut out = String::from("SELECT ");
        for (i, (name, ty)) in cols.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let col = match (self, ty) {
                (Backend::Sqlite, _) => format!("json_extract(value, '$[{i}]')"),
                (Backend::Postgres, JsonCol::Text) => format!("(value->>{i})"),
                (Backend::Postgres, JsonCol::Int) => format!("CAST(value->>{i} AS BIGINT)"),
            };
            out.push_str(&format!("{col} AS {name}"));
        }
        match self {
            Backend::Sqlite => out.push_str(&format!(" FROM json_each({param}) ORDER BY key")),
            Backend::Postgres => {
                out.push_str(&format!(" FROM json_array_elements(CAST({param} AS JSON)) WITH ORDINALITY AS j(value, n) ORDER BY n"))
            }
        }
        out
    }

    /// Row-locking suffix for "claim the next row" queries.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// How many write transactions a bulk job (the expiry sweep) runs at once, each on its own
    /// pooled connection over its own rows. SQLite has one write lock: a second transaction
    /// would only queue behind the first. PostgreSQL locks rows, and a bulk job's time is the
    /// server's CPU (one process per connection): two side by side use the two cores of the
    /// machine Carnet is measured on (issue 15); more would contend for them.
    pub fn bulk_writers(self) -> usize {
        match self {
            Backend::Sqlite => 1,
            Backend::Postgres => 2,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL: expected sqlite:// or postgres://")]
    UnsupportedUrl,
    #[error("invalid PostgreSQL schema name (letters, digits and _ only)")]
    InvalidSchema,
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error("migration {version} ({name}) failed: {source}")]
    Migration { version: i64, name: &'static str, source: sqlx::Error },
    #[error("the database has migration {0}, newer than this binary knows; upgrade carnet")]
    TooNew(i64),
    #[error("cannot open the database {url}: {cause}")]
    Unreachable { url: String, cause: String },
}

/// How long start-up waits for the database's first answer before giving up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection and one query before the pool is built: an unreachable server, a refused
/// login or a file that is not a database is reported at once with its cause, instead of
/// the pool retrying until its acquire timeout ("pool timed out" after 30 s).
async fn preflight(opts: &AnyConnectOptions, backend: Backend, url: &str) -> Result<(), DbError> {
    use sqlx::Connection;
    let unreachable = |cause: String| DbError::Unreachable { url: crate::config::mask_url_password(url), cause };
    let probe = async {
        let mut conn = sqlx::AnyConnection::connect_with(opts).await?;
        // SQLite opens a file lazily: reading its catalogue is what tells a database from any file.
        let sql = match backend {
            Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master",
            Backend::Postgres => "SELECT 1",
        };
        conn.execute(sql).await?;
        conn.close().await
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, probe).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))),
    }
}

#[derive(Clone)]
pub struct Db {
    /// Every read, and autocommitted writes.
    pub pool: AnyPool,
    pub backend: Backend,
    /// SQLite: the one connection write transactions ([`Db::begin`]) run on. SQLite lets one
    /// writer at a time; with the writes spread over the pool, concurrent writers slept on
    /// the busy timeout (SQLite's busy handler polls with growing sleeps, up to 100 ms each),
    /// which made the tail of a write a second long under load. Behind one connection, a
    /// writer waits in a fair (FIFO) queue and starts as soon as the previous one is done,
    /// and the transactions queued together commit together (`writer.rs`). `None` on
    /// PostgreSQL, whose row locks let writers run side by side.
    writer: Option<Arc<writer::Writer>>,
    /// Bumped after each committed change of who may do what (see [`Db::auth_changed`]).
    auth_epoch: Arc<AtomicU64>,
    /// Held by every clone: the checkpoint task stops when the last one is dropped.
    _alive: Arc<()>,
}

/// SQLite: copies the WAL back into the database every 500 ms on a pooled connection, while
/// a [`Db`] is alive and its pool open.
async fn checkpoints(pool: AnyPool, alive: std::sync::Weak<()>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if alive.upgrade().is_none() || pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

impl Db {
    /// Opens the pool (`max_connections`; on SQLite, plus the writer's one connection).
    /// SQLite runs in WAL mode with `synchronous = NORMAL`: a committed transaction survives
    /// the process being killed (its pages are in the WAL, written before the commit
    /// returns); only an operating-system crash or power loss may lose the last commits
    /// before the next checkpoint, never the database's consistency.
    pub async fn connect(url: &str, schema: Option<&str>, max_connections: u32) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        if let Some(s) = schema {
            if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(DbError::InvalidSchema);
            }
        }
        // Statements are traced (target `sqlx::query`, level TRACE: off unless a subscriber asks
        // for it), so that a test can count what a write transaction runs; slow ones are not logged.
        let opts = AnyConnectOptions::from_str(&url)?
            .log_statements(log::LevelFilter::Trace)
            .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(3600));
        preflight(&opts, backend, &url).await?;
        let pool = open(&opts, backend, schema, max_connections.max(1)).await?;
        let alive = Arc::new(());
        let writer = match backend {
            Backend::Sqlite => {
                // The writer never checkpoints (see `sqlite_session`); a task does, beside it.
                use sqlx::Connection;
                let mut conn = sqlx::AnyConnection::connect_with(&opts).await?;
                sqlite_session(&mut conn, true).await?;
                tokio::spawn(checkpoints(pool.clone(), Arc::downgrade(&alive)));
                Some(writer::Writer::new(conn))
            }
            Backend::Postgres => None,
        };
        Ok(Db { pool, backend, writer, auth_epoch: Arc::new(AtomicU64::new(0)), _alive: alive })
    }

    /// Begins a transaction that will write. On SQLite it runs on the writer connection, so
    /// concurrent write transactions of this process queue in order for it, and takes the
    /// write lock up front (`BEGIN IMMEDIATE`): another process's writer is waited for on the
    /// busy timeout instead of failing on lock upgrade.
    ///
    /// The wait until the transaction starts (the writer's queue on SQLite, a pooled
    /// connection on PostgreSQL) is recorded in the metrics (`carnet_db_acquire_seconds`).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let started = std::time::Instant::now();
        let tx = Tx(match (self.backend, &self.writer) {
            (Backend::Sqlite, Some(w)) => TxInner::Unit(w.begin().await?),
            (Backend::Sqlite, None) => TxInner::Plain(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            (Backend::Postgres, _) => TxInner::Plain(self.pool.begin().await?),
        });
        metrics::histogram!("carnet_db_acquire_seconds").record(started.elapsed().as_secs_f64());
        Ok(tx)
    }

    /// Says that a change of a role, right, user, session, token, unit or setting was
    /// committed: principals read before it are no longer reused
    /// (`access::cache`). Call it after the commit.
    pub fn auth_changed(&self) {
        self.auth_epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// The count of such changes so far (read it before reading a principal).
    pub fn auth_epoch(&self) -> u64 {
        self.auth_epoch.load(Ordering::SeqCst)
    }

    /// SQLite: (write transactions committed, `COMMIT`s that committed them) since the
    /// start: their ratio is the group commit's average group. `None` on PostgreSQL.
    pub fn group_commit_stats(&self) -> Option<(u64, u64)> {
        self.writer.as_ref().map(|w| w.stats())
    }

    /// Closes the pools (the writer's too).
    pub async fn close(&self) {
        if let Some(w) = &self.writer {
            w.shut().await;
        }
        self.pool.close().await;
    }

    /// Whether the database answers and every migration this binary knows is applied.
    pub async fn ready(&self) -> Result<bool, sqlx::Error> {
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations").fetch_one(&self.pool).await.or_else(|e| match e {
                sqlx::Error::Database(_) => Ok(None),
                other => Err(other),
            })?;
        Ok(applied == MIGRATIONS.last().map(|m| m.version))
    }
}

/// The session settings of a SQLite connection. The `writer` never checkpoints the WAL
/// itself: a checkpoint inside a commit copies up to 64 MiB back and syncs the file while
/// every queued writer waits; [`checkpoints`] does it beside the writer (PASSIVE: blocking
/// neither writers nor readers).
async fn sqlite_session(conn: &mut sqlx::AnyConnection, writer: bool) -> Result<(), sqlx::Error> {
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA busy_timeout = 10000").await?;
    // Up to 64 MiB of pages per connection (the default is 2 MiB): with a million customers,
    // an import chunk touches thousands of index pages and would spill them mid-transaction;
    // and checkpoints every 64 MiB of WAL instead of 4, so that pages changed by successive
    // chunks are copied back once.
    conn.execute("PRAGMA cache_size = -65536").await?;
    conn.execute(if writer { "PRAGMA wal_autocheckpoint = 0" } else { "PRAGMA wal_autocheckpoint = 16384" }).await?;
    Ok(())
}

/// A pool on `opts` with the session settings of `backend`.
async fn open(opts: &AnyConnectOptions, backend: Backend, schema: Option<&str>, max_connections: u32) -> Result<AnyPool, sqlx::Error> {
    let schema = schema.map(str::to_string);
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _meta| {
            let schema = schema.clone();
            // Its own span: a new connection's session set-up is not part of the statement
            // that happened to open it (tests/lead_statements.rs counts a transaction's).
            let span = tracing::debug_span!("session_setup");
            Box::pin(tracing::Instrument::instrument(
                async move {
                    match backend {
                        Backend::Sqlite => sqlite_session(conn, false).await?,
                        Backend::Postgres => {
                            // No JIT compilation: Carnet's statements are index walks and short
                            // aggregates, and PostgreSQL compiles once a plan's estimated cost
                            // passes `jit_above_cost`, which a generic plan's whole-table estimate
                            // does: 216–251 ms of compiling for a representative's board that ran
                            // in 26 ms (issue 15).
                            conn.execute("SET jit = off").await?;
                            if let Some(s) = schema {
                                conn.execute(format!("CREATE SCHEMA IF NOT EXISTS {s}").as_str()).await?;
                                conn.execute(format!("SET search_path TO {s}").as_str()).await?;
                            }
                        }
                    }
                    Ok(())
                },
                span,
            ))
        })
        .connect_with(opts.clone())
        .await
}

/// Refreshes PostgreSQL's planner statistics of `tables` (every table of the current schema
/// when empty): without them the planner takes a grown table for the small one it last saw
/// (an import of thousands of customers then probed each of them by a full scan). Run after
/// migrations, after an import or a bulk job, and daily. SQLite needs none: its planner
/// works from its indexes without statistics (and an `ANALYZE` would read every index).
pub async fn analyze(db: &Db, tables: &[&str]) -> Result<(), sqlx::Error> {
    if db.backend != Backend::Postgres {
        return Ok(());
    }
    let tables: Vec<String> = if tables.is_empty() {
        sqlx::query_scalar("SELECT CAST(tablename AS TEXT) FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1")
            .fetch_all(&db.pool)
            .await?
    } else {
        tables.iter().map(|t| t.to_string()).collect()
    };
    // Names come from the catalogue or from code, never from input; quoted all the same.
    let list: Vec<String> = tables.iter().filter(|t| !t.is_empty()).map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect();
    if !list.is_empty() {
        sqlx::query(&format!("ANALYZE {}", list.join(", "))).execute(&db.pool).await?;
    }
    Ok(())
}

/// Takes named locks for the rest of the transaction: two transactions locking a common name
/// run one after the other, and the second one's later statements see what the first
/// committed. One portable statement per name, an upsert of its row in `named_locks`: on
/// PostgreSQL the inserted or updated row stays locked until commit or rollback (a second
/// upsert of the same name waits for it, even while the first row is still uncommitted); on
/// SQLite every write transaction is already serialised (`BEGIN IMMEDIATE`), so it costs one
/// small write. All the names go in one statement, in sorted order, so two callers locking
/// overlapping sets cannot deadlock each other; take all of a transaction's names in one
/// call, before its other writes. Names are stored as SHA-256 digests (they may be emails or phone numbers).
pub async fn lock(tx: &mut Tx, now: i64, names: &[String]) -> Result<(), sqlx::Error> {
    lock_in_order(tx, now, &[names]).await
}

/// [`lock`] for groups of names taken one group after the other, in one statement: each
/// group's names sorted, the groups in the order given. A transaction that would lock a
/// person's identity keys and then their customer in two statements takes both at once with
/// `[identity, customer]`, in the same order as the two statements would, so neither can
/// deadlock the other.
pub async fn lock_in_order(tx: &mut Tx, now: i64, groups: &[&[String]]) -> Result<(), sqlx::Error> {
    use sha2::{Digest, Sha256};
    let mut all: Vec<String> = Vec::new();
    for names in groups {
        let mut hashes: Vec<String> =
            names.iter().map(|n| Sha256::digest(n.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()).collect();
        hashes.sort_unstable();
        hashes.dedup();
        all.extend(hashes.into_iter().filter(|h| !all.contains(h)).collect::<Vec<_>>());
    }
    if all.is_empty() {
        return Ok(());
    }
    // One multi-row upsert: PostgreSQL takes the rows in the order given.
    let mut q = Sql::new("INSERT INTO named_locks (name_hash, taken_at) VALUES ");
    for (i, h) in all.into_iter().enumerate() {
        q.push(if i > 0 { ", (" } else { "(" }).bind(h).push(", ").bind(now).push(")");
    }
    q.push(" ON CONFLICT (name_hash) DO UPDATE SET taken_at = excluded.taken_at");
    q.query().execute(&mut **tx).await?;
    Ok(())
}

/// Forgets the named locks not taken since `before` (housekeeping): a lock's row only matters
/// while a transaction holds it, and the next [`lock`] of the name inserts it again.
pub async fn purge_locks(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM named_locks WHERE taken_at < $1").bind(before).execute(&db.pool).await?.rows_affected())
}

pub use crate::error::is_unique_violation;

/// True when the error is a foreign-key violation (both backends).
pub fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_foreign_key_violation() || d.code().as_deref() == Some("23503") || d.message().contains("FOREIGN KEY constraint failed")
        }
        _ => false,
    }
}
