use std::sync::Arc;

use crate::comms::hub::Hub;
use crate::config::Config;
use crate::db::Db;
use crate::files::Files;
use crate::users::jwt::JwtKeys;

/// What every handler can reach. Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub jwt: Arc<JwtKeys>,
    /// Attachment storage, scanner and worker wake-up.
    pub files: Arc<Files>,
    /// Realtime fan-out to websocket connections (and across instances on PostgreSQL).
    pub hub: Arc<Hub>,
    /// The websocket's per-person connection cap and message rate.
    pub sockets: Arc<crate::http::limits::SocketLimits>,
    /// Live sessions' accounts, so access tokens are checked without a query.
    pub sessions: Arc<crate::users::session_cache::SessionCache>,
}
