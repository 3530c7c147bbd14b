//! Ceiling benchmark: `cargo bench --bench ceiling`.
//!
//! Carnet against the stack's ceiling, in the same process and the same run, on the same
//! database and data. The ceiling is a bare axum + sqlx server (the same `Any` pool as Carnet,
//! opened by `carnet::db::Db::connect` with the same pragmas and pool size) that does only
//! the storage work, with no business logic, no authentication and no audit:
//!
//! - **lead intake**: Carnet's `POST /api/v1/leads` (with an `Idempotency-Key`, 70 % known
//!   customers typed as people type them, 30 % new people) against the bare lookup + insert:
//!   `SELECT id FROM customers WHERE email = $1 OR phone = $2 OR mobile = $2 LIMIT 1`, then an
//!   autocommitted `INSERT` of the lead's row into a table of its own (`bare_leads`), given
//!   the already-normalised email and phone;
//! - **customer prefix page**: Carnet's `GET /api/v1/customers?q=PREFIX&limit=100` (admin,
//!   3-letter prefixes of common last names) against the bare 100-row page walking the
//!   same `search_terms` index range, joined to `customers`, as JSON;
//! - **authenticated request**: `GET /api/v1/me` with a bearer token against Carnet's own
//!   `GET /healthz` (no authentication, no database).
//!
//! Every scenario runs at each concurrency level (closed loop, `benches/support`), the bare
//! one just before Carnet's, and the report gives Carnet / ceiling for requests/s, with
//! p50 and p99 of both. Dataset: `CARNET_BENCH_CUSTOMERS` person customers (default 50 000)
//! (half with a mobile) with their search terms as `customers::store` writes them, in the 16 branches of
//! `support::org`, 85 % of them with an open opportunity (so that most leads of known
//! customers are merged into it, as in service).
//!
//! Options (environment): `CARNET_BENCH_BACKEND` (`sqlite` or `postgres` with
//! `CARNET_TEST_POSTGRES_URL`), `CARNET_BENCH_CUSTOMERS` (50000), `CARNET_BENCH_SECONDS` (10),
//! `CARNET_BENCH_CONCURRENCY` (`1,8`), `CARNET_BENCH_ONLY` (run the pairs whose name holds
//! it, e.g. `prefix`, to profile one; the report then lacks the others). Results are printed and written into
//! `docs/benchmarks.md` between the `<!-- bench:ceiling:BACKEND:start -->` and `…:end -->`
//! markers.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use axum::extract::{Query, State};
use axum::http::StatusCode as AxStatus;
use axum::routing::{get, post};
use axum::{Json, Router};
use carnet::access::Actor;
use carnet::clock::Clock;
use carnet::db::Db;
use reqwest::header::AUTHORIZATION;
use reqwest::{Client, StatusCode};
use serde::Deserialize;
use serde_json::json;

#[path = "support/mod.rs"]
mod support;

use support::{
    ascii_slug, env_num, exec, fmt_ms, fmt_n, get_json, lit, phone, short, typed_email, typed_phone, verdict, weighted, Backend, Branch,
    Bulk, Common, CustomerRow, Measure, Reservoir, Rng, Scenario, Team, ADMIN_EMAIL, EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, STREETS,
};

const CUSTOMERS_PER_STATEMENT: usize = 1000;
const TERMS_PER_STATEMENT: usize = 5000;
const REPS_PER_BRANCH: usize = 10;
const SAMPLES: usize = 20_000;
const KNOWN_SHARE: f64 = 0.7;
const PAGE: usize = 100;
/// Targets of issue 15.
const TARGET_LEAD_RATIO: f64 = 0.35;
const TARGET_LEAD_P99_MS: f64 = 50.0;
const TARGET_PAGE_RATIO: f64 = 0.7;
const LEAD_TYPES: &[(&str, u32)] = &[("internet", 550), ("phone_up", 250), ("clavardage", 100), ("sms", 100)];
const SOURCES: &[&str] = &["site web", "AutoHebdo", "Kijiji Autos", "Facebook Marketplace"];
const MESSAGES: &[&str] = &[
    "Bonjour, est-ce que ce véhicule est toujours disponible ?",
    "Je voudrais faire un essai routier samedi matin.",
    "Quel serait le paiement mensuel sur 60 mois avec 2 000 $ comptant ?",
];
const TEAMS: &[Team] = &[
    Team { team: Some("Ventes"), role: "representant", members: REPS_PER_BRANCH, login: false },
    Team { team: Some("BDC"), role: "agent_bdc", members: 3, login: false },
];

// ---------------------------------------------------------------- dataset

#[derive(Clone)]
struct Known {
    first: &'static str,
    last: &'static str,
    email: Option<String>,
    phone: Option<String>,
}

/// What `customers::store` indexes for a person: names, email, the phone's digits with and
/// without the country code, and its trailing runs of 7 digits or more.
fn customer_terms(first: &str, last: &str, email: Option<&str>, phones: &[&str]) -> Vec<String> {
    let ph: Vec<String> = phones.iter().map(|p| p.trim_start_matches('+').to_string()).collect();
    let national: Vec<String> = ph.iter().map(|p| p.strip_prefix('1').unwrap_or(p).to_string()).collect();
    let mut values: Vec<String> = vec![first.to_string(), last.to_string(), String::new()];
    values.extend(email.map(str::to_string));
    for p in &ph {
        values.extend((7..p.len()).map(|k| p[p.len() - k..].to_string()));
    }
    values.extend(ph);
    values.extend(national);
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    carnet::search::terms(&refs)
}

async fn generate(gen: &Db, n: usize, branches: &[Branch], now: i64) -> Result<(Vec<Known>, f64)> {
    let mut rng = Rng(0xCE11_0000);
    let mut known = Reservoir::new(SAMPLES, 3);
    let mut bulk = Bulk::start(gen, "customers").await?;
    let mut done = 0;
    while done < n {
        let k = CUSTOMERS_PER_STATEMENT.min(n - done);
        let mut rows = Vec::with_capacity(k);
        for j in 0..k {
            let i = done + j;
            let b = &branches[rng.skewed(branches.len())];
            let owner = if rng.chance(0.05) { None } else { Some(*rng.pick(b.reps())) };
            let first = rng.pick(FIRST_NAMES).0;
            let last = LAST_NAMES[rng.skewed(LAST_NAMES.len())];
            let email = rng.chance(0.85).then(|| format!("{}.{}{i}@{}", ascii_slug(first), ascii_slug(last), rng.pick(EMAIL_DOMAINS)));
            let number = (email.is_none() || rng.chance(0.9)).then(|| phone(3 * i as u64));
            // Half have a mobile (with none at all, SQLite's statistics take the mobile index
            // for useless and the lookups scan every customer).
            let mobile = rng.chance(0.5).then(|| phone(3 * i as u64 + 1));
            let address = format!("{} {}, {}", 1 + rng.below(9999), rng.pick(STREETS), b.city);
            let display = format!("{first} {last}");
            rows.push((first, last, email, number, address, display, b.id, owner, mobile));
        }
        let new: Vec<CustomerRow> = rows
            .iter()
            .map(|(first, last, email, number, address, display, branch, owner, mobile)| CustomerRow {
                company: false,
                civility: None,
                first,
                last,
                company_name: "",
                display,
                email: email.as_deref(),
                phone: number.as_deref(),
                mobile: mobile.as_deref(),
                address,
                language: "fr",
                branch: *branch,
                owner: *owner,
                notes: "",
                particularities: "",
                created_at: now,
            })
            .collect();
        let ids = support::insert_customers(bulk.tx(), &new).await?;
        let mut terms: Vec<(i64, String)> = Vec::new();
        for (r, id) in rows.iter().zip(&ids) {
            let phones: Vec<&str> = r.3.iter().chain(r.8.iter()).map(String::as_str).collect();
            terms.extend(customer_terms(r.0, r.1, r.2.as_deref(), &phones).into_iter().map(|t| (*id, t)));
            known.offer(|| Known { first: r.0, last: r.1, email: r.2.clone(), phone: r.3.clone() });
        }
        support::insert_terms(bulk.tx(), &terms, TERMS_PER_STATEMENT).await?;
        // 85 % have an open opportunity (a known customer's lead is merged into it).
        let mut sql = String::from(
            "INSERT INTO opportunities (name, customer_id, lead_type, status, owner_id, branch_id, trashed, created_at, updated_at) VALUES ",
        );
        let mut any = false;
        for (r, id) in rows.iter().zip(&ids) {
            if rng.chance(0.85) {
                sql.push_str(if any { ", (" } else { "(" });
                lit(&mut sql, Some(&r.5));
                let owner = r.7.map_or("NULL".to_string(), |o| o.to_string());
                let _ = write!(sql, ", {id}, 'internet', 'contacte', {owner}, {}, 0, {now}, {now})", r.6);
                any = true;
            }
        }
        if any {
            exec(bulk.tx(), &sql).await?;
        }
        done += k;
        bulk.done(done).await?;
    }
    let s = bulk.finish().await?;
    support::analyze(
        gen,
        &["org_units", "roles", "role_rights", "users", "customers", "search_terms", "opportunities", "value_list_items", "settings"],
    )
    .await?;
    Ok((known.items, s))
}

// ---------------------------------------------------------------- the bare server

#[derive(Deserialize)]
struct BareLead {
    email: Option<String>,
    phone: Option<String>,
    first_name: String,
    last_name: String,
    message: String,
    source: String,
}

type Bare = Result<(AxStatus, Json<serde_json::Value>), (AxStatus, String)>;

fn fail(e: sqlx::Error) -> (AxStatus, String) {
    (AxStatus::INTERNAL_SERVER_ERROR, e.to_string())
}

/// The storage work of a lead and nothing else: one indexed lookup, one autocommitted insert.
async fn bare_lead(State(db): State<Db>, Json(l): Json<BareLead>) -> Bare {
    let customer: Option<i64> = sqlx::query_scalar("SELECT id FROM customers WHERE email = $1 OR phone = $2 OR mobile = $2 LIMIT 1")
        .bind(l.email.as_deref())
        .bind(l.phone.as_deref())
        .fetch_optional(&db.pool)
        .await
        .map_err(fail)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO bare_leads (customer_id, first_name, last_name, email, phone, message, source, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(customer)
    .bind(&l.first_name)
    .bind(&l.last_name)
    .bind(l.email.as_deref())
    .bind(l.phone.as_deref())
    .bind(&l.message)
    .bind(&l.source)
    .bind(carnet::clock::SystemClock.now_ms())
    .fetch_one(&db.pool)
    .await
    .map_err(fail)?;
    Ok((AxStatus::CREATED, Json(json!({"id": id, "customer_id": customer}))))
}

#[derive(Deserialize)]
struct PageQuery {
    q: String,
    limit: i64,
}

#[derive(sqlx::FromRow, serde::Serialize)]
struct BareRow {
    id: i64,
    display_name: String,
    email: Option<String>,
    phone: Option<String>,
    branch_id: Option<i64>,
}

/// The 100 first customers having a term that starts with the (folded) prefix, by term.
async fn bare_page(State(db): State<Db>, Query(p): Query<PageQuery>) -> Bare {
    let rows: Vec<BareRow> = sqlx::query_as(
        "SELECT c.id, c.display_name, c.email, c.phone, c.branch_id FROM search_terms st JOIN customers c ON c.id = st.entity_id \
         WHERE st.entity_type = 'customer' AND st.term >= $1 AND st.term < $2 ORDER BY st.term, st.entity_id LIMIT $3",
    )
    .bind(&p.q)
    .bind(format!("{}\u{10FFFF}", p.q))
    .bind(p.limit)
    .fetch_all(&db.pool)
    .await
    .map_err(fail)?;
    Ok((AxStatus::OK, Json(json!({ "items": rows }))))
}

async fn bare_table(db: &Db) -> Result<()> {
    let id = match db.backend {
        carnet::db::Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        carnet::db::Backend::Postgres => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    };
    sqlx::query(&format!(
        "CREATE TABLE bare_leads (id {id}, customer_id BIGINT, first_name TEXT NOT NULL, last_name TEXT NOT NULL, email TEXT, phone TEXT, \
         message TEXT NOT NULL, source TEXT NOT NULL, created_at BIGINT NOT NULL)"
    ))
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Serves the bare program on 127.0.0.1 while `f` runs with its base URL.
async fn with_bare<T, F, Fut>(db: Db, f: F) -> Result<T>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let app = Router::new().route("/lead", post(bare_lead)).route("/customers", get(bare_page)).with_state(db);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    let r = f(base).await;
    let _ = tx.send(());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
    r
}

// ---------------------------------------------------------------- scenarios

struct LeadSource {
    known: Vec<Known>,
    first_slot: u64,
    run: u32,
    next: AtomicU64,
}

/// Lead `n`: what Carnet receives (typed as people type), and the normalised email and phone
/// the bare program is given.
fn lead(src: &LeadSource, n: u64) -> (serde_json::Value, Option<String>, Option<String>) {
    let mut rng = Rng(n ^ 0xCE11_5EED);
    let message = *rng.pick(MESSAGES);
    let source = *rng.pick(SOURCES);
    let lead_type = weighted(&mut rng, LEAD_TYPES);
    let (first, last, email, phone_n, typed_p, typed_e) = if rng.chance(KNOWN_SHARE) {
        let k = &src.known[rng.below(src.known.len())];
        let style = rng.below(6);
        let (p, e) = match (&k.phone, &k.email, rng.below(3)) {
            (Some(p), Some(e), 0) => (Some(p.clone()), Some(e.clone())),
            (Some(p), _, 1) | (Some(p), None, _) => (Some(p.clone()), None),
            (_, Some(e), _) => (None, Some(e.clone())),
            (None, None, _) => (None, None),
        };
        let tp = p.as_deref().map(|p| typed_phone(p, style)).unwrap_or_default();
        let te = e.as_deref().map(|e| typed_email(e, style)).unwrap_or_default();
        (k.first, k.last, e, p, tp, te)
    } else {
        let first = rng.pick(FIRST_NAMES).0;
        let last = LAST_NAMES[rng.skewed(LAST_NAMES.len())];
        let e = format!("{}.{}.lead{n}.{}@{}", ascii_slug(first), ascii_slug(last), src.run, rng.pick(EMAIL_DOMAINS));
        let p = phone(src.first_slot + n);
        let tp = typed_phone(&p, n as usize);
        (first, last, Some(e.clone()), Some(p), tp, e)
    };
    let body = json!({"first_name": first, "last_name": last, "email": typed_e, "phone": typed_p, "message": message,
        "source": source, "lead_type": lead_type});
    (body, email, phone_n)
}

#[derive(Clone)]
enum Op {
    CarnetLead {
        src: Arc<LeadSource>,
        auth: String,
    },
    BareLead {
        src: Arc<LeadSource>,
    },
    /// GET `paths[i]` (rotating), with a bearer token for Carnet.
    Page {
        paths: Arc<Vec<String>>,
        auth: Option<String>,
    },
}

impl Scenario for Op {
    async fn once(&self, client: &Client, base: &str, task: usize, iteration: u64, concurrency: usize) -> Result<Option<usize>, String> {
        let (rb, expect) = match self {
            Op::CarnetLead { src, auth } => {
                let n = src.next.fetch_add(1, Ordering::Relaxed);
                let (body, _, _) = lead(src, n);
                let rb = client
                    .post(format!("{base}/api/v1/leads"))
                    .header(AUTHORIZATION, format!("Bearer {auth}"))
                    .header("Idempotency-Key", format!("ceiling-{}-{n}", src.run))
                    .json(&body);
                (rb, StatusCode::CREATED)
            }
            Op::BareLead { src } => {
                let n = src.next.fetch_add(1, Ordering::Relaxed);
                let (body, email, phone) = lead(src, n);
                let body = json!({"first_name": body["first_name"], "last_name": body["last_name"], "email": email, "phone": phone,
                    "message": body["message"], "source": body["source"]});
                (client.post(format!("{base}/lead")).json(&body), StatusCode::CREATED)
            }
            Op::Page { paths, auth } => {
                let path = &paths[(task + iteration as usize * concurrency) % paths.len()];
                let mut rb = client.get(format!("{base}{path}"));
                if let Some(a) = auth {
                    rb = rb.header(AUTHORIZATION, format!("Bearer {a}"));
                }
                (rb, StatusCode::OK)
            }
        };
        let resp = rb.send().await.map_err(|e| format!("{e}"))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
        if status != expect {
            return Err(format!("{status} {}", short(&String::from_utf8_lossy(&body))));
        }
        Ok(None)
    }
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

/// One pair of the report: the same work by Carnet and by the bare program.
struct Pair {
    work: &'static str,
    carnet: Measure,
    bare: Measure,
}

async fn measure(c: &Common, carnet_base: &str, bare_base: &str, pairs: Vec<(&'static str, String, Op, String, Op)>) -> Result<Vec<Pair>> {
    let mut out = Vec::new();
    for (work, carnet_what, carnet_op, bare_what, bare_op) in pairs {
        // The authenticated request's ceiling is Carnet's own unauthenticated `/healthz`.
        let ceiling_base = if work == "authenticated request" { carnet_base } else { bare_base };
        let carnet_alone = support::alone(carnet_base, &carnet_op).await?;
        let bare_alone = support::alone(ceiling_base, &bare_op).await?;
        for level in &c.concurrency {
            let bare = support::run("ceiling", bare_what.clone(), ceiling_base, bare_op.clone(), c.seconds, *level, bare_alone).await?;
            let carnet = support::run(work, carnet_what.clone(), carnet_base, carnet_op.clone(), c.seconds, *level, carnet_alone).await?;
            out.push(Pair { work, carnet, bare });
        }
    }
    Ok(out)
}

fn report(
    c: &Common,
    config: &carnet::config::Config,
    customers: usize,
    gen_s: f64,
    pairs: &[Pair],
    grouped: Option<(u64, u64)>,
) -> String {
    let mut s = String::new();
    support::header(&mut s, c.backend, config);
    let _ = writeln!(
        s,
        "- dataset: {} person customers with their search terms (85 % with an open opportunity), 16 branches; generated in {gen_s:.1} s",
        fmt_n(customers)
    );
    let _ = writeln!(
        s,
        "- load: closed loop, {} s per run after 1 s of warm-up, the bare run just before Carnet's at each level; ratio = Carnet's \
         requests/s ÷ the bare program's",
        c.seconds
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| work | clients | Carnet req/s | Carnet p50 / p99 ms | bare req/s | bare p50 / p99 ms | ratio | CPU Carnet app / db / other | errors |"
    );
    let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for p in pairs {
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {} / {} | {:.0} | {} / {} | {:.2} | {:.0} / {:.0} / {:.0} % | {} + {} |",
            p.work,
            p.carnet.concurrency,
            p.carnet.per_second,
            fmt_ms(p.carnet.p50_ms),
            fmt_ms(p.carnet.p99_ms),
            p.bare.per_second,
            fmt_ms(p.bare.p50_ms),
            fmt_ms(p.bare.p99_ms),
            p.carnet.per_second / p.bare.per_second.max(1e-9),
            p.carnet.cpu.app,
            p.carnet.cpu.database,
            p.carnet.cpu.other,
            p.carnet.errors,
            p.bare.errors
        );
    }
    let _ = writeln!(s);
    for p in pairs {
        for m in [&p.carnet, &p.bare] {
            if let Some(e) = &m.first_error {
                let _ = writeln!(s, "- {} ({} clients): {} errors; first: `{}`", m.what, m.concurrency, m.errors, e.replace('`', "'"));
            }
        }
    }
    let top = c.concurrency.iter().copied().max().unwrap_or(1);
    let leads: Vec<&Pair> = pairs.iter().filter(|p| p.work.starts_with("lead")).collect();
    let ratio = |p: &Pair| p.carnet.per_second / p.bare.per_second.max(1e-9);
    let lines: Vec<String> = leads
        .iter()
        .map(|p| format!("{} with {} clients ({:.2})", verdict(ratio(p) >= TARGET_LEAD_RATIO), p.carnet.concurrency, ratio(p)))
        .collect();
    let _ = writeln!(s, "- target lead intake ≥ {TARGET_LEAD_RATIO} of the bare lookup + insert: {}", lines.join(", "));
    if let Some(p) = leads.iter().find(|p| p.carnet.concurrency == top) {
        let on = if c.backend == Backend::Sqlite { "" } else { " (set for SQLite; for comparison here)" };
        let _ = writeln!(
            s,
            "- target lead p99 < {TARGET_LEAD_P99_MS} ms with {top} clients{on}: {} ({} ms)",
            verdict(p.carnet.p99_ms < TARGET_LEAD_P99_MS),
            fmt_ms(p.carnet.p99_ms)
        );
    }
    if let (Some(one), Some(many)) =
        (leads.iter().map(|p| &p.carnet).min_by_key(|m| m.concurrency), leads.iter().find(|p| p.carnet.concurrency == top))
    {
        if one.concurrency < top {
            let _ = writeln!(
                s,
                "- target lead throughput grows with clients: {} ({:.0} req/s with {} client(s), {:.0} with {top})",
                verdict(many.carnet.per_second > one.per_second * 1.1),
                one.per_second,
                one.concurrency,
                many.carnet.per_second
            );
        }
    }
    let lines: Vec<String> = pairs
        .iter()
        .filter(|p| p.work.starts_with("customer"))
        .map(|p| format!("{} with {} clients ({:.2})", verdict(ratio(p) >= TARGET_PAGE_RATIO), p.carnet.concurrency, ratio(p)))
        .collect();
    let on = if c.backend == Backend::Sqlite { "" } else { " (set for SQLite; for comparison here)" };
    let _ = writeln!(s, "- target customer prefix page ≥ {TARGET_PAGE_RATIO} of the bare page{on}: {}", lines.join(", "));
    let lines: Vec<String> = pairs
        .iter()
        .filter(|p| p.work.starts_with("authenticated"))
        .map(|p| {
            let cost = p.bare.per_second / p.carnet.per_second.max(1e-9);
            format!("{} with {} clients ({cost:.2}×)", verdict(cost < 2.0), p.carnet.concurrency)
        })
        .collect();
    if !lines.is_empty() {
        let _ = writeln!(s, "- target authenticated request costs < 2× `/healthz` (healthz req/s ÷ me req/s): {}", lines.join(", "));
    }
    if let Some((units, commits)) = grouped.filter(|(_, c)| *c > 0) {
        let _ = writeln!(
            s,
            "- SQLite group commit over all the runs: {} write transactions in {} `COMMIT`s ({:.2} per `COMMIT`)",
            fmt_n(units as usize),
            fmt_n(commits as usize),
            units as f64 / commits as f64
        );
    }
    s
}

#[tokio::main]
async fn main() -> Result<()> {
    let c = Common::from_env("1,8")?;
    let customers = env_num("CARNET_BENCH_CUSTOMERS", 50_000usize)?;
    if customers < 1000 || c.seconds == 0 || c.concurrency.is_empty() || c.concurrency.contains(&0) {
        bail!("CARNET_BENCH_CUSTOMERS must be at least 1000, SECONDS and CONCURRENCY at least 1");
    }
    let (config, place) = support::configure(&c)?;
    eprintln!(
        "carnet ceiling bench: backend {}, {customers} customers, {} s per run, concurrency {:?}",
        c.backend.name(),
        c.seconds,
        c.concurrency
    );
    let outcome = async {
        let run = support::prepare(&config, TEAMS).await?;
        let state = &run.state;
        let gen = support::bulk_connection(&config).await?;
        let started = Instant::now();
        let (known, gen_s) = generate(&gen, customers, &run.branches, run.now).await.context("generating the dataset")?;
        gen.pool.close().await;
        eprintln!("  {customers} customers in {gen_s:.1} s ({:.1} s with ANALYZE)", started.elapsed().as_secs_f64());
        let bare_db = Db::connect(&config.database_url, config.database_schema.as_deref(), config.database_max_connections).await?;
        bare_table(&bare_db).await?;
        let db = &state.db;
        let admin_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(ADMIN_EMAIL).fetch_one(&db.pool).await?;
        let admin = carnet::identity::token::create(db, &Actor::system(), run.now, admin_id, "bench").await?.1;
        let src = Arc::new(LeadSource {
            known,
            first_slot: 3 * customers as u64 + 10,
            run: rand::random::<u32>() % 1_000_000,
            next: AtomicU64::new(0),
        });
        let prefixes = prefixes();
        let carnet_paths: Vec<String> = prefixes.iter().map(|p| format!("/api/v1/customers?q={p}&limit={PAGE}")).collect();
        let bare_paths: Vec<String> = prefixes.iter().map(|p| format!("/customers?q={p}&limit={PAGE}")).collect();
        let pairs = vec![
            (
                "lead intake",
                format!("POST /api/v1/leads, {:.0} % known customers, admin token", 100.0 * KNOWN_SHARE),
                Op::CarnetLead { src: src.clone(), auth: admin.clone() },
                "bare lookup + insert".to_string(),
                Op::BareLead { src: src.clone() },
            ),
            (
                "customer prefix page",
                format!("GET /api/v1/customers?q=…&limit={PAGE}, q in {}; admin token", prefixes.join(", ")),
                Op::Page { paths: Arc::new(carnet_paths.clone()), auth: Some(admin.clone()) },
                format!("bare {PAGE}-row prefix page"),
                Op::Page { paths: Arc::new(bare_paths.clone()), auth: None },
            ),
            (
                "authenticated request",
                "GET /api/v1/me, bearer token (authentication, rights, a small JSON answer)".to_string(),
                Op::Page { paths: Arc::new(vec!["/api/v1/me".to_string()]), auth: Some(admin.clone()) },
                "Carnet's own GET /healthz (the HTTP stack alone, no database)".to_string(),
                Op::Page { paths: Arc::new(vec!["/healthz".to_string()]), auth: None },
            ),
        ];
        // `CARNET_BENCH_ONLY=prefix` runs the pairs whose name holds it (a profile of one pair).
        let only = std::env::var("CARNET_BENCH_ONLY").unwrap_or_default();
        let pairs: Vec<_> = pairs.into_iter().filter(|p| p.0.contains(only.as_str())).collect();
        let c = &c;
        let grouped_before = state.db.group_commit_stats();
        let pairs = support::with_server(state, |carnet_base| async move {
            with_bare(bare_db, |bare_base| async move {
                // Both answer the same prefix with a full page.
                let cl = support::client()?;
                for (cp, bp) in carnet_paths.iter().zip(&bare_paths).take(3) {
                    let a = get_json(&cl, &carnet_base, cp, &admin).await?;
                    let b: serde_json::Value = cl.get(format!("{bare_base}{bp}")).send().await?.json().await?;
                    let (na, nb) = (a["items"].as_array().map_or(0, Vec::len), b["items"].as_array().map_or(0, Vec::len));
                    if na != PAGE || nb != PAGE {
                        bail!("{cp}: {na} items from Carnet, {nb} from the bare page (expected {PAGE})");
                    }
                }
                measure(c, &carnet_base, &bare_base, pairs).await
            })
            .await
        })
        .await?;
        let grouped = match (grouped_before, state.db.group_commit_stats()) {
            (Some((u0, c0)), Some((u1, c1))) => Some((u1 - u0, c1 - c0)),
            _ => None,
        };
        state.db.close().await;
        support::publish("ceiling", "Ceiling", c.backend, &report(c, &config, customers, gen_s, &pairs, grouped))
    }
    .await;
    place.close(c.pg_url.as_deref(), outcome).await
}
