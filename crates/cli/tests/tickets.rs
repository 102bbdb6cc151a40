//! The real `hdms` binary against a real server: ticket commands (queues, search, conversation,
//! assignment, status moves, ratings, the `list --ids | bulk -` pipe, watchers), SLA policies, approvals, and a
//! login with an SMS code.

mod common;

use std::io::Write;

use common::{Cli, Run, TestServer};
use hdms_api_types::Role;
use hdms_api_types::users::CreateUser;
use hdms_server::with_db;

const PASSWORD: &str = "a long enough password";

fn lines(run: &Run) -> Vec<String> {
    run.stdout.lines().map(str::to_owned).collect()
}

/// Creates a user through the CLI and returns a CLI environment logged in as them, with the id.
fn user(server: &TestServer, admin: &Cli, email: &str, role: &str) -> (Cli, String) {
    let created = admin
        .run(&["users", "create", "--email", email, "--name", email, "--role", role, "--password-stdin", "-o", "json"], &format!("{PASSWORD}\n"))
        .success();
    let cli = Cli::new(server);
    cli.run(&["login", "--email", email, "--password-stdin"], &format!("{PASSWORD}\n")).success();
    (cli, created.json()["id"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_commands() {
    let server = TestServer::start().await;
    let admin = Cli::new(&server);
    admin.login_admin();
    admin.run(&["teams", "create", "Support"], "").success();
    let (agent, agent_id) = user(&server, &admin, "agent@example.com", "agent");
    admin.run(&["teams", "add-member", "Support", "agent@example.com"], "").success();

    // Create: flags, description from stdin, a team by name.
    let printer = admin
        .run(&["tickets", "create", "--subject", "Printer jams", "--description", "On every page", "--team", "Support", "--priority", "high", "--tag", "hardware", "-o", "json"], "")
        .success()
        .json();
    assert_eq!((printer["priority"].as_str(), printer["status"].as_str()), (Some("high"), Some("new")));
    assert_eq!(printer["tags"], serde_json::json!(["hardware"]));
    let number = printer["number"].as_str().unwrap().to_owned();
    let printer_id = printer["id"].as_str().unwrap().to_owned();
    let vpn = admin
        .run(&["tickets", "create", "--subject", "VPN drops", "--description", "-", "--team", "Support", "-o", "json"], "Every hour,\non the hour\n")
        .success()
        .json();
    assert_eq!(vpn["description"], "Every hour,\non the hour");
    let mail = admin.run(&["tickets", "create", "--subject", "Mail bounces", "--description", "x", "--ids"], "").success();
    assert_eq!(lines(&mail).len(), 1);

    // Lists: filters, search, formats, bare ids.
    let new = admin.run(&["tickets", "list", "--status", "new", "--ids"], "").success();
    assert_eq!(lines(&new).len(), 3);
    let found = admin.run(&["tickets", "list", "-q", "printer", "-o", "json"], "").success().json();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["id"], printer_id.as_str());
    let team = admin.run(&["tickets", "list", "--team", "Support", "--limit", "1", "-o", "json"], "").success().json();
    assert_eq!(team.as_array().unwrap().len(), 1);
    let csv = admin.run(&["tickets", "list", "-o", "csv"], "").success();
    assert!(csv.stdout.starts_with("id,number,subject,description,requester_id,"), "{csv:#?}");

    // Conversation by number, in any spelling; internal notes marked.
    admin.run(&["tickets", "comment", &number, "--body", "Looking into it"], "").success();
    admin.run(&["tickets", "comment", &number.to_lowercase(), "--internal"], "Toner is low\n").success();
    let shown = admin.run(&["tickets", "show", &number, "-o", "json"], "").success().json();
    assert_eq!(shown["ticket"]["id"], printer_id.as_str());
    let comments = shown["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!((comments[0]["internal"].as_bool(), comments[1]["internal"].as_bool()), (Some(false), Some(true)));
    let table = admin.run(&["tickets", "show", &number, "-o", "table"], "").success();
    assert!(table.stdout.contains("internal note") && table.stdout.contains("Toner is low"), "{table:#?}");

    // Assignment and status moves.
    let assigned = admin.run(&["tickets", "assign", &number, "--to", "agent@example.com", "-o", "json"], "").success().json();
    assert_eq!(assigned[0]["assignee_id"], agent_id.as_str());
    let mine = agent.run(&["tickets", "list", "--assignee", "me", "--ids"], "").success();
    assert_eq!(lines(&mine), std::slice::from_ref(&printer_id));
    agent.run(&["tickets", "transition", &number, "open"], "").success();
    let resolved = agent.run(&["tickets", "transition", &number, "resolved", "--comment", "New toner", "-o", "json"], "").success().json();
    assert_eq!(resolved[0]["status"], "resolved");
    let refused = agent.run(&["tickets", "transition", &number, "new"], "").failure(3);
    assert!(refused.stderr.contains("resolved") && refused.stderr.contains("new"), "names both statuses: {refused:#?}");

    // The requester (the admin raised it) rates the resolved ticket; show says so.
    let rated = admin.run(&["tickets", "rate", &number, "good", "--comment", "Fast, thanks", "-o", "json"], "").success().json();
    assert_eq!((rated["score"].as_str(), rated["comment"].as_str()), (Some("good"), Some("Fast, thanks")));
    let not_theirs = agent.run(&["tickets", "rate", &number, "bad"], "").failure(1);
    assert!(not_theirs.stderr.contains("forbidden"), "{not_theirs:#?}");
    admin.run(&["tickets", "rate", &number, "meh"], "").failure(2);
    let shown = admin.run(&["tickets", "show", &number, "-o", "json"], "").success().json();
    assert_eq!(shown["rating"]["score"], "good");
    let shown = admin.run(&["tickets", "show", &number, "-o", "table"], "").success();
    assert!(shown.stdout.contains("good: Fast, thanks"), "{shown:#?}");

    // Main errors: an unknown number, something that is no ticket at all, no body.
    let missing = admin.run(&["tickets", "show", "HD-999999"], "").failure(1);
    assert!(missing.stderr.contains("not_found"), "{missing:#?}");
    admin.run(&["tickets", "show", "printer"], "").failure(2);
    admin.run(&["tickets", "comment", &number], "").failure(2);

    // The pipe: list ids into bulk; each ticket is judged on its own.
    let open_ids = admin.run(&["tickets", "list", "--status", "new", "--ids"], "").success();
    assert_eq!(lines(&open_ids).len(), 2);
    let bulk = admin
        .run(&["tickets", "bulk", "-", "--set", "priority=urgent", "--set", "add-tag=triaged", "-o", "json"], &open_ids.stdout)
        .success()
        .json();
    assert!(bulk.as_array().unwrap().iter().all(|r| r["ok"] == true), "{bulk}");
    let urgent = admin.run(&["tickets", "list", "--priority", "urgent", "--tag", "triaged", "--ids"], "").success();
    assert_eq!(lines(&urgent).len(), 2);
    let mixed = format!("{}\n{}\n", vpn["id"].as_str().unwrap(), printer_id);
    let partly = admin.run(&["tickets", "bulk", "-", "--status", "in_progress", "-o", "json"], &mixed).failure(3);
    let results = serde_json::from_str::<serde_json::Value>(&partly.stdout).unwrap();
    assert_eq!(results[0]["ok"], true, "{results}");
    assert_eq!((results[1]["ok"].as_bool(), results[1]["http_status"].as_u64()), (Some(false), Some(422)), "{results}");
    assert!(partly.stderr.contains("1 changed, 1 refused"), "{partly:#?}");
    admin.run(&["tickets", "bulk", &number, "--set", "colour=red"], "").failure(2);
    admin.run(&["tickets", "bulk", &number], "").failure(2);

    // Watchers: follow, add a colleague, list, stop; someone who cannot see the ticket is refused.
    agent.run(&["tickets", "watch", &number], "").success();
    let (outsider, _) = user(&server, &admin, "outsider@example.com", "agent");
    let watchers = admin.run(&["tickets", "watchers", &number, "-o", "json"], "").success().json();
    // The admin raised it, so watches it from the start.
    let names: Vec<&str> = watchers.as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Administrator", "agent@example.com"]);
    let refused = admin.run(&["tickets", "watch", &number, "--user", "outsider@example.com"], "").failure(3);
    assert!(refused.stderr.contains("cannot see this ticket"), "{refused:#?}");
    outsider.run(&["tickets", "watch", &number], "").failure(1);
    agent.run(&["tickets", "unwatch", &number], "").success();
    let left = admin.run(&["tickets", "watchers", &number, "--ids"], "").success();
    assert!(!lines(&left).contains(&agent_id), "{left:#?}");
    assert_eq!(lines(&left).len(), 1);
}

/// What people read: tables fitted to `COLUMNS`, names instead of ids, colour only when asked
/// and never with NO_COLOR; `--fields` for JSON and CSV; `--wide` for everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_for_people() {
    let server = TestServer::start().await;
    let admin = Cli::new(&server);
    admin.login_admin();
    admin.run(&["teams", "create", "Support"], "").success();
    admin.run(&["users", "create", "--email", "grace@example.com", "--name", "Grace Hopper", "--role", "agent"], "").success();
    admin.run(&["users", "create", "--email", "bob@example.com", "--name", "Bob Builder", "--role", "customer"], "").success();
    admin.run(&["teams", "add-member", "Support", "grace@example.com"], "").success();
    let subject = "Printer on floor 3 jams on every job, even after the fuser was replaced last week";
    let ticket = admin
        .run(&["tickets", "create", "--subject", subject, "--description", "x", "--team", "Support", "--requester", "bob@example.com", "--priority", "urgent", "-o", "json"], "")
        .success()
        .json();
    let number = ticket["number"].as_str().unwrap();
    admin.run(&["tickets", "assign", number, "--to", "grace@example.com"], "").success();

    let table = admin.run_with(&[("COLUMNS", "80")], &["tickets", "list", "-o", "table"]).success().stdout;
    assert!(table.split_whitespace().take(2).eq(["NUMBER", "SUBJECT"]), "{table}");
    assert_eq!(table.lines().count(), 2, "one line per ticket, nothing wrapped: {table}");
    for line in table.lines() {
        assert!(line.chars().count() <= 80, "{line:?} is wider than 80 columns");
    }
    assert!(table.contains('…') && !table.contains(subject), "the subject is cut: {table}");
    assert!(!table.contains(ticket["id"].as_str().unwrap()), "no ids without --wide: {table}");
    // People by name, from the summaries the server sends with each ticket (at 80 columns the
    // names are cut like any cell).
    assert!(table.contains("Bob Buil") && table.contains("Grace H"), "people by name: {table}");
    assert!(!table.contains('\u{1b}'), "no colour in a pipe: {table:?}");

    let wide = admin.run(&["tickets", "list", "-o", "table", "--wide"], "").success().stdout;
    assert!(wide.contains(subject) && wide.contains(ticket["id"].as_str().unwrap()), "{wide}");

    let forced = admin.run_with(&[("CLICOLOR_FORCE", "1")], &["tickets", "list", "-o", "table"]).success().stdout;
    assert!(forced.contains("\u{1b}["), "colour when forced: {forced:?}");
    let no_color = admin.run_with(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], &["tickets", "list", "-o", "table"]).success().stdout;
    assert!(!no_color.contains('\u{1b}'), "NO_COLOR wins: {no_color:?}");

    let users = admin.run_with(&[("COLUMNS", "120")], &["users", "list", "-o", "table"]).success().stdout;
    let grace = users.lines().find(|line| line.contains("Grace Hopper")).unwrap_or_else(|| panic!("{users}"));
    assert!(grace.contains("Support") && grace.contains("agent"), "teams by name: {users}");

    let show = admin.run_with(&[("COLUMNS", "100")], &["tickets", "show", number, "-o", "table"]).success().stdout;
    assert!(show.starts_with(&format!("{number}  {subject}")), "{show}");
    for expected in ["Requester  Bob Builder", "Assignee   Grace Hopper", "Team       Support", "Description", "Conversation (0)"] {
        assert!(show.contains(expected), "{expected}: {show}");
    }

    let json = admin.run(&["tickets", "list", "--fields", "number,subject"], "").success().json();
    assert_eq!(json, serde_json::json!([{"number": number, "subject": subject}]));
    let csv = admin.run(&["tickets", "list", "--fields", "number,priority,team", "-o", "csv"], "").success().stdout;
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some("number,priority,team"));
    assert!(rows.next().unwrap().starts_with(&format!("{number},urgent,")), "{csv}");
    let unknown = admin.run(&["tickets", "list", "--fields", "number,subjct"], "").failure(2);
    assert!(unknown.stderr.contains("did you mean 'subject'"), "{unknown:#?}");
    admin.run(&["tickets", "list", "--fields", "number", "-o", "table"], "").failure(2);
    let shown = admin.run(&["tickets", "show", number, "--fields", "number,status"], "").success().json();
    assert_eq!(shown, serde_json::json!({"number": number, "status": "new"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_and_approvals_commands() {
    let server = TestServer::start().await;
    let admin = Cli::new(&server);
    admin.login_admin();

    let created = admin
        .run(
            &[
                "sla", "create", "--name", "Urgent in office hours", "--priority", "urgent", "--first-response", "1h", "--resolution", "8h",
                "--time-zone", "Europe/Berlin", "--working-days", "mon-fri", "--opens", "09:00", "--closes", "17:00", "--holiday", "2026-12-25",
                "-o", "json",
            ],
            "",
        )
        .success()
        .json();
    assert_eq!((created["first_response_secs"].as_i64(), created["resolution_secs"].as_i64()), (Some(3600), Some(8 * 3600)));
    assert_eq!(created["calendar"]["working_days"], serde_json::json!(["Mon", "Tue", "Wed", "Thu", "Fri"]));
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(lines(&admin.run(&["sla", "list", "--ids"], "").success()), std::slice::from_ref(&id));
    let updated = admin.run(&["sla", "update", &id, "--resolution", "1d", "-o", "json"], "").success().json();
    assert_eq!(updated["resolution_secs"], 86400);
    assert_eq!(updated["calendar"]["time_zone"], "Europe/Berlin", "what was not given stays");
    let table = admin.run(&["sla", "show", &id, "-o", "table"], "").success();
    assert!(table.stdout.contains("1d") && table.stdout.contains("Mon-Fri 09:00-17:00 Europe/Berlin"), "{table:#?}");
    admin.run(&["sla", "create", "--name", "No priority", "--first-response", "1h", "--resolution", "2h"], "").failure(2);
    admin.run(&["sla", "create", "--name", "X", "--priority", "low", "--first-response", "soon", "--resolution", "2h"], "").failure(2);
    let zone = admin
        .run(&["sla", "create", "--name", "X", "--priority", "low", "--first-response", "1h", "--resolution", "2h", "--time-zone", "Mars/Olympus"], "")
        .failure(3);
    assert!(zone.stderr.contains("validation_failed"), "{zone:#?}");
    admin.run(&["sla", "delete", &id], "").success();
    admin.run(&["sla", "show", &id], "").failure(1);

    // Approvals: asked of a named supervisor, then of the role; approved, rejected, never one's own.
    let (supervisor, _) = user(&server, &admin, "boss@example.com", "supervisor");
    let laptop = admin.run(&["tickets", "create", "--subject", "New laptop", "--description", "x", "-o", "json"], "").success().json();
    let laptop_number = laptop["number"].as_str().unwrap();
    let asked = admin
        .run(&["approvals", "request", laptop_number, "--approver", "boss@example.com", "--reason", "Budget", "-o", "json"], "")
        .success()
        .json();
    assert_eq!(asked["state"], "pending");
    let waiting = supervisor.run(&["approvals", "list", "--ids"], "").success();
    assert_eq!(lines(&waiting), [asked["id"].as_str().unwrap().to_owned()]);
    admin.run(&["approvals", "approve", asked["id"].as_str().unwrap()], "").failure(1);
    let approved = supervisor.run(&["approvals", "approve", "-", "--comment", "Fine", "-o", "json"], &waiting.stdout).success().json();
    assert_eq!(approved[0]["state"], "approved");
    assert_eq!(admin.run(&["tickets", "show", laptop_number, "-o", "json"], "").success().json()["ticket"]["status"], "open");

    let phone = admin.run(&["tickets", "create", "--subject", "New phone", "--description", "x", "-o", "json"], "").success().json();
    let phone_number = phone["number"].as_str().unwrap();
    let asked = admin.run(&["approvals", "request", phone_number, "--approver", "role:supervisor", "--rule", "all", "-o", "json"], "").success().json();
    supervisor.run(&["approvals", "reject", asked["id"].as_str().unwrap()], "").failure(2);
    let rejected = supervisor.run(&["approvals", "reject", asked["id"].as_str().unwrap(), "--comment", "No budget", "-o", "json"], "").success().json();
    assert_eq!(rejected[0]["state"], "rejected");
    let listed = admin.run(&["approvals", "list", "--ticket", phone_number, "-o", "json"], "").success().json();
    assert_eq!(listed[0]["state"], "rejected");
    assert_eq!(admin.run(&["tickets", "show", phone_number, "-o", "json"], "").success().json()["ticket"]["status"], "cancelled");
    admin.run(&["approvals", "request", phone_number, "--approver", "role:wizard"], "").failure(2);
}

/// The SMS queued for a user so far, oldest first (the worker polls hourly here, so they are
/// still in the outbox, unredacted).
async fn texts_to(server: &TestServer, user: uuid::Uuid) -> Vec<String> {
    const SQL: &str = "SELECT body FROM sms_outbox WHERE user_id = $1 ORDER BY created_at, id";
    with_db!(&server.state.db, pool => sqlx::query_scalar(SQL).bind(user).fetch_all(pool).await.unwrap())
}

/// The code that opens the latest text.
async fn latest_code(server: &TestServer, user: uuid::Uuid) -> String {
    texts_to(server, user).await.last().expect("a text was queued").chars().take(6).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_an_sms_code() {
    let server = TestServer::start_with(|config| config.sms_poll_ms = 3_600_000).await;
    let admin = hdms_api_types::client::Client::new(&server.url).unwrap();
    admin.login(common::ADMIN_EMAIL, common::ADMIN_PASSWORD).await.unwrap();
    let email = "two.factor@example.com";
    let request = CreateUser { email: email.into(), name: "Two Factor".into(), role: Role::Agent, phone: Some("+4915112345678".into()), password: Some(PASSWORD.into()) };
    let user = admin.create_user(&request).await.unwrap();
    let client = hdms_api_types::client::Client::new(&server.url).unwrap();
    client.login(email, PASSWORD).await.unwrap();
    client.start_phone_verification().await.unwrap();
    client.confirm_phone(&latest_code(&server, user.id).await).await.unwrap();
    client.set_login_otp(true).await.unwrap();

    let cli = Cli::new(&server);
    let without = cli.run(&["login", "--email", email, "--password-stdin"], &format!("{PASSWORD}\n")).failure(2);
    assert!(without.stderr.contains("SMS login code"), "{without:#?}");
    // The refused attempt sent a code too; a new attempt sends a new one, read after it.
    let wrong = cli.run(&["login", "--email", email, "--password-stdin", "--otp-code", "000000"], &format!("{PASSWORD}\n"));
    assert_ne!(wrong.code, 0, "{wrong:#?}");

    // The code on stdin's second line: the login runs in a child that reads its password, has
    // the code sent, and waits on stdin for the code, which this test reads from the outbox.
    let sent_before = texts_to(&server, user.id).await.len();
    let mut child = cli.std_command();
    child.args(["login", "--email", email, "--password-stdin"]);
    child.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = child.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{PASSWORD}").unwrap();
    stdin.flush().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while texts_to(&server, user.id).await.len() == sent_before {
        assert!(std::time::Instant::now() < deadline, "the login never sent a code");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    writeln!(stdin, "{}", latest_code(&server, user.id).await).unwrap();
    drop(stdin);
    let output = tokio::task::block_in_place(|| child.wait_with_output().unwrap());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let whoami = cli.run(&["whoami", "-o", "json"], "").success();
    assert_eq!(whoami.json()["email"], email);
}
