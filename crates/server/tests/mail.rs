//! The email channel, mail in: a corpus of realistic messages (tests/fixtures/mail, each with
//! the ticket, text and attachments it must produce in corpus.json) goes through the real ingest
//! route, then threading, robots, bounces, duplicates and failed mail are checked one by one.

mod common;

use hdms_api_types::Role;
use hdms_api_types::client::Client;
use hdms_api_types::mail::{CreateMailbox, InboundResult, MailDisposition, UnknownSenders};
use hdms_api_types::tickets::{Status, Ticket, TransitionRequest};
use hdms_api_types::users::{CreateUser, User, UserListQuery};
use serde::Deserialize;

use common::{Backend, PASSWORD, TestServer, assert_api_error};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mail");
const OUR_DOMAIN: &str = "hdms.test";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

#[derive(Debug, Deserialize)]
struct Expected {
    file: String,
    disposition: MailDisposition,
    ticket: Option<String>,
    subject: Option<String>,
    requester: Option<String>,
    requester_name: Option<String>,
    author: Option<String>,
    /// The description or comment, exactly.
    text: Option<String>,
    /// Or pieces it must contain.
    #[serde(default)]
    contains: Vec<String>,
    /// Pieces the kept full text must contain.
    #[serde(default)]
    full_contains: Vec<String>,
    #[serde(default)]
    html: bool,
    #[serde(default)]
    attachments: Vec<String>,
    /// Names of refused attachments.
    #[serde(default)]
    problems: Vec<String>,
    #[serde(default)]
    watchers: Vec<String>,
    #[serde(default)]
    automatic: bool,
    #[serde(default)]
    failing: Vec<String>,
    no_user: Option<String>,
}

async fn start(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |config| config.mail_domain = OUR_DOMAIN.to_owned()).await
}

async fn user_by_email(admin: &Client, email: &str) -> Option<User> {
    let query = UserListQuery { q: Some(email.to_owned()), ..UserListQuery::default() };
    admin.list_users(&query).await.unwrap().items.into_iter().find(|u| u.email == email)
}

async fn staff(server: &TestServer, email: &str, role: Role) -> (Client, User) {
    let admin = server.admin().await;
    let user = admin
        .create_user(&CreateUser { email: email.to_owned(), name: format!("Staff {email}"), role, phone: None, password: Some(PASSWORD.to_owned()) })
        .await
        .unwrap();
    let client = server.anonymous();
    client.login(email, PASSWORD).await.unwrap();
    (client, user)
}

async fn ingest(admin: &Client, raw: Vec<u8>) -> InboundResult {
    admin.mail_inbound(raw, None).await.expect("the ingest route answers")
}

/// The ticket's description, or the comment the message became.
async fn text_of(admin: &Client, ticket: &Ticket, result: &InboundResult) -> String {
    match result.comment_id {
        Some(id) => admin.list_comments(ticket.id).await.unwrap().into_iter().find(|c| c.id == id).expect("the comment").body,
        None => ticket.description.clone(),
    }
}

async fn corpus(backend: Backend) {
    let server = start(backend).await;
    let admin = server.admin().await;
    staff(&server, "agent@desk.example.org", Role::Agent).await;
    let expectations: Vec<Expected> = serde_json::from_slice(&fixture("corpus.json")).unwrap();
    for expected in expectations {
        let file = &expected.file;
        let result = ingest(&admin, fixture(file)).await;
        assert_eq!(result.disposition, expected.disposition, "{file}: {result:?}");
        assert_eq!(result.automatic.is_some(), expected.automatic, "{file}: automatic {result:?}");
        assert_eq!(result.ticket_number, expected.ticket, "{file}: ticket");
        if expected.disposition == MailDisposition::Failed {
            let failures = admin.mail_failures(false).await.unwrap();
            assert!(failures.iter().any(|f| Some(f.id) == result.failure_id), "{file}: listed as failed");
            continue;
        }
        if let Some(email) = &expected.no_user {
            assert!(user_by_email(&admin, email).await.is_none(), "{file}: machine mail makes no user");
        }
        for address in &expected.failing {
            let failing = admin.failing_addresses().await.unwrap();
            assert!(failing.iter().any(|f| &f.address == address), "{file}: {address} marked failing");
        }
        let Some(number) = &expected.ticket else { continue };
        let ticket = admin.get_ticket_by_number(number).await.unwrap();
        if let Some(subject) = &expected.subject {
            assert_eq!(&ticket.subject, subject, "{file}: subject");
        }
        if let Some(email) = &expected.requester {
            let requester = admin.get_user(ticket.requester_id).await.unwrap();
            assert_eq!(&requester.email, email, "{file}: requester");
            if let Some(name) = &expected.requester_name {
                assert_eq!(&requester.name, name, "{file}: requester's name");
            }
        }
        if matches!(expected.disposition, MailDisposition::Stored | MailDisposition::Bounce) {
            continue;
        }
        let text = text_of(&admin, &ticket, &result).await;
        if let Some(exact) = &expected.text {
            assert_eq!(&text, exact, "{file}: text");
        }
        for piece in &expected.contains {
            assert!(text.contains(piece.as_str()), "{file}: text {text:?} lacks {piece:?}");
        }
        if let Some(author) = &expected.author {
            let comments = admin.list_comments(ticket.id).await.unwrap();
            let comment = comments.iter().find(|c| Some(c.id) == result.comment_id).unwrap();
            let user = user_by_email(&admin, author).await.expect("author exists");
            assert_eq!(comment.author_id, user.id, "{file}: author");
        }
        let mail = admin.ticket_mail(ticket.id).await.unwrap();
        let message = mail.iter().find(|m| Some(&m.message_id) == result.message_id.as_ref()).expect("the mail is kept with the ticket");
        assert_eq!(message.html.is_some(), expected.html, "{file}: HTML kept");
        for piece in &expected.full_contains {
            assert!(message.full_text.contains(piece.as_str()), "{file}: full text lacks {piece:?}");
        }
        let attachments = admin.list_attachments(ticket.id).await.unwrap();
        let names: Vec<&str> = attachments.iter().map(|a| a.file_name.as_str()).collect();
        for name in &expected.attachments {
            assert!(names.contains(&name.as_str()), "{file}: attachment {name} in {names:?}");
        }
        assert_eq!(message.problems.len(), expected.problems.len(), "{file}: refused attachments {:?}", message.problems);
        for (problem, name) in message.problems.iter().zip(&expected.problems) {
            assert!(problem.starts_with(name.as_str()), "{file}: {problem}");
        }
        if !expected.watchers.is_empty() {
            let watchers = admin.list_watchers(ticket.id).await.unwrap();
            for email in &expected.watchers {
                let user = user_by_email(&admin, email).await.unwrap();
                assert!(watchers.iter().any(|w| w.user_id == user.id), "{file}: {email} watches");
            }
        }
    }
    // The malformed message stays failed on a retry, with the attempt counted.
    let failures = admin.mail_failures(false).await.unwrap();
    assert_eq!(failures.len(), 1);
    let retried = admin.retry_mail_failure(failures[0].id).await.unwrap();
    assert_eq!(retried.disposition, MailDisposition::Failed);
    assert_eq!(admin.mail_failures(false).await.unwrap()[0].attempts, 2);
}

async fn duplicates_are_taken_in_once(backend: Backend) {
    let server = start(backend).await;
    let admin = server.admin().await;
    let first = ingest(&admin, fixture("01_plain.eml")).await;
    let again = ingest(&admin, fixture("01_plain.eml")).await;
    assert_eq!(again.disposition, MailDisposition::Duplicate);
    assert_eq!(again.ticket_id, first.ticket_id);
    // Concurrent deliveries of one message (two mail servers, two pollers) give one ticket.
    let raw = fixture("02_alternative.eml");
    let results = futures::future::join_all((0..4).map(|_| ingest(&admin, raw.clone()))).await;
    let created = results.iter().filter(|r| r.disposition == MailDisposition::TicketCreated).count();
    assert_eq!(created, 1, "{results:?}");
    assert!(results.iter().all(|r| r.ticket_id == results[0].ticket_id || r.ticket_id.is_none()));
}

fn message(from: &str, id: &str, subject: &str, extra: &str, body: &str) -> Vec<u8> {
    format!("From: {from}\r\nTo: support@desk.example.org\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n")
        .into_bytes()
}

async fn a_subject_alone_does_not_let_a_stranger_in(backend: Backend) {
    let server = start(backend).await;
    let admin = server.admin().await;
    let original = ingest(&admin, fixture("01_plain.eml")).await;
    let stranger = ingest(&admin, message("mallory@elsewhere.example", "m1@elsewhere.example", "Re: [HD-1001] VPN drops every hour", "", "Me too!")).await;
    assert_eq!(stranger.disposition, MailDisposition::TicketCreated, "{stranger:?}");
    assert_ne!(stranger.ticket_id, original.ticket_id);
    let links = admin.list_links(stranger.ticket_id.unwrap()).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].other.id, original.ticket_id.unwrap());
    // The requester writing with only the number in the subject lands on the ticket.
    let requester = ingest(&admin, message("ana@customer.example", "a2@customer.example", "[HD-1001] more detail", "", "It is cable, not wifi.")).await;
    assert_eq!(requester.disposition, MailDisposition::CommentAdded);
    assert_eq!(requester.ticket_id, original.ticket_id);
    // Someone Cc'd (not on the ticket) answering in the thread lands on it too: the headers
    // prove they are in the conversation.
    let cc = ingest(&admin, message("carl@customer.example", "c3@customer.example", "Re: VPN drops every hour", "In-Reply-To: <plain-1@customer.example>\r\n", "Same here.")).await;
    assert_eq!(cc.disposition, MailDisposition::CommentAdded);
    assert_eq!(cc.ticket_id, original.ticket_id);
}

async fn robots_never_reopen(backend: Backend) {
    let server = start(backend).await;
    let admin = server.admin().await;
    let (agent, _) = staff(&server, "agent@desk.example.org", Role::Agent).await;
    let created = ingest(&admin, fixture("01_plain.eml")).await;
    let ticket = created.ticket_id.unwrap();
    let to = |to| TransitionRequest { to, comment: None, version: None };
    agent.transition(ticket, &to(Status::InProgress)).await.unwrap();
    agent.transition(ticket, &to(Status::PendingCustomer)).await.unwrap();
    // An out-of-office answer on a ticket waiting for the customer: kept, nothing moves.
    let ooo = ingest(&admin, fixture("12_out_of_office.eml")).await;
    assert_eq!(ooo.disposition, MailDisposition::CommentAdded);
    assert_eq!(admin.get_ticket(ticket).await.unwrap().status, Status::PendingCustomer);
    // The customer's own reply reopens it, as a reply through the API does.
    let reply = ingest(&admin, fixture("06_outlook_reply.eml")).await;
    assert_eq!(reply.disposition, MailDisposition::CommentAdded);
    assert_eq!(admin.get_ticket(ticket).await.unwrap().status, Status::Open);
    // Resolved: another out-of-office answer does not reopen it; a person's reply does.
    agent.transition(ticket, &to(Status::Resolved)).await.unwrap();
    let ooo = ingest(
        &admin,
        message("ana@customer.example", "ooo2@customer.example", "Out of office", "Auto-Submitted: auto-replied\r\nIn-Reply-To: <plain-1@customer.example>\r\n", "Away."),
    )
    .await;
    assert_eq!(ooo.disposition, MailDisposition::CommentAdded);
    assert_eq!(admin.get_ticket(ticket).await.unwrap().status, Status::Resolved);
    let back = ingest(&admin, message("ana@customer.example", "back@customer.example", "Re: [HD-1001] VPN", "", "It is back again.")).await;
    assert_eq!(back.ticket_id, Some(ticket));
    assert_eq!(admin.get_ticket(ticket).await.unwrap().status, Status::Open);
    // Machine mail from nobody we know raises no ticket and no account.
    let bulk = ingest(&admin, fixture("13_bulk.eml")).await;
    assert_eq!(bulk.disposition, MailDisposition::Stored);
    assert!(bulk.ticket_id.is_none());
}

async fn a_bounce_marks_the_address(backend: Backend) {
    let server = start(backend).await;
    let admin = server.admin().await;
    let created = ingest(&admin, fixture("01_plain.eml")).await;
    let bounce = ingest(&admin, fixture("14_dsn_bounce.eml")).await;
    assert_eq!(bounce.disposition, MailDisposition::Bounce);
    assert_eq!(bounce.ticket_id, created.ticket_id);
    let failing = admin.failing_addresses().await.unwrap();
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].address, "ana@customer.example");
    assert!(failing[0].reason.contains("5.1.1"), "{}", failing[0].reason);
    let history = admin.history(created.ticket_id.unwrap()).await.unwrap();
    assert!(history.iter().any(|h| h.field == "mail_bounced" && h.after.as_deref().is_some_and(|a| a.contains("ana@customer.example"))), "a note on the ticket");
    // And an internal note in the conversation, which the customer never sees.
    let comments = admin.list_comments(created.ticket_id.unwrap()).await.unwrap();
    let note = comments.iter().find(|c| c.body.contains("bounced")).expect("an internal note about the bounce");
    assert!(note.internal && note.body.contains("ana@customer.example"), "{note:?}");
    // An admin may clear it; the next bounce marks it again; mail from it shows it works.
    admin.clear_failing_address("Ana@Customer.Example").await.unwrap();
    assert!(admin.failing_addresses().await.unwrap().is_empty());
    let second = String::from_utf8(fixture("14_dsn_bounce.eml")).unwrap().replace("<dsn-14@", "<dsn-15@");
    assert_eq!(ingest(&admin, second.into_bytes()).await.disposition, MailDisposition::Bounce);
    assert_eq!(admin.failing_addresses().await.unwrap().len(), 1);
    ingest(&admin, fixture("06_outlook_reply.eml")).await;
    assert!(admin.failing_addresses().await.unwrap().is_empty());
    assert_api_error(admin.clear_failing_address("ana@customer.example").await, 404, "not_found");
}

async fn unknown_senders_follow_the_mailbox(backend: Backend) {
    let server = start(backend).await;
    let admin = server.admin().await;
    let mailbox = CreateMailbox { name: "closed".to_owned(), unknown_senders: Some(UnknownSenders::Drop), ..CreateMailbox::default() };
    admin.create_mailbox(&mailbox).await.unwrap();
    let dropped = admin.mail_inbound(fixture("01_plain.eml"), Some("Closed")).await.unwrap();
    assert_eq!(dropped.disposition, MailDisposition::Dropped, "{dropped:?}");
    assert!(user_by_email(&admin, "ana@customer.example").await.is_none());
    assert_api_error(admin.mail_inbound(fixture("01_plain.eml"), Some("nope")).await, 422, "validation_failed");
    // Only admins hand mail in.
    let (agent, _) = server.user(Role::Agent).await;
    assert_api_error(agent.mail_inbound(fixture("01_plain.eml"), None).await, 403, "forbidden");
}

/// Mail over the size limit is kept in the failed mail list with its reason (a retry takes it
/// in once an admin has raised the limit), and the mail after it goes in.
async fn oversized_mail_is_kept(backend: Backend) {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = hdms_server::config::Config::defaults();
    config.data_dir = data_dir.path().to_path_buf();
    config.jwt_secret = Some(common::JWT_SECRET.to_owned());
    config.admin_email = Some(common::ADMIN_EMAIL.to_owned());
    config.admin_password = Some(common::ADMIN_PASSWORD.to_owned());
    config.mail_domain = OUR_DOMAIN.to_owned();
    config.mail_max_bytes = 2_000;
    if backend == Backend::Postgres {
        config.database_url = Some(common::fresh_postgres_database().await);
    }
    let small = TestServer::start_config(config, data_dir).await;
    let admin = small.admin().await;
    let big = message("ana@customer.example", "big@customer.example", "A big one", "", &"All work and no play. ".repeat(200));
    let size = big.len() as u64;
    let kept = ingest(&admin, big).await;
    assert_eq!(kept.disposition, MailDisposition::Failed, "{kept:?}");
    assert!(kept.reason.as_deref().is_some_and(|r| r.contains("larger than the limit of 2000 bytes")), "{kept:?}");
    let failures = admin.mail_failures(false).await.unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!((failures[0].size, Some(failures[0].id)), (size, kept.failure_id));
    // It blocks nothing: the next message goes in.
    assert_eq!(ingest(&admin, fixture("01_plain.eml")).await.disposition, MailDisposition::TicketCreated);
    // Still too large on a retry.
    assert_eq!(admin.retry_mail_failure(failures[0].id).await.unwrap().disposition, MailDisposition::Failed);
    // Beyond four times the limit it is refused outright (the mail server bounces it).
    assert_api_error(admin.mail_inbound(vec![b'x'; 8_001], None).await, 413, "payload_too_large");
}

backend_tests!(
    oversized_mail_is_kept,
    corpus,
    duplicates_are_taken_in_once,
    a_subject_alone_does_not_let_a_stranger_in,
    robots_never_reopen,
    a_bounce_marks_the_address,
    unknown_senders_follow_the_mailbox,
);
