//! The real `hdms` binary against a real server: login and its storage, profiles, environment
//! overrides, token refresh, every command group's happy path and main error, output formats,
//! exit codes, completions and the man page.

mod common;

use common::{ADMIN_EMAIL, ADMIN_PASSWORD, Cli, TestServer, run_command};

fn ids(run: &common::Run) -> Vec<String> {
    run.stdout.lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_falls_back_to_a_private_file_without_a_keyring() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    cli.run(&["whoami"], "").failure(4);

    let login = cli.run(&["login", "--email", ADMIN_EMAIL, "--password-stdin"], &format!("{ADMIN_PASSWORD}\n")).success();
    assert!(login.stderr.contains("no usable keyring"), "it says so: {login:#?}");
    let path = cli.credentials_path();
    assert!(login.stderr.contains(&path.display().to_string()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(saved.contains("refresh_token"));

    let whoami = cli.run(&["whoami", "-o", "json"], "").success();
    assert_eq!(whoami.json()["email"], ADMIN_EMAIL);
    let table = cli.run(&["whoami", "-o", "table"], "").success();
    assert!(table.stdout.contains(&format!("{ADMIN_EMAIL} (admin) on {}", server.url)), "{table:#?}");

    cli.run(&["logout"], "").success();
    assert!(!std::fs::read_to_string(&path).unwrap().contains("refresh_token"), "the tokens are gone");
    let after = cli.run(&["whoami"], "").failure(4);
    assert!(after.stderr.contains("not logged in"), "{after:#?}");

    let wrong = cli.run(&["login", "--email", ADMIN_EMAIL, "--password-stdin"], "not the password\n").failure(4);
    assert!(wrong.stderr.starts_with("hdms: invalid_credentials: "), "{wrong:#?}");
}

/// The Secret Service path, for real: a D-Bus session with Debian's gnome-keyring unlocked in
/// it (`.ci/run` installs both). The token must land in the keyring and not in a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_keeps_the_token_in_the_os_keyring() {
    for tool in ["dbus-run-session", "gnome-keyring-daemon", "secret-tool"] {
        let found = std::process::Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap();
        assert!(found.status.success(), "{tool} is needed for this test: run .ci/run (it installs dbus, gnome-keyring, libsecret-tools)");
    }
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    let script = r#"set -e
printf 'unlock-password' | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
printf '%s\n' "$ADMIN_PASSWORD" | "$HDMS" login --email "$ADMIN_EMAIL" --password-stdin
"$HDMS" whoami -o json > "$OUT/whoami.json"
secret-tool lookup service hdms username default > "$OUT/secret.json"
"$HDMS" logout
if secret-tool lookup service hdms username default; then echo "still in the keyring"; exit 1; fi
"#;
    let out = tempfile::tempdir().unwrap();
    let mut command = cli.std_command();
    command
        .env("HDMS", common::hdms_path())
        .env("ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("OUT", out.path())
        // The keyring's files go to a fresh home, not the user's.
        .env("HOME", out.path())
        .env("XDG_DATA_HOME", out.path().join("data"));
    let mut dbus = assert_cmd::Command::new("dbus-run-session");
    dbus.args(["--", "sh", "-c", script]);
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => dbus.env(key, value),
            None => dbus.env_remove(key),
        };
    }
    let run = run_command(dbus);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stderr.contains("token kept in the OS keyring"), "{run:#?}");
    assert!(!run.stderr.contains("no usable keyring"), "{run:#?}");
    assert!(!cli.credentials_path().exists(), "nothing was written to the fallback file");
    let whoami: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("whoami.json")).unwrap()).unwrap();
    assert_eq!(whoami["email"], ADMIN_EMAIL);
    let secret: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("secret.json")).unwrap()).unwrap();
    assert!(secret["refresh_token"].is_string(), "the keyring holds the session: {secret}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_and_environment_overrides() {
    let first = TestServer::start().await;
    let second = TestServer::start().await;
    let cli = Cli::new(&first);
    cli.login_admin();
    let mut login_second = cli.command();
    login_second
        .env_remove("HDMS_SERVER")
        .args(["--server", &second.url, "--profile", "second", "login", "--email", ADMIN_EMAIL, "--password-stdin"])
        .write_stdin(format!("{ADMIN_PASSWORD}\n"));
    run_command(login_second).success();

    // Without HDMS_SERVER each profile talks to its own server.
    let whoami = |profile: &str| {
        let mut command = cli.command();
        command.env_remove("HDMS_SERVER").args(["--profile", profile, "whoami", "-o", "table"]);
        run_command(command).success().stdout
    };
    assert!(whoami("default").contains(&first.url));
    assert!(whoami("second").contains(&second.url));

    // HDMS_TOKEN works with no login at all; a bad one is exit 4 with the server's code.
    let token = cli.run(&["tokens", "create", "script", "-o", "json"], "").success().json()["secret"].as_str().unwrap().to_owned();
    let stateless = Cli::new(&first);
    let mut with_token = stateless.command();
    with_token.env("HDMS_TOKEN", &token).args(["whoami", "-o", "json"]);
    assert_eq!(run_command(with_token).success().json()["email"], ADMIN_EMAIL);
    let mut bad_token = stateless.command();
    bad_token.env("HDMS_TOKEN", "hdms_pat_nope").args(["users", "list"]);
    let refused = run_command(bad_token).failure(4);
    assert!(refused.stderr.contains("invalid_token") && refused.stderr.contains("HDMS_TOKEN was refused"), "{refused:#?}");

    // A server that is not there: failure, one line.
    let mut nowhere = cli.command();
    nowhere.env("HDMS_SERVER", "http://127.0.0.1:9").args(["whoami"]);
    let unreachable = run_command(nowhere).failure(1);
    assert!(unreachable.stderr.starts_with("hdms: cannot reach the server"), "{unreachable:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_refresh_transparently_and_an_ended_session_says_so_once() {
    // Access tokens that live 2 seconds: every command finds its token about to expire.
    let server = TestServer::start_with(|config| config.access_token_ttl_secs = 2).await;
    let cli = Cli::new(&server);
    cli.login_admin();
    let before: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(cli.credentials_path()).unwrap()).unwrap();
    cli.run(&["users", "list", "-o", "json"], "").success();
    let after: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(cli.credentials_path()).unwrap()).unwrap();
    assert_ne!(before["default"]["refresh_token"], after["default"]["refresh_token"], "the session was refreshed and saved");

    // Someone else uses the saved refresh token: the server revokes the session, and the next
    // command says, once, to log in again.
    let stolen = after["default"]["refresh_token"].as_str().unwrap().to_owned();
    let client = hdms_api_types::client::Client::new(&server.url).unwrap();
    client.refresh(&stolen).await.unwrap();
    let ended = cli.run(&["users", "list"], "").failure(4);
    assert_eq!(ended.stderr.lines().count(), 1, "{ended:#?}");
    assert!(ended.stderr.contains("has expired; run `hdms login` again"), "{ended:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_commands() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    cli.login_admin();

    let created = cli
        .run(&["users", "create", "--email", "Ada@Example.com", "--name", "Ada", "--role", "Agent", "--phone", "+14155552671", "-o", "json"], "")
        .success()
        .json();
    assert_eq!((created["email"].as_str(), created["role"].as_str()), (Some("ada@example.com"), Some("agent")));
    let id = created["id"].as_str().unwrap().to_owned();
    let invalid = cli.run(&["users", "create", "--email", "nope", "--name", "X", "--role", "agent"], "").failure(3);
    assert_eq!(invalid.stderr, "hdms: validation_failed: 'nope' is not a valid email address (field email)\n");
    let taken = cli.run(&["users", "create", "--email", "ada@example.com", "--name", "X", "--role", "agent"], "").failure(1);
    assert!(taken.stderr.starts_with("hdms: email_taken: "), "{taken:#?}");
    cli.run(&["users", "create", "--email", "x@example.com", "--name", "X", "--role", "wizard"], "").failure(2);

    let shown = cli.run(&["users", "show", "ada@example.com", "-o", "json"], "").success().json();
    assert_eq!(shown["id"], id.as_str());
    cli.run(&["users", "show", "nobody@example.com"], "").failure(1);
    let updated = cli.run(&["users", "update", &id, "--name", "Ada King", "--clear-phone", "-o", "json"], "").success().json();
    assert_eq!(updated["name"], "Ada King");
    assert!(updated.get("phone").is_none());

    // Filters, formats and pipes.
    let spreadsheet_trap = "=HYPERLINK(\"http://evil\",\"x\")";
    cli.run(&["users", "create", "--email", "eve@example.com", "--name", spreadsheet_trap, "--role", "customer"], "").success();
    let agents = cli.run(&["users", "list", "--role", "agent", "-o", "json"], "").success().json();
    assert_eq!(agents.as_array().unwrap().len(), 1);
    let csv = cli.run(&["users", "list", "-o", "csv"], "").success().stdout;
    assert!(csv.starts_with("id,email,name,role,phone,locale,external_id,active,created_at,updated_at,deleted_at,last_login_at\n"), "{csv}");
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\""), "the formula is neutralised: {csv}");
    let table = cli.run(&["users", "list", "-q", "eve", "-o", "table"], "").success().stdout;
    assert!(table.contains("eve@example.com") && !table.contains("ada@example.com"), "{table}");

    let customers = cli.run(&["users", "list", "--role", "customer", "--ids"], "").success();
    assert_eq!(ids(&customers).len(), 1);
    cli.run(&["users", "delete", "-"], &customers.stdout).success();
    let deleted = cli.run(&["users", "list", "--deleted", "--ids"], "").success();
    assert_eq!(ids(&deleted), ids(&customers));
    let restored = cli.run(&["users", "restore", "-", "-o", "json"], &deleted.stdout).success().json();
    assert_eq!(restored[0]["email"], "eve@example.com");
    cli.run(&["users", "restore", &id], "").failure(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_and_tokens_commands() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    cli.login_admin();
    let ada = cli.run(&["users", "create", "--email", "ada@example.com", "--name", "Ada", "--role", "agent", "--ids"], "").success();

    let team = cli.run(&["teams", "create", "Support", "--description", "first line", "-o", "json"], "").success().json();
    let team_id = team["id"].as_str().unwrap().to_owned();
    let duplicate = cli.run(&["teams", "create", "support"], "").failure(1);
    assert!(duplicate.stderr.starts_with("hdms: team_name_taken: "), "{duplicate:#?}");
    let joined = cli.run(&["teams", "add-member", "support", "-", "-o", "json"], &ada.stdout).success().json();
    assert_eq!(joined["members"][0].as_str(), Some(ada.stdout.trim()));
    let members = cli.run(&["users", "list", "--team", "Support", "--ids"], "").success();
    assert_eq!(ids(&members), ids(&ada));
    let left = cli.run(&["teams", "remove-member", &team_id, "ada@example.com", "-o", "json"], "").success().json();
    assert_eq!(left["members"].as_array().unwrap().len(), 0);
    let renamed = cli.run(&["teams", "update", "Support", "--name", "Tier 1", "-o", "json"], "").success().json();
    assert_eq!(renamed["name"], "Tier 1");
    assert_eq!(cli.run(&["teams", "list", "-o", "json"], "").success().json().as_array().unwrap().len(), 1);
    cli.run(&["teams", "show", "Tier 1", "--ids"], "").success();
    cli.run(&["teams", "show", "Nope"], "").failure(1);
    cli.run(&["teams", "delete", "Tier 1"], "").success();
    assert_eq!(cli.run(&["teams", "list", "--deleted", "--ids"], "").success().stdout.trim(), team_id);
    cli.run(&["teams", "restore", &team_id], "").success();
    cli.run(&["teams", "restore", "not-an-id"], "").failure(2);

    let created = cli.run(&["tokens", "create", "nightly", "--expires-in-days", "7", "-o", "json"], "").success().json();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("hdms_pat_"));
    let listed = cli.run(&["tokens", "list", "-o", "json"], "").success().json();
    assert_eq!(listed[0]["name"], "nightly");
    assert!(listed[0].get("secret").is_none(), "a list never shows secrets");
    let mut with_token = cli.command();
    with_token.env("HDMS_TOKEN", &secret).args(["users", "list", "--ids"]);
    run_command(with_token).success();
    cli.run(&["tokens", "revoke", created["id"].as_str().unwrap()], "").success();
    let mut revoked = cli.command();
    revoked.env("HDMS_TOKEN", &secret).args(["users", "list"]);
    run_command(revoked).failure(4);
    cli.run(&["tokens", "revoke", &team_id], "").failure(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_man_page_and_usage_errors() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    let bash = cli.run(&["completions", "bash"], "").success();
    assert!(bash.stdout.contains("_hdms()") && bash.stdout.contains("import"), "a bash completion function");
    let zsh = cli.run(&["completions", "zsh"], "").success();
    assert!(zsh.stdout.starts_with("#compdef hdms"));
    let man = cli.run(&["man"], "").success();
    assert!(man.stdout.contains(".TH hdms") && man.stdout.contains("users"), "{}", &man.stdout[..200.min(man.stdout.len())]);
    let help = cli.run(&["--help"], "").success();
    assert!(help.stdout.contains("Exit codes: 0 ok, 1 failure, 2 usage, 3 validation failed"));
    cli.run(&["users", "frobnicate"], "").failure(2);
    cli.run(&["users", "list", "--output", "yaml"], "").failure(2);
    cli.run(&["status"], "").success();
}

/// `hdms webhooks allow`: the admins' list of internal networks webhooks may reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_allow_list_add_remove() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    cli.login_admin();
    let empty = cli.run(&["webhooks", "allow", "list", "-o", "json"], "").success().json();
    assert_eq!(empty, serde_json::json!({"allow": [], "configured_allow": []}));
    let added = cli.run(&["webhooks", "allow", "add", "10.20.3.4/16", "192.168.5.10", "-o", "json"], "").success().json();
    assert_eq!(added["allow"], serde_json::json!(["10.20.0.0/16", "192.168.5.10/32"]));
    let table = cli.run(&["webhooks", "allow", "list", "-o", "table"], "").success();
    assert!(table.stdout.contains("10.20.0.0/16, 192.168.5.10/32"), "{table:#?}");
    let removed = cli.run(&["webhooks", "allow", "remove", "192.168.5.10", "-o", "json"], "").success().json();
    assert_eq!(removed["allow"], serde_json::json!(["10.20.0.0/16"]));
    let missing = cli.run(&["webhooks", "allow", "remove", "172.16.0.0/12"], "").failure(1);
    assert!(missing.stderr.contains("not on the list"), "{missing:#?}");
    let invalid = cli.run(&["webhooks", "allow", "add", "intranet"], "").failure(3);
    assert!(invalid.stderr.contains("not a network"), "{invalid:#?}");
}

/// `hdms rules`: from a JSON file on stdin and from flags, the table and JSON, a dry run that
/// changes nothing, turning off and on, deleting; the server's 422 for an unknown placeholder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_from_a_file_and_flags_and_a_dry_run() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    cli.login_admin();
    let ticket = cli.run(&["tickets", "create", "--subject", "Fire", "--description", "Smoke", "--priority", "urgent", "-o", "json"], "").success().json();
    let number = ticket["number"].as_str().unwrap().to_owned();

    let file = r#"{"name": "Urgent note", "trigger": {"on": "ticket_created"},
        "conditions": {"all": [{"field": "priority", "op": "is", "value": "urgent"}]},
        "actions": {"set": {"add_tags": ["hot"]}, "reply": {"body": "Seen {{ ticket.number }}", "internal": true}}}"#;
    let created = cli.run(&["rules", "create", "--file", "-", "-o", "json"], file).success().json();
    assert_eq!(created["name"], "Urgent note");
    let flagged = cli
        .run(&["rules", "create", "--name", "Stale", "--on", "time", "--when", "status is pending_customer", "--when", "in_status after 5d",
            "--actions", r#"{"transition": "resolved"}"#, "-o", "json"], "")
        .success()
        .json();
    assert_eq!(flagged["conditions"]["all"][1], serde_json::json!({"field": "in_status", "op": "after", "value": "5d"}));

    let table = cli.run(&["rules", "list", "-o", "table"], "").success();
    assert!(table.stdout.contains("Urgent note") && table.stdout.contains("priority is urgent") && table.stdout.contains("in_status after 5d"), "{table:#?}");

    let dry = cli.run(&["rules", "test", "Urgent note", "--ticket", &number, "-o", "json"], "").success().json();
    assert_eq!(dry["matched"][0]["number"], number.as_str());
    let human = cli.run(&["rules", "test", "Urgent note", "-o", "table"], "").success();
    assert!(human.stdout.contains("would act on 1") && human.stdout.contains("tags: hot") && human.stdout.contains("Seen HD-"), "{human:#?}");
    let after = cli.run(&["tickets", "show", &number, "-o", "json"], "").success().json();
    assert!(after["tags"].as_array().is_none_or(|tags| tags.is_empty()), "the dry run changed nothing: {after}");

    let off = cli.run(&["rules", "disable", "Stale", "-o", "json"], "").success().json();
    assert_eq!(off["enabled"], false);
    cli.run(&["rules", "update", "Stale", "--position", "9", "-o", "json"], "").success();
    assert_eq!(cli.run(&["rules", "show", "Stale", "-o", "json"], "").success().json()["position"], 9);
    cli.run(&["rules", "delete", "Stale"], "").success();
    cli.run(&["rules", "show", "Stale"], "").failure(1);

    let bad = cli.run(&["rules", "create", "--name", "Bad", "--on", "ticket_created", "--actions", r#"{"reply": {"body": "{{ ticket.owner }}"}}"#], "").failure(3);
    assert!(bad.stderr.contains("ticket.owner"), "{bad:#?}");
    cli.run(&["rules", "create", "--name", "Bad", "--on", "never", "--actions", "{}"], "").failure(2);
}
