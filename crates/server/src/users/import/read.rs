//! Reading an import: the CSV body as it streams in, its header, and each row's checks.

use std::collections::HashMap;
use std::io;

use axum::body::Body;
use csv_async::ByteRecord;
use futures::TryStreamExt;
use hdms_api_types::Role;
use hdms_api_types::import::{OPTIONAL_COLUMNS, REQUIRED_COLUMNS, RowError, RowErrorCode};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::StreamReader;
use uuid::Uuid;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::users::validate;
use crate::with_db;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Marks the I/O error raised when the body passes the import limit.
#[derive(Debug, thiserror::Error)]
#[error("the file is larger than the import limit")]
struct BodyTooLarge;

/// A CSV reader over the request body as it streams in, past a UTF-8 byte order mark.
pub(super) async fn csv_reader(body: Body, limit: u64) -> io::Result<csv_async::AsyncReader<impl AsyncRead + Unpin + Send>> {
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
pub(super) fn is_blank(record: &ByteRecord) -> bool {
    record.len() == 1 && fields(record).all(|field| field.is_empty())
}

pub(super) fn upload_error(err: io::Error) -> Error {
    if err.get_ref().is_some_and(|inner| inner.is::<BodyTooLarge>()) {
        Error::PayloadTooLarge
    } else {
        Error::BadRequest { code: "upload_interrupted", message: format!("the upload was cut short: {err}") }
    }
}

pub(super) fn csv_error(err: csv_async::Error) -> Error {
    match err.into_kind() {
        csv_async::ErrorKind::Io(err) => upload_error(err),
        other => Error::BadRequest { code: "malformed_csv", message: format!("the file is not CSV: {other:?}") },
    }
}

/// Which field of a row holds which column.
pub(super) struct Columns {
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
    pub(super) fn from_header(record: &ByteRecord) -> Result<Columns> {
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
pub(super) struct Teams(HashMap<String, Uuid>);

impl Teams {
    pub(super) async fn load(db: &Db) -> Result<Teams> {
        const SQL: &str = "SELECT id, name FROM teams WHERE deleted_at IS NULL";
        let rows: Vec<(Uuid, String)> = with_db!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await?);
        Ok(Teams(rows.into_iter().map(|(id, name)| (name.to_lowercase(), id)).collect()))
    }

    /// A team by name (case-insensitive) or id.
    pub(super) fn find(&self, name_or_id: &str) -> Option<Uuid> {
        let wanted = name_or_id.trim();
        if let Ok(id) = Uuid::try_parse(wanted) {
            return self.0.values().copied().find(|team| *team == id);
        }
        self.0.get(&wanted.to_lowercase()).copied()
    }
}

/// One row as read and checked on its own.
pub(super) struct Checked {
    pub(super) line: u64,
    /// A refused row's email, when that field is valid (to find duplicates of it too).
    pub(super) refused_email: Option<String>,
    pub(super) outcome: Result<ValidRow, Vec<RowError>>,
}

impl Checked {
    /// The row's email, if valid, whether or not the row is.
    pub(super) fn email(&self) -> Option<&str> {
        match &self.outcome {
            Ok(row) => Some(&row.email),
            Err(_) => self.refused_email.as_deref(),
        }
    }
}

/// A row that passed every check, ready to write.
pub(super) struct ValidRow {
    pub(super) line: u64,
    pub(super) email: String,
    pub(super) name: String,
    pub(super) role: Role,
    pub(super) phone: Option<String>,
    pub(super) team: Option<Uuid>,
    pub(super) locale: Option<String>,
    pub(super) external_id: Option<String>,
}

pub(super) struct RowValidator {
    pub(super) columns: Columns,
    pub(super) teams: Teams,
    pub(super) default_team: Option<Uuid>,
}

impl RowValidator {
    /// The row, or every problem it has (one per column at fault); duplicates are looked for
    /// afterwards, a chunk at a time ([`SeenEmails::settle`]).
    pub(super) fn validate(&self, record: &ByteRecord) -> Checked {
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
