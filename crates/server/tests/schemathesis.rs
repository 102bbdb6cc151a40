//! The live API against its own OpenAPI document, attacked by Schemathesis (installed by
//! `.ci/run` from PyPI): examples, coverage, fuzzing and the stateful phase that follows the
//! document's links, as an admin, an agent and a customer. Every answer must be documented
//! (status, content type, body and headers) and none may be a 5xx.
//!
//! Each role gets a server of its own, so an admin's run (which may deactivate users, delete
//! teams or revoke tokens) cannot change what another role's run sees. The time per run is
//! `HDMS_SCHEMATHESIS_SECONDS` per phase group (default 30); a longer hunt:
//! `HDMS_SCHEMATHESIS_SECONDS=600 cargo test -p hdms-server --test schemathesis -- --nocapture`.

mod common;

use std::process::Stdio;

use common::{Backend, TestServer};
use hdms_api_types::Role;
use hdms_api_types::client::Client;
use hdms_api_types::teams::CreateTeam;
use hdms_api_types::tickets::{CreateComment, CreateTicket};
use hdms_api_types::tokens::CreateApiToken;

/// The checks that say "the server answered as its document says": never a 5xx, and status
/// codes, content types, headers and bodies as documented. Schemathesis's other checks judge
/// what the document cannot say (e.g. `positive_data_acceptance` expects every schema-valid
/// body to succeed, while a valid body may still name a ticket that does not exist).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance";

fn seconds() -> u64 {
    std::env::var("HDMS_SCHEMATHESIS_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(30)
}

/// A server with something in it to find: a team, an agent in it, a customer with a ticket
/// that has a comment. Returns a client logged in with the given role.
async fn seeded_server(backend: Backend, role: Role) -> (TestServer, Client) {
    let server = TestServer::start_with(backend, |config| {
        // Customers run on their login's access token, which must outlive the run.
        config.access_token_ttl_secs = 3600;
    })
    .await;
    let admin = server.admin().await;
    let team = admin.create_team(&CreateTeam { name: "Fuzzed".into(), description: None }).await.unwrap();
    let (agent, agent_user) = server.user(Role::Agent).await;
    admin.add_team_member(team.id, agent_user.id).await.unwrap();
    let (customer, _) = server.user(Role::Customer).await;
    let ticket = customer
        .create_ticket(&CreateTicket {
            subject: "Seeded ticket".into(),
            description: "Something to find".into(),
            team_id: Some(team.id),
            ..Default::default()
        })
        .await
        .unwrap();
    agent.comment(ticket.id, &CreateComment { body: "Looking".into(), internal: false }).await.unwrap();
    let client = match role {
        Role::Admin => admin,
        Role::Agent => agent,
        Role::Customer => customer,
        other => server.user(other).await.0,
    };
    (server, client)
}

/// Runs Schemathesis against the server as `client`, one run for the phases that test
/// operations one by one and one for the stateful phase (which follows links from answer to
/// request), each for [`seconds`]: phases share a run's time in order, and the fuzzing phase
/// would take it all. Their reports on failure.
async fn run_schemathesis(server: &TestServer, client: &Client, role: Role, label: &str) -> Result<(), String> {
    // Staff authenticate with a personal API token rather than the login's access token: the
    // run calls every route, `POST /auth/logout` included, which would end a login session and
    // answer 401 to everything after. Customers may not have API tokens; their logout is left
    // out instead (the staff runs fuzz it).
    let (token, exclude_logout) = if role == Role::Customer {
        (client.token().expect("logged in"), true)
    } else {
        let created = client.create_token(&CreateApiToken { name: "schemathesis".into(), expires_in_days: None, scope: None }).await.unwrap();
        (created.secret, false)
    };
    let mut failures = Vec::new();
    for phases in ["examples,coverage,fuzzing", "stateful"] {
        let report = tempfile::tempdir().unwrap();
        let mut command = tokio::process::Command::new("st");
        command
            .arg("run")
            .arg(format!("{}/api/v1/openapi.json", server.url))
            .args(["--url", &server.url])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--phases", phases])
            .args(["--checks", CHECKS])
            .args(["--max-time", &seconds().to_string()])
            .args(["--workers", "1"])
            // Failures are reproduced with `curl` lines in the output; shrinking them costs
            // time the bounded run is better spent exploring.
            .arg("--no-shrink")
            .args(["--request-timeout", "30"])
            .args(["--suppress-health-check", "all"])
            .arg("--report-dir")
            .arg(report.path())
            .env("NO_COLOR", "1")
            .env("SCHEMATHESIS_HOOKS", "hdms_hooks")
            .env("PYTHONPATH", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis"))
            .stdin(Stdio::null());
        if exclude_logout {
            command.args(["--exclude-path", "/api/v1/auth/logout"]);
        }
        let output = command
            .output()
            .await
            .unwrap_or_else(|err| panic!("cannot run Schemathesis's `st` (.ci/run installs it from PyPI): {err}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        eprintln!("--- schemathesis {phases} as {label} ---\n{stdout}{stderr}");
        if !output.status.success() {
            failures.push(format!("schemathesis {phases} as {label} failed:\n{stdout}{stderr}"));
        }
    }
    if failures.is_empty() { Ok(()) } else { Err(failures.join("\n")) }
}

async fn every_answer_matches_the_document(backend: Backend) {
    let mut runs = Vec::new();
    for role in [Role::Admin, Role::Agent, Role::Customer] {
        runs.push(tokio::spawn(async move {
            let (server, client) = seeded_server(backend, role).await;
            run_schemathesis(&server, &client, role, &format!("{role} on {backend:?}")).await
        }));
    }
    let mut failures = Vec::new();
    for run in runs {
        if let Err(report) = run.await.unwrap() {
            failures.push(report);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

backend_tests!(every_answer_matches_the_document);
