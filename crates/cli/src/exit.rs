//! Exit codes and the error type every command returns.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | failure: the server refused (not found, conflict, forbidden) or could not be reached |
//! | 2 | usage: bad arguments (clap's own code for usage errors) |
//! | 3 | validation: the server found the input invalid (422), or an import refused rows |
//! | 4 | authentication needed: not logged in, session expired, token refused |

use std::process::ExitCode;

use hdms_api_types::client::ClientError;
use hdms_api_types::credentials::CredentialsError;

pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const VALIDATION: u8 = 3;
pub const AUTH_NEEDED: u8 = 4;

/// A failure with the exit code it maps to and the line printed to stderr.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

pub type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    pub fn failure(message: impl Into<String>) -> Self {
        CliError { code: FAILURE, message: message.into() }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError { code: USAGE, message: message.into() }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        CliError { code: VALIDATION, message: message.into() }
    }

    pub fn auth(message: impl Into<String>) -> Self {
        CliError { code: AUTH_NEEDED, message: message.into() }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
}

impl From<ClientError> for CliError {
    /// The server's code and message, with the exit code its status calls for.
    fn from(err: ClientError) -> Self {
        match err {
            ClientError::Api { status, body } => {
                let field = body.error.field.as_deref().map(|f| format!(" (field {f})")).unwrap_or_default();
                let message = format!("{}: {}{field}", body.error.code, body.error.message);
                let code = match status.as_u16() {
                    401 => AUTH_NEEDED,
                    422 => VALIDATION,
                    _ => FAILURE,
                };
                CliError { code, message }
            }
            ClientError::Unexpected { status, text } => {
                let text: String = text.chars().take(200).collect();
                CliError::failure(format!("the server answered {status} in an unexpected format: {text}"))
            }
            ClientError::Transport(err) => CliError::failure(format!("cannot reach the server: {err}")),
            ClientError::Url(err) => CliError::usage(format!("invalid server URL: {err}")),
        }
    }
}

impl From<CredentialsError> for CliError {
    /// Anything that needs a (new) login exits 4; a storage problem is a plain failure.
    fn from(err: CredentialsError) -> Self {
        match err {
            CredentialsError::Api(err) => CliError::from(err),
            CredentialsError::Refused { error, hint } => {
                CliError::auth(format!("{} ({hint})", CliError::from(error).message))
            }
            CredentialsError::Storage(message) => CliError::failure(message),
            other => CliError::auth(other.to_string()),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(err: std::io::Error) -> Self {
        CliError::failure(err.to_string())
    }
}
