//! Bulk import throughput and memory: generated users imported by the real `hdms` binary into a
//! real server (embedded SQLite), beside `sqlite3 .import` loading the same file into a plain
//! table in the same run (these machines are noisy, so the ratio is the figure that matters).
//!
//! `cargo bench -p hdms-cli --bench import` (needs the `sqlite3` command; `.ci/run` installs it).
//! A second yardstick shows how much of the gap is the table itself: the sqlite3 shell loading
//! the same file into hdms's own `users` table (its primary key and unique email index), through
//! a staging table, in one transaction: about the fastest SQLite itself stores these rows there.
//!
//! Sizes: HDMS_BENCH_ROWS (default 100000), a fifth of it and three times it, to show memory
//! does not grow with the file.
//!
//! Memory: the client is the `hdms` process (its VmHWM, sampled from /proc until it exits); the
//! server runs inside this process, idle but for the import, so its figure is the growth of this
//! process's peak RSS (VmHWM, reset through /proc/self/clear_refs before each import) over its
//! RSS just before.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hdms_api_types::client::Client;
use hdms_api_types::tokens::CreateApiToken;
use hdms_server::config::Config;
use tokio::net::TcpListener;

// The server's allocator (see its main.rs): the server runs in this process.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "bench password 123";

struct Figures {
    rows: usize,
    hdms_secs: f64,
    sqlite_secs: f64,
    schema_secs: f64,
    client_peak_kib: u64,
    server_growth_kib: u64,
}

fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::var("HDMS_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let hdms = Path::new(env!("CARGO_BIN_EXE_hdms"));
    anyhow::ensure!(
        Command::new("sqlite3").arg("-version").output().is_ok_and(|o| o.status.success()),
        "the sqlite3 command is needed (apt-get install sqlite3)"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut report = Vec::new();
    for size in [rows / 5, rows, rows * 3] {
        report.push(measure(&runtime, hdms, size)?);
    }

    println!("\nhdms users import against sqlite3 .import of the same file (SQLite, loopback)");
    println!(
        "{:>8} {:>9} {:>12} {:>15} {:>8} {:>19} {:>8} {:>16} {:>18}",
        "rows",
        "hdms s",
        "hdms rows/s",
        ".import rows/s",
        "ratio",
        "into users rows/s",
        "ratio",
        "client peak MiB",
        "server growth MiB"
    );
    for f in &report {
        let ours = f.rows as f64 / f.hdms_secs;
        let plain = f.rows as f64 / f.sqlite_secs;
        let schema = f.rows as f64 / f.schema_secs;
        println!(
            "{:>8} {:>9.2} {:>12.0} {:>15.0} {:>7.2}x {:>19.0} {:>7.2}x {:>16.1} {:>18.1}",
            f.rows,
            f.hdms_secs,
            ours,
            plain,
            ours / plain,
            schema,
            ours / schema,
            f.client_peak_kib as f64 / 1024.0,
            f.server_growth_kib as f64 / 1024.0
        );
    }
    Ok(())
}

fn measure(runtime: &tokio::runtime::Runtime, hdms: &Path, rows: usize) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("users.csv");
    write_users(&csv, rows)?;

    // The same file into a plain table, by the sqlite3 shell: the yardstick.
    let plain = dir.path().join("plain.sqlite3");
    Command::new("sqlite3")
        .arg(&plain)
        .arg("CREATE TABLE users (email TEXT, name TEXT, role TEXT, locale TEXT, external_id TEXT);")
        .status()?;
    let started = Instant::now();
    let status = Command::new("sqlite3")
        .arg(&plain)
        .arg(format!(".import --csv --skip 1 {} users", csv.display()))
        .status()?;
    let sqlite_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "sqlite3 .import failed");

    // The real server, in this process, on its own data directory.
    let (url, token) = runtime.block_on(async {
        let mut config = Config::defaults().without_rate_limits();
        config.data_dir = dir.path().join("server");
        config.admin_email = Some(EMAIL.to_owned());
        config.admin_password = Some(PASSWORD.to_owned());
        config.log_format = hdms_server::config::LogFormat::Json;
        let started = hdms_server::start(config).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(hdms_server::serve(listener, started.state, std::future::pending()));
        let client = Client::new(&url)?;
        client.login(EMAIL, PASSWORD).await?;
        let token = client.create_token(&CreateApiToken { name: "bench".into(), expires_in_days: None, scope: None }).await?.secret;
        anyhow::Ok((url, token))
    })?;

    let baseline_kib = own_status("VmRSS")?;
    reset_own_peak()?;
    let started = Instant::now();
    let mut child = Command::new(hdms)
        .args(["users", "import"])
        .arg(&csv)
        .args(["-o", "json"])
        .env("HDMS_SERVER", &url)
        .env("HDMS_TOKEN", &token)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut client_peak_kib = 0;
    let status = loop {
        if let Some(peak) = std::fs::read_to_string(&status_path).ok().and_then(|s| field_kib(&s, "VmHWM")) {
            client_peak_kib = client_peak_kib.max(peak);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let hdms_secs = started.elapsed().as_secs_f64();
    let server_growth_kib = own_status("VmHWM")?.saturating_sub(baseline_kib);
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("piped"), &mut answer)?;
    anyhow::ensure!(status.success(), "hdms users import failed: {answer}");
    let report: serde_json::Value = serde_json::from_str(&answer)?;
    anyhow::ensure!(report["created"] == rows, "every row is created: {report}");
    let schema_secs = load_into_users_table(dir.path(), &csv)?;
    Ok(Figures { rows, hdms_secs, sqlite_secs, schema_secs, client_peak_kib, server_growth_kib })
}

/// Seconds the sqlite3 shell takes to load the file into an empty copy of hdms's `users` table
/// (schema read from the server's database), ids in ascending order like UUIDv7s. In the shell's
/// default rollback-journal mode: in WAL mode the shell would also copy every page back into the
/// database when it exits, which hdms leaves to its checkpointer, after the import.
fn load_into_users_table(dir: &Path, csv: &Path) -> anyhow::Result<f64> {
    let server_db = dir.join("server").join("hdms.sqlite3");
    let schema = Command::new("sqlite3").arg(&server_db).arg(".schema users").output()?;
    anyhow::ensure!(schema.status.success(), "cannot read the users schema");
    let copy = dir.join("users-schema.sqlite3");
    let status = Command::new("sqlite3")
        .arg(&copy)
        .arg(String::from_utf8(schema.stdout)?)
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "cannot create the users table copy");
    let load = format!(
        "CREATE TEMP TABLE staging (email TEXT, name TEXT, role TEXT, locale TEXT, external_id TEXT);\n\
         .import --csv --skip 1 {} staging\n\
         INSERT INTO users (id, email, name, role, locale, external_id, active, created_at, updated_at) \
         SELECT CAST(printf('%016d', rowid) AS BLOB), email, name, role, locale, external_id, 1, \
         '2026-11-25T00:00:00.000000Z', '2026-11-25T00:00:00.000000Z' FROM staging;\n",
        csv.display()
    );
    let started = Instant::now();
    let mut shell = Command::new("sqlite3").arg(&copy).stdin(Stdio::piped()).spawn()?;
    shell.stdin.take().expect("piped").write_all(load.as_bytes())?;
    anyhow::ensure!(shell.wait()?.success(), "sqlite3 could not load the users table copy");
    Ok(started.elapsed().as_secs_f64())
}

/// Users as an HR export would have them: a few columns, some quoted.
fn write_users(path: &Path, rows: usize) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "email,name,role,locale,external_id")?;
    let roles = ["customer", "customer", "customer", "agent", "supervisor"];
    let locales = ["en-GB", "fr-FR", "de", "pt-BR", "en-US"];
    for n in 0..rows {
        writeln!(
            out,
            "user{n}@example.com,\"Surname{n}, Given{n}\",{},{},HR-{n:07}",
            roles[n % roles.len()],
            locales[n % locales.len()]
        )?;
    }
    out.flush()?;
    Ok(())
}

fn field_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn own_status(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    field_kib(&status, field).ok_or_else(|| anyhow::anyhow!("no {field} in /proc/self/status"))
}

/// Resets this process's peak RSS (VmHWM) to its current RSS (Linux: `clear_refs` value 5).
fn reset_own_peak() -> anyhow::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")?;
    Ok(())
}
