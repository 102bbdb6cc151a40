//! Merging a ticket into another (the survivor): its conversation, attachments, watchers, tags
//! and sub-tickets move over, and it closes with `merged_into_id` set. Both record it.
//!
//! Tickets of two different requesters can be merged (the same outage reported twice), but
//! neither customer may see the other's conversation or files: the merged ticket's public
//! replies become internal notes on the survivor, its attachments stay on it, and customers
//! who watched it are not made watchers of a ticket they cannot see.

use axum::extract::State;
use chrono::{DateTime, Utc};
use hdms_api_types::ApiError;
use hdms_api_types::tickets::{MergeRequest, MergeResult, Status};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::comms::hub::{self, Signal};
use crate::db::{Db, Tx};
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::tickets::store::{self, Change, TicketRow};
use crate::tickets::visibility::visible_ticket;
use crate::tickets::{api, comments, lifecycle, transitions};
use crate::users::auth::AuthUser;
use crate::with_tx;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(merge))
}

/// A ticket named in a request body that the caller may not see reads as absent, naming the field.
pub async fn referenced_ticket(db: &Db, caller: &AuthUser, id: Uuid, field: &str) -> Result<TicketRow> {
    visible_ticket(db, caller, id).await.map_err(|e| match e {
        Error::NotFound { .. } => Error::invalid(field, "no such ticket"),
        other => other,
    })
}

/// Whether `ancestor` is `ticket`'s parent, grandparent, …
async fn descends_from(tx: &mut Tx, ticket: &TicketRow, ancestor: Uuid) -> Result<bool> {
    const SQL: &str = "SELECT parent_id FROM tickets WHERE id = $1";
    let mut next = ticket.parent_id;
    // Parent chains are short; the bound only guards against a cycle someone wrote by hand.
    for _ in 0..64 {
        let Some(id) = next else { return Ok(false) };
        if id == ancestor {
            return Ok(true);
        }
        next = with_tx!(tx, conn => sqlx::query_scalar::<_, Option<Uuid>>(SQL).bind(id).fetch_optional(&mut *conn).await?).flatten();
    }
    Ok(false)
}

/// Numbers the merged ticket's comments after the survivor's, in their order, so that the
/// survivor's conversation stays one sequence (followers fetch "after the last one seen").
/// Gives the merged ticket's comments the next places in the survivor's room, in their order,
/// and signals each live one to the survivor's room. Returns the live ones.
async fn renumber_comments(tx: &mut Tx, from: Uuid, to: Uuid) -> Result<Vec<Uuid>> {
    const IDS: &str = "SELECT id, deleted_at IS NULL FROM comments WHERE ticket_id = $1 ORDER BY room_seq, id";
    const NEXT: &str = "UPDATE tickets SET room_seq = room_seq + 1 WHERE id = $1 RETURNING room_seq";
    const SET: &str = "UPDATE comments SET room_seq = $1 WHERE id = $2";
    let comments: Vec<(Uuid, bool)> = with_tx!(tx, conn => sqlx::query_as(IDS).bind(from).fetch_all(&mut *conn).await?);
    let mut live = Vec::new();
    for (id, is_live) in comments {
        with_tx!(tx, conn => {
            let seq: i64 = sqlx::query_scalar(NEXT).bind(to).fetch_one(&mut *conn).await?;
            sqlx::query(SET).bind(seq).bind(id).execute(&mut *conn).await?.rows_affected()
        });
        if is_live {
            hub::signal(tx, &Signal::Comment { comment_id: id }).await?;
            live.push(id);
        }
    }
    Ok(live)
}

/// Why `source` cannot be merged into `target`, if it cannot.
fn refusal(source: &TicketRow, target: &TicketRow) -> Option<Error> {
    let number = |t: &TicketRow| store::display_number(t.number);
    if source.merged_into_id.is_some() {
        return Some(Error::invalid("id", format!("{} is already merged into another ticket", number(source))));
    }
    if source.status.is_final() {
        return Some(Error::invalid("id", format!("{} is {}; only open tickets can be merged", number(source), source.status)));
    }
    if target.merged_into_id.is_some() {
        return Some(Error::invalid("into", format!("{} was merged into another ticket; merge into that one", number(target))));
    }
    if target.status.is_final() {
        return Some(Error::invalid("into", format!("{} is {}; merge into a ticket that is still open", number(target), target.status)));
    }
    if !lifecycle::system_may(source.status, Status::Closed) {
        return Some(Error::invalid("id", format!("a {} ticket cannot be merged", source.status)));
    }
    None
}

/// The counts a merge reports.
#[derive(Default)]
struct Moved {
    comments: i64,
    /// The live comments moved, to announce in the survivor's room.
    comment_ids: Vec<Uuid>,
    made_internal: i64,
    attachments: i64,
    attachments_left: i64,
    watchers: i64,
    subtickets: i64,
}

async fn move_everything(tx: &mut Tx, caller: &AuthUser, source: &TicketRow, target: &TicketRow, now: DateTime<Utc>) -> Result<Moved> {
    let mut moved = Moved::default();
    let same_requester = source.requester_id == target.requester_id;
    let (from, to) = (source.id, target.id);

    // The conversation and its search documents; public replies become internal notes when
    // the survivor belongs to someone else.
    moved.made_internal = if same_requester {
        0
    } else {
        const SQL: &str = "SELECT COUNT(*) FROM comments WHERE ticket_id = $1 AND NOT internal AND deleted_at IS NULL";
        with_tx!(tx, conn => sqlx::query_scalar(SQL).bind(from).fetch_one(&mut *conn).await?)
    };
    moved.comment_ids = renumber_comments(tx, from, to).await?;
    // Comments made visible to another requester become internal notes, in search too.
    let comments_sql = if same_requester {
        "UPDATE comments SET ticket_id = $1 WHERE ticket_id = $2"
    } else {
        "UPDATE comments SET ticket_id = $1, internal = TRUE WHERE ticket_id = $2"
    };
    moved.comments = with_tx!(tx, conn => sqlx::query(comments_sql).bind(to).bind(from).execute(&mut *conn).await?.rows_affected()) as i64;
    match tx {
        Tx::Sqlite(tx, _) => {
            // The owner token finds the documents through the FTS index (0009), and moves too.
            const KEEP: &str = "UPDATE search_docs SET ticket_id = $1, owner = $2 \
                WHERE rowid IN (SELECT rowid FROM search_docs WHERE search_docs MATCH $3) AND ticket_id = $4 AND comment_id IS NOT NULL";
            const HIDE: &str = "UPDATE search_docs SET ticket_id = $1, owner = $2, internal = TRUE \
                WHERE rowid IN (SELECT rowid FROM search_docs WHERE search_docs MATCH $3) AND ticket_id = $4 AND comment_id IS NOT NULL";
            sqlx::query(if same_requester { KEEP } else { HIDE })
                .bind(to).bind(store::owner_token(to)).bind(store::owner_match(from)).bind(from)
                .execute(&mut **tx).await?;
        }
        Tx::Postgres(tx, _) => {
            const KEEP: &str = "UPDATE search_docs SET ticket_id = $1 WHERE ticket_id = $2 AND comment_id IS NOT NULL";
            const HIDE: &str = "UPDATE search_docs SET ticket_id = $1, internal = TRUE WHERE ticket_id = $2 AND comment_id IS NOT NULL";
            sqlx::query(if same_requester { KEEP } else { HIDE }).bind(to).bind(from).execute(&mut **tx).await?;
        }
    }

    // Files follow only to the same requester's ticket; otherwise they stay, and are counted.
    const MOVE: &str = "UPDATE attachments SET ticket_id = $1 WHERE ticket_id = $2 AND deleted_at IS NULL";
    const COUNT: &str = "SELECT COUNT(*) FROM attachments WHERE ticket_id = $1 AND deleted_at IS NULL";
    if same_requester {
        moved.attachments = with_tx!(tx, conn => sqlx::query(MOVE).bind(to).bind(from).execute(&mut *conn).await?.rows_affected()) as i64;
    } else {
        moved.attachments_left = with_tx!(tx, conn => sqlx::query_scalar(COUNT).bind(from).fetch_one(&mut *conn).await?);
    }

    // Watchers who may see the survivor: staff, and its own requester.
    const WATCH: &str = "INSERT INTO ticket_watchers (ticket_id, user_id) \
        SELECT $1, w.user_id FROM ticket_watchers w JOIN users u ON u.id = w.user_id \
        WHERE w.ticket_id = $2 AND (u.role <> 'customer' OR u.id = $3) \
        AND NOT EXISTS (SELECT 1 FROM ticket_watchers x WHERE x.ticket_id = $1 AND x.user_id = w.user_id)";
    const UNWATCH: &str = "DELETE FROM ticket_watchers WHERE ticket_id = $1 \
        AND user_id IN (SELECT user_id FROM ticket_watchers WHERE ticket_id = $2)";
    moved.watchers = with_tx!(tx, conn => {
        let added = sqlx::query(WATCH).bind(to).bind(from).bind(target.requester_id).execute(&mut *conn).await?.rows_affected();
        sqlx::query(UNWATCH).bind(from).bind(to).execute(&mut *conn).await?;
        added
    }) as i64;

    // Tags: the survivor keeps its own and gains the merged ticket's.
    let source_tags = store::tags_in(tx, from).await?;
    let target_tags = store::tags_in(tx, to).await?;
    let mut union = target_tags.clone();
    union.extend(source_tags);
    union.sort();
    union.dedup();
    store::set_tags(tx, to, &target_tags, &union, Some(caller.id()), now).await?;

    // Sub-tickets change parent, each recording it.
    const CHILDREN: &str = "SELECT id FROM tickets WHERE parent_id = $1 ORDER BY id";
    let children: Vec<Uuid> = with_tx!(tx, conn => sqlx::query_scalar(CHILDREN).bind(from).fetch_all(&mut *conn).await?);
    for child in children {
        let Some(before) = store::find_in(tx, child).await? else { continue };
        let mut after = before.clone();
        after.parent_id = Some(to);
        store::save(tx, &before, after, Some(caller.id()), now).await?;
        moved.subtickets += 1;
    }

    // Approvals the merged ticket was waiting for are no longer needed.
    const WITHDRAW: &str = "UPDATE approvals SET state = 'withdrawn', decided_at = $1 WHERE ticket_id = $2 AND state = 'pending'";
    with_tx!(tx, conn => sqlx::query(WITHDRAW).bind(now).bind(from).execute(&mut *conn).await?.rows_affected());
    Ok(moved)
}

/// Merge this ticket into another (`into`, the survivor). Its replies and notes, attachments,
/// watchers, tags and sub-tickets move to the survivor; it closes with `merged_into_id` set;
/// both tickets' history records the merge. When the requesters differ, the moved public
/// replies become internal notes and the attachments stay behind, so neither customer sees the
/// other's. Merging into itself, a merged, closed or cancelled ticket, one of its own
/// sub-tickets, or a ticket you cannot see answers 422.
#[utoipa::path(post, path = "/tickets/{id}/merge", tag = "tickets",
    params(("id" = Uuid, Path)),
    request_body = MergeRequest,
    security(("bearer" = ["tickets.update"])),
    responses((status = 200, body = MergeResult), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn merge(
    State(state): State<AppState>,
    caller: Authorized<can::UpdateTickets>,
    AppPath(id): AppPath<Uuid>,
    AppJson(request): AppJson<MergeRequest>,
) -> Result<AppJson<MergeResult>> {
    Ok(AppJson(merge_at(&state, &caller, id, request, Utc::now()).await?))
}

/// The merge as of `now` (tests build a history at chosen instants with it).
pub async fn merge_at(state: &AppState, caller: &AuthUser, id: Uuid, request: MergeRequest, now: DateTime<Utc>) -> Result<MergeResult> {
    visible_ticket(&state.db, caller, id).await?;
    if request.into == id {
        return Err(Error::invalid("into", "a ticket cannot be merged into itself"));
    }
    referenced_ticket(&state.db, caller, request.into, "into").await?;
    let mut tx = state.db.begin().await?;
    let source = store::load_for_write(&mut tx, id, request.version).await?;
    let target = store::find_in(&mut tx, request.into).await?.filter(|t| t.deleted_at.is_none());
    let target = target.ok_or_else(|| Error::invalid("into", "no such ticket"))?;
    if let Some(error) = refusal(&source, &target) {
        return Err(error);
    }
    if descends_from(&mut tx, &target, source.id).await? {
        return Err(Error::invalid("into", "a ticket cannot be merged into one of its own sub-tickets"));
    }

    let moved = move_everything(&mut tx, caller, &source, &target, now).await?;

    // The survivor records the merge, and keeps the merged request's words as an internal note
    // (its subject and description are searchable there too).
    let note = format!(
        "Merged {} into this ticket: {}\n\n{}",
        store::display_number(source.number),
        source.subject,
        source.description
    );
    let note: String = note.chars().take(comments::MAX_BODY_BYTES / 4).collect();
    let (_, mut survivor) = comments::add(&mut tx, state, caller, &target, &note, true, now).await?;
    let merged_change = Change { field: "merged", before: None, after: Some(store::display_number(source.number)), internal: false };
    store::record(&mut tx, target.id, Some(caller.id()), now, merged_change).await?;
    survivor = store::find_in(&mut tx, survivor.id).await?.unwrap_or(survivor);

    // The merged ticket points at the survivor and closes (a system move of the lifecycle).
    let mut pointed = source.clone();
    pointed.merged_into_id = Some(target.id);
    let pointed = store::save(&mut tx, &source, pointed, Some(caller.id()), now).await?;
    let merged = transitions::move_to(&mut tx, state, &pointed, Status::Closed, Some(caller.id()), now).await?;
    crate::events::commit(tx, state).await?;
    // The moved comments come before the merge note in the survivor's room: announced first.
    state.hub.announce_moved(&moved.comment_ids).await?;
    state.hub.ring();

    Ok(MergeResult {
        merged: api::ticket(&state.db, merged).await?,
        survivor: api::ticket(&state.db, survivor).await?,
        comments_moved: moved.comments,
        comments_made_internal: moved.made_internal,
        attachments_moved: moved.attachments,
        attachments_left: moved.attachments_left,
        watchers_moved: moved.watchers,
        subtickets_moved: moved.subtickets,
    })
}
