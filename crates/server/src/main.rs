use std::path::PathBuf;

use clap::{Parser, Subcommand};
use hdms_server::config::Config;
use hdms_server::http::observability::init_logging;

// glibc's malloc made a bulk import spend a fifth of its time allocating and freeing (buffers
// are allocated on tokio's threads and freed on SQLite's), and kept growing the heap with it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "hdms-server", version = hdms_server::VERSION, about = "The hdms help desk server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve (what runs without a subcommand).
    Serve,
    /// Write an online, consistent backup of an SQLite deployment (database, signing key and
    /// local attachment files) to FILE, while the server keeps running.
    Backup { file: PathBuf },
    /// Restore a backup FILE into an empty data directory (then start the server on it as usual).
    Restore { file: PathBuf },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = cli.config;
    init_logging(config.log_format);
    match cli.command {
        None | Some(Command::Serve) => serve(config).await,
        Some(Command::Backup { file }) => {
            let manifest = hdms_server::backup::backup(&config, &file).await?;
            eprintln!(
                "hdms: backed up schema {} with {} attachment files ({} storage) to {}",
                manifest.schema_version,
                manifest.blobs,
                manifest.storage,
                file.display()
            );
            Ok(())
        }
        Some(Command::Restore { file }) => {
            let manifest = hdms_server::backup::restore(&config, &file).await?;
            eprintln!(
                "hdms: restored the backup of {} (schema {}, {} attachment files) into {}",
                manifest.created_at,
                manifest.schema_version,
                manifest.blobs,
                config.data_dir.display()
            );
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let bind = config.bind;
    let started = hdms_server::start(config).await?;
    if let Some(admin) = &started.bootstrap_admin
        && let Some(password) = &admin.generated_password
    {
        // Printed once, to the terminal rather than the log: it is a credential.
        eprintln!("\n  hdms: created the first admin {} with password {password}\n  (shown once; change it after logging in)\n", admin.email);
    }
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!(address = %listener.local_addr()?, backend = started.state.db.backend_name(), "hdms-server listening");
    hdms_server::serve(listener, started.state, hdms_server::shutdown_signal()).await
}
