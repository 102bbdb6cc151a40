//! Supervisors' team metrics, satisfaction ratings, and reading tickets by their number, on
//! both backends.

mod common;

use common::{Backend, TestServer, assert_api_error};
use hdms_api_types::Role;
use hdms_api_types::metrics::{ReportBucket, TeamMetricsQuery, VolumeReport, VolumeReportQuery};
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


/// Sets when a ticket was raised and (if given) resolved.
async fn backdate(server: &TestServer, id: uuid::Uuid, created: &str, resolved: Option<&str>) {
    let created: chrono::DateTime<chrono::Utc> = created.parse().unwrap();
    let resolved: Option<chrono::DateTime<chrono::Utc>> = resolved.map(|at| at.parse().unwrap());
    hdms_server::with_db!(&server.state.db, pool => sqlx::query("UPDATE tickets SET created_at = $1, resolved_at = $2 WHERE id = $3")
        .bind(created).bind(resolved).bind(id).execute(pool).await.unwrap().rows_affected());
}

/// The volume report against counts worked out by hand: Berlin days around the October 2025
/// clock change (the 26th lasts 25 hours), one team or the desk, and who may ask.
async fn volume_reports_count_local_days_and_hours(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let team = admin.create_team(&CreateTeam { name: "Desk".into(), description: None }).await.unwrap();
    let (supervisor, supervisor_user) = server.user(Role::Supervisor).await;
    admin.add_team_member(team.id, supervisor_user.id).await.unwrap();
    let (outsider, _) = server.user(Role::Supervisor).await;
    let (agent, _) = server.user(Role::Agent).await;
    let (_, customer) = server.user(Role::Customer).await;
    let raise = |subject: &str, team_id: Option<uuid::Uuid>| CreateTicket {
        subject: subject.into(), description: "d".into(), team_id, requester_id: Some(customer.id), ..Default::default()
    };
    // Berlin is UTC+2 until 2025-10-26 01:00 UTC, then UTC+1.
    let cases = [
        // (team?, created, resolved)
        (true, "2025-10-24T21:59:00Z", None),                          // the 24th, 23:59 local
        (true, "2025-10-24T22:00:00Z", Some("2025-10-26T22:59:00Z")), // the 25th 00:00; resolved the 26th 23:59
        (true, "2025-10-26T00:30:00Z", None),                          // the 26th, 02:30 (first time)
        (true, "2025-10-26T01:30:00Z", Some("2025-10-26T23:00:00Z")), // the 26th, 02:30 (again); resolved the 27th 00:00
        (false, "2025-10-25T12:00:00Z", Some("2025-10-25T13:00:00Z")), // no team: the desk's only
    ];
    for (i, (in_team, created, resolved)) in cases.iter().enumerate() {
        let ticket = agent.create_ticket(&raise(&format!("case {i}"), in_team.then_some(team.id))).await.unwrap();
        backdate(&server, ticket.id, created, *resolved).await;
    }
    let query = |team: Option<uuid::Uuid>, bucket: ReportBucket| VolumeReportQuery {
        team,
        from: Some("2025-10-24".parse().unwrap()),
        to: Some("2025-10-27".parse().unwrap()),
        bucket: Some(bucket),
        tz: Some("Europe/Berlin".into()),
    };
    let counts = |report: &VolumeReport| report.buckets.iter().map(|b| (b.figures.created, b.figures.resolved)).collect::<Vec<_>>();

    let daily = supervisor.volume_report(&query(Some(team.id), ReportBucket::Day)).await.unwrap();
    assert_eq!(counts(&daily), [(1, 0), (1, 0), (2, 1), (0, 1)]);
    assert_eq!(daily.buckets[2].end - daily.buckets[2].start, chrono::Duration::hours(25));
    assert_eq!(daily.buckets[0].start.to_rfc3339(), "2025-10-23T22:00:00+00:00");
    let desk = admin.volume_report(&query(None, ReportBucket::Day)).await.unwrap();
    assert_eq!(counts(&desk), [(1, 0), (2, 1), (2, 1), (0, 1)]);

    let hourly = admin.volume_report(&query(Some(team.id), ReportBucket::Hour)).await.unwrap();
    assert_eq!(hourly.buckets.len(), 24 + 24 + 25 + 24);
    let busy: Vec<(usize, i64, i64)> = hourly.buckets.iter().enumerate().filter(|(_, b)| b.figures.created + b.figures.resolved > 0).map(|(i, b)| (i, b.figures.created, b.figures.resolved)).collect();
    // 23:00 of the 24th; 00:00 of the 25th; 02:00 and the repeated 02:00 of the 26th (hours 2
    // and 3 of that day); 23:00 of the 26th; 00:00 of the 27th.
    assert_eq!(busy, [(23, 1, 0), (24, 1, 0), (48 + 2, 1, 0), (48 + 3, 1, 0), (48 + 24, 0, 1), (48 + 25, 0, 1)]);

    // Supervisors report on their own teams only (naming none: all of theirs); the desk is for
    // admins; agents not at all.
    assert_api_error(outsider.volume_report(&query(Some(team.id), ReportBucket::Day)).await, 404, "not_found");
    assert_eq!(counts(&supervisor.volume_report(&query(None, ReportBucket::Day)).await.unwrap()), counts(&daily));
    assert_api_error(outsider.volume_report(&query(None, ReportBucket::Day)).await, 422, "validation_failed");
    assert_api_error(agent.volume_report(&query(Some(team.id), ReportBucket::Day)).await, 403, "forbidden");
    // Bad windows and zones are named.
    let bad = VolumeReportQuery { tz: Some("Mars/Olympus".into()), ..query(None, ReportBucket::Day) };
    assert_api_error(admin.volume_report(&bad).await, 422, "validation_failed");
    let long = VolumeReportQuery { from: Some("2025-01-01".parse().unwrap()), ..query(None, ReportBucket::Hour) };
    assert_api_error(admin.volume_report(&long).await, 422, "validation_failed");
    let backwards = VolumeReportQuery { from: Some("2025-10-28".parse().unwrap()), ..query(None, ReportBucket::Day) };
    assert_api_error(admin.volume_report(&backwards).await, 422, "validation_failed");
}

backend_tests!(
    volume_reports_count_local_days_and_hours,
    team_metrics_count_backlog_throughput_and_load,
    tickets_are_read_by_their_number,
    requesters_rate_resolved_tickets_and_supervisors_see_the_counts,
);
