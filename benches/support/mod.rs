//! What the benchmarks share (`#[path = "support/mod.rs"] mod support;` in each bench):
//! options read from `CARNET_BENCH_*`, a deterministic generator and name lists, the sales
//! structure of 16 branches in 4 regions, bulk `INSERT`s written as literals, the database
//! of a run (a temporary SQLite file or a fresh PostgreSQL schema) and the in-process
//! server, the closed-loop load generator with its CPU accounting, and the markdown report
//! written into `docs/benchmarks.md`. Each bench uses a part of it.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use carnet::clock::{Clock, SharedClock, SystemClock};
use carnet::config::Config;
use carnet::db::{Db, Tx};
use carnet::http::AppState;
use reqwest::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, RequestBuilder, StatusCode};

/// The password of every generated user who logs in (hashed once, reused).
pub const PASSWORD: &str = "bench-password-123";
pub const ADMIN_EMAIL: &str = "admin.banc@exemple.ca";
/// Unrecorded first second of every loaded run.
pub const WARMUP: Duration = Duration::from_secs(1);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Multi-row statements per transaction of the bulk load.
pub const STATEMENTS_PER_TRANSACTION: usize = 10;
/// Sequential single-client requests before each loaded scenario (at most this long).
pub const ALONE: Duration = Duration::from_secs(3);
pub const ALONE_REQUESTS: usize = 30;

// ---------------------------------------------------------------- options

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

pub fn env_num<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().replace('_', "").parse().map_err(|_| anyhow!("{name}: not a number: {v:?}")),
        _ => Ok(default),
    }
}

pub fn env_str(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|s| !s.trim().is_empty())
}

/// The options every bench reads: `CARNET_BENCH_BACKEND` (with `CARNET_TEST_POSTGRES_URL` or
/// `DATABASE_URL`), `CARNET_BENCH_SECONDS`, `CARNET_BENCH_CONCURRENCY` and `CARNET_BENCH_KEEP_DIR`.
pub struct Common {
    pub backend: Backend,
    pub pg_url: Option<String>,
    pub seconds: u64,
    /// Each scenario runs once per concurrency level.
    pub concurrency: Vec<usize>,
    pub keep_dir: Option<PathBuf>,
}

impl Common {
    pub fn from_env(default_concurrency: &str) -> Result<Common> {
        let backend = match env_str("CARNET_BENCH_BACKEND").as_deref().unwrap_or("sqlite") {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" | "pg" => Backend::Postgres,
            other => bail!("CARNET_BENCH_BACKEND: expected sqlite or postgres, got {other:?}"),
        };
        let pg_url = env_str("CARNET_TEST_POSTGRES_URL").or_else(|| env_str("DATABASE_URL"));
        if backend == Backend::Postgres && pg_url.is_none() {
            bail!("CARNET_BENCH_BACKEND=postgres needs CARNET_TEST_POSTGRES_URL or DATABASE_URL");
        }
        Ok(Common {
            backend,
            pg_url,
            seconds: env_num("CARNET_BENCH_SECONDS", 10u64)?,
            concurrency: env_str("CARNET_BENCH_CONCURRENCY")
                .unwrap_or_else(|| default_concurrency.into())
                .split(',')
                .map(|c| c.trim().parse::<usize>().map_err(|_| anyhow!("CARNET_BENCH_CONCURRENCY: not a list of numbers: {c:?}")))
                .collect::<Result<Vec<_>>>()?,
            keep_dir: env_str("CARNET_BENCH_KEEP_DIR").map(PathBuf::from),
        })
    }
}

// ---------------------------------------------------------------- generator

/// A small deterministic generator (splitmix64): the same dataset at every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Skewed towards the start of the list (frequent names first): the first of 150 names
    /// is drawn about 3.5 % of the time, the 50th 0.4 %.
    pub fn skewed(&mut self, n: usize) -> usize {
        ((self.unit().powf(1.5) * n as f64) as usize).min(n - 1)
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One of `items` drawn by its weight (the weights add up to 1000).
pub fn weighted(rng: &mut Rng, items: &[(&'static str, u32)]) -> &'static str {
    let mut x = rng.below(1000) as u32;
    for (v, w) in items {
        if x < *w {
            return v;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

/// A uniform sample of at most `cap` of the items offered.
pub struct Reservoir<T> {
    pub items: Vec<T>,
    seen: u64,
    cap: usize,
    rng: Rng,
}

impl<T> Reservoir<T> {
    pub fn new(cap: usize, seed: u64) -> Self {
        Reservoir { items: Vec::with_capacity(cap), seen: 0, cap, rng: Rng(seed) }
    }
    pub fn offer(&mut self, make: impl FnOnce() -> T) {
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

/// First names, and whether the civility is "mme".
pub const FIRST_NAMES: &[(&str, bool)] = &[
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
pub const LAST_NAMES: &[&str] = &[
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
pub const REGIONS: &[(&str, [(&str, &str); 4])] = &[
    ("Région Montréal", [("Montréal-Centre", "H2X"), ("Anjou", "H1K"), ("Saint-Laurent", "H4N"), ("Verdun", "H4G")]),
    ("Région Laval–Rive-Nord", [("Laval", "H7N"), ("Terrebonne", "J6W"), ("Saint-Jérôme", "J7Z"), ("Blainville", "J7C")]),
    ("Région Rive-Sud", [("Longueuil", "J4K"), ("Brossard", "J4Z"), ("Saint-Hyacinthe", "J2S"), ("Granby", "J2G")]),
    ("Région Québec–Est", [("Québec", "G1R"), ("Lévis", "G6V"), ("Sherbrooke", "J1H"), ("Trois-Rivières", "G9A")]),
];

pub const STREETS: &[&str] = &[
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

pub const EMAIL_DOMAINS: &[&str] =
    &["videotron.ca", "gmail.com", "hotmail.com", "outlook.com", "bell.net", "yahoo.ca", "sympatico.ca", "icloud.com", "cgocable.ca"];
pub const AREA_CODES: &[u32] = &[514, 438, 450, 579, 418, 581, 819, 873];

/// Lower-case ASCII for email addresses and domains.
pub fn ascii_slug(s: &str) -> String {
    carnet::search::fold(s).chars().map(|c| if c == ' ' { '-' } else { c }).filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect()
}

/// Phone numbers: a bijection of slot numbers onto 64 million NANP numbers (8 area codes ×
/// 800 exchanges × 10 000 lines), scattered so that consecutive slots are far apart.
pub const PHONE_SPACE: u64 = 8 * 800 * 10_000;

pub fn phone(slot: u64) -> String {
    let k = (slot.wrapping_mul(2_654_435_761).wrapping_add(12_345)) % PHONE_SPACE;
    let area = AREA_CODES[(k % 8) as usize];
    let exchange = 200 + (k / 8) % 800;
    let line = k / 6400;
    format!("+1{area}{exchange:03}{line:04}")
}

/// A stored E.164 number as someone would type it.
pub fn typed_phone(e164: &str, style: usize) -> String {
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
pub fn typed_email(email: &str, style: usize) -> String {
    match style % 3 {
        0 => email.to_string(),
        1 => {
            let mut cs = email.chars();
            cs.next().map(|c| c.to_ascii_uppercase().to_string() + cs.as_str()).unwrap_or_default()
        }
        _ => email.to_uppercase(),
    }
}

pub fn postal(rng: &mut Rng, prefix: &str) -> String {
    let l = |rng: &mut Rng| (b'A' + rng.below(26) as u8) as char;
    format!("{prefix} {}{}{}", rng.below(10), l(rng), rng.below(10))
}

// ---------------------------------------------------------------- the sales structure

/// Users of one kind in every branch: in a team of the branch named "{city} – {team}", or
/// attached to the branch itself (`team: None`).
pub struct Team {
    pub team: Option<&'static str>,
    pub role: &'static str,
    pub members: usize,
    /// Whether they get the shared password (to log in through the form).
    pub login: bool,
}

pub struct Branch {
    pub id: i64,
    pub city: &'static str,
    pub postal: &'static str,
    /// The unit of each [`Team`] (its team, or the branch), in the order given to [`org`].
    pub units: Vec<i64>,
    /// The users of each [`Team`], in the order given to [`org`].
    pub staff: Vec<Vec<i64>>,
}

impl Branch {
    /// The users of the first team (the representatives, in the sales structure).
    pub fn reps(&self) -> &[i64] {
        &self.staff[0]
    }
}

pub async fn insert_unit(tx: &mut Tx, now: i64, parent: Option<(i64, &str)>, kind: &str, name: &str) -> Result<(i64, String)> {
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

/// A user row of the bulk load, as `identity::users::create` writes it (its folded name
/// included); `hash` is the shared password's, for those who log in.
pub struct UserRow<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub language: &'a str,
    pub hash: Option<&'a str>,
    pub role: i64,
    pub unit: Option<i64>,
}

/// Inserts users in one multi-row statement; their ids in row order.
pub async fn insert_users(tx: &mut Tx, now: i64, rows: &[UserRow<'_>]) -> Result<Vec<i64>> {
    let mut sql = String::with_capacity(rows.len() * 200 + 200);
    sql.push_str(
        "INSERT INTO users (sort_key, email, name, language, password_hash, role_id, org_unit_id, password_changed_at, created_at, \
         updated_at) VALUES ",
    );
    for (i, u) in rows.iter().enumerate() {
        sql.push_str(if i > 0 { ", (" } else { "(" });
        // The folded name the list sorts by, as identity::users writes it.
        for v in [Some(carnet::search::sort_key(u.name).as_str()), Some(u.email), Some(u.name), Some(u.language), u.hash] {
            lit(&mut sql, v);
            sql.push_str(", ");
        }
        let _ = write!(sql, "{}, {}, {now}, {now}, {now})", u.role, opt(u.unit));
    }
    insert_ids(tx, sql, rows.len(), "user").await
}

pub async fn insert_user(tx: &mut Tx, now: i64, email: &str, name: &str, hash: Option<&str>, role: i64, unit: Option<i64>) -> Result<i64> {
    let ids = insert_users(tx, now, &[UserRow { email, name, language: "fr", hash, role, unit }]).await?;
    ids.first().copied().ok_or_else(|| anyhow!("no user inserted"))
}

/// The built-in roles' ids by code.
pub struct Roles(Vec<(i64, String)>);

impl Roles {
    pub async fn load(db: &Db) -> Result<Roles> {
        Ok(Roles(sqlx::query_as("SELECT id, code FROM roles").fetch_all(&db.pool).await?))
    }
    pub fn id(&self, code: &str) -> Result<i64> {
        self.0.iter().find(|(_, c)| c == code).map(|(id, _)| *id).ok_or_else(|| anyhow!("no role {code}"))
    }
}

/// The sales structure: 1 company, 4 regions, 16 branches with the `teams` each, and the
/// administrator (`ADMIN_EMAIL`, `PASSWORD`). Returns the branches and the number of users.
pub async fn org(db: &Db, now: i64, teams: &[Team]) -> Result<(Vec<Branch>, usize)> {
    let hash = carnet::identity::password::hash(PASSWORD)?;
    let roles = Roles::load(db).await?;
    let role = |code: &str| roles.id(code);
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
            let mut units: Vec<i64> = Vec::new();
            for t in teams {
                units.push(match t.team {
                    Some(name) => insert_unit(&mut tx, now, Some((bid, &bpath)), "team", &format!("{city} – {name}")).await?.0,
                    None => bid,
                });
            }
            let mut staff = Vec::new();
            let mut k = 0;
            for (t, &unit) in teams.iter().zip(&units) {
                let mut members = Vec::new();
                for _ in 0..t.members {
                    let first = rng.pick(FIRST_NAMES).0;
                    let last = LAST_NAMES[rng.skewed(LAST_NAMES.len())];
                    let email = format!("{}.{}.{}{k}@carnet-distribution.ca", ascii_slug(first), ascii_slug(last), ascii_slug(city));
                    let name = format!("{first} {last}");
                    let pw = t.login.then_some(hash.as_str());
                    members.push(insert_user(&mut tx, now, &email, &name, pw, role(t.role)?, Some(unit)).await?);
                    users += 1;
                    k += 1;
                }
                staff.push(members);
            }
            branches.push(Branch { id: bid, city, postal, units, staff });
        }
    }
    tx.commit().await?;
    Ok((branches, users))
}

// ---------------------------------------------------------------- bulk load

// The bulk INSERTs write their values as literals rather than bound parameters: sqlx binds
// SQLite parameters by name, looking each `$N` up among all the statement's parameters, which
// is quadratic and took 85 % of the time with 10 000 parameters per statement. Every value is
// generated by the benches (no outside input) and quoted by `lit`.

/// A SQL string literal (quotes doubled; valid on both backends), or NULL.
pub fn lit(out: &mut String, v: Option<&str>) {
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

/// An integer literal, or NULL.
pub fn opt(v: Option<i64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "NULL".into())
}

/// A customer row of the bulk load, as `customers::store::create` writes it (its folded
/// name included).
pub struct CustomerRow<'a> {
    pub company: bool,
    pub civility: Option<&'a str>,
    pub first: &'a str,
    pub last: &'a str,
    pub company_name: &'a str,
    /// The display name: the company's name, or "first last".
    pub display: &'a str,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub mobile: Option<&'a str>,
    pub address: &'a str,
    pub language: &'a str,
    pub branch: i64,
    pub owner: Option<i64>,
    pub notes: &'a str,
    pub particularities: &'a str,
    pub created_at: i64,
}

/// Inserts customers in one multi-row statement; their ids in row order.
pub async fn insert_customers(tx: &mut Tx, rows: &[CustomerRow<'_>]) -> Result<Vec<i64>> {
    let mut sql = String::with_capacity(rows.len() * 300 + 300);
    sql.push_str(
        "INSERT INTO customers (sort_key, kind, civility, first_name, last_name, company_name, display_name, email, phone, mobile, address, \
         language, branch_id, owner_id, notes, particularities, created_at, updated_at) VALUES ",
    );
    for (i, c) in rows.iter().enumerate() {
        // What `CustomerInput::display_name` gives, so that the stored name and its key agree.
        let person = format!("{} {}", c.first, c.last);
        let display = if c.company { c.company_name } else { person.trim() };
        if display != c.display {
            bail!("customer {:?}: the application would display {display:?}", c.display);
        }
        sql.push_str(if i > 0 { ", (" } else { "(" });
        let key = carnet::search::sort_key(display);
        let kind = if c.company { "company" } else { "person" };
        for v in [Some(key.as_str()), Some(kind), c.civility, Some(c.first), Some(c.last), Some(c.company_name), Some(c.display)] {
            lit(&mut sql, v);
            sql.push_str(", ");
        }
        for v in [c.email, c.phone, c.mobile, Some(c.address), Some(c.language)] {
            lit(&mut sql, v);
            sql.push_str(", ");
        }
        let _ = write!(sql, "{}, {}, ", c.branch, opt(c.owner));
        lit(&mut sql, Some(c.notes));
        sql.push_str(", ");
        lit(&mut sql, Some(c.particularities));
        let _ = write!(sql, ", {}, {})", c.created_at, c.created_at);
    }
    insert_ids(tx, sql, rows.len(), "customer").await
}

/// Runs a multi-row `INSERT` of `rows` rows (without its `RETURNING`) and returns the new ids
/// in row order; they must be consecutive (both engines number such rows in order; make sure).
pub async fn insert_ids(tx: &mut Tx, mut sql: String, rows: usize, what: &str) -> Result<Vec<i64>> {
    sql.push_str(" RETURNING id");
    let mut ids: Vec<i64> = sqlx::query_scalar(&sql).persistent(false).fetch_all(&mut **tx).await?;
    ids.sort_unstable();
    if ids.len() != rows || ids.last().zip(ids.first()).map(|(l, f)| l - f + 1) != Some(rows as i64) {
        bail!("{what} ids of a multi-row INSERT are not consecutive");
    }
    Ok(ids)
}

/// Runs a statement without bound parameters (a multi-row `INSERT` of literals).
pub async fn exec(tx: &mut Tx, sql: &str) -> Result<()> {
    sqlx::query(sql).persistent(false).execute(&mut **tx).await?;
    Ok(())
}

/// Big transactions of multi-row statements on the bulk connection: a commit every
/// `STATEMENTS_PER_TRANSACTION` statements, and a progress line every 15 s.
pub struct Bulk<'a> {
    gen: &'a Db,
    tx: Option<Tx>,
    what: &'static str,
    statements: usize,
    started: Instant,
    last_report: Instant,
}

impl<'a> Bulk<'a> {
    pub async fn start(gen: &'a Db, what: &'static str) -> Result<Bulk<'a>> {
        Ok(Bulk { gen, tx: Some(gen.begin().await?), what, statements: 0, started: Instant::now(), last_report: Instant::now() })
    }
    /// The transaction in progress.
    pub fn tx(&mut self) -> &mut Tx {
        self.tx.as_mut().expect("a transaction in progress")
    }
    /// One statement done; `rows` of `what` written so far.
    pub async fn done(&mut self, rows: usize) -> Result<()> {
        self.statements += 1;
        if self.statements % STATEMENTS_PER_TRANSACTION == 0 {
            if let Some(tx) = self.tx.take() {
                tx.commit().await?;
            }
            self.tx = Some(self.gen.begin().await?);
            if self.last_report.elapsed() > Duration::from_secs(15) {
                self.last_report = Instant::now();
                let s = self.started.elapsed().as_secs_f64();
                eprintln!("    {rows} {} in {s:.0} s ({:.0} rows/s)", self.what, rows as f64 / s);
            }
        }
        Ok(())
    }
    /// Commits the rest; the seconds since the start.
    pub async fn finish(mut self) -> Result<f64> {
        if let Some(tx) = self.tx.take() {
            tx.commit().await?;
        }
        Ok(self.started.elapsed().as_secs_f64())
    }
}

/// Checks that every customer and user has its `sort_key`, then planner statistics, as a
/// database in service would have them (on PostgreSQL also the visibility map: autovacuum
/// would otherwise start in the middle of the measures), then the size of the database
/// (SQLite: after a WAL checkpoint).
pub async fn analyze(gen: &Db, tables: &[&str]) -> Result<Option<u64>> {
    // The lists sort by the folded name: a row loaded without it would be out of place.
    for table in ["customers", "users"] {
        let missing: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE sort_key = ''")).fetch_one(&gen.pool).await?;
        if missing > 0 {
            bail!("{missing} {table} loaded without their sort_key");
        }
    }
    for table in tables {
        let sql = match gen.backend {
            carnet::db::Backend::Sqlite => format!("ANALYZE {table}"),
            carnet::db::Backend::Postgres => format!("VACUUM (ANALYZE) {table}"),
        };
        sqlx::query(&sql).execute(&gen.pool).await?;
    }
    Ok(match gen.backend {
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
    })
}

// ---------------------------------------------------------------- database and server

/// Where a run keeps its database: a temporary SQLite file (or in `CARNET_BENCH_KEEP_DIR`),
/// or a fresh PostgreSQL schema. Sets `config.database_url` (and the schema).
pub struct Place {
    pub schema: Option<String>,
    /// The SQLite file's folder (a temporary one is removed when this is dropped).
    pub folder: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

pub fn pg_schema_name() -> String {
    format!("bench_{}_{}", std::process::id(), rand::random::<u32>())
}

pub fn place(config: &mut Config, c: &Common) -> Result<Place> {
    match c.backend {
        Backend::Sqlite => {
            let (folder, dir) = match &c.keep_dir {
                Some(d) => {
                    std::fs::create_dir_all(d)?;
                    let f = d.join("carnet.db");
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
                    }
                    (d.clone(), None)
                }
                None => {
                    let dir = tempfile::tempdir()?;
                    (dir.path().to_path_buf(), Some(dir))
                }
            };
            config.database_url = format!("sqlite://{}", folder.join("carnet.db").display());
            Ok(Place { schema: None, folder: Some(folder), _dir: dir })
        }
        Backend::Postgres => {
            let s = pg_schema_name();
            config.database_url = c.pg_url.clone().unwrap_or_default();
            config.database_schema = Some(s.clone());
            Ok(Place { schema: Some(s), folder: None, _dir: None })
        }
    }
}

impl Place {
    /// Drops the PostgreSQL schema (unless `CARNET_BENCH_KEEP_SCHEMA`), then returns the
    /// outcome of the run.
    pub async fn close(self, pg_url: Option<&str>, outcome: Result<()>) -> Result<()> {
        if let (Some(s), true) = (&self.schema, env_str("CARNET_BENCH_KEEP_SCHEMA").is_some()) {
            eprintln!("kept schema {s} (CARNET_BENCH_KEEP_SCHEMA): drop it with DROP SCHEMA {s} CASCADE");
            return outcome;
        }
        if let (Some(s), Some(url)) = (self.schema, pg_url) {
            let db = Db::connect(url, None, 1).await?;
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {s} CASCADE")).execute(&db.pool).await?;
            db.pool.close().await;
            eprintln!("dropped schema {s}");
        }
        outcome
    }
}

/// The configuration of a bench run (no background jobs, quiet logs) on its own database.
pub fn configure(c: &Common) -> Result<(Config, Place)> {
    let mut config = Config { run_jobs: false, log: "warn".into(), ..Config::default() };
    let place = place(&mut config, c)?;
    Ok((config, place))
}

/// The app of a run, prepared on its database, with the sales structure.
pub struct Run {
    pub state: AppState,
    /// The generation's clock reading.
    pub now: i64,
    pub branches: Vec<Branch>,
    pub users: usize,
}

/// The app as the binary prepares it (migrations, built-in roles and lists), on the real clock.
pub async fn app(config: &Config) -> Result<AppState> {
    let clock: SharedClock = Arc::new(SystemClock);
    carnet::app::prepare(config.clone(), clock).await
}

/// Prepares the app as the binary does (migrations, defaults), then the sales structure
/// with `teams` in every branch.
pub async fn prepare(config: &Config, teams: &[Team]) -> Result<Run> {
    let state = app(config).await?;
    let now = state.clock.now_ms();
    eprintln!("generating the dataset …");
    let (branches, users) = org(&state.db, now, teams).await.context("org tree")?;
    Ok(Run { state, now, branches, users })
}

/// A generated dataset: how many rows, in how many seconds.
pub trait Generated {
    fn rows(&self) -> usize;
    fn seconds(&self) -> f64;
}

/// Closes the bulk connection after the generation, and says how fast it went.
pub async fn generated<D: Generated, S>(gen: Db, r: Result<(D, S)>) -> Result<(D, S)> {
    gen.pool.close().await;
    let (data, samples) = r.context("generating the dataset")?;
    eprintln!("  {} rows in {:.1} s: {:.0} rows/s", data.rows(), data.seconds(), data.rows() as f64 / data.seconds());
    Ok((data, samples))
}

/// Prints the report's section and writes it into `docs/benchmarks.md`.
///
/// With `CARNET_BENCH_SCENARIOS` (a run of some scenarios only) the section is its own
/// (`BENCH-only-FILTER`), beside the full run's, which it leaves alone.
pub fn publish(bench: &str, title: &str, backend: Backend, section: &str) -> Result<()> {
    println!("\n{section}");
    let path = match scenario_filter() {
        Some(f) => {
            let tag: String = f.join("+").chars().filter(|c| c.is_ascii_alphanumeric() || *c == '+').collect();
            write_docs(&format!("{bench}-only-{tag}"), &format!("{title} (scenarios {})", f.join(", ")), backend, section)?
        }
        None => write_docs(bench, title, backend, section)?,
    };
    eprintln!("results written to {}", path.display());
    Ok(())
}

/// The dedicated connection of the bulk load: on SQLite with a 1 GiB page cache so that the
/// indexes being filled stay in memory (the server's pool keeps SQLite's defaults).
pub async fn bulk_connection(config: &Config) -> Result<Db> {
    let gen = Db::connect(&config.database_url, config.database_schema.as_deref(), 1).await?;
    if gen.backend == carnet::db::Backend::Sqlite {
        sqlx::query("PRAGMA cache_size = -1048576").execute(&gen.pool).await?;
    } else {
        sqlx::query("SET maintenance_work_mem = '256MB'").execute(&gen.pool).await?;
    }
    Ok(gen)
}

/// Starts the real Carnet on 127.0.0.1 (an ephemeral port), runs `f` with its base URL, and
/// stops the server.
pub async fn with_server<T, F, Fut>(state: &AppState, f: F) -> Result<T>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(carnet::http::serve(state.clone(), listener, async {
        let _ = rx.await;
    }));
    eprintln!("server on {base}; measuring …");
    let r = f(base).await;
    let _ = tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    r
}

// ---------------------------------------------------------------- HTTP helpers

pub fn client() -> Result<Client> {
    Ok(Client::builder().redirect(Policy::none()).timeout(REQUEST_TIMEOUT).build()?)
}

pub fn short(body: &str) -> String {
    body.chars().take(160).collect::<String>().replace('\n', " ")
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

pub fn extract(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

pub fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix(prefix.as_str()))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
        .find(|v| !v.is_empty())
}

/// The full login form, as a browser does it. Returns the session cookie's value.
pub async fn login(client: &Client, base: &str, email: &str) -> Result<String> {
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

/// How a request authenticates: an API token, a session cookie, or not at all.
#[derive(Clone)]
pub enum Auth {
    None,
    Bearer(String),
    Session(String),
    /// A customer portal session (its own cookie).
    Portal(String),
    /// A partner portal session (its own cookie).
    Partner(String),
}

impl Auth {
    pub fn apply(&self, rb: RequestBuilder) -> RequestBuilder {
        match self {
            Auth::None => rb,
            Auth::Bearer(t) => rb.header(AUTHORIZATION, format!("Bearer {t}")),
            Auth::Session(s) => rb.header(COOKIE, format!("carnet_session={s}")),
            Auth::Portal(s) => rb.header(COOKIE, format!("carnet_portal={s}")),
            Auth::Partner(s) => rb.header(COOKIE, format!("carnet_partner={s}")),
        }
    }
}

/// GET `path` with a bearer token, expecting 200 and JSON.
pub async fn get_json(c: &Client, base: &str, path: &str, auth: &str) -> Result<serde_json::Value> {
    let resp = c.get(format!("{base}{path}")).bearer_auth(auth).send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    if status != StatusCode::OK {
        bail!("{path}: {status} {}", short(&text));
    }
    Ok(serde_json::from_str(&text)?)
}

// ---------------------------------------------------------------- load generator

/// What one closed-loop client sends, again and again.
pub trait Scenario: Clone + Send + Sync + 'static {
    /// One iteration (one request, or one sequence of them) of client `task`. On success,
    /// `Some(k)` counts an outcome `k` (< 3) of the scenario, `None` nothing.
    fn once(
        &self,
        client: &Client,
        base: &str,
        task: usize,
        iteration: u64,
        concurrency: usize,
    ) -> impl Future<Output = Result<Option<usize>, String>> + Send;
}

#[derive(Default)]
struct TaskResult {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    late: u64,
    /// Successful answers received inside the window, whenever the request started.
    answered: u64,
    /// Outcomes of the recorded requests.
    outcomes: [u64; 3],
}

pub struct Measure {
    pub name: &'static str,
    pub what: String,
    pub concurrency: usize,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Requests started in the window and answered after it.
    pub late: u64,
    /// Successful answers inside the window (the throughput), whenever they started.
    pub answered: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// p50 of sequential requests from a single client, before the load.
    pub alone_ms: f64,
    pub cpu: CpuShare,
    pub outcomes: [u64; 3],
}

/// A latency in microseconds, as the measures keep them.
pub fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[idx] as f64 / 1000.0
}

/// p50 of up to `ALONE_REQUESTS` sequential requests from one client (at most `ALONE` long).
pub async fn alone<S: Scenario>(base: &str, op: &S) -> Result<f64> {
    let c = client()?;
    let started = Instant::now();
    let mut lat = Vec::new();
    let mut i = 0u64;
    while lat.len() < ALONE_REQUESTS && started.elapsed() < ALONE {
        let t0 = Instant::now();
        op.once(&c, base, 0, i + 7, 1).await.map_err(|e| anyhow!("{e}"))?;
        lat.push(micros(t0.elapsed()));
        i += 1;
    }
    lat.sort_unstable();
    Ok(percentile(&lat, 50.0))
}

/// Runs `op` in a closed loop from `concurrency` tasks for `seconds` (after the warm-up).
/// Only iterations that start and end inside the measured window are recorded.
pub async fn run<S: Scenario>(
    name: &'static str,
    what: String,
    base: &str,
    op: S,
    seconds: u64,
    concurrency: usize,
    alone_ms: f64,
) -> Result<Measure> {
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
                let res = op.once(&client, &base, task, iteration, concurrency).await;
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
                        r.latencies_us.push(micros(t1 - t0));
                        if let Some(k) = done {
                            r.outcomes[k] += 1;
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

/// Each scenario: its single-client p50, then one loaded run per concurrency level.
/// `CARNET_BENCH_SCENARIOS=e.,c.`: run only the scenarios whose name starts with one of these.
pub fn scenario_filter() -> Option<Vec<String>> {
    let v = std::env::var("CARNET_BENCH_SCENARIOS").ok()?;
    let f: Vec<String> = v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    (!f.is_empty()).then_some(f)
}

pub async fn run_all<S: Scenario>(
    base: &str,
    scenarios: Vec<(&'static str, String, S)>,
    seconds: u64,
    levels: &[usize],
) -> Result<Vec<Measure>> {
    let mut results = Vec::new();
    let only = scenario_filter();
    for (name, what, op) in scenarios {
        if only.as_ref().is_some_and(|f| !f.iter().any(|p| name.starts_with(p.as_str()))) {
            continue;
        }
        let alone_ms = alone(base, &op).await?;
        for c in levels {
            results.push(run(name, what.clone(), base, op.clone(), seconds, *c, alone_ms).await?);
        }
    }
    Ok(results)
}

// ---------------------------------------------------------------- CPU accounting

/// CPU time (clock ticks) of the whole machine, of this process and of the PostgreSQL
/// processes (and of a helper process, see [`cpu_sample_with`]), to tell the measured work
/// from whatever else runs on the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSample {
    total: u64,
    busy: u64,
    this: u64,
    sqlite: u64,
    postgres: u64,
    helper: u64,
}

/// Shares of the machine's capacity (all cores = 100 %) during a window.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuShare {
    /// This process less its SQLite threads: the HTTP server, sqlx and the load generator.
    pub app: f64,
    /// SQLite's worker threads (in this process) or the PostgreSQL processes.
    pub database: f64,
    /// The helper process given to [`cpu_sample_with`] (the mail bench's SMTP server).
    pub helper: f64,
    pub other: f64,
}

/// utime + stime of a `/proc/PID/stat` line, and the command name; with `children`, plus the
/// time of its children that ended and were reaped (cutime + cstime).
fn proc_ticks(stat: &str, children: bool) -> Option<(String, u64)> {
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

pub fn cpu_sample() -> CpuSample {
    cpu_sample_with(None)
}

/// A sample that also reads the CPU time of process `helper` (a server the bench started).
pub fn cpu_sample_with(helper: Option<u32>) -> CpuSample {
    let mut s = CpuSample::default();
    if let Some(line) = std::fs::read_to_string("/proc/stat").ok().and_then(|t| t.lines().next().map(str::to_string)) {
        // cpu user nice system idle iowait irq softirq steal (guest time is already in user).
        let v: Vec<u64> = line.split_whitespace().skip(1).take(8).filter_map(|x| x.parse().ok()).collect();
        if v.len() == 8 {
            s.total = v.iter().sum();
            s.busy = s.total - v[3] - v[4];
        }
    }
    let ticks = |path: String| std::fs::read_to_string(path).ok().and_then(|t| proc_ticks(&t, false)).map(|(_, t)| t).unwrap_or(0);
    s.this = ticks("/proc/self/stat".into());
    if let Some(pid) = helper {
        s.helper = ticks(format!("/proc/{pid}/stat"));
    }
    // sqlx runs each SQLite connection on its own thread, named `sqlx-sqlite-worker-N`.
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for e in dir.flatten() {
            if let Some((comm, t)) = std::fs::read_to_string(e.path().join("stat")).ok().and_then(|t| proc_ticks(&t, false)) {
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
            if let Some((comm, t)) = std::fs::read_to_string(e.path().join("stat")).ok().and_then(|t| proc_ticks(&t, true)) {
                if comm == "postgres" {
                    s.postgres += t;
                }
            }
        }
    }
    s
}

pub fn cpu_share(a: CpuSample, b: CpuSample) -> CpuShare {
    let total = b.total.saturating_sub(a.total).max(1) as f64;
    let busy = b.busy.saturating_sub(a.busy) as f64;
    let this = b.this.saturating_sub(a.this) as f64;
    // A backend that ended during the window leaves its whole time in its parent's children
    // time; never below zero.
    let postgres = b.postgres.saturating_sub(a.postgres) as f64;
    let helper = b.helper.saturating_sub(a.helper) as f64;
    // Threads that ended during the window are missed (none do: the pool keeps them).
    let sqlite = (b.sqlite.saturating_sub(a.sqlite) as f64).min(this);
    CpuShare {
        app: 100.0 * (this - sqlite) / total,
        database: 100.0 * (sqlite + postgres) / total,
        helper: 100.0 * helper / total,
        other: (100.0 * (busy - this - postgres - helper) / total).max(0.0),
    }
}

/// Runs `f`, with its duration in seconds and the CPU shares meanwhile.
pub async fn timed<T, F: Future<Output = Result<T>>>(f: F) -> Result<(T, f64, CpuShare)> {
    let cpu0 = cpu_sample();
    let t0 = Instant::now();
    let v = f.await?;
    let s = t0.elapsed().as_secs_f64();
    Ok((v, s, cpu_share(cpu0, cpu_sample())))
}

// ---------------------------------------------------------------- report

pub fn machine() -> String {
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

pub fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

pub fn fmt_n(n: usize) -> String {
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

pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**missed**"
    }
}

/// The first lines of a report: date, machine, backend and pool.
pub fn header(s: &mut String, backend: Backend, config: &Config) {
    let date = SystemClock.now().format("%Y-%m-%d %H:%M UTC");
    let _ = writeln!(s, "- date: {date}");
    let _ = writeln!(s, "- machine: {} (the load generator runs on the same cores as the server)", machine());
    let _ = writeln!(s, "- backend: {}, pool of {} connections", backend.name(), config.database_max_connections);
}

/// How the load was run, and the table of the measures (followed by a blank line).
pub fn load_table(s: &mut String, levels: &[usize], seconds: u64, load: &[Measure]) {
    let _ = writeln!(s);
    let levels: Vec<String> = levels.iter().map(|c| c.to_string()).collect();
    let _ = writeln!(
        s,
        "- load: closed loop of {} concurrent clients (each scenario once per level), {} s per run after 1 s of warm-up",
        levels.join(" and "),
        seconds
    );
    let _ = writeln!(
        s,
        "- requests: successful answers received during the window (requests/s = that / {} s); p50 and p99 are over the \
         requests both sent and answered in the window; \"late\": requests sent in the window and answered after it; \
         \"1 client\": p50 of up to {ALONE_REQUESTS} sequential requests from a single client just before the loaded run",
        seconds
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
}

/// A line per measure with errors, with the first one.
pub fn error_lines(s: &mut String, load: &[Measure]) {
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

/// Replaces the section of bench `bench` for `backend` in `docs/benchmarks.md` (markers
/// `<!-- bench:BENCH:BACKEND:start -->` / `…:end -->`, added under "### TITLE, BACKEND" when absent).
pub fn write_docs(bench: &str, title: &str, backend: Backend, section: &str) -> Result<PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join("benchmarks.md");
    let mut doc = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let start = format!("<!-- bench:{bench}:{}:start -->", backend.name());
    let end = format!("<!-- bench:{bench}:{}:end -->", backend.name());
    let body = format!("{start}\n{section}{end}");
    match (doc.find(&start), doc.find(&end)) {
        (Some(a), Some(b)) if a < b => doc.replace_range(a..b + end.len(), &body),
        _ => {
            if !doc.ends_with('\n') {
                doc.push('\n');
            }
            doc.push_str(&format!("\n### {title}, {}\n\n{body}\n", backend.name()));
        }
    }
    std::fs::write(&path, doc)?;
    Ok(path)
}

/// Writes customers' search terms in multi-row statements of `per_statement` rows (literals:
/// the terms come from the generators, not from people).
pub async fn insert_terms(tx: &mut Tx, terms: &[(i64, String)], per_statement: usize) -> Result<()> {
    use std::fmt::Write as _;
    for chunk in terms.chunks(per_statement.max(1)) {
        let mut sql = String::with_capacity(chunk.len() * 40 + 100);
        sql.push_str("INSERT INTO search_terms (entity_type, entity_id, term) VALUES ");
        for (i, (id, t)) in chunk.iter().enumerate() {
            let _ = write!(sql, "{}('customer', {id}, ", if i > 0 { ", " } else { "" });
            lit(&mut sql, Some(t));
            sql.push(')');
        }
        exec(tx, &sql).await?;
    }
    Ok(())
}
