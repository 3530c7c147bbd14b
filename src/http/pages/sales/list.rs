//! The opportunity list (its views, export and columns are declared in
//! [`crate::http::lists::OPPORTUNITIES`]) and the board.

use super::*;
use crate::http::listing::{self, ListNav};
use crate::http::lists::Opportunities;

// ------------------------------------------------------------------ the list

#[derive(Template)]
#[template(path = "sales/list.html")]
struct ListPage {
    c: PageCtx,
    l: Labels,
    list: ListNav,
    items: Vec<Opportunity>,
    q: String,
    status: String,
    lead_type: String,
    mine: bool,
    /// Whether a filter narrows the list.
    filtered: bool,
    show_expired: bool,
    can_create: bool,
    can_lead: bool,
    can_export: bool,
    can_restore: bool,
}

pub async fn list(
    State(st): State<AppState>,
    c: Ctx,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Response, HttpError> {
    let (s, page, list) = listing::read::<Opportunities>(&st, &c, raw.as_deref()).await?;
    let pc = PageCtx::new(&c, "/opportunities", "nav.opportunities").with_notice(s.notice.as_deref());
    Ok(render(ListPage {
        c: pc,
        l: Labels::load(&st, &c).await?,
        list,
        items: page.items,
        q: s.text("q"),
        status: s.text("status"),
        lead_type: s.text("lead_type"),
        mine: s.get("mine") == Some("1"),
        filtered: s.filtered(),
        show_expired: c.p.sees_hidden_fields(),
        can_create: c.p.can(Right::OpportunitiesCreate),
        can_lead: c.p.can(Right::LeadsCreate),
        can_export: c.p.can(Right::OpportunitiesExport),
        can_restore: c.p.can(Right::OpportunitiesRestore),
    }))
}

// ------------------------------------------------------------------ the board

#[derive(Template)]
#[template(path = "sales/board.html")]
struct BoardPage {
    c: PageCtx,
    l: Labels,
    columns: Vec<Column>,
    mine: bool,
    rights: crate::access::RightSet,
    now: i64,
    /// Each status's count (up to the lists' cap) and total amount (under the cap), for all its
    /// opportunities, not only the cards shown.
    totals: Vec<(String, crate::db::page::Count, Option<i64>)>,
}

impl BoardPage {
    fn count(&self, status: &str) -> String {
        match self.totals.iter().find(|t| t.0 == status).map(|t| t.1) {
            Some(crate::db::page::Count::AtLeast(n)) => format!("{n}+"),
            Some(crate::db::page::Count::Exactly(n)) => n.to_string(),
            None => "0".into(),
        }
    }
    /// The total in cents, when the column is under the cap.
    fn cents(&self, status: &str) -> Option<i64> {
        self.totals.iter().find(|t| t.0 == status).map(|t| t.2).unwrap_or(Some(0))
    }
    fn total(&self, status: &str) -> String {
        match self.cents(status) {
            Some(c) => self.l.amount(&Some(c)),
            None => String::new(),
        }
    }
    /// The statuses a card may move to (the workflow's, for this user).
    fn choices(&self, o: &Opportunity) -> Vec<&ListItem> {
        self.l.statuses.choices(
            &crate::sales::Current { status: &o.status, sale_date: o.sale_date, trashed: o.trashed },
            self.rights,
            self.now,
        )
    }
}

#[derive(Deserialize, Default)]
pub struct BoardQuery {
    mine: Option<String>,
    notice: Option<String>,
}

pub async fn board(State(st): State<AppState>, c: Ctx, Query(q): Query<BoardQuery>) -> Result<Response, HttpError> {
    let l = Labels::load(&st, &c).await?;
    let mine = q.mine.as_deref() == Some("1");
    let filter = Filter { owner_id: mine.then_some(c.p.user_id), ..Default::default() };
    let columns = store::board(&st.db, &c.p.visibility, &l.statuses, &filter, 25).await?;
    let codes: Vec<&str> = columns.iter().map(|col| col.status.code.as_str()).collect();
    let totals = store::board_heads(&st.db, &c.p.visibility, &codes, &filter, crate::db::page::COUNT_CAP).await?;
    let pc = PageCtx::new(&c, "/opportunities", "sales.board").with_notice(q.notice.as_deref());
    Ok(render(BoardPage { c: pc, l, columns, mine, rights: c.p.rights, now: st.now(), totals }))
}

// ------------------------------------------------------------------ the leads

#[derive(Template)]
#[template(path = "sales/leads.html")]
struct LeadsPage {
    c: PageCtx,
    l: Labels,
    list: ListNav,
    items: Vec<crate::sales::leads::ListedLead>,
    lead_type: String,
    source: String,
    speed: String,
    from: String,
    to: String,
    mine: bool,
    can_export: bool,
    can_lead: bool,
}

impl LeadsPage {
    /// How long the lead waited for its first answer.
    fn answered(&self, x: &crate::sales::leads::ListedLead) -> String {
        match x.responded_at {
            Some(t) => crate::reports::format(
                (t - x.created_at).max(0) / 60_000,
                crate::reports::Unit::Minutes,
                "",
                self.l.lang == crate::i18n::Lang::Fr,
            ),
            None => "—".into(),
        }
    }
    fn lead_label(&self, x: &crate::sales::leads::ListedLead) -> String {
        self.l.lead(&Some(x.lead_type.clone()))
    }
    fn speeds(&self) -> Vec<&'static str> {
        crate::sales::leads::Speed::ALL.iter().map(|s| s.code()).collect()
    }
}

/// The leads received, with how fast each was answered (the dashboard's lead figures link here).
pub async fn leads_list(
    State(st): State<AppState>,
    c: Ctx,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Response, HttpError> {
    let (s, page, list) = listing::read::<crate::http::lists::Leads>(&st, &c, raw.as_deref()).await?;
    Ok(render(LeadsPage {
        c: PageCtx::new(&c, "/opportunities", "leads.list_title").with_notice(s.notice.as_deref()),
        l: Labels::load(&st, &c).await?,
        list,
        items: page.items,
        lead_type: s.text("lead_type"),
        source: s.text("source"),
        speed: s.text("speed"),
        from: s.text("from"),
        to: s.text("to"),
        mine: s.get("mine") == Some("1"),
        can_export: c.p.can(Right::OpportunitiesExport),
        can_lead: c.p.can(Right::LeadsCreate),
    }))
}
