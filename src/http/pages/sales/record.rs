//! An opportunity's page: status, notes, calls, history.

use super::*;
use crate::activity::Of;
use crate::http::pages::activity::FeedQuery;
use crate::http::pages::history::Record;
use crate::sales::emails::{self, EmailForm};

// ------------------------------------------------------------------ the record

#[derive(Template)]
#[template(path = "sales/show.html")]
struct ShowPage {
    c: PageCtx,
    l: Labels,
    o: Opportunity,
    others: Vec<OpenFile>,
    /// The activity feed (`partials/activity.html`).
    feed: crate::http::pages::activity::FeedView,
    statuses: Vec<ListItem>,
    owners: Vec<Staff>,
    status_error: Option<String>,
    note_error: Option<String>,
    note_body: String,
    call_form: CallForm,
    cf: FormErrors,
    show_expired: bool,
    can_update: bool,
    can_call: bool,
    can_meet: bool,
    /// The composer's email (`sales::emails`), as typed, and its errors.
    email_form: EmailForm,
    mf: FormErrors,
    /// The composer's tab open when the page comes back (`note`, `call`, `email`).
    tab: &'static str,
}

#[allow(clippy::too_many_arguments)]
async fn show_page(
    st: &AppState,
    c: &Ctx,
    id: i64,
    feed_q: &FeedQuery,
    status_error: Option<String>,
    note: (String, Option<String>),
    call: (CallForm, FormErrors),
    mail: Option<(EmailForm, FormErrors)>,
) -> Result<Response, HttpError> {
    let o = visible(st, c, id).await?;
    let (email_form, mf) = match mail {
        Some(m) => m,
        None => {
            // To the customer, by default.
            let mut conn = st.db.pool.acquire().await?;
            let to = crate::customers::store::get(&mut conn, o.customer_id).await?.and_then(|cu| cu.email).unwrap_or_default();
            (EmailForm { to, ..Default::default() }, FormErrors::none())
        }
    };
    let l = Labels::load(st, c).await?;
    let feed = crate::http::pages::activity::load(st, c, Of::Opportunity(id), &format!("/opportunities/{id}"), feed_q).await?;
    let others = crate::http::api::sales::open_files_for(st, c, o.customer_id).await?.into_iter().filter(|f| f.id != id).collect();
    let cur = crate::sales::Current { status: &o.status, sale_date: o.sale_date, trashed: o.trashed };
    let statuses: Vec<ListItem> = l.statuses.choices(&cur, c.p.rights, st.now()).into_iter().cloned().collect();
    let mut pc = PageCtx::new(c, "/opportunities", "nav.opportunities").with_notice(feed_q.notice.as_deref());
    pc.title = o.name.clone();
    let errors = status_error.is_some() || note.1.is_some() || call.1.any() || mf.any();
    let tab = if call.1.any() {
        "call"
    } else if mf.any() {
        "email"
    } else {
        "note"
    };
    let owners = users::pickable(&st.db, &c.p.visibility, &o.owner_id.into_iter().collect::<Vec<_>>()).await?;
    let mut resp = render(ShowPage {
        c: pc,
        l,
        o,
        others,
        feed,
        statuses,
        owners,
        status_error,
        note_error: note.1,
        note_body: note.0,
        call_form: call.0,
        cf: call.1,
        show_expired: c.p.sees_hidden_fields(),
        can_update: c.p.can(Right::OpportunitiesUpdate),
        can_call: c.p.can(Right::CallsCreate),
        can_meet: c.p.can(Right::MeetingsCreate),
        email_form,
        mf,
        tab,
    });
    if errors {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

impl ShowPage {
    fn call_owner_is(&self, id: &i64) -> bool {
        self.call_form.owner_id == Some(*id)
    }
}

fn default_call(zone: Zone, now: i64) -> CallForm {
    let t = now + 86_400_000;
    CallForm { date: zone.date(t), time: "10:00".into(), ..Default::default() }
}

pub async fn show(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, Query(q): Query<FeedQuery>) -> Result<Response, HttpError> {
    let zone = crate::settings::zone(&st.db).await?;
    show_page(&st, &c, id, &q, None, (String::new(), None), (default_call(zone, st.now()), FormErrors::none()), None).await
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
}

/// A status change from the record's menu or a card dropped on the board (the board's
/// script sends `X-Requested-With: fetch` and gets 204, or 422 with `{"message": …}`).
pub async fn change_status(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    axum::extract::Form(f): axum::extract::Form<StatusForm>,
) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    let res = store::change_status(&st.db, &c.actor(), st.now(), id, &f.status, c.p.rights).await;
    let fetch = headers.get("x-requested-with").is_some_and(|v| v == "fetch");
    match res {
        Ok(_) if fetch => Ok(StatusCode::NO_CONTENT.into_response()),
        Ok(_) => Ok(redirect_notice(&format!("/opportunities/{id}"), "notice.status_changed")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            let msg = fe.err("status").or(fe.general.clone()).unwrap_or_else(|| c.tr.t("form.fix_errors"));
            if fetch {
                return Ok((StatusCode::UNPROCESSABLE_ENTITY, axum::Json(serde_json::json!({ "message": msg }))).into_response());
            }
            let zone = crate::settings::zone(&st.db).await?;
            show_page(
                &st,
                &c,
                id,
                &FeedQuery::default(),
                Some(msg),
                (String::new(), None),
                (default_call(zone, st.now()), FormErrors::none()),
                None,
            )
            .await
        }
    }
}

/// A note from a composer (an opportunity's, a request's internal note).
#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    pub body: String,
}

pub async fn add_note(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    axum::extract::Form(f): axum::extract::Form<NoteForm>,
) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    match store::add_note(&st.db, &c.actor(), st.now(), id, &f.body).await {
        Ok(_) => Ok(redirect_notice(&format!("/opportunities/{id}#activity"), "notice.note_added")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            let zone = crate::settings::zone(&st.db).await?;
            show_page(
                &st,
                &c,
                id,
                &FeedQuery::default(),
                None,
                (f.body, fe.err("body")),
                (default_call(zone, st.now()), FormErrors::none()),
                None,
            )
            .await
        }
    }
}

/// A call as a composer posts it (an opportunity's, a request's): its file comes from the path.
pub fn read_call(body: &str) -> CallForm {
    let p = FormPairs::parse(body);
    CallForm {
        date: p.text("date"),
        time: p.text("time"),
        subject: p.text("subject"),
        notes: p.text("notes"),
        owner_id: p.id("owner_id"),
        opportunity_id: None,
    }
}

pub async fn schedule_call(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let o = visible(&st, &c, id).await?;
    let f = CallForm { opportunity_id: Some(id), ..read_call(&body) };
    let zone = crate::settings::zone(&st.db).await?;
    let res = match f.parse(zone, calls::File::Opportunity(id), o.owner_id.unwrap_or(c.p.user_id)) {
        Ok(input) => calls::schedule(&st.db, &c.actor(), st.now(), &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/opportunities/{id}#activity"), "notice.call_scheduled")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            show_page(&st, &c, id, &FeedQuery::default(), None, (String::new(), None), (f, fe), None).await
        }
    }
}

#[derive(Deserialize)]
pub struct LogForm {
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub comment: String,
}

pub async fn log_call(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    axum::extract::Form(f): axum::extract::Form<LogForm>,
) -> Result<Response, HttpError> {
    let call = calls::get_visible(&st.db, &c.p.visibility, id, calls::On::Opportunity).await?.ok_or(Error::NotFound)?;
    calls::log(&st.db, &c.actor(), st.now(), id, &f.outcome, &f.comment).await?;
    Ok(redirect_notice(&format!("/opportunities/{}#activity", call.opportunity_id.unwrap_or_default()), "notice.call_logged"))
}

pub async fn history(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let o = visible(&st, &c, id).await?;
    let l = Labels::load(&st, &c).await?;
    let labels = |f: &str, v: &str| match f {
        "status" => l.statuses.get(v).map(|s| s.label(&l.lang).to_string()),
        "lead_type" => l.lead_types.iter().find(|t| t.code == v).map(|t| t.label(&l.lang).to_string()),
        _ => None,
    };
    let hidden: &[&str] = if c.p.sees_hidden_fields() { &[] } else { crate::sales::HIDDEN_HISTORY_FIELDS };
    let crumbs = vec![("/opportunities".into(), c.tr.t("nav.opportunities"))];
    let href = format!("/opportunities/{id}");
    let r = Record {
        entity: "opportunity",
        id,
        name: o.name,
        subtitle: Some(o.customer_name),
        section: "/opportunities",
        crumbs,
        href,
        labels: &labels,
        hidden,
    };
    crate::http::pages::history::page(&st, &c, r).await
}

/// The composer's email: to the customer (or anyone), from the user, about the opportunity.
pub async fn send_email(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let o = visible(&st, &c, id).await?;
    let p = FormPairs::parse(&body);
    let f = EmailForm { to: p.text("to"), subject: p.text("subject"), message: p.text("message") };
    let sender = crate::http::api::service::sender_of(&c)?;
    match emails::send(&st.db, &c.actor(), &sender, st.now(), id, &o.name, &f).await {
        Ok(_) => Ok(redirect_notice(&format!("/opportunities/{id}#activity"), "notice.email_queued")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            let zone = crate::settings::zone(&st.db).await?;
            show_page(
                &st,
                &c,
                id,
                &FeedQuery::default(),
                None,
                (String::new(), None),
                (default_call(zone, st.now()), FormErrors::none()),
                Some((f, fe)),
            )
            .await
        }
    }
}
