//! The pre-sales team's side (`presales.manage`): the queue by status, a request with its
//! activity feed (the partner's and the team's messages, slot proposals, emails, status changes:
//! `activity::Of::Presales`) and proposal rounds, and the team's steps as the composer above the
//! feed: accept, assign an engineer, propose slots built from the engineers' calendars (a slot
//! colliding with a meeting, an intervention or another accepted slot is flagged), ask for
//! information, refuse, cancel. Every step is `presales::store::act`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::activity::{FeedQuery, FeedView};
use super::history::{self, Record};
use super::{form_error, redirect_notice, render, FormErrors, PageCtx};
use crate::access::Right;
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::form::FormPairs;
use crate::http::AppState;
use crate::lists::{self, ListItem};
use crate::presales::calendar::{self, Busy, SlotTime};
use crate::presales::store::{self, By, Filter, PresalesRequest, Slot, Step, TeamScope};
use crate::presales::workflow::{self, Status};

/// How far ahead the team's calendar is shown when proposing slots.
const CALENDAR_DAYS: i64 = 14;
const DAY_MS: i64 = 86_400_000;

fn by(c: &Ctx) -> By {
    By::Staff {
        user_id: c.p.user_id,
        presales: c.p.can(Right::PresalesManage),
        all_teams: c.p.can(Right::PresalesAllTeams),
        actor: c.actor(),
    }
}

/// The teams whose requests the staff user reaches.
pub fn scope(c: &Ctx) -> TeamScope {
    TeamScope::of(&c.p)
}

/// Labels of the intervention types in the reader's language.
pub struct Types(pub Vec<ListItem>);

impl Types {
    pub fn label(&self, code: &str, lang: crate::i18n::Lang) -> String {
        self.0.iter().find(|t| t.code == code).map(|t| t.label(&lang).to_string()).unwrap_or_else(|| code.to_string())
    }
}

/// How many pre-sales requests an opportunity's page lists (an opportunity has a handful).
pub const OF_OPPORTUNITY: i64 = 50;

/// A pre-sales request as an opportunity's page lists it (staff and partner side alike):
/// number, type, status, date, and the link when the reader may open it.
pub struct PresalesRow {
    pub number: String,
    pub type_label: String,
    pub status: Status,
    /// Submitted, or created for a draft.
    pub date: i64,
    pub href: Option<String>,
}

impl PresalesRow {
    pub fn rows(
        items: Vec<PresalesRequest>,
        types: &Types,
        lang: crate::i18n::Lang,
        href: impl Fn(&PresalesRequest) -> Option<String>,
    ) -> Vec<Self> {
        items
            .into_iter()
            .map(|r| PresalesRow {
                number: r.number.clone(),
                type_label: types.label(&r.intervention_type, lang),
                status: r.status(),
                date: r.submitted_at.unwrap_or(r.created_at),
                href: href(&r),
            })
            .collect()
    }
}

/// The submitted pre-sales requests of a partner opportunity the staff user can see (through
/// the opportunity), each linked when it is one of the reader's teams' requests.
pub async fn of_opportunity(st: &AppState, c: &Ctx, opportunity_id: i64) -> Result<Vec<PresalesRow>, HttpError> {
    let f = Filter { opportunity_id: Some(opportunity_id), ..Default::default() };
    let everyone = TeamScope { user_id: c.p.user_id, all: true };
    let items = store::queue(&st.db, everyone, &f, OF_OPPORTUNITY).await?.items;
    let reachable: Vec<i64> = if c.p.can(Right::PresalesManage) {
        store::queue(&st.db, scope(c), &f, OF_OPPORTUNITY).await?.items.iter().map(|r| r.id).collect()
    } else {
        Vec::new()
    };
    let types = Types(lists::items(&st.db, store::TYPE_LIST, true).await?);
    Ok(PresalesRow::rows(items, &types, c.lang(), |r| reachable.contains(&r.id).then(|| format!("/presales/{}", r.id))))
}

#[derive(Deserialize, Default)]
pub struct QueueQuery {
    status: Option<String>,
    mine: Option<String>,
    before: Option<i64>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "presales/queue.html")]
struct QueuePage {
    c: PageCtx,
    counts: Vec<(Status, i64)>,
    status: Option<Status>,
    mine: bool,
    items: Vec<PresalesRequest>,
    next_before: Option<i64>,
    types: Types,
}

impl QueuePage {
    /// A status's count as shown: exact up to the cap, then "1000+".
    fn count(&self, n: &i64) -> String {
        if *n > store::COUNT_CAP {
            format!("{}+", store::COUNT_CAP)
        } else {
            n.to_string()
        }
    }
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

pub async fn queue(State(st): State<AppState>, c: Ctx, Query(q): Query<QueueQuery>) -> Result<Response, HttpError> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(Status::parse(s).filter(|s| *s != Status::Brouillon).ok_or(Error::validation("status", "error.invalid_choice"))?),
    };
    let mine = q.mine.as_deref() == Some("1");
    let f = Filter { status, engineer_id: mine.then_some(c.p.user_id), opportunity_id: None, before: q.before };
    let listed = store::queue(&st.db, scope(&c), &f, store::PAGE).await?;
    let counts = store::queue_counts(&st.db, scope(&c)).await?;
    let types = Types(lists::items(&st.db, store::TYPE_LIST, true).await?);
    Ok(render(QueuePage {
        c: PageCtx::new(&c, "/presales", "presales.queue").with_notice(q.notice.as_deref()),
        counts,
        status,
        mine,
        items: listed.items,
        next_before: listed.next_before,
        types,
    }))
}

/// A round of proposals, each slot with what it collides with.
pub struct Round {
    pub number: i64,
    pub current: bool,
    pub slots: Vec<(Slot, Vec<Busy>)>,
}

#[derive(Template)]
#[template(path = "presales/show.html")]
struct ShowPage {
    c: PageCtx,
    r: PresalesRequest,
    status: Status,
    type_label: String,
    rounds: Vec<Round>,
    feed: FeedView,
    engineers: Vec<(i64, String)>,
    /// The steps the team may take now.
    steps: Vec<&'static str>,
    /// The engineers' busy times over the coming days (for building proposals).
    busy: Vec<Busy>,
    /// The slot rows of the proposal form: (date, start, end, engineer id).
    form: Vec<(String, String, String, String)>,
    f: FormErrors,
    /// The composer's open tab (a step's code), and the text typed in it (kept on an error).
    tab: &'static str,
    draft: String,
}

impl ShowPage {
    fn can(&self, step: &str) -> bool {
        self.steps.contains(&step)
    }
    fn engineer_name(&self, id: &i64) -> String {
        self.engineers.iter().find(|(i, _)| i == id).map(|(_, n)| n.clone()).unwrap_or_default()
    }
    fn time(&self, ms: &i64) -> String {
        self.c.zone.time(*ms)
    }
    fn kind_label(&self, kind: &str) -> String {
        self.c.tr.t(&format!("presales.kind.{kind}"))
    }
    /// What the tab's text field shows: what was typed, when the error is that tab's.
    fn typed(&self, tab: &str) -> &str {
        if self.tab == tab {
            &self.draft
        } else {
            ""
        }
    }
    fn row_engineer(&self, i: &usize) -> String {
        self.form.get(*i).map(|r| r.3.clone()).unwrap_or_default()
    }
    fn slot_cls(&self, n: &usize, k: &str) -> &'static str {
        self.f.cls(&format!("slot{n}_{k}"))
    }
    fn slot_err(&self, n: &usize, k: &str) -> Option<String> {
        self.f.err(&format!("slot{n}_{k}"))
    }
    fn previous_label(&self) -> String {
        self.r.previous_status.as_deref().and_then(Status::parse).map(|s| self.c.tr.t(s.label_key())).unwrap_or_default()
    }
}

async fn rounds_of(st: &AppState, r: &PresalesRequest) -> Result<Vec<Round>, HttpError> {
    let slots = store::slots(&st.db, r.id).await?;
    let mut engineers: Vec<i64> = slots.iter().map(|s| s.engineer_id).collect();
    engineers.sort();
    engineers.dedup();
    let (from, to) = match (slots.iter().map(|s| s.start_at).min(), slots.iter().map(|s| s.end_at).max()) {
        (Some(a), Some(b)) => (a, b),
        _ => (0, 0),
    };
    let mut conn = st.db.pool.acquire().await?;
    let busy = calendar::busy(&mut conn, &engineers, from, to).await?;
    let mut rounds: Vec<Round> = Vec::new();
    for s in slots {
        let t = SlotTime { engineer_id: s.engineer_id, start_at: s.start_at, end_at: s.end_at };
        let hits: Vec<Busy> = calendar::conflicts(&t, &busy, Some(("presales", r.id))).into_iter().cloned().collect();
        match rounds.last_mut() {
            Some(last) if last.number == s.round => last.slots.push((s, hits)),
            _ => rounds.push(Round { number: s.round, current: s.round == r.round, slots: vec![(s, hits)] }),
        }
    }
    rounds.reverse();
    Ok(rounds)
}

/// A step posted from the page that the domain refused: its code, the slot rows and the text
/// typed (shown again), and the errors.
struct Refused {
    step: &'static str,
    rows: Vec<(String, String, String, String)>,
    text: String,
    f: FormErrors,
}

async fn show_page(st: &AppState, c: &Ctx, id: i64, q: &FeedQuery, refused: Option<Refused>) -> Result<Response, HttpError> {
    let r = store::get_for_team(&st.db, scope(c), id).await?.ok_or(Error::NotFound)?;
    let types = Types(lists::items(&st.db, store::TYPE_LIST, true).await?);
    let engineers = store::team_engineers(&st.db, r.team_id).await?;
    let now = st.now();
    let start = c.p.zone.day_start(now) + DAY_MS;
    let ids: Vec<i64> = engineers.iter().map(|(i, _)| *i).collect();
    let mut conn = st.db.pool.acquire().await?;
    let busy = calendar::busy(&mut conn, &ids, start, start + CALENDAR_DAYS * DAY_MS).await?;
    drop(conn);
    let steps = workflow::available(r.state(), workflow::Actor::Presales);
    let Refused { step, rows: form, text: draft, f } =
        refused.unwrap_or(Refused { step: "", rows: Vec::new(), text: String::new(), f: FormErrors::none() });
    // The composer opens on the refused step, else on the one the status calls for.
    let status = r.status();
    let tab = if !step.is_empty() {
        step
    } else if status == Status::EnCours {
        "propose"
    } else if steps.contains(&"ask_info") {
        "ask_info"
    } else {
        ""
    };
    let feed = super::activity::load(st, c, crate::activity::Of::Presales(id), &format!("/presales/{id}"), q).await?;
    let form = if form.is_empty() {
        let e = r.engineer_id.or(r.preferred_engineer_id).map(|v| v.to_string()).unwrap_or_default();
        vec![(String::new(), String::new(), String::new(), e); workflow::MAX_SLOTS]
    } else {
        form
    };
    let errors = f.any();
    let mut resp = render(ShowPage {
        c: PageCtx::new(c, "/presales", "presales.request").with_notice(q.notice.as_deref()),
        status,
        type_label: types.label(&r.intervention_type, c.lang()),
        rounds: rounds_of(st, &r).await?,
        feed,
        engineers,
        steps,
        busy,
        form,
        f,
        tab,
        draft,
        r,
    });
    if errors {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn show(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, Query(q): Query<FeedQuery>) -> Result<Response, HttpError> {
    show_page(&st, &c, id, &q, None).await
}

/// One step of the team, posted from the request's page (`/presales/{id}/{step}`).
pub async fn step(State(st): State<AppState>, c: Ctx, Path((id, name)): Path<(i64, String)>, body: String) -> Result<Response, HttpError> {
    let form = FormPairs::parse(&body);
    let text = |field: &'static str| store::parse_text(field, form.get(field).unwrap_or(""));
    let mut rows = Vec::new();
    let mut typed = String::new();
    let parsed: Result<Step, Error> = (|| {
        Ok(match name.as_str() {
            "accept" => Step::Accept,
            "assign" => Step::Assign(
                form.get("engineer_id")
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .ok_or(Error::validation("engineer_id", "error.required"))?,
            ),
            "propose" => {
                for n in 1..=workflow::MAX_SLOTS {
                    let g = |k: &str| form.get(&format!("slot{n}_{k}")).unwrap_or("").to_string();
                    rows.push((g("date"), g("start"), g("end"), g("engineer")));
                }
                Step::Propose(store::parse_slots(&rows, c.p.zone)?)
            }
            "ask-info" => {
                typed = form.get("question").unwrap_or("").to_string();
                Step::AskInfo(text("question")?)
            }
            "refuse" | "cancel" => {
                typed = form.get("reason").unwrap_or("").to_string();
                if name == "refuse" {
                    Step::Refuse(text("reason")?)
                } else {
                    Step::Cancel(text("reason")?)
                }
            }
            _ => return Err(Error::NotFound),
        })
    })();
    let result = match parsed {
        Ok(step) => store::act(&st.db, &by(&c), st.now(), c.p.zone, id, step).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(redirect_notice(&format!("/presales/{id}"), "notice.saved")),
        Err(e) => {
            let f = form_error(&c, e)?;
            // The step's code as the composer names its tab.
            let step = ["accept", "assign", "propose", "ask_info", "refuse", "cancel"]
                .into_iter()
                .find(|s| s.replace('_', "-") == name)
                .unwrap_or("");
            show_page(&st, &c, id, &FeedQuery::default(), Some(Refused { step, rows, text: typed, f })).await
        }
    }
}

pub async fn history(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let r = store::get_for_team(&st.db, scope(&c), id).await?.ok_or(Error::NotFound)?;
    let types = lists::items(&st.db, store::TYPE_LIST, true).await?;
    let labels = |f: &str, v: &str| match f {
        "status" | "previous_status" => Status::parse(v).map(|s| c.tr.t(s.label_key())),
        "intervention_type" => types.iter().find(|t| t.code == v).map(|t| t.label(&c.lang()).to_string()),
        _ => None,
    };
    let rec = Record {
        entity: "presales_request",
        id,
        name: r.number,
        subtitle: Some(format!("{} ({})", r.customer_name, r.partner_name)),
        section: "/presales",
        crumbs: vec![("/presales".into(), c.tr.t("nav.presales"))],
        href: format!("/presales/{id}"),
        labels: &labels,
        hidden: &[],
    };
    history::page(&st, &c, rec).await
}
