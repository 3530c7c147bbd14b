//! The 8-week expiry (seeds 002 and 003): eight weeks (setting `opportunities.expiry_weeks`)
//! after its creation, an opportunity whose status is not flagged `expiry_exempt` gets its
//! hidden `expired` flag: a row of `opportunity_expirations` (migration 35), with its date.
//! Only this job writes them; nothing deletes them. Each expiration is in the opportunity's
//! history: the row is its own history event (migration 38, `audit::history`), with an event id
//! from the change history's sequence. Running it again changes nothing; two runs at once (the
//! daily schedule and an administrator's button on another process) expire each opportunity
//! once, because an expiration is inserted once (its primary key: a range whose insert meets
//! another run's row is tried again, and its next snapshot leaves that row out).

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::clock::Millis;
use crate::db::{Backend, Db, Sql};
use crate::error::Result;

pub const JOB: &str = "opportunity-expiry";

const WEEK_MS: i64 = 7 * 86_400_000;

/// Due opportunities a batch takes at first, and its bounds: each batch's size follows its
/// duration so that a transaction stays near [`TARGET_TX`], whatever the backend and the
/// machine's load.
const FIRST_BATCH: i64 = 2000;
const MIN_BATCH: i64 = 100;
const MAX_BATCH: i64 = 10_000;
/// What a batch's write transaction aims at; the bound it must never reach is 100 ms (the
/// SQLite write lock, which every other writer of the process queues for, issue 15). A
/// quarter of it: aiming at 40 ms, the longest batch took 115 ms on a machine whose other
/// work took two thirds of the CPU.
const TARGET_TX: Duration = Duration::from_millis(25);
/// What a batch's transaction must never reach: logged when it does.
const SLOW_TX: Duration = Duration::from_millis(100);

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
    /// Their total, summed over the workers (which run side by side on PostgreSQL: it may
    /// exceed the sweep's time); the rest of a worker's time reads the ranges, outside
    /// transactions.
    pub in_tx: Duration,
}

/// Expires every due opportunity; returns how many were expired.
pub async fn sweep(db: &Db, now: Millis) -> Result<u64> {
    Ok(sweep_measured(db, now).await?.expired)
}

/// The rule's condition on `o`, after a `WHERE`: not exempt, and (`unexpired`) not expired yet.
fn due_sql(q: &mut Sql, exempt: &[String], unexpired: bool) {
    if !exempt.is_empty() {
        q.push(" AND o.status NOT IN (");
        for (i, s) in exempt.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(s.clone());
        }
        q.push(")");
    }
    if !unexpired {
        return;
    }
    // A lookup by primary key per row, written so that PostgreSQL cannot make it a join: as
    // `NOT EXISTS`, a range of a few thousand rows was planned as a hash anti-join reading
    // every expiration (half a second per batch by the middle of the first sweep).
    q.push(" AND (SELECT x.opportunity_id FROM opportunity_expirations x WHERE x.opportunity_id = o.id) IS NULL");
}

/// The `(created_at, id)` of the `offset`-th opportunity (0: the first) in a status not exempt
/// (and, `unexpired`, not expired yet) from `from` (included, or excluded when `!included`) up
/// to the cutoff, in creation order: read on the `(created_at, id, status)` index (and the
/// expirations' primary key), outside any transaction.
async fn nth_due(
    db: &Db,
    exempt: &[String],
    unexpired: bool,
    cutoff: Millis,
    from: (i64, i64),
    included: bool,
    offset: i64,
) -> Result<Option<(i64, i64)>> {
    let mut q = Sql::new("SELECT o.created_at, o.id FROM opportunities o WHERE o.created_at BETWEEN ");
    q.bind(from.0).push(" AND ").bind(cutoff);
    q.push(if included { " AND (o.created_at, o.id) >= (" } else { " AND (o.created_at, o.id) > (" });
    q.bind(from.0).push(", ").bind(from.1).push(")");
    due_sql(&mut q, exempt, unexpired);
    q.push(" ORDER BY o.created_at, o.id LIMIT 1 OFFSET ").bind(offset);
    Ok(q.query_as().fetch_optional(&db.pool).await?)
}

/// Expires every due opportunity, in short write transactions over consecutive ranges of
/// opportunities in creation order (the `(created_at, id, status)` index):
///
/// 1. outside any transaction, the range: from the first due opportunity after the previous
///    range (read on the index and the expirations' primary key, so that the daily run walks
///    the opportunities already expired or exempt outside any transaction) to the `batch`-th
///    opportunity in a status not exempt (on the index alone), so that each transaction holds
///    at most `batch` expirations;
/// 2. in one write transaction, the range's due rows set-wise, each its own history row (`INSERT
///    INTO opportunity_expirations … SELECT … WHERE` the range and the rule: no id list bound,
///    the range is an index walk; see [`expire_range`] and [`expire_range_once`]).
///
/// The ranges are taken in turn by [`Backend::bulk_writers`] workers, each with its own
/// transactions: one on SQLite (one write lock), two on PostgreSQL, where the sweep's time is
/// the server's CPU and one connection is one server process (issue 15: 13.7 s with one, on
/// two cores). Ranges never overlap, so two workers never insert the same expiration; what
/// they share is the dashboard's figure rows (the expirations of one sweep share their day),
/// which the trigger upserts in key order (`reports::figures`): one waits for the other's
/// `COMMIT`, neither can deadlock.
///
/// The range is bounded by `created_at BETWEEN` as well as by the row values: given
/// `created_at <= cutoff` and a row-value bound, SQLite ends its index walk at the cutoff
/// and every batch re-read the rest of the backlog (quadratic).
pub async fn sweep_measured(db: &Db, now: Millis) -> Result<Swept> {
    sweep_with(db, now, db.backend.bulk_writers(), FIRST_BATCH).await
}

/// [`sweep_measured`] with `workers` workers (at least one) and a first range of `first_batch`
/// due opportunities (the size then adapts): for the tests, which make many small ranges run
/// side by side on either backend.
pub async fn sweep_with(db: &Db, now: Millis, workers: usize, first_batch: i64) -> Result<Swept> {
    let weeks: i64 = crate::settings::get(db, "opportunities.expiry_weeks").await?.parse().unwrap_or(8);
    let plan =
        Plan { exempt: super::Statuses::load(db).await?.exempt(), cutoff: now - weeks * WEEK_MS, now, history_ids: history_ids(db).await? };
    // At least 2: a batch grows by half of itself.
    let batch = first_batch.clamp(2, MAX_BATCH);
    let cursor = Mutex::new(Cursor { after: (i64::MIN, i64::MIN), included: true, batch, done: false });
    let workers = (0..workers.max(1)).map(|_| worker(db, &plan, &cursor));
    let mut out = Swept::default();
    for w in futures_util::future::try_join_all(workers).await? {
        out.expired += w.expired;
        out.batches += w.batches;
        out.longest_tx = out.longest_tx.max(w.longest_tx);
        out.in_tx += w.in_tx;
    }
    Ok(out)
}

/// What every batch of one sweep shares.
struct Plan {
    exempt: Vec<String>,
    cutoff: Millis,
    now: Millis,
    /// Where each expiration's history event id comes from ([`history_ids`]).
    history_ids: HistoryIds,
}

/// Where the next range starts and how many due rows it takes at most: one for the sweep,
/// taken by each worker in turn.
struct Cursor {
    /// The end of the last range taken, and whether it is still to do (the first).
    after: (i64, i64),
    included: bool,
    batch: i64,
    /// The last range (up to the cutoff) is taken.
    done: bool,
}

/// One worker: takes the next range, expires it in a transaction, until none is left.
async fn worker(db: &Db, plan: &Plan, cursor: &Mutex<Cursor>) -> Result<Swept> {
    let mut out = Swept::default();
    loop {
        // The range is read under the lock (another worker's transaction runs meanwhile), so
        // that each starts after the one taken before it.
        let (start, upto, batch) = {
            let mut c = cursor.lock().await;
            if c.done {
                break;
            }
            let Some(start) = nth_due(db, &plan.exempt, true, plan.cutoff, c.after, c.included, 0).await? else {
                c.done = true;
                break;
            };
            // Counted without the expirations (the transaction reads them): a range holds at
            // most `batch` due rows, fewer where some are already expired.
            let end = nth_due(db, &plan.exempt, false, plan.cutoff, start, true, c.batch - 1).await?;
            // The last range runs to the cutoff.
            c.done = end.is_none();
            let upto = end.unwrap_or((plan.cutoff, i64::MAX));
            c.after = upto;
            c.included = false;
            (start, upto, c.batch)
        };
        let (n, took) = expire_range_once(db, plan, start, upto).await?;
        out.expired += n;
        if took >= SLOW_TX {
            tracing::warn!(ms = took.as_millis() as u64, expired = n, batch, ?start, ?upto, "expiry: a sweep transaction took long");
        }
        out.batches += 1;
        out.longest_tx = out.longest_tx.max(took);
        out.in_tx += took;
        let mut c = cursor.lock().await;
        c.batch = if took > TARGET_TX {
            (c.batch / 2).max(MIN_BATCH)
        } else if took < TARGET_TX / 2 {
            (c.batch * 3 / 2).min(MAX_BATCH)
        } else {
            c.batch
        };
    }
    Ok(out)
}

/// How many times a range is tried again after another sweep expired some of its rows first.
const RETRIES: usize = 5;

/// [`expire_range`], tried again when another sweep running at once inserted one of the range's
/// expirations meanwhile (a unique violation on the key, PostgreSQL only: SQLite's sweeps take
/// the write lock in turn): the next try's snapshot sees that sweep's rows and leaves them out,
/// so each opportunity is expired once, by one of the sweeps. Cheaper than `ON CONFLICT DO
/// NOTHING`, whose speculative insertion cost a fifth of every expiration's insert for a race
/// that happens only when two sweeps overlap.
async fn expire_range_once(db: &Db, plan: &Plan, start: (i64, i64), upto: (i64, i64)) -> Result<(u64, Duration)> {
    let mut tries = 0;
    loop {
        match expire_range(db, plan, start, upto).await {
            Err(crate::error::Error::Db(e)) if crate::error::is_unique_violation(&e) && tries < RETRIES => tries += 1,
            done => return done,
        }
    }
}

/// Expires the due opportunities of the range `[start, upto]` (creation order) in one write
/// transaction; returns how many. One statement, `INSERT INTO opportunity_expirations … SELECT
/// … WHERE` the range and the rule: no id list travels, the range is an index walk, and each
/// expiration is its own history row (migration 38), given its event id by
/// [`Plan::history_ids`]. On SQLite the ids it took from `sqlite_sequence` are then marked used
/// (the write lock is held from the `BEGIN`: no history row is written meanwhile). Returns
/// how many, and how long the transaction was open: from its start to the end of its `COMMIT`,
/// not counting the wait for it (SQLite's writer queue, a pooled connection, a new
/// connection's set-up), which holds no lock.
async fn expire_range(db: &Db, plan: &Plan, start: (i64, i64), upto: (i64, i64)) -> Result<(u64, Duration)> {
    // `base`: with `AfterCounter`, the counter read in the transaction (unused with a sequence).
    let insert = |base: i64| {
        let mut q = Sql::new("INSERT INTO opportunity_expirations (opportunity_id, expired_at, audit_id) SELECT o.id, ");
        q.bind(plan.now).push(", ");
        match &plan.history_ids {
            HistoryIds::Sequence(next) => q.push(next),
            HistoryIds::AfterCounter => q.bind(base).push(" + ROW_NUMBER() OVER ()"),
        };
        q.push(" FROM opportunities o WHERE o.created_at BETWEEN ").bind(start.0).push(" AND ").bind(upto.0);
        q.push(" AND (o.created_at, o.id) >= (").bind(start.0).push(", ").bind(start.1).push(")");
        q.push(" AND (o.created_at, o.id) <= (").bind(upto.0).push(", ").bind(upto.1).push(")");
        due_sql(&mut q, &plan.exempt, true);
        q
    };
    let mut tx = db.begin().await?;
    let began = Instant::now();
    let n = match db.backend {
        Backend::Postgres => {
            // The sweep is idempotent and each batch commits whole: a crash may lose the last
            // batches' commits (never half of one), which the next run redoes; waiting for each
            // commit's WAL flush would double the sweep's time. And no sequential scan: the
            // first sweep over a table of expirations that the statistics call empty planned
            // the due check's lookup by key as a scan of the table, which the statement itself
            // fills (600 ms for a first range of 2 000).
            sqlx::query("SELECT set_config('synchronous_commit', 'off', true), set_config('enable_seqscan', 'off', true)")
                .execute(&mut *tx)
                .await?;
            // The sequence numbers the rows: no counter to start from.
            insert(0).query().execute(&mut *tx).await?.rows_affected()
        }
        Backend::Sqlite => {
            // The counter read first and bound (as a subquery of the insert it was read again
            // for each row: the sales bench's sweep took 10.5 s). The rows are numbered in the
            // order the statement produces them (`OVER ()`: no sort), 1 to n: the ids only have
            // to be new and come after every earlier event, which they do in any order.
            let base: i64 = sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'")
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or(0);
            let n = insert(base).query().execute(&mut *tx).await?.rows_affected();
            if n > 0 {
                let last = base + n as i64;
                let marked = sqlx::query("UPDATE sqlite_sequence SET seq = MAX(seq, $1) WHERE name = 'audit_events'")
                    .bind(last)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if marked == 0 {
                    // No history row was ever written (the ids started at 1).
                    sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES ('audit_events', $1)").bind(last).execute(&mut *tx).await?;
                }
            }
            n
        }
    };
    tx.commit().await?;
    Ok((n, began.elapsed()))
}

/// Where a sweep's expirations get their history event ids, in the id space of
/// `audit_events.id`.
enum HistoryIds {
    /// PostgreSQL: this SQL, the next value of the identity's sequence (named once per sweep, a
    /// literal so that each row pays the call alone).
    Sequence(String),
    /// SQLite: the ids after the `AUTOINCREMENT` counter, read and moved in each range's
    /// transaction ([`expire_range`]).
    AfterCounter,
}

async fn history_ids(db: &Db) -> Result<HistoryIds> {
    Ok(match db.backend {
        Backend::Postgres => {
            let seq: Option<String> = sqlx::query_scalar("SELECT pg_get_serial_sequence('audit_events', 'id')").fetch_one(&db.pool).await?;
            let seq = seq.ok_or_else(|| crate::error::Error::internal("audit_events.id has no sequence"))?;
            HistoryIds::Sequence(format!("nextval('{}')", seq.replace('\'', "''")))
        }
        Backend::Sqlite => HistoryIds::AfterCounter,
    })
}

pub async fn run(ctx: &crate::jobs::JobContext) -> anyhow::Result<String> {
    let n = sweep(&ctx.db, ctx.clock.now_ms()).await?;
    if n > 0 {
        crate::db::analyze(&ctx.db, &["opportunity_expirations", "audit_events"]).await?;
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
