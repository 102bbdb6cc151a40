//! `hdms tokens …`.

use hdms_api_types::tokens::{ApiToken, CreateApiToken, CreatedApiToken};

use crate::cli::TokensCommand;
use crate::commands::{args_or_stdin, parse_id};
use crate::exit::CliResult;
use crate::output::human::ago;
use crate::output::{Cell, Column, Layout, Output, Record, Tabular, Tone};
use hdms_api_types::credentials::Session;

pub async fn run(session: Session, output: Output, command: TokensCommand) -> CliResult {
    match command {
        TokensCommand::Create { name, expires_in_days, scope } => {
            let request = CreateApiToken { name, expires_in_days, scope };
            let created: CreatedApiToken = session.call(|client| {
                let request = request.clone();
                async move { client.create_token(&request).await }
            }).await?;
            if output.for_people() {
                output.one(&created.token)?;
                eprintln!("The secret, shown this once (use it as HDMS_TOKEN):");
                println!("{}", created.secret);
                return Ok(());
            }
            output.one_as(&created, &created.token)
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
    const FIELDS: &'static [&'static str] = &["id", "name", "prefix", "created_at", "expires_at", "last_used_at"];

    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Tabular for ApiToken {
    const COLUMNS: &'static [Column] = &[
        Column::shrink("name", 10),
        Column::whole("prefix"),
        Column::whole("created"),
        Column::whole("expires"),
        Column::whole("last used"),
        Column::whole("id").wide(),
    ];

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        let expires = match self.expires_at {
            None => Cell::new("never", Tone::Muted),
            Some(at) if at <= layout.now => Cell::new(format!("expired {}", ago(at, layout)), Tone::Bad),
            Some(at) => ago(at, layout).into(),
        };
        vec![
            Cell::new(&self.name, Tone::Strong),
            self.prefix.as_str().into(),
            Cell::new(ago(self.created_at, layout), Tone::Muted),
            expires,
            self.last_used_at.map_or_else(|| Cell::new("never", Tone::Muted), |at| ago(at, layout).into()),
            Cell::new(self.id.to_string(), Tone::Muted),
        ]
    }
}

/// A new token with its secret, for JSON and CSV output.
impl Record for CreatedApiToken {
    const FIELDS: &'static [&'static str] = &["id", "name", "prefix", "created_at", "expires_at", "last_used_at", "secret"];

    fn id(&self) -> String {
        self.token.id.to_string()
    }
}
