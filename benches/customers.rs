//! Customers benchmark: `cargo bench --bench customers`.
//!
//! Generates a large address book (`CARNET_BENCH_CUSTOMERS` customers, people and companies
//! with Québec names, E.164 phones and lower-case emails, spread over 16 branches and their
//! representatives; twice as many contacts of the companies; the `search_terms` of every
//! customer, computed with `carnet::search::terms` exactly as `customers::store` does), starts
//! the real Carnet in-process on 127.0.0.1 and measures, in a closed loop of
//! `CARNET_BENCH_CONCURRENCY` clients for `CARNET_BENCH_SECONDS` per scenario (after a
//! one-second warm-up that is not recorded):
//!
//! - recognition of a returning customer: `GET /api/v1/customers/lookup` by phone (existing
//!   numbers of customers and contacts, typed in various formats) and by email;
//! - search as you type: `GET /api/v1/customers?q=…` with 3-letter prefixes of common last
//!   names, and the HTML rows the customers page fetches while typing;
//! - the first page of a filtered list (`kind=company`), and a representative's own list and
//!   search (scope "own").
//!
//! Then a CSV import of `CARNET_BENCH_IMPORT_ROWS` rows (≈ 2 % invalid, ≈ 9 % already known):
//! `import::upload`, `import::dry_run`, `import::start` and the job body `import::run`, timed
//! separately, counts checked; and a rough profile of the import (how long its audit rows,
//! search terms, returning-customer lookups and phone parsing take when done on their own).
//!
//! Options (environment):
//! - `CARNET_BENCH_BACKEND`: `sqlite` (default, a temporary file) or `postgres` (uses
//!   `CARNET_TEST_POSTGRES_URL` or `DATABASE_URL`, in a fresh schema dropped at the end);
//! - `CARNET_BENCH_CUSTOMERS` (default 1000000), `CARNET_BENCH_CONTACTS` (default twice the
//!   customers), `CARNET_BENCH_IMPORT_ROWS` (default 100000), `CARNET_BENCH_SECONDS`
//!   (default 10), `CARNET_BENCH_CONCURRENCY` (default 32);
//! - `CARNET_BENCH_PARTS`: `load,import` (default), or one of them;
//! - `CARNET_BENCH_KEEP_DIR` (SQLite): put the database file in that folder and keep it;
//!   `CARNET_BENCH_KEEP_SCHEMA=1` (PostgreSQL): do not drop the schema (to study plans).
//!
//! The results are printed as markdown and written into `docs/benchmarks.md`, between the
//! `<!-- bench:customers:BACKEND:start -->` and `…:end -->` markers.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use carnet::access::Actor;
use carnet::config::Config;
use carnet::customers::{import, store, CustomerForm};
use carnet::db::{Db, Tx};
use carnet::http::AppState;
use reqwest::{Client, StatusCode};

#[path = "support/mod.rs"]
mod support;

use support::{
    ascii_slug, client, contains, env_num, env_str, exec, fmt_ms, fmt_n, get_json, lit, login, phone, postal, short, timed, typed_email,
    typed_phone, verdict, Auth, Backend, Branch, Bulk, Common, CpuShare, CustomerRow, Generated, Measure, Reservoir, Rng, Scenario, Team,
    ADMIN_EMAIL, EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, STREETS,
};

const CUSTOMERS_PER_STATEMENT: usize = 1000;
const CONTACTS_PER_STATEMENT: usize = 2000;
const TERMS_PER_STATEMENT: usize = 10_000;
/// Representatives per branch (customers' owners).
const REPS_PER_BRANCH: usize = 10;
/// Distinct lookup values and paths per scenario.
const SAMPLES: usize = 20_000;
/// Targets of the customers issue.
const TARGET_P99_MS: f64 = 20.0;
const TARGET_IMPORT_ROWS_PER_S: f64 = 20_000.0;
/// Rows per transaction of the import job (`customers::import::CHUNK`).
const IMPORT_CHUNK: usize = 500;

// ---------------------------------------------------------------- options

struct Options {
    c: Common,
    customers: usize,
    contacts: usize,
    import_rows: usize,
    load: bool,
    import: bool,
}

impl Options {
    fn from_env() -> Result<Options> {
        let c = Common::from_env("8,32")?;
        let customers = env_num("CARNET_BENCH_CUSTOMERS", 1_000_000usize)?;
        let parts = env_str("CARNET_BENCH_PARTS").unwrap_or_else(|| "load,import".into());
        let parts: Vec<&str> = parts.split(',').map(str::trim).collect();
        if let Some(p) = parts.iter().find(|p| !["load", "import", "generate"].contains(p)) {
            bail!("CARNET_BENCH_PARTS: unknown part {p:?} (load, import, or generate for the dataset alone)");
        }
        let o = Options {
            c,
            customers,
            contacts: env_num("CARNET_BENCH_CONTACTS", 2 * customers)?,
            import_rows: env_num("CARNET_BENCH_IMPORT_ROWS", 100_000usize)?,
            load: parts.contains(&"load"),
            import: parts.contains(&"import"),
        };
        if o.customers < 1000 || o.import_rows < 100 || o.c.seconds == 0 || o.c.concurrency.is_empty() || o.c.concurrency.contains(&0) {
            bail!("CARNET_BENCH_CUSTOMERS must be at least 1000, IMPORT_ROWS 100, SECONDS and CONCURRENCY 1");
        }
        Ok(o)
    }
}

// ---------------------------------------------------------------- dataset

const COMPANY_KINDS: &[&str] = &[
    "Atelier",
    "Auto",
    "Alimentation",
    "Garage",
    "Boulangerie",
    "Transports",
    "Construction",
    "Clinique dentaire",
    "Pharmacie",
    "Imprimerie",
    "Restaurant",
    "Quincaillerie",
    "Services informatiques",
    "Plomberie",
    "Toitures",
    "Excavation",
    "Cabinet comptable",
    "Épicerie",
    "Salon de coiffure",
    "Ébénisterie",
    "Électricité",
    "Paysagement",
    "Location d'équipement",
];
const COMPANY_SUFFIXES: &[&str] = &[" inc.", " & Fils", " ltée", "", " enr.", " et associés"];
const NOTES: &[&str] = &[
    "Préfère être appelé en soirée.",
    "Intéressé par un VUS hybride ; rappeler au printemps.",
    "Client depuis 2009, très fidèle.",
    "Parle anglais au téléphone, français par courriel.",
    "Facturation au nom de l'entreprise.",
];

/// A phone or email value of a customer, or of one of its contacts, and the customer's
/// display name (what a lookup must find).
#[derive(Clone)]
struct Known {
    value: String,
    customer: String,
    /// The customer's own value (in the search terms), not a contact's.
    own: bool,
}

/// An existing person customer, for import rows that must be recognised.
#[derive(Clone)]
struct KnownPerson {
    first: String,
    last: String,
    email: Option<String>,
    phone: Option<String>,
}

struct Samples {
    phones: Reservoir<Known>,
    emails: Reservoir<Known>,
    people: Reservoir<KnownPerson>,
}

struct NewCustomer {
    company: bool,
    civility: Option<&'static str>,
    first: String,
    last: String,
    company_name: String,
    display: String,
    email: Option<String>,
    phone: Option<String>,
    mobile: Option<String>,
    address: String,
    language: &'static str,
    branch: i64,
    owner: Option<i64>,
    notes: &'static str,
    particularities: &'static str,
    created_at: i64,
}

impl NewCustomer {
    /// The values `customers::store::reindex` indexes.
    fn terms(&self) -> Vec<String> {
        let ph: Vec<String> = self.phone.iter().chain(self.mobile.iter()).map(|p| p.trim_start_matches('+').to_string()).collect();
        let national: Vec<String> = ph.iter().map(|p| p.strip_prefix('1').unwrap_or(p).to_string()).collect();
        let mut values: Vec<&str> = vec![&self.first, &self.last, &self.company_name];
        if let Some(e) = &self.email {
            values.push(e.as_str());
        }
        values.extend(ph.iter().map(String::as_str));
        values.extend(national.iter().map(String::as_str));
        carnet::search::terms(&values)
    }
}

struct NewContact {
    customer: i64,
    civility: Option<&'static str>,
    first: String,
    last: String,
    email: Option<String>,
    phone: Option<String>,
    mobile: Option<String>,
    notes: &'static str,
    created_at: i64,
}

struct Company {
    id: i64,
    domain: String,
    name: String,
}

struct Dataset {
    customers: usize,
    companies: usize,
    contacts: usize,
    terms: usize,
    users: usize,
    branches: usize,
    customers_s: f64,
    contacts_s: f64,
    analyze_s: f64,
    size_bytes: Option<u64>,
}

/// The sales structure of a branch: a sales team (the customers' owners, scope "own") and a
/// BDC team.
const TEAMS: &[Team] = &[
    Team { team: Some("Ventes"), role: "representant", members: REPS_PER_BRANCH, login: false },
    Team { team: Some("BDC"), role: "agent_bdc", members: 3, login: false },
];

impl Generated for Dataset {
    fn rows(&self) -> usize {
        self.customers + self.contacts + self.terms
    }
    fn seconds(&self) -> f64 {
        self.customers_s + self.contacts_s + self.analyze_s
    }
}

fn new_customer(rng: &mut Rng, i: usize, branches: &[Branch], now: i64) -> NewCustomer {
    // Branches of very different sizes: Montréal-Centre and Laval are the big ones.
    let b = &branches[rng.skewed(branches.len())];
    let owner = if rng.chance(0.05) { None } else { Some(*rng.pick(b.reps())) };
    let address = format!("{} {}, {} (Québec) {}", 1 + rng.below(9999), rng.pick(STREETS), b.city, postal(rng, b.postal));
    let created_at = now - rng.below(6 * 365 * 86_400) as i64 * 1000;
    let notes = if rng.chance(0.08) { *rng.pick(NOTES) } else { "" };
    let particularities = match rng.below(100) {
        0 | 1 => "vip",
        2 => "ne_pas_solliciter",
        3 => "paiement_a_verifier",
        _ => "",
    };
    let language = if rng.chance(0.15) { "en" } else { "fr" };
    if rng.chance(0.12) {
        let last = LAST_NAMES[rng.skewed(LAST_NAMES.len())];
        let name = format!("{} {last}{}", rng.pick(COMPANY_KINDS), rng.pick(COMPANY_SUFFIXES));
        let domain = format!("{}-{i}.ca", ascii_slug(&format!("{} {last}", name.split(' ').next().unwrap_or(""))));
        NewCustomer {
            company: true,
            civility: None,
            first: String::new(),
            last: String::new(),
            display: name.clone(),
            company_name: name,
            email: rng.chance(0.95).then(|| format!("info@{domain}")),
            phone: Some(phone(3 * i as u64)),
            mobile: None,
            address,
            language,
            branch: b.id,
            owner,
            notes,
            particularities: if particularities.is_empty() && rng.chance(0.1) { "flotte" } else { particularities },
            created_at,
        }
    } else {
        let (first, female) = *rng.pick(FIRST_NAMES);
        let last = LAST_NAMES[rng.skewed(LAST_NAMES.len())];
        let civility = match rng.below(10) {
            0..=6 => Some(if female { "mme" } else { "m" }),
            7 if rng.chance(0.1) => Some("dr"),
            _ => None,
        };
        let email = rng.chance(0.85).then(|| {
            let local = match rng.below(3) {
                0 => format!("{}.{}{i}", ascii_slug(first), ascii_slug(last)),
                1 => format!("{}{}{i}", &ascii_slug(first)[..1], ascii_slug(last)),
                _ => format!("{}_{}.{i}", ascii_slug(last), ascii_slug(first)),
            };
            format!("{local}@{}", rng.pick(EMAIL_DOMAINS))
        });
        NewCustomer {
            company: false,
            civility,
            first: first.to_string(),
            last: last.to_string(),
            company_name: String::new(),
            display: format!("{first} {last}"),
            email,
            phone: rng.chance(0.9).then(|| phone(3 * i as u64)),
            mobile: rng.chance(0.5).then(|| phone(3 * i as u64 + 1)),
            address,
            language,
            branch: b.id,
            owner,
            notes,
            particularities,
            created_at,
        }
    }
}

/// The batch's customers through the shared writer (which adds the folded sort key).
async fn insert_customers(tx: &mut Tx, rows: &[NewCustomer]) -> Result<Vec<i64>> {
    let rows: Vec<CustomerRow> = rows
        .iter()
        .map(|c| CustomerRow {
            company: c.company,
            civility: c.civility,
            first: &c.first,
            last: &c.last,
            company_name: &c.company_name,
            display: &c.display,
            email: c.email.as_deref(),
            phone: c.phone.as_deref(),
            mobile: c.mobile.as_deref(),
            address: &c.address,
            language: c.language,
            branch: c.branch,
            owner: c.owner,
            notes: c.notes,
            particularities: c.particularities,
            created_at: c.created_at,
        })
        .collect();
    support::insert_customers(tx, &rows).await
}

async fn insert_contacts(tx: &mut Tx, rows: &[NewContact]) -> Result<()> {
    let mut sql = String::with_capacity(rows.len() * 160 + 300);
    sql.push_str(
        "INSERT INTO contacts (customer_id, civility, first_name, last_name, email, phone, mobile, particularities, notes, created_at, \
         updated_at) VALUES ",
    );
    for (i, c) in rows.iter().enumerate() {
        let _ = write!(sql, "{}({}, ", if i > 0 { ", " } else { "" }, c.customer);
        for v in [c.civility, Some(&c.first), Some(&c.last), c.email.as_deref(), c.phone.as_deref(), c.mobile.as_deref()] {
            lit(&mut sql, v);
            sql.push_str(", ");
        }
        sql.push_str("'', ");
        lit(&mut sql, Some(c.notes));
        let _ = write!(sql, ", {}, {})", c.created_at, c.created_at);
    }
    exec(tx, &sql).await
}

/// Customers (with their search terms) and contacts, in multi-row INSERTs inside big
/// transactions, on `gen` (a dedicated connection), then planner statistics.
async fn generate(gen: &Db, o: &Options, branches: &[Branch], users: usize, now: i64) -> Result<(Dataset, Samples)> {
    let n = o.customers;
    let mut rng = Rng(0x00C0_FFEE);
    let mut samples = Samples {
        phones: Reservoir::new(SAMPLES, 1),
        emails: Reservoir::new(SAMPLES, 2),
        people: Reservoir::new(o.import_rows / 10 + 100, 3),
    };
    let mut companies: Vec<Company> = Vec::new();
    let mut terms_total = 0usize;
    let mut batch: Vec<NewCustomer> = Vec::with_capacity(CUSTOMERS_PER_STATEMENT);
    let mut bulk = Bulk::start(gen, "customers").await?;
    for i in 0..n {
        batch.push(new_customer(&mut rng, i, branches, now));
        if batch.len() < CUSTOMERS_PER_STATEMENT && i + 1 < n {
            continue;
        }
        let ids = insert_customers(bulk.tx(), &batch).await?;
        let mut terms: Vec<(i64, String)> = Vec::with_capacity(batch.len() * 12);
        for (c, id) in batch.iter().zip(&ids) {
            terms.extend(c.terms().into_iter().map(|t| (*id, t)));
            if c.company {
                let domain = c.email.as_deref().and_then(|e| e.split_once('@')).map(|(_, d)| d.to_string());
                let domain = domain.unwrap_or_else(|| format!("{}-{id}.ca", ascii_slug(&c.company_name)));
                companies.push(Company { id: *id, domain, name: c.display.clone() });
            }
            for p in c.phone.iter().chain(c.mobile.iter()) {
                samples.phones.offer(|| Known { value: p.clone(), customer: c.display.clone(), own: true });
            }
            if let Some(e) = &c.email {
                samples.emails.offer(|| Known { value: e.clone(), customer: c.display.clone(), own: true });
            }
            if !c.company && (c.email.is_some() || c.phone.is_some()) {
                samples.people.offer(|| KnownPerson {
                    first: c.first.clone(),
                    last: c.last.clone(),
                    email: c.email.clone(),
                    phone: c.phone.clone(),
                });
            }
        }
        terms_total += terms.len();
        support::insert_terms(bulk.tx(), &terms, TERMS_PER_STATEMENT).await?;
        batch.clear();
        bulk.done(i + 1).await?;
    }
    let customers_s = bulk.finish().await?;
    eprintln!(
        "  {n} customers ({} companies) and {terms_total} search terms in {customers_s:.1} s: {:.0} rows/s",
        companies.len(),
        (n + terms_total) as f64 / customers_s
    );

    // Contacts of the companies: each contact goes to a random company (about 14 each on
    // average, Poisson-like), inserted company by company as they would be typed in.
    let mut counts = vec![0u32; companies.len()];
    for _ in 0..o.contacts {
        counts[rng.below(companies.len())] += 1;
    }
    let mut batch: Vec<NewContact> = Vec::with_capacity(CONTACTS_PER_STATEMENT);
    let mut bulk = Bulk::start(gen, "contacts").await?;
    let mut slot = 3 * n as u64;
    let mut done = 0;
    for (company, count) in companies.iter().zip(&counts) {
        let domain = &company.domain;
        for k in 0..*count {
            let (first, female) = *rng.pick(FIRST_NAMES);
            let last = LAST_NAMES[rng.skewed(LAST_NAMES.len())];
            let c = NewContact {
                customer: company.id,
                civility: rng.chance(0.7).then_some(if female { "mme" } else { "m" }),
                first: first.to_string(),
                last: last.to_string(),
                email: rng.chance(0.9).then(|| format!("{}.{}{}@{domain}", ascii_slug(first), ascii_slug(last), k + 1)),
                phone: rng.chance(0.8).then(|| phone(slot)),
                mobile: rng.chance(0.4).then(|| phone(slot + 1)),
                notes: if rng.chance(0.05) { "Joindre pour la facturation." } else { "" },
                created_at: now - rng.below(6 * 365 * 86_400) as i64 * 1000,
            };
            slot += 2;
            for p in c.phone.iter().chain(c.mobile.iter()) {
                samples.phones.offer(|| Known { value: p.clone(), customer: company.name.clone(), own: false });
            }
            if let Some(e) = &c.email {
                samples.emails.offer(|| Known { value: e.clone(), customer: company.name.clone(), own: false });
            }
            batch.push(c);
            done += 1;
            if batch.len() < CONTACTS_PER_STATEMENT && done < o.contacts {
                continue;
            }
            insert_contacts(bulk.tx(), &batch).await?;
            batch.clear();
            bulk.done(done).await?;
        }
    }
    let contacts_s = bulk.finish().await?;
    eprintln!("  {} contacts in {contacts_s:.1} s: {:.0} rows/s", o.contacts, o.contacts as f64 / contacts_s);

    let started = Instant::now();
    let tables = ["org_units", "roles", "role_rights", "users", "customers", "contacts", "search_terms", "settings", "value_list_items"];
    let size_bytes = support::analyze(gen, &tables).await?;
    let analyze_s = started.elapsed().as_secs_f64();
    eprintln!("  ANALYZE in {analyze_s:.1} s");
    let data = Dataset {
        customers: n,
        companies: companies.len(),
        contacts: o.contacts,
        terms: terms_total,
        users,
        branches: branches.len(),
        customers_s,
        contacts_s,
        analyze_s,
        size_bytes,
    };
    Ok((data, samples))
}

// ---------------------------------------------------------------- load scenarios

/// One scenario: GET `paths[i]` (rotating) with `auths[task % len]`, expecting 200 and, when
/// `non_empty`, at least one item in the JSON list.
#[derive(Clone)]
struct Op {
    paths: Arc<Vec<String>>,
    auths: Arc<Vec<Auth>>,
    non_empty: bool,
}

impl Scenario for Op {
    async fn once(&self, client: &Client, base: &str, task: usize, iteration: u64, concurrency: usize) -> Result<Option<usize>, String> {
        let path = &self.paths[(task + iteration as usize * concurrency) % self.paths.len()];
        let rb = self.auths[task % self.auths.len()].apply(client.get(format!("{base}{path}")));
        let resp = rb.send().await.map_err(|e| format!("{e}"))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
        if status != StatusCode::OK {
            return Err(format!("{status} {}", short(&String::from_utf8_lossy(&body))));
        }
        if self.non_empty && contains(&body[..body.len().min(32)], b"\"items\":[]") {
            return Err(format!("nothing found: {path}"));
        }
        Ok(None)
    }
}

fn query_path(path: &str, params: &[(&str, &str)]) -> Result<String> {
    Ok(format!("{path}?{}", serde_urlencoded::to_string(params)?))
}

/// 3-letter prefixes of the most common last names ("tre", "gag", "cot"…).
fn prefixes() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in &LAST_NAMES[..30] {
        let p: String = carnet::search::fold(l).chars().filter(|c| c.is_alphanumeric()).take(3).collect();
        if p.chars().count() == 3 && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn names(v: &serde_json::Value) -> Vec<String> {
    v["items"].as_array().map(|a| a.iter().filter_map(|i| i["display_name"].as_str().map(str::to_string)).collect()).unwrap_or_default()
}

async fn load(o: &Options, state: &AppState, base: &str, samples: &Samples) -> Result<Vec<Measure>> {
    let db = &state.db;
    let now = state.clock.now_ms();
    let admin_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(ADMIN_EMAIL).fetch_one(&db.pool).await?;
    let admin = carnet::identity::token::create(db, &Actor::system(), now, admin_id, "bench").await?.1;
    // Representatives owning customers (scope "own"), one token each.
    let reps: Vec<i64> = sqlx::query_scalar(
        "SELECT u.id FROM users u JOIN roles r ON r.id = u.role_id WHERE r.code = 'representant' ORDER BY u.id LIMIT 16",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut rep_tokens = Vec::new();
    for id in &reps {
        rep_tokens.push(Auth::Bearer(carnet::identity::token::create(db, &Actor::system(), now, *id, "bench").await?.1));
    }
    let c = client()?;
    let session = login(&c, base, ADMIN_EMAIL).await.context("admin login")?;

    // Lookup paths: every sampled phone in one of six typing styles, every email in one of
    // three cases; the samples come from customers and contacts alike.
    let mut phone_paths = Vec::new();
    for (i, k) in samples.phones.items.iter().enumerate() {
        phone_paths.push(query_path("/api/v1/customers/lookup", &[("phone", &typed_phone(&k.value, i))])?);
    }
    let mut email_paths = Vec::new();
    for (i, k) in samples.emails.items.iter().enumerate() {
        email_paths.push(query_path("/api/v1/customers/lookup", &[("email", &typed_email(&k.value, i))])?);
    }
    let prefixes = prefixes();
    let search_paths: Vec<String> =
        prefixes.iter().map(|p| query_path("/api/v1/customers", &[("q", p), ("limit", "50")])).collect::<Result<_>>()?;
    let rows_paths: Vec<String> =
        prefixes.iter().map(|p| query_path("/customers", &[("q", p), ("part", "rows")])).collect::<Result<_>>()?;

    // Sanity checks: lookups find the customer the value belongs to, a search by email and by
    // phone digits finds the customer (so the search terms belong to the right ids), lists
    // are full pages.
    for (i, k) in samples.phones.items.iter().take(20).enumerate() {
        let v = get_json(&c, base, &phone_paths[i], &admin).await?;
        if !names(&v).contains(&k.customer) {
            bail!("lookup of {} should find {:?}: {}", k.value, k.customer, short(&v.to_string()));
        }
    }
    for (i, k) in samples.emails.items.iter().take(20).enumerate() {
        let v = get_json(&c, base, &email_paths[i], &admin).await?;
        if !names(&v).contains(&k.customer) {
            bail!("lookup of {} should find {:?}: {}", k.value, k.customer, short(&v.to_string()));
        }
    }
    // A few only: every word of a search may read all the terms (see docs/benchmarks.md).
    for k in samples.emails.items.iter().filter(|k| k.own).take(3) {
        let v = get_json(&c, base, &query_path("/api/v1/customers", &[("q", &k.value), ("limit", "50")])?, &admin).await?;
        if !names(&v).contains(&k.customer) {
            bail!("searching {} should find {:?} (search terms of the wrong ids?): {}", k.value, k.customer, short(&v.to_string()));
        }
    }
    eprintln!("  checks: lookups and searches by email find their customers");
    for p in &search_paths[..1] {
        let n = names(&get_json(&c, base, p, &admin).await?).len();
        eprintln!("  {p}: {n} customers");
        if n == 0 {
            bail!("{p}: nothing found");
        }
    }
    let n = names(&get_json(&c, base, "/api/v1/customers?kind=company&limit=50", &admin).await?).len();
    if n != 50 {
        bail!("kind=company list: {n} items instead of 50");
    }

    let one = |a: Auth| Arc::new(vec![a]);
    let arc = |v: Vec<String>| Arc::new(v);
    let bearer = Auth::Bearer(admin.clone());
    let p = prefixes.join(", ");
    let scenarios: Vec<(&'static str, String, Op)> = vec![
        (
            "a. lookup by phone",
            format!(
                "GET /api/v1/customers/lookup?phone=… ({} numbers of customers and contacts, 6 typing styles), admin",
                phone_paths.len()
            ),
            Op { paths: arc(phone_paths), auths: one(bearer.clone()), non_empty: true },
        ),
        (
            "b. lookup by email",
            format!("GET /api/v1/customers/lookup?email=… ({} addresses, mixed case), admin", email_paths.len()),
            Op { paths: arc(email_paths), auths: one(bearer.clone()), non_empty: true },
        ),
        (
            "c. search, 3 letters",
            format!("GET /api/v1/customers?q=…&limit=50, q in {p}; admin"),
            Op { paths: arc(search_paths.clone()), auths: one(bearer.clone()), non_empty: true },
        ),
        (
            "d. search, HTML rows",
            "GET /customers?q=…&part=rows (what the page fetches while typing), admin session".into(),
            Op { paths: arc(rows_paths), auths: one(Auth::Session(session)), non_empty: false },
        ),
        (
            "e. filtered list",
            "GET /api/v1/customers?kind=company&limit=50 (first page), admin".into(),
            Op { paths: arc(vec!["/api/v1/customers?kind=company&limit=50".into()]), auths: one(bearer.clone()), non_empty: true },
        ),
        (
            "f. own list",
            format!("GET /api/v1/customers?limit=50, {} representatives (scope own)", rep_tokens.len()),
            Op { paths: arc(vec!["/api/v1/customers?limit=50".into()]), auths: Arc::new(rep_tokens.clone()), non_empty: true },
        ),
        (
            "g. own search",
            "GET /api/v1/customers?q=…&limit=50, 3 letters, representatives (scope own)".into(),
            Op { paths: arc(search_paths), auths: Arc::new(rep_tokens), non_empty: false },
        ),
    ];
    support::run_all(base, scenarios, o.c.seconds, &o.c.concurrency).await
}

// ---------------------------------------------------------------- import

/// What a generated CSV row should become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Create,
    Merge,
    Reject,
}

struct CsvRow {
    expect: Expect,
    form: CustomerForm,
}

const CSV_HEADERS: &[&str] =
    &["Type", "Civilité", "Prénom", "Nom", "Entreprise", "Courriel", "Téléphone", "Cellulaire", "Adresse", "Langue", "Notes"];

/// `rows` rows as a spreadsheet exported by another CRM would give them: semicolons, French
/// headers, phones typed in every usual way. About 2 % are invalid (bad email, bad phone, no
/// name, unknown civility or language), 8 % are customers already in Carnet (same email, or
/// same phone typed differently), 1 % repeat an earlier row of the file; the rest are new.
fn build_csv(rows: usize, first_slot: u64, samples: &Samples, branches: &[Branch]) -> Result<(Vec<u8>, Vec<CsvRow>)> {
    let mut rng = Rng(0x1A2B_3C4D);
    let mut out: Vec<CsvRow> = Vec::with_capacity(rows);
    let mut slot = first_slot;
    let people = &samples.people.items;
    let mut next_person = 0;
    let mut new_rows: Vec<usize> = Vec::new();
    for r in 0..rows {
        let roll = rng.below(1000);
        let city = rng.pick(branches).city;
        let address = format!("{} {}, {city} (Québec)", 1 + rng.below(9999), rng.pick(STREETS));
        let mut f = CustomerForm { kind: "Particulier".into(), address, language: Some("fr".into()), ..Default::default() };
        let expect = if roll < 20 {
            let (first, female) = *rng.pick(FIRST_NAMES);
            let last = *rng.pick(LAST_NAMES);
            f.first_name = first.into();
            f.last_name = last.into();
            f.civility = Some(if female { "Mme" } else { "M." }.into());
            f.email = format!("{}.{}.import{r}@videotron.ca", ascii_slug(first), ascii_slug(last));
            f.phone = typed_phone(&phone(slot), r);
            slot += 2;
            match roll % 5 {
                0 => f.email = format!("{}.{}@@videotron.ca", ascii_slug(first), ascii_slug(last)),
                1 => f.phone = "514-555-01AB".into(),
                2 => {
                    f.first_name.clear();
                    f.last_name.clear();
                }
                3 => f.civility = Some("Pr".into()),
                _ => f.language = Some("de".into()),
            }
            Expect::Reject
        } else if roll < 100 && next_person < people.len() {
            let p = &people[next_person];
            next_person += 1;
            f.first_name = p.first.clone();
            f.last_name = p.last.clone();
            match (&p.email, &p.phone) {
                (Some(e), _) if rng.chance(0.5) || p.phone.is_none() => f.email = typed_email(e, r),
                (_, Some(ph)) => f.phone = typed_phone(ph, r),
                _ => f.email = p.email.clone().unwrap_or_default(),
            }
            // Something the customer did not have yet: a mobile, notes.
            f.mobile = typed_phone(&phone(slot), r + 1);
            slot += 2;
            if rng.chance(0.3) {
                f.notes = "Importé du salon de l'auto 2026.".into();
            }
            Expect::Merge
        } else if roll < 110 && !new_rows.is_empty() {
            let earlier = &out[new_rows[rng.below(new_rows.len())]].form;
            let mut g = earlier.clone();
            if !g.phone.is_empty() {
                let e164 = carnet::customers::phone::Phone::parse(&g.phone, "CA").map_err(|e| anyhow!("{e}"))?;
                g.phone = typed_phone(e164.as_str(), r + 3);
            }
            g.email = typed_email(&g.email, r);
            out.push(CsvRow { expect: Expect::Merge, form: g });
            continue;
        } else {
            if rng.chance(0.1) {
                let last = LAST_NAMES[rng.skewed(LAST_NAMES.len())];
                f.kind = "Entreprise".into();
                f.company_name = format!("{} {last}{}", rng.pick(COMPANY_KINDS), rng.pick(COMPANY_SUFFIXES));
                f.email = format!("info@{}-import{r}.ca", ascii_slug(last));
                f.phone = typed_phone(&phone(slot), r);
            } else {
                let (first, female) = *rng.pick(FIRST_NAMES);
                let last = LAST_NAMES[rng.skewed(LAST_NAMES.len())];
                f.first_name = first.into();
                f.last_name = last.into();
                f.civility = rng.chance(0.7).then(|| if female { "Mme" } else { "M." }.to_string());
                if rng.chance(0.85) {
                    f.email = format!("{}.{}.i{r}@{}", ascii_slug(first), ascii_slug(last), rng.pick(EMAIL_DOMAINS));
                }
                if rng.chance(0.9) || f.email.is_empty() {
                    f.phone = typed_phone(&phone(slot), r);
                }
                if rng.chance(0.5) {
                    f.mobile = typed_phone(&phone(slot + 1), r + 1);
                }
                if rng.chance(0.15) {
                    f.language = Some("en".into());
                }
                if rng.chance(0.05) {
                    f.notes = rng.pick(NOTES).to_string();
                }
            }
            slot += 2;
            new_rows.push(out.len());
            Expect::Create
        };
        out.push(CsvRow { expect, form: f });
    }
    let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(Vec::new());
    w.write_record(CSV_HEADERS)?;
    for row in &out {
        let f = &row.form;
        w.write_record([
            f.kind.as_str(),
            f.civility.as_deref().unwrap_or(""),
            &f.first_name,
            &f.last_name,
            &f.company_name,
            &f.email,
            &f.phone,
            &f.mobile,
            &f.address,
            f.language.as_deref().unwrap_or(""),
            &f.notes,
        ])?;
    }
    Ok((w.into_inner().map_err(|e| anyhow!("{e}"))?, out))
}

struct Phase {
    name: &'static str,
    what: &'static str,
    rows: usize,
    seconds: f64,
    cpu: CpuShare,
}

struct Counts {
    created: usize,
    merged: usize,
    rejected: usize,
}

struct ImportResult {
    bytes: usize,
    phases: Vec<Phase>,
    expected: Counts,
    dry: Counts,
    done: Counts,
    audit_rows: i64,
    terms_written: i64,
    profile: Profile,
    message: String,
}

async fn import_bench(o: &Options, state: &AppState, samples: &Samples, branches: &[Branch]) -> Result<ImportResult> {
    let db = &state.db;
    let now = state.clock.now_ms();
    let admin_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(ADMIN_EMAIL).fetch_one(&db.pool).await?;
    // Phone slots above those of the generated customers and contacts.
    let first_slot = 3 * o.customers as u64 + 2 * o.contacts as u64 + 10;
    let (bytes, rows) = build_csv(o.import_rows, first_slot, samples, branches)?;
    let expected = Counts {
        created: rows.iter().filter(|r| r.expect == Expect::Create).count(),
        merged: rows.iter().filter(|r| r.expect == Expect::Merge).count(),
        rejected: rows.iter().filter(|r| r.expect == Expect::Reject).count(),
    };
    eprintln!(
        "  CSV of {} rows, {} bytes: {} new, {} known, {} invalid",
        rows.len(),
        bytes.len(),
        expected.created,
        expected.merged,
        expected.rejected
    );
    let max_customer: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM customers").fetch_one(&db.pool).await?;
    let terms_before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM search_terms").fetch_one(&db.pool).await?;

    let (imp, upload_s, upload_cpu) =
        timed(async { Ok(import::upload(db, admin_id, now, "clients-salon-2026.csv", &bytes).await?) }).await.context("upload")?;
    let mapping = imp.mapping();
    let expected_mapping =
        ["kind", "civility", "first_name", "last_name", "company_name", "email", "phone", "mobile", "address", "language", "notes"];
    if mapping != expected_mapping {
        bail!("guessed mapping {mapping:?}, expected {expected_mapping:?}");
    }
    eprintln!("  upload: {upload_s:.2} s");
    let ctx = carnet::jobs::JobContext::new(db.clone(), state.clock.clone(), state.config.clone());
    // A file this large is checked by a job (`import::check`); a small one within the request.
    let (report, dry_s, dry_cpu) = timed(async {
        match import::dry_run(db, admin_id, imp.id, mapping, now).await? {
            import::Checked::Done(report) => Ok(report),
            import::Checked::Queued => {
                import::check(&ctx, serde_json::json!({ "import_id": imp.id })).await?;
                import::get(db, admin_id, imp.id).await?.and_then(|i| i.report()).ok_or_else(|| anyhow!("no report after the check"))
            }
        }
    })
    .await
    .context("dry run")?;
    let dry = Counts { created: report.created, merged: report.merged, rejected: report.rejected };
    eprintln!(
        "  dry run: {dry_s:.2} s, {:.0} rows/s: {} create, {} merge, {} reject",
        rows.len() as f64 / dry_s,
        dry.created,
        dry.merged,
        dry.rejected
    );
    import::start(db, admin_id, imp.id, now).await?;
    let (message, run_s, run_cpu) =
        timed(async { import::run(&ctx, serde_json::json!({ "import_id": imp.id })).await }).await.context("import job")?;
    eprintln!("  import: {run_s:.2} s, {:.0} rows/s: {message}", rows.len() as f64 / run_s);
    let after = import::get(db, admin_id, imp.id).await?.ok_or_else(|| anyhow!("import {} vanished", imp.id))?;
    let done = Counts { created: after.created as usize, merged: after.merged as usize, rejected: after.rejected as usize };
    if after.status != "done" || done.created + done.merged + done.rejected != rows.len() {
        bail!(
            "import {}: status {}, {} + {} + {} rows instead of {}",
            imp.id,
            after.status,
            done.created,
            done.merged,
            done.rejected,
            rows.len()
        );
    }
    let created_now: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE id > $1").bind(max_customer).fetch_one(&db.pool).await?;
    if created_now as usize != done.created {
        bail!("the import reports {} created customers, the table has {created_now} new ones", done.created);
    }
    let audit_rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE request_id = $1")
        .bind(format!("import-{}", imp.id))
        .fetch_one(&db.pool)
        .await?;
    let terms_after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM search_terms").fetch_one(&db.pool).await?;
    let terms_written = terms_after - terms_before;
    eprintln!("  written: {created_now} customers, {audit_rows} audit rows, {terms_written} search terms");

    let phases = vec![
        Phase {
            name: "upload",
            what: "`import::upload`: decode, parse, store the file as a draft",
            rows: rows.len(),
            seconds: upload_s,
            cpu: upload_cpu,
        },
        Phase {
            name: "dry run",
            what: "`import::dry_run`: every row parsed, checked and looked up; nothing written but the report",
            rows: rows.len(),
            seconds: dry_s,
            cpu: dry_cpu,
        },
        Phase {
            name: "import",
            what: "`import::run` (the job body): chunks of 200 to 10 000 rows per transaction (about 100 ms each), customers, search terms, history",
            rows: rows.len(),
            seconds: run_s,
            cpu: run_cpu,
        },
    ];
    let profile = profile_import(state, &rows, max_customer, audit_rows, &done).await?;
    Ok(ImportResult { bytes: bytes.len(), phases, expected, dry, done, audit_rows, terms_written, profile, message })
}

/// Rough decomposition of the import's time: the same kinds of work, done again on their own
/// with the same transaction size, through the same library functions. Written under other
/// entity types, after every measure.
async fn profile_import(state: &AppState, rows: &[CsvRow], max_customer: i64, audit_rows: i64, done: &Counts) -> Result<Profile> {
    let records = done.created + done.merged;
    let db = &state.db;
    let now = state.clock.now_ms();
    let actor = Actor { id: None, name: "Profil".into(), request_id: Some("bench-profile".into()) };
    let mut out = Vec::new();

    // 1. Parsing and validating the rows (phones through the phonenumber crate): CPU only.
    let t = Instant::now();
    let mut inputs = Vec::new();
    for r in rows {
        let mut f = r.form.clone();
        f.kind = if f.kind == "Entreprise" { "company".into() } else { "person".into() };
        f.civility = f.civility.as_deref().map(carnet::search::fold);
        if let Ok(i) = f.parse("CA") {
            inputs.push((i, r.expect));
        }
    }
    out.push((format!("parse and validate {} rows (`CustomerForm::parse`, phone numbers)", rows.len()), t.elapsed().as_secs_f64()));

    // 2. The returning-customer check of every valid row, a chunk at a time (`store::holders`,
    // one statement per 200 emails and 200 phones on customers, and the same on contacts),
    // as the import's planner does.
    let t = Instant::now();
    let mut conn = db.pool.acquire().await?;
    let mut holder_statements = 0;
    for chunk in inputs.chunks(IMPORT_CHUNK) {
        let emails: Vec<String> = chunk.iter().filter_map(|(i, _)| i.email.as_ref().map(|e| e.as_str().to_string())).collect();
        let phones: Vec<String> =
            chunk.iter().flat_map(|(i, _)| i.phone.iter().chain(i.mobile.iter()).map(|p| p.as_str().to_string())).collect();
        store::holders(&mut conn, &emails, &phones).await?;
        holder_statements += 2 * emails.len().max(phones.len()).div_ceil(200);
    }
    drop(conn);
    out.push((
        format!("returning-customer lookups of {} valid rows (`store::holders`, a chunk at a time)", inputs.len()),
        t.elapsed().as_secs_f64(),
    ));

    // 3. The customer rows themselves: multi-row INSERTs of 10 rows as `store::create_many`,
    // into the same table (its indexes: email, phone, mobile, name, branch, owner, kind),
    // copies of the created customers, deleted afterwards.
    let t = Instant::now();
    let copied = copy_customers(db, max_customer, now).await?;
    out.push((format!("INSERT of {copied} customer rows, 10 per statement (the table's seven indexes)"), t.elapsed().as_secs_f64()));
    let max_copy: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM customers").fetch_one(&db.pool).await?;
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM customers WHERE id > $1 AND id <= $2").bind(max_copy - copied as i64).bind(max_copy).execute(&mut *tx).await?;
    tx.commit().await?;

    // 4. The search terms of the created customers (`search::index_many`, a chunk at a time),
    // under ids no customer has (so the DELETE finds nothing, as for a new customer, and the
    // INSERTs go into the same index range as the real ones), deleted afterwards.
    #[allow(clippy::type_complexity)]
    let created: Vec<(i64, String, String, String, Option<String>, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT id, first_name, last_name, company_name, email, phone, mobile FROM customers WHERE id > $1 ORDER BY id")
            .bind(max_customer)
            .fetch_all(&db.pool)
            .await?;
    const FAKE_IDS: i64 = 1_000_000_000_000;
    let t = Instant::now();
    let mut terms = 0;
    let mut term_statements = 0;
    for chunk in created.chunks(IMPORT_CHUNK) {
        let mut tx = db.begin().await?;
        let mut values: Vec<(i64, Vec<String>)> = Vec::new();
        for (id, first, last, company, email, phone, mobile) in chunk {
            let ph: Vec<String> = phone.iter().chain(mobile.iter()).map(|p| p.trim_start_matches('+').to_string()).collect();
            let national: Vec<String> = ph.iter().map(|p| p.strip_prefix('1').unwrap_or(p).to_string()).collect();
            let mut v: Vec<String> = vec![first.clone(), last.clone(), company.clone()];
            v.extend(email.iter().cloned());
            v.extend(ph);
            v.extend(national);
            values.push((FAKE_IDS + *id, v));
        }
        let records: Vec<(i64, Vec<&str>)> = values.iter().map(|(id, v)| (*id, v.iter().map(String::as_str).collect())).collect();
        let n: usize = records.iter().map(|(_, v)| carnet::search::terms(v).len()).sum();
        terms += n;
        term_statements += 1 + n.div_ceil(100);
        carnet::search::index_many(&mut tx, "customer", &records).await?;
        tx.commit().await?;
    }
    out.push((
        format!("search terms of {} created customers ({terms} terms, multi-row INSERTs of 100, `search::index_many`)", created.len()),
        t.elapsed().as_secs_f64(),
    ));
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM search_terms WHERE entity_type = 'customer' AND entity_id >= $1").bind(FAKE_IDS).execute(&mut *tx).await?;
    tx.commit().await?;

    // 5. The history: as many audit rows as the import wrote, in as many records, a chunk of
    // records at a time (`audit::record_many`).
    let per_record = (audit_rows as usize).div_ceil(records.max(1)).max(1);
    let changes: Vec<carnet::audit::Change> = (0..per_record)
        .map(|k| carnet::audit::Change { field: format!("field_{k}").into(), old: None, new: Some(format!("valeur {k} de l'import")) })
        .collect();
    let t = Instant::now();
    let mut written = 0;
    let mut id = 0;
    let mut audit_statements = 0;
    while written < audit_rows as usize {
        let mut tx = db.begin().await?;
        let mut entries = Vec::new();
        let mut rows_now = 0;
        for _ in 0..IMPORT_CHUNK {
            if written >= audit_rows as usize {
                break;
            }
            let n = per_record.min(audit_rows as usize - written);
            entries.push(carnet::audit::Entry { entity: "bench_profile", entity_id: id, action: "create", changes: changes[..n].to_vec() });
            written += n;
            rows_now += n;
            id += 1;
        }
        audit_statements += rows_now.div_ceil(50);
        carnet::audit::record_many(&mut tx, &actor, now, &entries).await?;
        tx.commit().await?;
    }
    out.push((
        format!("history: {written} audit rows for {records} records (`audit::record_many`, multi-row INSERTs of 50)"),
        t.elapsed().as_secs_f64(),
    ));

    // The statements the import sent, counted from what `customers::import` does per chunk:
    // BEGIN, the region setting, the civility list, the returning-customer lookups and reading
    // the customers found, the customer INSERTs (10 rows each), the search terms, reading the
    // new rows back, their history, reading the merge targets, one UPDATE per customer merged
    // into and its terms and history, the progress UPDATE and COMMIT.
    let chunks = rows.len().div_ceil(IMPORT_CHUNK);
    let statements = 8 * chunks
        + holder_statements
        + done.created.div_ceil(10)
        + term_statements
        + done.created.div_ceil(500)
        + audit_statements
        + 2 * done.merged;
    // What that many trivial statements cost, in transactions of the same size.
    let per_tx = statements.div_ceil(rows.len().div_ceil(IMPORT_CHUNK)).max(1);
    let t = Instant::now();
    let mut sent = 0;
    while sent < statements {
        let mut tx = db.begin().await?;
        for _ in 0..per_tx.min(statements - sent) {
            let _: i64 = sqlx::query_scalar("SELECT $1").bind(sent as i64).fetch_one(&mut *tx).await?;
            sent += 1;
        }
        tx.commit().await?;
    }
    let floor_s = t.elapsed().as_secs_f64();
    Ok(Profile { items: out, statements, floor_s })
}

/// Inserts a copy of every customer above `after`, 10 rows per INSERT (as
/// `store::create_many`), `IMPORT_CHUNK` per transaction. Returns how many.
async fn copy_customers(db: &Db, after: i64, now: i64) -> Result<usize> {
    #[derive(sqlx::FromRow)]
    struct Row {
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
        owner_id: Option<i64>,
        notes: String,
        particularities: String,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT kind, civility, first_name, last_name, company_name, display_name, email, phone, mobile, address, language, branch_id, \
         owner_id, notes, particularities FROM customers WHERE id > $1 ORDER BY id",
    )
    .bind(after)
    .fetch_all(&db.pool)
    .await?;
    for chunk in rows.chunks(IMPORT_CHUNK) {
        let mut tx = db.begin().await?;
        for part in chunk.chunks(10) {
            let mut q = carnet::db::Sql::new(
                "INSERT INTO customers (sort_key, kind, civility, first_name, last_name, company_name, display_name, email, phone, mobile, \
                 address, language, branch_id, owner_id, notes, particularities, created_at, updated_at) VALUES ",
            );
            for (i, r) in part.iter().enumerate() {
                q.push(if i == 0 { "(" } else { ", (" });
                let vals: [carnet::db::sql::Arg; 18] = [
                    carnet::search::sort_key(&r.display_name).into(),
                    r.kind.clone().into(),
                    r.civility.clone().into(),
                    r.first_name.clone().into(),
                    r.last_name.clone().into(),
                    r.company_name.clone().into(),
                    r.display_name.clone().into(),
                    r.email.clone().into(),
                    r.phone.clone().into(),
                    r.mobile.clone().into(),
                    r.address.clone().into(),
                    r.language.clone().into(),
                    r.branch_id.into(),
                    r.owner_id.into(),
                    r.notes.clone().into(),
                    r.particularities.clone().into(),
                    now.into(),
                    now.into(),
                ];
                for (k, v) in vals.into_iter().enumerate() {
                    if k > 0 {
                        q.push(", ");
                    }
                    q.bind(v);
                }
                q.push(")");
            }
            q.push(" RETURNING id");
            let _: Vec<i64> = q.query_scalar().fetch_all(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    Ok(rows.len())
}

struct Profile {
    items: Vec<(String, f64)>,
    /// Statements the import sent (counted from the code's logic, see `profile_import`).
    statements: usize,
    /// Seconds for as many trivial `SELECT $1` in transactions of the same size.
    floor_s: f64,
}

// ---------------------------------------------------------------- report

fn report(o: &Options, config: &Config, data: &Dataset, load: &[Measure], imp: Option<&ImportResult>) -> String {
    let mut s = String::new();
    support::header(&mut s, o.c.backend, config);
    let _ = writeln!(
        s,
        "- dataset: {} customers ({} companies), {} contacts, {} search terms, {} users in {} branches{}",
        fmt_n(data.customers),
        fmt_n(data.companies),
        fmt_n(data.contacts),
        fmt_n(data.terms),
        data.users,
        data.branches,
        data.size_bytes.map(|b| format!("; {:.2} GiB on disk", b as f64 / (1u64 << 30) as f64)).unwrap_or_default()
    );
    let _ = writeln!(
        s,
        "- generation: {} rows in {:.0} s ({:.0} rows/s): customers and their search terms {:.0} s ({:.0} rows/s), contacts {:.0} s ({:.0} rows/s), {} {:.0} s",
        fmt_n(data.rows()),
        data.seconds(),
        data.rows() as f64 / data.seconds(),
        data.customers_s,
        (data.customers + data.terms) as f64 / data.customers_s,
        data.contacts_s,
        data.contacts as f64 / data.contacts_s.max(1e-9),
        if o.c.backend == Backend::Sqlite { "ANALYZE and WAL checkpoint" } else { "VACUUM (ANALYZE)" },
        data.analyze_s
    );
    if !load.is_empty() {
        support::load_table(&mut s, &o.c.concurrency, o.c.seconds, load);
        support::error_lines(&mut s, load);
    }
    if let Some(imp) = imp {
        let _ = writeln!(s);
        let rows = imp.phases.first().map(|p| p.rows).unwrap_or(0);
        let _ = writeln!(
            s,
            "CSV import of {} rows ({:.1} MB, `;`-separated, French headers): {} new, {} already known or repeated, {} invalid.",
            fmt_n(rows),
            imp.bytes as f64 / 1e6,
            fmt_n(imp.expected.created),
            fmt_n(imp.expected.merged),
            fmt_n(imp.expected.rejected)
        );
        let _ = writeln!(s);
        let _ = writeln!(s, "| phase | what | rows | seconds | rows/s | CPU app / database / other |");
        let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: |");
        for p in &imp.phases {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.2} | {:.0} | {:.0} / {:.0} / {:.0} % |",
                p.name,
                p.what,
                p.rows,
                p.seconds,
                p.rows as f64 / p.seconds,
                p.cpu.app,
                p.cpu.database,
                p.cpu.other
            );
        }
        let _ = writeln!(s);
        let c = |c: &Counts| format!("{} created, {} merged, {} rejected", c.created, c.merged, c.rejected);
        let same = |a: &Counts, b: &Counts| a.created == b.created && a.merged == b.merged && a.rejected == b.rejected;
        let _ = writeln!(
            s,
            "- counts: expected {}; dry run {}; import {} ({}); total {} = {} rows",
            c(&imp.expected),
            c(&imp.dry),
            c(&imp.done),
            if same(&imp.expected, &imp.done) && same(&imp.dry, &imp.done) { "all three agree" } else { "**they differ**" },
            imp.done.created + imp.done.merged + imp.done.rejected,
            rows
        );
        let _ = writeln!(s, "- job message: `{}`", imp.message);
        let _ = writeln!(
            s,
            "- written by the import: {} customers, {} audit rows ({:.1} per created or merged row), {} search terms ({:.1} per created customer)",
            imp.done.created,
            imp.audit_rows,
            imp.audit_rows as f64 / (imp.done.created + imp.done.merged).max(1) as f64,
            imp.terms_written,
            imp.terms_written as f64 / imp.done.created.max(1) as f64
        );
        if let Some(run) = imp.phases.iter().find(|p| p.name == "import") {
            let _ = writeln!(s);
            let _ = writeln!(
                s,
                "Where the import's {:.1} s go (estimate: each kind of work done again on its own after the run, same transaction size, \
                 same library functions):",
                run.seconds
            );
            let _ = writeln!(s);
            let _ = writeln!(s, "| work | seconds | share of the import |");
            let _ = writeln!(s, "| --- | ---: | ---: |");
            let mut sum = 0.0;
            for (what, secs) in &imp.profile.items {
                sum += secs;
                let _ = writeln!(s, "| {what} | {secs:.2} | {:.0} % |", 100.0 * secs / run.seconds);
            }
            let _ = writeln!(
                s,
                "| the rest (reading rows back with their joins, merges, report, progress) | {:.2} | {:.0} % |",
                (run.seconds - sum).max(0.0),
                100.0 * (run.seconds - sum).max(0.0) / run.seconds
            );
            let p = &imp.profile;
            let _ = writeln!(s);
            let _ = writeln!(
                s,
                "- statements: the import sends about {} SQL statements ({:.2} per row: multi-row INSERTs and lookups a chunk at a \
                 time, one UPDATE per merge); {} trivial `SELECT $1` in transactions of the same size take {:.2} s here ({:.0} µs each), \
                 a floor of {:.0} rows/s for this design whatever the queries",
                fmt_n(p.statements),
                p.statements as f64 / run.rows as f64,
                fmt_n(p.statements),
                p.floor_s,
                1e6 * p.floor_s / p.statements.max(1) as f64,
                run.rows as f64 / p.floor_s
            );
        }
    }
    // Targets of the customers issue.
    let _ = writeln!(s);
    let target_line = |s: &mut String, label: &str, prefix: &str| {
        let parts: Vec<String> = load
            .iter()
            .filter(|m| m.name.starts_with(prefix))
            .map(|m| {
                let (ok, shown) = if m.p99_ms.is_nan() {
                    (false, format!("more than {} s", o.c.seconds))
                } else {
                    (m.p99_ms < TARGET_P99_MS, format!("{} ms", fmt_ms(m.p99_ms)))
                };
                format!("{} with {} clients (p99 {shown})", verdict(ok), m.concurrency)
            })
            .collect();
        if !parts.is_empty() {
            let _ = writeln!(s, "- target {label}, p99 < {TARGET_P99_MS} ms: {}", parts.join(", "));
        }
    };
    if o.c.backend == Backend::Sqlite {
        target_line(&mut s, "lookup by phone", "a.");
        target_line(&mut s, "lookup by email", "b.");
        target_line(&mut s, "search as you type", "c.");
    } else if !load.is_empty() {
        let _ = writeln!(s, "- the p99 target (20 ms) is set for SQLite; on PostgreSQL the figures are for comparison");
    }
    if let Some(run) = imp.and_then(|i| i.phases.iter().find(|p| p.name == "import")) {
        let rate = run.rows as f64 / run.seconds;
        let _ = writeln!(
            s,
            "- target import > {} rows/s: {} ({:.0} rows/s)",
            fmt_n(TARGET_IMPORT_ROWS_PER_S as usize),
            verdict(rate > TARGET_IMPORT_ROWS_PER_S),
            rate
        );
    }
    s
}

// ---------------------------------------------------------------- main

#[tokio::main]
async fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; no other argument is understood.
    let o = Options::from_env()?;
    let (config, place) = support::configure(&o.c)?;
    eprintln!(
        "carnet customers bench: backend {}, {} customers, {} contacts, import of {} rows, {} s per scenario, concurrency {:?}",
        o.c.backend.name(),
        o.customers,
        o.contacts,
        o.import_rows,
        o.c.seconds,
        o.c.concurrency
    );
    let outcome = async {
        let run = support::prepare(&config, TEAMS).await?;
        let state = &run.state;
        // The bulk load runs on a dedicated connection (on SQLite with a big page cache, so
        // that the indexes filled in random order, search terms, emails and phones, stay in
        // memory).
        let gen = support::bulk_connection(&config).await?;
        let r = generate(&gen, &o, &run.branches, run.users, run.now).await;
        let (data, samples) = support::generated(gen, r).await?;
        let mut results = Vec::new();
        if o.load {
            let (o, samples) = (&o, &samples);
            results = support::with_server(state, |base| async move { load(o, state, &base, samples).await }).await?;
        }
        let imp = if o.import {
            eprintln!("CSV import …");
            Some(import_bench(&o, state, &samples, &run.branches).await.context("import")?)
        } else {
            None
        };
        state.db.pool.close().await;
        support::publish("customers", "Customers", o.c.backend, &report(&o, &config, &data, &results, imp.as_ref()))
    }
    .await;
    place.close(o.c.pg_url.as_deref(), outcome).await
}
