//! One activity feed per record (issue 21): an opportunity, a service request, a customer
//! (all their files) or a pre-sales request read as one chronological list of what happened:
//! notes, calls, meetings, customer updates, emails, messages, interventions, slot proposals,
//! status changes and documents.
//!
//! A read model over the tables of sales, service, presales, mail and the audit history: it
//! imports no business module (only `access`, `db`, `error`), so the customer page can show sales
//! and service entries without customers importing either. Each kind is one bounded query
//! (`LIMIT 51`, newest first) on its table joined to the file it belongs to, filtered by the
//! record or, for a customer, by the user's visibility of each file (`vis.opportunities`,
//! `vis.requests`) and their rights; the pages are merged here. The keyset is
//! (time, kind, id), newest first; `before` reads the older page.

use serde::Serialize;

use crate::access::{Principal, Right};
use crate::db::sql::Sql;
use crate::db::Db;
use crate::error::{Error, Result};

/// Entries per page.
pub const PAGE: usize = 50;
/// The `kind` filter: codes separated by commas.
pub const KINDS_PATTERN: &str = r"^[a-z]*(,[a-z]+)*$";
pub const KINDS_MAX: usize = 120;
/// The `before` cursor: `time.kind.id`.
pub const CURSOR_PATTERN: &str = r"^-?[0-9]+\.[a-z]+\.[0-9]+$";
pub const CURSOR_MAX: usize = 60;

/// The kinds of entries, in the keyset's order (their codes sort the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ActivityKind)]
pub enum Kind {
    Call,
    Document,
    Email,
    Intervention,
    Meeting,
    Message,
    Note,
    Slot,
    Status,
    Update,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Note,
        Kind::Call,
        Kind::Meeting,
        Kind::Update,
        Kind::Email,
        Kind::Message,
        Kind::Intervention,
        Kind::Slot,
        Kind::Status,
        Kind::Document,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Kind::Call => "call",
            Kind::Document => "document",
            Kind::Email => "email",
            Kind::Intervention => "intervention",
            Kind::Meeting => "meeting",
            Kind::Message => "message",
            Kind::Note => "note",
            Kind::Slot => "slot",
            Kind::Status => "status",
            Kind::Update => "update",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == s)
    }

    /// The kinds a record of this sort can hold, in the order the filter chips show them.
    pub fn of(of: Of) -> Vec<Kind> {
        match of {
            Of::Opportunity(_) => vec![Kind::Note, Kind::Call, Kind::Meeting, Kind::Email, Kind::Status],
            Of::Request(_) => {
                vec![Kind::Update, Kind::Message, Kind::Note, Kind::Call, Kind::Email, Kind::Intervention, Kind::Status, Kind::Document]
            }
            Of::Customer(_) => vec![
                Kind::Note,
                Kind::Call,
                Kind::Meeting,
                Kind::Update,
                Kind::Email,
                Kind::Message,
                Kind::Intervention,
                Kind::Status,
                Kind::Document,
            ],
            Of::Presales(_) => vec![Kind::Message, Kind::Slot, Kind::Email, Kind::Status],
        }
    }
}

/// Whose feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Of {
    Opportunity(i64),
    Request(i64),
    Customer(i64),
    /// A pre-sales request (the team's side): its conversation, slot proposals, emails and
    /// status changes.
    Presales(i64),
}

/// The file an entry belongs to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ActivityFile)]
pub struct FileRef {
    /// `opportunity`, `service_request` or `presales_request`.
    pub kind: &'static str,
    pub id: i64,
    /// The opportunity's name or the request's number.
    pub name: String,
}

impl FileRef {
    pub fn href(&self) -> String {
        match self.kind {
            "opportunity" => format!("/opportunities/{}", self.id),
            "presales_request" => format!("/presales/{}", self.id),
            _ => format!("/service/requests/{}", self.id),
        }
    }
}

/// One entry of a feed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ActivityEntry)]
pub struct Entry {
    pub kind: Kind,
    /// The row's id in its own table (a status change: the history event's).
    pub id: i64,
    /// When it happened (UTC ms): a call when logged (else when scheduled), the others when written.
    pub at: i64,
    pub author: Option<String>,
    /// A subject, a file name, an intervention's number, a proposed slot's engineer (empty for
    /// notes, updates and messages).
    pub title: String,
    /// The text (an email's first 600 characters).
    pub body: String,
    /// Per kind: a call's status (`planned`, `done`, `cancelled`), a meeting's, an intervention's,
    /// an email's delivery status, a message's direction (`in`: from the customer or the
    /// partner, `out`), a status change's or an update's new status code, a note's kind (`note`,
    /// `lead`; `internal` on a request), a document's `shared`/`internal`, a proposed slot's
    /// `proposed`, `accepted` or `past` (of an earlier round).
    pub state: Option<String>,
    /// Per kind: a call's outcome, an email's recipients (`Name <address>, …`), a meeting's or an intervention's place,
    /// whether a request's message was read (`read`, `unread`), a pre-sales message's kind (`question`,
    /// `answer`, `expectations`, `reason`, `email`…), a proposed slot's round, a status change's previous code.
    pub detail: Option<String>,
    /// When it is planned for: a call's due time, a meeting's, an intervention's or a proposed slot's start.
    pub due_at: Option<i64>,
    pub file: FileRef,
}

impl Entry {
    pub fn cursor(&self) -> Cursor {
        Cursor { at: self.at, kind: self.kind, id: self.id }
    }

    /// Where the entry opens.
    pub fn href(&self) -> String {
        match self.kind {
            Kind::Meeting => format!("/meetings/{}", self.id),
            Kind::Intervention => format!("/service/interventions/{}", self.id),
            Kind::Document => format!("/service/documents/{}", self.id),
            _ => format!("{}#{}-{}", self.file.href(), self.kind.code(), self.id),
        }
    }

    /// A call still to be made.
    pub fn is_planned_call(&self) -> bool {
        self.kind == Kind::Call && self.state.as_deref() == Some("planned")
    }

    /// A message received from the customer or the partner.
    pub fn inbound(&self) -> bool {
        self.kind == Kind::Message && self.state.as_deref() == Some("in")
    }

    /// A received message that staff mark read or unread (a service request's): whether it is unread.
    pub fn unread(&self) -> Option<bool> {
        match (self.inbound(), self.detail.as_deref()) {
            (true, Some("unread")) => Some(true),
            (true, Some("read")) => Some(false),
            _ => None,
        }
    }
}

/// A position in a feed: entries strictly older come after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: i64,
    pub kind: Kind,
    pub id: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.at, self.kind.code(), self.id)
    }

    pub fn decode(s: &str) -> Result<Cursor> {
        let bad = || Error::validation("before", "error.cursor_invalid");
        let mut it = s.splitn(3, '.');
        let at = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let kind = it.next().and_then(Kind::parse).ok_or_else(bad)?;
        let id = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        Ok(Cursor { at, kind, id })
    }
}

/// What to read: the kinds (none: all) and the page.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub kinds: Vec<Kind>,
    pub before: Option<Cursor>,
}

impl Filter {
    /// `kind=note,call` (unknown codes refused) and `before` (a cursor).
    pub fn parse(kind: Option<&str>, before: Option<&str>) -> Result<Filter> {
        if kind.is_some_and(|k| k.len() > KINDS_MAX) {
            return Err(Error::validation("kind", "error.invalid_choice"));
        }
        if before.is_some_and(|b| b.len() > CURSOR_MAX) {
            return Err(Error::validation("before", "error.cursor_invalid"));
        }
        let mut kinds = Vec::new();
        for code in kind.unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let k = Kind::parse(code).ok_or_else(|| Error::validation("kind", "error.invalid_choice"))?;
            if !kinds.contains(&k) {
                kinds.push(k);
            }
        }
        let before = before.filter(|s| !s.is_empty()).map(Cursor::decode).transpose()?;
        Ok(Filter { kinds, before })
    }

    fn wants(&self, k: Kind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&k)
    }

    /// The filter as a query string value (`note,call`), empty for all.
    pub fn kinds_code(&self) -> String {
        self.kinds.iter().map(|k| k.code()).collect::<Vec<_>>().join(",")
    }
}

/// A page of a feed, newest first.
#[derive(Debug, Clone)]
pub struct Feed {
    pub entries: Vec<Entry>,
    /// The cursor of the next (older) page, when there is one.
    pub older: Option<Cursor>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dept {
    Sales,
    Service,
    Presales,
}

/// One kind read from one table. `select` yields, in order: id, at, author, title, body, state,
/// detail, due_at, file id, file name; the file's alias is `o` (sales), `r` (service) or `pr`
/// (pre-sales).
struct Source {
    kind: Kind,
    dept: Dept,
    /// The right needed beyond reading the file.
    right: Option<Right>,
    select: &'static str,
    at: &'static str,
    id: &'static str,
    /// A condition of the kind's own (or empty).
    only: &'static str,
}

const SOURCES: &[Source] = &[
    Source {
        kind: Kind::Note,
        dept: Dept::Sales,
        right: None,
        select: "SELECT n.id, n.created_at, n.author_name, '', n.body, n.kind, CAST(NULL AS TEXT), CAST(NULL AS BIGINT), o.id, o.name \
                 FROM opportunity_notes n JOIN opportunities o ON o.id = n.opportunity_id",
        at: "n.created_at",
        id: "n.id",
        only: "n.kind IN ('note', 'lead')",
    },
    Source {
        kind: Kind::Call,
        dept: Dept::Sales,
        right: Some(Right::CallsRead),
        select: "SELECT k.id, COALESCE(k.done_at, k.created_at), u.name, k.subject, k.notes, k.status, k.outcome, k.due_at, o.id, o.name \
                 FROM calls k JOIN opportunities o ON o.id = k.opportunity_id LEFT JOIN users u ON u.id = k.owner_id",
        at: "COALESCE(k.done_at, k.created_at)",
        id: "k.id",
        only: "",
    },
    Source {
        kind: Kind::Meeting,
        dept: Dept::Sales,
        right: Some(Right::MeetingsRead),
        select: "SELECT m.id, m.created_at, u.name, m.subject, m.description, m.status, m.location, m.start_at, o.id, o.name \
                 FROM meetings m JOIN opportunities o ON o.id = m.opportunity_id LEFT JOIN users u ON u.id = m.owner_id",
        at: "m.created_at",
        id: "m.id",
        only: "",
    },
    Source {
        kind: Kind::Email,
        dept: Dept::Sales,
        right: None,
        select: "SELECT e.id, e.created_at, u.name, e.subject, substr(e.text_body, 1, 600), e.status, e.to_addrs, CAST(NULL AS BIGINT), o.id, o.name \
                 FROM emails e JOIN opportunities o ON e.entity_type = 'opportunity' AND e.entity_id = o.id LEFT JOIN users u ON u.id = e.created_by",
        at: "e.created_at",
        id: "e.id",
        only: "",
    },
    // The invitations of the opportunity's meetings: for who may read meetings.
    Source {
        kind: Kind::Email,
        dept: Dept::Sales,
        right: Some(Right::MeetingsRead),
        select: "SELECT e.id, e.created_at, u.name, e.subject, substr(e.text_body, 1, 600), e.status, e.to_addrs, CAST(NULL AS BIGINT), o.id, o.name \
                 FROM emails e JOIN meetings em ON e.entity_type = 'meeting' AND e.entity_id = em.id \
                 JOIN opportunities o ON o.id = em.opportunity_id LEFT JOIN users u ON u.id = e.created_by",
        at: "e.created_at",
        id: "e.id",
        only: "",
    },
    Source {
        kind: Kind::Status,
        dept: Dept::Sales,
        right: None,
        select: "SELECT a.id, a.at, a.actor_name, '', '', a.new_value, a.old_value, CAST(NULL AS BIGINT), o.id, o.name \
                 FROM audit_events a JOIN opportunities o ON a.entity_type = 'opportunity' AND a.entity_id = o.id",
        at: "a.at",
        id: "a.id",
        only: "a.field = 'status' AND a.old_value IS NOT NULL",
    },
    Source {
        kind: Kind::Update,
        dept: Dept::Service,
        right: None,
        select: "SELECT w.id, w.created_at, w.author_name, '', w.message, w.status, CAST(w.notified AS TEXT), CAST(NULL AS BIGINT), r.id, r.number \
                 FROM request_updates w JOIN service_requests r ON r.id = w.request_id",
        at: "w.created_at",
        id: "w.id",
        only: "",
    },
    // Internal notes: staff only (the portal never reads this feed).
    Source {
        kind: Kind::Note,
        dept: Dept::Service,
        right: None,
        select: "SELECT n.id, n.created_at, n.author_name, '', n.body, 'internal', CAST(NULL AS TEXT), CAST(NULL AS BIGINT), r.id, r.number \
                 FROM request_notes n JOIN service_requests r ON r.id = n.request_id",
        at: "n.created_at",
        id: "n.id",
        only: "",
    },
    // Calls on the request (a call is on an opportunity or on a request: each source joins its own).
    Source {
        kind: Kind::Call,
        dept: Dept::Service,
        right: None,
        select: "SELECT k.id, COALESCE(k.done_at, k.created_at), u.name, k.subject, k.notes, k.status, k.outcome, k.due_at, r.id, r.number \
                 FROM calls k JOIN service_requests r ON r.id = k.request_id LEFT JOIN users u ON u.id = k.owner_id",
        at: "COALESCE(k.done_at, k.created_at)",
        id: "k.id",
        only: "",
    },
    Source {
        kind: Kind::Message,
        dept: Dept::Service,
        right: Some(Right::ServiceMessages),
        select: "SELECT m.id, m.created_at, m.author_name, '', m.body, m.direction, CASE WHEN m.read_at IS NULL THEN 'unread' ELSE 'read' END, CAST(NULL AS BIGINT), r.id, r.number \
                 FROM request_messages m JOIN service_requests r ON r.id = m.request_id",
        at: "m.created_at",
        id: "m.id",
        only: "",
    },
    Source {
        kind: Kind::Email,
        dept: Dept::Service,
        right: None,
        select: "SELECT e.id, e.created_at, u.name, e.subject, substr(e.text_body, 1, 600), e.status, e.to_addrs, CAST(NULL AS BIGINT), r.id, r.number \
                 FROM emails e JOIN service_requests r ON e.entity_type = 'service_request' AND e.entity_id = r.id LEFT JOIN users u ON u.id = e.created_by",
        at: "e.created_at",
        id: "e.id",
        // A message's notification carries the message: it is in the feed as the message, for
        // who may read messages, not again as an email for everyone.
        only: "e.event NOT IN ('request_message', 'request_message_received')",
    },
    Source {
        kind: Kind::Intervention,
        dept: Dept::Service,
        right: Some(Right::InterventionsRead),
        select: "SELECT i.id, i.created_at, CAST(NULL AS TEXT), i.number, i.report_work, i.status, i.place, i.start_at, r.id, r.number \
                 FROM interventions i JOIN service_requests r ON r.id = i.request_id",
        at: "i.created_at",
        id: "i.id",
        only: "",
    },
    Source {
        kind: Kind::Status,
        dept: Dept::Service,
        right: None,
        select: "SELECT a.id, a.at, a.actor_name, '', '', a.new_value, a.old_value, CAST(NULL AS BIGINT), r.id, r.number \
                 FROM audit_events a JOIN service_requests r ON a.entity_type = 'service_request' AND a.entity_id = r.id",
        at: "a.at",
        id: "a.id",
        only: "a.field = 'status' AND a.old_value IS NOT NULL",
    },
    // Attachments of messages too: the feed shows a message's text, its files as documents.
    Source {
        kind: Kind::Document,
        dept: Dept::Service,
        right: Some(Right::DocumentsRead),
        select: "SELECT d.id, d.created_at, d.uploaded_by_name, d.filename, '', \
                 CASE WHEN d.shared = 1 THEN 'shared' ELSE 'internal' END, CAST(NULL AS TEXT), CAST(NULL AS BIGINT), r.id, r.number \
                 FROM documents d JOIN service_requests r ON r.id = d.request_id",
        at: "d.created_at",
        id: "d.id",
        only: "",
    },
    // A pre-sales request's conversation: the partner's (`in`) and the team's (`out`) messages.
    Source {
        kind: Kind::Message,
        dept: Dept::Presales,
        right: None,
        select: "SELECT m.id, m.created_at, m.author_name, '', m.body, CASE WHEN m.side = 'partner' THEN 'in' ELSE 'out' END, m.kind, \
                 CAST(NULL AS BIGINT), pr.id, pr.number \
                 FROM presales_messages m JOIN presales_requests pr ON pr.id = m.request_id",
        at: "m.created_at",
        id: "m.id",
        only: "",
    },
    Source {
        kind: Kind::Slot,
        dept: Dept::Presales,
        right: None,
        select: "SELECT s.id, s.created_at, CAST(NULL AS TEXT), u.name, '', \
                 CASE WHEN pr.accepted_slot_id = s.id THEN 'accepted' WHEN s.round < pr.round THEN 'past' ELSE 'proposed' END, \
                 CAST(s.round AS TEXT), s.start_at, pr.id, pr.number \
                 FROM presales_slots s JOIN presales_requests pr ON pr.id = s.request_id JOIN users u ON u.id = s.engineer_id",
        at: "s.created_at",
        id: "s.id",
        only: "",
    },
    // Each step's email to the other side, and the invitations of the accepted slot.
    Source {
        kind: Kind::Email,
        dept: Dept::Presales,
        right: None,
        select: "SELECT e.id, e.created_at, u.name, e.subject, substr(e.text_body, 1, 600), e.status, e.to_addrs, CAST(NULL AS BIGINT), pr.id, pr.number \
                 FROM emails e JOIN presales_requests pr ON e.entity_type = 'presales_request' AND e.entity_id = pr.id \
                 LEFT JOIN users u ON u.id = e.created_by",
        at: "e.created_at",
        id: "e.id",
        only: "",
    },
    Source {
        kind: Kind::Status,
        dept: Dept::Presales,
        right: None,
        select: "SELECT a.id, a.at, a.actor_name, '', '', a.new_value, a.old_value, CAST(NULL AS BIGINT), pr.id, pr.number \
                 FROM audit_events a JOIN presales_requests pr ON a.entity_type = 'presales_request' AND a.entity_id = pr.id",
        at: "a.at",
        id: "a.id",
        only: "a.field = 'status' AND a.old_value IS NOT NULL",
    },
];

type Row = (i64, i64, Option<String>, String, String, Option<String>, Option<String>, Option<i64>, i64, String);

/// The feed of a record the caller has already found visible (an opportunity, a request, a
/// pre-sales request of their teams), or of a customer the caller may read: there each file is
/// filtered by the user's visibility, and a department's entries need its read right. A pre-sales
/// request's feed needs `presales.manage` (the team's right) whatever the caller checked.
pub async fn read(db: &Db, p: &Principal, of: Of, f: &Filter) -> Result<Feed> {
    let mut all: Vec<Entry> = Vec::new();
    for s in SOURCES {
        if !f.wants(s.kind) || s.right.is_some_and(|r| !p.can(r)) {
            continue;
        }
        let mut q = Sql::new(s.select);
        q.push(" WHERE ");
        match (of, s.dept) {
            (Of::Opportunity(id), Dept::Sales) => {
                q.push("o.id = ").bind(id);
            }
            (Of::Request(id), Dept::Service) => {
                q.push("r.id = ").bind(id);
            }
            (Of::Presales(id), Dept::Presales) if p.can(Right::PresalesManage) => {
                q.push("pr.id = ").bind(id);
            }
            (Of::Customer(id), Dept::Sales) if p.can(Right::OpportunitiesRead) => {
                q.push("o.customer_id = ").bind(id).push(" AND o.trashed = 0 AND ");
                q.append(p.visibility.opportunities("o"));
            }
            (Of::Customer(id), Dept::Service) if p.can(Right::ServiceRequestsRead) => {
                q.push("r.customer_id = ").bind(id).push(" AND ");
                q.append(p.visibility.requests("r"));
            }
            _ => continue,
        }
        if !s.only.is_empty() {
            q.push(" AND ").push(s.only);
        }
        if let Some(c) = f.before {
            // Older than the cursor in (time, kind, id) order.
            if s.kind < c.kind {
                q.push(" AND ").push(s.at).push(" <= ").bind(c.at);
            } else if s.kind > c.kind {
                q.push(" AND ").push(s.at).push(" < ").bind(c.at);
            } else {
                q.push(" AND (").push(s.at).push(" < ").bind(c.at);
                q.push(" OR (").push(s.at).push(" = ").bind(c.at).push(" AND ").push(s.id).push(" < ").bind(c.id).push("))");
            }
        }
        q.push(" ORDER BY ").push(s.at).push(" DESC, ").push(s.id).push(" DESC LIMIT 51");
        let rows: Vec<Row> = q.query_as().fetch_all(&db.pool).await?;
        let file_kind = match s.dept {
            Dept::Sales => "opportunity",
            Dept::Service => "service_request",
            Dept::Presales => "presales_request",
        };
        all.extend(rows.into_iter().map(|(id, at, author, title, body, state, detail, due_at, file_id, file_name)| Entry {
            kind: s.kind,
            id,
            at,
            author,
            title,
            body,
            state,
            detail: if s.kind == Kind::Email { detail.map(|d| recipients(&d)) } else { detail },
            due_at,
            file: FileRef { kind: file_kind, id: file_id, name: file_name },
        }));
    }
    Ok(merge(all))
}

/// An email's recipients as stored (a JSON list of `{name, email}`) as people write them.
fn recipients(stored: &str) -> String {
    match serde_json::from_str::<Vec<serde_json::Value>>(stored) {
        Ok(list) => list
            .iter()
            .map(|m| match (m["name"].as_str(), m["email"].as_str().unwrap_or_default()) {
                (Some(n), e) if !n.is_empty() => format!("{n} <{e}>"),
                (_, e) => e.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Err(_) => stored.to_string(),
    }
}

/// The newest [`PAGE`] entries of every kind's page, and the cursor after them when more remain.
fn merge(mut all: Vec<Entry>) -> Feed {
    all.sort_by_key(|e| std::cmp::Reverse((e.at, e.kind, e.id)));
    let older = (all.len() > PAGE).then(|| all[PAGE - 1].cursor());
    all.truncate(PAGE);
    Feed { entries: all, older }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_and_filters_round_trip() {
        let c = Cursor { at: 1_700_000_000_000, kind: Kind::Call, id: 42 };
        assert_eq!(Cursor::decode(&c.encode()).ok(), Some(c));
        assert!(Cursor::decode("12.nope.3").is_err());
        assert!(Cursor::decode("").is_err());
        let f = Filter::parse(Some("note, call,note"), None).expect("parse");
        assert_eq!(f.kinds, vec![Kind::Note, Kind::Call]);
        assert_eq!(f.kinds_code(), "note,call");
        assert!(Filter::parse(Some("nope"), None).is_err());
        let codes: Vec<&str> = {
            let mut k = Kind::ALL.to_vec();
            k.sort();
            k.into_iter().map(Kind::code).collect()
        };
        let mut sorted = codes.clone();
        sorted.sort();
        assert_eq!(codes, sorted, "the enum's order is the codes' order");
    }
}
