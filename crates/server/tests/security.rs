//! Attacks on authentication and authorisation, on both backends: forged, tampered and stale
//! access tokens, and every resource id of one customer or team tried by another (IDOR), and
//! query metacharacters in every ticket filter.

mod common;

use base64::Engine;
use common::{Backend, JWT_SECRET, TestServer};
use hdms_api_types::Role;
use hdms_api_types::notifications::NotificationListQuery;
use hdms_api_types::teams::CreateTeam;
use hdms_api_types::tickets::{CannedReplyInput, CreateComment, CreateTicket, SavedViewInput, TicketListQuery};
use hdms_api_types::tokens::CreateApiToken;
use hdms_api_types::users::UpdateUser;
use serde_json::json;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Status of `method path` with this bearer token.
async fn status(server: &TestServer, method: &str, path: &str, token: &str, body: Option<serde_json::Value>) -> u16 {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = server.http().request(method, format!("{}{path}", server.url)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status().as_u16()
}

fn claims_of(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

async fn forged_tampered_and_stale_tokens_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (agent, agent_user) = server.user(Role::Agent).await;
    let (_, customer_user) = server.user(Role::Customer).await;
    let token = agent.token().unwrap();
    let claims = claims_of(&token);
    let me = "/api/v1/users/me";
    assert_eq!(status(&server, "GET", me, &token, None).await, 200);

    // alg none, with and without a trailing dot.
    let none = format!("{}.{}", B64.encode(br#"{"alg":"none","typ":"JWT"}"#), B64.encode(claims.to_string()));
    assert_eq!(status(&server, "GET", me, &none, None).await, 401);
    assert_eq!(status(&server, "GET", me, &format!("{none}."), None).await, 401);
    // Signed with another key, or with the right key under another algorithm.
    let key = |secret: &str| jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let wrong_key = jsonwebtoken::encode(&header, &claims, &key("another-secret-another-secret-0123456")).unwrap();
    assert_eq!(status(&server, "GET", me, &wrong_key, None).await, 401);
    let hs512 = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512), &claims, &key(JWT_SECRET)).unwrap();
    assert_eq!(status(&server, "GET", me, &hs512, None).await, 401);
    // The payload changed to name another user, the signature kept.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut tampered = claims.clone();
    tampered["sub"] = json!(customer_user.id);
    parts[1] = B64.encode(tampered.to_string());
    assert_eq!(status(&server, "GET", me, &parts.join("."), None).await, 401);
    // Expired, though correctly signed.
    let mut expired = claims.clone();
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 1);
    let expired = jsonwebtoken::encode(&header, &expired, &key(JWT_SECRET)).unwrap();
    assert_eq!(status(&server, "GET", me, &expired, None).await, 401);
    // Correctly signed for a session that never existed.
    let mut no_session = claims.clone();
    no_session["sid"] = json!(uuid::Uuid::now_v7());
    let no_session = jsonwebtoken::encode(&header, &no_session, &key(JWT_SECRET)).unwrap();
    assert_eq!(status(&server, "GET", me, &no_session, None).await, 401);
    // Garbage of every shape.
    for junk in ["", ".", "..", "a.b.c", "hdms_pat_", "hdms_pat_00", &"A".repeat(8000)] {
        let code = status(&server, "GET", me, junk, None).await;
        assert!(code == 401 || code == 400, "{junk:?} answered {code}");
    }

    // A role change takes effect on the next request: the agent's rights end at once.
    let admin = server.admin().await;
    let pat = agent.create_token(&CreateApiToken { name: "script".into(), expires_in_days: None, scope: None }).await.unwrap().secret;
    assert_eq!(status(&server, "GET", "/api/v1/canned-replies", &token, None).await, 200);
    admin.update_user(agent_user.id, &UpdateUser { role: Some(Role::Customer), ..Default::default() }).await.unwrap();
    // (The server goes further than refusing the old role: it ends the person's sessions.)
    for credential in [&token, &pat] {
        let code = status(&server, "GET", "/api/v1/canned-replies", credential, None).await;
        assert!(code == 401 || code == 403, "the old role's right answered {code}");
    }
    // Deactivated: nothing works, access token and API token alike.
    admin.update_user(agent_user.id, &UpdateUser { active: Some(false), ..Default::default() }).await.unwrap();
    assert_eq!(status(&server, "GET", me, &token, None).await, 401);
    assert_eq!(status(&server, "GET", me, &pat, None).await, 401);
}

/// Everything one customer (and one team) owns, tried by another customer (and an agent of
/// another team): every id answers 404 (never confirming it exists) or 403, and changes nothing.
async fn no_resource_id_crosses_customers_or_teams(backend: Backend) {
    let server = TestServer::start_with(backend, |config| {
        config.unscanned_policy = hdms_server::config::UnscannedPolicyArg::Allow;
    })
    .await;
    let admin = server.admin().await;
    let red = admin.create_team(&CreateTeam { name: "Red".into(), description: None }).await.unwrap();
    let blue = admin.create_team(&CreateTeam { name: "Blue".into(), description: None }).await.unwrap();
    let (red_agent, red_agent_user) = server.user(Role::Agent).await;
    let (blue_agent, blue_agent_user) = server.user(Role::Agent).await;
    admin.add_team_member(red.id, red_agent_user.id).await.unwrap();
    admin.add_team_member(blue.id, blue_agent_user.id).await.unwrap();
    let (alice, alice_user) = server.user(Role::Customer).await;
    let (mallory, _) = server.user(Role::Customer).await;

    let ticket = alice
        .create_ticket(&CreateTicket { subject: "Alice's".into(), description: "private".into(), team_id: Some(red.id), ..Default::default() })
        .await
        .unwrap();
    let comment = red_agent.comment(ticket.id, &CreateComment { body: format!("@{} look", alice_user.email), internal: false }).await.unwrap();
    let attachment = alice.upload_attachment(ticket.id, "secret.txt", Some("text/plain"), b"alice's secret").await.unwrap();
    let notification = alice.notifications(&NotificationListQuery::default()).await.unwrap().items.into_iter().next().expect("alice was told of the reply");
    let reply = red_agent.create_canned_reply(&CannedReplyInput { name: "Mine".into(), body: "x".into(), shared: false }).await.unwrap();
    let view = red_agent.create_view(&SavedViewInput { name: "Mine".into(), query: TicketListQuery::default() }).await.unwrap();
    let token = red_agent.create_token(&CreateApiToken { name: "mine".into(), expires_in_days: None, scope: None }).await.unwrap();
    let approval = red_agent
        .request_approval(ticket.id, &hdms_api_types::approvals::RequestApproval {
            approvers: vec![hdms_api_types::approvals::Approver { user_id: Some(admin.me().await.unwrap().id), role: None }],
            rule: hdms_api_types::approvals::ApprovalRule::Any,
            reason: None,
        })
        .await;

    let t = ticket.id;
    let mut probes: Vec<(&str, String, Option<serde_json::Value>)> = vec![
        ("GET", format!("/api/v1/tickets/{t}"), None),
        ("PATCH", format!("/api/v1/tickets/{t}"), Some(json!({"subject": "mine now"}))),
        ("DELETE", format!("/api/v1/tickets/{t}"), None),
        ("GET", format!("/api/v1/tickets/by-number/{}", ticket.number), None),
        ("GET", format!("/api/v1/tickets/{t}/comments"), None),
        ("POST", format!("/api/v1/tickets/{t}/comments"), Some(json!({"body": "hi"}))),
        ("GET", format!("/api/v1/tickets/{t}/history"), None),
        ("GET", format!("/api/v1/tickets/{t}/attachments"), None),
        ("GET", format!("/api/v1/attachments/{}", attachment.id), None),
        ("DELETE", format!("/api/v1/attachments/{}", attachment.id), None),
        ("GET", format!("/api/v1/tickets/{t}/watchers"), None),
        ("PUT", format!("/api/v1/tickets/{t}/watchers/{}", alice_user.id), None),
        ("GET", format!("/api/v1/tickets/{t}/approvals"), None),
        ("GET", format!("/api/v1/tickets/{t}/links"), None),
        ("GET", format!("/api/v1/tickets/{t}/rating"), None),
        ("POST", format!("/api/v1/tickets/{t}/transitions"), Some(json!({"to": "resolved"}))),
        ("POST", format!("/api/v1/notifications/{}/read", notification.id), None),
        ("GET", format!("/api/v1/canned-replies/{}", reply.id), None),
        ("DELETE", format!("/api/v1/canned-replies/{}", reply.id), None),
        ("GET", format!("/api/v1/views/{}", view.id), None),
        ("GET", format!("/api/v1/views/{}/tickets", view.id), None),
        ("DELETE", format!("/api/v1/views/{}", view.id), None),
        ("DELETE", format!("/api/v1/tokens/{}", token.token.id), None),
    ];
    let approval = approval.expect("the agent asks the admin for approval");
    {
        probes.push(("POST", format!("/api/v1/approvals/{}/decision", approval.id), Some(json!({"approve": true}))));
    }
    let _ = comment;
    for (who, client) in [("another customer", &mallory), ("an agent of another team", &blue_agent)] {
        let bearer = client.token().unwrap();
        for (method, path, body) in &probes {
            let code = status(&server, method, path, &bearer, body.clone()).await;
            // Other teams' agents may read the canned replies and views shared with them, not
            // these personal ones; nothing of Alice's ticket is theirs.
            assert!(code == 404 || code == 403, "{who}: {method} {path} answered {code}");
        }
    }
    // Nothing changed: the ticket, its file, the notification, the reply, the view, the token.
    let seen = alice.get_ticket(t).await.unwrap();
    assert_eq!(seen.subject, "Alice's");
    assert_eq!(alice.download_attachment(attachment.id, None).await.unwrap().content, b"alice's secret");
    assert!(!alice.notifications(&NotificationListQuery::default()).await.unwrap().items.iter().any(|n| n.id == notification.id && n.read_at.is_some()));
    red_agent.get_canned_reply(reply.id).await.unwrap();
    red_agent.get_view(view.id).await.unwrap();
    assert!(red_agent.list_tokens().await.unwrap().iter().any(|k| k.id == token.token.id));
    // Lists never leak either.
    assert!(mallory.list_tickets(&TicketListQuery::default()).await.unwrap().items.is_empty());
    assert!(blue_agent.list_tickets(&TicketListQuery { team: Some(red.id), ..Default::default() }).await.unwrap().items.is_empty());
}

/// SQL and full-text metacharacters in every filter of the ticket list: a 4xx or an answer,
/// never a 500, and never a ticket the caller may not see.
async fn metacharacters_in_filters_never_reach_sql(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (alice, _) = server.user(Role::Customer).await;
    let (mallory, _) = server.user(Role::Customer).await;
    alice.create_ticket(&CreateTicket { subject: "Printer".into(), description: "jammed".into(), ..Default::default() }).await.unwrap();
    let hostile = [
        "' OR 1=1 --", "\" OR \"\"=\"", "'; DROP TABLE tickets; --", "%", "_", "\\", "*", "\"", "\"unbalanced",
        "NEAR(a b)", "a OR b", "a AND NOT b", "^x", "col:value", "(", ")", "{a}", "a*b*", "-", "+",
        "printer:*", "!!", "&|", "a & | b", "<->", "\u{0}", "😀", "日本語", &"x".repeat(5000),
    ];
    let token = mallory.token().unwrap();
    for value in hostile {
        for filter in ["q", "status", "assignee", "team", "priority", "requester", "tag", "breaching_within", "sort", "cursor", "limit"] {
            let response = server
                .http()
                .get(format!("{}/api/v1/tickets", server.url))
                .query(&[(filter, value)])
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let code = response.status().as_u16();
            assert!(code < 500, "{filter}={value:?} answered {code}");
            if code == 200 {
                let page: serde_json::Value = response.json().await.unwrap();
                assert_eq!(page["items"].as_array().map(Vec::len), Some(0), "{filter}={value:?} showed another's ticket");
            }
        }
    }
}

backend_tests!(
    forged_tampered_and_stale_tokens_are_refused,
    no_resource_id_crosses_customers_or_teams,
    metacharacters_in_filters_never_reach_sql,
);

/// Instances keep signed-in accounts in memory (issue 17). A role change made through one
/// instance must end the old rights on the other as well: the other instance is told by the
/// database, long before its entries would expire by themselves (5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_through_one_instance_ends_rights_on_the_other() {
    let first = TestServer::start(Backend::Postgres).await;
    let second = TestServer::start_config(first.config.clone(), tempfile::tempdir().unwrap()).await;
    let (agent, agent_user) = first.user(Role::Agent).await;
    let token = agent.token().unwrap();
    // The second instance has the agent's session in memory now.
    for _ in 0..3 {
        assert_eq!(status(&second, "GET", "/api/v1/canned-replies", &token, None).await, 200);
    }
    first.admin().await.update_user(agent_user.id, &UpdateUser { role: Some(Role::Customer), ..Default::default() }).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let code = status(&second, "GET", "/api/v1/canned-replies", &token, None).await;
        if code == 401 || code == 403 {
            break;
        }
        assert_eq!(code, 200);
        assert!(std::time::Instant::now() < deadline, "the other instance still honoured the old role after 3 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
