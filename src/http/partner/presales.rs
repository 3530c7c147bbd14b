//! The partner's pre-sales requests (partner right "Opportunités"): the list, a new request
//! from an eligible opportunity (Actions → Pre-sales request, or New → pick the opportunity),
//! the draft's edit and submission with its confirmation, the team's proposals (pick one and
//! accept, or "none fits" with the partner's expectations), the answer to a question, the
//! cancellation, and the refusal or cancellation reason. Every read and write takes the partner
//! organisation from the session (`c.u.partner_id`), never from the URL or the form.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{PartnerCtx, PartnerPage};
use crate::error::Error;
use crate::http::error::HttpError;
use crate::http::form::FormPairs;
use crate::http::pages::presales::{PresalesRow, Types, OF_OPPORTUNITY};
use crate::http::pages::{form_error_tr, render, FormErrors};
use crate::http::{redirect_notice, AppState};
use crate::lists::{self, ListItem};
use crate::presales::store::{self, By, Filter, Message, PresalesRequest, RequestForm, Slot, Step};
use crate::presales::workflow::{self, Status};

fn by(c: &PartnerCtx) -> By {
    By::Partner {
        partner_id: c.u.partner_id,
        user_id: c.u.user_id,
        can_opportunities: c.u.can_opportunities,
        is_admin: c.u.is_admin,
        actor: c.actor(),
    }
}

/// The partner's pre-sales requests of one of their opportunities (drafts included), newest
/// first, for the opportunity's page; filtered by the partner from the session.
pub async fn of_opportunity(st: &AppState, c: &PartnerCtx, opportunity_id: i64) -> Result<Vec<PresalesRow>, HttpError> {
    let f = Filter { opportunity_id: Some(opportunity_id), ..Default::default() };
    let items = store::list_for_partner(&st.db, c.u.partner_id, &f, OF_OPPORTUNITY).await?.items;
    let types = Types(lists::items(&st.db, store::TYPE_LIST, true).await?);
    Ok(PresalesRow::rows(items, &types, c.tr.0, |r| Some(format!("/partner/presales/{}", r.id))))
}

fn actor_kind(c: &PartnerCtx) -> workflow::Actor {
    if c.u.is_admin {
        workflow::Actor::PartnerAdmin
    } else if c.u.can_opportunities {
        workflow::Actor::PartnerUser
    } else {
        workflow::Actor::PartnerWithoutRight
    }
}

fn with_status(mut resp: Response, status: StatusCode) -> Response {
    *resp.status_mut() = status;
    resp
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    before: Option<i64>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "partner/presales_list.html")]
struct ListPage {
    c: PartnerPage,
    items: Vec<PresalesRequest>,
    status: Option<Status>,
    next_before: Option<i64>,
    types: Types,
}

impl ListPage {
    fn status_label(&self, s: &str) -> String {
        self.c.tr.t(Status::parse(s).map(Status::label_key).unwrap_or_default())
    }
    fn badge(&self, s: &str) -> &'static str {
        Status::parse(s).map(Status::badge).unwrap_or("badge-gray")
    }
    fn type_label(&self, code: &str) -> String {
        self.types.label(code, self.c.tr.0)
    }
}

pub async fn list(State(st): State<AppState>, c: PartnerCtx, Query(q): Query<ListQuery>) -> Result<Response, HttpError> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(Status::parse(s).ok_or(Error::validation("status", "error.invalid_choice"))?),
    };
    let f = Filter { status, before: q.before, ..Default::default() };
    let listed = store::list_for_partner(&st.db, c.u.partner_id, &f, store::PAGE).await?;
    let types = Types(lists::items(&st.db, store::TYPE_LIST, true).await?);
    Ok(render(ListPage {
        c: PartnerPage::new(&c, "/partner/presales", "presales.partner_list").with_notice(q.notice.as_deref()),
        items: listed.items,
        status,
        next_before: listed.next_before,
        types,
    }))
}

#[derive(Template)]
#[template(path = "partner/presales_form.html")]
struct FormPage {
    c: PartnerPage,
    /// None for a new request.
    id: Option<i64>,
    form: RequestForm,
    opportunities: Vec<(i64, String)>,
    types: Vec<ListItem>,
    engineers: Vec<(i64, String)>,
    f: FormErrors,
}

impl FormPage {
    fn type_label<'a>(&self, t: &'a ListItem) -> &'a str {
        t.label(&self.c.tr.0)
    }
    fn chosen_engineer(&self, id: &i64) -> bool {
        self.form.preferred_engineer_id == id.to_string()
    }
    fn chosen_opportunity(&self, id: &i64) -> bool {
        self.form.partner_opportunity_id == id.to_string()
    }
}

async fn form_page(st: &AppState, c: &PartnerCtx, id: Option<i64>, form: RequestForm, f: FormErrors) -> Result<Response, HttpError> {
    let opportunities = store::eligible_opportunities(&st.db, c.u.partner_id).await?;
    let types = lists::items(&st.db, store::TYPE_LIST, false).await?;
    let engineers = store::engineers(&st.db).await?;
    let title = if id.is_some() { "presales.edit_request" } else { "presales.new_request" };
    let status = if f.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(with_status(
        render(FormPage { c: PartnerPage::new(c, "/partner/presales", title), id, form, opportunities, types, engineers, f }),
        status,
    ))
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    opportunity: Option<i64>,
}

pub async fn new_form(State(st): State<AppState>, c: PartnerCtx, Query(q): Query<NewQuery>) -> Result<Response, HttpError> {
    let form = RequestForm { partner_opportunity_id: q.opportunity.map(|v| v.to_string()).unwrap_or_default(), ..Default::default() };
    form_page(&st, &c, None, form, FormErrors::none()).await
}

fn read_form(mut form: RequestForm, body: &str) -> RequestForm {
    let p = FormPairs::parse(body);
    for (field, slot) in [
        ("partner_opportunity_id", &mut form.partner_opportunity_id),
        ("description", &mut form.description),
        ("intervention_type", &mut form.intervention_type),
        ("place", &mut form.place),
        ("desired_date", &mut form.desired_date),
        ("preferred_engineer_id", &mut form.preferred_engineer_id),
    ] {
        if let Some(v) = p.get(field) {
            *slot = v.to_string();
        }
    }
    // Checkboxes follow a hidden empty input of the same name: absent from the form keeps the value.
    if p.get("on_site").is_some() {
        form.on_site = p.all("on_site").any(|v| !v.is_empty());
    }
    form.confirmed = p.all("confirmed").any(|v| !v.is_empty());
    form
}

pub async fn create(State(st): State<AppState>, c: PartnerCtx, body: String) -> Result<Response, HttpError> {
    let form = read_form(RequestForm::default(), &body);
    let res = match form.parse(true) {
        Ok(input) => store::create(&st.db, &by(&c), st.now(), &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(r) => Ok(redirect_notice(&format!("/partner/presales/{}", r.id), "notice.presales_created")),
        Err(e) => {
            let f = form_error_tr(c.tr, e)?;
            form_page(&st, &c, None, form, f).await
        }
    }
}

pub async fn edit_form(State(st): State<AppState>, c: PartnerCtx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let r = store::get_for_partner(&st.db, c.u.partner_id, id).await?.ok_or(Error::NotFound)?;
    if workflow::decide(r.state(), workflow::Action::Edit, actor_kind(&c)).is_err() {
        return Ok(redirect_notice(&format!("/partner/presales/{id}"), "notice.presales_not_editable"));
    }
    form_page(&st, &c, Some(id), RequestForm::from_request(&r), FormErrors::none()).await
}

pub async fn update(State(st): State<AppState>, c: PartnerCtx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let r = store::get_for_partner(&st.db, c.u.partner_id, id).await?.ok_or(Error::NotFound)?;
    let form = read_form(RequestForm::from_request(&r), &body);
    let res = match form.parse(false) {
        Ok(input) => store::act(&st.db, &by(&c), st.now(), c.u.zone, id, Step::Edit(input)).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/partner/presales/{id}"), "notice.saved")),
        Err(e) => {
            let f = form_error_tr(c.tr, e)?;
            form_page(&st, &c, Some(id), form, f).await
        }
    }
}

#[derive(Template)]
#[template(path = "partner/presales_show.html")]
struct ShowPage {
    c: PartnerPage,
    r: PresalesRequest,
    status: Status,
    type_label: String,
    /// The current round's slots (those the partner may pick), and the earlier ones.
    current: Vec<Slot>,
    earlier: Vec<Slot>,
    messages: Vec<Message>,
    steps: Vec<&'static str>,
    f: FormErrors,
}

impl ShowPage {
    fn can(&self, step: &str) -> bool {
        self.steps.contains(&step)
    }
    fn time(&self, ms: &i64) -> String {
        self.c.zone.time(*ms)
    }
    fn message_label(&self, kind: &str) -> String {
        self.c.tr.t(&format!("presales.message.{kind}"))
    }
    /// The team's question waiting for an answer.
    fn question(&self) -> Option<&Message> {
        self.messages.iter().rev().find(|m| m.kind == "question")
    }
}

async fn show_page(st: &AppState, c: &PartnerCtx, id: i64, notice: Option<&str>, f: FormErrors) -> Result<Response, HttpError> {
    let r = store::get_for_partner(&st.db, c.u.partner_id, id).await?.ok_or(Error::NotFound)?;
    let types = Types(lists::items(&st.db, store::TYPE_LIST, true).await?);
    let (current, earlier): (Vec<Slot>, Vec<Slot>) = store::slots(&st.db, id).await?.into_iter().partition(|s| s.round == r.round);
    let mut page = PartnerPage::new(c, "/partner/presales", "presales.request").with_notice(notice);
    page.title = r.number.clone();
    let status = if f.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(with_status(
        render(ShowPage {
            c: page,
            status: r.status(),
            type_label: types.label(&r.intervention_type, c.tr.0),
            current,
            earlier,
            messages: store::messages(&st.db, id).await?,
            steps: workflow::available(r.state(), actor_kind(c)),
            f,
            r,
        }),
        status,
    ))
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    notice: Option<String>,
}

pub async fn show(
    State(st): State<AppState>,
    c: PartnerCtx,
    Path(id): Path<i64>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, HttpError> {
    show_page(&st, &c, id, q.notice.as_deref(), FormErrors::none()).await
}

/// One step of the partner (`/partner/presales/{id}/{step}`).
pub async fn step(
    State(st): State<AppState>,
    c: PartnerCtx,
    Path((id, name)): Path<(i64, String)>,
    body: String,
) -> Result<Response, HttpError> {
    let p = FormPairs::parse(&body);
    let text = |field: &'static str| store::parse_text(field, p.get(field).unwrap_or(""));
    let parsed: Result<Step, Error> = match name.as_str() {
        "submit" => Ok(Step::Submit { confirmed: p.all("confirmed").any(|v| !v.is_empty()) }),
        "accept" => p
            .get("slot_id")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(Step::PickSlot)
            .ok_or(Error::validation("slot_id", "error.presales_pick")),
        "other-dates" => text("expectations").map(Step::AskOtherDates),
        "answer" => text("answer").map(Step::AnswerInfo),
        "cancel" => text("reason").map(Step::Cancel),
        _ => Err(Error::NotFound),
    };
    let res = match parsed {
        Ok(s) => store::act(&st.db, &by(&c), st.now(), c.u.zone, id, s).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/partner/presales/{id}"), "notice.saved")),
        Err(e) => {
            let f = form_error_tr(c.tr, e)?;
            show_page(&st, &c, id, None, f).await
        }
    }
}
