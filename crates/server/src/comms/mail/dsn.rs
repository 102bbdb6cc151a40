//! Bounces: delivery status notifications (RFC 3464, `multipart/report;
//! report-type=delivery-status`). What matters is which recipients failed, why, and which
//! message of ours bounced (its Message-ID, from the returned message or its headers).

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use crate::comms::mail::parse::normalise_id;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// Recipients whose delivery failed, lower case, with the status and diagnostic.
    pub failed: Vec<(String, String)>,
    /// The Message-ID of the message that bounced, when the report says.
    pub original_message_id: Option<String>,
}

/// The bounce report in `message`, if it is one with at least one failed recipient.
pub fn find(message: &Message<'_>) -> Option<Bounce> {
    let root = message.parts.first()?;
    let is_report = root.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct.attribute("report-type").is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    });
    if !is_report {
        return None;
    }
    let mut failed = Vec::new();
    let mut original_message_id = None;
    for part in &message.parts {
        let Some(ct) = part.content_type() else { continue };
        let kind = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()).to_ascii_lowercase();
        match (kind.as_str(), &part.body) {
            ("message/delivery-status" | "message/global-delivery-status", _) => {
                failed.extend(failed_recipients(&String::from_utf8_lossy(part.contents())));
            }
            ("message/rfc822" | "message/global", PartType::Message(returned)) => {
                original_message_id = original_message_id.or_else(|| returned.message_id().map(normalise_id));
            }
            ("text/rfc822-headers" | "message/global-headers", _) => {
                let headers = MessageParser::default().parse_headers(part.contents());
                original_message_id = original_message_id.or_else(|| headers.and_then(|h| h.message_id().map(normalise_id)));
            }
            _ => {}
        }
    }
    // Some reports quote only the headers in the text; the bounce's own threading headers then
    // often name the original.
    if original_message_id.is_none() {
        original_message_id = match message.in_reply_to() {
            mail_parser::HeaderValue::Text(id) => Some(normalise_id(id)),
            mail_parser::HeaderValue::TextList(ids) => ids.first().map(|id| normalise_id(id)),
            _ => None,
        };
    }
    if failed.is_empty() {
        return None;
    }
    Some(Bounce { failed, original_message_id })
}

/// The per-recipient blocks of a `message/delivery-status` body whose Action is `failed`.
fn failed_recipients(status: &str) -> Vec<(String, String)> {
    let mut failed = Vec::new();
    for block in status.replace("\r\n", "\n").split("\n\n") {
        let mut recipient = None;
        let mut action = None;
        let mut code = None;
        let mut diagnostic = None;
        for line in unfold(block) {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                // `rfc822; ana@example.com`
                "final-recipient" => recipient = Some(value.rsplit(';').next().unwrap_or(value).trim().to_lowercase()),
                "original-recipient" if recipient.is_none() => {
                    recipient = Some(value.rsplit(';').next().unwrap_or(value).trim().to_lowercase())
                }
                "action" => action = Some(value.to_ascii_lowercase()),
                "status" => code = Some(value.to_owned()),
                "diagnostic-code" => diagnostic = Some(value.rsplit(';').next().unwrap_or(value).trim().to_owned()),
                _ => {}
            }
        }
        if let (Some(recipient), Some("failed")) = (recipient, action.as_deref()) {
            let recipient = recipient.trim_start_matches('<').trim_end_matches('>').to_owned();
            let reason = match (code, diagnostic) {
                (Some(code), Some(diagnostic)) => format!("{code} {diagnostic}"),
                (Some(code), None) => code,
                (None, Some(diagnostic)) => diagnostic,
                (None, None) => "delivery failed".to_owned(),
            };
            failed.push((recipient, reason));
        }
    }
    failed
}

/// Header lines with their continuation lines joined.
fn unfold(block: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in block.lines() {
        match lines.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => lines.push(line.to_owned()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_failed_recipients_only() {
        let status = "Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; Ana@Example.com\nAction: failed\nStatus: 5.1.1\n\
                      Diagnostic-Code: smtp; 550 5.1.1 user unknown\n  (mailbox gone)\n\nFinal-Recipient: rfc822; bo@example.com\nAction: delayed\nStatus: 4.4.1\n";
        let failed = failed_recipients(status);
        assert_eq!(failed, vec![("ana@example.com".to_owned(), "5.1.1 550 5.1.1 user unknown (mailbox gone)".to_owned())]);
    }
}
