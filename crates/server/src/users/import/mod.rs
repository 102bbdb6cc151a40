//! Bulk user import from CSV: `POST /api/v1/users/import`.
//!
//! The body is parsed as it arrives and never held whole. Three stages run side by side, each a
//! chunk of rows ahead of the next: reading and checking rows ([`read`]), finding duplicates
//! within the file ([`seen`]), and writing ([`write`]) each chunk in one transaction of
//! multi-row statements (one statement per row would cross to the database thread per row, and
//! is many times slower).
//!
//! Whole chunks are committed or none of a chunk is: an upload cut short leaves the chunks it
//! completed, and running the same file again completes the rest, because the import is
//! idempotent on email. A dry run takes the very same path and rolls every chunk back, so its
//! counts are the real ones.

mod read;
mod seen;
mod write;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use chrono::Utc;
use csv_async::ByteRecord;
use hdms_api_types::ApiError;
use hdms_api_types::import::{ImportQuery, ImportReport, RowError};
use tokio::sync::mpsc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use self::read::{Checked, Columns, RowValidator, Teams, ValidRow, csv_error, csv_reader, is_blank, upload_error};
use self::seen::{SeenEmails, settle_chunks};
use self::write::{Invites, WriteOptions, write_chunks};
use crate::comms::notifications::{self, Kind, Notice};
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppQuery};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;

/// Rows per transaction: the unit that a crash keeps or loses whole.
const CHUNK_ROWS: usize = 10_000;
/// Row problems listed in the report; beyond this they are counted in `errors_omitted`, so a
/// file of a million bad rows does not make a report of a million entries.
const MAX_LISTED_ERRORS: usize = 1_000;

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
    let writer = tokio::spawn(write_chunks(state.db.clone(), state.sessions.clone(), options, to_write));
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
