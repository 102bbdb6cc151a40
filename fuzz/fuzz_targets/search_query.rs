//! Search text and every other filter of the ticket queue, as anyone may type them.
//!
//! Input: a line naming who searches (`admin`, `gent`, `customer`; `count` anywhere in it asks
//! `GET /tickets/count`), a line of search text, then `filter=value` lines (any filter name).
//!
//! Properties: the FTS5 query the server makes from any text is one SQLite accepts (run against
//! the real `search_docs` table); PostgreSQL's `websearch_to_tsquery` takes the text the server
//! makes from any text (it refused 32 `-` in a row: "tsquery stack too small"); `GET
//! /tickets` and `GET /tickets/count` with that `q` and filters, as any role, never answer 5xx
//! and never take long (a query whose cost explodes on a database of two tickets).

#![no_main]

use std::time::Instant;

use axum::body::Body;
use axum::http::Method;
use hdms_fuzz::{SLOW, desk, first_line, query_escape, role_of};
use hdms_server::db::Db;
use hdms_server::tickets::search::{fts5_query, websearch_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let desk = desk();
    let (who, rest) = first_line(data);
    let (text, filters) = first_line(rest);
    let text = String::from_utf8_lossy(text);
    match &desk.state.db {
        Db::Sqlite(pool) => {
            if let Some(fts) = fts5_query(&text) {
                let run = desk.runtime.block_on(
                    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM search_docs WHERE search_docs MATCH $1").bind(&fts).fetch_one(pool),
                );
                if let Err(err) = run {
                    panic!("FTS5 refused the query {fts:?} made from {text:?}: {err}");
                }
            }
        }
        // NUL is refused before the query (a 422 through the API).
        Db::Postgres(pool) if !text.contains('\0') => {
            let websearch = websearch_text(&text);
            let run = desk.runtime.block_on(
                sqlx::query_scalar::<_, String>("SELECT websearch_to_tsquery('english', $1)::text").bind(&websearch).fetch_one(pool),
            );
            if let Err(err) = run {
                panic!("websearch_to_tsquery refused {websearch:?} made from {text:?}: {err}");
            }
        }
        Db::Postgres(_) => {}
    }

    let count = who.windows(5).any(|w| w == b"count");
    let mut uri = format!("/api/v1/tickets{}?q={}", if count { "/count" } else { "" }, query_escape(&text));
    for line in filters.split(|&b| b == b'\n').take(8) {
        let line = String::from_utf8_lossy(line);
        let (name, value) = line.split_once('=').unwrap_or((&line, ""));
        uri.push_str(&format!("&{}={}", query_escape(name), query_escape(value)));
    }
    let request = desk.request(Method::GET, &uri, Some(desk.person(role_of(who)))).body(Body::empty()).expect("request");
    let started = Instant::now();
    let answer = desk.send(request);
    let took = started.elapsed();
    answer.assert_no_server_error(&uri);
    assert!(took < SLOW, "{uri} took {took:?}");
});
