//! Lists declared once. A list of records (customers, opportunities, service requests,
//! users…) is one [`ListDef`]: its path, the filters a saved view keeps, its columns (which
//! ones the user may hide, which ones sort), its sort keys, its export columns. Its module
//! implements [`Listed`] (how to turn the query into the domain's filter, fetch a page,
//! count, and write an export cell); the rest is here, once for every list:
//!
//! - [`ListState::load`] reads the query string (or the saved view it names) into the
//!   filters, the sort, the columns and the page;
//! - [`ListState::nav`] gives the template what every list shows: sortable column headers,
//!   "1–50 of 1,000+", previous and next page, the saved views (`templates/partials/list_*.html`);
//! - the saved-view handlers ("save as new" / "update this view" / delete) and the CSV
//!   export, for pages ([`create_view`], [`update_view`], [`delete_view`], [`export`]) and the
//!   API ([`api_views`], [`api_create_view`], [`api_update_view`], [`api_delete_view`]).

use std::future::Future;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::auth::Ctx;
use super::error::HttpError;
use super::AppState;
use crate::access::{Principal, Visibility};
use crate::db::page::{Count, Page, PageReq, Sort, SortKey};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::i18n::Tr;
use crate::views::{self, View};

/// A column of a list: its key (in `cols=` and in the export), its label's message key,
/// and the sort key a click on its header sorts by.
#[derive(Debug, Clone, Copy)]
pub struct Col {
    pub key: &'static str,
    pub label: &'static str,
    pub sort: Option<&'static str>,
    /// Whether the user may hide it (the first column, the record's name, never hides).
    pub optional: bool,
}

impl Col {
    /// A column always shown.
    pub const fn fixed(key: &'static str, label: &'static str, sort: Option<&'static str>) -> Col {
        Col { key, label, sort, optional: false }
    }
    /// A column the user may hide or show.
    pub const fn optional(key: &'static str, label: &'static str, sort: Option<&'static str>) -> Col {
        Col { key, label, sort, optional: true }
    }
}

/// Everything a list is, in one place.
#[derive(Debug)]
pub struct ListDef {
    /// The saved views' entity (`customers`) and the page's path (`/customers`).
    pub name: &'static str,
    pub path: &'static str,
    /// The query parameters a saved view keeps, besides `sort` and `cols`.
    pub filters: &'static [&'static str],
    /// The columns, in the order shown.
    pub columns: &'static [Col],
    /// The optional columns shown when the user chose none.
    pub default_columns: &'static [&'static str],
    /// The export's columns (keys for [`Listed::cell`]) and its file name.
    pub export: &'static [&'static str],
    pub export_file: &'static str,
    /// The sort keys (the domain's) and the default order.
    pub sorts: &'static [SortKey],
    pub default_sort: fn() -> Sort,
}

impl ListDef {
    /// What a saved view or a link keeps: the filters, `sort` and `cols`, normalised.
    fn view_params(&self) -> Vec<&'static str> {
        let mut p: Vec<&'static str> = self.filters.to_vec();
        p.extend(["sort", "cols"]);
        p
    }
}

/// A list's module: how its query becomes the domain's filter, and how rows are read.
pub trait Listed: Send + Sync + 'static {
    const DEF: &'static ListDef;
    /// The domain's filter (with the sort).
    type Filter: Send + Sync + Clone + 'static;
    /// A row of the list (what its page and the API's list show).
    type Row: Send + 'static;
    /// A row of the export: the list's row, or the whole record when the export has
    /// columns the list does not show.
    type Exported: Send + 'static;
    /// What export cells need besides the row (labels of codes), loaded once.
    type Labels: Send + Sync + 'static;

    /// The domain filter of a list state (bad values: a validation error on the field).
    fn filter(s: &ListState, p: &Principal) -> Result<Self::Filter>;
    fn fetch(db: &Db, vis: &Visibility, f: &Self::Filter, page: &PageReq) -> impl Future<Output = Result<Page<Self::Row>>> + Send;
    fn count(db: &Db, vis: &Visibility, f: &Self::Filter) -> impl Future<Output = Result<Count>> + Send;
    /// A page of the export (the same rows as [`fetch`](Self::fetch)).
    fn fetch_export(
        db: &Db,
        vis: &Visibility,
        f: &Self::Filter,
        page: &PageReq,
    ) -> impl Future<Output = Result<Page<Self::Exported>>> + Send;
    fn labels(st: &AppState, c: &Ctx) -> impl Future<Output = Result<Self::Labels>> + Send;
    /// The text of column `col` for the export (`id` included).
    fn cell(row: &Self::Exported, col: &str, l: &Self::Labels, tr: &Tr, zone: &crate::clock::Zone) -> String;
}

/// A list's query, read: the filters (from the query string, or the saved view it names
/// when it names no filter), the sort, the columns shown and the page asked for.
#[derive(Debug, Clone)]
pub struct ListState {
    pub def: &'static ListDef,
    /// The filters (only the declared ones, non-empty).
    params: Vec<(String, String)>,
    pub sort: Sort,
    /// The optional columns shown.
    pub cols: Vec<&'static str>,
    pub page: PageReq,
    pub view: Option<View>,
    /// `notice=` and `part=` of the page (not kept by views).
    pub notice: Option<String>,
    pub part: Option<String>,
    /// The time of the request (filters relative to now: overdue).
    pub now: i64,
    /// The time zone of dates typed in filters (`from`, `to`): read only when there are some.
    pub zone: crate::clock::Zone,
}

fn pairs(raw: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(raw.trim_start_matches('?')).unwrap_or_default()
}

impl ListState {
    /// Reads `raw` (the query string) for `def`, with `page_size` rows per page.
    pub async fn load(db: &Db, now: i64, p: &Principal, def: &'static ListDef, raw: Option<&str>, page_size: i64) -> Result<ListState> {
        let all = pairs(raw.unwrap_or(""));
        let get = |k: &str| all.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
        let view = match get("view") {
            Some(v) => {
                let id: i64 = v.parse().map_err(|_| Error::validation("view", "error.invalid_choice"))?;
                Some(views::get_usable(db, def.name, p.user_id, p.visibility.unit_id, id).await?.ok_or(Error::NotFound)?)
            }
            None => None,
        };
        let kept = def.view_params();
        let names_filters = all.iter().any(|(k, v)| kept.contains(&k.as_str()) && !v.is_empty());
        // A view applies when the query names no filter of its own (changing a filter on a
        // view shows the change, which "update this view" then saves).
        let source = match &view {
            Some(v) if !names_filters => pairs(&v.query),
            _ => all.clone(),
        };
        // The column checkboxes send one `cols` each (and `-`, so that none checked is a choice).
        let chosen: Vec<String> = source.iter().filter(|(k, _)| k == "cols").map(|(_, v)| v.clone()).collect();
        let mut params: Vec<(String, String)> =
            source.into_iter().filter(|(k, v)| k != "cols" && kept.contains(&k.as_str()) && !v.is_empty()).collect();
        if !chosen.is_empty() {
            params.push(("cols".into(), chosen.join(",")));
        }
        let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let sort = Sort::parse(param("sort").unwrap_or(""), def.sorts, (def.default_sort)())?;
        let cols = match param("cols") {
            Some(c) => def.columns.iter().filter(|col| col.optional && c.split(',').any(|x| x == col.key)).map(|col| col.key).collect(),
            None => def.default_columns.to_vec(),
        };
        let page = PageReq::parse_both(Some(page_size), get("after"), get("before"))?;
        let (notice, part) = (get("notice").map(str::to_string), get("part").map(str::to_string));
        let params: Vec<(String, String)> = params.into_iter().filter(|(k, _)| k != "sort" && k != "cols").collect();
        let zone = if params.iter().any(|(k, _)| k == "from" || k == "to") {
            crate::settings::zone(db).await?
        } else {
            crate::clock::Zone::default()
        };
        Ok(ListState { def, params, sort, cols, page, view, notice, part, now, zone })
    }

    /// A filter's value (non-empty), as typed.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    /// Whether any filter narrows the list (an empty list then says that nothing matches,
    /// not that there is nothing yet).
    pub fn filtered(&self) -> bool {
        !self.params.is_empty()
    }
    /// A filter's value, or empty.
    pub fn text(&self, k: &str) -> String {
        self.get(k).unwrap_or_default().to_string()
    }
    /// The period of the filters `from` and `to` (dates, both included) as `[start, end)` in
    /// ms; open ends stretch to the beginning and the end of time.
    pub fn period(&self) -> Result<Option<(i64, i64)>> {
        let day = |k: &'static str| -> Result<Option<chrono::NaiveDate>> {
            self.get(k)
                .map(|v| chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| Error::validation(k, "error.invalid_date")))
                .transpose()
        };
        let (from, to) = (day("from")?, day("to")?);
        if from.is_none() && to.is_none() {
            return Ok(None);
        }
        let start = from.map(|d| self.zone.midnight(d)).unwrap_or(i64::MIN / 2);
        let end = to.and_then(|d| d.succ_opt()).map(|d| self.zone.midnight(d)).unwrap_or(i64::MAX / 2);
        Ok(Some((start, end)))
    }
    /// A filter holding an id (bad: a validation error on the field).
    pub fn id(&self, k: &'static str) -> Result<Option<i64>> {
        self.get(k).map(|v| v.parse::<i64>().map_err(|_| Error::validation(k, "error.invalid_choice"))).transpose()
    }
    pub fn shows(&self, col: &str) -> bool {
        self.def.columns.iter().any(|c| c.key == col && (!c.optional || self.cols.contains(&c.key)))
    }

    /// The list's state as a query string: what a saved view stores and links keep
    /// (`sort` only when it is not the default, `cols` only when chosen).
    pub fn query(&self) -> String {
        self.query_with(self.sort)
    }

    fn query_with(&self, sort: Sort) -> String {
        let mut q = self.params.clone();
        if sort != (self.def.default_sort)() {
            q.push(("sort".into(), sort.code()));
        }
        if self.cols != self.def.default_columns {
            q.push(("cols".into(), if self.cols.is_empty() { "-".into() } else { self.cols.join(",") }));
        }
        views::normalise_query(&serde_urlencoded::to_string(q).unwrap_or_default(), &self.def.view_params())
    }

    /// A link to this list with `extra` (the view kept).
    fn href(&self, query: &str, extra: &str) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(v) = &self.view {
            parts.push(format!("view={}", v.id));
        }
        if !query.is_empty() {
            parts.push(query.to_string());
        }
        if !extra.is_empty() {
            parts.push(extra.to_string());
        }
        format!("{}?{}", self.def.path, parts.join("&"))
    }

    /// What the template shows around the rows.
    pub fn nav<T>(&self, page: &Page<T>, count: Count, p: &Principal, views: Vec<View>, tr: Tr) -> ListNav {
        let query = self.query();
        let headers = self
            .def
            .columns
            .iter()
            .filter(|c| self.shows(c.key))
            .map(|c| {
                let key = c.sort.and_then(|code| self.def.sorts.iter().find(|k| k.code == code));
                let (href, state) = match key {
                    Some(k) => {
                        let current = self.sort.key.code == k.code;
                        let next = if current { Sort { key: k, desc: !self.sort.desc } } else { Sort::by(k) };
                        let state = match (current, self.sort.desc) {
                            (false, _) => "none",
                            (true, false) => "ascending",
                            (true, true) => "descending",
                        };
                        (Some(self.href(&self.query_with(next), "")), state)
                    }
                    None => (None, "none"),
                };
                Header { key: c.key, label: tr.t(c.label), href, sort: state }
            })
            .collect();
        let shown = page.items.len() as i64;
        let range = if shown == 0 {
            String::new()
        } else {
            let (from, to) = (page.first + 1, page.first + shown);
            let total = match count {
                Count::Exactly(n) => n.max(to),
                Count::AtLeast(n) => n,
            };
            let of = match count {
                Count::Exactly(_) => fmt_int(total, tr),
                Count::AtLeast(_) => format!("{}+", fmt_int(total, tr)),
            };
            tr.t("list.range").replace("{from}", &fmt_int(from, tr)).replace("{to}", &fmt_int(to, tr)).replace("{total}", &of)
        };
        ListNav {
            path: self.def.path,
            name: self.def.name,
            query: query.clone(),
            next: page.next.as_ref().map(|n| self.href(&query, &format!("after={}", n.encode()))),
            prev: page.prev.as_ref().map(|n| self.href(&query, &format!("before={}", n.encode()))),
            range,
            shown: self.def.columns.iter().filter(|c| self.shows(c.key)).map(|c| c.key).collect(),
            headers,
            columns: self.def.columns.iter().filter(|c| c.optional).map(|c| (c.key, tr.t(c.label), self.cols.contains(&c.key))).collect(),
            filters: self.params.clone(),
            sort: if self.sort != (self.def.default_sort)() { self.sort.code() } else { String::new() },
            current_view: self.view.clone(),
            views,
            user_id: p.user_id,
        }
    }
}

/// A number as people of the language write it: 1,000 / 1 000.
fn fmt_int(n: i64, tr: Tr) -> String {
    let digits = n.abs().to_string();
    let sep = if tr.0 == crate::i18n::Lang::Fr { '\u{202f}' } else { ',' };
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(sep);
        }
        out.push(ch);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// A column header: its label, the link that sorts by it (or the other way), and
/// `aria-sort` (`none`, `ascending`, `descending`).
#[derive(Debug, Clone)]
pub struct Header {
    pub key: &'static str,
    pub label: String,
    pub href: Option<String>,
    pub sort: &'static str,
}

/// What `templates/partials/list_*.html` show: saved views, column choice, headers, pager.
#[derive(Debug, Clone)]
pub struct ListNav {
    pub path: &'static str,
    pub name: &'static str,
    /// The list's state as a query string (saved by "save as view", kept by the export).
    pub query: String,
    pub next: Option<String>,
    pub prev: Option<String>,
    /// "1–50 of 1,000+", empty when there is no row.
    pub range: String,
    pub headers: Vec<Header>,
    /// The keys of the columns shown.
    pub shown: Vec<&'static str>,
    /// The optional columns: key, label, shown.
    pub columns: Vec<(&'static str, String, bool)>,
    /// The filters, for the column-choice form to keep them.
    pub filters: Vec<(String, String)>,
    /// The sort, when not the default.
    pub sort: String,
    pub current_view: Option<View>,
    pub views: Vec<View>,
    pub user_id: i64,
}

impl ListNav {
    /// Whether column `col` is shown (templates: `{% if list.shows("email") %}`).
    pub fn shows(&self, col: &str) -> bool {
        self.shown.contains(&col)
    }
    pub fn view_selected(&self, id: &i64) -> bool {
        self.current_view.as_ref().is_some_and(|v| v.id == *id)
    }
    /// Whether the current view is the user's (who may update or delete it).
    pub fn owns_view(&self) -> bool {
        self.current_view.as_ref().is_some_and(|v| v.owner_id == self.user_id)
    }
}

/// Reads a list page's state, rows, count and views: what every list page handler starts
/// with.
pub async fn read<L: Listed>(st: &AppState, c: &Ctx, raw: Option<&str>) -> Result<(ListState, Page<L::Row>, ListNav)> {
    let size = crate::settings::get_int(&st.db, "lists.page_size").await?;
    let s = ListState::load(&st.db, st.now(), &c.p, L::DEF, raw, size).await?;
    let f = L::filter(&s, &c.p)?;
    let page = L::fetch(&st.db, &c.p.visibility, &f, &s.page).await?;
    // Counting is skipped when the first page holds everything.
    let count = if page.first == 0 && page.next.is_none() {
        Count::Exactly(page.items.len() as i64)
    } else {
        L::count(&st.db, &c.p.visibility, &f).await?
    };
    let views = if s.part.is_some() { Vec::new() } else { views::usable(&st.db, L::DEF.name, c.p.user_id, c.p.visibility.unit_id).await? };
    let nav = s.nav(&page, count, &c.p, views, c.tr);
    Ok((s, page, nav))
}

/// Reads a page of list `L` for the API: the query string (validated by the handler's
/// typed query) through the list's declaration, `limit` rows, the count when asked for.
pub async fn api_read<L: Listed>(
    st: &AppState,
    c: &Ctx,
    raw: Option<&str>,
    limit: Option<i64>,
    count: Option<bool>,
) -> Result<(Page<L::Row>, Option<Count>)> {
    let (s, f) = api_query::<L>(st, c, raw, limit).await?;
    let page = L::fetch(&st.db, &c.p.visibility, &f, &s.page).await?;
    let count = match count {
        Some(true) => Some(L::count(&st.db, &c.p.visibility, &f).await?),
        _ => None,
    };
    Ok((page, count))
}

/// The list state and the filter of an API request for list `L` (its query string, `limit`
/// apart).
pub async fn api_query<L: Listed>(st: &AppState, c: &Ctx, raw: Option<&str>, limit: Option<i64>) -> Result<(ListState, L::Filter)> {
    let s = ListState::load(&st.db, st.now(), &c.p, L::DEF, raw, limit.unwrap_or(crate::db::page::DEFAULT_LIMIT)).await?;
    let f = L::filter(&s, &c.p)?;
    Ok((s, f))
}

/// A [`PageOf`] whose items are JSON objects already written (by the database: see
/// `customers::store::list_json`), sent as they are.
pub struct RawPageOf {
    pub page: Page<String>,
    pub count: Option<Count>,
}

impl RawPageOf {
    /// The document [`PageOf`] serialises to, the items copied in.
    pub fn to_json(&self) -> Result<String> {
        let cursor = |c: &Option<crate::db::page::Cursor>| serde_json::to_string(&c.as_ref().map(|c| c.encode()));
        let size: usize = self.page.items.iter().map(|i| i.len() + 1).sum();
        let mut out = String::with_capacity(size + 128);
        out.push_str("{\"items\":[");
        for (i, item) in self.page.items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(item);
        }
        out.push_str("],\"next_cursor\":");
        out.push_str(&cursor(&self.page.next).map_err(Error::internal)?);
        out.push_str(",\"prev_cursor\":");
        out.push_str(&cursor(&self.page.prev).map_err(Error::internal)?);
        if let Some(n) = &self.count {
            out.push_str(",\"count\":");
            out.push_str(&serde_json::to_string(n).map_err(Error::internal)?);
        }
        out.push('}');
        Ok(out)
    }
}

impl IntoResponse for RawPageOf {
    fn into_response(self) -> Response {
        match self.to_json() {
            Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => HttpError::from(e).into_response(),
        }
    }
}

/// [`api_read`] as the API's page shape.
pub async fn api_page<L: Listed>(
    st: &AppState,
    c: &Ctx,
    raw: Option<&str>,
    limit: Option<i64>,
    count: Option<bool>,
) -> Result<PageOf<L::Row>>
where
    L::Row: utoipa::ToSchema,
{
    let (page, count) = api_read::<L>(st, c, raw, limit, count).await?;
    Ok(PageOf::new(page, count))
}

// ------------------------------------------------------------------ saved views (pages)

#[derive(Deserialize)]
pub struct NewViewForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    query: String,
    #[serde(default)]
    shared: Option<String>,
}

/// "Save as a new view" of list `L`.
pub async fn create_view<L: Listed>(
    State(st): State<AppState>,
    c: Ctx,
    axum::extract::Form(f): axum::extract::Form<NewViewForm>,
) -> Result<Response, HttpError> {
    let query = views::normalise_query(&f.query, &L::DEF.view_params());
    let share = if f.shared.is_some() { c.p.visibility.unit_id } else { None };
    let v = views::create(&st.db, &c.actor(), st.now(), L::DEF.name, &f.name, &query, share).await?;
    Ok(super::redirect_notice(&format!("{}?view={}", L::DEF.path, v.id), "notice.view_saved"))
}

#[derive(Deserialize)]
pub struct UpdateViewForm {
    #[serde(default)]
    query: String,
}

/// "Update this view" (its owner only).
pub async fn update_view<L: Listed>(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    axum::extract::Form(f): axum::extract::Form<UpdateViewForm>,
) -> Result<Response, HttpError> {
    let query = views::normalise_query(&f.query, &L::DEF.view_params());
    views::update(&st.db, &c.actor(), st.now(), L::DEF.name, id, &query).await?;
    Ok(super::redirect_notice(&format!("{}?view={id}", L::DEF.path), "notice.view_updated"))
}

pub async fn delete_view<L: Listed>(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    views::delete(&st.db, &c.actor(), st.now(), L::DEF.name, id).await?;
    Ok(super::redirect_notice(L::DEF.path, "notice.deleted"))
}

// ------------------------------------------------------------------ export

/// The rows one export statement reads.
const EXPORT_PAGE: i64 = 500;

/// List `L` as CSV with the filters and sort of the query string (or view), streamed page
/// by page; cells neutralised against formula injection.
pub async fn export<L: Listed>(State(st): State<AppState>, c: Ctx, RawQuery(raw): RawQuery) -> Result<Response, HttpError> {
    let s = ListState::load(&st.db, st.now(), &c.p, L::DEF, raw.as_deref(), EXPORT_PAGE).await?;
    let filter = L::filter(&s, &c.p)?;
    let labels = std::sync::Arc::new(L::labels(&st, &c).await?);
    let (db, vis, tr, zone) = (st.db.clone(), c.p.visibility.clone(), c.tr, c.p.zone);
    let cols = L::DEF.export;
    let stream = futures_util::stream::unfold(Some(PageReq::first(EXPORT_PAGE)), move |page| {
        let (db, vis, filter, labels) = (db.clone(), vis.clone(), filter.clone(), labels.clone());
        async move {
            let page = page?;
            let res = match L::fetch_export(&db, &vis, &filter, &page).await {
                Ok(r) => r,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
            };
            let mut buf = if page.at.is_none() { csv_row(cols.iter().map(|c| c.to_string())) } else { Vec::new() };
            for row in &res.items {
                buf.extend(csv_row(cols.iter().map(|col| L::cell(row, col, &labels, &tr, &zone))));
            }
            Some((Ok(buf), res.next.map(|n| PageReq::after(EXPORT_PAGE, n))))
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", L::DEF.export_file)),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

fn csv_row(cells: impl Iterator<Item = String>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let cells: Vec<String> = cells.map(|s| crate::customers::csv_safe(&s)).collect();
    let _ = w.write_record(&cells);
    w.into_inner().unwrap_or_default()
}

// ------------------------------------------------------------------ the API's shapes

/// A list of items, and the cursor of its next page when it has pages.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ListOf<T: utoipa::ToSchema> {
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A page of a declared list: its items, the cursors of the pages around it, and its
/// count (exact up to 1,000, then "at least").
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PageOf<T: utoipa::ToSchema> {
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// Pass as `before` to get the previous page; null on the first page.
    pub prev_cursor: Option<String>,
    /// Only when asked for with `count=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<Count>,
}

impl<T: utoipa::ToSchema> PageOf<T> {
    pub fn new(p: Page<T>, count: Option<Count>) -> PageOf<T> {
        PageOf { items: p.items, next_cursor: p.next.map(|c| c.encode()), prev_cursor: p.prev.map(|c| c.encode()), count }
    }
}

// ------------------------------------------------------------------ saved views (API)

/// Saved views, as the API lists them.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ViewList {
    pub items: Vec<View>,
}

/// The saved views of list `L` the caller may use.
pub async fn api_views<L: Listed>(State(st): State<AppState>, c: Ctx) -> Result<Json<ViewList>, HttpError> {
    Ok(Json(ViewList { items: views::usable(&st.db, L::DEF.name, c.p.user_id, c.p.visibility.unit_id).await? }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewBody {
    pub name: String,
    /// The list's query string (filters, `sort`, `cols`); other parameters are dropped.
    #[serde(default)]
    pub query: String,
    /// Share with the caller's team.
    #[serde(default)]
    pub shared: bool,
}

pub async fn api_create_view<L: Listed>(
    State(st): State<AppState>,
    c: Ctx,
    super::json::ApiJson(b): super::json::ApiJson<ViewBody>,
) -> Result<(StatusCode, Json<View>), HttpError> {
    let query = views::normalise_query(&b.query, &L::DEF.view_params());
    let share = if b.shared { c.p.visibility.unit_id } else { None };
    let v = views::create(&st.db, &c.actor(), st.now(), L::DEF.name, &b.name, &query, share).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

impl super::json::ApiInput for ViewBody {
    const READ_ONLY: &'static [&'static str] = &["id", "owner_id", "entity", "shared_unit_id"];
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewQueryBody {
    pub query: String,
}

impl super::json::ApiInput for ViewQueryBody {}

pub async fn api_update_view<L: Listed>(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    super::json::ApiJson(b): super::json::ApiJson<ViewQueryBody>,
) -> Result<Json<View>, HttpError> {
    let query = views::normalise_query(&b.query, &L::DEF.view_params());
    Ok(Json(views::update(&st.db, &c.actor(), st.now(), L::DEF.name, id, &query).await?))
}

pub async fn api_delete_view<L: Listed>(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    views::delete(&st.db, &c.actor(), st.now(), L::DEF.name, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(fmt_int(1000, Tr(crate::i18n::Lang::En)), "1,000");
        assert_eq!(fmt_int(1234567, Tr(crate::i18n::Lang::Fr)), "1\u{202f}234\u{202f}567");
        assert_eq!(fmt_int(50, Tr(crate::i18n::Lang::En)), "50");
    }
}
