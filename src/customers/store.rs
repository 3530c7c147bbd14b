//! Storage of customers and contacts.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sqlx::FromRow;

use super::{Contact, ContactInput, Customer, CustomerInput, CustomerListItem, Kind};
use crate::access::{Actor, Visibility};
use crate::audit::{self, Audited};
use crate::clock::Millis;
use crate::db::page::{self, Count, Cursor, Dir, Page, PageReq, Sort, SortKey};
use crate::db::{Backend, Db, Sql, Tx};
use crate::error::{Error, FieldErrors, Result};
use crate::i18n::Lang;

#[derive(Debug, FromRow)]
struct Row {
    id: i64,
    kind: String,
    civility: Option<String>,
    first_name: String,
    last_name: String,
    company_name: String,
    display_name: String,
    email: Option<String>,
    phone: Option<String>,
    mobile: Option<String>,
    address: String,
    language: String,
    branch_id: Option<i64>,
    branch_name: Option<String>,
    owner_id: Option<i64>,
    owner_name: Option<String>,
    notes: String,
    particularities: String,
    created_at: i64,
    updated_at: i64,
}

impl From<Row> for Customer {
    fn from(r: Row) -> Customer {
        Customer {
            id: r.id,
            kind: Kind::parse(&r.kind).unwrap_or(Kind::Person),
            civility: r.civility,
            first_name: r.first_name,
            last_name: r.last_name,
            company_name: r.company_name,
            display_name: r.display_name,
            email: r.email,
            phone: r.phone,
            mobile: r.mobile,
            address: r.address,
            language: Lang::parse(&r.language).unwrap_or_default(),
            branch_id: r.branch_id,
            branch_name: r.branch_name,
            owner_id: r.owner_id,
            owner_name: r.owner_name,
            notes: r.notes,
            particularities: r.particularities.split_whitespace().map(str::to_string).collect(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

macro_rules! columns {
    () => {
        "SELECT c.id, c.kind, c.civility, c.first_name, c.last_name, c.company_name, c.display_name, c.email, c.phone, \
         c.mobile, c.address, c.language, c.branch_id, b.name AS branch_name, c.owner_id, u.name AS owner_name, c.notes, c.particularities, \
         c.created_at, c.updated_at"
    };
}
macro_rules! joins {
    () => {
        " LEFT JOIN org_units b ON b.id = c.branch_id LEFT JOIN users u ON u.id = c.owner_id"
    };
}
const SELECT: &str = concat!(columns!(), " FROM customers c", joins!());
/// A search walking the index of a word's terms ([`crate::search::ranked`]).
const SELECT_RANKED: &str = concat!(columns!(), " FROM search_terms st JOIN customers c ON c.id = st.entity_id", joins!());

/// What the list shows of a customer ([`CustomerListItem`]).
macro_rules! item_columns {
    () => {
        "SELECT c.id, c.kind, c.display_name, c.email, c.phone, c.mobile, c.branch_id, b.name AS branch_name, c.owner_id, \
         u.name AS owner_name, c.created_at"
    };
}
const SELECT_ITEMS: &str = concat!(item_columns!(), " FROM customers c", joins!());
const SELECT_ITEMS_RANKED: &str = concat!(item_columns!(), " FROM search_terms st JOIN customers c ON c.id = st.entity_id", joins!());

/// The fields of [`CustomerListItem`], in its order, as the arguments of the database's JSON
/// object function ([`list_json`]).
macro_rules! item_json_fields {
    () => {
        "'id', c.id, 'kind', c.kind, 'display_name', c.display_name, 'email', c.email, 'phone', c.phone, 'mobile', c.mobile, \
         'branch_id', c.branch_id, 'branch_name', b.name, 'owner_id', c.owner_id, 'owner_name', u.name, 'created_at', c.created_at"
    };
}
/// [`list_json`]'s selects (plain, then walking the terms) on each backend: the id, and the
/// item as a JSON object the database writes.
macro_rules! item_json_selects {
    ($object:literal, $close:literal) => {
        (
            concat!("SELECT c.id, ", $object, item_json_fields!(), $close, " AS json FROM customers c", joins!()),
            concat!(
                "SELECT c.id, ",
                $object,
                item_json_fields!(),
                $close,
                " AS json FROM search_terms st JOIN customers c ON c.id = st.entity_id",
                joins!()
            ),
        )
    };
}
const SELECT_JSON_SQLITE: (&str, &str) = item_json_selects!("json_object(", ")");
const SELECT_JSON_POSTGRES: (&str, &str) = item_json_selects!("CAST(json_build_object(", ") AS TEXT)");

/// A customer of [`list_json`]: its id (for the page's cursors) and its list item as JSON.
#[derive(Debug, FromRow)]
pub struct JsonItem {
    pub id: i64,
    /// A [`CustomerListItem`] as the API writes it.
    pub json: String,
}

#[derive(Debug, FromRow)]
struct ItemRow {
    id: i64,
    kind: String,
    display_name: String,
    email: Option<String>,
    phone: Option<String>,
    mobile: Option<String>,
    branch_id: Option<i64>,
    branch_name: Option<String>,
    owner_id: Option<i64>,
    owner_name: Option<String>,
    created_at: i64,
}

impl From<ItemRow> for CustomerListItem {
    fn from(r: ItemRow) -> CustomerListItem {
        CustomerListItem {
            id: r.id,
            kind: Kind::parse(&r.kind).unwrap_or(Kind::Person),
            display_name: r.display_name,
            email: r.email,
            phone: r.phone,
            mobile: r.mobile,
            branch_id: r.branch_id,
            branch_name: r.branch_name,
            owner_id: r.owner_id,
            owner_name: r.owner_name,
            created_at: r.created_at,
        }
    }
}

/// The default region for phone numbers, on a connection of its own.
pub async fn region_of(db: &Db) -> Result<String> {
    let mut conn = db.pool.acquire().await?;
    region(&mut conn).await
}

/// The default region for phone numbers typed without a country code.
pub async fn region(conn: &mut sqlx::AnyConnection) -> Result<String> {
    crate::settings::get_in(conn, "customers.phone_region").await
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub q: Option<String>,
    pub kind: Option<Kind>,
    pub branch_id: Option<i64>,
    pub owner_id: Option<i64>,
    /// The order of [`list`] (default: by name).
    pub sort: Option<Sort>,
}

/// The orders of the customer list (`sort=code`, `-code` descending). By name (the
/// default) and by creation are index walks; `recent` is kept as the name of `-created`.
pub static SORTS: [SortKey; 5] = [
    SortKey::text("name", "c.sort_key"),
    SortKey::int("created", "c.id").desc_first(),
    SortKey::text("email", "COALESCE(c.email, '')"),
    SortKey::text("branch", "COALESCE(b.name, '')"),
    SortKey::text("owner", "COALESCE(u.name, '')"),
];

/// By name, A → Z.
pub fn default_sort() -> Sort {
    Sort::by(&SORTS[0])
}

/// Parses a `sort` parameter (`recent` being `-created`).
pub fn parse_sort(s: &str) -> Result<Sort> {
    Sort::parse(if s.trim() == "recent" { "-created" } else { s }, &SORTS, default_sort())
}

/// The key a ranked search walks: the matched term, then the id.
static BY_TERM: SortKey = SortKey::text("term", "st.term");

/// Customers visible to `vis` and matching `filter`, in the filter's order; or, when words
/// are typed with the name order and more than one person's customers are visible, by
/// matched word (see [`crate::search::ranked`]: a page then reads about `limit` rows,
/// however many customers match). Whole records: for the export and the pickers; the list
/// itself reads [`list_items`].
pub async fn list(db: &Db, vis: &Visibility, filter: &Filter, page: &PageReq) -> Result<Page<Customer>> {
    let rows = read::<Row>(db, vis, filter, page, (SELECT, SELECT_RANKED), |r| r.id).await?;
    Ok(rows.map(Customer::from))
}

/// [`list`] as the list shows it: the columns of [`CustomerListItem`] only.
pub async fn list_items(db: &Db, vis: &Visibility, filter: &Filter, page: &PageReq) -> Result<Page<CustomerListItem>> {
    let rows = read::<ItemRow>(db, vis, filter, page, (SELECT_ITEMS, SELECT_ITEMS_RANKED), |r| r.id).await?;
    Ok(rows.map(CustomerListItem::from))
}

/// [`list_items`] as the API sends them, each item a JSON object written by the database (the
/// same fields and values as [`CustomerListItem`]'s serialisation): reading a row costs the
/// driver a copy and a release of each value, so a page of 100 customers decoded into 12
/// values each and encoded again took longer than the statement (issue 15, the prefix page).
pub async fn list_json(db: &Db, vis: &Visibility, filter: &Filter, page: &PageReq) -> Result<Page<JsonItem>> {
    let selects = match db.backend {
        Backend::Sqlite => SELECT_JSON_SQLITE,
        Backend::Postgres => SELECT_JSON_POSTGRES,
    };
    read::<JsonItem>(db, vis, filter, page, selects, |r| r.id).await
}

/// The page of [`list`] with the columns of `selects` (plain, then walking the terms).
async fn read<R>(db: &Db, vis: &Visibility, filter: &Filter, page: &PageReq, selects: (&str, &str), id_of: fn(&R) -> i64) -> Result<Page<R>>
where
    R: for<'r> FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let text = filter.q.as_deref().unwrap_or("");
    let sort = filter.sort.unwrap_or_else(default_sort);
    let mut conn = db.pool.acquire().await?;
    let at = page.at.as_ref().map(|(c, d)| (c.k.as_str(), *d));
    // A representative's customers (a few thousand) are walked by name and probed: the page
    // stops after `limit` matches. Everyone else's search by name walks the terms of a word.
    let own = vis.own_only() || filter.owner_id.is_some();
    let by_name = sort == default_sort();
    let lead = if by_name && !own { crate::search::lead(&mut conn, Customer::ENTITY, text, at.map(|a| a.0)).await? } else { None };
    if let Some(lead) = lead.as_deref().filter(|_| page.at.is_none()) {
        if let Some(walk) = crate::search::ranked_from_start(Customer::ENTITY, text, lead) {
            return first_ranked(&mut conn, vis, filter, page, selects.1, walk, id_of).await;
        }
    }
    let ranked = lead.and_then(|lead| crate::search::ranked(Customer::ENTITY, text, &lead, at));
    let (select, sort, id) = match ranked {
        Some(_) => (selects.1, Sort { key: &BY_TERM, desc: false }, "st.entity_id"),
        None => (selects.0, sort, "c.id"),
    };
    let mut q = Sql::new(&page::keyed_select(select, &sort));
    q.push(" WHERE ").append(vis.customers("c"));
    if let Some(r) = ranked {
        q.push(" AND ").append(r);
    } else if let Some(m) =
        if own { crate::search::probing(Customer::ENTITY, "c.id", text) } else { crate::search::matching(Customer::ENTITY, "c.id", text) }
    {
        q.push(" AND ").append(m);
    }
    narrow(&mut q, filter);
    page::keyset(&mut q, &sort, id, page)?;
    let rows: Vec<page::Keyed<R>> = q.query_as().fetch_all(&mut *conn).await?;
    Ok(Page::keyed(rows, page, id_of))
}

/// The rows a first page of a search by word reads beyond `limit + 1`, for the records met
/// again at a longer term (`tremblay`, then `tremblay42` of the email); more are read only
/// when that is not enough.
const FIRST_PAGE_SLACK: i64 = 8;

/// The first page of a search by word ([`crate::search::ranked_from_start`]): the walk from
/// the word's first term, each record kept at its first row, which is its smallest matching
/// term (the other conditions are the record's, not the term's, so a record's rows pass or
/// fail them together). The same rows as [`crate::search::ranked`] without its probe per
/// row; read on (after the last row read) while the page is short and the walk is not over.
async fn first_ranked<R>(
    conn: &mut sqlx::AnyConnection,
    vis: &Visibility,
    filter: &Filter,
    page: &PageReq,
    select: &str,
    walk: Sql,
    id_of: fn(&R) -> i64,
) -> Result<Page<R>>
where
    R: for<'r> FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let sort = Sort { key: &BY_TERM, desc: false };
    let want = usize::try_from(page.limit.max(0) + 1).unwrap_or(usize::MAX);
    let mut seen: HashSet<i64> = HashSet::new();
    let mut kept: Vec<page::Keyed<R>> = Vec::new();
    let mut read = PageReq { limit: page.limit.max(0) + FIRST_PAGE_SLACK, at: None };
    loop {
        let mut q = Sql::new(&page::keyed_select(select, &sort));
        q.push(" WHERE ").append(vis.customers("c")).push(" AND ").append(walk.clone());
        narrow(&mut q, filter);
        page::keyset(&mut q, &sort, "st.entity_id", &read)?;
        let rows: Vec<page::Keyed<R>> = q.query_as().fetch_all(&mut *conn).await?;
        let over = (rows.len() as i64) <= read.limit;
        let mut last = None;
        for r in rows {
            let id = id_of(&r.row);
            last = Some(Cursor { k: r.key.clone(), id, n: 0 });
            if seen.insert(id) && kept.len() < want {
                kept.push(r);
            }
        }
        match last {
            Some(c) if !over && kept.len() < want => read = PageReq { limit: page.limit.max(0), at: Some((c, Dir::After)) },
            _ => break,
        }
    }
    Ok(Page::keyed(kept, page, id_of))
}

/// The filters other than the words typed.
fn narrow(q: &mut Sql, filter: &Filter) {
    if let Some(k) = filter.kind {
        q.push(" AND c.kind = ").bind(k.code());
    }
    if let Some(b) = filter.branch_id {
        q.push(" AND c.branch_id = ").bind(b);
    }
    if let Some(o) = filter.owner_id {
        q.push(" AND c.owner_id = ").bind(o);
    }
}

/// How many customers [`list`] would return, up to [`page::COUNT_CAP`].
pub async fn count(db: &Db, vis: &Visibility, filter: &Filter) -> Result<Count> {
    let mut q = Sql::new("SELECT 1 FROM customers c WHERE ");
    q.append(vis.customers("c"));
    if let Some(m) = crate::search::matching(Customer::ENTITY, "c.id", filter.q.as_deref().unwrap_or("")) {
        q.push(" AND ").append(m);
    }
    narrow(&mut q, filter);
    let mut conn = db.pool.acquire().await?;
    page::count_capped(&mut conn, q, page::COUNT_CAP).await
}

pub async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<Customer>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE c.id = $1")).bind(id).fetch_optional(conn).await?;
    Ok(row.map(Customer::from))
}

/// A customer, if it exists and `vis` may see it.
pub async fn get_visible(db: &Db, vis: &Visibility, id: i64) -> Result<Option<Customer>> {
    let mut q = Sql::new(SELECT);
    q.push(" WHERE c.id = ").bind(id).push(" AND ").append(vis.customers("c"));
    let row: Option<Row> = q.query_as().fetch_optional(&db.pool).await?;
    Ok(row.map(Customer::from))
}

/// A customer, if it exists and `vis` may change it: by scope only (reading the customer
/// behind a record one takes part in gives no right to change it).
pub async fn get_writable(db: &Db, vis: &Visibility, id: i64) -> Result<Option<Customer>> {
    let mut q = Sql::new(SELECT);
    q.push(" WHERE c.id = ").bind(id).push(" AND ").append(vis.filter("c.owner_id", "c.branch_id"));
    let row: Option<Row> = q.query_as().fetch_optional(&db.pool).await?;
    Ok(row.map(Customer::from))
}

/// A customer already holding one of these email addresses or phone numbers.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Match {
    pub id: i64,
    pub display_name: String,
    pub kind: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
}

/// Customers recognised by normalised email or phone (their own, or one of their
/// contacts'), whatever the caller's visibility: recognition must work across branches.
/// Callers show details only for the customers the user may see.
pub async fn lookup(conn: &mut sqlx::AnyConnection, email: Option<&str>, phones: &[&str], exclude: Option<i64>) -> Result<Vec<Match>> {
    let Some(conds) = identity_conds(email, phones) else {
        return Ok(Vec::new());
    };
    let mut q =
        Sql::new("SELECT id, display_name, kind, email, phone, mobile FROM customers WHERE id IN (SELECT x.id FROM customers x WHERE ");
    q.append(conds.clone());
    q.push(" UNION SELECT x.customer_id FROM contacts x WHERE ").append(conds).push(")");
    if let Some(ex) = exclude {
        q.push(" AND id <> ").bind(ex);
    }
    q.push(" ORDER BY id LIMIT 20");
    Ok(q.query_as().fetch_all(conn).await?)
}

/// `(x.email = .. OR x.phone = .. OR x.mobile = ..)` for a table aliased `x`, or `None`
/// when there is nothing to recognise a person by.
fn identity_conds(email: Option<&str>, phones: &[&str]) -> Option<Sql> {
    if email.is_none() && phones.is_empty() {
        return None;
    }
    let mut conds = Sql::new("(");
    let mut first = true;
    let mut or = |s: &mut Sql| {
        if !first {
            s.push(" OR ");
        }
        first = false;
    };
    if let Some(e) = email {
        or(&mut conds);
        conds.push("x.email = ").bind(e);
    }
    for p in phones {
        or(&mut conds);
        conds.push("x.phone = ").bind(*p);
        or(&mut conds);
        conds.push("x.mobile = ").bind(*p);
    }
    conds.push(")");
    Some(conds)
}

/// A scalar subquery: the id of the customer [`lookup`] would give first (the lowest id
/// among the matches), NULL when none matches. For statements that read or re-check the
/// recognised customer along with other things (lead intake).
pub fn first_match(email: Option<&str>, phones: &[&str]) -> Sql {
    match identity_conds(email, phones) {
        None => Sql::new("(SELECT CAST(NULL AS BIGINT))"),
        Some(conds) => {
            let mut q = Sql::new("(SELECT MIN(m.id) FROM (SELECT x.id FROM customers x WHERE ");
            q.append(conds.clone());
            q.push(" UNION SELECT x.customer_id FROM contacts x WHERE ").append(conds).push(") m)");
            q
        }
    }
}

/// Checks the branch, owner, particularities and civility of `input` exist.
pub(crate) async fn check_refs(tx: &mut sqlx::AnyConnection, input: &CustomerInput) -> Result<()> {
    let mut errs = FieldErrors::new();
    if let Some(b) = input.branch_id {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM org_units WHERE id = $1").bind(b).fetch_one(&mut *tx).await?;
        if n == 0 {
            errs.add("branch_id", "error.unknown_org_unit");
        }
    }
    if let Some(o) = input.owner_id {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1").bind(o).fetch_one(&mut *tx).await?;
        if n == 0 {
            errs.add("owner_id", "error.unknown_user");
        }
    }
    check_particularities(tx, &input.particularities, &mut errs).await?;
    if let Some(c) = &input.civility {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM value_list_items WHERE list_code = 'civility' AND code = $1")
            .bind(c)
            .fetch_one(&mut *tx)
            .await?;
        if n == 0 {
            errs.add("civility", "error.invalid_choice");
        }
    }
    errs.into_result()
}

async fn check_particularities(tx: &mut sqlx::AnyConnection, codes: &[String], errs: &mut FieldErrors) -> Result<()> {
    for p in codes {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM value_list_items WHERE list_code = 'customer_particularity' AND code = $1")
            .bind(p)
            .fetch_one(&mut *tx)
            .await?;
        if n == 0 {
            errs.add("particularities", "error.invalid_choice");
            break;
        }
    }
    Ok(())
}

fn phones(input: &CustomerInput) -> Vec<&str> {
    input.phone.iter().chain(input.mobile.iter()).map(|p| p.as_str()).collect()
}

/// The searchable values of a customer: names, email, phone digits with the country code
/// and in national form (so that "514555" finds +15145550199), and the number's local part:
/// every run of its last 7 digits or more (so that "555-0199" finds it without the area code).
fn search_values(first_name: &str, last_name: &str, company_name: &str, email: Option<&str>, phones: &[&str]) -> Vec<String> {
    let ph: Vec<String> = phones.iter().map(|p| p.trim_start_matches('+').to_string()).collect();
    let national: Vec<String> = ph.iter().map(|p| p.strip_prefix('1').unwrap_or(p).to_string()).collect();
    let mut values: Vec<String> = vec![first_name.to_string(), last_name.to_string(), company_name.to_string()];
    values.extend(email.map(str::to_string));
    values.extend(ph.iter().flat_map(|p| local_parts(p)));
    values.extend(ph);
    values.extend(national);
    values
}

/// The trailing runs of 7 digits or more of a number's digits, shorter than the number.
/// Kept in step with the backfill of migration `0014_sold_and_sort_keys.sql`.
pub(crate) fn local_parts(digits: &str) -> Vec<String> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Vec::new();
    }
    (7..digits.len()).map(|k| digits[digits.len() - k..].to_string()).collect()
}

fn input_values(c: &CustomerInput) -> Vec<String> {
    search_values(&c.first_name, &c.last_name, &c.company_name, c.email.as_ref().map(|e| e.as_str()), &phones(c))
}

/// The searchable values of a stored customer (as [`input_values`] of the same fields).
pub(crate) fn customer_values(c: &Customer) -> Vec<String> {
    let phones: Vec<&str> = c.phone.iter().chain(c.mobile.iter()).map(String::as_str).collect();
    search_values(&c.first_name, &c.last_name, &c.company_name, c.email.as_deref(), &phones)
}

/// Refreshes what is derived from a customer's fields: its search terms and the folded name it
/// sorts by.
async fn reindex(tx: &mut Tx, id: i64, c: &CustomerInput) -> Result<()> {
    sqlx::query("UPDATE customers SET sort_key = $1 WHERE id = $2")
        .bind(crate::search::sort_key(&c.display_name()))
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let values = input_values(c);
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    crate::search::index(tx, Customer::ENTITY, id, &refs).await
}

/// Customers by id, with their branch and owner names (ids not found are absent).
pub async fn get_many(conn: &mut sqlx::AnyConnection, ids: &[i64]) -> Result<HashMap<i64, Customer>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let mut q = Sql::new(SELECT);
        q.push(" WHERE c.id IN (");
        for (i, id) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(*id);
        }
        q.push(")");
        let rows: Vec<Row> = q.query_as().fetch_all(&mut *conn).await?;
        out.extend(rows.into_iter().map(|r| (r.id, Customer::from(r))));
    }
    Ok(out)
}

/// What [`holders`] finds: the customer, and the email and phones of the customer or of
/// its contact that matched.
#[derive(Debug, Clone, FromRow)]
pub struct Holder {
    pub customer_id: i64,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
}

/// [`lookup`] for many keys at once (a chunk of an import): every customer, or contact of a
/// customer, whose email is one of `emails` or whose phone or mobile is one of `phones`
/// (all normalised), whatever the visibility. A few statements of at most about 600
/// parameters each, whatever the number of keys.
pub async fn holders(conn: &mut sqlx::AnyConnection, emails: &[String], phones: &[String]) -> Result<Vec<Holder>> {
    let mut out = Vec::new();
    let (mut e, mut p) = (emails, phones);
    while !e.is_empty() || !p.is_empty() {
        let (e_now, e_rest) = e.split_at(e.len().min(200));
        let (p_now, p_rest) = p.split_at(p.len().min(200));
        (e, p) = (e_rest, p_rest);
        for (table, id_col) in [("customers", "id"), ("contacts", "customer_id")] {
            let mut q = Sql::new(&format!("SELECT {id_col} AS customer_id, email, phone, mobile FROM {table} WHERE "));
            let mut first = true;
            for (col, keys) in [("email", e_now), ("phone", p_now), ("mobile", p_now)] {
                if keys.is_empty() {
                    continue;
                }
                if !first {
                    q.push(" OR ");
                }
                first = false;
                q.push(col).push(" IN (");
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        q.push(", ");
                    }
                    q.bind(k.clone());
                }
                q.push(")");
            }
            let rows: Vec<Holder> = q.query_as().fetch_all(&mut *conn).await?;
            out.extend(rows);
        }
    }
    Ok(out)
}

/// Customer rows per statement: they travel as one JSON parameter (see
/// [`crate::db::Backend::json_rows`]), so this only bounds the statement's size.
const CUSTOMERS_PER_STATEMENT: usize = 5_000;

/// Creates many customers inside the caller's transaction, with their search terms and
/// history, in a few statements (an import chunk). The caller has checked the references
/// (civility, particularities, branch, owner); no returning-customer check. Returns the
/// customers in the order of `inputs`.
pub async fn create_many(tx: &mut Tx, actor: &Actor, now: Millis, inputs: &[&CustomerInput]) -> Result<Vec<Customer>> {
    use crate::db::JsonCol::{Int, Text};
    // Rows without an owner or a branch are placed like any creation (one lookup per owner).
    let mut homes: HashMap<i64, Option<i64>> = HashMap::new();
    let mut placed: Vec<CustomerInput> = Vec::with_capacity(inputs.len());
    for input in inputs {
        let mut p = (*input).clone();
        p.owner_id = p.owner_id.or(actor.id);
        if let (None, Some(o)) = (p.branch_id, p.owner_id) {
            if let std::collections::hash_map::Entry::Vacant(e) = homes.entry(o) {
                e.insert(crate::org::units::home_of(tx, o).await?);
            }
            p.branch_id = homes.get(&o).copied().flatten();
        }
        placed.push(p);
    }
    let select = crate::db::Backend::of(tx).json_rows(
        "$2",
        &[
            ("sort_key", Text),
            ("kind", Text),
            ("civility", Text),
            ("first_name", Text),
            ("last_name", Text),
            ("company_name", Text),
            ("display_name", Text),
            ("email", Text),
            ("phone", Text),
            ("mobile", Text),
            ("address", Text),
            ("language", Text),
            ("branch_id", Int),
            ("owner_id", Int),
            ("notes", Text),
            ("particularities", Text),
        ],
    );
    let sql = format!(
        "INSERT INTO customers (sort_key, kind, civility, first_name, last_name, company_name, display_name, email, phone, mobile, address, \
         language, branch_id, owner_id, notes, particularities, created_at, updated_at) \
         SELECT j.sort_key, j.kind, j.civility, j.first_name, j.last_name, j.company_name, j.display_name, j.email, j.phone, j.mobile, \
         j.address, j.language, j.branch_id, j.owner_id, j.notes, j.particularities, $1, $1 FROM ({select}) j RETURNING id"
    );
    let mut ids: Vec<i64> = Vec::with_capacity(placed.len());
    for chunk in placed.chunks(CUSTOMERS_PER_STATEMENT) {
        let rows: Vec<serde_json::Value> = chunk
            .iter()
            .map(|i| {
                serde_json::json!([
                    crate::search::sort_key(&i.display_name()),
                    i.kind.code(),
                    i.civility,
                    i.first_name,
                    i.last_name,
                    i.company_name,
                    i.display_name(),
                    i.email.as_ref().map(|e| e.as_str()),
                    i.phone.as_ref().map(|p| p.as_str()),
                    i.mobile.as_ref().map(|p| p.as_str()),
                    i.address,
                    i.language.code(),
                    i.branch_id,
                    i.owner_id,
                    i.notes,
                    i.particularities.join(" "),
                ])
            })
            .collect();
        let json = serde_json::to_string(&rows).map_err(|e| Error::Internal(e.to_string()))?;
        let mut got: Vec<i64> = sqlx::query_scalar(&sql).bind(now).bind(json).fetch_all(&mut **tx).await?;
        if got.len() != chunk.len() {
            return Err(Error::Internal(format!("multi-row INSERT returned {} ids for {} rows", got.len(), chunk.len())));
        }
        // Both backends number the rows of one INSERT in the order its SELECT produces them
        // (SQLite's rowid and a PostgreSQL identity are drawn row by row; the JSON rows are read
        // in their array order); RETURNING does not promise that order, so the ids are sorted.
        got.sort_unstable();
        ids.extend(got);
    }
    let values: Vec<Vec<String>> = placed.iter().map(input_values).collect();
    let records: Vec<(i64, Vec<&str>)> = ids.iter().zip(&values).map(|(id, v)| (*id, v.iter().map(String::as_str).collect())).collect();
    crate::search::index_new(tx, Customer::ENTITY, &records).await?;
    // The customers as stored, without reading them back: only the names of their branches
    // and owners come from the database (a few, once each).
    let names = unit_and_user_names(tx, &placed).await?;
    let out: Vec<Customer> = ids
        .iter()
        .zip(&placed)
        .map(|(id, i)| Customer {
            id: *id,
            kind: i.kind,
            civility: i.civility.clone(),
            first_name: i.first_name.clone(),
            last_name: i.last_name.clone(),
            company_name: i.company_name.clone(),
            display_name: i.display_name(),
            email: i.email.as_ref().map(|e| e.as_str().to_string()),
            phone: i.phone.as_ref().map(|p| p.as_str().to_string()),
            mobile: i.mobile.as_ref().map(|p| p.as_str().to_string()),
            address: i.address.clone(),
            language: i.language,
            branch_id: i.branch_id,
            branch_name: i.branch_id.and_then(|b| names.0.get(&b).cloned()),
            owner_id: i.owner_id,
            owner_name: i.owner_id.and_then(|u| names.1.get(&u).cloned()),
            notes: i.notes.clone(),
            particularities: i.particularities.clone(),
            created_at: now,
            updated_at: now,
        })
        .collect();
    let entries: Vec<audit::Entry> = out.iter().map(|c| audit::creation(c.id, c)).collect();
    audit::record_many(tx, actor, now, &entries).await?;
    Ok(out)
}

/// The names of the branches and owners of `inputs` (each id once).
async fn unit_and_user_names(tx: &mut Tx, inputs: &[CustomerInput]) -> Result<(HashMap<i64, String>, HashMap<i64, String>)> {
    let mut units: Vec<i64> = inputs.iter().filter_map(|i| i.branch_id).collect();
    let mut users: Vec<i64> = inputs.iter().filter_map(|i| i.owner_id).collect();
    for v in [&mut units, &mut users] {
        v.sort_unstable();
        v.dedup();
    }
    let backend = crate::db::Backend::of(tx);
    let mut out = (HashMap::new(), HashMap::new());
    for (table, ids, map) in [("org_units", &units, &mut out.0), ("users", &users, &mut out.1)] {
        if ids.is_empty() {
            continue;
        }
        let json = serde_json::to_string(ids).map_err(|e| Error::Internal(e.to_string()))?;
        let rows: Vec<(i64, String)> = sqlx::query_as(&format!("SELECT id, name FROM {table} WHERE id IN ({})", backend.json_ids("$1")))
            .bind(json)
            .fetch_all(&mut **tx)
            .await?;
        map.extend(rows);
    }
    Ok(out)
}

/// Locks a person's identity keys (normalised email, E.164 phones) for the rest of the
/// transaction ([`crate::db::lock`]). Every transaction that looks a person up and may then
/// create or re-key a customer takes them first, before its lookup: simultaneous requests for
/// one new email or phone then run one after the other, and all but the first find the
/// customer the first created (see "Identity under concurrency" in `docs/architecture.md`).
pub async fn lock_identity(tx: &mut Tx, now: Millis, email: Option<&str>, phones: &[&str]) -> Result<()> {
    crate::db::lock(tx, now, &identity_lock_names(email, phones)).await?;
    Ok(())
}

fn identity_lock_names(email: Option<&str>, phones: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = email.map(|e| format!("identity:email:{e}")).into_iter().collect();
    names.extend(phones.iter().map(|p| format!("identity:phone:{p}")));
    names
}

/// [`lock_identity`] then [`lock_customer`] in one statement (the same order, see
/// [`crate::db::lock_in_order`]), for a caller that already knows the customer it expects
/// to find, and re-checks it after the locks.
pub async fn lock_identity_and_customer(tx: &mut Tx, now: Millis, email: Option<&str>, phones: &[&str], id: i64) -> Result<()> {
    crate::db::lock_in_order(tx, now, &[&identity_lock_names(email, phones), &[customer_lock_name(id)]]).await?;
    Ok(())
}

fn customer_lock_name(id: i64) -> String {
    format!("customer:{id}")
}

/// Locks one customer for the rest of the transaction, after [`lock_identity`]: leads for
/// the same customer recognised by different keys (one by email, one by phone) then decide
/// one after the other whether to merge into an opportunity or open one.
pub async fn lock_customer(tx: &mut Tx, now: Millis, id: i64) -> Result<()> {
    crate::db::lock(tx, now, &[customer_lock_name(id)]).await?;
    Ok(())
}

/// Creates a customer. A customer whose email or phone already exists is refused with a
/// conflict on that field, unless `allow_duplicate` (a right) says to create anyway. The
/// identity keys are locked first, so that simultaneous creations for one new email or phone
/// make one customer and the others are refused as a later creation would be.
pub async fn create(db: &Db, actor: &Actor, now: Millis, input: &CustomerInput, allow_duplicate: bool) -> Result<Customer> {
    let mut tx = db.begin().await?;
    lock_identity(&mut tx, now, input.email.as_ref().map(|e| e.as_str()), &phones(input)).await?;
    if !allow_duplicate {
        let dups = lookup(&mut tx, input.email.as_ref().map(|e| e.as_str()), &phones(input), None).await?;
        if !dups.is_empty() {
            let field = if input.email.as_ref().is_some_and(|e| dups.iter().any(|d| d.email.as_deref() == Some(e.as_str()))) {
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
    let c = create_in(&mut tx, actor, now, input).await?;
    tx.commit().await?;
    Ok(c)
}

/// Creates a customer inside the caller's transaction (references checked, search terms and
/// history written); no returning-customer check.
pub async fn create_in(tx: &mut Tx, actor: &Actor, now: Millis, input: &CustomerInput) -> Result<Customer> {
    let mut input = input.clone();
    (input.branch_id, input.owner_id) = crate::org::units::placement(tx, actor, input.branch_id, input.owner_id).await?;
    let input = &input;
    check_refs(tx, input).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO customers (kind, civility, first_name, last_name, company_name, display_name, email, phone, mobile, address, language, \
         branch_id, owner_id, notes, particularities, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) RETURNING id",
    )
    .bind(input.kind.code())
    .bind(input.civility.as_deref())
    .bind(&input.first_name)
    .bind(&input.last_name)
    .bind(&input.company_name)
    .bind(input.display_name())
    .bind(input.email.as_ref().map(|e| e.as_str()))
    .bind(input.phone.as_ref().map(|p| p.as_str()))
    .bind(input.mobile.as_ref().map(|p| p.as_str()))
    .bind(&input.address)
    .bind(input.language.code())
    .bind(input.branch_id)
    .bind(input.owner_id)
    .bind(&input.notes)
    .bind(input.particularities.join(" "))
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    reindex(tx, id, input).await?;
    let c = get(tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(tx, actor, now, id, &c).await?;
    Ok(c)
}

pub async fn update(db: &Db, actor: &Actor, now: Millis, id: i64, input: &CustomerInput) -> Result<Customer> {
    let mut tx = db.begin().await?;
    // A lead for the new email or phone arriving meanwhile waits, then finds this customer.
    lock_identity(&mut tx, now, input.email.as_ref().map(|e| e.as_str()), &phones(input)).await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let before = audit::Before::read(&mut tx, "customers", id).await?;
    check_refs(&mut tx, input).await?;
    sqlx::query(
        "UPDATE customers SET kind = $1, civility = $2, first_name = $3, last_name = $4, company_name = $5, display_name = $6, email = $7, \
         phone = $8, mobile = $9, address = $10, language = $11, branch_id = $12, owner_id = $13, notes = $14, particularities = $15, updated_at = $16 \
         WHERE id = $17",
    )
    .bind(input.kind.code())
    .bind(input.civility.as_deref())
    .bind(&input.first_name)
    .bind(&input.last_name)
    .bind(&input.company_name)
    .bind(input.display_name())
    .bind(input.email.as_ref().map(|e| e.as_str()))
    .bind(input.phone.as_ref().map(|p| p.as_str()))
    .bind(input.mobile.as_ref().map(|p| p.as_str()))
    .bind(&input.address)
    .bind(input.language.code())
    .bind(input.branch_id)
    .bind(input.owner_id)
    .bind(&input.notes)
    .bind(input.particularities.join(" "))
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    reindex(&mut tx, id, input).await?;
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if before.unchanged(&mut tx, &old, &new).await? {
        tx.rollback().await?;
        return Ok(old);
    }
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    Ok(new)
}

pub async fn delete(db: &Db, actor: &Actor, now: Millis, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    // A customer with files (opportunities, even trashed ones) is kept: merge it instead.
    let files: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM opportunities WHERE customer_id = $1) + (SELECT COUNT(*) FROM service_requests WHERE customer_id = $1) \
         + (SELECT COUNT(*) FROM equipment WHERE customer_id = $1)",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if files > 0 {
        return Err(Error::InvalidState { reason: "error.customer_has_files" });
    }
    sqlx::query("DELETE FROM meeting_participants WHERE kind = 'customer' AND ref_id = $1").bind(id).execute(&mut *tx).await?;
    for c in contacts_in(&mut tx, id).await? {
        audit::deleted(&mut tx, actor, now, c.id, &c).await?;
    }
    sqlx::query("DELETE FROM search_terms WHERE entity_type = $1 AND entity_id = $2")
        .bind(Customer::ENTITY)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM customers WHERE id = $1").bind(id).execute(&mut *tx).await?;
    audit::deleted(&mut tx, actor, now, id, &old).await?;
    tx.commit().await?;
    Ok(())
}

/// Tables whose rows belong to a customer: (table, column). A merge moves them all.
/// Modules that link records to customers add theirs here.
pub const LINKED: &[(&str, &str)] = &[
    ("contacts", "customer_id"),
    ("opportunities", "customer_id"),
    ("leads", "customer_id"),
    ("service_requests", "customer_id"),
    ("equipment", "customer_id"),
];

/// Merges `remove` into `keep`: every linked record moves to `keep`, fields empty on
/// `keep` are filled from `remove`, notes are concatenated, `remove` is deleted. Both
/// records' histories say so.
pub async fn merge(db: &Db, actor: &Actor, now: Millis, keep: i64, remove: i64) -> Result<Customer> {
    if keep == remove {
        return Err(Error::validation("from_id", "error.merge_same"));
    }
    let mut tx = db.begin().await?;
    let k = get(&mut tx, keep).await?.ok_or(Error::NotFound)?;
    let r = get(&mut tx, remove).await?.ok_or_else(|| Error::validation("from_id", "error.not_found"))?;
    // Equipment serial numbers are unique per customer: a serial both records have is kept
    // apart on the moved equipment (suffixed with its id) instead of failing the merge.
    sqlx::query(
        "UPDATE equipment SET serial_number = serial_number || '-' || CAST(id AS TEXT) WHERE customer_id = $1 \
         AND serial_number IN (SELECT e.serial_number FROM equipment e WHERE e.customer_id = $2)",
    )
    .bind(remove)
    .bind(keep)
    .execute(&mut *tx)
    .await?;
    for (table, column) in LINKED {
        sqlx::query(&format!("UPDATE {table} SET {column} = $1 WHERE {column} = $2")).bind(keep).bind(remove).execute(&mut *tx).await?;
    }
    // Meeting participants: the kept record takes the removed one's place (once per meeting).
    sqlx::query(
        "UPDATE meeting_participants SET ref_id = $1 WHERE kind = 'customer' AND ref_id = $2 AND NOT EXISTS \
         (SELECT 1 FROM meeting_participants p WHERE p.meeting_id = meeting_participants.meeting_id AND p.kind = 'customer' AND p.ref_id = $1)",
    )
    .bind(keep)
    .bind(remove)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM meeting_participants WHERE kind = 'customer' AND ref_id = $1").bind(remove).execute(&mut *tx).await?;
    sqlx::query("UPDATE emails SET entity_id = $1 WHERE entity_type = 'customer' AND entity_id = $2")
        .bind(keep)
        .bind(remove)
        .execute(&mut *tx)
        .await?;
    let pick = |a: &Option<String>, b: &Option<String>| a.clone().or_else(|| b.clone());
    let pick_s = |a: &str, b: &str| if a.is_empty() { b.to_string() } else { a.to_string() };
    let notes = match (k.notes.is_empty(), r.notes.is_empty()) {
        (_, true) => k.notes.clone(),
        (true, false) => r.notes.clone(),
        (false, false) => format!("{}\n\n{}", k.notes, r.notes),
    };
    let mut parts = k.particularities.clone();
    parts.extend(r.particularities.iter().cloned());
    parts.sort();
    parts.dedup();
    sqlx::query(
        "UPDATE customers SET civility = $1, email = $2, phone = $3, mobile = $4, address = $5, branch_id = $6, owner_id = $7, notes = $8, \
         particularities = $9, first_name = $10, last_name = $11, company_name = $12, updated_at = $13 WHERE id = $14",
    )
    .bind(pick(&k.civility, &r.civility))
    .bind(pick(&k.email, &r.email))
    .bind(pick(&k.phone, &r.phone))
    .bind(pick(&k.mobile, &r.mobile.clone().or_else(|| r.phone.clone().filter(|p| Some(p) != k.phone.as_ref()))))
    .bind(pick_s(&k.address, &r.address))
    .bind(k.branch_id.or(r.branch_id))
    .bind(k.owner_id.or(r.owner_id))
    .bind(notes)
    .bind(parts.join(" "))
    .bind(pick_s(&k.first_name, &r.first_name))
    .bind(pick_s(&k.last_name, &r.last_name))
    .bind(pick_s(&k.company_name, &r.company_name))
    .bind(now)
    .bind(keep)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM search_terms WHERE entity_type = $1 AND entity_id = $2")
        .bind(Customer::ENTITY)
        .bind(remove)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM customers WHERE id = $1").bind(remove).execute(&mut *tx).await?;
    let new = get(&mut tx, keep).await?.ok_or(Error::NotFound)?;
    let values = customer_values(&new);
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    crate::search::index(&mut tx, Customer::ENTITY, keep, &refs).await?;
    let mut changes = audit::diff(&k, &new);
    changes.push(audit::Change { field: "merged_from".into(), old: None, new: Some(format!("#{remove} {}", r.display_name)) });
    audit::record(&mut tx, actor, now, Customer::ENTITY, keep, "merge", &changes).await?;
    audit::record(
        &mut tx,
        actor,
        now,
        Customer::ENTITY,
        remove,
        "merge",
        &[audit::Change {
            field: "merged_into".into(),
            old: Some(format!("#{remove} {}", r.display_name)),
            new: Some(format!("#{keep} {}", k.display_name)),
        }],
    )
    .await?;
    tx.commit().await?;
    Ok(new)
}

// ------------------------------------------------------------------ contacts

const CONTACT: &str = "SELECT id, customer_id, civility, first_name, last_name, email, phone, mobile, particularities, notes, created_at, updated_at FROM contacts";

async fn contacts_in(conn: &mut sqlx::AnyConnection, customer_id: i64) -> Result<Vec<Contact>> {
    Ok(sqlx::query_as(&format!("{CONTACT} WHERE customer_id = $1 ORDER BY last_name, first_name, id"))
        .bind(customer_id)
        .fetch_all(conn)
        .await?)
}

pub async fn contacts(db: &Db, customer_id: i64) -> Result<Vec<Contact>> {
    let mut conn = db.pool.acquire().await?;
    contacts_in(&mut conn, customer_id).await
}

pub async fn contact(conn: &mut sqlx::AnyConnection, customer_id: i64, id: i64) -> Result<Option<Contact>> {
    Ok(sqlx::query_as(&format!("{CONTACT} WHERE customer_id = $1 AND id = $2")).bind(customer_id).bind(id).fetch_optional(conn).await?)
}

pub async fn create_contact(db: &Db, actor: &Actor, now: Millis, customer_id: i64, input: &ContactInput) -> Result<Contact> {
    let mut tx = db.begin().await?;
    let c = create_contact_in(&mut tx, actor, now, customer_id, input).await?;
    tx.commit().await?;
    Ok(c)
}

/// Creates a contact in the caller's transaction (particularities checked, history written).
pub async fn create_contact_in(tx: &mut Tx, actor: &Actor, now: Millis, customer_id: i64, input: &ContactInput) -> Result<Contact> {
    get(tx, customer_id).await?.ok_or(Error::NotFound)?;
    let mut errs = FieldErrors::new();
    let parts: Vec<String> = input.particularities.split_whitespace().map(str::to_string).collect();
    check_particularities(tx, &parts, &mut errs).await?;
    errs.into_result()?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO contacts (customer_id, civility, first_name, last_name, email, phone, mobile, particularities, notes, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
    )
    .bind(customer_id)
    .bind(input.civility.as_deref())
    .bind(&input.first_name)
    .bind(&input.last_name)
    .bind(input.email.as_ref().map(|e| e.as_str()))
    .bind(input.phone.as_ref().map(|p| p.as_str()))
    .bind(input.mobile.as_ref().map(|p| p.as_str()))
    .bind(&input.particularities)
    .bind(&input.notes)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    let c = contact(tx, customer_id, id).await?.ok_or(Error::NotFound)?;
    audit::created(tx, actor, now, id, &c).await?;
    Ok(c)
}

pub async fn update_contact(db: &Db, actor: &Actor, now: Millis, customer_id: i64, id: i64, input: &ContactInput) -> Result<Contact> {
    let mut tx = db.begin().await?;
    let old = contact(&mut tx, customer_id, id).await?.ok_or(Error::NotFound)?;
    let before = audit::Before::read(&mut tx, "contacts", id).await?;
    let mut errs = FieldErrors::new();
    let parts: Vec<String> = input.particularities.split_whitespace().map(str::to_string).collect();
    check_particularities(&mut tx, &parts, &mut errs).await?;
    errs.into_result()?;
    sqlx::query(
        "UPDATE contacts SET civility = $1, first_name = $2, last_name = $3, email = $4, phone = $5, mobile = $6, particularities = $7, notes = $8, \
         updated_at = $9 WHERE id = $10",
    )
    .bind(input.civility.as_deref())
    .bind(&input.first_name)
    .bind(&input.last_name)
    .bind(input.email.as_ref().map(|e| e.as_str()))
    .bind(input.phone.as_ref().map(|p| p.as_str()))
    .bind(input.mobile.as_ref().map(|p| p.as_str()))
    .bind(&input.particularities)
    .bind(&input.notes)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let new = contact(&mut tx, customer_id, id).await?.ok_or(Error::NotFound)?;
    if before.unchanged(&mut tx, &old, &new).await? {
        tx.rollback().await?;
        return Ok(old);
    }
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    Ok(new)
}

pub async fn delete_contact(db: &Db, actor: &Actor, now: Millis, customer_id: i64, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let old = contact(&mut tx, customer_id, id).await?.ok_or(Error::NotFound)?;
    sqlx::query("DELETE FROM contacts WHERE id = $1").bind(id).execute(&mut *tx).await?;
    audit::deleted(&mut tx, actor, now, id, &old).await?;
    tx.commit().await?;
    Ok(())
}

/// A contact found by the global search, with its customer's name.
#[derive(Debug, Clone, FromRow)]
pub struct ContactHit {
    pub id: i64,
    pub customer_id: i64,
    pub customer_name: String,
    pub name: String,
    pub email: Option<String>,
}

/// Contacts whose first name, last name or email starts with every word of `q` (lower case),
/// of customers `vis` may read, by last name; at most `limit`, and whether there are more.
pub async fn find_contacts(db: &Db, vis: &Visibility, q: &str, limit: i64) -> Result<(Vec<ContactHit>, bool)> {
    let words = crate::search::words(q);
    if words.is_empty() {
        return Ok((Vec::new(), false));
    }
    let mut s = Sql::new(
        "SELECT x.id, x.customer_id, c.display_name AS customer_name, TRIM(x.first_name || ' ' || x.last_name) AS name, x.email \
         FROM contacts x JOIN customers c ON c.id = x.customer_id WHERE ",
    );
    s.append(vis.customers("c"));
    for w in &words {
        // Folded words hold letters and digits only: nothing to escape in a LIKE pattern.
        let like = format!("{w}%");
        s.push(" AND (LOWER(x.first_name) LIKE ").bind(like.clone());
        s.push(" OR LOWER(x.last_name) LIKE ").bind(like.clone());
        s.push(" OR LOWER(COALESCE(x.email, '')) LIKE ").bind(like).push(")");
    }
    s.push(" ORDER BY x.last_name, x.id LIMIT ").bind(limit + 1);
    let mut rows: Vec<ContactHit> = s.query_as().fetch_all(&db.pool).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    Ok((rows, more))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_is_found_by_its_local_part() {
        assert_eq!(local_parts("15145551018"), vec!["5551018", "45551018", "145551018", "5145551018"]);
        assert!(local_parts("5551018").is_empty(), "a 7-digit number is its own term");
        assert!(local_parts("12ab").is_empty());
        let values = search_values("Zoé", "Roy", "", None, &["+15145551018"]);
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let terms = crate::search::terms(&refs);
        let query = crate::search::words("555-1018");
        assert_eq!(query, vec!["5551018"]);
        assert!(terms.iter().any(|t| t.starts_with(&query[0])), "{terms:?}");
    }
}
