//! Background jobs: a durable table shared by every `carnet` process.
//!
//! - A job is claimed with a short lease (`locked_until`, `job_lease_ms`, 30 s by default)
//!   by a worker named after its process run ([`Worker`]); PostgreSQL claims with
//!   `FOR UPDATE SKIP LOCKED` so concurrent workers never take the same row, SQLite
//!   serialises writers. While the job runs, its worker renews the lease every third of it
//!   (the heartbeat), so a live worker keeps its job however long it takes, and a job whose
//!   worker died is taken again when its lease runs out: within one lease. A process that
//!   starts releases at once the claims of its dead predecessors on the same host
//!   ([`Worker::register`]). Delivery is therefore at least once; a job interrupted by a
//!   crash runs again within one lease (see docs/architecture.md, "Jobs").
//! - A failure is retried with exponential backoff up to `max_attempts`, then the job is
//!   `failed` with its last error (administrators see it and can retry it).
//! - Scheduled jobs (daily sweeps) are enqueued with a dedup key naming the period
//!   (`sched:housekeeping:2026-11-23`), unique in the table: whichever process gets there
//!   first enqueues it, so it runs once per period however many processes run.
//! - Every execution is logged in `job_runs`.
//!
//! This module knows nothing of the business: the handlers and schedules of the product are
//! registered in `crate::wiring::registry`, where the application is assembled.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

use crate::clock::{Millis, SharedClock};
use crate::db::Db;
use crate::error::Result;

/// The default lease of a claim (`job_lease_ms`): how long a job stays its worker's without
/// news from it.
pub const LEASE_MS: Millis = 30_000;

/// What a job body gets.
#[derive(Clone)]
pub struct JobContext {
    pub db: Db,
    pub clock: SharedClock,
    pub config: Arc<crate::config::Config>,
    /// Which attempt of the job this run is (set by [`execute`]; zero outside a job).
    pub attempt: Attempt,
    /// The worker running the job (set by [`execute`]; empty outside a job).
    pub worker: String,
}

impl JobContext {
    pub fn new(db: Db, clock: SharedClock, config: Arc<crate::config::Config>) -> JobContext {
        JobContext { db, clock, config, attempt: Attempt::default(), worker: String::new() }
    }

    /// The lease of a claim, in milliseconds.
    pub fn lease_ms(&self) -> Millis {
        i64::try_from(self.config.job_lease_ms).unwrap_or(LEASE_MS).max(300)
    }
}

/// The attempt a job run is: its number (from 1) and the job's last one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attempt {
    pub number: i64,
    pub max: i64,
}

impl Attempt {
    /// No attempt follows this one if it fails.
    pub fn is_last(&self) -> bool {
        self.max > 0 && self.number >= self.max
    }
}

pub type JobFuture = Pin<Box<dyn Future<Output = anyhow::Result<String>> + Send>>;
pub type Handler = Arc<dyn Fn(JobContext, serde_json::Value) -> JobFuture + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    FiveMinutes,
    Hourly,
    Daily,
}

impl Period {
    fn key(self, now: Millis) -> String {
        let t: DateTime<Utc> = DateTime::from_timestamp_millis(now).unwrap_or_default();
        match self {
            Period::FiveMinutes => {
                use chrono::Timelike;
                format!("{}:{:02}", t.format("%Y-%m-%dT%H"), t.minute() / 5 * 5)
            }
            Period::Hourly => t.format("%Y-%m-%dT%H").to_string(),
            Period::Daily => t.format("%Y-%m-%d").to_string(),
        }
    }
}

/// The job kinds this binary knows, and which of them run on a schedule. This module knows
/// only the queue: the product's registry is assembled at the root (`crate::wiring::registry`).
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Handler>,
    schedules: Vec<(&'static str, Period)>,
}

impl Registry {
    pub fn register<F, Fut>(&mut self, kind: &'static str, f: F)
    where
        F: Fn(JobContext, serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<String>> + Send + 'static,
    {
        self.handlers.insert(kind, Arc::new(move |c, p| Box::pin(f(c, p))));
    }

    pub fn schedule(&mut self, kind: &'static str, period: Period) {
        self.schedules.push((kind, period));
    }

    pub fn scheduled(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.schedules.iter().map(|(k, _)| *k)
    }

    pub fn knows(&self, kind: &str) -> bool {
        self.handlers.contains_key(kind)
    }

    /// Every job kind this binary can run.
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.handlers.keys().copied()
    }
}

/// The queue of one job kind now (the metrics' gauges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindStats {
    pub kind: String,
    /// Waiting to run (due or later).
    pub queued: i64,
    /// Of those, due now.
    pub due: i64,
    /// Claimed by a worker.
    pub running: i64,
    /// Given up after their last attempt.
    pub failed: i64,
    /// When the oldest due job was due.
    pub oldest_due_at: Option<Millis>,
}

/// [`KindStats`] of every kind with an unfinished or failed job: one statement over the
/// `(status, run_at)` index (finished jobs, the bulk of the table, are not read).
pub async fn queue_stats(db: &Db, now: Millis) -> Result<Vec<KindStats>> {
    let rows: Vec<(String, i64, i64, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT kind, \
         COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN status = 'queued' AND run_at <= $1 THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0), \
         MIN(CASE WHEN status = 'queued' AND run_at <= $1 THEN run_at END) \
         FROM jobs WHERE status IN ('queued', 'running', 'failed') GROUP BY kind ORDER BY kind",
    )
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(kind, queued, due, running, failed, oldest_due_at)| KindStats { kind, queued, due, running, failed, oldest_due_at })
        .collect())
}

/// Deletes the jobs finished (done) before `before`. Called by the daily `housekeeping` job.
pub async fn purge_done(db: &Db, before: Millis) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM jobs WHERE status = $1 AND finished_at < $2")
        .bind("done")
        .bind(before)
        .execute(&db.pool)
        .await?
        .rows_affected())
}

/// Adds a job. With a `dedup_key` already present, adds nothing and returns `None`.
pub async fn enqueue(
    conn: &mut sqlx::AnyConnection,
    kind: &str,
    payload: &serde_json::Value,
    run_at: Millis,
    now: Millis,
    dedup_key: Option<&str>,
) -> Result<Option<i64>> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO jobs (kind, payload, status, run_at, attempts, max_attempts, dedup_key, created_at) \
         VALUES ($1, $2, 'queued', $3, 0, 5, $4, $5) ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
    )
    .bind(kind)
    .bind(payload.to_string())
    .bind(run_at)
    .bind(dedup_key)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(id)
}

#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
    pub max_attempts: i64,
}

/// Takes a job whose lease ran out (its worker died), else the next due job, if any. Two
/// lookups on the `(status, run_at)` index rather than one `OR` of both conditions, which
/// no index serves: that read and sorted the whole queue at every claim, so draining a queue
/// cost its length squared. Few jobs are `running` at a time, so the first lookup is cheap.
pub async fn claim(db: &Db, worker: &str, now: Millis) -> Result<Option<Claimed>> {
    claim_leased(db, worker, now, LEASE_MS).await
}

/// [`claim`] with a lease of `lease` milliseconds.
pub async fn claim_leased(db: &Db, worker: &str, now: Millis, lease: Millis) -> Result<Option<Claimed>> {
    let mut tx = db.begin().await?;
    for due in ["status = 'running' AND locked_until < $3", "status = 'queued' AND run_at <= $3"] {
        let sql = format!(
            "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM jobs WHERE {due} ORDER BY run_at, id LIMIT 1{}) \
             RETURNING id, kind, payload, attempts, max_attempts",
            db.backend.skip_locked()
        );
        let job: Option<Claimed> = sqlx::query_as(&sql).bind(worker).bind(now + lease).bind(now).fetch_optional(&mut *tx).await?;
        if job.is_some() {
            tx.commit().await?;
            return Ok(job);
        }
    }
    tx.commit().await?;
    Ok(None)
}

/// Takes one given job if it is queued, whatever its time (used to run a job right away).
pub async fn claim_id(db: &Db, worker: &str, now: Millis, lease: Millis, id: i64) -> Result<Option<Claimed>> {
    let mut tx = db.begin().await?;
    let job: Option<Claimed> = sqlx::query_as(
        "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1 \
         WHERE id = $3 AND status = 'queued' RETURNING id, kind, payload, attempts, max_attempts",
    )
    .bind(worker)
    .bind(now + lease)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(job)
}

fn backoff_ms(attempts: i64) -> Millis {
    let exp = attempts.clamp(1, 10) - 1;
    (10_000i64 << exp).min(3_600_000)
}

/// Runs a claimed job and records the outcome. Returns the outcome text.
pub async fn execute(ctx: &JobContext, registry: &Registry, worker: &str, job: Claimed) -> Result<std::result::Result<String, String>> {
    let started = ctx.clock.now_ms();
    let run_id: i64 =
        sqlx::query_scalar("INSERT INTO job_runs (job_id, worker, started_at, outcome) VALUES ($1, $2, $3, 'running') RETURNING id")
            .bind(job.id)
            .bind(worker)
            .bind(started)
            .fetch_one(&ctx.db.pool)
            .await?;
    let result = match registry.handlers.get(job.kind.as_str()) {
        Some(h) => {
            let payload = serde_json::from_str(&job.payload).unwrap_or(serde_json::Value::Null);
            let run_ctx =
                JobContext { attempt: Attempt { number: job.attempts, max: job.max_attempts }, worker: worker.to_string(), ..ctx.clone() };
            let run = h(run_ctx, payload);
            tokio::pin!(run);
            // The heartbeat: while the body runs, its lease is renewed every third of it, so
            // that only a dead worker's job is taken again.
            let every = Duration::from_millis(u64::try_from(ctx.lease_ms() / 3).unwrap_or(10_000));
            let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    r = &mut run => break r.map_err(|e| format!("{e:#}")),
                    _ = beat.tick() => {
                        if let Err(e) = renew(&ctx.db, worker, ctx.clock.now_ms(), ctx.lease_ms()).await {
                            tracing::warn!(job = job.id, error = %e, "job heartbeat failed");
                        }
                    }
                }
            }
        }
        None => Err(format!("unknown job kind {}", job.kind)),
    };
    let now = ctx.clock.now_ms();
    let mut tx = ctx.db.begin().await?;
    match &result {
        Ok(_) => {
            sqlx::query("UPDATE jobs SET status = 'done', finished_at = $1, locked_until = NULL, last_error = NULL WHERE id = $2 AND locked_by = $3")
                .bind(now)
                .bind(job.id)
                .bind(worker)
                .execute(&mut *tx)
                .await?;
        }
        Err(e) => {
            tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, error = %e, "job failed");
            let (status, run_at) =
                if job.attempts >= job.max_attempts { ("failed", now) } else { ("queued", now + backoff_ms(job.attempts)) };
            sqlx::query("UPDATE jobs SET status = $1, run_at = $2, locked_until = NULL, last_error = $3, finished_at = $4 WHERE id = $5 AND locked_by = $6")
                .bind(status)
                .bind(run_at)
                .bind(e.as_str())
                .bind((status == "failed").then_some(now))
                .bind(job.id)
                .bind(worker)
                .execute(&mut *tx)
                .await?;
        }
    }
    sqlx::query("UPDATE job_runs SET finished_at = $1, outcome = $2, error = $3 WHERE id = $4")
        .bind(now)
        .bind(if result.is_ok() { "done" } else { "error" })
        .bind(result.as_ref().err().map(String::as_str))
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    metrics::counter!("carnet_job_runs_total", "kind" => job.kind.clone()).increment(1);
    if result.is_err() {
        metrics::counter!("carnet_job_failures_total", "kind" => job.kind.clone()).increment(1);
    }
    Ok(result)
}

/// Claims and runs one job. Returns whether there was one.
pub async fn run_one(ctx: &JobContext, registry: &Registry, worker: &str) -> Result<bool> {
    match claim_leased(&ctx.db, worker, ctx.clock.now_ms(), ctx.lease_ms()).await? {
        Some(job) => {
            // The outcome is recorded in `jobs` and `job_runs`, and failures are logged.
            let _outcome = execute(ctx, registry, worker, job).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Enqueues the scheduled jobs of the current period that are not enqueued yet.
pub async fn schedule_due(ctx: &JobContext, registry: &Registry) -> Result<usize> {
    let now = ctx.clock.now_ms();
    let mut n = 0;
    for (kind, period) in &registry.schedules {
        let key = format!("sched:{kind}:{}", period.key(now));
        let mut tx = ctx.db.begin().await?;
        if enqueue(&mut tx, kind, &serde_json::json!({}), now, now, Some(&key)).await?.is_some() {
            n += 1;
        }
        tx.commit().await?;
    }
    Ok(n)
}

/// Enqueues `kind` now and runs it in this process (`carnet jobs run NAME`, the admin
/// "run now" button). The run is recorded like any other.
pub async fn run_now(ctx: &JobContext, registry: &Registry, kind: &str) -> Result<std::result::Result<String, String>> {
    if !registry.knows(kind) {
        return Err(crate::error::Error::validation("kind", "error.unknown_job"));
    }
    let now = ctx.clock.now_ms();
    let worker = Worker::register(&ctx.db, now, "manual").await?;
    let mut tx = ctx.db.begin().await?;
    let id = enqueue(&mut tx, kind, &serde_json::json!({}), now, now, None).await?;
    tx.commit().await?;
    let id = id.ok_or(crate::error::Error::NotFound)?;
    let job = claim_id(&ctx.db, &worker.id, now, ctx.lease_ms(), id).await?.ok_or(crate::error::Error::NotFound)?;
    let outcome = execute(ctx, registry, &worker.id, job).await;
    worker.stop(&ctx.db, ctx.clock.now_ms()).await?;
    outcome
}

/// Puts a failed job back in the queue (administrators).
pub async fn retry(db: &Db, id: i64, now: Millis) -> Result<bool> {
    Ok(sqlx::query("UPDATE jobs SET status = 'queued', run_at = $1, attempts = 0, finished_at = NULL WHERE id = $2 AND status = 'failed'")
        .bind(now)
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected()
        > 0)
}

/// A job as found by [`find`]: where it is, and the worker that last took it.
#[derive(Debug, Clone, FromRow)]
pub struct JobRef {
    pub id: i64,
    pub status: String,
    pub locked_by: Option<String>,
}

/// The waiting or running job of `kind` with this payload (the delivery of one email…): read
/// among unfinished jobs only, through the `(status, run_at)` index.
pub async fn find_active(db: &Db, kind: &str, payload: &serde_json::Value) -> Result<Option<JobRef>> {
    Ok(sqlx::query_as(
        "SELECT id, status, locked_by FROM jobs WHERE status IN ('queued', 'running') AND kind = $1 AND payload = $2 ORDER BY id DESC LIMIT 1",
    )
        .bind(kind)
        .bind(payload.to_string())
        .fetch_optional(&db.pool)
        .await?)
}

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub run_at: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// Recent jobs, newest first (keyset on id).
pub async fn recent(db: &Db, before: Option<i64>, limit: i64) -> Result<Vec<JobRow>> {
    Ok(sqlx::query_as(
        "SELECT id, kind, status, run_at, attempts, max_attempts, last_error, created_at, finished_at FROM jobs \
         WHERE id < $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

/// The worker loop of a `carnet serve` process: enqueue scheduled jobs when their period
/// starts, then run due jobs, until `shutdown` fires.
pub async fn worker_loop(ctx: JobContext, registry: Registry, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let worker = loop {
        match Worker::register(&ctx.db, ctx.clock.now_ms(), "worker").await {
            Ok(w) => break w,
            Err(e) => tracing::error!(error = %e, "registering the job worker failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.changed() => return,
        }
    };
    tracing::info!(worker = %worker.id, "job worker started");
    let poll = Duration::from_millis(ctx.config.job_poll_ms.max(50));
    let mut last_schedule_key = String::new();
    let mut last_beat: Millis = 0;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let now = ctx.clock.now_ms();
        if (now - last_beat).abs() >= ctx.lease_ms() / 3 {
            match worker.beat(&ctx.db, now, ctx.lease_ms()).await {
                Ok(()) => last_beat = now,
                Err(e) => tracing::error!(error = %e, "worker heartbeat failed"),
            }
        }
        let key = Period::FiveMinutes.key(ctx.clock.now_ms());
        if key != last_schedule_key {
            match schedule_due(&ctx, &registry).await {
                Ok(_) => last_schedule_key = key,
                Err(e) => tracing::error!(error = %e, "scheduling jobs failed"),
            }
        }
        loop {
            if *shutdown.borrow() {
                break;
            }
            match run_one(&ctx, &registry, &worker.id).await {
                Ok(true) => continue,
                Ok(false) => break,
                Err(e) => {
                    tracing::error!(error = %e, "job worker error");
                    break;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
    }
    if let Err(e) = worker.stop(&ctx.db, ctx.clock.now_ms()).await {
        tracing::warn!(error = %e, "unregistering the job worker failed");
    }
}

/// Renews the leases of the jobs `worker` runs, and its heartbeat.
pub async fn renew(db: &Db, worker: &str, now: Millis, lease: Millis) -> Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE jobs SET locked_until = $1 WHERE status = 'running' AND locked_by = $2")
        .bind(now + lease)
        .bind(worker)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE workers SET heartbeat_at = $1 WHERE id = $2").bind(now).bind(worker).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// A worker: one process run that claims jobs, registered in `workers` with its host and
/// heartbeat. Its id (`host-pid-random`) is what `jobs.locked_by` and `job_runs.worker` say.
#[derive(Debug, Clone)]
pub struct Worker {
    pub id: String,
}

/// Worker rows silent this long are forgotten (their claims expired long ago).
const FORGET_WORKERS_MS: Millis = 24 * 3_600_000;

impl Worker {
    /// Registers a new run of this process (`kind`: `worker`, `cli`, `manual`), and releases
    /// at once the claims of the workers known dead: on the same host (same kernel boot and
    /// process namespace, see [`host_key`]), a registered process that no longer exists, or
    /// whose process id is now this process's. Claims of workers elsewhere are left to their
    /// leases, which their live workers renew: a worker on another machine is never
    /// presumed dead before its lease runs out.
    pub async fn register(db: &Db, now: Millis, kind: &str) -> Result<Worker> {
        Self::register_as(db, now, kind, host_key(), std::process::id()).await
    }

    /// [`Worker::register`] for a given host key and process id (tests simulate processes).
    pub async fn register_as(db: &Db, now: Millis, kind: &str, host: Option<String>, pid: u32) -> Result<Worker> {
        use rand::Rng;
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "carnet".into());
        let run: String = rand::rngs::OsRng.sample_iter(&rand::distributions::Alphanumeric).take(8).map(char::from).collect();
        let worker = Worker { id: format!("{name}-{pid}-{kind}-{}", run.to_ascii_lowercase()) };
        let mut tx = db.begin().await?;
        sqlx::query("INSERT INTO workers (id, host, pid, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $4)")
            .bind(&worker.id)
            .bind(host.as_deref())
            .bind(i64::from(pid))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if let Some(h) = &host {
            let others: Vec<(String, i64)> = sqlx::query_as("SELECT id, pid FROM workers WHERE host = $1 AND id <> $2")
                .bind(h)
                .bind(&worker.id)
                .fetch_all(&mut *tx)
                .await?;
            for (id, other_pid) in others {
                if other_pid == i64::from(pid) || !process_exists(other_pid) {
                    let n = release_claims(&mut tx, &id, now).await?;
                    if n > 0 {
                        tracing::warn!(worker = %id, jobs = n, "released the jobs of a dead worker of this host");
                    }
                    sqlx::query("DELETE FROM workers WHERE id = $1").bind(&id).execute(&mut *tx).await?;
                }
            }
        }
        sqlx::query("DELETE FROM workers WHERE heartbeat_at < $1").bind(now - FORGET_WORKERS_MS).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(worker)
    }

    /// The heartbeat: this worker is alive, and its running jobs' leases are renewed.
    pub async fn beat(&self, db: &Db, now: Millis, lease: Millis) -> Result<()> {
        renew(db, &self.id, now, lease).await
    }

    /// Unregisters the worker on a clean stop, putting back in the queue any job it still
    /// holds.
    pub async fn stop(&self, db: &Db, now: Millis) -> Result<()> {
        let mut tx = db.begin().await?;
        release_claims(&mut tx, &self.id, now).await?;
        sqlx::query("DELETE FROM workers WHERE id = $1").bind(&self.id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Puts the jobs `worker` runs back in the queue, due at `now`.
async fn release_claims(tx: &mut crate::db::Tx, worker: &str, now: Millis) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE jobs SET status = 'queued', run_at = $1, locked_by = NULL, locked_until = NULL WHERE status = 'running' AND locked_by = $2",
    )
    .bind(now)
    .bind(worker)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// What tells processes of this machine from others', as far as process ids go: the host
/// name, the kernel's boot id and the process-id namespace (Linux). Two processes with the
/// same key see the same process ids, so one of them may tell whether the other still runs.
/// `None` where this cannot be known: then no process is ever presumed dead by its id.
pub fn host_key() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}/{}", name.trim(), boot.trim(), ns.display()))
}

/// Whether process `pid` runs (in this process namespace).
pub fn process_exists(pid: i64) -> bool {
    pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(1), 10_000);
        assert_eq!(backoff_ms(2), 20_000);
        assert_eq!(backoff_ms(10), 3_600_000);
    }

    #[test]
    fn period_keys() {
        let t = 1_795_000_000_000; // 2026-11-18T...
        assert_eq!(Period::Daily.key(t).len(), 10);
        assert_eq!(Period::Hourly.key(t).len(), 13);
    }
}
