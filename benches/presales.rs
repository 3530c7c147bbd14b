//! Pre-sales benchmark: `cargo bench --bench presales`.
//!
//! Generates a vendor's partner channel (`CARNET_BENCH_PARTNERS` resellers, default 400, each
//! with a user and followed by the channel manager of one of the 16 branches;
//! `CARNET_BENCH_OPPORTUNITIES` partner opportunities, default 100,000, most of them eligible
//! "Primo" ones; `CARNET_BENCH_REQUESTS` pre-sales requests, default 200,000, on them, over a
//! year, in every status, split between 4 pre-sales teams (staff groups) of 5 engineers by
//! intervention type), starts the real Carnet in-process on 127.0.0.1, and measures over HTTP,
//! in a closed loop of `CARNET_BENCH_CONCURRENCY` clients for `CARNET_BENCH_SECONDS` per
//! scenario (after a one-second warm-up that is not recorded):
//!
//! - a. the pre-sales queue's first page as the team's engineers use it (`/presales`, all and by
//!   status; their team's requests only, filtered in SQL), as HTML (session) and over the API
//!   (`/api/v1/presales-requests`, bearer token);
//! - b. the partner portal: a reseller's opportunity list and pre-sales request list (first
//!   pages of 25), as the users of the 16 partners with the most requests.
//!
//! Options (environment): `CARNET_BENCH_BACKEND` (`sqlite` or `postgres` with
//! `CARNET_TEST_POSTGRES_URL`), `CARNET_BENCH_PARTNERS`, `CARNET_BENCH_OPPORTUNITIES`,
//! `CARNET_BENCH_REQUESTS`, `CARNET_BENCH_SECONDS`, `CARNET_BENCH_CONCURRENCY` (default `8,32`),
//! `CARNET_BENCH_PARTS` (`load`, default, or `generate`). The results are written into
//! `docs/benchmarks.md` between the `<!-- bench:presales:BACKEND:… -->` markers.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use carnet::access::Actor;
use carnet::http::AppState;
use reqwest::{Client, StatusCode};

#[path = "support/mod.rs"]
mod support;

use support::{exec, fmt_ms, fmt_n, lit, verdict, Auth, Backend, Branch, Bulk, Common, Measure, Rng, Scenario, Team};

/// The staff of each branch: its channel manager, who follows the branch's partners.
const TEAMS: &[Team] = &[Team { team: None, role: "responsable_partenaires", members: 1, login: false }];
/// The pre-sales teams (staff groups) and their engineers.
const PRESALES_TEAMS: usize = 4;
const ENGINEERS_PER_TEAM: usize = 5;
/// The intervention types (weights in 1000), and the team each goes to (`presales.type_teams`): the fourth team
/// takes what no type names (the default group).
const TYPES: &[(&str, u32)] = &[("demo", 500), ("atelier", 200), ("cadrage", 200), ("soutenance", 100)];
/// The statuses of the generated requests, with their weights in 1000 (drafts are the
/// partner's alone).
const STATUSES: &[(&str, u32)] = &[
    ("brouillon", 50),
    ("a_traiter", 100),
    ("en_cours", 100),
    ("en_attente_info", 50),
    ("planifiee", 100),
    ("terminee", 450),
    ("refusee", 100),
    ("annulee", 50),
];
const ROWS_PER_STATEMENT: usize = 1000;
const DAY: i64 = 86_400_000;
/// The target of every page here (as for the other lists' first pages).
const TARGET_P99_MS: f64 = 30.0;

struct Options {
    c: Common,
    partners: usize,
    opportunities: usize,
    requests: usize,
    load: bool,
}

impl Options {
    fn from_env() -> Result<Options> {
        let parts = support::env_str("CARNET_BENCH_PARTS").unwrap_or_else(|| "load".into());
        Ok(Options {
            c: Common::from_env("8,32")?,
            partners: support::env_num("CARNET_BENCH_PARTNERS", 400)?,
            opportunities: support::env_num("CARNET_BENCH_OPPORTUNITIES", 100_000)?,
            requests: support::env_num("CARNET_BENCH_REQUESTS", 200_000)?,
            load: match parts.as_str() {
                "load" => true,
                "generate" => false,
                other => bail!("CARNET_BENCH_PARTS: expected load or generate, got {other:?}"),
            },
        })
    }
}

/// What was generated.
struct Dataset {
    partners: usize,
    opportunities: usize,
    requests: usize,
    by_status: Vec<(&'static str, usize)>,
    /// The engineers (user id, email) of each team, and each team's group id.
    teams: Vec<(i64, Vec<(i64, String)>)>,
    seconds: f64,
    size_bytes: Option<u64>,
}

impl support::Generated for Dataset {
    fn rows(&self) -> usize {
        self.partners * 2 + self.opportunities + self.requests
    }
    fn seconds(&self) -> f64 {
        self.seconds
    }
}

async fn generate(gen: &carnet::db::Db, o: &Options, branches: &[Branch], now: i64) -> Result<(Dataset, ())> {
    let started = Instant::now();
    let mut rng = Rng(0x5A1E5);
    let hash = carnet::identity::password::hash(support::PASSWORD)?;
    let roles = support::Roles::load(gen).await?;
    // The pre-sales teams: a group each, with its engineers (who log in).
    let mut tx = gen.begin().await?;
    let mut teams = Vec::new();
    for t in 0..PRESALES_TEAMS {
        let group: i64 = sqlx::query_scalar(
            "INSERT INTO user_groups (name, description, org_unit_id, created_at, updated_at) VALUES ($1, '', NULL, $2, $2) RETURNING id",
        )
        .bind(format!("Avant-vente {}", t + 1))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let mut engineers = Vec::new();
        for e in 0..ENGINEERS_PER_TEAM {
            let email = format!("avant-vente.{}.{}@carnet-distribution.ca", t + 1, e + 1);
            let id = support::insert_user(
                &mut tx,
                now,
                &email,
                &format!("Ingénieur {} {}", t + 1, e + 1),
                Some(&hash),
                roles.id("avant_vente")?,
                None,
            )
            .await?;
            sqlx::query("INSERT INTO user_group_members (group_id, user_id) VALUES ($1, $2)")
                .bind(group)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            engineers.push((id, email));
        }
        teams.push((group, engineers));
    }
    // Types 1-3 go to teams 1-3, the rest to the default team (the 4th).
    let routes: Vec<String> =
        TYPES.iter().take(PRESALES_TEAMS - 1).enumerate().map(|(i, (t, _))| format!("{t}=Avant-vente {}", i + 1)).collect();
    for (key, value) in [("presales.type_teams", routes.join("; ")), ("presales.team_group", format!("Avant-vente {PRESALES_TEAMS}"))] {
        sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)")
            .bind(key)
            .bind(value)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    // The partners, each with its user, followed by a branch's channel manager.
    let mut sql =
        String::from("INSERT INTO partners (name, active, unit_id, owner_id, email, admin_invites, created_at, updated_at) VALUES ");
    for p in 0..o.partners {
        let b = &branches[p % branches.len()];
        sql.push_str(if p > 0 { ", (" } else { "(" });
        lit(&mut sql, Some(&format!("Revendeur {p:04}")));
        let _ = write!(sql, ", 1, {}, {}, ", b.id, b.staff[0][0]);
        lit(&mut sql, Some(&format!("contact@revendeur{p}.example")));
        let _ = write!(sql, ", 1, {now}, {now})");
    }
    let partners = support::insert_ids(&mut tx, sql, o.partners, "partner").await?;
    let mut sql = String::from(
        "INSERT INTO partner_users (partner_id, email, name, language, is_admin, can_opportunities, status, invited_by_name, invited_at, \
         created_at, updated_at) VALUES ",
    );
    for (i, p) in partners.iter().enumerate() {
        sql.push_str(if i > 0 { ", (" } else { "(" });
        let _ = write!(sql, "{p}, ");
        lit(&mut sql, Some(&format!("vente@revendeur{i}.example")));
        let _ = write!(sql, ", 'Vendeur {i}', 'fr', 1, 1, 'active', 'banc', {now}, {now}, {now})");
    }
    let users = support::insert_ids(&mut tx, sql, partners.len(), "partner user").await?;
    tx.commit().await?;

    // Their opportunities (4 in 5 eligible "Primo"); partners' sizes are skewed.
    let mut opp_partner = Vec::with_capacity(o.opportunities);
    let mut bulk = Bulk::start(gen, "partner opportunities").await?;
    let mut done = 0;
    let mut first_opp = None;
    while done < o.opportunities {
        let n = ROWS_PER_STATEMENT.min(o.opportunities - done);
        let mut sql = String::from(
            "INSERT INTO partner_opportunities (partner_id, customer_name, opportunity_type, status, amount_cents, created_by_user_id, \
             created_at, updated_at) VALUES ",
        );
        for i in 0..n {
            let k = rng.skewed(partners.len());
            opp_partner.push(k);
            let kind = if rng.chance(0.8) { "primo" } else { "extension" };
            let at = now - (rng.below(365) as i64) * DAY;
            sql.push_str(if i > 0 { ", (" } else { "(" });
            let _ = write!(sql, "{}, ", partners[k]);
            lit(&mut sql, Some(&format!("Client final {}", done + i)));
            let _ = write!(sql, ", '{kind}', 'nouvelle', {}, {}, {at}, {at})", 100_000 + rng.below(9_000_000), users[k]);
        }
        let ids = support::insert_ids(bulk.tx(), sql, n, "partner opportunity").await?;
        first_opp.get_or_insert(ids[0]);
        done += n;
        bulk.done(done).await?;
    }
    bulk.finish().await?;
    let first_opp = first_opp.unwrap_or(1);

    // The pre-sales requests, in time order, numbered as the app numbers them.
    let mut by_status: Vec<(&'static str, usize)> = STATUSES.iter().map(|(s, _)| (*s, 0)).collect();
    let mut bulk = Bulk::start(gen, "pre-sales requests").await?;
    let mut done = 0;
    let span = 365 * DAY;
    while done < o.requests {
        let n = ROWS_PER_STATEMENT.min(o.requests - done);
        let mut sql = String::from(
            "INSERT INTO presales_requests (number, partner_id, partner_opportunity_id, created_by_user_id, description, intervention_type, \
             on_site, place, desired_date, engineer_id, team_id, status, previous_status, reason, round, invitation_sequence, submitted_at, \
             created_at, updated_at) VALUES ",
        );
        for i in 0..n {
            let seq = done + i;
            let opp = rng.below(o.opportunities);
            let k = opp_partner[opp];
            let kind = support::weighted(&mut rng, TYPES);
            let team = TYPES.iter().position(|(t, _)| *t == kind).filter(|t| *t < PRESALES_TEAMS - 1).unwrap_or(PRESALES_TEAMS - 1);
            let status = support::weighted(&mut rng, STATUSES);
            if let Some(s) = by_status.iter_mut().find(|(s, _)| *s == status) {
                s.1 += 1;
            }
            let at = now - span + (seq as i64) * span / (o.requests as i64);
            let (group, engineers) = &teams[team];
            let engineer = match status {
                "brouillon" | "a_traiter" => "NULL".to_string(),
                _ => engineers[rng.below(engineers.len())].0.to_string(),
            };
            let previous = if status == "en_attente_info" { "'en_cours'" } else { "NULL" };
            let reason = if matches!(status, "refusee" | "annulee") { "'Hors périmètre'" } else { "NULL" };
            let round = if matches!(status, "planifiee" | "terminee") { 1 } else { 0 };
            let (team_id, submitted) =
                if status == "brouillon" { ("NULL".to_string(), "NULL".to_string()) } else { (group.to_string(), at.to_string()) };
            sql.push_str(if i > 0 { ", (" } else { "(" });
            lit(&mut sql, Some(&format!("AV-2026-{:07}", seq + 1)));
            let _ = write!(sql, ", {}, {}, {}, ", partners[k], first_opp + opp as i64, users[k]);
            lit(&mut sql, Some(&format!("Demande {} : démonstration pour le client", seq + 1)));
            let _ = write!(
                sql,
                ", '{kind}', 0, NULL, NULL, {engineer}, {team_id}, '{status}', {previous}, {reason}, {round}, 0, {submitted}, {at}, {at})"
            );
        }
        exec(bulk.tx(), &sql).await?;
        done += n;
        bulk.done(done).await?;
    }
    bulk.finish().await?;
    let size_bytes =
        support::analyze(gen, &["partners", "partner_users", "partner_opportunities", "presales_requests", "user_group_members"]).await?;
    let data = Dataset {
        partners: o.partners,
        opportunities: o.opportunities,
        requests: o.requests,
        by_status,
        teams,
        seconds: started.elapsed().as_secs_f64(),
        size_bytes,
    };
    Ok((data, ()))
}

/// GETs of pages, each client as one user: client `task` is user `task % users`, each
/// iteration the next of that user's paths. An answer other than 200, or one without the
/// expected text, is an error.
#[derive(Clone)]
struct Pages {
    users: std::sync::Arc<Vec<(Auth, Vec<String>)>>,
    expect: &'static str,
}

impl Scenario for Pages {
    async fn once(&self, client: &Client, base: &str, task: usize, iteration: u64, _c: usize) -> Result<Option<usize>, String> {
        let (auth, paths) = &self.users[task % self.users.len()];
        let path = &paths[iteration as usize % paths.len()];
        let resp = auth.apply(client.get(format!("{base}{path}"))).send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| format!("{path}: {e}"))?;
        if status != StatusCode::OK || !support::contains(&body, self.expect.as_bytes()) {
            return Err(format!("{path}: {status} {}", support::short(&String::from_utf8_lossy(&body))));
        }
        Ok(None)
    }
}

async fn load(o: &Options, state: &AppState, base: &str, data: &Dataset) -> Result<Vec<Measure>> {
    let db = &state.db;
    let now = state.clock.now_ms();
    let c = support::client()?;
    // The first engineer of each team: a session and a token.
    let mut html = Vec::new();
    let mut api = Vec::new();
    let paths = |prefix: &str, key: &str| -> Vec<String> {
        let mut v = vec![prefix.to_string()];
        v.extend(["a_traiter", "en_cours", "planifiee", "terminee"].iter().map(|s| format!("{prefix}?{key}={s}")));
        v
    };
    for (_, engineers) in &data.teams {
        let (id, email) = &engineers[0];
        let session = support::login(&c, base, email).await.with_context(|| format!("login of {email}"))?;
        let token = carnet::identity::token::create(db, &Actor::system(), now, *id, "bench").await?.1;
        html.push((Auth::Session(session), paths("/presales", "status")));
        api.push((Auth::Bearer(token), paths("/api/v1/presales-requests", "status")));
    }
    // Sanity: an engineer's queue holds their team's requests only.
    let (_, first) = &data.teams[0];
    let (token, _) = match &api[0].0 {
        Auth::Bearer(t) => (t.clone(), ()),
        _ => bail!("no token"),
    };
    let v = support::get_json(&c, base, "/api/v1/presales-requests?limit=100", &token).await?;
    let items = v["items"].as_array().map(Vec::len).unwrap_or(0);
    let other_team = v["items"].as_array().into_iter().flatten().filter(|r| r["team_name"] != "Avant-vente 1").count();
    eprintln!("  checks: {} of team 1 sees {items} requests on the first page, {other_team} of another team", first[0].1);
    if items == 0 || other_team > 0 {
        bail!("the queue of team 1 is empty or shows another team's requests");
    }
    // The 16 partners with the most requests: a partner session each (made directly; the login
    // is tested elsewhere).
    let busiest: Vec<(i64,)> = sqlx::query_as(
        "SELECT u.id FROM presales_requests r JOIN partner_users u ON u.id = r.created_by_user_id GROUP BY u.id ORDER BY COUNT(*) DESC, u.id LIMIT 16",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut partner_opps = Vec::new();
    let mut partner_presales = Vec::new();
    for (u,) in busiest {
        let s = carnet::partners::session::create(db, u, now, DAY, "127.0.0.1", "bench").await?;
        partner_opps.push((Auth::Partner(s.secret.clone()), vec!["/partner/opportunities".to_string()]));
        partner_presales.push((
            Auth::Partner(s.secret),
            vec![
                "/partner/presales".to_string(),
                "/partner/presales?status=planifiee".to_string(),
                "/partner/presales?status=terminee".to_string(),
            ],
        ));
    }
    let n = html.len();
    let pages = |users: Vec<(Auth, Vec<String>)>, expect: &'static str| Pages { users: std::sync::Arc::new(users), expect };
    let scenarios = vec![
        (
            "a. pre-sales queue, HTML",
            format!("GET /presales, all and by status (first page of 25, the team's requests), {n} engineers of {n} teams"),
            pages(html, "presales-table"),
        ),
        (
            "a. pre-sales queue, API",
            format!("GET /api/v1/presales-requests, all and by status (first page of 25), {n} engineers"),
            pages(api, "\"items\""),
        ),
        (
            "b. partner opportunity list",
            format!("GET /partner/opportunities (first page of 25), users of the {} busiest partners", partner_opps.len()),
            pages(partner_opps, "partner-opportunities"),
        ),
        (
            "b. partner pre-sales list",
            "GET /partner/presales, all, planned and done (first page of 25), the same users".into(),
            pages(partner_presales, "/partner/presales/"),
        ),
    ];
    support::run_all(base, scenarios, o.c.seconds, &o.c.concurrency).await
}

fn report(o: &Options, config: &carnet::config::Config, data: &Dataset, load: &[Measure]) -> String {
    let mut s = String::new();
    support::header(&mut s, o.c.backend, config);
    let build = if cfg!(debug_assertions) {
        "debug (unoptimised, `cargo test --bench presales`): the figures are an upper bound of a release build's"
    } else {
        "release (`cargo bench --bench presales`)"
    };
    let _ = writeln!(s, "- build: {build}");
    let statuses: Vec<String> = data.by_status.iter().map(|(st, n)| format!("{st} {}", fmt_n(*n))).collect();
    let _ = writeln!(
        s,
        "- dataset: {} partners (one user each) in 16 branches, {} partner opportunities, {} pre-sales requests over a year ({}), \
         {PRESALES_TEAMS} pre-sales teams of {ENGINEERS_PER_TEAM} engineers (types routed to teams); generated in {:.0} s{}",
        fmt_n(data.partners),
        fmt_n(data.opportunities),
        fmt_n(data.requests),
        statuses.join(", "),
        data.seconds,
        data.size_bytes.map(|b| format!("; {:.2} GiB on disk", b as f64 / (1u64 << 30) as f64)).unwrap_or_default()
    );
    if !load.is_empty() {
        support::load_table(&mut s, &o.c.concurrency, o.c.seconds, load);
        support::error_lines(&mut s, load);
        let _ = writeln!(s);
        let on = if o.c.backend == Backend::Sqlite { "" } else { " (set for SQLite; for comparison here)" };
        let parts: Vec<String> = load
            .iter()
            .map(|m| {
                format!("{} {} with {} clients (p99 {} ms)", m.name, verdict(m.p99_ms < TARGET_P99_MS), m.concurrency, fmt_ms(m.p99_ms))
            })
            .collect();
        let _ = writeln!(s, "- target first pages, p99 < {TARGET_P99_MS} ms{on}: {}", parts.join("; "));
    }
    s
}

#[tokio::main]
async fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; no other argument is understood.
    let o = Options::from_env()?;
    let (config, place) = support::configure(&o.c)?;
    eprintln!(
        "carnet pre-sales bench: backend {}, {} partners, {} opportunities, {} requests, {} s per scenario, concurrency {:?}",
        o.c.backend.name(),
        o.partners,
        o.opportunities,
        o.requests,
        o.c.seconds,
        o.c.concurrency
    );
    let outcome = async {
        let run = support::prepare(&config, TEAMS).await?;
        let gen = support::bulk_connection(&config).await?;
        let r = generate(&gen, &o, &run.branches, run.now).await;
        let (data, ()) = support::generated(gen, r).await?;
        let mut results = Vec::new();
        if o.load {
            let (o, st, data) = (&o, &run.state, &data);
            results = support::with_server(st, |base| async move { load(o, st, &base, data).await }).await?;
        }
        run.state.db.pool.close().await;
        support::publish("presales", "Pre-sales", o.c.backend, &report(&o, &config, &data, &results))
    }
    .await;
    place.close(o.c.pg_url.as_deref(), outcome).await
}
