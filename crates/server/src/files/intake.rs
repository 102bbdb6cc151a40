//! Turning a received upload into an attachment: name and type checks, storing the content once
//! per hash, and recording the attachment within the ticket's limit.

use chrono::Utc;
use hdms_api_types::files::ScanState;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::files::receive::Received;
use crate::files::storage::blob_key;
use crate::files::store::{self, AttachmentRow, NewAttachment};
use crate::files::types::{self, TypeRejection};
use crate::files::{Files, names};
use crate::db::Db;

pub struct Upload<'a> {
    pub ticket_id: Uuid,
    pub uploaded_by: Uuid,
    /// The name the client gave, unsanitised.
    pub file_name: Option<&'a str>,
    pub declared_type: Option<&'a str>,
    pub max_per_ticket: u32,
}

/// Checks and stores a received file. Nothing is stored when a check fails; the temporary
/// file goes with `received` whatever happens.
pub async fn accept(db: &Db, files: &Files, upload: Upload<'_>, received: Received) -> Result<AttachmentRow> {
    let file_name = upload
        .file_name
        .and_then(names::sanitize)
        .ok_or_else(|| Error::invalid("file", "the file needs a name (the filename of the multipart field)"))?;
    let accepted = types::check(&received.head, &file_name, upload.declared_type, &files.blocked).map_err(|rejection| match rejection {
        TypeRejection::Blocked { what } => Error::invalid("file", format!("{what} cannot be attached")),
        TypeRejection::Mismatch { message } => Error::invalid("file", message),
    })?;

    if store::blob_state(db, &received.sha256).await?.is_none() {
        let key = blob_key(&received.sha256);
        // The bytes may be in storage without their row (a crash between the two, or another
        // instance storing the same content right now): same hash, same bytes, so keep them.
        if !files.storage.exists(&key).await? {
            files.storage.put_file(&key, &received.path, received.size).await?;
        }
        store::insert_blob(db, &received.sha256, received.size, accepted.sniffed, Utc::now()).await?;
    }

    let new = NewAttachment {
        ticket_id: upload.ticket_id,
        sha256: &received.sha256,
        file_name: &file_name,
        content_type: &accepted.content_type,
        declared_type: upload.declared_type,
        uploaded_by: upload.uploaded_by,
    };
    let row = store::insert_if_room(db, &new, upload.max_per_ticket).await?.ok_or_else(|| {
        Error::LimitExceeded(format!("a ticket can have at most {} attachments", upload.max_per_ticket))
    })?;
    match row.scan_state() {
        // Known-bad content uploaded again: quarantined at once, and said so.
        ScanState::Infected => {
            let signature = row.scan_signature.clone().unwrap_or_default();
            let mut tx = db.begin().await?;
            store::notify_infected(&mut tx, &row.sha256, &signature, Some(row.id)).await?;
            tx.commit().await?;
        }
        ScanState::Pending => files.wake.notify_one(),
        ScanState::Clean | ScanState::ScanFailed | ScanState::Unscanned => {}
    }
    Ok(row)
}
