//! IMAP polling of the mailboxes admins configure (`async-imap` on tokio, TLS by rustls with
//! the platform's certificate verifier, as the SMTP side). Everything fetched goes through the
//! one ingestion path ([`ingest`]).
//!
//! Every instance runs a [`spawn`]ed supervisor; a mailbox is polled by the one instance that
//! holds its lease (`lease_token`, `lease_until`), taken with a conditional UPDATE so that of
//! instances racing on a shared PostgreSQL only one wins, and renewed while it polls. An
//! instance that dies leaves its lease to run out and another takes over. After a failure the
//! lease is let go with `lease_until` set to when the next try is due, so a broken account is
//! not hammered by every instance in turn.
//!
//! A poll selects the folder, starts over when its UIDVALIDITY changed, fetches every UID above
//! the last one taken in (without setting `\Seen`), ingests it, then flags it `\Seen` or moves
//! it, and records the UID. A crash between ingesting and recording fetches the message again,
//! and the Message-ID check makes that harmless. Between polls the connection IDLEs where the
//! server has it (new mail comes in at once), else it waits for the poll interval.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use hdms_api_types::mail::{AfterProcessing, MailSecurity, MailServerCheck};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::background::Background;
use crate::comms::mail::mailboxes::{self, MailboxRow};
use crate::comms::mail::store::Policy;
use crate::comms::mail::{ingest, store};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::with_db;

/// Longest wait for connecting or for one IMAP command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a lease holds; the holder renews it at least every [`RENEW`].
const LEASE: Duration = Duration::from_secs(90);
const RENEW: Duration = Duration::from_secs(30);
/// Longest wait before a failed mailbox is tried again (its poll interval, up to this).
const MAX_RETRY: Duration = Duration::from_secs(300);
/// How long the log of who fetched what is kept.
const FETCH_LOG_DAYS: i64 = 30;

/// What an IMAP mailbox logs in to. No `Debug` that could print the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub host: String,
    pub port: u16,
    pub security: MailSecurity,
    pub user: String,
    pub password: String,
    pub folder: String,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("folder", &self.folder)
            .finish_non_exhaustive()
    }
}

/// A plain or TLS connection, boxed so that one session type serves both.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Transport for T {}

pub type ImapSession = Session<Box<dyn Transport>>;

/// A step of connecting that failed, and the server's or the network's words.
#[derive(Debug)]
pub struct Failed {
    pub step: &'static str,
    pub message: String,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.message)
    }
}

async fn timed<T, E: fmt::Display>(step: &'static str, work: impl Future<Output = std::result::Result<T, E>>) -> std::result::Result<T, Failed> {
    match tokio::time::timeout(COMMAND_TIMEOUT, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(Failed { step, message: err.to_string() }),
        Err(_) => Err(Failed { step, message: format!("no answer within {} s", COMMAND_TIMEOUT.as_secs()) }),
    }
}

/// The TLS client setup: the platform's verifier, with the certificate authorities of
/// `ca_file` (`HDMS_MAIL_CA_FILE`) trusted too. Made once per file and kept: the verifier reads
/// the system's roots when made.
fn tls_config(ca_file: Option<&Path>) -> std::result::Result<Arc<rustls::ClientConfig>, String> {
    type Configs = Mutex<HashMap<Option<PathBuf>, Arc<rustls::ClientConfig>>>;
    static CONFIGS: OnceLock<Configs> = OnceLock::new();
    let mut configs = CONFIGS.get_or_init(Configs::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(config) = configs.get(&ca_file.map(Path::to_owned)) {
        return Ok(config.clone());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let extra_roots = match ca_file {
        Some(path) => {
            use rustls::pki_types::pem::PemObject;
            let roots = rustls::pki_types::CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read the CA certificates in {} (HDMS_MAIL_CA_FILE): {e}", path.display()))?;
            if roots.is_empty() {
                return Err(format!("{} (HDMS_MAIL_CA_FILE) holds no certificate", path.display()));
            }
            roots
        }
        None => Vec::new(),
    };
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider.clone())
        .map_err(|e| format!("cannot load the platform's certificate verifier: {e}"))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous() // not dangerous: the platform's verifier, with extra roots
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let config = Arc::new(config);
    configs.insert(ca_file.map(Path::to_owned), config.clone());
    Ok(config)
}

async fn start_tls(host: &str, tcp: TcpStream, ca_file: Option<&Path>) -> std::result::Result<Box<dyn Transport>, Failed> {
    let config = tls_config(ca_file).map_err(|message| Failed { step: "tls", message })?;
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| Failed { step: "tls", message: format!("'{host}' cannot be checked against a certificate: {e}") })?;
    let tls = timed("tls", tokio_rustls::TlsConnector::from(config).connect(name, tcp)).await?;
    Ok(Box::new(tls))
}

/// Connects (TLS from the first byte, or STARTTLS, never falling back to plain), logs in.
/// `ca_file`: extra certificate authorities to trust (`HDMS_MAIL_CA_FILE`).
pub async fn connect(account: &Account, ca_file: Option<&Path>) -> std::result::Result<ImapSession, Failed> {
    let tcp = timed("connect", TcpStream::connect((account.host.as_str(), account.port))).await?;
    let stream: Box<dyn Transport> = match account.security {
        MailSecurity::Tls => start_tls(&account.host, tcp, ca_file).await?,
        MailSecurity::Plain => Box::new(tcp),
        MailSecurity::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client).await?;
            timed("tls", client.run_command_and_check_ok("STARTTLS", None))
                .await
                .map_err(|f| Failed { step: "tls", message: format!("the server refused STARTTLS ({})", f.message) })?;
            start_tls(&account.host, client.into_inner(), ca_file).await?
        }
    };
    let mut client = async_imap::Client::new(stream);
    // No greeting follows STARTTLS: the server greeted the plain connection.
    if account.security != MailSecurity::Starttls {
        greeting(&mut client).await?;
    }
    match tokio::time::timeout(COMMAND_TIMEOUT, client.login(&account.user, &account.password)).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err((err, _))) => Err(Failed { step: "login", message: format!("{} refused the login of {}: {err}", account.host, account.user) }),
        Err(_) => Err(Failed { step: "login", message: "no answer to the login".to_owned() }),
    }
}

async fn greeting<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug>(client: &mut async_imap::Client<T>) -> std::result::Result<(), Failed> {
    match timed("connect", client.read_response()).await? {
        Some(_) => Ok(()),
        None => Err(Failed { step: "connect", message: "the server closed the connection without a greeting".to_owned() }),
    }
}

/// What `POST /mail/mailboxes/{id}/test` answers: connect, log in, open the folder.
pub async fn check(account: &Account, ca_file: Option<&Path>) -> MailServerCheck {
    let failed = |f: Failed| MailServerCheck { ok: false, failed_step: Some(f.step.to_owned()), error: Some(f.message), idle: None, messages: None };
    let mut session = match connect(account, ca_file).await {
        Ok(session) => session,
        Err(f) => return failed(f),
    };
    let idle = match timed("login", session.capabilities()).await {
        Ok(capabilities) => capabilities.has_str("IDLE"),
        Err(f) => return failed(f),
    };
    let folder = match timed("folder", session.select(&account.folder)).await {
        Ok(folder) => folder,
        Err(f) => return failed(Failed { step: "folder", message: format!("cannot open folder '{}': {}", account.folder, f.message) }),
    };
    let _ = tokio::time::timeout(COMMAND_TIMEOUT, session.logout()).await;
    MailServerCheck { ok: true, failed_step: None, error: None, idle: Some(idle), messages: Some(folder.exists) }
}

// --- the poller ----------------------------------------------------------------------------

/// Starts this instance's supervisor: every tick it takes the lease of the mailboxes due that
/// no instance polls and starts a poller for each. Stopping it stops the pollers, which let
/// their leases go.
pub fn spawn(state: AppState) -> Background {
    Background::spawn(|stopped| async move {
        let tick = state.config.mail_imap_tick().max(Duration::from_millis(10));
        let mut running: HashMap<Uuid, JoinHandle<()>> = HashMap::new();
        loop {
            tokio::select! {
                () = stopped.cancelled() => break,
                () = tokio::time::sleep(tick) => {}
            }
            running.retain(|_, task| !task.is_finished());
            if let Err(err) = take_due(&state, &stopped, &mut running).await {
                tracing::warn!(error = %err, "looking for mailboxes to poll failed; trying again next tick");
            }
        }
        for (_, task) in running {
            let _ = task.await;
        }
    })
}

async fn take_due(state: &AppState, stopped: &CancellationToken, running: &mut HashMap<Uuid, JoinHandle<()>>) -> Result<()> {
    const DUE: &str = "SELECT id FROM mail_mailboxes WHERE imap_host IS NOT NULL AND deleted_at IS NULL \
                       AND (lease_until IS NULL OR lease_until < $1)";
    let now = Utc::now();
    let due: Vec<Uuid> = with_db!(&state.db, pool => sqlx::query_scalar(DUE).bind(now).fetch_all(pool).await?);
    for id in due {
        if running.contains_key(&id) {
            continue;
        }
        let token = Uuid::now_v7();
        if claim(state, id, token, now).await? {
            let poller = Poller { state: state.clone(), id, token, stopped: stopped.clone() };
            running.insert(id, tokio::spawn(poller.run()));
        }
    }
    Ok(())
}

fn later(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
}

/// Takes a free (or run out) lease; false when another instance got there first.
async fn claim(state: &AppState, id: Uuid, token: Uuid, now: DateTime<Utc>) -> Result<bool> {
    // The WHERE is re-checked on the row once locked (PostgreSQL) or under the single writer
    // (SQLite): of two instances racing, one updates and the other finds no row.
    const SQL: &str = "UPDATE mail_mailboxes SET lease_token = $1, lease_until = $2 \
                       WHERE id = $3 AND deleted_at IS NULL AND imap_host IS NOT NULL AND (lease_until IS NULL OR lease_until < $4)";
    let claimed = crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(token).bind(later(now, LEASE)).bind(id).bind(now)
        .execute(pool).await?.rows_affected());
    if claimed == 1 {
        const PRUNE: &str = "DELETE FROM mail_imap_fetches WHERE mailbox_id = $1 AND fetched_at < $2";
        crate::with_db_writing!(&state.db, pool => sqlx::query(PRUNE).bind(id).bind(now - chrono::Duration::days(FETCH_LOG_DAYS))
            .execute(pool).await?.rows_affected());
    }
    Ok(claimed == 1)
}

/// Why a poller stops.
enum Stop {
    /// The server is stopping, or the mailbox was removed or is no longer polled.
    Done,
    /// Another instance holds the lease now.
    LostLease,
    /// The settings changed: reconnect with the new ones.
    Changed,
    /// The mail server failed; try again after the retry wait.
    Failed(String),
    /// Our side (database, content store) failed.
    Error(Error),
}

impl From<Error> for Stop {
    fn from(err: Error) -> Self {
        Stop::Error(err)
    }
}

struct Poller {
    state: AppState,
    id: Uuid,
    token: Uuid,
    stopped: CancellationToken,
}

impl Poller {
    async fn run(self) {
        loop {
            let Ok(Some(row)) = mailboxes::find(&self.state.db, self.id).await else {
                self.release(None).await;
                return;
            };
            let Some(account) = row.imap() else {
                self.release(None).await;
                return;
            };
            match self.serve(&row, &account).await {
                Stop::Changed => continue,
                Stop::Done => self.release(None).await,
                Stop::LostLease => tracing::warn!(mailbox = %row.name, "another instance took over polling this mailbox"),
                Stop::Failed(message) => {
                    tracing::warn!(mailbox = %row.name, host = %account.host, error = %message, "polling a mailbox failed; trying again later");
                    self.release(Some(&message)).await;
                }
                Stop::Error(err) => {
                    tracing::error!(mailbox = %row.name, error = %err, "taking in polled mail failed; trying again later");
                    self.release(Some(&format!("hdms could not store the mail: {err}"))).await;
                }
            }
            return;
        }
    }

    /// Connects, then polls and waits in turn until told to stop or something fails.
    async fn serve(&self, row: &MailboxRow, account: &Account) -> Stop {
        let mut session = match connect(account, self.state.config.mail_ca_file.as_deref()).await {
            Ok(session) => session,
            Err(failed) => return Stop::Failed(failed.to_string()),
        };
        let (idle, can_move) = match timed("capabilities", session.capabilities()).await {
            Ok(capabilities) => (capabilities.has_str("IDLE"), capabilities.has_str("MOVE")),
            Err(failed) => return Stop::Failed(failed.to_string()),
        };
        let interval = Duration::from_secs(u64::try_from(row.poll_interval_secs).unwrap_or(60).max(1));
        let mut state = PollState { uid_validity: row.uid_validity, last_uid: row.last_uid };
        loop {
            if let Err(stop) = self.poll(&mut session, row, account, can_move, &mut state).await {
                return stop;
            }
            match self.renew(row).await {
                Ok(None) => {}
                Ok(Some(stop)) => return stop,
                Err(err) => return Stop::Error(err),
            }
            // Wait for new mail (IDLE) or the poll interval, renewing the lease on the way.
            let waited_since = tokio::time::Instant::now();
            loop {
                let left = interval.saturating_sub(waited_since.elapsed());
                if left.is_zero() {
                    break;
                }
                let step = left.min(RENEW);
                let news = if idle {
                    match self.idle(session, step).await {
                        Ok((back, news)) => {
                            session = back;
                            news
                        }
                        Err(failed) => return Stop::Failed(failed.to_string()),
                    }
                } else {
                    tokio::select! {
                        () = self.stopped.cancelled() => false,
                        () = tokio::time::sleep(step) => false,
                    }
                };
                if self.stopped.is_cancelled() {
                    let _ = tokio::time::timeout(COMMAND_TIMEOUT, session.logout()).await;
                    return Stop::Done;
                }
                match self.renew(row).await {
                    Ok(None) => {}
                    Ok(Some(stop)) => return stop,
                    Err(err) => return Stop::Error(err),
                }
                if news {
                    break;
                }
            }
        }
    }

    /// IDLEs for up to `wait`; true when the server said something changed.
    async fn idle(&self, session: ImapSession, wait: Duration) -> std::result::Result<(ImapSession, bool), Failed> {
        let mut handle = session.idle();
        timed("idle", handle.init()).await?;
        let news = {
            let (idling, _interrupt) = handle.wait_with_timeout(wait);
            tokio::select! {
                () = self.stopped.cancelled() => false,
                answer = idling => matches!(answer.map_err(|e| Failed { step: "idle", message: e.to_string() })?, IdleResponse::NewData(_)),
            }
        };
        let session = timed("idle", handle.done()).await?;
        Ok((session, news))
    }

    /// Takes in every message above the last UID, oldest first.
    async fn poll(&self, session: &mut ImapSession, row: &MailboxRow, account: &Account, can_move: bool, at: &mut PollState) -> std::result::Result<(), Stop> {
        let failed = |f: Failed| Stop::Failed(f.to_string());
        let folder = timed("select", session.select(&account.folder)).await.map_err(failed)?;
        let validity = folder.uid_validity.map(i64::from);
        if validity != at.uid_validity {
            if at.uid_validity.is_some() {
                tracing::info!(mailbox = %row.name, "the folder's UIDVALIDITY changed: its UIDs start over");
            }
            at.uid_validity = validity;
            at.last_uid = 0;
            self.record(at).await?;
        }
        // `n:*` always matches the newest message, even below n: filter.
        let uids = timed("search", session.uid_search(format!("UID {}:*", at.last_uid + 1))).await.map_err(failed)?;
        let mut uids: Vec<u32> = uids.into_iter().filter(|uid| i64::from(*uid) > at.last_uid).collect();
        uids.sort_unstable();
        let policy = store::policy_by_id(&self.state.db, row.id).await?.unwrap_or_else(Policy::mailgate_default);
        for uid in uids {
            if self.stopped.is_cancelled() {
                break;
            }
            let raw = timed("fetch", fetch(session, uid)).await.map_err(failed)?;
            if let Some(raw) = raw {
                self.log_fetch(at.uid_validity, uid).await?;
                let result = ingest::ingest_sized(&self.state, raw, &policy).await?;
                tracing::debug!(mailbox = %row.name, uid, disposition = result.disposition.as_str(), "polled mail taken in");
            }
            let uid_set = uid.to_string();
            match AfterProcessing::parse(&row.after_processing).unwrap_or_default() {
                AfterProcessing::Seen => {
                    timed("store", async { session.uid_store(&uid_set, "+FLAGS.SILENT (\\Seen)").await?.try_collect::<Vec<_>>().await })
                        .await
                        .map_err(failed)?;
                }
                AfterProcessing::Move => {
                    let target = row.move_to_folder.as_deref().unwrap_or("INBOX");
                    if can_move {
                        timed("move", session.uid_mv(&uid_set, target)).await.map_err(failed)?;
                    } else {
                        // RFC 3501 without MOVE: copy, flag deleted, expunge.
                        timed("move", session.uid_copy(&uid_set, target)).await.map_err(failed)?;
                        timed("move", async { session.uid_store(&uid_set, "+FLAGS.SILENT (\\Seen \\Deleted)").await?.try_collect::<Vec<_>>().await })
                            .await
                            .map_err(failed)?;
                        timed("move", async { session.expunge().await?.try_collect::<Vec<_>>().await }).await.map_err(failed)?;
                    }
                }
            }
            at.last_uid = i64::from(uid);
            self.record(at).await?;
        }
        Ok(())
    }

    /// Notes that this lease's holder took `uid` out of the mailbox (`mail_imap_fetches`).
    async fn log_fetch(&self, uid_validity: Option<i64>, uid: u32) -> Result<()> {
        const SQL: &str = "INSERT INTO mail_imap_fetches (mailbox_id, uid_validity, uid, lease_token, fetched_at) VALUES ($1, $2, $3, $4, $5)";
        crate::with_db_writing!(&self.state.db, pool => sqlx::query(SQL).bind(self.id).bind(uid_validity).bind(i64::from(uid)).bind(self.token).bind(Utc::now())
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Stores where polling stands, while the lease is ours.
    async fn record(&self, at: &PollState) -> std::result::Result<(), Stop> {
        const SQL: &str = "UPDATE mail_mailboxes SET uid_validity = $1, last_uid = $2 WHERE id = $3 AND lease_token = $4";
        let updated = crate::with_db_writing!(&self.state.db, pool => sqlx::query(SQL).bind(at.uid_validity).bind(at.last_uid).bind(self.id).bind(self.token)
            .execute(pool).await.map_err(Error::from)?.rows_affected());
        if updated == 0 { Err(Stop::LostLease) } else { Ok(()) }
    }

    /// Renews the lease after a good round; says why to stop when the mailbox changed or the
    /// lease went to another instance.
    async fn renew(&self, row: &MailboxRow) -> Result<Option<Stop>> {
        const SQL: &str = "UPDATE mail_mailboxes SET lease_until = $1, last_polled_at = $2, last_error = NULL \
                           WHERE id = $3 AND lease_token = $4 RETURNING updated_at, deleted_at, imap_host";
        let now = Utc::now();
        /// (updated_at, deleted_at, imap_host) as they are now.
        type Now = (DateTime<Utc>, Option<DateTime<Utc>>, Option<String>);
        let row_now: Option<Now> = crate::with_db_writing!(&self.state.db, pool => sqlx::query_as(SQL)
            .bind(later(now, LEASE)).bind(now).bind(self.id).bind(self.token).fetch_optional(pool).await?);
        Ok(match row_now {
            None => Some(Stop::LostLease),
            Some((_, Some(_), _)) | Some((_, _, None)) => Some(Stop::Done),
            Some((updated_at, _, _)) if updated_at != row.updated_at => Some(Stop::Changed),
            Some(_) => None,
        })
    }

    /// Lets the lease go: at once when stopping on purpose, after the retry wait (with the
    /// reason shown to admins) after a failure.
    async fn release(&self, failure: Option<&str>) {
        const SQL: &str = "UPDATE mail_mailboxes SET lease_token = NULL, lease_until = $1, last_error = COALESCE($2, last_error), \
                           last_polled_at = CASE WHEN $2 IS NULL THEN last_polled_at ELSE $3 END \
                           WHERE id = $4 AND lease_token = $5";
        let now = Utc::now();
        let until = match failure {
            None => None,
            Some(_) => {
                let interval = match mailboxes::find(&self.state.db, self.id).await {
                    Ok(Some(row)) => Duration::from_secs(u64::try_from(row.poll_interval_secs).unwrap_or(60)),
                    _ => MAX_RETRY,
                };
                Some(later(now, interval.clamp(Duration::from_secs(1), MAX_RETRY)))
            }
        };
        let released = crate::with_db_writing!(&self.state.db, pool => sqlx::query(SQL).bind(until).bind(failure).bind(now).bind(self.id).bind(self.token)
            .execute(pool).await.map(|r| r.rows_affected()));
        if let Err(err) = released {
            tracing::warn!(mailbox_id = %self.id, error = %err, "cannot let a mailbox's lease go; it runs out by itself");
        }
    }
}

struct PollState {
    uid_validity: Option<i64>,
    last_uid: i64,
}

/// The whole message `uid`, or `None` when it disappeared meanwhile (another client deleted it).
async fn fetch(session: &mut ImapSession, uid: u32) -> async_imap::error::Result<Option<Bytes>> {
    let fetched: Vec<_> = session.uid_fetch(uid.to_string(), "BODY.PEEK[]").await?.try_collect().await?;
    Ok(fetched.iter().find(|f| f.uid == Some(uid) || fetched.len() == 1).and_then(|f| f.body()).map(Bytes::copy_from_slice))
}
