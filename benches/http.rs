//! HTTP benchmark of the platform: `cargo bench --bench http`.
//!
//! Generates a large organisation (the benches' sales structure: 1 company, 4 regions, 16
//! branches with 5 teams each, and `CARNET_BENCH_USERS` users with Québec names), starts the real Carnet in-process on
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
use std::time::Instant;

use anyhow::{bail, Context, Result};
use carnet::access::Actor;
use carnet::config::Config;
use carnet::db::Db;
use carnet::http::AppState;
use reqwest::{Client, StatusCode};

#[path = "support/mod.rs"]
mod support;

use support::{
    ascii_slug, client, env_num, insert_users, login, short, Auth, Bulk, Common, Measure, Rng, Roles, Scenario, Team, UserRow, ADMIN_EMAIL,
    FIRST_NAMES, LAST_NAMES, PASSWORD,
};

const USERS_PER_STATEMENT: usize = 1000;
/// A common last-name prefix (Martin, Martinez, Marty…) for the filtered list.
const SEARCH: &str = "mart";

// ---------------------------------------------------------------- options

struct Options {
    c: Common,
    users: usize,
}

impl Options {
    fn from_env() -> Result<Options> {
        let o = Options { c: Common::from_env("32")?, users: env_num("CARNET_BENCH_USERS", 100_000usize)? };
        if o.users < 100 || o.c.seconds == 0 || o.c.concurrency.is_empty() || o.c.concurrency.contains(&0) {
            bail!("CARNET_BENCH_USERS must be at least 100, SECONDS and CONCURRENCY at least 1");
        }
        Ok(o)
    }
}

// ---------------------------------------------------------------- dataset

/// Teams of every branch and the role of their members (drawn at random below).
const TEAMS: &[Team] = &[
    Team { team: Some("Ventes"), role: "representant", members: 0, login: true },
    Team { team: Some("BDC"), role: "agent_bdc", members: 0, login: true },
    Team { team: Some("Support"), role: "agent_support", members: 0, login: true },
    Team { team: Some("Avant-vente"), role: "avant_vente", members: 0, login: true },
    Team { team: Some("Technique"), role: "technicien", members: 0, login: true },
];

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
    role: i64,
    unit: Option<i64>,
}

/// The sales structure with its administrator, then the other `n - 1` users in big
/// multi-row INSERTs inside transactions.
async fn generate(db: &Db, n: usize, now: i64) -> Result<Dataset> {
    let started = Instant::now();
    let (branches, _) = support::org(db, now, TEAMS).await?;
    let units: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM org_units").fetch_one(&db.pool).await?;
    let hash = carnet::identity::password::hash(PASSWORD)?;
    let roles = Roles::load(db).await?;
    let admin = roles.id("administrateur")?;
    let director = roles.id("directeur_ventes")?;
    // (unit, role) of every team.
    let mut teams: Vec<(i64, i64)> = Vec::new();
    for b in &branches {
        for (unit, t) in b.units.iter().zip(TEAMS) {
            teams.push((*unit, roles.id(t.role)?));
        }
    }

    let mut rng = Rng(0x00C0_FFEE);
    let mut batch: Vec<NewUser> = Vec::with_capacity(USERS_PER_STATEMENT);
    let mut bulk = Bulk::start(db, "users").await?;
    for i in 1..n {
        let first = FIRST_NAMES[rng.below(FIRST_NAMES.len())].0;
        let last = LAST_NAMES[rng.skewed(LAST_NAMES.len())];
        let name = format!("{first} {last}");
        let language = if rng.below(10) == 0 { "en" } else { "fr" };
        let email = format!("{}.{}.{i}@exemple.ca", ascii_slug(first), ascii_slug(last));
        let r = rng.below(1000);
        let (role, unit) = if r < 2 {
            (admin, None)
        } else if r < 20 {
            (director, Some(rng.pick(&branches).id))
        } else {
            let (t, role) = teams[rng.below(teams.len())];
            (role, Some(t))
        };
        batch.push(NewUser { email, name, language, role, unit });
        if batch.len() == USERS_PER_STATEMENT || i + 1 == n {
            let rows: Vec<UserRow> = batch
                .iter()
                .map(|u| UserRow { email: &u.email, name: &u.name, language: u.language, hash: Some(&hash), role: u.role, unit: u.unit })
                .collect();
            insert_users(bulk.tx(), now, &rows).await?;
            batch.clear();
            bulk.done(i + 1).await?;
        }
    }
    bulk.finish().await?;
    let seconds = started.elapsed().as_secs_f64();
    // Search terms, as `users::create` would have written them.
    let indexing = Instant::now();
    carnet::identity::users::reindex_search(db).await?;
    let terms_seconds = indexing.elapsed().as_secs_f64();
    let terms: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM search_terms").fetch_one(&db.pool).await?;
    // Planner statistics, as a database in service would have them.
    support::analyze(db, &["org_units", "roles", "role_rights", "users", "search_terms"]).await?;
    Ok(Dataset { units: units as usize, users: n, seconds, terms, terms_seconds })
}

// ---------------------------------------------------------------- scenarios

/// One iteration of a scenario.
#[derive(Clone)]
enum Op {
    /// GET `path`, expecting 200; task `t` uses `auths[t % len]`.
    Get { path: String, auths: Arc<Vec<Auth>> },
    /// A full form login, rotating over `emails`.
    Login { emails: Arc<Vec<String>> },
}

impl Scenario for Op {
    async fn once(&self, client: &Client, base: &str, task: usize, iteration: u64, concurrency: usize) -> Result<Option<usize>, String> {
        match self {
            Op::Get { path, auths } => {
                let rb = auths[task % auths.len()].apply(client.get(format!("{base}{path}")));
                let resp = rb.send().await.map_err(|e| format!("{e}"))?;
                let status = resp.status();
                let body = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
                if status != StatusCode::OK {
                    return Err(format!("{status} {}", short(&String::from_utf8_lossy(&body))));
                }
            }
            Op::Login { emails } => {
                let i = (task + iteration as usize * concurrency) % emails.len();
                login(client, base, &emails[i]).await.map_err(|e| format!("{e:#}"))?;
            }
        }
        Ok(None)
    }
}

// ---------------------------------------------------------------- report

fn report(o: &Options, config: &Config, data: &Dataset, results: &[Measure]) -> String {
    let rows = data.units + data.users;
    let mut s = String::new();
    support::header(&mut s, o.c.backend, config);
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
    support::load_table(&mut s, &o.c.concurrency, o.c.seconds, results);
    support::error_lines(&mut s, results);
    s
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
        sessions.push(Auth::Session(login(&c, base, email).await.with_context(|| format!("login {email}"))?));
    }
    let admin_token = carnet::identity::token::create(db, &Actor::system(), now, admin_id, "bench").await?.1;
    let admin_session = login(&c, base, ADMIN_EMAIL).await.context("admin login")?;

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
    let page = Auth::Session(admin_session.clone()).apply(c.get(format!("{base}/admin/users"))).send().await?;
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
    let scenarios = scenarios.into_iter().map(|(name, what, op)| (name, what.to_string(), op)).collect();
    support::run_all(base, scenarios, o.c.seconds, &o.c.concurrency).await
}

#[tokio::main]
async fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; no other argument is understood.
    let o = Options::from_env()?;
    let (config, place) = support::configure(&o.c)?;
    eprintln!(
        "carnet http bench: backend {}, {} users, {} s per scenario, concurrency {:?}",
        o.c.backend.name(),
        o.users,
        o.c.seconds,
        o.c.concurrency
    );
    let outcome = async {
        let state = support::app(&config).await?;
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
        let (o, st) = (&o, &state);
        let results = support::with_server(st, |base| async move { bench(o, st, &base).await }).await;
        state.db.pool.close().await;
        support::publish("platform", "Platform", o.c.backend, &report(o, &config, &data, &results?))
    }
    .await;
    place.close(o.c.pg_url.as_deref(), outcome).await
}
