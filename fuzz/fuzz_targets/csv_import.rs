//! The bulk user import (`POST /users/import`, text/csv) on any bytes.
//!
//! Input: a line of query options (as sent: `dry_run=true&on_conflict=update&team=…`, any
//! text), then the file. The body arrives in 1 to 5 chunks (by the options line's length), so a
//! byte order mark or a record split across chunks is read too.
//!
//! Properties: never a 5xx (reader, header and row checks, duplicate search and writer, dry run
//! or not); an answered import accounts for every row it read exactly once.

#![no_main]

use axum::body::{Body, Bytes};
use axum::http::{Method, header};
use hdms_api_types::import::ImportReport;
use hdms_fuzz::{desk, first_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let desk = desk();
    let (options, csv) = first_line(data);
    // The options as a query string, with what a URI cannot hold escaped.
    let options: String = String::from_utf8_lossy(options)
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '#' { c.to_string() } else { hdms_fuzz::query_escape(&c.to_string()) })
        .collect();
    let uri = format!("/api/v1/users/import?{options}");
    let pieces = options.len() % 5 + 1;
    let size = csv.len().div_ceil(pieces).max(1);
    let chunks: Vec<Result<Bytes, std::io::Error>> = csv.chunks(size).map(|chunk| Ok(Bytes::copy_from_slice(chunk))).collect();
    let body = Body::from_stream(futures::stream::iter(chunks));
    let Ok(request) = desk.request(Method::POST, &uri, Some(&desk.admin)).header(header::CONTENT_TYPE, "text/csv").body(body) else {
        return; // not a URI any client could send
    };
    let answer = desk.send(request);
    answer.assert_no_server_error(&(&uri, String::from_utf8_lossy(csv)));
    if answer.status.is_success() {
        let report: ImportReport = serde_json::from_slice(&answer.body).expect("an import report");
        let settled = report.created + report.updated + report.skipped + report.failed;
        assert_eq!(settled, report.rows, "rows read and rows settled differ: {report:?}");
    }
});
