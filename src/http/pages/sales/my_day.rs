//! "My day" on the home page.

use super::*;

// ------------------------------------------------------------------ my day

/// Today's meetings, due calls and interventions of the user (the home page's "my day").
pub struct MyDay {
    pub meetings: Vec<Meeting>,
    pub calls: Vec<Call>,
    /// `None` for a user who works on no intervention.
    pub interventions: Option<Vec<crate::service::interventions::Intervention>>,
    pub sales: bool,
    pub zone: Zone,
    pub now: i64,
}

impl MyDay {
    pub fn time(&self, ms: &i64) -> String {
        self.zone.time(*ms)
    }
    pub fn at(&self, ms: &i64) -> String {
        self.zone.format(*ms)
    }
}

pub async fn my_day(st: &AppState, c: &Ctx) -> Result<Option<MyDay>, HttpError> {
    let sales = c.p.can(Right::MeetingsRead) || c.p.can(Right::CallsRead);
    if !sales && !c.p.can(Right::InterventionsRead) {
        return Ok(None);
    }
    let zone = crate::settings::zone(&st.db).await?;
    let start = zone.day_start(st.now());
    let end = start + 86_400_000;
    let meetings = if c.p.can(Right::MeetingsRead) {
        meetings::calendar(&st.db, &c.p.visibility, CalendarOf::User(c.p.user_id), start, end).await?
    } else {
        Vec::new()
    };
    let calls = if c.p.can(Right::CallsRead) { calls::tasks(&st.db, c.p.user_id, end, 50).await? } else { Vec::new() };
    // The interventions the user is booked on today (a technician's day).
    let interventions = if c.p.can(Right::InterventionsRead) {
        use crate::service::interventions::{planning, PlanningOf};
        let mine = planning(&st.db, &c.p.visibility, PlanningOf::Technician(c.p.user_id), start, end).await?;
        (!mine.is_empty() || !sales).then_some(mine)
    } else {
        None
    };
    Ok(Some(MyDay { meetings, calls, interventions, sales, zone, now: st.now() }))
}
