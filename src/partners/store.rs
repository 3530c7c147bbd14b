//! Partner organisations, partner opportunities and news: storage. Every function a partner
//! user reaches takes the partner organisation from their session and filters by it.

use super::{Opportunity, Partner, FLAG_PRESALES, TYPE_LIST};
use crate::db::Db;
use crate::error::Result;

pub(crate) const PARTNER_SELECT: &str = "SELECT p.id, p.name, p.active, p.unit_id, u.name AS unit_name, p.owner_id, o.name AS owner_name, \
    p.email, p.phone, p.admin_invites, p.created_at, p.updated_at \
    FROM partners p JOIN org_units u ON u.id = p.unit_id JOIN users o ON o.id = p.owner_id";

pub(crate) const OPPORTUNITY_SELECT: &str = "SELECT po.id, po.partner_id, p.name AS partner_name, po.customer_name, po.contact_name, \
    po.contact_email, po.contact_phone, po.product_interest, po.amount_cents, po.expected_close_date, po.opportunity_type, po.status, \
    po.description, po.created_by_user_id, cu.name AS created_by_name, po.created_at, po.updated_at \
    FROM partner_opportunities po JOIN partners p ON p.id = po.partner_id LEFT JOIN partner_users cu ON cu.id = po.created_by_user_id";

/// A partner organisation by id (no visibility: callers on the staff side check it).
pub async fn partner(db: &Db, id: i64) -> Result<Option<Partner>> {
    Ok(sqlx::query_as(&format!("{PARTNER_SELECT} WHERE p.id = $1")).bind(id).fetch_optional(&db.pool).await?)
}

/// An opportunity of the partner `partner_id` (None for another partner's, as for an unknown id).
pub async fn opportunity_of(db: &Db, partner_id: i64, id: i64) -> Result<Option<Opportunity>> {
    Ok(sqlx::query_as(&format!("{OPPORTUNITY_SELECT} WHERE po.id = $1 AND po.partner_id = $2"))
        .bind(id)
        .bind(partner_id)
        .fetch_optional(&db.pool)
        .await?)
}

/// The partner's opportunities, newest first, `limit` after the id `before` (keyset); and
/// whether there are more.
pub async fn opportunities_of(db: &Db, partner_id: i64, before: Option<i64>, limit: i64) -> Result<(Vec<Opportunity>, bool)> {
    let mut rows: Vec<Opportunity> =
        sqlx::query_as(&format!("{OPPORTUNITY_SELECT} WHERE po.partner_id = $1 AND po.id < $2 ORDER BY po.id DESC LIMIT {}", limit + 1))
            .bind(partner_id)
            .bind(before.unwrap_or(i64::MAX))
            .fetch_all(&db.pool)
            .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    Ok((rows, more))
}

/// Whether an opportunity's type is eligible for a pre-sales request (its list entry carries
/// the flag `presales` and is active).
pub async fn presales_eligible(db: &Db, opportunity_type: &str) -> Result<bool> {
    let flags: Option<String> = sqlx::query_scalar(
        "SELECT flags FROM value_list_items WHERE list_code = $1 AND code = $2 AND active = $3",
    )
    .bind(TYPE_LIST)
    .bind(opportunity_type)
    .bind(1i64)
    .fetch_optional(&db.pool)
    .await?;
    Ok(flags.is_some_and(|f| f.split_whitespace().any(|x| x == FLAG_PRESALES)))
}
