//! Login, refresh-token rotation and reuse detection, logout, expiry, throttling and personal API
//! tokens, on both backends.

mod common;

use common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, JWT_SECRET, PASSWORD, TestServer, assert_api_error};
use hdms_api_types::Role;
use hdms_api_types::tokens::CreateApiToken;
use hdms_api_types::users::UpdateUser;
use hdms_server::users::jwt::JwtKeys;

async fn login_answers_tokens_and_user(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.anonymous();
    let answer = client.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    assert_eq!(answer.user.email, ADMIN_EMAIL);
    assert_eq!(answer.user.role, Role::Admin);
    assert_eq!(answer.token_type, "Bearer");
    assert_eq!(answer.expires_in, 900);
    assert_eq!(client.me().await.unwrap().id, answer.user.id);
    // Emails match whatever their case and surrounding blanks.
    server.anonymous().login("  Admin@Example.COM ", ADMIN_PASSWORD).await.unwrap();
}

async fn wrong_password_and_unknown_email_are_the_same_401(backend: Backend) {
    let server = TestServer::start(backend).await;
    assert_api_error(server.anonymous().login(ADMIN_EMAIL, "wrong password").await, 401, "invalid_credentials");
    assert_api_error(server.anonymous().login("nobody@example.com", "wrong password").await, 401, "invalid_credentials");
}

async fn protected_routes_need_a_valid_token(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.anonymous();
    assert_api_error(client.me().await, 401, "unauthenticated");
    client.set_token(Some("not.a.jwt".to_owned()));
    assert_api_error(client.me().await, 401, "invalid_token");
    // Signed with another key.
    let forged = JwtKeys::new(b"another secret another secret 0123456789")
        .issue(uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), std::time::Duration::from_secs(60))
        .unwrap();
    client.set_token(Some(forged));
    assert_api_error(client.me().await, 401, "invalid_token");
}

async fn expired_access_token_is_refused_and_refresh_renews_it(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.anonymous();
    let login = client.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    // The same user and session, signed with the server's key, but expired a minute ago.
    let claims = JwtKeys::new(JWT_SECRET.as_bytes()).verify(&login.access_token).unwrap();
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"sub": claims.sub, "sid": claims.sid, "iss": "hdms", "iat": claims.iat - 960, "exp": claims.iat - 60}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    client.set_token(Some(expired));
    assert_api_error(client.me().await, 401, "token_expired");
    let renewed = client.refresh(&login.refresh_token).await.unwrap();
    assert_eq!(client.me().await.unwrap().id, login.user.id);
    assert_ne!(renewed.refresh_token, login.refresh_token);
}

async fn refresh_rotates_and_reuse_revokes_the_session(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.anonymous();
    let first = client.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    let second = client.refresh(&first.refresh_token).await.unwrap();
    let third = client.refresh(&second.refresh_token).await.unwrap();
    assert_eq!(client.me().await.unwrap().email, ADMIN_EMAIL);

    // An unrelated session of the same user survives what follows.
    let other = server.admin().await;

    // Someone replays an already-rotated token: the whole session dies.
    assert_api_error(server.anonymous().refresh(&first.refresh_token).await, 401, "refresh_token_reused");
    assert_api_error(client.me().await, 401, "session_revoked");
    assert_api_error(server.anonymous().refresh(&third.refresh_token).await, 401, "session_revoked");
    assert_api_error(server.anonymous().refresh("made-up").await, 401, "invalid_refresh_token");
    other.me().await.unwrap();
}

async fn refresh_token_expires(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.refresh_token_ttl_secs = 0).await;
    let login = server.anonymous().login(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    assert_api_error(server.anonymous().refresh(&login.refresh_token).await, 401, "refresh_token_expired");
}

async fn logout_revokes_the_session(backend: Backend) {
    let server = TestServer::start(backend).await;
    // By access token.
    let client = server.anonymous();
    let login = client.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    client.logout(None).await.unwrap();
    assert_api_error(client.me().await, 401, "session_revoked");
    assert_api_error(client.refresh(&login.refresh_token).await, 401, "session_revoked");
    // By refresh token, without an access token.
    let client = server.anonymous();
    let login = client.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    server.anonymous().logout(Some(&login.refresh_token)).await.unwrap();
    assert_api_error(client.me().await, 401, "session_revoked");
    // Neither.
    assert_api_error(server.anonymous().logout(None).await, 401, "unauthenticated");
}

async fn repeated_failures_are_throttled(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.login_max_failures = 3).await;
    let (_, user) = server.user(Role::Agent).await;
    for _ in 0..3 {
        assert_api_error(server.anonymous().login(&user.email, "wrong password").await, 401, "invalid_credentials");
    }
    // Now even the right password waits, and the answer says how long.
    let response = server
        .http()
        .post(format!("{}/api/v1/auth/login", server.url))
        .json(&serde_json::json!({"email": user.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after > 0 && retry_after <= 900, "Retry-After {retry_after}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests");
    // Another account is not affected.
    server.admin().await.me().await.unwrap();
}

async fn deactivated_and_deleted_users_lose_access(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let (agent, user) = server.user(Role::Agent).await;
    let token = agent.create_token(&CreateApiToken { name: "script".into(), expires_in_days: None, scope: None }).await.unwrap();
    let script = server.anonymous();
    script.set_token(Some(token.secret.clone()));
    script.me().await.unwrap();

    admin.update_user(user.id, &UpdateUser { active: Some(false), ..Default::default() }).await.unwrap();
    assert_api_error(agent.me().await, 401, "session_revoked");
    assert_api_error(script.me().await, 401, "invalid_token");
    assert_api_error(server.anonymous().login(&user.email, PASSWORD).await, 401, "account_disabled");

    admin.update_user(user.id, &UpdateUser { active: Some(true), ..Default::default() }).await.unwrap();
    script.me().await.unwrap();
    admin.delete_user(user.id).await.unwrap();
    assert_api_error(script.me().await, 401, "invalid_token");
    assert_api_error(server.anonymous().login(&user.email, PASSWORD).await, 401, "invalid_credentials");
}

async fn personal_api_tokens_are_shown_once_and_revocable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (agent, user) = server.user(Role::Agent).await;
    let created = agent.create_token(&CreateApiToken { name: "nightly export".into(), expires_in_days: Some(30), scope: None }).await.unwrap();
    assert!(created.secret.starts_with("hdms_pat_"));
    assert!(created.secret.starts_with(&created.token.prefix));
    assert!(created.token.expires_at.is_some());

    let script = server.anonymous();
    script.set_token(Some(created.secret.clone()));
    assert_eq!(script.me().await.unwrap().id, user.id);

    let listed = agent.list_tokens().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.token.id);
    assert!(listed[0].last_used_at.is_some(), "use is recorded");
    let listed_json = serde_json::to_string(&listed).unwrap();
    assert!(!listed_json.contains(&created.secret), "the secret is never listed");

    // Another user cannot revoke it; its owner can, and it stops working at once.
    let (other, _) = server.user(Role::Supervisor).await;
    assert_api_error(other.revoke_token(created.token.id).await, 404, "not_found");
    agent.revoke_token(created.token.id).await.unwrap();
    assert_api_error(script.me().await, 401, "invalid_token");
    assert!(agent.list_tokens().await.unwrap().is_empty());
    assert_api_error(agent.revoke_token(created.token.id).await, 404, "not_found");

    assert_api_error(agent.create_token(&CreateApiToken { name: " ".into(), expires_in_days: None, scope: None }).await, 422, "validation_failed");
}

/// A token limited to one action works on that action's routes and nowhere else (`hdms
/// mailgate`'s credential on a mail server can hand mail in and do nothing more).
async fn a_scoped_token_does_one_thing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let scoped = |scope: &str| CreateApiToken { name: "mailgate".into(), expires_in_days: None, scope: Some(scope.to_owned()) };
    let created = admin.create_token(&scoped("mail.ingest")).await.unwrap();
    assert_eq!(created.token.scope.as_deref(), Some("mail.ingest"));
    let gate = server.anonymous();
    gate.set_token(Some(created.secret));
    let raw = b"From: ana@customer.example\r\nSubject: Hello\r\nMessage-ID: <scoped-1@customer.example>\r\n\r\nHi\r\n".to_vec();
    assert!(gate.mail_inbound(raw, None).await.unwrap().ticket_id.is_some());
    assert_api_error(gate.me().await, 403, "forbidden");
    assert_api_error(gate.mail_failures(false).await, 403, "forbidden");
    assert_api_error(gate.list_tokens().await, 403, "forbidden");
    // Only actions of the table, that the owner's role has, and that need no further check.
    assert_api_error(admin.create_token(&scoped("mail.everything")).await, 422, "validation_failed");
    let (agent, _) = server.user(Role::Agent).await;
    assert_api_error(agent.create_token(&scoped("mail.ingest")).await, 422, "validation_failed");
    assert_api_error(admin.create_token(&scoped("tickets.reassign")).await, 422, "validation_failed");
}

/// A login is a sign-in and records when it happened; a refresh only keeps the session going.
async fn login_records_last_login_and_refresh_does_not(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let (_, agent) = server.user(Role::Agent).await;
    let created = admin.create_user(&hdms_api_types::users::CreateUser {
        email: "new.hire@example.com".into(),
        name: "New Hire".into(),
        role: Role::Agent,
        phone: None,
        password: Some(PASSWORD.into()),
    }).await.unwrap();
    assert_eq!(created.last_login_at, None, "never signed in");
    assert_eq!(admin.get_user(created.id).await.unwrap().last_login_at, None);

    let before = chrono::Utc::now();
    let client = server.anonymous();
    let login = client.login("new.hire@example.com", PASSWORD).await.unwrap();
    let at = login.user.last_login_at.expect("the login answer shows this login");
    assert!(at >= before - chrono::Duration::seconds(1) && at <= chrono::Utc::now(), "{at} is the login's time");
    assert_eq!(admin.get_user(created.id).await.unwrap().last_login_at, Some(at));
    let listed = admin.list_users(&hdms_api_types::users::UserListQuery { q: Some("new.hire".into()), ..Default::default() }).await.unwrap();
    assert_eq!(listed.items[0].last_login_at, Some(at), "lists carry it too");

    let refreshed = client.refresh(&login.refresh_token).await.unwrap();
    assert_eq!(refreshed.user.last_login_at, Some(at), "a refresh is not a sign-in");
    assert_eq!(admin.get_user(created.id).await.unwrap().last_login_at, Some(at));
    // A failed login records nothing; another user's login is theirs alone.
    assert_api_error(server.anonymous().login("new.hire@example.com", "wrong password").await, 401, "invalid_credentials");
    assert_eq!(admin.get_user(created.id).await.unwrap().last_login_at, Some(at));
    assert_ne!(admin.get_user(agent.id).await.unwrap().last_login_at, Some(at));
}

backend_tests!(
    login_records_last_login_and_refresh_does_not,
    a_scoped_token_does_one_thing,
    login_answers_tokens_and_user,
    wrong_password_and_unknown_email_are_the_same_401,
    protected_routes_need_a_valid_token,
    expired_access_token_is_refused_and_refresh_renews_it,
    refresh_rotates_and_reuse_revokes_the_session,
    refresh_token_expires,
    logout_revokes_the_session,
    repeated_failures_are_throttled,
    deactivated_and_deleted_users_lose_access,
    personal_api_tokens_are_shown_once_and_revocable,
);
