//! The hdms wire contract.
//!
//! Every request and response body that crosses the HTTP API is defined here, once, and shared by
//! the server, the `hdms` CLI and the `hdms-tui` agent client. This crate deliberately depends on
//! nothing but serde and the value types it carries; the optional `openapi` feature adds schema
//! derives for the server's OpenAPI document, the optional `client` feature adds the typed
//! async client, and `credentials` adds the saved logins (profiles, keyring, refreshing
//! session) that `hdms` and `hdms-tui` share.

pub mod approvals;
pub mod auth;
pub(crate) mod double_option;
pub mod error;
pub mod import;
pub mod mail;
pub mod metrics;
pub mod files;
pub mod notifications;
pub mod page;
pub mod rules;
pub mod sla;
pub mod sms;
pub mod teams;
pub mod tickets;
pub mod tokens;
pub mod users;
pub mod webhooks;
pub mod ws;

#[cfg(feature = "client")]
pub mod client;

#[cfg(feature = "credentials")]
pub mod credentials;

pub use error::{ApiError, ErrorBody};
pub use page::Page;
pub use users::Role;

/// Path prefix shared by every JSON route.
pub const API_PREFIX: &str = "/api/v1";

/// Prefix of personal API tokens, so a client (and a secret scanner) can tell them from JWTs.
pub const API_TOKEN_PREFIX: &str = "hdms_pat_";
