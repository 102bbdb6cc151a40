//! Attachments end to end, on both backends: limits, type checks, names, visibility, dedupe,
//! scanning with a real clamd (EICAR quarantined, clean files served, outage and recovery),
//! ranges, thumbnails, the unscanned policy, soft delete, both storage backends, and several
//! instances sharing the scan work.

mod common;
mod files_support;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Backend, TestServer, assert_api_error};
use files_support::{ClamdProcess, EICAR, EICAR_SIGNATURE, MotoS3, S3_KEY_ID, S3_SECRET};
use hdms_api_types::Role;
use hdms_api_types::client::Client;
use hdms_api_types::files::{Attachment, ScanState, UnscannedPolicy, UpdateAttachmentSettings};
use hdms_server::config::{Config, StorageKind};
use reqwest::Method;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const TEXT: &[u8] = b"The printer on floor 3 jams on every second page.\n";
/// Longest a scan may take before a test fails.
const SCAN_LIMIT: Duration = Duration::from_secs(30);

/// A server whose attachments are scanned by its own clamd.
async fn scanned_server(backend: Backend, dir: &Path, adjust: impl FnOnce(&mut Config)) -> (TestServer, ClamdProcess) {
    let clamd = ClamdProcess::start(dir).await;
    let addr = clamd.addr();
    let server = TestServer::start_with(backend, |config| {
        config.clamd = Some(addr);
        config.scan_poll_ms = 100;
        config.scan_retry_base_ms = 100;
        adjust(config);
    })
    .await;
    (server, clamd)
}

/// A ticket raised by `client`; its id.
async fn ticket(client: &Client) -> Uuid {
    let body = serde_json::json!({"subject": "Printer jams", "description": "Every second page."});
    let ticket: serde_json::Value =
        client.send(client.request(Method::POST, "/api/v1/tickets").unwrap().json(&body)).await.expect("create ticket");
    ticket["id"].as_str().and_then(|id| id.parse().ok()).expect("ticket id")
}

/// Polls the ticket's list until the attachment reaches `state` (or fails after a bound).
async fn wait_for(client: &Client, attachment: &Attachment, state: ScanState) -> Attachment {
    let started = Instant::now();
    loop {
        let listed = client.list_attachments(attachment.ticket_id).await.expect("list attachments");
        let current = listed.into_iter().find(|a| a.id == attachment.id).expect("attachment listed");
        if current.scan_state == state {
            return current;
        }
        assert!(started.elapsed() < SCAN_LIMIT, "attachment stuck in {} waiting for {state}", current.scan_state);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sha256_hex(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(files_under(&path));
            } else {
                found.push(path);
            }
        }
    }
    found
}

fn header<'a>(download: &'a hdms_api_types::client::Download, name: &str) -> &'a str {
    download.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name} header"))
}

async fn clean_file_is_scanned_then_downloadable(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (server, _clamd) = scanned_server(backend, dir.path(), |_| {}).await;
    let (customer, _) = server.user(Role::Customer).await;
    let ticket = ticket(&customer).await;

    let uploaded = customer.upload_attachment(ticket, "notes.txt", Some("text/plain"), TEXT).await.unwrap();
    // The upload answers without waiting for the scan; a fast worker may still have finished it
    // by the time the answer is built, so pending and clean are both right here.
    assert!(matches!(uploaded.scan_state, ScanState::Pending | ScanState::Clean), "{:?}", uploaded.scan_state);
    assert_eq!(uploaded.downloadable, uploaded.scan_state == ScanState::Clean);
    assert_eq!((uploaded.size, uploaded.sha256.as_str()), (TEXT.len() as u64, sha256_hex(TEXT).as_str()));
    assert_eq!(uploaded.content_type, "text/plain");
    if let Err(err) = customer.download_attachment(uploaded.id, None).await {
        assert_eq!((err.status().map(|s| s.as_u16()), err.code()), (Some(409), Some("attachment_not_scanned")), "{err}");
    }

    let clean = wait_for(&customer, &uploaded, ScanState::Clean).await;
    assert!(clean.downloadable);
    let download = customer.download_attachment(uploaded.id, None).await.unwrap();
    assert_eq!(download.status, 200);
    assert_eq!(download.content, TEXT);
    assert_eq!(header(&download, "content-length"), TEXT.len().to_string());
    assert_eq!(header(&download, "x-content-type-options"), "nosniff");
    assert_eq!(header(&download, "content-disposition"), "attachment; filename=\"notes.txt\"; filename*=UTF-8''notes.txt");
    assert_eq!(header(&download, "accept-ranges"), "bytes");
}

async fn clamd_over_tcp(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let clamd = ClamdProcess::start_tcp(dir.path()).await;
    let addr = clamd.addr();
    assert!(addr.starts_with("tcp://"));
    let server = TestServer::start_with(backend, |config| config.clamd = Some(addr)).await;
    let (customer, _) = server.user(Role::Customer).await;
    let ticket = ticket(&customer).await;
    let clean = customer.upload_attachment(ticket, "notes.txt", None, TEXT).await.unwrap();
    let eicar = customer.upload_attachment(ticket, "eicar.txt", None, EICAR).await.unwrap();
    wait_for(&customer, &clean, ScanState::Clean).await;
    let infected = wait_for(&customer, &eicar, ScanState::Infected).await;
    assert_eq!(infected.scan_signature.as_deref(), Some(EICAR_SIGNATURE));
}

async fn range_requests(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (server, _clamd) = scanned_server(backend, dir.path(), |_| {}).await;
    let (customer, _) = server.user(Role::Customer).await;
    let ticket = ticket(&customer).await;
    let content: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let uploaded = customer.upload_attachment(ticket, "data.bin", None, &content).await.unwrap();
    wait_for(&customer, &uploaded, ScanState::Clean).await;

    let part = customer.download_attachment(uploaded.id, Some("bytes=100-199")).await.unwrap();
    assert_eq!(part.status, 206);
    assert_eq!(part.content, &content[100..200]);
    assert_eq!(header(&part, "content-range"), "bytes 100-199/10000");
    assert_eq!(header(&part, "content-length"), "100");

    let tail = customer.download_attachment(uploaded.id, Some("bytes=-10")).await.unwrap();
    assert_eq!((tail.status.as_u16(), tail.content.as_slice()), (206, &content[9_990..]));
    let open = customer.download_attachment(uploaded.id, Some("bytes=9000-")).await.unwrap();
    assert_eq!((open.status.as_u16(), open.content.len()), (206, 1_000));

    let beyond = customer.download_attachment(uploaded.id, Some("bytes=10000-")).await.unwrap();
    assert_eq!(beyond.status, 416);
    assert_eq!(header(&beyond, "content-range"), "bytes */10000");
    // Several ranges are answered with the whole file, as HTTP allows.
    let several = customer.download_attachment(uploaded.id, Some("bytes=0-1,5-6")).await.unwrap();
    assert_eq!((several.status.as_u16(), several.content.len()), (200, content.len()));
}

async fn eicar_is_quarantined_and_never_downloadable(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (server, _clamd) = scanned_server(backend, dir.path(), |_| {}).await;
    let (customer, customer_user) = server.user(Role::Customer).await;
    let admin = server.admin().await;
    let ticket = ticket(&customer).await;

    let uploaded = customer.upload_attachment(ticket, "eicar.txt", Some("text/plain"), EICAR).await.unwrap();
    let infected = wait_for(&customer, &uploaded, ScanState::Infected).await;
    assert_eq!(infected.scan_signature.as_deref(), Some(EICAR_SIGNATURE));
    assert!(!infected.downloadable);
    assert_api_error(customer.download_attachment(uploaded.id, None).await, 409, "attachment_quarantined");
    assert_api_error(admin.download_attachment(uploaded.id, None).await, 409, "attachment_quarantined");
    assert_api_error(customer.download_attachment(uploaded.id, Some("bytes=0-9")).await, 409, "attachment_quarantined");

    // The uploader and the admin were told.
    let admin_id = admin.me().await.unwrap().id;
    for user in [customer_user.id, admin_id] {
        assert_eq!(infected_notifications(&server, user).await, 1, "notifications of {user}");
    }

    // The same bytes again are known bad: quarantined at once, and told again.
    let again = customer.upload_attachment(ticket, "copy.txt", None, EICAR).await.unwrap();
    assert_eq!(again.scan_state, ScanState::Infected);
    assert_api_error(customer.download_attachment(again.id, None).await, 409, "attachment_quarantined");
    assert_eq!(infected_notifications(&server, customer_user.id).await, 2);
}

async fn infected_notifications(server: &TestServer, user: Uuid) -> i64 {
    const SQL: &str = "SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'attachment_infected'";
    hdms_server::with_db!(&server.state.db, pool => sqlx::query_scalar(SQL).bind(user).fetch_one(pool).await.unwrap())
}

async fn clamd_outage_then_recovery(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    // The server is configured for a clamd that is not running yet.
    let mut clamd = ClamdProcess::unstarted(dir.path());
    let addr = clamd.addr();
    let server = TestServer::start_with(backend, |config| {
        config.clamd = Some(addr);
        config.scan_poll_ms = 100;
        config.scan_retry_base_ms = 100;
    })
    .await;
    let (customer, _) = server.user(Role::Customer).await;
    let ticket = ticket(&customer).await;
    let uploaded = customer.upload_attachment(ticket, "notes.txt", None, TEXT).await.unwrap();
    wait_for(&customer, &uploaded, ScanState::ScanFailed).await;
    assert_api_error(customer.download_attachment(uploaded.id, None).await, 409, "attachment_not_scanned");

    clamd.run().await;
    wait_for(&customer, &uploaded, ScanState::Clean).await;
    assert_eq!(customer.download_attachment(uploaded.id, None).await.unwrap().content, TEXT);

    // Down again mid-life, then back: infected content is still caught after the retry.
    clamd.stop();
    let eicar = customer.upload_attachment(ticket, "eicar.txt", None, EICAR).await.unwrap();
    wait_for(&customer, &eicar, ScanState::ScanFailed).await;
    clamd.run().await;
    wait_for(&customer, &eicar, ScanState::Infected).await;
}

async fn limits_answer_413_and_leave_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (server, _clamd) = scanned_server(backend, dir.path(), |config| {
        config.attachment_max_bytes = 4096;
        config.attachment_max_per_ticket = 2;
    })
    .await;
    let (customer, _) = server.user(Role::Customer).await;
    let ticket = ticket(&customer).await;

    let at_limit = vec![b'a'; 4096];
    customer.upload_attachment(ticket, "fits.txt", None, &at_limit).await.unwrap();
    let over = vec![b'b'; 4097];
    assert_api_error(customer.upload_attachment(ticket, "big.txt", None, &over).await, 413, "payload_too_large");

    let listed = customer.list_attachments(ticket).await.unwrap();
    assert_eq!(listed.len(), 1);
    let stored = files_under(&server.config.data_dir.join("files"));
    assert_eq!(stored.len(), 1, "only the accepted file is stored: {stored:?}");
    // The running process's own lock file stays (files/incoming.rs); nothing else may.
    let left: Vec<_> = files_under(&server.config.data_dir.join("incoming"))
        .into_iter()
        .filter(|path| path.extension().is_none_or(|e| e != "lock"))
        .collect();
    assert!(left.is_empty(), "no temporary file is left: {left:?}");

    customer.upload_attachment(ticket, "second.txt", None, b"two").await.unwrap();
    assert_api_error(customer.upload_attachment(ticket, "third.txt", None, b"three").await, 413, "payload_too_large");
    assert_eq!(customer.list_attachments(ticket).await.unwrap().len(), 2);
}

async fn blocked_and_mismatched_types_are_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (server, _clamd) = scanned_server(backend, dir.path(), |_| {}).await;
    let (customer, _) = server.user(Role::Customer).await;
    let ticket = ticket(&customer).await;
    let mut elf = b"\x7fELF\x02\x01\x01\0".to_vec();
    elf.resize(128, 0);
    let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n".to_vec();
    let refused: [(&str, Option<&str>, &[u8]); 5] = [
        ("report.txt", None, &elf),
        ("setup.exe", None, b"just text"),
        ("run.sh", Some("application/x-sh"), b"echo hi"),
        ("photo.jpg", Some("image/jpeg"), &pdf),
        ("scan.pdf", Some("image/png"), &pdf),
    ];
    for (name, declared, content) in refused {
        let result = customer.upload_attachment(ticket, name, declared, content).await;
        assert_api_error(result, 422, "validation_failed");
    }
    let accepted = customer.upload_attachment(ticket, "scan.pdf", Some("application/pdf"), &pdf).await.unwrap();
    assert_eq!(accepted.content_type, "application/pdf");
    assert_eq!(customer.list_attachments(ticket).await.unwrap().len(), 1);
}

async fn names_are_sanitised(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (server, _clamd) = scanned_server(backend, dir.path(), |_| {}).await;
    let (customer, _) = server.user(Role::Customer).await;
    let ticket = ticket(&customer).await;
    let cases = [
        // A tab is the one control character a multipart header can carry.
        ("../../etc/pass\twd.txt", "passwd.txt"),
        ("C:\\Users\\me\\Quarterly report.txt", "Quarterly report.txt"),
        ("invoice\u{202E}txt.exe.txt", "invoicetxt.exe.txt"),
        (".hidden.txt", "hidden.txt"),
    ];
    for (raw, clean) in cases {
        let uploaded = customer.upload_attachment(ticket, raw, None, TEXT).await.unwrap();
        assert_eq!(uploaded.file_name, clean, "{raw:?}");
    }
    let last = customer.upload_attachment(ticket, "résumé.txt", None, TEXT).await.unwrap();
    let clean = wait_for(&customer, &last, ScanState::Clean).await;
    let download = customer.download_attachment(clean.id, None).await.unwrap();
    assert_eq!(header(&download, "content-disposition"), "attachment; filename=\"r_sum_.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt");
    assert_api_error(customer.upload_attachment(ticket, "../", None, TEXT).await, 422, "validation_failed");
}

async fn only_those_who_see_the_ticket_reach_its_files(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (server, _clamd) = scanned_server(backend, dir.path(), |_| {}).await;
    let (owner, _) = server.user(Role::Customer).await;
    let (stranger, _) = server.user(Role::Customer).await;
    let (agent, _) = server.user(Role::Agent).await;
    let ticket = ticket(&owner).await;
    let uploaded = owner.upload_attachment(ticket, "notes.txt", None, TEXT).await.unwrap();
    wait_for(&owner, &uploaded, ScanState::Clean).await;

    assert_api_error(stranger.list_attachments(ticket).await, 404, "not_found");
    assert_api_error(stranger.download_attachment(uploaded.id, None).await, 404, "not_found");
    assert_api_error(stranger.attachment_thumbnail(uploaded.id).await, 404, "not_found");
    assert_api_error(stranger.upload_attachment(ticket, "x.txt", None, TEXT).await, 404, "not_found");
    assert_api_error(stranger.delete_attachment(uploaded.id).await, 404, "not_found");
    assert_api_error(server.anonymous().download_attachment(uploaded.id, None).await, 401, "unauthenticated");
    assert_api_error(owner.download_attachment(Uuid::now_v7(), None).await, 404, "not_found");

    // Staff who see the ticket (an unassigned ticket is in every agent's triage queue) may.
    assert_eq!(agent.download_attachment(uploaded.id, None).await.unwrap().content, TEXT);
    assert_eq!(server.admin().await.download_attachment(uploaded.id, None).await.unwrap().content, TEXT);
}

async fn same_content_is_stored_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (server, _clamd) = scanned_server(backend, dir.path(), |_| {}).await;
    let (customer, _) = server.user(Role::Customer).await;
    let first_ticket = ticket(&customer).await;
    let second_ticket = ticket(&customer).await;
    let first = customer.upload_attachment(first_ticket, "a.txt", None, TEXT).await.unwrap();
    wait_for(&customer, &first, ScanState::Clean).await;
    let second = customer.upload_attachment(second_ticket, "b.txt", None, TEXT).await.unwrap();
    assert_ne!(first.id, second.id);
    assert_eq!(first.sha256, second.sha256);
    // Known-clean content needs no second scan.
    assert_eq!(second.scan_state, ScanState::Clean);
    assert_eq!(customer.download_attachment(second.id, None).await.unwrap().content, TEXT);
    let stored = files_under(&server.config.data_dir.join("files"));
    assert_eq!(stored.len(), 1, "{stored:?}");
}

async fn images_get_dimensions_and_a_thumbnail(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (server, _clamd) = scanned_server(backend, dir.path(), |_| {}).await;
    let (customer, _) = server.user(Role::Customer).await;
    let ticket = ticket(&customer).await;
    let picture = image::RgbImage::from_fn(600, 300, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    let mut png = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let png = png.into_inner();

    let uploaded = customer.upload_attachment(ticket, "screenshot.png", Some("image/png"), &png).await.unwrap();
    assert_eq!(uploaded.content_type, "image/png");
    let started = Instant::now();
    let image = loop {
        let listed = customer.list_attachments(ticket).await.unwrap();
        if let Some(image) = listed[0].image {
            break image;
        }
        assert!(started.elapsed() < SCAN_LIMIT, "no dimensions after {SCAN_LIMIT:?}: {:?}", listed[0]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((image.width, image.height, image.thumbnail), (600, 300, true));
    let thumbnail = customer.attachment_thumbnail(uploaded.id).await.unwrap();
    assert_eq!(header(&thumbnail, "content-type"), "image/png");
    let decoded = image::load_from_memory(&thumbnail.content).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (256, 128));
    // The original is untouched.
    assert_eq!(customer.download_attachment(uploaded.id, None).await.unwrap().content, png);

    // A file that claims to be an image but does not decode keeps its original.
    let mut broken = png.clone();
    broken.truncate(200);
    let kept = customer.upload_attachment(ticket, "broken.png", None, &broken).await.unwrap();
    let kept = wait_for(&customer, &kept, ScanState::Clean).await;
    assert_eq!(customer.download_attachment(kept.id, None).await.unwrap().content, broken);
    assert_api_error(customer.attachment_thumbnail(kept.id).await, 404, "not_found");
}

async fn unscanned_files_follow_the_admin_policy(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.scan_poll_ms = 100).await;
    let admin = server.admin().await;
    let (customer, _) = server.user(Role::Customer).await;
    let settings = admin.attachment_settings().await.unwrap();
    assert!(!settings.scanner_configured);
    assert_eq!(settings.unscanned_policy, UnscannedPolicy::Block);
    assert_api_error(customer.attachment_settings().await, 403, "forbidden");

    let ticket = ticket(&customer).await;
    let uploaded = customer.upload_attachment(ticket, "notes.txt", None, TEXT).await.unwrap();
    let unscanned = wait_for(&customer, &uploaded, ScanState::Unscanned).await;
    assert!(!unscanned.downloadable);
    assert_api_error(customer.download_attachment(uploaded.id, None).await, 409, "attachment_unscanned");

    let allow = UpdateAttachmentSettings { unscanned_policy: UnscannedPolicy::Allow };
    assert_api_error(customer.update_attachment_settings(&allow).await, 403, "forbidden");
    assert_eq!(admin.update_attachment_settings(&allow).await.unwrap().unscanned_policy, UnscannedPolicy::Allow);
    assert!(customer.list_attachments(ticket).await.unwrap()[0].downloadable);
    assert_eq!(customer.download_attachment(uploaded.id, None).await.unwrap().content, TEXT);

    let block = UpdateAttachmentSettings { unscanned_policy: UnscannedPolicy::Block };
    admin.update_attachment_settings(&block).await.unwrap();
    assert_api_error(customer.download_attachment(uploaded.id, None).await, 409, "attachment_unscanned");
}

async fn soft_delete_and_restore(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (server, _clamd) = scanned_server(backend, dir.path(), |_| {}).await;
    let (customer, _) = server.user(Role::Customer).await;
    let (agent, _) = server.user(Role::Agent).await;
    let (supervisor, _) = server.user(Role::Supervisor).await;
    let ticket = ticket(&customer).await;
    let uploaded = customer.upload_attachment(ticket, "notes.txt", None, TEXT).await.unwrap();

    assert_api_error(agent.delete_attachment(uploaded.id).await, 403, "forbidden");
    customer.delete_attachment(uploaded.id).await.unwrap();
    assert!(customer.list_attachments(ticket).await.unwrap().is_empty());
    assert_api_error(customer.download_attachment(uploaded.id, None).await, 404, "not_found");
    assert_api_error(customer.delete_attachment(uploaded.id).await, 404, "not_found");
    assert_api_error(customer.restore_attachment(uploaded.id).await, 403, "forbidden");

    let restored = supervisor.restore_attachment(uploaded.id).await.unwrap();
    assert_eq!(restored.id, uploaded.id);
    assert!(restored.deleted_at.is_none());
    assert_eq!(customer.list_attachments(ticket).await.unwrap().len(), 1);
    supervisor.delete_attachment(uploaded.id).await.unwrap();
}

async fn s3_storage(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let moto = MotoS3::start().await;
    let (endpoint, bucket) = (moto.endpoint.clone(), moto.bucket.clone());
    let (server, _clamd) = scanned_server(backend, dir.path(), |config| {
        config.storage = StorageKind::S3;
        config.s3_endpoint = Some(endpoint);
        config.s3_bucket = Some(bucket);
        config.s3_access_key_id = Some(S3_KEY_ID.to_owned());
        config.s3_secret_access_key = Some(S3_SECRET.to_owned());
    })
    .await;
    let (customer, _) = server.user(Role::Customer).await;
    let ticket = ticket(&customer).await;
    // Larger than one single put: goes up as a multipart upload.
    let content: Vec<u8> = (0..9 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let uploaded = customer.upload_attachment(ticket, "large.bin", None, &content).await.unwrap();
    let small = customer.upload_attachment(ticket, "eicar.txt", None, EICAR).await.unwrap();
    wait_for(&customer, &uploaded, ScanState::Clean).await;
    wait_for(&customer, &small, ScanState::Infected).await;
    let download = customer.download_attachment(uploaded.id, None).await.unwrap();
    assert!(download.content == content, "the downloaded bytes differ");
    let part = customer.download_attachment(uploaded.id, Some("bytes=5000000-5000099")).await.unwrap();
    assert_eq!(part.content, &content[5_000_000..5_000_100]);
    assert!(files_under(&server.config.data_dir.join("files")).is_empty(), "nothing is stored locally");

    // The bucket really holds the blob, at its content address.
    let key = format!("{}/{}/blobs/{}/{}", moto.endpoint, moto.bucket, &uploaded.sha256[..2], uploaded.sha256);
    let status = reqwest::Client::new().head(key).send().await.unwrap().status();
    assert!(status.is_success(), "HEAD of the blob in the bucket: {status}");
}

/// Two instances on one database share the scan work: each file is scanned exactly once.
async fn two_instances_scan_each_file_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (first, _clamd) = scanned_server(backend, dir.path(), |_| {}).await;
    let mut config = first.config.clone();
    let second_dir = tempfile::tempdir().unwrap();
    if backend == Backend::Sqlite {
        // The same database file, and the same storage directory, as the first instance.
        config.database_url = Some(format!("sqlite:{}", first.config.data_dir.join("hdms.sqlite3").display()));
    }
    config.storage_dir = Some(first.config.storage_dir.clone().unwrap_or_else(|| first.config.data_dir.join("files")));
    config.data_dir = second_dir.path().to_path_buf();
    let second = TestServer::start_config(config, second_dir).await;

    let (customer, _) = first.user(Role::Customer).await;
    let on_second = second.anonymous();
    on_second.set_token(customer.token());
    let ticket = ticket(&customer).await;
    let mut uploads = Vec::new();
    for i in 0..12u32 {
        let client = if i % 2 == 0 { &customer } else { &on_second };
        let content = format!("file number {i}\n");
        uploads.push(client.upload_attachment(ticket, &format!("f{i}.txt"), None, content.as_bytes()).await.unwrap());
    }
    for uploaded in &uploads {
        wait_for(&customer, uploaded, ScanState::Clean).await;
    }
    const SQL: &str = "SELECT scan_attempts FROM attachment_blobs ORDER BY sha256";
    let attempts: Vec<i32> =
        hdms_server::with_db!(&first.state.db, pool => sqlx::query_scalar(SQL).fetch_all(pool).await.unwrap());
    assert_eq!(attempts, vec![1; 12]);
}

backend_tests!(
    clean_file_is_scanned_then_downloadable,
    clamd_over_tcp,
    range_requests,
    eicar_is_quarantined_and_never_downloadable,
    clamd_outage_then_recovery,
    limits_answer_413_and_leave_nothing,
    blocked_and_mismatched_types_are_refused,
    names_are_sanitised,
    only_those_who_see_the_ticket_reach_its_files,
    same_content_is_stored_once,
    images_get_dimensions_and_a_thumbnail,
    unscanned_files_follow_the_admin_policy,
    soft_delete_and_restore,
    s3_storage,
    two_instances_scan_each_file_once,
);
