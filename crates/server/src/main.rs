use clap::Parser;
use hdms_server::config::Config;
use hdms_server::http::observability::init_logging;

// glibc's malloc made a bulk import spend a fifth of its time allocating and freeing (buffers
// are allocated on tokio's threads and freed on SQLite's), and kept growing the heap with it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_logging(config.log_format);
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
