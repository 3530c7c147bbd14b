//! Sales benchmark: `cargo bench --bench sales`.
//!
//! Generates a large sales history (`CARNET_BENCH_CUSTOMERS` person customers with Québec
//! names, E.164 phones and lower-case emails, spread over 16 branches and their
//! representatives; `CARNET_BENCH_OPPORTUNITIES` opportunities created over the last six
//! months in time order, each for a random customer, owned by the customer's representative,
//! statuses spread over the `opportunity_status` list, a few % in the trash; 5 000 stock
//! units), starts the real Carnet in-process on 127.0.0.1, and measures:
//!
//! - the 8-week expiry sweep (`carnet::sales::expiry::sweep`) over all the opportunities,
//!   then a second sweep that must expire nothing;
//! - then over HTTP, in a closed loop of `CARNET_BENCH_CONCURRENCY` clients for
//!   `CARNET_BENCH_SECONDS` per scenario (after a one-second warm-up that is not recorded):
//!   lead intake (`POST /api/v1/leads` with an `Idempotency-Key`, 70 % known customers, 30 %
//!   new people), its baseline (`POST /api/v1/opportunities/{id}/notes`: a visibility lookup,
//!   one INSERT and its history), the kanban board and the first page of the list (all, and
//!   filtered by status), as an administrator and as representatives (scope "own").
//!
//! Options (environment):
//! - `CARNET_BENCH_BACKEND`: `sqlite` (default, a temporary file) or `postgres` (uses
//!   `CARNET_TEST_POSTGRES_URL` or `DATABASE_URL`, in a fresh schema dropped at the end);
//! - `CARNET_BENCH_CUSTOMERS` (default 1000000), `CARNET_BENCH_OPPORTUNITIES` (default twice
//!   the customers), `CARNET_BENCH_SECONDS` (default 10), `CARNET_BENCH_CONCURRENCY` (default
//!   `8,32`);
//! - `CARNET_BENCH_PARTS`: `expiry,load` (default), or one of them, or `generate`;
//! - `CARNET_BENCH_KEEP_DIR` (SQLite): put the database file in that folder and keep it;
//!   `CARNET_BENCH_KEEP_SCHEMA=1` (PostgreSQL): do not drop the schema (to study plans).
//!
//! The results are printed as markdown and written into `docs/benchmarks.md`, between the
//! `<!-- bench:sales:BACKEND:start -->` and `…:end -->` markers.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use carnet::access::Actor;
use carnet::config::Config;
use carnet::db::{Db, Tx};
use carnet::http::AppState;
use carnet::sales::Statuses;
use reqwest::header::AUTHORIZATION;
use reqwest::{Client, StatusCode};
use serde_json::json;

#[path = "support/mod.rs"]
mod support;

use support::{
    ascii_slug, client, contains, env_num, env_str, exec, fmt_ms, fmt_n, get_json, insert_ids, lit, opt, phone, postal, short, timed,
    typed_email, typed_phone, verdict, weighted, Backend, Branch, Bulk, Common, CpuShare, CustomerRow, Generated, Measure, Reservoir, Rng,
    Scenario, Team, ADMIN_EMAIL, EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, STREETS,
};

const CUSTOMERS_PER_STATEMENT: usize = 1000;
const OPPORTUNITIES_PER_STATEMENT: usize = 2000;
const STOCK_UNITS: usize = 5000;
/// Representatives per branch (customers' and opportunities' owners).
const REPS_PER_BRANCH: usize = 10;
/// Distinct customers, opportunities and paths sampled per scenario.
const SAMPLES: usize = 20_000;
/// Share of the leads that come from known customers.
const KNOWN_SHARE: f64 = 0.7;
/// How far back the opportunities go.
const HISTORY_MS: i64 = 183 * 86_400_000;
/// Targets of the sales issue.
const TARGET_LEADS_PER_S: f64 = 2000.0;
const TARGET_RATIO: f64 = 2.0;
const TARGET_SWEEP_S: f64 = 10.0;
/// The longest a sweep transaction may hold the write lock (issue 15).
const TARGET_SWEEP_TX_MS: f64 = 100.0;
const TARGET_P99_MS: f64 = 30.0;

/// Statuses of the generated opportunities (codes of the built-in `opportunity_status` list)
/// and their weights in ‰: the three `expiry_exempt` ones make 15 %, the trash 5 %.
const STATUS_WEIGHTS: &[(&str, u32)] = &[
    ("en_traitement", 140),
    ("reponse_envoyee", 100),
    ("contacte", 150),
    ("rdv_cedule", 80),
    ("rdv_present", 50),
    ("pris_en_charge", 40),
    ("vendu_non_livre", 30),
    ("livre", 100),
    ("suivi_long_terme", 80),
    ("perdu_bdc", 90),
    ("perdu_salle", 60),
    ("perdu_fi", 30),
    ("invalide_bdc", 50),
];
/// The statuses past a meeting booked, and past the customer coming in.
const BOOKED: &[&str] = &["rdv_cedule", "rdv_present", "pris_en_charge", "vendu_non_livre", "livre"];
const SHOWED: &[&str] = &["rdv_present", "pris_en_charge", "vendu_non_livre", "livre"];
const LEAD_TYPES: &[(&str, u32)] = &[("internet", 550), ("phone_up", 250), ("clavardage", 100), ("sms", 100)];
const SOURCES: &[&str] = &["site web", "AutoHebdo", "Kijiji Autos", "Facebook Marketplace", "clavardage du site"];
const MESSAGES: &[&str] = &[
    "Bonjour, est-ce que ce véhicule est toujours disponible ?",
    "Je voudrais faire un essai routier samedi matin.",
    "Quel serait le paiement mensuel sur 60 mois avec 2 000 $ comptant ?",
    "J'ai un échange : Civic 2017, 120 000 km. Combien m'offrez-vous ?",
    "Hi, is the financing rate still 4.99 % on this model?",
];

// ---------------------------------------------------------------- options

struct Options {
    c: Common,
    customers: usize,
    opportunities: usize,
    expiry: bool,
    load: bool,
}

impl Options {
    fn from_env() -> Result<Options> {
        let c = Common::from_env("8,32")?;
        let customers = env_num("CARNET_BENCH_CUSTOMERS", 1_000_000usize)?;
        let parts = env_str("CARNET_BENCH_PARTS").unwrap_or_else(|| "expiry,load".into());
        let parts: Vec<&str> = parts.split(',').map(str::trim).collect();
        if let Some(p) = parts.iter().find(|p| !["expiry", "load", "generate"].contains(p)) {
            bail!("CARNET_BENCH_PARTS: unknown part {p:?} (expiry, load, or generate for the dataset alone)");
        }
        let o = Options {
            c,
            customers,
            opportunities: env_num("CARNET_BENCH_OPPORTUNITIES", 2 * customers)?,
            expiry: parts.contains(&"expiry"),
            load: parts.contains(&"load"),
        };
        if o.customers < 1000 || o.opportunities < 1000 || o.c.seconds == 0 || o.c.concurrency.is_empty() || o.c.concurrency.contains(&0) {
            bail!("CARNET_BENCH_CUSTOMERS and OPPORTUNITIES must be at least 1000, SECONDS and CONCURRENCY 1");
        }
        Ok(o)
    }
}

// ---------------------------------------------------------------- dataset

/// The sales structure of a branch: a sales team (10 representatives, scope "own") and a BDC
/// team (3 agents).
const TEAMS: &[Team] = &[
    Team { team: Some("Ventes"), role: "representant", members: REPS_PER_BRANCH, login: false },
    Team { team: Some("BDC"), role: "agent_bdc", members: 3, login: false },
];

/// A generated customer, as kept in memory to build its opportunities and the leads.
struct Cust {
    id: i64,
    first: &'static str,
    last: &'static str,
    email: Option<String>,
    phone: Option<String>,
    owner: Option<i64>,
    branch: i64,
}

impl Cust {
    fn display(&self) -> String {
        format!("{} {}", self.first, self.last)
    }
}

/// A known customer's phone and email (either may be missing), and its id (what a lead must
/// be recognised as).
#[derive(Clone)]
struct KnownLead {
    id: i64,
    first: &'static str,
    last: &'static str,
    email: Option<String>,
    phone: Option<String>,
}

struct Samples {
    known: Reservoir<KnownLead>,
    /// Live (not trashed) opportunities, for the notes baseline.
    opportunities: Reservoir<i64>,
}

struct Dataset {
    customers: usize,
    opportunities: usize,
    trashed: usize,
    /// Opportunities the first sweep must expire (old enough, status not exempt).
    due: usize,
    users: usize,
    branches: usize,
    customers_s: f64,
    opportunities_s: f64,
    analyze_s: f64,
    size_bytes: Option<u64>,
}

impl Generated for Dataset {
    fn rows(&self) -> usize {
        self.customers + self.opportunities + STOCK_UNITS
    }
    fn seconds(&self) -> f64 {
        self.customers_s + self.opportunities_s + self.analyze_s
    }
}

/// The columns of a generated customer that are written but not kept.
struct Extra {
    mobile: Option<String>,
    address: String,
    created_at: i64,
}

fn new_customer(rng: &mut Rng, i: usize, branches: &[Branch], now: i64) -> (Cust, Extra) {
    // Branches of very different sizes: Montréal-Centre and Laval are the big ones.
    let b = &branches[rng.skewed(branches.len())];
    let owner = if rng.chance(0.05) { None } else { Some(*rng.pick(b.reps())) };
    let address = format!("{} {}, {} (Québec) {}", 1 + rng.below(9999), rng.pick(STREETS), b.city, postal(rng, b.postal));
    let created_at = now - rng.below(6 * 365 * 86_400) as i64 * 1000;
    let first = rng.pick(FIRST_NAMES).0;
    let last = LAST_NAMES[rng.skewed(LAST_NAMES.len())];
    let email = rng.chance(0.85).then(|| {
        let local = match rng.below(3) {
            0 => format!("{}.{}{i}", ascii_slug(first), ascii_slug(last)),
            1 => format!("{}{}{i}", &ascii_slug(first)[..1], ascii_slug(last)),
            _ => format!("{}_{}.{i}", ascii_slug(last), ascii_slug(first)),
        };
        format!("{local}@{}", rng.pick(EMAIL_DOMAINS))
    });
    // Everyone has a phone or an email (a lead needs one of them to recognise the customer).
    let number = (email.is_none() || rng.chance(0.9)).then(|| phone(3 * i as u64));
    let mobile = rng.chance(0.5).then(|| phone(3 * i as u64 + 1));
    (Cust { id: 0, first, last, email, phone: number, owner, branch: b.id }, Extra { mobile, address, created_at })
}

async fn insert_customers(tx: &mut Tx, rows: &mut [(Cust, Extra)]) -> Result<()> {
    let displays: Vec<String> = rows.iter().map(|(c, _)| c.display()).collect();
    let new: Vec<CustomerRow> = rows
        .iter()
        .zip(&displays)
        .map(|((c, x), display)| CustomerRow {
            company: false,
            civility: None,
            first: c.first,
            last: c.last,
            company_name: "",
            display,
            email: c.email.as_deref(),
            phone: c.phone.as_deref(),
            mobile: x.mobile.as_deref(),
            address: &x.address,
            language: "fr",
            branch: c.branch,
            owner: c.owner,
            notes: "",
            particularities: "",
            created_at: x.created_at,
        })
        .collect();
    let ids = support::insert_customers(tx, &new).await?;
    for (r, id) in rows.iter_mut().zip(ids) {
        r.0.id = id;
    }
    Ok(())
}

/// A generated opportunity.
struct NewOpportunity {
    customer: usize,
    lead_type: &'static str,
    status: &'static str,
    trashed: bool,
    sale_date: Option<i64>,
    delivery_date: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

async fn insert_opportunities(tx: &mut Tx, rows: &[NewOpportunity], custs: &[Cust]) -> Result<Vec<i64>> {
    let mut sql = String::with_capacity(rows.len() * 140 + 300);
    sql.push_str(
        "INSERT INTO opportunities (name, customer_id, lead_type, status, owner_id, branch_id, sale_date, delivery_date, \
         trashed, created_at, updated_at, amount_cents, booked_at, showed_at, lost_at) VALUES ",
    );
    for (k, o) in rows.iter().enumerate() {
        let c = &custs[o.customer];
        sql.push_str(if k > 0 { ", (" } else { "(" });
        lit(&mut sql, Some(&c.display()));
        let _ = write!(
            sql,
            ", {}, '{}', '{}', {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            c.id,
            o.lead_type,
            o.status,
            opt(c.owner),
            c.branch,
            opt(o.sale_date),
            opt(o.delivery_date),
            o.trashed as i64,
            o.created_at,
            o.updated_at,
            // The dashboards' columns as the workflow keeps them (migration 24): an amount for
            // most, the funnel's stages by the status reached, the loss.
            opt((c.id % 5 != 0).then_some((15_000 + (c.id * 7_919) % 60_000) * 100)),
            opt(BOOKED.contains(&o.status).then_some(o.created_at + 86_400_000)),
            opt(SHOWED.contains(&o.status).then_some(o.created_at + 3 * 86_400_000)),
            opt(o.status.starts_with("perdu_").then_some(o.updated_at)),
        );
    }
    insert_ids(tx, sql, rows.len(), "opportunity").await
}

/// Stock units `U00001`…, spread over the branches.
async fn insert_stock(tx: &mut Tx, branches: &[Branch], now: i64) -> Result<()> {
    const MODELS: &[&str] =
        &["Civic LX", "CR-V EX", "RAV4 XLE", "Corolla LE", "F-150 XLT", "Tucson Preferred", "Outback Touring", "Mazda3 GS"];
    let mut sql = String::from("INSERT INTO stock_units (stock_number, description, status, branch_id, created_at, updated_at) VALUES ");
    for k in 0..STOCK_UNITS {
        let status = ["disponible", "disponible", "disponible", "reserve", "vendu"][k % 5];
        let _ = write!(
            sql,
            "{}('U{:05}', '{} {}', '{status}', {}, {now}, {now})",
            if k > 0 { ", " } else { "" },
            k + 1,
            MODELS[k % MODELS.len()],
            2019 + k % 8,
            branches[k % branches.len()].id
        );
    }
    exec(tx, &sql).await
}

/// Customers, then opportunities in time order (each for a random customer, so about
/// Poisson(OPPORTUNITIES / CUSTOMERS) per customer), in multi-row INSERTs inside big
/// transactions on `gen` (a dedicated connection), then planner statistics.
async fn generate(gen: &Db, o: &Options, branches: &[Branch], users: usize, now: i64) -> Result<(Dataset, Samples)> {
    let statuses = Statuses::load(gen).await?;
    let exempt = statuses.exempt();
    for (code, _) in STATUS_WEIGHTS {
        if statuses.get(code).is_none() {
            bail!("status {code:?} is not in the opportunity_status list");
        }
    }
    let weeks: i64 = carnet::settings::get(gen, "opportunities.expiry_weeks").await?.parse().unwrap_or(8);
    let cutoff = now - weeks * 7 * 86_400_000;
    let n = o.customers;
    let mut rng = Rng(0x5A1E_5000);
    let mut samples = Samples { known: Reservoir::new(SAMPLES, 1), opportunities: Reservoir::new(SAMPLES, 2) };
    let mut custs: Vec<Cust> = Vec::with_capacity(n);
    let mut batch: Vec<(Cust, Extra)> = Vec::with_capacity(CUSTOMERS_PER_STATEMENT);
    let mut bulk = Bulk::start(gen, "customers").await?;
    insert_stock(bulk.tx(), branches, now).await?;
    for i in 0..n {
        batch.push(new_customer(&mut rng, i, branches, now));
        if batch.len() < CUSTOMERS_PER_STATEMENT && i + 1 < n {
            continue;
        }
        insert_customers(bulk.tx(), &mut batch).await?;
        for (c, _) in batch.drain(..) {
            samples.known.offer(|| KnownLead { id: c.id, first: c.first, last: c.last, email: c.email.clone(), phone: c.phone.clone() });
            custs.push(c);
        }
        bulk.done(i + 1).await?;
    }
    let customers_s = bulk.finish().await?;
    eprintln!("  {n} customers and {STOCK_UNITS} stock units in {customers_s:.1} s: {:.0} rows/s", n as f64 / customers_s);

    let m = o.opportunities;
    let (mut trashed, mut due) = (0, 0);
    let mut batch: Vec<NewOpportunity> = Vec::with_capacity(OPPORTUNITIES_PER_STATEMENT);
    let mut bulk = Bulk::start(gen, "opportunities").await?;
    for j in 0..m {
        // Evenly spread over the last six months, in id order (the most recent last).
        let created_at = now - HISTORY_MS + (j as i64 * HISTORY_MS) / m as i64;
        let status = weighted(&mut rng, STATUS_WEIGHTS);
        let st = statuses.get(status).ok_or_else(|| anyhow!("no status {status}"))?;
        let sold = st.has_flag("sets_sale_date") || st.has_flag("sets_delivery_date") || status == "vendu_non_livre";
        let sale_date = sold.then(|| (created_at + rng.below(30) as i64 * 86_400_000).min(now));
        let delivery_date =
            sale_date.filter(|_| st.has_flag("sets_delivery_date")).map(|s| (s + rng.below(14) as i64 * 86_400_000).min(now));
        let updated_at = delivery_date.or(sale_date).unwrap_or(created_at).max(created_at + rng.below(20) as i64 * 86_400_000).min(now);
        let op = NewOpportunity {
            customer: rng.below(n),
            lead_type: weighted(&mut rng, LEAD_TYPES),
            status,
            trashed: st.has_flag("trash"),
            sale_date,
            delivery_date,
            created_at,
            updated_at,
        };
        trashed += op.trashed as usize;
        if created_at <= cutoff && !exempt.iter().any(|e| e == status) {
            due += 1;
        }
        batch.push(op);
        if batch.len() < OPPORTUNITIES_PER_STATEMENT && j + 1 < m {
            continue;
        }
        let ids = insert_opportunities(bulk.tx(), &batch, &custs).await?;
        for (op, id) in batch.iter().zip(ids) {
            if !op.trashed {
                samples.opportunities.offer(|| id);
            }
        }
        batch.clear();
        bulk.done(j + 1).await?;
    }
    let opportunities_s = bulk.finish().await?;
    eprintln!(
        "  {m} opportunities ({trashed} trashed, {due} due to expire) in {opportunities_s:.1} s: {:.0} rows/s",
        m as f64 / opportunities_s
    );

    let started = Instant::now();
    let tables = [
        "org_units",
        "roles",
        "role_rights",
        "users",
        "customers",
        "contacts",
        "opportunities",
        "stock_units",
        "settings",
        "value_list_items",
    ];
    let size_bytes = support::analyze(gen, &tables).await?;
    let analyze_s = started.elapsed().as_secs_f64();
    eprintln!("  ANALYZE in {analyze_s:.1} s");
    let data = Dataset {
        customers: n,
        opportunities: m,
        trashed,
        due,
        users,
        branches: branches.len(),
        customers_s,
        opportunities_s,
        analyze_s,
        size_bytes,
    };
    Ok((data, samples))
}

/// Where the leads come from and what they must become.
struct LeadSource {
    known: Vec<KnownLead>,
    /// Phone slots of new people start here (above the generated customers').
    first_slot: u64,
    /// Makes the idempotency keys unique to this run.
    run: u32,
    /// Leads sent so far (each has its own key, and a new person its own phone and email).
    next: AtomicU64,
}

/// What a lead is: a known customer (their phone and/or email, typed as people type them)
/// or a new person (a phone and an email nobody has).
fn lead_body(src: &LeadSource, n: u64) -> (serde_json::Value, Option<i64>) {
    let mut rng = Rng(n ^ 0x1EAD_5EED);
    let message = *rng.pick(MESSAGES);
    let source = *rng.pick(SOURCES);
    let stock = if rng.chance(0.6) { format!("U{:05}", 1 + rng.below(STOCK_UNITS)) } else { String::new() };
    let lead_type = weighted(&mut rng, LEAD_TYPES);
    if rng.chance(KNOWN_SHARE) {
        let k = &src.known[rng.below(src.known.len())];
        let style = rng.below(6);
        // Web forms send both; a phone-up often the phone alone; a chat the email alone.
        let (phone, email) = match (&k.phone, &k.email, rng.below(3)) {
            (Some(p), Some(e), 0) => (typed_phone(p, style), typed_email(e, style)),
            (Some(p), _, 1) | (Some(p), None, _) => (typed_phone(p, style), String::new()),
            (_, Some(e), _) => (String::new(), typed_email(e, style)),
            (None, None, _) => (String::new(), String::new()),
        };
        let body = json!({"first_name": k.first, "last_name": k.last, "email": email, "phone": phone, "message": message,
            "source": source, "stock_number": stock, "lead_type": lead_type});
        (body, Some(k.id))
    } else {
        let (first, _) = *rng.pick(FIRST_NAMES);
        let last = LAST_NAMES[rng.skewed(LAST_NAMES.len())];
        let email = format!("{}.{}.lead{n}.{}@{}", ascii_slug(first), ascii_slug(last), src.run, rng.pick(EMAIL_DOMAINS));
        let phone = typed_phone(&phone(src.first_slot + n), n as usize);
        let body = json!({"first_name": first, "last_name": last, "email": email, "phone": phone, "message": message,
            "source": source, "stock_number": stock, "lead_type": lead_type});
        (body, None)
    }
}

/// One scenario's request.
#[derive(Clone)]
enum Op {
    /// GET `paths[i]` (rotating) with the token `auths[task % len]`, expecting 200 and, when
    /// `non_empty`, at least one item in the JSON list.
    Get { paths: Arc<Vec<String>>, auths: Arc<Vec<String>>, non_empty: bool },
    /// POST /api/v1/leads, each with its own `Idempotency-Key`.
    Lead { src: Arc<LeadSource>, auth: String },
    /// POST /api/v1/opportunities/{id}/notes on live opportunities.
    Note { ids: Arc<Vec<i64>>, auth: String },
}

/// What a successful request did (leads only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    Answered,
    /// A known customer, merged into their last opportunity.
    KnownMerged,
    /// A known customer whose last opportunity was expired or trashed (or who had none): a new one.
    KnownCreated,
    /// A new person: customer and opportunity created.
    NewCreated,
}

async fn once(client: &Client, base: &str, op: &Op, task: usize, iteration: u64, concurrency: usize) -> Result<Done, String> {
    let slot = task + iteration as usize * concurrency;
    let (rb, expect) = match op {
        Op::Get { paths, auths, .. } => {
            let path = &paths[slot % paths.len()];
            (client.get(format!("{base}{path}")).header(AUTHORIZATION, format!("Bearer {}", auths[task % auths.len()])), StatusCode::OK)
        }
        Op::Lead { src, auth } => {
            let n = src.next.fetch_add(1, Ordering::Relaxed);
            let (body, _) = lead_body(src, n);
            let rb = client
                .post(format!("{base}/api/v1/leads"))
                .header(AUTHORIZATION, format!("Bearer {auth}"))
                .header("Idempotency-Key", format!("bench-{}-{n}", src.run))
                .json(&body);
            let resp = rb.send().await.map_err(|e| format!("{e}"))?;
            let status = resp.status();
            let text = resp.text().await.map_err(|e| format!("body: {e}"))?;
            if status != StatusCode::CREATED {
                return Err(format!("{status} {}", short(&text)));
            }
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {}", short(&text)))?;
            let known = lead_body(src, n).1;
            let created = v["customer_created"].as_bool() == Some(true);
            return match (known, v["outcome"].as_str(), created) {
                (Some(id), Some("merged"), false) if v["customer_id"] == id => Ok(Done::KnownMerged),
                (Some(id), Some("created"), false) if v["customer_id"] == id => Ok(Done::KnownCreated),
                (None, Some("created"), true) => Ok(Done::NewCreated),
                _ => Err(format!("unexpected outcome for a {} person: {}", if known.is_some() { "known" } else { "new" }, short(&text))),
            };
        }
        Op::Note { ids, auth } => {
            let id = ids[slot % ids.len()];
            let body = json!({"body": format!("Rappelé le client (essai {iteration}) : il passera samedi avec son échange.")});
            let rb =
                client.post(format!("{base}/api/v1/opportunities/{id}/notes")).header(AUTHORIZATION, format!("Bearer {auth}")).json(&body);
            (rb, StatusCode::CREATED)
        }
    };
    let resp = rb.send().await.map_err(|e| format!("{e}"))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
    if status != expect {
        return Err(format!("{status} {}", short(&String::from_utf8_lossy(&body))));
    }
    if let Op::Get { paths, non_empty: true, .. } = op {
        if contains(&body[..body.len().min(32)], b"\"items\":[]") {
            return Err(format!("nothing found: {}", paths[slot % paths.len()]));
        }
    }
    Ok(Done::Answered)
}

impl Scenario for Op {
    /// Lead outcomes are counted as 0: known merged, 1: known created, 2: new created.
    async fn once(&self, client: &Client, base: &str, task: usize, iteration: u64, concurrency: usize) -> Result<Option<usize>, String> {
        Ok(match once(client, base, self, task, iteration, concurrency).await? {
            Done::Answered => None,
            Done::KnownMerged => Some(0),
            Done::KnownCreated => Some(1),
            Done::NewCreated => Some(2),
        })
    }
}

// ---------------------------------------------------------------- expiry

struct SweepResult {
    /// Opportunities the sweep should expire (counted at generation).
    expected: usize,
    first: u64,
    first_s: f64,
    /// The first run's write transactions and the longest of them (the write lock's hold).
    first_batches: u64,
    first_longest_ms: f64,
    first_cpu: CpuShare,
    second: u64,
    second_s: f64,
    second_cpu: CpuShare,
    /// `opportunity_expirations` rows and `expire` audit rows after the sweeps.
    flagged: i64,
    audit_rows: i64,
}

/// The sweep at the generation's `now` (so that the due opportunities are exactly those
/// counted at generation), then again.
async fn expiry_bench(state: &AppState, data: &Dataset, now: i64) -> Result<SweepResult> {
    let db = &state.db;
    eprintln!("  first sweep over {} opportunities ({} due) …", data.opportunities, data.due);
    let (swept, first_s, first_cpu) = timed(async { Ok(carnet::sales::expiry::sweep_measured(db, now).await?) }).await?;
    let first = swept.expired;
    let first_longest_ms = swept.longest_tx.as_secs_f64() * 1000.0;
    eprintln!(
        "    {first} expired in {first_s:.2} s ({:.0}/s), {} transactions, the longest {first_longest_ms:.1} ms",
        first as f64 / first_s,
        swept.batches
    );
    let (second, second_s, second_cpu) = timed(async { Ok(carnet::sales::expiry::sweep(db, now).await?) }).await?;
    eprintln!("  second sweep: {second} expired in {second_s:.2} s");
    let flagged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM opportunity_expirations").fetch_one(&db.pool).await?;
    // Each expiration its own history row (migration 38: an event id of its own).
    let audit_rows: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT audit_id) FROM opportunity_expirations").fetch_one(&db.pool).await?;
    if first as usize != data.due || second != 0 || flagged != first as i64 || audit_rows != first as i64 {
        bail!("expiry: expected {} then 0 expired, got {first} then {second}; {flagged} flagged, {audit_rows} audit rows", data.due);
    }
    Ok(SweepResult {
        expected: data.due,
        first,
        first_s,
        first_batches: swept.batches,
        first_longest_ms,
        first_cpu,
        second,
        second_s,
        second_cpu,
        flagged,
        audit_rows,
    })
}

// ---------------------------------------------------------------- load scenarios
async fn load(o: &Options, state: &AppState, base: &str, samples: Samples) -> Result<Vec<Measure>> {
    let db = &state.db;
    let now = state.clock.now_ms();
    let admin_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(ADMIN_EMAIL).fetch_one(&db.pool).await?;
    let admin = carnet::identity::token::create(db, &Actor::system(), now, admin_id, "bench").await?.1;
    // Representatives owning customers and opportunities (scope "own"), one token each, one
    // per branch.
    let reps: Vec<i64> = sqlx::query_scalar(
        "SELECT MIN(u.id) FROM users u JOIN roles r ON r.id = u.role_id WHERE r.code = 'representant' GROUP BY u.org_unit_id ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut rep_tokens = Vec::new();
    for id in &reps {
        rep_tokens.push(carnet::identity::token::create(db, &Actor::system(), now, *id, "bench").await?.1);
    }
    let src = Arc::new(LeadSource {
        known: samples.known.items,
        first_slot: 3 * o.customers as u64 + 10,
        run: rand::random::<u32>() % 1_000_000,
        next: AtomicU64::new(0),
    });
    let note_ids = Arc::new(samples.opportunities.items);

    // Sanity checks: a lead of a known customer (phone typed in each style) is recognised;
    // a new person's creates the customer; the board has its columns and cards; lists are full.
    let c = client()?;
    let lead_op = Op::Lead { src: src.clone(), auth: admin.clone() };
    let mut seen = [0usize; 3];
    for i in 0..40 {
        match once(&c, base, &lead_op, 0, i, 1).await.map_err(|e| anyhow!("lead check: {e}"))? {
            Done::KnownMerged => seen[0] += 1,
            Done::KnownCreated => seen[1] += 1,
            Done::NewCreated => seen[2] += 1,
            Done::Answered => {}
        }
    }
    eprintln!("  checks: 40 leads recognised as expected ({} merged, {} known created, {} new)", seen[0], seen[1], seen[2]);
    let board = get_json(&c, base, "/api/v1/opportunities/board", &admin).await?;
    let cols = board.as_array().map(Vec::len).unwrap_or(0);
    let cards: usize = board.as_array().into_iter().flatten().map(|c| c["cards"].as_array().map(Vec::len).unwrap_or(0)).sum();
    eprintln!("  board: {cols} columns, {cards} cards");
    if cols == 0 || cards == 0 {
        bail!("empty board: {}", short(&board.to_string()));
    }
    let rep_board = get_json(&c, base, "/api/v1/opportunities/board", &rep_tokens[0]).await?;
    let rep_cards: usize = rep_board.as_array().into_iter().flatten().map(|c| c["cards"].as_array().map(Vec::len).unwrap_or(0)).sum();
    if rep_cards == 0 {
        bail!("empty board for a representative");
    }
    for (path, tok) in [("/api/v1/opportunities?limit=50", &admin), ("/api/v1/opportunities?status=contacte&limit=50", &rep_tokens[0])] {
        let n = get_json(&c, base, path, tok).await?["items"].as_array().map(Vec::len).unwrap_or(0);
        if n != 50 {
            bail!("{path}: {n} items instead of 50");
        }
    }

    let get = |path: &str, auths: &[String]| Op::Get {
        paths: Arc::new(vec![path.to_string()]),
        auths: Arc::new(auths.to_vec()),
        // The lists answer `{"items": […]}`, the board a list of columns (checked above).
        non_empty: path.contains("/opportunities?"),
    };
    let admin1 = [admin.clone()];
    let r = rep_tokens.len();
    let scenarios: Vec<(&'static str, String, Op)> = vec![
        (
            "a. lead intake",
            format!(
                "POST /api/v1/leads with an Idempotency-Key: {:.0} % known customers ({} sampled; phone in 6 typing styles and/or email in mixed case), {:.0} % new people; admin",
                100.0 * KNOWN_SHARE,
                src.known.len(),
                100.0 * (1.0 - KNOWN_SHARE)
            ),
            lead_op,
        ),
        (
            "b. note (baseline)",
            format!("POST /api/v1/opportunities/{{id}}/notes on {} live opportunities; admin", note_ids.len()),
            Op::Note { ids: note_ids, auth: admin.clone() },
        ),
        ("c. kanban, admin", "GET /api/v1/opportunities/board (12 columns of 20 cards, scope all)".into(), get("/api/v1/opportunities/board", &admin1)),
        (
            "c. kanban, reps",
            format!("GET /api/v1/opportunities/board, {r} representatives (scope own)"),
            get("/api/v1/opportunities/board", &rep_tokens),
        ),
        ("d. list, admin", "GET /api/v1/opportunities?limit=50 (first page), admin".into(), get("/api/v1/opportunities?limit=50", &admin1)),
        (
            "d. list, reps",
            format!("GET /api/v1/opportunities?limit=50, {r} representatives (scope own)"),
            get("/api/v1/opportunities?limit=50", &rep_tokens),
        ),
        (
            "d. list by status, admin",
            "GET /api/v1/opportunities?status=contacte&limit=50, admin".into(),
            get("/api/v1/opportunities?status=contacte&limit=50", &admin1),
        ),
        (
            "d. list by status, reps",
            format!("GET /api/v1/opportunities?status=contacte&limit=50, {r} representatives"),
            get("/api/v1/opportunities?status=contacte&limit=50", &rep_tokens),
        ),
        (
            "e. sales dashboard, admin",
            "GET /api/v1/reports/sales?period=30d (every figure of the dashboard, the previous period's too), admin".into(),
            get("/api/v1/reports/sales?period=30d", &admin1),
        ),
        (
            "e. sales dashboard, reps",
            format!("GET /api/v1/reports/sales?period=30d, {r} representatives (their own figures)"),
            get("/api/v1/reports/sales?period=30d", &rep_tokens),
        ),
    ];
    support::run_all(base, scenarios, o.c.seconds, &o.c.concurrency).await
}

fn report(o: &Options, config: &Config, data: &Dataset, load: &[Measure], sweep: Option<&SweepResult>) -> String {
    let mut s = String::new();
    support::header(&mut s, o.c.backend, config);
    let _ = writeln!(
        s,
        "- dataset: {} customers, {} opportunities ({} in the trash, {} due to expire), {} stock units, {} users in {} branches{}",
        fmt_n(data.customers),
        fmt_n(data.opportunities),
        fmt_n(data.trashed),
        fmt_n(data.due),
        fmt_n(STOCK_UNITS),
        data.users,
        data.branches,
        data.size_bytes.map(|b| format!("; {:.2} GiB on disk", b as f64 / (1u64 << 30) as f64)).unwrap_or_default()
    );
    let _ = writeln!(
        s,
        "- generation: {} rows in {:.0} s: customers {:.0} s ({:.0} rows/s), opportunities {:.0} s ({:.0} rows/s), {} {:.0} s",
        fmt_n(data.rows()),
        data.seconds(),
        data.customers_s,
        data.customers as f64 / data.customers_s,
        data.opportunities_s,
        data.opportunities as f64 / data.opportunities_s,
        if o.c.backend == Backend::Sqlite { "ANALYZE and WAL checkpoint" } else { "VACUUM (ANALYZE)" },
        data.analyze_s
    );
    if let Some(w) = sweep {
        let _ = writeln!(s);
        let _ = writeln!(s, "Expiry sweep (`sales::expiry::sweep`, run before the load):");
        let _ = writeln!(s);
        let _ = writeln!(s, "| run | opportunities expired | seconds | expired/s | CPU app / database / other |");
        let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: |");
        let _ = writeln!(
            s,
            "| first | {} of {} due | {:.2} | {:.0} | {:.0} / {:.0} / {:.0} % |",
            fmt_n(w.first as usize),
            fmt_n(w.expected),
            w.first_s,
            w.first as f64 / w.first_s,
            w.first_cpu.app,
            w.first_cpu.database,
            w.first_cpu.other
        );
        let _ = writeln!(
            s,
            "| second (idempotence) | {} | {:.2} | – | {:.0} / {:.0} / {:.0} % |",
            w.second, w.second_s, w.second_cpu.app, w.second_cpu.database, w.second_cpu.other
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "- checked: {} opportunities flagged expired, {} `expire` history rows",
            fmt_n(w.flagged as usize),
            fmt_n(w.audit_rows as usize)
        );
        let _ = writeln!(
            s,
            "- the first run committed {} write transactions; the longest held the write lock {:.1} ms",
            fmt_n(w.first_batches as usize),
            w.first_longest_ms
        );
    }
    if !load.is_empty() {
        support::load_table(&mut s, &o.c.concurrency, o.c.seconds, load);
        for m in load.iter().filter(|m| m.outcomes.iter().any(|x| *x > 0)) {
            let total: u64 = m.outcomes.iter().sum();
            let pc = |x: u64| 100.0 * x as f64 / total.max(1) as f64;
            let _ = writeln!(
                s,
                "- lead outcomes with {} clients: known customer merged into the last opportunity {} ({:.0} %), known customer with \
                 a new opportunity (last one expired or trashed, or none) {} ({:.0} %), new customer and opportunity {} ({:.0} %)",
                m.concurrency,
                m.outcomes[0],
                pc(m.outcomes[0]),
                m.outcomes[1],
                pc(m.outcomes[1]),
                m.outcomes[2],
                pc(m.outcomes[2])
            );
        }
        support::error_lines(&mut s, load);
    }
    // Targets of the sales issue.
    let _ = writeln!(s);
    let leads: Vec<&Measure> = load.iter().filter(|m| m.name.starts_with("a.")).collect();
    if !leads.is_empty() {
        let parts: Vec<String> = leads
            .iter()
            .map(|m| format!("{} with {} clients ({:.0} leads/s)", verdict(m.per_second > TARGET_LEADS_PER_S), m.concurrency, m.per_second))
            .collect();
        let on = if o.c.backend == Backend::Sqlite { "" } else { " (set for SQLite; for comparison here)" };
        let _ = writeln!(s, "- target lead intake > {} leads/s{on}: {}", fmt_n(TARGET_LEADS_PER_S as usize), parts.join(", "));
        let parts: Vec<String> = leads
            .iter()
            .filter_map(|a| {
                let b = load.iter().find(|m| m.name.starts_with("b.") && m.concurrency == a.concurrency)?;
                let ratio = b.per_second / a.per_second.max(1e-9);
                Some(format!(
                    "{} with {} clients ({:.0} notes/s ÷ {:.0} leads/s = {ratio:.2}×)",
                    verdict(ratio <= TARGET_RATIO),
                    a.concurrency,
                    b.per_second,
                    a.per_second
                ))
            })
            .collect();
        if !parts.is_empty() {
            let _ = writeln!(s, "- target lead intake within {TARGET_RATIO}× of the bare insert-plus-lookup (b): {}", parts.join(", "));
        }
    }
    if let Some(w) = sweep {
        let _ = writeln!(
            s,
            "- target expiry sweep over {} opportunities < {TARGET_SWEEP_S} s: {} ({:.1} s)",
            fmt_n(data.opportunities),
            verdict(w.first_s < TARGET_SWEEP_S),
            w.first_s
        );
        let _ = writeln!(
            s,
            "- target no sweep transaction holds the write lock ≥ {TARGET_SWEEP_TX_MS} ms: {} (longest {:.1} ms)",
            verdict(w.first_longest_ms < TARGET_SWEEP_TX_MS),
            w.first_longest_ms
        );
    }
    let reads: Vec<String> = load
        .iter()
        .filter(|m| m.name.starts_with("c.") || m.name.starts_with("d."))
        .map(|m| format!("{} {} with {} clients (p99 {} ms)", m.name, verdict(m.p99_ms < TARGET_P99_MS), m.concurrency, fmt_ms(m.p99_ms)))
        .collect();
    if !reads.is_empty() {
        let _ = writeln!(s, "- target kanban and list first page, p99 < {TARGET_P99_MS} ms: {}", reads.join("; "));
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
        "carnet sales bench: backend {}, {} customers, {} opportunities, {} s per scenario, concurrency {:?}",
        o.c.backend.name(),
        o.customers,
        o.opportunities,
        o.c.seconds,
        o.c.concurrency
    );
    let outcome = async {
        let run = support::prepare(&config, TEAMS).await?;
        let (state, now) = (&run.state, run.now);
        // The bulk load runs on a dedicated connection.
        let gen = support::bulk_connection(&config).await?;
        let r = generate(&gen, &o, &run.branches, run.users, now).await;
        let (data, samples) = support::generated(gen, r).await?;
        let sweep = if o.expiry {
            eprintln!("expiry …");
            Some(expiry_bench(state, &data, now).await.context("expiry")?)
        } else {
            None
        };
        let mut results = Vec::new();
        if o.load {
            let o = &o;
            results = support::with_server(state, |base| async move { load(o, state, &base, samples).await }).await?;
        }
        state.db.pool.close().await;
        support::publish("sales", "Sales", o.c.backend, &report(&o, &config, &data, &results, sweep.as_ref()))
    }
    .await;
    place.close(o.c.pg_url.as_deref(), outcome).await
}
