//! The files in `deploy/` are valid for the tools that read them (`systemd-analyze verify`,
//! `nginx -t`, a YAML parser for the compose file), and the server binary runs the way the
//! systemd unit starts it, with the documented environment: it reports its version and schema,
//! backs itself up while serving, and a restored copy serves the same data.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const BINARY: &str = env!("CARGO_BIN_EXE_hdms-server");

fn deploy_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy").join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(deploy_file(name)).unwrap_or_else(|err| panic!("deploy/{name}: {err}"))
}

#[track_caller]
fn run_ok(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|err| panic!("cannot run {command:?} (.ci/run installs it): {err}"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{command:?} failed:\n{text}");
    text
}

/// The unit's `ExecStart` arguments.
fn unit_arguments() -> Vec<String> {
    let unit = read("hdms.service");
    let exec = unit.lines().find_map(|line| line.strip_prefix("ExecStart=")).expect("the unit has ExecStart");
    let mut words = exec.split_whitespace().map(str::to_owned);
    assert_eq!(words.next().as_deref(), Some("/usr/local/bin/hdms-server"));
    words.collect()
}

/// The variables `hdms.env` sets (its uncommented lines).
fn documented_environment() -> Vec<(String, String)> {
    read("hdms.env")
        .lines()
        .filter(|line| !line.trim_start().starts_with('#') && line.contains('='))
        .map(|line| {
            let (name, value) = line.split_once('=').unwrap();
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect()
}

#[test]
fn the_systemd_unit_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let unit = read("hdms.service").replace("/usr/local/bin/hdms-server", BINARY);
    let path = dir.path().join("hdms.service");
    std::fs::write(&path, unit).unwrap();
    let output = run_ok(Command::new("systemd-analyze").arg("verify").arg(&path));
    assert!(!output.contains("Unknown key") && !output.contains("Unknown section"), "{output}");
    let unit = read("hdms.service");
    for hardening in ["DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "StateDirectory=hdms"] {
        assert!(unit.contains(hardening), "the unit sets {hardening:?}");
    }
}

#[test]
fn the_proxy_configuration_passes_nginx_t() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("hdms");
    std::fs::create_dir_all(etc.join("tls")).unwrap();
    run_ok(Command::new("openssl").args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]).args([
        "-keyout".as_ref(),
        etc.join("tls/key.pem").as_os_str(),
        "-out".as_ref(),
        etc.join("tls/cert.pem").as_os_str(),
    ]));
    for (name, upstreams) in [("nginx-local.conf", "upstreams.conf"), ("nginx-compose.conf", "upstreams-compose.conf")] {
        let conf_dir = dir.path().join(name);
        std::fs::create_dir_all(&conf_dir).unwrap();
        std::fs::copy(deploy_file(upstreams), conf_dir.join("upstreams.conf")).unwrap();
        std::fs::create_dir_all(conf_dir.join("tls")).unwrap();
        for file in ["tls/key.pem", "tls/cert.pem"] {
            std::fs::copy(etc.join(file), conf_dir.join(file)).unwrap();
        }
        let conf = read("nginx.conf").replace("/etc/hdms/", &format!("{}/", conf_dir.display()));
        std::fs::write(conf_dir.join("nginx.conf"), conf).unwrap();
        // Compose's upstream names resolve only inside compose's network; nginx -t resolves
        // them, so they are checked for syntax with local addresses instead.
        if upstreams.contains("compose") {
            let local = std::fs::read_to_string(conf_dir.join("upstreams.conf")).unwrap().replace("hdms-1", "127.0.0.1").replace("hdms-2", "127.0.0.2");
            std::fs::write(conf_dir.join("upstreams.conf"), local).unwrap();
        }
        let pid = format!("pid {}/nginx.pid; error_log stderr;", conf_dir.display());
        let output = run_ok(Command::new("nginx").arg("-t").arg("-c").arg(conf_dir.join("nginx.conf")).args(["-g", &pid]));
        assert!(output.contains("test is successful"), "{output}");
    }
    let conf = read("nginx.conf");
    for needed in ["proxy_set_header Upgrade $http_upgrade", "proxy_set_header X-Real-IP $remote_addr", "ssl_certificate"] {
        assert!(conf.contains(needed), "the proxy configuration has {needed:?}");
    }
    assert!(documented_environment().contains(&("HDMS_CLIENT_IP_HEADER".to_owned(), "X-Real-IP".to_owned())));
}

#[test]
fn the_compose_file_and_dockerfile_are_sound() {
    let check = "import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); s = d['services']; \
                 assert {'postgres', 'clamd', 'hdms-1', 'hdms-2', 'proxy'} <= set(s), s.keys(); \
                 assert s['hdms-2']['environment']['HDMS_DATABASE_URL'].startswith('postgres://')";
    run_ok(Command::new("python3").args(["-c", check]).arg(deploy_file("compose.yaml")));
    let dockerfile = read("Dockerfile");
    let user = dockerfile.lines().filter_map(|l| l.strip_prefix("USER ")).next_back().expect("the image names its user");
    assert_ne!(user.trim(), "root");
    assert!(dockerfile.contains("FROM debian:bookworm-slim"), "the run-time image is the slim one");
}

/// A server process started with the unit's arguments (bind address and data directory moved
/// into the test's own) and the documented environment.
struct Served {
    child: Child,
    url: String,
    /// Every log line so far.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data_dir: &Path) -> (Served, std::time::Duration) {
    serve_with(data_dir, &[])
}

fn serve_with(data_dir: &Path, extra_env: &[(&str, &str)]) -> (Served, std::time::Duration) {
    let arguments: Vec<String> = unit_arguments()
        .into_iter()
        .map(|arg| match arg.as_str() {
            "127.0.0.1:8080" => "127.0.0.1:0".to_owned(),
            "/var/lib/hdms" => data_dir.display().to_string(),
            _ => arg,
        })
        .collect();
    let started = Instant::now();
    let mut child = Command::new(BINARY)
        .args(&arguments)
        .envs(documented_environment())
        .env("HDMS_ADMIN_EMAIL", "admin@example.com")
        .env("HDMS_ADMIN_PASSWORD", "correct horse battery staple")
        .env("HDMS_UNSCANNED_POLICY", "allow")
        .envs(extra_env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The unit logs JSON; the line that says it listens names the address.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let address = loop {
        let line = lines.next().expect("the server logs that it listens").unwrap();
        log.lock().unwrap().push(line.clone());
        if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line)
            && entry["message"] == "hdms-server listening"
        {
            break entry["address"].as_str().unwrap().to_owned();
        }
    };
    let ready_after = started.elapsed();
    // Keep reading the log so the server never blocks on a full pipe.
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    (Served { child, url: format!("http://{address}"), log }, ready_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_as_the_unit_starts_it_and_backs_up_and_restores() {
    let version = run_ok(Command::new(BINARY).arg("--version"));
    assert_eq!(version.trim(), format!("hdms-server {}", hdms_server::VERSION));
    assert!(version.contains("(schema "), "{version}");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (served, first_start) = serve(&data);
    let http = reqwest::Client::new();
    let health: serde_json::Value = http.get(format!("{}/healthz", served.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["schema_version"], hdms_server::SCHEMA_VERSION);

    let client = hdms_api_types::client::Client::new(&served.url).unwrap();
    client.login("admin@example.com", "correct horse battery staple").await.unwrap();
    let ticket = client
        .create_ticket(&hdms_api_types::tickets::CreateTicket {
            subject: "Kept across a restore".into(),
            description: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    client.upload_attachment(ticket.id, "kept.txt", Some("text/plain"), b"kept bytes").await.unwrap();

    // The documented backup command, run beside the serving process.
    let backup = dir.path().join("hdms.backup");
    run_ok(Command::new(BINARY).args(["--data-dir"]).arg(&data).arg("backup").arg(&backup));
    drop(served);

    // A restart on the existing database, then the restored copy.
    let (served, second_start) = serve(&data);
    drop(served);
    let restored = dir.path().join("restored");
    run_ok(Command::new(BINARY).args(["--data-dir"]).arg(&restored).arg("restore").arg(&backup));
    let (served, _) = serve(&restored);
    let client = hdms_api_types::client::Client::new(&served.url).unwrap();
    client.login("admin@example.com", "correct horse battery staple").await.unwrap();
    let back = client.get_ticket(ticket.id).await.unwrap();
    assert_eq!(back.subject, "Kept across a restore");
    let attachments = client.list_attachments(ticket.id).await.unwrap();
    assert_eq!(attachments.len(), 1);
    // Startup time is reported, not asserted (timing is for benches): the first start creates
    // the database and hashes the admin's password, a restart only opens it.
    eprintln!("hdms-server ready after {first_start:?} on a new data directory, {second_start:?} on an existing one");
}

/// A run that used every kind of secret (an admin password, access, refresh and API tokens, an
/// SMS login code, S3 keys, an SMTP password) logs none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log() {
    const S3_KEY_ID: &str = "AKIAHDMSTESTKEYID0001";
    const S3_SECRET: &str = "s3-secret-access-key-never-logged-0001";
    const SMTP_PASSWORD: &str = "smtp-password-never-logged-0001";
    let dir = tempfile::tempdir().unwrap();
    let (served, _) = serve_with(
        &dir.path().join("data"),
        &[
            ("HDMS_STORAGE", "s3"),
            ("HDMS_S3_BUCKET", "hdms-files"),
            ("HDMS_S3_ENDPOINT", "http://127.0.0.1:9"),
            ("HDMS_S3_ACCESS_KEY_ID", S3_KEY_ID),
            ("HDMS_S3_SECRET_ACCESS_KEY", S3_SECRET),
            ("HDMS_SMS_POLL_MS", "50"),
        ],
    );
    let client = hdms_api_types::client::Client::new(&served.url).unwrap();
    let login = client.login("admin@example.com", "correct horse battery staple").await.unwrap();
    let refreshed = client.refresh(&login.refresh_token).await.unwrap();
    let pat = client.create_token(&hdms_api_types::tokens::CreateApiToken { name: "t".into(), expires_in_days: None, scope: None }).await.unwrap();
    let user_password = "another long enough password";
    client
        .create_user(&hdms_api_types::users::CreateUser {
            email: "phone@example.com".into(),
            name: "Phone".into(),
            role: hdms_api_types::Role::Agent,
            phone: Some("+14155550123".into()),
            password: Some(user_password.into()),
        })
        .await
        .unwrap();
    let agent = hdms_api_types::client::Client::new(&served.url).unwrap();
    agent.login("phone@example.com", user_password).await.unwrap();
    agent.start_phone_verification().await.unwrap();
    let http = reqwest::Client::new();
    let smtp = serde_json::json!({"host": "127.0.0.1", "port": 9, "security": "plain", "username": "hdms",
        "password": SMTP_PASSWORD, "from_address": "desk@example.com", "acknowledge_new_tickets": false});
    let answer = http.put(format!("{}/api/v1/mail/smtp", served.url)).bearer_auth(&pat.secret).json(&smtp).send().await.unwrap();
    assert!(answer.status().is_success(), "{}", answer.text().await.unwrap());
    // Requests that carry the tokens, so a request log would have them if it logged headers.
    for token in [&refreshed.access_token, &pat.secret] {
        http.get(format!("{}/api/v1/users/me", served.url)).bearer_auth(token).send().await.unwrap();
    }
    // Wait (boundedly) for the SMS worker to have "sent" the code through the log provider.
    let mut sms_line = None;
    for _ in 0..200 {
        sms_line = served.log.lock().unwrap().iter().find(|l| l.contains("SMS (log provider")).cloned();
        if sms_line.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let sms_line = sms_line.expect("the code went out through the log provider");
    let entry: serde_json::Value = serde_json::from_str(&sms_line).unwrap();
    assert_eq!(entry["text"], "[sensitive text not logged]", "{sms_line}");
    let log = served.log.lock().unwrap().join("\n");
    for secret in [
        "correct horse battery staple",
        user_password,
        &login.access_token,
        &login.refresh_token,
        &refreshed.access_token,
        &refreshed.refresh_token,
        &pat.secret,
        S3_KEY_ID,
        S3_SECRET,
        SMTP_PASSWORD,
    ] {
        assert!(!log.contains(secret), "the log holds a secret ({}…)", &secret[..6]);
    }
}
