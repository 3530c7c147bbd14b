//! Email benchmark: `cargo bench --bench mail`.
//!
//! Measures the two halves of outbound email against the real Carnet (`app::prepare`, the
//! standard job registry), without HTTP:
//!
//! - **queueing**: `CARNET_BENCH_EMAILS` business transactions, each in its own transaction,
//!   from `CARNET_BENCH_CONCURRENCY` concurrent tasks. Each one writes an audit event
//!   (`audit::record`, the small write every business change makes) and queues a ≈ 2 KB
//!   text + HTML email to one recipient about a record (`mail::queue`: sender settings, thread
//!   token, References of the earlier emails about the record, the outbox row and its
//!   `deliver-email` job). The same number of transactions without the email is measured
//!   first, to show what queueing costs.
//! - **delivery**: a real SMTP server (Python's aiosmtpd with `tests/support/carnet_smtp.py`,
//!   storing messages in a Maildir) on a free loopback port, `smtp_url` pointing at it, and
//!   `CARNET_BENCH_WORKERS` tasks each calling `jobs::run_one` until no job is left. The bench
//!   then checks that the Maildir holds exactly one message per queued email (by Message-ID)
//!   and that every email is `sent`. Skipped, with a message, when python3 or aiosmtpd is
//!   missing (`pip install aiosmtpd`).
//!
//! Options (environment):
//! - `CARNET_BENCH_BACKEND`: `sqlite` (default, a temporary file) or `postgres` (uses
//!   `CARNET_TEST_POSTGRES_URL` or `DATABASE_URL`, in a fresh schema dropped at the end);
//! - `CARNET_BENCH_EMAILS` (default 20000), `CARNET_BENCH_CONCURRENCY` (default 8),
//!   `CARNET_BENCH_WORKERS` (default 4).
//!
//! The results are printed as a markdown table and written into `docs/benchmarks.md`,
//! between the `<!-- bench:mail:BACKEND:start -->` and `…:end -->` markers.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use carnet::access::Actor;
use carnet::audit::Change;
use carnet::config::Config;
use carnet::db::Db;
use carnet::http::AppState;
use carnet::mail::{Mailbox, NewEmail};

#[path = "../tests/support/smtp.rs"]
mod smtp;
#[path = "support/mod.rs"]
mod support;

use smtp::SmtpServer;

use support::{
    ascii_slug, cpu_sample, cpu_sample_with, cpu_share, env_num, fmt_ms, micros, percentile, Common, CpuShare, FIRST_NAMES, LAST_NAMES,
};

/// Emails per record: each record's later emails carry the References of the earlier ones.
const EMAILS_PER_RECORD: usize = 5;
/// Unrecorded business transactions (without email) before the first measure.
const WARMUP_TRANSACTIONS: usize = 500;
const ENTITY: &str = "meeting";
const EVENT: &str = "meeting_confirmation";

// ---------------------------------------------------------------- options

struct Options {
    c: Common,
    emails: usize,
    /// Concurrent tasks queueing (`CARNET_BENCH_CONCURRENCY`, a single level).
    concurrency: usize,
    workers: usize,
}

impl Options {
    fn from_env() -> Result<Options> {
        let c = Common::from_env("8")?;
        let concurrency = match c.concurrency[..] {
            [n] if n > 0 => n,
            _ => bail!("CARNET_BENCH_CONCURRENCY: one number of tasks for this bench"),
        };
        let o = Options {
            c,
            emails: env_num("CARNET_BENCH_EMAILS", 20_000usize)?,
            concurrency,
            workers: env_num("CARNET_BENCH_WORKERS", 4usize)?,
        };
        if o.emails < 10 || o.workers == 0 {
            bail!("CARNET_BENCH_EMAILS must be at least 10, WORKERS at least 1");
        }
        Ok(o)
    }
}

// ---------------------------------------------------------------- content

const COMPANIES: &[&str] = &[
    "Boulangeries Lemoine",
    "Transports Roussel",
    "Garage du Centre",
    "Imprimerie Vasseur",
    "Cabinet Hubert & Associés",
    "Menuiserie Perrot",
    "Clinique vétérinaire des Tilleuls",
    "Hôtel de la Gare",
];

const CITIES: &[&str] = &["Lille", "Strasbourg", "Marseille", "Lyon", "Nantes", "Bordeaux", "Rennes", "Dijon", "Grenoble", "Tours"];

/// The recipient of email `i`: a contact at one of the client companies.
fn recipient(i: usize) -> Result<Mailbox> {
    let first = FIRST_NAMES[i % FIRST_NAMES.len()].0;
    let last = LAST_NAMES[(i / FIRST_NAMES.len()) % LAST_NAMES.len()];
    let company = COMPANIES[i % COMPANIES.len()];
    let raw = format!("{first} {last} <{}.{}@{}.fr>", ascii_slug(first), ascii_slug(last), ascii_slug(company));
    Mailbox::parse(&raw).map_err(|e| anyhow!("recipient {raw}: {e}"))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A meeting confirmation as the product's templates would render it: about 0.8 KB of text
/// and 1.3 KB of HTML.
fn email(i: usize, record: i64, to: Mailbox) -> NewEmail {
    let name = to.name.clone().unwrap_or_default();
    let company = COMPANIES[i % COMPANIES.len()];
    let city = CITIES[(i / 7) % CITIES.len()];
    let day = 1 + i % 28;
    let hour = 8 + i % 10;
    let rep = format!("{} {}", FIRST_NAMES[(i / 3) % FIRST_NAMES.len()].0, LAST_NAMES[(i / 5) % LAST_NAMES.len()]);
    let subject = format!("Confirmation de votre rendez-vous du {day:02}/12 à {hour}h00 – {company}");
    let text = format!(
        "Bonjour {name},\n\n\
         Nous vous confirmons votre rendez-vous du {day:02} décembre 2026 à {hour}h00 avec {rep}, \
         conseiller commercial de l'agence de {city}, au sujet de votre projet pour {company}.\n\n\
         Lieu : Agence Carnet Distribution de {city}, 12 rue de la République, {city}.\n\
         Durée prévue : une heure. Merci de vous munir de vos derniers devis et factures, ainsi que \
         du plan des locaux si le projet concerne un aménagement.\n\n\
         Pour déplacer ou annuler ce rendez-vous, répondez simplement à ce message : votre réponse \
         sera rattachée au dossier n° {record} et transmise à votre conseiller.\n\n\
         Ordre du jour proposé :\n\
         - point sur vos besoins et le calendrier du projet ;\n\
         - présentation des offres adaptées et des conditions de financement ;\n\
         - prochaines étapes et documents à fournir.\n\n\
         Nous vous remercions de votre confiance et restons à votre disposition.\n\n\
         Bien cordialement,\n\
         {rep}\n\
         Carnet Distribution – Agence de {city}\n\
         Tél. 03 20 00 {:02} {:02}\n",
        i % 100,
        (i / 100) % 100
    );
    let (hname, hrep, hcity, hcompany) = (html_escape(&name), html_escape(&rep), html_escape(city), html_escape(company));
    let html = format!(
        "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Confirmation de rendez-vous</title></head>\
         <body style=\"font-family: Arial, sans-serif; font-size: 14px; color: #222;\">\
         <p>Bonjour {hname},</p>\
         <p>Nous vous confirmons votre rendez-vous du <strong>{day:02} décembre 2026 à {hour}h00</strong> avec {hrep}, \
         conseiller commercial de l'agence de {hcity}, au sujet de votre projet pour {hcompany}.</p>\
         <table style=\"border-collapse: collapse; margin: 12px 0;\">\
         <tr><td style=\"padding: 4px 12px 4px 0; color: #666;\">Lieu</td><td>Agence Carnet Distribution de {hcity}, 12 rue de la République</td></tr>\
         <tr><td style=\"padding: 4px 12px 4px 0; color: #666;\">Durée</td><td>une heure</td></tr>\
         <tr><td style=\"padding: 4px 12px 4px 0; color: #666;\">Dossier</td><td>n° {record}</td></tr></table>\
         <p>Merci de vous munir de vos derniers devis et factures, ainsi que du plan des locaux si le projet concerne un aménagement.</p>\
         <p>Ordre du jour proposé :</p><ul>\
         <li>point sur vos besoins et le calendrier du projet ;</li>\
         <li>présentation des offres adaptées et des conditions de financement ;</li>\
         <li>prochaines étapes et documents à fournir.</li></ul>\
         <p>Pour déplacer ou annuler ce rendez-vous, répondez simplement à ce message : votre réponse sera rattachée \
         au dossier et transmise à votre conseiller.</p>\
         <p>Bien cordialement,<br>{hrep}<br><span style=\"color: #666;\">Carnet Distribution – Agence de {hcity}</span></p>\
         </body></html>"
    );
    NewEmail {
        entity: Some((ENTITY.to_string(), record)),
        event: EVENT.into(),
        to: vec![to],
        subject,
        text,
        html: Some(html),
        ..NewEmail::default()
    }
}

// ---------------------------------------------------------------- measures

struct Measure {
    name: &'static str,
    what: String,
    ok: usize,
    failures: usize,
    first_failure: Option<String>,
    seconds: f64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu: CpuShare,
}

#[derive(Default)]
struct TaskResult {
    latencies_us: Vec<u32>,
    failures: usize,
    first_failure: Option<String>,
}

/// Gathers the tasks' results into a measure.
fn measure(name: &'static str, what: String, results: Vec<TaskResult>, elapsed: Duration, cpu: CpuShare) -> Measure {
    let mut all = Vec::new();
    let mut failures = 0;
    let mut first_failure = None;
    for r in results {
        all.extend(r.latencies_us);
        failures += r.failures;
        if first_failure.is_none() {
            first_failure = r.first_failure;
        }
    }
    all.sort_unstable();
    let seconds = elapsed.as_secs_f64();
    let m = Measure {
        name,
        what,
        ok: all.len(),
        failures,
        first_failure,
        seconds,
        per_second: all.len() as f64 / seconds,
        p50_ms: percentile(&all, 50.0),
        p99_ms: percentile(&all, 99.0),
        cpu,
    };
    eprintln!(
        "    {} in {:.1} s: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} failures; CPU: app {:.0} %, database {:.0} %, smtp {:.0} %, other {:.0} %",
        m.ok, m.seconds, m.per_second, m.p50_ms, m.p99_ms, m.failures, m.cpu.app, m.cpu.database, m.cpu.helper, m.cpu.other
    );
    if let Some(e) = &m.first_failure {
        eprintln!("    first failure: {e}");
    }
    m
}

// ---------------------------------------------------------------- queueing

/// One business transaction: an audit event about record `record`, and with `with_email`
/// the confirmation email about it, committed together.
async fn business(state: &AppState, actor: &Actor, i: usize, record: i64, with_email: bool) -> Result<()> {
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    let change = Change { field: "status".into(), old: Some("planned".into()), new: Some("confirmed".into()) };
    carnet::audit::record(&mut tx, actor, now, ENTITY, record, "update", &[change]).await?;
    if with_email {
        carnet::mail::queue(&mut tx, now, email(i, record, recipient(i)?)).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A queueing phase: `n` business transactions numbered from `first`.
struct Phase {
    name: &'static str,
    what: String,
    first: usize,
    n: usize,
    with_email: bool,
}

/// Runs a phase from `concurrency` tasks, each taking the next number as soon as its previous
/// transaction is committed.
async fn queueing(state: &AppState, phase: Phase, records: usize, concurrency: usize) -> Result<Measure> {
    let Phase { name, what, first, n, with_email } = phase;
    eprintln!("  {name}: {what} …");
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_start = cpu_sample();
    let started = Instant::now();
    let mut handles = Vec::with_capacity(concurrency);
    for task in 0..concurrency {
        let state = state.clone();
        let next = next.clone();
        handles.push(tokio::spawn(async move {
            let actor = Actor { id: None, name: format!("bench {task}"), request_id: None };
            let mut r = TaskResult { latencies_us: Vec::with_capacity(n / concurrency + 1), ..Default::default() };
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= n {
                    break;
                }
                let i = first + k;
                // Record i % records: consecutive transactions are about different records,
                // and each record gets an email every `records` transactions.
                let record = (i % records) as i64 + 1;
                let t0 = Instant::now();
                match business(&state, &actor, i, record, with_email).await {
                    Ok(()) => r.latencies_us.push(micros(t0.elapsed())),
                    Err(e) => {
                        r.failures += 1;
                        r.first_failure.get_or_insert(format!("{e:#}"));
                    }
                }
            }
            r
        }));
    }
    let mut results = Vec::with_capacity(concurrency);
    for h in handles {
        results.push(h.await?);
    }
    let elapsed = started.elapsed();
    let cpu = cpu_share(cpu_start, cpu_sample());
    Ok(measure(name, what, results, elapsed, cpu))
}

// ---------------------------------------------------------------- delivery

/// `workers` tasks each running due jobs until none is left.
async fn delivery(state: &AppState, workers: usize, smtp_pid: u32) -> Result<Measure> {
    let what = format!("`jobs::run_one` × {workers} workers until the queue is empty, SMTP to aiosmtpd");
    eprintln!("  b. delivery: {what} …");
    let cpu_start = cpu_sample_with(Some(smtp_pid));
    let started = Instant::now();
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let ctx = state.job_context();
        let registry = state.jobs.clone();
        handles.push(tokio::spawn(async move {
            let worker = format!("bench-worker-{w}");
            let mut r = TaskResult { latencies_us: Vec::with_capacity(4096), ..Default::default() };
            loop {
                let t0 = Instant::now();
                match carnet::jobs::run_one(&ctx, &registry, &worker).await {
                    Ok(true) => r.latencies_us.push(micros(t0.elapsed())),
                    Ok(false) => break,
                    Err(e) => {
                        // A database error around the job (claim or bookkeeping).
                        r.failures += 1;
                        r.first_failure.get_or_insert(format!("{e:#}"));
                        if r.failures >= 100 {
                            break;
                        }
                    }
                }
            }
            r
        }));
    }
    let mut results = Vec::with_capacity(workers);
    for h in handles {
        results.push(h.await?);
    }
    let elapsed = started.elapsed();
    let cpu = cpu_share(cpu_start, cpu_sample_with(Some(smtp_pid)));
    Ok(measure("b. delivery", what, results, elapsed, cpu))
}

/// What the SMTP server received, compared with the outbox.
struct Check {
    files: usize,
    distinct: usize,
    bytes: u64,
    /// Message-IDs of sent emails missing from the Maildir, and Maildir messages that are
    /// not a sent email of the outbox.
    missing: usize,
    unexpected: usize,
    /// Email status → count; deliver-email job status → count.
    emails: Vec<(String, i64)>,
    jobs: Vec<(String, i64)>,
    /// Job runs that ended in error, and the first error.
    run_errors: i64,
    first_run_error: Option<String>,
}

impl Check {
    fn status(list: &[(String, i64)], s: &str) -> i64 {
        list.iter().filter(|(k, _)| k == s).map(|(_, n)| *n).sum()
    }

    fn fine(&self, expected: usize) -> bool {
        self.files == expected
            && self.distinct == expected
            && self.missing == 0
            && self.unexpected == 0
            && Self::status(&self.emails, "sent") == expected as i64
            && self.emails.iter().all(|(s, _)| s == "sent")
            && self.jobs.iter().all(|(s, _)| s == "done")
            && self.run_errors == 0
    }

    fn describe(&self) -> String {
        let list = |v: &[(String, i64)]| v.iter().map(|(s, n)| format!("{n} {s}")).collect::<Vec<_>>().join(", ");
        format!(
            "{} messages in the Maildir ({} distinct Message-IDs, average {:.0} bytes), {} sent emails missing from it, {} unexpected; \
             emails: {}; deliver-email jobs: {}; failed job runs: {}",
            self.files,
            self.distinct,
            self.bytes as f64 / self.files.max(1) as f64,
            self.missing,
            self.unexpected,
            list(&self.emails),
            list(&self.jobs),
            self.run_errors
        )
    }
}

/// The Message-ID header of a raw message (headers end at the first empty line).
fn message_id(raw: &str) -> Option<String> {
    let headers = raw.split("\r\n\r\n").next().unwrap_or(raw).split("\n\n").next().unwrap_or(raw);
    let lines: Vec<&str> = headers.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.len() > 11 && l[..11].eq_ignore_ascii_case("message-id:") {
            let mut v = l[11..].trim().to_string();
            // A folded header continues on lines starting with white space.
            for cont in lines[i + 1..].iter().take_while(|c| c.starts_with([' ', '\t'])) {
                v.push_str(cont.trim());
            }
            return Some(v);
        }
    }
    None
}

async fn check(db: &Db, new_dir: &Path) -> Result<Check> {
    let mut ids = Vec::new();
    let mut bytes = 0u64;
    if let Ok(rd) = std::fs::read_dir(new_dir) {
        for e in rd.flatten() {
            let raw = std::fs::read(e.path())?;
            bytes += raw.len() as u64;
            ids.push(message_id(&String::from_utf8_lossy(&raw)).unwrap_or_default());
        }
    }
    let files = ids.len();
    let received: HashSet<String> = ids.into_iter().collect();
    let sent: HashSet<String> = sqlx::query_scalar::<_, String>("SELECT message_id FROM emails WHERE status = 'sent'")
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .collect();
    let emails: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM emails GROUP BY status ORDER BY status").fetch_all(&db.pool).await?;
    let jobs: Vec<(String, i64)> = sqlx::query_as("SELECT status, COUNT(*) FROM jobs WHERE kind = $1 GROUP BY status ORDER BY status")
        .bind(carnet::mail::deliver::JOB)
        .fetch_all(&db.pool)
        .await?;
    let run_errors: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_runs WHERE outcome <> 'done'").fetch_one(&db.pool).await?;
    let first_run_error: Option<String> = sqlx::query_scalar("SELECT error FROM job_runs WHERE outcome <> 'done' ORDER BY id LIMIT 1")
        .fetch_optional(&db.pool)
        .await?
        .flatten();
    Ok(Check {
        files,
        distinct: received.len(),
        bytes,
        missing: sent.difference(&received).count(),
        unexpected: received.difference(&sent).count(),
        emails,
        jobs,
        run_errors,
        first_run_error,
    })
}

// ---------------------------------------------------------------- report

struct Outcome {
    queueing: Vec<Measure>,
    /// The delivery measure and its check, or why it was skipped.
    delivery: Result<(Measure, Check), String>,
    email_bytes: (usize, usize),
}

fn report(o: &Options, config: &Config, out: &Outcome) -> String {
    let mut s = String::new();
    support::header(&mut s, o.c.backend, config);
    let _ = writeln!(
        s,
        "- queueing: {} business transactions of each kind from {} concurrent tasks (after {} unrecorded ones); each email: \
         {} + {} bytes of text + HTML, 1 recipient, about one of {} records ({} emails per record, so up to {} References)",
        o.emails,
        o.concurrency,
        WARMUP_TRANSACTIONS,
        out.email_bytes.0,
        out.email_bytes.1,
        records(o.emails),
        EMAILS_PER_RECORD,
        EMAILS_PER_RECORD - 1
    );
    let _ = writeln!(
        s,
        "- delivery: {} worker tasks sharing the process's SMTP transport (`deliver::Transport`, lettre); \
         latency = one `jobs::run_one` (claim, load, build, send, bookkeeping)",
        o.workers
    );
    let _ = writeln!(
        s,
        "- CPU: share of the whole machine (all cores = 100 %) used during each phase by this process less SQLite's threads \
         (Carnet, sqlx, lettre), by the database engine (SQLite's worker threads, or the PostgreSQL processes), by the SMTP \
         server (aiosmtpd) and by anything else running at the time"
    );
    let mut rows: Vec<&Measure> = out.queueing.iter().collect();
    if let Ok((m, _)) = &out.delivery {
        rows.push(m);
    }
    let noisy = rows.iter().filter(|m| m.cpu.other > 10.0).count();
    if noisy > 0 {
        let _ = writeln!(
            s,
            "- warning: other processes used more than 10 % of the machine during {noisy} phase(s); those figures are pessimistic"
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "| phase | what | done | seconds | per second | p50 ms | p99 ms | failures | CPU app / database / smtp / other |");
    let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for m in &rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} | {:.0} | {} | {} | {} | {:.0} / {:.0} / {:.0} / {:.0} % |",
            m.name,
            m.what,
            m.ok,
            m.seconds,
            m.per_second,
            fmt_ms(m.p50_ms),
            fmt_ms(m.p99_ms),
            m.failures,
            m.cpu.app,
            m.cpu.database,
            m.cpu.helper,
            m.cpu.other
        );
    }
    let _ = writeln!(s);
    if let [plain, with_email] = out.queueing.as_slice() {
        if plain.per_second > 0.0 && with_email.per_second > 0.0 {
            let extra_us = 1e6 / with_email.per_second - 1e6 / plain.per_second;
            let _ = writeln!(
                s,
                "- cost of queueing: {:.0} µs of throughput per email ({:.0} → {:.0} transactions/s, {:.1}× fewer); p50 {} → {} ms",
                extra_us,
                plain.per_second,
                with_email.per_second,
                plain.per_second / with_email.per_second,
                fmt_ms(plain.p50_ms),
                fmt_ms(with_email.p50_ms)
            );
        }
    }
    match &out.delivery {
        Ok((_, c)) => {
            let expected = out.queueing.get(1).map(|m| m.ok).unwrap_or(0);
            let verdict = if c.fine(expected) { "ok" } else { "**FAILED**" };
            let _ = writeln!(s, "- delivery check ({verdict}, {expected} emails queued): {}", c.describe());
            if let Some(e) = &c.first_run_error {
                let _ = writeln!(s, "- first failed job run: `{}`", e.replace('`', "'"));
            }
        }
        Err(why) => {
            let _ = writeln!(s, "- delivery: **skipped**: {why}");
        }
    }
    for m in &rows {
        if let Some(e) = &m.first_failure {
            let _ = writeln!(s, "- {}: {} failures; first: `{}`", m.name, m.failures, e.replace('`', "'"));
        }
    }
    s
}

// ---------------------------------------------------------------- main

fn records(emails: usize) -> usize {
    (emails / EMAILS_PER_RECORD).max(1)
}

async fn bench(o: &Options, state: &AppState, smtp: Result<&SmtpServer, String>) -> Result<Outcome> {
    let n = o.emails;
    let records = records(n);
    let sample = email(0, 1, recipient(0)?);
    let email_bytes = (sample.text.len(), sample.html.as_deref().map(str::len).unwrap_or(0));

    let phase = Phase { name: "warm-up", what: "unrecorded".into(), first: 0, n: WARMUP_TRANSACTIONS, with_email: false };
    let warm = queueing(state, phase, records, o.concurrency).await?;
    if warm.failures > 0 {
        bail!("warm-up: {} failures: {}", warm.failures, warm.first_failure.unwrap_or_default());
    }
    let phase = Phase {
        name: "a1. business write",
        what: "an audit event (`audit::record`), one transaction each".into(),
        first: WARMUP_TRANSACTIONS,
        n,
        with_email: false,
    };
    let plain = queueing(state, phase, records, o.concurrency).await?;
    let phase = Phase {
        name: "a2. business write + email",
        what: "the same + `mail::queue` of a 2 KB text + HTML email (thread lookups, outbox row, job)".into(),
        first: 0,
        n,
        with_email: true,
    };
    let with_email = queueing(state, phase, records, o.concurrency).await?;
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM emails WHERE status = 'queued'").fetch_one(&state.db.pool).await?;
    if queued as usize != with_email.ok {
        bail!("{} transactions committed but {queued} emails queued", with_email.ok);
    }
    let delivery = match smtp {
        Ok(server) => {
            let m = delivery(state, o.workers, server.pid()).await?;
            let c = check(&state.db, &server.new_dir()).await?;
            eprintln!("    check: {}", c.describe());
            Ok((m, c))
        }
        Err(why) => Err(why),
    };
    Ok(Outcome { queueing: vec![plain, with_email], delivery, email_bytes })
}

#[tokio::main]
async fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; no other argument is understood.
    let o = Options::from_env()?;
    let (mut config, place) = support::configure(&o.c)?;
    let dir = tempfile::tempdir()?;
    // Never used (SMTP is configured), but never the working directory either.
    config.mail_dir = dir.path().join("outbox");
    let smtp = SmtpServer::try_start();
    match &smtp {
        Ok(server) => config.smtp_url = Some(server.url()),
        Err(why) => eprintln!("SMTP server unavailable: {why}; the delivery part is skipped"),
    }
    eprintln!(
        "carnet mail bench: backend {}, {} emails, concurrency {}, {} delivery workers, SMTP {}",
        o.c.backend.name(),
        o.emails,
        o.concurrency,
        o.workers,
        config.smtp_url.as_deref().unwrap_or("none")
    );
    let outcome = async {
        let state = support::app(&config).await?;
        let out = bench(&o, &state, smtp.as_ref().map_err(Clone::clone)).await;
        state.db.pool.close().await;
        let out = out?;
        support::publish("mail", "Email", o.c.backend, &report(&o, &config, &out))?;
        if let Ok((_, c)) = &out.delivery {
            let expected = out.queueing.get(1).map(|m| m.ok).unwrap_or(0);
            if !c.fine(expected) {
                bail!("delivery check failed: {}", c.describe());
            }
        }
        Ok::<(), anyhow::Error>(())
    }
    .await
    .context("mail bench");
    drop(smtp);
    place.close(o.c.pg_url.as_deref(), outcome).await
}
