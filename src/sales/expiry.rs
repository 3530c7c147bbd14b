//! The 8-week expiry (seeds 002 and 003): eight weeks (setting `opportunities.expiry_weeks`)
//! after its creation, an opportunity whose status is not flagged `expiry_exempt` gets its
//! hidden `expired` flag. Only this job sets the flag; nothing clears it. Each change is in
//! the opportunity's history. Running it again changes nothing; two runs at once (the daily
//! schedule and an administrator's button on another process) expire each opportunity once,
//! because the update only takes rows still unexpired and audits the rows it took.

use std::time::{Duration, Instant};

use crate::clock::Millis;
use crate::db::{Backend, Db, Sql};
use crate::error::Result;

pub const JOB: &str = "opportunity-expiry";

const WEEK_MS: i64 = 7 * 86_400_000;

/// Unexpired rows (due or exempt) a batch spans at first, and its bounds: each batch's size
/// follows its duration so that a transaction stays near [`TARGET_TX`], whatever the backend
/// and the machine's load.
const FIRST_BATCH: i64 = 2000;
const MIN_BATCH: i64 = 100;
const MAX_BATCH: i64 = 10_000;
/// What a batch's write transaction aims at; the bound it must never reach is 100 ms (the
/// SQLite write lock, which every other writer of the process queues for, issue 15). A
/// quarter of it: aiming at 40 ms, the longest batch took 115 ms on a machine whose other
/// work took two thirds of the CPU.
const TARGET_TX: Duration = Duration::from_millis(25);

/// Whether an opportunity created at `created_at` in status `status` is due to expire at
/// `now` (the rule, for tests and explanations; the sweep applies it in SQL).
pub fn due(created_at: Millis, exempt: bool, weeks: i64, now: Millis) -> bool {
    !exempt && created_at <= now - weeks * WEEK_MS
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Swept {
    /// Opportunities expired (each with its history row).
    pub expired: u64,
    /// Write transactions committed.
    pub batches: u64,
    /// The longest of them, from `BEGIN` to the end of `COMMIT`.
    pub longest_tx: Duration,
}

/// Expires every due opportunity; returns how many were expired.
pub async fn sweep(db: &Db, now: Millis) -> Result<u64> {
    Ok(sweep_measured(db, now).await?.expired)
}

/// Expires every due opportunity, in short write transactions over consecutive ranges of the
/// `(expired, created_at, id)` index:
///
/// 1. outside any transaction, the range's end: the `batch`-th unexpired row created before
///    the cutoff after the previous range (read on the index alone);
/// 2. in one write transaction, the range's due rows set-wise (`UPDATE … WHERE` the range and
///    the rule `… RETURNING id`: no id list bound, the range is an index walk), and their
///    history rows in one `INSERT … SELECT` over those ids passed as one JSON array (binding
///    thousands of parameters costs more than the work, sqlx's SQLite binding being quadratic
///    in their number; ids written as literals made a statement SQLite took longer to parse
///    than to run).
///
/// The range is bounded by `created_at BETWEEN` as well as by the row values: given
/// `created_at <= cutoff` and a row-value upper bound, SQLite ends its index walk at the
/// cutoff and every batch re-read the rest of the backlog (quadratic).
pub async fn sweep_measured(db: &Db, now: Millis) -> Result<Swept> {
    let weeks: i64 = crate::settings::get(db, "opportunities.expiry_weeks").await?.parse().unwrap_or(8);
    let exempt = super::Statuses::load(db).await?.exempt();
    let cutoff = now - weeks * WEEK_MS;
    let ids = db.backend.json_ids("$1");
    let audit = format!(
        "INSERT INTO audit_events (at, actor_id, actor_name, entity_type, entity_id, action, field, old_value, new_value, request_id) \
         SELECT $2, NULL, 'system', 'opportunity', ids.value, 'expire', 'expired', NULL, 'true', NULL FROM ({ids}) ids"
    );
    let mut after: (i64, i64) = (i64::MIN, i64::MIN);
    let mut batch = FIRST_BATCH;
    let mut out = Swept::default();
    loop {
        let end: Option<(i64, i64)> = sqlx::query_as(
            "SELECT created_at, id FROM opportunities WHERE expired = 0 AND created_at <= $1 AND (created_at, id) > ($2, $3) \
             ORDER BY created_at, id LIMIT 1 OFFSET $4",
        )
        .bind(cutoff)
        .bind(after.0)
        .bind(after.1)
        .bind(batch - 1)
        .fetch_optional(&db.pool)
        .await?;
        // The last range runs to the cutoff.
        let last = end.is_none();
        let upto = end.unwrap_or((cutoff, i64::MAX));
        let mut q = Sql::new("UPDATE opportunities SET expired = 1, expired_at = ");
        q.bind(now).push(", updated_at = ").bind(now);
        q.push(" WHERE expired = 0 AND created_at BETWEEN ").bind(after.0).push(" AND ").bind(upto.0);
        q.push(" AND (created_at, id) > (").bind(after.0).push(", ").bind(after.1).push(")");
        q.push(" AND (created_at, id) <= (").bind(upto.0).push(", ").bind(upto.1).push(")");
        if !exempt.is_empty() {
            q.push(" AND status NOT IN (");
            for (i, s) in exempt.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                q.bind(s.clone());
            }
            q.push(")");
        }
        q.push(" RETURNING id");
        let started = Instant::now();
        let mut tx = db.begin().await?;
        if db.backend == Backend::Postgres {
            // The sweep is idempotent and each batch's flags and history commit together: a
            // crash may lose the last batches' commits (never half of one), which the next
            // run redoes; waiting for each commit's WAL flush would double the sweep's time.
            sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
        }
        let taken: Vec<i64> = q.query_scalar().fetch_all(&mut *tx).await?;
        if !taken.is_empty() {
            let list = format!("[{}]", taken.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
            sqlx::query(&audit).bind(list).bind(now).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let took = started.elapsed();
        out.expired += taken.len() as u64;
        out.batches += 1;
        out.longest_tx = out.longest_tx.max(took);
        if last {
            break;
        }
        after = upto;
        batch = if took > TARGET_TX {
            (batch / 2).max(MIN_BATCH)
        } else if took < TARGET_TX / 2 {
            (batch * 3 / 2).min(MAX_BATCH)
        } else {
            batch
        };
    }
    Ok(out)
}

pub async fn run(ctx: &crate::jobs::JobContext) -> anyhow::Result<String> {
    let n = sweep(&ctx.db, ctx.clock.now_ms()).await?;
    if n > 0 {
        crate::db::analyze(&ctx.db, &["opportunities", "audit_events"]).await?;
    }
    Ok(format!("{n} opportunities expired"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_at_its_boundary() {
        let day = 86_400_000;
        let now = 1_000 * day;
        assert!(!due(now - 56 * day + 3_600_000, false, 8, now), "55 days 23 h");
        assert!(due(now - 56 * day, false, 8, now), "56 days");
        assert!(!due(now - 400 * day, true, 8, now), "exempt");
    }
}
