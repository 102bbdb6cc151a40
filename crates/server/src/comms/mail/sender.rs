//! The mail sender: drains `mail_outbox` through the SMTP account, with the
//! [`outbox`](crate::comms::outbox) loop SMS and webhooks use. Every instance runs one; due rows
//! are claimed with a lease, so each message is handed to the SMTP server by one instance. A temporary
//! SMTP failure (4xx, a connection that drops) is retried after a doubling delay
//! ([`backoff`](crate::comms::outbox::backoff), shared with SMS) until `HDMS_MAIL_MAX_ATTEMPTS`; a permanent one (5xx, an
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
use uuid::Uuid;

use crate::background::Background;
use crate::comms::mail::robots::LOOP_HEADER;
use crate::comms::mail::outbound;
use crate::comms::mail::smtp::{self, Account};
use crate::comms::outbox::{self, Outbox, Recorded, Round, backoff};
use crate::error::Result;
use crate::state::AppState;
use crate::{claim_sql, with_tx};

/// Messages claimed (and sent concurrently, over the pool) at a time.
const BATCH: i64 = 8;
/// How long a claim holds a message: well beyond one SMTP conversation.
const LEASE: Duration = Duration::from_secs(300);

/// A claimed message.
#[derive(Debug, sqlx::FromRow)]
pub struct Claimed {
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
pub struct Failure {
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
        outbox::pass(self, now, None).await
    }

    async fn current_transport(&self) -> Result<Option<Connected>> {
        let Some(account) = smtp::load(&self.state.db).await? else { return Ok(None) };
        let mut cached = self.transport.lock().await;
        if cached.as_ref().is_none_or(|(known, _)| *known != account) {
            *cached = Some((account.clone(), account.transport()?));
        }
        Ok(cached.clone())
    }
}

impl Outbox for Sender {
    type Pass = Connected;
    type Row = Claimed;
    type Outcome = std::result::Result<u16, Failure>;
    const WHAT: &'static str = "mail";

    async fn begin(&self, _now: DateTime<Utc>, _round: &mut Round) -> Result<Option<Connected>> {
        self.current_transport().await
    }

    async fn claim(&self, token: Uuid, now: DateTime<Utc>) -> Result<Vec<Claimed>> {
        const SQL: &str = claim_sql!("mail_outbox",
            "id, kind, automatic, message_id, from_address, to_address, cc_addresses, subject, in_reply_to, references_ids, body, attempts");
        outbox::claim_rows(&self.state.db, SQL, outbox::after(now, LEASE), token, now, self.state.config.mail_max_attempts, BATCH).await
    }

    fn id(row: &Claimed) -> Uuid {
        row.id
    }

    async fn send(&self, (account, transport): &Connected, row: &Claimed) -> Self::Outcome {
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

    async fn record(&self, row: &Claimed, token: Uuid, started: DateTime<Utc>, now: DateTime<Utc>, outcome: Self::Outcome) -> Result<Option<Recorded>> {
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
                let retry_at = outbox::after(now, delay);
                const SQL: &str = "UPDATE mail_outbox SET state = 'pending', next_attempt_at = $1, last_error = $2, claimed_until = NULL, claim_token = NULL \
                                   WHERE id = $3 AND claim_token = $4";
                with_tx!(&mut tx, conn => sqlx::query(SQL).bind(retry_at).bind(&error).bind(row.id).bind(token).execute(&mut *conn).await?.rows_affected())
            }
        };
        tx.commit().await?;
        if updated == 0 {
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

/// Starts the sender (see [`outbox::spawn`]).
pub fn spawn(state: AppState) -> Background {
    let poll = state.config.mail_poll();
    outbox::spawn(Sender::new(state), poll)
}
