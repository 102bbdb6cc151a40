//! `hdms`: the admin command line for the hdms help desk.

use clap::{Parser, Subcommand};
use hdms_api_types::client::Client;

#[derive(Parser)]
#[command(name = "hdms", version, about = "Administer an hdms help desk from the command line")]
struct Cli {
    /// Server URL.
    #[arg(long, env = "HDMS_SERVER", default_value = "http://127.0.0.1:8080", global = true)]
    server: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check that the server answers, and print its version.
    Status,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hdms: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let client = Client::new(&cli.server)?;
    match cli.command {
        Command::Status => {
            let health = client.health().await?;
            println!("{} is {} (hdms-server {})", client.base_url(), health.status, health.version);
        }
    }
    Ok(())
}
