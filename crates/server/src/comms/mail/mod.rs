//! The email channel. Mail comes in through one ingestion path ([`ingest`]), fed by
//! `hdms mailgate` through `POST /api/v1/mail/inbound` and by IMAP polling of the mailboxes admins
//! configure ([`mailboxes`], [`imap`]): it becomes tickets
//! and replies, threaded by ticket number and Message-ID, with quoted history stripped
//! ([`quotes`]), machine mail recognised ([`robots`]) and bounces marking addresses ([`dsn`]).
//! Public replies go back by mail: queued with the reply ([`outbound`]), sent through the SMTP
//! account ([`smtp`]) by the [`sender`] on every instance.

pub mod dsn;
pub mod imap;
pub mod ingest;
pub mod mailboxes;
pub mod outbound;
pub mod parse;
pub mod quotes;
pub mod robots;
pub mod routes;
pub mod sender;
pub mod smtp;
pub mod store;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    routes::router().merge(smtp::router()).merge(mailboxes::router())
}
