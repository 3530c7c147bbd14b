//! Keyset pagination: a list asks for `limit` rows after (or before) an opaque cursor that
//! holds the sort key and id of the row at the edge of the page seen. No OFFSET scans, no
//! COUNT(*) of the whole result: the count a list shows is capped ([`count_capped`]).
//!
//! A list sorts by one of the keys it declares ([`SortKey`]: a code, a non-null SQL
//! expression, its kind), either way ([`Sort`]); [`keyset`] adds the cursor condition, the
//! order and the limit to a query, [`Keyed`] reads each row with its key, and
//! [`Page::keyed`] turns the rows into a page with its next and previous cursors.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::sql::Sql;
use crate::error::{Error, Result};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// A position in a list: the sort key and id of a row, and that row's index in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort key of the row (as text; empty when sorting by id).
    pub k: String,
    /// The id of the row.
    pub id: i64,
    /// The row's index in the whole list (0-based), for "51–100"; 0 when unknown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub n: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }
    pub fn decode(s: &str) -> Result<Cursor> {
        Self::decode_as(s, "after")
    }
    fn decode_as(s: &str, field: &str) -> Result<Cursor> {
        URL_SAFE_NO_PAD
            .decode(s)
            .ok()
            .and_then(|b| serde_json::from_slice::<Cursor>(&b).ok())
            .filter(|c| c.n >= 0)
            .ok_or_else(|| Error::validation(field, "error.cursor_invalid"))
    }
}

/// Which way a page is read from its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// The rows after the cursor (the next page).
    After,
    /// The rows before the cursor (the previous page).
    Before,
}

/// Page request, parsed from `limit` and `after` or `before`.
#[derive(Debug, Clone)]
pub struct PageReq {
    pub limit: i64,
    /// The cursor and which side of it the page is.
    pub at: Option<(Cursor, Dir)>,
}

impl PageReq {
    pub fn parse(limit: Option<i64>, after: Option<&str>) -> Result<PageReq> {
        Self::parse_both(limit, after, None)
    }
    /// `after` reads the next page, `before` the previous one (not both).
    pub fn parse_both(limit: Option<i64>, after: Option<&str>, before: Option<&str>) -> Result<PageReq> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::validation("limit", "error.limit_range"));
        }
        let at = match (after.filter(|s| !s.is_empty()), before.filter(|s| !s.is_empty())) {
            (Some(_), Some(_)) => return Err(Error::validation("before", "error.after_and_before")),
            (Some(s), None) => Some((Cursor::decode_as(s, "after")?, Dir::After)),
            (None, Some(s)) => Some((Cursor::decode_as(s, "before")?, Dir::Before)),
            (None, None) => None,
        };
        Ok(PageReq { limit, at })
    }
    pub fn first(limit: i64) -> PageReq {
        PageReq { limit, at: None }
    }
    pub fn after(limit: i64, c: Cursor) -> PageReq {
        PageReq { limit, at: Some((c, Dir::After)) }
    }
    /// The cursor the next page starts after (lists that only read forward).
    pub fn after_cursor(&self) -> Option<&Cursor> {
        match &self.at {
            Some((c, Dir::After)) => Some(c),
            _ => None,
        }
    }
    /// Whether the rows are read backwards (the previous page).
    pub fn backwards(&self) -> bool {
        matches!(self.at, Some((_, Dir::Before)))
    }
}

/// One page of results, the cursors of the pages around it and the index of its first row.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
    pub prev: Option<Cursor>,
    /// The index of the first item in the whole list (0-based).
    pub first: i64,
}

impl<T> Page<T> {
    /// Builds a forward-only page from `limit + 1` fetched rows.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> Cursor) -> Page<T> {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        let next = if more { rows.last().map(key) } else { None };
        Page { items: rows, next, prev: None, first: 0 }
    }

    /// Builds a page from the `limit + 1` rows a [`keyset`] query fetched (in reverse order
    /// when reading backwards): the next cursor is the last row's, the previous the first's.
    pub fn keyed(rows: Vec<Keyed<T>>, page: &PageReq, id: impl Fn(&T) -> i64) -> Page<T> {
        let limit = page.limit.max(0);
        let mut rows = rows;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let back = page.backwards();
        if back {
            rows.reverse();
        }
        // Index of the first row: right after the cursor, or `limit` rows before it (never
        // below 0; a page read backwards that reaches the start begins at 0).
        let first = match &page.at {
            None => 0,
            Some((c, Dir::After)) => c.n + 1,
            Some((c, Dir::Before)) if more => (c.n - rows.len() as i64).max(1),
            Some((_, Dir::Before)) => 0,
        };
        let cursor = |i: usize, r: &Keyed<T>| Cursor { k: r.key.clone(), id: id(&r.row), n: first + i as i64 };
        let n = rows.len();
        let last = rows.last().map(|r| cursor(n - 1, r));
        let head = rows.first().map(|r| cursor(0, r));
        let (has_next, has_prev) = match &page.at {
            None => (more, false),
            Some((_, Dir::After)) => (more, true),
            Some((_, Dir::Before)) => (true, more),
        };
        Page {
            items: rows.into_iter().map(|r| r.row).collect(),
            next: if has_next { last } else { None },
            prev: if has_prev { head } else { None },
            first,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next: self.next, prev: self.prev, first: self.first }
    }
}

/// The type of a sort key's values, for binding the cursor's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Text,
    Int,
}

/// A way a list can be sorted: `code` in the query string (`sort=code`, `sort=-code` for
/// descending), `expr` a SQL expression that is never NULL (wrap nullable columns in
/// `COALESCE`), and the kind of its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub code: &'static str,
    pub expr: &'static str,
    pub kind: KeyKind,
    /// The direction a click on the column header first sorts by.
    pub desc_first: bool,
}

impl SortKey {
    pub const fn text(code: &'static str, expr: &'static str) -> SortKey {
        SortKey { code, expr, kind: KeyKind::Text, desc_first: false }
    }
    pub const fn int(code: &'static str, expr: &'static str) -> SortKey {
        SortKey { code, expr, kind: KeyKind::Int, desc_first: false }
    }
    /// Sorted most recent / largest first on the first click.
    pub const fn desc_first(self) -> SortKey {
        SortKey { desc_first: true, ..self }
    }
}

/// A chosen sort: one of a list's keys, and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: &'static SortKey,
    pub desc: bool,
}

impl Sort {
    /// Parses `code` or `-code` among `keys`; empty gives `default`. An unknown code is a
    /// validation error on `sort`.
    pub fn parse(s: &str, keys: &'static [SortKey], default: Sort) -> Result<Sort> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(default);
        }
        let (desc, code) = match s.strip_prefix('-') {
            Some(c) => (true, c),
            None => (false, s),
        };
        keys.iter().find(|k| k.code == code).map(|key| Sort { key, desc }).ok_or_else(|| Error::validation("sort", "error.invalid_choice"))
    }
    /// The key's own first direction.
    pub fn by(key: &'static SortKey) -> Sort {
        Sort { key, desc: key.desc_first }
    }
    /// `code` or `-code`.
    pub fn code(&self) -> String {
        if self.desc {
            format!("-{}", self.key.code)
        } else {
            self.key.code.to_string()
        }
    }
}

/// `select` (a statement starting with `SELECT `) with the sort key as its first column,
/// `sort_k`, read by [`Keyed`].
pub fn keyed_select(select: &str, sort: &Sort) -> String {
    let rest = select.strip_prefix("SELECT ").unwrap_or(select);
    format!("SELECT {} AS sort_k, {rest}", sort.key.expr)
}

/// Adds to `q` (a query with a `WHERE` clause) the cursor condition, the order and the
/// limit of `page` under `sort`, with `id` the id column breaking ties. Reading backwards
/// orders the other way; [`Page::keyed`] turns the rows back.
pub fn keyset(q: &mut Sql, sort: &Sort, id: &str, page: &PageReq) -> Result<()> {
    let expr = sort.key.expr;
    let back = page.backwards();
    // The order the rows are read in: the sort's, or its reverse for a previous page.
    let desc = sort.desc != back;
    if let Some((c, _)) = &page.at {
        let op = if desc { "<" } else { ">" };
        q.push(&format!(" AND ({expr}, {id}) {op} ("));
        match sort.key.kind {
            KeyKind::Text => q.bind(c.k.clone()),
            KeyKind::Int => q.bind(c.k.parse::<i64>().map_err(|_| Error::validation("after", "error.cursor_invalid"))?),
        };
        q.push(", ").bind(c.id).push(")");
    }
    let dir = if desc { "DESC" } else { "ASC" };
    q.push(&format!(" ORDER BY {expr} {dir}, {id} {dir} LIMIT ")).bind(page.limit + 1);
    Ok(())
}

/// How many rows `q` (a query without order or limit) returns, counting at most `cap + 1`:
/// a list shows "1–50 of 1,000+" rather than count every row of a large table.
pub async fn count_capped(conn: &mut sqlx::AnyConnection, q: Sql, cap: i64) -> Result<Count> {
    let mut c = Sql::new("SELECT COUNT(*) FROM (");
    c.append(q).push(" LIMIT ").bind(cap + 1).push(") AS counted");
    let n: i64 = c.query_scalar().fetch_one(conn).await?;
    Ok(if n > cap { Count::AtLeast(cap) } else { Count::Exactly(n) })
}

/// The size of a list as shown: exact up to a cap, then "cap+".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Count {
    Exactly(i64),
    AtLeast(i64),
}

/// The count a list shows at most exactly.
pub const COUNT_CAP: i64 = 1000;

/// A row read with its sort key (the `sort_k` column of [`keyed_select`]).
#[derive(Debug, Clone)]
pub struct Keyed<T> {
    pub key: String,
    pub row: T,
}

impl<'r, T: FromRow<'r, AnyRow>> FromRow<'r, AnyRow> for Keyed<T> {
    fn from_row(r: &'r AnyRow) -> std::result::Result<Self, sqlx::Error> {
        let key = match r.try_get::<Option<String>, _>("sort_k") {
            Ok(s) => s.unwrap_or_default(),
            Err(_) => r.try_get::<Option<i64>, _>("sort_k")?.map(|n| n.to_string()).unwrap_or_default(),
        };
        Ok(Keyed { key, row: T::from_row(r)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_garbage() {
        let c = Cursor { k: "Dupont".into(), id: 42, n: 0 };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        let c = Cursor { k: "Dupont".into(), id: 42, n: 99 };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("%%%").is_err());
        assert!(PageReq::parse(Some(0), None).is_err());
        assert!(PageReq::parse(Some(501), None).is_err());
        assert!(PageReq::parse_both(None, Some(&c.encode()), Some(&c.encode())).is_err());
    }

    #[test]
    fn page_from_rows() {
        let p = Page::from_rows(vec![1, 2, 3], 2, |x| Cursor { k: String::new(), id: *x, n: 0 });
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(p.next.unwrap().id, 2);
        let p = Page::from_rows(vec![1, 2], 2, |x| Cursor { k: String::new(), id: *x, n: 0 });
        assert!(p.next.is_none());
    }

    fn keyed(ids: &[i64]) -> Vec<Keyed<i64>> {
        ids.iter().map(|i| Keyed { key: i.to_string(), row: *i }).collect()
    }

    #[test]
    fn keyed_pages_both_ways() {
        // First page of 2 out of 1..=5.
        let p = Page::keyed(keyed(&[1, 2, 3]), &PageReq::first(2), |x| *x);
        assert_eq!((p.items.clone(), p.first, p.prev.is_none()), (vec![1, 2], 0, true));
        let next = p.next.unwrap();
        assert_eq!((next.id, next.n), (2, 1));
        // Second page, after row 2 (index 1).
        let p = Page::keyed(keyed(&[3, 4, 5]), &PageReq::after(2, next), |x| *x);
        assert_eq!((p.items.clone(), p.first), (vec![3, 4], 2));
        let prev = p.prev.clone().unwrap();
        assert_eq!((prev.id, prev.n), (3, 2));
        // Back from row 3: read 2, 1 (reverse order), no row before them.
        let back = PageReq { limit: 2, at: Some((prev, Dir::Before)) };
        let p = Page::keyed(keyed(&[2, 1]), &back, |x| *x);
        assert_eq!((p.items.clone(), p.first, p.prev.is_none(), p.next.as_ref().map(|c| c.id)), (vec![1, 2], 0, true, Some(2)));
    }

    static KEYS: [SortKey; 2] = [SortKey::text("name", "c.sort_key"), SortKey::int("created", "c.id").desc_first()];

    #[test]
    fn sorts_parse_and_keyset_sql() {
        let default = Sort::by(&KEYS[0]);
        assert_eq!(Sort::parse("", &KEYS, default).unwrap(), default);
        let s = Sort::parse("-created", &KEYS, default).unwrap();
        assert_eq!((s.key.code, s.desc, s.code()), ("created", true, "-created".to_string()));
        assert!(Sort::parse("password", &KEYS, default).is_err());
        let mut q = Sql::new("SELECT 1 FROM c WHERE 1 = 1");
        let c = Cursor { k: "7".into(), id: 7, n: 3 };
        keyset(&mut q, &s, "c.id", &PageReq { limit: 10, at: Some((c, Dir::Before)) }).unwrap();
        assert_eq!(q.text(), "SELECT 1 FROM c WHERE 1 = 1 AND (c.id, c.id) > ($1, $2) ORDER BY c.id ASC, c.id ASC LIMIT $3");
        assert_eq!(keyed_select("SELECT a, b FROM t", &default), "SELECT c.sort_key AS sort_k, a, b FROM t");
    }
}
