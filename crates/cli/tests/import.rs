//! `hdms users import` end to end: the report of a messy file, dry run, idempotent rerun,
//! invitations, quiet output in a pipe, and an import killed halfway then run again.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{Cli, TestServer};
use serde_json::json;

/// BOM, CRLF, quoted commas, quotes and newlines, non-ASCII names, a duplicate, bad rows.
fn messy_file() -> Vec<u8> {
    let mut csv = b"\xEF\xBB\xBF".to_vec();
    csv.extend_from_slice(
        "email,Name,ROLE,phone,team\r\n\
         ada@example.com,Ada Lovelace,agent,+14155552671,Support\r\n\
         \"Bob@Example.com\",\"Bob \"\"The Builder\"\", Jr.\",customer,,\r\n\
         zoe@example.com,\"Zoë\r\nØrsted\",agent,,\r\n\
         chloe@example.com,Chloé Ørsted,Supervisor,,support\r\n\
         ada@example.com,Ada Again,agent,,\r\n\
         dan@example,Dan,agent,,\r\n\
         erin@example.com,Erin,wizard,,\r\n\
         fay@example.com,Fay,agent,0612345678,Nowhere\r\n\
         gil@example.com,,agent,,\r\n"
            .as_bytes(),
    );
    csv.extend_from_slice(b"hal@example.com,H\xC3\x28l,agent,,\r\n");
    csv
}

fn expected_report(dry_run: bool, created: u64, skipped: u64) -> serde_json::Value {
    let error = |line: u64, column: &str, code: &str, message: &str| {
        json!({"line": line, "column": column, "code": code, "message": message})
    };
    json!({
        "dry_run": dry_run,
        "rows": 10,
        "created": created,
        "updated": 0,
        "skipped": skipped,
        "failed": 7,
        "errors": [
            error(4, "name", "bad_name", "must not contain control characters"),
            error(7, "email", "duplicate_in_file", "'ada@example.com' is also on line 2; each user may appear once"),
            error(8, "email", "bad_email", "'dan@example' is not a valid email address"),
            error(9, "role", "unknown_role", "unknown role 'wizard' (expected customer, agent, supervisor or admin)"),
            error(10, "phone", "phone_not_e164", "'0612345678' is not a valid phone number in E.164 form (e.g. +14155550123)"),
            error(10, "team", "unknown_team", "there is no team 'Nowhere'"),
            error(11, "name", "missing_field", "name is required"),
            error(12, "name", "invalid_utf8", "is not valid UTF-8 (bad byte at offset 1)"),
        ],
        "errors_omitted": 0,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messy_file_dry_run_real_run_and_rerun() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    cli.login_admin();
    cli.run(&["teams", "create", "Support"], "").success();
    let file = cli.config_dir.path().join("messy.csv");
    std::fs::write(&file, messy_file()).unwrap();
    let file = file.to_str().unwrap();
    let users = || cli.run(&["users", "list", "-o", "json"], "").success().json();
    let before = users();

    let dry = cli.run(&["users", "import", file, "--dry-run", "-o", "json"], "").failure(3);
    assert_eq!(dry.json(), expected_report(true, 3, 0));
    assert_eq!(dry.stderr, "hdms: 7 of 10 rows were refused (dry run: nothing was changed)\n", "quiet in a pipe");
    assert_eq!(users(), before, "a dry run changes nothing");

    let real = cli.run(&["users", "import", file, "-o", "json"], "").failure(3);
    assert_eq!(real.json(), expected_report(false, 3, 0));
    let imported = users();
    let emails: Vec<&str> = imported.as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["admin@example.com", "ada@example.com", "bob@example.com", "chloe@example.com"]);
    assert_eq!(imported[2]["name"], "Bob \"The Builder\", Jr.");
    assert_eq!(imported[3]["role"], "supervisor");
    let team = cli.run(&["teams", "show", "support", "-o", "json"], "").success().json();
    assert_eq!(team["members"].as_array().unwrap().len(), 2, "Ada and Chloé joined Support");

    let rerun = cli.run(&["users", "import", file, "-o", "json"], "").failure(3);
    assert_eq!(rerun.json(), expected_report(false, 0, 3));
    assert_eq!(users(), imported, "running it again creates no duplicates");

    // A human-readable report on request, also from stdin.
    let table = cli.run(&["users", "import", "-", "-o", "table"], "email,name,role\nivy@example.com,Ivy,agent\n").success();
    assert!(table.stdout.starts_with("1 rows read: 1 created, 0 updated, 0 skipped, 0 refused"), "{table:#?}");
    assert_eq!(table.stderr, "", "no progress bar in a pipe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_errors_conflicts_and_invitations() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    cli.login_admin();
    let bad_header = cli.run(&["users", "import", "-"], "email,name,role,shoe_size\n").failure(3);
    assert!(bad_header.stderr.starts_with("hdms: validation_failed: unknown columns: shoe_size"), "{bad_header:#?}");
    cli.run(&["users", "import", "/nonexistent.csv"], "").failure(2);

    let invited = cli
        .run(&["users", "import", "-", "--print-invites", "-o", "json"], "email,name,role\nada@example.com,Ada,agent\n")
        .success()
        .json();
    let token = invited["invitations"][0]["token"].as_str().unwrap().to_owned();
    let accepted = cli.run(&["accept-invite", &token, "--password-stdin"], "ada's own password\n").success();
    assert!(accepted.stderr.contains("Password set for ada@example.com"), "{accepted:#?}");
    cli.run(&["accept-invite", &token, "--password-stdin"], "another password\n").failure(4);
    let client = hdms_api_types::client::Client::new(&server.url).unwrap();
    client.login("ada@example.com", "ada's own password").await.unwrap();

    let fail = cli.run(&["users", "import", "-", "--on-conflict", "fail", "-o", "json"], "email,name,role\nada@example.com,Ada,agent\n").failure(3);
    assert_eq!(fail.json()["errors"][0]["code"], "email_taken");
    let update = cli
        .run(&["users", "import", "-", "--on-conflict", "update", "-o", "json"], "email,name,role\nada@example.com,Ada King,supervisor\n")
        .success()
        .json();
    assert_eq!((update["updated"].as_u64(), update["created"].as_u64()), (Some(1), Some(0)));
    let send = cli
        .run(&["users", "import", "-", "--send-invites", "-o", "table"], "email,name,role,phone\nbo@example.com,Bo,agent,+14155552671\ncy@example.com,Cy,agent,\n")
        .success();
    assert!(send.stdout.contains("1 invitations sent by SMS"), "{send:#?}");
    assert!(send.stdout.contains("1 users have no phone number"), "{send:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_killed_halfway_then_rerun_is_complete_without_duplicates() {
    const ROWS: usize = 60_000;
    const SENT_BEFORE_KILL: usize = 35_000;
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    cli.login_admin();
    let mut csv = String::from("email,name,role\n");
    for n in 0..ROWS {
        csv.push_str(&format!("user{n}@example.com,User Number {n},customer\n"));
    }
    let file = cli.config_dir.path().join("big.csv");
    std::fs::write(&file, &csv).unwrap();

    // The CLI reads the file from a pipe we hold: it has sent at most what we wrote when it is
    // killed, so the upload is cut short for certain, mid-file.
    let cut = csv.match_indices('\n').nth(SENT_BEFORE_KILL).unwrap().0 + 1;
    let mut command = cli.std_command();
    let mut child = command
        .args(["users", "import", "-", "-o", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::task::block_in_place(|| stdin.write_all(&csv.as_bytes()[..cut])).unwrap();
    child.kill().unwrap();
    tokio::task::block_in_place(|| child.wait()).unwrap();
    drop(stdin);

    let rerun = cli.run(&["users", "import", file.to_str().unwrap(), "-o", "json"], "").success().json();
    let (created, skipped) = (rerun["created"].as_u64().unwrap(), rerun["skipped"].as_u64().unwrap());
    assert_eq!(created + skipped, ROWS as u64, "{rerun}");
    assert_eq!(skipped % 10_000, 0, "the killed run left whole transactions only: {rerun}");
    let ids = cli.run(&["users", "list", "--ids"], "").success().stdout;
    assert_eq!(ids.lines().count(), ROWS + 1, "every row once, plus the admin");
    let again = cli.run(&["users", "import", file.to_str().unwrap(), "-o", "json"], "").success().json();
    assert_eq!((again["created"].as_u64(), again["skipped"].as_u64()), (Some(0), Some(ROWS as u64)));
}
