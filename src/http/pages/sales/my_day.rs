//! "My day" on the home page.

use super::*;

// ------------------------------------------------------------------ my day

/// Today's meetings, due calls and interventions of the user (the home page's "my day").
pub struct MyDay {
    pub meetings: Vec<Meeting>,
    /// Due today or overdue: on opportunities (with the calls right), on service requests
    /// (with the requests right).
    pub calls: Vec<Call>,
    /// The calls' list is shown (who schedules calls, or has some).
    pub show_calls: bool,
    /// `None` for a user who works on no intervention.
    pub interventions: Option<Vec<crate::service::interventions::Intervention>>,
    /// The same interventions as visits: where to go, whom to call, what to repair.
    pub visits: Vec<Visit>,
    pub sales: bool,
    pub zone: Zone,
    pub now: i64,
}

/// One of today's interventions as the technician needs it on the road.
pub struct Visit {
    pub id: i64,
    pub number: String,
    pub customer_name: String,
    pub start_at: i64,
    pub end_at: i64,
    pub status: crate::service::interventions::Status,
    pub address: String,
    /// A map of the address (empty without one).
    pub maps: String,
    pub contact_name: String,
    /// (E.164 for the `tel:` link, as read locally).
    pub phones: Vec<(String, String)>,
    pub email: Option<String>,
    /// (serial number, model, symptom).
    pub equipment: Vec<(String, String, String)>,
    pub signed: bool,
}

impl Visit {
    async fn of(
        st: &AppState,
        i: crate::service::interventions::Intervention,
        labels: &crate::http::lists::ServiceLabels,
        region: &str,
    ) -> Result<Visit, HttpError> {
        use crate::service::store::{contact_of, Role};
        let contact = match contact_of(&st.db, i.request_id, Role::Requester).await? {
            Some(c) => Some(c),
            None => contact_of(&st.db, i.request_id, Role::User).await?,
        };
        let address = if i.place.is_empty() {
            let mut conn = st.db.pool.acquire().await?;
            crate::customers::store::get(&mut conn, i.customer_id).await?.map(|c| c.address).unwrap_or_default()
        } else {
            i.place.clone()
        };
        let phones = contact
            .iter()
            .flat_map(|c| [c.mobile.clone(), c.phone.clone()])
            .flatten()
            .map(|p| (p.clone(), crate::customers::phone::Phone::display(&p, region)))
            .collect();
        Ok(Visit {
            maps: crate::http::pages::maps_link(&address),
            address,
            contact_name: contact.as_ref().map(|c| format!("{} {}", c.first_name, c.last_name).trim().to_string()).unwrap_or_default(),
            phones,
            email: contact.and_then(|c| c.email),
            equipment: i.equipment.iter().map(|e| (e.serial_number.clone(), e.model.clone(), labels.symptom(&e.symptom))).collect(),
            signed: i.signed_at.is_some(),
            id: i.id,
            number: i.number,
            customer_name: i.customer_name,
            start_at: i.start_at,
            end_at: i.end_at,
            status: i.status,
        })
    }
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
    let which = calls::Tasks { opportunities: c.p.can(Right::CallsRead), requests: c.p.can(Right::ServiceRequestsRead) };
    if !sales && !c.p.can(Right::InterventionsRead) && !which.requests {
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
    let calls = calls::tasks(&st.db, c.p.user_id, end, which, 50).await?;
    let show_calls = c.p.can(Right::CallsRead) || c.p.can(Right::ServiceRequestsUpdate) || !calls.is_empty();
    // The interventions the user is booked on today (a technician's day).
    let interventions = if c.p.can(Right::InterventionsRead) {
        use crate::service::interventions::{planning, PlanningOf};
        let mine = planning(&st.db, &c.p.visibility, PlanningOf::Technician(c.p.user_id), start, end).await?;
        (!mine.is_empty() || !sales).then_some(mine)
    } else {
        None
    };
    let mut visits = Vec::new();
    if let Some(mine) = interventions.as_ref().filter(|m| !m.is_empty()) {
        let labels = crate::http::lists::ServiceLabels::load(st, c).await?;
        let region = crate::customers::store::region_of(&st.db).await?;
        for i in mine {
            visits.push(Visit::of(st, i.clone(), &labels, &region).await?);
        }
    }
    Ok(Some(MyDay { meetings, calls, show_calls, interventions, visits, sales, zone, now: st.now() }))
}
