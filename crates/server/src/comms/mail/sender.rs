//! The mail sender: drains `mail_outbox` through the SMTP account, the way the SMS worker
//! drains its outbox. Every instance runs one; due rows are claimed with a conditional UPDATE
//! that takes a lease, so each message is handed to the SMTP server by one instance. A temporary
//! SMTP failure (4xx, a connection that drops) is retried after a doubling delay
//! ([`backoff`], shared with SMS) until `HDMS_MAIL_MAX_ATTEMPTS`; a permanent one (5xx, an
//! address that cannot be written) fails the message at once with the reason. Every attempt is
//! recorded in `mail_attempts`. Delivery is at least once: a sender that dies mid-send leaves
//! its lease to run out, and the Message-ID is the same on every attempt.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::background::Background;
use crate::comms::mail::robots::LOOP_HEADER;
use crate::comms::mail::outbound;
use crate::comms::mail::smtp::{self, Account};
use crate::comms::sms::worker::{Round, backoff};
use crate::error::Result;
use crate::state::AppState;
use crate::{with_db, with_tx};

/// Messages claimed (and sent concurrently, over the pool) at a time.
const BATCH: i64 = 8;
/// How long a claim holds a message: well beyond one SMTP conversation.
const LEASE: Duration = Duration::from_secs(300);

#[derive(Debug, sqlx::FromRow)]
struct Claimed {
    id: Uuid,
    kind: String,
    automatic: bool,
    message_id: String,
    from_address: Option<String>,
    to_address: String,
    cc_addresses: String,
    subject: String,
    in_reply_to: Option<String>,
    references_ids: String,
    body: String,
    attempts: i32,
}

/// Why one attempt failed.
struct Failure {
    message: String,
    permanent: bool,
    code: Option<u16>,
}

/// A transport with the account it was built from.
type Connected = (Account, AsyncSmtpTransport<Tokio1Executor>);

#[derive(Clone)]
pub struct Sender {
    state: AppState,
    /// The transport of the account as last read, rebuilt when an admin changes it.
    transport: Arc<Mutex<Option<Connected>>>,
}

impl Sender {
    pub fn new(state: AppState) -> Sender {
        Sender { state, transport: Arc::new(Mutex::new(None)) }
    }

    /// Sends everything due by `now`; nothing while no SMTP account is set (the mail waits).
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<Round> {
        self.pass(now, None).await
    }

    async fn current_transport(&self) -> Result<Option<Connected>> {
        let Some(account) = smtp::load(&self.state.db).await? else { return Ok(None) };
        let mut cached = self.transport.lock().await;
        if cached.as_ref().is_none_or(|(known, _)| *known != account) {
            *cached = Some((account.clone(), account.transport()?));
        }
        Ok(cached.clone())
    }

    async fn pass(&self, now: DateTime<Utc>, cancel: Option<&CancellationToken>) -> Result<Round> {
        let mut round = Round::default();
        let Some((account, transport)) = self.current_transport().await? else { return Ok(round) };
        loop {
            if cancel.is_some_and(CancellationToken::is_cancelled) {
                break;
            }
            let token = Uuid::now_v7();
            let claimed = self.claim(token, now).await?;
            if claimed.is_empty() {
                break;
            }
            let outcomes = futures::future::join_all(claimed.iter().map(|row| {
                let transport = &transport;
                let account = &account;
                async move {
                    let started = Utc::now();
                    let outcome = self.send(transport, account, row).await;
                    (row, started, outcome)
                }
            }))
            .await;
            for (row, started, outcome) in outcomes {
                match self.record(row, token, started, now, outcome).await {
                    Ok(Some(Recorded::Sent)) => round.sent += 1,
                    Ok(Some(Recorded::Retry)) => round.retried += 1,
                    Ok(Some(Recorded::Failed)) => round.failed += 1,
                    Ok(None) => {}
                    Err(err) => tracing::error!(error = %err, mail_id = %row.id, "cannot record a mail attempt; its lease will run out and it is tried again"),
                }
            }
        }
        Ok(round)
    }

    async fn claim(&self, token: Uuid, now: DateTime<Utc>) -> Result<Vec<Claimed>> {
        // As for SMS: the outer WHERE repeats the subquery's conditions, which PostgreSQL
        // re-checks on each row once locked, so of two racing instances only one gets a row.
        const SQL: &str = "UPDATE mail_outbox SET state = 'sending', attempts = attempts + 1, claimed_until = $1, claim_token = $2 \
            WHERE id IN ( \
                SELECT id FROM mail_outbox \
                WHERE state IN ('pending', 'sending') AND next_attempt_at <= $3 \
                  AND (claimed_until IS NULL OR claimed_until < $3) AND attempts < $4 \
                ORDER BY next_attempt_at, id LIMIT $5) \
              AND state IN ('pending', 'sending') AND (claimed_until IS NULL OR claimed_until < $3) AND attempts < $4 \
            RETURNING id, kind, automatic, message_id, from_address, to_address, cc_addresses, subject, in_reply_to, references_ids, body, attempts";
        let max = i32::try_from(self.state.config.mail_max_attempts).unwrap_or(i32::MAX);
        let lease = chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::MAX);
        let mut rows: Vec<Claimed> = with_db!(&self.state.db, pool => sqlx::query_as(SQL)
            .bind(now + lease).bind(token).bind(now).bind(max).bind(BATCH).fetch_all(pool).await?);
        rows.sort_by_key(|row| row.id);
        Ok(rows)
    }

    async fn send(&self, transport: &AsyncSmtpTransport<Tokio1Executor>, account: &Account, row: &Claimed) -> std::result::Result<u16, Failure> {
        let message = build(&self.state.config.mail_domain, account, row)
            .map_err(|message| Failure { message, permanent: true, code: None })?;
        match transport.send(message).await {
            Ok(response) => Ok(u16::from(response.code())),
            Err(err) => Err(Failure {
                message: err.to_string(),
                // 4xx and broken connections are worth another try; 5xx is the server's final word.
                permanent: err.is_permanent(),
                code: err.status().map(u16::from),
            }),
        }
    }

    async fn record(&self, row: &Claimed, token: Uuid, started: DateTime<Utc>, now: DateTime<Utc>, outcome: std::result::Result<u16, Failure>) -> Result<Option<Recorded>> {
        let finished = Utc::now();
        let (recorded, code, error) = match &outcome {
            Ok(code) => (Recorded::Sent, Some(*code), None),
            Err(failure) => {
                let last = failure.permanent || u32::try_from(row.attempts).unwrap_or(u32::MAX) >= self.state.config.mail_max_attempts;
                (if last { Recorded::Failed } else { Recorded::Retry }, failure.code, Some(failure.message.clone()))
            }
        };
        let mut tx = self.state.db.begin().await?;
        const ATTEMPT: &str = "INSERT INTO mail_attempts (id, outbox_id, attempt, started_at, finished_at, ok, smtp_code, error) \
                               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        with_tx!(&mut tx, conn => sqlx::query(ATTEMPT)
            .bind(Uuid::now_v7()).bind(row.id).bind(row.attempts).bind(started).bind(finished).bind(outcome.is_ok())
            .bind(code.map(i32::from)).bind(&error).execute(&mut *conn).await?.rows_affected());
        let updated = match recorded {
            Recorded::Sent => {
                const SQL: &str = "UPDATE mail_outbox SET state = 'sent', sent_at = $1, last_error = NULL, claimed_until = NULL, claim_token = NULL \
                                   WHERE id = $2 AND claim_token = $3";
                with_tx!(&mut tx, conn => sqlx::query(SQL).bind(finished).bind(row.id).bind(token).execute(&mut *conn).await?.rows_affected())
            }
            Recorded::Failed => {
                const SQL: &str = "UPDATE mail_outbox SET state = 'failed', failed_at = $1, last_error = $2, claimed_until = NULL, claim_token = NULL \
                                   WHERE id = $3 AND claim_token = $4";
                with_tx!(&mut tx, conn => sqlx::query(SQL).bind(finished).bind(&error).bind(row.id).bind(token).execute(&mut *conn).await?.rows_affected())
            }
            Recorded::Retry => {
                let delay = backoff(self.state.config.mail_retry_base(), row.attempts);
                let retry_at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                const SQL: &str = "UPDATE mail_outbox SET state = 'pending', next_attempt_at = $1, last_error = $2, claimed_until = NULL, claim_token = NULL \
                                   WHERE id = $3 AND claim_token = $4";
                with_tx!(&mut tx, conn => sqlx::query(SQL).bind(retry_at).bind(&error).bind(row.id).bind(token).execute(&mut *conn).await?.rows_affected())
            }
        };
        tx.commit().await?;
        if updated == 0 {
            tracing::warn!(mail_id = %row.id, "a mail attempt outlived its lease; the message was taken over");
            return Ok(None);
        }
        match (&outcome, recorded) {
            (Ok(_), _) => tracing::info!(mail_id = %row.id, attempt = row.attempts, "mail handed to the SMTP server"),
            (Err(failure), Recorded::Failed) => tracing::warn!(mail_id = %row.id, attempt = row.attempts, error = failure.message, "mail failed; giving up"),
            (Err(failure), _) => tracing::warn!(mail_id = %row.id, attempt = row.attempts, error = failure.message, "mail attempt failed; will retry"),
        }
        Ok(Some(recorded))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorded {
    Sent,
    Retry,
    Failed,
}

fn mailbox(address: &str, name: Option<&str>) -> std::result::Result<Mailbox, String> {
    let address = address.parse().map_err(|e| format!("'{address}' is not a mail address: {e}"))?;
    Ok(Mailbox::new(name.map(str::to_owned), address))
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_owned())
}

/// The message as it goes out: our Message-ID (with the ticket in it), the thread's
/// `In-Reply-To`/`References`, our loop header on everything, and `Auto-Submitted` on what no
/// person wrote.
fn build(domain: &str, account: &Account, row: &Claimed) -> std::result::Result<Message, String> {
    let from = row.from_address.as_deref().unwrap_or(&account.from_address);
    // Notifications are queued without our domain (see outbound::queue_notification).
    let message_id = if row.message_id.contains('@') { row.message_id.clone() } else { format!("{}@{domain}", row.message_id) };
    let mut builder = Message::builder()
        .from(mailbox(from, account.from_name.as_deref())?)
        .to(mailbox(&row.to_address, None)?)
        .subject(row.subject.clone())
        .message_id(Some(format!("<{message_id}>")))
        .raw_header(header(LOOP_HEADER, domain));
    for cc in row.cc_addresses.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        builder = builder.cc(mailbox(cc, None)?);
    }
    if let Some(id) = &row.in_reply_to {
        builder = builder.in_reply_to(format!("<{id}>"));
    }
    let references: Vec<String> = row.references_ids.split_whitespace().map(|id| format!("<{id}>")).collect();
    if !references.is_empty() {
        builder = builder.references(references.join(" "));
    }
    if row.automatic {
        // RFC 3834: an answer to a message is auto-replied, mail of our own making (a
        // notification) auto-generated.
        let kind = if row.kind == outbound::NOTIFICATION { "auto-generated" } else { "auto-replied" };
        builder = builder.raw_header(header("Auto-Submitted", kind));
    }
    builder.body(row.body.clone()).map_err(|e| format!("cannot build the message: {e}"))
}

/// Starts the sender. Stopping it stops claiming, lets the attempts in flight finish and record
/// their outcome, and waits for it to end.
pub fn spawn(state: AppState) -> Background {
    let sender = Sender::new(state);
    Background::spawn(|stopped| async move {
        let poll = sender.state.config.mail_poll().max(Duration::from_millis(10));
        loop {
            tokio::select! {
                () = stopped.cancelled() => break,
                () = tokio::time::sleep(poll) => {}
            }
            match sender.pass(Utc::now(), Some(&stopped)).await {
                Ok(round) if round != Round::default() => tracing::debug!(?round, "mail sender round"),
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "mail sender round failed; retrying next round"),
            }
        }
    })
}
