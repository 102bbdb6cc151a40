//! The CI soak (issue 17): the mixed load of `cargo bench -p hdms-server --bench load` (the same
//! driver, `benches/load/driver.rs`) for 60 seconds against the real `hdms-server` binary, on
//! SQLite and on PostgreSQL (the two run at once, each on its own server process). It fails on
//! any error: a request that did not succeed, a websocket error or lost chat echo, a line the
//! server logged at ERROR, or anonymous memory growing more than [`GROWTH_BOUND`] from a
//! quarter of the run to its end, or the SQLite WAL file growing past the `journal_size_limit`
//! the server sets. Speed is not checked here (the bench measures it).
//!
//! `HDMS_SOAK_SECONDS` changes the length (the 10-minute soak is the bench with
//! `HDMS_LOAD_SECONDS=600`, see docs/benchmarks.md).

use std::time::Duration;

#[path = "../benches/load/driver.rs"]
mod driver;
mod common;

use common::{Backend, TestServer};
use driver::{Plan, Setup};
use hdms_api_types::Role;
use hdms_api_types::tickets::{CreateComment, CreateTicket};

/// How much the server's anonymous resident memory (RssAnon: heap, stacks, caches; not the
/// mapped database files) may grow between a quarter of the run and its end. By a quarter the
/// server has reached its working size (connection pools full, SQLite page caches and mimalloc's
/// pages warm, every websocket open); what it gains after that is either a cache still filling
/// or a leak. Generous on purpose, so that the noise of a loaded CI machine never fails it: a
/// leak of 1 KiB per request at a debug build's few hundred requests a second grows by more than
/// this over the 45 seconds measured, as does any per-connection or per-ticket state kept for
/// good.
const GROWTH_BOUND: u64 = 48 * 1024 * 1024;

fn plan() -> Plan {
    let seconds = std::env::var("HDMS_SOAK_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    Plan {
        duration: Duration::from_secs(seconds),
        agent_workers: 8,
        customer_workers: 8,
        customers_per_worker: 2,
        teams: 2,
        seed_tickets: 200,
        healthz: Duration::ZERO,
        postgres_admin_url: std::env::var("HDMS_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
        server_binary: env!("CARGO_BIN_EXE_hdms-server").into(),
    }
}

async fn soak(setup: Setup) {
    let outcome = driver::run(setup, &plan()).await.expect("the servers start and the desk is seeded");
    outcome.print();
    assert_eq!(outcome.errors, 0, "errors under load on {}: {:#?}", setup.name(), outcome.first_errors);
    assert_eq!(outcome.server_errors, 0, "the server logged errors on {}: {:#?}", setup.name(), outcome.server_log);
    for kind in &outcome.kinds {
        // A soak that skipped a kind of request would prove nothing about it.
        assert!(kind.count > 0, "no {} requests were made on {}", kind.kind.label(), setup.name());
    }
    // The server cuts a started-over WAL back to its `journal_size_limit`, and starts it over
    // once 16 MiB of it are copied back long before that: under load that never let SQLite
    // start it over itself, it grew by gigabytes a minute (release) while the database grew by
    // megabytes.
    let bound = hdms_server::db::WAL_SIZE_LIMIT;
    assert!(
        outcome.largest_wal() <= bound,
        "the SQLite WAL of {} grew to {:.1} MiB (bound: {} MiB)",
        setup.name(),
        outcome.largest_wal() as f64 / 1048576.0,
        bound / 1048576
    );
    for (instance, (warm, end)) in outcome.anon_growth().into_iter().enumerate() {
        assert!(
            end <= warm + GROWTH_BOUND,
            "instance {} on {} grew from {:.1} MiB to {:.1} MiB of anonymous memory (bound: {} MiB)",
            instance + 1,
            setup.name(),
            warm as f64 / 1048576.0,
            end as f64 / 1048576.0,
            GROWTH_BOUND / 1048576
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_on_sqlite_has_no_errors_and_flat_memory() {
    soak(Setup::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_on_postgres_has_no_errors_and_flat_memory() {
    soak(Setup::Postgres).await
}

/// What the soak first found, made certain: replies to one ticket at once (an agent and its
/// customer, over REST and the websocket) all succeed. On PostgreSQL two writers used to read
/// the same version of the ticket and the second failed with `version_conflict`, a 409 for a
/// reply that names no version.
async fn replies_at_once_to_one_ticket_all_succeed(backend: Backend) {
    const REPLIES: usize = 24;
    let server = TestServer::start_with(backend, |config| {
        config.db_max_connections = 16;
        config.ws_messages_per_second = 0;
    })
    .await;
    let (customer, _) = server.user(Role::Customer).await;
    let (agent, _) = server.user(Role::Agent).await;
    let ticket = customer.create_ticket(&CreateTicket { subject: "Busy".into(), description: "d".into(), ..Default::default() }).await.unwrap();
    let mut live = agent.connect_live().await.unwrap();
    live.send(&hdms_api_types::ws::ClientMessage::Subscribe { ticket_id: ticket.id, after_seq: None }).await.unwrap();
    let replies: Vec<_> = (0..REPLIES)
        .map(|i| {
            let client = if i % 2 == 0 { customer.clone() } else { agent.clone() };
            tokio::spawn(async move { client.comment(ticket.id, &CreateComment { body: format!("reply {i}"), internal: false }).await })
        })
        .collect();
    for i in 0..REPLIES / 2 {
        let message = hdms_api_types::ws::ClientMessage::Send { ticket_id: ticket.id, body: format!("chat {i}"), internal: false, client_ref: Some(i.to_string()) };
        live.send(&message).await.unwrap();
    }
    for reply in replies {
        reply.await.unwrap().expect("a reply succeeds whatever else is written to the ticket");
    }
    let mut echoed = 0;
    while echoed < REPLIES / 2 {
        match tokio::time::timeout(Duration::from_secs(20), live.next()).await.expect("the chat answers").unwrap() {
            hdms_api_types::ws::ServerMessage::Message { client_ref: Some(_), .. } => echoed += 1,
            hdms_api_types::ws::ServerMessage::Error { code, message } => panic!("a chat message failed: {code}: {message}"),
            _ => {}
        }
    }
    assert_eq!(customer.list_comments(ticket.id).await.unwrap().len(), REPLIES + REPLIES / 2);
}

backend_tests!(replies_at_once_to_one_ticket_all_succeed);
