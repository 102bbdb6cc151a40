//! `hdms-tui`: the agent's terminal client for the hdms help desk. Only wiring lives here.

use clap::Parser;

#[derive(Parser)]
#[command(name = "hdms-tui", version, about = "Work hdms queues and live chats from the terminal")]
struct Args {
    /// Server URL (default: the profile's, else http://127.0.0.1:8080).
    #[arg(long, env = "HDMS_SERVER")]
    server: Option<String>,
    /// Saved login to use (shared with `hdms`).
    #[arg(long, env = "HDMS_PROFILE")]
    profile: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let target = hdms_tui::signin::Target::resolve(args.server.as_deref(), args.profile.as_deref())?;
    let settings = hdms_tui::config::Settings::load(Some(target.config.path())).map_err(anyhow::Error::msg)?;
    hdms_tui::run(target, settings).await
}
