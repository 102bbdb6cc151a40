//! Bulk user import from CSV: `POST /api/v1/users/import`.
//!
//! The body is parsed as it arrives and never held whole: rows are validated one by one, and the
//! valid ones are handed in chunks to a writer task, which writes each chunk in one transaction
//! of multi-row statements (one statement per row would cross to the database thread per row,
//! and is many times slower). Parsing the next chunk overlaps with writing the last one.
//!
//! Whole chunks are committed or none of a chunk is: an upload cut short leaves the chunks it
//! completed, and running the same file again completes the rest, because the import is
//! idempotent on email. A dry run takes the very same path and rolls every chunk back, so its
//! counts are the real ones.

use std::collections::HashMap;
use std::io;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use csv_async::ByteRecord;
use futures::TryStreamExt;
use hdms_api_types::import::{
    ImportQuery, ImportReport, Invitation, OPTIONAL_COLUMNS, OnConflict, REQUIRED_COLUMNS, RowError, RowErrorCode,
};
use hdms_api_types::{ApiError, Role};
use sqlx::QueryBuilder;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_util::io::StreamReader;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::comms::notifications::{self, Kind, Notice};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppQuery};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::users::{invites, validate};
use crate::with_db;

/// Rows per INSERT statement: large enough that per-statement costs vanish, small enough to stay
/// far below SQLite's 32,766 bound parameters ([`INSERT_PARAMETERS`] a row).
const STATEMENT_ROWS: usize = 500;
/// Rows per transaction: the unit that a crash keeps or loses whole.
const CHUNK_ROWS: usize = 10_000;
/// Row problems listed in the report; beyond this they are counted in `errors_omitted`, so a
/// file of a million bad rows does not make a report of a million entries.
const MAX_LISTED_ERRORS: usize = 1_000;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import_users))
}

/// Import users from a CSV file (admins).
///
/// The header row is required: `email,name,role` and optionally `phone,team,locale,external_id`,
/// in any order, matched case-insensitively. UTF-8 with or without BOM, CRLF or LF line ends,
/// quoted fields. Every row is validated and the report says, for each refused row, its line,
/// column and reason. Rows are written in transactions of 10,000: an interrupted upload keeps
/// the transactions it completed, and importing the same file again completes it (rows are
/// matched on email). A header that cannot be used (unknown or missing columns) answers 422
/// before anything is written.
#[utoipa::path(post, path = "/users/import", tag = "users",
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "The CSV file"),
    security(("bearer" = ["users.manage"])),
    responses(
        (status = 200, description = "Every row was read; the report says what became of each", body = ImportReport),
        (status = 400, description = "The upload was cut short", body = ApiError),
        (status = 413, description = "Larger than the import limit (HDMS_IMPORT_MAX_BYTES)", body = ApiError),
        (status = 415, description = "Not text/csv", body = ApiError),
        (status = 422, description = "Unusable header or unknown team", body = ApiError),
    ))]
async fn import_users(
    State(state): State<AppState>,
    caller: Authorized<can::ManageUsers>,
    AppQuery(query): AppQuery<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<AppJson<ImportReport>> {
    require_csv(&headers)?;
    let limit = state.config.import_max_bytes;
    let declared_length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > limit) {
        return Err(Error::PayloadTooLarge);
    }
    let teams = Teams::load(&state.db).await?;
    let default_team = match query.team.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(team) => Some(teams.find(team).ok_or_else(|| Error::invalid("team", format!("there is no team '{team}'")))?),
        None => None,
    };
    let options = WriteOptions {
        dry_run: query.dry_run.unwrap_or(false),
        on_conflict: query.on_conflict.unwrap_or_default(),
        invites: Invites { print: query.print_invites.unwrap_or(false), send: query.send_invites.unwrap_or(false) },
    };

    let mut reader = csv_reader(body, limit).await.map_err(upload_error)?;
    let mut record = ByteRecord::new();
    if !reader.read_byte_record(&mut record).await.map_err(csv_error)? || is_blank(&record) {
        return Err(Error::invalid("header", "the file is empty; its first row must be a header such as email,name,role"));
    }
    let columns = Columns::from_header(&record)?;
    let validator = RowValidator { columns, teams, default_team };

    // Three stages, each a chunk ahead of the next: reading and checking rows (here), finding
    // duplicates in the file (`settle_chunks`), writing (`write_chunks`).
    let (valid_chunks, to_write) = mpsc::channel::<Vec<ValidRow>>(1);
    let writer = tokio::spawn(write_chunks(state.db.clone(), options, to_write));
    let (chunks, to_settle) = mpsc::channel::<Vec<Checked>>(1);
    let settler = tokio::spawn(settle_chunks(SeenEmails::open(&state.db).await?, to_settle, valid_chunks));
    let mut report = ImportReport { dry_run: options.dry_run, ..Default::default() };
    let mut checked = Vec::with_capacity(CHUNK_ROWS);
    let read_outcome = loop {
        match reader.read_byte_record(&mut record).await {
            Ok(true) => {}
            Ok(false) => break Ok(()),
            Err(err) => break Err(csv_error(err)),
        }
        if is_blank(&record) {
            continue;
        }
        report.rows += 1;
        checked.push(validator.validate(&record));
        if checked.len() == CHUNK_ROWS {
            let full = std::mem::replace(&mut checked, Vec::with_capacity(CHUNK_ROWS));
            if chunks.send(full).await.is_err() {
                // A later stage stopped on an error; it is reported below.
                break Ok(());
            }
        }
    };
    // An upload cut short loses the chunk it was filling, never part of a written one.
    if read_outcome.is_ok() && !checked.is_empty() {
        let _ = chunks.send(checked).await;
    }
    drop(chunks);
    let settled = settler.await.map_err(|err| anyhow::anyhow!("import settler: {err}"))?;
    let written = writer.await.map_err(|err| anyhow::anyhow!("import writer: {err}"))??;
    let settled = settled?;
    read_outcome?;
    report.failed += settled.failed;
    report.errors_omitted += settled.errors_omitted;
    let mut errors = settled.errors;

    report.created = written.created;
    report.updated = written.updated;
    report.skipped = written.skipped;
    report.failed += written.failed;
    report.invitations = written.invitations;
    report.invitations_sent = written.invitations_sent;
    report.invitations_unsent = written.invitations_unsent;
    errors.extend(written.errors);
    report.errors_omitted += written.errors_omitted;
    // Both lists are in file order and hold the first problems of each kind: merged and cut,
    // they are the first problems of the file.
    errors.sort_by_key(|error| error.line);
    if errors.len() > MAX_LISTED_ERRORS {
        report.errors_omitted += (errors.len() - MAX_LISTED_ERRORS) as u64;
        errors.truncate(MAX_LISTED_ERRORS);
    }
    report.errors = errors;
    tracing::info!(
        dry_run = report.dry_run, rows = report.rows, created = report.created, updated = report.updated,
        skipped = report.skipped, failed = report.failed, "user import"
    );
    if !report.dry_run {
        tell_importer(&state, caller.id(), &report).await?;
    }
    Ok(AppJson(report))
}

/// The rows refused by the checks and as duplicates, as settled chunk by chunk.
#[derive(Default)]
struct Settled {
    failed: u64,
    errors: Vec<RowError>,
    errors_omitted: u64,
}

/// Settles each chunk of checked rows against the emails seen before and passes its valid rows
/// on; stops at the first database error (dropping `valid`, which stops the writer too).
async fn settle_chunks(
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

/// The `import_finished` notification, so an admin who started a long import elsewhere (or
/// whose terminal closed) learns how it ended.
async fn tell_importer(state: &AppState, admin: Uuid, report: &ImportReport) -> Result<()> {
    let title = if report.failed == 0 {
        format!("User import finished: {} rows", report.rows)
    } else {
        format!("User import finished: {} of {} rows refused", report.failed, report.rows)
    };
    let body = format!(
        "{} created, {} updated, {} skipped, {} refused",
        report.created, report.updated, report.skipped, report.failed
    );
    let notice = Notice { kind: Kind::ImportFinished, ticket_id: None, title: &title, body: &body };
    let mut tx = state.db.begin().await?;
    notifications::notify(&mut tx, &[admin], &notice, Utc::now()).await?;
    tx.commit().await?;
    state.hub.ring();
    Ok(())
}

fn require_csv(headers: &HeaderMap) -> Result<()> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("text/csv") {
        Ok(())
    } else {
        Err(Error::UnsupportedMediaType("expected a request body with Content-Type: text/csv".to_owned()))
    }
}

fn list_errors(listed: &mut Vec<RowError>, omitted: &mut u64, new: Vec<RowError>) {
    for error in new {
        if listed.len() < MAX_LISTED_ERRORS {
            listed.push(error);
        } else {
            *omitted += 1;
        }
    }
}

// --- reading -----------------------------------------------------------------------------

/// Marks the I/O error raised when the body passes the import limit.
#[derive(Debug, thiserror::Error)]
#[error("the file is larger than the import limit")]
struct BodyTooLarge;

/// A CSV reader over the request body as it streams in, past a UTF-8 byte order mark.
async fn csv_reader(body: Body, limit: u64) -> io::Result<csv_async::AsyncReader<impl AsyncRead + Unpin + Send>> {
    let mut received = 0u64;
    let stream = body.into_data_stream().map_err(io::Error::other).and_then(move |bytes| {
        received += bytes.len() as u64;
        let outcome = if received > limit { Err(io::Error::other(BodyTooLarge)) } else { Ok(bytes) };
        std::future::ready(outcome)
    });
    let mut body = StreamReader::new(stream);
    // The mark may arrive split over several chunks: read its three bytes before deciding.
    let mut start = [0u8; 3];
    let mut filled = 0;
    while filled < start.len() {
        let read = body.read(&mut start[filled..]).await?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    let kept = if start[..filled] == *UTF8_BOM { Vec::new() } else { start[..filled].to_vec() };
    let body = io::Cursor::new(kept).chain(body);
    // Flexible: a row with the wrong number of fields is that row's error, not the file's.
    // Records end at LF only: with csv's default CRLF handling, the LF of a CRLF is consumed at
    // the start of the next record, so every line number after the first CRLF is one short. The
    // CR is taken off the last field instead (see `fields`).
    Ok(csv_async::AsyncReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .terminator(csv_async::Terminator::Any(b'\n'))
        .create_reader(body))
}

/// A record's fields, without the CR of a CRLF line end.
fn fields(record: &ByteRecord) -> impl Iterator<Item = &[u8]> {
    let last = record.len().saturating_sub(1);
    record.iter().enumerate().map(move |(index, field)| match field.strip_suffix(b"\r") {
        Some(stripped) if index == last => stripped,
        _ => field,
    })
}

/// A blank line (a lone CR once records end at LF); csv already skips empty LF lines.
fn is_blank(record: &ByteRecord) -> bool {
    record.len() == 1 && fields(record).all(|field| field.is_empty())
}

fn upload_error(err: io::Error) -> Error {
    if err.get_ref().is_some_and(|inner| inner.is::<BodyTooLarge>()) {
        Error::PayloadTooLarge
    } else {
        Error::BadRequest { code: "upload_interrupted", message: format!("the upload was cut short: {err}") }
    }
}

fn csv_error(err: csv_async::Error) -> Error {
    match err.into_kind() {
        csv_async::ErrorKind::Io(err) => upload_error(err),
        other => Error::BadRequest { code: "malformed_csv", message: format!("the file is not CSV: {other:?}") },
    }
}

/// Which field of a row holds which column.
struct Columns {
    count: usize,
    email: usize,
    name: usize,
    role: usize,
    phone: Option<usize>,
    team: Option<usize>,
    locale: Option<usize>,
    external_id: Option<usize>,
}

impl Columns {
    fn from_header(record: &ByteRecord) -> Result<Columns> {
        let header_error = |message: String| Error::invalid("header", message);
        let mut positions: HashMap<&'static str, usize> = HashMap::new();
        let mut unknown = Vec::new();
        for (index, raw) in fields(record).enumerate() {
            let name = std::str::from_utf8(raw)
                .map_err(|_| header_error(format!("column {} of the header is not valid UTF-8", index + 1)))?
                .trim()
                .to_lowercase();
            match REQUIRED_COLUMNS.iter().chain(&OPTIONAL_COLUMNS).find(|known| **known == name) {
                Some(known) => {
                    if positions.insert(known, index).is_some() {
                        return Err(header_error(format!("the header names column '{known}' twice")));
                    }
                }
                None => unknown.push(if name.is_empty() { format!("(empty, column {})", index + 1) } else { name }),
            }
        }
        let expected = format!(
            "expected {} and optionally {}",
            REQUIRED_COLUMNS.join(", "),
            OPTIONAL_COLUMNS.join(", ")
        );
        if !unknown.is_empty() {
            let hint = if unknown.iter().any(|name| name.contains('@')) { "; the first row must be a header" } else { "" };
            return Err(header_error(format!("unknown columns: {} ({expected}){hint}", unknown.join(", "))));
        }
        let missing: Vec<&str> = REQUIRED_COLUMNS.into_iter().filter(|name| !positions.contains_key(name)).collect();
        if !missing.is_empty() {
            return Err(header_error(format!("missing columns: {} ({expected})", missing.join(", "))));
        }
        Ok(Columns {
            count: record.len(),
            email: positions["email"],
            name: positions["name"],
            role: positions["role"],
            phone: positions.get("phone").copied(),
            team: positions.get("team").copied(),
            locale: positions.get("locale").copied(),
            external_id: positions.get("external_id").copied(),
        })
    }

    /// Column names in header order, to name a field by its index.
    fn name_of(&self, index: usize) -> &'static str {
        let named = [
            (Some(self.email), "email"),
            (Some(self.name), "name"),
            (Some(self.role), "role"),
            (self.phone, "phone"),
            (self.team, "team"),
            (self.locale, "locale"),
            (self.external_id, "external_id"),
        ];
        named.into_iter().find(|(at, _)| *at == Some(index)).map_or("?", |(_, name)| name)
    }
}

/// Live teams by lower-case name.
struct Teams(HashMap<String, Uuid>);

impl Teams {
    async fn load(db: &Db) -> Result<Teams> {
        const SQL: &str = "SELECT id, name FROM teams WHERE deleted_at IS NULL";
        let rows: Vec<(Uuid, String)> = with_db!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await?);
        Ok(Teams(rows.into_iter().map(|(id, name)| (name.to_lowercase(), id)).collect()))
    }

    /// A team by name (case-insensitive) or id.
    fn find(&self, name_or_id: &str) -> Option<Uuid> {
        let wanted = name_or_id.trim();
        if let Ok(id) = Uuid::try_parse(wanted) {
            return self.0.values().copied().find(|team| *team == id);
        }
        self.0.get(&wanted.to_lowercase()).copied()
    }
}

/// One row as read and checked on its own.
struct Checked {
    line: u64,
    /// A refused row's email, when that field is valid (to find duplicates of it too).
    refused_email: Option<String>,
    outcome: Result<ValidRow, Vec<RowError>>,
}

impl Checked {
    /// The row's email, if valid, whether or not the row is.
    fn email(&self) -> Option<&str> {
        match &self.outcome {
            Ok(row) => Some(&row.email),
            Err(_) => self.refused_email.as_deref(),
        }
    }
}

/// The emails of the rows read so far, with the line each was first seen on, for reporting
/// duplicates within the file. They are kept in a temporary table on a connection held for the
/// import, not in memory: the server's memory stays flat however long the file is. Looked up
/// and added a chunk at a time, with one statement each.
enum SeenEmails {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

impl SeenEmails {
    async fn open(db: &Db) -> Result<SeenEmails> {
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

/// A row that passed every check, ready to write.
struct ValidRow {
    line: u64,
    email: String,
    name: String,
    role: Role,
    phone: Option<String>,
    team: Option<Uuid>,
    locale: Option<String>,
    external_id: Option<String>,
}

struct RowValidator {
    columns: Columns,
    teams: Teams,
    default_team: Option<Uuid>,
}

impl RowValidator {
    /// The row, or every problem it has (one per column at fault); duplicates are looked for
    /// afterwards, a chunk at a time ([`SeenEmails::settle`]).
    fn validate(&self, record: &ByteRecord) -> Checked {
        let line = record.position().map_or(0, |position| position.line());
        let columns = &self.columns;
        let mut errors = Vec::new();
        let mut error = |column: Option<&str>, code: RowErrorCode, message: String| {
            errors.push(RowError { line, column: column.map(str::to_owned), code, message });
        };
        if record.len() != columns.count {
            error(
                None,
                RowErrorCode::WrongFieldCount,
                format!("has {} fields but the header has {}", record.len(), columns.count),
            );
            return Checked { line, refused_email: None, outcome: Err(errors) };
        }
        let mut texts = Vec::with_capacity(record.len());
        for (index, raw) in fields(record).enumerate() {
            match std::str::from_utf8(raw) {
                Ok(text) => texts.push(Some(text)),
                Err(err) => {
                    error(
                        Some(columns.name_of(index)),
                        RowErrorCode::InvalidUtf8,
                        format!("is not valid UTF-8 (bad byte at offset {})", err.valid_up_to()),
                    );
                    texts.push(None);
                }
            }
        }
        // An optional column's text; `Some("")` for a blank field, `None` for an absent column or
        // a field already reported as invalid UTF-8.
        let text = |index: Option<usize>| index.and_then(|index| texts[index]);
        let mut required = |column: &str, index: usize| match texts[index] {
            Some(value) if value.trim().is_empty() => {
                error(Some(column), RowErrorCode::MissingField, format!("{column} is required"));
                None
            }
            value => value,
        };
        let email = required("email", columns.email);
        let name = required("name", columns.name);
        let role = required("role", columns.role);

        let email = email.and_then(|raw| {
            validate::email(raw).map_err(|message| error(Some("email"), RowErrorCode::BadEmail, message)).ok()
        });
        let name = name.and_then(|raw| {
            validate::name(raw).map_err(|message| error(Some("name"), RowErrorCode::BadName, message)).ok()
        });
        let role = role.and_then(|raw| {
            raw.parse::<Role>().map_err(|err| error(Some("role"), RowErrorCode::UnknownRole, err.to_string())).ok()
        });
        let phone = text(columns.phone).map(str::trim).filter(|raw| !raw.is_empty()).and_then(|raw| {
            validate::phone(raw).map_err(|message| error(Some("phone"), RowErrorCode::PhoneNotE164, message)).ok()
        });
        let own_team = text(columns.team).map(str::trim).filter(|raw| !raw.is_empty());
        let team = match own_team {
            Some(team) => match self.teams.find(team) {
                Some(id) if role == Some(Role::Customer) => {
                    error(Some("team"), RowErrorCode::CustomerInTeam, "customers cannot be team members".to_owned());
                    Some(id)
                }
                Some(id) => Some(id),
                None => {
                    error(Some("team"), RowErrorCode::UnknownTeam, format!("there is no team '{team}'"));
                    None
                }
            },
            // The import-wide team is for the agents of the file; customers simply do not join.
            None => self.default_team.filter(|_| role != Some(Role::Customer)),
        };
        let locale = text(columns.locale).map(str::trim).filter(|raw| !raw.is_empty()).and_then(|raw| {
            validate::locale(raw).map_err(|message| error(Some("locale"), RowErrorCode::BadLocale, message)).ok()
        });
        let external_id = text(columns.external_id).map(str::trim).filter(|raw| !raw.is_empty()).and_then(|raw| {
            validate::external_id(raw)
                .map_err(|message| error(Some("external_id"), RowErrorCode::BadExternalId, message))
                .ok()
        });
        if !errors.is_empty() {
            return Checked { line, refused_email: email, outcome: Err(errors) };
        }
        match (email, name, role) {
            (Some(email), Some(name), Some(role)) => {
                Checked { line, refused_email: None, outcome: Ok(ValidRow { line, email, name, role, phone, team, locale, external_id }) }
            }
            _ => unreachable!("a required field that is absent was reported as an error"),
        }
    }
}

// --- writing -----------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct WriteOptions {
    dry_run: bool,
    on_conflict: OnConflict,
    invites: Invites,
}

/// What becomes of invitations: returned in the report, sent by SMS, or both.
#[derive(Debug, Clone, Copy)]
struct Invites {
    print: bool,
    send: bool,
}

impl Invites {
    /// Whether a user with this phone gets an invitation. One that no channel carries and the
    /// admin does not see would only replace a token that may still reach them, so none is made.
    fn for_phone(self, phone: Option<&str>) -> bool {
        self.print || self.send && phone.is_some()
    }

    /// Counts a user who needs an invitation but gets none (asked to send, no phone).
    fn count_unsent(self, phone: Option<&str>, written: &mut Written) {
        if self.send && !self.for_phone(phone) {
            written.invitations_unsent += 1;
        }
    }
}

/// The text message that carries an invitation.
fn invitation_sms(token: &str) -> String {
    format!(
        "You have a help desk account. Set your password within {} days with this one-time code: {token} \
         (e.g. `hdms accept-invite`)",
        invites::INVITE_TTL.num_days()
    )
}

/// What the writer did with the rows it was given.
#[derive(Default)]
struct Written {
    created: u64,
    updated: u64,
    skipped: u64,
    failed: u64,
    errors: Vec<RowError>,
    errors_omitted: u64,
    invitations: Vec<Invitation>,
    invitations_sent: u64,
    invitations_unsent: u64,
}

/// A live user that a row's email matches.
#[derive(sqlx::FromRow)]
struct Existing {
    id: Uuid,
    email: String,
    name: String,
    #[sqlx(try_from = "String")]
    role: Role,
    phone: Option<String>,
    locale: Option<String>,
    external_id: Option<String>,
    has_password: bool,
}

impl Existing {
    fn matches(&self, row: &ValidRow) -> bool {
        self.name == row.name
            && self.role == row.role
            && self.phone == row.phone
            && self.locale == row.locale
            && self.external_id == row.external_id
    }
}

/// Opens a transaction that takes the write lock at once: on SQLite a deferred transaction that
/// reads first and writes later can fail to upgrade its lock while another writer holds it.
trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWrite for sqlx::SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for sqlx::PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

async fn write_chunks(db: Db, options: WriteOptions, mut chunks: mpsc::Receiver<Vec<ValidRow>>) -> Result<Written> {
    let mut written = Written::default();
    while let Some(chunk) = chunks.recv().await {
        write_chunk(&db, options, &chunk, &mut written).await?;
    }
    Ok(written)
}

/// What one statement-sized batch of rows needs done, decided from the users that exist.
struct BatchPlan<'a> {
    inserts: Vec<(Uuid, &'a ValidRow, Option<invites::NewInvite>)>,
    updates: Vec<(Uuid, &'a ValidRow)>,
    /// Existing users who still have no password, and get a fresh invitation (sent to the phone).
    reinvites: Vec<(Uuid, &'a ValidRow, Option<String>, invites::NewInvite)>,
    /// Existing users (updated ones) that join the row's team.
    joins: Vec<(Uuid, Uuid)>,
}

fn plan_batch<'a>(
    batch: &'a [ValidRow],
    existing: Vec<Existing>,
    options: WriteOptions,
    now: DateTime<Utc>,
    written: &mut Written,
) -> BatchPlan<'a> {
    let existing: HashMap<String, Existing> = existing.into_iter().map(|user| (user.email.clone(), user)).collect();
    let mut plan = BatchPlan { inserts: Vec::new(), updates: Vec::new(), reinvites: Vec::new(), joins: Vec::new() };
    for row in batch {
        let Some(user) = existing.get(&row.email) else {
            let id = Uuid::now_v7();
            plan.inserts.push((id, row, options.invites.for_phone(row.phone.as_deref()).then(|| invites::mint(id, now))));
            continue;
        };
        match options.on_conflict {
            OnConflict::Fail => {
                refuse(written, row, RowErrorCode::EmailTaken, format!("a user with email '{}' already exists", row.email));
                continue;
            }
            OnConflict::Skip => written.skipped += 1,
            OnConflict::Update if user.role == Role::Admin && row.role != Role::Admin => {
                refuse(
                    written,
                    row,
                    RowErrorCode::AdminRoleLocked,
                    "an import does not change an admin's role; use `hdms users update`".to_owned(),
                );
                continue;
            }
            OnConflict::Update if user.matches(row) => written.skipped += 1,
            OnConflict::Update => {
                written.updated += 1;
                plan.updates.push((user.id, row));
            }
        }
        if options.on_conflict == OnConflict::Update
            && let Some(team) = row.team
        {
            plan.joins.push((team, user.id));
        }
        if !user.has_password {
            // Update mode: the row's phone is the user's from now on.
            if options.invites.for_phone(row.phone.as_deref()) {
                plan.reinvites.push((user.id, row, row.phone.clone(), invites::mint(user.id, now)));
            } else {
                options.invites.count_unsent(row.phone.as_deref(), written);
            }
        }
    }
    plan
}

fn refuse(written: &mut Written, row: &ValidRow, code: RowErrorCode, message: String) {
    written.failed += 1;
    let error = RowError { line: row.line, column: Some("email".to_owned()), code, message };
    list_errors(&mut written.errors, &mut written.errors_omitted, vec![error]);
}

/// Parameters of each row in [`insert_users_sql`].
const INSERT_PARAMETERS: usize = 11;

/// The INSERT of `rows` users, [`INSERT_PARAMETERS`] a row. Built once for a full batch (some
/// 60 KB of text). Placeholders are `$n` on PostgreSQL and plain `?` on SQLite: sqlx looks each
/// of a statement's parameters up by name, and SQLite finds a name by walking the list of all
/// of them, so 5,500 named parameters cost more than the rows.
fn insert_users_sql(rows: usize, db: &Db) -> std::borrow::Cow<'static, str> {
    static FULL_BATCH: [std::sync::OnceLock<String>; 2] = [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    let numbered = matches!(db, Db::Postgres(_));
    let build = || {
        let mut sql = String::from(
            "INSERT INTO users (id, email, name, role, phone, locale, external_id, invite_hash, invite_expires_at, \
             created_at, updated_at, active) VALUES ",
        );
        let mut parameter = 0;
        for row in 0..rows {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            for _ in 0..INSERT_PARAMETERS {
                parameter += 1;
                if numbered {
                    sql.push_str(&format!("${parameter}, "));
                } else {
                    sql.push_str("?, ");
                }
            }
            sql.push_str("TRUE)");
        }
        // A user created meanwhile by someone else is left alone, like any existing one.
        sql.push_str(" ON CONFLICT (email) WHERE deleted_at IS NULL DO NOTHING");
        sql
    };
    if rows == STATEMENT_ROWS {
        std::borrow::Cow::Borrowed(FULL_BATCH[usize::from(numbered)].get_or_init(build))
    } else {
        std::borrow::Cow::Owned(build())
    }
}

/// Binds each value to a query in place. `Query::bind` takes and returns the whole query, which
/// for the 5,500 values of a full INSERT is most of the cost of binding.
macro_rules! try_bind_each {
    ($query:ident, $($value:expr),+ $(,)?) => {
        $( $query.try_bind($value).map_err(sqlx::Error::Encode)?; )+
    };
}

/// Arguments with room for `count` values: binding 5,500 values one by one into a growing list
/// copies it a dozen times over.
fn reserved_arguments<DB: sqlx::Database>(_: &sqlx::Pool<DB>, count: usize) -> <DB as sqlx::Database>::Arguments {
    let mut arguments = <DB as sqlx::Database>::Arguments::default();
    sqlx::Arguments::reserve(&mut arguments, count, 0);
    arguments
}

async fn write_chunk(db: &Db, options: WriteOptions, chunk: &[ValidRow], written: &mut Written) -> Result<()> {
    const FIND_EXISTING: &str = "SELECT id, email, name, role, phone, locale, external_id, \
           password_hash IS NOT NULL AS has_password \
         FROM users WHERE deleted_at IS NULL AND email IN (";
    const FIND_CREATED: &str = "SELECT id FROM users WHERE id IN (";
    const UPDATE: &str = "UPDATE users SET name = $1, role = $2, phone = $3, locale = $4, external_id = $5, \
           updated_at = $6 WHERE id = $7";
    const FIND_UNINVITED: &str =
        "SELECT id, email, phone FROM users WHERE deleted_at IS NULL AND password_hash IS NULL AND email IN (";
    const REINVITE: &str = "UPDATE users SET invite_hash = $1, invite_expires_at = $2 WHERE id = $3";
    const JOIN: &str = "INSERT INTO team_members (team_id, user_id, added_at) ";
    const JOIN_CONFLICT: &str = " ON CONFLICT (team_id, user_id) DO NOTHING";
    const SMS_OUTBOX: &str = "INSERT INTO sms_outbox (id, user_id, phone, body, sensitive, state, attempts, next_attempt_at, created_at) ";

    let now = Utc::now();
    // Each invitation with the phone it goes to, and how many of them earlier batches queued.
    let mut invitations: Vec<(Invitation, Option<String>)> = Vec::new();
    let mut sent_before = 0;
    let mut sent_in_chunk = 0;
    with_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        for batch in chunk.chunks(STATEMENT_ROWS) {
            // Only an update needs the stored values first. Otherwise every row is offered to
            // the INSERT, and the conflict clause tells which emails exist: one statement per
            // batch instead of two, which is most of the difference on a first import.
            let existing: Vec<Existing> = if options.on_conflict == OnConflict::Update {
                let mut find = QueryBuilder::new(FIND_EXISTING);
                let mut emails = find.separated(", ");
                for row in batch {
                    emails.push_bind(&row.email);
                }
                find.push(")");
                find.build_query_as().fetch_all(&mut *tx).await?
            } else {
                Vec::new()
            };
            let plan = plan_batch(batch, existing, options, now, written);
            let mut existing_without_update = Vec::new();

            let mut joins = plan.joins;
            if !plan.inserts.is_empty() {
                // Built from constants and numbers only.
                let sql = sqlx::AssertSqlSafe(insert_users_sql(plan.inserts.len(), db));
                let mut insert = sqlx::query_with(sql, reserved_arguments(pool, plan.inserts.len() * INSERT_PARAMETERS));
                for (id, row, invite) in &plan.inserts {
                    let invite_hash = invite.as_ref().map(|invite| &invite.digest);
                    let invite_expires_at = invite.as_ref().map(|invite| invite.expires_at);
                    try_bind_each!(insert, *id, &row.email, &row.name, row.role.as_str(), &row.phone, &row.locale,
                        &row.external_id, invite_hash, invite_expires_at, now, now);
                }
                let inserted = insert.execute(&mut *tx).await?.rows_affected();
                // Which rows met an existing email matters only when some did: on a first
                // import none do, and no row has to come back.
                let created: std::collections::HashSet<Uuid> = if inserted == plan.inserts.len() as u64 {
                    plan.inserts.iter().map(|(id, _, _)| *id).collect()
                } else {
                    let mut find = QueryBuilder::new(FIND_CREATED);
                    let mut ids = find.separated(", ");
                    for (id, _, _) in &plan.inserts {
                        ids.push_bind(*id);
                    }
                    find.push(")");
                    find.build_query_scalar().fetch_all(&mut *tx).await?.into_iter().collect()
                };
                for (id, row, invite) in plan.inserts {
                    if !created.contains(&id) {
                        match options.on_conflict {
                            OnConflict::Fail => refuse(
                                written,
                                row,
                                RowErrorCode::EmailTaken,
                                format!("a user with email '{}' already exists", row.email),
                            ),
                            _ => {
                                written.skipped += 1;
                                existing_without_update.push(row);
                            }
                        }
                        continue;
                    }
                    written.created += 1;
                    if let Some(team) = row.team {
                        joins.push((team, id));
                    }
                    match invite {
                        Some(invite) => invitations.push((
                            Invitation { user_id: id, email: row.email.clone(), token: invite.token, expires_at: invite.expires_at },
                            row.phone.clone(),
                        )),
                        None => options.invites.count_unsent(row.phone.as_deref(), written),
                    }
                }
            }
            for (id, row) in &plan.updates {
                sqlx::query(UPDATE)
                    .bind(&row.name)
                    .bind(row.role.as_str())
                    .bind(&row.phone)
                    .bind(&row.locale)
                    .bind(&row.external_id)
                    .bind(now)
                    .bind(*id)
                    .execute(&mut *tx)
                    .await?;
            }
            let mut reinvites = plan.reinvites;
            if (options.invites.print || options.invites.send)
                && options.on_conflict == OnConflict::Skip
                && !existing_without_update.is_empty()
            {
                // Skipped users who never set a password get a fresh invitation.
                let mut find = QueryBuilder::new(FIND_UNINVITED);
                let mut emails = find.separated(", ");
                for row in &existing_without_update {
                    emails.push_bind(&row.email);
                }
                find.push(")");
                let waiting: Vec<(Uuid, String, Option<String>)> = find.build_query_as().fetch_all(&mut *tx).await?;
                for (id, email, phone) in waiting {
                    let Some(row) = existing_without_update.iter().find(|row| row.email == email) else { continue };
                    if options.invites.for_phone(phone.as_deref()) {
                        reinvites.push((id, *row, phone, invites::mint(id, now)));
                    } else {
                        options.invites.count_unsent(phone.as_deref(), written);
                    }
                }
            }
            for (id, row, phone, invite) in reinvites {
                sqlx::query(REINVITE).bind(&invite.digest).bind(invite.expires_at).bind(id).execute(&mut *tx).await?;
                invitations.push((
                    Invitation { user_id: id, email: row.email.clone(), token: invite.token, expires_at: invite.expires_at },
                    phone,
                ));
            }
            if !joins.is_empty() {
                let mut join = QueryBuilder::new(JOIN);
                join.push_values(&joins, |mut values, (team, user)| {
                    values.push_bind(*team).push_bind(*user).push_bind(now);
                });
                join.push(JOIN_CONFLICT);
                join.build().execute(&mut *tx).await?;
            }
            if options.invites.send {
                let texts: Vec<(Uuid, &Invitation, &str, String)> = invitations[sent_before..]
                    .iter()
                    .filter_map(|(invitation, phone)| Some((Uuid::now_v7(), invitation, phone.as_deref()?, invitation_sms(&invitation.token))))
                    .collect();
                if !texts.is_empty() {
                    // Queued in the same transaction as the users: the worker sends them once it
                    // commits (see `comms::sms`). Sensitive: the body is blanked once delivered.
                    let mut outbox = QueryBuilder::new(SMS_OUTBOX);
                    outbox.push_values(&texts, |mut values, (id, invitation, phone, text)| {
                        values
                            .push_bind(*id)
                            .push_bind(invitation.user_id)
                            .push_bind(*phone)
                            .push_bind(text)
                            .push("TRUE, 'pending', 0")
                            .push_bind(now)
                            .push_bind(now);
                    });
                    outbox.build().execute(&mut *tx).await?;
                    sent_in_chunk += texts.len() as u64;
                }
            }
            sent_before = invitations.len();
        }
        if options.dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
    });
    // Invitations of a dry run were never stored: they would not work.
    // Like every count of a dry run, what would have been sent.
    written.invitations_sent += sent_in_chunk;
    if !options.dry_run {
        if options.invites.print {
            written.invitations.extend(invitations.into_iter().map(|(invitation, _)| invitation));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(fields: &[&str]) -> ByteRecord {
        ByteRecord::from(fields.to_vec())
    }

    #[test]
    fn header_names_match_case_insensitively_in_any_order() {
        let columns = Columns::from_header(&header(&[" Role", "EMAIL", "Name ", "external_id"])).unwrap();
        assert_eq!((columns.role, columns.email, columns.name, columns.external_id), (0, 1, 2, Some(3)));
        assert_eq!(columns.phone, None);
    }

    #[test]
    fn header_problems_name_the_columns() {
        let message = |fields: &[&str]| match Columns::from_header(&header(fields)) {
            Err(Error::Validation { field, message }) => {
                assert_eq!(field.as_deref(), Some("header"));
                message
            }
            other => panic!("expected a header error, got {:?}", other.err()),
        };
        assert!(message(&["email", "name", "role", "mobile", "dept"]).starts_with("unknown columns: mobile, dept"));
        assert!(message(&["email", "name"]).starts_with("missing columns: role"));
        assert!(message(&["email", "name", "role", "Email"]).contains("'email' twice"));
        assert!(message(&["ada@example.com", "Ada", "agent"]).ends_with("the first row must be a header"));
    }
}
