//! Keyset pagination: a list asks for `limit` rows after an opaque cursor that holds the
//! sort key and id of the last row seen. No OFFSET scans, no COUNT(*) per page.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// The position after which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort key of the last row (as text; empty when sorting by id).
    pub k: String,
    /// The id of the last row.
    pub id: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }
    pub fn decode(s: &str) -> Result<Cursor> {
        URL_SAFE_NO_PAD
            .decode(s)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| Error::validation("after", "error.cursor_invalid"))
    }
}

/// Page request, parsed from `limit` and `after`.
#[derive(Debug, Clone)]
pub struct PageReq {
    pub limit: i64,
    pub after: Option<Cursor>,
}

impl PageReq {
    pub fn parse(limit: Option<i64>, after: Option<&str>) -> Result<PageReq> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::validation("limit", "error.limit_range"));
        }
        let after = match after.filter(|s| !s.is_empty()) {
            Some(s) => Some(Cursor::decode(s)?),
            None => None,
        };
        Ok(PageReq { limit, after })
    }
    pub fn first(limit: i64) -> PageReq {
        PageReq { limit, after: None }
    }
}

/// One page of results and the cursor of the next one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> Cursor) -> Page<T> {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        let next = if more { rows.last().map(key) } else { None };
        Page { items: rows, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_garbage() {
        let c = Cursor { k: "Dupont".into(), id: 42 };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("%%%").is_err());
        assert!(PageReq::parse(Some(0), None).is_err());
        assert!(PageReq::parse(Some(501), None).is_err());
    }

    #[test]
    fn page_from_rows() {
        let p = Page::from_rows(vec![1, 2, 3], 2, |x| Cursor { k: String::new(), id: *x });
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(p.next.unwrap().id, 2);
        let p = Page::from_rows(vec![1, 2], 2, |x| Cursor { k: String::new(), id: *x });
        assert!(p.next.is_none());
    }
}
