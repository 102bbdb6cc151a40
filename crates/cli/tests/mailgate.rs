//! `hdms mailgate` as a mail server runs it: a message on stdin, a token limited to handing mail
//! in (`--scope mail.ingest`) in a file; exit 0 when stored, 75 (try again later) while the
//! server is down.

mod common;

use common::{ADMIN_EMAIL, ADMIN_PASSWORD, Cli, TestServer, run_command};
use hdms_api_types::client::Client;
use hdms_api_types::tokens::CreateApiToken;

const MESSAGE: &str = "From: Ana Lima <ana@customer.example>\r\nTo: support@desk.example.org\r\n\
Subject: Printer jam\r\nMessage-ID: <gate-1@customer.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
The printer jams on every page.\r\n";

/// An admin's token limited to handing mail in: the only credential the mail server holds.
async fn mailgate_token(server: &TestServer) -> String {
    let client = Client::new(&server.url).unwrap();
    client.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    let request = CreateApiToken { name: "mailgate".to_owned(), expires_in_days: None, scope: Some("mail.ingest".to_owned()) };
    let secret = client.create_token(&request).await.unwrap().secret;
    // It does nothing else: no reading users, no websocket, no tokens of its own.
    let limited = Client::new(&server.url).unwrap();
    limited.set_token(Some(secret.clone()));
    let refused = limited.list_users(&Default::default()).await.unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(403), "{refused}");
    assert!(limited.mail_failures(false).await.is_err());
    secret
}

fn mailgate(cli: &Cli, token_file: &std::path::Path, stdin: &str) -> common::Run {
    let mut command = cli.command();
    command.args(["mailgate", "--token-file"]).arg(token_file).write_stdin(stdin.to_owned());
    run_command(command)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_a_message_and_asks_to_retry_while_the_server_is_down() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    let token_file = cli.config_dir.path().join("mailgate.token");
    std::fs::write(&token_file, format!("{}\n", mailgate_token(&server).await)).unwrap();

    let stored = mailgate(&cli, &token_file, MESSAGE).success();
    assert_eq!(stored.stdout.trim(), "ticket_created HD-1001", "{stored:#?}");
    // The same message again (the mail server retried after a timeout) is not a second ticket.
    let again = mailgate(&cli, &token_file, MESSAGE).success();
    assert_eq!(again.stdout.trim(), "duplicate HD-1001");

    // A wrong token or mailbox is a configuration mistake: the mail server keeps the message.
    let wrong = cli.config_dir.path().join("wrong.token");
    std::fs::write(&wrong, "hdms_pat_wrong").unwrap();
    mailgate(&cli, &wrong, MESSAGE).failure(75);
    let mut command = cli.command();
    command.args(["mailgate", "--mailbox", "nope", "--token-file"]).arg(&token_file).write_stdin(MESSAGE.to_owned());
    run_command(command).failure(75);

    drop(server);
    // The server's port closes once it has stopped; until then a request may still succeed.
    let mut down = mailgate(&cli, &token_file, MESSAGE);
    for _ in 0..100 {
        if down.code == 75 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        down = mailgate(&cli, &token_file, MESSAGE);
    }
    let down = down.failure(75);
    assert!(down.stderr.contains("hdms mailgate") || down.stderr.contains("hdms:"), "{down:#?}");
}

/// `hdms mail smtp set`: the whole account the first time (the password from stdin, never an
/// argument, never shown back), then one option at a time with the others kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_the_smtp_account_option_by_option() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    cli.login_admin();
    cli.run(&["mail", "smtp", "show"], "").failure(1);
    let incomplete = cli.run(&["mail", "smtp", "set", "--host", "127.0.0.1"], "").failure(2);
    assert!(incomplete.stderr.contains("--from-address"), "{incomplete:#?}");

    // Nothing listens on this port: the test fails at the connection, and says so.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let args = ["mail", "smtp", "set", "--host", "127.0.0.1", "--port", &closed, "--security", "plain", "--username", "desk",
        "--password-stdin", "--from-address", "Support@Desk.Example.org", "--from-name", "Desk", "-o", "json"];
    let set = cli.run(&args, "smtp secret 7\n").success();
    let account = set.json();
    assert_eq!(account["host"], "127.0.0.1");
    assert_eq!(account["port"].to_string(), closed);
    assert_eq!((account["security"].as_str(), account["username"].as_str()), (Some("plain"), Some("desk")));
    assert_eq!((account["password_set"].as_bool(), account["from_address"].as_str()), (Some(true), Some("support@desk.example.org")));
    assert_eq!(account["acknowledge_new_tickets"], false);
    assert!(!set.stdout.contains("smtp secret") && !set.stderr.contains("smtp secret"));

    // One option changes; the rest, the password included, stays.
    let ack = cli.run(&["mail", "smtp", "set", "--acknowledge-new-tickets", "true", "-o", "json"], "").success().json();
    assert_eq!((ack["acknowledge_new_tickets"].as_bool(), ack["password_set"].as_bool()), (Some(true), Some(true)));
    assert_eq!((ack["port"].to_string(), ack["from_name"].as_str()), (closed.clone(), Some("Desk")));
    // Another security means its usual port unless one is given.
    let tls = cli.run(&["mail", "smtp", "set", "--security", "tls", "--clear-password", "-o", "json"], "").success().json();
    assert_eq!((tls["security"].as_str(), tls["port"].as_u64(), tls["password_set"].as_bool()), (Some("tls"), Some(465), Some(false)));
    let shown = cli.run(&["mail", "smtp", "show", "-o", "json"], "").success().json();
    assert_eq!(shown, tls);

    cli.run(&["mail", "smtp", "set", "--security", "plain", "--port", &closed], "").success();
    let test = cli.run(&["mail", "smtp", "test"], "").failure(1);
    assert!(test.stderr.contains("SMTP: connect failed"), "{test:#?}");
    let invalid = cli.run(&["mail", "smtp", "set", "--from-address", "nope"], "").failure(3);
    assert!(invalid.stderr.contains("from_address"), "{invalid:#?}");
}
