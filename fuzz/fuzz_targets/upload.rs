//! Attachment uploads (`POST /tickets/{id}/attachments`): any body under any content type,
//! from a customer, an agent or an admin, through axum's multipart parser and the route's own
//! receiving, naming, type sniffing and storing.
//!
//! Input: a line naming who uploads (`admin`, `gent`, `customer`) and to which ticket (`staff`
//! in it: one the customer may not see; `nil`: none; else the customer's), a line with the
//! `Content-Type` header, then the body.
//!
//! Properties: never a 5xx; a file name is made safe the same way twice (sanitising is
//! idempotent) and what is stored has no path separators, control or reordering characters,
//! leading dot or blank; an accepted file can be deleted again.

#![no_main]

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use hdms_api_types::files::Attachment;
use hdms_fuzz::{desk, first_line, role_of};
use hdms_server::files::names::sanitize;
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

fn check_name(raw: &str) {
    let Some(clean) = sanitize(raw) else { return };
    assert!(!clean.is_empty() && !clean.starts_with('.') && clean.trim() == clean, "{raw:?} became {clean:?}");
    assert!(!clean.contains(['/', '\\']) && !clean.chars().any(char::is_control), "{raw:?} became {clean:?}");
    assert!(!clean.contains(['\u{202E}', '\u{202D}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}']), "{raw:?} became {clean:?}");
    assert_eq!(sanitize(&clean).as_deref(), Some(clean.as_str()), "sanitising {raw:?} twice differs");
}

fuzz_target!(|data: &[u8]| {
    let desk = desk();
    let (who, rest) = first_line(data);
    let (content_type, body) = first_line(rest);
    let has = |word: &[u8]| who.windows(word.len()).any(|w| w == word);
    let ticket = if has(b"staff") { desk.staff_ticket } else if has(b"nil") { Uuid::nil() } else { desk.customer_ticket };
    // File names as the multipart parser will see them, checked on their own too.
    for line in String::from_utf8_lossy(body).lines() {
        if let Some((_, name)) = line.split_once("filename=\"") {
            check_name(name.split('"').next().unwrap_or(name));
        }
    }
    let uri = format!("/api/v1/tickets/{ticket}/attachments");
    let mut request = desk.request(Method::POST, &uri, Some(desk.person(role_of(who))));
    // A header value cannot hold every byte; such a request never reaches a server.
    if let Ok(value) = axum::http::HeaderValue::from_bytes(content_type) {
        request = request.header(header::CONTENT_TYPE, value);
    }
    let answer = desk.send(request.body(Body::from(body.to_vec())).expect("request"));
    answer.assert_no_server_error(&(String::from_utf8_lossy(content_type), String::from_utf8_lossy(body)));
    if answer.status == StatusCode::CREATED {
        let attachment: Attachment = serde_json::from_slice(&answer.body).expect("an attachment");
        check_name(&attachment.file_name);
        let delete = desk.request(Method::DELETE, &format!("/api/v1/attachments/{}", attachment.id), Some(&desk.admin));
        let answer = desk.send(delete.body(Body::empty()).expect("request"));
        assert!(answer.status.is_success(), "deleting {} answered {}", attachment.id, answer.status);
    }
});
