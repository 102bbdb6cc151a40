//! How fast mail comes in: messages per second through the mailgate route
//! (`POST /api/v1/mail/inbound`: parse, keep the raw message, dedupe, find or create the sender,
//! thread, raise the ticket) against plain ticket creation (`POST /api/v1/tickets`) with the same
//! subject and text, measured in the same run on the same server, on SQLite and PostgreSQL.
//!
//! `cargo bench -p hdms-server --bench mail_ingest` (HDMS_BENCH_POSTGRES_URL changes the
//! PostgreSQL server; default 127.0.0.1:5432, database `test`).

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use hdms_api_types::client::Client;
use hdms_api_types::tickets::CreateTicket;
use hdms_server::config::Config;
use sqlx::Connection;
use tokio::net::TcpListener;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "bench password 123";
const MESSAGES: usize = 1_000;
const SENDERS: usize = 100;
const CONCURRENCY: usize = 4;
const SUBJECT: &str = "The VPN drops every hour";
const TEXT: &str = "Hello,\n\nmy VPN drops every hour since Monday. I am on the Lisbon office network.\n\nThanks";

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: Customer {s} <customer{s}@bench.example>\r\nTo: support@desk.example.org\r\nSubject: {SUBJECT}\r\n\
         Date: Mon, 01 Dec 2025 09:58:00 +0000\r\nMessage-ID: <bench-{n}@bench.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{TEXT}\r\n-- \r\nCustomer\r\n\
         --b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>{TEXT}</p>\r\n--b--\r\n",
        s = n % SENDERS
    )
    .into_bytes()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var_os("HDMS_BENCH_LOG").is_some() {
        hdms_server::http::observability::init_logging(hdms_server::config::LogFormat::Pretty);
    }
    let mut report = Vec::new();
    for backend in ["sqlite", "postgres"] {
        let data_dir = tempfile::tempdir()?;
        let mut config = Config::defaults().without_rate_limits();
        config.data_dir = data_dir.path().to_path_buf();
        config.admin_email = Some(EMAIL.to_owned());
        config.admin_password = Some(PASSWORD.to_owned());
        if backend == "postgres" {
            config.database_url = Some(fresh_postgres().await?);
        }
        let started = hdms_server::start(config).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(hdms_server::serve(listener, started.state, std::future::pending()));
        let client = Arc::new(Client::new(&url)?);
        client.login(EMAIL, PASSWORD).await?;

        let began = Instant::now();
        futures::stream::iter(0..MESSAGES)
            .map(|n| {
                let client = client.clone();
                async move { client.mail_inbound(message(n), None).await.expect("ingested") }
            })
            .buffer_unordered(CONCURRENCY)
            .for_each(|_| async {})
            .await;
        let mail_rate = MESSAGES as f64 / began.elapsed().as_secs_f64();

        let began = Instant::now();
        futures::stream::iter(0..MESSAGES)
            .map(|_| {
                let client = client.clone();
                async move {
                    let request = CreateTicket {
                        subject: SUBJECT.to_owned(),
                        description: TEXT.to_owned(),
                        priority: None,
                        category: None,
                        tags: Vec::new(),
                        team_id: None,
                        requester_id: None,
                    };
                    client.create_ticket(&request).await.expect("created")
                }
            })
            .buffer_unordered(CONCURRENCY)
            .for_each(|_| async {})
            .await;
        let create_rate = MESSAGES as f64 / began.elapsed().as_secs_f64();
        report.push((backend, mail_rate, create_rate));
    }
    println!("\nmail ingestion through POST /api/v1/mail/inbound against POST /api/v1/tickets ({MESSAGES} each, {CONCURRENCY} at a time)");
    println!("{:<9} {:>16} {:>18} {:>8}", "backend", "messages/s", "tickets/s", "ratio");
    for (backend, mail, create) in report {
        println!("{:<9} {:>16.0} {:>18.0} {:>7.2}x", backend, mail, create, mail / create);
    }
    Ok(())
}

async fn fresh_postgres() -> anyhow::Result<String> {
    let admin_url = std::env::var("HDMS_BENCH_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
    let name = format!("hdms_bench_mail_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"))).execute(&mut admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
    Ok(format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0))
}
