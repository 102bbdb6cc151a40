//! `hdms users import FILE.csv`: streams the file to the server and prints its report.
//!
//! On a terminal a progress bar shows bytes and lines sent, rate and ETA; in a pipe nothing but
//! the report is printed. The exit code is 3 when any row was refused.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use hdms_api_types::import::{ImportQuery, ImportReport, RowError};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::AsyncRead;
use tokio_util::io::ReaderStream;

use crate::cli::ImportArgs;
use crate::exit::{CliError, CliResult};
use crate::output::{Column, Format, Output, Record, render_table, write_csv};
use hdms_api_types::credentials::Session;

pub async fn run(session: Session, output: Output, args: ImportArgs) -> CliResult {
    let query = ImportQuery {
        dry_run: args.dry_run.then_some(true),
        on_conflict: Some(args.on_conflict),
        team: args.team.clone(),
        send_invites: args.send_invites.then_some(true),
        print_invites: args.print_invites.then_some(true),
    };
    let from_stdin = args.file.as_os_str() == "-";
    let length = if from_stdin {
        None
    } else {
        let metadata = tokio::fs::metadata(&args.file)
            .await
            .map_err(|err| CliError::usage(format!("cannot read {}: {err}", args.file.display())))?;
        Some(metadata.len())
    };
    let progress = Progress::start(length);
    // The body cannot be replayed, so the session is refreshed before the upload, not after a
    // refusal (a refresh costs nothing when the token is still fresh).
    session.me().await?;
    let body = if from_stdin {
        progress.body(tokio::io::stdin())
    } else {
        let file = tokio::fs::File::open(&args.file)
            .await
            .map_err(|err| CliError::usage(format!("cannot open {}: {err}", args.file.display())))?;
        progress.body(file)
    };
    let result = session.client().import_users(&query, body, length).await;
    progress.finish();
    let report = result.map_err(CliError::from)?;
    print_report(&report, &output)?;
    if report.failed > 0 {
        return Err(CliError::validation(format!(
            "{} of {} rows were refused{}",
            report.failed,
            report.rows,
            if report.dry_run { " (dry run: nothing was changed)" } else { "" }
        )));
    }
    Ok(())
}

/// The progress bar, drawn on stderr only when stderr is a terminal.
struct Progress {
    bar: Option<ProgressBar>,
    lines: Arc<AtomicU64>,
}

impl Progress {
    fn start(length: Option<u64>) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match length {
                Some(length) => ProgressBar::new(length),
                None => ProgressBar::no_length(),
            };
            let style = ProgressStyle::with_template(
                "{spinner} [{bar:30}] {bytes}/{total_bytes} {msg} {binary_bytes_per_sec} ETA {eta}",
            )
            .expect("the template is valid")
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar, lines: Arc::new(AtomicU64::new(0)) }
    }

    /// The request body: the reader's bytes as they are read, counted on the way.
    fn body(&self, reader: impl AsyncRead + Send + 'static) -> reqwest::Body {
        let bar = self.bar.clone();
        let lines = self.lines.clone();
        let stream = ReaderStream::with_capacity(reader, 64 * 1024).inspect(move |chunk| {
            if let (Some(bar), Ok(bytes)) = (&bar, chunk) {
                // Lines, not rows: a quoted field may hold a line break. Close enough for a bar.
                let sent = lines.fetch_add(count_newlines(bytes), Ordering::Relaxed) + count_newlines(bytes);
                bar.inc(bytes.len() as u64);
                bar.set_message(format!("{sent} lines"));
            }
        });
        reqwest::Body::wrap_stream(stream)
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

impl Record for ImportReport {
    const FIELDS: &'static [&'static str] = &[
        "dry_run", "rows", "created", "updated", "skipped", "failed", "errors", "errors_omitted", "invitations",
        "invitations_sent", "invitations_unsent",
    ];

    /// A report has no id of its own.
    fn id(&self) -> String {
        String::new()
    }
}

fn print_report(report: &ImportReport, output: &Output) -> CliResult {
    match output.format {
        Format::Json => print!("{}", output.machine(std::slice::from_ref(report), true)?.unwrap_or_default()),
        Format::Csv if output.fields.is_some() => print!("{}", output.machine(std::slice::from_ref(report), true)?.unwrap_or_default()),
        Format::Csv => {
            let rows = report.errors.iter().map(error_cells);
            write_csv(&mut std::io::stdout().lock(), &["line", "column", "code", "message"], rows)?;
        }
        Format::Table => {
            let mode = if report.dry_run { "Dry run (nothing changed): would have " } else { "" };
            println!(
                "{mode}{} rows read: {} created, {} updated, {} skipped, {} refused",
                report.rows, report.created, report.updated, report.skipped, report.failed
            );
            if !report.errors.is_empty() {
                let columns = [Column::number("line"), Column::whole("column"), Column::whole("code"), Column::shrink("message", 16)];
                let rows: Vec<_> = report.errors.iter().map(|error| error_cells(error).into_iter().map(Into::into).collect()).collect();
                println!("{}", render_table(&columns, &rows, &output.layout));
            }
            if report.errors_omitted > 0 {
                println!("… and {} more problems not listed", report.errors_omitted);
            }
            if report.invitations_sent > 0 {
                println!("{} invitations sent by SMS", report.invitations_sent);
            }
            if report.invitations_unsent > 0 {
                println!(
                    "{} users have no phone number to send an invitation to: import again with --print-invites to hand theirs out",
                    report.invitations_unsent
                );
            }
            if !report.invitations.is_empty() {
                // Tokens are never cut: a cut token is no token.
                let columns = [Column::shrink("email", 12), Column::whole("invitation token"), Column::whole("expires")];
                let rows: Vec<_> = report
                    .invitations
                    .iter()
                    .map(|invitation| {
                        let expires = crate::output::human::moment(invitation.expires_at, &output.layout);
                        vec![invitation.email.as_str().into(), invitation.token.as_str().into(), expires.into()]
                    })
                    .collect();
                println!("Invitations (each works once: `hdms accept-invite TOKEN`):\n{}", render_table(&columns, &rows, &output.layout));
            }
        }
    }
    Ok(())
}

fn error_cells(error: &RowError) -> Vec<String> {
    let code = serde_json::to_value(error.code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    vec![error.line.to_string(), error.column.clone().unwrap_or_default(), code, error.message.clone()]
}
