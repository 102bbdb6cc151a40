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
use crate::files::sweep::UNSTORED_GRACE;
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

    let new = NewAttachment {
        ticket_id: upload.ticket_id,
        sha256: &received.sha256,
        file_name: &file_name,
        content_type: &accepted.content_type,
        declared_type: upload.declared_type,
        uploaded_by: upload.uploaded_by,
    };
    // Twice at most: the orphan sweep may delete a long-unreferenced row of this very content
    // between our looking and our insert (its foreign key then fails the insert); the second
    // time round the content is stored again.
    let mut attempts = 0;
    let inserted = loop {
        attempts += 1;
        store_content(db, files, &received, accepted.sniffed).await?;
        match store::insert_if_room(db, &new, upload.max_per_ticket).await {
            // A local store moved the received file into place: nothing left to store again.
            Err(Error::Validation { .. }) if attempts < 2 && received.path.exists() => continue,
            Err(Error::Validation { .. }) => {
                return Err(Error::conflict("upload_conflict", "the file's content was being cleaned up at that moment; upload it again"));
            }
            other => break other?,
        }
    };
    let row = inserted.ok_or_else(|| {
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

/// Makes sure the content has its row and its bytes in storage. The row is committed first, so
/// that a process killed anywhere in between leaves a row the orphan sweep removes (with its
/// bytes) once it is old enough, never bytes nothing knows of.
async fn store_content(db: &Db, files: &Files, received: &Received, sniffed: Option<&str>) -> Result<()> {
    let known = store::blob_state(db, &received.sha256).await?.is_some();
    if !known {
        let now = Utc::now();
        store::insert_blob(db, &received.sha256, received.size, sniffed, now, now + UNSTORED_GRACE).await?;
    }
    let key = blob_key(&received.sha256);
    // Known content may lack its bytes (a process killed between the row and the bytes); the
    // same hash means the same bytes, so storing them again is always right.
    if !known || !files.storage.exists(&key).await? {
        files.storage.put_file(&key, &received.path, received.size).await?;
        store::mark_stored(db, &received.sha256, Utc::now()).await?;
    }
    Ok(())
}
