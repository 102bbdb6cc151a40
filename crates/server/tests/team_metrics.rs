//! Supervisors' team metrics, satisfaction ratings, and reading tickets by their number, on
//! both backends.

mod common;

use common::{Backend, TestServer, assert_api_error};
use hdms_api_types::Role;
use hdms_api_types::metrics::TeamMetricsQuery;
use hdms_api_types::teams::CreateTeam;
use hdms_api_types::tickets::{AssignRequest, CreateComment, CreateTicket, RateTicket, Satisfaction, Status, TransitionRequest};

fn ticket(subject: &str, team: uuid::Uuid, requester: uuid::Uuid) -> CreateTicket {
    CreateTicket {
        subject: subject.to_owned(),
        description: "details".to_owned(),
        priority: None,
        category: None,
        tags: Vec::new(),
        team_id: Some(team),
        requester_id: Some(requester),
    }
}

async fn team_metrics_count_backlog_throughput_and_load(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let (supervisor, _) = server.user(Role::Supervisor).await;
    let (busy_client, busy) = server.user(Role::Agent).await;
    let (_, idle) = server.user(Role::Agent).await;
    let (customer, requester) = server.user(Role::Customer).await;
    let team = admin.create_team(&CreateTeam { name: "Desk".into(), description: None }).await.unwrap();
    let other_team = admin.create_team(&CreateTeam { name: "Elsewhere".into(), description: None }).await.unwrap();
    for agent in [&busy, &idle] {
        admin.add_team_member(team.id, agent.id).await.unwrap();
    }

    // Three tickets in the team: one resolved by `busy`, one answered and assigned to `busy`,
    // one nobody has touched; and one of another team that must not count.
    let resolved = admin.create_ticket(&ticket("printer", team.id, requester.id)).await.unwrap();
    let answered = admin.create_ticket(&ticket("vpn", team.id, requester.id)).await.unwrap();
    let _untouched = admin.create_ticket(&ticket("laptop", team.id, requester.id)).await.unwrap();
    admin.create_ticket(&ticket("elsewhere", other_team.id, requester.id)).await.unwrap();
    for id in [resolved.id, answered.id] {
        admin.assign(id, &AssignRequest { assignee_id: Some(Some(busy.id)), ..Default::default() }).await.unwrap();
    }
    busy_client.comment(answered.id, &CreateComment { body: "Looking into it".into(), internal: false }).await.unwrap();
    for to in [Status::Open, Status::Resolved] {
        busy_client.transition(resolved.id, &TransitionRequest { to, comment: None, version: None }).await.unwrap();
    }

    let metrics = supervisor.team_metrics(team.id, &TeamMetricsQuery::default()).await.unwrap();
    assert_eq!(metrics.team_id, team.id);
    let backlog = &metrics.backlog;
    assert_eq!(backlog.total, 2, "{backlog:?}");
    assert_eq!(backlog.new + backlog.open + backlog.in_progress + backlog.pending_customer + backlog.pending_approval, 2);
    assert_eq!(backlog.unassigned, 1);
    assert_eq!((backlog.breached, backlog.at_risk), (0, 0));
    assert!(backlog.oldest_age_secs.is_some_and(|age| age >= 0));
    let window = &metrics.window;
    assert_eq!((window.days, window.created, window.resolved), (7, 3, 1));
    assert!(window.median_resolution_secs.is_some_and(|s| s >= 0));
    assert!(window.median_first_response_secs.is_some_and(|s| s >= 0));
    assert_eq!(metrics.agents.len(), 2);
    let (first, second) = (&metrics.agents[0], &metrics.agents[1]);
    assert_eq!((first.user_id, first.assigned, first.resolved_in_window), (busy.id, 1, 1), "most loaded first");
    assert_eq!((second.user_id, second.assigned, second.resolved_in_window), (idle.id, 0, 0));

    // Admins too; agents and customers may not; bad windows and unknown teams are refused.
    admin.team_metrics(team.id, &TeamMetricsQuery { days: Some(30) }).await.unwrap();
    assert_api_error(busy_client.team_metrics(team.id, &TeamMetricsQuery::default()).await, 403, "forbidden");
    assert_api_error(customer.team_metrics(team.id, &TeamMetricsQuery::default()).await, 403, "forbidden");
    assert_api_error(supervisor.team_metrics(team.id, &TeamMetricsQuery { days: Some(0) }).await, 422, "validation_failed");
    assert_api_error(supervisor.team_metrics(uuid::Uuid::now_v7(), &TeamMetricsQuery::default()).await, 404, "not_found");
}

async fn tickets_are_read_by_their_number(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (customer, me) = server.user(Role::Customer).await;
    let (other_customer, _) = server.user(Role::Customer).await;
    let mine = customer
        .create_ticket(&CreateTicket { subject: "Mine".into(), description: "d".into(), priority: None, category: None, tags: Vec::new(), team_id: None, requester_id: None })
        .await
        .unwrap();
    assert_eq!(mine.requester_id, me.id);
    let digits = mine.number.trim_start_matches("HD-");
    for spelling in [mine.number.clone(), mine.number.to_lowercase(), digits.to_owned()] {
        assert_eq!(customer.get_ticket_by_number(&spelling).await.unwrap().id, mine.id, "{spelling}");
    }
    // Someone else's number is as absent as a number never given; junk is a validation error.
    assert_api_error(other_customer.get_ticket_by_number(&mine.number).await, 404, "not_found");
    assert_api_error(customer.get_ticket_by_number("HD-999999").await, 404, "not_found");
    assert_api_error(customer.get_ticket_by_number("HD-x").await, 422, "validation_failed");
}

async fn requesters_rate_resolved_tickets_and_supervisors_see_the_counts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let (supervisor, _) = server.user(Role::Supervisor).await;
    let (agent_client, agent) = server.user(Role::Agent).await;
    let (customer, requester) = server.user(Role::Customer).await;
    let (stranger, _) = server.user(Role::Customer).await;
    let team = admin.create_team(&CreateTeam { name: "Desk".into(), description: None }).await.unwrap();
    admin.add_team_member(team.id, agent.id).await.unwrap();
    let printer = admin.create_ticket(&ticket("printer", team.id, requester.id)).await.unwrap();
    let good = RateTicket { score: Satisfaction::Good, comment: Some("  Quick and kind  ".into()) };

    // Not before it is resolved, not by anyone but the requester, not unseen.
    assert_api_error(customer.rate_ticket(printer.id, &good).await, 422, "validation_failed");
    assert_api_error(customer.ticket_rating(printer.id).await, 404, "not_found");
    admin.assign(printer.id, &AssignRequest { assignee_id: Some(Some(agent.id)), ..Default::default() }).await.unwrap();
    for to in [Status::Open, Status::Resolved] {
        agent_client.transition(printer.id, &TransitionRequest { to, comment: None, version: None }).await.unwrap();
    }
    assert_api_error(agent_client.rate_ticket(printer.id, &good).await, 403, "forbidden");
    assert_api_error(stranger.rate_ticket(printer.id, &good).await, 404, "not_found");
    let long = RateTicket { score: Satisfaction::Bad, comment: Some("x".repeat(2001)) };
    assert_api_error(customer.rate_ticket(printer.id, &long).await, 422, "validation_failed");

    let rated = customer.rate_ticket(printer.id, &good).await.unwrap();
    assert_eq!((rated.score, rated.comment.as_deref(), rated.rated_by), (Satisfaction::Good, Some("Quick and kind"), requester.id));
    assert_eq!(agent_client.ticket_rating(printer.id).await.unwrap(), rated);
    let window = supervisor.team_metrics(team.id, &TeamMetricsQuery::default()).await.unwrap().window;
    assert_eq!((window.rated_good, window.rated_bad), (1, 0));

    // Rating again replaces the rating; the history keeps both.
    let changed = customer.rate_ticket(printer.id, &RateTicket { score: Satisfaction::Bad, comment: None }).await.unwrap();
    assert_eq!((changed.score, changed.comment, changed.created_at), (Satisfaction::Bad, None, rated.created_at));
    let window = supervisor.team_metrics(team.id, &TeamMetricsQuery::default()).await.unwrap().window;
    assert_eq!((window.rated_good, window.rated_bad), (0, 1));
    let ratings: Vec<(Option<String>, Option<String>)> = customer
        .history(printer.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.field == "rating")
        .map(|h| (h.before, h.after))
        .collect();
    assert_eq!(ratings, [(None, Some("good".to_owned())), (Some("good".to_owned()), Some("bad".to_owned()))]);
}

backend_tests!(
    team_metrics_count_backlog_throughput_and_load,
    tickets_are_read_by_their_number,
    requesters_rate_resolved_tickets_and_supervisors_see_the_counts,
);
