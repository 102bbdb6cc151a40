//! Storage: one SQLite or PostgreSQL pool, each backend with its own migrations folder.
//!
//! Queries are written once, in SQL both backends accept (`$1` placeholders, `RETURNING`,
//! partial indexes), and [`with_db!`] compiles each one for both pool types. Where the backends
//! really differ (full-text search, LISTEN/NOTIFY, locking), code matches on [`Db`] explicitly.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::background::Background;

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of whichever backend `$db` is.
#[macro_export]
macro_rules! with_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// [`with_db!`] for a statement that writes outside a transaction (autocommit). On SQLite it
/// first waits for the write turn, as [`Db::begin`] does: a statement left to SQLite's busy
/// handler waits holding a pooled connection, and once enough of them waited, the transaction
/// holding the turn could not get a connection for its own reads, so it waited for them and
/// they for its lock until the busy timeout failed them with 503 (the mixed-load bench stalled
/// for 10 s at a time at 32 workers). The turn also hands the lock over in arrival order,
/// where the busy handler polls with sleeps of up to 100 ms.
#[macro_export]
macro_rules! with_db_writing {
    ($db:expr, $pool:ident => $body:expr) => {{
        let db: &$crate::db::Db = $db;
        let _turn = db.autocommit_turn().await;
        $crate::with_db!(db, $pool => $body)
    }};
}

/// A write transaction on either backend; helpers take `&mut Tx` and use [`with_tx!`]. It holds
/// its turn to write (see [`take_turn`]) until it ends.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>, TxContext),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>, TxContext),
}

/// What a transaction carries beside its connection: its turn to write, and what the change
/// it makes has said so far (see [`crate::events`]): the events automation rules look at, the
/// rule acting now (its history entries name it), the channel the change came by.
pub struct TxContext {
    _turn: WriteTurn,
    pub(crate) events: Vec<crate::events::Event>,
    pub(crate) rule: Option<uuid::Uuid>,
    pub(crate) channel: crate::events::Channel,
}

impl TxContext {
    fn new(turn: WriteTurn) -> TxContext {
        TxContext { _turn: turn, events: Vec::new(), rule: None, channel: crate::events::Channel::Web }
    }
}

/// Runs `$body` with `$conn` bound to the transaction's connection (`&mut` to the concrete
/// connection type of whichever backend `$tx` is); reborrow it with `&mut *$conn` per query.
#[macro_export]
macro_rules! with_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(tx, _) => {
                let $conn: &mut sqlx::SqliteConnection = &mut *tx;
                $body
            }
            $crate::db::Tx::Postgres(tx, _) => {
                let $conn: &mut sqlx::PgConnection = &mut *tx;
                $body
            }
        }
    };
}

impl Tx {
    /// Commits as is. Changes to tickets commit through [`crate::events::commit`] instead, which
    /// runs the automation rules first.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx, _context) => tx.commit().await,
            Tx::Postgres(tx, _context) => tx.commit().await,
        }
    }

    pub(crate) fn context(&mut self) -> &mut TxContext {
        match self {
            Tx::Sqlite(_, context) | Tx::Postgres(_, context) => context,
        }
    }

    /// Runs `sql` (a SAVEPOINT statement) on the transaction's connection.
    pub(crate) async fn savepoint(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx, _) => sqlx::query(sql).execute(&mut **tx).await.map(drop),
            Tx::Postgres(tx, _) => sqlx::query(sql).execute(&mut **tx).await.map(drop),
        }
    }
}

impl Db {
    /// Begins a transaction that will write. It first waits for this process's turn to write
    /// ([`take_turn`]); on SQLite it then takes the write lock at once (`BEGIN IMMEDIATE`): a
    /// deferred transaction that reads first and writes later fails with SQLITE_BUSY when
    /// another writer committed in between, whatever the busy timeout.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(pool) => {
                let turn = take_write_turn(pool).await;
                Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?, TxContext::new(turn))
            }
            Db::Postgres(pool) => {
                let turn = take_pg_write_turn(pool).await;
                Tx::Postgres(pool.begin().await?, TxContext::new(turn))
            }
        })
    }

    /// The turn a single writing statement outside a transaction takes first (see
    /// [`with_db_writing!`]): SQLite's, waited for at most as long as SQLite's busy timeout
    /// (after that the statement goes ahead and SQLite's own locking decides, as before).
    /// PostgreSQL locks rows, not the database: nothing to wait for.
    pub async fn autocommit_turn(&self) -> Option<WriteTurn> {
        let Db::Sqlite(pool) = self else { return None };
        match tokio::time::timeout(SQLITE_BUSY_TIMEOUT, take_write_turn(pool)).await {
            Ok(turn) => Some(turn),
            Err(_) => {
                tracing::warn!("no turn to write for {SQLITE_BUSY_TIMEOUT:?}; writing without it");
                None
            }
        }
    }

    /// Connects to PostgreSQL when a URL is given, else opens (creating it if needed) the
    /// embedded SQLite database in `data_dir`; then applies pending migrations.
    pub async fn connect(database_url: Option<&str>, data_dir: &Path, max_connections: u32) -> anyhow::Result<Db> {
        let db = match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                    // sqlx pings every connection it hands out by default: a second round trip
                    // for every query, a third of a ticket read's time (issue 17). Only one that
                    // sat idle long enough to have been cut (a restarted server, a NAT timeout)
                    // is checked; a failed ping drops it and the pool hands out another.
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for >= PING_IDLE_CONNECTIONS_AFTER {
                                sqlx::Connection::ping(conn).await?;
                            }
                            Ok(true)
                        })
                    })
                    .connect(url)
                    .await
                    .context("cannot connect to PostgreSQL")?;
                Db::Postgres(pool)
            }
            Some(url) if url.starts_with("sqlite:") => Db::Sqlite(open_sqlite(SqliteConnectOptions::from_str(url)?, max_connections).await?),
            Some(other) => anyhow::bail!(
                "HDMS_DATABASE_URL must start with postgres:// or sqlite: (got '{}')",
                other.split(':').next().unwrap_or_default()
            ),
            None => {
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
                let options = SqliteConnectOptions::new().filename(data_dir.join(SQLITE_FILE));
                Db::Sqlite(open_sqlite(options, max_connections).await?)
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(pool) => sqlx::migrate!("../../migrations/sqlite").run(pool).await,
            Db::Postgres(pool) => sqlx::migrate!("../../migrations/postgres").run(pool).await,
        }
        .context("cannot apply database migrations")
    }

    /// Which database this is, for what the process keeps per database (write turns, caches):
    /// the SQLite file, or PostgreSQL's host, port and database.
    pub(crate) fn key(&self) -> String {
        match self {
            Db::Sqlite(pool) => sqlite_key(pool),
            Db::Postgres(pool) => postgres_key(pool),
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// A cheap round trip, for readiness checks: an error if the database does not answer
    /// within `limit` (a check that hangs tells a load balancer nothing).
    pub async fn ping(&self, limit: Duration) -> Result<(), sqlx::Error> {
        let ping = async { with_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop)) };
        tokio::time::timeout(limit, ping).await.map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    pub async fn close(&self) {
        with_db!(self, pool => pool.close().await)
    }
}

/// How long a query waits for a pooled PostgreSQL connection before it fails with 503
/// `database_unavailable`. While PostgreSQL is down, sqlx keeps trying to connect until then,
/// so this is how long each request takes to fail during an outage (it was 10 s: requests
/// piled up behind it and clients waited for nothing); a pool merely busy hands connections
/// back in milliseconds.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// PostgreSQL connections idle this long are pinged before use (see [`Db::connect`]).
const PING_IDLE_CONNECTIONS_AFTER: Duration = Duration::from_secs(10);

/// Write transactions queue for their turn here, in the process, before they take a pooled
/// connection, and only so many hold one at a time that connections stay free for the reads
/// they make through the pool mid-transaction (and, on PostgreSQL, for the LISTEN connection
/// and the background jobs): one on SQLite, half the pool on PostgreSQL. Without
/// it, waiting writers held every connection (queued in SQLite's `BEGIN IMMEDIATE`, or on a row
/// lock such as the ticket-number counter on PostgreSQL) while the one ahead waited for a
/// connection to read through, and all of them failed after the timeout: 24 concurrent ticket
/// creates on a pool of 5 were enough. SQLite lets one transaction write at a time anyway, so
/// there the turn is one per database file; on PostgreSQL it is shared by every pool on the
/// same database in this process (several test instances), sized by the smallest. Reading
/// through the transaction's own connection instead would need no turn on PostgreSQL; until
/// every helper a write calls does, the turn keeps such a read from starving.
async fn take_turn(key: String, writers: u32) -> WriteTurn {
    static TURNS: LazyLock<Mutex<HashMap<String, Arc<Semaphore>>>> = LazyLock::new(Default::default);
    let turns = {
        let mut turns = TURNS.lock().expect("write turns lock poisoned");
        let turns = turns.entry(key).or_insert_with(|| Arc::new(Semaphore::new(writers as usize)));
        // A smaller pool on the same database: give back the permits it cannot afford.
        let excess = turns.available_permits().saturating_sub(writers as usize);
        turns.forget_permits(excess);
        turns.clone()
    };
    turns.acquire_owned().await.expect("write turns are never closed")
}

pub(crate) async fn take_write_turn(pool: &SqlitePool) -> WriteTurn {
    take_turn(sqlite_key(pool), 1).await
}

pub(crate) async fn take_pg_write_turn(pool: &PgPool) -> WriteTurn {
    take_turn(postgres_key(pool), (pool.options().get_max_connections() / 2).max(1)).await
}

fn sqlite_key(pool: &SqlitePool) -> String {
    format!("sqlite:{}", pool.connect_options().get_filename().display())
}

fn postgres_key(pool: &PgPool) -> String {
    let options = pool.connect_options();
    format!("postgres:{}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or_default())
}

/// A writer's turn, given back when dropped.
pub type WriteTurn = OwnedSemaphorePermit;

async fn open_sqlite(options: SqliteConnectOptions, max_connections: u32) -> anyhow::Result<SqlitePool> {
    let options = options
        .create_if_missing(true)
        // WAL lets readers proceed while one writer writes; NORMAL sync is durable in WAL mode
        // except for the last transactions on power loss, the usual trade for a server.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        // The WAL is copied back into the database by the checkpointer task (see
        // `spawn_checkpointer`), not by whichever request's commit crosses SQLite's threshold.
        .pragma("wal_autocheckpoint", "0")
        // A WAL started over is cut back to this size (see `checkpoint`), not left as large as
        // its largest burst.
        .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string())
        .busy_timeout(SQLITE_BUSY_TIMEOUT);
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        // A connection to a local file does not go away: the ping sqlx sends before handing one
        // out by default is a round trip to the connection's thread for nothing, on every query.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .context("cannot open the SQLite database")
}

/// How long a statement waits for SQLite's write lock before it fails with `database is locked`.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the checkpointer copies the SQLite WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

impl Db {
    /// SQLite: copies the WAL back into the database every second, off every request's path.
    /// Left to SQLite, the commit that takes the WAL past 1,000 pages does it, so one request in
    /// every few hundred writes pays for the others (a quarter of a bulk import's time). Passive
    /// first: it never waits for or blocks readers and writers. But under steady load some
    /// reader always holds a snapshot in the WAL, so SQLite never starts it over and it grows
    /// without end: 4.3 GB in two minutes of the mixed-load bench beside a 49 MB database (it
    /// would fill the disk of a busy desk in hours). So when a passive
    /// checkpoint leaves more than [`WAL_RESTART_FRAMES`] in the WAL, the checkpointer takes the
    /// write turn (writers queue in the process, not in SQLite's busy handler) and restarts it:
    /// SQLite waits for the readers still in the WAL (milliseconds) and writers begin from its
    /// start again, with the file cut back to `journal_size_limit`. PostgreSQL: nothing to do.
    pub fn spawn_checkpointer(&self) -> Option<Background> {
        let Db::Sqlite(pool) = self else { return None };
        let db = self.clone();
        let pool = pool.clone();
        Some(Background::every(CHECKPOINT_EVERY, move || {
            let (db, pool) = (db.clone(), pool.clone());
            async move {
                if let Err(err) = checkpoint(&db, &pool, WAL_RESTART_PATIENCE).await {
                    tracing::warn!(error = %err, "WAL checkpoint failed; retrying next second");
                }
            }
        }))
    }
}

/// One round of the checkpointer (see [`Db::spawn_checkpointer`]); a restart waits at most
/// `patience` for the readers still in the WAL.
async fn checkpoint(db: &Db, pool: &SqlitePool, patience: Duration) -> Result<(), sqlx::Error> {
    // (busy, frames in the WAL, frames copied back)
    let (_, frames, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(pool).await?;
    if frames > WAL_RESTART_FRAMES {
        let _turn = db.autocommit_turn().await;
        // SQLite holds the write lock while it waits for the readers, so it waits briefly: a
        // long read (a backup, an export) makes this round give up, not every writer wait.
        let mut conn = pool.acquire().await?;
        let busy_timeout = |wait: Duration| sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {}", wait.as_millis()));
        sqlx::query(busy_timeout(patience)).execute(&mut *conn).await?;
        let restarted = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(RESTART)").fetch_one(&mut *conn).await;
        if let Err(err) = sqlx::query(busy_timeout(SQLITE_BUSY_TIMEOUT)).execute(&mut *conn).await {
            // Back in the pool with the short timeout, it would answer writers "busy" early.
            conn.close_on_drop();
            return Err(err);
        }
        let (busy, frames, _) = restarted?;
        if busy != 0 {
            tracing::info!(frames, "the WAL was not started over: a reader stayed in it; trying again next second");
        }
    }
    Ok(())
}

/// How many frames (pages) a passive checkpoint may leave in the SQLite WAL before the
/// checkpointer restarts it: 16 MiB of 4 KiB pages.
const WAL_RESTART_FRAMES: i64 = 4096;

/// How long the checkpointer waits for readers to leave the WAL before it gives up a restart.
const WAL_RESTART_PATIENCE: Duration = Duration::from_millis(200);

/// How large a restarted WAL file is left on disk, in bytes (SQLite cuts it back to this).
pub const WAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// The embedded database's file in the data directory (its WAL is this name with `-wal`).
pub const SQLITE_FILE: &str = "hdms.sqlite3";

impl Db {
    /// A setting admins changed at run time (`admin_settings`), if one was stored: kept in the
    /// database so every instance applies the same.
    pub async fn admin_setting(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
        const SQL: &str = "SELECT value FROM admin_settings WHERE name = $1";
        Ok(with_db!(self, pool => sqlx::query_scalar(SQL).bind(name).fetch_optional(pool).await?))
    }

    /// Stores a setting admins changed, with who changed it and when.
    pub async fn set_admin_setting(&self, name: &str, value: &str, by: uuid::Uuid, at: chrono::DateTime<chrono::Utc>) -> Result<(), sqlx::Error> {
        const SQL: &str = "INSERT INTO admin_settings (name, value, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
                           ON CONFLICT (name) DO UPDATE SET value = $2, updated_by = $3, updated_at = $4";
        crate::with_db_writing!(self, pool => sqlx::query(SQL).bind(name).bind(value).bind(by).bind(at).execute(pool).await?.rows_affected());
        Ok(())
    }
}

/// Whether an error is a unique-constraint violation (both backends report it).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A value for a query whose text is built at run time (filters, `IN` lists).
#[derive(Debug, Clone)]
pub enum Bind {
    Uuid(uuid::Uuid),
    Text(String),
    Int(i64),
    Bool(bool),
    Time(chrono::DateTime<chrono::Utc>),
}

/// SQL text with numbered placeholders, built piece by piece.
#[derive(Debug, Default, Clone)]
pub struct DynamicSql {
    pub sql: String,
    pub binds: Vec<Bind>,
}

impl DynamicSql {
    pub fn new(sql: &str) -> Self {
        DynamicSql { sql: sql.to_owned(), binds: Vec::new() }
    }

    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder for `value` (`$n`).
    pub fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        self.sql.push_str(&format!("${}", self.binds.len()));
        self
    }

    /// Appends `$a, $b, …` for each value (callers make sure the list is not empty).
    pub fn bind_list(&mut self, values: impl IntoIterator<Item = Bind>) -> &mut Self {
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.bind(value);
        }
        self
    }
}

/// Binds every value of a [`DynamicSql`] to a query built from its text.
#[macro_export]
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for value in $binds {
            query = match value {
                $crate::db::Bind::Uuid(v) => query.bind(*v),
                $crate::db::Bind::Text(v) => query.bind(v.clone()),
                $crate::db::Bind::Int(v) => query.bind(*v),
                $crate::db::Bind::Bool(v) => query.bind(*v),
                $crate::db::Bind::Time(v) => query.bind(*v),
            };
        }
        query
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frames in the WAL now (a passive checkpoint reports them).
    async fn wal_frames(pool: &SqlitePool) -> i64 {
        let (_, frames, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(pool).await.unwrap();
        frames
    }

    /// Starts a read transaction on `conn`: while it is open its snapshot keeps the WAL frames
    /// it saw from being started over.
    async fn begin_reading(conn: &mut sqlx::SqliteConnection) {
        sqlx::query("BEGIN").execute(&mut *conn).await.unwrap();
        sqlx::query("SELECT COUNT(*) FROM filler").execute(&mut *conn).await.unwrap();
    }

    /// Under steady reads SQLite never starts the WAL over by itself: the writer that would must
    /// find no reader holding a snapshot in it, and with requests always in flight there always
    /// is one. Here, as under load, every write finds a reader in the WAL, each reader leaving
    /// after the next has begun; the first leaves a second after the checkpointer started (it
    /// waits for it). The writes after the checkpoint must begin from the WAL's start: with
    /// passive checkpoints alone they appended (6,000 frames and more), and the WAL grew by
    /// gigabytes under the mixed-load bench.
    #[tokio::test]
    async fn the_checkpointer_starts_a_long_wal_over_while_readers_come_and_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(None, dir.path(), 4).await.unwrap();
        let Db::Sqlite(pool) = &db else { unreachable!("Db::connect without a URL opens SQLite") };
        sqlx::query("CREATE TABLE filler (body BLOB)").execute(pool).await.unwrap();
        const BURST: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000) \
                             INSERT INTO filler SELECT randomblob(3000) FROM n";
        sqlx::query(BURST).execute(pool).await.unwrap();
        let mut first_reader = pool.acquire().await.unwrap().detach();
        begin_reading(&mut first_reader).await;
        let frames = wal_frames(pool).await;
        assert!(frames > WAL_RESTART_FRAMES, "the burst filled the WAL: {frames} frames");
        let first_leaves = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            sqlx::query("COMMIT").execute(&mut first_reader).await.unwrap();
        });
        checkpoint(&db, pool, Duration::from_secs(10)).await.unwrap();
        sqlx::query("INSERT INTO filler VALUES (x'01')").execute(pool).await.unwrap();
        let mut second_reader = pool.acquire().await.unwrap().detach();
        begin_reading(&mut second_reader).await;
        first_leaves.await.unwrap();
        sqlx::query("INSERT INTO filler VALUES (x'02')").execute(pool).await.unwrap();
        let frames = wal_frames(pool).await;
        assert!(frames < 10, "the writes after the checkpoint began the WAL over: {frames} frames in it");
        sqlx::query("COMMIT").execute(&mut second_reader).await.unwrap();
    }

    /// A single writing statement waits for SQLite's write turn without holding a pooled
    /// connection, so the transaction that has the turn can still read through the pool. Left to
    /// SQLite's busy handler, the statement held the pool's last connection while it waited for
    /// the transaction's lock, and the transaction's read waited for that connection.
    #[tokio::test]
    async fn a_single_write_waits_for_the_turn_without_holding_a_connection() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(None, dir.path(), 2).await.unwrap();
        with_db!(&db, pool => sqlx::query("CREATE TABLE probe (x INTEGER)").execute(pool).await.map(drop).unwrap());
        let mut tx = db.begin().await.unwrap();
        with_tx!(&mut tx, conn => sqlx::query("INSERT INTO probe VALUES (1)").execute(&mut *conn).await.map(drop).unwrap());
        let writer = {
            let db = db.clone();
            tokio::spawn(async move {
                crate::with_db_writing!(&db, pool => sqlx::query("INSERT INTO probe VALUES (2)").execute(pool).await.map(drop))
            })
        };
        // Give the writer time to queue (for the turn now; for SQLite's lock, on the pool's other
        // connection, before the fix).
        tokio::time::sleep(Duration::from_millis(300)).await;
        let read = async { with_db!(&db, pool => sqlx::query_scalar::<_, i64>("SELECT count(*) FROM probe").fetch_one(pool).await) };
        let read = tokio::time::timeout(Duration::from_secs(3), read).await;
        assert!(matches!(read, Ok(Ok(0))), "the transaction's read through the pool is answered: {read:?}");
        tx.commit().await.unwrap();
        writer.await.unwrap().unwrap();
        let rows = with_db!(&db, pool => sqlx::query_scalar::<_, i64>("SELECT count(*) FROM probe").fetch_one(pool).await.unwrap());
        assert_eq!(rows, 2);
    }
}
