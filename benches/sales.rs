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
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use carnet::access::Actor;
use carnet::clock::{Clock, SharedClock, SystemClock};
use carnet::config::Config;
use carnet::db::Db;
use carnet::http::AppState;
use carnet::sales::Statuses;
use reqwest::header::AUTHORIZATION;
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use serde_json::json;

const PASSWORD: &str = "bench-password-123";
const ADMIN_EMAIL: &str = "admin.banc@exemple.ca";
const WARMUP: Duration = Duration::from_secs(1);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CUSTOMERS_PER_STATEMENT: usize = 1000;
const OPPORTUNITIES_PER_STATEMENT: usize = 2000;
const STATEMENTS_PER_TRANSACTION: usize = 10;
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
const TARGET_P99_MS: f64 = 30.0;
/// Sequential single-client requests before each loaded scenario (at most this long).
const ALONE: Duration = Duration::from_secs(3);
const ALONE_REQUESTS: usize = 30;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

struct Options {
    backend: Backend,
    pg_url: Option<String>,
    customers: usize,
    opportunities: usize,
    seconds: u64,
    /// Each scenario runs once per concurrency level.
    concurrency: Vec<usize>,
    expiry: bool,
    load: bool,
    keep_dir: Option<std::path::PathBuf>,
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().replace('_', "").parse().map_err(|_| anyhow!("{name}: not a number: {v:?}")),
        _ => Ok(default),
    }
}

fn env_str(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|s| !s.trim().is_empty())
}

impl Options {
    fn from_env() -> Result<Options> {
        let backend = match env_str("CARNET_BENCH_BACKEND").as_deref().unwrap_or("sqlite") {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" | "pg" => Backend::Postgres,
            other => bail!("CARNET_BENCH_BACKEND: expected sqlite or postgres, got {other:?}"),
        };
        let pg_url = env_str("CARNET_TEST_POSTGRES_URL").or_else(|| env_str("DATABASE_URL"));
        if backend == Backend::Postgres && pg_url.is_none() {
            bail!("CARNET_BENCH_BACKEND=postgres needs CARNET_TEST_POSTGRES_URL or DATABASE_URL");
        }
        let customers = env_num("CARNET_BENCH_CUSTOMERS", 1_000_000usize)?;
        let parts = env_str("CARNET_BENCH_PARTS").unwrap_or_else(|| "expiry,load".into());
        let parts: Vec<&str> = parts.split(',').map(str::trim).collect();
        if let Some(p) = parts.iter().find(|p| !["expiry", "load", "generate"].contains(p)) {
            bail!("CARNET_BENCH_PARTS: unknown part {p:?} (expiry, load, or generate for the dataset alone)");
        }
        let o = Options {
            backend,
            pg_url,
            customers,
            opportunities: env_num("CARNET_BENCH_OPPORTUNITIES", 2 * customers)?,
            seconds: env_num("CARNET_BENCH_SECONDS", 10u64)?,
            concurrency: env_str("CARNET_BENCH_CONCURRENCY")
                .unwrap_or_else(|| "8,32".into())
                .split(',')
                .map(|c| c.trim().parse::<usize>().map_err(|_| anyhow!("CARNET_BENCH_CONCURRENCY: not a list of numbers: {c:?}")))
                .collect::<Result<Vec<_>>>()?,
            expiry: parts.contains(&"expiry"),
            load: parts.contains(&"load"),
            keep_dir: env_str("CARNET_BENCH_KEEP_DIR").map(std::path::PathBuf::from),
        };
        if o.customers < 1000 || o.opportunities < 1000 || o.seconds == 0 || o.concurrency.is_empty() || o.concurrency.contains(&0) {
            bail!("CARNET_BENCH_CUSTOMERS and OPPORTUNITIES must be at least 1000, SECONDS and CONCURRENCY 1");
        }
        Ok(o)
    }
}

// ---------------------------------------------------------------- dataset

/// A small deterministic generator (splitmix64): the same dataset at every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Skewed towards the start of the list (frequent names first): the first of 150 names
    /// is drawn about 3.5 % of the time, the 50th 0.4 %.
    fn skewed(&mut self, n: usize) -> usize {
        ((self.unit().powf(1.5) * n as f64) as usize).min(n - 1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// First names, and whether the civility is "mme".
const FIRST_NAMES: &[(&str, bool)] = &[
    ("Hélène", true),
    ("Chloé", true),
    ("Léa", true),
    ("Amélie", true),
    ("Noémie", true),
    ("Juliette", true),
    ("Maëlle", true),
    ("Rosalie", true),
    ("Zoé", true),
    ("Camille", true),
    ("Marie", true),
    ("Julie", true),
    ("Isabelle", true),
    ("Nathalie", true),
    ("Sophie", true),
    ("Karine", true),
    ("Mélanie", true),
    ("Geneviève", true),
    ("Josée", true),
    ("Sylvie", true),
    ("Chantal", true),
    ("Émilie", true),
    ("Audrey", true),
    ("Florence", true),
    ("Alice", true),
    ("Béatrice", true),
    ("Marie-Ève", true),
    ("Anne-Marie", true),
    ("Mathieu", false),
    ("Gabriel", false),
    ("Étienne", false),
    ("Félix", false),
    ("Antoine", false),
    ("Olivier", false),
    ("Samuel", false),
    ("Thomas", false),
    ("William", false),
    ("Louis", false),
    ("Jean", false),
    ("Pierre", false),
    ("Marc", false),
    ("Luc", false),
    ("Denis", false),
    ("Martin", false),
    ("François", false),
    ("Sébastien", false),
    ("Maxime", false),
    ("Alexandre", false),
    ("Jérôme", false),
    ("Éric", false),
    ("Stéphane", false),
    ("Patrick", false),
    ("Nicolas", false),
    ("Jonathan", false),
    ("Raphaël", false),
    ("Émile", false),
    ("Jean-François", false),
    ("Marc-André", false),
];

/// Québec last names, most frequent first.
const LAST_NAMES: &[&str] = &[
    "Tremblay",
    "Gagnon",
    "Roy",
    "Côté",
    "Bouchard",
    "Gauthier",
    "Morin",
    "Lavoie",
    "Fortin",
    "Gagné",
    "Ouellet",
    "Pelletier",
    "Bélanger",
    "Lévesque",
    "Bergeron",
    "Leblanc",
    "Paquette",
    "Girard",
    "Simard",
    "Boucher",
    "Caron",
    "Beaulieu",
    "Cloutier",
    "Dubé",
    "Poirier",
    "Fournier",
    "Lapointe",
    "Leclerc",
    "Lefebvre",
    "Poulin",
    "Thibault",
    "St-Pierre",
    "Nadeau",
    "Martin",
    "Landry",
    "Martel",
    "Bédard",
    "Grenier",
    "Lessard",
    "Bernier",
    "Richard",
    "Michaud",
    "Hébert",
    "Desjardins",
    "Couture",
    "Turcotte",
    "Lachance",
    "Parent",
    "Blais",
    "Gosselin",
    "Savard",
    "Proulx",
    "Beaudoin",
    "Demers",
    "Perron",
    "Boudreau",
    "Lemieux",
    "Cyr",
    "Perreault",
    "Dufour",
    "Dion",
    "Mercier",
    "Bolduc",
    "Bérubé",
    "Boisvert",
    "Langlois",
    "Ménard",
    "Therrien",
    "Plante",
    "Bilodeau",
    "Blanchette",
    "Dubois",
    "Champagne",
    "Paradis",
    "Fortier",
    "Arsenault",
    "Dupuis",
    "Gaudreault",
    "Hamel",
    "Houle",
    "Villeneuve",
    "Rousseau",
    "Gravel",
    "Thériault",
    "Lemay",
    "Robert",
    "Allard",
    "Deschênes",
    "Giroux",
    "Guay",
    "Leduc",
    "Boivin",
    "Charbonneau",
    "Lambert",
    "Raymond",
    "Vachon",
    "Gilbert",
    "Audet",
    "Jean",
    "Larouche",
    "Legault",
    "Trudel",
    "Fontaine",
    "Picard",
    "Labelle",
    "Lacroix",
    "Jacques",
    "Moreau",
    "Carrier",
    "Bernard",
    "Desrosiers",
    "Goulet",
    "Renaud",
    "Dionne",
    "Lapierre",
    "Vaillancourt",
    "Fillion",
    "Lalonde",
    "Tessier",
    "Bertrand",
    "Tardif",
    "Lépine",
    "Labbé",
    "Marcoux",
    "Lavallée",
    "Roussel",
    "Rioux",
    "Nguyen",
    "Tran",
    "Da Silva",
    "Haddad",
    "Ben Ali",
    "O'Brien",
    "MacDonald",
    "Smith",
    "Wilson",
    "Joseph",
    "Pierre-Louis",
];

/// Regions and their four branches, with a postal-code prefix for each branch.
const REGIONS: &[(&str, [(&str, &str); 4])] = &[
    ("Région Montréal", [("Montréal-Centre", "H2X"), ("Anjou", "H1K"), ("Saint-Laurent", "H4N"), ("Verdun", "H4G")]),
    ("Région Laval–Rive-Nord", [("Laval", "H7N"), ("Terrebonne", "J6W"), ("Saint-Jérôme", "J7Z"), ("Blainville", "J7C")]),
    ("Région Rive-Sud", [("Longueuil", "J4K"), ("Brossard", "J4Z"), ("Saint-Hyacinthe", "J2S"), ("Granby", "J2G")]),
    ("Région Québec–Est", [("Québec", "G1R"), ("Lévis", "G6V"), ("Sherbrooke", "J1H"), ("Trois-Rivières", "G9A")]),
];

const STREETS: &[&str] = &[
    "rue Principale",
    "rue Notre-Dame",
    "boul. Saint-Martin Ouest",
    "boul. des Laurentides",
    "chemin Sainte-Foy",
    "boul. Taschereau",
    "rue Sherbrooke Est",
    "avenue du Parc",
    "rue Saint-Denis",
    "boul. René-Lévesque",
    "rue King Ouest",
    "rang Saint-Joseph",
    "montée Masson",
    "avenue des Érables",
];

const EMAIL_DOMAINS: &[&str] =
    &["videotron.ca", "gmail.com", "hotmail.com", "outlook.com", "bell.net", "yahoo.ca", "sympatico.ca", "icloud.com", "cgocable.ca"];
const AREA_CODES: &[u32] = &[514, 438, 450, 579, 418, 581, 819, 873];

/// Lower-case ASCII for email addresses and domains.
fn ascii_slug(s: &str) -> String {
    carnet::search::fold(s).chars().map(|c| if c == ' ' { '-' } else { c }).filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect()
}

/// Phone numbers: a bijection of slot numbers onto 64 million NANP numbers (8 area codes ×
/// 800 exchanges × 10 000 lines), scattered so that consecutive slots are far apart.
const PHONE_SPACE: u64 = 8 * 800 * 10_000;

fn phone(slot: u64) -> String {
    let k = (slot.wrapping_mul(2_654_435_761).wrapping_add(12_345)) % PHONE_SPACE;
    let area = AREA_CODES[(k % 8) as usize];
    let exchange = 200 + (k / 8) % 800;
    let line = k / 6400;
    format!("+1{area}{exchange:03}{line:04}")
}

/// A stored E.164 number as someone would type it.
fn typed_phone(e164: &str, style: usize) -> String {
    let d = &e164[2..];
    let (a, b, c) = (&d[0..3], &d[3..6], &d[6..10]);
    match style % 6 {
        0 => format!("{a} {b}-{c}"),
        1 => format!("({a}) {b}-{c}"),
        2 => format!("+1 {a} {b} {c}"),
        3 => format!("{a}.{b}.{c}"),
        4 => format!("1-{a}-{b}-{c}"),
        _ => format!("{a}{b}{c}"),
    }
}

/// An email as someone would type it (case does not matter).
fn typed_email(email: &str, style: usize) -> String {
    match style % 3 {
        0 => email.to_string(),
        1 => {
            let mut cs = email.chars();
            cs.next().map(|c| c.to_ascii_uppercase().to_string() + cs.as_str()).unwrap_or_default()
        }
        _ => email.to_uppercase(),
    }
}

struct Reservoir<T> {
    items: Vec<T>,
    seen: u64,
    cap: usize,
    rng: Rng,
}

impl<T> Reservoir<T> {
    fn new(cap: usize, seed: u64) -> Self {
        Reservoir { items: Vec::with_capacity(cap), seen: 0, cap, rng: Rng(seed) }
    }
    fn offer(&mut self, make: impl FnOnce() -> T) {
        self.seen += 1;
        if self.items.len() < self.cap {
            self.items.push(make());
        } else {
            let j = (self.rng.next() % self.seen) as usize;
            if j < self.cap {
                self.items[j] = make();
            }
        }
    }
}

struct Branch {
    id: i64,
    city: &'static str,
    postal: &'static str,
    reps: Vec<i64>,
}

async fn insert_unit(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    now: i64,
    parent: Option<(i64, &str)>,
    kind: &str,
    name: &str,
) -> Result<(i64, String)> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO org_units (parent_id, kind, name, path, created_at, updated_at) VALUES ($1, $2, $3, '', $4, $4) RETURNING id",
    )
    .bind(parent.map(|p| p.0))
    .bind(kind)
    .bind(name)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    let path = format!("{}{id}/", parent.map(|p| p.1).unwrap_or("/"));
    sqlx::query("UPDATE org_units SET path = $1 WHERE id = $2").bind(&path).bind(id).execute(&mut **tx).await?;
    Ok((id, path))
}

async fn insert_user(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    now: i64,
    email: &str,
    name: &str,
    hash: Option<&str>,
    role: i64,
    unit: Option<i64>,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO users (email, name, language, password_hash, role_id, org_unit_id, password_changed_at, created_at, updated_at) \
         VALUES ($1, $2, 'fr', $3, $4, $5, $6, $6, $6) RETURNING id",
    )
    .bind(email)
    .bind(name)
    .bind(hash)
    .bind(role)
    .bind(unit)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?)
}

/// The sales structure: 1 company, 4 regions, 16 branches with a sales team (10
/// representatives) and a BDC team (3 agents) each, and the administrator.
async fn org(db: &Db, now: i64) -> Result<(Vec<Branch>, usize)> {
    let hash = carnet::identity::password::hash(PASSWORD)?;
    let roles: Vec<(i64, String)> = sqlx::query_as("SELECT id, code FROM roles").fetch_all(&db.pool).await?;
    let role = |code: &str| roles.iter().find(|(_, c)| c == code).map(|(id, _)| *id).ok_or_else(|| anyhow!("no role {code}"));
    let mut rng = Rng(0xB0A7);
    let mut tx = db.begin().await?;
    insert_user(&mut tx, now, ADMIN_EMAIL, "Administratrice Banc", Some(&hash), role("administrateur")?, None).await?;
    let mut users = 1;
    let (company, cpath) = insert_unit(&mut tx, now, None, "company", "Carnet Distribution Québec").await?;
    let mut branches = Vec::new();
    for (region, cities) in REGIONS {
        let (rid, rpath) = insert_unit(&mut tx, now, Some((company, &cpath)), "region", region).await?;
        for (city, postal) in cities {
            let (bid, bpath) = insert_unit(&mut tx, now, Some((rid, &rpath)), "branch", &format!("Succursale {city}")).await?;
            let (sales, _) = insert_unit(&mut tx, now, Some((bid, &bpath)), "team", &format!("{city} – Ventes")).await?;
            let (bdc, _) = insert_unit(&mut tx, now, Some((bid, &bpath)), "team", &format!("{city} – BDC")).await?;
            let mut reps = Vec::new();
            for k in 0..REPS_PER_BRANCH + 3 {
                let first = rng.pick(FIRST_NAMES).0;
                let last = LAST_NAMES[rng.skewed(LAST_NAMES.len())];
                let email = format!("{}.{}.{}{k}@carnet-distribution.ca", ascii_slug(first), ascii_slug(last), ascii_slug(city));
                let name = format!("{first} {last}");
                if k < REPS_PER_BRANCH {
                    reps.push(insert_user(&mut tx, now, &email, &name, None, role("representant")?, Some(sales)).await?);
                } else {
                    insert_user(&mut tx, now, &email, &name, None, role("agent_bdc")?, Some(bdc)).await?;
                }
                users += 1;
            }
            branches.push(Branch { id: bid, city, postal, reps });
        }
    }
    tx.commit().await?;
    Ok((branches, users))
}

fn postal(rng: &mut Rng, prefix: &str) -> String {
    let l = |rng: &mut Rng| (b'A' + rng.below(26) as u8) as char;
    format!("{prefix} {}{}{}", rng.below(10), l(rng), rng.below(10))
}

/// A SQL string literal (quotes doubled; valid on both backends), or NULL.
fn lit(out: &mut String, v: Option<&str>) {
    match v {
        None => out.push_str("NULL"),
        Some(v) => {
            out.push('\'');
            for ch in v.chars() {
                if ch == '\'' {
                    out.push('\'');
                }
                out.push(ch);
            }
            out.push('\'');
        }
    }
}

// The bulk INSERTs write their values as literals rather than bound parameters: sqlx binds
// SQLite parameters by name, looking each `$N` up among all the statement's parameters, which
// is quadratic and took 85 % of the time with 10 000 parameters per statement. Every value is
// generated here (no outside input) and quoted by `lit`.

/// One of `items` drawn by its weight (the weights add up to 1000).
fn weighted(rng: &mut Rng, items: &[(&'static str, u32)]) -> &'static str {
    let mut x = rng.below(1000) as u32;
    for (v, w) in items {
        if x < *w {
            return v;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

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

impl Dataset {
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
    let owner = if rng.chance(0.05) { None } else { Some(*rng.pick(&b.reps)) };
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

async fn insert_customers(tx: &mut sqlx::Transaction<'static, sqlx::Any>, rows: &mut [(Cust, Extra)]) -> Result<()> {
    let mut sql = String::with_capacity(rows.len() * 240 + 300);
    sql.push_str(
        "INSERT INTO customers (kind, civility, first_name, last_name, company_name, display_name, email, phone, mobile, address, \
         language, branch_id, owner_id, notes, particularities, created_at, updated_at) VALUES ",
    );
    for (k, (c, x)) in rows.iter().enumerate() {
        sql.push_str(if k > 0 { ", ('person', NULL, " } else { "('person', NULL, " });
        let display = c.display();
        for v in
            [Some(c.first), Some(c.last), Some(""), Some(display.as_str()), c.email.as_deref(), c.phone.as_deref(), x.mobile.as_deref()]
        {
            lit(&mut sql, v);
            sql.push_str(", ");
        }
        lit(&mut sql, Some(&x.address));
        let owner = c.owner.map(|x| x.to_string()).unwrap_or_else(|| "NULL".into());
        let _ = write!(sql, ", 'fr', {}, {owner}, '', '', {}, {})", c.branch, x.created_at, x.created_at);
    }
    sql.push_str(" RETURNING id");
    let mut ids: Vec<i64> = sqlx::query_scalar(&sql).persistent(false).fetch_all(&mut **tx).await?;
    // Both engines number the rows of a multi-row INSERT in order; make sure.
    ids.sort_unstable();
    if ids.len() != rows.len() || ids.last().zip(ids.first()).map(|(l, f)| l - f + 1) != Some(rows.len() as i64) {
        bail!("customer ids of a multi-row INSERT are not consecutive");
    }
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

async fn insert_opportunities(tx: &mut sqlx::Transaction<'static, sqlx::Any>, rows: &[NewOpportunity], custs: &[Cust]) -> Result<Vec<i64>> {
    let mut sql = String::with_capacity(rows.len() * 140 + 300);
    sql.push_str(
        "INSERT INTO opportunities (name, customer_id, lead_type, status, owner_id, branch_id, sale_date, delivery_date, expired, \
         expired_at, trashed, created_at, updated_at) VALUES ",
    );
    let opt = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_else(|| "NULL".into());
    for (k, o) in rows.iter().enumerate() {
        let c = &custs[o.customer];
        sql.push_str(if k > 0 { ", (" } else { "(" });
        lit(&mut sql, Some(&c.display()));
        let _ = write!(
            sql,
            ", {}, '{}', '{}', {}, {}, {}, {}, 0, NULL, {}, {}, {})",
            c.id,
            o.lead_type,
            o.status,
            opt(c.owner),
            c.branch,
            opt(o.sale_date),
            opt(o.delivery_date),
            o.trashed as i64,
            o.created_at,
            o.updated_at
        );
    }
    sql.push_str(" RETURNING id");
    let mut ids: Vec<i64> = sqlx::query_scalar(&sql).persistent(false).fetch_all(&mut **tx).await?;
    ids.sort_unstable();
    if ids.len() != rows.len() || ids.last().zip(ids.first()).map(|(l, f)| l - f + 1) != Some(rows.len() as i64) {
        bail!("opportunity ids of a multi-row INSERT are not consecutive");
    }
    Ok(ids)
}

/// Stock units `U00001`…, spread over the branches.
async fn insert_stock(tx: &mut sqlx::Transaction<'static, sqlx::Any>, branches: &[Branch], now: i64) -> Result<()> {
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
    sqlx::query(&sql).persistent(false).execute(&mut **tx).await?;
    Ok(())
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
    let started = Instant::now();
    let mut custs: Vec<Cust> = Vec::with_capacity(n);
    let mut batch: Vec<(Cust, Extra)> = Vec::with_capacity(CUSTOMERS_PER_STATEMENT);
    let mut tx = gen.begin().await?;
    insert_stock(&mut tx, branches, now).await?;
    let mut statements = 0;
    let mut last_report = Instant::now();
    for i in 0..n {
        batch.push(new_customer(&mut rng, i, branches, now));
        if batch.len() < CUSTOMERS_PER_STATEMENT && i + 1 < n {
            continue;
        }
        insert_customers(&mut tx, &mut batch).await?;
        for (c, _) in batch.drain(..) {
            samples.known.offer(|| KnownLead { id: c.id, first: c.first, last: c.last, email: c.email.clone(), phone: c.phone.clone() });
            custs.push(c);
        }
        statements += 1;
        if statements % STATEMENTS_PER_TRANSACTION == 0 || i + 1 == n {
            tx.commit().await?;
            tx = gen.begin().await?;
            if last_report.elapsed() > Duration::from_secs(15) {
                last_report = Instant::now();
                let s = started.elapsed().as_secs_f64();
                eprintln!("    {} customers in {s:.0} s ({:.0} rows/s)", i + 1, (i + 1) as f64 / s);
            }
        }
    }
    tx.commit().await?;
    let customers_s = started.elapsed().as_secs_f64();
    eprintln!("  {n} customers and {STOCK_UNITS} stock units in {customers_s:.1} s: {:.0} rows/s", n as f64 / customers_s);

    let started = Instant::now();
    let m = o.opportunities;
    let (mut trashed, mut due) = (0, 0);
    let mut batch: Vec<NewOpportunity> = Vec::with_capacity(OPPORTUNITIES_PER_STATEMENT);
    let mut tx = gen.begin().await?;
    let mut statements = 0;
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
        let ids = insert_opportunities(&mut tx, &batch, &custs).await?;
        for (op, id) in batch.iter().zip(ids) {
            if !op.trashed {
                samples.opportunities.offer(|| id);
            }
        }
        batch.clear();
        statements += 1;
        if statements % STATEMENTS_PER_TRANSACTION == 0 || j + 1 == m {
            tx.commit().await?;
            tx = gen.begin().await?;
            if last_report.elapsed() > Duration::from_secs(15) {
                last_report = Instant::now();
                let s = started.elapsed().as_secs_f64();
                eprintln!("    {} opportunities in {s:.0} s ({:.0} rows/s)", j + 1, (j + 1) as f64 / s);
            }
        }
    }
    tx.commit().await?;
    let opportunities_s = started.elapsed().as_secs_f64();
    eprintln!(
        "  {m} opportunities ({trashed} trashed, {due} due to expire) in {opportunities_s:.1} s: {:.0} rows/s",
        m as f64 / opportunities_s
    );

    // Planner statistics, as a database in service would have them; on PostgreSQL also the
    // visibility map (autovacuum would otherwise start in the middle of the measures).
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
    for table in tables {
        let sql = match gen.backend {
            carnet::db::Backend::Sqlite => format!("ANALYZE {table}"),
            carnet::db::Backend::Postgres => format!("VACUUM (ANALYZE) {table}"),
        };
        sqlx::query(&sql).execute(&gen.pool).await?;
    }
    let size_bytes = match gen.backend {
        carnet::db::Backend::Sqlite => {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&gen.pool).await?;
            let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&gen.pool).await?;
            let size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&gen.pool).await?;
            Some((pages * size) as u64)
        }
        carnet::db::Backend::Postgres => {
            let total: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(SUM(pg_total_relation_size(c.oid)) AS BIGINT) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind = 'r'",
            )
            .fetch_one(&gen.pool)
            .await?;
            total.map(|t| t as u64)
        }
    };
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

// ---------------------------------------------------------------- HTTP requests

fn client() -> Result<Client> {
    Ok(Client::builder().redirect(Policy::none()).timeout(REQUEST_TIMEOUT).build()?)
}

fn short(body: &str) -> String {
    body.chars().take(160).collect::<String>().replace('\n', " ")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
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

// ---------------------------------------------------------------- load generator

#[derive(Default)]
struct TaskResult {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    late: u64,
    /// Successful answers received inside the window, whenever the request started.
    answered: u64,
    /// Lead outcomes of the recorded requests: known merged, known created, new created.
    outcomes: [u64; 3],
}

struct Measure {
    name: &'static str,
    what: String,
    concurrency: usize,
    errors: u64,
    first_error: Option<String>,
    /// Requests started in the window and answered after it.
    late: u64,
    /// Successful answers inside the window (the throughput), whenever they started.
    answered: u64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// p50 of sequential requests from a single client, before the load.
    alone_ms: f64,
    cpu: CpuShare,
    outcomes: [u64; 3],
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[idx] as f64 / 1000.0
}

/// p50 of up to `ALONE_REQUESTS` sequential requests from one client (at most `ALONE` long).
async fn alone(base: &str, op: &Op) -> Result<f64> {
    let c = client()?;
    let started = Instant::now();
    let mut lat = Vec::new();
    let mut i = 0u64;
    while lat.len() < ALONE_REQUESTS && started.elapsed() < ALONE {
        let t0 = Instant::now();
        once(&c, base, op, 0, i + 7, 1).await.map_err(|e| anyhow!("{e}"))?;
        lat.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
        i += 1;
    }
    lat.sort_unstable();
    Ok(percentile(&lat, 50.0))
}

/// Runs `op` in a closed loop from `concurrency` tasks for `seconds` (after the warm-up).
/// Only iterations that start and end inside the measured window are recorded.
async fn run(name: &'static str, what: String, base: &str, op: Op, seconds: u64, concurrency: usize, alone_ms: f64) -> Result<Measure> {
    eprintln!("  {name}, {concurrency} clients: {what} …");
    let window = Duration::from_secs(seconds);
    let start = Instant::now() + WARMUP;
    let deadline = start + window;
    let mut handles = Vec::with_capacity(concurrency);
    for task in 0..concurrency {
        let client = client()?;
        let base = base.to_string();
        let op = op.clone();
        handles.push(tokio::spawn(async move {
            let mut r = TaskResult { latencies_us: Vec::with_capacity(4096), ..Default::default() };
            let mut iteration = 0u64;
            loop {
                let t0 = Instant::now();
                if t0 >= deadline {
                    break;
                }
                let res = once(&client, &base, &op, task, iteration, concurrency).await;
                let t1 = Instant::now();
                iteration += 1;
                if res.is_ok() && t1 >= start && t1 <= deadline {
                    r.answered += 1;
                }
                if t0 < start {
                    continue;
                }
                if t1 > deadline {
                    r.late += 1;
                    continue;
                }
                match res {
                    Ok(done) => {
                        r.latencies_us.push((t1 - t0).as_micros().min(u32::MAX as u128) as u32);
                        match done {
                            Done::KnownMerged => r.outcomes[0] += 1,
                            Done::KnownCreated => r.outcomes[1] += 1,
                            Done::NewCreated => r.outcomes[2] += 1,
                            Done::Answered => {}
                        }
                    }
                    Err(e) => {
                        r.errors += 1;
                        r.first_error.get_or_insert(e);
                    }
                }
            }
            r
        }));
    }
    tokio::time::sleep_until(start.into()).await;
    let cpu_start = cpu_sample();
    tokio::time::sleep_until(deadline.into()).await;
    let cpu = cpu_share(cpu_start, cpu_sample());
    let mut all = Vec::new();
    let (mut errors, mut late, mut first_error, mut answered, mut outcomes) = (0, 0, None, 0, [0u64; 3]);
    for h in handles {
        let r = h.await?;
        answered += r.answered;
        all.extend(r.latencies_us);
        errors += r.errors;
        late += r.late;
        for (o, x) in outcomes.iter_mut().zip(r.outcomes) {
            *o += x;
        }
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    all.sort_unstable();
    let m = Measure {
        name,
        what,
        concurrency,
        errors,
        first_error,
        late,
        answered,
        per_second: answered as f64 / window.as_secs_f64(),
        p50_ms: percentile(&all, 50.0),
        p99_ms: percentile(&all, 99.0),
        alone_ms,
        cpu,
        outcomes,
    };
    eprintln!(
        "    {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors, {} late; alone {:.2} ms; CPU: app+client {:.0} %, database {:.0} %, other {:.0} %",
        m.per_second, m.p50_ms, m.p99_ms, m.errors, m.late, m.alone_ms, m.cpu.app, m.cpu.database, m.cpu.other
    );
    if m.outcomes.iter().any(|x| *x > 0) {
        eprintln!("    outcomes: known merged {}, known created {}, new created {}", m.outcomes[0], m.outcomes[1], m.outcomes[2]);
    }
    if let Some(e) = &m.first_error {
        eprintln!("    first error: {e}");
    }
    Ok(m)
}

/// CPU time (clock ticks) of the whole machine, of this process and of the PostgreSQL
/// processes, to tell the measured work from whatever else runs on the machine.
#[derive(Debug, Clone, Copy, Default)]
struct CpuSample {
    total: u64,
    busy: u64,
    this: u64,
    sqlite: u64,
    postgres: u64,
}

/// Shares of the machine's capacity (all cores = 100 %) during a window.
#[derive(Debug, Clone, Copy, Default)]
struct CpuShare {
    /// This process less its SQLite threads: the HTTP server, sqlx and the load generator.
    app: f64,
    /// SQLite's worker threads (in this process) or the PostgreSQL processes.
    database: f64,
    other: f64,
}

/// utime + stime of a `/proc/PID/stat` line, and the command name.
fn proc_ticks(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_string();
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

fn cpu_sample() -> CpuSample {
    let mut s = CpuSample::default();
    if let Some(line) = std::fs::read_to_string("/proc/stat").ok().and_then(|t| t.lines().next().map(str::to_string)) {
        // cpu user nice system idle iowait irq softirq steal (guest time is already in user).
        let v: Vec<u64> = line.split_whitespace().skip(1).take(8).filter_map(|x| x.parse().ok()).collect();
        if v.len() == 8 {
            s.total = v.iter().sum();
            s.busy = s.total - v[3] - v[4];
        }
    }
    s.this = std::fs::read_to_string("/proc/self/stat").ok().and_then(|t| proc_ticks(&t)).map(|(_, t)| t).unwrap_or(0);
    // sqlx runs each SQLite connection on its own thread, named `sqlx-sqlite-worker-N`.
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for e in dir.flatten() {
            if let Some((comm, t)) = std::fs::read_to_string(e.path().join("stat")).ok().and_then(|t| proc_ticks(&t)) {
                if comm.starts_with("sqlx-sqlite") {
                    s.sqlite += t;
                }
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let name = e.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Some((comm, t)) = std::fs::read_to_string(e.path().join("stat")).ok().and_then(|t| proc_ticks(&t)) {
                if comm == "postgres" {
                    s.postgres += t;
                }
            }
        }
    }
    s
}

fn cpu_share(a: CpuSample, b: CpuSample) -> CpuShare {
    let total = b.total.saturating_sub(a.total).max(1) as f64;
    let busy = b.busy.saturating_sub(a.busy) as f64;
    let this = b.this.saturating_sub(a.this) as f64;
    let postgres = b.postgres.saturating_sub(a.postgres) as f64;
    let sqlite = (b.sqlite.saturating_sub(a.sqlite) as f64).min(this);
    CpuShare {
        app: 100.0 * (this - sqlite) / total,
        database: 100.0 * (sqlite + postgres) / total,
        other: (100.0 * (busy - this - postgres) / total).max(0.0),
    }
}

// ---------------------------------------------------------------- load scenarios

// ---------------------------------------------------------------- expiry

struct SweepResult {
    /// Opportunities the sweep should expire (counted at generation).
    expected: usize,
    first: u64,
    first_s: f64,
    first_cpu: CpuShare,
    second: u64,
    second_s: f64,
    second_cpu: CpuShare,
    /// `expired = 1` rows and `expire` audit rows after the sweeps.
    flagged: i64,
    audit_rows: i64,
}

async fn timed<T, F: std::future::Future<Output = Result<T>>>(f: F) -> Result<(T, f64, CpuShare)> {
    let cpu0 = cpu_sample();
    let t0 = Instant::now();
    let v = f.await?;
    let s = t0.elapsed().as_secs_f64();
    Ok((v, s, cpu_share(cpu0, cpu_sample())))
}

/// The sweep at the generation's `now` (so that the due opportunities are exactly those
/// counted at generation), then again.
async fn expiry_bench(state: &AppState, data: &Dataset, now: i64) -> Result<SweepResult> {
    let db = &state.db;
    eprintln!("  first sweep over {} opportunities ({} due) …", data.opportunities, data.due);
    let (first, first_s, first_cpu) = timed(async { Ok(carnet::sales::expiry::sweep(db, now).await?) }).await?;
    eprintln!("    {first} expired in {first_s:.2} s ({:.0}/s)", first as f64 / first_s);
    let (second, second_s, second_cpu) = timed(async { Ok(carnet::sales::expiry::sweep(db, now).await?) }).await?;
    eprintln!("  second sweep: {second} expired in {second_s:.2} s");
    let flagged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM opportunities WHERE expired = 1").fetch_one(&db.pool).await?;
    let audit_rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'opportunity' AND action = 'expire'")
        .fetch_one(&db.pool)
        .await?;
    if first as usize != data.due || second != 0 || flagged != first as i64 || audit_rows != first as i64 {
        bail!("expiry: expected {} then 0 expired, got {first} then {second}; {flagged} flagged, {audit_rows} audit rows", data.due);
    }
    Ok(SweepResult { expected: data.due, first, first_s, first_cpu, second, second_s, second_cpu, flagged, audit_rows })
}

// ---------------------------------------------------------------- load scenarios

async fn get_json(c: &Client, base: &str, path: &str, auth: &str) -> Result<serde_json::Value> {
    let resp = c.get(format!("{base}{path}")).bearer_auth(auth).send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    if status != StatusCode::OK {
        bail!("{path}: {status} {}", short(&text));
    }
    Ok(serde_json::from_str(&text)?)
}

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
    ];
    let mut results = Vec::new();
    for (name, what, op) in scenarios {
        let alone_ms = alone(base, &op).await?;
        for c in &o.concurrency {
            results.push(run(name, what.clone(), base, op.clone(), o.seconds, *c, alone_ms).await?);
        }
    }
    Ok(results)
}

// ---------------------------------------------------------------- report

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let ram_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    format!("{model}, {cores} cores, {:.1} GiB RAM", ram_kb / 1024.0 / 1024.0)
}

fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

fn fmt_n(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**missed**"
    }
}

fn report(o: &Options, config: &Config, data: &Dataset, load: &[Measure], sweep: Option<&SweepResult>) -> String {
    let date = SystemClock.now().format("%Y-%m-%d %H:%M UTC");
    let mut s = String::new();
    let _ = writeln!(s, "- date: {date}");
    let _ = writeln!(s, "- machine: {} (the load generator runs on the same cores as the server)", machine());
    let _ = writeln!(s, "- backend: {}, pool of {} connections", o.backend.name(), config.database_max_connections);
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
        if o.backend == Backend::Sqlite { "ANALYZE and WAL checkpoint" } else { "VACUUM (ANALYZE)" },
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
    }
    if !load.is_empty() {
        let _ = writeln!(s);
        let levels: Vec<String> = o.concurrency.iter().map(|c| c.to_string()).collect();
        let _ = writeln!(
            s,
            "- load: closed loop of {} concurrent clients (each scenario once per level), {} s per run after 1 s of warm-up",
            levels.join(" and "),
            o.seconds
        );
        let _ = writeln!(
            s,
            "- requests: successful answers received during the window (requests/s = that / {} s); p50 and p99 are over the \
             requests both sent and answered in the window; \"late\": requests sent in the window and answered after it; \
             \"1 client\": p50 of up to {ALONE_REQUESTS} sequential requests from a single client just before the loaded run",
            o.seconds
        );
        let _ = writeln!(
            s,
            "- CPU: share of the whole machine (all cores = 100 %) used during each measured window by this process less SQLite's \
             threads (server, sqlx, load generator), by the database engine (SQLite's threads or the PostgreSQL processes) and by \
             anything else"
        );
        let noisy = load.iter().filter(|m| m.cpu.other > 10.0).count();
        if noisy > 0 {
            let _ = writeln!(
                s,
                "- warning: other processes used more than 10 % of the machine during {noisy} scenario(s); those figures are pessimistic"
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| scenario | request | clients | requests | requests/s | p50 ms | p99 ms | errors | late | 1 client ms | CPU app+client / database / other |"
        );
        let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for (i, m) in load.iter().enumerate() {
            let first = i == 0 || load[i - 1].name != m.name;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {:.0} / {:.0} / {:.0} % |",
                if first { m.name } else { "" },
                if first { m.what.as_str() } else { "" },
                m.concurrency,
                m.answered,
                m.per_second,
                fmt_ms(m.p50_ms),
                fmt_ms(m.p99_ms),
                m.errors,
                m.late,
                fmt_ms(m.alone_ms),
                m.cpu.app,
                m.cpu.database,
                m.cpu.other
            );
        }
        let _ = writeln!(s);
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
        for m in load.iter().filter(|m| m.errors > 0) {
            let _ = writeln!(
                s,
                "- {} ({} clients): {} errors; first: `{}`",
                m.name,
                m.concurrency,
                m.errors,
                m.first_error.as_deref().unwrap_or("?").replace('`', "'")
            );
        }
    }
    // Targets of the sales issue.
    let _ = writeln!(s);
    let leads: Vec<&Measure> = load.iter().filter(|m| m.name.starts_with("a.")).collect();
    if !leads.is_empty() {
        let parts: Vec<String> = leads
            .iter()
            .map(|m| format!("{} with {} clients ({:.0} leads/s)", verdict(m.per_second > TARGET_LEADS_PER_S), m.concurrency, m.per_second))
            .collect();
        let on = if o.backend == Backend::Sqlite { "" } else { " (set for SQLite; for comparison here)" };
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

/// Replaces the backend's section of `docs/benchmarks.md` (markers added when absent).
fn write_docs(backend: Backend, section: &str) -> Result<std::path::PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join("benchmarks.md");
    let mut doc = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let start = format!("<!-- bench:sales:{}:start -->", backend.name());
    let end = format!("<!-- bench:sales:{}:end -->", backend.name());
    let body = format!("{start}\n{section}{end}");
    match (doc.find(&start), doc.find(&end)) {
        (Some(a), Some(b)) if a < b => doc.replace_range(a..b + end.len(), &body),
        _ => {
            if !doc.ends_with('\n') {
                doc.push('\n');
            }
            doc.push_str(&format!("\n### Sales, {}\n\n{body}\n", backend.name()));
        }
    }
    std::fs::write(&path, doc)?;
    Ok(path)
}

// ---------------------------------------------------------------- main

fn pg_schema_name() -> String {
    format!("bench_{}_{}", std::process::id(), rand::random::<u32>())
}

#[tokio::main]
async fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; no other argument is understood.
    let o = Options::from_env()?;
    let mut config = Config { run_jobs: false, log: "warn".into(), ..Config::default() };
    let mut _dir = None;
    let mut schema = None;
    match o.backend {
        Backend::Sqlite => {
            let folder = match &o.keep_dir {
                Some(d) => {
                    std::fs::create_dir_all(d)?;
                    let f = d.join("carnet.db");
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
                    }
                    d.clone()
                }
                None => {
                    let dir = tempfile::tempdir()?;
                    let p = dir.path().to_path_buf();
                    _dir = Some(dir);
                    p
                }
            };
            config.database_url = format!("sqlite://{}", folder.join("carnet.db").display());
        }
        Backend::Postgres => {
            let s = pg_schema_name();
            config.database_url = o.pg_url.clone().unwrap_or_default();
            config.database_schema = Some(s.clone());
            schema = Some(s);
        }
    }
    eprintln!(
        "carnet sales bench: backend {}, {} customers, {} opportunities, {} s per scenario, concurrency {:?}",
        o.backend.name(),
        o.customers,
        o.opportunities,
        o.seconds,
        o.concurrency
    );
    let clock: SharedClock = Arc::new(SystemClock);
    let outcome = async {
        let state = carnet::app::prepare(config.clone(), clock).await?;
        let now = state.clock.now_ms();
        eprintln!("generating the dataset …");
        let (branches, users) = org(&state.db, now).await.context("org tree")?;
        // The bulk load runs on a dedicated connection; on SQLite with a 1 GiB page cache so
        // that the indexes being filled stay in memory. The server's pool keeps SQLite's defaults.
        let gen = Db::connect(&config.database_url, config.database_schema.as_deref(), 1).await?;
        if gen.backend == carnet::db::Backend::Sqlite {
            sqlx::query("PRAGMA cache_size = -1048576").execute(&gen.pool).await?;
        } else {
            sqlx::query("SET maintenance_work_mem = '256MB'").execute(&gen.pool).await?;
        }
        let generated = generate(&gen, &o, &branches, users, now).await.context("generating the dataset");
        gen.pool.close().await;
        let (data, samples) = generated?;
        eprintln!("  {} rows in {:.1} s: {:.0} rows/s", data.rows(), data.seconds(), data.rows() as f64 / data.seconds());
        let sweep = if o.expiry {
            eprintln!("expiry …");
            Some(expiry_bench(&state, &data, now).await.context("expiry")?)
        } else {
            None
        };
        let mut results = Vec::new();
        if o.load {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let base = format!("http://{}", listener.local_addr()?);
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(carnet::http::serve(state.clone(), listener, async {
                let _ = rx.await;
            }));
            eprintln!("server on {base}; measuring …");
            let r = load(&o, &state, &base, samples).await;
            let _ = tx.send(());
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
            results = r?;
        }
        state.db.pool.close().await;
        let section = report(&o, &config, &data, &results, sweep.as_ref());
        println!("\n{section}");
        let path = write_docs(o.backend, &section)?;
        eprintln!("results written to {}", path.display());
        Ok::<(), anyhow::Error>(())
    }
    .await;
    if let (Some(s), true) = (&schema, env_str("CARNET_BENCH_KEEP_SCHEMA").is_some()) {
        eprintln!("kept schema {s} (CARNET_BENCH_KEEP_SCHEMA): drop it with DROP SCHEMA {s} CASCADE");
        return outcome;
    }
    if let (Some(s), Some(url)) = (schema, o.pg_url.as_deref()) {
        let db = Db::connect(url, None, 1).await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {s} CASCADE")).execute(&db.pool).await?;
        db.pool.close().await;
        eprintln!("dropped schema {s}");
    }
    outcome
}
