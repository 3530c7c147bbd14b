//! The activity feed of a record as the opportunity, request, customer and pre-sales request pages show it
//! (`templates/partials/activity.html`): the entries of `crate::activity` with their icon, labels
//! in the reader's language and the actions that fit them, the kind filter as links
//! (`?kind=note,call`, no script) and the link to older entries.

use serde::Deserialize;

use super::*;
use crate::activity::{self, Entry, Filter, Kind, Of};
use crate::lists::ListItem;

/// The feed's part of a page's query string.
#[derive(Debug, Default, Deserialize)]
pub struct FeedQuery {
    pub notice: Option<String>,
    pub kind: Option<String>,
    pub before: Option<String>,
}

/// One entry as shown.
pub struct Item {
    pub e: Entry,
    pub icon: &'static str,
    pub kind_label: String,
    /// The title as shown: the entry's, or a pre-sales message's kind, a proposed slot's round and engineer.
    pub title: String,
    /// The state in words, and its badge.
    pub state: Option<(String, &'static str)>,
    /// A status change: from, to.
    pub change: Option<(String, String)>,
    /// Where "open" goes (meetings, interventions, documents, emails for mail administrators).
    pub open: Option<String>,
    /// A planned call the reader may log: where its outcome is posted (an opportunity's call
    /// with the calls right, a request's with the right to update requests).
    pub log: Option<String>,
    /// A logged call's outcome in words (its label in the reader's language, and the comment).
    pub outcome: Option<String>,
}

/// A filter chip.
pub struct Chip {
    pub label: String,
    pub href: String,
    pub on: bool,
}

pub struct FeedView {
    pub items: Vec<Item>,
    pub chips: Vec<Chip>,
    pub all_href: String,
    pub all_on: bool,
    pub older: Option<String>,
    pub newest: Option<String>,
    /// On a customer's page: each entry names its file.
    pub show_file: bool,
    pub can_read_messages: bool,
    pub outcomes: Vec<ListItem>,
    /// The record's page, where actions come back.
    pub base: String,
    pub lang: Lang,
    /// What an empty feed says (a message key).
    pub empty: &'static str,
}

impl Item {
    /// The text as HTML: escaped, web addresses as links.
    pub fn body_html(&self) -> String {
        crate::text::with_links(&self.e.body)
    }
}

impl FeedView {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A call's outcome as stored (`code` or `code: comment`, `code` of the list `call_outcome` or
/// `cancelled`) as people read it.
fn outcome_text(c: &Ctx, outcomes: &[ListItem], stored: &str) -> String {
    let (code, comment) = stored.split_once(": ").unwrap_or((stored, ""));
    let label = match outcomes.iter().find(|o| o.code == code) {
        Some(o) => o.label(&c.lang()).to_string(),
        None if code == "cancelled" => c.tr.t("calls.status_cancelled"),
        None => code.to_string(),
    };
    if comment.is_empty() {
        label
    } else {
        format!("{label} — {comment}")
    }
}

fn icon(k: Kind) -> &'static str {
    match k {
        Kind::Note => "✎",
        Kind::Call => "☎",
        Kind::Meeting => "◷",
        Kind::Update => "↻",
        Kind::Email => "✉",
        Kind::Message => "❝",
        Kind::Intervention => "⚒",
        Kind::Status => "⇄",
        Kind::Document => "▤",
        Kind::Slot => "▦",
    }
}

/// Where a planned call's outcome is posted, for a reader who may log it.
fn log_action(c: &Ctx, e: &Entry) -> Option<String> {
    match e.file.kind {
        "opportunity" => c.p.can(Right::CallsUpdate).then(|| format!("/calls/{}/log", e.id)),
        _ => c.p.can(Right::ServiceRequestsUpdate).then(|| format!("/service/requests/{}/calls/{}/log", e.file.id, e.id)),
    }
}

/// The feed of `of`, whose page is `base` (the caller has checked that the user may read it).
pub async fn load(st: &AppState, c: &Ctx, of: Of, base: &str, q: &FeedQuery) -> Result<FeedView, HttpError> {
    // A page is lenient: unknown kinds and a broken cursor read as none.
    let kinds: Vec<Kind> = q.kind.as_deref().unwrap_or("").split(',').filter_map(|s| Kind::parse(s.trim())).collect();
    let before = q.before.as_deref().and_then(|b| activity::Cursor::decode(b).ok());
    let f = Filter { kinds, before };
    let feed = activity::read(&st.db, &c.p, of, &f).await?;
    let lang = c.lang();
    let sales = if feed.entries.iter().any(|e| e.kind == Kind::Status && e.file.kind == "opportunity") {
        Some(crate::sales::Statuses::load(&st.db).await?)
    } else {
        None
    };
    let status_label = |file: &str, code: &str| -> String {
        match (file, &sales) {
            ("opportunity", Some(s)) => s.label(code, &lang),
            ("opportunity", None) => code.to_string(),
            ("presales_request", _) => crate::presales::Status::parse(code).map_or_else(|| code.to_string(), |s| c.tr.t(s.label_key())),
            _ => c.tr.tp("service.status_", code),
        }
    };
    let mail_admin = c.p.can(Right::AdminMail);
    // The calls' outcomes: labels of the list, and the choices of a planned call's form.
    let outcomes = if feed.entries.iter().any(|e| e.kind == Kind::Call) {
        crate::lists::items(&st.db, "call_outcome", false).await?
    } else {
        Vec::new()
    };
    let items = feed
        .entries
        .into_iter()
        .map(|e| {
            let state = e.state.as_deref().and_then(|s| match e.kind {
                Kind::Call => Some((
                    c.tr.tp("calls.status_", s),
                    if s == "planned" {
                        "badge-amber"
                    } else if s == "done" {
                        "badge-green"
                    } else {
                        "badge-gray"
                    },
                )),
                Kind::Email => Some((
                    c.tr.tp("mail.status_", s),
                    if s == "sent" {
                        "badge-green"
                    } else if s == "failed" {
                        "badge-red"
                    } else {
                        "badge-gray"
                    },
                )),
                Kind::Message => {
                    Some(if s == "in" { (c.tr.t("activity.received"), "badge-purple") } else { (c.tr.t("activity.sent"), "badge-blue") })
                }
                Kind::Update => {
                    Some((status_label(e.file.kind, s), crate::service::RequestStatus::parse(s).map_or("badge-gray", |x| x.badge())))
                }
                Kind::Document => Some(if s == "shared" {
                    (c.tr.t("service.shared_yes"), "badge-green")
                } else {
                    (c.tr.t("service.internal"), "badge-gray")
                }),
                Kind::Note if s == "lead" => Some((c.tr.t("timeline.lead"), "badge-blue")),
                Kind::Note if s == "internal" => Some((c.tr.t("service.internal"), "badge-gray")),
                Kind::Meeting if s == "annule" => Some((c.tr.t("meetings.cancelled"), "badge-red")),
                Kind::Slot => Some(match s {
                    "accepted" => (c.tr.t("presales.accepted"), "badge-green"),
                    "past" => (c.tr.t("presales.round_past"), "badge-gray"),
                    _ => (c.tr.t("activity.slot_proposed"), "badge-blue"),
                }),
                _ => None,
            });
            let title = match (e.kind, e.file.kind, e.detail.as_deref()) {
                (Kind::Message, "presales_request", Some(k)) => c.tr.t(&format!("presales.message.{k}")),
                (Kind::Slot, _, round) => format!("{} {} · {}", c.tr.t("presales.round"), round.unwrap_or(""), e.title),
                _ => e.title.clone(),
            };
            let change = (e.kind == Kind::Status).then(|| {
                (status_label(e.file.kind, e.detail.as_deref().unwrap_or("")), status_label(e.file.kind, e.state.as_deref().unwrap_or("")))
            });
            let open = match e.kind {
                Kind::Meeting | Kind::Intervention | Kind::Document => Some(e.href()),
                Kind::Email if mail_admin => Some(format!("/admin/outbox/{}", e.id)),
                _ => None,
            };
            let log = if e.is_planned_call() { log_action(c, &e) } else { None };
            let outcome = match (e.kind, e.detail.as_deref()) {
                (Kind::Call, Some(d)) if !d.is_empty() => Some(outcome_text(c, &outcomes, d)),
                _ => None,
            };
            Item { icon: icon(e.kind), kind_label: c.tr.tp("activity.kind_", e.kind.code()), title, state, change, open, log, outcome, e }
        })
        .collect::<Vec<Item>>();
    let link = |kinds: &str, before: Option<String>| {
        let mut qs = Vec::new();
        if !kinds.is_empty() {
            qs.push(format!("kind={kinds}"));
        }
        if let Some(b) = before {
            qs.push(format!("before={b}"));
        }
        if qs.is_empty() {
            format!("{base}#activity")
        } else {
            format!("{base}?{}#activity", qs.join("&"))
        }
    };
    let chips = Kind::of(of)
        .into_iter()
        .map(|k| {
            let on = f.kinds.contains(&k);
            // A chip toggles its kind in the filter.
            let mut next: Vec<Kind> = f.kinds.iter().copied().filter(|x| *x != k).collect();
            if !on {
                next.push(k);
            }
            let codes = next.iter().map(|k| k.code()).collect::<Vec<_>>().join(",");
            Chip { label: c.tr.tp("activity.kinds_", k.code()), href: link(&codes, None), on }
        })
        .collect();
    let code = f.kinds_code();
    Ok(FeedView {
        items,
        chips,
        all_href: link("", None),
        all_on: f.kinds.is_empty(),
        older: feed.older.map(|o| link(&code, Some(o.encode()))),
        newest: f.before.map(|_| link(&code, None)),
        show_file: matches!(of, Of::Customer(_)),
        can_read_messages: c.p.can(Right::ServiceMessages),
        outcomes,
        base: base.to_string(),
        lang,
        empty: match of {
            Of::Presales(_) => "activity.empty_presales",
            _ => "activity.empty",
        },
    })
}
