//! `hdms tokens …`.

use hdms_api_types::tokens::{ApiToken, CreateApiToken, CreatedApiToken};

use crate::cli::TokensCommand;
use crate::commands::{args_or_stdin, parse_id};
use crate::exit::CliResult;
use crate::output::{Format, Output, Record};
use hdms_api_types::credentials::Session;

pub async fn run(session: Session, output: Output, command: TokensCommand) -> CliResult {
    match command {
        TokensCommand::Create { name, expires_in_days } => {
            let request = CreateApiToken { name, expires_in_days };
            let created: CreatedApiToken = session.call(|client| {
                let request = request.clone();
                async move { client.create_token(&request).await }
            }).await?;
            if output.format == Format::Table && !output.ids {
                output.one(&created.token)?;
                eprintln!("The secret, shown this once (use it as HDMS_TOKEN):");
                println!("{}", created.secret);
                return Ok(());
            }
            output.one(&created)
        }
        TokensCommand::List => {
            let tokens = session.call(|client| async move { client.list_tokens().await }).await?;
            output.list(&tokens)
        }
        TokensCommand::Revoke { tokens } => {
            for id in args_or_stdin(tokens)? {
                let id = parse_id(&id, "token")?;
                session.call(|client| async move { client.revoke_token(id).await }).await?;
                eprintln!("Revoked token {id}");
            }
            Ok(())
        }
    }
}

impl Record for ApiToken {
    const COLUMNS: &'static [&'static str] = &["id", "name", "prefix", "created_at", "expires_at", "last_used_at"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.prefix.clone(),
            self.created_at.to_rfc3339(),
            self.expires_at.map(|at| at.to_rfc3339()).unwrap_or_default(),
            self.last_used_at.map(|at| at.to_rfc3339()).unwrap_or_default(),
        ]
    }

    fn id(&self) -> String {
        self.id.to_string()
    }
}

/// A new token with its secret, for JSON and CSV output.
impl Record for CreatedApiToken {
    const COLUMNS: &'static [&'static str] = &["id", "name", "prefix", "created_at", "expires_at", "secret"];

    fn cells(&self) -> Vec<String> {
        let mut cells = self.token.cells();
        cells.truncate(5);
        cells.push(self.secret.clone());
        cells
    }

    fn id(&self) -> String {
        self.token.id.to_string()
    }
}
