use std::sync::Arc;

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
}
