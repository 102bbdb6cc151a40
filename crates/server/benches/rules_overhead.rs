//! What automation rules cost a ticket update: `PATCH /api/v1/tickets/{id}` p50 and p99 with
//! 0, 10 and 100 enabled rules that trigger on the update and check their conditions (which do
//! not hold, so every rule is evaluated and none acts), on SQLite and PostgreSQL, against the
//! same run's update with no rules (the machines are noisy; ratios are what compare).
//!
//! `cargo bench -p hdms-server --bench rules_overhead` (set HDMS_BENCH_POSTGRES_URL to change the
//! PostgreSQL server; default 127.0.0.1:5432, database `test`).

use std::time::{Duration, Instant};

use hdms_api_types::client::Client;
use hdms_api_types::rules::{Condition, ConditionField, ConditionOp, RuleConditions, RuleInput, RuleTrigger};
use hdms_api_types::tickets::{CreateTicket, FieldChanges, TicketActions, UpdateTicket};
use hdms_server::config::Config;
use sqlx::Connection;
use tokio::net::TcpListener;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "bench password 123";
const UPDATES: usize = 300;
const RULE_COUNTS: [usize; 3] = [0, 10, 100];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
        let client = Client::new(&url)?;
        client.login(EMAIL, PASSWORD).await?;

        let mut rules = 0;
        for wanted in RULE_COUNTS {
            while rules < wanted {
                client.create_rule(&rule(rules)).await?;
                rules += 1;
            }
            report.push((backend, wanted, measure(&client).await?));
        }
    }

    println!("\nTicket update (PATCH /tickets/{{id}}, sequential, {UPDATES} per case) with enabled rules that trigger on it, against the same run's update with none");
    println!("{:<9} {:>6} {:>12} {:>10} {:>12} {:>10}", "backend", "rules", "p50", "ratio", "p99", "ratio");
    for (backend, rules, (p50, p99)) in &report {
        let (base50, base99) = report.iter().find(|(b, r, _)| b == backend && *r == 0).map(|(_, _, f)| *f).expect("a baseline");
        println!(
            "{:<9} {:>6} {:>12.2?} {:>9.2}x {:>12.2?} {:>9.2}x",
            backend,
            rules,
            p50,
            p50.as_secs_f64() / base50.as_secs_f64(),
            p99,
            p99.as_secs_f64() / base99.as_secs_f64()
        );
    }
    Ok(())
}

/// A rule on updates whose conditions are read but do not hold: a status it is not in, a tag it
/// lacks (one query), a priority; varied so the rules are not all alike.
fn rule(n: usize) -> RuleInput {
    let condition = |field, op, value: &str| Condition { field, op, value: value.to_owned() };
    let all = match n % 3 {
        0 => vec![condition(ConditionField::Status, ConditionOp::Is, "closed")],
        1 => vec![condition(ConditionField::Priority, ConditionOp::Is, "normal"), condition(ConditionField::Tags, ConditionOp::Contains, &format!("never-{n}"))],
        _ => vec![condition(ConditionField::Category, ConditionOp::Is, "hardware")],
    };
    RuleInput {
        name: format!("rule {n}"),
        position: None,
        enabled: true,
        trigger: RuleTrigger::TicketUpdated { fields: Vec::new() },
        conditions: RuleConditions { all, any: Vec::new() },
        actions: TicketActions { set: Some(FieldChanges { add_tags: vec![format!("r{n}")], ..FieldChanges::default() }), ..TicketActions::default() },
    }
}

/// p50 and p99 of updates to one ticket, each with the version the previous answered.
async fn measure(client: &Client) -> anyhow::Result<(Duration, Duration)> {
    let ticket = client.create_ticket(&CreateTicket { subject: "Bench".into(), description: "rules".into(), ..CreateTicket::default() }).await?;
    let mut version = ticket.version;
    let mut times = Vec::with_capacity(UPDATES);
    for i in 0..UPDATES + 10 {
        let update = UpdateTicket { subject: Some(format!("Bench {i}")), version: Some(version), ..UpdateTicket::default() };
        let started = Instant::now();
        let updated = client.update_ticket(ticket.id, &update).await?;
        let took = started.elapsed();
        version = updated.version;
        // The first few warm the pool and caches.
        if i >= 10 {
            times.push(took);
        }
    }
    times.sort();
    Ok((percentile(&times, 50), percentile(&times, 99)))
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

async fn fresh_postgres() -> anyhow::Result<String> {
    let admin_url = std::env::var("HDMS_BENCH_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
    let name = format!("hdms_bench_rules_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"))).execute(&mut admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
    Ok(format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0))
}
