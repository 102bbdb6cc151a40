//! The email channel through IMAP, end to end against a real IMAP server (`pymap`) and a real
//! SMTP server (`aiosmtpd`), both started by the tests on loopback ports: a message dropped
//! into the mailbox becomes a ticket; the agent's reply reaches the customer with the headers
//! mail clients thread on; the customer's answer, built from that mail and quoting it, lands on
//! the same ticket with the quote stripped; an auto-reply to it changes nothing; a bounce marks
//! the address. Two instances on one PostgreSQL database poll one mailbox and each message
//! becomes one ticket; when the polling instance stops, the other takes over.

mod common;
mod mail_support;

use hdms_api_types::client::Client;
use hdms_api_types::mail::{AfterProcessing, CreateMailbox, MailSecurity, MailSecurity::Plain, Mailbox, UpdateMailbox};
use hdms_api_types::tickets::{CreateComment, Status, TicketListQuery, TransitionRequest};
use hdms_api_types::users::CreateUser;
use hdms_api_types::Role;
use hdms_server::comms::mail::sender::Sender;
use mail_parser::MessageParser;

use common::{Backend, PASSWORD, TestServer, assert_api_error};
use mail_support::{IMAP_PASSWORD, IMAP_USER, ImapServer, ImapTls, SmtpCapture, TestCa, wait_until};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mail");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(FIXTURES).join(name)).unwrap()
}

fn configure(config: &mut hdms_server::config::Config) {
    config.mail_domain = "hdms.test".to_owned();
    config.mail_imap_tick_ms = 50;
    // The tests drive the sender themselves; the background one waits.
    config.mail_poll_ms = 3_600_000;
}

fn polled(imap: &ImapServer) -> CreateMailbox {
    CreateMailbox {
        name: "Support".to_owned(),
        address: Some("support@desk.example.org".to_owned()),
        imap_host: Some("127.0.0.1".to_owned()),
        imap_port: Some(imap.port),
        imap_security: Some(Plain),
        imap_user: Some(IMAP_USER.to_owned()),
        imap_password: Some(IMAP_PASSWORD.to_owned()),
        poll_interval_secs: Some(1),
        ..CreateMailbox::default()
    }
}

async fn ticket_count(admin: &Client) -> usize {
    admin.list_tickets(&TicketListQuery::default()).await.unwrap().items.len()
}

fn header(raw: &[u8], name: &str) -> Option<String> {
    MessageParser::default().parse(raw).unwrap().header_raw(name.to_owned()).map(|v| v.trim().to_owned())
}

async fn agent(server: &TestServer) -> Client {
    let admin = server.admin().await;
    let new = CreateUser { email: "agent@desk.example.org".to_owned(), name: "Sam Agent".to_owned(), role: Role::Agent, phone: None, password: Some(PASSWORD.to_owned()) };
    admin.create_user(&new).await.unwrap();
    let client = server.anonymous();
    client.login("agent@desk.example.org", PASSWORD).await.unwrap();
    client
}

async fn mailbox_now(admin: &Client, id: uuid::Uuid) -> Mailbox {
    admin.mailbox(id).await.unwrap()
}

async fn a_conversation_through_imap(backend: Backend) {
    let imap = ImapServer::start().await;
    let smtp = SmtpCapture::start().await;
    let server = TestServer::start_with(backend, configure).await;
    let admin = server.admin().await;
    admin
        .set_smtp_settings(&hdms_api_types::mail::UpdateSmtpSettings {
            host: "127.0.0.1".to_owned(),
            port: smtp.port,
            security: MailSecurity::Plain,
            username: None,
            password: None,
            from_address: "support@desk.example.org".to_owned(),
            from_name: Some("ACME Support".to_owned()),
            acknowledge_new_tickets: false,
        })
        .await
        .unwrap();
    let agent = agent(&server).await;
    let sender = Sender::new(server.state.clone());

    // The account works; the password is never answered.
    let mailbox = admin.create_mailbox(&polled(&imap)).await.unwrap();
    assert!(mailbox.imap_password_set);
    let listed = server.http().get(format!("{}/api/v1/mail/mailboxes", server.url)).bearer_auth(admin.token().unwrap()).send().await.unwrap();
    assert!(!listed.text().await.unwrap().contains(IMAP_PASSWORD), "the password never leaves the server");
    let check = admin.test_mailbox(mailbox.id).await.unwrap();
    assert!(check.ok && check.idle == Some(true), "{check:?}");

    // A message dropped into the mailbox becomes a ticket, and is flagged seen there.
    imap.deliver("INBOX", &fixture("02_alternative.eml")).await;
    wait_until("the polled message raises a ticket", || async { ticket_count(&admin).await == 1 }).await;
    let ticket = admin.get_ticket_by_number("HD-1001").await.unwrap();
    assert!(ticket.description.contains("printer"), "{}", ticket.description);
    wait_until("the message is flagged seen", || async { imap.flags("INBOX").await.iter().all(|(_, f)| f.iter().any(|f| f == "Seen")) }).await;
    let state = mailbox_now(&admin, mailbox.id).await;
    assert!(state.uid_validity.is_some() && state.last_uid > 0 && state.last_error.is_none(), "{state:?}");
    assert!(state.lease_until.is_some(), "an instance holds the lease while it polls");

    // The agent's reply goes out with the thread's headers.
    agent.comment(ticket.id, &CreateComment { body: "Please turn off duplex printing and try again.".to_owned(), internal: false }).await.unwrap();
    assert_eq!(sender.run_once(chrono::Utc::now()).await.unwrap().sent, 1);
    let sent = smtp.messages();
    assert_eq!(sent.len(), 1);
    let parsed = MessageParser::default().parse(sent[0].as_slice()).unwrap();
    let subject = parsed.subject().unwrap().to_owned();
    assert!(subject.starts_with("Re: [HD-1001] "), "{subject}");
    let our_id = parsed.message_id().unwrap().to_owned();
    assert_eq!(header(&sent[0], "In-Reply-To").as_deref(), Some("<CAJx-alt-2@mail.gmail.com>"));
    assert_eq!(header(&sent[0], "X-HDMS-Loop").as_deref(), Some("hdms.test"));
    let text = parsed.body_text(0).unwrap().to_string();

    // The customer answers from their mail client, quoting our mail; it lands on the ticket
    // without the quote.
    agent.transition(ticket.id, &TransitionRequest { to: Status::InProgress, comment: None, version: None }).await.unwrap();
    agent.transition(ticket.id, &TransitionRequest { to: Status::PendingCustomer, comment: None, version: None }).await.unwrap();
    let quoted: String = text.lines().map(|line| format!("> {line}\r\n")).collect();
    let answer = format!(
        "From: Bo <bo@customer.example>\r\nTo: ACME Support <support@desk.example.org>\r\nSubject: {subject}\r\n\
         Message-ID: <imap-answer-1@customer.example>\r\nIn-Reply-To: <{our_id}>\r\nReferences: <CAJx-alt-2@mail.gmail.com> <{our_id}>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nDone, it prints single pages now.\r\n\r\n\
         On Tue, 2 Dec 2025 at 09:00, ACME Support <support@desk.example.org> wrote:\r\n{quoted}"
    );
    imap.deliver("INBOX", answer.as_bytes()).await;
    wait_until("the answer lands on the ticket", || async { admin.list_comments(ticket.id).await.unwrap().len() == 2 }).await;
    let comments = admin.list_comments(ticket.id).await.unwrap();
    assert_eq!(comments.last().unwrap().body, "Done, it prints single pages now.");
    assert_eq!(admin.get_ticket(ticket.id).await.unwrap().status, Status::Open, "the requester's answer reopens");

    // From here on processed mail is moved to a folder instead.
    imap.session().await.create("Processed").await.unwrap();
    let moving = UpdateMailbox { after_processing: Some(AfterProcessing::Move), move_to_folder: Some(Some("Processed".to_owned())), ..UpdateMailbox::default() };
    admin.update_mailbox(mailbox.id, &moving).await.unwrap();

    // Their out-of-office answer to our mail changes nothing and is never answered.
    agent.transition(ticket.id, &TransitionRequest { to: Status::Resolved, comment: None, version: None }).await.unwrap();
    let ooo = format!(
        "From: Bo <bo@customer.example>\r\nTo: support@desk.example.org\r\nSubject: Out of office: {subject}\r\n\
         Message-ID: <imap-ooo-1@customer.example>\r\nIn-Reply-To: <{our_id}>\r\nAuto-Submitted: auto-replied\r\n\r\nAway until Monday.\r\n"
    );
    imap.deliver("INBOX", ooo.as_bytes()).await;
    wait_until("the auto-reply is kept with the ticket", || async {
        admin.ticket_mail(ticket.id).await.unwrap().iter().any(|m| m.message_id == "imap-ooo-1@customer.example")
    })
    .await;
    assert_eq!(admin.get_ticket(ticket.id).await.unwrap().status, Status::Resolved);
    assert_eq!(sender.run_once(chrono::Utc::now()).await.unwrap().sent, 0, "nothing answers an auto-reply");
    wait_until("the auto-reply is moved", || async { imap.flags("Processed").await.len() == 1 }).await;

    // A bounce of our mail marks the address.
    let bounce = String::from_utf8(fixture("14_dsn_bounce.eml"))
        .unwrap()
        .replace("ana@customer.example", "bo@customer.example")
        .replace("<plain-1@customer.example>", &format!("<{our_id}>"));
    imap.deliver("INBOX", bounce.as_bytes()).await;
    wait_until("the bounce marks the address", || async {
        admin.failing_addresses().await.unwrap().iter().any(|f| f.address == "bo@customer.example")
    })
    .await;
    wait_until("every message left the INBOX", || async { imap.flags("INBOX").await.len() == 2 && imap.flags("Processed").await.len() == 2 }).await;
    let state = mailbox_now(&admin, mailbox.id).await;
    assert!(state.last_error.is_none(), "{state:?}");
    assert!(admin.mail_failures(false).await.unwrap().is_empty());

    // A wrong password: the test says which step failed and why; the poller records it.
    let wrong = UpdateMailbox { imap_password: Some("not it".to_owned()), ..UpdateMailbox::default() };
    admin.update_mailbox(mailbox.id, &wrong).await.unwrap();
    let check = admin.test_mailbox(mailbox.id).await.unwrap();
    assert!(!check.ok && check.failed_step.as_deref() == Some("login"), "{check:?}");
    assert!(!check.error.unwrap_or_default().contains("not it"), "the password is never echoed");
    wait_until("the poller records the failure", || async { mailbox_now(&admin, mailbox.id).await.last_error.is_some() }).await;
    // A mailbox fed by the mailgate only has nothing to test.
    let gate = admin.create_mailbox(&CreateMailbox { name: "gate".to_owned(), ..CreateMailbox::default() }).await.unwrap();
    assert_api_error(admin.test_mailbox(gate.id).await, 422, "validation_failed");
}

async fn mailboxes_are_validated(backend: Backend) {
    let server = TestServer::start_with(backend, configure).await;
    let admin = server.admin().await;
    let imap_without_user = CreateMailbox { name: "x".to_owned(), imap_host: Some("imap.example.org".to_owned()), ..CreateMailbox::default() };
    assert_api_error(admin.create_mailbox(&imap_without_user).await, 422, "validation_failed");
    let reserved = CreateMailbox { name: "Mailgate".to_owned(), ..CreateMailbox::default() };
    assert_api_error(admin.create_mailbox(&reserved).await, 422, "validation_failed");
    let moving_nowhere = CreateMailbox { name: "y".to_owned(), after_processing: Some(AfterProcessing::Move), ..CreateMailbox::default() };
    assert_api_error(admin.create_mailbox(&moving_nowhere).await, 422, "validation_failed");
    let full = CreateMailbox {
        name: "Sales".to_owned(),
        imap_host: Some("imap.example.org".to_owned()),
        imap_user: Some("sales".to_owned()),
        imap_password: Some("pw".to_owned()),
        ..CreateMailbox::default()
    };
    let created = admin.create_mailbox(&full).await.unwrap();
    assert_eq!((created.imap_port, created.imap_security, created.imap_folder.as_str()), (Some(993), Some(MailSecurity::Tls), "INBOX"));
    assert_api_error(admin.create_mailbox(&CreateMailbox { name: "sales".to_owned(), ..CreateMailbox::default() }).await, 409, "mailbox_name_taken");
    // No more polling: the IMAP account goes, the mailbox stays for the mailgate.
    let unpolled = admin.update_mailbox(created.id, &UpdateMailbox { imap_host: Some(None), ..UpdateMailbox::default() }).await.unwrap();
    assert!(unpolled.imap_host.is_none());
    admin.delete_mailbox(created.id).await.unwrap();
    assert_api_error(admin.mailbox(created.id).await, 404, "not_found");
    assert!(admin.mailboxes().await.unwrap().is_empty());
    let (agent, _) = server.user(Role::Agent).await;
    assert_api_error(agent.mailboxes().await, 403, "forbidden");
}

/// TLS from the first byte and STARTTLS against a server whose certificate the admins' own CA
/// signed (trusted through HDMS_MAIL_CA_FILE): the check passes and mail comes in. A server
/// that does not trust that CA fails at the TLS step, saying why, and logs in to nothing.
async fn polls_over_tls_and_starttls(backend: Backend) {
    let ca = TestCa::new();
    let ca_file = ca.ca_file();
    let server = TestServer::start_with(backend, |config| {
        configure(config);
        config.mail_ca_file = Some(ca_file);
    })
    .await;
    let untrusting = TestServer::start_with(backend, configure).await;
    let admin = server.admin().await;
    let stranger = untrusting.admin().await;
    let modes = [("TLS", ImapTls::Implicit, MailSecurity::Tls), ("STARTTLS", ImapTls::Starttls, MailSecurity::Starttls)];
    for (n, (name, tls, security)) in modes.into_iter().enumerate() {
        let imap = ImapServer::start_tls(tls, Some(&ca)).await;
        let mailbox = CreateMailbox { name: name.to_owned(), imap_security: Some(security), ..polled(&imap) };
        let refused = stranger.create_mailbox(&mailbox).await.unwrap();
        let check = stranger.test_mailbox(refused.id).await.unwrap();
        assert!(!check.ok && check.failed_step.as_deref() == Some("tls"), "{name}: {check:?}");
        assert!(check.error.as_deref().unwrap_or_default().contains("certificate"), "{name}: {check:?}");
        stranger.delete_mailbox(refused.id).await.unwrap();

        let polled = admin.create_mailbox(&mailbox).await.unwrap();
        let check = admin.test_mailbox(polled.id).await.unwrap();
        assert!(check.ok, "{name}: {check:?}");
        assert_eq!(check.idle, Some(true), "{name}: pymap has IDLE");
        let raw = format!(
            "From: Ana Lima <ana@customer.example>\r\nTo: support@desk.example.org\r\nSubject: Over {name}\r\n\
             Message-ID: <tls-{n}@customer.example>\r\n\r\nSent to a mailbox read over {name}.\r\n"
        );
        imap.deliver("INBOX", raw.as_bytes()).await;
        wait_until("the message raised a ticket", || async { ticket_count(&admin).await == n + 1 }).await;
        let tickets = admin.list_tickets(&TicketListQuery::default()).await.unwrap().items;
        assert!(tickets.iter().any(|t| t.subject == format!("Over {name}")), "{tickets:?}");
        let newest = imap.flags("INBOX").await.iter().map(|(uid, _)| *uid).max();
        wait_until("the poller records where it stands", || async { Some(mailbox_now(&admin, polled.id).await.last_uid) == newest }).await;
        assert!(mailbox_now(&admin, polled.id).await.last_error.is_none());
        admin.delete_mailbox(polled.id).await.unwrap();
    }
    assert_eq!(ticket_count(&stranger).await, 0, "the untrusting server took nothing in");
}

backend_tests!(a_conversation_through_imap, mailboxes_are_validated, polls_over_tls_and_starttls);

/// Two instances share one PostgreSQL database and poll one mailbox: one holds the lease, each
/// message becomes exactly one ticket, and when that instance stops the other takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_poll_one_mailbox() {
    let imap = ImapServer::start().await;
    let first = TestServer::start_with(Backend::Postgres, configure).await;
    let second = TestServer::start_config(first.config.clone(), tempfile::tempdir().unwrap()).await;
    let admin = first.admin().await;
    let mailbox = admin.create_mailbox(&polled(&imap)).await.unwrap();
    const MESSAGES: usize = 12;
    for n in 0..MESSAGES {
        let raw = format!(
            "From: Cust {n} <cust{n}@customer.example>\r\nTo: support@desk.example.org\r\nSubject: Problem {n}\r\n\
             Message-ID: <two-{n}@customer.example>\r\n\r\nNumber {n} is broken.\r\n"
        );
        imap.deliver("INBOX", raw.as_bytes()).await;
    }
    wait_until("every message raised a ticket", || async { ticket_count(&admin).await >= MESSAGES }).await;
    wait_until("every message is flagged seen", || async {
        let flags = imap.flags("INBOX").await;
        flags.len() == MESSAGES && flags.iter().all(|(_, f)| f.iter().any(|f| f == "Seen"))
    })
    .await;
    let tickets = admin.list_tickets(&TicketListQuery::default()).await.unwrap().items;
    assert_eq!(tickets.len(), MESSAGES, "one ticket per message");
    let mut subjects: Vec<&str> = tickets.iter().map(|t| t.subject.as_str()).collect();
    subjects.sort_unstable();
    subjects.dedup();
    assert_eq!(subjects.len(), MESSAGES);
    let state = mailbox_now(&admin, mailbox.id).await;
    assert_eq!(state.last_uid as usize, imap.flags("INBOX").await.iter().map(|(uid, _)| *uid as usize).max().unwrap());
    assert!(state.last_error.is_none(), "{state:?}");
    // Not only one ticket each (the Message-ID check would hide a second fetch): the server's
    // log of fetches shows every UID taken out once, all under one lease.
    let fetched = fetches(&second, mailbox.id).await;
    let uids: std::collections::BTreeSet<i64> = fetched.iter().map(|(uid, _)| *uid).collect();
    assert_eq!((fetched.len(), uids.len()), (MESSAGES, MESSAGES), "each message fetched once: {fetched:?}");
    let leases: std::collections::BTreeSet<uuid::Uuid> = fetched.iter().map(|(_, lease)| *lease).collect();
    assert_eq!(leases.len(), 1, "by one poller: {fetched:?}");

    // Whichever instance polls, stopping it hands the mailbox to the other.
    drop(first);
    imap.deliver("INBOX", b"From: late@customer.example\r\nSubject: After the stop\r\nMessage-ID: <late@customer.example>\r\n\r\nStill there?\r\n").await;
    let admin = second.admin().await;
    wait_until("the remaining instance polls the mailbox", || async { ticket_count(&admin).await == MESSAGES + 1 }).await;
    let fetched = fetches(&second, mailbox.id).await;
    let uids: std::collections::BTreeSet<i64> = fetched.iter().map(|(uid, _)| *uid).collect();
    assert_eq!((fetched.len(), uids.len()), (MESSAGES + 1, MESSAGES + 1), "nothing fetched again on the takeover: {fetched:?}");
}

/// Every fetch the server logged for a mailbox: (UID, the lease it was fetched under).
async fn fetches(server: &TestServer, mailbox: uuid::Uuid) -> Vec<(i64, uuid::Uuid)> {
    hdms_server::with_db!(&server.state.db, pool => sqlx::query_as("SELECT uid, lease_token FROM mail_imap_fetches WHERE mailbox_id = $1 ORDER BY uid")
        .bind(mailbox).fetch_all(pool).await.unwrap())
}
