//! Mail routes: the ingest route `hdms mailgate` posts to, a ticket's mail with full texts, the
//! failed mail list and its retry, and the addresses that bounce.

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use hdms_api_types::mail::{FailingAddress, InboundResult, MailFailure, MailMessage};
use hdms_api_types::ApiError;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::comms::mail::store::{self, Policy};
use crate::comms::mail::ingest;
use crate::error::{Error, Result};
use crate::files::receive::{self, ReceiveError};
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::tickets::visibility::visible_ticket;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        // The ingest route enforces its own limit (`HDMS_MAIL_MAX_BYTES`).
        .routes(routes!(inbound))
        .layer(DefaultBodyLimit::disable())
        .merge(
            OpenApiRouter::new()
                .routes(routes!(ticket_mail))
                .routes(routes!(list_failures))
                .routes(routes!(retry_failure))
                .routes(routes!(list_failing_addresses))
                .routes(routes!(clear_failing_address)),
        )
}

/// Mail over `HDMS_MAIL_MAX_BYTES` is kept for the failed mail list up to this many times the
/// limit; beyond, keeping it would only fill the disk.
const KEEP_FACTOR: u64 = 4;

#[derive(Debug, Deserialize)]
struct InboundQuery {
    mailbox: Option<String>,
}

/// Hand one raw message (RFC 5322, as received) to the help desk: what `hdms mailgate` does for
/// a mail server. Answers 200 with what became of it, also when it was a duplicate, dropped on
/// purpose, or kept in the failed mail list (a message over `HDMS_MAIL_MAX_BYTES` is kept
/// there, up to four times the limit); 5xx only when the server could not store it (the mail
/// server should try again).
#[utoipa::path(post, path = "/mail/inbound", tag = "mail",
    params(("mailbox" = Option<String>, Query, description = "The mailbox it arrived in (its policy for unknown senders applies); default: the built-in `mailgate` mailbox, which admits unknown senders as new customers")),
    request_body(content = String, content_type = "message/rfc822", description = "The raw message"),
    security(("bearer" = ["mail.ingest"])),
    responses((status = 200, body = InboundResult), (status = 413, description = "Over four times HDMS_MAIL_MAX_BYTES", body = ApiError), (status = 422, description = "No such mailbox, or an empty body", body = ApiError)))]
async fn inbound(
    State(state): State<AppState>,
    _caller: Authorized<can::IngestMail>,
    AppQuery(query): AppQuery<InboundQuery>,
    body: Body,
) -> Result<AppJson<InboundResult>> {
    let policy = match query.mailbox.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        Some(name) => store::policy_named(&state.db, name).await?,
        None => Policy::mailgate_default(),
    };
    let limit = state.config.mail_max_bytes;
    let broke_off = |err: axum::Error| Error::BadRequest { code: "body_broke_off", message: format!("the message's upload broke off: {err}") };
    let mut body = body.into_data_stream();
    let mut raw = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(broke_off)?;
        if raw.len() + chunk.len() > limit {
            // Over the limit: kept whole in the failed mail list (streamed to disk, never held
            // in memory) so an admin sees it and can take it in after raising the limit; only
            // beyond KEEP_FACTOR times the limit is it refused outright.
            let cap = (limit as u64).saturating_mul(KEEP_FACTOR);
            let head = futures::stream::iter([Ok::<Bytes, axum::Error>(raw.freeze()), Ok(chunk)]);
            let received = match receive::receive(head.chain(body), cap, state.files.incoming.path()).await {
                Ok(received) => received,
                Err(ReceiveError::TooLarge { limit: cap }) => {
                    return Err(Error::LimitExceeded(format!("the message is larger than {cap} bytes, {KEEP_FACTOR} times the limit of {limit} bytes; it is not kept")));
                }
                Err(ReceiveError::Body(message)) => return Err(Error::BadRequest { code: "body_broke_off", message }),
                Err(ReceiveError::Io(err)) => return Err(Error::from(anyhow::Error::new(err).context("keeping an oversized mail"))),
            };
            return Ok(AppJson(ingest::too_large_received(&state, received, &policy).await?));
        }
        raw.extend_from_slice(&chunk);
    }
    if raw.is_empty() {
        return Err(Error::invalid("body", "send the raw message as the request body"));
    }
    Ok(AppJson(ingest::ingest(&state, raw.freeze(), &policy).await?))
}

/// The mail received and sent for a ticket, oldest first, with full texts (quoted history
/// included), HTML, and the attachments that were refused.
#[utoipa::path(get, path = "/tickets/{id}/mail", tag = "mail",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["mail.read"])),
    responses((status = 200, body = Vec<MailMessage>), (status = 404, body = ApiError)))]
async fn ticket_mail(State(state): State<AppState>, caller: Authorized<can::ReadMail>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<Vec<MailMessage>>> {
    visible_ticket(&state.db, &caller, id).await?;
    Ok(AppJson(store::messages_of_ticket(&state.db, id).await?))
}

#[derive(Debug, Deserialize)]
struct FailureQuery {
    #[serde(default)]
    all: bool,
}

/// Mail that could not be taken in, newest first, with the reason; `all=true` also lists what a
/// retry took in since.
#[utoipa::path(get, path = "/mail/failures", tag = "mail",
    params(("all" = Option<bool>, Query, description = "Also list failures a retry resolved")),
    security(("bearer" = ["mail.manage"])),
    responses((status = 200, body = Vec<MailFailure>)))]
async fn list_failures(State(state): State<AppState>, _caller: Authorized<can::ManageMail>, AppQuery(query): AppQuery<FailureQuery>) -> Result<AppJson<Vec<MailFailure>>> {
    Ok(AppJson(store::failures(&state.db, query.all).await?))
}

/// Take a failed message in again (after fixing what stopped it); answers what became of it.
#[utoipa::path(post, path = "/mail/failures/{id}/retry", tag = "mail",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["mail.manage"])),
    responses((status = 200, body = InboundResult), (status = 404, body = ApiError)))]
async fn retry_failure(State(state): State<AppState>, _caller: Authorized<can::ManageMail>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<InboundResult>> {
    Ok(AppJson(ingest::retry(&state, id).await?))
}

/// Addresses whose mail bounced: nothing is mailed to them until they write again or an admin
/// clears them.
#[utoipa::path(get, path = "/mail/failing-addresses", tag = "mail",
    security(("bearer" = ["mail.read"])),
    responses((status = 200, body = Vec<FailingAddress>)))]
async fn list_failing_addresses(State(state): State<AppState>, _caller: Authorized<can::ReadMail>) -> Result<AppJson<Vec<FailingAddress>>> {
    Ok(AppJson(store::failing_addresses(&state.db).await?))
}

/// Clear a failing address so mail goes to it again.
#[utoipa::path(delete, path = "/mail/failing-addresses/{address}", tag = "mail",
    params(("address" = String, Path)),
    security(("bearer" = ["mail.manage"])),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn clear_failing_address(State(state): State<AppState>, _caller: Authorized<can::ManageMail>, AppPath(address): AppPath<String>) -> Result<StatusCode> {
    if store::clear_failing(&state.db, &address.trim().to_lowercase()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound { what: "failing address" })
    }
}
