//! The opportunity list: filters, saved views, CSV export, and the board.

use super::*;

// ------------------------------------------------------------------ the list

#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    q: Option<String>,
    status: Option<String>,
    lead_type: Option<String>,
    /// `1`: only my opportunities.
    mine: Option<String>,
    #[serde(default, deserialize_with = "crate::http::pages::blank_id")]
    view: Option<i64>,
    after: Option<String>,
    notice: Option<String>,
}

const VIEW_PARAMS: &[&str] = &["q", "status", "lead_type", "mine"];

impl ListQuery {
    fn view_query(&self) -> String {
        let raw = serde_urlencoded::to_string([
            ("q", self.q.clone().unwrap_or_default()),
            ("status", self.status.clone().unwrap_or_default()),
            ("lead_type", self.lead_type.clone().unwrap_or_default()),
            ("mine", self.mine.clone().unwrap_or_default()),
        ])
        .unwrap_or_default();
        crate::views::normalise_query(&raw, VIEW_PARAMS)
    }
    fn filter(&self, user_id: i64) -> Filter {
        Filter {
            q: self.q.clone(),
            status: self.status.clone().filter(|s| !s.is_empty()),
            lead_type: self.lead_type.clone().filter(|s| !s.is_empty()),
            owner_id: if self.mine.as_deref() == Some("1") { Some(user_id) } else { None },
            ..Default::default()
        }
    }
}

#[derive(Template)]
#[template(path = "sales/list.html")]
struct ListPage {
    c: PageCtx,
    l: Labels,
    items: Vec<Opportunity>,
    q: String,
    status: String,
    lead_type: String,
    mine: bool,
    views: Vec<crate::views::View>,
    current_view: Option<crate::views::View>,
    view_query: String,
    user_id: i64,
    next: Option<String>,
    show_expired: bool,
    can_create: bool,
    can_lead: bool,
    can_export: bool,
    can_restore: bool,
}

impl ListPage {
    fn view_selected(&self, id: &i64) -> bool {
        self.current_view.as_ref().is_some_and(|v| v.id == *id)
    }
}

pub async fn list(State(st): State<AppState>, c: Ctx, Query(mut q): Query<ListQuery>) -> Result<Response, HttpError> {
    let current_view = match q.view {
        Some(v) => {
            Some(crate::views::get_usable(&st.db, "opportunities", c.p.user_id, c.p.visibility.unit_id, v).await?.ok_or(Error::NotFound)?)
        }
        None => None,
    };
    if let Some(v) = &current_view {
        if q.q.is_none() && q.status.is_none() && q.lead_type.is_none() && q.mine.is_none() {
            let saved: ListQuery = serde_urlencoded::from_str(&v.query).unwrap_or_default();
            q = ListQuery { q: saved.q, status: saved.status, lead_type: saved.lead_type, mine: saved.mine, ..q };
        }
    }
    let size = crate::settings::get_int(&st.db, "lists.page_size").await?;
    let page = PageReq::parse(Some(size), q.after.as_deref())?;
    let res = store::list(&st.db, &c.p.visibility, &q.filter(c.p.user_id), &page).await?;
    let view_query = q.view_query();
    let next = res.next.map(|n| {
        let mut s = view_query.clone();
        if let Some(v) = &current_view {
            s.push_str(&format!("&view={}", v.id));
        }
        format!("{s}&after={}", n.encode())
    });
    let pc = PageCtx::new(&c, "/opportunities", "nav.opportunities").with_notice(q.notice.as_deref());
    Ok(render(ListPage {
        c: pc,
        l: Labels::load(&st, &c).await?,
        items: res.items,
        q: q.q.clone().unwrap_or_default(),
        status: q.status.clone().unwrap_or_default(),
        lead_type: q.lead_type.clone().unwrap_or_default(),
        mine: q.mine.as_deref() == Some("1"),
        views: crate::views::usable(&st.db, "opportunities", c.p.user_id, c.p.visibility.unit_id).await?,
        current_view,
        view_query,
        user_id: c.p.user_id,
        next,
        show_expired: c.p.sees_hidden_fields(),
        can_create: c.p.can(Right::OpportunitiesCreate),
        can_lead: c.p.can(Right::LeadsCreate),
        can_export: c.p.can(Right::OpportunitiesExport),
        can_restore: c.p.can(Right::OpportunitiesRestore),
    }))
}

#[derive(Deserialize)]
pub struct NewViewForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    query: String,
    #[serde(default)]
    shared: Option<String>,
}

pub async fn create_view(
    State(st): State<AppState>,
    c: Ctx,
    axum::extract::Form(f): axum::extract::Form<NewViewForm>,
) -> Result<Response, HttpError> {
    let query = crate::views::normalise_query(&f.query, VIEW_PARAMS);
    let share = if f.shared.is_some() { c.p.visibility.unit_id } else { None };
    let v = crate::views::create(&st.db, &c.actor(), st.now(), "opportunities", &f.name, &query, share).await?;
    Ok(redirect_notice(&format!("/opportunities?view={}", v.id), "notice.view_saved"))
}

#[derive(Deserialize)]
pub struct UpdateViewForm {
    #[serde(default)]
    query: String,
}

pub async fn update_view(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    axum::extract::Form(f): axum::extract::Form<UpdateViewForm>,
) -> Result<Response, HttpError> {
    let query = crate::views::normalise_query(&f.query, VIEW_PARAMS);
    crate::views::update(&st.db, &c.actor(), st.now(), id, &query).await?;
    Ok(redirect_notice(&format!("/opportunities?view={id}"), "notice.view_updated"))
}

pub async fn delete_view(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    crate::views::delete(&st.db, &c.actor(), st.now(), id).await?;
    Ok(redirect_notice("/opportunities", "notice.deleted"))
}

/// The list as CSV (streamed page by page; cells neutralised against formula injection).
pub async fn export(State(st): State<AppState>, c: Ctx, Query(q): Query<ListQuery>) -> Result<Response, HttpError> {
    let labels = Labels::load(&st, &c).await?;
    let filter = q.filter(c.p.user_id);
    let vis = c.p.visibility.clone();
    let db = st.db.clone();
    let header = ["id", "name", "customer", "status", "lead_type", "owner", "branch", "sale_date", "delivery_date", "created_at"];
    let stream = async_stream(db, vis, filter, labels, header);
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"opportunites.csv\""),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

fn csv_row(cells: &[String]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(cells.iter().map(|s| crate::customers::csv_safe(s)));
    w.into_inner().unwrap_or_default()
}

fn async_stream(
    db: crate::db::Db,
    vis: crate::access::Visibility,
    filter: Filter,
    labels: Labels,
    header: [&'static str; 10],
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let labels = std::sync::Arc::new(labels);
    futures_util::stream::unfold((Some(PageReq::first(500)), true), move |(page, first)| {
        let (db, vis, filter, labels) = (db.clone(), vis.clone(), filter.clone(), labels.clone());
        async move {
            let page = page?;
            let res = match store::list(&db, &vis, &filter, &page).await {
                Ok(r) => r,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), (None, false))),
            };
            let mut buf = if first { csv_row(&header.iter().map(|s| s.to_string()).collect::<Vec<_>>()) } else { Vec::new() };
            for o in &res.items {
                buf.extend(csv_row(&[
                    o.id.to_string(),
                    o.name.clone(),
                    o.customer_name.clone(),
                    labels.status(&o.status),
                    labels.lead(&o.lead_type),
                    o.owner_name.clone().unwrap_or_default(),
                    o.branch_name.clone().unwrap_or_default(),
                    labels.date_of(&o.sale_date),
                    labels.date_of(&o.delivery_date),
                    labels.at(&o.created_at),
                ]));
            }
            let next = res.next.map(|c| PageReq { limit: 500, after: Some(c) });
            Some((Ok(buf), (next, false)))
        }
    })
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
}

impl BoardPage {
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
    let pc = PageCtx::new(&c, "/opportunities", "sales.board").with_notice(q.notice.as_deref());
    Ok(render(BoardPage { c: pc, l, columns, mine, rights: c.p.rights, now: st.now() }))
}
