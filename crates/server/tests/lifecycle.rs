//! The ticket status machine: every allowed and every forbidden move for every role, and the
//! generated lifecycle document.

mod common;

use common::{Backend, TestServer};
use hdms_api_types::Role;
use hdms_api_types::tickets::{CreateTicket, Status, TransitionRequest};
use hdms_server::tickets::lifecycle::{self, render_docs};

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

backend_tests!(every_move_for_every_role_follows_the_table);

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
