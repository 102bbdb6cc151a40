//! Faults: the server process killed with SIGKILL during a CSV import, during live chat and
//! during an upload, then restarted on the same data directory; and SQLite under many concurrent
//! writers. What was committed survives, nothing is half-written or left behind, and clients
//! carry on by themselves.

mod common;
mod files_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Backend, TestServer};
use hdms_api_types::Role;
use hdms_api_types::client::{Client, Live};
use hdms_api_types::import::ImportQuery;
use hdms_api_types::tickets::{CreateComment, CreateTicket};
use hdms_api_types::users::CreateUser;
use hdms_api_types::ws::{ClientMessage, ServerMessage};
use sqlx::Connection;

const BINARY: &str = env!("CARGO_BIN_EXE_hdms-server");
const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// Long enough for anything on loopback; only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(60);

/// A server process on a fixed loopback port, so clients find it again after a restart.
struct Process {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Process {
    fn start(data_dir: &Path, port: u16) -> Process {
        Process::start_on(data_dir, port, None)
    }

    /// A server on SQLite in `data_dir`, or on the PostgreSQL database at `database_url`.
    fn start_on(data_dir: &Path, port: u16, database_url: Option<&str>) -> Process {
        Process::start_with(data_dir, port, database_url, &[])
    }

    /// [`Process::start_on`] with more settings in its environment.
    fn start_with(data_dir: &Path, port: u16, database_url: Option<&str>, env: &[(&str, &str)]) -> Process {
        let mut child = Command::new(BINARY)
            .args(["--bind", &format!("127.0.0.1:{port}"), "--log-format", "json", "--data-dir"])
            .arg(data_dir)
            .envs(database_url.map(|url| ("HDMS_DATABASE_URL", url)))
            .envs(env.iter().copied())
            .env("HDMS_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("HDMS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("HDMS_UNSCANNED_POLICY", "allow")
            .env("HDMS_RATE_LIMIT_PER_SECOND", "0")
            .env("HDMS_RATE_LIMIT_PER_ADDRESS_PER_SECOND", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        loop {
            let line = lines.next().expect("the server logs that it listens").unwrap();
            log.lock().unwrap().push(line.clone());
            if line.contains("hdms-server listening") {
                break;
            }
        }
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Process { child, url: format!("http://127.0.0.1:{port}"), log }
    }

    /// Whether this same process is still running (it was never restarted).
    fn still_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// What the server logged at level `level` (JSON lines), for a failing test to show.
    fn logged(&self, level: &str) -> Vec<String> {
        let level = format!("\"level\":\"{level}\"");
        self.log.lock().unwrap().iter().filter(|line| line.contains(&level)).cloned().collect()
    }

    /// SIGKILL: no shutdown, no flush, no cleanup.
    fn kill_9(mut self) -> Vec<String> {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn admin(url: &str) -> Client {
    let client = Client::new(url).unwrap();
    client.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    client
}

async fn person(admin: &Client, url: &str, role: Role, email: &str) -> Client {
    let password = "a long enough password";
    admin
        .create_user(&CreateUser { email: email.into(), name: email.into(), role, phone: None, password: Some(password.into()) })
        .await
        .unwrap();
    let client = Client::new(url).unwrap();
    client.login(email, password).await.unwrap();
    client
}

async fn count_users(data_dir: &Path) -> i64 {
    let url = format!("sqlite:{}?mode=ro", data_dir.join("hdms.sqlite3").display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&mut connection).await.unwrap()
}

/// A CSV import of 30,000 people is killed after its first 10,000-row chunk committed. After a
/// restart the database holds whole chunks only, and running the same import again completes it
/// with every person exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_an_import_keeps_whole_chunks_and_a_rerun_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let server = Process::start(&data, port);
    let client = admin(&server.url).await;
    let mut csv = String::from("email,name,role\n");
    for n in 0..30_000 {
        csv.push_str(&format!("person{n}@example.com,Person {n},customer\n"));
    }
    let length = csv.len() as u64;
    let importing = {
        let (client, csv) = (client.clone(), csv.clone());
        tokio::spawn(async move { client.import_users(&ImportQuery::default(), csv, Some(length)).await })
    };
    let deadline = Instant::now() + PATIENCE;
    while count_users(&data).await <= 1 {
        assert!(Instant::now() < deadline, "no chunk was ever committed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill_9();
    let interrupted = importing.await.unwrap();
    let committed = count_users(&data).await - 1;
    assert_eq!(committed % 10_000, 0, "only whole chunks are kept ({committed} people)");
    eprintln!("killed during the import: {committed} of 30000 people committed; the client got {:?}", interrupted.map(|r| r.created));

    let server = Process::start(&data, port);
    let client = admin(&server.url).await;
    let report = client.import_users(&ImportQuery::default(), csv, Some(length)).await.unwrap();
    assert_eq!(report.created as i64, 30_000 - committed, "{report:?}");
    assert_eq!(report.skipped as i64, committed);
    drop(server);
    assert_eq!(count_users(&data).await, 30_001, "everyone once, and the admin");
}

/// A customer following their ticket's room live, and an agent to answer: where the chat
/// faults start.
async fn chat(url: &str) -> (Client, Client, hdms_api_types::tickets::Ticket, Live) {
    let admin = admin(url).await;
    let customer = person(&admin, url, Role::Customer, "customer@example.com").await;
    let agent = person(&admin, url, Role::Agent, "agent@example.com").await;
    let ticket = customer.create_ticket(&CreateTicket { subject: "Chat".into(), description: "d".into(), ..Default::default() }).await.unwrap();
    let mut live = customer.connect_live().await.unwrap();
    live.send(&ClientMessage::Subscribe { ticket_id: ticket.id, after_seq: None }).await.unwrap();
    // Until the server confirms, a message committed now would be missed (nothing after
    // `after_seq: None` is replayed): the test failed now and then waiting for it.
    let subscribed = async {
        loop {
            if let ServerMessage::Subscribed { ticket_id, .. } = live.next().await.expect("the connection stays up") {
                if ticket_id == ticket.id {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(PATIENCE, subscribed).await.expect("the server confirms the subscription");
    (customer, agent, ticket, live)
}

/// Messages of one room as they arrive, until `bodies` have all been seen.
async fn receive(live: &mut Live, expected: &[String]) -> i64 {
    let mut seen = Vec::new();
    let mut last_seq = 0;
    let wait = async {
        while !expected.iter().all(|body| seen.contains(body)) {
            match live.next().await.expect("the connection stays up") {
                ServerMessage::Message { seq, comment, .. } => {
                    assert!(seq > last_seq, "messages arrive in order, once");
                    last_seq = seq;
                    seen.push(comment.body);
                }
                _ => continue,
            }
        }
    };
    tokio::time::timeout(PATIENCE, wait).await.expect("every message arrives");
    last_seq
}

/// Chat while the server is killed: the connected client sees its connection drop, reconnects
/// once the server is back on the same address, resumes from the last message it had, and gets
/// the ones sent while it was away. Nothing committed before the kill is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_chat_loses_nothing_and_the_client_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let server = Process::start(&data, port);
    let (customer, agent, ticket, mut live) = chat(&server.url).await;
    let before: Vec<String> = (0..5).map(|n| format!("before the kill {n}")).collect();
    for body in &before {
        agent.comment(ticket.id, &CreateComment { body: body.clone(), internal: false }).await.unwrap();
    }
    let last_seq = receive(&mut live, &before).await;

    server.kill_9();
    let dropped = tokio::time::timeout(PATIENCE, async {
        loop {
            if live.next().await.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(dropped.is_ok(), "the client notices the server is gone");

    let server = Process::start(&data, port);
    // Tokens survive the restart (sessions and the signing key are in the database).
    let after: Vec<String> = (0..3).map(|n| format!("after the restart {n}")).collect();
    for body in &after {
        agent.comment(ticket.id, &CreateComment { body: body.clone(), internal: false }).await.unwrap();
    }
    let mut live = customer.connect_live().await.expect("the client reconnects");
    live.send(&ClientMessage::Subscribe { ticket_id: ticket.id, after_seq: Some(last_seq) }).await.unwrap();
    receive(&mut live, &after).await;
    let bodies: Vec<String> = customer.list_comments(ticket.id).await.unwrap().into_iter().map(|c| c.body).collect();
    for body in before.iter().chain(&after) {
        assert_eq!(bodies.iter().filter(|b| *b == body).count(), 1, "{body} is kept once");
    }
    drop(server);
}

/// Many writers at once on SQLite: every write succeeds; `database is locked` (503
/// `database_unavailable`) never reaches a client. The writers mix transactions (tickets,
/// comments that notify) with single statements outside one (marking notifications read).
/// The stall such statements caused before they took the write turn is reproduced exactly by
/// `db::tests::a_single_write_waits_for_the_turn_without_holding_a_connection`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_under_many_concurrent_writers_never_answers_locked() {
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.rate_limit_per_second = 0;
        config.rate_limit_per_address_per_second = 0;
    })
    .await;
    let mut writers = Vec::new();
    for w in 0..12 {
        // A customer raises tickets, staff answer them (which notifies the customer), and both
        // mark their notifications read.
        let (customer, _) = server.user(Role::Customer).await;
        let (staff, _) = server.user(Role::Admin).await;
        writers.push(tokio::spawn(async move {
            for n in 0..15 {
                let ticket = customer
                    .create_ticket(&CreateTicket { subject: format!("w{w} n{n}"), description: "x".into(), ..Default::default() })
                    .await
                    .map_err(|err| format!("writer {w} ticket {n}: {err}"))?;
                for (who, client) in [("staff", &staff), ("customer", &customer)] {
                    client
                        .comment(ticket.id, &CreateComment { body: format!("a reply from {who}"), internal: false })
                        .await
                        .map_err(|err| format!("writer {w} {who} comment {n}: {err}"))?;
                    client.mark_all_notifications_read().await.map_err(|err| format!("writer {w} {who} read-all {n}: {err}"))?;
                }
            }
            Ok::<(), String>(())
        }));
    }
    let mut failures = Vec::new();
    for writer in writers {
        if let Err(failure) = writer.await.unwrap() {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

async fn database_url(backend: Backend) -> Option<String> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(common::fresh_postgres_database().await),
    }
}

/// Every file under `dir`, with its size.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.map_while(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push((path, entry.metadata().map(|m| m.len()).unwrap_or(0)));
        }
    }
    found
}

/// A multipart upload whose file part never ends: 64 KiB every 20 ms until the connection goes.
fn trickling_upload(client: &Client, url: &str, ticket: uuid::Uuid) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    use futures::StreamExt;
    let boundary = "trickle-boundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let chunks = futures::stream::once(async move { Ok::<Vec<u8>, std::io::Error>(head.into_bytes()) }).chain(futures::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Some((Ok(vec![b'x'; 64 * 1024]), ()))
    }));
    let request = reqwest::Client::new()
        .post(format!("{url}/api/v1/tickets/{ticket}/attachments"))
        .bearer_auth(client.token().unwrap())
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(reqwest::Body::wrap_stream(chunks));
    tokio::spawn(request.send())
}

/// An upload trickling in when the server is killed leaves its half-written file in the
/// process's receiving folder. The restarted server removes it (the dead process's lock is
/// free), keeps what was committed before, and takes the same upload again.
async fn kill_9_during_an_upload_leaves_no_orphan_files(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let database_url = database_url(backend).await;
    let port = free_port();
    let server = Process::start_on(&data, port, database_url.as_deref());
    let client = admin(&server.url).await;
    let ticket = client.create_ticket(&CreateTicket { subject: "Files".into(), description: "d".into(), ..Default::default() }).await.unwrap();
    let kept = client.upload_attachment(ticket.id, "kept.txt", Some("text/plain"), b"committed before the kill").await.unwrap();

    let uploading = trickling_upload(&client, &server.url, ticket.id);
    let incoming = data.join("incoming");
    let deadline = Instant::now() + PATIENCE;
    let half_written = loop {
        if let Some((path, _)) = files_under(&incoming).into_iter().find(|(path, size)| *size > 0 && !path.to_string_lossy().ends_with(".lock")) {
            break path;
        }
        assert!(Instant::now() < deadline, "the upload never reached the disk");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    server.kill_9();
    assert!(uploading.await.unwrap().is_err(), "the killed upload got no answer");
    assert!(half_written.exists(), "SIGKILL left the half-written file behind: {}", half_written.display());

    let server = Process::start_on(&data, port, database_url.as_deref());
    let deadline = Instant::now() + PATIENCE;
    // Its folder, not just the file: the sweep removes the file first, then the folder.
    while half_written.parent().unwrap().exists() {
        assert!(Instant::now() < deadline, "the half-written upload was never removed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left: Vec<_> = files_under(&incoming).into_iter().filter(|(path, _)| !path.to_string_lossy().ends_with(".lock")).collect();
    assert!(left.is_empty(), "nothing is left in incoming: {left:?}");
    let folders = std::fs::read_dir(&incoming).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).count();
    assert_eq!(folders, 1, "only the live process's receiving folder");

    let again = client.upload_attachment(ticket.id, "again.txt", Some("text/plain"), b"uploaded after the restart").await.unwrap();
    wait_until_downloadable(&client, &kept).await;
    wait_until_downloadable(&client, &again).await;
    let names: Vec<String> = client.list_attachments(ticket.id).await.unwrap().into_iter().map(|a| a.file_name).collect();
    assert_eq!(names, ["kept.txt", "again.txt"]);
    assert_eq!(client.download_attachment(kept.id, None).await.unwrap().content, b"committed before the kill");
    assert_eq!(client.download_attachment(again.id, None).await.unwrap().content, b"uploaded after the restart");
    let blobs = files_under(&data.join("files/blobs"));
    assert_eq!(blobs.len(), 2, "one stored file per committed upload: {blobs:?}");
    drop(server);
}

/// Content stored for an upload whose attachment never committed (the process killed between
/// the two) is removed with its row once it is older than any upload takes; content younger
/// than that (an upload in progress) and content attachments refer to stay.
async fn orphan_blobs_are_removed_and_referenced_ones_kept(backend: Backend) {
    use hdms_server::files::storage::blob_key;
    use hdms_server::files::{store, sweep};
    let server = TestServer::start_with(backend, |config| config.unscanned_policy = hdms_server::config::UnscannedPolicyArg::Allow).await;
    let client = server.admin().await;
    let ticket = client.create_ticket(&CreateTicket { subject: "Files".into(), description: "d".into(), ..Default::default() }).await.unwrap();
    let kept = client.upload_attachment(ticket.id, "kept.txt", Some("text/plain"), b"kept").await.unwrap();

    // What a kill after storing but before committing leaves: a row and its bytes, no attachment.
    let storage = &server.state.files.storage;
    let now = chrono::Utc::now();
    let (old, young) = ("0a".repeat(32), "0b".repeat(32));
    let two_hours_ago = now - chrono::Duration::hours(2);
    store::insert_blob(&server.state.db, &old, 3, None, two_hours_ago, two_hours_ago).await.unwrap();
    storage.put_bytes(&blob_key(&old), "old".into()).await.unwrap();
    store::insert_blob(&server.state.db, &young, 5, None, now, now).await.unwrap();
    storage.put_bytes(&blob_key(&young), "young".into()).await.unwrap();

    let round = sweep::run_once(&server.state, now).await.unwrap();
    assert_eq!(round.orphan_blobs, 1, "{round:?}");
    assert!(store::blob_state(&server.state.db, &old).await.unwrap().is_none());
    assert!(!storage.exists(&blob_key(&old)).await.unwrap());
    assert!(store::blob_state(&server.state.db, &young).await.unwrap().is_some(), "an upload in progress is left alone");
    assert!(storage.exists(&blob_key(&young)).await.unwrap());
    // Hours later, even the committed attachment's content is still there.
    let later = now + chrono::Duration::hours(3);
    assert_eq!(sweep::run_once(&server.state, later).await.unwrap().orphan_blobs, 1, "the young one, now old");
    assert_eq!(client.download_attachment(kept.id, None).await.unwrap().content, b"kept");
}


/// The server's own database, opened beside it, for counting what the SLA job did.
async fn open_db(data_dir: &Path, database_url: Option<&str>) -> hdms_server::db::Db {
    hdms_server::db::Db::connect(database_url, data_dir, 2).await.unwrap()
}

async fn count(db: &hdms_server::db::Db, sql: &'static str) -> i64 {
    hdms_server::with_db!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.unwrap())
}

/// The SLA job killed part-way through a round over many breaching tickets: each breach it
/// recorded was committed whole with its escalation, history and notices, and the restarted
/// job does the rest, so every ticket ends with each breach, escalation and notice exactly once.
async fn kill_9_during_the_sla_job_records_each_breach_once(backend: Backend) {
    const TICKETS: i64 = 600;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let database_url = database_url(backend).await;
    let port = free_port();
    // The job's first round runs at start, on no tickets; the next one not before the kill.
    let server = Process::start_with(&data, port, database_url.as_deref(), &[("HDMS_SLA_CHECK_INTERVAL", "3600")]);
    let client = admin(&server.url).await;
    person(&client, &server.url, Role::Supervisor, "supervisor@example.com").await;
    let mut creators = Vec::new();
    for worker in 0..4 {
        let client = client.clone();
        creators.push(tokio::spawn(async move {
            for n in 0..TICKETS / 4 {
                let subject = format!("Breaching {worker}-{n}");
                client.create_ticket(&CreateTicket { subject, description: "d".into(), ..Default::default() }).await.unwrap();
            }
        }));
    }
    for creator in creators {
        creator.await.unwrap();
    }
    server.kill_9();
    // Both targets breached an hour ago, never warned (a warning is the same claim, once more).
    let db = open_db(&data, database_url.as_deref()).await;
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    hdms_server::with_db!(&db, pool => sqlx::query(
        "UPDATE tickets SET first_response_due_at = $1, resolution_due_at = $1, first_response_warn_at = NULL, resolution_warn_at = NULL"
    ).bind(past).execute(pool).await.unwrap().rows_affected());

    const BREACHES: &str = "SELECT (SELECT count(*) FROM tickets WHERE first_response_breached_at IS NOT NULL) \
        + (SELECT count(*) FROM tickets WHERE resolution_breached_at IS NOT NULL)";
    let server = Process::start_with(&data, port, database_url.as_deref(), &[("HDMS_SLA_CHECK_INTERVAL", "1")]);
    let deadline = Instant::now() + PATIENCE;
    while count(&db, BREACHES).await < TICKETS / 4 {
        assert!(Instant::now() < deadline, "the SLA job never got going");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill_9();
    let at_kill = count(&db, BREACHES).await;
    assert!(at_kill < 2 * TICKETS, "killed part-way ({at_kill} of {} breaches)", 2 * TICKETS);
    // What the killed round committed, it committed whole.
    assert_eq!(count(&db, "SELECT count(*) FROM ticket_history WHERE field = 'sla_breach'").await, at_kill);
    assert_eq!(count(&db, "SELECT count(*) FROM notifications n JOIN users u ON u.id = n.user_id WHERE n.kind = 'sla_breach' AND u.email = 'supervisor@example.com'").await, at_kill);
    assert_eq!(count(&db, "SELECT count(*) FROM ticket_history WHERE field = 'priority'").await, at_kill);

    let server = Process::start_with(&data, port, database_url.as_deref(), &[("HDMS_SLA_CHECK_INTERVAL", "1")]);
    let deadline = Instant::now() + PATIENCE;
    while count(&db, BREACHES).await < 2 * TICKETS {
        assert!(Instant::now() < deadline, "the restarted job never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let a further round run: it must find nothing left to do.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(server);
    eprintln!("SLA job killed after {at_kill} of {} breaches", 2 * TICKETS);
    assert_eq!(count(&db, "SELECT count(*) FROM ticket_history WHERE field = 'sla_breach'").await, 2 * TICKETS);
    assert_eq!(
        count(&db, "SELECT count(*) FROM (SELECT ticket_id FROM ticket_history WHERE field = 'sla_breach' GROUP BY ticket_id HAVING count(*) <> 2) t").await,
        0,
        "each ticket has its two breaches once"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM notifications n JOIN users u ON u.id = n.user_id WHERE n.kind = 'sla_breach' AND u.email = 'supervisor@example.com'").await, 2 * TICKETS, "one notice per breach");
    assert_eq!(
        count(&db, "SELECT count(*) FROM (SELECT ticket_id FROM notifications WHERE kind = 'sla_breach' GROUP BY ticket_id, user_id HAVING count(*) <> 2) t").await,
        0
    );
    assert_eq!(count(&db, "SELECT count(*) FROM ticket_history WHERE field = 'priority'").await, 2 * TICKETS, "one escalation per breach");
    assert_eq!(
        count(&db, "SELECT count(*) FROM tickets WHERE priority <> (SELECT max(priority) FROM tickets)").await,
        0,
        "every ticket was raised exactly two steps"
    );
    db.close().await;
}

/// `GET /readyz`: its status and how long it took.
async fn readyz(url: &str) -> (u16, Duration) {
    let started = Instant::now();
    let response = reqwest::Client::new().get(format!("{url}/readyz")).timeout(PATIENCE).send().await.expect("readyz answers");
    (response.status().as_u16(), started.elapsed())
}

/// A PostgreSQL cluster of the test's own (`initdb` into a temporary directory, on a free
/// loopback port), so it can be stopped and started without touching the shared one at
/// 127.0.0.1:5432 that other tests use. Stopped when dropped.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    /// `None` when PostgreSQL's server programs are not installed.
    fn start() -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .map_while(Result::ok)
            .map(|version| version.path().join("bin"))
            .filter(|bin| bin.join("initdb").is_file())
            .max()?;
        let dir = tempfile::tempdir().unwrap();
        // initdb and postgres refuse to run as root; as root they run as `postgres` (see
        // `command`), who must own the directory.
        if running_as_root() {
            let chown = Command::new("chown").arg("postgres:").arg(dir.path()).status().unwrap();
            assert!(chown.success(), "chown postgres: {}", dir.path().display());
        }
        let postgres = PrivatePostgres { dir, bin, port: free_port() };
        let data = postgres.data();
        postgres.run("initdb", &["-D", &data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]);
        postgres.start_again();
        Some(postgres)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self.command(program).args(args).stdin(Stdio::null()).output().unwrap();
        let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        assert!(output.status.success(), "{program} {args:?} failed: {}\n{log}", String::from_utf8_lossy(&output.stderr));
    }

    /// Starts the cluster and waits until it accepts connections (`-w`).
    fn start_again(&self) {
        let settings = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-o", &settings, "start"]);
    }

    /// Stops the cluster as a crash would: no checkpoint, every connection cut at once.
    fn stop_immediately(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").args(["-D", &self.data(), "-m", "immediate", "stop"]).output();
    }
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Polls `condition` every 10 ms until it holds; fails saying `what` after `limit`.
async fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What a websocket client following one room has received.
#[derive(Default)]
struct Received {
    /// Each message by its seq, with when it first arrived.
    messages: BTreeMap<i64, (String, Instant)>,
    resyncs: usize,
    errors: Vec<String>,
}

/// A websocket client as the protocol asks clients to be: it keeps what arrives, and when the
/// server says `resync` it subscribes again after the last seq it has. It does nothing else to
/// find gaps, so a lost message the server does not own up to stays lost.
async fn follow_room(mut live: Live, ticket_id: uuid::Uuid, received: Arc<Mutex<Received>>) {
    loop {
        let message = live.next().await.expect("the websocket stays up while PostgreSQL restarts");
        let resubscribe = {
            let mut received = received.lock().unwrap();
            match message {
                ServerMessage::Message { seq, comment, .. } => {
                    received.messages.entry(seq).or_insert((comment.body, Instant::now()));
                    false
                }
                ServerMessage::Resync { .. } => {
                    received.resyncs += 1;
                    true
                }
                // The catch-up failed (the database went again): ask again.
                ServerMessage::Error { code, message } => {
                    received.errors.push(format!("{code}: {message}"));
                    true
                }
                _ => false,
            }
        };
        if resubscribe {
            let after_seq = received.lock().unwrap().messages.keys().next_back().copied().unwrap_or(0);
            live.send(&ClientMessage::Subscribe { ticket_id, after_seq: Some(after_seq) }).await.unwrap();
        }
    }
}

/// What the sending agent got back.
#[derive(Default)]
struct Sent {
    committed: Vec<String>,
    /// When each request answered 503 `database_unavailable` was sent, and how long it took.
    refused: Vec<(Instant, Duration)>,
    other_errors: Vec<String>,
}

/// An agent replying on the ticket as fast as the server takes it, until `stop`.
async fn keep_replying(agent: Client, ticket_id: uuid::Uuid, sent: Arc<Mutex<Sent>>, stop: Arc<std::sync::atomic::AtomicBool>) {
    for n in 0.. {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let body = format!("reply {n}");
        let started = Instant::now();
        let result = agent.comment(ticket_id, &CreateComment { body: body.clone(), internal: false }).await;
        let mut sent = sent.lock().unwrap();
        match result {
            Ok(_) => sent.committed.push(body),
            Err(err) if err.status().map(|s| s.as_u16()) == Some(503) && err.code() == Some("database_unavailable") => {
                sent.refused.push((started, started.elapsed()));
            }
            Err(err) => sent.other_errors.push(format!("{body} after {:?}: {err}", started.elapsed())),
        }
    }
}

/// How soon readiness and live messages must be back once PostgreSQL accepts connections again.
const RECOVERY_LIMIT: Duration = Duration::from_secs(5);
/// The longest a request may take to say the database is unavailable.
const REFUSAL_LIMIT: Duration = Duration::from_secs(5);

/// PostgreSQL crashes and comes back while an agent replies on a ticket and a customer follows
/// it live. Meanwhile readiness fails at once and requests answer 503 `database_unavailable`
/// within seconds; once PostgreSQL is back the same hdms process serves again within seconds,
/// its LISTEN connection is back, and the customer's websocket, which stayed open, ends with
/// every message that was committed: live, or by catching up when told to resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_no_live_message() {
    let Some(postgres) = PrivatePostgres::start() else {
        eprintln!("skipped: no PostgreSQL server programs (initdb) under /usr/lib/postgresql/*/bin");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut server = Process::start_on(&dir.path().join("data"), free_port(), Some(&postgres.url()));
    let (_customer, agent, ticket, live) = chat(&server.url).await;
    let received = Arc::new(Mutex::new(Received::default()));
    let following = tokio::spawn(follow_room(live, ticket.id, received.clone()));
    let sent = Arc::new(Mutex::new(Sent::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let replying = tokio::spawn(keep_replying(agent.clone(), ticket.id, sent.clone(), stop.clone()));
    wait_until("replies arrive live", PATIENCE, || received.lock().unwrap().messages.len() >= 20).await;

    postgres.stop_immediately();
    let down = Instant::now();
    let (status, took) = readyz(&server.url).await;
    assert_eq!(status, 503, "not ready while PostgreSQL is down");
    assert!(took < Duration::from_secs(3), "readiness answered in {took:?}");
    // The first requests fail at once on the pool's dead connections; once those are gone (a
    // second is plenty), requests wait for a new connection, and that wait must be short too.
    wait_until("a reply is refused with 503 database_unavailable after the pool's connections are gone", PATIENCE, || {
        sent.lock().unwrap().refused.iter().any(|(started, _)| *started > down + Duration::from_secs(1))
    })
    .await;
    let (status, took) = readyz(&server.url).await;
    assert_eq!(status, 503, "still not ready");
    assert!(took < Duration::from_secs(3), "readiness answered in {took:?} without a connection");

    postgres.start_again();
    let back = Instant::now();
    loop {
        let (status, _) = readyz(&server.url).await;
        if status == 200 {
            break;
        }
        assert!(back.elapsed() < RECOVERY_LIMIT, "still not ready {:?} after PostgreSQL came back", back.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ready_after = back.elapsed();
    let committed_then = sent.lock().unwrap().committed.len();
    wait_until("replies are committed again", PATIENCE, || sent.lock().unwrap().committed.len() >= committed_then + 20).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    replying.await.unwrap();

    // Every message the database has (some replies that answered 503 may have committed too)
    // reaches the client that stayed connected.
    let stored: Vec<(i64, String)> = agent.list_comments(ticket.id).await.unwrap().into_iter().map(|c| (c.seq, c.body)).collect();
    let everything = async {
        loop {
            let missing = {
                let received = received.lock().unwrap();
                stored.iter().filter(|(seq, _)| !received.messages.contains_key(seq)).count()
            };
            if missing == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), everything).await.is_err() {
        let received = received.lock().unwrap();
        let missing: Vec<&(i64, String)> = stored.iter().filter(|(seq, _)| !received.messages.contains_key(seq)).collect();
        panic!(
            "{} of {} messages never reached the websocket (resyncs: {}): {missing:?}\nwarnings: {:#?}",
            missing.len(),
            stored.len(),
            received.resyncs,
            server.logged("WARN")
        );
    }
    following.abort();
    let received = received.lock().unwrap();
    let sent = sent.lock().unwrap();
    for (seq, body) in &stored {
        assert_eq!(&received.messages[seq].0, body, "message {seq}");
    }
    for body in &sent.committed {
        assert!(stored.iter().any(|(_, stored)| stored == body), "{body} was answered 201 and is stored");
    }
    assert!(sent.other_errors.is_empty(), "only 503 database_unavailable while PostgreSQL is down: {:#?}", sent.other_errors);
    let slowest_refusal = sent.refused.iter().map(|(_, took)| *took).max().unwrap();
    assert!(slowest_refusal < REFUSAL_LIMIT, "a refusal took {slowest_refusal:?}");
    assert!(received.resyncs >= 1, "the server told the client to resync after its LISTEN connection was lost");
    let live_again = received.messages.values().map(|(_, at)| *at).filter(|at| *at > back).min().expect("messages after the restart");
    assert!(live_again - back < RECOVERY_LIMIT, "live messages back {:?} after PostgreSQL", live_again - back);
    assert!(server.still_running(), "hdms was not restarted");
    eprintln!(
        "PostgreSQL restart: ready again {ready_after:?} and live messages {:?} after it came back; {} replies refused with 503 \
         (slowest {:?}), {} committed, {} stored; the client resynced {} times (errors meanwhile: {:?})",
        live_again - back,
        sent.refused.len(),
        slowest_refusal,
        sent.committed.len(),
        stored.len(),
        received.resyncs,
        received.errors,
    );
}

/// A small file system of its own for a data directory, unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// A tmpfs of `bytes` mounted at `path` (the tests run as root on CI, and `mount -t tmpfs`
    /// works there; elsewhere it fails and the caller skips). A tmpfs fills exactly at its size
    /// and answers ENOSPC, as a full disk does.
    fn mount(path: &Path, bytes: u64) -> Result<SmallDisk, String> {
        std::fs::create_dir_all(path).unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(path)
            .output()
            .map_err(|err| format!("cannot run mount: {err}"))?;
        if !output.status.success() {
            return Err(format!("mount -t tmpfs failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
        }
        Ok(SmallDisk { path: path.to_path_buf() })
    }

    fn free_bytes(&self) -> u64 {
        let path = std::ffi::CString::new(self.path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a zeroed statvfs is a valid value to be overwritten; the path is NUL-terminated.
        let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut stats) }, 0);
        stats.f_bavail as u64 * stats.f_frsize as u64
    }

    /// Gives the file system more room, keeping what is on it.
    fn grow(&self, bytes: u64) {
        let status = Command::new("mount").args(["-o", &format!("remount,size={bytes}")]).arg(&self.path).status().unwrap();
        assert!(status.success(), "remount {}", self.path.display());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// The disk under the data directory fills: first with an upload larger than the space left,
/// which answers 507 `insufficient_storage`; then with a CSV import, which answers 507 too and
/// keeps only the 10,000-row chunks it committed. Throughout the server keeps answering, and
/// what was stored before (tickets, an attachment's bytes) is intact, nothing half-written is
/// left in the attachment store or the incoming folders, and SQLite's integrity check passes.
/// Once there is room again, uploads work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_507_and_corrupts_nothing() {
    const DISK: u64 = 16 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let disk = match SmallDisk::mount(&data, DISK) {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("skipped: no small file system for the data directory ({why}); this test needs root to mount a tmpfs");
            return;
        }
    };
    // The scanner's socket and log stay off the small disk.
    let clamd_dir = tempfile::tempdir().unwrap();
    let clamd = files_support::ClamdProcess::start(clamd_dir.path()).await;
    let env = [("HDMS_CLAMD", clamd.addr()), ("HDMS_SCAN_POLL_MS", "100".into()), ("HDMS_SCAN_RETRY_BASE_MS", "100".into())];
    let env: Vec<(&str, &str)> = env.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let mut server = Process::start_with(&data, free_port(), None, &env);
    let client = admin(&server.url).await;
    let mut tickets = Vec::new();
    for n in 0..3 {
        let subject = format!("Stored before the disk filled {n}");
        let ticket = client.create_ticket(&CreateTicket { subject, description: "d".into(), ..Default::default() }).await.unwrap();
        client.comment(ticket.id, &CreateComment { body: format!("comment {n}"), internal: false }).await.unwrap();
        tickets.push(ticket);
    }
    let content = b"stored before the disk filled\n".repeat(100);
    let kept = client.upload_attachment(tickets[0].id, "kept.txt", Some("text/plain"), &content).await.unwrap();
    wait_until_downloadable(&client, &kept).await;
    assert_eq!(client.download_attachment(kept.id, None).await.unwrap().content, content);

    let too_big = vec![b'x'; (disk.free_bytes() + 1024 * 1024) as usize];
    let refused = client.upload_attachment(tickets[1].id, "too-big.bin", Some("application/octet-stream"), &too_big).await;
    common::assert_api_error(refused, 507, "insufficient_storage");

    let users_before = count_users(&data).await;
    let mut csv = String::from("email,name,role\n");
    for n in 0..200_000 {
        csv.push_str(&format!("person{n}@example.com,Person number {n} of a long import,customer\n"));
    }
    let length = csv.len() as u64;
    let refused = client.import_users(&ImportQuery::default(), csv, Some(length)).await;
    common::assert_api_error(refused, 507, "insufficient_storage");
    let imported = count_users(&data).await - users_before;
    eprintln!("the import filled the disk ({} bytes free) after committing {imported} of 200000 people", disk.free_bytes());
    assert_eq!(imported % 10_000, 0, "only whole chunks are kept ({imported} people)");

    // Still serving, and everything stored before is there.
    assert_eq!(readyz(&server.url).await.0, 200);
    for ticket in &tickets {
        let again = client.get_ticket(ticket.id).await.unwrap();
        assert_eq!(again.subject, ticket.subject);
        assert_eq!(client.list_comments(ticket.id).await.unwrap().len(), 1);
    }
    let attachments = client.list_attachments(tickets[0].id).await.unwrap();
    assert_eq!(attachments.iter().map(|a| a.id).collect::<Vec<_>>(), [kept.id]);
    assert!(client.list_attachments(tickets[1].id).await.unwrap().is_empty(), "the refused upload left no attachment");
    assert_eq!(client.download_attachment(kept.id, None).await.unwrap().content, content);
    let blobs = files_under(&data.join("files/blobs"));
    assert_eq!(blobs.len(), 1, "only the stored attachment's content: {blobs:?}");
    let incoming: Vec<_> = files_under(&data.join("incoming")).into_iter().filter(|(path, _)| !path.to_string_lossy().ends_with(".lock")).collect();
    assert!(incoming.is_empty(), "nothing half-received is left: {incoming:?}");
    let url = format!("sqlite:{}?mode=ro", data.join("hdms.sqlite3").display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let check: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&mut connection).await.unwrap();
    assert_eq!(check, ["ok"]);
    connection.close().await.unwrap();

    // Room again: the same server takes uploads again.
    disk.grow(4 * DISK);
    let after = client.upload_attachment(tickets[1].id, "after.txt", Some("text/plain"), b"room again").await.unwrap();
    wait_until_downloadable(&client, &after).await;
    assert_eq!(client.download_attachment(after.id, None).await.unwrap().content, b"room again");
    assert!(server.still_running());
    drop(server);
}

/// Waits until the attachment may be downloaded: downloads wait for the scan worker (found
/// clean, or marked unscanned when there is no scanner and the policy allows it).
async fn wait_until_downloadable(client: &Client, attachment: &hdms_api_types::files::Attachment) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let listed = client.list_attachments(attachment.ticket_id).await.unwrap();
        let current = listed.into_iter().find(|a| a.id == attachment.id).expect("listed");
        if current.downloadable {
            return;
        }
        assert!(Instant::now() < deadline, "the scan never finished ({})", current.scan_state);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

backend_tests!(
    kill_9_during_an_upload_leaves_no_orphan_files,
    orphan_blobs_are_removed_and_referenced_ones_kept,
    kill_9_during_the_sla_job_records_each_breach_once,
);
