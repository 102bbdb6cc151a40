//! The generic HTTP provider: one POST per attempt to a configured URL, with a configured body
//! template and auth header, so any SMS gateway with an HTTP API can be used without code.
//!
//! Answers 2xx are deliveries (the gateway's message id is read from a JSON pointer into its
//! answer); 408, 425, 429 and 5xx answers and transport failures are retried by the worker;
//! any other answer (a 4xx: the gateway refuses the request itself) fails the message at once.

use std::time::Duration;

use anyhow::{Context, bail};
use futures::future::BoxFuture;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};

use crate::comms::sms::gateway::{Delivery, Gateway, Message, SendError};
use crate::config::Config;

/// Most of a gateway's answer that is read (for its message id, or an error's detail).
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Most of a gateway's error answer kept in the outbox and the log.
const MAX_ERROR_DETAIL: usize = 300;

/// How substituted values are escaped, from the body's content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// JSON string escapes (the placeholder sits inside the template's quotes).
    Json,
    /// `application/x-www-form-urlencoded` encoding.
    Form,
    /// XML character escapes.
    Xml,
    /// As is.
    Raw,
}

impl Escape {
    pub fn for_content_type(content_type: &str) -> Escape {
        let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if essence.ends_with("/json") || essence.ends_with("+json") {
            Escape::Json
        } else if essence == "application/x-www-form-urlencoded" {
            Escape::Form
        } else if essence.ends_with("/xml") || essence.ends_with("+xml") {
            Escape::Xml
        } else {
            Escape::Raw
        }
    }

    fn push(self, out: &mut String, value: &str) {
        match self {
            Escape::Json => {
                let quoted = serde_json::Value::String(value.to_owned()).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
            Escape::Form => out.extend(url::form_urlencoded::byte_serialize(value.as_bytes())),
            Escape::Xml => {
                for c in value.chars() {
                    match c {
                        '&' => out.push_str("&amp;"),
                        '<' => out.push_str("&lt;"),
                        '>' => out.push_str("&gt;"),
                        '"' => out.push_str("&quot;"),
                        '\'' => out.push_str("&apos;"),
                        c => out.push(c),
                    }
                }
            }
            Escape::Raw => out.push_str(value),
        }
    }
}

/// Fills `{to}`, `{text}` and `{id}` in one pass: a value containing a placeholder's name is
/// never filled in again, and every other `{` (JSON's own braces) is left alone.
pub fn render(template: &str, escape: Escape, message: &Message<'_>) -> String {
    let id = message.id.to_string();
    let values = [("{to}", message.to), ("{text}", message.text), ("{id}", id.as_str())];
    let mut out = String::with_capacity(template.len() + message.text.len() * 2);
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match values.iter().find(|(placeholder, _)| tail.starts_with(placeholder)) {
            Some((placeholder, value)) => {
                escape.push(&mut out, value);
                rest = &tail[placeholder.len()..];
            }
            None => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

pub struct HttpGateway {
    client: reqwest::Client,
    url: reqwest::Url,
    template: String,
    escape: Escape,
    content_type: HeaderValue,
    auth: Option<(HeaderName, HeaderValue)>,
    id_pointer: String,
}

impl HttpGateway {
    pub fn from_config(config: &Config) -> anyhow::Result<HttpGateway> {
        let Some(url) = config.sms_http_url.as_deref() else {
            bail!("HDMS_SMS_PROVIDER=http needs the gateway's URL in HDMS_SMS_HTTP_URL (--sms-http-url)");
        };
        let url = reqwest::Url::parse(url).context("HDMS_SMS_HTTP_URL is not a URL")?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("HDMS_SMS_HTTP_URL must be an http:// or https:// URL");
        }
        let template = config.sms_http_body.clone();
        if !template.contains("{to}") || !template.contains("{text}") {
            bail!("HDMS_SMS_HTTP_BODY must contain the placeholders {{to}} and {{text}}");
        }
        let content_type = HeaderValue::from_str(config.sms_http_content_type.trim())
            .context("HDMS_SMS_HTTP_CONTENT_TYPE is not a valid header value")?;
        let escape = Escape::for_content_type(&config.sms_http_content_type);
        if escape == Escape::Json {
            // Filled with awkward values, the body must still be JSON.
            let sample = Message { id: uuid::Uuid::nil(), to: "+15550100", text: "a \"quoted\"\nline\\ {to} ü", sensitive: false };
            serde_json::from_str::<serde_json::Value>(&render(&template, escape, &sample))
                .context("HDMS_SMS_HTTP_BODY is not valid JSON once its placeholders are filled in (keep them inside quotes)")?;
        }
        let auth = config.sms_http_auth_header.as_deref().map(parse_auth_header).transpose()?;
        let id_pointer = config.sms_http_id_pointer.clone();
        if !id_pointer.is_empty() && !id_pointer.starts_with('/') {
            bail!("HDMS_SMS_HTTP_ID_POINTER must be a JSON pointer such as /id or /messages/0/id");
        }
        let client = reqwest::Client::builder()
            .timeout(config.sms_http_timeout())
            .connect_timeout(config.sms_http_timeout().min(Duration::from_secs(5)))
            // A redirected POST would become a GET elsewhere: a gateway that redirects is
            // misconfigured, and its answer is treated as a refusal.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hdms-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the SMS gateway's HTTP client")?;
        Ok(HttpGateway { client, url, template, escape, content_type, auth, id_pointer })
    }

    async fn attempt(&self, message: Message<'_>) -> Result<Delivery, SendError> {
        let body = render(&self.template, self.escape, &message);
        let mut request = self.client.post(self.url.clone()).header(CONTENT_TYPE, self.content_type.clone()).body(body);
        if let Some((name, value)) = &self.auth {
            request = request.header(name.clone(), value.clone());
        }
        // Without the URL: some gateways take their key in the query string.
        let mut response = request.send().await.map_err(|err| SendError::transient(err.without_url().to_string()))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut answer = Vec::new();
        while answer.len() < MAX_ANSWER_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => answer.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(err) if status.is_success() => {
                    // Accepted: the message is on its way even if its answer was cut short.
                    tracing::warn!(error = %err.without_url(), "cannot read the SMS gateway's answer");
                    break;
                }
                Err(_) => break,
            }
        }
        if status.is_success() {
            let provider_message_id = serde_json::from_slice::<serde_json::Value>(&answer)
                .ok()
                .and_then(|json| match json.pointer(&self.id_pointer)? {
                    serde_json::Value::String(id) => Some(id.clone()),
                    serde_json::Value::Number(id) => Some(id.to_string()),
                    _ => None,
                });
            return Ok(Delivery { provider_message_id, http_status: Some(status.as_u16()) });
        }
        let detail: String = String::from_utf8_lossy(&answer).chars().take(MAX_ERROR_DETAIL).collect();
        let code = status.as_u16();
        let permanent = !(status.is_server_error() || matches!(code, 408 | 425 | 429));
        Err(SendError {
            message: format!("the gateway answered {status}: {}", detail.trim()),
            permanent,
            http_status: Some(code),
            retry_after,
        })
    }
}

/// `Name: value`, or a bare value meaning `Authorization: value`.
fn parse_auth_header(raw: &str) -> anyhow::Result<(HeaderName, HeaderValue)> {
    let named = raw.split_once(':').and_then(|(name, value)| {
        let name = HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
        Some((name, value.trim()))
    });
    let (name, value) = named.unwrap_or((reqwest::header::AUTHORIZATION, raw.trim()));
    let mut value = HeaderValue::from_str(value).context("HDMS_SMS_HTTP_AUTH_HEADER has a value that cannot be sent in a header")?;
    value.set_sensitive(true);
    Ok((name, value))
}

impl Gateway for HttpGateway {
    fn name(&self) -> &'static str {
        "http"
    }

    fn send<'a>(&'a self, message: Message<'a>) -> BoxFuture<'a, Result<Delivery, SendError>> {
        Box::pin(self.attempt(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message<'a>(to: &'a str, text: &'a str) -> Message<'a> {
        Message { id: uuid::Uuid::nil(), to, text, sensitive: false }
    }

    #[test]
    fn json_values_are_escaped_inside_the_quotes() {
        let body = render(r#"{"to":"{to}","text":"{text}"}"#, Escape::Json, &message("+15550100", "say \"hi\"\n\\ {to}"));
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["to"], "+15550100");
        assert_eq!(json["text"], "say \"hi\"\n\\ {to}");
    }

    #[test]
    fn form_values_are_encoded_and_other_braces_kept() {
        let body = render("to={to}&text={text}&x={other}", Escape::Form, &message("+15550100", "a&b=c d"));
        assert_eq!(body, "to=%2B15550100&text=a%26b%3Dc+d&x={other}");
        let xml = render("<m to=\"{to}\">{text}</m>", Escape::Xml, &message("+1", "<b> & 'q'"));
        assert_eq!(xml, "<m to=\"+1\">&lt;b&gt; &amp; &apos;q&apos;</m>");
    }

    #[test]
    fn content_types_choose_the_escape() {
        assert_eq!(Escape::for_content_type("application/json; charset=utf-8"), Escape::Json);
        assert_eq!(Escape::for_content_type("application/vnd.api+json"), Escape::Json);
        assert_eq!(Escape::for_content_type("application/x-www-form-urlencoded"), Escape::Form);
        assert_eq!(Escape::for_content_type("text/xml"), Escape::Xml);
        assert_eq!(Escape::for_content_type("text/plain"), Escape::Raw);
    }

    #[test]
    fn auth_header_named_or_bare() {
        let (name, value) = parse_auth_header("X-Api-Key: secret").unwrap();
        assert_eq!((name.as_str(), value.to_str().unwrap()), ("x-api-key", "secret"));
        let (name, value) = parse_auth_header("Bearer abc").unwrap();
        assert_eq!((name.as_str(), value.to_str().unwrap()), ("authorization", "Bearer abc"));
        assert!(value.is_sensitive());
    }
}
