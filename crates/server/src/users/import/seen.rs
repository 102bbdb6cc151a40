//! Duplicates within the file: each chunk's emails against those of the rows before it.

use std::collections::HashMap;

use hdms_api_types::import::{RowError, RowErrorCode};
use tokio::sync::mpsc;

use super::list_errors;
use super::read::{Checked, ValidRow};
use crate::db::Db;
use crate::error::Result;
/// The emails of the rows read so far, with the line each was first seen on, for reporting
/// duplicates within the file. They are kept in a temporary table on a connection held for the
/// import, not in memory: the server's memory stays flat however long the file is. Looked up
/// and added a chunk at a time, with one statement each.
pub(super) enum SeenEmails {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

impl SeenEmails {
    pub(super) async fn open(db: &Db) -> Result<SeenEmails> {
        // A connection an earlier import left with the table (it failed half-way) is emptied.
        const CREATE: &str = "CREATE TEMPORARY TABLE IF NOT EXISTS import_seen (email TEXT PRIMARY KEY, line BIGINT NOT NULL)";
        // SQLite: one B-tree keyed by email instead of a rowid table plus an index on email.
        const CREATE_SQLITE: &str = "CREATE TEMPORARY TABLE IF NOT EXISTS import_seen (email TEXT PRIMARY KEY, line BIGINT NOT NULL) WITHOUT ROWID";
        const EMPTY: &str = "DELETE FROM import_seen";
        Ok(match db {
            Db::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query(CREATE_SQLITE).execute(&mut *conn).await?;
                sqlx::query(EMPTY).execute(&mut *conn).await?;
                SeenEmails::Sqlite(conn)
            }
            Db::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query(CREATE).execute(&mut *conn).await?;
                sqlx::query(EMPTY).execute(&mut *conn).await?;
                SeenEmails::Postgres(conn)
            }
        })
    }

    /// Reports the chunk's duplicates (of an earlier row of the chunk or of an earlier chunk),
    /// records its emails, counts and lists the refused rows, and returns the rows to write.
    async fn settle(&mut self, chunk: Vec<Checked>, settled: &mut Settled) -> Result<Vec<ValidRow>> {
        let mut first_in_chunk: HashMap<&str, u64> = HashMap::with_capacity(chunk.len());
        for row in &chunk {
            if let Some(email) = row.email() {
                first_in_chunk.entry(email).or_insert(row.line);
            }
        }
        #[derive(serde::Serialize)]
        struct Seen<'a> {
            e: &'a str,
            l: u64,
        }
        let seen: Vec<Seen> = first_in_chunk.iter().map(|(e, l)| Seen { e, l: *l }).collect();
        let seen_json = serde_json::to_string(&seen).map_err(anyhow::Error::from)?;
        // Recorded first; an email already there keeps its earlier line. Only when some were
        // there (rarely: a file with duplicates) are they looked up, by that line.
        let recorded = self.record(&seen_json).await?;
        let earlier: HashMap<String, i64> =
            if recorded == seen.len() as u64 { HashMap::new() } else { self.earlier(&seen_json).await?.into_iter().collect() };

        // The line each row's email was first seen on, if not its own.
        let firsts: Vec<Option<u64>> = chunk
            .iter()
            .map(|row| {
                let email = row.email()?;
                match earlier.get(email) {
                    Some(line) => Some(*line as u64),
                    None => first_in_chunk.get(email).copied().filter(|first| *first != row.line),
                }
            })
            .collect();
        drop(first_in_chunk);
        let mut valid = Vec::with_capacity(chunk.len());
        for (row, first) in chunk.into_iter().zip(firsts) {
            let duplicate = |email: &str, first: u64| RowError {
                line: row.line,
                column: Some("email".to_owned()),
                code: RowErrorCode::DuplicateInFile,
                message: format!("'{email}' is also on line {first}; each user may appear once"),
            };
            let refused = match (row.outcome, first) {
                (Ok(valid_row), None) => {
                    valid.push(valid_row);
                    continue;
                }
                (Ok(valid_row), Some(first)) => vec![duplicate(&valid_row.email, first)],
                (Err(mut row_errors), Some(first)) => {
                    row_errors.push(duplicate(row.refused_email.as_deref().unwrap_or_default(), first));
                    row_errors
                }
                (Err(row_errors), None) => row_errors,
            };
            settled.failed += 1;
            list_errors(&mut settled.errors, &mut settled.errors_omitted, refused);
        }
        Ok(valid)
    }

    /// Records emails (a JSON array of `{"e": email, "l": line}`) not seen before; returns how
    /// many were new.
    async fn record(&mut self, seen_json: &str) -> Result<u64> {
        Ok(match self {
            SeenEmails::Sqlite(conn) => {
                // `WHERE true` tells SQLite's parser that ON CONFLICT is not a join constraint.
                const SQL: &str = "INSERT INTO import_seen (email, line) \
                    SELECT j.value ->> 'e', j.value ->> 'l' FROM json_each($1) AS j WHERE true \
                    ON CONFLICT (email) DO NOTHING";
                sqlx::query(SQL).bind(seen_json).execute(&mut **conn).await?.rows_affected()
            }
            SeenEmails::Postgres(conn) => {
                const SQL: &str = "INSERT INTO import_seen (email, line) \
                    SELECT r.e, r.l FROM json_to_recordset($1::json) AS r(e text, l bigint) \
                    ON CONFLICT (email) DO NOTHING";
                sqlx::query(SQL).bind(seen_json).execute(&mut **conn).await?.rows_affected()
            }
        })
    }

    /// Of emails just recorded, those seen on an earlier line, with that line.
    async fn earlier(&mut self, seen_json: &str) -> Result<Vec<(String, i64)>> {
        Ok(match self {
            SeenEmails::Sqlite(conn) => {
                const SQL: &str = "SELECT s.email, s.line FROM json_each($1) AS j \
                    JOIN import_seen s ON s.email = j.value ->> 'e' WHERE s.line <> j.value ->> 'l'";
                sqlx::query_as(SQL).bind(seen_json).fetch_all(&mut **conn).await?
            }
            SeenEmails::Postgres(conn) => {
                const SQL: &str = "SELECT s.email, s.line FROM json_to_recordset($1::json) AS r(e text, l bigint) \
                    JOIN import_seen s ON s.email = r.e WHERE s.line <> r.l";
                sqlx::query_as(SQL).bind(seen_json).fetch_all(&mut **conn).await?
            }
        })
    }

    /// Drops the table, so the pooled connection goes back as it came.
    async fn close(self) {
        const DROP: &str = "DROP TABLE IF EXISTS import_seen";
        let dropped = match self {
            SeenEmails::Sqlite(mut conn) => sqlx::query(DROP).execute(&mut *conn).await.map(drop),
            SeenEmails::Postgres(mut conn) => sqlx::query(DROP).execute(&mut *conn).await.map(drop),
        };
        if let Err(err) = dropped {
            tracing::warn!(error = %err, "import: temporary table not dropped");
        }
    }
}

/// The rows refused by the checks and as duplicates, as settled chunk by chunk.
#[derive(Default)]
pub(super) struct Settled {
    pub(super) failed: u64,
    pub(super) errors: Vec<RowError>,
    pub(super) errors_omitted: u64,
}

/// Settles each chunk of checked rows against the emails seen before and passes its valid rows
/// on; stops at the first database error (dropping `valid`, which stops the writer too).
pub(super) async fn settle_chunks(
    mut seen: SeenEmails,
    mut chunks: mpsc::Receiver<Vec<Checked>>,
    valid: mpsc::Sender<Vec<ValidRow>>,
) -> Result<Settled> {
    let mut settled = Settled::default();
    let mut outcome = Ok(());
    while let Some(chunk) = chunks.recv().await {
        match seen.settle(chunk, &mut settled).await {
            Ok(rows) => {
                if valid.send(rows).await.is_err() {
                    break;
                }
            }
            Err(err) => {
                outcome = Err(err);
                break;
            }
        }
    }
    seen.close().await;
    outcome.map(|()| settled)
}
