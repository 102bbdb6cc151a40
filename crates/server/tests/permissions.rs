//! Walks every route of the OpenAPI document with every role and checks the answer against the
//! permission table; checks the generated roles document is current.

mod common;

use common::{Backend, TestServer};
use hdms_api_types::Role;
use hdms_api_types::tokens::CreateApiToken;
use hdms_server::http::permissions::{Action, CHECKED_IN_HANDLERS, render_docs, route_table};
use reqwest::Method;

/// Path parameters become fresh random ids: the permission check comes before any lookup, so a
/// role that may not act gets 403 even for a record that does not exist.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| if segment.starts_with('{') { uuid::Uuid::now_v7().to_string() } else { segment.to_owned() })
        .collect::<Vec<_>>()
        .join("/")
}

async fn call(server: &TestServer, method: &str, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = server.http().request(method.clone(), format!("{}{}", server.url, concrete(path)));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
        request = request.json(&serde_json::json!({}));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

async fn every_route_answers_every_role_as_the_table_says(backend: Backend) {
    let server = TestServer::start(backend).await;
    let routes = route_table(&hdms_server::app::openapi());
    let secured: Vec<_> = routes.iter().filter_map(|(m, p, a)| a.map(|a| (m.as_str(), p.as_str(), a))).collect();
    assert!(secured.len() >= 18, "the document lists the secured routes: {routes:?}");

    // Every action of the table is used by some route, and no route is left unchecked.
    for action in Action::ALL.iter().filter(|a| !CHECKED_IN_HANDLERS.contains(a)) {
        assert!(secured.iter().any(|(_, _, a)| a == action), "no route needs {}", action.name());
    }

    let mut failures = Vec::new();
    for (method, path, _) in &secured {
        let (status, body) = call(&server, method, path, None).await;
        if status != 401 || body["error"]["code"] != "unauthenticated" {
            failures.push(format!("anonymous {method} {path}: {status} {body}"));
        }
    }
    for role in Role::ALL {
        let (client, _) = server.user(role).await;
        let jwt = client.token().unwrap();
        // Personal API tokens carry the same permissions; roles that may not hold one use the JWT.
        let pat = match client.create_token(&CreateApiToken { name: "matrix".into(), expires_in_days: None, scope: None }).await {
            Ok(created) => Some(created.secret),
            Err(_) => None,
        };
        for (method, path, action) in &secured {
            for token in [Some(&jwt), pat.as_ref()].into_iter().flatten() {
                let (status, body) = call(&server, method, path, Some(token)).await;
                let allowed = action.allows(role);
                let ok = if allowed {
                    status != 401 && status != 403 && status != 500
                } else {
                    status == 403 && body["error"]["code"] == "forbidden"
                };
                if !ok {
                    failures.push(format!("{role} {method} {path} ({}): {status} {body}", action.name()));
                }
            }
        }
    }
    // A token limited to one action (what `hdms mailgate` holds) is refused everywhere else.
    let admin = server.admin().await;
    let scoped = CreateApiToken { name: "gate".into(), expires_in_days: None, scope: Some(Action::IngestMail.name().to_owned()) };
    let gate = admin.create_token(&scoped).await.unwrap().secret;
    for (method, path, action) in &secured {
        let (status, body) = call(&server, method, path, Some(&gate)).await;
        let ok = if *action == Action::IngestMail { status != 401 && status != 403 && status != 500 } else { status == 403 && body["error"]["code"] == "forbidden" };
        if !ok {
            failures.push(format!("token scoped to mail.ingest {method} {path} ({}): {status} {body}", action.name()));
        }
    }
    assert!(failures.is_empty(), "answers that disagree with the table:\n{}", failures.join("\n"));
}

backend_tests!(every_route_answers_every_role_as_the_table_says);

#[test]
fn roles_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/roles-and-permissions.md");
    let expected = render_docs(&hdms_server::app::openapi());
    if std::env::var_os("HDMS_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "docs/roles-and-permissions.md is stale: run HDMS_UPDATE_DOCS=1 cargo test -p hdms-server --test permissions"
    );
}
