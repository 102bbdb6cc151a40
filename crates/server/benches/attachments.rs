//! Attachment upload throughput and the server's memory while it streams a 100 MiB file, and
//! scan latency of a 1 MiB file, on loopback with a real clamd.
//!
//! The server runs as its own process (the `hdms-server` binary, SQLite, local storage) so its
//! memory can be read from /proc: peak growth is VmHWM after the upload minus VmRSS before it
//! (the peak is reset first through /proc/PID/clear_refs). Throughput is compared with a bare
//! axum handler in this process that streams the same multipart body to a file on the same
//! disk, measured in the same run, because these machines are noisy.
//!
//! `cargo bench -p hdms-server --bench attachments` (needs clamd: apt-get install clamav-daemon).

#[path = "../tests/files_support/mod.rs"]
mod files_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use files_support::ClamdProcess;
use hdms_api_types::client::Client;
use hdms_api_types::files::{Attachment, ScanState};
use hdms_server::files::clamd::{Clamd, ClamdAddr};
use reqwest::Method;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const BIG: usize = 100 * 1024 * 1024;
const SMALL: usize = 1024 * 1024;
const ROUNDS: usize = 3;
const SCANS: usize = 20;
const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "bench password 123";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let clamd_dir = work.path().join("clamd");
    std::fs::create_dir_all(&clamd_dir)?;
    let clamd = ClamdProcess::start(&clamd_dir).await;
    let server = ServerProcess::start(work.path(), &clamd.addr()).await?;
    let client = Client::new(&server.url)?;
    client.login(EMAIL, PASSWORD).await?;
    let ticket = ticket(&client).await?;

    let big = pseudo_random(BIG, 1);
    let baseline_url = bare_server(work.path().join("bare")).await?;
    let http = reqwest::Client::new();

    let mut upload_secs = Vec::new();
    let mut baseline_secs = Vec::new();
    let mut growth = Vec::new();
    for round in 0..ROUNDS {
        // A different file each round, so nothing is deduplicated.
        let mut content = big.clone();
        content[..8].copy_from_slice(&(round as u64).to_le_bytes());

        let started = Instant::now();
        let (boundary, body) = multipart(&content);
        let response = http
            .post(&baseline_url)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "bare handler answered {}", response.status());
        baseline_secs.push(started.elapsed().as_secs_f64());

        let before = server.rss_kib()?;
        server.reset_peak()?;
        let started = Instant::now();
        let uploaded = client.upload_attachment(ticket, &format!("big-{round}.bin"), None, &content).await?;
        upload_secs.push(started.elapsed().as_secs_f64());
        growth.push(server.peak_kib()?.saturating_sub(before));
        wait_clean(&client, &uploaded).await?;
    }

    // Scan latency of 1 MiB: our INSTREAM client straight to clamd, and end to end (upload
    // answered -> listed clean, polled every 2 ms).
    let small = pseudo_random(SMALL, 2);
    let scanner = Clamd::new(ClamdAddr::Unix(clamd.socket.clone()));
    let mut direct = Vec::new();
    for _ in 0..SCANS {
        let chunks = small.chunks(256 * 1024).map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c))).collect::<Vec<_>>();
        let started = Instant::now();
        scanner.scan(futures::stream::iter(chunks)).await?;
        direct.push(started.elapsed().as_secs_f64());
    }
    let mut end_to_end = Vec::new();
    for i in 0..SCANS {
        let mut content = small.clone();
        content[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let uploaded = client.upload_attachment(ticket, &format!("small-{i}.bin"), None, &content).await?;
        let started = Instant::now();
        wait_clean(&client, &uploaded).await?;
        end_to_end.push(started.elapsed().as_secs_f64());
    }

    let mib = BIG as f64 / (1024.0 * 1024.0);
    let upload = median(&mut upload_secs);
    let baseline = median(&mut baseline_secs);
    println!("\nhdms attachments on loopback (SQLite, local storage, real clamd), median of {ROUNDS} rounds");
    println!(
        "upload 100 MiB:      {:>8.0} MiB/s ({:.2} s)   bare axum handler streaming to a file: {:>6.0} MiB/s ({:.2} s)   ratio {:.2}x",
        mib / upload,
        upload,
        mib / baseline,
        baseline,
        upload / baseline
    );
    println!(
        "server peak memory growth during the upload: {} (target under 32 MiB)",
        growth.iter().map(|kib| format!("{:.1} MiB", *kib as f64 / 1024.0)).collect::<Vec<_>>().join(", ")
    );
    println!(
        "scan 1 MiB:          clamd INSTREAM p50 {:.1} ms, p max {:.1} ms;   upload -> clean end to end p50 {:.1} ms",
        median(&mut direct) * 1e3,
        direct.iter().cloned().fold(0.0, f64::max) * 1e3,
        median(&mut end_to_end) * 1e3
    );
    drop(server);
    drop(clamd);
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Incompressible, reproducible bytes (xorshift).
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ seed;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn multipart(content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "bench-boundary-0123456789".to_owned();
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

async fn ticket(client: &Client) -> anyhow::Result<uuid::Uuid> {
    let body = serde_json::json!({"subject": "Benchmark", "description": "Large attachments"});
    let ticket: serde_json::Value = client.send(client.request(Method::POST, "/api/v1/tickets")?.json(&body)).await?;
    Ok(ticket["id"].as_str().and_then(|id| id.parse().ok()).expect("ticket id"))
}

async fn wait_clean(client: &Client, attachment: &Attachment) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let listed = client.list_attachments(attachment.ticket_id).await?;
        let state = listed.iter().find(|a| a.id == attachment.id).map(|a| a.scan_state);
        match state {
            Some(ScanState::Clean) => return Ok(()),
            Some(ScanState::Pending) | None => {}
            Some(other) => anyhow::bail!("attachment ended {other}"),
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "scan did not finish");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The baseline: a bare axum handler that streams a multipart body's file field to disk.
async fn bare_server(dir: std::path::PathBuf) -> anyhow::Result<String> {
    std::fs::create_dir_all(&dir)?;
    let app = Router::new()
        .route(
            "/upload",
            post(move |mut multipart: axum::extract::Multipart| {
                let dir = dir.clone();
                async move {
                    let path = dir.join("upload");
                    let mut file = tokio::fs::File::create(&path).await.unwrap();
                    while let Some(mut field) = multipart.next_field().await.unwrap() {
                        while let Some(chunk) = field.chunk().await.unwrap() {
                            file.write_all(&chunk).await.unwrap();
                        }
                    }
                    file.sync_all().await.unwrap();
                    Body::empty()
                }
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::disable());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/upload", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// `hdms-server` as a child process.
struct ServerProcess {
    url: String,
    child: Child,
}

impl ServerProcess {
    async fn start(work: &std::path::Path, clamd: &str) -> anyhow::Result<ServerProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(env!("CARGO_BIN_EXE_hdms-server"))
            .env("HDMS_BIND", format!("127.0.0.1:{port}"))
            .env("HDMS_DATA_DIR", work.join("server"))
            .env("HDMS_CLAMD", clamd)
            .env("HDMS_ADMIN_EMAIL", EMAIL)
            .env("HDMS_ADMIN_PASSWORD", PASSWORD)
            .env("HDMS_JWT_SECRET", "bench-secret-bench-secret-bench-secret-01")
            .env("HDMS_ATTACHMENT_MAX_BYTES", (200 * 1024 * 1024).to_string())
            .env("HDMS_SCAN_POLL_MS", "500")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = ServerProcess { url: format!("http://127.0.0.1:{port}"), child };
        let http = reqwest::Client::new();
        let started = Instant::now();
        while !http.get(format!("{}/healthz", server.url)).send().await.is_ok_and(|r| r.status().is_success()) {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "hdms-server did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(server)
    }

    fn status_kib(&self, field: &str) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status.lines().find(|l| l.starts_with(field)).ok_or_else(|| anyhow::anyhow!("no {field}"))?;
        Ok(line.split_whitespace().nth(1).unwrap_or("0").parse()?)
    }

    fn rss_kib(&self) -> anyhow::Result<u64> {
        self.status_kib("VmRSS:")
    }

    fn peak_kib(&self) -> anyhow::Result<u64> {
        self.status_kib("VmHWM:")
    }

    /// Resets VmHWM to the current RSS (Linux: "5" > clear_refs).
    fn reset_peak(&self) -> anyhow::Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5")?;
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
