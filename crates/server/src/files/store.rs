//! Attachment and blob rows.

use chrono::{DateTime, Utc};
use hdms_api_types::Role;
use hdms_api_types::files::{Attachment, ImageInfo, ScanState, UnscannedPolicy};
use hdms_api_types::tickets::PersonSummary;
use uuid::Uuid;

use crate::comms::notifications::{self, Kind, Notice};
use crate::db::{Db, Tx};
use crate::error::Result;
use crate::{with_db, with_tx};

/// An attachment with what is known of its content.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttachmentRow {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub sha256: String,
    pub file_name: String,
    pub content_type: String,
    pub uploaded_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub size: i64,
    pub scan_state: String,
    pub scan_signature: Option<String>,
    pub image_width: Option<i32>,
    pub image_height: Option<i32>,
    pub has_thumbnail: bool,
    /// The uploader's name and email (absent if the user row is gone).
    pub uploader_name: Option<String>,
    pub uploader_email: Option<String>,
}

/// Attachments with their content's facts and their uploaders' names, in one query.
macro_rules! attachment_select {
    () => {
        "SELECT a.id, a.ticket_id, a.sha256, a.file_name, a.content_type, a.uploaded_by, a.created_at, \
         a.deleted_at, b.size, b.scan_state, b.scan_signature, b.image_width, b.image_height, b.has_thumbnail, \
         u.name AS uploader_name, u.email AS uploader_email \
         FROM attachments a JOIN attachment_blobs b ON b.sha256 = a.sha256 LEFT JOIN users u ON u.id = a.uploaded_by "
    };
}

impl AttachmentRow {
    pub fn scan_state(&self) -> ScanState {
        // The column's CHECK constraint admits only the five states.
        ScanState::parse(&self.scan_state).unwrap_or(ScanState::Pending)
    }

    /// Whether the content may be served: clean, or unscanned while the policy allows it.
    /// Infected content never is.
    pub fn downloadable(&self, policy: UnscannedPolicy) -> bool {
        match self.scan_state() {
            ScanState::Clean => true,
            ScanState::Unscanned => policy == UnscannedPolicy::Allow,
            ScanState::Pending | ScanState::Infected | ScanState::ScanFailed => false,
        }
    }

    pub fn into_api(self, policy: UnscannedPolicy) -> Attachment {
        let downloadable = self.downloadable(policy);
        let image = match (self.image_width, self.image_height) {
            (Some(width), Some(height)) => {
                Some(ImageInfo { width: width as u32, height: height as u32, thumbnail: self.has_thumbnail })
            }
            _ => None,
        };
        let scan_state = self.scan_state();
        let uploaded_by_user = match (self.uploader_name, self.uploader_email) {
            (Some(name), Some(email)) => Some(PersonSummary { id: self.uploaded_by, name, email }),
            _ => None,
        };
        Attachment {
            id: self.id,
            ticket_id: self.ticket_id,
            scan_state,
            file_name: self.file_name,
            content_type: self.content_type,
            size: self.size as u64,
            sha256: self.sha256,
            scan_signature: self.scan_signature,
            image,
            downloadable,
            uploaded_by: self.uploaded_by,
            uploaded_by_user,
            created_at: self.created_at,
            deleted_at: self.deleted_at,
        }
    }
}

pub async fn find(db: &Db, id: Uuid, include_deleted: bool) -> Result<Option<AttachmentRow>> {
    const SQL: &str = concat!(attachment_select!(), "WHERE a.id = $1 AND ($2 OR a.deleted_at IS NULL)");
    Ok(with_db!(db, pool => sqlx::query_as(SQL).bind(id).bind(include_deleted).fetch_optional(pool).await?))
}

/// A ticket's live attachments, oldest first.
pub async fn list_for_ticket(db: &Db, ticket_id: Uuid) -> Result<Vec<AttachmentRow>> {
    const SQL: &str =
        concat!(attachment_select!(), "WHERE a.ticket_id = $1 AND a.deleted_at IS NULL ORDER BY a.created_at, a.id");
    Ok(with_db!(db, pool => sqlx::query_as(SQL).bind(ticket_id).fetch_all(pool).await?))
}

pub async fn count_live(db: &Db, ticket_id: Uuid) -> Result<i64> {
    const SQL: &str = "SELECT count(*) FROM attachments WHERE ticket_id = $1 AND deleted_at IS NULL";
    Ok(with_db!(db, pool => sqlx::query_scalar(SQL).bind(ticket_id).fetch_one(pool).await?))
}

/// The scan state of stored content, if that content is known.
pub async fn blob_state(db: &Db, sha256: &str) -> Result<Option<(ScanState, Option<String>)>> {
    const SQL: &str = "SELECT scan_state, scan_signature FROM attachment_blobs WHERE sha256 = $1";
    let row: Option<(String, Option<String>)> =
        with_db!(db, pool => sqlx::query_as(SQL).bind(sha256).fetch_optional(pool).await?);
    Ok(row.map(|(state, signature)| (ScanState::parse(&state).unwrap_or(ScanState::Pending), signature)))
}

/// Records content about to be stored as waiting for its scan, before its bytes are stored, so
/// that a process killed before the attachment commits leaves a row the orphan sweep finds
/// (see `files::sweep`). The worker leaves it alone until [`mark_stored`] or `not_before`.
/// Content already known is left as it is (two uploads of the same bytes may race here).
pub async fn insert_blob(db: &Db, sha256: &str, size: u64, sniffed_type: Option<&str>, now: DateTime<Utc>, not_before: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "INSERT INTO attachment_blobs (sha256, size, sniffed_type, scan_state, next_work_at, created_at) \
                       VALUES ($1, $2, $3, 'pending', $4, $5) ON CONFLICT (sha256) DO NOTHING";
    crate::with_db_writing!(db, pool => sqlx::query(SQL).bind(sha256).bind(size as i64).bind(sniffed_type).bind(not_before).bind(now).execute(pool).await?.rows_affected());
    Ok(())
}

/// The content's bytes are in storage: the worker may scan it now.
pub async fn mark_stored(db: &Db, sha256: &str, now: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "UPDATE attachment_blobs SET next_work_at = $2 WHERE sha256 = $1 AND scan_state = 'pending' AND next_work_at > $2";
    crate::with_db_writing!(db, pool => sqlx::query(SQL).bind(sha256).bind(now).execute(pool).await?.rows_affected());
    Ok(())
}

/// Content recorded before `cutoff` that nothing refers to: no attachment (deleted ones
/// included) and no raw mail. What an upload killed between storing and committing leaves.
pub async fn unreferenced_blobs(db: &Db, cutoff: DateTime<Utc>, limit: i64) -> Result<Vec<String>> {
    const SQL: &str = "SELECT b.sha256 FROM attachment_blobs b WHERE b.created_at < $1 \
        AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.sha256 = b.sha256) \
        AND NOT EXISTS (SELECT 1 FROM mail_messages m WHERE m.raw_sha256 = b.sha256) \
        AND NOT EXISTS (SELECT 1 FROM mail_failures f WHERE f.raw_sha256 = b.sha256) \
        ORDER BY b.created_at LIMIT $2";
    Ok(with_db!(db, pool => sqlx::query_scalar(SQL).bind(cutoff).bind(limit).fetch_all(pool).await?))
}

/// Deletes the row of unreferenced content inside `tx`, re-checking that nothing refers to it;
/// whether it did. An attachment being added to it meanwhile holds the row (its foreign key), so
/// that insert and this delete cannot both succeed.
pub async fn delete_unreferenced_blob(tx: &mut Tx, sha256: &str, cutoff: DateTime<Utc>) -> Result<bool> {
    const SQL: &str = "DELETE FROM attachment_blobs WHERE sha256 = $1 AND created_at < $2 \
        AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.sha256 = $1) \
        AND NOT EXISTS (SELECT 1 FROM mail_messages m WHERE m.raw_sha256 = $1) \
        AND NOT EXISTS (SELECT 1 FROM mail_failures f WHERE f.raw_sha256 = $1)";
    let deleted = with_tx!(tx, conn => sqlx::query(SQL).bind(sha256).bind(cutoff).execute(&mut *conn).await?.rows_affected());
    Ok(deleted == 1)
}

pub struct NewAttachment<'a> {
    pub ticket_id: Uuid,
    pub sha256: &'a str,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub declared_type: Option<&'a str>,
    pub uploaded_by: Uuid,
}

/// Adds the attachment unless the ticket already has `max_per_ticket` live ones (checked in
/// the same statement); `None` when it is full.
pub async fn insert_if_room(db: &Db, new: &NewAttachment<'_>, max_per_ticket: u32) -> Result<Option<AttachmentRow>> {
    const SQL: &str = "INSERT INTO attachments \
                       (id, ticket_id, sha256, file_name, content_type, declared_type, uploaded_by, created_at) \
                       SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
                       WHERE (SELECT count(*) FROM attachments WHERE ticket_id = $2 AND deleted_at IS NULL) < $9";
    let id = Uuid::now_v7();
    let inserted = crate::with_db_writing!(db, pool => sqlx::query(SQL)
        .bind(id)
        .bind(new.ticket_id)
        .bind(new.sha256)
        .bind(new.file_name)
        .bind(new.content_type)
        .bind(new.declared_type)
        .bind(new.uploaded_by)
        .bind(Utc::now())
        .bind(i64::from(max_per_ticket))
        .execute(pool)
        .await?
        .rows_affected());
    if inserted == 0 {
        return Ok(None);
    }
    find(db, id, false).await
}

pub async fn soft_delete(db: &Db, id: Uuid) -> Result<bool> {
    const SQL: &str = "UPDATE attachments SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL";
    let affected = crate::with_db_writing!(db, pool => sqlx::query(SQL).bind(Utc::now()).bind(id).execute(pool).await?.rows_affected());
    Ok(affected > 0)
}

pub async fn restore(db: &Db, id: Uuid) -> Result<bool> {
    const SQL: &str = "UPDATE attachments SET deleted_at = NULL WHERE id = $1 AND deleted_at IS NOT NULL";
    let affected = crate::with_db_writing!(db, pool => sqlx::query(SQL).bind(id).execute(pool).await?.rows_affected());
    Ok(affected > 0)
}

/// Tells the uploaders of live attachments with this content (or only of `only_attachment`),
/// and every admin, that it was found infected, inside the transaction that records why.
pub async fn notify_infected(tx: &mut Tx, sha256: &str, signature: &str, only_attachment: Option<Uuid>) -> Result<()> {
    const ATTACHMENTS: &str = "SELECT id, ticket_id, file_name, uploaded_by FROM attachments \
                               WHERE sha256 = $1 AND deleted_at IS NULL AND ($2 IS NULL OR id = $2)";
    let attachments: Vec<(Uuid, Uuid, String, Uuid)> = with_tx!(tx, conn => sqlx::query_as(ATTACHMENTS)
        .bind(sha256)
        .bind(only_attachment)
        .fetch_all(&mut *conn)
        .await?);
    if attachments.is_empty() {
        return Ok(());
    }
    let admins = notifications::users_with_role(tx, Role::Admin, None).await?;
    let now = Utc::now();
    for (attachment_id, ticket_id, file_name, uploader) in attachments {
        let mut recipients = admins.clone();
        if !recipients.contains(&uploader) {
            recipients.push(uploader);
        }
        let title = format!("Malware found in {file_name}");
        let body = format!(
            "The attachment {file_name} ({attachment_id}) contains {signature}. It is quarantined and cannot be downloaded."
        );
        let notice = Notice { kind: Kind::AttachmentInfected, ticket_id: Some(ticket_id), title: &title, body: &body };
        notifications::notify(tx, &recipients, &notice, now).await?;
    }
    Ok(())
}
