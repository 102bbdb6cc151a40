//! The reports against figures worked out by hand, on both backends: a fixed week of tickets
//! (Berlin, March 2025) built by the server's own code at chosen instants — a business-hours
//! SLA, a clock paused while waiting on the customer, a reopened ticket, a merged ticket, a
//! ticket of another team and a deleted one — and who may ask for them.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc, Weekday};
use common::{Backend, TestServer, assert_api_error};
use hdms_api_types::Role;
use hdms_api_types::metrics::{Report, ReportBucket, ReportQuery};
use hdms_api_types::sla::{SlaCalendar, SlaPolicyInput};
use hdms_api_types::teams::CreateTeam;
use hdms_api_types::tickets::{AssignRequest, CreateTicket, MergeRequest, Priority, RateTicket, Satisfaction, Status};
use hdms_server::state::AppState;
use hdms_server::tickets::{assignment, comments, crud, merge, sla_job, store, transitions};
use hdms_server::users::auth::AuthUser;
use uuid::Uuid;

/// Berlin wall-clock time (CET, UTC+1, that week) as an instant.
fn at(local: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").unwrap();
    chrono_tz::Europe::Berlin.from_local_datetime(&naive).unwrap().with_timezone(&Utc)
}

async fn acting(state: &AppState, id: Uuid) -> AuthUser {
    AuthUser { user: hdms_server::users::store::find_live(&state.db, id).await.unwrap().unwrap(), session_id: None }
}

async fn raise(state: &AppState, by: &AuthUser, subject: &str, team: Uuid, when: &str) -> Uuid {
    let request = CreateTicket {
        subject: subject.into(),
        description: "details".into(),
        priority: Some(Priority::Normal),
        team_id: Some(team),
        ..Default::default()
    };
    let mut tx = state.db.begin().await.unwrap();
    let ticket = crud::insert_ticket_at(&mut tx, state, by, request, None, at(when)).await.unwrap();
    tx.commit().await.unwrap();
    ticket.id
}

async fn assign(state: &AppState, by: &AuthUser, ticket: Uuid, to: Uuid, when: &str) {
    let mut tx = state.db.begin().await.unwrap();
    let before = store::find_in(&mut tx, ticket).await.unwrap().unwrap();
    let request = AssignRequest { assignee_id: Some(Some(to)), ..Default::default() };
    assignment::assign_in(&mut tx, state, by, &before, &request, at(when)).await.unwrap();
    tx.commit().await.unwrap();
}

async fn reply(state: &AppState, by: &AuthUser, ticket: Uuid, internal: bool, when: &str) {
    let mut tx = state.db.begin().await.unwrap();
    let before = store::find_in(&mut tx, ticket).await.unwrap().unwrap();
    comments::add(&mut tx, state, by, &before, "a reply", internal, at(when)).await.unwrap();
    tx.commit().await.unwrap();
}

async fn move_to(state: &AppState, by: &AuthUser, ticket: Uuid, to: Status, when: &str) {
    let mut tx = state.db.begin().await.unwrap();
    let before = store::find_in(&mut tx, ticket).await.unwrap().unwrap();
    transitions::move_to(&mut tx, state, &before, to, Some(by.id()), at(when)).await.unwrap();
    tx.commit().await.unwrap();
}

async fn sla_round(state: &AppState, when: &str) -> (usize, usize) {
    let round = sla_job::run_once(state, at(when)).await.unwrap();
    (round.breaches, round.closed)
}

/// A rating given through the API (now), then moved to when it was given.
async fn rate(server: &TestServer, customer: &hdms_api_types::client::Client, ticket: Uuid, score: Satisfaction, when: &str) {
    customer.rate_ticket(ticket, &RateTicket { score, comment: None }).await.unwrap();
    hdms_server::with_db!(&server.state.db, pool => sqlx::query("UPDATE ticket_ratings SET created_at = $1, updated_at = $1 WHERE ticket_id = $2")
        .bind(at(when)).bind(ticket).execute(pool).await.unwrap().rows_affected());
}

fn week(team: Option<Uuid>) -> ReportQuery {
    ReportQuery {
        team,
        from: Some("2025-03-03".parse().unwrap()),
        to: Some("2025-03-07".parse().unwrap()),
        bucket: Some(ReportBucket::Day),
        tz: Some("Europe/Berlin".into()),
    }
}

fn figures<B: Clone>(report: &Report<B>) -> Vec<B> {
    report.buckets.iter().map(|b| b.figures.clone()).collect()
}

struct Week {
    team: Uuid,
    alice: Uuid,
    bob: Uuid,
    sam: Uuid,
}

/// The week, step by step in time order (each step sees the database as it was then):
///
/// | ticket | story (Berlin time) |
/// |---|---|
/// | T1 | Mon 09:00 raised; 09:05 to Alice; 09:30 her reply; 09:31 open; 10:00 her internal note; 11:00 resolved; rated good Mon 12:00 |
/// | T3 | Mon 10:00 raised; 10:05 to Alice; 10:30 her reply; 10:31 open; 11:00 waits on the customer (clock paused); Tue 14:00 T5 merged into it; Wed 14:00 the customer answers (open again); Thu 11:00 resolved |
/// | T2 | Mon 16:00 raised (one business hour left that day); Tue 09:00 to Bob; first response breached Tue 10:30; 11:00 his reply; 11:01 open; resolution breached Tue 16:30; Wed 10:00 resolved; rated bad Wed 11:00 |
/// | T4 | Tue 09:00 raised; 09:10 to Bob; 09:20 his reply; 09:21 open; 12:00 resolved; Wed 09:00 reopened; resolution breached Wed 16:30; Thu 15:00 resolved |
/// | T5 | Tue 13:00 raised by the customer; 14:00 merged into T3 by Alice |
/// | T6 | Wed 10:00 raised in another team; first response breached Wed 16:30 |
/// | T7 | Wed 12:00 raised, then deleted |
async fn build_week(server: &TestServer) -> Week {
    let state = &server.state;
    let admin = server.admin().await;
    admin
        .create_sla_policy(&SlaPolicyInput {
            name: "Office hours".into(),
            priority: Priority::Normal,
            category: None,
            team_id: None,
            first_response_secs: 2 * 3600,
            resolution_secs: 8 * 3600,
            warning_percent: Some(50),
            calendar: Some(SlaCalendar {
                time_zone: "Europe/Berlin".into(),
                working_days: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
                opens: "09:00:00".parse().unwrap(),
                closes: "17:00:00".parse().unwrap(),
                holidays: Vec::new(),
            }),
        })
        .await
        .unwrap();
    let team = admin.create_team(&CreateTeam { name: "Desk".into(), description: None }).await.unwrap().id;
    let other = admin.create_team(&CreateTeam { name: "Other".into(), description: None }).await.unwrap().id;
    let (_, alice) = server.user(Role::Agent).await;
    let (_, bob) = server.user(Role::Agent).await;
    let (_, sam) = server.user(Role::Supervisor).await;
    let (customer_client, customer) = server.user(Role::Customer).await;
    for member in [alice.id, bob.id, sam.id] {
        admin.add_team_member(team, member).await.unwrap();
    }
    let (alice, bob, sam_user, customer) =
        (acting(state, alice.id).await, acting(state, bob.id).await, acting(state, sam.id).await, acting(state, customer.id).await);
    let sam = &sam_user;

    let t1 = raise(state, &customer, "T1 quick", team, "2025-03-03 09:00").await;
    assign(state, sam, t1, alice.id(), "2025-03-03 09:05").await;
    reply(state, &alice, t1, false, "2025-03-03 09:30").await;
    move_to(state, &alice, t1, Status::Open, "2025-03-03 09:31").await;
    let t3 = raise(state, &customer, "T3 paused", team, "2025-03-03 10:00").await;
    reply(state, &alice, t1, true, "2025-03-03 10:00").await;
    assign(state, sam, t3, alice.id(), "2025-03-03 10:05").await;
    reply(state, &alice, t3, false, "2025-03-03 10:30").await;
    move_to(state, &alice, t3, Status::Open, "2025-03-03 10:31").await;
    move_to(state, &alice, t1, Status::Resolved, "2025-03-03 11:00").await;
    move_to(state, &alice, t3, Status::PendingCustomer, "2025-03-03 11:00").await;
    let t2 = raise(state, &customer, "T2 late", team, "2025-03-03 16:00").await;

    let t4 = raise(state, &customer, "T4 reopened", team, "2025-03-04 09:00").await;
    assign(state, sam, t2, bob.id(), "2025-03-04 09:00").await;
    assign(state, sam, t4, bob.id(), "2025-03-04 09:10").await;
    reply(state, &bob, t4, false, "2025-03-04 09:20").await;
    move_to(state, &bob, t4, Status::Open, "2025-03-04 09:21").await;
    // T2's first response was due Tue 10:00 (Mon 16-17, Tue 9-10); T3's clock stands still.
    assert_eq!(sla_round(state, "2025-03-04 10:30").await, (1, 0));
    reply(state, &bob, t2, false, "2025-03-04 11:00").await;
    move_to(state, &bob, t2, Status::Open, "2025-03-04 11:01").await;
    move_to(state, &bob, t4, Status::Resolved, "2025-03-04 12:00").await;
    let t5 = raise(state, &customer, "T5 merged", team, "2025-03-04 13:00").await;
    merge::merge_at(state, &alice, t5, MergeRequest { into: t3, version: None }, at("2025-03-04 14:00")).await.unwrap();
    // T2's resolution was due Tue 16:00; T4 is resolved.
    assert_eq!(sla_round(state, "2025-03-04 16:30").await, (1, 0));

    move_to(state, &customer, t4, Status::Open, "2025-03-05 09:00").await;
    move_to(state, &bob, t2, Status::Resolved, "2025-03-05 10:00").await;
    raise(state, &customer, "T6 elsewhere", other, "2025-03-05 10:00").await;
    let t7 = raise(state, &customer, "T7 deleted", team, "2025-03-05 12:00").await;
    hdms_server::with_db!(&state.db, pool => sqlx::query("UPDATE tickets SET deleted_at = $1 WHERE id = $2")
        .bind(at("2025-03-05 12:30")).bind(t7).execute(pool).await.unwrap().rows_affected());
    // The customer's answer starts T3's clock again: 7 business hours left, due Thu 13:00.
    reply(state, &customer, t3, false, "2025-03-05 14:00").await;
    // T4 had 5 of its 8 hours left when reopened at 09:00 (due 14:00); T6's first response was
    // due Wed 12:00. T3 and T7 (deleted) are not breached.
    assert_eq!(sla_round(state, "2025-03-05 16:30").await, (2, 0));
    move_to(state, &alice, t3, Status::Resolved, "2025-03-06 11:00").await;
    move_to(state, &bob, t4, Status::Resolved, "2025-03-06 15:00").await;

    rate(server, &customer_client, t1, Satisfaction::Good, "2025-03-03 12:00").await;
    rate(server, &customer_client, t2, Satisfaction::Bad, "2025-03-05 11:00").await;
    Week { team, alice: alice.id(), bob: bob.id(), sam: sam_user.id() }
}

async fn reports_match_a_week_worked_out_by_hand(backend: Backend) {
    // Only the rounds the test runs: the background job would see a week long gone.
    let server = TestServer::start_with(backend, |c| {
        c.sla_check_interval_secs = 86_400;
        c.auto_close_after_secs = 30 * 86_400;
    })
    .await;
    let week_data = build_week(&server).await;
    let admin = server.admin().await;
    let supervisor = server.anonymous();
    let sam = hdms_server::users::store::find_live(&server.state.db, week_data.sam).await.unwrap().unwrap();
    supervisor.login(&sam.email, common::PASSWORD).await.unwrap();
    let team = Some(week_data.team);

    // Volume: (created, resolved at the latest resolution, reopened), Mon to Fri.
    let volume = |r: &Report<hdms_api_types::metrics::VolumeFigures>| figures(r).iter().map(|f| (f.created, f.resolved, f.reopened)).collect::<Vec<_>>();
    let report = supervisor.volume_report(&week(team)).await.unwrap();
    assert_eq!(volume(&report), [(3, 1, 0), (2, 0, 0), (0, 1, 1), (0, 2, 0), (0, 0, 0)]);
    assert_eq!((report.team_id, report.time_zone.as_str(), report.bucket), (team, "Europe/Berlin", ReportBucket::Day));
    assert_eq!(report.buckets[0].start, at("2025-03-03 00:00"));
    assert_eq!(volume(&admin.volume_report(&week(None)).await.unwrap()), [(3, 1, 0), (2, 0, 0), (1, 1, 1), (0, 2, 0), (0, 0, 0)]);

    // Backlog at the end of each day: (total, new, open, in progress, pending customer, pending approval).
    let backlog = |r: &Report<hdms_api_types::metrics::BacklogFigures>| {
        figures(r).iter().map(|f| (f.total, f.new, f.open, f.in_progress, f.pending_customer, f.pending_approval)).collect::<Vec<_>>()
    };
    assert_eq!(
        backlog(&supervisor.backlog_report(&week(team)).await.unwrap()),
        [(2, 1, 0, 0, 1, 0), (2, 0, 1, 0, 1, 0), (2, 0, 2, 0, 0, 0), (0, 0, 0, 0, 0, 0), (0, 0, 0, 0, 0, 0)]
    );
    assert_eq!(
        backlog(&admin.backlog_report(&week(None)).await.unwrap()),
        [(2, 1, 0, 0, 1, 0), (2, 0, 1, 0, 1, 0), (3, 1, 2, 0, 0, 0), (1, 1, 0, 0, 0, 0), (1, 1, 0, 0, 0, 0)]
    );

    // Times: first responses T1, T3 (30 min each) on Monday; T4 (20 min) and T2 (19 h) on
    // Tuesday. Resolutions (latest): T1 2 h; T2 42 h; T4 54 h and T3 73 h (wall clock).
    let times = supervisor.times_report(&week(team)).await.unwrap();
    let first: Vec<_> = figures(&times).iter().map(|f| (f.first_responses, f.first_response_median_secs, f.first_response_p90_secs)).collect();
    assert_eq!(first, [(2, Some(1800), Some(1800)), (2, Some(1200), Some(68_400)), (0, None, None), (0, None, None), (0, None, None)]);
    let resolution: Vec<_> = figures(&times).iter().map(|f| (f.resolutions, f.resolution_median_secs, f.resolution_p90_secs)).collect();
    assert_eq!(
        resolution,
        [(1, Some(7200), Some(7200)), (0, None, None), (1, Some(151_200), Some(151_200)), (2, Some(194_400), Some(262_800)), (0, None, None)]
    );

    // SLA: T1 in time; T2 late twice; T3 in time thanks to its paused clock; T4 late once reopened.
    let sla = |r: &Report<hdms_api_types::metrics::SlaFigures>| {
        figures(r)
            .iter()
            .map(|f| (f.resolved_with_sla, f.resolved_within_sla, f.within_sla_share, f.first_response_breaches, f.resolution_breaches))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sla(&supervisor.sla_report(&week(team)).await.unwrap()),
        [(1, 1, Some(1.0), 0, 0), (0, 0, None, 1, 1), (1, 0, Some(0.0), 0, 1), (2, 1, Some(0.5), 0, 0), (0, 0, None, 0, 0)]
    );
    assert_eq!(
        sla(&admin.sla_report(&week(None)).await.unwrap()),
        [(1, 1, Some(1.0), 0, 0), (0, 0, None, 1, 1), (1, 0, Some(0.0), 1, 1), (2, 1, Some(0.5), 0, 0), (0, 0, None, 0, 0)]
    );

    let satisfaction: Vec<_> =
        figures(&supervisor.satisfaction_report(&week(team)).await.unwrap()).iter().map(|f| (f.good, f.bad, f.good_share)).collect();
    assert_eq!(satisfaction, [(1, 0, Some(1.0)), (0, 0, None), (0, 1, Some(0.0)), (0, 0, None), (0, 0, None)]);

    // Per agent and day: (assigned, replies, resolved); the team's members every day.
    let agents = supervisor.agents_report(&week(team)).await.unwrap();
    /// (assigned, replies, resolved) per agent.
    type Day = [(Uuid, (i64, i64, i64)); 3];
    let expected: [Day; 5] = {
        let (a, b, s) = (week_data.alice, week_data.bob, week_data.sam);
        [
            [(a, (2, 2, 1)), (b, (0, 0, 0)), (s, (0, 0, 0))],
            [(a, (0, 0, 0)), (b, (2, 2, 0)), (s, (0, 0, 0))],
            [(a, (0, 0, 0)), (b, (0, 0, 1)), (s, (0, 0, 0))],
            [(a, (0, 0, 1)), (b, (0, 0, 1)), (s, (0, 0, 0))],
            [(a, (0, 0, 0)), (b, (0, 0, 0)), (s, (0, 0, 0))],
        ]
    };
    for (day, (bucket, expected)) in agents.buckets.iter().zip(expected).enumerate() {
        let got: BTreeMap<Uuid, (i64, i64, i64)> = bucket.figures.agents.iter().map(|f| (f.agent.id, (f.assigned, f.replies, f.resolved))).collect();
        assert_eq!(got, expected.into_iter().collect::<BTreeMap<_, _>>(), "day {day}");
        let names: Vec<&str> = bucket.figures.agents.iter().map(|f| f.agent.name.as_str()).collect();
        assert!(names.is_sorted(), "by name: {names:?}");
    }

    // The whole window as one bucket: totals, and the median and 90th percentile over all of
    // it (first responses 20 min, 30, 30, 19 h; resolutions 2 h, 42 h, 54 h, 73 h).
    let whole = ReportQuery { bucket: Some(ReportBucket::Window), ..week(team) };
    let totals = supervisor.volume_report(&whole).await.unwrap();
    assert_eq!(volume(&totals), [(5, 4, 1)]);
    assert_eq!((totals.buckets[0].start, totals.buckets[0].end), (at("2025-03-03 00:00"), at("2025-03-08 00:00")));
    let times = figures(&supervisor.times_report(&whole).await.unwrap());
    let spread = |f: &hdms_api_types::metrics::TimesFigures| {
        (f.first_responses, f.first_response_median_secs, f.first_response_p90_secs, f.resolutions, f.resolution_median_secs, f.resolution_p90_secs)
    };
    assert_eq!(times.iter().map(spread).collect::<Vec<_>>(), [(4, Some(1800), Some(68_400), 4, Some(151_200), Some(262_800))]);
    // Naming no team, a supervisor's report covers their teams: Sam is in the one team only.
    assert_eq!(volume(&supervisor.volume_report(&week(None)).await.unwrap()), volume(&report));

    // Hours: Monday's 09:00 and 10:00 each saw one first response.
    let hourly = ReportQuery { bucket: Some(ReportBucket::Hour), to: Some("2025-03-03".parse().unwrap()), ..week(team) };
    let hours = supervisor.times_report(&hourly).await.unwrap();
    assert_eq!(hours.buckets.len(), 24);
    let answered: Vec<(usize, i64)> = figures(&hours).iter().enumerate().filter(|(_, f)| f.first_responses > 0).map(|(h, f)| (h, f.first_responses)).collect();
    assert_eq!(answered, [(9, 1), (10, 1)]);
}

/// (created, reopened), (backlog total, open), the agent's assignments and good ratings, per
/// day of the week.
type Trail = (Vec<(i64, i64)>, Vec<(i64, i64)>, Vec<i64>, Vec<i64>);

async fn trail(admin: &hdms_api_types::client::Client, team: Option<Uuid>, agent: Uuid) -> Trail {
    let query = week(team);
    let volume = figures(&admin.volume_report(&query).await.unwrap()).iter().map(|f| (f.created, f.reopened)).collect();
    let backlog = figures(&admin.backlog_report(&query).await.unwrap()).iter().map(|f| (f.total, f.open)).collect();
    let agents = admin.agents_report(&query).await.unwrap();
    let assigned = agents.buckets.iter().map(|b| b.figures.agents.iter().filter(|f| f.agent.id == agent).map(|f| f.assigned).sum()).collect();
    let good = figures(&admin.satisfaction_report(&query).await.unwrap()).iter().map(|f| f.good).collect();
    (volume, backlog, assigned, good)
}

/// History rows (status moves, reopenings, assignments) and ratings count for the team their
/// ticket is in now, and not while it is deleted: they follow a ticket moved to another team, leave the
/// reports when it is deleted and come back when it is restored.
async fn history_follows_a_ticket_across_teams_and_deletion(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.sla_check_interval_secs = 86_400;
        c.auto_close_after_secs = 30 * 86_400;
    })
    .await;
    let state = &server.state;
    let admin = server.admin().await;
    let first = admin.create_team(&CreateTeam { name: "First".into(), description: None }).await.unwrap().id;
    let second = admin.create_team(&CreateTeam { name: "Second".into(), description: None }).await.unwrap().id;
    let (_, alice) = server.user(Role::Agent).await;
    let (_, sam) = server.user(Role::Supervisor).await;
    let (customer_client, customer) = server.user(Role::Customer).await;
    for member in [alice.id, sam.id] {
        admin.add_team_member(first, member).await.unwrap();
    }
    let (alice, sam, customer) = (acting(state, alice.id).await, acting(state, sam.id).await, acting(state, customer.id).await);

    let ticket = raise(state, &customer, "moves", first, "2025-03-03 09:00").await;
    assign(state, &sam, ticket, alice.id(), "2025-03-03 09:05").await;
    move_to(state, &alice, ticket, Status::Open, "2025-03-03 09:31").await;
    move_to(state, &alice, ticket, Status::Resolved, "2025-03-03 11:00").await;
    rate(&server, &customer_client, ticket, Satisfaction::Good, "2025-03-03 12:00").await;
    move_to(state, &customer, ticket, Status::Open, "2025-03-04 09:00").await;

    let here: Trail = (
        vec![(1, 0), (0, 1), (0, 0), (0, 0), (0, 0)],
        vec![(0, 0), (1, 1), (1, 1), (1, 1), (1, 1)],
        vec![1, 0, 0, 0, 0],
        vec![1, 0, 0, 0, 0],
    );
    let nowhere: Trail = (vec![(0, 0); 5], vec![(0, 0); 5], vec![0; 5], vec![0; 5]);
    assert_eq!(trail(&admin, Some(first), alice.id()).await, here);
    assert_eq!(trail(&admin, Some(second), alice.id()).await, nowhere);

    admin.assign(ticket, &AssignRequest { team_id: Some(second), ..Default::default() }).await.unwrap();
    assert_eq!(trail(&admin, Some(first), alice.id()).await, nowhere, "moved away with its past");
    assert_eq!(trail(&admin, Some(second), alice.id()).await, here, "its past came along");

    admin.delete_ticket(ticket).await.unwrap();
    assert_eq!(trail(&admin, Some(second), alice.id()).await, nowhere, "deleted");
    assert_eq!(trail(&admin, None, alice.id()).await, nowhere, "deleted, for the whole desk too");

    admin.restore_ticket(ticket).await.unwrap();
    assert_eq!(trail(&admin, Some(second), alice.id()).await, here, "restored");
    assert_eq!(trail(&admin, None, alice.id()).await, here);
}

/// Supervisors report on their own teams; the desk is the admins'; agents and customers not
/// at all; bad windows and zones are named.
async fn reports_are_for_supervisors_of_the_team_and_admins(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let team = admin.create_team(&CreateTeam { name: "Desk".into(), description: None }).await.unwrap();
    let (supervisor, supervisor_user) = server.user(Role::Supervisor).await;
    admin.add_team_member(team.id, supervisor_user.id).await.unwrap();
    let (outsider, _) = server.user(Role::Supervisor).await;
    let (agent, agent_user) = server.user(Role::Agent).await;
    admin.add_team_member(team.id, agent_user.id).await.unwrap();
    let (customer, _) = server.user(Role::Customer).await;
    let query = week(Some(team.id));
    for kind in ["volume", "backlog", "times", "sla", "satisfaction", "agents"] {
        supervisor.report::<serde_json::Value>(kind, &query).await.unwrap();
        admin.report::<serde_json::Value>(kind, &week(None)).await.unwrap();
        assert_api_error(outsider.report::<serde_json::Value>(kind, &query).await, 404, "not_found");
        // Naming no team, a supervisor reports on their own teams; one in no team is told so.
        supervisor.report::<serde_json::Value>(kind, &week(None)).await.unwrap();
        assert_api_error(outsider.report::<serde_json::Value>(kind, &week(None)).await, 422, "validation_failed");
        assert_api_error(agent.report::<serde_json::Value>(kind, &query).await, 403, "forbidden");
        assert_api_error(customer.report::<serde_json::Value>(kind, &query).await, 403, "forbidden");
    }
    let bad_zone = ReportQuery { tz: Some("Mars/Olympus".into()), ..week(None) };
    assert_api_error(admin.backlog_report(&bad_zone).await, 422, "validation_failed");
    let too_long = ReportQuery { from: Some("2025-01-01".parse().unwrap()), bucket: Some(ReportBucket::Hour), ..week(None) };
    assert_api_error(admin.times_report(&too_long).await, 422, "validation_failed");
    let backwards = ReportQuery { from: Some("2025-03-08".parse().unwrap()), ..week(None) };
    assert_api_error(admin.agents_report(&backwards).await, 422, "validation_failed");
}

/// The OpenAPI document describes every field of every report (what is counted, and how).
#[test]
fn the_openapi_document_describes_every_report_field() {
    let spec = serde_json::to_value(hdms_server::app::openapi()).unwrap();
    let components = &spec["components"]["schemas"];
    let mut undescribed = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut reports = 0;
    fn walk(schema: &serde_json::Value, at: &str, components: &serde_json::Value, seen: &mut std::collections::BTreeSet<String>, undescribed: &mut Vec<String>) {
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.rsplit('/').next().unwrap().to_owned();
            if seen.insert(name.clone()) {
                walk(&components[&name], &name, components, seen, undescribed);
            }
            return;
        }
        for key in ["allOf", "oneOf", "anyOf"] {
            for part in schema[key].as_array().into_iter().flatten() {
                walk(part, at, components, seen, undescribed);
            }
        }
        walk_items(schema, at, components, seen, undescribed);
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            let described = property["description"].is_string()
                || property["$ref"].is_string()
                || property["allOf"].as_array().is_some_and(|parts| parts.iter().any(|p| p["$ref"].is_string()));
            if !described {
                undescribed.push(format!("{at}.{field}"));
            }
            walk(property, &format!("{at}.{field}"), components, seen, undescribed);
        }
    }
    fn walk_items(schema: &serde_json::Value, at: &str, components: &serde_json::Value, seen: &mut std::collections::BTreeSet<String>, undescribed: &mut Vec<String>) {
        if schema["items"].is_object() {
            walk(&schema["items"], at, components, seen, undescribed);
        }
    }
    for (path, item) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/reports/") {
            continue;
        }
        reports += 1;
        let schema = &item["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{path} describes its answer");
        walk(schema, path, components, &mut seen, &mut undescribed);
    }
    assert_eq!(reports, 6, "six reports");
    assert!(undescribed.is_empty(), "fields without a description:\n{}", undescribed.join("\n"));
}

backend_tests!(
    reports_match_a_week_worked_out_by_hand,
    history_follows_a_ticket_across_teams_and_deletion,
    reports_are_for_supervisors_of_the_team_and_admins
);
