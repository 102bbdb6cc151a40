//! The notifications a conversation and an import raise: new replies reach the ticket's people,
//! mentions reach those who may see the ticket, nobody hears of their own comment, customers
//! never hear of internal notes; a finished import tells its admin. On both backends.

mod common;

use std::time::Duration;

use common::{Backend, TestServer, assert_api_error};
use hdms_api_types::Role;
use hdms_api_types::client::Client;
use hdms_api_types::import::ImportQuery;
use hdms_api_types::notifications::{Notification, NotificationListQuery};
use hdms_api_types::teams::CreateTeam;
use hdms_api_types::tickets::{AssignRequest, CreateComment, CreateTicket, Ticket};
use hdms_api_types::users::User;
use hdms_api_types::ws::ServerMessage;
use uuid::Uuid;

/// Everything `client` was told so far, oldest first, but `assigned` notices (the set-up
/// assigns tickets, which is tested elsewhere).
async fn told(client: &Client) -> Vec<Notification> {
    let page = client.notifications(&NotificationListQuery { limit: Some(100), ..Default::default() }).await.unwrap();
    let mut items: Vec<Notification> = page.items.into_iter().filter(|n| n.kind != "assigned").collect();
    items.reverse();
    items
}

fn kinds(notifications: &[Notification]) -> Vec<&str> {
    notifications.iter().map(|n| n.kind.as_str()).collect()
}

async fn comment(client: &Client, ticket: &Ticket, body: &str, internal: bool) {
    client.comment(ticket.id, &CreateComment { body: body.into(), internal }).await.unwrap();
}

/// A customer's ticket in a team, assigned to an agent of that team.
struct Desk {
    server: TestServer,
    customer: (Client, User),
    agent: (Client, User),
    supervisor: (Client, User),
    ticket: Ticket,
}

async fn desk(backend: Backend) -> Desk {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let customer = server.user(Role::Customer).await;
    let agent = server.user(Role::Agent).await;
    let supervisor = server.user(Role::Supervisor).await;
    let team = admin.create_team(&CreateTeam { name: "Support".into(), description: None }).await.unwrap();
    admin.add_team_member(team.id, agent.1.id).await.unwrap();
    let request = CreateTicket { subject: "Printer".into(), description: "It jams".into(), team_id: Some(team.id), ..Default::default() };
    let ticket = customer.0.create_ticket(&request).await.unwrap();
    admin.assign(ticket.id, &AssignRequest { assignee_id: Some(Some(agent.1.id)), team_id: Some(team.id), ..Default::default() }).await.unwrap();
    Desk { server, customer, agent, supervisor, ticket }
}

async fn replies_reach_the_tickets_people_but_never_the_author(backend: Backend) {
    let Desk { server: _server, customer, agent, supervisor, ticket } = desk(backend).await;

    comment(&agent.0, &ticket, "Have you tried turning it off and on?", false).await;
    let heard = told(&customer.0).await;
    assert_eq!(kinds(&heard), ["new_reply"]);
    assert_eq!(heard[0].ticket_id, Some(ticket.id));
    assert!(heard[0].title.contains(&ticket.number) && heard[0].title.contains(&agent.1.name), "{}", heard[0].title);
    assert_eq!(heard[0].body, "Have you tried turning it off and on?");
    assert!(told(&agent.0).await.is_empty(), "nobody hears of their own reply");

    comment(&customer.0, &ticket, "Yes, twice", false).await;
    assert_eq!(kinds(&told(&agent.0).await), ["new_reply"]);
    assert_eq!(told(&customer.0).await.len(), 1);

    // A colleague's internal note reaches the assignee; the customer never hears of it.
    comment(&supervisor.0, &ticket, "Check the warranty first", true).await;
    let heard = told(&agent.0).await;
    assert_eq!(kinds(&heard), ["new_reply", "new_reply"]);
    assert!(heard[1].title.contains("internal note"), "{}", heard[1].title);
    assert_eq!(told(&customer.0).await.len(), 1);
    assert!(told(&supervisor.0).await.is_empty());
}

async fn mentions_reach_only_people_who_may_see(backend: Backend) {
    let Desk { server, customer, agent, supervisor, ticket } = desk(backend).await;
    let (outsider_agent, outsider) = server.user(Role::Agent).await; // in no team of the ticket's
    let admin = server.admin().await;
    let elsewhere = admin.create_team(&CreateTeam { name: "Elsewhere".into(), description: None }).await.unwrap();
    admin.add_team_member(elsewhere.id, outsider.id).await.unwrap();
    let (other_customer, stranger) = server.user(Role::Customer).await;
    let handle = |user: &User| user.email.split('@').next().unwrap().to_owned();

    let mut live = agent.0.connect_live().await.unwrap();
    let body = format!(
        "@{} please look; @{} and @{} cannot see this; mail me at {}; thanks @{}.",
        handle(&agent.1),
        handle(&outsider),
        stranger.email,
        agent.1.email,
        handle(&supervisor.1)
    );
    comment(&supervisor.0, &ticket, &body, false).await;

    // The agent hears of it live, as a mention and not also as a reply.
    let pushed = loop {
        match tokio::time::timeout(Duration::from_secs(10), live.next()).await.expect("in time").unwrap() {
            ServerMessage::Notification { notification } if notification.kind != "assigned" => break notification,
            _ => continue,
        }
    };
    assert_eq!(pushed.kind, "mention");
    assert!(pushed.title.contains(&supervisor.1.name), "{}", pushed.title);
    assert_eq!(kinds(&told(&agent.0).await), ["mention"]);
    // The requester hears of the public reply as such.
    assert_eq!(kinds(&told(&customer.0).await), ["new_reply"]);
    // Nobody who may not see the ticket, and not the author mentioning themself.
    assert!(told(&outsider_agent).await.is_empty());
    assert!(told(&other_customer).await.is_empty());
    assert!(told(&supervisor.0).await.is_empty());

    // In an internal note, a mentioned customer (even the requester) hears nothing.
    comment(&supervisor.0, &ticket, &format!("@{} @{} internal", customer.1.email, handle(&agent.1)), true).await;
    assert_eq!(kinds(&told(&customer.0).await), ["new_reply"]);
    assert_eq!(kinds(&told(&agent.0).await), ["mention", "mention"]);
}

async fn a_finished_import_tells_the_admin(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let csv = "email,name,role\nnew.one@example.com,New One,agent\nbroken,No Email,agent\n";
    let dry_run = ImportQuery { dry_run: Some(true), ..Default::default() };
    admin.import_users(&dry_run, csv, None).await.unwrap();
    assert!(told(&admin).await.is_empty(), "a dry run changes nothing, and says nothing");

    let report = admin.import_users(&ImportQuery::default(), csv, None).await.unwrap();
    assert_eq!((report.created, report.failed), (1, 1));
    let heard = told(&admin).await;
    assert_eq!(kinds(&heard), ["import_finished"]);
    assert_eq!(heard[0].ticket_id, None);
    assert!(heard[0].title.contains("1 of 2 rows refused"), "{}", heard[0].title);
    assert!(heard[0].body.contains("1 created"), "{}", heard[0].body);
    assert_eq!(admin.unread_notifications().await.unwrap().unread, 1);
}

async fn watchers_follow_and_stop_following(backend: Backend) {
    let Desk { server, customer, agent, supervisor, ticket } = desk(backend).await;
    let (outsider, outsider_user) = server.user(Role::Agent).await;
    let names = |watchers: Vec<hdms_api_types::tickets::Watcher>| watchers.into_iter().map(|w| w.user_id).collect::<Vec<_>>();

    // The requester watches from the start; a supervisor follows the ticket and hears of replies.
    assert_eq!(names(supervisor.0.list_watchers(ticket.id).await.unwrap()), [customer.1.id]);
    supervisor.0.watch_ticket(ticket.id, supervisor.1.id).await.unwrap();
    supervisor.0.watch_ticket(ticket.id, supervisor.1.id).await.unwrap();
    comment(&customer.0, &ticket, "Still jammed", false).await;
    assert_eq!(kinds(&told(&supervisor.0).await), ["new_reply"]);

    // Staff add others who can see the ticket; an agent of another team cannot see it.
    assert_api_error(agent.0.watch_ticket(ticket.id, outsider_user.id).await, 422, "validation_failed");
    assert_api_error(outsider.watch_ticket(ticket.id, outsider_user.id).await, 404, "not_found");
    assert_api_error(agent.0.watch_ticket(ticket.id, Uuid::now_v7()).await, 422, "validation_failed");
    // Customers manage only themselves, and see only themselves in the list.
    assert_api_error(customer.0.watch_ticket(ticket.id, agent.1.id).await, 403, "forbidden");
    assert_api_error(customer.0.unwatch_ticket(ticket.id, supervisor.1.id).await, 403, "forbidden");
    assert_eq!(names(customer.0.list_watchers(ticket.id).await.unwrap()), [customer.1.id]);

    // Whoever stops watching hears no more; the history records both changes, for staff only.
    supervisor.0.unwatch_ticket(ticket.id, supervisor.1.id).await.unwrap();
    supervisor.0.unwatch_ticket(ticket.id, supervisor.1.id).await.unwrap();
    customer.0.unwatch_ticket(ticket.id, customer.1.id).await.unwrap();
    comment(&agent.0, &ticket, "Replaced the roller", false).await;
    assert_eq!(told(&supervisor.0).await.len(), 1);
    assert_eq!(told(&customer.0).await.len(), 1, "the requester still hears of public replies");
    assert!(supervisor.0.list_watchers(ticket.id).await.unwrap().is_empty());
    let watcher_changes = |history: Vec<hdms_api_types::tickets::HistoryEntry>| {
        history.into_iter().filter(|h| h.field == "watcher").map(|h| (h.before, h.after)).collect::<Vec<_>>()
    };
    let name = supervisor.1.name.clone();
    assert_eq!(
        watcher_changes(agent.0.history(ticket.id).await.unwrap()),
        [(None, Some(name.clone())), (Some(name), None), (Some(customer.1.name.clone()), None)]
    );
    assert!(watcher_changes(customer.0.history(ticket.id).await.unwrap()).is_empty());
}

backend_tests!(
    watchers_follow_and_stop_following,
    replies_reach_the_tickets_people_but_never_the_author,
    mentions_reach_only_people_who_may_see,
    a_finished_import_tells_the_admin,
);
