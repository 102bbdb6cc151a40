//! Machine mail: what RFC 3834 says auto-responders mark, and what Request Tracker and Zammad
//! learned the hard way. Such mail is kept on its ticket but never answered automatically,
//! never reopens a ticket and never starts a mail exchange, which is what breaks loops between
//! two auto-responders and keeps out-of-office replies from reopening resolved tickets.

use mail_parser::Message;

/// The header hdms puts on every message it sends automatically; mail carrying it came from an
/// hdms (this one, or another one answering it).
pub const LOOP_HEADER: &str = "X-HDMS-Loop";

/// Why `message` is machine mail, or `None` for a person's mail. `from` is the sender's address
/// (lower case), `message_id` its Message-ID without brackets.
pub fn reason(message: &Message<'_>, from: Option<&str>, message_id: &str, our_domain: &str) -> Option<String> {
    let header = |name: &'static str| message.header_raw(name).map(|v| v.trim().to_owned());
    if let Some(value) = header("Auto-Submitted") {
        let kind = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if kind != "no" {
            return Some(format!("Auto-Submitted: {kind}"));
        }
    }
    if let Some(value) = header("Precedence") {
        let value = value.to_ascii_lowercase();
        if ["bulk", "junk", "list"].contains(&value.as_str()) {
            return Some(format!("Precedence: {value}"));
        }
    }
    if message.header_raw(LOOP_HEADER).is_some() {
        return Some(format!("{LOOP_HEADER} (sent by an hdms)"));
    }
    if message.header_raw("X-Loop").is_some() {
        return Some("X-Loop".to_owned());
    }
    if message.header_raw("X-Auto-Response-Suppress").is_some() {
        return Some("X-Auto-Response-Suppress".to_owned());
    }
    // Older auto-responders (vacation programs) that predate RFC 3834.
    for name in ["X-Autoreply", "X-Autorespond", "X-Autoresponder"] {
        if message.header_raw(name).is_some() {
            return Some(name.to_owned());
        }
    }
    if header("Return-Path").is_some_and(|path| path.replace(char::is_whitespace, "") == "<>") {
        return Some("empty return path (<>)".to_owned());
    }
    if let Some(from) = from {
        let local = from.split('@').next().unwrap_or_default();
        if local == "mailer-daemon" || local == "postmaster" {
            return Some(format!("from {local}"));
        }
    }
    let domain = message_id.rsplit_once('@').map(|(_, domain)| domain.to_ascii_lowercase());
    if domain.is_some_and(|domain| domain == our_domain.to_ascii_lowercase()) {
        return Some("Message-ID of our own domain".to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use mail_parser::MessageParser;

    use super::*;

    fn reason_of(headers: &str) -> Option<String> {
        let raw = format!("From: Ana <ana@example.com>\r\nMessage-ID: <1@example.com>\r\n{headers}Subject: hi\r\n\r\nbody\r\n");
        let message = MessageParser::default().parse(raw.as_bytes()).unwrap();
        let from = message.from().and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_lowercase);
        let id = message.message_id().unwrap_or_default().to_owned();
        reason(&message, from.as_deref(), &id, "desk.example.org")
    }

    #[test]
    fn people_are_not_robots() {
        assert_eq!(reason_of(""), None);
        assert_eq!(reason_of("Auto-Submitted: no\r\n"), None);
        assert_eq!(reason_of("Precedence: first-class\r\n"), None);
    }

    #[test]
    fn each_marker_counts() {
        assert_eq!(reason_of("Auto-Submitted: auto-replied\r\n").unwrap(), "Auto-Submitted: auto-replied");
        assert_eq!(reason_of("Auto-Submitted: Auto-Generated; owner-email=x@y\r\n").unwrap(), "Auto-Submitted: auto-generated");
        assert_eq!(reason_of("Precedence: Bulk\r\n").unwrap(), "Precedence: bulk");
        assert!(reason_of("X-Loop: desk\r\n").is_some());
        assert!(reason_of("X-HDMS-Loop: desk.example.org\r\n").is_some());
        assert!(reason_of("X-Auto-Response-Suppress: All\r\n").is_some());
        assert!(reason_of("Return-Path: <>\r\n").is_some());
    }

    #[test]
    fn daemons_and_our_own_ids() {
        let raw = b"From: MAILER-DAEMON@mx.example.com\r\nMessage-ID: <x@mx.example.com>\r\n\r\nx\r\n";
        let message = MessageParser::default().parse(&raw[..]).unwrap();
        assert_eq!(reason(&message, Some("mailer-daemon@mx.example.com"), "x@mx.example.com", "d").unwrap(), "from mailer-daemon");
        let raw = b"From: ana@example.com\r\nMessage-ID: <hdms.1@Desk.Example.org>\r\n\r\nx\r\n";
        let message = MessageParser::default().parse(&raw[..]).unwrap();
        assert!(reason(&message, Some("ana@example.com"), "hdms.1@Desk.Example.org", "desk.example.org").is_some());
    }
}
