//! Staff pages of the partners: partner organisations (list, create, edit) with their users
//! (invitations, roles, deactivation), partner opportunities (list and view, filtered by the
//! staff user's visibility over the partner's channel manager and unit), and the news
//! published to partners. Every handler reads the record through the staff user's
//! visibility first (404 otherwise).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::pages::{account_action, news_cursor, InviteForm, Labels};
use crate::access::Right;
use crate::error::Error;
use crate::http::auth::{self, Ctx};
use crate::http::error::HttpError;
use crate::http::form::FormPairs;
use crate::http::pages::history::Record;
use crate::http::pages::{form_error, render, FormErrors, PageCtx};
use crate::http::{redirect_notice, AppState};
use crate::org::units::OrgUnit;
use crate::partners::accounts;
use crate::partners::news::{self, NewsInput};
use crate::partners::store::{self, OpportunityFilter, PartnerForm};
use crate::partners::{format_amount, Account, Audience, NewsItem, Opportunity, Partner, Status};

const PAGE: i64 = 50;

fn with_status(mut resp: Response, status: StatusCode) -> Response {
    *resp.status_mut() = status;
    resp
}

async fn visible_partner(st: &AppState, c: &Ctx, id: i64) -> Result<Partner, HttpError> {
    Ok(store::partner_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?)
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

// ------------------------------------------------------------------ partner organisations

#[derive(Template)]
#[template(path = "partners/list.html")]
struct ListPage {
    c: PageCtx,
    rows: Vec<Partner>,
    q: String,
    next: Option<String>,
    can_manage: bool,
    can_publish: bool,
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    /// The last row seen: `id` (the name is read back from it).
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

pub async fn list(State(st): State<AppState>, c: Ctx, Query(q): Query<ListQuery>) -> Result<Response, HttpError> {
    let after = match q.after.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => {
            let id: i64 = s.parse().map_err(|_| Error::validation("after", "error.cursor_invalid"))?;
            let p = store::partner(&st.db, id).await?.ok_or_else(|| Error::validation("after", "error.cursor_invalid"))?;
            Some((p.name, id))
        }
    };
    let (rows, more) =
        store::partners_visible(&st.db, &c.p.visibility, q.q.as_deref(), after.as_ref().map(|(n, i)| (n.as_str(), *i)), PAGE).await?;
    let qs = q.q.clone().unwrap_or_default();
    let next = if more { rows.last().map(|p| format!("/partners?q={}&after={}", auth::urlencode(&qs), p.id)) } else { None };
    Ok(render(ListPage {
        c: PageCtx::new(&c, "/partners", "partners.title").with_notice(q.notice.as_deref()),
        rows,
        q: qs,
        next,
        can_manage: c.p.can(Right::PartnersManage),
        can_publish: c.p.can(Right::NewsPublish),
    }))
}

#[derive(Template)]
#[template(path = "partners/form.html")]
struct FormPage {
    c: PageCtx,
    id: Option<i64>,
    f: PartnerForm,
    units: Vec<OrgUnit>,
    owners: Vec<(i64, String)>,
    errors: FormErrors,
}

impl FormPage {
    fn checked(&self, v: &Option<String>) -> bool {
        v.as_deref() == Some("on")
    }
    fn selected(&self, v: &str, id: &i64) -> bool {
        v == id.to_string()
    }
}

async fn form_page(st: &AppState, c: &Ctx, id: Option<i64>, f: PartnerForm, errors: FormErrors) -> Result<Response, HttpError> {
    let units = crate::org::units::tree(&st.db).await?;
    let owners = store::owner_choices(&st.db, &c.p.visibility).await?;
    let status = if errors.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let title = if id.is_some() { "partners.edit" } else { "partners.new" };
    Ok(with_status(render(FormPage { c: PageCtx::new(c, "/partners", title), id, f, units, owners, errors }), status))
}

pub async fn new_form(State(st): State<AppState>, c: Ctx) -> Result<Response, HttpError> {
    let f = PartnerForm {
        active: Some("on".into()),
        admin_invites: Some("on".into()),
        owner_id: c.p.user_id.to_string(),
        unit_id: c.p.visibility.unit_id.map(|u| u.to_string()).unwrap_or_default(),
        ..Default::default()
    };
    form_page(&st, &c, None, f, FormErrors::none()).await
}

fn partner_form(body: &str) -> PartnerForm {
    let p = FormPairs::parse(body);
    PartnerForm {
        name: p.text("name"),
        unit_id: p.text("unit_id"),
        owner_id: p.text("owner_id"),
        email: p.text("email"),
        phone: p.text("phone"),
        active: p.flag("active").then(|| "on".into()),
        admin_invites: p.flag("admin_invites").then(|| "on".into()),
    }
}

pub async fn create(State(st): State<AppState>, c: Ctx, body: String) -> Result<Response, HttpError> {
    let f = partner_form(&body);
    let res = match f.parse() {
        Ok(input) => store::create_partner(&st.db, &c.actor(), st.now(), &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(p) => Ok(redirect_notice(&format!("/partners/{}", p.id), "notice.created")),
        Err(e) => {
            let errors = form_error(&c, e)?;
            form_page(&st, &c, None, f, errors).await
        }
    }
}

pub async fn edit_form(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let p = visible_partner(&st, &c, id).await?;
    let f = PartnerForm {
        name: p.name,
        unit_id: p.unit_id.to_string(),
        owner_id: p.owner_id.to_string(),
        email: p.email.unwrap_or_default(),
        phone: p.phone.unwrap_or_default(),
        active: p.active.then(|| "on".into()),
        admin_invites: p.admin_invites.then(|| "on".into()),
    };
    form_page(&st, &c, Some(id), f, FormErrors::none()).await
}

pub async fn update(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    visible_partner(&st, &c, id).await?;
    let f = partner_form(&body);
    let res = match f.parse() {
        Ok(input) => store::update_partner(&st.db, &c.actor(), &c.p.visibility, st.now(), id, &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/partners/{id}"), "notice.saved")),
        Err(Error::NotFound) => Err(Error::NotFound.into()),
        Err(e) => {
            let errors = form_error(&c, e)?;
            form_page(&st, &c, Some(id), f, errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "partners/show.html")]
struct ShowPage {
    c: PageCtx,
    p: Partner,
    accounts: Vec<Account>,
    opportunities: Vec<Opportunity>,
    labels: Labels,
    can_manage: bool,
    errors: FormErrors,
}

impl ShowPage {
    /// The actions an account offers, as (path segment, label key).
    fn actions(&self, a: &Account) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        if a.status == Status::Invited {
            out.push(("resend", "portal.resend"));
        }
        if a.status == Status::Deactivated {
            out.push(("reactivate", "portal.reactivate"));
        } else {
            out.push(("deactivate", "portal.deactivate"));
        }
        out.push(if a.is_admin { ("member", "portal.make_member") } else { ("admin", "partner.make_admin") });
        out.push(if a.can_opportunities {
            ("revoke-opportunities", "partner.revoke_opportunities")
        } else {
            ("grant-opportunities", "partner.grant_opportunities")
        });
        out
    }
    fn amount(&self, o: &Opportunity) -> String {
        o.amount_cents.map(format_amount).unwrap_or_default()
    }
    fn invite_action(&self) -> String {
        format!("/partners/{}/invite", self.p.id)
    }
}

async fn show_page(st: &AppState, c: &Ctx, id: i64, errors: FormErrors, notice: Option<&str>) -> Result<Response, HttpError> {
    let p = visible_partner(st, c, id).await?;
    let accounts = accounts::of_partner(&st.db, id).await?;
    let f = OpportunityFilter { partner_id: Some(id), ..Default::default() };
    let (opportunities, _) = store::opportunities_visible(&st.db, &c.p.visibility, &f, None, 10).await?;
    let labels = Labels::load(st, c.tr.0).await?;
    let status = if errors.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let mut page = PageCtx::new(c, "/partners", "partners.title").with_notice(notice);
    page.title = p.name.clone();
    let can_manage = c.p.can(Right::PartnersManage);
    Ok(with_status(render(ShowPage { c: page, p, accounts, opportunities, labels, can_manage, errors }), status))
}

pub async fn show(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    show_page(&st, &c, id, FormErrors::none(), q.notice.as_deref()).await
}

pub async fn history(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let p = visible_partner(&st, &c, id).await?;
    let labels = |_: &str, _: &str| None;
    let r = Record {
        entity: "partner",
        id,
        name: p.name.clone(),
        subtitle: None,
        section: "/partners",
        crumbs: vec![("/partners".into(), c.tr.t("partners.title"))],
        href: format!("/partners/{id}"),
        labels: &labels,
        hidden: &[],
    };
    crate::http::pages::history::page(&st, &c, r).await
}

pub async fn invite(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    visible_partner(&st, &c, id).await?;
    let p = FormPairs::parse(&body);
    let f = InviteForm {
        name: p.text("name"),
        email: p.text("email"),
        language: p.text("language"),
        is_admin: p.flag("is_admin").then(|| "on".into()),
        can_opportunities: p.flag("can_opportunities").then(|| "on".into()),
    };
    let res = match f.parse() {
        Ok(inv) => accounts::invite(&st.db, &c.actor(), st.now(), id, &inv).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match res {
        Ok(()) => Ok(redirect_notice(&format!("/partners/{id}"), "notice.portal_invited")),
        Err(e) => {
            let errors = form_error(&c, e)?;
            show_page(&st, &c, id, errors, None).await
        }
    }
}

pub async fn user_action(
    State(st): State<AppState>,
    c: Ctx,
    Path((id, user, action)): Path<(i64, i64, String)>,
) -> Result<Response, HttpError> {
    visible_partner(&st, &c, id).await?;
    let a = accounts::get_of(&st.db, id, user).await?.ok_or(Error::NotFound)?;
    account_action(&st, &c.actor(), id, &a, &action).await?;
    Ok(redirect_notice(&format!("/partners/{id}"), "notice.saved"))
}

// ------------------------------------------------------------------ partner opportunities (staff)

#[derive(Template)]
#[template(path = "partners/opportunities.html")]
struct OpportunitiesPage {
    c: PageCtx,
    rows: Vec<Opportunity>,
    labels: Labels,
    q: String,
    status: String,
    kind: String,
    next: Option<String>,
}

impl OpportunitiesPage {
    fn amount(&self, o: &Opportunity) -> String {
        o.amount_cents.map(format_amount).unwrap_or_default()
    }
}

#[derive(Deserialize)]
pub struct OppQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    partner: Option<String>,
    #[serde(default)]
    before: Option<String>,
}

pub async fn opportunities(State(st): State<AppState>, c: Ctx, Query(q): Query<OppQuery>) -> Result<Response, HttpError> {
    let before = match q.before.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(s.parse::<i64>().map_err(|_| Error::validation("before", "error.cursor_invalid"))?),
    };
    let partner_id = match q.partner.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(s.parse::<i64>().map_err(|_| Error::validation("partner", "error.invalid_choice"))?),
    };
    let f =
        OpportunityFilter { q: q.q.clone(), status: q.status.clone(), opportunity_type: q.kind.clone(), partner_id, presales_only: false };
    let (rows, more) = store::opportunities_visible(&st.db, &c.p.visibility, &f, before, PAGE).await?;
    let (qs, status, kind) = (q.q.unwrap_or_default(), q.status.unwrap_or_default(), q.kind.unwrap_or_default());
    let next = if more {
        rows.last().map(|o| {
            format!(
                "/partners/opportunities?before={}&q={}&status={}&type={}&partner={}",
                o.id,
                auth::urlencode(&qs),
                auth::urlencode(&status),
                auth::urlencode(&kind),
                partner_id.map(|p| p.to_string()).unwrap_or_default()
            )
        })
    } else {
        None
    };
    let labels = Labels::load(&st, c.tr.0).await?;
    Ok(render(OpportunitiesPage {
        c: PageCtx::new(&c, "/partners", "partners.opportunities_title"),
        rows,
        labels,
        q: qs,
        status,
        kind,
        next,
    }))
}

#[derive(Template)]
#[template(path = "partners/opportunity.html")]
struct OpportunityPage {
    c: PageCtx,
    o: Opportunity,
    labels: Labels,
    eligible: bool,
    presales: Vec<crate::http::pages::presales::PresalesRow>,
}

impl OpportunityPage {
    fn amount(&self) -> String {
        self.o.amount_cents.map(format_amount).unwrap_or_default()
    }
}

pub async fn opportunity(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let o = store::opportunity_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    let labels = Labels::load(&st, c.tr.0).await?;
    let eligible = labels.eligible(&o.opportunity_type);
    let presales = crate::http::pages::presales::of_opportunity(&st, &c, o.id).await?;
    let mut page = PageCtx::new(&c, "/partners", "partners.opportunities_title");
    page.title = o.customer_name.clone();
    Ok(render(OpportunityPage { c: page, o, labels, eligible, presales }))
}

pub async fn opportunity_history(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let o = store::opportunity_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    let labels = |_: &str, _: &str| None;
    let r = Record {
        entity: "partner_opportunity",
        id,
        name: o.customer_name.clone(),
        subtitle: Some(o.partner_name.clone()),
        section: "/partners",
        crumbs: vec![("/partners/opportunities".into(), c.tr.t("partners.opportunities_title"))],
        href: format!("/partners/opportunities/{id}"),
        labels: &labels,
        hidden: &[],
    };
    crate::http::pages::history::page(&st, &c, r).await
}

// ------------------------------------------------------------------ news (staff)

#[derive(Template)]
#[template(path = "partners/news.html")]
struct NewsListPage {
    c: PageCtx,
    rows: Vec<NewsItem>,
    next: Option<String>,
    now: i64,
}

#[derive(Deserialize)]
pub struct NewsQuery {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

pub async fn news_list(State(st): State<AppState>, c: Ctx, Query(q): Query<NewsQuery>) -> Result<Response, HttpError> {
    let after = news_cursor(q.after.as_deref())?;
    let (rows, more) = news::all(&st.db, after, PAGE).await?;
    let next = if more { rows.last().map(|n| format!("/news?after={}.{}", n.published_at, n.id)) } else { None };
    Ok(render(NewsListPage { c: PageCtx::new(&c, "/partners", "news.title").with_notice(q.notice.as_deref()), rows, next, now: st.now() }))
}

#[derive(Template)]
#[template(path = "partners/news_form.html")]
struct NewsFormPage {
    c: PageCtx,
    id: Option<i64>,
    title: String,
    summary: String,
    body: String,
    date: String,
    time: String,
    audience: String,
    chosen: Vec<i64>,
    partners: Vec<(i64, String)>,
    preview: Option<String>,
    has_image: bool,
    errors: FormErrors,
}

async fn news_form_page(st: &AppState, c: &Ctx, id: Option<i64>, p: &FormPairs, errors: FormErrors) -> Result<Response, HttpError> {
    let partners = store::all_active(&st.db).await?;
    let status = if errors.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let body = p.text("body");
    let preview = (!body.trim().is_empty()).then(|| news::render(&body));
    let has_image = match id {
        Some(id) => news::get(&st.db, id).await?.is_some_and(|n| n.has_image != 0),
        None => false,
    };
    let page = NewsFormPage {
        c: PageCtx::new(c, "/partners", if id.is_some() { "news.edit" } else { "news.new" }),
        id,
        title: p.text("title"),
        summary: p.text("summary"),
        body,
        date: p.text("date"),
        time: p.text("time"),
        audience: p.get("audience").unwrap_or("all").to_string(),
        chosen: p.ids("partner_ids"),
        partners,
        preview,
        has_image,
        errors,
    };
    Ok(with_status(render(page), status))
}

pub async fn news_new(State(st): State<AppState>, c: Ctx) -> Result<Response, HttpError> {
    let now = st.now();
    let date = c.p.zone.date(now);
    let time = c.p.zone.time(now);
    let p = FormPairs::parse(&format!("date={date}&time={}&audience=all", auth::urlencode(&time)));
    news_form_page(&st, &c, None, &p, FormErrors::none()).await
}

fn news_input(c: &Ctx, p: &FormPairs) -> Result<NewsInput, Error> {
    let time = p.get("time").map(str::trim).filter(|t| !t.is_empty()).unwrap_or("00:00");
    let at = c.p.zone.parse_local(p.text("date").trim(), time);
    NewsInput::parse(&p.text("title"), &p.text("summary"), &p.text("body"), at, p.get("audience").unwrap_or(""), p.ids("partner_ids"))
}

pub async fn news_create(State(st): State<AppState>, c: Ctx, body: String) -> Result<Response, HttpError> {
    let p = FormPairs::parse(&body);
    let res = match news_input(&c, &p) {
        Ok(input) => news::create(&st.db, &c.actor(), st.now(), &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice("/news", "notice.created")),
        Err(e) => {
            let errors = form_error(&c, e)?;
            news_form_page(&st, &c, None, &p, errors).await
        }
    }
}

pub async fn news_edit(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    news_edit_page(&st, &c, id, FormErrors::none()).await
}

async fn news_edit_page(st: &AppState, c: &Ctx, id: i64, errors: FormErrors) -> Result<Response, HttpError> {
    let n = news::get(&st.db, id).await?.ok_or(Error::NotFound)?;
    let chosen = news::audience_of(&st.db, id).await?;
    let mut pairs = vec![
        ("title".to_string(), n.title.clone()),
        ("summary".to_string(), n.summary.clone()),
        ("body".to_string(), n.body.clone()),
        ("date".to_string(), c.p.zone.date(n.published_at)),
        ("time".to_string(), c.p.zone.time(n.published_at)),
        ("audience".to_string(), n.audience.clone()),
    ];
    pairs.extend(chosen.iter().map(|p| ("partner_ids".to_string(), p.to_string())));
    let p = FormPairs::parse(&serde_urlencoded::to_string(&pairs).map_err(Error::internal)?);
    news_form_page(st, c, Some(id), &p, errors).await
}

pub async fn news_update(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    news::get(&st.db, id).await?.ok_or(Error::NotFound)?;
    let p = FormPairs::parse(&body);
    let res = match news_input(&c, &p) {
        Ok(input) => news::update(&st.db, &c.actor(), st.now(), id, &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice("/news", "notice.saved")),
        Err(Error::NotFound) => Err(Error::NotFound.into()),
        Err(e) => {
            let errors = form_error(&c, e)?;
            news_form_page(&st, &c, Some(id), &p, errors).await
        }
    }
}

/// A news item's image (when it has one), served with its stored type and never sniffed.
pub async fn image_response(st: &AppState, id: i64) -> Result<Response, HttpError> {
    let row: Option<(Option<String>, Option<Vec<u8>>)> = sqlx::query_as("SELECT image_type, image_data FROM news_items WHERE id = $1")
        .bind(id)
        .fetch_optional(&st.db.pool)
        .await
        .map_err(Error::from)?;
    let Some((Some(kind), Some(data))) = row else { return Err(Error::NotFound.into()) };
    let kind = if matches!(kind.as_str(), "image/png" | "image/jpeg" | "image/webp" | "image/gif") {
        kind
    } else {
        "application/octet-stream".into()
    };
    Ok(([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "private, max-age=3600".into())], data).into_response())
}

impl NewsListPage {
    fn audience(&self, n: &NewsItem) -> &'static str {
        match Audience::parse(&n.audience) {
            Some(Audience::Some) => "news.audience_some",
            _ => "news.audience_all",
        }
    }
}

/// Adds or replaces a news item's image (multipart `file`; PNG, JPEG, WebP or GIF).
pub async fn news_image_upload(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    mut mp: axum::extract::Multipart,
) -> Result<Response, HttpError> {
    news::get(&st.db, id).await?.ok_or(Error::NotFound)?;
    let res = match crate::http::api::service::read_upload(&mut mp, news::IMAGE_MAX_BYTES).await {
        Ok((_, bytes, _)) => news::set_image(&st.db, &c.actor(), st.now(), id, Some(bytes)).await,
        Err(e) => Err(e.0),
    };
    match res {
        Ok(()) => Ok(redirect_notice(&format!("/news/{id}"), "notice.saved")),
        Err(e) => {
            let errors = form_error(&c, e)?;
            news_edit_page(&st, &c, id, errors).await
        }
    }
}

/// Removes a news item's image.
pub async fn news_image_remove(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    news::get(&st.db, id).await?.ok_or(Error::NotFound)?;
    news::set_image(&st.db, &c.actor(), st.now(), id, None).await?;
    Ok(redirect_notice(&format!("/news/{id}"), "notice.saved"))
}

/// A news item's image, for staff.
pub async fn news_image(State(st): State<AppState>, _c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    image_response(&st, id).await
}
