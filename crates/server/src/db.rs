//! Storage: one SQLite or PostgreSQL pool, each backend with its own migrations folder.
//!
//! Queries are written once, in SQL both backends accept (`$1` placeholders, `RETURNING`,
//! partial indexes), and [`with_db!`] compiles each one for both pool types. Where the backends
//! really differ (full-text search, LISTEN/NOTIFY, locking), code matches on [`Db`] explicitly.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

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

impl Db {
    /// Connects to PostgreSQL when a URL is given, else opens (creating it if needed) the
    /// embedded SQLite database in `data_dir`; then applies pending migrations.
    pub async fn connect(database_url: Option<&str>, data_dir: &Path, max_connections: u32) -> anyhow::Result<Db> {
        let db = match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
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
                let options = SqliteConnectOptions::new().filename(data_dir.join("hdms.sqlite3"));
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

    pub fn backend_name(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        with_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))
    }

    pub async fn close(&self) {
        with_db!(self, pool => pool.close().await)
    }
}

async fn open_sqlite(options: SqliteConnectOptions, max_connections: u32) -> anyhow::Result<SqlitePool> {
    let options = options
        .create_if_missing(true)
        // WAL lets readers proceed while one writer writes; NORMAL sync is durable in WAL mode
        // except for the last transactions on power loss, the usual trade for a server.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        .connect_with(options)
        .await
        .context("cannot open the SQLite database")
}

/// Whether an error is a unique-constraint violation (both backends report it).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
