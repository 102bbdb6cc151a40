//! User and team management: validation, soft delete and restore, the last-admin guard, on both
//! backends.

mod common;

use common::{ADMIN_EMAIL, Backend, PASSWORD, TestServer, assert_api_error};
use hdms_api_types::Role;
use hdms_api_types::teams::{CreateTeam, TeamListQuery, UpdateTeam};
use hdms_api_types::users::{CreateUser, UpdateUser, UserListQuery};

fn new_user(email: &str, role: Role) -> CreateUser {
    CreateUser { email: email.to_owned(), name: "Ada Lovelace".to_owned(), role, phone: None, password: None }
}

async fn admin_creates_reads_updates_users(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let mut request = new_user("  Ada@Example.com ", Role::Agent);
    request.phone = Some("+14155552671".to_owned());
    request.password = Some(PASSWORD.to_owned());
    let created = admin.create_user(&request).await.unwrap();
    assert_eq!(created.email, "ada@example.com", "emails are normalised");
    assert_eq!(created.phone.as_deref(), Some("+14155552671"));
    assert!(created.active);
    assert_eq!(admin.get_user(created.id).await.unwrap(), created);

    let updated = admin
        .update_user(created.id, &UpdateUser { name: Some("Ada King".into()), role: Some(Role::Supervisor), phone: Some(None), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(updated.name, "Ada King");
    assert_eq!(updated.role, Role::Supervisor);
    assert_eq!(updated.phone, None, "null clears the phone");
    assert!(updated.updated_at > created.updated_at);

    // The new password works, the old sessions ended.
    let (agent, agent_user) = server.user(Role::Agent).await;
    admin.update_user(agent_user.id, &UpdateUser { password: Some("another good password".into()), ..Default::default() }).await.unwrap();
    assert_api_error(agent.me().await, 401, "session_revoked");
    server.anonymous().login(&agent_user.email, "another good password").await.unwrap();
}

async fn invalid_user_input_names_the_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let cases = [
        (new_user("not-an-email", Role::Agent), "email"),
        (CreateUser { name: "  ".into(), ..new_user("a@example.com", Role::Agent) }, "name"),
        (CreateUser { phone: Some("0044 20 7946 0958".into()), ..new_user("a@example.com", Role::Agent) }, "phone"),
        (CreateUser { phone: Some("+1234".into()), ..new_user("a@example.com", Role::Agent) }, "phone"),
        (CreateUser { password: Some("short".into()), ..new_user("a@example.com", Role::Agent) }, "password"),
    ];
    for (request, field) in cases {
        let err = admin.create_user(&request).await.unwrap_err();
        assert_eq!(err.status().unwrap().as_u16(), 422, "{field}: {err}");
        match err {
            hdms_api_types::client::ClientError::Api { body, .. } => assert_eq!(body.error.field.as_deref(), Some(field)),
            other => panic!("{other}"),
        }
    }
    // An unknown role is a body of the wrong shape.
    let response = server
        .http()
        .post(format!("{}/api/v1/users", server.url))
        .bearer_auth(admin.token().unwrap())
        .json(&serde_json::json!({"email": "b@example.com", "name": "B", "role": "wizard"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    // Nothing was stored by any of these.
    let page = admin.list_users(&UserListQuery::default()).await.unwrap();
    assert_eq!(page.items.len(), 1, "only the admin exists");
}

async fn duplicate_email_conflicts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    admin.create_user(&new_user("dup@example.com", Role::Customer)).await.unwrap();
    assert_api_error(admin.create_user(&new_user("DUP@example.com", Role::Agent)).await, 409, "email_taken");
}

async fn soft_delete_hides_and_restore_brings_back(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let user = admin.create_user(&new_user("gone@example.com", Role::Customer)).await.unwrap();
    admin.delete_user(user.id).await.unwrap();

    let live = admin.list_users(&UserListQuery::default()).await.unwrap();
    assert!(live.items.iter().all(|u| u.id != user.id), "deleted users leave normal lists");
    let deleted = admin.list_users(&UserListQuery { deleted: Some(true), ..Default::default() }).await.unwrap();
    assert_eq!(deleted.items.len(), 1);
    assert!(deleted.items[0].deleted_at.is_some());
    assert_api_error(admin.delete_user(user.id).await, 404, "not_found");

    // Agents do not see deleted users at all; admins can still read one by id.
    let (agent, _) = server.user(Role::Agent).await;
    assert_api_error(agent.get_user(user.id).await, 404, "not_found");
    assert_api_error(agent.list_users(&UserListQuery { deleted: Some(true), ..Default::default() }).await, 403, "forbidden");
    assert!(admin.get_user(user.id).await.unwrap().deleted_at.is_some());

    let restored = admin.restore_user(user.id).await.unwrap();
    assert_eq!(restored.deleted_at, None);
    assert_eq!(agent.get_user(user.id).await.unwrap().email, "gone@example.com");
    assert_api_error(admin.restore_user(user.id).await, 404, "not_found");

    // The email can be reused after a delete; restoring the old account then conflicts.
    admin.delete_user(user.id).await.unwrap();
    admin.create_user(&new_user("gone@example.com", Role::Agent)).await.unwrap();
    assert_api_error(admin.restore_user(user.id).await, 409, "email_taken");
}

async fn the_last_admin_cannot_be_removed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let me = admin.me().await.unwrap();
    assert_eq!(me.email, ADMIN_EMAIL);
    assert_api_error(admin.delete_user(me.id).await, 409, "last_admin");
    assert_api_error(admin.update_user(me.id, &UpdateUser { role: Some(Role::Agent), ..Default::default() }).await, 409, "last_admin");
    assert_api_error(admin.update_user(me.id, &UpdateUser { active: Some(false), ..Default::default() }).await, 409, "last_admin");
    // With a second admin it is allowed.
    admin.create_user(&new_user("second@example.com", Role::Admin)).await.unwrap();
    admin.update_user(me.id, &UpdateUser { role: Some(Role::Agent), ..Default::default() }).await.unwrap();
}

async fn user_lists_filter_and_paginate(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    for i in 0..7 {
        let role = if i % 2 == 0 { Role::Customer } else { Role::Agent };
        admin.create_user(&CreateUser { name: format!("Person {i}_x"), ..new_user(&format!("p{i}@example.com"), role) }).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = admin.list_users(&UserListQuery { limit: Some(3), cursor: cursor.clone(), ..Default::default() }).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|u| u.email));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 8, "every user once: {seen:?}");
    let mut sorted = seen.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 8);

    let customers = admin.list_users(&UserListQuery { role: Some(Role::Customer), ..Default::default() }).await.unwrap();
    assert_eq!(customers.items.len(), 4);
    let found = admin.list_users(&UserListQuery { q: Some("PERSON 3".into()), ..Default::default() }).await.unwrap();
    assert_eq!(found.items.len(), 1);
    // `_` is a literal underscore, not a LIKE wildcard.
    let underscore = admin.list_users(&UserListQuery { q: Some("3_x".into()), ..Default::default() }).await.unwrap();
    assert_eq!(underscore.items.len(), 1);
    assert_api_error(admin.list_users(&UserListQuery { limit: Some(0), ..Default::default() }).await, 422, "validation_failed");
    assert_api_error(admin.list_users(&UserListQuery { cursor: Some("junk".into()), ..Default::default() }).await, 422, "validation_failed");
}

async fn teams_have_members_and_soft_delete(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let (supervisor, _) = server.user(Role::Supervisor).await;
    let (_, agent) = server.user(Role::Agent).await;
    let (_, customer) = server.user(Role::Customer).await;

    let team = admin.create_team(&CreateTeam { name: "Billing".into(), description: Some("Invoices".into()) }).await.unwrap();
    assert_api_error(admin.create_team(&CreateTeam { name: "billing".into(), description: None }).await, 409, "team_name_taken");

    let team = supervisor.add_team_member(team.id, agent.id).await.unwrap();
    assert_eq!(team.members, vec![agent.id]);
    supervisor.add_team_member(team.id, agent.id).await.unwrap();
    assert_api_error(supervisor.add_team_member(team.id, customer.id).await, 422, "validation_failed");
    assert_api_error(supervisor.add_team_member(team.id, uuid::Uuid::now_v7()).await, 404, "not_found");

    let by_team = admin.list_users(&UserListQuery { team: Some(team.id), ..Default::default() }).await.unwrap();
    assert_eq!(by_team.items.iter().map(|u| u.id).collect::<Vec<_>>(), vec![agent.id]);

    let renamed = admin.update_team(team.id, &UpdateTeam { name: Some("Billing EU".into()), description: None }).await.unwrap();
    assert_eq!(renamed.name, "Billing EU");
    assert_eq!(renamed.description.as_deref(), Some("Invoices"));

    admin.delete_team(team.id).await.unwrap();
    assert!(admin.list_teams(&TeamListQuery::default()).await.unwrap().is_empty());
    assert_eq!(admin.list_teams(&TeamListQuery { deleted: Some(true) }).await.unwrap().len(), 1);
    assert_api_error(supervisor.get_team(team.id).await, 404, "not_found");
    let restored = admin.restore_team(team.id).await.unwrap();
    assert_eq!(restored.members, vec![agent.id], "membership survives delete and restore");

    let team = supervisor.remove_team_member(team.id, agent.id).await.unwrap();
    assert!(team.members.is_empty());
    assert_api_error(supervisor.remove_team_member(team.id, agent.id).await, 404, "not_found");
}

backend_tests!(
    admin_creates_reads_updates_users,
    invalid_user_input_names_the_field,
    duplicate_email_conflicts,
    soft_delete_hides_and_restore_brings_back,
    the_last_admin_cannot_be_removed,
    user_lists_filter_and_paginate,
    teams_have_members_and_soft_delete,
);
