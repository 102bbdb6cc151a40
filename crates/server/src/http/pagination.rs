//! Cursor pagination over UUIDv7 keys: ids are time-ordered, so "after this id" is a stable
//! cursor that neither skips nor repeats rows when others are inserted meanwhile.

use hdms_api_types::Page;
use uuid::Uuid;

use crate::error::{Error, Result};

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 500;

pub fn page_limit(limit: Option<u32>) -> Result<u32> {
    match limit.unwrap_or(DEFAULT_PAGE_SIZE) {
        limit @ 1..=MAX_PAGE_SIZE => Ok(limit),
        _ => Err(Error::invalid("limit", format!("must be between 1 and {MAX_PAGE_SIZE}"))),
    }
}

pub struct Cursor;

impl Cursor {
    /// The id to continue after, from the `cursor` query parameter.
    pub fn parse(cursor: Option<&str>) -> Result<Option<Uuid>> {
        cursor
            .map(|text| {
                Uuid::parse_str(text).map_err(|_| Error::invalid("cursor", "is not a cursor this server issued"))
            })
            .transpose()
    }

    /// Builds a page from up to `limit + 1` rows: the extra row only says another page exists.
    pub fn page<R, T>(mut rows: Vec<R>, limit: u32, id: impl Fn(&R) -> Uuid, into: impl Fn(R) -> T) -> Page<T> {
        let limit = limit as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|row| id(row).to_string())
        } else {
            None
        };
        Page { items: rows.into_iter().map(into).collect(), next_cursor }
    }
}
