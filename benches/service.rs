//! Service benchmark: `cargo bench --bench service`.
//!
//! Generates a service desk's history (`CARNET_BENCH_CUSTOMERS` customers, mostly companies,
//! with their contacts, spread over the 16 branches of the sales structure and owned by the
//! branches' representatives; an installed base of `CARNET_BENCH_EQUIPMENT` equipment items;
//! `CARNET_BENCH_REQUESTS` service requests created over the last year in time order,
//! numbered `DEM-YYYY-NNNNNN` as the app numbers them, with their equipment lines and
//! symptoms, customer updates, returns, documents (metadata only) and history rows; and the
//! interventions of 10 technicians per branch, 2 to 4 a day each on working days, from 26
//! weeks back to 4 weeks ahead), starts the real Carnet in-process on 127.0.0.1, and
//! measures over HTTP, in a closed loop of `CARNET_BENCH_CONCURRENCY` clients for
//! `CARNET_BENCH_SECONDS` per scenario (after a one-second warm-up that is not recorded):
//!
//! - a. the request list's first page filtered by status and request type, over the API
//!   (bearer token) and as the HTML page (session cookie), as an administrator and as the
//!   support agents of the branches (scope "unit");
//! - b. the request page with its tabs: the HTML details tab and history tab, and over the
//!   API the request with its equipment lines, updates, interventions, returns, documents and
//!   history (7 GETs in a row per iteration);
//! - c. the planning week of a branch (HTML and API), branches and weeks around today;
//! - d. the customer portal: the home page and the request list (open and closed) of portal
//!   users of the 16 organisations with the most requests, to compare with the staff list (a).
//!
//! Options (environment):
//! - `CARNET_BENCH_BACKEND`: `sqlite` (default, a temporary file) or `postgres` (uses
//!   `CARNET_TEST_POSTGRES_URL` or `DATABASE_URL`, in a fresh schema dropped at the end);
//! - `CARNET_BENCH_REQUESTS` (default 500000), `CARNET_BENCH_EQUIPMENT` (default 1000000),
//!   `CARNET_BENCH_CUSTOMERS` (default 100000), `CARNET_BENCH_SECONDS` (default 10),
//!   `CARNET_BENCH_CONCURRENCY` (default `8,32`);
//! - `CARNET_BENCH_PARTS`: `load` (default) or `generate` (the dataset alone);
//! - `CARNET_BENCH_KEEP_DIR` (SQLite): put the database file in that folder and keep it;
//!   `CARNET_BENCH_KEEP_SCHEMA=1` (PostgreSQL): do not drop the schema (to study plans).
//!
//! The results are printed as markdown and written into `docs/benchmarks.md`, between the
//! `<!-- bench:service:BACKEND:start -->` and `…:end -->` markers.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use carnet::access::Actor;
use carnet::clock::format_ms;
use carnet::config::Config;
use carnet::db::{Db, Tx};
use carnet::http::AppState;
use carnet::service::RequestStatus;
use reqwest::{Client, StatusCode};

#[path = "support/mod.rs"]
mod support;

use support::{
    ascii_slug, client, contains, env_num, env_str, exec, fmt_ms, fmt_n, get_json, insert_ids, lit, login, opt, phone, postal, short,
    verdict, Auth, Backend, Branch, Bulk, Common, CustomerRow, Generated, Measure, Reservoir, Rng, Scenario, Team, ADMIN_EMAIL,
    EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, STREETS,
};

const CUSTOMERS_PER_STATEMENT: usize = 1000;
const EQUIPMENT_PER_STATEMENT: usize = 2000;
const REQUESTS_PER_STATEMENT: usize = 1000;
/// The most rows of one multi-row `INSERT` of small rows (lines, updates, history…).
const ROWS_PER_STATEMENT: usize = 4000;
const INTERVENTIONS_PER_STATEMENT: usize = 1000;
/// Staff of each branch: support agents (scope "unit", they log in), technicians, and the
/// representatives who own the customers.
const AGENTS_PER_BRANCH: usize = 4;
const TECHS_PER_BRANCH: usize = 10;
const REPS_PER_BRANCH: usize = 5;
const TEAMS: &[Team] = &[
    Team { team: None, role: "agent_support", members: AGENTS_PER_BRANCH, login: true },
    Team { team: None, role: "technicien", members: TECHS_PER_BRANCH, login: false },
    Team { team: Some("Ventes"), role: "representant", members: REPS_PER_BRANCH, login: false },
];
/// Distinct requests sampled for the request pages.
const SAMPLES: usize = 20_000;
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// How far back the requests go.
const HISTORY_MS: i64 = 365 * DAY;
/// The interventions' window: working days from this many weeks back to this many ahead.
const PLAN_PAST_WEEKS: u64 = 26;
const PLAN_AHEAD_WEEKS: u64 = 4;
/// The day's slots of a technician (local time); 2 to 4 of them are booked each working day.
const SLOTS: &[(&str, &str)] = &[("08:00", "10:00"), ("10:30", "12:00"), ("13:00", "15:00"), ("15:30", "17:00")];
/// Weeks of the planning scenarios, relative to the current one.
const PLAN_WEEKS: std::ops::RangeInclusive<i64> = -3..=1;
/// Target of the service issue.
const TARGET_P99_MS: f64 = 30.0;

/// Equipment models and the prefix of their serial numbers.
const MODELS: &[(&str, &str)] = &[
    ("FR", "Four mixte Rational iCombi Pro"),
    ("CF", "Chambre froide Foster"),
    ("PT", "Pétrin spirale VMI"),
    ("LV", "Laveuse Hobart"),
    ("CL", "Climatiseur Daikin"),
    ("FS", "Four à sole Bongard"),
    ("LW", "Lave-vaisselle Winterhalter"),
    ("MG", "Machine à glaçons Scotsman"),
    ("HT", "Hotte Halton"),
    ("RF", "Réfrigérateur True T-49"),
    ("FT", "Friteuse Pitco"),
    ("CE", "Machine espresso La Marzocco"),
    ("CP", "Compresseur Copeland"),
    ("TH", "Thermopompe Mitsubishi"),
    ("CH", "Chaudière Viessmann"),
];
const LOCATIONS: &[&str] =
    &["Cuisine", "Sous-sol", "Salle à manger", "Entrepôt", "Comptoir", "Toit", "Atelier", "Chambre froide n° 2", "Salle mécanique", ""];
const COMPANY_KINDS: &[&str] = &[
    "Restaurant",
    "Boulangerie",
    "Brasserie",
    "Épicerie",
    "Hôtel",
    "Clinique",
    "Résidence",
    "Pâtisserie",
    "Traiteur",
    "Café",
    "Fromagerie",
    "Boucherie",
    "Cantine",
    "Garage",
    "Atelier",
];
const COMPANY_SUFFIXES: &[&str] = &[" inc.", " & Fils", " ltée", "", " enr.", " et associés"];
const DESCRIPTIONS: &[&str] = &[
    "Le four mixte fuit par la porte depuis ce matin.",
    "Entretien annuel des chambres froides.",
    "Le pétrin ne démarre plus après la coupure de courant.",
    "Installation d'une nouvelle laveuse industrielle.",
    "Code E34 affiché sur le panneau de commande.",
    "Demande de devis pour un contrat d'entretien.",
    "Bruit de grincement au démarrage du compresseur, de plus en plus fort.",
    "La machine à glaçons ne produit plus rien depuis la fin de semaine.",
    "La température de la chambre froide monte à 9 °C la nuit.",
    "",
];
const ACK: &str = "Nous avons bien reçu votre demande ; un technicien vous contactera.";
const PLANNED: &str = "Intervention planifiée ; le technicien vous appellera avant de passer.";
const WAITING: &str = "Pièce commandée chez le fabricant ; nous vous rappelons dès sa réception.";
const CLOSED: &str = "Travaux terminés, l'appareil fonctionne normalement. Merci de votre confiance.";
const REPORTS: &[&str] = &[
    "Joint de porte remplacé, test d'étanchéité correct.",
    "Nettoyage du condenseur et vérification des pressions.",
    "Carte de commande remplacée ; code E34 effacé, essais concluants.",
    "Courroie remplacée, moteur graissé.",
    "Installation et mise en service ; formation de l'équipe de cuisine.",
];
const DOCUMENTS: &[(&str, &str)] = &[
    ("photo-plaque-signaletique.jpg", "image/jpeg"),
    ("bon-de-travail-signe.pdf", "application/pdf"),
    ("photo-fuite.jpg", "image/jpeg"),
    ("soumission-entretien.pdf", "application/pdf"),
    ("facture-fournisseur.pdf", "application/pdf"),
    ("releve-temperatures.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("courriel-client.eml", "message/rfc822"),
];
const RETURN_REASONS: &[&str] =
    &["Carte électronique à remplacer en atelier.", "Moteur grillé, échange standard.", "Appareil sous garantie : crédit demandé."];
/// Sources and their weights in ‰ (codes of `carnet::service::SOURCES`).
const SOURCE_WEIGHTS: &[(&str, u32)] = &[("phone", 400), ("email", 250), ("staff", 200), ("portal", 100), ("api", 50)];

// ---------------------------------------------------------------- options

struct Options {
    c: Common,
    customers: usize,
    equipment: usize,
    requests: usize,
    load: bool,
}

impl Options {
    fn from_env() -> Result<Options> {
        let c = Common::from_env("8,32")?;
        let part = env_str("CARNET_BENCH_PARTS").unwrap_or_else(|| "load".into());
        if !["load", "generate"].contains(&part.trim()) {
            bail!("CARNET_BENCH_PARTS: expected load, or generate for the dataset alone; got {part:?}");
        }
        let o = Options {
            c,
            customers: env_num("CARNET_BENCH_CUSTOMERS", 100_000usize)?,
            equipment: env_num("CARNET_BENCH_EQUIPMENT", 1_000_000usize)?,
            requests: env_num("CARNET_BENCH_REQUESTS", 500_000usize)?,
            load: part.trim() == "load",
        };
        if o.customers < 100 || o.equipment < o.customers || o.requests < 1000 {
            bail!("CARNET_BENCH_CUSTOMERS must be at least 100, EQUIPMENT at least the customers, REQUESTS at least 1000");
        }
        if o.c.seconds == 0 || o.c.concurrency.is_empty() || o.c.concurrency.contains(&0) {
            bail!("CARNET_BENCH_SECONDS and CONCURRENCY must be at least 1");
        }
        Ok(o)
    }
}

// ---------------------------------------------------------------- dataset in memory

/// A generated customer, as kept to build its requests.
struct Cust {
    id: i64,
    branch: usize,
    name: String,
    address: String,
    /// Its contacts: the first id and how many (consecutive ids), and the rank of the first
    /// among the generated contacts (their names are drawn from it).
    first_contact: i64,
    contact_rank: i64,
    contacts: usize,
    /// Its equipment: indexes `eq_first..eq_first + eq_count` of the installed base.
    eq_first: usize,
    eq_count: usize,
}

/// The name of the `k`-th generated contact (drawn again when needed rather than kept).
fn contact_name(k: i64) -> (&'static str, &'static str) {
    let mut rng = Rng(0xC0_7AC7 ^ (k as u64).wrapping_mul(0x9E37_79B9));
    (rng.pick(FIRST_NAMES).0, LAST_NAMES[rng.skewed(LAST_NAMES.len())])
}

/// The serial number of the `i`-th equipment item (model `m`).
fn serial(i: usize, m: usize) -> String {
    format!("{}-{:07}", MODELS[m].0, 1_000_000 + i)
}

/// A service request planned in memory (its outcome is drawn by [`plan`]).
struct Req {
    created: i64,
    cust: u32,
    /// Support agent owning it (index in the branch's agents), if any.
    owner: Option<u8>,
    kind: u8,
    symptom: Option<u8>,
    source: &'static str,
    description: u8,
    requester: Option<i64>,
    user: Option<i64>,
    /// Equipment lines: item index and symptom.
    lines: Vec<(u32, Option<u8>)>,
    number: String,
}

/// An intervention planned in memory.
struct Iv {
    req: u32,
    branch: usize,
    start: i64,
    end: i64,
    techs: Vec<i64>,
    status: &'static str,
    created: i64,
    report: Option<(u8, i64)>,
    number: String,
}

/// What happened to a request after its creation, drawn from its own generator (the same
/// at each call): status, customer updates, return, documents.
struct Plan {
    status: RequestStatus,
    closed_at: Option<i64>,
    updated_at: i64,
    /// (status, message, at).
    updates: Vec<(RequestStatus, &'static str, i64)>,
    /// (equipment line, type, reason, at).
    ret: Option<(u32, &'static str, u8, i64)>,
    /// (document, size, shared, at).
    documents: Vec<(u8, i64, bool, i64)>,
}

fn plan(j: usize, r: &Req, ivs: &[&Iv], now: i64) -> Plan {
    use RequestStatus::*;
    let mut rng = Rng(0x5E41_CE00 ^ (j as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let age = now - r.created;
    let live: Vec<&&Iv> = ivs.iter().filter(|i| i.status != "annulee").collect();
    let future = live.iter().any(|i| i.start > now);
    let last_end = live.iter().filter(|i| i.end <= now).map(|i| i.end).max();
    let (status, closed_at) = if future {
        (Planifie, None)
    } else if let Some(e) = last_end {
        if rng.chance(0.85) {
            (Cloture, Some((e + rng.below(48) as i64 * HOUR).min(now)))
        } else {
            (EnCours, None)
        }
    } else {
        let x = rng.below(100);
        let (nouveau, en_cours) = match age {
            a if a < 2 * DAY => (60, 100),
            a if a < 14 * DAY => (15, 60),
            _ => (2, 7),
        };
        if x < nouveau {
            (Nouveau, None)
        } else if x < en_cours {
            (EnCours, None)
        } else {
            (Cloture, Some((r.created + (1 + rng.below(10 * 24)) as i64 * HOUR).min(now)))
        }
    };
    let mut updates = Vec::new();
    if status != Nouveau && rng.chance(0.8) {
        updates.push((EnCours, ACK, (r.created + (1 + rng.below(5)) as i64 * HOUR).min(now)));
    }
    for i in &live {
        updates.push((Planifie, PLANNED, (i.created + 600_000).min(now)));
    }
    if let (EnCours, Some(e)) = (status, last_end) {
        updates.push((EnCours, WAITING, (e + HOUR).min(now)));
    }
    if let Some(c) = closed_at {
        updates.push((Cloture, CLOSED, c));
    }
    updates.sort_by_key(|u| u.2);
    let ret = (!r.lines.is_empty() && age > 3 * DAY && rng.chance(0.02)).then(|| {
        let t = *rng.pick(carnet::service::returns::TYPES);
        (r.lines[0].0, t, rng.below(RETURN_REASONS.len()) as u8, (r.created + 2 * DAY).min(now))
    });
    let mut documents = Vec::new();
    if rng.chance(0.2) {
        for _ in 0..1 + rng.below(2) {
            let at = (r.created + (1 + rng.below(48)) as i64 * HOUR).min(now);
            documents.push((rng.below(DOCUMENTS.len()) as u8, 20_000 + rng.below(3_000_000) as i64, rng.chance(0.3), at));
        }
    }
    let updated_at = [r.created, closed_at.unwrap_or(0)]
        .into_iter()
        .chain(updates.iter().map(|u| u.2))
        .chain(documents.iter().map(|d| d.3))
        .chain(ivs.iter().map(|i| i.created))
        .max()
        .unwrap_or(r.created);
    Plan { status, closed_at, updated_at, updates, ret, documents }
}

/// A history row of a request: at, action, field, old value, new value.
type Event = (i64, &'static str, &'static str, Option<String>, Option<String>);

/// Counts of what was generated, and how long it took.
#[derive(Default)]
struct Dataset {
    customers: usize,
    companies: usize,
    contacts: usize,
    equipment: usize,
    requests: usize,
    by_status: [usize; 4],
    lines: usize,
    updates: usize,
    interventions: usize,
    intervention_techs: usize,
    intervention_lines: usize,
    returns: usize,
    documents: usize,
    history: usize,
    users: usize,
    branches: usize,
    /// Interventions in the current week (for the planning scenarios).
    this_week: usize,
    customers_s: f64,
    equipment_s: f64,
    requests_s: f64,
    interventions_s: f64,
    analyze_s: f64,
    size_bytes: Option<u64>,
}

impl Generated for Dataset {
    fn rows(&self) -> usize {
        self.customers
            + self.contacts
            + self.equipment
            + self.requests
            + self.lines
            + self.updates
            + self.interventions
            + self.intervention_techs
            + self.intervention_lines
            + self.returns
            + self.documents
            + self.history
    }
    fn seconds(&self) -> f64 {
        self.customers_s + self.equipment_s + self.requests_s + self.interventions_s + self.analyze_s
    }
}

/// A request sampled for the request pages: id, number, and what its page shows (lines,
/// updates, interventions, documents, history rows).
struct SampledRequest {
    id: i64,
    number: String,
    shows: [usize; 5],
}

struct Samples {
    requests: Reservoir<SampledRequest>,
    /// Per branch, for its agents.
    by_branch: Vec<Reservoir<SampledRequest>>,
    /// Requests per (branch, status, type): the filters whose first page is not empty.
    combos: Vec<[Vec<usize>; 4]>,
    types: Vec<String>,
    /// Mondays of the planning weeks.
    weeks: Vec<String>,
}

// ---------------------------------------------------------------- generation

fn new_customer(rng: &mut Rng, i: usize, branches: &[Branch], now: i64) -> (NewCustomer, usize) {
    // Branches of very different sizes: Montréal-Centre and Laval are the big ones.
    let bi = rng.skewed(branches.len());
    let b = &branches[bi];
    let owner = if rng.chance(0.05) { None } else { Some(*rng.pick(&b.staff[2])) };
    let address = format!("{} {}, {} (Québec) {}", 1 + rng.below(9999), rng.pick(STREETS), b.city, postal(rng, b.postal));
    let created_at = now - rng.below(8 * 365 * 86_400) as i64 * 1000;
    let language = if rng.chance(0.15) { "en" } else { "fr" };
    let last = LAST_NAMES[rng.skewed(LAST_NAMES.len())];
    let c = if rng.chance(0.85) {
        let name = format!("{} {last}{}", rng.pick(COMPANY_KINDS), rng.pick(COMPANY_SUFFIXES));
        let domain = format!("{}-{i}.ca", ascii_slug(&format!("{} {last}", name.split(' ').next().unwrap_or(""))));
        NewCustomer {
            company: true,
            first: String::new(),
            last: String::new(),
            email: rng.chance(0.95).then(|| format!("info@{domain}")),
            domain,
            display: name,
            phone: Some(phone(3 * i as u64)),
            address,
            language,
            branch: b.id,
            owner,
            created_at,
            contacts: 1 + rng.below(3),
        }
    } else {
        let first = rng.pick(FIRST_NAMES).0;
        NewCustomer {
            company: false,
            first: first.to_string(),
            last: last.to_string(),
            display: format!("{first} {last}"),
            email: rng.chance(0.85).then(|| format!("{}.{}{i}@{}", ascii_slug(first), ascii_slug(last), rng.pick(EMAIL_DOMAINS))),
            domain: String::new(),
            phone: Some(phone(3 * i as u64)),
            address,
            language,
            branch: b.id,
            owner,
            created_at,
            contacts: 0,
        }
    };
    (c, bi)
}

struct NewCustomer {
    company: bool,
    first: String,
    last: String,
    display: String,
    email: Option<String>,
    domain: String,
    phone: Option<String>,
    address: String,
    language: &'static str,
    branch: i64,
    owner: Option<i64>,
    created_at: i64,
    contacts: usize,
}

/// A batch of customers and then their contacts; returns the customers' ids and the first
/// contact id of each.
async fn insert_customers(tx: &mut Tx, rows: &[(NewCustomer, usize)], first_contact: i64) -> Result<(Vec<i64>, Vec<i64>)> {
    let new: Vec<CustomerRow> = rows
        .iter()
        .map(|(c, _)| CustomerRow {
            company: c.company,
            civility: None,
            first: &c.first,
            last: &c.last,
            company_name: if c.company { &c.display } else { "" },
            display: &c.display,
            email: c.email.as_deref(),
            phone: c.phone.as_deref(),
            mobile: None,
            address: &c.address,
            language: c.language,
            branch: c.branch,
            owner: c.owner,
            notes: "",
            particularities: "",
            created_at: c.created_at,
        })
        .collect();
    let ids = support::insert_customers(tx, &new).await?;
    let n: usize = rows.iter().map(|(c, _)| c.contacts).sum();
    let mut firsts = Vec::with_capacity(rows.len());
    if n == 0 {
        return Ok((ids, vec![0; rows.len()]));
    }
    let mut sql = String::with_capacity(n * 160 + 300);
    sql.push_str(
        "INSERT INTO contacts (customer_id, civility, first_name, last_name, email, phone, mobile, particularities, notes, created_at, \
         updated_at) VALUES ",
    );
    let mut k = first_contact;
    let mut first_row = true;
    for ((c, _), id) in rows.iter().zip(&ids) {
        firsts.push(k);
        for _ in 0..c.contacts {
            let (first, last) = contact_name(k);
            let email = format!("{}.{}@{}", ascii_slug(first), ascii_slug(last), c.domain);
            let _ = write!(sql, "{}({id}, NULL, ", if first_row { "" } else { ", " });
            first_row = false;
            for v in [Some(first), Some(last), Some(email.as_str()), Some(&phone(3 * k as u64 + 1)), None] {
                lit(&mut sql, v);
                sql.push_str(", ");
            }
            let _ = write!(sql, "'', '', {}, {})", c.created_at, c.created_at);
            k += 1;
        }
    }
    let contact_ids = insert_ids(tx, sql, n, "contact").await?;
    // Contacts are numbered from `first_contact` in this run's order; map to the real ids.
    let shift = contact_ids[0] - first_contact;
    Ok((ids, firsts.into_iter().map(|f| f + shift).collect()))
}

/// Everything in multi-row INSERTs inside big transactions on `gen` (a dedicated
/// connection), then planner statistics.
async fn generate(gen: &Db, o: &Options, branches: &[Branch], users: usize, now: i64) -> Result<(Dataset, Samples)> {
    let zone = carnet::settings::zone(gen).await?;
    let types: Vec<String> = carnet::lists::items(gen, "request_type", false).await?.into_iter().map(|i| i.code).collect();
    let symptoms: Vec<String> = carnet::lists::items(gen, "symptom", false).await?.into_iter().map(|i| i.code).collect();
    if types.is_empty() || symptoms.is_empty() {
        bail!("the request_type and symptom lists must have active items");
    }
    for (code, _) in SOURCE_WEIGHTS {
        if !carnet::service::SOURCES.contains(code) {
            bail!("source {code:?} is not one of carnet::service::SOURCES");
        }
    }
    let names: std::collections::HashMap<i64, String> =
        sqlx::query_as::<_, (i64, String)>("SELECT id, name FROM users").fetch_all(&gen.pool).await?.into_iter().collect();
    let mut data = Dataset { users, branches: branches.len(), ..Default::default() };
    let mut rng = Rng(0x5E41_C0DE);

    // Customers and their contacts.
    let n = o.customers;
    let mut custs: Vec<Cust> = Vec::with_capacity(n);
    let mut batch = Vec::with_capacity(CUSTOMERS_PER_STATEMENT);
    let mut next_contact = 0i64;
    let mut bulk = Bulk::start(gen, "customers").await?;
    for i in 0..n {
        batch.push(new_customer(&mut rng, i, branches, now));
        if batch.len() < CUSTOMERS_PER_STATEMENT && i + 1 < n {
            continue;
        }
        let (ids, firsts) = insert_customers(bulk.tx(), &batch, next_contact).await?;
        for (((c, bi), id), first) in batch.drain(..).zip(ids).zip(firsts) {
            data.companies += c.company as usize;
            data.contacts += c.contacts;
            custs.push(Cust {
                id,
                branch: bi,
                name: c.display,
                address: c.address,
                first_contact: first,
                contact_rank: next_contact,
                contacts: c.contacts,
                eq_first: 0,
                eq_count: 0,
            });
            next_contact += c.contacts as i64;
        }
        bulk.done(i + 1).await?;
    }
    data.customers = n;
    data.customers_s = bulk.finish().await?;
    eprintln!("  {n} customers and {} contacts in {:.1} s", data.contacts, data.customers_s);

    // The installed base: a few items for most customers, dozens for some.
    let weights: Vec<f64> = (0..n).map(|_| 0.2 + 3.0 * rng.unit().powi(3)).collect();
    let total: f64 = weights.iter().sum();
    let mut counts: Vec<usize> = weights.iter().map(|w| ((w / total) * o.equipment as f64) as usize).collect();
    let short_by = o.equipment - counts.iter().sum::<usize>();
    for c in counts.iter_mut().take(short_by) {
        *c += 1;
    }
    let m = o.equipment;
    let mut eq_ids: Vec<i64> = Vec::with_capacity(m);
    let mut eq_model: Vec<u8> = Vec::with_capacity(m);
    let mut eq_customer: Vec<u32> = Vec::with_capacity(m);
    let mut bulk = Bulk::start(gen, "equipment items").await?;
    let mut sql = String::new();
    let mut in_batch = 0;
    for (ci, count) in counts.iter().enumerate() {
        custs[ci].eq_first = eq_ids.len() + in_batch;
        custs[ci].eq_count = *count;
        for _ in 0..*count {
            if in_batch == 0 {
                sql.clear();
                sql.push_str(
                    "INSERT INTO equipment (customer_id, serial_number, model, installed_on, location, created_at, updated_at) VALUES ",
                );
            }
            let i = eq_ids.len() + in_batch;
            let mdl = rng.below(MODELS.len());
            let installed = now - (30 + rng.below(12 * 365)) as i64 * DAY;
            let _ = write!(sql, "{}({}, '{}', ", if in_batch > 0 { ", " } else { "" }, custs[ci].id, serial(i, mdl));
            lit(&mut sql, Some(MODELS[mdl].1));
            let _ = write!(sql, ", '{}', ", zone.date(installed));
            lit(&mut sql, Some(*rng.pick(LOCATIONS)));
            let _ = write!(sql, ", {installed}, {installed})");
            eq_model.push(mdl as u8);
            eq_customer.push(ci as u32);
            in_batch += 1;
            if in_batch == EQUIPMENT_PER_STATEMENT || i + 1 == m {
                eq_ids.extend(insert_ids(bulk.tx(), std::mem::take(&mut sql), in_batch, "equipment").await?);
                in_batch = 0;
                bulk.done(eq_ids.len()).await?;
            }
        }
    }
    data.equipment = m;
    data.equipment_s = bulk.finish().await?;
    eprintln!("  {m} equipment items in {:.1} s: {:.0} rows/s", data.equipment_s, m as f64 / data.equipment_s);

    // Requests in memory, in time order; customers with more equipment call more often.
    let started = Instant::now();
    let r_n = o.requests;
    let mut reqs: Vec<Req> = Vec::with_capacity(r_n);
    let mut by_branch: Vec<Vec<u32>> = vec![Vec::new(); branches.len()];
    let mut per_year: std::collections::BTreeMap<i32, i64> = Default::default();
    for j in 0..r_n {
        let created = now - HISTORY_MS + (j as i64 * HISTORY_MS) / r_n as i64;
        let ci = eq_customer[rng.below(m)] as usize;
        let c = &custs[ci];
        let kind = rng.skewed(types.len()) as u8;
        let symptom = rng.chance(0.6).then(|| rng.skewed(symptoms.len()) as u8);
        let contact = |rng: &mut Rng, p: f64| (c.contacts > 0 && rng.chance(p)).then(|| c.first_contact + rng.below(c.contacts) as i64);
        let requester = contact(&mut rng, 0.85);
        let user = contact(&mut rng, 0.4);
        let n_lines = if c.eq_count == 0 || rng.chance(0.1) {
            0
        } else {
            let k = match rng.below(10) {
                0..=5 => 1,
                6..=8 => 2,
                _ => 3,
            };
            k.min(c.eq_count)
        };
        let mut lines: Vec<(u32, Option<u8>)> = Vec::with_capacity(n_lines);
        while lines.len() < n_lines {
            let e = (c.eq_first + rng.below(c.eq_count)) as u32;
            if !lines.iter().any(|l| l.0 == e) {
                let s = if lines.is_empty() { symptom } else { rng.chance(0.5).then(|| rng.skewed(symptoms.len()) as u8) };
                lines.push((e, s));
            }
        }
        let year = chrono::Datelike::year(&chrono::DateTime::from_timestamp_millis(created).unwrap_or_default());
        let seq = per_year.entry(year).or_insert(0);
        *seq += 1;
        by_branch[c.branch].push(j as u32);
        reqs.push(Req {
            created,
            cust: ci as u32,
            owner: rng.chance(0.9).then(|| rng.below(AGENTS_PER_BRANCH) as u8),
            kind,
            symptom,
            source: support::weighted(&mut rng, SOURCE_WEIGHTS),
            description: rng.below(DESCRIPTIONS.len()) as u8,
            requester,
            user,
            lines,
            number: carnet::service::number("DEM", year, *seq),
        });
    }

    // The interventions: every technician of every branch, 2 to 4 slots each working day of
    // the window, each for a request of the branch opened in the three weeks before; 15 %
    // with a second technician of the branch (free at that time).
    let today = zone.local(now).date();
    let monday = |d: chrono::NaiveDate| d - chrono::Days::new(chrono::Datelike::weekday(&d).num_days_from_monday() as u64);
    let first_day = monday(today - chrono::Days::new(PLAN_PAST_WEEKS * 7));
    let last_day = today + chrono::Days::new(PLAN_AHEAD_WEEKS * 7);
    let this_monday = monday(today);
    let mut ivs: Vec<Iv> = Vec::new();
    for (bi, b) in branches.iter().enumerate() {
        let techs = &b.staff[1];
        let mut day = first_day;
        while day < last_day {
            let weekday = chrono::Datelike::weekday(&day).num_days_from_monday();
            let date = day.format("%Y-%m-%d").to_string();
            day = day + chrono::Days::new(1);
            if weekday >= 5 {
                continue;
            }
            let mut busy = vec![[false; 4]; techs.len()];
            for t in 0..techs.len() {
                let wanted = 2 + rng.below(3);
                let mut chosen: Vec<usize> = (0..SLOTS.len()).collect();
                while chosen.len() > wanted {
                    chosen.remove(rng.below(chosen.len()));
                }
                for s in chosen {
                    if busy[t][s] {
                        continue;
                    }
                    let start = zone.parse_local(&date, SLOTS[s].0).ok_or_else(|| anyhow!("bad slot"))?;
                    let end = zone.parse_local(&date, SLOTS[s].1).ok_or_else(|| anyhow!("bad slot"))?;
                    let latest = start.min(now) - 2 * HOUR;
                    let list = &by_branch[bi];
                    let hi = list.partition_point(|&j| reqs[j as usize].created <= latest);
                    let lo = list.partition_point(|&j| reqs[j as usize].created < latest - 21 * DAY);
                    if hi == 0 {
                        continue;
                    }
                    let lo = lo.min(hi - 1);
                    let req = list[lo + rng.below(hi - lo)];
                    busy[t][s] = true;
                    let mut staff = vec![techs[t]];
                    if rng.chance(0.15) {
                        if let Some(t2) = (t + 1..techs.len()).find(|&u| !busy[u][s]) {
                            busy[t2][s] = true;
                            staff.push(techs[t2]);
                        }
                    }
                    let status = if end <= now {
                        if rng.chance(0.93) {
                            "terminee"
                        } else {
                            "annulee"
                        }
                    } else if start <= now {
                        "en_cours"
                    } else if rng.chance(0.95) {
                        "planifiee"
                    } else {
                        "annulee"
                    };
                    let r_created = reqs[req as usize].created;
                    let created = (start - (1 + rng.below(10)) as i64 * DAY).max(r_created + HOUR).min(now);
                    let report = (status == "terminee").then(|| (rng.below(REPORTS.len()) as u8, 30 + rng.below(150) as i64));
                    ivs.push(Iv { req, branch: bi, start, end, techs: staff, status, created, report, number: String::new() });
                }
            }
        }
    }
    ivs.sort_by_key(|i| (i.created, i.start));
    let mut iv_per_year: std::collections::BTreeMap<i32, i64> = Default::default();
    for iv in ivs.iter_mut() {
        let year = chrono::Datelike::year(&chrono::DateTime::from_timestamp_millis(iv.created).unwrap_or_default());
        let seq = iv_per_year.entry(year).or_insert(0);
        *seq += 1;
        iv.number = carnet::service::number("INT", year, *seq);
    }
    let week_start = zone.parse_local(&this_monday.format("%Y-%m-%d").to_string(), "00:00").unwrap_or(now);
    data.this_week = ivs.iter().filter(|i| i.start >= week_start && i.start < week_start + 7 * DAY).count();
    let mut req_ivs: Vec<Vec<u32>> = (0..r_n).map(|_| Vec::new()).collect();
    for (k, iv) in ivs.iter().enumerate() {
        req_ivs[iv.req as usize].push(k as u32);
    }
    // Returns, numbered in the order they were created.
    let mut returns: Vec<(i64, usize)> = Vec::new();
    for (j, r) in reqs.iter().enumerate() {
        let mine: Vec<&Iv> = req_ivs[j].iter().map(|&k| &ivs[k as usize]).collect();
        if let Some(x) = plan(j, r, &mine, now).ret {
            returns.push((x.3, j));
        }
    }
    returns.sort_unstable();
    let mut rma_per_year: std::collections::BTreeMap<i32, i64> = Default::default();
    let mut rma_number: std::collections::HashMap<usize, String> = Default::default();
    for (at, j) in &returns {
        let year = chrono::Datelike::year(&chrono::DateTime::from_timestamp_millis(*at).unwrap_or_default());
        let seq = rma_per_year.entry(year).or_insert(0);
        *seq += 1;
        rma_number.insert(*j, carnet::service::number("RMA", year, *seq));
    }
    eprintln!(
        "  planned {r_n} requests, {} interventions ({} this week), {} returns in {:.1} s",
        ivs.len(),
        data.this_week,
        returns.len(),
        started.elapsed().as_secs_f64()
    );

    // The requests with their lines, updates, returns, documents and history.
    let mut samples = Samples {
        requests: Reservoir::new(SAMPLES, 11),
        by_branch: (0..branches.len()).map(|b| Reservoir::new(SAMPLES / branches.len(), 100 + b as u64)).collect(),
        combos: vec![[vec![0; types.len()], vec![0; types.len()], vec![0; types.len()], vec![0; types.len()]]; branches.len()],
        types: types.clone(),
        weeks: PLAN_WEEKS
            .map(|w| {
                let d = if w >= 0 { this_monday + chrono::Days::new(w as u64 * 7) } else { this_monday - chrono::Days::new(-w as u64 * 7) };
                d.format("%Y-%m-%d").to_string()
            })
            .collect(),
    };
    let mut req_ids: Vec<i64> = Vec::with_capacity(r_n);
    let mut bulk = Bulk::start(gen, "requests").await?;
    let mut chunk_start = 0;
    while chunk_start < r_n {
        let chunk = chunk_start..(chunk_start + REQUESTS_PER_STATEMENT).min(r_n);
        let plans: Vec<Plan> = chunk
            .clone()
            .map(|j| {
                let mine: Vec<&Iv> = req_ivs[j].iter().map(|&k| &ivs[k as usize]).collect();
                plan(j, &reqs[j], &mine, now)
            })
            .collect();
        let mut sql = String::with_capacity(chunk.len() * 300);
        sql.push_str(
            "INSERT INTO service_requests (number, customer_id, requester_contact_id, user_contact_id, request_type, symptom, source, \
             description, status, owner_id, branch_id, closed_at, created_at, updated_at) VALUES ",
        );
        for (k, (j, p)) in chunk.clone().zip(&plans).enumerate() {
            let r = &reqs[j];
            let c = &custs[r.cust as usize];
            let b = &branches[c.branch];
            let _ = write!(sql, "{}('{}', {}, {}, {}, ", if k > 0 { ", " } else { "" }, r.number, c.id, opt(r.requester), opt(r.user));
            lit(&mut sql, Some(&types[r.kind as usize]));
            sql.push_str(", ");
            lit(&mut sql, r.symptom.map(|s| symptoms[s as usize].as_str()));
            let _ = write!(sql, ", '{}', ", r.source);
            lit(&mut sql, Some(DESCRIPTIONS[r.description as usize]));
            let _ = write!(
                sql,
                ", '{}', {}, {}, {}, {}, {})",
                p.status.code(),
                opt(r.owner.map(|a| b.staff[0][a as usize])),
                b.id,
                opt(p.closed_at),
                r.created,
                p.updated_at
            );
        }
        let ids = insert_ids(bulk.tx(), sql, chunk.len(), "request").await?;
        req_ids.extend(&ids);

        // Lines, updates, returns, documents, history.
        let mut lines =
            Rows::new("INSERT INTO request_equipment (request_id, equipment_id, symptom, added_at) VALUES ", ROWS_PER_STATEMENT);
        let mut updates = Rows::new(
            "INSERT INTO request_updates (request_id, status, message, notified, author_id, author_name, created_at) VALUES ",
            ROWS_PER_STATEMENT,
        );
        let mut rets = Rows::new(
            "INSERT INTO equipment_returns (number, request_id, equipment_id, reason, return_type, status, created_at, updated_at) VALUES ",
            ROWS_PER_STATEMENT,
        );
        let mut docs = Rows::new(
            "INSERT INTO documents (request_id, filename, content_type, size, storage_key, shared, uploaded_by, uploaded_by_name, \
             created_at) VALUES ",
            ROWS_PER_STATEMENT,
        );
        let mut history = Rows::new(
            "INSERT INTO audit_events (at, actor_id, actor_name, entity_type, entity_id, action, field, old_value, new_value, request_id) \
             VALUES ",
            ROWS_PER_STATEMENT,
        );
        for ((j, p), id) in chunk.clone().zip(&plans).zip(&ids) {
            let r = &reqs[j];
            let c = &custs[r.cust as usize];
            let b = &branches[c.branch];
            let agent = b.staff[0][r.owner.unwrap_or(0) as usize];
            let agent_name = names.get(&agent).map(String::as_str).unwrap_or("Agent");
            let mut events: Vec<Event> = Vec::new();
            // The creation: every field with a value (`ServiceRequest::audit_fields`).
            let contact = |k: Option<i64>| {
                k.map(|k| {
                    let (f, l) = contact_name(k - c.first_contact + c.contact_rank);
                    format!("{f} {l}")
                })
            };
            let created_fields = [
                ("number", Some(r.number.clone())),
                ("customer", Some(format!("#{} {}", c.id, c.name))),
                ("requester", contact(r.requester)),
                ("user", contact(r.user)),
                ("request_type", Some(types[r.kind as usize].clone())),
                ("symptom", r.symptom.map(|s| symptoms[s as usize].clone())),
                ("source", Some(r.source.to_string())),
                ("description", Some(DESCRIPTIONS[r.description as usize].to_string()).filter(|s| !s.is_empty())),
                ("status", Some("nouveau".to_string())),
                ("owner", r.owner.map(|_| agent_name.to_string())),
                ("branch", Some(format!("Succursale {}", b.city))),
            ];
            for (field, v) in created_fields.into_iter().filter(|(_, v)| v.is_some()) {
                events.push((r.created, "create", field, None, v));
            }
            for (e, s) in &r.lines {
                let e = *e as usize;
                let at = r.created + 60_000;
                let sym = s.map(|s| symptoms[s as usize].as_str());
                lines.row(|q| {
                    let _ = write!(q, "({id}, {}, ", eq_ids[e]);
                    lit(q, sym);
                    let _ = write!(q, ", {at})");
                });
                let m = MODELS[eq_model[e] as usize].1;
                let text = match sym {
                    Some(s) => format!("{} {m} ({s})", serial(e, eq_model[e] as usize)),
                    None => format!("{} {m}", serial(e, eq_model[e] as usize)),
                };
                events.push((at, "equipment", "equipment", None, Some(text)));
            }
            let mut status = RequestStatus::Nouveau;
            for (to, message, at) in &p.updates {
                let notified = (r.requester.is_some() || r.user.is_some()) as i64;
                updates.row(|q| {
                    let _ = write!(q, "({id}, '{}', ", to.code());
                    lit(q, Some(*message));
                    let _ = write!(q, ", {notified}, {agent}, ");
                    lit(q, Some(agent_name));
                    let _ = write!(q, ", {at})");
                });
                if *to != status {
                    events.push((*at, "status", "status", Some(status.code().into()), Some(to.code().into())));
                }
                if *to == RequestStatus::Cloture {
                    events.push((*at, "status", "closed_at", None, Some(format_ms(*at))));
                } else if status == RequestStatus::Cloture {
                    events.push((*at, "status", "closed_at", p.closed_at.map(format_ms), None));
                }
                status = *to;
            }
            for &k in &req_ivs[j] {
                let iv = &ivs[k as usize];
                events.push((iv.created, "intervention", "intervention", None, Some(format!("{} {}", iv.number, format_ms(iv.start)))));
            }
            if let Some((e, t, reason, at)) = p.ret {
                let e = e as usize;
                let number = rma_number.get(&j).cloned().unwrap_or_default();
                let age = now - at;
                let st = match age {
                    a if a < 2 * DAY => "demande",
                    a if a < 7 * DAY => "recu",
                    a if a < 20 * DAY && t == "repair" => "en_reparation",
                    a if a < 30 * DAY => "renvoye",
                    _ => "cloture",
                };
                rets.row(|q| {
                    let _ = write!(q, "('{number}', {id}, {}, ", eq_ids[e]);
                    lit(q, Some(RETURN_REASONS[reason as usize]));
                    let _ = write!(q, ", '{t}', '{st}', {at}, {at})");
                });
                events.push((at, "return", "return", None, Some(format!("{number} {}", serial(e, eq_model[e] as usize)))));
            }
            for (k, (d, size, shared, at)) in p.documents.iter().enumerate() {
                let (name, ctype) = DOCUMENTS[*d as usize];
                docs.row(|q| {
                    let _ = write!(q, "({id}, '{name}', '{ctype}', {size}, 'bench/{id}-{k}', {}, {agent}, ", *shared as i64);
                    lit(q, Some(agent_name));
                    let _ = write!(q, ", {at})");
                });
                events.push((*at, "document", "document", None, Some(name.to_string())));
            }
            events.sort_by_key(|e| e.0);
            for (at, action, field, old, new) in &events {
                history.row(|q| {
                    let _ = write!(q, "({at}, {agent}, ");
                    lit(q, Some(agent_name));
                    let _ = write!(q, ", 'service_request', {id}, '{action}', '{field}', ");
                    lit(q, old.as_deref());
                    q.push_str(", ");
                    lit(q, new.as_deref());
                    q.push_str(", NULL)");
                });
            }
            // Samples and counts.
            let shows = [r.lines.len(), p.updates.len(), req_ivs[j].len(), p.documents.len(), events.len()];
            let s = || SampledRequest { id: *id, number: r.number.clone(), shows };
            samples.requests.offer(s);
            samples.by_branch[c.branch].offer(s);
            let st = RequestStatus::ALL.iter().position(|x| *x == p.status).unwrap_or(0);
            samples.combos[c.branch][st][r.kind as usize] += 1;
            data.by_status[st] += 1;
            data.lines += r.lines.len();
            data.updates += p.updates.len();
            data.returns += p.ret.is_some() as usize;
            data.documents += p.documents.len();
            data.history += events.len();
        }
        for rows in [&mut lines, &mut updates, &mut rets, &mut docs, &mut history] {
            rows.flush(bulk.tx()).await?;
        }
        chunk_start = chunk.end;
        bulk.done(chunk_start).await?;
    }
    data.requests = r_n;
    data.requests_s = bulk.finish().await?;
    eprintln!(
        "  {r_n} requests with {} lines, {} updates, {} returns, {} documents, {} history rows in {:.1} s",
        data.lines, data.updates, data.returns, data.documents, data.history, data.requests_s
    );

    // Interventions (in creation order), their technicians and equipment, their history.
    let mut bulk = Bulk::start(gen, "interventions").await?;
    for (n_done, part) in ivs.chunks(INTERVENTIONS_PER_STATEMENT).enumerate() {
        let mut sql = String::with_capacity(part.len() * 200);
        sql.push_str(
            "INSERT INTO interventions (number, request_id, start_at, end_at, place, status, report_work, report_minutes, branch_id, \
             created_at, updated_at) VALUES ",
        );
        for (k, iv) in part.iter().enumerate() {
            let r = &reqs[iv.req as usize];
            let _ =
                write!(sql, "{}('{}', {}, {}, {}, ", if k > 0 { ", " } else { "" }, iv.number, req_ids[iv.req as usize], iv.start, iv.end);
            lit(&mut sql, Some(&custs[r.cust as usize].address));
            let _ = write!(sql, ", '{}', ", iv.status);
            lit(&mut sql, Some(iv.report.map(|x| REPORTS[x.0 as usize]).unwrap_or("")));
            let updated = if iv.end <= now { iv.end + HOUR } else { iv.created }.min(now).max(iv.created);
            let _ = write!(sql, ", {}, {}, {}, {})", opt(iv.report.map(|x| x.1)), branches[iv.branch].id, iv.created, updated);
        }
        let ids = insert_ids(bulk.tx(), sql, part.len(), "intervention").await?;
        let mut techs = Rows::new("INSERT INTO intervention_technicians (intervention_id, user_id) VALUES ", ROWS_PER_STATEMENT);
        let mut lines =
            Rows::new("INSERT INTO intervention_equipment (intervention_id, equipment_id, symptom) VALUES ", ROWS_PER_STATEMENT);
        for (iv, id) in part.iter().zip(ids) {
            for t in &iv.techs {
                techs.row(|q| {
                    let _ = write!(q, "({id}, {t})");
                });
            }
            for (e, s) in &reqs[iv.req as usize].lines {
                lines.row(|q| {
                    let _ = write!(q, "({id}, {}, ", eq_ids[*e as usize]);
                    lit(q, s.map(|s| symptoms[s as usize].as_str()));
                    q.push(')');
                });
            }
            data.intervention_techs += iv.techs.len();
            data.intervention_lines += reqs[iv.req as usize].lines.len();
        }
        techs.flush(bulk.tx()).await?;
        lines.flush(bulk.tx()).await?;
        bulk.done((n_done + 1) * INTERVENTIONS_PER_STATEMENT).await?;
    }
    data.interventions = ivs.len();
    // The yearly counters continue after the generated numbers.
    for (prefix, years) in [("DEM", &per_year), ("INT", &iv_per_year), ("RMA", &rma_per_year)] {
        for (year, last) in years {
            exec(bulk.tx(), &format!("INSERT INTO number_counters (name, year, last) VALUES ('{prefix}', {year}, {last})")).await?;
        }
    }
    data.interventions_s = bulk.finish().await?;
    eprintln!(
        "  {} interventions with {} technicians and {} equipment lines in {:.1} s",
        data.interventions, data.intervention_techs, data.intervention_lines, data.interventions_s
    );

    let started = Instant::now();
    let tables = [
        "org_units",
        "roles",
        "role_rights",
        "users",
        "customers",
        "contacts",
        "equipment",
        "service_requests",
        "request_updates",
        "request_equipment",
        "interventions",
        "intervention_technicians",
        "intervention_equipment",
        "equipment_returns",
        "documents",
        "audit_events",
        "number_counters",
        "settings",
        "value_list_items",
    ];
    data.size_bytes = support::analyze(gen, &tables).await?;
    data.analyze_s = started.elapsed().as_secs_f64();
    eprintln!("  ANALYZE in {:.1} s", data.analyze_s);
    Ok((data, samples))
}

/// Rows of one table, written as multi-row `INSERT`s of at most `max` rows.
struct Rows {
    head: &'static str,
    sql: String,
    n: usize,
    max: usize,
    pending: Vec<String>,
}

impl Rows {
    fn new(head: &'static str, max: usize) -> Rows {
        Rows { head, sql: String::new(), n: 0, max, pending: Vec::new() }
    }
    fn row(&mut self, f: impl FnOnce(&mut String)) {
        if self.n == 0 {
            self.sql.push_str(self.head);
        } else {
            self.sql.push_str(", ");
        }
        f(&mut self.sql);
        self.n += 1;
        if self.n == self.max {
            self.pending.push(std::mem::take(&mut self.sql));
            self.n = 0;
        }
    }
    async fn flush(&mut self, tx: &mut Tx) -> Result<()> {
        if self.n > 0 {
            self.pending.push(std::mem::take(&mut self.sql));
            self.n = 0;
        }
        for sql in self.pending.drain(..) {
            exec(tx, &sql).await?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- HTTP scenarios

/// What an answer must be: 200, then a JSON list with at least one item, a body with
/// `must` in it, or without `must_not`.
#[derive(Clone)]
struct Step {
    path: String,
    list: bool,
    must: Option<String>,
    must_not: Option<&'static str>,
}

impl Step {
    fn plain(path: String) -> Step {
        Step { path, list: false, must: None, must_not: None }
    }
    fn list(path: String) -> Step {
        Step { path, list: true, must: None, must_not: None }
    }
    fn html(path: String, must: Option<String>, must_not: Option<&'static str>) -> Step {
        Step { path, list: false, must, must_not }
    }
}

/// One scenario: users (one per client, rotating), each with its samples; a sample is one or
/// more GETs sent one after the other (one iteration, one latency).
#[derive(Clone)]
struct Op {
    users: Arc<Vec<(Auth, Vec<Vec<Step>>)>>,
}

impl Op {
    fn new(users: Vec<(Auth, Vec<Vec<Step>>)>) -> Op {
        Op { users: Arc::new(users.into_iter().filter(|u| !u.1.is_empty()).collect()) }
    }
}

impl Scenario for Op {
    async fn once(&self, client: &Client, base: &str, task: usize, iteration: u64, concurrency: usize) -> Result<Option<usize>, String> {
        let (auth, samples) = &self.users[task % self.users.len()];
        let sample = &samples[(task + iteration as usize * concurrency) % samples.len()];
        for step in sample {
            let resp = auth.apply(client.get(format!("{base}{}", step.path))).send().await.map_err(|e| format!("{e}"))?;
            let status = resp.status();
            let body = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
            if status != StatusCode::OK {
                return Err(format!("{}: {status} {}", step.path, short(&String::from_utf8_lossy(&body))));
            }
            if step.list && contains(&body[..body.len().min(32)], b"\"items\":[]") {
                return Err(format!("nothing found: {}", step.path));
            }
            if let Some(m) = &step.must {
                if !contains(&body, m.as_bytes()) {
                    return Err(format!("{}: no {m:?} in the page", step.path));
                }
            }
            if let Some(m) = step.must_not {
                if contains(&body, m.as_bytes()) {
                    return Err(format!("{}: {m:?} in the page", step.path));
                }
            }
        }
        Ok(None)
    }
}

/// The filters (status, type) whose first page is not empty for `branches` (all: `None`).
fn filters(samples: &Samples, branch: Option<usize>) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (si, st) in RequestStatus::ALL.iter().enumerate() {
        for (ti, t) in samples.types.iter().enumerate() {
            let n: usize = match branch {
                Some(b) => samples.combos[b][si][ti],
                None => samples.combos.iter().map(|c| c[si][ti]).sum(),
            };
            if n > 0 {
                out.push((st.code(), t.clone()));
            }
        }
    }
    out
}

async fn load(o: &Options, state: &AppState, base: &str, samples: &Samples, branches: &[Branch]) -> Result<Vec<Measure>> {
    let db = &state.db;
    let now = state.clock.now_ms();
    let c = client()?;
    let admin_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(ADMIN_EMAIL).fetch_one(&db.pool).await?;
    let admin_token = carnet::identity::token::create(db, &Actor::system(), now, admin_id, "bench").await?.1;
    let admin_session = login(&c, base, ADMIN_EMAIL).await.context("admin login")?;
    // The first support agent of each branch: a token and a session.
    let mut agents = Vec::new();
    for b in branches {
        let id = b.staff[0][0];
        let email: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1").bind(id).fetch_one(&db.pool).await?;
        let token = carnet::identity::token::create(db, &Actor::system(), now, id, "bench").await?.1;
        let session = login(&c, base, &email).await.with_context(|| format!("login of {email}"))?;
        agents.push((token, session));
    }
    let admin_api = Auth::Bearer(admin_token.clone());
    let admin_html = Auth::Session(admin_session);

    // a. Lists, filtered by status and type.
    let api_list = |f: &[(&str, String)]| -> Vec<Vec<Step>> {
        f.iter().map(|(s, t)| vec![Step::list(format!("/api/v1/service-requests?status={s}&request_type={t}"))]).collect()
    };
    let html_list = |f: &[(&str, String)]| -> Vec<Vec<Step>> {
        f.iter()
            .map(|(s, t)| vec![Step::html(format!("/service/requests?status={s}&request_type={t}"), None, Some("class=\"empty-state\""))])
            .collect()
    };
    let all = filters(samples, None);
    let per_branch: Vec<Vec<(&str, String)>> = (0..branches.len()).map(|b| filters(samples, Some(b))).collect();
    // b. The request page: details and history tabs, and the API calls for its parts.
    let page = |r: &SampledRequest| vec![Step::html(format!("/service/requests/{}", r.id), Some(r.number.clone()), None)];
    let history_tab = |r: &SampledRequest| vec![Step::html(format!("/service/requests/{}/history", r.id), Some(r.number.clone()), None)];
    let api_parts = |r: &SampledRequest| {
        let id = r.id;
        let mut steps = vec![Step::html(format!("/api/v1/service-requests/{id}"), Some(r.number.clone()), None)];
        for part in ["equipment", "updates", "interventions", "documents", "history"] {
            steps.push(Step::plain(format!("/api/v1/service-requests/{id}/{part}")));
        }
        steps.insert(4, Step::plain(format!("/api/v1/equipment-returns?request_id={id}")));
        steps
    };
    let sampled = &samples.requests.items;
    // c. The planning week of a branch.
    let plan_html = |b: &Branch, w: &str| {
        vec![Step::html(format!("/service/planning?view=week&date={w}&branch_id={}", b.id), Some("calendar-item".into()), None)]
    };
    let plan_api = |b: &Branch, w: &str| vec![Step::list(format!("/api/v1/interventions?from={w}&days=7&branch_id={}", b.id))];
    let weeks = &samples.weeks;
    let every_week = |f: &dyn Fn(&Branch, &str) -> Vec<Step>| -> Vec<Vec<Step>> {
        branches.iter().flat_map(|b| weeks.iter().map(move |w| (b, w))).map(|(b, w)| f(b, w)).collect()
    };

    // Sanity checks: the first pages are full, the planning holds the week's interventions.
    let (s0, t0) = &all[0];
    let n = get_json(&c, base, &format!("/api/v1/service-requests?status={s0}&request_type={t0}"), &admin_token).await?["items"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    eprintln!("  checks: first page of status={s0}&request_type={t0}: {n} requests");
    let this_week = &weeks[(-PLAN_WEEKS.start()) as usize];
    let mut planned = 0;
    let mut conflicts = 0;
    for b in branches {
        let v = get_json(&c, base, &format!("/api/v1/interventions?from={this_week}&days=7&branch_id={}", b.id), &admin_token).await?;
        planned += v["items"].as_array().map(Vec::len).unwrap_or(0);
        conflicts += v["conflicts"].as_array().map(Vec::len).unwrap_or(0);
    }
    eprintln!(
        "  planning of the week of {this_week}: {planned} interventions in {} branches ({:.0} per branch), {conflicts} conflicts",
        branches.len(),
        planned as f64 / branches.len() as f64
    );
    if n == 0 || planned == 0 {
        bail!("empty list or planning");
    }
    let r0 = &sampled[0];
    let v = get_json(&c, base, &format!("/api/v1/service-requests/{}/history", r0.id), &admin_token).await?;
    let h = v["items"].as_array().map(Vec::len).unwrap_or(0);
    if h != r0.shows[4].min(100) {
        bail!("request {}: {h} history rows instead of {}", r0.number, r0.shows[4]);
    }

    // d. The customer portal: the organisations with the most requests, one portal user each
    // (an active account and a session made directly; the login is tested elsewhere).
    let orgs: Vec<(i64, Option<i64>, i64)> = sqlx::query_as(
        "SELECT r.customer_id, (SELECT MIN(ct.id) FROM contacts ct WHERE ct.customer_id = r.customer_id), COUNT(*) AS n \
         FROM service_requests r GROUP BY r.customer_id ORDER BY n DESC, r.customer_id LIMIT 16",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut portal_users = Vec::new();
    for (i, (customer, contact, _)) in orgs.iter().enumerate() {
        sqlx::query("UPDATE customers SET portal_enabled = 1 WHERE id = $1").bind(customer).execute(&db.pool).await?;
        let account: i64 = sqlx::query_scalar(
            "INSERT INTO portal_accounts (customer_id, contact_id, contact_key, email, name, language, is_admin, status, invited_by_name, \
             invited_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 'Bench', 'fr', 0, 'active', 'bench', $5, $5, $5) RETURNING id",
        )
        .bind(customer)
        .bind(contact)
        .bind(contact.unwrap_or(0))
        .bind(format!("portal{i}@bench.example"))
        .bind(now)
        .fetch_one(&db.pool)
        .await?;
        let s = carnet::portal::session::create(db, account, now, 86_400_000, "127.0.0.1", "bench").await?;
        portal_users.push(Auth::Portal(s.secret));
    }
    eprintln!(
        "  portal: {} organisations with {} to {} requests",
        orgs.len(),
        orgs.last().map(|o| o.2).unwrap_or(0),
        orgs.first().map(|o| o.2).unwrap_or(0)
    );
    let portal = |pages: &[(&str, &str)]| -> Vec<(Auth, Vec<Vec<Step>>)> {
        portal_users
            .iter()
            .map(|a| (a.clone(), pages.iter().map(|(p, must)| vec![Step::html(p.to_string(), Some(must.to_string()), None)]).collect()))
            .collect()
    };

    let b_n = branches.len();
    let agents_api = |f: &dyn Fn(usize) -> Vec<Vec<Step>>| -> Vec<(Auth, Vec<Vec<Step>>)> {
        agents.iter().enumerate().map(|(b, (t, _))| (Auth::Bearer(t.clone()), f(b))).collect()
    };
    let agents_html = |f: &dyn Fn(usize) -> Vec<Vec<Step>>| -> Vec<(Auth, Vec<Vec<Step>>)> {
        agents.iter().enumerate().map(|(b, (_, s))| (Auth::Session(s.clone()), f(b))).collect()
    };
    let branch_requests = |b: usize| &samples.by_branch[b].items;
    let scenarios: Vec<(&'static str, String, Op)> = vec![
        (
            "a. list, API, admin",
            format!("GET /api/v1/service-requests?status=…&request_type=… (first page of 50), {} status × type filters, admin", all.len()),
            Op::new(vec![(admin_api.clone(), api_list(&all))]),
        ),
        (
            "a. list, API, agents",
            format!("the same, {b_n} support agents (scope unit: their branch's requests)"),
            Op::new(agents_api(&|b: usize| api_list(&per_branch[b]))),
        ),
        (
            "a. list, HTML, admin",
            "GET /service/requests?status=…&request_type=… (the page, 50 rows), admin".into(),
            Op::new(vec![(admin_html.clone(), html_list(&all))]),
        ),
        ("a. list, HTML, agents", format!("the same, {b_n} support agents"), Op::new(agents_html(&|b: usize| html_list(&per_branch[b])))),
        (
            "b. request page, admin",
            format!("GET /service/requests/{{id}} (details tab: request, equipment, updates, interventions, returns, documents, emails), {} sampled requests, admin", sampled.len()),
            Op::new(vec![(admin_html.clone(), sampled.iter().map(page).collect())]),
        ),
        (
            "b. request page, agents",
            format!("the same, {b_n} support agents, requests of their branch"),
            Op::new(agents_html(&|b: usize| branch_requests(b).iter().map(page).collect())),
        ),
        (
            "b. history tab, admin",
            "GET /service/requests/{id}/history, admin".into(),
            Op::new(vec![(admin_html.clone(), sampled.iter().map(history_tab).collect())]),
        ),
        (
            "b. request and tabs, API, admin",
            "7 GETs in a row per request (one latency): /api/v1/service-requests/{id}, …/equipment, …/updates, …/interventions, /api/v1/equipment-returns?request_id=, …/documents, …/history; admin".into(),
            Op::new(vec![(admin_api.clone(), sampled.iter().map(api_parts).collect())]),
        ),
        (
            "c. planning week, HTML, admin",
            format!("GET /service/planning?view=week&date=…&branch_id=… ({b_n} branches × {} weeks around today), admin", weeks.len()),
            Op::new(vec![(admin_html.clone(), every_week(&plan_html))]),
        ),
        (
            "c. planning week, API, admin",
            "GET /api/v1/interventions?from=…&days=7&branch_id=…, admin".into(),
            Op::new(vec![(admin_api.clone(), every_week(&plan_api))]),
        ),
        (
            "c. planning week, HTML, agents",
            format!("the HTML week of their own branch, {b_n} support agents"),
            Op::new(agents_html(&|b: usize| weeks.iter().map(|w| plan_html(&branches[b], w)).collect())),
        ),
        (
            "e. service dashboard, admin",
            "GET /api/v1/reports/service?period=30d (backlog, opened and closed, service levels, technicians, returns), admin".into(),
            Op::new(vec![(admin_api.clone(), vec![vec![Step::html("/api/v1/reports/service?period=30d".into(), Some("backlog".into()), None)]])]),
        ),
        (
            "e. service dashboard, agents",
            format!("the same, {b_n} support agents (their branch's requests)"),
            Op::new(agents_api(&|_b: usize| vec![vec![Step::html("/api/v1/reports/service?period=30d".into(), Some("backlog".into()), None)]])),
        ),
        (
            "d. portal home",
            "GET /portal (open requests with their latest update, unread count, next interventions), 16 portal users of the busiest organisations".into(),
            Op::new(portal(&[("/portal", "open-requests")])),
        ),
        (
            "d. portal request list",
            "GET /portal/requests and /portal/requests?closed=1 (first page of 25), the same portal users".into(),
            Op::new(portal(&[("/portal/requests", "id=\"tab-open\""), ("/portal/requests?closed=1", "portal-requests")])),
        ),
    ];
    support::run_all(base, scenarios, o.c.seconds, &o.c.concurrency).await
}

// ---------------------------------------------------------------- report

fn report(o: &Options, config: &Config, data: &Dataset, samples: &Samples, load: &[Measure]) -> String {
    let mut s = String::new();
    support::header(&mut s, o.c.backend, config);
    let st = |k: usize| format!("{} {}", RequestStatus::ALL[k].code(), fmt_n(data.by_status[k]));
    let _ = writeln!(
        s,
        "- dataset: {} customers ({} companies) with {} contacts, {} equipment items; {} requests over a year ({}) with {} equipment \
         lines, {} customer updates, {} returns, {} documents and {} history rows; {} interventions ({} technician bookings, {} \
         equipment lines) from 26 weeks back to 4 weeks ahead, {} in the current week; {} users in {} branches{}",
        fmt_n(data.customers),
        fmt_n(data.companies),
        fmt_n(data.contacts),
        fmt_n(data.equipment),
        fmt_n(data.requests),
        (0..4).map(st).collect::<Vec<_>>().join(", "),
        fmt_n(data.lines),
        fmt_n(data.updates),
        fmt_n(data.returns),
        fmt_n(data.documents),
        fmt_n(data.history),
        fmt_n(data.interventions),
        fmt_n(data.intervention_techs),
        fmt_n(data.intervention_lines),
        fmt_n(data.this_week),
        data.users,
        data.branches,
        data.size_bytes.map(|b| format!("; {:.2} GiB on disk", b as f64 / (1u64 << 30) as f64)).unwrap_or_default()
    );
    let _ = writeln!(
        s,
        "- generation: {} rows in {:.0} s: customers and contacts {:.0} s, equipment {:.0} s, requests with their lines, updates, \
         returns, documents and history {:.0} s ({:.0} rows/s), interventions {:.0} s, {} {:.0} s",
        fmt_n(data.rows()),
        data.seconds(),
        data.customers_s,
        data.equipment_s,
        data.requests_s,
        (data.requests + data.lines + data.updates + data.returns + data.documents + data.history) as f64 / data.requests_s,
        data.interventions_s,
        if o.c.backend == Backend::Sqlite { "ANALYZE and WAL checkpoint" } else { "VACUUM (ANALYZE)" },
        data.analyze_s
    );
    let sampled = &samples.requests.items;
    if !sampled.is_empty() {
        let avg = |k: usize| sampled.iter().map(|r| r.shows[k]).sum::<usize>() as f64 / sampled.len() as f64;
        let _ = writeln!(
            s,
            "- sampled request pages: {} requests, on average {:.1} equipment lines, {:.1} updates, {:.2} interventions, {:.2} \
             documents, {:.1} history rows",
            fmt_n(sampled.len()),
            avg(0),
            avg(1),
            avg(2),
            avg(3),
            avg(4)
        );
    }
    if !load.is_empty() {
        support::load_table(&mut s, &o.c.concurrency, o.c.seconds, load);
        support::error_lines(&mut s, load);
        let _ = writeln!(s);
        let on = if o.c.backend == Backend::Sqlite { "" } else { " (set for SQLite; for comparison here)" };
        for (prefix, what) in [("a.", "request list first page"), ("b.", "request page and tabs"), ("c.", "planning week of a branch")] {
            let parts: Vec<String> = load
                .iter()
                .filter(|m| m.name.starts_with(prefix))
                .map(|m| {
                    format!("{} {} with {} clients (p99 {} ms)", m.name, verdict(m.p99_ms < TARGET_P99_MS), m.concurrency, fmt_ms(m.p99_ms))
                })
                .collect();
            let _ = writeln!(s, "- target {what}, p99 < {TARGET_P99_MS} ms{on}: {}", parts.join("; "));
        }
    }
    s
}

// ---------------------------------------------------------------- main

#[tokio::main]
async fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; no other argument is understood.
    let o = Options::from_env()?;
    let (mut config, place) = support::configure(&o.c)?;
    let docs = tempfile::tempdir()?;
    config.documents_dir = docs.path().to_path_buf();
    eprintln!(
        "carnet service bench: backend {}, {} customers, {} equipment items, {} requests, {} s per scenario, concurrency {:?}",
        o.c.backend.name(),
        o.customers,
        o.equipment,
        o.requests,
        o.c.seconds,
        o.c.concurrency
    );
    let outcome = async {
        let run = support::prepare(&config, TEAMS).await?;
        let gen = support::bulk_connection(&config).await?;
        let r = generate(&gen, &o, &run.branches, run.users, run.now).await;
        let (data, samples) = support::generated(gen, r).await?;
        let mut results = Vec::new();
        if o.load {
            let (o, st, samples, branches) = (&o, &run.state, &samples, &run.branches);
            results = support::with_server(st, |base| async move { load(o, st, &base, samples, branches).await }).await?;
        }
        run.state.db.pool.close().await;
        support::publish("service", "Service", o.c.backend, &report(&o, &config, &data, &samples, &results))
    }
    .await;
    place.close(o.c.pg_url.as_deref(), outcome).await
}
