//! The ticket status machine: every allowed and every forbidden move for every role, and the
//! generated lifecycle document.

mod common;

use common::{Backend, TestServer};
use hdms_api_types::Role;
use hdms_api_types::client::Client;
use hdms_api_types::teams::CreateTeam;
use hdms_api_types::tickets::{CreateComment, CreateTicket, Status, TransitionRequest};
use hdms_api_types::users::User;
use hdms_server::tickets::lifecycle::{self, render_docs};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};

async fn set_status(server: &TestServer, id: uuid::Uuid, status: Status) {
    hdms_server::with_db!(&server.state.db, pool => sqlx::query("UPDATE tickets SET status = $1, resolved_at = NULL WHERE id = $2")
        .bind(status.as_str()).bind(id).execute(pool).await.unwrap().rows_affected());
}

async fn every_move_for_every_role_follows_the_table(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut failures = Vec::new();
    for role in Role::ALL {
        let (client, _) = server.user(role).await;
        // Tickets raised by the caller themselves, so every role can see them.
        let ticket = client
            .create_ticket(&CreateTicket { subject: format!("{role} moves"), description: "x".into(), ..Default::default() })
            .await
            .unwrap();
        for from in Status::ALL {
            for to in Status::ALL {
                set_status(&server, ticket.id, from).await;
                let allowed = lifecycle::moves_for(from, role).any(|m| m.to == to);
                let offered = client.list_transitions(ticket.id).await.unwrap().iter().any(|t| t.to == to);
                if offered != allowed {
                    failures.push(format!("{role}: {from} -> {to} offered={offered} allowed={allowed}"));
                }
                let result = client.transition(ticket.id, &TransitionRequest { to, comment: None, version: None }).await;
                match (allowed, result) {
                    (true, Ok(t)) if t.status == to => {}
                    (false, Err(err)) if err.status().map(|s| s.as_u16()) == Some(422) => {
                        let message = err.to_string();
                        if !message.contains(from.as_str()) || !message.contains(to.as_str()) {
                            failures.push(format!("{role}: {from} -> {to} error does not name both: {message}"));
                        }
                        let after = client.get_ticket(ticket.id).await.unwrap();
                        if after.status != from {
                            failures.push(format!("{role}: refused {from} -> {to} still changed the status"));
                        }
                    }
                    (allowed, result) => failures.push(format!("{role}: {from} -> {to} allowed={allowed} got {result:?}")),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What one step of a random sequence does.
#[derive(Debug, Clone, Copy)]
enum Act {
    /// The person of `Role::ALL[n]` asks for a move to this status.
    Move(usize, Status),
    /// The requester replies (which moves a ticket waiting for them back to open).
    CustomerReply,
}

fn acts() -> impl Strategy<Value = Vec<Act>> {
    let act = prop_oneof![
        5 => (0..Role::ALL.len(), prop::sample::select(Status::ALL.to_vec())).prop_map(|(role, to)| Act::Move(role, to)),
        1 => Just(Act::CustomerReply),
    ];
    prop::collection::vec(act, 1..20)
}

/// One random sequence on a new ticket: each requested move succeeds exactly when the table
/// allows it for that role (and then lands on its status), a refused one changes nothing, a reply
/// moves the status only as the table allows, and the ticket's history holds only moves of the
/// table, each made by someone the table lets make it.
async fn run_sequence(people: &[(Role, Client, User)], team: uuid::Uuid, acts: Vec<Act>) -> Result<(), TestCaseError> {
    let customer = &people[0].1;
    let ticket = customer
        .create_ticket(&CreateTicket { subject: "Random walk".into(), description: "x".into(), team_id: Some(team), ..Default::default() })
        .await
        .unwrap();
    let mut status = ticket.status;
    for act in &acts {
        match *act {
            Act::Move(n, to) => {
                let (role, client, _) = &people[n];
                let allowed = lifecycle::moves_for(status, *role).any(|m| m.to == to);
                let result = client.transition(ticket.id, &TransitionRequest { to, comment: None, version: None }).await;
                match result {
                    Ok(moved) => {
                        prop_assert!(allowed, "{role}: {status} -> {to} was made though the table forbids it ({acts:?})");
                        prop_assert_eq!(moved.status, to);
                        status = to;
                    }
                    Err(err) => {
                        prop_assert!(!allowed, "{role}: {status} -> {to} was refused though the table allows it: {err} ({acts:?})");
                        prop_assert_eq!(err.status().map(|s| s.as_u16()), Some(422), "{}", err);
                        prop_assert_eq!(customer.get_ticket(ticket.id).await.unwrap().status, status, "a refused move changed the status");
                    }
                }
            }
            Act::CustomerReply => {
                let reply = customer.comment(ticket.id, &CreateComment { body: "any news?".into(), internal: false }).await;
                let after = customer.get_ticket(ticket.id).await.unwrap().status;
                if reply.is_err() {
                    prop_assert!(status.is_final(), "a reply on {status} was refused: {:?}", reply.err());
                }
                if after != status {
                    prop_assert!(lifecycle::moves_for(status, Role::Customer).any(|m| m.to == after), "a reply moved {status} -> {after}");
                }
                status = after;
            }
        }
    }
    let roles: std::collections::HashMap<uuid::Uuid, Role> = people.iter().map(|(role, _, user)| (user.id, *role)).collect();
    for entry in customer.history(ticket.id).await.unwrap().into_iter().filter(|e| e.field == "status") {
        let (before, after) = (entry.before.unwrap_or_default(), entry.after.unwrap_or_default());
        let role = entry.actor_id.and_then(|id| roles.get(&id).copied());
        let legal = lifecycle::MOVES.iter().any(|m| {
            m.from.as_str() == before
                && m.to.as_str() == after
                && match (m.by, role) {
                    (lifecycle::Mover::Roles(roles), Some(role)) => roles.contains(&role),
                    (lifecycle::Mover::System(_), _) => true,
                    (lifecycle::Mover::Roles(_), None) => false,
                }
        });
        prop_assert!(legal, "history holds {before} -> {after} by {role:?} ({acts:?})");
    }
    Ok(())
}

/// Random sequences of moves by random roles (proptest, shrinking to the shortest failing
/// sequence) never reach a state or a move the table forbids.
async fn random_sequences_of_moves_follow_the_table(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let team = admin.create_team(&CreateTeam { name: "Walkers".into(), description: None }).await.unwrap();
    let mut people = Vec::new();
    for role in Role::ALL {
        let (client, user) = server.user(role).await;
        if role != Role::Customer {
            admin.add_team_member(team.id, user.id).await.unwrap();
        }
        people.push((role, client, user));
    }
    let cases = std::env::var("HDMS_PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(24);
    let mut runner = TestRunner::new(ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() });
    let handle = tokio::runtime::Handle::current();
    let outcome = tokio::task::block_in_place(|| runner.run(&acts(), |acts| handle.block_on(run_sequence(&people, team.id, acts))));
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

backend_tests!(every_move_for_every_role_follows_the_table, random_sequences_of_moves_follow_the_table);

#[test]
fn lifecycle_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/ticket-lifecycle.md");
    let expected = render_docs();
    if std::env::var_os("HDMS_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == expected, "docs/ticket-lifecycle.md is stale: run HDMS_UPDATE_DOCS=1 cargo test -p hdms-server --test lifecycle");
}

#[test]
fn final_statuses_have_no_way_out_and_every_status_is_reachable() {
    for status in [Status::Closed, Status::Cancelled] {
        assert!(lifecycle::MOVES.iter().all(|m| m.from != status), "{status} is final");
    }
    for status in Status::ALL.into_iter().filter(|s| *s != Status::New) {
        assert!(lifecycle::MOVES.iter().any(|m| m.to == status), "{status} is reachable");
    }
}
