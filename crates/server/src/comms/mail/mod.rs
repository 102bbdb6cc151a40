//! The email channel. Mail comes in through one ingestion path ([`ingest`]), fed by
//! `hdms mailgate` through `POST /api/v1/mail/inbound` (and by IMAP polling): it becomes tickets
//! and replies, threaded by ticket number and Message-ID, with quoted history stripped
//! ([`quotes`]), machine mail recognised ([`robots`]) and bounces marking addresses ([`dsn`]).

pub mod dsn;
pub mod ingest;
pub mod parse;
pub mod quotes;
pub mod robots;
pub mod routes;
pub mod store;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    routes::router()
}
