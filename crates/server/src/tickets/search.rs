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
            // ts_rank grows with relevance; negated so both backends sort ascending.
            sql.push("(SELECT ticket_id, -MAX(ts_rank(tsv, websearch_to_tsquery('english', ")
                .bind(Bind::Text(text.to_owned()))
                .push("))) AS score FROM (SELECT ticket_id, tsv FROM search_docs WHERE tsv @@ websearch_to_tsquery('english', ")
                .bind(Bind::Text(text.to_owned()))
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
    use super::{fts5_query, offset};

    #[test]
    fn fts5_queries_quote_every_word() {
        assert_eq!(fts5_query("printer NOT working!").as_deref(), Some("text : (\"printer\" \"NOT\" \"working\")"));
        assert_eq!(fts5_query("col:secret OR \"x"), Some("text : (\"col\" \"secret\" \"OR\" \"x\")".to_owned()));
        assert_eq!(fts5_query("  -- "), None);
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
