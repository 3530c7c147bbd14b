//! Lead routing: where a lead for a new customer goes. It gets a branch (the lead's, else the
//! setting `leads.default_branch_id`, else its sender's home unit) and an owner by the rule
//! of the setting `leads.routing`:
//! - `round_robin`: the next active sales representative of the branch (its subtree: the
//!   branch's sales teams), in turn. The turn is a row per branch, locked by the routing
//!   transaction, so simultaneous leads go to successive representatives.
//! - `queue`: no owner; the group named by `leads.queue_group` (the BDC) is told, and an agent
//!   takes the lead ("Prendre le lead", or by booking a meeting for a rep).
//!
//! A branch without an active representative falls back to the queue.

use crate::db::Tx;
use crate::error::Result;

/// Where a lead goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub branch_id: Option<i64>,
    /// `None`: the queue.
    pub owner_id: Option<i64>,
    /// The group to tell when the lead waits in the queue.
    pub queue_group: Option<i64>,
}

/// The queue's group (by the name in the setting), if it exists.
pub async fn queue_group(tx: &mut Tx) -> Result<Option<i64>> {
    let name = crate::settings::get_in(tx, "leads.queue_group").await?;
    group_named(tx, &name).await
}

async fn group_named(tx: &mut Tx, name: &str) -> Result<Option<i64>> {
    if name.trim().is_empty() {
        return Ok(None);
    }
    Ok(sqlx::query_scalar("SELECT id FROM user_groups WHERE name = $1").bind(name.trim()).fetch_optional(&mut **tx).await?)
}

/// Routes a lead for a new customer (see the module's documentation).
pub async fn route(tx: &mut Tx, lead_branch: Option<i64>, sender_home: Option<i64>) -> Result<Route> {
    let v = crate::settings::get_many_in(tx, &["leads.default_branch_id", "leads.routing", "leads.queue_group"]).await?;
    let setting: i64 = v[0].parse().unwrap_or(0);
    let configured = if setting > 0 {
        sqlx::query_scalar::<_, i64>("SELECT id FROM org_units WHERE id = $1").bind(setting).fetch_optional(&mut **tx).await?
    } else {
        None
    };
    let branch_id = lead_branch.or(configured).or(sender_home);
    let rule = v[1].clone();
    let owner_id = match (rule.as_str(), branch_id) {
        ("round_robin", Some(b)) => next_rep(tx, b).await?,
        _ => None,
    };
    let queue_group = if owner_id.is_none() { group_named(tx, &v[2]).await? } else { None };
    Ok(Route { branch_id, owner_id, queue_group })
}

/// The branch's next representative in turn, and the turn moved on; `None` without one.
async fn next_rep(tx: &mut Tx, branch: i64) -> Result<Option<i64>> {
    let path: Option<String> =
        sqlx::query_scalar("SELECT path FROM org_units WHERE id = $1").bind(branch).fetch_optional(&mut **tx).await?;
    let Some(path) = path else { return Ok(None) };
    let reps: Vec<i64> = sqlx::query_scalar(
        "SELECT u.id FROM users u JOIN roles r ON r.id = u.role_id JOIN org_units o ON o.id = u.org_unit_id \
         WHERE r.code = 'representant' AND u.active = 1 AND o.path LIKE $1 ORDER BY u.id",
    )
    .bind(format!("{path}%"))
    .fetch_all(&mut **tx)
    .await?;
    if reps.is_empty() {
        return Ok(None);
    }
    // Take the branch's turn row (created at its first lead); the UPDATE locks it until commit.
    sqlx::query("INSERT INTO lead_routing (branch_id, last_user_id) VALUES ($1, 0) ON CONFLICT (branch_id) DO NOTHING")
        .bind(branch)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE lead_routing SET last_user_id = last_user_id WHERE branch_id = $1").bind(branch).execute(&mut **tx).await?;
    let last: i64 =
        sqlx::query_scalar("SELECT last_user_id FROM lead_routing WHERE branch_id = $1").bind(branch).fetch_one(&mut **tx).await?;
    let next = pick(&reps, last);
    sqlx::query("UPDATE lead_routing SET last_user_id = $1 WHERE branch_id = $2").bind(next).bind(branch).execute(&mut **tx).await?;
    Ok(Some(next))
}

/// The representative after `last` in id order, wrapping around.
fn pick(reps: &[i64], last: i64) -> i64 {
    reps.iter().copied().find(|r| *r > last).or_else(|| reps.first().copied()).unwrap_or(last)
}

#[cfg(test)]
mod tests {
    use super::pick;

    #[test]
    fn the_turn_goes_round() {
        let reps = [3, 7, 9];
        assert_eq!(pick(&reps, 0), 3);
        assert_eq!(pick(&reps, 3), 7);
        assert_eq!(pick(&reps, 7), 9);
        assert_eq!(pick(&reps, 9), 3, "wraps around");
        assert_eq!(pick(&reps, 8), 9, "a representative who left is skipped");
    }
}
