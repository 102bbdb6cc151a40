//! From raw RFC 5322 bytes to what ingestion needs: addresses, threading headers, the text (HTML
//! rendered as text when there is no plain part), attachments, and whether the message is machine
//! mail or a bounce. `mail-parser` does the MIME and charset work (every charset arrives as
//! UTF-8); this module only picks what hdms uses.

use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};

use crate::comms::mail::dsn::{self, Bounce};
use crate::comms::mail::robots;

/// Width HTML-only mail is rendered to as text.
const HTML_TEXT_WIDTH: usize = 100;

/// One parsed inbound message.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// Without angle brackets; made up from the content hash when the message has none.
    pub message_id: String,
    pub from: Option<Sender>,
    /// Lower case.
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    /// Message-IDs this one answers: In-Reply-To first, then References newest first.
    pub replied_to: Vec<String>,
    /// The whole text, quoted history included.
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<Part>,
    /// Why this is machine mail, when it is.
    pub automatic: Option<String>,
    pub bounce: Option<Bounce>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// Lower case.
    pub address: String,
    pub name: Option<String>,
}

/// An attachment, or an inline image (`cid:` in the HTML).
#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    pub content_type: String,
    pub content_id: Option<String>,
    pub bytes: Vec<u8>,
}

/// Parses `raw`; `None` when it has no headers at all (not mail). `sha256` names a message
/// without a Message-ID; `our_domain` is the domain of the Message-IDs hdms makes.
pub fn parse(raw: &[u8], sha256: &str, our_domain: &str) -> Option<Inbound> {
    let message = MessageParser::default().parse(raw)?;
    if message.parts.first().is_none_or(|root| root.headers.is_empty()) {
        return None;
    }
    let message_id = message
        .message_id()
        .map(normalise_id)
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("{sha256}@no-message-id.invalid"));
    let from = message
        .from()
        .and_then(Address::first)
        .and_then(|addr| {
            let address = addr.address()?.trim().to_lowercase();
            let name = addr.name().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
            Some(Sender { address, name })
        })
        .filter(|sender| sender.address.contains('@'));
    let mut replied_to = ids(message.in_reply_to());
    let mut references = ids(message.references());
    references.reverse();
    for id in references {
        if !replied_to.contains(&id) {
            replied_to.push(id);
        }
    }
    let bounce = dsn::find(&message);
    let automatic = robots::reason(&message, from.as_ref().map(|s| s.address.as_str()), &message_id, our_domain);
    let (text, html) = body(&message);
    let attachments = if bounce.is_some() { Vec::new() } else { attachments(&message, raw) };
    Some(Inbound {
        message_id,
        from,
        to: addresses(message.to()),
        cc: addresses(message.cc()),
        subject: message.subject().map(|s| s.trim().to_owned()).unwrap_or_default(),
        replied_to,
        text,
        html,
        attachments,
        automatic,
        bounce,
    })
}

/// `<abc@x>` → `abc@x`.
pub fn normalise_id(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').trim().to_owned()
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let list: Vec<String> = match value {
        HeaderValue::Text(id) => vec![normalise_id(id)],
        HeaderValue::TextList(ids) => ids.iter().map(|id| normalise_id(id)).collect(),
        _ => Vec::new(),
    };
    list.into_iter().filter(|id| !id.is_empty()).collect()
}

fn addresses(value: Option<&Address<'_>>) -> Vec<String> {
    let mut list: Vec<String> = value
        .map(|address| address.iter().filter_map(|a| a.address()).map(|a| a.trim().to_lowercase()).collect())
        .unwrap_or_default();
    list.retain(|a| a.contains('@'));
    list.dedup();
    list
}

fn is_attachment(part: &mail_parser::MessagePart<'_>) -> bool {
    part.content_disposition().is_some_and(|d| d.is_attachment()) || part.attachment_name().is_some()
}

/// The plain text (every plain body part, in order) and the first HTML part. Mail with HTML
/// only is rendered as text.
fn body(message: &Message<'_>) -> (String, Option<String>) {
    let mut text = String::new();
    for part in message.text_body.iter().filter_map(|&id| message.parts.get(id as usize)) {
        if let PartType::Text(content) = &part.body
            && !is_attachment(part)
        {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(content);
        }
    }
    let html = message.html_body.iter().filter_map(|&id| message.parts.get(id as usize)).find_map(|part| match &part.body {
        PartType::Html(html) if !is_attachment(part) => Some(html.to_string()),
        _ => None,
    });
    if text.trim().is_empty()
        && let Some(html) = &html
    {
        text = html_to_text(html);
    }
    (text.replace("\r\n", "\n"), html)
}

pub fn html_to_text(html: &str) -> String {
    html2text::config::plain()
        .string_from_read(html.as_bytes(), HTML_TEXT_WIDTH)
        .unwrap_or_else(|_| html.to_owned())
}

/// Every part that is not the body: files, inline images, attached messages.
fn attachments(message: &Message<'_>, raw: &[u8]) -> Vec<Part> {
    let body_parts: Vec<u32> = message.text_body.iter().chain(&message.html_body).copied().collect();
    let mut parts = Vec::new();
    for (index, part) in message.parts.iter().enumerate() {
        let in_body = body_parts.contains(&(index as u32));
        let bytes: Vec<u8> = match &part.body {
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => bytes.to_vec(),
            PartType::Text(text) | PartType::Html(text) => {
                if (in_body || index == 0) && !is_attachment(part) {
                    continue;
                }
                text.as_bytes().to_vec()
            }
            PartType::Message(_) => {
                let (start, end) = (part.offset_body as usize, part.offset_end as usize);
                raw.get(start..end.min(raw.len())).unwrap_or_default().to_vec()
            }
            _ => continue,
        };
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub).to_lowercase(),
                None => ct.ctype().to_lowercase(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let content_id = part.content_id().map(normalise_id).filter(|id| !id.is_empty());
        let name = part.attachment_name().map(str::to_owned).unwrap_or_else(|| {
            let extension = mime_guess::get_mime_extensions_str(&content_type).and_then(|e| e.first()).copied();
            let stem = if content_id.is_some() { "inline" } else { "attachment" };
            match extension {
                Some(ext) => format!("{stem}-{}.{ext}", parts.len() + 1),
                None => format!("{stem}-{}", parts.len() + 1),
            }
        });
        parts.push(Part { name, content_type, content_id, bytes });
    }
    parts
}
