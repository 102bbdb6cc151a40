//! Inbound mail (`POST /mail/inbound`, what `hdms mailgate` and the IMAP poller hand in): any
//! bytes as a raw RFC 5322 message, through parsing, robot and bounce detection, quote
//! stripping, threading, new customers and tickets, attachments.
//!
//! Properties: parsing never panics, and what it picks out is what the rest relies on (a
//! Message-ID, lower-case addresses with an `@`); quote stripping never panics and keeps no
//! more than the text; taking the message in never answers 5xx.

#![no_main]

use axum::body::Body;
use axum::http::{Method, header};
use hdms_fuzz::desk;
use hdms_server::comms::mail::{ingest, parse, quotes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let desk = desk();
    if let Some(mail) = parse::parse(raw, "0123abcd", &desk.state.config.mail_domain) {
        assert!(!mail.message_id.is_empty());
        for address in mail.from.iter().map(|from| &from.address).chain(&mail.to).chain(&mail.cc) {
            assert!(address.contains('@') && *address == address.to_lowercase(), "address {address:?}");
        }
        let reply = quotes::strip(&mail.text);
        assert!(reply.len() <= mail.text.len(), "the reply {reply:?} is longer than the text {:?}", mail.text);
        let _ = ingest::subject_number(&mail.subject);
    }
    let request = desk
        .request(Method::POST, "/api/v1/mail/inbound", Some(&desk.admin))
        .header(header::CONTENT_TYPE, "message/rfc822")
        .body(Body::from(raw.to_vec()))
        .expect("request");
    desk.send(request).assert_no_server_error(&String::from_utf8_lossy(raw));
});
