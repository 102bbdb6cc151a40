//! `hdms-server backup` / `restore` on the embedded SQLite database: a backup taken while
//! writers keep writing restores into a new data directory, and a server started on it has every
//! ticket, comment and attachment the backup saw. (PostgreSQL deployments use pg_dump; see
//! docs/operations.md.)

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Backend, TestServer};
use hdms_api_types::client::Client;
use hdms_api_types::files::UnscannedPolicy;
use hdms_api_types::tickets::{CreateComment, CreateTicket, TicketListQuery};
use hdms_server::config::UnscannedPolicyArg;
use uuid::Uuid;

async fn all_tickets(client: &Client) -> Vec<hdms_api_types::tickets::Ticket> {
    let mut tickets = Vec::new();
    let mut query = TicketListQuery { limit: Some(200), ..Default::default() };
    loop {
        let page = client.list_tickets(&query).await.unwrap();
        tickets.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return tickets,
        }
    }
}

/// Downloads an attachment, waiting (boundedly) for the scan worker to release it.
async fn download(client: &Client, id: Uuid) -> Vec<u8> {
    for _ in 0..200 {
        match client.download_attachment(id, None).await {
            Ok(download) => return download.content,
            Err(err) if err.status().map(|s| s.as_u16()) == Some(409) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(err) => panic!("download of {id}: {err}"),
        }
    }
    panic!("attachment {id} never became downloadable")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_writes_restores_every_ticket_comment_and_attachment() {
    let allow_unscanned = |config: &mut hdms_server::config::Config| config.unscanned_policy = UnscannedPolicyArg::Allow;
    let server = TestServer::start_with(Backend::Sqlite, allow_unscanned).await;
    let admin = server.admin().await;
    let mut contents: HashMap<Uuid, Vec<u8>> = HashMap::new();
    for n in 0..6 {
        let ticket = admin
            .create_ticket(&CreateTicket { subject: format!("Before {n}"), description: "seeded".into(), ..Default::default() })
            .await
            .unwrap();
        admin.comment(ticket.id, &CreateComment { body: format!("comment {n}"), internal: n % 2 == 0 }).await.unwrap();
        let content = format!("file {n} ").repeat(1000 * (n + 1)).into_bytes();
        let attachment = admin.upload_attachment(ticket.id, &format!("f{n}.txt"), Some("text/plain"), &content).await.unwrap();
        contents.insert(attachment.id, content);
    }

    // One file is in the worker's hands as the snapshot is taken (claimed for minutes, not
    // processed yet): the restored server must not inherit that claim.
    let in_hand = *contents.keys().next().unwrap();
    let hdms_server::db::Db::Sqlite(pool) = &server.state.db else { unreachable!("a SQLite server") };
    sqlx::query(
        "UPDATE attachment_blobs SET claim_token = randomblob(16), claimed_until = '2999-01-01T00:00:00Z', scan_state = 'pending', processed = 0 \
         WHERE sha256 = (SELECT sha256 FROM attachments WHERE id = $1)",
    )
    .bind(in_hand)
    .execute(pool)
    .await
    .unwrap();

    // Writers keep creating tickets with comments and files while the backup runs.
    let writing = Arc::new(AtomicBool::new(true));
    let mut writers = Vec::new();
    for w in 0..2 {
        let (client, writing) = (server.admin().await, writing.clone());
        writers.push(tokio::spawn(async move {
            let mut written = 0;
            while writing.load(Ordering::Relaxed) && written < 200 {
                let ticket = client
                    .create_ticket(&CreateTicket { subject: format!("During {w}.{written}"), description: "x".into(), ..Default::default() })
                    .await
                    .unwrap();
                client.comment(ticket.id, &CreateComment { body: "during".into(), internal: false }).await.unwrap();
                client.upload_attachment(ticket.id, "d.bin", None, format!("{w}.{written}").as_bytes()).await.unwrap();
                written += 1;
            }
            written
        }));
    }
    let file = tempfile::tempdir().unwrap();
    let backup_file = file.path().join("hdms.backup");
    let manifest = hdms_server::backup::backup(&server.config, &backup_file).await.expect("backup");
    writing.store(false, Ordering::Relaxed);
    for writer in writers {
        assert!(writer.await.unwrap() > 0, "writers were writing during the backup");
    }
    assert_eq!(manifest.storage, "local");
    assert_eq!(manifest.schema_version, i64::from(hdms_server::SCHEMA_VERSION));
    assert_eq!(manifest.missing_blobs, 0);

    // Restore into an empty directory and serve from it.
    let restored_dir = tempfile::tempdir().unwrap();
    let mut config = server.config.clone();
    config.data_dir = restored_dir.path().join("data");
    hdms_server::backup::restore(&config, &backup_file).await.expect("restore");
    let again = hdms_server::backup::restore(&config, &backup_file).await;
    assert!(again.unwrap_err().to_string().contains("already exists"), "restore never overwrites a database");
    let restored = TestServer::start_config(config, restored_dir).await;
    let reader = restored.admin().await;

    let original = server.admin().await;
    let restored_tickets = all_tickets(&reader).await;
    let before: Vec<_> = restored_tickets.iter().filter(|t| t.subject.starts_with("Before")).collect();
    assert_eq!(before.len(), 6, "every ticket from before the backup is back");
    assert!(manifest.blobs >= 6, "{manifest:?}");
    let mut attachments_read = 0;
    for ticket in &restored_tickets {
        // Whatever the snapshot holds is whole and as the original server has it (which may
        // have more: writes after the snapshot).
        let original_comments = original.list_comments(ticket.id).await.unwrap();
        for comment in reader.list_comments(ticket.id).await.unwrap() {
            assert!(original_comments.contains(&comment), "comment {} of {}", comment.id, ticket.number);
        }
        for attachment in reader.list_attachments(ticket.id).await.unwrap() {
            let content = download(&reader, attachment.id).await;
            let expected = match contents.get(&attachment.id) {
                Some(content) => content.clone(),
                None => download(&original, attachment.id).await,
            };
            assert_eq!(content, expected, "content of {}", attachment.file_name);
            attachments_read += 1;
        }
    }
    assert!(attachments_read >= 6);
    assert_eq!(reader.attachment_settings().await.unwrap().unscanned_policy, UnscannedPolicy::Allow);
}
