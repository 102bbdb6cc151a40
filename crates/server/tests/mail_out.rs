//! The email channel, mail out, end to end against a real SMTP server (Python's `aiosmtpd`,
//! started by the test on a loopback port, writing what it receives to a Maildir): an agent's
//! reply reaches the customer with the headers mail clients thread on; the customer's answer,
//! built from that mail and quoting it, lands on the same ticket with the quote stripped; an
//! auto-reply to it changes nothing and is never answered; a bounce marks the address and stops
//! the mail to it; acknowledgements are rate limited; temporary failures are retried and
//! recorded.

mod common;
mod mail_support;

use std::path::Path;

use hdms_api_types::Role;
use hdms_api_types::client::Client;
use hdms_api_types::mail::{InboundResult, MailDisposition, MailSecurity, UpdateSmtpSettings};
use hdms_api_types::sms::NotificationPreference;
use hdms_api_types::tickets::{AssignRequest, CreateComment, Status, TransitionRequest};
use hdms_api_types::users::{CreateUser, UpdateUser};
use hdms_server::comms::mail::sender::Sender;
use mail_parser::MessageParser;

use common::{Backend, PASSWORD, TestServer};
use mail_support::SmtpCapture;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mail");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES).join(name)).unwrap()
}

async fn start(backend: Backend, limit: u32) -> TestServer {
    TestServer::start_with(backend, |config| {
        config.mail_domain = "hdms.test".to_owned();
        config.mail_auto_reply_limit = limit;
        config.mail_retry_base_ms = 1000;
        config.mail_max_attempts = 2;
        // The tests drive the sender themselves; the background one waits.
        config.mail_poll_ms = 3_600_000;
    })
    .await
}

async fn use_smtp(admin: &Client, port: u16, acknowledge: bool) {
    admin
        .set_smtp_settings(&UpdateSmtpSettings {
            host: "127.0.0.1".to_owned(),
            port,
            security: MailSecurity::Plain,
            username: None,
            password: None,
            from_address: "support@desk.example.org".to_owned(),
            from_name: Some("ACME Support".to_owned()),
            acknowledge_new_tickets: acknowledge,
        })
        .await
        .unwrap();
}

async fn ingest(admin: &Client, raw: Vec<u8>) -> InboundResult {
    admin.mail_inbound(raw, None).await.unwrap()
}

fn header(raw: &[u8], name: &str) -> Option<String> {
    let message = MessageParser::default().parse(raw).unwrap();
    message.header_raw(name.to_owned()).map(|v| v.trim().to_owned())
}

async fn agent(server: &TestServer) -> Client {
    let admin = server.admin().await;
    admin
        .create_user(&CreateUser { email: "agent@desk.example.org".to_owned(), name: "Sam Agent".to_owned(), role: Role::Agent, phone: None, password: Some(PASSWORD.to_owned()) })
        .await
        .unwrap();
    let client = server.anonymous();
    client.login("agent@desk.example.org", PASSWORD).await.unwrap();
    client
}

async fn a_conversation_by_mail(backend: Backend) {
    let smtp = SmtpCapture::start().await;
    let server = start(backend, 3).await;
    let admin = server.admin().await;
    use_smtp(&admin, smtp.port, false).await;
    let check = admin.test_smtp().await.unwrap();
    assert!(check.ok, "{check:?}");
    let agent = agent(&server).await;
    let sender = Sender::new(server.state.clone());

    let created = ingest(&admin, fixture("02_alternative.eml")).await;
    let ticket = created.ticket_id.unwrap();
    // An internal note never leaves; a public reply does.
    agent.comment(ticket, &CreateComment { body: "Duplex is on by default here".to_owned(), internal: true }).await.unwrap();
    agent.comment(ticket, &CreateComment { body: "Please turn off duplex printing and try again.".to_owned(), internal: false }).await.unwrap();
    let round = sender.run_once(chrono::Utc::now()).await.unwrap();
    assert_eq!(round.sent, 1, "{round:?}");
    let sent = smtp.messages();
    assert_eq!(sent.len(), 1);
    let reply = &sent[0];
    let parsed = MessageParser::default().parse(reply.as_slice()).unwrap();
    assert_eq!(parsed.to().unwrap().first().unwrap().address().unwrap(), "bo@customer.example");
    let cc: Vec<&str> = parsed.cc().map(|c| c.iter().filter_map(|a| a.address()).collect()).unwrap_or_default();
    assert_eq!(cc, vec!["ana@customer.example"], "the customer's Cc is kept, the agent's own address is not copied");
    let subject = parsed.subject().unwrap();
    assert!(subject.starts_with("Re: [HD-1001] "), "{subject}");
    let our_id = parsed.message_id().unwrap().to_owned();
    assert!(our_id.starts_with("hdms.1001.") && our_id.ends_with("@hdms.test"), "{our_id}");
    assert_eq!(header(reply, "In-Reply-To").as_deref(), Some("<CAJx-alt-2@mail.gmail.com>"));
    assert!(header(reply, "References").unwrap().contains("<CAJx-alt-2@mail.gmail.com>"));
    assert_eq!(header(reply, "X-HDMS-Loop").as_deref(), Some("hdms.test"));
    assert!(header(reply, "Auto-Submitted").is_none(), "a person's reply is not automatic");
    let text = parsed.body_text(0).unwrap().to_string();
    assert!(text.contains("Reply above this line") && text.contains("Please turn off duplex printing"), "{text}");
    assert!(!text.contains("Duplex is on by default"), "internal notes never leave");

    // The customer answers from their mail client, quoting our mail.
    agent.transition(ticket, &TransitionRequest { to: Status::InProgress, comment: None, version: None }).await.unwrap();
    agent.transition(ticket, &TransitionRequest { to: Status::PendingCustomer, comment: None, version: None }).await.unwrap();
    let quoted: String = text.lines().map(|line| format!("> {line}\r\n")).collect();
    let answer = format!(
        "From: Bo <bo@customer.example>\r\nTo: ACME Support <support@desk.example.org>\r\nSubject: {subject}\r\n\
         Message-ID: <answer-1@customer.example>\r\nIn-Reply-To: <{our_id}>\r\nReferences: <CAJx-alt-2@mail.gmail.com> <{our_id}>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nDone, it prints single pages now. Thanks!\r\n\r\n\
         On Tue, 2 Dec 2025 at 09:00, ACME Support <support@desk.example.org> wrote:\r\n{quoted}"
    );
    let answered = ingest(&admin, answer.into_bytes()).await;
    assert_eq!(answered.disposition, MailDisposition::CommentAdded);
    assert_eq!(answered.ticket_id, Some(ticket));
    let comments = admin.list_comments(ticket).await.unwrap();
    assert_eq!(comments.last().unwrap().body, "Done, it prints single pages now. Thanks!");
    assert_eq!(admin.get_ticket(ticket).await.unwrap().status, Status::Open, "the requester's answer reopens");

    // Their out-of-office answer to our next mail changes nothing and is never answered.
    agent.transition(ticket, &TransitionRequest { to: Status::Resolved, comment: None, version: None }).await.unwrap();
    let ooo = format!(
        "From: Bo <bo@customer.example>\r\nTo: support@desk.example.org\r\nSubject: Out of office: {subject}\r\n\
         Message-ID: <ooo-1@customer.example>\r\nIn-Reply-To: <{our_id}>\r\nAuto-Submitted: auto-replied\r\n\r\nAway until Monday.\r\n"
    );
    let ooo = ingest(&admin, ooo.into_bytes()).await;
    assert_eq!(ooo.ticket_id, Some(ticket));
    assert!(ooo.automatic.is_some());
    assert_eq!(admin.get_ticket(ticket).await.unwrap().status, Status::Resolved);
    let round = sender.run_once(chrono::Utc::now()).await.unwrap();
    assert_eq!(round.sent, 0, "nothing answers an auto-reply");
    assert_eq!(smtp.messages().len(), 1);

    // A bounce of our mail marks the address; no more mail goes to it.
    let bounce = String::from_utf8(fixture("14_dsn_bounce.eml"))
        .unwrap()
        .replace("ana@customer.example", "bo@customer.example")
        .replace("<plain-1@customer.example>", &format!("<{our_id}>"));
    let bounced = ingest(&admin, bounce.into_bytes()).await;
    assert_eq!(bounced.disposition, MailDisposition::Bounce);
    assert_eq!(bounced.ticket_id, Some(ticket));
    agent.transition(ticket, &TransitionRequest { to: Status::Open, comment: None, version: None }).await.unwrap();
    agent.comment(ticket, &CreateComment { body: "Are you still there?".to_owned(), internal: false }).await.unwrap();
    assert_eq!(sender.run_once(chrono::Utc::now()).await.unwrap().sent, 0, "no mail to a failing address");
    assert_eq!(smtp.messages().len(), 1);
    let mail = admin.ticket_mail(ticket).await.unwrap();
    assert!(mail.iter().any(|m| m.direction == "out" && m.message_id == our_id), "our mail is kept with the ticket");
}

async fn acknowledgements_are_rate_limited(backend: Backend) {
    let smtp = SmtpCapture::start().await;
    let server = start(backend, 1).await;
    let admin = server.admin().await;
    use_smtp(&admin, smtp.port, true).await;
    let sender = Sender::new(server.state.clone());
    ingest(&admin, fixture("01_plain.eml")).await;
    // The same person, however they spell their address: over the limit (1 here).
    let second = String::from_utf8(fixture("01_plain.eml")).unwrap().replace("plain-1@", "plain-2@").replace("VPN drops", "VPN fails")
        .replace("Ana@Customer.Example", "ANA@customer.EXAMPLE");
    ingest(&admin, second.into_bytes()).await;
    // Machine mail is never acknowledged.
    ingest(&admin, fixture("13_bulk.eml")).await;
    assert_eq!(sender.run_once(chrono::Utc::now()).await.unwrap().sent, 1);
    assert_eq!(smtp.messages().len(), 1, "one acknowledgement per recipient and window");
    // The limit is per recipient: someone else still gets theirs.
    let other = String::from_utf8(fixture("01_plain.eml")).unwrap().replace("plain-1@", "plain-3@").replace("VPN drops", "Printer jams")
        .replace("Ana Lima <Ana@Customer.Example>", "Bo Chen <bo@customer.example>");
    ingest(&admin, other.into_bytes()).await;
    assert_eq!(sender.run_once(chrono::Utc::now()).await.unwrap().sent, 1);
    let sent = smtp.messages();
    assert_eq!(sent.len(), 2);
    let to = header(&sent[1], "To").unwrap_or_default();
    assert!(to.contains("bo@customer.example"), "{to}");
    assert_eq!(header(&sent[0], "Auto-Submitted").as_deref(), Some("auto-replied"));
    assert_eq!(header(&sent[0], "In-Reply-To").as_deref(), Some("<plain-1@customer.example>"));
    let parsed = MessageParser::default().parse(sent[0].as_slice()).unwrap();
    assert_eq!(parsed.from().unwrap().first().unwrap().address().unwrap(), "support@desk.example.org");
    assert!(parsed.body_text(0).unwrap().contains("HD-1001"));
}

async fn failures_are_retried_then_given_up(backend: Backend) {
    let server = start(backend, 3).await;
    let admin = server.admin().await;
    // Nothing listens on this port: every attempt fails the way a down server does.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    use_smtp(&admin, closed, false).await;
    let check = admin.test_smtp().await.unwrap();
    assert!(!check.ok && check.failed_step.as_deref() == Some("connect") && check.error.is_some(), "{check:?}");
    let agent = agent(&server).await;
    let sender = Sender::new(server.state.clone());
    let ticket = ingest(&admin, fixture("01_plain.eml")).await.ticket_id.unwrap();
    agent.comment(ticket, &CreateComment { body: "Looking into it".to_owned(), internal: false }).await.unwrap();
    let now = chrono::Utc::now();
    let first = sender.run_once(now).await.unwrap();
    assert_eq!((first.sent, first.retried, first.failed), (0, 1, 0), "{first:?}");
    // Not due again before the backoff has passed.
    assert_eq!(sender.run_once(now).await.unwrap(), Default::default());
    let later = sender.run_once(now + chrono::Duration::seconds(5)).await.unwrap();
    assert_eq!(later.failed, 1, "{later:?}");
    const ATTEMPTS: &str = "SELECT count(*) FROM mail_attempts";
    const STATE: &str = "SELECT state FROM mail_outbox";
    let (attempts, state): (i64, String) = match &server.state.db {
        hdms_server::db::Db::Sqlite(pool) => (sqlx::query_scalar(ATTEMPTS).fetch_one(pool).await.unwrap(), sqlx::query_scalar(STATE).fetch_one(pool).await.unwrap()),
        hdms_server::db::Db::Postgres(pool) => (sqlx::query_scalar(ATTEMPTS).fetch_one(pool).await.unwrap(), sqlx::query_scalar(STATE).fetch_one(pool).await.unwrap()),
    };
    assert_eq!((attempts, state.as_str()), (2, "failed"));
    // The password is never shown.
    let settings = admin.smtp_settings().await.unwrap();
    assert!(!settings.password_set);
}

/// Email is a notification channel beside in-app and SMS: off for staff until they choose it,
/// on for customers who wrote by mail; a requester mailed the reply itself gets no second mail.
async fn notifications_by_mail(backend: Backend) {
    let smtp = SmtpCapture::start().await;
    let server = start(backend, 3).await;
    let admin = server.admin().await;
    use_smtp(&admin, smtp.port, false).await;
    let agent = agent(&server).await;
    let sender = Sender::new(server.state.clone());
    let ticket = ingest(&admin, fixture("01_plain.eml")).await.ticket_id.unwrap();

    // Defaults: off for staff, on for the customer who wrote by mail.
    let staff_defaults = agent.notification_preferences().await.unwrap();
    assert!(staff_defaults.preferences.iter().all(|p| p.email == Some(false)), "{staff_defaults:?}");
    let ana = admin.get_ticket(ticket).await.unwrap().requester_id;
    admin.update_user(ana, &UpdateUser { password: Some(PASSWORD.to_owned()), ..UpdateUser::default() }).await.unwrap();
    let customer = server.anonymous();
    customer.login("ana@customer.example", PASSWORD).await.unwrap();
    assert!(customer.notification_preferences().await.unwrap().preferences.iter().all(|p| p.email == Some(true)));

    // The agent wants assignments by mail (an update without `email` keeps it).
    let wanted = NotificationPreference { kind: "assigned".to_owned(), in_app: true, sms: false, email: Some(true) };
    agent.set_notification_preferences(vec![wanted]).await.unwrap();
    let kept = NotificationPreference { kind: "assigned".to_owned(), in_app: false, sms: false, email: None };
    let now = agent.set_notification_preferences(vec![kept]).await.unwrap();
    assert!(now.preferences.iter().any(|p| p.kind == "assigned" && p.email == Some(true) && !p.in_app), "{now:?}");
    let me = agent.me().await.unwrap();
    admin.assign(ticket, &AssignRequest { assignee_id: Some(Some(me.id)), ..AssignRequest::default() }).await.unwrap();
    // The agent's public reply is mailed to the requester once: the reply, no notification.
    agent.comment(ticket, &CreateComment { body: "On it.".to_owned(), internal: false }).await.unwrap();
    assert_eq!(sender.run_once(chrono::Utc::now()).await.unwrap().sent, 2);
    let sent = smtp.messages();
    let to = |raw: &Vec<u8>| MessageParser::default().parse(raw.as_slice()).unwrap().to().unwrap().first().unwrap().address().unwrap().to_owned();
    let notice = sent.iter().find(|m| to(m) == "agent@desk.example.org").expect("the agent's assignment by mail");
    assert_eq!(header(notice, "Auto-Submitted").as_deref(), Some("auto-generated"));
    let parsed = MessageParser::default().parse(notice.as_slice()).unwrap();
    assert!(parsed.subject().unwrap().starts_with("[HD-1001] "), "{:?}", parsed.subject());
    assert!(parsed.message_id().unwrap().ends_with("@hdms.test"));
    assert_eq!(sent.iter().filter(|m| to(m) == "ana@customer.example").count(), 1, "the reply alone");
}

backend_tests!(
    notifications_by_mail,a_conversation_by_mail, acknowledgements_are_rate_limited, failures_are_retried_then_given_up);
