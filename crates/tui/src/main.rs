//! `hdms-tui`: the agent's terminal client for the hdms help desk.

use clap::Parser;
use hdms_api_types::client::Client;

#[derive(Parser)]
#[command(name = "hdms-tui", version, about = "Work hdms queues and live chats from the terminal")]
struct Args {
    /// Server URL.
    #[arg(long, env = "HDMS_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The agent screens come with the TUI issue; until then this checks the server is reachable.
    let client = Client::new(&args.server)?;
    let health = client.health().await?;
    println!("{} is {} (hdms-server {})", client.base_url(), health.status, health.version);
    Ok(())
}
