//! How many SQL statements each hot route runs, on both backends, so the count cannot grow
//! unnoticed (benches/api_overhead.rs measures what they cost).
//!
//! sqlx logs every statement it runs as an event of target `sqlx::query`, inside the span of
//! whoever ran it (SQLite's worker thread enters the caller's span too). This test binary
//! installs a tracing layer that counts those events by the request span's `request_id`, and
//! sends each measured request with an id of its own, so tests running side by side do not mix
//! their counts. Nothing of it is in the server: production pays nothing.
//!
//! The counts are exact: a change that saves a statement updates the number here, one that adds
//! a statement has to say so here.

mod common;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use common::{Backend, TestServer};
use hdms_api_types::Role;
use hdms_api_types::sla::SlaPolicyInput;
use hdms_api_types::teams::CreateTeam;
use hdms_api_types::tickets::{CreateTicket, Priority};
use reqwest::Method;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use uuid::Uuid;

/// The statements run so far, by request id.
type Statements = Mutex<HashMap<String, Vec<String>>>;

fn statements() -> &'static Statements {
    static STATEMENTS: OnceLock<&'static Statements> = OnceLock::new();
    STATEMENTS.get_or_init(|| {
        let statements: &'static Statements = Box::leak(Box::default());
        let filter = tracing_subscriber::filter::Targets::new()
            .with_target("sqlx::query", tracing::Level::TRACE)
            .with_target("hdms_server", tracing::Level::INFO);
        let subscriber = tracing_subscriber::registry().with(StatementCounter { statements }.with_filter(filter));
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in this test binary");
        statements
    })
}

struct StatementCounter {
    statements: &'static Statements,
}

/// The `request_id` of a request span.
struct RequestId(String);

/// Reads one string field of a span or event.
struct StringField<'a>(&'a str, Option<String>);

impl Visit for StringField<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == self.0 {
            self.1 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == self.0 {
            self.1 = Some(format!("{value:?}"));
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for StatementCounter {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut request_id = StringField("request_id", None);
        attrs.record(&mut request_id);
        if let (Some(request_id), Some(span)) = (request_id.1, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(request_id));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else { return };
        let Some(request_id) = scope.into_iter().find_map(|span| span.extensions().get::<RequestId>().map(|id| id.0.clone())) else {
            return;
        };
        let mut summary = StringField("summary", None);
        event.record(&mut summary);
        let mut statements = self.statements.lock().unwrap();
        statements.entry(request_id).or_default().push(summary.1.unwrap_or_default());
    }
}

/// Sends one request with a fresh request id; the statements it ran.
async fn statements_of(server: &TestServer, token: &str, method: Method, path: &str, body: Option<serde_json::Value>) -> Vec<String> {
    let statements = statements();
    let request_id = Uuid::now_v7().to_string();
    let mut request = server
        .http()
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(token)
        .header("x-request-id", &request_id);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the server answers");
    assert!(response.status().is_success(), "{path}: {} {}", response.status(), response.text().await.unwrap_or_default());
    response.bytes().await.expect("the whole answer");
    statements.lock().unwrap().remove(&request_id).unwrap_or_default()
}

/// Statements per route, as measured or expected.
type Counts = Vec<(&'static str, usize)>;

fn expected(backend: Backend) -> Counts {
    // PostgreSQL runs three more: its COMMIT is logged (SQLite's is not), and the live queues'
    // signals are `pg_notify` calls (SQLite's tailer reads the history table instead).
    let (create, comment) = match backend {
        Backend::Sqlite => (12, 8),
        Backend::Postgres => (15, 11),
    };
    // A session's account is read on its first request only (`users::session_cache`).
    vec![
        ("GET /users/me, first of the session", 1),
        ("GET /users/me", 0),
        ("POST /tickets", create),
        ("GET /tickets/{id}", 1),
        ("POST /tickets/{id}/comments", comment),
        ("GET /tickets", 1),
    ]
}

/// A desk like the bench's: a team, an SLA policy, tickets with tags in the team's queue.
async fn desk(server: &TestServer) -> (String, CreateTicket) {
    let admin = server.admin().await;
    let team = admin.create_team(&CreateTeam { name: "Hardware".into(), description: None }).await.unwrap();
    admin
        .create_sla_policy(&SlaPolicyInput {
            name: "Normal".into(),
            priority: Priority::Normal,
            category: None,
            team_id: None,
            first_response_secs: 3600,
            resolution_secs: 86_400,
            warning_percent: None,
            calendar: None,
        })
        .await
        .unwrap();
    let create = CreateTicket {
        subject: "The printer jams".into(),
        description: "On every page".into(),
        priority: Some(Priority::Normal),
        category: Some("hardware".into()),
        tags: vec!["printer".into(), "floor-2".into()],
        team_id: Some(team.id),
        requester_id: None,
    };
    (admin.token().expect("logged in"), create)
}

async fn hot_routes_run_a_fixed_number_of_statements(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (token, create) = desk(&server).await;
    let create_body = serde_json::to_value(&create).unwrap();
    let admin = server.admin().await;
    let ticket = admin.create_ticket(&create).await.unwrap();
    let comment = serde_json::json!({ "body": "We are on it" });
    // Logging in (above) made every session's account be read again.
    let requests = [
        ("GET /users/me, first of the session", Method::GET, "/api/v1/users/me".to_owned(), None),
        ("GET /users/me", Method::GET, "/api/v1/users/me".to_owned(), None),
        ("POST /tickets", Method::POST, "/api/v1/tickets".to_owned(), Some(create_body)),
        ("GET /tickets/{id}", Method::GET, format!("/api/v1/tickets/{}", ticket.id), None),
        ("POST /tickets/{id}/comments", Method::POST, format!("/api/v1/tickets/{}/comments", ticket.id), Some(comment)),
        ("GET /tickets", Method::GET, "/api/v1/tickets".to_owned(), None),
    ];
    let mut counts = Counts::new();
    let mut ran = String::new();
    for (route, method, path, body) in requests {
        let statements = statements_of(&server, &token, method, &path, body).await;
        counts.push((route, statements.len()));
        ran.push_str(&format!("\n{route}:\n  {}", statements.join("\n  ")));
    }
    assert_eq!(counts, expected(backend), "statements per route on {backend:?}; they ran:{ran}");
}

/// A queue page costs the same statements for one ticket as for many (no query per ticket).
async fn a_queue_page_costs_the_same_for_one_ticket_as_for_many(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (token, create) = desk(&server).await;
    let admin = server.admin().await;
    admin.create_ticket(&create).await.unwrap();
    let one = statements_of(&server, &token, Method::GET, "/api/v1/tickets", None).await;
    let (other_requester, _) = server.user(Role::Customer).await;
    for _ in 0..5 {
        admin.create_ticket(&create).await.unwrap();
        other_requester.create_ticket(&CreateTicket { team_id: None, ..create.clone() }).await.unwrap();
    }
    let many = statements_of(&server, &token, Method::GET, "/api/v1/tickets", None).await;
    assert_eq!(one.len(), many.len(), "one ticket:\n{}\n\neleven tickets:\n{}", one.join("\n"), many.join("\n"));
}

backend_tests!(hot_routes_run_a_fixed_number_of_statements, a_queue_page_costs_the_same_for_one_ticket_as_for_many);
