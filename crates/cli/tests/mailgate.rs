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
