//! Full-text search over subjects, descriptions and comments: SQLite FTS5 (bm25) and
//! PostgreSQL full-text search (ts_rank), ranked, never matching internal notes for customers.

use hdms_api_types::Page;
use hdms_api_types::tickets::{Ticket, TicketListQuery};

use crate::db::{Bind, Db, DynamicSql};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::tickets::api;
use crate::tickets::crud::apply_filters;
use crate::tickets::store::{TicketRow, ticket_columns};
use crate::tickets::visibility::is_staff;
use crate::users::auth::AuthUser;
use crate::bind_all;

/// FTS5 reads its query as a little language (`AND`, `NEAR`, `col:`…): quote every word so
/// whatever a person types is searched as words, all of which must match.
pub fn fts5_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\""))
        .collect();
    // Only the `text` column: `owner` holds ticket ids for the write path (migration 0009).
    (!words.is_empty()).then(|| format!("text : ({})", words.join(" ")))
}

/// PostgreSQL's `websearch_to_tsquery` keeps pending operators on a stack of 32 and fails
/// ("tsquery stack too small", a 500) on a longer run of `-`, as in a pasted
/// `---------------------------------- Original Message` line. The same search rebuilt as
/// terms the function reads one operator at a time: words (a leading `-` run negates by its
/// parity), quoted phrases (an unclosed quote runs to the end, as PostgreSQL reads it) and
/// `or`, all kept; the characters it reads as operators or escapes, dropped. Empty when no
/// word is left.
pub fn websearch_text(text: &str) -> String {
    // Besides space: the operator characters tsquery skips, its escape, and both quotes (a
    // `'` inside a word would start a quoted lexeme).
    let separates = |c: char| c.is_whitespace() || c.is_control() || "!&|()<:\\'\"".contains(c);
    let mut terms: Vec<String> = Vec::new();
    // The `-` seen since the last term: they negate the next one, by their parity.
    let mut negations = 0usize;
    let negated = |negations: usize, term: String| if negations % 2 == 1 { format!("-{term}") } else { term };
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            let inner = &rest[1..];
            let (phrase, after) = inner.split_once('"').unwrap_or((inner, ""));
            // Inside quotes PostgreSQL skips `-`: only the words count.
            let words: Vec<&str> = phrase.split(separates).map(|w| w.trim_start_matches('-')).filter(|w| !w.is_empty()).collect();
            if !words.is_empty() {
                terms.push(negated(std::mem::take(&mut negations), format!("\"{}\"", words.join(" "))));
            }
            rest = after;
        } else if separates(c) {
            rest = &rest[c.len_utf8()..];
        } else {
            let end = rest.find(separates).unwrap_or(rest.len());
            let word = rest[..end].trim_start_matches('-');
            negations += end - word.len();
            if !word.is_empty() {
                terms.push(negated(std::mem::take(&mut negations), word.to_owned()));
            }
            rest = &rest[end..];
        }
    }
    terms.join(" ")
}

/// How many matching documents (subjects with descriptions, comments) are ranked: the newest
/// ones. Ranking costs a few microseconds per match, so a word in 5% of a million tickets took
/// half a second to rank in full (benches/tickets_scale.rs); a query with fewer matches is
/// ranked in full. Zendesk's search stops at 1,000 results for the same reason.
const RANKED_DOCUMENTS: i64 = 1_000;

/// One page of matches, best first, among the newest [`RANKED_DOCUMENTS`] matching documents.
/// The cursor is an offset: ranks move as tickets change, so no keyset is stable here.
pub async fn search(state: &AppState, caller: &AuthUser, query: &TicketListQuery, text: &str, limit: u32) -> Result<Page<Ticket>> {
    let offset = offset(query.cursor.as_deref())?;
    let Some(mut sql) = matching(state, caller, query, text, concat!("SELECT ", ticket_columns!("t.")))? else {
        return Ok(Page { items: Vec::new(), next_cursor: None });
    };
    sql.push(" ORDER BY s.score, t.id DESC LIMIT ").bind(Bind::Int(i64::from(limit) + 1));
    sql.push(" OFFSET ").bind(Bind::Int(offset));
    let mut rows: Vec<TicketRow> = crate::with_db!(&state.db, pool =>
        bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(sql.sql.clone())), &sql.binds).fetch_all(pool).await?);
    let next_cursor = (rows.len() > limit as usize).then(|| (offset + i64::from(limit)).to_string());
    rows.truncate(limit as usize);
    Ok(Page { items: api::tickets(&state.db, rows).await?, next_cursor })
}

/// The offset a search cursor stands for. Never negative: PostgreSQL refuses a negative
/// OFFSET (a 500 before), and a u32 keeps `offset + limit` from overflowing.
fn offset(cursor: Option<&str>) -> Result<i64> {
    match cursor {
        Some(cursor) => cursor
            .parse::<u32>()
            .map(i64::from)
            .map_err(|_| Error::invalid("cursor", "is not a cursor this server issued for this search")),
        None => Ok(0),
    }
}

/// How many tickets [`search`] pages through for this text and these filters (never more than
/// the tickets of [`RANKED_DOCUMENTS`] documents, so this is as quick as a page).
pub async fn count(state: &AppState, caller: &AuthUser, query: &TicketListQuery, text: &str) -> Result<u64> {
    let Some(sql) = matching(state, caller, query, text, "SELECT COUNT(*)")? else { return Ok(0) };
    let count: i64 = crate::with_db!(&state.db, pool =>
        bind_all!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql.sql.clone())), &sql.binds).fetch_one(pool).await?);
    Ok(count.max(0) as u64)
}

/// The matching tickets (`tickets t`, ranked by `s.score`) after `select`, filtered as the
/// queue is; `None` when the text has no word to search for.
fn matching(state: &AppState, caller: &AuthUser, query: &TicketListQuery, text: &str, select: &str) -> Result<Option<DynamicSql>> {
    let staff = is_staff(caller);
    let mut sql = DynamicSql::new(select);
    sql.push(" FROM tickets t JOIN ");
    match &state.db {
        Db::Sqlite(_) => {
            let Some(fts) = fts5_query(text) else { return Ok(None) };
            // The newest matching documents, ranked by bm25 (lower is better), best per ticket.
            sql.push("(SELECT ticket_id, MIN(score) AS score FROM (SELECT ticket_id, bm25(search_docs) AS score \
                      FROM search_docs WHERE search_docs MATCH ")
                .bind(Bind::Text(fts));
            if !staff {
                sql.push(" AND internal = 0");
            }
            sql.push(" ORDER BY rowid DESC LIMIT ").bind(Bind::Int(RANKED_DOCUMENTS));
            sql.push(") GROUP BY ticket_id) s ON s.ticket_id = t.id WHERE t.deleted_at IS NULL");
        }
        Db::Postgres(_) => {
            let text = websearch_text(text);
            if text.is_empty() {
                return Ok(None);
            }
            // ts_rank grows with relevance; negated so both backends sort ascending.
            sql.push("(SELECT ticket_id, -MAX(ts_rank(tsv, websearch_to_tsquery('english', ")
                .bind(Bind::Text(text.clone()))
                .push("))) AS score FROM (SELECT ticket_id, tsv FROM search_docs WHERE tsv @@ websearch_to_tsquery('english', ")
                .bind(Bind::Text(text))
                .push(")");
            if !staff {
                sql.push(" AND NOT internal");
            }
            sql.push(" ORDER BY id DESC LIMIT ").bind(Bind::Int(RANKED_DOCUMENTS));
            sql.push(") d GROUP BY ticket_id) s ON s.ticket_id = t.id WHERE t.deleted_at IS NULL");
        }
    }
    apply_filters(caller, query, &mut sql)?;
    Ok(Some(sql))
}

#[cfg(test)]
mod tests {
    use super::{fts5_query, offset, websearch_text};

    #[test]
    fn fts5_queries_quote_every_word() {
        assert_eq!(fts5_query("printer NOT working!").as_deref(), Some("text : (\"printer\" \"NOT\" \"working\")"));
        assert_eq!(fts5_query("col:secret OR \"x"), Some("text : (\"col\" \"secret\" \"OR\" \"x\")".to_owned()));
        assert_eq!(fts5_query("  -- "), None);
    }

    #[test]
    fn websearch_text_keeps_the_search_and_bounds_every_operator_run() {
        for same in ["printer broken", "printer -broken", "\"paper jam\" tray", "-\"paper jam\" tray", "vpn or wifi", "e-mail bob@example.com v1.2.3"] {
            assert_eq!(websearch_text(same), same);
        }
        assert_eq!(websearch_text("printer - broken"), "printer -broken");
        assert_eq!(websearch_text("--printer ---jam"), "printer -jam");
        assert_eq!(websearch_text("---------- Original Message ----------"), "Original Message");
        assert_eq!(websearch_text("x (-(-(-y) a:b"), "x -y a b");
        assert_eq!(websearch_text("\"a -b c\" \"unclosed quote"), "\"a b c\" \"unclosed quote\"");
        assert_eq!(websearch_text("  -- \"\" !&|"), "");
        // The fuzz finding (a 500 on PostgreSQL) and runs PostgreSQL refused.
        let finding = "0\u{fffd}\u{fffd}00\u{7f}\r-----------------------------------------------------\u{fffd}";
        assert_eq!(websearch_text(finding), "0\u{fffd}\u{fffd}00 -\u{fffd}", "53 dashes negate once");
        assert_eq!(websearch_text(&format!("x {}y", "-\"".repeat(40))), "x y");
        assert_eq!(websearch_text(&format!("x {}y", "- ".repeat(41))), "x -y");
    }

    /// `?q=printer&cursor=-1` was a 500 on PostgreSQL (replayed by the `search_query` fuzz target).
    #[test]
    fn search_cursors_are_never_negative() {
        assert_eq!(offset(None).unwrap(), 0);
        assert_eq!(offset(Some("50")).unwrap(), 50);
        for bad in ["-1", "-9223372036854775808", "9223372036854775807", "x", ""] {
            assert!(offset(Some(bad)).is_err(), "{bad:?} was taken");
        }
    }
}
