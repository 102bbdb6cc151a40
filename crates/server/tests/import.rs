//! Bulk CSV user import and invitations, on both backends: the report of a messy file, dry runs,
//! idempotent reruns, conflicts, header errors, limits, invitations and interrupted uploads.

mod common;

use common::{Backend, TestServer, assert_api_error};
use hdms_api_types::Role;
use hdms_api_types::client::{Client, ClientError};
use hdms_api_types::import::{ImportQuery, ImportReport, OnConflict, RowErrorCode};
use hdms_api_types::teams::CreateTeam;
use hdms_api_types::users::{User, UserListQuery};

async fn import(client: &Client, query: &ImportQuery, csv: impl Into<Vec<u8>>) -> Result<ImportReport, ClientError> {
    let csv = csv.into();
    let length = csv.len() as u64;
    client.import_users(query, csv, Some(length)).await
}

async fn all_users(client: &Client) -> Vec<User> {
    let mut users = Vec::new();
    let mut query = UserListQuery { limit: Some(500), ..Default::default() };
    loop {
        let page = client.list_users(&query).await.unwrap();
        users.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return users,
        }
    }
}

fn by_email<'a>(users: &'a [User], email: &str) -> &'a User {
    users.iter().find(|user| user.email == email).unwrap_or_else(|| panic!("{email} was imported"))
}

/// BOM, CRLF, quotes, a quoted comma, a quoted newline, non-ASCII names, a duplicate, and one row
/// for each kind of problem (one with two).
fn messy_file() -> Vec<u8> {
    let mut csv = Vec::new();
    csv.extend_from_slice(b"\xEF\xBB\xBF");
    csv.extend_from_slice(
        "Email,NAME,Role,phone,team,Locale,external_id\r\n\
         ada@example.com,Ada Lovelace,agent,+14155552671,Support,en-GB,E1\r\n\
         \"BOB@Example.com \",\"Bob \"\"The Builder\"\" Smith\",Supervisor,,,fr_ca,E2\r\n\
         zoe@example.com,\"Zoë\r\nØrsted\",customer,,,,\r\n\
         not-an-email,Nobody,agent,,,,\r\n\
         carol@example.com,Carol,wizard,,,,\r\n\
         dave@example.com,Dave,agent,12345,Nowhere,,\r\n\
         ada@example.com,Ada Again,agent,,,,\r\n\
         ,Eve,agent,,,,\r\n\
         frank@example.com,Frank\r\n"
            .as_bytes(),
    );
    csv.extend_from_slice(b"grace@example.com,Gr\xFF\xFEce,agent,,,,\r\n");
    csv.extend_from_slice("henry@example.com,\"Ørsted, Henrik\",ADMIN,,support,,\r\n".as_bytes());
    csv
}

async fn messy_file_gets_the_exact_report(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let team = admin.create_team(&CreateTeam { name: "Support".into(), description: None }).await.unwrap();

    let report = import(&admin, &ImportQuery::default(), messy_file()).await.unwrap();
    let problems: Vec<(u64, Option<&str>, RowErrorCode)> =
        report.errors.iter().map(|e| (e.line, e.column.as_deref(), e.code)).collect();
    assert_eq!(
        problems,
        vec![
            (4, Some("name"), RowErrorCode::BadName),
            (6, Some("email"), RowErrorCode::BadEmail),
            (7, Some("role"), RowErrorCode::UnknownRole),
            (8, Some("phone"), RowErrorCode::PhoneNotE164),
            (8, Some("team"), RowErrorCode::UnknownTeam),
            (9, Some("email"), RowErrorCode::DuplicateInFile),
            (10, Some("email"), RowErrorCode::MissingField),
            (11, None, RowErrorCode::WrongFieldCount),
            (12, Some("name"), RowErrorCode::InvalidUtf8),
        ],
        "{report:#?}"
    );
    let messages: Vec<&str> = report.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages[0], "must not contain control characters");
    assert_eq!(messages[1], "'not-an-email' is not a valid email address");
    assert_eq!(messages[2], "unknown role 'wizard' (expected customer, agent, supervisor or admin)");
    assert_eq!(messages[4], "there is no team 'Nowhere'");
    assert_eq!(messages[5], "'ada@example.com' is also on line 2; each user may appear once");
    assert_eq!(messages[6], "email is required");
    assert_eq!(messages[7], "has 2 fields but the header has 7");
    assert_eq!(
        (report.dry_run, report.rows, report.created, report.updated, report.skipped, report.failed, report.errors_omitted),
        (false, 11, 3, 0, 0, 8, 0)
    );

    let users = all_users(&admin).await;
    assert_eq!(users.len(), 4, "the admin and the three good rows, nothing else: {users:#?}");
    let ada = by_email(&users, "ada@example.com");
    assert_eq!((ada.name.as_str(), ada.role, ada.phone.as_deref()), ("Ada Lovelace", Role::Agent, Some("+14155552671")));
    assert_eq!((ada.locale.as_deref(), ada.external_id.as_deref()), (Some("en-GB"), Some("E1")));
    let bob = by_email(&users, "bob@example.com");
    assert_eq!((bob.name.as_str(), bob.role, bob.locale.as_deref()), ("Bob \"The Builder\" Smith", Role::Supervisor, Some("fr-CA")));
    let henry = by_email(&users, "henry@example.com");
    assert_eq!((henry.name.as_str(), henry.role), ("Ørsted, Henrik", Role::Admin));
    let members = admin.get_team(team.id).await.unwrap().members;
    assert_eq!(members.len(), 2);
    assert!(members.contains(&ada.id) && members.contains(&henry.id));

    // The same file again: nothing new, the same problems, no duplicates.
    let rerun = import(&admin, &ImportQuery::default(), messy_file()).await.unwrap();
    assert_eq!((rerun.created, rerun.skipped, rerun.failed), (0, 3, 8));
    assert_eq!(rerun.errors, report.errors);
    assert_eq!(all_users(&admin).await.len(), 4);
}

async fn dry_run_changes_nothing_and_counts_truly(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    admin.create_team(&CreateTeam { name: "Support".into(), description: None }).await.unwrap();
    let before = all_users(&admin).await;

    let dry = ImportQuery { dry_run: Some(true), print_invites: Some(true), ..Default::default() };
    let report = import(&admin, &dry, messy_file()).await.unwrap();
    assert!(report.dry_run);
    assert_eq!((report.created, report.failed), (3, 8));
    assert!(report.invitations.is_empty(), "a dry run stores no invitation, so it shows none");
    assert_eq!(all_users(&admin).await, before);

    let real = import(&admin, &ImportQuery::default(), messy_file()).await.unwrap();
    assert_eq!((real.rows, real.created, real.skipped, real.failed), (report.rows, report.created, report.skipped, report.failed));
    assert_eq!(real.errors, report.errors);
}

async fn conflicts_skip_update_or_fail(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let first = "email,name,role\nada@example.com,Ada,agent\nbob@example.com,Bob,agent\n";
    assert_eq!(import(&admin, &ImportQuery::default(), first).await.unwrap().created, 2);

    let changed = "email,name,role,locale\nADA@example.com,Ada King,supervisor,de\nbob@example.com,Bob,agent,\ncat@example.com,Cat,customer,\n";
    let skip = import(&admin, &ImportQuery::default(), changed).await.unwrap();
    assert_eq!((skip.created, skip.updated, skip.skipped, skip.failed), (1, 0, 2, 0));
    assert_eq!(by_email(&all_users(&admin).await, "ada@example.com").name, "Ada");

    let update = ImportQuery { on_conflict: Some(OnConflict::Update), ..Default::default() };
    let updated = import(&admin, &update, changed).await.unwrap();
    assert_eq!((updated.created, updated.updated, updated.skipped), (0, 1, 2), "bob and cat already match");
    let ada = by_email(&all_users(&admin).await, "ada@example.com").clone();
    assert_eq!((ada.name.as_str(), ada.role, ada.locale.as_deref()), ("Ada King", Role::Supervisor, Some("de")));

    let fail = ImportQuery { on_conflict: Some(OnConflict::Fail), ..Default::default() };
    let failed = import(&admin, &fail, "email,name,role\nada@example.com,Ada,agent\ndan@example.com,Dan,agent\n").await.unwrap();
    assert_eq!((failed.created, failed.failed), (1, 1));
    assert_eq!(failed.errors[0].code, RowErrorCode::EmailTaken);
    assert_eq!(failed.errors[0].line, 2);

    // An import never demotes an admin, whatever the file says.
    let demote = import(&admin, &update, "email,name,role\nadmin@example.com,Administrator,agent\n").await.unwrap();
    assert_eq!(demote.errors[0].code, RowErrorCode::AdminRoleLocked);
    assert_eq!(by_email(&all_users(&admin).await, "admin@example.com").role, Role::Admin);
}

async fn unusable_requests_are_refused_before_writing(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.import_max_bytes = 1000).await;
    let admin = server.admin().await;
    let query = ImportQuery::default();
    let header_error = |result: Result<ImportReport, ClientError>, expected: &str| match result {
        Err(ClientError::Api { status, body }) => {
            assert_eq!((status.as_u16(), body.error.field.as_deref()), (422, Some("header")));
            assert!(body.error.message.starts_with(expected), "{}", body.error.message);
        }
        other => panic!("expected a header error, got {other:?}"),
    };
    header_error(import(&admin, &query, "email,name,role,shoe_size,Dept\n").await, "unknown columns: shoe_size, dept");
    header_error(import(&admin, &query, "email,name\na@example.com,A\n").await, "missing columns: role");
    header_error(import(&admin, &query, "").await, "the file is empty");
    assert_api_error(
        import(&admin, &ImportQuery { team: Some("Nope".into()), ..Default::default() }, "email,name,role\n").await,
        422,
        "validation_failed",
    );
    let big = format!("email,name,role\n{}", "someone@example.com,Someone,agent\n".repeat(40));
    assert_api_error(import(&admin, &query, big.clone()).await, 413, "payload_too_large");
    // Without a declared length (chunked), the limit still holds as the bytes arrive.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big.as_bytes().chunks(100).map(|c| Ok(c.to_vec())).collect();
    let streamed = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    assert_api_error(admin.import_users(&query, streamed, None).await, 413, "payload_too_large");
    let json = server
        .http()
        .post(format!("{}/api/v1/users/import", server.url))
        .bearer_auth(admin.token().unwrap())
        .json(&serde_json::json!({"email": "a@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status().as_u16(), 415);
    let (agent, _) = server.user(Role::Agent).await;
    assert_api_error(import(&agent, &query, "email,name,role\n").await, 403, "forbidden");
    assert_eq!(all_users(&admin).await.len(), 2, "the admin and the agent only");
}

async fn invitations_set_a_password_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let team = admin.create_team(&CreateTeam { name: "Field".into(), description: None }).await.unwrap();
    let invite = ImportQuery { print_invites: Some(true), team: Some("field".into()), ..Default::default() };
    let csv = "email,name,role\nada@example.com,Ada,agent\ncat@example.com,Cat,customer\n";
    let report = import(&admin, &invite, csv).await.unwrap();
    assert_eq!(report.invitations.len(), 2);
    let ada = report.invitations.iter().find(|i| i.email == "ada@example.com").unwrap().clone();
    assert!(ada.token.starts_with("hdms_inv_"));
    // The import-wide team takes the agents; customers do not join teams.
    assert_eq!(admin.get_team(team.id).await.unwrap().members, vec![ada.user_id]);

    // No password yet: logging in fails until the invitation is used.
    assert_api_error(server.anonymous().login("ada@example.com", "a brand new password").await, 401, "invalid_credentials");
    assert_api_error(server.anonymous().accept_invite(&ada.token, "short").await, 422, "validation_failed");
    let accepted = server.anonymous().accept_invite(&ada.token, "a brand new password").await.unwrap();
    assert_eq!(accepted.id, ada.user_id);
    server.anonymous().login("ada@example.com", "a brand new password").await.unwrap();
    assert_api_error(server.anonymous().accept_invite(&ada.token, "another new password").await, 401, "invalid_invite");
    assert_api_error(server.anonymous().accept_invite("hdms_inv_forged", "another new password").await, 401, "invalid_invite");

    // A rerun reissues invitations to those who still have no password (their first one may have
    // been lost with an interrupted run), and to no one else.
    let rerun = import(&admin, &invite, csv).await.unwrap();
    assert_eq!((rerun.created, rerun.skipped), (0, 2));
    let emails: Vec<&str> = rerun.invitations.iter().map(|i| i.email.as_str()).collect();
    assert_eq!(emails, vec!["cat@example.com"]);
    let old_cat = report.invitations.iter().find(|i| i.email == "cat@example.com").unwrap();
    assert_api_error(server.anonymous().accept_invite(&old_cat.token, "cat's new password").await, 401, "invalid_invite");
    server.anonymous().accept_invite(&rerun.invitations[0].token, "cat's new password").await.unwrap();
}

fn generated_file(rows: usize) -> String {
    let mut csv = String::from("email,name,role\n");
    for n in 0..rows {
        csv.push_str(&format!("user{n}@example.com,User {n},customer\n"));
    }
    csv
}

async fn interrupted_upload_keeps_whole_chunks_and_a_rerun_completes(backend: Backend) {
    const ROWS: usize = 25_000;
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let csv = generated_file(ROWS);
    // The first 22,000 rows arrive, then the client's side fails mid-row.
    let cut = csv.match_indices('\n').nth(22_000).unwrap().0 - 5;
    let head = csv.as_bytes()[..cut].to_vec();
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = head
        .chunks(64 * 1024)
        .map(|c| Ok(c.to_vec()))
        .chain(std::iter::once(Err(std::io::Error::other("the client died"))))
        .collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(pieces));
    let cut_short = admin.import_users(&ImportQuery::default(), body, None).await;
    assert!(cut_short.is_err(), "{cut_short:?}");

    // Running the whole file again completes it; whatever the first run wrote is skipped.
    let rerun = import(&admin, &ImportQuery::default(), csv.clone()).await.unwrap();
    assert_eq!(rerun.created + rerun.skipped, ROWS as u64);
    assert_eq!(rerun.failed, 0);
    assert_eq!(rerun.skipped % 10_000, 0, "only whole transactions of 10,000 survive: {rerun:?}");
    let users = all_users(&admin).await;
    assert_eq!(users.len(), ROWS + 1);
    let mut emails: Vec<&str> = users.iter().map(|u| u.email.as_str()).collect();
    emails.sort_unstable();
    emails.dedup();
    assert_eq!(emails.len(), ROWS + 1, "no duplicates");

    let again = import(&admin, &ImportQuery::default(), csv).await.unwrap();
    assert_eq!((again.created, again.skipped), (0, ROWS as u64));
}

async fn large_report_caps_the_listed_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let csv = format!("email,name,role\n{}", "x,Nobody,agent\n".repeat(1_500));
    let report = import(&admin, &ImportQuery::default(), csv).await.unwrap();
    assert_eq!((report.rows, report.failed), (1_500, 1_500));
    assert_eq!((report.errors.len(), report.errors_omitted), (1_000, 500));
    assert_eq!((report.errors[0].line, report.errors[999].line), (2, 1_001));
}

/// Duplicates are found across the 10,000-row chunks the import works in, with the line of
/// the first occurrence, however far back; a refused row's email still counts as seen.
async fn duplicates_are_found_across_chunks(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let mut csv = generated_file(25_000);
    csv.push_str("user3@example.com,Again,agent\nuser24999@example.com,Again,agent\nlate@example.com,Late,wizard\nlate@example.com,Late,agent\n");
    let report = import(&admin, &ImportQuery { dry_run: Some(true), ..Default::default() }, csv.clone()).await.unwrap();
    let expected = |report: &ImportReport| {
        assert_eq!((report.rows, report.created, report.failed), (25_004, 25_000, 4), "{:?}", report.errors);
        let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [25_002, 25_003, 25_004, 25_005]);
        let duplicate = |i: usize, message: &str| {
            assert_eq!(serde_json::to_value(report.errors[i].code).unwrap(), "duplicate_in_file");
            assert_eq!(report.errors[i].message, message);
        };
        duplicate(0, "'user3@example.com' is also on line 5; each user may appear once");
        duplicate(1, "'user24999@example.com' is also on line 25001; each user may appear once");
        assert_eq!(serde_json::to_value(report.errors[2].code).unwrap(), "unknown_role");
        duplicate(3, "'late@example.com' is also on line 25004; each user may appear once");
    };
    expected(&report);
    // The same again for real, on a connection that already served an import.
    expected(&import(&admin, &ImportQuery::default(), csv).await.unwrap());
}

/// (phone, body) of the text messages queued for a user.
async fn texts_to(server: &TestServer, user: uuid::Uuid) -> Vec<(String, String)> {
    const SQL: &str = "SELECT phone, body FROM sms_outbox WHERE user_id = $1 AND sensitive ORDER BY created_at, id";
    hdms_server::with_db!(&server.state.db, pool => sqlx::query_as(SQL).bind(user).fetch_all(pool).await.unwrap())
}

/// The invitation token in a text message.
fn token_in(text: &str) -> &str {
    text.split_whitespace().find(|word| word.starts_with("hdms_inv_")).expect("the message carries a token")
}

async fn invitations_are_sent_by_sms_to_users_with_a_phone(backend: Backend) {
    // The worker stays idle, so the queued messages can be read before it blanks them.
    let server = TestServer::start_with(backend, |config| config.sms_poll_ms = 3_600_000).await;
    let admin = server.admin().await;
    let send = ImportQuery { send_invites: Some(true), ..Default::default() };
    let csv = "email,name,role,phone\nada@example.com,Ada,agent,+14155552671\nbob@example.com,Bob,customer,\n";
    let dry = import(&admin, &ImportQuery { dry_run: Some(true), ..send.clone() }, csv).await.unwrap();
    assert_eq!((dry.invitations_sent, dry.invitations_unsent), (1, 1));

    let report = import(&admin, &send, csv).await.unwrap();
    assert_eq!((report.created, report.invitations_sent, report.invitations_unsent), (2, 1, 1));
    assert!(report.invitations.is_empty(), "tokens sent by SMS are not shown to the admin");
    let users = all_users(&admin).await;
    let (ada, bob) = (by_email(&users, "ada@example.com"), by_email(&users, "bob@example.com"));
    let texts = texts_to(&server, ada.id).await;
    assert_eq!(texts.len(), 1, "the dry run queued nothing");
    assert_eq!(texts[0].0, "+14155552671");
    assert!(texts_to(&server, bob.id).await.is_empty());
    server.anonymous().accept_invite(token_in(&texts[0].1), "ada's own password").await.unwrap();
    server.anonymous().login("ada@example.com", "ada's own password").await.unwrap();

    // Bob has no phone: a rerun that prints invitations gives him one, and sends nothing more.
    let rerun = import(&admin, &ImportQuery { print_invites: Some(true), ..send }, csv).await.unwrap();
    assert_eq!((rerun.skipped, rerun.invitations_sent, rerun.invitations_unsent), (2, 0, 0));
    let emails: Vec<&str> = rerun.invitations.iter().map(|i| i.email.as_str()).collect();
    assert_eq!(emails, ["bob@example.com"]);
    server.anonymous().accept_invite(&rerun.invitations[0].token, "bob's own password").await.unwrap();
    assert_eq!(texts_to(&server, ada.id).await.len(), 1);
}

backend_tests!(
    duplicates_are_found_across_chunks,
    messy_file_gets_the_exact_report,
    dry_run_changes_nothing_and_counts_truly,
    conflicts_skip_update_or_fail,
    unusable_requests_are_refused_before_writing,
    invitations_set_a_password_once,
    invitations_are_sent_by_sms_to_users_with_a_phone,
    interrupted_upload_keeps_whole_chunks_and_a_rerun_completes,
    large_report_caps_the_listed_errors,
);
