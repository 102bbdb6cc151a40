//! The one way mail comes in (IMAP polling and `hdms mailgate` both end here): keep the raw
//! message, parse it, skip it when its Message-ID was taken in before, then
//!
//! - a bounce marks the failed addresses and notes it on the ticket of the message that bounced;
//! - else it is threaded onto a ticket: `[HD-1042]` in the subject when the sender is one of
//!   that ticket's people; else `In-Reply-To`/`References` against every Message-ID hdms sent
//!   or received for a ticket; a subject match alone from anyone else raises a new ticket linked
//!   to it; anything else raises a new ticket;
//! - its text without quoted history becomes the comment (or description), its files and inline
//!   images attachments through the upload pipeline (type checks, limits, clamd);
//! - machine mail is kept but never raises a ticket, never reopens one and never starts an
//!   exchange.
//!
//! What cannot be taken in is kept in `mail_failures` with the reason, for an admin to retry;
//! it never stops the mail after it.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hdms_api_types::mail::{InboundResult, MailDisposition};
use hdms_api_types::tickets::{CreateTicket, Status};
use hdms_api_types::Role;
use uuid::Uuid;

use crate::comms::mail::parse::{self, Inbound, Part};
use crate::comms::mail::store::{self, NewMessage, Policy, UnknownSenders};
use crate::comms::mail::{outbound, quotes};
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::files::intake::{self, Upload};
use crate::files::receive::{self, ReceiveError};
use crate::state::AppState;
use crate::tickets::store::{self as tickets, Change, TicketRow};
use crate::tickets::visibility::{teams_of, user_may_see};
use crate::tickets::{comments, crud, transitions};
use crate::users::auth::AuthUser;
use crate::users::store::{UserRow, user_columns};
use crate::{with_db, with_tx};

/// What a new ticket is called when its mail has no subject.
const NO_SUBJECT: &str = "(no subject)";
/// What a comment says when its mail has no text, only files.
const NO_TEXT: &str = "(no text; see the attachments)";
/// Longest subject kept (the ticket's limit).
const MAX_SUBJECT_CHARS: usize = 300;
/// How many merges are followed from a ticket to the one that absorbed it.
const MAX_MERGE_HOPS: usize = 10;

/// Takes one raw message in. A problem with the message itself (unparsable, no sender) is
/// recorded in the failed mail list and answered as `failed`; only trouble on our side (the
/// database, the content store) is an error, so that the caller retries later.
pub async fn ingest(state: &AppState, raw: Bytes, policy: &Policy) -> Result<InboundResult> {
    let now = Utc::now();
    let sha256 = store::keep_raw(state, &raw).await?;
    match take_in(state, &raw, &sha256, policy, now).await? {
        Taken::Done(result) => Ok(result),
        Taken::Failed(reason) => kept_as_failed(state, policy, &sha256, raw.len() as u64, reason, now).await,
    }
}

/// [`ingest`], unless the message is larger than `HDMS_MAIL_MAX_BYTES`: then it is kept in the
/// failed mail list with that reason (an admin can raise the limit and retry it).
pub async fn ingest_sized(state: &AppState, raw: Bytes, policy: &Policy) -> Result<InboundResult> {
    let size = raw.len() as u64;
    if let Some(reason) = too_large(state, size) {
        let sha256 = store::keep_raw(state, &raw).await?;
        return kept_as_failed(state, policy, &sha256, size, reason, Utc::now()).await;
    }
    ingest(state, raw, policy).await
}

/// A message over the limit that was streamed to a temporary file: kept in the content store
/// and the failed mail list, never read into memory.
pub async fn too_large_received(state: &AppState, received: receive::Received, policy: &Policy) -> Result<InboundResult> {
    let key = crate::files::storage::blob_key(&received.sha256);
    if !state.files.storage.exists(&key).await? {
        state.files.storage.put_file(&key, &received.path, received.size).await?;
    }
    let reason = too_large(state, received.size).unwrap_or_else(|| "larger than the limit".to_owned());
    kept_as_failed(state, policy, &received.sha256, received.size, reason, Utc::now()).await
}

/// Why a message of `size` bytes is not taken in, if it is too large.
pub fn too_large(state: &AppState, size: u64) -> Option<String> {
    let limit = state.config.mail_max_bytes as u64;
    (size > limit).then(|| format!("the message ({size} bytes) is larger than the limit of {limit} bytes (HDMS_MAIL_MAX_BYTES)"))
}

/// Records a message that cannot be taken in, with the reason, in the failed mail list.
async fn kept_as_failed(state: &AppState, policy: &Policy, sha256: &str, size: u64, reason: String, now: DateTime<Utc>) -> Result<InboundResult> {
    tracing::warn!(mailbox = %policy.name, raw_sha256 = %sha256, reason = %reason, "mail could not be taken in; kept in the failed mail list");
    let failure_id = store::record_failure(&state.db, policy.mailbox_id, sha256, size, &reason, now).await?;
    Ok(InboundResult { failure_id: Some(failure_id), ..result(MailDisposition::Failed, None, Some(reason)) })
}

/// Takes a failed message in again; the failure is marked `retried` when it goes in.
pub async fn retry(state: &AppState, failure_id: Uuid) -> Result<InboundResult> {
    let (sha256, mailbox_id) = store::failure(&state.db, failure_id).await?;
    let policy = match mailbox_id {
        Some(id) => store::policy_by_id(&state.db, id).await?.unwrap_or_else(Policy::mailgate_default),
        None => Policy::mailgate_default(),
    };
    let raw = store::read_raw(state, &sha256).await?;
    let now = Utc::now();
    // A message kept for its size goes in once the limit has been raised.
    let taken = match too_large(state, raw.len() as u64) {
        Some(reason) => Taken::Failed(reason),
        None => take_in(state, &raw, &sha256, &policy, now).await?,
    };
    match taken {
        Taken::Done(result) => {
            store::update_failure(&state.db, failure_id, None, now).await?;
            Ok(result)
        }
        Taken::Failed(reason) => {
            store::update_failure(&state.db, failure_id, Some(&reason), now).await?;
            Ok(InboundResult { failure_id: Some(failure_id), ..result(MailDisposition::Failed, None, Some(reason)) })
        }
    }
}

enum Taken {
    Done(InboundResult),
    /// Something about the message itself; the reason goes in the failed mail list.
    Failed(String),
}

fn result(disposition: MailDisposition, message_id: Option<&str>, reason: Option<String>) -> InboundResult {
    InboundResult {
        disposition,
        message_id: message_id.map(str::to_owned),
        ticket_id: None,
        ticket_number: None,
        comment_id: None,
        automatic: None,
        reason,
        failure_id: None,
    }
}

async fn take_in(state: &AppState, raw: &[u8], sha256: &str, policy: &Policy, now: DateTime<Utc>) -> Result<Taken> {
    let Some(mail) = parse::parse(raw, sha256, &state.config.mail_domain) else {
        return Ok(Taken::Failed("not a mail message: no header could be read".to_owned()));
    };
    if let Some(known) = store::find_by_message_id(&state.db, &mail.message_id).await? {
        return Ok(Taken::Done(duplicate(state, &mail.message_id, known.ticket_id).await?));
    }
    if let Some(bounce) = &mail.bounce {
        return bounced(state, &mail, bounce, sha256, policy, now).await.map(Taken::Done);
    }
    let Some(sender) = mail.from.clone() else {
        return Ok(Taken::Failed("the message names no sender (From) address".to_owned()));
    };
    let user = match user_by_email(state, &sender.address).await? {
        Some(user) => Some(user),
        None if mail.automatic.is_some() => None,
        None => match policy.unknown_senders {
            UnknownSenders::Create => Some(new_customer(state, &sender).await?),
            UnknownSenders::Refuse | UnknownSenders::Drop => None,
        },
    };
    let target = thread(state, &mail, user.as_ref()).await?;
    let Some(user) = user else {
        let reason = match mail.automatic {
            Some(_) => None,
            None => Some(format!("{} is not a user and mailbox {} admits no unknown senders", sender.address, policy.name)),
        };
        let disposition = if reason.is_some() { MailDisposition::Dropped } else { MailDisposition::Stored };
        let ticket_id = match target {
            Target::Append(ticket) | Target::New { related: Some(ticket) } => Some(ticket.id),
            Target::New { related: None } => None,
        };
        return keep_only(state, &mail, sha256, policy, ticket_id, disposition, reason, now).await.map(Taken::Done);
    };
    // Mail from an address shows it works again.
    store::clear_failing(&state.db, &sender.address).await?;
    let author = AuthUser { user, session_id: None };
    let automatic = mail.automatic.is_some();
    match target {
        Target::Append(ticket) if ticket.status.is_final() => {
            if automatic {
                return keep_only(state, &mail, sha256, policy, Some(ticket.id), MailDisposition::Stored, None, now).await.map(Taken::Done);
            }
            raise(state, &mail, sha256, policy, &author, Some(&ticket), now).await
        }
        Target::Append(ticket) => append(state, &mail, sha256, policy, &author, &ticket, now).await,
        Target::New { related } if !automatic => raise(state, &mail, sha256, policy, &author, related.as_ref(), now).await,
        Target::New { related } => {
            let ticket_id = related.map(|t| t.id);
            keep_only(state, &mail, sha256, policy, ticket_id, MailDisposition::Stored, None, now).await.map(Taken::Done)
        }
    }
}

async fn duplicate(state: &AppState, message_id: &str, ticket_id: Option<Uuid>) -> Result<InboundResult> {
    let mut answer = result(MailDisposition::Duplicate, Some(message_id), None);
    if let Some(id) = ticket_id
        && let Some(ticket) = tickets::find(&state.db, id).await?
    {
        answer.ticket_id = Some(ticket.id);
        answer.ticket_number = Some(tickets::display_number(ticket.number));
    }
    Ok(answer)
}

/// Another delivery of the same message was recorded while this one was processed (its own
/// work is rolled back): answer as for a duplicate, naming the winner's ticket.
async fn raced(state: &AppState, message_id: &str) -> Result<InboundResult> {
    let known = store::find_by_message_id(&state.db, message_id).await?;
    duplicate(state, message_id, known.and_then(|k| k.ticket_id)).await
}

async fn user_by_email(state: &AppState, address: &str) -> Result<Option<UserRow>> {
    const SQL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1 AND deleted_at IS NULL");
    Ok(with_db!(&state.db, pool => sqlx::query_as(SQL).bind(address.to_lowercase()).fetch_optional(pool).await?))
}

/// A customer for a sender no user has. Two messages from the same new sender may race here:
/// the loser finds the winner's row.
async fn new_customer(state: &AppState, sender: &parse::Sender) -> Result<UserRow> {
    let name = sender
        .name
        .clone()
        .filter(|n| crate::users::validate::name(n).is_ok())
        .unwrap_or_else(|| sender.address.split('@').next().unwrap_or("customer").to_owned());
    const SQL: &str = concat!(
        "INSERT INTO users (id, email, name, role, active, created_at, updated_at) VALUES ($1, $2, $3, 'customer', TRUE, $4, $4) \
         ON CONFLICT DO NOTHING RETURNING ",
        user_columns!()
    );
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let row: Option<UserRow> = with_tx!(&mut tx, conn => sqlx::query_as(SQL)
        .bind(Uuid::now_v7()).bind(&sender.address).bind(&name).bind(now).fetch_optional(&mut *conn).await?);
    if let Some(row) = &row {
        crate::comms::webhooks::events::user_created(&mut tx, &row.clone().into(), now).await?;
    }
    tx.commit().await?;
    match row {
        Some(row) => {
            tracing::info!(user_id = %row.id, "customer created from an email sender");
            Ok(row)
        }
        None => user_by_email(state, &sender.address)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("a new email sender's account is neither inserted nor found"))),
    }
}

enum Target {
    Append(TicketRow),
    /// A new ticket, linked to `related` when the subject named a ticket the sender is not on.
    New { related: Option<TicketRow> },
}

async fn thread(state: &AppState, mail: &Inbound, sender: Option<&UserRow>) -> Result<Target> {
    let by_subject = match subject_number(&mail.subject) {
        Some(number) => live_ticket_by_number(state, number).await?,
        None => None,
    };
    if let (Some(ticket), Some(sender)) = (&by_subject, sender)
        && is_on_ticket(state, ticket, sender.id).await?
    {
        return Ok(Target::Append(ticket.clone()));
    }
    if let Some(id) = store::ticket_of_any(&state.db, &mail.replied_to).await?
        && let Some(ticket) = live_ticket(state, id).await?
    {
        return Ok(Target::Append(ticket));
    }
    Ok(Target::New { related: by_subject })
}

/// `[HD-1042]` (or `[hd-1042]`) anywhere in a subject.
pub fn subject_number(subject: &str) -> Option<i64> {
    subject.split('[').skip(1).find_map(|rest| {
        let inside = rest.split(']').next()?;
        let prefix = inside.get(..3)?;
        prefix.eq_ignore_ascii_case("HD-").then(|| hdms_api_types::tickets::parse_ticket_number(inside)).flatten()
    })
}

async fn live_ticket_by_number(state: &AppState, number: i64) -> Result<Option<TicketRow>> {
    const SQL: &str = "SELECT id FROM tickets WHERE number = $1";
    let id: Option<Uuid> = with_db!(&state.db, pool => sqlx::query_scalar(SQL).bind(number).fetch_optional(pool).await?);
    match id {
        Some(id) => live_ticket(state, id).await,
        None => Ok(None),
    }
}

/// The live ticket, or the one it was merged into.
async fn live_ticket(state: &AppState, id: Uuid) -> Result<Option<TicketRow>> {
    let mut ticket = tickets::find(&state.db, id).await?;
    for _ in 0..MAX_MERGE_HOPS {
        match ticket.as_ref().and_then(|t| t.merged_into_id) {
            Some(survivor) => ticket = tickets::find(&state.db, survivor).await?,
            None => break,
        }
    }
    Ok(ticket.filter(|t| t.deleted_at.is_none()))
}

/// The requester, the assignee, a watcher, or staff who may see the ticket.
async fn is_on_ticket(state: &AppState, ticket: &TicketRow, user_id: Uuid) -> Result<bool> {
    if ticket.requester_id == user_id || ticket.assignee_id == Some(user_id) {
        return Ok(true);
    }
    const WATCHES: &str = "SELECT count(*) FROM ticket_watchers WHERE ticket_id = $1 AND user_id = $2";
    let watches: i64 = with_db!(&state.db, pool => sqlx::query_scalar(WATCHES).bind(ticket.id).bind(user_id).fetch_one(pool).await?);
    Ok(watches > 0)
}

/// The comment or description: the reply without quoted history, cut to the comment limit.
fn reply_text(mail: &Inbound, has_files: bool) -> String {
    let mut text = quotes::strip(&mail.text);
    if text.trim().is_empty() {
        text = if has_files { NO_TEXT.to_owned() } else { "(empty message)".to_owned() };
    }
    if text.len() > comments::MAX_BODY_BYTES {
        const CUT: &str = "\n\n(cut here; the whole text is kept with the mail)";
        let mut end = comments::MAX_BODY_BYTES - CUT.len();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(CUT);
    }
    text
}

fn message_row<'a>(mail: &'a Inbound, sha256: &'a str, policy: &Policy, disposition: MailDisposition) -> NewMessage<'a> {
    NewMessage {
        message_id: &mail.message_id,
        direction: "in",
        ticket_id: None,
        comment_id: None,
        mailbox_id: policy.mailbox_id,
        raw_sha256: Some(sha256),
        from: mail.from.as_ref().map_or("", |s| s.address.as_str()),
        to: &mail.to,
        cc: &mail.cc,
        subject: &mail.subject,
        disposition,
        automatic: mail.automatic.as_deref(),
        full_text: &mail.text,
        html: mail.html.as_deref(),
    }
}

/// Records the message in `tx`, or finds that a concurrent delivery of it got there first:
/// then `tx` is dropped (rolled back) and the answer is `None`.
async fn record_or_duplicate(mut tx: Tx, new: &NewMessage<'_>, now: DateTime<Utc>) -> Result<Option<(Tx, Uuid)>> {
    Ok(store::insert_message(&mut tx, new, now).await?.map(|id| (tx, id)))
}

#[allow(clippy::too_many_arguments)]
async fn keep_only(
    state: &AppState,
    mail: &Inbound,
    sha256: &str,
    policy: &Policy,
    ticket_id: Option<Uuid>,
    disposition: MailDisposition,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<InboundResult> {
    let mut new = message_row(mail, sha256, policy, disposition);
    new.ticket_id = ticket_id;
    let mut tx = state.db.begin().await?;
    if disposition == MailDisposition::Dropped
        && policy.unknown_senders == UnknownSenders::Refuse
        && let Some(sender) = &mail.from
    {
        outbound::queue_refusal(&mut tx, state, &sender.address, policy.address.as_deref(), &mail.subject, &mail.message_id, now).await?;
    }
    let Some((tx, _)) = record_or_duplicate(tx, &new, now).await? else {
        return raced(state, &mail.message_id).await;
    };
    tx.commit().await?;
    if let Some(reason) = &reason {
        tracing::info!(mailbox = %policy.name, message_id = %mail.message_id, reason = %reason, "mail dropped");
    }
    let mut answer = result(disposition, Some(&mail.message_id), reason);
    answer.automatic = mail.automatic.clone();
    if let Some(id) = ticket_id
        && let Some(ticket) = tickets::find(&state.db, id).await?
    {
        answer.ticket_id = Some(id);
        answer.ticket_number = Some(tickets::display_number(ticket.number));
    }
    Ok(answer)
}

/// A new ticket from the message, linked to `related` (the ticket its subject named, or the
/// closed ticket it answered) when there is one.
async fn raise(
    state: &AppState,
    mail: &Inbound,
    sha256: &str,
    policy: &Policy,
    author: &AuthUser,
    related: Option<&TicketRow>,
    now: DateTime<Utc>,
) -> Result<Taken> {
    let subject: String = match mail.subject.trim() {
        "" => NO_SUBJECT.to_owned(),
        subject => subject.chars().take(MAX_SUBJECT_CHARS).collect(),
    };
    let request = CreateTicket {
        subject,
        description: reply_text(mail, !mail.attachments.is_empty()),
        priority: None,
        category: None,
        tags: Vec::new(),
        team_id: None,
        requester_id: None,
    };
    let mut tx = state.db.begin().await?;
    crate::events::set_channel(&mut tx, crate::events::Channel::Email);
    let ticket = match crud::insert_ticket(&mut tx, state, author, request, None).await {
        Ok(ticket) => ticket,
        Err(Error::Validation { message, .. }) => return Ok(Taken::Failed(format!("cannot raise a ticket from it: {message}"))),
        Err(err) => return Err(err),
    };
    if let Some(related) = related {
        link_related(&mut tx, author, &ticket, related, now).await?;
    }
    add_watchers(&mut tx, state, mail, &ticket).await?;
    // Only a person's mail gets here (machine mail never raises a ticket).
    let acknowledged_to = mail.from.as_ref().map_or("", |s| s.address.as_str());
    outbound::queue_acknowledgement(&mut tx, state, &ticket, acknowledged_to, policy.address.as_deref(), &mail.message_id, now).await?;
    let mut new = message_row(mail, sha256, policy, MailDisposition::TicketCreated);
    new.ticket_id = Some(ticket.id);
    let Some((tx, message_row_id)) = record_or_duplicate(tx, &new, now).await? else {
        return raced(state, &mail.message_id).await.map(Taken::Done);
    };
    crate::events::commit(tx, state).await?;
    state.hub.ring();
    attach_files(state, mail, author, &ticket, message_row_id).await?;
    let mut answer = result(MailDisposition::TicketCreated, Some(&mail.message_id), None);
    answer.ticket_id = Some(ticket.id);
    answer.ticket_number = Some(tickets::display_number(ticket.number));
    Ok(Taken::Done(answer))
}

/// The message as a reply on `ticket`. A person's reply reopens a ticket waiting on them (as a
/// reply through the API does) and a resolved one within the reopen window; machine mail never
/// reopens anything.
async fn append(state: &AppState, mail: &Inbound, sha256: &str, policy: &Policy, author: &AuthUser, ticket: &TicketRow, now: DateTime<Utc>) -> Result<Taken> {
    let automatic = mail.automatic.is_some();
    let body = reply_text(mail, !mail.attachments.is_empty());
    let mut tx = state.db.begin().await?;
    crate::events::set_channel(&mut tx, crate::events::Channel::Email);
    let current = tickets::load_for_write(&mut tx, ticket.id, None).await?;
    let (comment, current) = comments::add_with(&mut tx, state, author, &current, &body, false, !automatic, now).await?;
    if !automatic && current.status == Status::Resolved && current.requester_id == author.id() {
        // Past the reopen window (or where the lifecycle does not allow it) the reply stays a
        // reply and the agent decides.
        match transitions::apply(&mut tx, state, author, &current, Status::Open, now).await {
            Ok(_) => {}
            Err(Error::Validation { message, .. }) => {
                tracing::debug!(ticket = current.number, message = %message, "a mailed reply did not reopen its resolved ticket");
            }
            Err(err) => return Err(err),
        }
    }
    add_watchers(&mut tx, state, mail, &current).await?;
    let mut new = message_row(mail, sha256, policy, MailDisposition::CommentAdded);
    new.ticket_id = Some(ticket.id);
    new.comment_id = Some(comment.id);
    let Some((tx, message_row_id)) = record_or_duplicate(tx, &new, now).await? else {
        return raced(state, &mail.message_id).await.map(Taken::Done);
    };
    crate::events::commit(tx, state).await?;
    state.hub.ring();
    attach_files(state, mail, author, ticket, message_row_id).await?;
    let mut answer = result(MailDisposition::CommentAdded, Some(&mail.message_id), None);
    answer.ticket_id = Some(ticket.id);
    answer.ticket_number = Some(tickets::display_number(ticket.number));
    answer.comment_id = Some(comment.id);
    answer.automatic = mail.automatic.clone();
    Ok(Taken::Done(answer))
}

/// `new` is related to `to` (both tickets' history says so).
async fn link_related(tx: &mut Tx, author: &AuthUser, new: &TicketRow, to: &TicketRow, now: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "INSERT INTO ticket_links (id, from_ticket_id, to_ticket_id, kind, created_by, created_at) VALUES ($1, $2, $3, 'related', $4, $5)";
    with_tx!(tx, conn => sqlx::query(SQL).bind(Uuid::now_v7()).bind(new.id).bind(to.id).bind(author.id()).bind(now)
        .execute(&mut *conn).await?.rows_affected());
    let text = format!("{} related {}", tickets::display_number(new.number), tickets::display_number(to.number));
    for ticket in [new.id, to.id] {
        let change = Change { field: "link", before: None, after: Some(text.clone()), internal: false };
        tickets::record(tx, ticket, Some(author.id()), now, change).await?;
    }
    Ok(())
}

/// Cc'd (and other addressed) users who may see the ticket start watching it.
async fn add_watchers(tx: &mut Tx, state: &AppState, mail: &Inbound, ticket: &TicketRow) -> Result<()> {
    const USER: &str = "SELECT id, role FROM users WHERE email = $1 AND deleted_at IS NULL AND active";
    const WATCH: &str = "INSERT INTO ticket_watchers (ticket_id, user_id) VALUES ($1, $2) ON CONFLICT (ticket_id, user_id) DO NOTHING";
    let sender = mail.from.as_ref().map(|s| s.address.as_str());
    for address in mail.cc.iter().chain(&mail.to).filter(|a| Some(a.as_str()) != sender) {
        let user: Option<(Uuid, String)> = with_tx!(tx, conn => sqlx::query_as(USER).bind(address).fetch_optional(&mut *conn).await?);
        let Some((id, role)) = user else { continue };
        let Ok(role) = role.parse::<Role>() else { continue };
        let teams = if role == Role::Agent { teams_of(&state.db, id).await? } else { Vec::new() };
        if user_may_see(id, role, &teams, ticket) {
            with_tx!(tx, conn => sqlx::query(WATCH).bind(ticket.id).bind(id).execute(&mut *conn).await?.rows_affected());
        }
    }
    Ok(())
}

/// Files and inline images through the upload pipeline. A refused file does not refuse the
/// mail: the reason is kept with the message.
async fn attach_files(state: &AppState, mail: &Inbound, author: &AuthUser, ticket: &TicketRow, message_row_id: Uuid) -> Result<()> {
    let mut problems = Vec::new();
    for part in &mail.attachments {
        if let Err(problem) = attach(state, part, author, ticket).await? {
            problems.push(format!("{}: {problem}", part.name));
        }
    }
    if !problems.is_empty() {
        tracing::info!(ticket = ticket.number, ?problems, "mail attachments refused");
        store::set_problems(&state.db, message_row_id, &problems).await?;
    }
    Ok(())
}

/// `Ok(Err(reason))` when the file is refused; `Err` when storing it failed on our side.
async fn attach(state: &AppState, part: &Part, author: &AuthUser, ticket: &TicketRow) -> Result<std::result::Result<(), String>> {
    let limit = state.config.attachment_max_bytes;
    let chunks = futures::stream::iter([Ok::<Bytes, std::io::Error>(Bytes::copy_from_slice(&part.bytes))]);
    let received = match receive::receive(chunks, limit, state.files.incoming.path()).await {
        Ok(received) => received,
        Err(ReceiveError::TooLarge { limit }) => return Ok(Err(format!("larger than the limit of {limit} bytes"))),
        Err(err) => return Err(Error::from(anyhow::Error::new(err).context("receiving a mail attachment"))),
    };
    let upload = Upload {
        ticket_id: ticket.id,
        uploaded_by: author.id(),
        file_name: Some(&part.name),
        declared_type: Some(&part.content_type),
        max_per_ticket: state.config.attachment_max_per_ticket,
    };
    match intake::accept(&state.db, &state.files, upload, received).await {
        Ok(_) => Ok(Ok(())),
        Err(Error::Validation { message, .. }) | Err(Error::LimitExceeded(message)) => Ok(Err(message)),
        Err(err) => Err(err),
    }
}

/// A delivery report: the failed addresses get no more mail until they work again, and the
/// ticket of the message that bounced says so in an internal note and its history.
async fn bounced(state: &AppState, mail: &Inbound, bounce: &crate::comms::mail::dsn::Bounce, sha256: &str, policy: &Policy, now: DateTime<Utc>) -> Result<InboundResult> {
    let ticket_id = match &bounce.original_message_id {
        Some(id) => store::find_by_message_id(&state.db, id).await?.and_then(|known| known.ticket_id),
        None => None,
    };
    // Before the transaction: on SQLite a write through the pool would wait on it.
    let author = match ticket_id {
        Some(_) => Some(AuthUser { user: mail_system_user(state).await?, session_id: None }),
        None => None,
    };
    let mut tx = state.db.begin().await?;
    for (address, reason) in &bounce.failed {
        store::mark_failing(&mut tx, address, reason, now).await?;
    }
    if let (Some(ticket_id), Some(author)) = (ticket_id, &author) {
        let what: Vec<String> = bounce.failed.iter().map(|(address, reason)| format!("{address} ({reason})")).collect();
        let change = Change { field: "mail_bounced", before: None, after: Some(what.join(", ")), internal: true };
        tickets::record(&mut tx, ticket_id, None, now, change).await?;
        // The agents see it in the conversation too, as an internal note (a closed ticket
        // takes no more comments: there the history entry alone says it).
        let ticket = tickets::load_for_write(&mut tx, ticket_id, None).await?;
        if !ticket.status.is_final() {
            let note = format!(
                "Mail to {} bounced, so no more mail goes there until the address works again or an admin clears it (GET /api/v1/mail/failing-addresses).",
                what.join(", ")
            );
            comments::add_with(&mut tx, state, author, &ticket, &note, true, false, now).await?;
        }
    }
    let mut new = message_row(mail, sha256, policy, MailDisposition::Bounce);
    new.ticket_id = ticket_id;
    let Some((tx, _)) = record_or_duplicate(tx, &new, now).await? else {
        return raced(state, &mail.message_id).await;
    };
    crate::events::commit(tx, state).await?;
    tracing::info!(failed = ?bounce.failed, ticket_id = ?ticket_id, "bounce recorded");
    let mut answer = result(MailDisposition::Bounce, Some(&mail.message_id), None);
    answer.automatic = mail.automatic.clone();
    if let Some(id) = ticket_id
        && let Some(ticket) = tickets::find(&state.db, id).await?
    {
        answer.ticket_id = Some(id);
        answer.ticket_number = Some(tickets::display_number(ticket.number));
    }
    Ok(answer)
}

/// The author of the notes mail delivery writes on tickets: an inactive agent account (it
/// cannot log in) named after our mail domain, made on first use.
async fn mail_system_user(state: &AppState) -> Result<UserRow> {
    let email = format!("mail-delivery@{}", state.config.mail_domain);
    if let Some(user) = user_by_email(state, &email).await? {
        return Ok(user);
    }
    const SQL: &str = "INSERT INTO users (id, email, name, role, active, created_at, updated_at) VALUES ($1, $2, 'Mail delivery', 'agent', FALSE, $3, $3) \
                       ON CONFLICT DO NOTHING";
    let now = Utc::now();
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(Uuid::now_v7()).bind(&email).bind(now).execute(pool).await?.rows_affected());
    user_by_email(state, &email).await?.ok_or_else(|| Error::Internal(anyhow::anyhow!("the mail delivery account is neither inserted nor found")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_ticket_number_in_a_subject() {
        assert_eq!(subject_number("Re: [HD-1042] VPN drops"), Some(1042));
        assert_eq!(subject_number("AW: [hd-7] x"), Some(7));
        assert_eq!(subject_number("[External] Re: [HD-12]"), Some(12));
        assert_eq!(subject_number("HD-1042 without brackets"), None);
        assert_eq!(subject_number("[HD-] [HD-x1]"), None);
    }
}
