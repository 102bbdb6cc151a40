//! The users domain: authentication, accounts, teams and personal API tokens.

pub mod accounts;
pub mod auth;
pub mod import;
pub mod invites;
pub mod jwt;
pub mod passwords;
pub mod secrets;
pub mod session_cache;
pub mod store;
pub mod teams;
pub mod throttle;
pub mod tokens;
pub mod validate;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(accounts::router())
        .merge(import::router())
        .merge(invites::router())
        .merge(teams::router())
        .merge(tokens::router())
}
