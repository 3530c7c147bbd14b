//! Where the parts of the product are plugged together. The low-level mechanisms (the job
//! queue in `jobs`, the customer's open files in `customers::files`) know nothing of the
//! business modules that use them; the business modules use the mechanisms. This module,
//! called by `app::prepare` and by the web layer, names both sides, so that no domain module
//! and mechanism import each other (`tests/architecture.rs` keeps the module graph acyclic).
//! Nothing in a domain module may import this one.

use crate::access::Right;
use crate::customers::files::Department;
use crate::jobs::{JobContext, Period, Registry};

/// The product's job kinds and schedules. The kinds are stored in the `jobs` table: never
/// rename one (a queued job of the old name would find no handler).
pub fn registry() -> Registry {
    let mut r = Registry::default();
    r.register(HOUSEKEEPING, |ctx, _| async move { housekeeping(&ctx).await });
    r.schedule(HOUSEKEEPING, Period::Daily);
    r.register(crate::mail::deliver::JOB, |ctx, p| async move { crate::mail::deliver::run(&ctx, p).await });
    r.register(crate::customers::import::JOB, |ctx, p| async move { crate::customers::import::run(&ctx, p).await });
    r.register(crate::customers::import::CHECK_JOB, |ctx, p| async move { crate::customers::import::check(&ctx, p).await });
    r.register(crate::sales::expiry::JOB, |ctx, _| async move { crate::sales::expiry::run(&ctx).await });
    r.schedule(crate::sales::expiry::JOB, Period::Daily);
    r.register(crate::calls::REMINDER_JOB, |ctx, _| async move { crate::calls::remind(&ctx).await });
    r.schedule(crate::calls::REMINDER_JOB, Period::FiveMinutes);
    // Once per period across every process: the schedule's dedup key enqueues one run.
    r.register(crate::inbound::JOB, |ctx, _| async move { crate::inbound::run(&ctx).await });
    r.schedule(crate::inbound::JOB, Period::FiveMinutes);
    r.register(crate::service::sla::JOB, |ctx, _| async move { Ok(crate::service::sla::watch(&ctx.db, ctx.clock.now_ms()).await?) });
    r.schedule(crate::service::sla::JOB, Period::FiveMinutes);
    r.register(crate::reports::figures::JOB, |ctx, _| async move {
        let rebuilt = crate::reports::figures::ensure(&ctx.db, ctx.clock.now_ms()).await?;
        Ok(if rebuilt { "rebuilt".into() } else { "already up to date".into() })
    });
    r
}

/// The daily sweep of every module's expired rows.
pub const HOUSEKEEPING: &str = "housekeeping";

/// Deletes expired sessions (staff and portal, and spent portal links), forgotten login counters, devices unused for a year, finished jobs
/// older than 30 days, named locks not taken for a day and notifications read 90 days ago, then refreshes the planner's statistics
/// (PostgreSQL).
async fn housekeeping(ctx: &JobContext) -> anyhow::Result<String> {
    let now = ctx.clock.now_ms();
    let sessions = crate::identity::session::purge_expired(&ctx.db, now, ctx.config.session_idle_minutes * 60_000).await?
        + crate::portal::session::purge_expired(&ctx.db, now, ctx.config.session_idle_minutes * 60_000).await?
        + crate::portal::realm::PARTNER.purge_expired(&ctx.db, now, ctx.config.session_idle_minutes * 60_000).await?;
    let attempts = crate::identity::throttle::purge(&ctx.db, now).await?;
    let devices = crate::identity::throttle::devices::purge(&ctx.db, now).await?;
    let jobs = crate::jobs::purge_done(&ctx.db, now - 30 * 86_400_000).await?;
    let locks = crate::db::purge_locks(&ctx.db, now - 86_400_000).await?;
    let notifications = crate::inbox::purge(&ctx.db, now - crate::inbox::KEEP_READ_MS).await?;
    // Fresh planner statistics every day, whatever autovacuum did (PostgreSQL).
    crate::db::analyze(&ctx.db, &[]).await?;
    Ok(format!(
        "{sessions} sessions, {attempts} login counters, {devices} devices, {jobs} old jobs, {locks} idle named locks, \
         {notifications} read notifications removed; statistics refreshed"
    ))
}

/// The departments whose open files a customer page lists, in the order they are shown, each
/// with the right a user needs to open its files.
pub const DEPARTMENTS: &[Department] = &[
    Department { read: Right::OpportunitiesRead, fetch: crate::sales::store::open_files_of },
    Department { read: Right::ServiceRequestsRead, fetch: crate::service::store::open_files_of },
];

/// The in-app notifications a user may still read, as SQL on `notifications n`: those whose
/// record they hold the right to read and see today (their role, scope or teams may have changed
/// since): the bell's count and the lists leave the others out, as the record's page would
/// refuse them (`http::pages::inbox` checks again when one is opened).
pub fn readable_notifications(p: &crate::access::Principal) -> crate::db::Sql {
    use crate::access::Right;
    use crate::db::Sql;
    let vis = &p.visibility;
    let mut parts: Vec<Sql> = Vec::new();
    if p.can(Right::OpportunitiesRead) {
        let mut s = Sql::new(
            "(n.entity_type = 'opportunity' AND EXISTS (SELECT 1 FROM opportunities o WHERE o.id = n.entity_id AND o.trashed = 0 AND ",
        );
        s.append(vis.opportunities("o")).push("))");
        parts.push(s);
    }
    if p.can(Right::MeetingsRead) {
        let mut s = Sql::new(
            "(n.entity_type = 'meeting' AND EXISTS (SELECT 1 FROM meetings m JOIN opportunities o ON o.id = m.opportunity_id \
             WHERE m.id = n.entity_id AND o.trashed = 0 AND ",
        );
        s.append(vis.opportunities("o")).push("))");
        parts.push(s);
    }
    if p.can(Right::ServiceRequestsRead) {
        let mut s =
            Sql::new("(n.entity_type = 'service_request' AND EXISTS (SELECT 1 FROM service_requests r WHERE r.id = n.entity_id AND ");
        s.append(vis.requests("r")).push("))");
        parts.push(s);
    }
    if p.can(Right::PresalesManage) {
        let mut s =
            Sql::new("(n.entity_type = 'presales_request' AND EXISTS (SELECT 1 FROM presales_requests r WHERE r.id = n.entity_id AND ");
        s.append(crate::presales::store::TeamScope::of(p).cond()).push("))");
        parts.push(s);
    }
    let mut out = Sql::new("(");
    if parts.is_empty() {
        out.push("1 = 0");
    }
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            out.push(" OR ");
        }
        out.append(part);
    }
    out.push(")");
    out
}
