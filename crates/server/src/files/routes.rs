//! Attachment routes: upload to a ticket, list, download (clean files only, with ranges),
//! thumbnail, soft delete and restore. Every route first checks that the caller may see the
//! ticket, and answers 404 otherwise.

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hdms_api_types::files::{Attachment, ScanState};
use hdms_api_types::ApiError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::files::intake::{self, Upload};
use crate::files::receive::{self, ReceiveError};
use crate::files::storage::{blob_key, thumbnail_key};
use crate::files::store::{self, AttachmentRow};
use crate::files::settings::unscanned_policy;
use crate::http::extract::{AppJson, AppPath};
use crate::http::permissions::{Action, Authorized, can};
use crate::state::AppState;
use crate::tickets::visibility::visible_ticket;
use crate::users::auth::AuthUser;

/// After refusing an upload part-way, the rest of the body is read and dropped up to this much,
/// so the client gets to read our 413 instead of a connection reset.
const DRAIN_MAX: u64 = 16 * 1024 * 1024;
/// Room for the multipart framing around the file (boundaries, part headers).
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        // The upload enforces its own, larger limit while streaming.
        .routes(routes!(upload_attachment, list_attachments))
        .layer(DefaultBodyLimit::disable())
        .merge(
            OpenApiRouter::new()
                .routes(routes!(download_attachment, delete_attachment))
                .routes(routes!(attachment_thumbnail))
                .routes(routes!(restore_attachment)),
        )
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes the multipart body for the OpenAPI document
struct UploadForm {
    /// The file; its multipart `filename` becomes the attachment's name.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: Vec<u8>,
}

/// Attach a file to a ticket (multipart/form-data, field `file`). Answers at once with
/// `scan_state` `pending`; the file can be downloaded once the scan finds it clean.
#[utoipa::path(post, path = "/tickets/{id}/attachments", tag = "attachments",
    params(("id" = Uuid, Path)),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    security(("bearer" = ["attachments.upload"])),
    responses((status = 201, body = Attachment), (status = 404, body = ApiError), (status = 413, body = ApiError),
        (status = 422, body = ApiError)))]
async fn upload_attachment(
    State(state): State<AppState>,
    caller: Authorized<can::UploadAttachments>,
    AppPath(ticket_id): AppPath<Uuid>,
    headers: HeaderMap,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, AppJson<Attachment>)> {
    let mut multipart = multipart.map_err(|rejection| Error::BadRequest {
        code: "invalid_multipart",
        message: format!("expected a multipart/form-data body with a `file` field: {}", rejection.body_text()),
    })?;
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = state.config.attachment_max_bytes;
    if declared_length.is_some_and(|length| length > limit + MULTIPART_OVERHEAD + DRAIN_MAX) {
        // Too large to be worth reading even to answer politely.
        return Err(too_large(limit));
    }
    let result = receive_upload(&state, &caller, ticket_id, &mut multipart).await;
    if result.is_err() {
        drain(&mut multipart).await;
    }
    let row = result?;
    let policy = unscanned_policy(&state.db, &state.config).await?;
    Ok((StatusCode::CREATED, AppJson(row.into_api(policy))))
}

async fn receive_upload(state: &AppState, caller: &AuthUser, ticket_id: Uuid, multipart: &mut Multipart) -> Result<AttachmentRow> {
    visible_ticket(&state.db, caller, ticket_id).await?;
    let max_per_ticket = state.config.attachment_max_per_ticket;
    // Checked before reading the body so a full ticket costs no upload; checked again, in the
    // insert itself, against concurrent uploads.
    if store::count_live(&state.db, ticket_id).await? >= i64::from(max_per_ticket) {
        return Err(Error::LimitExceeded(format!("a ticket can have at most {max_per_ticket} attachments")));
    }
    let field = loop {
        let field = multipart.next_field().await.map_err(bad_multipart)?;
        match field {
            Some(field) if field.name() == Some("file") => break field,
            // Other fields (a form's submit button, say) are skipped, not stored.
            Some(_) => continue,
            None => return Err(Error::invalid("file", "the multipart body has no `file` field")),
        }
    };
    let file_name = field.file_name().map(str::to_owned);
    let declared_type = field.content_type().map(str::to_owned);
    let limit = state.config.attachment_max_bytes;
    let received = receive::receive(field, limit, state.files.incoming.path()).await.map_err(|err| match err {
        ReceiveError::TooLarge { limit } => too_large(limit),
        ReceiveError::Body(message) => Error::BadRequest { code: "upload_interrupted", message },
        ReceiveError::Io(err) => Error::from(anyhow::Error::new(err).context("receiving an upload")),
    })?;
    let upload = Upload {
        ticket_id,
        uploaded_by: caller.id(),
        file_name: file_name.as_deref(),
        declared_type: declared_type.as_deref(),
        max_per_ticket,
    };
    intake::accept(&state.db, &state.files, upload, received).await
}

fn too_large(limit: u64) -> Error {
    Error::LimitExceeded(format!("the file is larger than the limit of {limit} bytes"))
}

fn bad_multipart(err: axum::extract::multipart::MultipartError) -> Error {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return Error::PayloadTooLarge;
    }
    Error::BadRequest { code: "invalid_multipart", message: err.body_text() }
}

/// Reads and drops what is left of the body, up to [`DRAIN_MAX`].
async fn drain(multipart: &mut Multipart) {
    let mut drained: u64 = 0;
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(chunk)) = field.chunk().await {
            drained += chunk.len() as u64;
            if drained > DRAIN_MAX {
                return;
            }
        }
    }
}

/// A ticket's attachments, with their scan state, size, type and hash.
#[utoipa::path(get, path = "/tickets/{id}/attachments", tag = "attachments",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["attachments.read"])),
    responses((status = 200, body = Vec<Attachment>), (status = 404, body = ApiError)))]
async fn list_attachments(
    State(state): State<AppState>,
    caller: Authorized<can::ReadAttachments>,
    AppPath(ticket_id): AppPath<Uuid>,
) -> Result<AppJson<Vec<Attachment>>> {
    visible_ticket(&state.db, &caller, ticket_id).await?;
    let policy = unscanned_policy(&state.db, &state.config).await?;
    let rows = store::list_for_ticket(&state.db, ticket_id).await?;
    Ok(AppJson(rows.into_iter().map(|row| row.into_api(policy)).collect()))
}

/// A live attachment on a ticket the caller may see, or 404.
async fn visible_attachment(state: &AppState, caller: &AuthUser, id: Uuid) -> Result<AttachmentRow> {
    let row = store::find(&state.db, id, false).await?.ok_or(Error::NotFound { what: "attachment" })?;
    visible_ticket(&state.db, caller, row.ticket_id).await.map_err(|_| Error::NotFound { what: "attachment" })?;
    Ok(row)
}

/// 409 unless the content may be served now.
async fn ensure_downloadable(state: &AppState, row: &AttachmentRow) -> Result<()> {
    let policy = unscanned_policy(&state.db, &state.config).await?;
    if row.downloadable(policy) {
        return Ok(());
    }
    Err(match row.scan_state() {
        ScanState::Infected => Error::conflict("attachment_quarantined", "malware was found in this file; it is quarantined"),
        ScanState::Unscanned => {
            Error::conflict("attachment_unscanned", "this file has not been scanned and unscanned files are blocked")
        }
        state => Error::conflict("attachment_not_scanned", format!("this file is not scanned clean yet (scan state {state})")),
    })
}

/// Download an attachment: only once it is scanned clean, always as a download, with range
/// support.
#[utoipa::path(get, path = "/attachments/{id}", tag = "attachments",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["attachments.read"])),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range"), (status = 404, body = ApiError),
        (status = 409, body = ApiError), (status = 416, description = "Range not satisfiable")))]
async fn download_attachment(
    State(state): State<AppState>,
    caller: Authorized<can::ReadAttachments>,
    AppPath(id): AppPath<Uuid>,
    headers: HeaderMap,
) -> Result<Response> {
    let row = visible_attachment(&state, &caller, id).await?;
    ensure_downloadable(&state, &row).await?;
    let size = row.size as u64;
    let range = match requested_range(&headers, size) {
        Ok(range) => range,
        Err(()) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            response.headers_mut().insert(header::CONTENT_RANGE, header_value(format!("bytes */{size}")));
            return Ok(response);
        }
    };
    let content = state.files.storage.read(&blob_key(&row.sha256), range.clone()).await?;
    let mut response = Response::new(Body::from_stream(content));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header_value(row.content_type.clone()));
    headers.insert(header::CONTENT_DISPOSITION, header_value(content_disposition(&row.file_name)));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::ETAG, header_value(format!("\"{}\"", row.sha256)));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    // Even if a browser were led to render it, the file could run nothing.
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    match range {
        Some(range) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(range.end - range.start));
            headers.insert(header::CONTENT_RANGE, header_value(format!("bytes {}-{}/{size}", range.start, range.end - 1)));
        }
        None => {
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        }
    }
    Ok(response)
}

/// The one byte range asked for (end exclusive); `None` for the whole file (no `Range`, a
/// multi-range request, which we answer whole as HTTP allows, or a stale `If-Range`);
/// `Err` when it cannot be satisfied.
fn requested_range(headers: &HeaderMap, size: u64) -> std::result::Result<Option<std::ops::Range<u64>>, ()> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    // The content of an attachment never changes (its ETag is its hash), so any If-Range
    // naming another ETag asks for a different file: send the whole one.
    if let Some(if_range) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok())
        && !if_range.starts_with('"')
    {
        return Ok(None);
    }
    let Ok(parsed) = http_range_header::parse_range_header(value) else {
        // A header we cannot parse is ignored (RFC 9110 14.2); an unsatisfiable one is not.
        return Ok(None);
    };
    if parsed.len() != 1 {
        return Ok(None);
    }
    match parsed.validate(size) {
        Ok(ranges) => Ok(ranges.first().map(|r| *r.start()..*r.end() + 1)),
        Err(_) => Err(()),
    }
}

/// `attachment` with an ASCII fallback name and the exact name in RFC 5987 form.
fn content_disposition(file_name: &str) -> String {
    let fallback: String = file_name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::new();
    for byte in file_name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

fn header_value(text: String) -> HeaderValue {
    // Every value built here is visible ASCII (names are sanitised and percent-encoded).
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// The thumbnail of an image attachment (PNG), once the image is clean.
#[utoipa::path(get, path = "/attachments/{id}/thumbnail", tag = "attachments",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["attachments.read"])),
    responses((status = 200, description = "PNG thumbnail", content_type = "image/png"), (status = 404, body = ApiError),
        (status = 409, body = ApiError)))]
async fn attachment_thumbnail(
    State(state): State<AppState>,
    caller: Authorized<can::ReadAttachments>,
    AppPath(id): AppPath<Uuid>,
) -> Result<Response> {
    let row = visible_attachment(&state, &caller, id).await?;
    ensure_downloadable(&state, &row).await?;
    if !row.has_thumbnail {
        return Err(Error::NotFound { what: "thumbnail" });
    }
    let png = state.files.storage.read_all(&thumbnail_key(&row.sha256)).await?;
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400")),
    ];
    Ok((headers, png).into_response())
}

/// Soft-delete an attachment: one's own, or any on a visible ticket for supervisors and admins.
#[utoipa::path(delete, path = "/attachments/{id}", tag = "attachments",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["attachments.delete"])),
    responses((status = 204), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn delete_attachment(
    State(state): State<AppState>,
    caller: Authorized<can::DeleteAttachments>,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode> {
    let row = visible_attachment(&state, &caller, id).await?;
    if row.uploaded_by != caller.id() {
        caller.require(Action::ModerateAttachments)?;
    }
    if !store::soft_delete(&state.db, id).await? {
        return Err(Error::NotFound { what: "attachment" });
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Restore a soft-deleted attachment (supervisors and admins).
#[utoipa::path(post, path = "/attachments/{id}/restore", tag = "attachments",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["attachments.moderate"])),
    responses((status = 200, body = Attachment), (status = 404, body = ApiError)))]
async fn restore_attachment(
    State(state): State<AppState>,
    caller: Authorized<can::ModerateAttachments>,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<Attachment>> {
    let row = store::find(&state.db, id, true).await?.ok_or(Error::NotFound { what: "attachment" })?;
    visible_ticket(&state.db, &caller, row.ticket_id).await.map_err(|_| Error::NotFound { what: "attachment" })?;
    if row.deleted_at.is_none() || !store::restore(&state.db, id).await? {
        return Err(Error::NotFound { what: "deleted attachment" });
    }
    let row = store::find(&state.db, id, false).await?.ok_or(Error::NotFound { what: "attachment" })?;
    let policy = unscanned_policy(&state.db, &state.config).await?;
    Ok(AppJson(row.into_api(policy)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_range(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn ranges() {
        assert_eq!(requested_range(&HeaderMap::new(), 100), Ok(None));
        assert_eq!(requested_range(&with_range("bytes=0-9"), 100), Ok(Some(0..10)));
        assert_eq!(requested_range(&with_range("bytes=90-"), 100), Ok(Some(90..100)));
        assert_eq!(requested_range(&with_range("bytes=-5"), 100), Ok(Some(95..100)));
        assert_eq!(requested_range(&with_range("bytes=50-1000"), 100), Ok(Some(50..100)));
        assert_eq!(requested_range(&with_range("bytes=100-"), 100), Err(()));
        assert_eq!(requested_range(&with_range("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(requested_range(&with_range("pages=1"), 100), Ok(None));
    }

    #[test]
    fn dispositions() {
        assert_eq!(content_disposition("report.pdf"), "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf");
        assert_eq!(
            content_disposition("résumé 1.txt"),
            "attachment; filename=\"r_sum_ 1.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%201.txt"
        );
    }
}
