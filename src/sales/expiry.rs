//! The 8-week expiry (seeds 002 and 003): eight weeks (setting `opportunities.expiry_weeks`)
//! after its creation, an opportunity whose status is not flagged `expiry_exempt` gets its
//! hidden `expired` flag. Only this job sets the flag; nothing clears it. Each change is in
//! the opportunity's history. Running it again changes nothing; two runs at once (the daily
//! schedule and an administrator's button on another process) expire each opportunity once,
//! because the update only takes rows still unexpired and audits the rows it took.

use crate::clock::Millis;
use crate::db::{Db, Sql};
use crate::error::Result;

pub const JOB: &str = "opportunity-expiry";
const BATCH: usize = 5000;
const AUDIT_ROWS_PER_INSERT: usize = 5000;

const WEEK_MS: i64 = 7 * 86_400_000;

/// Whether an opportunity created at `created_at` in status `status` is due to expire at
/// `now` (the rule, for tests and explanations; the sweep applies it in SQL).
pub fn due(created_at: Millis, exempt: bool, weeks: i64, now: Millis) -> bool {
    !exempt && created_at <= now - weeks * WEEK_MS
}

/// Expires every due opportunity; returns how many were expired.
pub async fn sweep(db: &Db, now: Millis) -> Result<u64> {
    let weeks: i64 = crate::settings::get(db, "opportunities.expiry_weeks").await?.parse().unwrap_or(8);
    let exempt = super::Statuses::load(db).await?.exempt();
    let cutoff = now - weeks * WEEK_MS;
    let mut after: (i64, i64) = (i64::MIN, i64::MIN);
    let mut total = 0u64;
    loop {
        // A row-value keyset: an index range on (expired, created_at, id) on both backends.
        let mut q = Sql::new("SELECT id, created_at FROM opportunities WHERE expired = 0 AND created_at <= ");
        q.bind(cutoff).push(" AND (created_at, id) > (").bind(after.0).push(", ").bind(after.1).push(")");
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
        q.push(" ORDER BY created_at, id LIMIT ").bind(BATCH as i64);
        let rows: Vec<(i64, i64)> = q.query_as().fetch_all(&db.pool).await?;
        let Some(last) = rows.last() else { break };
        after = (last.1, last.0);
        // The ids are integers read from the database, written inline: binding thousands of
        // parameters costs more than the update itself (sqlx's SQLite binding grows
        // quadratically with their number).
        let ids = rows.iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>().join(", ");
        let mut tx = db.begin().await?;
        let taken: Vec<i64> = sqlx::query_scalar(&format!(
            "UPDATE opportunities SET expired = 1, expired_at = {now}, updated_at = {now} WHERE expired = 0 AND id IN ({ids}) RETURNING id"
        ))
        .fetch_all(&mut *tx)
        .await?;
        for chunk in taken.chunks(AUDIT_ROWS_PER_INSERT) {
            let values = chunk
                .iter()
                .map(|id| format!("({now}, NULL, 'system', 'opportunity', {id}, 'expire', 'expired', NULL, 'true', NULL)"))
                .collect::<Vec<_>>()
                .join(", ");
            sqlx::query(&format!(
                "INSERT INTO audit_events (at, actor_id, actor_name, entity_type, entity_id, action, field, old_value, new_value, request_id) VALUES {values}"
            ))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        total += taken.len() as u64;
        if rows.len() < BATCH {
            break;
        }
    }
    Ok(total)
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
