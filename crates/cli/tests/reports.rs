//! `hdms reports`: JSON that is the API's report, CSV a spreadsheet reads back to the same
//! figures, a table for people, and the errors of a bad request.

mod common;

use common::{ADMIN_EMAIL, ADMIN_PASSWORD, Cli, TestServer};
use hdms_api_types::Role;
use hdms_api_types::client::Client;
use hdms_api_types::metrics::{AgentsReport, ReportBucket, ReportQuery, TimesReport, VolumeReport};
use hdms_api_types::teams::CreateTeam;
use hdms_api_types::tickets::{AssignRequest, CreateComment, CreateTicket, Status, TransitionRequest};
use hdms_api_types::users::CreateUser;

/// A team with an agent who took and resolved two of its three tickets, today.
async fn busy_day(server: &TestServer) -> Client {
    let admin = Client::new(&server.url).unwrap();
    admin.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    let team = admin.create_team(&CreateTeam { name: "Support".into(), description: None }).await.unwrap();
    let password = "a long enough password";
    let agent = admin
        .create_user(&CreateUser { email: "ada@example.com".into(), name: "Ada".into(), role: Role::Agent, phone: None, password: Some(password.into()) })
        .await
        .unwrap();
    admin.add_team_member(team.id, agent.id).await.unwrap();
    let agent_client = Client::new(&server.url).unwrap();
    agent_client.login("ada@example.com", password).await.unwrap();
    for n in 0..3 {
        let request = CreateTicket { subject: format!("Printer {n}"), description: "jammed".into(), team_id: Some(team.id), ..Default::default() };
        let ticket = admin.create_ticket(&request).await.unwrap();
        if n < 2 {
            admin.assign(ticket.id, &AssignRequest { assignee_id: Some(Some(agent.id)), ..Default::default() }).await.unwrap();
            agent_client.comment(ticket.id, &CreateComment { body: "On it".into(), internal: false }).await.unwrap();
            for to in [Status::Open, Status::Resolved] {
                agent_client.transition(ticket.id, &TransitionRequest { to, comment: None, version: None }).await.unwrap();
            }
        }
    }
    admin
}

fn last_week() -> ReportQuery {
    let today = chrono::Utc::now().date_naive();
    ReportQuery { team: None, from: Some(today - chrono::Duration::days(6)), to: Some(today), bucket: Some(ReportBucket::Day), tz: Some("UTC".into()) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_print_the_api_as_json_csv_and_tables() {
    let server = TestServer::start().await;
    let admin = busy_day(&server).await;
    let cli = Cli::new(&server);
    cli.login_admin();
    let window = ["--since", "7d", "--tz", "UTC"];

    // JSON: the API's report, field for field (but the moment it was made).
    let json = cli.run(&[&["reports", "volume", "-o", "json"][..], &window].concat(), "").success();
    let mut printed: VolumeReport = serde_json::from_str(&json.stdout).unwrap();
    let api = admin.volume_report(&last_week()).await.unwrap();
    printed.generated_at = api.generated_at;
    assert_eq!(printed, api);
    let today = api.buckets.last().unwrap();
    assert_eq!((today.figures.created, today.figures.resolved, today.figures.reopened), (3, 2, 0));

    // CSV: one row per day, the same figures.
    let csv = cli.run(&[&["reports", "volume", "-o", "csv"][..], &window].concat(), "").success().stdout;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), ["start", "end", "created", "resolved", "reopened"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 7);
    for (row, bucket) in rows.iter().zip(&api.buckets) {
        assert_eq!(row[0].parse::<chrono::DateTime<chrono::Utc>>().unwrap(), bucket.start);
        assert_eq!(row[1].parse::<chrono::DateTime<chrono::Utc>>().unwrap(), bucket.end);
        let counts: Vec<i64> = (2..5).map(|i| row[i].parse().unwrap()).collect();
        assert_eq!(counts, [bucket.figures.created, bucket.figures.resolved, bucket.figures.reopened]);
    }

    // Times: seconds in CSV, a missing median an empty cell.
    let csv = cli.run(&[&["reports", "times", "-o", "csv", "--team", "Support"][..], &window].concat(), "").success().stdout;
    let api: TimesReport = admin.times_report(&ReportQuery { team: Some(team_id(&admin).await), ..last_week() }).await.unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let figures = &api.buckets.last().unwrap().figures;
    let last = rows.last().unwrap();
    assert_eq!(last[2].parse::<i64>().unwrap(), figures.first_responses);
    assert_eq!(last[3].parse::<i64>().ok(), figures.first_response_median_secs);
    assert_eq!(&rows[0][3], "", "no answers on the first day");

    // Agents: a row per agent and day; `--fields` picks columns, for CSV and JSON alike.
    let csv = cli.run(&[&["reports", "agents", "--team", "Support", "-o", "csv", "--fields", "start,agent_name,assigned,replies,resolved"][..], &window].concat(), "").success().stdout;
    let api: AgentsReport = admin.agents_report(&ReportQuery { team: Some(team_id(&admin).await), ..last_week() }).await.unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<Vec<String>> = reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    assert_eq!(rows.len(), 7, "Ada, every day");
    let today = api.buckets.last().unwrap().figures.agents[0].clone();
    assert_eq!(rows[6][1..], ["Ada".to_owned(), today.assigned.to_string(), today.replies.to_string(), today.resolved.to_string()]);
    assert_eq!((today.assigned, today.replies, today.resolved), (2, 2, 2));
    let picked = cli.run(&[&["reports", "agents", "--team", "Support", "--fields", "agent_name,resolved"][..], &window].concat(), "").success().json();
    assert_eq!(picked[6], serde_json::json!({"agent_name": "Ada", "resolved": 2}));

    // A table for people, fitted to the width asked.
    let table = cli.run_with(&[("COLUMNS", "80")], &[&["reports", "backlog", "-o", "table"][..], &window].concat()).success().stdout;
    assert!(table.starts_with("backlog report, "), "{table}");
    assert!(table.lines().all(|line| unicode_width::UnicodeWidthStr::width(line) <= 80), "{table}");
    assert!(table.contains(&chrono::Utc::now().format("%Y-%m-%d").to_string()), "{table}");

    // Mistakes are named.
    let wrong = cli.run(&["reports", "volume", "--fields", "nope"], "").failure(2);
    assert!(wrong.stderr.contains("created, resolved, reopened"), "{wrong:#?}");
    let unknown = cli.run(&["reports", "volum"], "").failure(2);
    assert!(unknown.stderr.contains("volume"), "suggests the nearest: {unknown:#?}");
    let zone = cli.run(&["reports", "volume", "--tz", "Mars/Olympus"], "").failure(2);
    assert!(zone.stderr.contains("time zone"), "{zone:#?}");
}

async fn team_id(admin: &Client) -> uuid::Uuid {
    admin.list_teams(&Default::default()).await.unwrap().into_iter().find(|t| t.name == "Support").unwrap().id
}
