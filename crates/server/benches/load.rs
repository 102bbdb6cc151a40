//! Mixed load (issue 17): agents and customers working a desk through the real API and
//! websocket, against the real `hdms-server` binary in its own process, on SQLite, on
//! PostgreSQL, and on two instances sharing one PostgreSQL database. Prints requests per second,
//! p50/p99 per kind of request, errors, the server's memory over the run and, from the same run,
//! the rate at which the same workers and client get `GET /healthz` answered: the load generator
//! shares the machine's cores with the server, and that rate is the ceiling it leaves.
//!
//! `cargo bench -p hdms-server --bench load`. Knobs: HDMS_LOAD_SECONDS (60 per setup; 600 is
//! the soak), HDMS_LOAD_SETUPS (`sqlite,postgres,postgres2`), HDMS_LOAD_AGENTS (16),
//! HDMS_LOAD_CUSTOMER_WORKERS (16), HDMS_LOAD_CUSTOMERS_PER_WORKER (4), HDMS_LOAD_TEAMS (4),
//! HDMS_LOAD_SEED_TICKETS (2000), HDMS_LOAD_HEALTHZ_SECONDS (10), HDMS_BENCH_POSTGRES_URL
//! (default postgres://postgres@127.0.0.1:5432/test; a fresh database is created there).
//! The driver is `benches/load/driver.rs`, shared with the CI soak (`tests/soak.rs`).

use std::time::Duration;

#[path = "load/driver.rs"]
mod driver;

use driver::{Plan, Setup};

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let plan = Plan {
        duration: Duration::from_secs(knob("HDMS_LOAD_SECONDS", 60)),
        agent_workers: knob("HDMS_LOAD_AGENTS", 16) as usize,
        customer_workers: knob("HDMS_LOAD_CUSTOMER_WORKERS", 16) as usize,
        customers_per_worker: knob("HDMS_LOAD_CUSTOMERS_PER_WORKER", 4) as usize,
        teams: knob("HDMS_LOAD_TEAMS", 4) as usize,
        seed_tickets: knob("HDMS_LOAD_SEED_TICKETS", 2000) as usize,
        healthz: Duration::from_secs(knob("HDMS_LOAD_HEALTHZ_SECONDS", 10)),
        postgres_admin_url: std::env::var("HDMS_BENCH_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
        server_binary: env!("CARGO_BIN_EXE_hdms-server").into(),
    };
    let setups = std::env::var("HDMS_LOAD_SETUPS").unwrap_or_else(|_| "sqlite,postgres,postgres2".to_owned());
    let mut outcomes = Vec::new();
    for name in setups.split(',') {
        let setup = Setup::parse(name).ok_or_else(|| anyhow::anyhow!("unknown setup {name:?}: sqlite, postgres or postgres2"))?;
        let outcome = driver::run(setup, &plan).await?;
        outcome.print();
        outcomes.push(outcome);
    }

    println!("\n== summary (targets on SQLite: 5,000 req/s, p99 under 50 ms, no errors) ==");
    println!(
        "{:<26} {:>10} {:>12} {:>10} {:>12} {:>8} {:>24}",
        "setup", "req/s", "/healthz", "ratio", "worst p99", "errors", "RssAnon warm -> end MiB"
    );
    let mut failed = false;
    for outcome in &outcomes {
        let healthz = outcome.healthz.as_ref().map_or(0.0, |h| h.rate);
        let (_, worst) = driver::overall(&outcome.kinds);
        let growth: Vec<String> = outcome
            .anon_growth()
            .iter()
            .map(|(warm, end)| format!("{:.0}->{:.0}", *warm as f64 / 1048576.0, *end as f64 / 1048576.0))
            .collect();
        println!(
            "{:<26} {:>10.0} {:>12.0} {:>9.2}x {:>12.2?} {:>8} {:>24}",
            outcome.setup.name(),
            outcome.rate(),
            healthz,
            if healthz > 0.0 { outcome.rate() / healthz } else { 0.0 },
            worst,
            outcome.errors,
            growth.join(" | ")
        );
        failed |= outcome.errors > 0;
        if outcome.setup == Setup::Sqlite {
            let met = outcome.rate() >= 5000.0 && worst < Duration::from_millis(50) && outcome.errors == 0;
            println!("{:<26} target {}", "", if met { "met" } else { "NOT met" });
        }
    }
    if failed {
        anyhow::bail!("the mixed load had errors (listed above)");
    }
    Ok(())
}
