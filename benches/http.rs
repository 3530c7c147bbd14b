//! HTTP benchmark of the platform: `cargo bench --bench http`.
//!
//! Generates a large organisation (1 company, 4 regions, 40 branches, 200 teams and
//! `CARNET_BENCH_USERS` users with French names), starts the real Carnet in-process on
//! 127.0.0.1, then measures a few endpoints under a closed-loop load:
//! `CARNET_BENCH_CONCURRENCY` tasks, each with its own HTTP client, each sending its next
//! request as soon as the previous one is answered, for `CARNET_BENCH_SECONDS` per scenario
//! (after a one-second warm-up that is not recorded). Every latency is kept; the report gives
//! requests/s, p50, p99 and the number of errors (any unexpected status or transport error).
//!
//! Options (environment):
//! - `CARNET_BENCH_BACKEND`: `sqlite` (default, a temporary file) or `postgres` (uses
//!   `CARNET_TEST_POSTGRES_URL` or `DATABASE_URL`, in a fresh schema dropped at the end);
//! - `CARNET_BENCH_USERS` (default 100000), `CARNET_BENCH_SECONDS` (default 10),
//!   `CARNET_BENCH_CONCURRENCY` (default 32).
//!
//! The results are printed as a markdown table and written into `docs/benchmarks.md`,
//! between the `<!-- bench:platform:BACKEND:start -->` and `…:end -->` markers.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use carnet::access::Actor;
use carnet::clock::{Clock, SharedClock, SystemClock};
use carnet::config::Config;
use carnet::db::Db;
use carnet::http::AppState;
use reqwest::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};

/// The password of every generated user (hashed once, the hash reused for every row).
const PASSWORD: &str = "bench-password-123";
const ADMIN_EMAIL: &str = "admin.banc@exemple.fr";
const WARMUP: Duration = Duration::from_secs(1);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const USERS_PER_STATEMENT: usize = 1000;
const STATEMENTS_PER_TRANSACTION: usize = 10;
/// A common last-name prefix (Martin, Martinez, Marty…) for the filtered list.
const SEARCH: &str = "mart";

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
    users: usize,
    seconds: u64,
    concurrency: usize,
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| anyhow!("{name}: not a number: {v:?}")),
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
        let o = Options {
            backend,
            pg_url,
            users: env_num("CARNET_BENCH_USERS", 100_000usize)?,
            seconds: env_num("CARNET_BENCH_SECONDS", 10u64)?,
            concurrency: env_num("CARNET_BENCH_CONCURRENCY", 32usize)?,
        };
        if o.users < 100 || o.seconds == 0 || o.concurrency == 0 {
            bail!("CARNET_BENCH_USERS must be at least 100, SECONDS and CONCURRENCY at least 1");
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
    /// Skewed towards the start of the list (frequent names first).
    fn skewed(&mut self, n: usize) -> usize {
        let u = self.unit();
        ((u * u * n as f64) as usize).min(n - 1)
    }
}

const FIRST_NAMES: &[&str] = &[
    "Camille",
    "Léa",
    "Manon",
    "Chloé",
    "Emma",
    "Inès",
    "Sarah",
    "Julie",
    "Marie",
    "Laura",
    "Pauline",
    "Anaïs",
    "Mathilde",
    "Clara",
    "Lucie",
    "Océane",
    "Marine",
    "Élodie",
    "Céline",
    "Nathalie",
    "Isabelle",
    "Sophie",
    "Sandrine",
    "Valérie",
    "Christine",
    "Catherine",
    "Stéphanie",
    "Aurélie",
    "Émilie",
    "Audrey",
    "Charlotte",
    "Juliette",
    "Louise",
    "Alice",
    "Jade",
    "Zoé",
    "Lina",
    "Margaux",
    "Élise",
    "Hélène",
    "Agnès",
    "Brigitte",
    "Françoise",
    "Lucas",
    "Hugo",
    "Thomas",
    "Nicolas",
    "Julien",
    "Alexandre",
    "Maxime",
    "Antoine",
    "Quentin",
    "Romain",
    "Kévin",
    "Clément",
    "Mathieu",
    "Pierre",
    "Guillaume",
    "Sébastien",
    "Jérôme",
    "Christophe",
    "Stéphane",
    "Frédéric",
    "Laurent",
    "Philippe",
    "Olivier",
    "David",
    "Éric",
    "Patrick",
    "Thierry",
    "Vincent",
    "François",
    "Benjamin",
    "Arthur",
    "Louis",
    "Gabriel",
    "Jules",
    "Adam",
    "Raphaël",
    "Léo",
    "Paul",
    "Théo",
    "Baptiste",
    "Yannick",
    "Jean-Marc",
    "Jean-Pierre",
    "Anne-Sophie",
    "Marie-Claire",
];

const LAST_NAMES: &[&str] = &[
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefebvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefèvre",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "François",
    "Legrand",
    "Gauthier",
    "Garcia",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
    "Roussel",
    "Mathieu",
    "Gautier",
    "Masson",
    "Marchand",
    "Duval",
    "Denis",
    "Dumont",
    "Marie",
    "Lemaire",
    "Noël",
    "Meyer",
    "Dufour",
    "Meunier",
    "Brun",
    "Blanchard",
    "Giraud",
    "Joly",
    "Rivière",
    "Lucas",
    "Brunet",
    "Gaillard",
    "Barbier",
    "Arnaud",
    "Martinez",
    "Gérard",
    "Roche",
    "Renard",
    "Schmitt",
    "Roy",
    "Leroux",
    "Colin",
    "Vidal",
    "Caron",
    "Picard",
    "Roger",
    "Fabre",
    "Aubert",
    "Lemoine",
    "Renaud",
    "Dumas",
    "Lacroix",
    "Olivier",
    "Philippe",
    "Bourgeois",
    "Pierre",
    "Benoît",
    "Rey",
    "Leclerc",
    "Payet",
    "Rolland",
    "Leclercq",
    "Guillaume",
    "Lecomte",
    "Lopez",
    "Jean",
    "Dupuy",
    "Guillot",
    "Hubert",
    "Berger",
    "Carpentier",
    "Sanchez",
    "Dupuis",
    "Moulin",
    "Louis",
    "Deschamps",
    "Huet",
    "Vasseur",
    "Perez",
    "Boucher",
    "Fleury",
    "Royer",
    "Klein",
    "Jacquet",
    "Adam",
    "Paris",
    "Poirier",
    "Marty",
    "Aubry",
    "Guyot",
    "Carré",
    "Charles",
    "Renault",
    "Charpentier",
    "Ménard",
    "Maillard",
    "Baron",
    "Bertin",
    "Bailly",
    "Hervé",
    "Schneider",
    "Fernandez",
    "Le Gall",
    "Collet",
    "Léger",
    "Bouvier",
    "Julien",
    "Prévost",
    "Millet",
    "Perrot",
    "Daniel",
    "Le Roux",
    "Cousin",
    "Germain",
    "Breton",
    "Besson",
    "Langlois",
    "Rémy",
    "Le Goff",
    "Pelletier",
    "Lévêque",
    "Perrier",
    "Leblanc",
    "Barré",
    "Lebrun",
    "Marchal",
    "Weber",
    "Mallet",
    "Hamon",
    "Boulanger",
    "Jacob",
    "Monnier",
    "Michaud",
    "Rodriguez",
    "Guichard",
    "Gillet",
    "Étienne",
    "Grondin",
    "Poulain",
    "Tessier",
    "Chevallier",
    "Collin",
    "Chauvin",
    "Da Silva",
    "Bouchet",
    "Gay",
    "Lemaître",
    "Bénard",
    "Humbert",
    "Reynaud",
    "Antoine",
    "Hoarau",
    "Perret",
    "Barthélemy",
    "Cordier",
    "Pichon",
    "Lejeune",
    "Gilbert",
    "Lamy",
    "Delaunay",
    "Pasquier",
    "Carlier",
    "Laporte",
    "N'Diaye",
    "Nguyen",
];

/// Regions and the ten branches (cities) of each.
const REGIONS: &[(&str, [&str; 10])] = &[
    ("Région Nord", ["Lille", "Amiens", "Rouen", "Caen", "Reims", "Arras", "Dunkerque", "Calais", "Valenciennes", "Le Havre"]),
    ("Région Est", ["Strasbourg", "Metz", "Nancy", "Mulhouse", "Dijon", "Besançon", "Colmar", "Troyes", "Épinal", "Belfort"]),
    ("Région Sud", ["Marseille", "Lyon", "Nice", "Montpellier", "Toulon", "Grenoble", "Avignon", "Nîmes", "Perpignan", "Saint-Étienne"]),
    ("Région Ouest", ["Nantes", "Rennes", "Bordeaux", "Brest", "Angers", "Tours", "Le Mans", "La Rochelle", "Poitiers", "Limoges"]),
];

/// Teams of every branch, with the role of their members.
const TEAMS: &[(&str, &str)] = &[
    ("Ventes", "representant"),
    ("BDC", "agent_bdc"),
    ("Support", "agent_support"),
    ("Avant-vente", "avant_vente"),
    ("Technique", "technicien"),
];

/// Lower-case ASCII for email addresses.
fn ascii_slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars().flat_map(char::to_lowercase) {
        match ch {
            'à' | 'â' | 'ä' => out.push('a'),
            'ç' => out.push('c'),
            'é' | 'è' | 'ê' | 'ë' => out.push('e'),
            'î' | 'ï' => out.push('i'),
            'ô' | 'ö' => out.push('o'),
            'ù' | 'û' | 'ü' => out.push('u'),
            'ÿ' => out.push('y'),
            'œ' => out.push_str("oe"),
            ' ' | '\'' => out.push('-'),
            c if c.is_ascii_alphanumeric() || c == '-' => out.push(c),
            _ => {}
        }
    }
    out
}

struct Dataset {
    units: usize,
    users: usize,
    /// Org units and users.
    seconds: f64,
    /// Rows of `search_terms` written by `users::reindex_search`, and its time.
    terms: i64,
    terms_seconds: f64,
}

struct NewUser {
    email: String,
    name: String,
    language: &'static str,
    role_id: i64,
    unit: Option<i64>,
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

async fn insert_users(tx: &mut sqlx::Transaction<'static, sqlx::Any>, hash: &str, now: i64, rows: &[NewUser]) -> Result<()> {
    // $1 and $2 (hash and time) are shared by every row; ids are integers written inline.
    let mut sql = String::with_capacity(rows.len() * 64 + 200);
    sql.push_str(
        "INSERT INTO users (email, name, language, password_hash, role_id, org_unit_id, password_changed_at, created_at, updated_at) VALUES ",
    );
    for (i, u) in rows.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        let unit = u.unit.map(|x| x.to_string()).unwrap_or_else(|| "NULL".into());
        let _ = write!(sql, "(${}, ${}, '{}', $1, {}, {unit}, $2, $2, $2)", 3 + 2 * i, 4 + 2 * i, u.language, u.role_id);
    }
    let mut q = sqlx::query(&sql).bind(hash).bind(now);
    for u in rows {
        q = q.bind(u.email.as_str()).bind(u.name.as_str());
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// The org tree and `n` users, in big multi-row INSERTs inside transactions.
async fn generate(db: &Db, n: usize, now: i64) -> Result<Dataset> {
    let started = Instant::now();
    let hash = carnet::identity::password::hash(PASSWORD)?;
    let roles: Vec<(i64, String)> = sqlx::query_as("SELECT id, code FROM roles").fetch_all(&db.pool).await?;
    let role = |code: &str| roles.iter().find(|(_, c)| c == code).map(|(id, _)| *id).ok_or_else(|| anyhow!("no role {code}"));

    // The sales structure: one transaction, one row at a time (245 rows, ids needed for paths).
    let mut tx = db.pool.begin().await?;
    let (company, company_path) = insert_unit(&mut tx, now, None, "company", "Carnet Distribution").await?;
    let mut branches: Vec<i64> = Vec::new();
    let mut teams: Vec<(i64, i64)> = Vec::new(); // (unit, role)
    for (region, cities) in REGIONS {
        let (rid, rpath) = insert_unit(&mut tx, now, Some((company, &company_path)), "region", region).await?;
        for city in cities {
            let (bid, bpath) = insert_unit(&mut tx, now, Some((rid, &rpath)), "branch", &format!("Agence {city}")).await?;
            branches.push(bid);
            for (team, role_code) in TEAMS {
                let (tid, _) = insert_unit(&mut tx, now, Some((bid, &bpath)), "team", &format!("{city} – {team}")).await?;
                teams.push((tid, role(role_code)?));
            }
        }
    }
    tx.commit().await?;
    let units = 1 + REGIONS.len() * (1 + 10 * (1 + TEAMS.len()));

    let admin = role("administrateur")?;
    let director = role("directeur_ventes")?;
    let mut rng = Rng(0x00C0_FFEE);
    let mut batch: Vec<NewUser> = Vec::with_capacity(USERS_PER_STATEMENT);
    let mut tx = db.pool.begin().await?;
    let mut statements = 0;
    for i in 0..n {
        let first = FIRST_NAMES[rng.below(FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.skewed(LAST_NAMES.len())];
        let name = format!("{first} {last}");
        let language = if rng.below(10) == 0 { "en" } else { "fr" };
        let r = rng.below(1000);
        let (email, role_id, unit) = if i == 0 {
            (ADMIN_EMAIL.to_string(), admin, None)
        } else if r < 2 {
            (format!("{}.{}.{i}@exemple.fr", ascii_slug(first), ascii_slug(last)), admin, None)
        } else if r < 20 {
            let b = branches[rng.below(branches.len())];
            (format!("{}.{}.{i}@exemple.fr", ascii_slug(first), ascii_slug(last)), director, Some(b))
        } else {
            let (t, role_id) = teams[rng.below(teams.len())];
            (format!("{}.{}.{i}@exemple.fr", ascii_slug(first), ascii_slug(last)), role_id, Some(t))
        };
        batch.push(NewUser { email, name, language, role_id, unit });
        if batch.len() == USERS_PER_STATEMENT || i + 1 == n {
            insert_users(&mut tx, &hash, now, &batch).await?;
            batch.clear();
            statements += 1;
            if statements % STATEMENTS_PER_TRANSACTION == 0 || i + 1 == n {
                tx.commit().await?;
                tx = db.pool.begin().await?;
            }
        }
    }
    tx.commit().await?;
    let seconds = started.elapsed().as_secs_f64();
    // Search terms, as `users::create` would have written them.
    let indexing = Instant::now();
    carnet::identity::users::reindex_search(db).await?;
    let terms_seconds = indexing.elapsed().as_secs_f64();
    let terms: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM search_terms").fetch_one(&db.pool).await?;
    // Planner statistics, as a database in service would have them.
    for table in ["org_units", "roles", "role_rights", "users", "search_terms"] {
        sqlx::query(&format!("ANALYZE {table}")).execute(&db.pool).await?;
    }
    Ok(Dataset { units, users: n, seconds, terms, terms_seconds })
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

/// The full login form, as a browser does it: GET /login (the form and its login-CSRF
/// cookie), then POST /login. Returns the session cookie's value.
async fn login(client: &Client, base: &str, email: &str) -> Result<String, String> {
    let page = client.get(format!("{base}/login")).send().await.map_err(|e| format!("GET /login: {e}"))?;
    if page.status() != StatusCode::OK {
        return Err(format!("GET /login: {}", page.status()));
    }
    let csrf_cookie = set_cookie(&page, "carnet_login_csrf").ok_or("GET /login: no login CSRF cookie")?;
    let html = page.text().await.map_err(|e| format!("GET /login body: {e}"))?;
    let field = extract(&html, "name=\"login_csrf\" value=\"").ok_or("GET /login: no login_csrf field")?;
    let resp = client
        .post(format!("{base}/login"))
        .header(COOKIE, format!("carnet_login_csrf={csrf_cookie}"))
        .form(&[("email", email), ("password", PASSWORD), ("login_csrf", &field), ("next", "/")])
        .send()
        .await
        .map_err(|e| format!("POST /login: {e}"))?;
    let status = resp.status();
    let session = set_cookie(&resp, "carnet_session");
    let body = resp.bytes().await.map_err(|e| format!("POST /login body: {e}"))?;
    match (status, session) {
        (StatusCode::SEE_OTHER, Some(s)) => Ok(s),
        (s, _) => Err(format!("POST /login: {s} {}", short(&String::from_utf8_lossy(&body)))),
    }
}

#[derive(Clone)]
enum Auth {
    None,
    Bearer(String),
    Session(String),
}

/// One iteration of a scenario.
#[derive(Clone)]
enum Op {
    /// GET `path`, expecting 200; task `t` uses `auths[t % len]`.
    Get { path: String, auths: Arc<Vec<Auth>> },
    /// A full form login, rotating over `emails`.
    Login { emails: Arc<Vec<String>> },
}

async fn once(client: &Client, base: &str, op: &Op, task: usize, iteration: u64, concurrency: usize) -> Result<(), String> {
    match op {
        Op::Get { path, auths } => {
            let mut rb = client.get(format!("{base}{path}"));
            match &auths[task % auths.len()] {
                Auth::None => {}
                Auth::Bearer(t) => rb = rb.header(AUTHORIZATION, format!("Bearer {t}")),
                Auth::Session(s) => rb = rb.header(COOKIE, format!("carnet_session={s}")),
            }
            let resp = rb.send().await.map_err(|e| format!("{e}"))?;
            let status = resp.status();
            let body = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
            if status != StatusCode::OK {
                return Err(format!("{status} {}", short(&String::from_utf8_lossy(&body))));
            }
            Ok(())
        }
        Op::Login { emails } => {
            let i = (task + iteration as usize * concurrency) % emails.len();
            login(client, base, &emails[i]).await.map(|_| ())
        }
    }
}

// ---------------------------------------------------------------- load generator

#[derive(Default)]
struct TaskResult {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

struct Measure {
    name: &'static str,
    what: &'static str,
    ok: usize,
    errors: u64,
    first_error: Option<String>,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu: CpuShare,
}

// ---------------------------------------------------------------- CPU accounting

/// CPU time (clock ticks) of the whole machine, of this process (server and load generator
/// together) and of the PostgreSQL processes, to tell the measured work from whatever else
/// runs on the machine (other builds and tests).
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
    proc_ticks_with(stat, false)
}

/// The same, plus with `children` the time of its children that ended and were reaped
/// (cutime + cstime).
fn proc_ticks_with(stat: &str, children: bool) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_string();
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let mut ticks = 0;
    for i in if children { 11..15 } else { 11..13 } {
        ticks += fields.get(i)?.parse::<u64>().ok()?;
    }
    Some((comm, ticks))
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
            // With the reaped children of the postmaster: the parallel query workers and the
            // backends that come and go during a window are counted too.
            if let Some((comm, t)) = std::fs::read_to_string(e.path().join("stat")).ok().and_then(|t| proc_ticks_with(&t, true)) {
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
    // A backend that ended during the window leaves its whole time in its parent's
    // children time; never below zero.
    let postgres = b.postgres.saturating_sub(a.postgres) as f64;
    // Threads that ended during the window are missed too (none do: the pool keeps them).
    let sqlite = (b.sqlite.saturating_sub(a.sqlite) as f64).min(this);
    CpuShare {
        app: 100.0 * (this - sqlite) / total,
        database: 100.0 * (sqlite + postgres) / total,
        other: (100.0 * (busy - this - postgres) / total).max(0.0),
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[idx] as f64 / 1000.0
}

/// Runs `op` in a closed loop from `concurrency` tasks for `seconds` (after the warm-up).
/// Only iterations that start and end inside the measured window are recorded.
async fn run(name: &'static str, what: &'static str, base: &str, op: Op, seconds: u64, concurrency: usize) -> Result<Measure> {
    eprintln!("  {name}: {what} …");
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
                if t0 < start || t1 > deadline {
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
    let mut errors = 0;
    let mut first_error = None;
    for h in handles {
        let r = h.await?;
        all.extend(r.latencies_us);
        errors += r.errors;
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    all.sort_unstable();
    let m = Measure {
        name,
        what,
        ok: all.len(),
        errors,
        first_error,
        per_second: all.len() as f64 / window.as_secs_f64(),
        p50_ms: percentile(&all, 50.0),
        p99_ms: percentile(&all, 99.0),
        cpu,
    };
    eprintln!(
        "    {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors; CPU: app+client {:.0} %, database {:.0} %, other {:.0} %",
        m.per_second, m.p50_ms, m.p99_ms, m.errors, m.cpu.app, m.cpu.database, m.cpu.other
    );
    if let Some(e) = &m.first_error {
        eprintln!("    first error: {e}");
    }
    Ok(m)
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

fn report(o: &Options, config: &Config, data: &Dataset, results: &[Measure]) -> String {
    let date = SystemClock.now().format("%Y-%m-%d %H:%M UTC");
    let rows = data.units + data.users;
    let mut s = String::new();
    let _ = writeln!(s, "- date: {date}");
    let _ = writeln!(s, "- machine: {} (the load generator runs on the same cores as the server)", machine());
    let _ = writeln!(s, "- backend: {}, pool of {} connections", o.backend.name(), config.database_max_connections);
    let _ = writeln!(
        s,
        "- dataset: {} users, {} org units; generated in {:.1} s ({:.0} rows/s); then {} search terms by \
         `users::reindex_search` in {:.1} s ({:.0} users/s)",
        data.users,
        data.units,
        data.seconds,
        rows as f64 / data.seconds,
        data.terms,
        data.terms_seconds,
        data.users as f64 / data.terms_seconds
    );
    let _ = writeln!(s, "- load: {} concurrent clients, closed loop, {} s per scenario after 1 s of warm-up", o.concurrency, o.seconds);
    let _ = writeln!(
        s,
        "- CPU: share of the whole machine (all cores = 100 %) used during each measured window by the HTTP server, \
         sqlx and the load generator (this process, less SQLite's threads), by the database engine (SQLite's worker \
         threads, or the PostgreSQL processes) and by anything else running at the time"
    );
    let noisy = results.iter().filter(|m| m.cpu.other > 10.0).count();
    if noisy > 0 {
        let _ = writeln!(
            s,
            "- warning: other processes used more than 10 % of the machine during {noisy} scenario(s); those figures are pessimistic"
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "| scenario | request | requests | requests/s | p50 ms | p99 ms | errors | CPU app+client / database / other |");
    let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for m in results {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {:.0} / {:.0} / {:.0} % |",
            m.name,
            m.what,
            m.ok,
            m.per_second,
            fmt_ms(m.p50_ms),
            fmt_ms(m.p99_ms),
            m.errors,
            m.cpu.app,
            m.cpu.database,
            m.cpu.other
        );
    }
    let errs: Vec<&Measure> = results.iter().filter(|m| m.errors > 0).collect();
    if !errs.is_empty() {
        let _ = writeln!(s);
        for m in errs {
            let _ =
                writeln!(s, "- {}: {} errors; first: `{}`", m.name, m.errors, m.first_error.as_deref().unwrap_or("?").replace('`', "'"));
        }
    }
    s
}

/// Replaces the backend's section of `docs/benchmarks.md` (markers added when absent).
fn write_docs(backend: Backend, section: &str) -> Result<std::path::PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join("benchmarks.md");
    let mut doc = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let start = format!("<!-- bench:platform:{}:start -->", backend.name());
    let end = format!("<!-- bench:platform:{}:end -->", backend.name());
    let body = format!("{start}\n{section}{end}");
    match (doc.find(&start), doc.find(&end)) {
        (Some(a), Some(b)) if a < b => doc.replace_range(a..b + end.len(), &body),
        _ => {
            if !doc.ends_with('\n') {
                doc.push('\n');
            }
            doc.push_str(&format!("\n### {}\n\n{body}\n", backend.name()));
        }
    }
    std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(".")))?;
    std::fs::write(&path, doc)?;
    Ok(path)
}

// ---------------------------------------------------------------- main

async fn user_of_role(db: &Db, role: &str, count: i64) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.email FROM users u JOIN roles r ON r.id = u.role_id WHERE r.code = $1 AND u.email <> $2 ORDER BY u.id LIMIT $3",
    )
    .bind(role)
    .bind(ADMIN_EMAIL)
    .bind(count)
    .fetch_all(&db.pool)
    .await?)
}

async fn bench(o: &Options, state: &AppState, base: &str) -> Result<Vec<Measure>> {
    let db = &state.db;
    let now = state.clock.now_ms();
    let admin_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(ADMIN_EMAIL).fetch_one(&db.pool).await?;

    // A few users of every role with a token and a session each.
    let mut people: Vec<(i64, String)> = Vec::new();
    for role in ["representant", "agent_bdc", "agent_support", "avant_vente", "technicien", "directeur_ventes", "administrateur"] {
        people.extend(user_of_role(db, role, 2).await?);
    }
    let c = client()?;
    let mut tokens = Vec::new();
    let mut sessions = Vec::new();
    for (id, email) in &people {
        tokens.push(Auth::Bearer(carnet::identity::token::create(db, &Actor::system(), now, *id, "bench").await?.1));
        sessions.push(Auth::Session(login(&c, base, email).await.map_err(|e| anyhow!("login {email}: {e}"))?));
    }
    let admin_token = carnet::identity::token::create(db, &Actor::system(), now, admin_id, "bench").await?.1;
    let admin_session = login(&c, base, ADMIN_EMAIL).await.map_err(|e| anyhow!("admin login: {e}"))?;

    // Sanity checks: the list really returns a full page, the search finds people.
    for q in ["", SEARCH] {
        let v: serde_json::Value =
            c.get(format!("{base}/api/v1/users?limit=50&q={q}")).bearer_auth(&admin_token).send().await?.error_for_status()?.json().await?;
        let n = v["items"].as_array().map(Vec::len).unwrap_or(0);
        eprintln!("  /api/v1/users?limit=50&q={q}: {n} users");
        // The whole list is a full page (there are at least 100 users); the search finds some.
        if (q.is_empty() && n != 50) || n == 0 {
            bail!("/api/v1/users?q={q} gave {n} items: {}", short(&v.to_string()));
        }
    }
    let page = c.get(format!("{base}/admin/users")).header(COOKIE, format!("carnet_session={admin_session}")).send().await?;
    if page.status() != StatusCode::OK {
        bail!("/admin/users: {}", page.status());
    }
    eprintln!("  /admin/users page: {} bytes", page.bytes().await?.len());

    let login_emails: Vec<String> = user_of_role(db, "representant", 256).await?.into_iter().map(|(_, e)| e).collect();
    let one = |a: Auth| Arc::new(vec![a]);
    let scenarios: Vec<(&'static str, &'static str, Op)> = vec![
        ("a. health", "GET /healthz (no authentication)", Op::Get { path: "/healthz".into(), auths: one(Auth::None) }),
        ("b. me, token", "GET /api/v1/me, bearer token", Op::Get { path: "/api/v1/me".into(), auths: Arc::new(tokens) }),
        ("c. me, session", "GET /api/v1/me, session cookie", Op::Get { path: "/api/v1/me".into(), auths: Arc::new(sessions) }),
        (
            "d1. users list",
            "GET /api/v1/users?limit=50, admin token",
            Op::Get { path: "/api/v1/users?limit=50".into(), auths: one(Auth::Bearer(admin_token.clone())) },
        ),
        (
            "d2. users search",
            "GET /api/v1/users?limit=50&q=mart, admin token",
            Op::Get { path: format!("/api/v1/users?limit=50&q={SEARCH}"), auths: one(Auth::Bearer(admin_token.clone())) },
        ),
        (
            "d3. users search, no match",
            "GET /api/v1/users?limit=50&q=zzz, admin token (scans every user)",
            Op::Get { path: "/api/v1/users?limit=50&q=zzz".into(), auths: one(Auth::Bearer(admin_token.clone())) },
        ),
        (
            "f. admin users page",
            "GET /admin/users (HTML), admin session",
            Op::Get { path: "/admin/users".into(), auths: one(Auth::Session(admin_session.clone())) },
        ),
        ("e. login", "GET /login + POST /login (argon2id)", Op::Login { emails: Arc::new(login_emails) }),
    ];
    let mut results = Vec::new();
    for (name, what, op) in scenarios {
        results.push(run(name, what, base, op, o.seconds, o.concurrency).await?);
    }
    Ok(results)
}

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
            let dir = tempfile::tempdir()?;
            config.database_url = format!("sqlite://{}", dir.path().join("carnet.db").display());
            _dir = Some(dir);
        }
        Backend::Postgres => {
            let s = pg_schema_name();
            config.database_url = o.pg_url.clone().unwrap_or_default();
            config.database_schema = Some(s.clone());
            schema = Some(s);
        }
    }
    eprintln!(
        "carnet http bench: backend {}, {} users, {} s per scenario, concurrency {}",
        o.backend.name(),
        o.users,
        o.seconds,
        o.concurrency
    );
    let clock: SharedClock = Arc::new(SystemClock);
    let outcome = async {
        let state = carnet::app::prepare(config.clone(), clock).await?;
        eprintln!("generating the dataset …");
        let data = generate(&state.db, o.users, state.clock.now_ms()).await.context("generating the dataset")?;
        eprintln!(
            "  {} org units and {} users in {:.2} s: {:.0} rows/s; {} search terms in {:.2} s",
            data.units,
            data.users,
            data.seconds,
            (data.units + data.users) as f64 / data.seconds,
            data.terms,
            data.terms_seconds
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(carnet::http::serve(state.clone(), listener, async {
            let _ = rx.await;
        }));
        eprintln!("server on {base}; measuring …");
        let results = bench(&o, &state, &base).await;
        let _ = tx.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        state.db.pool.close().await;
        let results = results?;
        let section = report(&o, &config, &data, &results);
        println!("\n{section}");
        let path = write_docs(o.backend, &section)?;
        eprintln!("results written to {}", path.display());
        Ok::<(), anyhow::Error>(())
    }
    .await;
    if let (Some(s), Some(url)) = (schema, o.pg_url.as_deref()) {
        let db = Db::connect(url, None, 1).await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {s} CASCADE")).execute(&db.pool).await?;
        db.pool.close().await;
        eprintln!("dropped schema {s}");
    }
    outcome
}
