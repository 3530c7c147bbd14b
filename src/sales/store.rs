//! Storage of opportunities, their stock units and their notes timeline. Trashed
//! opportunities are left out of every list, count and lookup here, except the
//! administrators' trash list.

use serde::Serialize;
use sqlx::FromRow;

use super::{Current, Opportunity, OpportunityInput, Statuses, StockRef};
use crate::access::{Actor, RightSet, Visibility};
use crate::audit::{self, Audited};
use crate::clock::{format_ms, Millis};
use crate::db::page::{self, Count, Page, PageReq, Sort, SortKey};
use crate::db::{Db, Sql, Tx};
use crate::error::{Error, FieldErrors, Result};

#[derive(Debug, FromRow)]
struct Row {
    id: i64,
    name: String,
    customer_id: i64,
    customer_name: String,
    lead_type: Option<String>,
    status: String,
    owner_id: Option<i64>,
    owner_name: Option<String>,
    branch_id: Option<i64>,
    branch_name: Option<String>,
    sale_date: Option<i64>,
    delivery_date: Option<i64>,
    amount_cents: Option<i64>,
    expected_close_on: Option<String>,
    expired: i64,
    trashed: i64,
    created_at: i64,
    updated_at: i64,
}

impl Row {
    fn into_opportunity(self, stock_units: Vec<StockRef>) -> Opportunity {
        Opportunity {
            id: self.id,
            name: self.name,
            customer_id: self.customer_id,
            customer_name: self.customer_name,
            lead_type: self.lead_type,
            status: self.status,
            owner_id: self.owner_id,
            owner_name: self.owner_name,
            branch_id: self.branch_id,
            branch_name: self.branch_name,
            sale_date: self.sale_date,
            delivery_date: self.delivery_date,
            amount_cents: self.amount_cents,
            expected_close_on: self.expected_close_on,
            expired: Some(self.expired != 0),
            trashed: self.trashed != 0,
            stock_units,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Whether the opportunity aliased `$o` is expired: it has a row in `opportunity_expirations`
/// (migration 35). The one way to ask it, in every statement.
macro_rules! expired_sql {
    ($o:literal) => {
        concat!("EXISTS (SELECT 1 FROM opportunity_expirations x WHERE x.opportunity_id = ", $o, ".id)")
    };
}
pub(crate) use expired_sql;

const SELECT: &str = concat!(
    "SELECT o.id, o.name, o.customer_id, c.display_name AS customer_name, o.lead_type, o.status, o.owner_id, \
    u.name AS owner_name, o.branch_id, b.name AS branch_name, o.sale_date, o.delivery_date, o.amount_cents, o.expected_close_on, \
    CASE WHEN ",
    expired_sql!("o"),
    " THEN 1 ELSE 0 END AS expired, o.trashed, o.created_at, o.updated_at \
    FROM opportunities o JOIN customers c ON c.id = o.customer_id LEFT JOIN users u ON u.id = o.owner_id \
    LEFT JOIN org_units b ON b.id = o.branch_id"
);

/// The columns of [`SELECT`], for the board's cards picked in a subquery `o`.
const BOARD_SELECT: &str = concat!(
    "SELECT o.id, o.name, o.customer_id, c.display_name AS customer_name, o.lead_type, o.status, o.owner_id, \
    u.name AS owner_name, o.branch_id, b.name AS branch_name, o.sale_date, o.delivery_date, o.amount_cents, o.expected_close_on, \
    CASE WHEN ",
    expired_sql!("o"),
    " THEN 1 ELSE 0 END AS expired, o.trashed, o.created_at, o.updated_at"
);

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Searches the customer (names, emails, phones).
    pub q: Option<String>,
    pub status: Option<String>,
    pub owner_id: Option<i64>,
    pub branch_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub lead_type: Option<String>,
    /// The administrators' trash list instead of the live opportunities.
    pub trash: bool,
    /// The order of [`list`] (default: most recent first).
    pub sort: Option<Sort>,
    /// In this unit or below it (a branch, a region).
    pub unit_id: Option<i64>,
    /// Expired (`Some(true)`) or not.
    pub expired: Option<bool>,
    /// One of its dates within `[from, to)` (the dashboards' periods).
    pub dated: Option<(Dated, Millis, Millis)>,
    /// Having reached a stage of the funnel.
    pub stage: Option<Stage>,
    /// Only those the user sees by taking part, outside their scope (the dashboard adds them
    /// to its figures kept by owner and unit).
    pub taking_part_only: bool,
}

/// A date of an opportunity that a list or a figure is counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dated {
    Created,
    /// The sale date.
    Sold,
    /// The last loss (cleared when taken up again).
    Lost,
    Expired,
    /// The first meeting booked.
    Booked,
}

impl Dated {
    pub const ALL: [Dated; 5] = [Dated::Created, Dated::Sold, Dated::Lost, Dated::Expired, Dated::Booked];
    pub fn code(self) -> &'static str {
        match self {
            Dated::Created => "created",
            Dated::Sold => "sold",
            Dated::Lost => "lost",
            Dated::Expired => "expired",
            Dated::Booked => "booked",
        }
    }
    pub fn parse(s: &str) -> Option<Dated> {
        Dated::ALL.into_iter().find(|d| d.code() == s)
    }
    /// The date's column of `o` (`None` for the expiration's, kept in `opportunity_expirations`).
    pub fn column(self) -> Option<&'static str> {
        match self {
            Dated::Created => Some("o.created_at"),
            Dated::Sold => Some("o.sale_date"),
            Dated::Lost => Some("o.lost_at"),
            Dated::Expired => None,
            Dated::Booked => Some("o.booked_at"),
        }
    }
}

/// A stage of the funnel an opportunity has reached (kept by the status workflow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A meeting was booked.
    Booked,
    /// The customer came in (booked or walk-in).
    Showed,
    Sold,
    /// Lost now.
    Lost,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Booked, Stage::Showed, Stage::Sold, Stage::Lost];
    pub fn code(self) -> &'static str {
        match self {
            Stage::Booked => "booked",
            Stage::Showed => "showed",
            Stage::Sold => "sold",
            Stage::Lost => "lost",
        }
    }
    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|d| d.code() == s)
    }
    pub fn condition(self) -> &'static str {
        match self {
            Stage::Booked => "o.booked_at IS NOT NULL",
            Stage::Showed => "o.showed_at IS NOT NULL",
            Stage::Sold => "o.sale_date IS NOT NULL",
            Stage::Lost => "o.lost_at IS NOT NULL",
        }
    }
}

/// The orders of the opportunity list (`sort=code`, `-code` descending).
pub static SORTS: [SortKey; 10] = [
    SortKey::int("created", "o.id").desc_first(),
    SortKey::text("name", "o.name"),
    SortKey::text("customer", "c.display_name"),
    SortKey::int(
        "status",
        "COALESCE((SELECT p.position FROM value_list_items p WHERE p.list_code = 'opportunity_status' AND p.code = o.status), 0)",
    ),
    SortKey::text("lead_type", "COALESCE(o.lead_type, '')"),
    SortKey::text("owner", "COALESCE(u.name, '')"),
    SortKey::text("branch", "COALESCE(b.name, '')"),
    SortKey::int("updated", "o.updated_at").desc_first(),
    SortKey::int("amount", "COALESCE(o.amount_cents, -1)").desc_first(),
    SortKey::text("expected_close", "COALESCE(o.expected_close_on, '9999')"),
];

/// Most recent first.
pub fn default_sort() -> Sort {
    Sort::by(&SORTS[0])
}

/// The list's tables, for counting.
const COUNT_FROM: &str = "SELECT 1 FROM opportunities o JOIN customers c ON c.id = o.customer_id";

/// Whether the opportunity `o` is expired (the flag is a row of `opportunity_expirations`).
pub const EXPIRED: &str = expired_sql!("o");

fn filtered_from(select: &str, vis: &Visibility, f: &Filter) -> Sql {
    let seen = if f.taking_part_only { vis.opportunities_taking_part_only("o") } else { vis.opportunities("o") };
    filtered_where(select, seen, f)
}

/// `select` with the `WHERE` of `f`, the rows seen being those of `seen` (a condition on `o`).
fn filtered_where(select: &str, seen: Sql, f: &Filter) -> Sql {
    let mut q = Sql::new(select);
    q.push(" WHERE o.trashed = ").bind(f.trash as i64).push(" AND ").append(seen);
    if let Some(m) = f.q.as_deref().and_then(|t| crate::search::matching("customer", "o.customer_id", t)) {
        q.push(" AND ").append(m);
    }
    if let Some(s) = f.status.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND o.status = ").bind(s.to_string());
    }
    if let Some(o) = f.owner_id {
        q.push(" AND o.owner_id = ").bind(o);
    }
    if let Some(b) = f.branch_id {
        q.push(" AND o.branch_id = ").bind(b);
    }
    if let Some(c) = f.customer_id {
        q.push(" AND o.customer_id = ").bind(c);
    }
    if let Some(l) = f.lead_type.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND o.lead_type = ").bind(l.to_string());
    }
    if let Some(u) = f.unit_id {
        q.push(" AND o.branch_id IN (SELECT d.id FROM org_units d JOIN org_units p ON d.path LIKE p.path || '%' WHERE p.id = ")
            .bind(u)
            .push(")");
    }
    if let Some(e) = f.expired {
        q.push(if e { " AND " } else { " AND NOT " }).push(EXPIRED);
    }
    if let Some((d, from, to)) = f.dated {
        match d.column() {
            Some(c) => q.push(" AND ").push(c).push(" >= ").bind(from).push(" AND ").push(c).push(" < ").bind(to),
            // The expirations of the period (their date index), by primary key.
            None => q
                .push(" AND o.id IN (SELECT x.opportunity_id FROM opportunity_expirations x WHERE x.expired_at >= ")
                .bind(from)
                .push(" AND x.expired_at < ")
                .bind(to)
                .push(")"),
        };
    }
    if let Some(s) = f.stage {
        q.push(" AND ").push(s.condition());
    }
    q
}

/// How the board and its heads read a column (one status) of the opportunities `vis` sees.
///
/// For a user who sees everything, one backward walk of the status index per column. For the
/// others the visibility split in its arms ([`Visibility::opportunity_arms`]): each scope arm
/// (their own, their units) walked in its own index, and the opportunities they take part in
/// read once for the whole statement into `tp` (a `WITH` table of ids, statuses and amounts
/// led by [`Columns::with`]), each column taking its first rows of every arm, merged. As one
/// `OR`, each column walked its status backwards testing every row (≈ 1 in 160 a
/// representative's) and read the ways of taking part again (issue 15). The filter's other
/// conditions apply to every arm; the text depends on the kind of user and the filter's
/// shape, never on data, so that PostgreSQL reuses its plan.
enum Columns {
    Whole,
    Arms(Vec<Sql>),
}

impl Columns {
    fn of(vis: &Visibility, filter: &Filter) -> Columns {
        match vis.opportunity_arms("o") {
            Some(arms) if !filter.taking_part_only => Columns::Arms(arms),
            _ => Columns::Whole,
        }
    }

    /// The statement's head: `tp`, the opportunities of `filter` (whatever their status) the
    /// user takes part in, read once by primary key: their ids, statuses and amounts (column
    /// `a`), or with `rows` their whole rows (the board's cards). Empty for [`Columns::Whole`].
    fn with(&self, vis: &Visibility, filter: &Filter, rows: bool) -> Sql {
        match self {
            Columns::Whole => Sql::new(""),
            Columns::Arms(_) => {
                let f = Filter { status: None, trash: false, ..filter.clone() };
                let mut seen = Sql::new("o.id IN (");
                seen.append(vis.taking_part_ids()).push(")");
                let cols = if rows {
                    "SELECT o.* FROM opportunities o"
                } else {
                    "SELECT o.id, o.status, o.amount_cents AS a FROM opportunities o"
                };
                let mut q = Sql::new("WITH tp AS MATERIALIZED (");
                q.append(filtered_where(cols, seen, &f)).push(") ");
                q
            }
        }
    }

    /// The opportunities of `f` (its status set): with `rows`, the first `limit` by id
    /// descending, whole (`o.*`: a merge of each arm's first, ordered; the board's cards, each
    /// row read once where picking ids first read each card again by primary key, a third of
    /// a representative's board); without, the ids (column `id`) and amounts (column `a`) of
    /// any `limit` of each arm, deduplicated (enough to count up to `limit`: an arm holding
    /// more reaches it alone). With `rows`, `tp` must hold whole rows too ([`Columns::with`]).
    fn pick(&self, vis: &Visibility, f: &Filter, limit: i64, rows: bool) -> Sql {
        let order = if rows { " ORDER BY o.id DESC" } else { "" };
        let (cols, out, tp) = if rows {
            ("SELECT o.* FROM opportunities o", "*", "tp.*")
        } else {
            ("SELECT o.id, o.amount_cents AS a FROM opportunities o", "id, a", "tp.id, tp.a")
        };
        match self {
            Columns::Whole => {
                let mut q = filtered_from(cols, vis, f);
                q.push(&format!("{order} LIMIT {limit}"));
                q
            }
            Columns::Arms(arms) => {
                // `UNION` (not `ALL`): an opportunity of the user's scope that they also take
                // part in comes from two arms, the same row twice.
                let mut q = Sql::new("");
                for (k, arm) in arms.iter().enumerate() {
                    let mut seen = Sql::new("(");
                    seen.append(arm.clone()).push(")");
                    q.push(&format!("{}SELECT {out} FROM (", if k == 0 { "" } else { " UNION " }))
                        .append(filtered_where(cols, seen, f))
                        .push(&format!("{order} LIMIT {limit}) AS a{k}"));
                }
                q.push(&format!(" UNION SELECT {out} FROM (SELECT {tp} FROM tp WHERE tp.status = "))
                    .bind(f.status.clone().unwrap_or_default())
                    .push(&format!("{} LIMIT {limit}) AS a{}", if rows { " ORDER BY tp.id DESC" } else { "" }, arms.len()));
                if rows {
                    q.push(&format!(" ORDER BY id DESC LIMIT {limit}"));
                }
                q
            }
        }
    }
}

/// The opportunities of `filter` by status: how many, and their total amount in cents
/// (the kanban's column heads, the dashboards' pipeline). One grouped statement.
pub async fn by_status(db: &Db, vis: &Visibility, filter: &Filter) -> Result<Vec<(String, i64, i64)>> {
    let mut q = filtered_from(
        "SELECT o.status, COUNT(*) AS n, CAST(COALESCE(SUM(o.amount_cents), 0) AS BIGINT) AS total FROM opportunities o",
        vis,
        filter,
    );
    q.push(" GROUP BY o.status");
    let mut conn = db.pool.acquire().await?;
    Ok(q.query_as().fetch_all(&mut *conn).await?)
}

/// [`board_heads`]'s statement: each status's first `cap + 1` rows, counted.
fn heads_statement(vis: &Visibility, statuses: &[&str], filter: &Filter, cap: i64) -> Sql {
    let columns = Columns::of(vis, filter);
    let mut q = columns.with(vis, filter, false);
    for (i, s) in statuses.iter().enumerate() {
        if i > 0 {
            q.push(" UNION ALL ");
        }
        let f = Filter { status: Some(s.to_string()), trash: false, ..filter.clone() };
        q.push("SELECT ")
            .bind(s.to_string())
            .push(" AS status, COUNT(*) AS n, CAST(COALESCE(SUM(a), 0) AS BIGINT) AS total FROM (")
            .append(columns.pick(vis, &f, cap + 1, false))
            .push(&format!(") AS h{i}"));
    }
    q
}

/// The board's column heads: for each status of `statuses`, how many opportunities of
/// `filter` (up to `cap`, then "cap+") and their total amount — when under the cap, so that a
/// head costs at most `cap` index entries whatever the size of the column (one statement;
/// the exact figures of a large column are the dashboard's).
pub async fn board_heads(
    db: &Db,
    vis: &Visibility,
    statuses: &[&str],
    filter: &Filter,
    cap: i64,
) -> Result<Vec<(String, Count, Option<i64>)>> {
    if statuses.is_empty() {
        return Ok(Vec::new());
    }
    let q = heads_statement(vis, statuses, filter, cap);
    let mut conn = db.pool.acquire().await?;
    let rows: Vec<(String, i64, i64)> = q.query_as().fetch_all(&mut *conn).await?;
    Ok(rows
        .into_iter()
        .map(|(s, n, total)| if n > cap { (s, Count::AtLeast(cap), None) } else { (s, Count::Exactly(n), Some(total)) })
        .collect())
}

/// `head` (a `SELECT … FROM opportunities o …`, binds allowed) with the `WHERE` of `filter`
/// and the visibility: a report aggregates exactly the rows the list shows.
pub fn report_from(head: Sql, vis: &Visibility, filter: &Filter) -> Sql {
    let mut q = head;
    q.append(filtered_from("", vis, filter));
    q
}

async fn stock_of(conn: &mut sqlx::AnyConnection, ids: &[i64]) -> Result<Vec<(i64, StockRef)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The ids as one JSON array: the same statement text whatever their number, so that it is
    // prepared once per connection (an `IN ($1, … $n)` list was a new statement, parsed and
    // planned again, for each number of cards).
    let sql = format!(
        "SELECT l.opportunity_id, s.id, s.stock_number, s.description FROM opportunity_stock_units l \
         JOIN stock_units s ON s.id = l.stock_unit_id WHERE l.opportunity_id IN ({}) ORDER BY s.stock_number",
        crate::db::Backend::of(conn).json_ids("$1")
    );
    let list = format!("[{}]", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
    let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(&sql).bind(list).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|(o, id, n, d)| (o, StockRef { id, stock_number: n, description: d })).collect())
}

async fn assemble(conn: &mut sqlx::AnyConnection, rows: Vec<Row>) -> Result<Vec<Opportunity>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let stock = stock_of(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let units = stock.iter().filter(|(o, _)| *o == r.id).map(|(_, s)| s.clone()).collect();
            r.into_opportunity(units)
        })
        .collect())
}

/// Opportunities visible to `vis` and matching `filter`, in the filter's order.
pub async fn list(db: &Db, vis: &Visibility, filter: &Filter, page: &PageReq) -> Result<Page<Opportunity>> {
    let sort = filter.sort.unwrap_or_else(default_sort);
    let mut q = filtered_from(&page::keyed_select(SELECT, &sort), vis, filter);
    page::keyset(&mut q, &sort, "o.id", page)?;
    let mut conn = db.pool.acquire().await?;
    let rows: Vec<page::Keyed<Row>> = q.query_as().fetch_all(&mut *conn).await?;
    let p = Page::keyed(rows, page, |r: &Row| r.id);
    let items = assemble(&mut conn, p.items).await?;
    Ok(Page { items, next: p.next, prev: p.prev, first: p.first })
}

/// How many opportunities [`list`] would return, up to [`page::COUNT_CAP`].
pub async fn count(db: &Db, vis: &Visibility, filter: &Filter) -> Result<Count> {
    let mut conn = db.pool.acquire().await?;
    page::count_capped(&mut conn, filtered_from(COUNT_FROM, vis, filter), page::COUNT_CAP).await
}

/// One column of the kanban board.
#[derive(Debug, Clone)]
pub struct Column {
    pub status: crate::lists::ListItem,
    pub cards: Vec<Opportunity>,
    /// More cards than shown.
    pub more: bool,
}

/// [`board`]'s statement: the first `per_column + 1` cards of each status, with their names.
fn board_statement(vis: &Visibility, statuses: &[&str], filter: &Filter, per_column: i64) -> Sql {
    // Each branch picks its cards from `opportunities` alone; the names are joined once, to
    // the 12 × 21 rows picked. With the joins inside every branch, PostgreSQL's generic plan
    // (planned for the whole table, not for 21 rows) set up 36 memoizing joins sized for
    // 100 000 rows each, at every execution: 45–60 ms, slower than planning anew each time.
    // The limit is written in the text (a number, never input): a bound LIMIT hides the page
    // size from PostgreSQL's generic plan, which then looked costlier than a custom one, so
    // the statement was planned again at every request (10–13 ms for 12 branches, issue 15).
    let picking = Columns::of(vis, filter);
    let mut q = picking.with(vis, filter, true);
    q.push(BOARD_SELECT).push(" FROM (");
    for (i, s) in statuses.iter().enumerate() {
        if i > 0 {
            q.push(" UNION ALL ");
        }
        let f = Filter { status: Some(s.to_string()), trash: false, ..filter.clone() };
        match &picking {
            Columns::Whole => q
                .push("SELECT * FROM (")
                .append(filtered_from("SELECT o.* FROM opportunities o", vis, &f))
                .push(&format!(" ORDER BY o.id DESC LIMIT {}) AS c{i}", per_column + 1)),
            Columns::Arms(_) => q.push("SELECT * FROM (").append(picking.pick(vis, &f, per_column + 1, true)).push(&format!(") AS c{i}")),
        };
    }
    q.push(
        ") o JOIN customers c ON c.id = o.customer_id LEFT JOIN users u ON u.id = o.owner_id LEFT JOIN org_units b ON b.id = o.branch_id",
    );
    q.push(" ORDER BY o.id DESC");
    q
}

/// The kanban board: for each active status (not the trash), its most recent cards.
pub async fn board(db: &Db, vis: &Visibility, statuses: &Statuses, filter: &Filter, per_column: i64) -> Result<Vec<Column>> {
    // One statement for every column (each an index walk stopping after a page), then one
    // for the stock units of all the cards.
    let columns: Vec<&crate::lists::ListItem> = statuses.board().collect();
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let codes: Vec<&str> = columns.iter().map(|s| s.code.as_str()).collect();
    let q = board_statement(vis, &codes, filter, per_column);
    let mut conn = db.pool.acquire().await?;
    let rows: Vec<Row> = q.query_as().fetch_all(&mut *conn).await?;
    let cards = assemble(&mut conn, rows).await?;
    Ok(columns
        .into_iter()
        .map(|s| {
            let mut mine: Vec<Opportunity> = cards.iter().filter(|o| o.status == s.code).cloned().collect();
            let more = mine.len() as i64 > per_column;
            mine.truncate(per_column as usize);
            Column { status: s.clone(), cards: mine, more }
        })
        .collect())
}

pub async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<Opportunity>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE o.id = $1")).bind(id).fetch_optional(&mut *conn).await?;
    match row {
        Some(r) => Ok(assemble(conn, vec![r]).await?.pop()),
        None => Ok(None),
    }
}

/// A live (not trashed) opportunity, if `vis` may see it.
pub async fn get_visible(db: &Db, vis: &Visibility, id: i64) -> Result<Option<Opportunity>> {
    get_visible_in(db, vis, id, false).await
}

/// A trashed opportunity, if `vis` may see it (the administrators' trash).
pub async fn get_visible_trashed(db: &Db, vis: &Visibility, id: i64) -> Result<Option<Opportunity>> {
    get_visible_in(db, vis, id, true).await
}

async fn get_visible_in(db: &Db, vis: &Visibility, id: i64, trashed: bool) -> Result<Option<Opportunity>> {
    let mut q = Sql::new(SELECT);
    q.push(" WHERE o.id = ").bind(id).push(" AND o.trashed = ").bind(trashed as i64).push(" AND ").append(vis.opportunities("o"));
    let mut conn = db.pool.acquire().await?;
    let row: Option<Row> = q.query_as().fetch_optional(&mut *conn).await?;
    match row {
        Some(r) => Ok(assemble(&mut conn, vec![r]).await?.pop()),
        None => Ok(None),
    }
}

async fn check_refs(tx: &mut Tx, input: &OpportunityInput) -> Result<()> {
    let mut errs = FieldErrors::new();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE id = $1").bind(input.customer_id).fetch_one(&mut **tx).await?;
    if n == 0 {
        errs.add("customer_id", "error.unknown_customer");
    }
    if let Some(b) = input.branch_id {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM org_units WHERE id = $1").bind(b).fetch_one(&mut **tx).await?;
        if n == 0 {
            errs.add("branch_id", "error.unknown_org_unit");
        }
    }
    if let Some(o) = input.owner_id {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1").bind(o).fetch_one(&mut **tx).await?;
        if n == 0 {
            errs.add("owner_id", "error.unknown_user");
        }
    }
    if let Some(l) = &input.lead_type {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM value_list_items WHERE list_code = 'lead_type' AND code = $1")
            .bind(l)
            .fetch_one(&mut **tx)
            .await?;
        if n == 0 {
            errs.add("lead_type", "error.invalid_choice");
        }
    }
    for s in &input.stock_unit_ids {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stock_units WHERE id = $1").bind(*s).fetch_one(&mut **tx).await?;
        if n == 0 {
            errs.add("stock_unit_ids", "error.unknown_stock_unit");
            break;
        }
    }
    errs.into_result()
}

async fn write_stock(tx: &mut Tx, id: i64, stock: &[i64]) -> Result<()> {
    sqlx::query("DELETE FROM opportunity_stock_units WHERE opportunity_id = $1").bind(id).execute(&mut **tx).await?;
    for s in stock {
        sqlx::query("INSERT INTO opportunity_stock_units (opportunity_id, stock_unit_id) VALUES ($1, $2)")
            .bind(id)
            .bind(*s)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Creates an opportunity in the caller's transaction. Its name defaults to the customer's;
/// its status to the initial one (an explicit status must be active and not the trash).
pub async fn create_in(tx: &mut Tx, actor: &Actor, now: Millis, statuses: &Statuses, input: &OpportunityInput) -> Result<Opportunity> {
    check_refs(tx, input).await?;
    insert_in(tx, actor, now, statuses, input).await
}

/// [`create_in`] for a caller that has checked the references itself (lead intake: its
/// customer just created or locked, its branch and owner from routing or the customer, its
/// lead type and stock unit read before the transaction) and names the opportunity.
pub(crate) async fn create_checked_in(
    tx: &mut Tx,
    actor: &Actor,
    now: Millis,
    statuses: &Statuses,
    input: &OpportunityInput,
) -> Result<Opportunity> {
    insert_in(tx, actor, now, statuses, input).await
}

async fn insert_in(tx: &mut Tx, actor: &Actor, now: Millis, statuses: &Statuses, input: &OpportunityInput) -> Result<Opportunity> {
    let status = match &input.status {
        Some(s) => {
            let st = statuses.get(s).filter(|x| x.active).ok_or_else(|| Error::validation("status", "error.invalid_choice"))?;
            if st.has_flag("trash") || st.has_flag("sets_sale_date") || st.has_flag("sets_delivery_date") {
                return Err(Error::validation("status", "error.status_not_initial"));
            }
            st.code.clone()
        }
        None => statuses.initial()?.code.clone(),
    };
    let name = if input.name.is_empty() {
        sqlx::query_scalar("SELECT display_name FROM customers WHERE id = $1").bind(input.customer_id).fetch_one(&mut **tx).await?
    } else {
        input.name.clone()
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO opportunities (name, customer_id, lead_type, status, owner_id, branch_id, trashed, created_at, updated_at, \
         amount_cents, expected_close_on) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7, $8, $9) RETURNING id",
    )
    .bind(&name)
    .bind(input.customer_id)
    .bind(input.lead_type.as_deref())
    .bind(&status)
    .bind(input.owner_id)
    .bind(input.branch_id)
    .bind(now)
    .bind(input.amount_cents)
    .bind(input.expected_close_on.as_deref())
    .fetch_one(&mut **tx)
    .await?;
    // A new opportunity has no stock units to replace.
    for s in &input.stock_unit_ids {
        sqlx::query("INSERT INTO opportunity_stock_units (opportunity_id, stock_unit_id) VALUES ($1, $2)")
            .bind(id)
            .bind(*s)
            .execute(&mut **tx)
            .await?;
    }
    let o = get(tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(tx, actor, now, id, &o).await?;
    Ok(o)
}

/// Creates an opportunity from a form or the API: without an owner or a branch it goes to its
/// creator, in the owner's home unit (lead intake routes its own, see `sales::leads`).
pub async fn create(db: &Db, actor: &Actor, now: Millis, input: &OpportunityInput) -> Result<Opportunity> {
    let statuses = Statuses::load(db).await?;
    let mut tx = db.begin().await?;
    let mut input = input.clone();
    (input.branch_id, input.owner_id) = crate::org::units::placement(&mut tx, actor, input.branch_id, input.owner_id).await?;
    let o = create_in(&mut tx, actor, now, &statuses, &input).await?;
    if let Some(owner) = o.owner_id.filter(|u| Some(*u) != actor.id) {
        notify_assigned(&mut tx, now, &o, owner, actor).await?;
    }
    tx.commit().await?;
    Ok(o)
}

/// Gives an opportunity without an owner (a lead waiting in the queue) to `owner`, a rep a
/// meeting was booked for: it moves to the meeting's branch (else the rep's home branch),
/// audited and with the assignment email.
pub async fn take_owner_in(tx: &mut Tx, actor: &Actor, now: Millis, id: i64, owner: i64, branch: Option<i64>) -> Result<()> {
    let old = get(tx, id).await?.ok_or(Error::NotFound)?;
    if old.owner_id.is_some() {
        return Ok(());
    }
    let branch = match branch {
        Some(b) => Some(b),
        None => crate::org::units::home_of(tx, owner).await?.or(old.branch_id),
    };
    sqlx::query("UPDATE opportunities SET owner_id = $1, branch_id = $2, updated_at = $3 WHERE id = $4")
        .bind(owner)
        .bind(branch)
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let new = get(tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(tx, actor, now, id, &old, &new).await?;
    if Some(owner) != actor.id {
        notify_assigned(tx, now, &new, owner, actor).await?;
    }
    Ok(())
}

/// Tells a user an opportunity was assigned to them.
pub async fn notify_assigned(tx: &mut Tx, now: Millis, o: &Opportunity, owner: i64, actor: &Actor) -> Result<()> {
    use crate::mail::notify::{notify_user, Notice};
    let notice = Notice {
        event: "opportunity_assigned",
        entity: Some(("opportunity".into(), o.id)),
        vars: serde_json::json!({"opportunity": {"id": o.id, "name": o.name, "customer": o.customer_name}, "actor": {"name": actor.name}}),
        attachments: Vec::new(),
        created_by: actor.id,
    };
    notify_user(tx, now, notice, owner).await?;
    Ok(())
}

/// Updates the editable fields (not the status: see [`change_status`]).
pub async fn update(db: &Db, actor: &Actor, now: Millis, id: i64, input: &OpportunityInput) -> Result<Opportunity> {
    let mut tx = db.begin().await?;
    let new = update_in(&mut tx, actor, now, id, input).await?;
    tx.commit().await?;
    Ok(new)
}

/// Field changes and a status change in one transaction (the API's PATCH): either both
/// happen or neither does.
pub async fn apply(
    db: &Db,
    actor: &Actor,
    now: Millis,
    id: i64,
    fields: Option<&OpportunityInput>,
    status: Option<&str>,
    rights: RightSet,
) -> Result<Opportunity> {
    let statuses = Statuses::load(db).await?;
    let mut tx = db.begin().await?;
    if let Some(f) = fields {
        update_in(&mut tx, actor, now, id, f).await?;
    }
    if let Some(s) = status {
        change_status_in(&mut tx, actor, now, &statuses, id, s, rights).await?;
    }
    let o = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    tx.commit().await?;
    Ok(o)
}

/// Creates a customer and an opportunity for them in one transaction (the "new customer"
/// part of the opportunity form), with the returning-customer check unless `allow_duplicate`.
pub async fn create_with_customer(
    db: &Db,
    actor: &Actor,
    now: Millis,
    customer: &crate::customers::CustomerInput,
    allow_duplicate: bool,
    input: &OpportunityInput,
) -> Result<Opportunity> {
    let statuses = Statuses::load(db).await?;
    let mut tx = db.begin().await?;
    let phones: Vec<&str> = customer.phone.iter().chain(customer.mobile.iter()).map(|p| p.as_str()).collect();
    crate::customers::store::lock_identity(&mut tx, now, customer.email.as_ref().map(|e| e.as_str()), &phones).await?;
    if !allow_duplicate {
        let dups = crate::customers::store::lookup(&mut tx, customer.email.as_ref().map(|e| e.as_str()), &phones, None).await?;
        if !dups.is_empty() {
            let field = if customer.email.as_ref().is_some_and(|e| dups.iter().any(|d| d.email.as_deref() == Some(e.as_str()))) {
                "email"
            } else {
                "phone"
            };
            // Rolled back explicitly: on SQLite the customer found may be in the writer's
            // open group, and the caller reads it to name it (`db::writer`).
            tx.rollback().await?;
            return Err(Error::conflict(field, "error.customer_exists"));
        }
    }
    let c = crate::customers::store::create_in(&mut tx, actor, now, customer).await?;
    let input = OpportunityInput { customer_id: c.id, ..input.clone() };
    let o = create_in(&mut tx, actor, now, &statuses, &input).await?;
    if let Some(owner) = o.owner_id.filter(|u| Some(*u) != actor.id) {
        notify_assigned(&mut tx, now, &o, owner, actor).await?;
    }
    tx.commit().await?;
    Ok(o)
}

async fn update_in(tx: &mut Tx, actor: &Actor, now: Millis, id: i64, input: &OpportunityInput) -> Result<Opportunity> {
    let old = get(tx, id).await?.filter(|o| !o.trashed).ok_or(Error::NotFound)?;
    if input.customer_id != old.customer_id {
        return Err(Error::validation("customer_id", "error.read_only"));
    }
    check_refs(tx, input).await?;
    let name = if input.name.is_empty() { old.name.clone() } else { input.name.clone() };
    let mut stock_before: Vec<i64> = old.stock_units.iter().map(|s| s.id).collect();
    let mut stock_after = input.stock_unit_ids.clone();
    stock_before.sort_unstable();
    stock_after.sort_unstable();
    stock_after.dedup();
    if name == old.name
        && input.lead_type == old.lead_type
        && input.owner_id == old.owner_id
        && input.branch_id == old.branch_id
        && input.amount_cents == old.amount_cents
        && input.expected_close_on == old.expected_close_on
        && stock_before == stock_after
    {
        // A no-change save writes nothing, not even `updated_at`.
        return Ok(old);
    }
    sqlx::query(
        "UPDATE opportunities SET name = $1, lead_type = $2, owner_id = $3, branch_id = $4, updated_at = $5, amount_cents = $6, \
         expected_close_on = $7 WHERE id = $8",
    )
    .bind(&name)
    .bind(input.lead_type.as_deref())
    .bind(input.owner_id)
    .bind(input.branch_id)
    .bind(now)
    .bind(input.amount_cents)
    .bind(input.expected_close_on.as_deref())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    write_stock(tx, id, &input.stock_unit_ids).await?;
    let new = get(tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(tx, actor, now, id, &old, &new).await?;
    if let Some(owner) = new.owner_id.filter(|u| Some(*u) != actor.id && old.owner_id != new.owner_id) {
        notify_assigned(tx, now, &new, owner, actor).await?;
    }
    Ok(new)
}

/// Changes the status in the caller's transaction, with the effects the status table gives
/// it (sale date, delivery date, trash, follow-up call). `None` when nothing changed.
pub async fn change_status_in(
    tx: &mut Tx,
    actor: &Actor,
    now: Millis,
    statuses: &Statuses,
    id: i64,
    to: &str,
    rights: RightSet,
) -> Result<Option<Opportunity>> {
    let old = get(tx, id).await?.ok_or(Error::NotFound)?;
    let cur = Current { status: &old.status, sale_date: old.sale_date, trashed: old.trashed };
    let Some(t) = statuses.transition(&cur, to, rights, now)? else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE opportunities SET status = $1, sale_date = COALESCE($2, sale_date), delivery_date = COALESCE($3, delivery_date), \
         trashed = $4, updated_at = $5, booked_at = CASE WHEN $6 = 1 THEN COALESCE(booked_at, $5) ELSE booked_at END, \
         showed_at = CASE WHEN $7 = 1 THEN COALESCE(showed_at, $5) ELSE showed_at END, \
         lost_at = CASE WHEN $8 = 1 THEN $5 ELSE NULL END WHERE id = $9",
    )
    .bind(&t.to)
    .bind(t.sale_date)
    .bind(t.delivery_date)
    .bind(t.trash as i64)
    .bind(now)
    .bind(t.booked as i64)
    .bind(t.showed as i64)
    .bind(t.lost as i64)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    let new = get(tx, id).await?.ok_or(Error::NotFound)?;
    audit::record(tx, actor, now, Opportunity::ENTITY, id, "status", &audit::diff(&old, &new)).await?;
    if t.trash {
        // In the trash as if it never existed: its coming meetings are called off.
        super::meetings::cancel_for_opportunity_in(tx, actor, now, id).await?;
    }
    let lang = crate::i18n::Lang::Fr;
    add_note_in(tx, actor, now, id, "status", &format!("{} → {}", statuses.label(&t.from, &lang), statuses.label(&t.to, &lang))).await?;
    if t.follow_up {
        // The owner's follow-up; an unowned opportunity's goes to the queue: the agent who
        // recorded the loss, else the queue group's first active member. Once per loss: not
        // while an automatic follow-up is still planned.
        let queue_member =
            match (new.owner_id, actor.id) {
                (Some(_), _) => None,
                (None, Some(a)) => Some(a),
                (None, None) => match super::routing::queue_group(tx).await? {
                    Some(g) => sqlx::query_scalar(
                        "SELECT u.id FROM user_group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = $1 AND u.active = 1 \
                     ORDER BY u.id LIMIT 1",
                    )
                    .bind(g)
                    .fetch_optional(&mut **tx)
                    .await?,
                    None => None,
                },
            };
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM calls WHERE opportunity_id = $1 AND automatic = 1 AND status = 'planned'")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
        if let Some(owner) = new.owner_id.or(queue_member).filter(|_| pending == 0) {
            let days = crate::settings::get_in(tx, "opportunities.follow_up_days").await?.parse::<i64>().unwrap_or(30);
            super::calls::schedule_in(
                tx,
                actor,
                now,
                &super::calls::CallInput {
                    file: super::calls::File::Opportunity(id),
                    owner_id: owner,
                    due_at: now + days * 86_400_000,
                    subject: "Relance automatique / Automatic follow-up".into(),
                    notes: String::new(),
                },
                true,
            )
            .await?;
        }
    }
    Ok(Some(new))
}

pub async fn change_status(db: &Db, actor: &Actor, now: Millis, id: i64, to: &str, rights: RightSet) -> Result<Opportunity> {
    let statuses = Statuses::load(db).await?;
    let mut tx = db.begin().await?;
    let res = change_status_in(&mut tx, actor, now, &statuses, id, to, rights).await?;
    let o = match res {
        Some(o) => o,
        None => get(&mut tx, id).await?.ok_or(Error::NotFound)?,
    };
    tx.commit().await?;
    Ok(o)
}

/// Takes an opportunity out of the trash, back to the initial status.
pub async fn restore(db: &Db, actor: &Actor, now: Millis, id: i64) -> Result<Opportunity> {
    let statuses = Statuses::load(db).await?;
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if !old.trashed {
        return Err(Error::InvalidState { reason: "error.not_in_trash" });
    }
    let status = statuses.initial()?.code.clone();
    sqlx::query("UPDATE opportunities SET trashed = 0, status = $1, updated_at = $2 WHERE id = $3")
        .bind(&status)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::record(&mut tx, actor, now, Opportunity::ENTITY, id, "restore", &audit::diff(&old, &new)).await?;
    tx.commit().await?;
    Ok(new)
}

// ------------------------------------------------------------------ notes timeline

/// An entry of an opportunity's timeline ("Remarques"): a note, a lead merged in, a status
/// change, a call logged, a meeting booked.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Note {
    pub id: i64,
    pub opportunity_id: i64,
    /// `note`, `lead`, `status`, `call`, `meeting`.
    pub kind: String,
    pub body: String,
    pub author_id: Option<i64>,
    pub author_name: String,
    pub created_at: i64,
}

impl Note {
    pub fn at(&self) -> String {
        format_ms(self.created_at)
    }
}

impl Audited for Note {
    const ENTITY: &'static str = "opportunity_note";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![("kind", Some(self.kind.clone())), ("body", Some(self.body.clone()))]
    }
}

pub async fn add_note_in(tx: &mut Tx, actor: &Actor, now: Millis, opportunity_id: i64, kind: &str, body: &str) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO opportunity_notes (opportunity_id, kind, body, author_id, author_name, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(opportunity_id)
    .bind(kind)
    .bind(body)
    .bind(actor.id)
    .bind(&actor.name)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// Adds a note written by a user (1 to 10 000 characters).
pub async fn add_note(db: &Db, actor: &Actor, now: Millis, opportunity_id: i64, body: &str) -> Result<Note> {
    let body = body.trim();
    if body.is_empty() {
        return Err(Error::validation("body", "error.required"));
    }
    if body.chars().count() > NOTE_MAX {
        return Err(Error::validation("body", "error.too_long"));
    }
    let mut tx = db.begin().await?;
    get(&mut tx, opportunity_id).await?.filter(|o| !o.trashed).ok_or(Error::NotFound)?;
    let id = add_note_in(&mut tx, actor, now, opportunity_id, "note", body).await?;
    sqlx::query("UPDATE opportunities SET updated_at = $1 WHERE id = $2").bind(now).bind(opportunity_id).execute(&mut *tx).await?;
    let n: Note = sqlx::query_as(&format!("{NOTE} WHERE id = $1")).bind(id).fetch_one(&mut *tx).await?;
    audit::created(&mut tx, actor, now, id, &n).await?;
    tx.commit().await?;
    Ok(n)
}

const NOTE: &str = "SELECT id, opportunity_id, kind, body, author_id, author_name, created_at FROM opportunity_notes";

/// The timeline, newest first.
pub async fn notes(db: &Db, opportunity_id: i64, limit: i64) -> Result<Vec<Note>> {
    Ok(sqlx::query_as(&format!("{NOTE} WHERE opportunity_id = $1 ORDER BY id DESC LIMIT $2"))
        .bind(opportunity_id)
        .bind(limit)
        .fetch_all(&db.pool)
        .await?)
}

// ------------------------------------------------------------------ open files of a customer

/// The customer's open files as sales shows them (see `customers::files`).
pub use crate::customers::files::OpenFile;

/// The longest note of an opportunity.
pub const NOTE_MAX: usize = 10_000;

/// The ids of the customer's opportunities the user may see (not in the trash).
pub async fn visible_ids(db: &Db, vis: &Visibility, customer_id: i64) -> Result<Vec<i64>> {
    let mut q = Sql::new("SELECT o.id FROM opportunities o WHERE o.trashed = 0 AND o.customer_id = ");
    q.bind(customer_id).push(" AND ").append(vis.filter("o.owner_id", "o.branch_id"));
    Ok(q.query_scalar().fetch_all(&db.pool).await?)
}

/// The ids of the meetings of these opportunities.
pub async fn meeting_ids(db: &Db, opportunity_ids: &[i64]) -> Result<Vec<i64>> {
    if opportunity_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new("SELECT id FROM meetings WHERE opportunity_id IN (");
    for (i, id) in opportunity_ids.iter().take(1000).enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.bind(*id);
    }
    q.push(") ORDER BY id");
    Ok(q.query_scalar().fetch_all(&db.pool).await?)
}

/// Sales as a department of `customers::files`: [`open_files`].
pub fn open_files_of<'a>(
    db: &'a Db,
    vis: &'a Visibility,
    customer_id: i64,
    lang: crate::i18n::Lang,
) -> futures_util::future::BoxFuture<'a, Result<Vec<OpenFile>>> {
    Box::pin(async move { open_files(db, vis, customer_id, &lang).await })
}

/// The customer's open opportunities (not trashed, not lost, not delivered, not expired),
/// in every department, newest first.
pub async fn open_files(db: &Db, vis: &Visibility, customer_id: i64, lang: &crate::i18n::Lang) -> Result<Vec<OpenFile>> {
    let statuses = Statuses::load(db).await?;
    let rows: Vec<Row> =
        sqlx::query_as(&format!("{SELECT} WHERE o.customer_id = $1 AND o.trashed = 0 AND NOT {EXPIRED} ORDER BY o.id DESC LIMIT 50"))
            .bind(customer_id)
            .fetch_all(&db.pool)
            .await?;
    let mut q = Sql::new("SELECT o.id FROM opportunities o WHERE o.customer_id = ");
    q.bind(customer_id).push(" AND ").append(vis.opportunities("o"));
    let visible: Vec<i64> = q.query_scalar().fetch_all(&db.pool).await?;
    Ok(rows
        .into_iter()
        .filter(|r| {
            statuses.get(&r.status).is_none_or(|s| !s.has_flag("lost") && !s.has_flag("sets_delivery_date") && !s.has_flag("trash"))
        })
        .map(|r| {
            let v = visible.contains(&r.id);
            OpenFile {
                kind: "opportunity".into(),
                href: format!("/opportunities/{}", r.id),
                id: r.id,
                name: r.name,
                status_label: statuses.label(&r.status, lang),
                status: r.status,
                owner_name: r.owner_name,
                branch_name: r.branch_name,
                visible: v,
                created_at: r.created_at,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Scope;

    fn vis(scope: Scope, user_id: i64) -> Visibility {
        Visibility { scope, user_id, unit_id: Some(9), unit_path: Some("/1/4/9/".into()), home_path: Some("/1/4/".into()) }
    }

    #[test]
    fn the_boards_text_depends_on_the_kind_of_user_never_on_who() {
        let statuses = ["a", "b"];
        let f = Filter::default();
        for scope in [Scope::All, Scope::Own, Scope::Unit, Scope::Subtree] {
            let (one, two) = (board_statement(&vis(scope, 7), &statuses, &f, 20), board_statement(&vis(scope, 8), &statuses, &f, 20));
            assert_eq!(one.text(), two.text(), "{scope:?}");
            let (one, two) = (heads_statement(&vis(scope, 7), &statuses, &f, 1000), heads_statement(&vis(scope, 8), &statuses, &f, 1000));
            assert_eq!(one.text(), two.text(), "{scope:?}");
        }
        // Those who see everything walk each status; the others read their arms and what they
        // take part in, once.
        let all = board_statement(&vis(Scope::All, 7), &statuses, &f, 20);
        assert!(!all.text().contains("tp") && !all.text().contains(" UNION SELECT"), "{}", all.text());
        let own = board_statement(&vis(Scope::Own, 7), &statuses, &f, 20);
        assert!(own.text().starts_with("WITH tp AS MATERIALIZED (") && own.text().matches("FROM tp").count() == 2, "{}", own.text());
        assert!(!own.text().contains(" OR "), "no OR left to walk a status with: {}", own.text());
        let unit = board_statement(&vis(Scope::Unit, 7), &statuses, &f, 20);
        assert!(unit.text().contains("o.branch_id IN (SELECT id FROM org_units") && !unit.text().contains(" OR "), "{}", unit.text());
    }
}
