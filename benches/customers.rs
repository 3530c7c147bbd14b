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
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use carnet::access::Actor;
use carnet::clock::{Clock, SharedClock, SystemClock};
use carnet::config::Config;
use carnet::customers::{import, store, CustomerForm};
use carnet::db::Db;
use carnet::http::AppState;
use reqwest::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};

const PASSWORD: &str = "bench-password-123";
const ADMIN_EMAIL: &str = "admin.banc@exemple.ca";
const WARMUP: Duration = Duration::from_secs(1);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CUSTOMERS_PER_STATEMENT: usize = 1000;
const CONTACTS_PER_STATEMENT: usize = 2000;
const TERMS_PER_STATEMENT: usize = 10_000;
const STATEMENTS_PER_TRANSACTION: usize = 10;
/// Representatives per branch (customers' owners).
const REPS_PER_BRANCH: usize = 10;
/// Distinct lookup values and paths per scenario.
const SAMPLES: usize = 20_000;
/// Targets of the customers issue.
const TARGET_P99_MS: f64 = 20.0;
const TARGET_IMPORT_ROWS_PER_S: f64 = 20_000.0;
/// Sequential single-client requests before each loaded scenario (at most this long).
const ALONE: Duration = Duration::from_secs(3);
const ALONE_REQUESTS: usize = 30;
/// Rows per transaction of the import job (`customers::import::CHUNK`).
const IMPORT_CHUNK: usize = 500;

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
    contacts: usize,
    import_rows: usize,
    seconds: u64,
    /// Each scenario runs once per concurrency level.
    concurrency: Vec<usize>,
    load: bool,
    import: bool,
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
        let parts = env_str("CARNET_BENCH_PARTS").unwrap_or_else(|| "load,import".into());
        let parts: Vec<&str> = parts.split(',').map(str::trim).collect();
        if let Some(p) = parts.iter().find(|p| !["load", "import", "generate"].contains(p)) {
            bail!("CARNET_BENCH_PARTS: unknown part {p:?} (load, import, or generate for the dataset alone)");
        }
        let o = Options {
            backend,
            pg_url,
            customers,
            contacts: env_num("CARNET_BENCH_CONTACTS", 2 * customers)?,
            import_rows: env_num("CARNET_BENCH_IMPORT_ROWS", 100_000usize)?,
            seconds: env_num("CARNET_BENCH_SECONDS", 10u64)?,
            concurrency: env_str("CARNET_BENCH_CONCURRENCY")
                .unwrap_or_else(|| "8,32".into())
                .split(',')
                .map(|c| c.trim().parse::<usize>().map_err(|_| anyhow!("CARNET_BENCH_CONCURRENCY: not a list of numbers: {c:?}")))
                .collect::<Result<Vec<_>>>()?,
            load: parts.contains(&"load"),
            import: parts.contains(&"import"),
            keep_dir: env_str("CARNET_BENCH_KEEP_DIR").map(std::path::PathBuf::from),
        };
        if o.customers < 1000 || o.import_rows < 100 || o.seconds == 0 || o.concurrency.is_empty() || o.concurrency.contains(&0) {
            bail!("CARNET_BENCH_CUSTOMERS must be at least 1000, IMPORT_ROWS 100, SECONDS and CONCURRENCY 1");
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
const EMAIL_DOMAINS: &[&str] =
    &["videotron.ca", "gmail.com", "hotmail.com", "outlook.com", "bell.net", "yahoo.ca", "sympatico.ca", "icloud.com", "cgocable.ca"];
const AREA_CODES: &[u32] = &[514, 438, 450, 579, 418, 581, 819, 873];
const NOTES: &[&str] = &[
    "Préfère être appelé en soirée.",
    "Intéressé par un VUS hybride ; rappeler au printemps.",
    "Client depuis 2009, très fidèle.",
    "Parle anglais au téléphone, français par courriel.",
    "Facturation au nom de l'entreprise.",
];

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

/// Reservoir samples of what was generated, for the lookups, the import and the checks.
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

struct Branch {
    id: i64,
    city: &'static str,
    postal: &'static str,
    reps: Vec<i64>,
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

impl Dataset {
    fn rows(&self) -> usize {
        self.customers + self.contacts + self.terms
    }
    fn seconds(&self) -> f64 {
        self.customers_s + self.contacts_s + self.analyze_s
    }
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

fn new_customer(rng: &mut Rng, i: usize, branches: &[Branch], now: i64) -> NewCustomer {
    // Branches of very different sizes: Montréal-Centre and Laval are the big ones.
    let b = &branches[rng.skewed(branches.len())];
    let owner = if rng.chance(0.05) { None } else { Some(*rng.pick(&b.reps)) };
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

async fn insert_customers(tx: &mut sqlx::Transaction<'static, sqlx::Any>, rows: &[NewCustomer]) -> Result<Vec<i64>> {
    let mut sql = String::with_capacity(rows.len() * 260 + 300);
    sql.push_str(
        "INSERT INTO customers (kind, civility, first_name, last_name, company_name, display_name, email, phone, mobile, address, \
         language, branch_id, owner_id, notes, particularities, created_at, updated_at) VALUES ",
    );
    for (i, c) in rows.iter().enumerate() {
        sql.push_str(if i > 0 { ", (" } else { "(" });
        sql.push_str(if c.company { "'company', " } else { "'person', " });
        for v in [c.civility, Some(&c.first), Some(&c.last), Some(&c.company_name), Some(&c.display)] {
            lit(&mut sql, v);
            sql.push_str(", ");
        }
        for v in [&c.email, &c.phone, &c.mobile] {
            lit(&mut sql, v.as_deref());
            sql.push_str(", ");
        }
        lit(&mut sql, Some(&c.address));
        let owner = c.owner.map(|x| x.to_string()).unwrap_or_else(|| "NULL".into());
        let _ = write!(sql, ", '{}', {}, {owner}, ", c.language, c.branch);
        lit(&mut sql, Some(c.notes));
        let _ = write!(sql, ", '{}', {}, {})", c.particularities, c.created_at, c.created_at);
    }
    sql.push_str(" RETURNING id");
    let mut ids: Vec<i64> = sqlx::query_scalar(&sql).persistent(false).fetch_all(&mut **tx).await?;
    // Both engines number the rows of a multi-row INSERT in order; make sure.
    ids.sort_unstable();
    if ids.len() != rows.len() || ids.last().zip(ids.first()).map(|(l, f)| l - f + 1) != Some(rows.len() as i64) {
        bail!("customer ids of a multi-row INSERT are not consecutive");
    }
    Ok(ids)
}

async fn insert_terms(tx: &mut sqlx::Transaction<'static, sqlx::Any>, terms: &[(i64, String)]) -> Result<()> {
    for chunk in terms.chunks(TERMS_PER_STATEMENT) {
        let mut sql = String::with_capacity(chunk.len() * 40 + 100);
        sql.push_str("INSERT INTO search_terms (entity_type, entity_id, term) VALUES ");
        for (i, (id, t)) in chunk.iter().enumerate() {
            let _ = write!(sql, "{}('customer', {id}, ", if i > 0 { ", " } else { "" });
            lit(&mut sql, Some(t));
            sql.push(')');
        }
        sqlx::query(&sql).persistent(false).execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_contacts(tx: &mut sqlx::Transaction<'static, sqlx::Any>, rows: &[NewContact]) -> Result<()> {
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
    sqlx::query(&sql).persistent(false).execute(&mut **tx).await?;
    Ok(())
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
    let started = Instant::now();
    let mut companies: Vec<Company> = Vec::new();
    let mut terms_total = 0usize;
    let mut batch: Vec<NewCustomer> = Vec::with_capacity(CUSTOMERS_PER_STATEMENT);
    let mut tx = gen.begin().await?;
    let mut statements = 0;
    let mut last_report = Instant::now();
    for i in 0..n {
        batch.push(new_customer(&mut rng, i, branches, now));
        if batch.len() < CUSTOMERS_PER_STATEMENT && i + 1 < n {
            continue;
        }
        let ids = insert_customers(&mut tx, &batch).await?;
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
        insert_terms(&mut tx, &terms).await?;
        batch.clear();
        statements += 1;
        if statements % STATEMENTS_PER_TRANSACTION == 0 || i + 1 == n {
            tx.commit().await?;
            tx = gen.begin().await?;
            if last_report.elapsed() > Duration::from_secs(15) {
                last_report = Instant::now();
                let s = started.elapsed().as_secs_f64();
                eprintln!("    {} customers, {terms_total} terms in {s:.0} s ({:.0} rows/s)", i + 1, (i + 1 + terms_total) as f64 / s);
            }
        }
    }
    tx.commit().await?;
    let customers_s = started.elapsed().as_secs_f64();
    eprintln!(
        "  {n} customers ({} companies) and {terms_total} search terms in {customers_s:.1} s: {:.0} rows/s",
        companies.len(),
        (n + terms_total) as f64 / customers_s
    );

    // Contacts of the companies: each contact goes to a random company (about 14 each on
    // average, Poisson-like), inserted company by company as they would be typed in.
    let started = Instant::now();
    let mut counts = vec![0u32; companies.len()];
    for _ in 0..o.contacts {
        counts[rng.below(companies.len())] += 1;
    }
    let mut batch: Vec<NewContact> = Vec::with_capacity(CONTACTS_PER_STATEMENT);
    let mut tx = gen.begin().await?;
    let mut statements = 0;
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
            insert_contacts(&mut tx, &batch).await?;
            batch.clear();
            statements += 1;
            if statements % STATEMENTS_PER_TRANSACTION == 0 || done == o.contacts {
                tx.commit().await?;
                tx = gen.begin().await?;
                if last_report.elapsed() > Duration::from_secs(15) {
                    last_report = Instant::now();
                    let s = started.elapsed().as_secs_f64();
                    eprintln!("    {done} contacts in {s:.0} s ({:.0} rows/s)", done as f64 / s);
                }
            }
        }
    }
    tx.commit().await?;
    let contacts_s = started.elapsed().as_secs_f64();
    eprintln!("  {} contacts in {contacts_s:.1} s: {:.0} rows/s", o.contacts, o.contacts as f64 / contacts_s);

    // Planner statistics, as a database in service would have them; on PostgreSQL also the
    // visibility map (autovacuum would otherwise start in the middle of the measures).
    let started = Instant::now();
    let tables = ["org_units", "roles", "role_rights", "users", "customers", "contacts", "search_terms", "settings", "value_list_items"];
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

// ---------------------------------------------------------------- HTTP helpers

fn client() -> Result<Client> {
    Ok(Client::builder().redirect(Policy::none()).timeout(REQUEST_TIMEOUT).build()?)
}

fn extract(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix(prefix.as_str()))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
        .find(|v| !v.is_empty())
}

fn short(body: &str) -> String {
    body.chars().take(160).collect::<String>().replace('\n', " ")
}

/// The full login form, as a browser does it. Returns the session cookie's value.
async fn login(client: &Client, base: &str, email: &str) -> Result<String> {
    let page = client.get(format!("{base}/login")).send().await?;
    let csrf_cookie = set_cookie(&page, "carnet_login_csrf").ok_or_else(|| anyhow!("GET /login: no login CSRF cookie"))?;
    let html = page.text().await?;
    let field = extract(&html, "name=\"login_csrf\" value=\"").ok_or_else(|| anyhow!("GET /login: no login_csrf field"))?;
    let resp = client
        .post(format!("{base}/login"))
        .header(COOKIE, format!("carnet_login_csrf={csrf_cookie}"))
        .form(&[("email", email), ("password", PASSWORD), ("login_csrf", &field), ("next", "/")])
        .send()
        .await?;
    let status = resp.status();
    match (status, set_cookie(&resp, "carnet_session")) {
        (StatusCode::SEE_OTHER, Some(s)) => Ok(s),
        (s, _) => bail!("POST /login: {s} {}", short(&resp.text().await.unwrap_or_default())),
    }
}

#[derive(Clone)]
enum Auth {
    Bearer(String),
    Session(String),
}

/// One scenario: GET `paths[i]` (rotating) with `auths[task % len]`, expecting 200 and, when
/// `non_empty`, at least one item in the JSON list.
#[derive(Clone)]
struct Op {
    paths: Arc<Vec<String>>,
    auths: Arc<Vec<Auth>>,
    non_empty: bool,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn once(client: &Client, base: &str, op: &Op, task: usize, iteration: u64, concurrency: usize) -> Result<(), String> {
    let path = &op.paths[(task + iteration as usize * concurrency) % op.paths.len()];
    let mut rb = client.get(format!("{base}{path}"));
    match &op.auths[task % op.auths.len()] {
        Auth::Bearer(t) => rb = rb.header(AUTHORIZATION, format!("Bearer {t}")),
        Auth::Session(s) => rb = rb.header(COOKIE, format!("carnet_session={s}")),
    }
    let resp = rb.send().await.map_err(|e| format!("{e}"))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
    if status != StatusCode::OK {
        return Err(format!("{status} {}", short(&String::from_utf8_lossy(&body))));
    }
    if op.non_empty && contains(&body[..body.len().min(32)], b"\"items\":[]") {
        return Err(format!("nothing found: {path}"));
    }
    Ok(())
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
}

struct Measure {
    name: &'static str,
    what: String,
    concurrency: usize,
    ok: usize,
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
                    Ok(()) => r.latencies_us.push((t1 - t0).as_micros().min(u32::MAX as u128) as u32),
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
    let (mut errors, mut late, mut first_error, mut answered) = (0, 0, None, 0);
    for h in handles {
        let r = h.await?;
        answered += r.answered;
        all.extend(r.latencies_us);
        errors += r.errors;
        late += r.late;
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    all.sort_unstable();
    let m = Measure {
        name,
        what,
        concurrency,
        ok: all.len(),
        errors,
        first_error,
        late,
        answered,
        per_second: answered as f64 / window.as_secs_f64(),
        p50_ms: percentile(&all, 50.0),
        p99_ms: percentile(&all, 99.0),
        alone_ms,
        cpu,
    };
    eprintln!(
        "    {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors, {} late; alone {:.2} ms; CPU: app+client {:.0} %, database {:.0} %, other {:.0} %",
        m.per_second, m.p50_ms, m.p99_ms, m.errors, m.late, m.alone_ms, m.cpu.app, m.cpu.database, m.cpu.other
    );
    if let Some(e) = &m.first_error {
        eprintln!("    first error: {e}");
    }
    Ok(m)
}

// ---------------------------------------------------------------- CPU accounting

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

async fn get_json(c: &Client, base: &str, path: &str, auth: &str) -> Result<serde_json::Value> {
    let resp = c.get(format!("{base}{path}")).bearer_auth(auth).send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    if status != StatusCode::OK {
        bail!("{path}: {status} {}", short(&text));
    }
    Ok(serde_json::from_str(&text)?)
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
    let mut results = Vec::new();
    for (name, what, op) in scenarios {
        let alone_ms = alone(base, &op).await?;
        for c in &o.concurrency {
            results.push(run(name, what.clone(), base, op.clone(), o.seconds, *c, alone_ms).await?);
        }
    }
    Ok(results)
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

async fn timed<T, F: std::future::Future<Output = Result<T>>>(f: F) -> Result<(T, f64, CpuShare)> {
    let cpu0 = cpu_sample();
    let t0 = Instant::now();
    let v = f.await?;
    let s = t0.elapsed().as_secs_f64();
    Ok((v, s, cpu_share(cpu0, cpu_sample())))
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
    let (report, dry_s, dry_cpu) = timed(async { Ok(import::dry_run(db, admin_id, imp.id, mapping).await?) }).await.context("dry run")?;
    let dry = Counts { created: report.created, merged: report.merged, rejected: report.rejected };
    eprintln!(
        "  dry run: {dry_s:.2} s, {:.0} rows/s: {} create, {} merge, {} reject",
        rows.len() as f64 / dry_s,
        dry.created,
        dry.merged,
        dry.rejected
    );
    import::start(db, admin_id, imp.id, now).await?;
    let ctx = carnet::jobs::JobContext { db: db.clone(), clock: state.clock.clone(), config: state.config.clone() };
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
            what: "`import::run` (the job body): chunks of 500 rows per transaction, customers, search terms, history",
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
                "INSERT INTO customers (kind, civility, first_name, last_name, company_name, display_name, email, phone, mobile, address, \
                 language, branch_id, owner_id, notes, particularities, created_at, updated_at) VALUES ",
            );
            for (i, r) in part.iter().enumerate() {
                q.push(if i == 0 { "(" } else { ", (" });
                let vals: [carnet::db::sql::Arg; 17] = [
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

fn report(o: &Options, config: &Config, data: &Dataset, load: &[Measure], imp: Option<&ImportResult>) -> String {
    let date = SystemClock.now().format("%Y-%m-%d %H:%M UTC");
    let mut s = String::new();
    let _ = writeln!(s, "- date: {date}");
    let _ = writeln!(s, "- machine: {} (the load generator runs on the same cores as the server)", machine());
    let _ = writeln!(s, "- backend: {}, pool of {} connections", o.backend.name(), config.database_max_connections);
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
        if o.backend == Backend::Sqlite { "ANALYZE and WAL checkpoint" } else { "VACUUM (ANALYZE)" },
        data.analyze_s
    );
    if !load.is_empty() {
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
             requests both sent and answered in the window (\"> {} s\" when none was); \"late\": requests sent in the window and \
             answered after it; \"1 client\": p50 of up to {ALONE_REQUESTS} sequential requests from a single client just before the \
             loaded run",
            o.seconds, o.seconds
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
        // Nothing answered inside the window: every request took longer than the window.
        let lat = |m: &Measure, v: f64| if m.ok == 0 && m.errors == 0 { format!("> {} s", o.seconds) } else { fmt_ms(v) };
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
                lat(m, m.p50_ms),
                lat(m, m.p99_ms),
                m.errors,
                m.late,
                fmt_ms(m.alone_ms),
                m.cpu.app,
                m.cpu.database,
                m.cpu.other
            );
        }
        let errs: Vec<&Measure> = load.iter().filter(|m| m.errors > 0).collect();
        if !errs.is_empty() {
            let _ = writeln!(s);
            for m in errs {
                let _ = writeln!(
                    s,
                    "- {}: {} errors; first: `{}`",
                    m.name,
                    m.errors,
                    m.first_error.as_deref().unwrap_or("?").replace('`', "'")
                );
            }
        }
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
                let (ok, shown) = if m.ok == 0 {
                    (false, format!("more than {} s", o.seconds))
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
    if o.backend == Backend::Sqlite {
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

/// Replaces the backend's section of `docs/benchmarks.md` (markers added when absent).
fn write_docs(backend: Backend, section: &str) -> Result<std::path::PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join("benchmarks.md");
    let mut doc = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let start = format!("<!-- bench:customers:{}:start -->", backend.name());
    let end = format!("<!-- bench:customers:{}:end -->", backend.name());
    let body = format!("{start}\n{section}{end}");
    match (doc.find(&start), doc.find(&end)) {
        (Some(a), Some(b)) if a < b => doc.replace_range(a..b + end.len(), &body),
        _ => {
            if !doc.ends_with('\n') {
                doc.push('\n');
            }
            doc.push_str(&format!("\n### Customers, {}\n\n{body}\n", backend.name()));
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
        "carnet customers bench: backend {}, {} customers, {} contacts, import of {} rows, {} s per scenario, concurrency {:?}",
        o.backend.name(),
        o.customers,
        o.contacts,
        o.import_rows,
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
        // that the indexes being filled in random order (search terms, emails, phones) stay in
        // memory. The server's pool keeps SQLite's defaults.
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
        let mut results = Vec::new();
        if o.load {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let base = format!("http://{}", listener.local_addr()?);
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(carnet::http::serve(state.clone(), listener, async {
                let _ = rx.await;
            }));
            eprintln!("server on {base}; measuring …");
            let r = load(&o, &state, &base, &samples).await;
            let _ = tx.send(());
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
            results = r?;
        }
        let imp = if o.import {
            eprintln!("CSV import …");
            Some(import_bench(&o, &state, &samples, &branches).await.context("import")?)
        } else {
            None
        };
        state.db.pool.close().await;
        let section = report(&o, &config, &data, &results, imp.as_ref());
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
