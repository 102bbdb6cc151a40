//! What the server costs over a bare axum handler returning the same bytes, on loopback, for
//! login (argon2id dominated) and `GET /api/v1/users/me` (auth + one query), on SQLite and
//! PostgreSQL. Figures are ratios against the bare handler measured in the same run, because
//! these machines are noisy.
//!
//! `cargo bench -p hdms-server --bench api_overhead` (set HDMS_BENCH_POSTGRES_URL to change the
//! PostgreSQL server; default 127.0.0.1:5432, database `test`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use hdms_api_types::client::Client;
use hdms_server::config::Config;
use sqlx::Connection;
use tokio::net::TcpListener;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "bench password 123";
const LOGINS: usize = 40;
const READS: usize = 20_000;
const CONCURRENCY: usize = 32;

struct Figures {
    login_p50: Duration,
    login_p99: Duration,
    reads_per_sec: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut report = Vec::new();
    for backend in ["sqlite", "postgres"] {
        let data_dir = tempfile::tempdir()?;
        let mut config = Config::defaults().without_rate_limits();
        config.data_dir = data_dir.path().to_path_buf();
        config.admin_email = Some(EMAIL.to_owned());
        config.admin_password = Some(PASSWORD.to_owned());
        config.login_max_failures = u32::MAX;
        if backend == "postgres" {
            config.database_url = Some(fresh_postgres().await?);
        }
        let started = hdms_server::start(config).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(hdms_server::serve(listener, started.state, std::future::pending()));

        // The bare server answers exactly the bytes the real one does.
        let client = Client::new(&url)?;
        let login = client.login(EMAIL, PASSWORD).await?;
        let login_bytes = serde_json::to_vec(&login)?;
        let me_bytes = serde_json::to_vec(&client.me().await?)?;
        let bare_url = bare_server(login_bytes, me_bytes).await?;

        let real = measure(&url, login.access_token.clone()).await?;
        let bare = measure(&bare_url, login.access_token).await?;
        report.push((backend, real, bare));
    }

    println!("\nhdms API overhead against a bare axum handler returning the same bytes (loopback)");
    println!("{:<9} {:>28} {:>28} {:>32}", "backend", "login p50 (ratio)", "login p99 (ratio)", "users/me req/s (ratio)");
    for (backend, real, bare) in report {
        println!(
            "{:<9} {:>14.2?} ({:>7.1}x) {:>14.2?} ({:>7.1}x) {:>14.0} ({:>5.3}x of bare {:.0})",
            backend,
            real.login_p50,
            real.login_p50.as_secs_f64() / bare.login_p50.as_secs_f64(),
            real.login_p99,
            real.login_p99.as_secs_f64() / bare.login_p99.as_secs_f64(),
            real.reads_per_sec,
            real.reads_per_sec / bare.reads_per_sec,
            bare.reads_per_sec,
        );
    }
    Ok(())
}

async fn measure(url: &str, token: String) -> anyhow::Result<Figures> {
    let client = Client::new(url)?;
    let mut logins = Vec::with_capacity(LOGINS);
    for _ in 0..LOGINS {
        let started = Instant::now();
        client.login(EMAIL, PASSWORD).await?;
        logins.push(started.elapsed());
    }
    logins.sort();

    client.set_token(Some(token));
    client.me().await?; // warm the connection pool
    let remaining = Arc::new(std::sync::atomic::AtomicUsize::new(READS));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let client = client.clone();
            let remaining = remaining.clone();
            tokio::spawn(async move {
                while remaining
                    .fetch_update(std::sync::atomic::Ordering::Relaxed, std::sync::atomic::Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    client.me().await.expect("users/me answers");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await?;
    }
    let reads_per_sec = READS as f64 / started.elapsed().as_secs_f64();
    Ok(Figures { login_p50: percentile(&logins, 50), login_p99: percentile(&logins, 99), reads_per_sec })
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

async fn bare_server(login: Vec<u8>, me: Vec<u8>) -> anyhow::Result<String> {
    let json = |bytes: Vec<u8>| move || {
        let bytes = bytes.clone();
        async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], bytes) }
    };
    let app = Router::new()
        .route("/api/v1/auth/login", post(json(login)))
        .route("/api/v1/users/me", get(json(me)));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn fresh_postgres() -> anyhow::Result<String> {
    let admin_url = std::env::var("HDMS_BENCH_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
    let name = format!("hdms_bench_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"))).execute(&mut admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
    Ok(format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0))
}
