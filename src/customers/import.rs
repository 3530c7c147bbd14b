//! CSV import of customers: upload, column mapping, a dry run that reports row by row what
//! would be created, merged (an existing customer recognised by email or phone: its empty
//! fields are filled) or rejected and why, then the real run as a background job with
//! progress. Each chunk of rows is one transaction that also records progress, so a crash
//! resumes where it stopped and nothing is half-written; bad rows are reported, good rows
//! imported.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::{store, Customer, CustomerForm, CustomerInput};
use crate::access::Actor;
use crate::audit::{self, Audited};
use crate::clock::Millis;
use crate::db::{Db, Tx};
use crate::error::{Error, FieldErrors, Result};

pub const JOB: &str = "customer-import";
/// The dry run of a large file, as a job with progress.
pub const CHECK_JOB: &str = "customer-import-check";
/// Files up to this many rows are checked within the request; larger ones by [`CHECK_JOB`].
pub const INLINE_ROWS: usize = 5_000;
/// Rows per chunk of the dry run, and the first chunk of the run.
const CHUNK: usize = 500;
/// The run sizes its chunks (one transaction each) to last about this long, so that other
/// writers wait at most about that long behind it (SQLite has one writer at a time), while
/// large chunks share the pages they write (a customer index or the search terms' index
/// takes each row at a random place: the more rows per commit, the fewer pages per row).
const CHUNK_AIM_MS: u128 = 100;
const CHUNK_MIN: usize = 200;
const CHUNK_MAX: usize = 10_000;
/// The tables an import fills, whose statistics it refreshes.
const ANALYZED: &[&str] = &["customers", "contacts", "search_terms", "audit_events", "named_locks"];
/// Rows listed in a report (the counts cover every row).
const REPORT_ROWS: usize = 2000;

/// Carnet fields a column can map to.
pub const FIELDS: &[&str] =
    &["kind", "civility", "first_name", "last_name", "company_name", "email", "phone", "mobile", "address", "language", "notes"];

/// Header names recognised for each field (folded: lower case, no accents).
fn synonyms(field: &str) -> &'static [&'static str] {
    match field {
        "kind" => &["type", "kind", "type de client"],
        "civility" => &["civilite", "civility", "titre", "title"],
        "first_name" => &["prenom", "first name", "firstname", "given name"],
        "last_name" => &["nom", "nom de famille", "last name", "lastname", "surname", "family name"],
        "company_name" => &["entreprise", "societe", "raison sociale", "company", "company name", "organisation", "organization"],
        "email" => &["courriel", "email", "e mail", "mail", "adresse courriel"],
        "phone" => &["telephone", "phone", "tel", "telephone fixe", "phone number"],
        "mobile" => &["cellulaire", "mobile", "cell", "portable", "mobile phone"],
        "address" => &["adresse", "address", "adresse postale"],
        "language" => &["langue", "language", "lang"],
        "notes" => &["notes", "note", "remarques", "commentaires", "comments"],
        _ => &[],
    }
}

/// Guesses the field of each column from its header.
pub fn guess_mapping(headers: &[String]) -> Vec<String> {
    let mut used: Vec<&str> = Vec::new();
    headers
        .iter()
        .map(|h| {
            let f = crate::search::fold(h);
            let hit = FIELDS.iter().find(|field| !used.contains(field) && synonyms(field).contains(&f.as_str()));
            match hit {
                Some(field) => {
                    used.push(field);
                    field.to_string()
                }
                None => String::new(),
            }
        })
        .collect()
}

/// A file read for import.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub text: String,
    pub delimiter: u8,
    pub headers: Vec<String>,
    pub rows: usize,
    /// Set when the file was not UTF-8 and was read as Windows-1252/Latin-1.
    pub encoding_note: Option<String>,
}

/// Reads an uploaded CSV: encoding (UTF-8, or Latin-1 when it is not), delimiter (comma,
/// semicolon or tab, from the header line), headers.
pub fn parse_file(bytes: &[u8]) -> Result<Parsed> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let (text, encoding_note) = match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), None),
        Err(_) => (bytes.iter().map(|&b| b as char).collect::<String>(), Some("latin1".to_string())),
    };
    let first = text.lines().next().unwrap_or("");
    let delimiter = [b';', b'\t', b','].into_iter().max_by_key(|d| first.bytes().filter(|b| b == d).count()).unwrap_or(b',');
    let mut rdr = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(text.as_bytes());
    let headers: Vec<String> =
        rdr.headers().map_err(|_| Error::validation("file", "error.csv_unreadable"))?.iter().map(|h| h.trim().to_string()).collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(Error::validation("file", "error.csv_no_header"));
    }
    let rows = rdr.records().count();
    if rows == 0 {
        return Err(Error::validation("file", "error.csv_empty"));
    }
    Ok(Parsed { text, delimiter, headers, rows, encoding_note })
}

/// Checks a mapping: known fields, each at most once, and a name column.
pub fn check_mapping(mapping: &[String], columns: usize) -> Result<()> {
    let mut errs = FieldErrors::new();
    if mapping.len() != columns {
        errs.add("mapping", "error.mapping_columns");
    }
    let mut seen = Vec::new();
    for m in mapping.iter().filter(|m| !m.is_empty()) {
        if !FIELDS.contains(&m.as_str()) {
            errs.add("mapping", "error.invalid_choice");
        } else if seen.contains(m) {
            errs.add("mapping", "error.mapping_twice");
        }
        seen.push(m.clone());
    }
    if !seen.iter().any(|m| m == "last_name" || m == "first_name" || m == "company_name") {
        errs.add("mapping", "error.mapping_name_required");
    }
    errs.into_result()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RowReport {
    /// Line in the file (the header is line 1).
    pub line: usize,
    /// `create`, `merge` or `reject`.
    pub outcome: String,
    pub name: String,
    /// For a merge: the existing customer.
    pub customer_id: Option<i64>,
    /// For a rejection: the fields and reasons (message keys).
    pub reasons: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    pub total: usize,
    pub created: usize,
    pub merged: usize,
    pub rejected: usize,
    /// The first rows (all rejections are listed first).
    pub rows: Vec<RowReport>,
}

impl Report {
    fn push(&mut self, r: RowReport) {
        match r.outcome.as_str() {
            "create" => self.created += 1,
            "merge" => self.merged += 1,
            _ => self.rejected += 1,
        }
        if self.rows.len() < REPORT_ROWS || r.outcome == "reject" {
            self.rows.push(r);
        }
    }
    fn finish(&mut self) {
        self.rows.sort_by_key(|r| (r.outcome != "reject", r.line));
        self.rows.truncate(REPORT_ROWS);
    }
}

fn row_form(record: &csv::StringRecord, mapping: &[String]) -> CustomerForm {
    let mut f = CustomerForm { kind: "person".into(), ..Default::default() };
    for (i, field) in mapping.iter().enumerate() {
        let v = record.get(i).unwrap_or("").trim().to_string();
        match field.as_str() {
            "kind" => {
                let k = crate::search::fold(&v);
                f.kind = if ["entreprise", "company", "societe", "b2b"].contains(&k.as_str()) { "company".into() } else { "person".into() };
            }
            "civility" => f.civility = Some(crate::search::fold(&v)).filter(|s| !s.is_empty()),
            "first_name" => f.first_name = v,
            "last_name" => f.last_name = v,
            "company_name" => f.company_name = v,
            "email" => f.email = v,
            "phone" => f.phone = v,
            "mobile" => f.mobile = v,
            "address" => f.address = v,
            "language" => f.language = Some(v.to_lowercase()).filter(|s| !s.is_empty()),
            "notes" => f.notes = v,
            _ => {}
        }
    }
    if f.kind == "person" && f.first_name.is_empty() && f.last_name.is_empty() && !f.company_name.is_empty() {
        f.kind = "company".into();
    }
    f
}

/// What happens to one row, given the database (and the rows before it in the file).
enum Plan {
    Create(CustomerInput),
    /// Into an existing customer (id > 0) or one created by an earlier row (a placeholder < 0).
    Merge(i64, CustomerInput),
    Reject(Vec<(String, String)>),
}

/// The email and phones a row is recognised by, in that order.
fn keys(input: &CustomerInput) -> Vec<String> {
    input
        .email
        .iter()
        .map(|e| e.as_str().to_string())
        .chain(input.phone.iter().chain(input.mobile.iter()).map(|p| p.as_str().to_string()))
        .collect()
}

/// Plans rows in file order, with what a chunk looks up at once ([`Planner::prefetch`]):
/// the same decisions as checking each row against the database in turn (the customers
/// created by earlier rows first, then the lowest id holding one of the row's email or
/// phones, among customers and their contacts), with merges filling empty fields.
struct Planner {
    region: String,
    civilities: HashSet<String>,
    /// Keys of the customers created by earlier rows (placeholders < 0 until written).
    seen: HashMap<String, i64>,
    /// Keys held in the database (or given to a customer by an earlier merge): the lowest id.
    known: HashMap<String, i64>,
    /// Email, phone and mobile of the customers rows may merge into.
    state: HashMap<i64, [Option<String>; 3]>,
    next_placeholder: i64,
}

impl Planner {
    async fn new(conn: &mut sqlx::AnyConnection) -> Result<Planner> {
        let region = store::region(conn).await?;
        let civilities: Vec<String> =
            sqlx::query_scalar("SELECT code FROM value_list_items WHERE list_code = 'civility'").fetch_all(&mut *conn).await?;
        Ok(Planner {
            region,
            civilities: civilities.into_iter().collect(),
            seen: HashMap::new(),
            known: HashMap::new(),
            state: HashMap::new(),
            next_placeholder: -1,
        })
    }

    /// Parses and checks rows, and looks up at once the customers holding their keys.
    async fn prefetch(&mut self, conn: &mut sqlx::AnyConnection, forms: &[CustomerForm]) -> Result<Vec<Plan>> {
        let mut out = Vec::with_capacity(forms.len());
        for form in forms {
            let input = match form.parse(&self.region) {
                Ok(i) => i,
                Err(Error::Validation(e)) => {
                    out.push(Plan::Reject(e.0.into_iter().map(|x| (x.field, x.reason.to_string())).collect()));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if input.civility.as_ref().is_some_and(|c| !self.civilities.contains(c)) {
                out.push(Plan::Reject(vec![("civility".into(), "error.invalid_choice".into())]));
                continue;
            }
            // Not filled from a file today; checked one by one should a column bring them.
            if input.branch_id.is_some() || input.owner_id.is_some() || !input.particularities.is_empty() {
                match store::check_refs(conn, &input).await {
                    Ok(()) => {}
                    Err(Error::Validation(e)) => {
                        out.push(Plan::Reject(e.0.into_iter().map(|x| (x.field, x.reason.to_string())).collect()));
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            out.push(Plan::Create(input));
        }
        let mut emails: Vec<String> = Vec::new();
        let mut phones: Vec<String> = Vec::new();
        for p in &out {
            if let Plan::Create(i) = p {
                emails.extend(i.email.iter().map(|e| e.as_str().to_string()));
                phones.extend(i.phone.iter().chain(i.mobile.iter()).map(|p| p.as_str().to_string()));
            }
        }
        for v in [&mut emails, &mut phones] {
            v.sort();
            v.dedup();
        }
        let found = store::holders(conn, &emails, &phones).await?;
        let wanted: HashSet<&String> = emails.iter().chain(phones.iter()).collect();
        let mut missing: Vec<i64> = Vec::new();
        for h in &found {
            for k in [&h.email, &h.phone, &h.mobile].into_iter().flatten() {
                if wanted.contains(k) {
                    hold(&mut self.known, k, h.customer_id);
                }
            }
            if !self.state.contains_key(&h.customer_id) {
                missing.push(h.customer_id);
            }
        }
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            for (id, c) in store::get_many(conn, &missing).await? {
                self.state.entry(id).or_insert([c.email, c.phone, c.mobile]);
            }
        }
        Ok(out)
    }

    /// The decision for a parsed row, in file order.
    fn decide(&mut self, input: CustomerInput) -> Plan {
        let keys = keys(&input);
        let target = keys
            .iter()
            .find_map(|k| self.seen.get(k).copied())
            .or_else(|| keys.iter().filter_map(|k| self.known.get(k)).copied().min_by_key(|id| rank(*id)));
        match target {
            Some(id) => {
                // The merge fills the customer's empty email, phone, mobile: later rows find it by them.
                let new = [
                    input.email.as_ref().map(|e| e.as_str().to_string()),
                    input.phone.as_ref().map(|p| p.as_str().to_string()),
                    input.mobile.as_ref().map(|p| p.as_str().to_string()),
                ];
                if let Some(state) = self.state.get_mut(&id) {
                    for (old, new) in state.iter_mut().zip(new) {
                        if old.is_none() {
                            if let Some(k) = &new {
                                hold(&mut self.known, k, id);
                            }
                            *old = new;
                        }
                    }
                }
                Plan::Merge(id, input)
            }
            None => {
                let id = self.next_placeholder;
                self.next_placeholder -= 1;
                for k in keys {
                    self.seen.entry(k).or_insert(id);
                }
                self.state.insert(
                    id,
                    [
                        input.email.as_ref().map(|e| e.as_str().to_string()),
                        input.phone.as_ref().map(|p| p.as_str().to_string()),
                        input.mobile.as_ref().map(|p| p.as_str().to_string()),
                    ],
                );
                Plan::Create(input)
            }
        }
    }

    /// Plans a chunk of rows.
    async fn plan(&mut self, conn: &mut sqlx::AnyConnection, forms: &[CustomerForm]) -> Result<Vec<Plan>> {
        let parsed = self.prefetch(conn, forms).await?;
        Ok(parsed
            .into_iter()
            .map(|p| match p {
                Plan::Create(input) => self.decide(input),
                other => other,
            })
            .collect())
    }
}

/// Notes that customer `id` holds `key` (the lowest id wins, as in [`store::lookup`]).
fn hold(known: &mut HashMap<String, i64>, key: &str, id: i64) {
    match known.get_mut(key) {
        Some(e) if rank(*e) <= rank(id) => {}
        Some(e) => *e = id,
        None => {
            known.insert(key.to_string(), id);
        }
    }
}

/// The order of ids: existing customers, then those created by the rows (whose placeholders
/// -1, -2… get ever larger ids when written).
fn rank(id: i64) -> (bool, i64) {
    (id < 0, id.abs())
}

/// A created customer's placeholder is `-(n + 1)` for the n-th creation of the chunk.
fn placeholder_index(id: i64) -> Option<usize> {
    (id < 0).then(|| (-id - 1) as usize)
}

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct Import {
    pub id: i64,
    pub user_id: i64,
    pub filename: String,
    #[serde(skip)]
    pub content: String,
    pub delimiter: String,
    pub encoding_note: Option<String>,
    /// JSON array of the file's headers.
    pub headers: String,
    /// JSON array: for each column, the Carnet field or "".
    pub mapping: String,
    /// `draft`, `checking` (the dry run of a large file, in the background), `queued`,
    /// `running`, `done`.
    pub status: String,
    pub total: i64,
    pub processed: i64,
    pub created: i64,
    pub merged: i64,
    pub rejected: i64,
    /// JSON report of the last dry run or of the run.
    pub report: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

impl Import {
    pub fn headers(&self) -> Vec<String> {
        serde_json::from_str(&self.headers).unwrap_or_default()
    }
    pub fn mapping(&self) -> Vec<String> {
        serde_json::from_str(&self.mapping).unwrap_or_default()
    }
    pub fn report(&self) -> Option<Report> {
        serde_json::from_str(&self.report).ok()
    }
    pub fn percent(&self) -> i64 {
        if self.total == 0 {
            100
        } else {
            self.processed * 100 / self.total
        }
    }
    fn records(&self) -> Vec<csv::StringRecord> {
        let delim = self.delimiter.bytes().next().unwrap_or(b',');
        let mut rdr = csv::ReaderBuilder::new().delimiter(delim).flexible(true).from_reader(self.content.as_bytes());
        rdr.records().map(|r| r.unwrap_or_default()).collect()
    }
}

const SELECT: &str = "SELECT id, user_id, filename, content, delimiter, encoding_note, headers, mapping, status, total, processed, created, merged, rejected, report, created_at, finished_at FROM imports";

/// An import of `user_id` (imports are private to who uploaded them).
pub async fn get(db: &Db, user_id: i64, id: i64) -> Result<Option<Import>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE id = $1 AND user_id = $2")).bind(id).bind(user_id).fetch_optional(&db.pool).await?)
}

/// Stores an uploaded file as a draft import with a guessed mapping.
pub async fn upload(db: &Db, user_id: i64, now: Millis, filename: &str, bytes: &[u8]) -> Result<Import> {
    let p = parse_file(bytes)?;
    let mapping = guess_mapping(&p.headers);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO imports (kind, user_id, filename, content, delimiter, encoding_note, headers, mapping, status, total, processed, created, merged, rejected, report, created_at) \
         VALUES ('customers', $1, $2, $3, $4, $5, $6, $7, 'draft', $8, 0, 0, 0, 0, '', $9) RETURNING id",
    )
    .bind(user_id)
    .bind(crate::mail::header_safe(filename).chars().take(200).collect::<String>())
    .bind(&p.text)
    .bind((p.delimiter as char).to_string())
    .bind(p.encoding_note.as_deref())
    .bind(serde_json::to_string(&p.headers).unwrap_or_default())
    .bind(serde_json::to_string(&mapping).unwrap_or_default())
    .bind(p.rows as i64)
    .bind(now)
    .fetch_one(&db.pool)
    .await?;
    get(db, user_id, id).await?.ok_or(Error::NotFound)
}

/// What [`dry_run`] did.
#[derive(Debug)]
pub enum Checked {
    /// The file was checked at once: the report.
    Done(Report),
    /// The file is large: the check runs as a job ([`CHECK_JOB`]) and records its progress.
    Queued,
}

/// Saves a mapping and runs the dry run: nothing is written but the report. A file of more
/// than [`INLINE_ROWS`] rows is checked in the background, with its progress recorded.
pub async fn dry_run(db: &Db, user_id: i64, id: i64, mapping: Vec<String>, now: Millis) -> Result<Checked> {
    let imp = get(db, user_id, id).await?.ok_or(Error::NotFound)?;
    if imp.status != "draft" {
        return Err(Error::InvalidState { reason: "error.import_started" });
    }
    check_mapping(&mapping, imp.headers().len())?;
    let mapping_json = serde_json::to_string(&mapping).unwrap_or_default();
    if imp.total as usize > INLINE_ROWS {
        let mut tx = db.begin().await?;
        let moved = sqlx::query(
            "UPDATE imports SET mapping = $1, status = 'checking', processed = 0, report = '' WHERE id = $2 AND status = 'draft'",
        )
        .bind(&mapping_json)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            tx.rollback().await?;
            return Err(Error::InvalidState { reason: "error.import_started" });
        }
        crate::jobs::enqueue(&mut tx, CHECK_JOB, &serde_json::json!({ "import_id": id }), now, now, None).await?;
        tx.commit().await?;
        return Ok(Checked::Queued);
    }
    let report = check_rows(db, &imp, &mapping, |_| async { Ok(()) }).await?;
    // Still a draft: a run started meanwhile keeps the mapping it was started with.
    let saved = sqlx::query("UPDATE imports SET mapping = $1, report = $2 WHERE id = $3 AND status = 'draft'")
        .bind(&mapping_json)
        .bind(serde_json::to_string(&report).unwrap_or_default())
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if saved == 0 {
        return Err(Error::InvalidState { reason: "error.import_started" });
    }
    Ok(Checked::Done(report))
}

/// The dry run's work: every row parsed, checked and looked up, a chunk at a time, calling
/// `progress` with the rows done after each chunk.
async fn check_rows<F, Fut>(db: &Db, imp: &Import, mapping: &[String], mut progress: F) -> Result<Report>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut conn = db.pool.acquire().await?;
    let mut planner = Planner::new(&mut conn).await?;
    let mut report = Report { total: imp.total as usize, ..Default::default() };
    let records = imp.records();
    for (c, chunk) in records.chunks(CHUNK).enumerate() {
        let forms: Vec<CustomerForm> = chunk.iter().map(|rec| row_form(rec, mapping)).collect();
        let plans = planner.plan(&mut conn, &forms).await?;
        for (j, (form, plan)) in forms.iter().zip(plans).enumerate() {
            let line = c * CHUNK + j + 2;
            report.push(match plan {
                Plan::Create(input) => {
                    RowReport { line, outcome: "create".into(), name: input.display_name(), customer_id: None, reasons: vec![] }
                }
                Plan::Merge(cid, input) => RowReport {
                    line,
                    outcome: "merge".into(),
                    name: input.display_name(),
                    customer_id: Some(cid).filter(|c| *c > 0),
                    reasons: vec![],
                },
                Plan::Reject(reasons) => RowReport { line, outcome: "reject".into(), name: reject_name(form), customer_id: None, reasons },
            });
        }
        // Only the first rows and the rejections are listed: keep the list bounded as it goes.
        if report.rows.len() > 2 * REPORT_ROWS {
            report.finish();
        }
        progress((c * CHUNK + chunk.len()).min(records.len())).await?;
    }
    report.finish();
    Ok(report)
}

/// The job of a large file's dry run: checks every row, recording progress about once a
/// second, then stores the report and gives the import back to its owner as a draft. Run
/// again after a crash, it starts over (it writes nothing but the report).
pub async fn check(ctx: &crate::jobs::JobContext, payload: serde_json::Value) -> anyhow::Result<String> {
    let id = payload["import_id"].as_i64().ok_or_else(|| anyhow::anyhow!("payload without import_id"))?;
    let imp: Option<Import> = sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_optional(&ctx.db.pool).await?;
    let Some(imp) = imp else { return Ok(format!("import {id} no longer exists")) };
    if imp.status != "checking" {
        return Ok(format!("import {id} is not being checked"));
    }
    let mapping = imp.mapping();
    let mut last = std::time::Instant::now();
    let db = ctx.db.clone();
    let checked = check_rows(&ctx.db, &imp, &mapping, |done| {
        let due = last.elapsed() >= std::time::Duration::from_secs(1);
        if due {
            last = std::time::Instant::now();
        }
        let db = db.clone();
        async move {
            if due {
                sqlx::query("UPDATE imports SET processed = $1 WHERE id = $2 AND status = 'checking'")
                    .bind(done as i64)
                    .bind(id)
                    .execute(&db.pool)
                    .await?;
            }
            Ok(())
        }
    })
    .await;
    let report = match checked {
        Ok(r) => r,
        Err(e) => {
            // Never left checking for ever: back to a draft without a report, whose owner may
            // start the dry run again (the job's failure is in the jobs' page).
            sqlx::query("UPDATE imports SET status = 'draft', processed = 0, report = '' WHERE id = $1 AND status = 'checking'")
                .bind(id)
                .execute(&ctx.db.pool)
                .await?;
            return Err(e.into());
        }
    };
    sqlx::query("UPDATE imports SET status = 'draft', processed = 0, report = $1 WHERE id = $2 AND status = 'checking'")
        .bind(serde_json::to_string(&report).unwrap_or_default())
        .bind(id)
        .execute(&ctx.db.pool)
        .await?;
    Ok(format!("import {id} checked: {} to create, {} to merge, {} rejected", report.created, report.merged, report.rejected))
}

/// Queues the real run (after a dry run).
pub async fn start(db: &Db, user_id: i64, id: i64, now: Millis) -> Result<()> {
    let imp = get(db, user_id, id).await?.ok_or(Error::NotFound)?;
    if imp.status != "draft" {
        return Err(Error::InvalidState { reason: "error.import_started" });
    }
    if imp.report().is_none() {
        return Err(Error::InvalidState { reason: "error.import_dry_run_first" });
    }
    check_mapping(&imp.mapping(), imp.headers().len())?;
    let mut tx = db.begin().await?;
    // Once: a second click (or a dry run finishing meanwhile) finds it no longer a checked draft.
    let queued = sqlx::query("UPDATE imports SET status = 'queued', report = '' WHERE id = $1 AND status = 'draft' AND report <> ''")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if queued == 0 {
        tx.rollback().await?;
        return Err(Error::InvalidState { reason: "error.import_started" });
    }
    crate::jobs::enqueue(&mut tx, JOB, &serde_json::json!({ "import_id": id }), now, now, None).await?;
    tx.commit().await?;
    Ok(())
}

fn reject_name(form: &CustomerForm) -> String {
    format!("{} {}", form.first_name, form.last_name).trim().to_string()
}

/// An existing customer after a row is merged into it: empty email, phones and address
/// filled, notes added (unless already there).
fn merged(old: &Customer, input: &CustomerInput, now: Millis) -> Customer {
    let pick = |a: &Option<String>, b: Option<String>| a.clone().or(b);
    let mut new = old.clone();
    new.email = pick(&old.email, input.email.as_ref().map(|e| e.as_str().to_string()));
    new.phone = pick(&old.phone, input.phone.as_ref().map(|p| p.as_str().to_string()));
    new.mobile = pick(&old.mobile, input.mobile.as_ref().map(|p| p.as_str().to_string()));
    if old.address.is_empty() {
        new.address = input.address.clone();
    }
    new.notes = match (old.notes.is_empty(), input.notes.is_empty()) {
        (_, true) => old.notes.clone(),
        (true, false) => input.notes.clone(),
        (false, false) if old.notes.contains(&input.notes) => old.notes.clone(),
        (false, false) => format!("{}\n\n{}", old.notes, input.notes),
    };
    new.updated_at = now;
    new
}

/// Writes one chunk's plans in the caller's transaction: the new customers with their terms
/// and history in a few multi-row statements, then the merges in file order (one `UPDATE`
/// per customer changed, its terms and one history entry per merged row). Returns the row
/// reports.
async fn write_chunk(
    tx: &mut Tx,
    actor: &Actor,
    now: Millis,
    first_line: usize,
    forms: &[CustomerForm],
    plans: Vec<Plan>,
) -> Result<Vec<RowReport>> {
    let creates: Vec<&CustomerInput> = plans.iter().filter_map(|p| if let Plan::Create(i) = p { Some(i) } else { None }).collect();
    let created = store::create_many(tx, actor, now, &creates).await?;
    let real = |id: i64| placeholder_index(id).and_then(|n| created.get(n)).map(|c| c.id).unwrap_or(id);
    let mut targets: Vec<i64> =
        plans.iter().filter_map(|p| if let Plan::Merge(id, _) = p { Some(*id).filter(|id| *id > 0) } else { None }).collect();
    targets.sort_unstable();
    targets.dedup();
    let mut state: HashMap<i64, Customer> = store::get_many(tx, &targets).await?;
    state.extend(created.iter().map(|c| (c.id, c.clone())));
    let mut changed: Vec<i64> = Vec::new();
    let mut entries: Vec<audit::Entry> = Vec::new();
    let mut reports = Vec::with_capacity(plans.len());
    let mut n_created = 0;
    for (j, (form, plan)) in forms.iter().zip(plans).enumerate() {
        let line = first_line + j;
        reports.push(match plan {
            Plan::Create(_) => {
                let c = &created[n_created];
                n_created += 1;
                RowReport { line, outcome: "create".into(), name: c.display_name.clone(), customer_id: Some(c.id), reasons: vec![] }
            }
            Plan::Merge(target, input) => {
                let id = real(target);
                // A customer deleted meanwhile: nothing to merge into (as before).
                if let Some(old) = state.get(&id) {
                    let new = merged(old, &input, now);
                    if let Some(e) = audit::update(id, old, &new) {
                        entries.push(e);
                        changed.push(id);
                    }
                    state.insert(id, new);
                }
                RowReport { line, outcome: "merge".into(), name: input.display_name(), customer_id: Some(id), reasons: vec![] }
            }
            Plan::Reject(reasons) => RowReport { line, outcome: "reject".into(), name: reject_name(form), customer_id: None, reasons },
        });
    }
    changed.sort_unstable();
    changed.dedup();
    let mut values: Vec<(i64, Vec<String>)> = Vec::with_capacity(changed.len());
    for id in &changed {
        let Some(c) = state.get(id) else { continue };
        sqlx::query("UPDATE customers SET email = $1, phone = $2, mobile = $3, address = $4, notes = $5, updated_at = $6 WHERE id = $7")
            .bind(&c.email)
            .bind(&c.phone)
            .bind(&c.mobile)
            .bind(&c.address)
            .bind(&c.notes)
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        values.push((*id, store::customer_values(c)));
    }
    // The filled email and phones are searchable too.
    let records: Vec<(i64, Vec<&str>)> = values.iter().map(|(id, v)| (*id, v.iter().map(String::as_str).collect())).collect();
    crate::search::index_many(tx, Customer::ENTITY, &records).await?;
    audit::record_many(tx, actor, now, &entries).await?;
    Ok(reports)
}

/// The job: imports the remaining rows, a chunk per transaction, recording progress.
pub async fn run(ctx: &crate::jobs::JobContext, payload: serde_json::Value) -> anyhow::Result<String> {
    let id = payload["import_id"].as_i64().ok_or_else(|| anyhow::anyhow!("payload without import_id"))?;
    let imp: Option<Import> = sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_optional(&ctx.db.pool).await?;
    let Some(imp) = imp else { return Ok(format!("import {id} no longer exists")) };
    if imp.status == "done" {
        return Ok(format!("import {id} already done"));
    }
    let name: String = sqlx::query_scalar("SELECT name FROM users WHERE id = $1").bind(imp.user_id).fetch_one(&ctx.db.pool).await?;
    let actor = Actor { id: Some(imp.user_id), name, request_id: Some(format!("import-{id}")) };
    let mapping = imp.mapping();
    let records = imp.records();
    let mut report: Report = serde_json::from_str(&imp.report).unwrap_or_default();
    report.total = records.len();
    sqlx::query("UPDATE imports SET status = 'running' WHERE id = $1").bind(id).execute(&ctx.db.pool).await?;
    let mut done = imp.processed as usize;
    // The planner's statistics follow the import's growth: refreshed when the rows written
    // reach 1 000, 4 000, 16 000… (PostgreSQL otherwise plans each chunk's lookups for the
    // table it saw before the import), and at the end.
    let mut next_analyze = done + 1000;
    let mut chunk = CHUNK;
    while done < records.len() {
        if done >= next_analyze {
            crate::db::analyze(&ctx.db, ANALYZED).await?;
            next_analyze = done * 4;
        }
        let now = ctx.clock.now_ms();
        let started = std::time::Instant::now();
        let mut tx = ctx.db.begin().await?;
        // A chunk ends at the next statistics refresh, so that it happens while the table grows.
        let end = (done + chunk).min(records.len()).min(if next_analyze > done { next_analyze } else { usize::MAX });
        let forms: Vec<CustomerForm> = records[done..end].iter().map(|rec| row_form(rec, &mapping)).collect();
        let mut planner = Planner::new(&mut tx).await?;
        let plans = planner.plan(&mut tx, &forms).await?;
        for r in write_chunk(&mut tx, &actor, now, done + 2, &forms, plans).await? {
            report.push(r);
        }
        done = end;
        report.finish();
        sqlx::query("UPDATE imports SET processed = $1, created = $2, merged = $3, rejected = $4, report = $5 WHERE id = $6")
            .bind(done as i64)
            .bind(report.created as i64)
            .bind(report.merged as i64)
            .bind(report.rejected as i64)
            .bind(serde_json::to_string(&report).unwrap_or_default())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        // The next chunk's size from this one's rate, within bounds, changing by at most 2×.
        let took = started.elapsed().as_millis().max(1);
        let ideal = (chunk as u128 * CHUNK_AIM_MS / took) as usize;
        chunk = ideal.clamp(chunk / 2, chunk * 2).clamp(CHUNK_MIN, CHUNK_MAX);
    }
    sqlx::query("UPDATE imports SET status = 'done', finished_at = $1 WHERE id = $2")
        .bind(ctx.clock.now_ms())
        .bind(id)
        .execute(&ctx.db.pool)
        .await?;
    crate::db::analyze(&ctx.db, ANALYZED).await?;
    Ok(format!("import {id}: {} created, {} merged, {} rejected", report.created, report.merged, report.rejected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_delimiters_encodings_and_guesses_columns() {
        let p = parse_file("Prénom;Nom;Courriel;Téléphone\nHélène;Côté;h@x.fr;514 555 0199\n".as_bytes()).unwrap();
        assert_eq!(p.delimiter, b';');
        assert_eq!(p.rows, 1);
        assert_eq!(guess_mapping(&p.headers), vec!["first_name", "last_name", "email", "phone"]);
        let latin1: Vec<u8> = b"Nom,Pr\xe9nom\nC\xf4t\xe9,H\xe9l\xe8ne\n".to_vec();
        let p = parse_file(&latin1).unwrap();
        assert_eq!(p.encoding_note.as_deref(), Some("latin1"));
        assert!(p.text.contains("Côté"));
        assert_eq!(parse_file(b"a\tb\n1\t2\n").unwrap().delimiter, b'\t');
        assert!(parse_file(b"Nom\n").is_err(), "no rows");
        assert!(check_mapping(&["email".into(), "".into()], 2).is_err(), "a name column is required");
        assert!(check_mapping(&["last_name".into(), "last_name".into()], 2).is_err());
        assert!(check_mapping(&["last_name".into(), "".into()], 2).is_ok());
    }
}
