//! Queuing mail out, inside the transaction of its cause (a public reply, a new ticket), so it
//! exists exactly when that commits; the [`sender`](crate::comms::mail::sender) sends it.
//!
//! A public reply goes to the ticket's requester when they wrote by mail, with the people they
//! had in Cc, threaded (`In-Reply-To`, `References`) under every message of the ticket and with
//! `[HD-1042]` in the subject; internal notes never leave. Automatic mail (acknowledgements,
//! refusals) is rate limited per recipient and never answers machine mail.

use chrono::{DateTime, Duration, Utc};
use hdms_api_types::tickets::Comment;
use uuid::Uuid;

use crate::comms::mail::quotes::REPLY_ABOVE;
use crate::comms::notifications::{Kind, Notice};
use crate::db::Tx;
use crate::error::Result;
use crate::state::AppState;
use crate::tickets::store::{TicketRow, display_number};
use crate::users::auth::AuthUser;
use crate::with_tx;

/// Message-IDs of a ticket listed in `References`, newest last (older ones are dropped: clients
/// thread on the first and the last).
const MAX_REFERENCES: usize = 20;
/// The window automatic answers to one address are counted in.
const AUTO_REPLY_WINDOW_HOURS: i64 = 24;

/// The marker line above the text of every mail hdms sends; what a customer writes above it is
/// their reply, the rest is history.
pub fn reply_above_line() -> String {
    format!("-- {REPLY_ABOVE} --")
}

/// One message to queue.
pub struct Outgoing<'a> {
    /// None for a refusal (no ticket was raised).
    pub ticket: Option<&'a TicketRow>,
    pub comment_id: Option<Uuid>,
    pub kind: &'a str,
    pub automatic: bool,
    pub from: Option<&'a str>,
    pub to: &'a str,
    pub cc: &'a [String],
    pub subject: String,
    pub body: String,
}

#[derive(sqlx::FromRow)]
struct ThreadMessage {
    message_id: String,
    direction: String,
    from_address: String,
    to_addresses: String,
    cc_addresses: String,
    automatic: Option<String>,
    mailbox_address: Option<String>,
}

async fn thread(tx: &mut Tx, ticket_id: Uuid) -> Result<Vec<ThreadMessage>> {
    const SQL: &str = "SELECT m.message_id, m.direction, m.from_address, m.to_addresses, m.cc_addresses, m.automatic, \
                       b.address AS mailbox_address \
                       FROM mail_messages m LEFT JOIN mail_mailboxes b ON b.id = m.mailbox_id \
                       WHERE m.ticket_id = $1 AND m.disposition IN ('ticket_created', 'comment_added') ORDER BY m.created_at, m.id";
    Ok(with_tx!(tx, conn => sqlx::query_as(SQL).bind(ticket_id).fetch_all(&mut *conn).await?))
}

async fn is_failing(tx: &mut Tx, address: &str) -> Result<bool> {
    const SQL: &str = "SELECT count(*) FROM mail_failing_addresses WHERE address = $1";
    let n: i64 = with_tx!(tx, conn => sqlx::query_scalar(SQL).bind(address).fetch_one(&mut *conn).await?);
    Ok(n > 0)
}

fn split(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|a| !a.is_empty())
}

/// `[HD-1042] subject`, with `Re: ` for an answer; the number is not repeated when the subject
/// carries it already.
fn subject_for(ticket: &TicketRow, reply: bool) -> String {
    let number = display_number(ticket.number);
    let base = if ticket.subject.contains(&format!("[{number}]")) { ticket.subject.clone() } else { format!("[{number}] {}", ticket.subject) };
    if reply { format!("Re: {base}") } else { base }
}

/// After a public reply on `ticket`: mails it to the requester when they wrote by mail (and it
/// is not their own reply), with their Cc's, unless their address bounces.
pub async fn queue_reply(tx: &mut Tx, state: &AppState, author: &AuthUser, ticket: &TicketRow, comment: &Comment, now: DateTime<Utc>) -> Result<()> {
    if comment.internal || author.id() == ticket.requester_id {
        return Ok(());
    }
    let messages = thread(tx, ticket.id).await?;
    const REQUESTER: &str = "SELECT email FROM users WHERE id = $1 AND deleted_at IS NULL AND active";
    let requester: Option<String> = with_tx!(tx, conn => sqlx::query_scalar(REQUESTER).bind(ticket.requester_id).fetch_optional(&mut *conn).await?);
    let Some(requester) = requester else { return Ok(()) };
    let Some(last_from_requester) = messages.iter().rev().find(|m| m.direction == "in" && m.from_address == requester && m.automatic.is_none()) else {
        return Ok(());
    };
    if is_failing(tx, &requester).await? {
        tracing::info!(ticket = ticket.number, "reply not mailed: the requester's address bounces");
        return Ok(());
    }
    // Our own addresses (the mailbox's, the SMTP account's) are never copied.
    let from = last_from_requester.mailbox_address.clone();
    let mut ours: Vec<String> = messages.iter().filter_map(|m| m.mailbox_address.clone()).collect();
    ours.extend(smtp_from(tx).await?);
    let mut cc = Vec::new();
    for address in split(&last_from_requester.to_addresses).chain(split(&last_from_requester.cc_addresses)) {
        let copied = address != requester
            && !ours.iter().any(|o| o.eq_ignore_ascii_case(address))
            && !cc.iter().any(|c| c == address)
            && !is_staff(tx, address).await?
            && !is_failing(tx, address).await?;
        if copied {
            cc.push(address.to_owned());
        }
    }
    let body = format!("{}\n\n{} wrote on {}:\n\n{}\n", reply_above_line(), author.user.name, display_number(ticket.number), comment.body);
    let outgoing = Outgoing {
        ticket: Some(ticket),
        comment_id: Some(comment.id),
        kind: "reply",
        automatic: false,
        from: from.as_deref(),
        to: &requester,
        cc: &cc,
        subject: subject_for(ticket, true),
        body,
    };
    enqueue(tx, &state.config.mail_domain, &outgoing, &messages.iter().map(|m| m.message_id.clone()).collect::<Vec<_>>(), now).await
}

/// Staff follow the ticket in hdms (as watchers); they get no copy by mail.
async fn is_staff(tx: &mut Tx, address: &str) -> Result<bool> {
    const SQL: &str = "SELECT count(*) FROM users WHERE email = $1 AND deleted_at IS NULL AND role <> 'customer'";
    let n: i64 = with_tx!(tx, conn => sqlx::query_scalar(SQL).bind(address).fetch_one(&mut *conn).await?);
    Ok(n > 0)
}

async fn smtp_from(tx: &mut Tx) -> Result<Option<String>> {
    const SQL: &str = "SELECT from_address FROM mail_smtp WHERE id = 1";
    Ok(with_tx!(tx, conn => sqlx::query_scalar(SQL).fetch_optional(&mut *conn).await?))
}

/// Whether acknowledgements of new tickets are on.
pub async fn acknowledgements_on(tx: &mut Tx) -> Result<bool> {
    const SQL: &str = "SELECT acknowledge_new_tickets FROM mail_smtp WHERE id = 1";
    let on: Option<bool> = with_tx!(tx, conn => sqlx::query_scalar(SQL).fetch_optional(&mut *conn).await?);
    Ok(on.unwrap_or(false))
}

/// An automatic acknowledgement of a ticket raised by mail from `to` (never for machine mail:
/// the caller checks), unless `to` had its share of automatic answers today.
pub async fn queue_acknowledgement(tx: &mut Tx, state: &AppState, ticket: &TicketRow, to: &str, from: Option<&str>, answered_id: &str, now: DateTime<Utc>) -> Result<bool> {
    if !acknowledgements_on(tx).await? || is_failing(tx, to).await? || !take_auto_reply(tx, state, to, now).await? {
        return Ok(false);
    }
    let number = display_number(ticket.number);
    let body = format!(
        "{}\n\nWe have received your message and opened ticket {number}: {}.\n\
         Reply to this mail to add to it; keep [{number}] in the subject.\n",
        reply_above_line(),
        ticket.subject
    );
    let outgoing = Outgoing { ticket: Some(ticket), comment_id: None, kind: "acknowledgement", automatic: true, from, to, cc: &[], subject: subject_for(ticket, true), body };
    enqueue(tx, &state.config.mail_domain, &outgoing, &[answered_id.to_owned()], now).await?;
    Ok(true)
}

/// A polite refusal to an unknown sender of a mailbox that admits none (rate limited like
/// every automatic answer).
pub async fn queue_refusal(tx: &mut Tx, state: &AppState, to: &str, from: Option<&str>, subject: &str, answered_id: &str, now: DateTime<Utc>) -> Result<bool> {
    if is_failing(tx, to).await? || !take_auto_reply(tx, state, to, now).await? {
        return Ok(false);
    }
    let body = format!(
        "Your message \"{subject}\" was not taken in: this help desk only accepts mail from the\n\
         people it knows. Please ask your contact to register your address, or use the form you\n\
         were given.\n"
    );
    let outgoing = Outgoing { ticket: None, comment_id: None, kind: "refusal", automatic: true, from, to, cc: &[], subject: format!("Re: {subject}"), body };
    enqueue(tx, &state.config.mail_domain, &outgoing, &[answered_id.to_owned()], now).await?;
    Ok(true)
}

/// Counts one automatic answer to `address`; `false` when it already had its share in the
/// current window (then nothing is sent).
async fn take_auto_reply(tx: &mut Tx, state: &AppState, address: &str, now: DateTime<Utc>) -> Result<bool> {
    let window_start = now - Duration::hours(AUTO_REPLY_WINDOW_HOURS);
    const UPSERT: &str = "INSERT INTO mail_auto_replies (address, window_start, sent) VALUES ($1, $2, 1) \
                          ON CONFLICT (address) DO UPDATE SET \
                            sent = CASE WHEN mail_auto_replies.window_start < $3 THEN 1 ELSE mail_auto_replies.sent + 1 END, \
                            window_start = CASE WHEN mail_auto_replies.window_start < $3 THEN $2 ELSE mail_auto_replies.window_start END \
                          RETURNING sent";
    let sent: i32 = with_tx!(tx, conn => sqlx::query_scalar(UPSERT).bind(address).bind(now).bind(window_start).fetch_one(&mut *conn).await?);
    Ok(u32::try_from(sent).unwrap_or(u32::MAX) <= state.config.mail_auto_reply_limit)
}

/// A notification by mail, for someone who wants this kind of event so (or a customer who
/// wrote by mail and has not chosen). Never to an address that bounces, and not for a new reply
/// the requester is mailed anyway (as the reply itself, by [`queue_reply`]).
pub async fn queue_notification(tx: &mut Tx, user: Uuid, address: &str, notice: &Notice<'_>, now: DateTime<Utc>) -> Result<()> {
    if is_failing(tx, address).await? {
        return Ok(());
    }
    let ticket = match notice.ticket_id {
        Some(id) => crate::tickets::store::find_in(tx, id).await?,
        None => None,
    };
    if let Some(ticket) = &ticket
        && notice.kind == Kind::NewReply
        && ticket.requester_id == user
        && thread(tx, ticket.id).await?.iter().any(|m| m.direction == "in" && m.from_address == address && m.automatic.is_none())
    {
        return Ok(());
    }
    let subject = match &ticket {
        Some(ticket) => format!("[{}] {}", display_number(ticket.number), notice.title),
        None => notice.title.to_owned(),
    };
    let body = format!(
        "{}\n\n{}\n\n-- \nA notification of your help desk. Choose what reaches you by mail in your notification preferences.\n",
        notice.title, notice.body
    );
    let outgoing = Outgoing { ticket: ticket.as_ref(), comment_id: None, kind: NOTIFICATION, automatic: true, from: None, to: address, cc: &[], subject, body };
    // Its Message-ID gets our domain when sent (the sender knows it; here only the transaction
    // does). Notifications are not part of a ticket's mail thread: answers thread by the
    // ticket number in the subject.
    insert_outbox(tx, &outgoing, &format!("hdms.notice.{}", Uuid::now_v7().simple()), &[], now).await
}

/// The outbox `kind` of notifications (sent `Auto-Submitted: auto-generated`).
pub const NOTIFICATION: &str = "notification";

const OUTBOX: &str = "INSERT INTO mail_outbox (id, ticket_id, comment_id, kind, automatic, message_id, from_address, to_address, cc_addresses, \
                      subject, in_reply_to, references_ids, body, state, attempts, next_attempt_at, created_at) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'pending', 0, $14, $14)";

async fn insert_outbox(tx: &mut Tx, out: &Outgoing<'_>, message_id: &str, thread: &[String], now: DateTime<Utc>) -> Result<()> {
    let in_reply_to = thread.last().cloned();
    let start = thread.len().saturating_sub(MAX_REFERENCES);
    let references = thread[start..].join(" ");
    with_tx!(tx, conn => sqlx::query(OUTBOX)
        .bind(Uuid::now_v7()).bind(out.ticket.map(|t| t.id)).bind(out.comment_id).bind(out.kind).bind(out.automatic).bind(message_id).bind(out.from)
        .bind(out.to).bind(out.cc.join(",")).bind(&out.subject).bind(&in_reply_to).bind(&references).bind(&out.body).bind(now)
        .execute(&mut *conn).await?.rows_affected());
    Ok(())
}

/// Writes the outbox row and records our Message-ID against the ticket, so answers to it thread.
async fn enqueue(tx: &mut Tx, domain: &str, out: &Outgoing<'_>, thread: &[String], now: DateTime<Utc>) -> Result<()> {
    let number = out.ticket.map_or(0, |t| t.number);
    let ticket_id = out.ticket.map(|t| t.id);
    let message_id = format!("hdms.{number}.{}@{domain}", Uuid::now_v7().simple());
    insert_outbox(tx, out, &message_id, thread, now).await?;
    let to = [out.to.to_owned()];
    let sent = crate::comms::mail::store::NewMessage {
        message_id: &message_id,
        direction: "out",
        ticket_id,
        comment_id: out.comment_id,
        mailbox_id: None,
        raw_sha256: None,
        from: out.from.unwrap_or(""),
        to: &to,
        cc: out.cc,
        subject: &out.subject,
        disposition: hdms_api_types::mail::MailDisposition::CommentAdded,
        automatic: out.automatic.then_some("sent automatically"),
        full_text: &out.body,
        html: None,
    };
    crate::comms::mail::store::insert_message(tx, &sent, now).await?;
    Ok(())
}
