//! The pre-sales team's calendar side: what keeps an engineer busy (meetings they run or take
//! part in, directly or through a group; interventions they are a technician on; pre-sales slots
//! already accepted), whether a proposed slot collides with it, and the invitation (ICS) of an
//! accepted slot.

use serde::Serialize;

use crate::clock::Millis;
use crate::db::Sql;
use crate::error::Result;
use crate::mail::ics;
use crate::mail::Mailbox;

/// A time an engineer is taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Busy {
    pub user_id: i64,
    /// `meeting`, `intervention` or `presales`.
    pub kind: String,
    pub id: i64,
    pub label: String,
    pub start_at: Millis,
    pub end_at: Millis,
}

/// A proposed slot: who, from when to when (`[start, end)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotTime {
    pub engineer_id: i64,
    pub start_at: Millis,
    pub end_at: Millis,
}

/// What `slot` collides with among `busy` (the same engineer, overlapping; touching ends do
/// not collide). `ignore` leaves out one record (the request's own accepted slot).
pub fn conflicts<'a>(slot: &SlotTime, busy: &'a [Busy], ignore: Option<(&str, i64)>) -> Vec<&'a Busy> {
    busy.iter()
        .filter(|b| b.user_id == slot.engineer_id)
        .filter(|b| ignore.is_none_or(|(k, id)| !(b.kind == k && b.id == id)))
        .filter(|b| b.start_at < slot.end_at && slot.start_at < b.end_at)
        .collect()
}

/// Everything that keeps `users` busy and overlaps `[from, to)`, in time order: meetings
/// (owner, or participant directly or through a group; cancelled ones do not count),
/// interventions (technician; cancelled ones do not count) and accepted pre-sales slots.
pub async fn busy(conn: &mut sqlx::AnyConnection, users: &[i64], from: Millis, to: Millis) -> Result<Vec<Busy>> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let ids = |q: &mut Sql| {
        q.push("(");
        for (i, u) in users.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(*u);
        }
        q.push(")");
    };
    let mut q = Sql::new("SELECT * FROM (");
    // Meetings: the rep.
    q.push("SELECT m.owner_id AS user_id, 'meeting' AS kind, m.id, m.subject AS label, m.start_at, m.end_at FROM meetings m WHERE m.owner_id IN ");
    ids(&mut q);
    q.push(" AND m.start_at < ").bind(to).push(" AND m.end_at > ").bind(from);
    q.push(NOT_CANCELLED_MEETING);
    // Meetings: a participant.
    q.push(" UNION SELECT p.ref_id AS user_id, 'meeting' AS kind, m.id, m.subject AS label, m.start_at, m.end_at FROM meetings m JOIN meeting_participants p ON p.meeting_id = m.id AND p.kind = 'user' WHERE p.ref_id IN ");
    ids(&mut q);
    q.push(" AND m.start_at < ").bind(to).push(" AND m.end_at > ").bind(from);
    q.push(NOT_CANCELLED_MEETING);
    // Meetings: through a group.
    q.push(" UNION SELECT g.user_id, 'meeting' AS kind, m.id, m.subject AS label, m.start_at, m.end_at FROM meetings m JOIN meeting_participants p ON p.meeting_id = m.id AND p.kind = 'group' JOIN user_group_members g ON g.group_id = p.ref_id WHERE g.user_id IN ");
    ids(&mut q);
    q.push(" AND m.start_at < ").bind(to).push(" AND m.end_at > ").bind(from);
    q.push(NOT_CANCELLED_MEETING);
    // Interventions.
    q.push(" UNION SELECT t.user_id, 'intervention' AS kind, i.id, i.number AS label, i.start_at, i.end_at FROM interventions i JOIN intervention_technicians t ON t.intervention_id = i.id WHERE t.user_id IN ");
    ids(&mut q);
    q.push(" AND i.start_at < ").bind(to).push(" AND i.end_at > ").bind(from).push(" AND i.status <> 'annulee'");
    // Accepted pre-sales slots.
    q.push(" UNION SELECT s.engineer_id AS user_id, 'presales' AS kind, r.id, r.number AS label, s.start_at, s.end_at FROM presales_slots s JOIN presales_requests r ON r.accepted_slot_id = s.id AND r.status = 'terminee' WHERE s.engineer_id IN ");
    ids(&mut q);
    q.push(" AND s.start_at < ").bind(to).push(" AND s.end_at > ").bind(from);
    q.push(") b ORDER BY b.start_at, b.user_id, b.kind, b.id");
    Ok(q.query_as().fetch_all(conn).await?)
}

const NOT_CANCELLED_MEETING: &str = " AND NOT EXISTS (SELECT 1 FROM value_list_items v WHERE v.list_code = 'meeting_status' AND v.code = m.status AND (' ' || v.flags || ' ') LIKE '% cancelled %')";

/// What the invitation of an accepted slot says.
#[derive(Debug, Clone)]
pub struct Invite<'a> {
    /// The request's id (the event's stable UID is built from it).
    pub request_id: i64,
    pub number: &'a str,
    pub sequence: i64,
    pub start_at: Millis,
    pub end_at: Millis,
    /// `Démo — Customer (Partner)`.
    pub summary: String,
    pub description: &'a str,
    /// The place when on site, else "remote" in the organiser's words.
    pub location: String,
    pub organizer: Mailbox,
    pub attendees: Vec<Mailbox>,
}

/// The stable UID of a request's invitation (one per request: a new accepted slot after a
/// cancellation updates the same event with a higher sequence).
pub fn uid(request_id: i64, host: &str) -> String {
    format!("presales-{request_id}@{host}")
}

/// The calendar event of the accepted slot.
pub fn event(i: &Invite<'_>, host: &str) -> ics::Event {
    ics::Event {
        uid: uid(i.request_id, host),
        sequence: i.sequence,
        start: i.start_at,
        end: i.end_at,
        summary: format!("{} — {}", i.number, i.summary),
        description: i.description.to_string(),
        location: i.location.clone(),
        organizer: i.organizer.clone(),
        attendees: i.attendees.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(user: i64, kind: &str, id: i64, s: i64, e: i64) -> Busy {
        Busy { user_id: user, kind: kind.into(), id, label: String::new(), start_at: s, end_at: e }
    }

    #[test]
    fn a_slot_conflicts_with_overlaps_of_its_engineer_only() {
        let busy = vec![b(1, "meeting", 10, 100, 200), b(1, "intervention", 11, 300, 400), b(2, "meeting", 12, 0, 1000)];
        let at = |s, e| SlotTime { engineer_id: 1, start_at: s, end_at: e };
        let ids = |v: Vec<&Busy>| v.iter().map(|b| b.id).collect::<Vec<_>>();
        assert_eq!(ids(conflicts(&at(150, 350), &busy, None)), vec![10, 11]);
        assert!(conflicts(&at(200, 300), &busy, None).is_empty(), "touching ends do not conflict");
        assert!(conflicts(&at(0, 100), &busy, None).is_empty());
        assert_eq!(ids(conflicts(&at(0, 101), &busy, None)), vec![10]);
        assert!(conflicts(&at(150, 160), &busy, Some(("meeting", 10))).is_empty(), "the request's own slot is ignored");
    }

    #[test]
    fn the_invitation_of_an_accepted_slot() {
        let org = Mailbox { name: Some("Avant-vente".into()), email: "avant-vente@example.com".into() };
        let p = Mailbox { name: Some("Paul Partenaire".into()), email: "paul@revendeur.fr".into() };
        let e = Mailbox { name: Some("Emma Ingénieure".into()), email: "emma@example.com".into() };
        let inv = Invite {
            request_id: 42,
            number: "AV-2026-000042",
            sequence: 1,
            start_at: 1_780_000_000_000,
            end_at: 1_780_007_200_000,
            summary: "Démonstration — Boulangerie Martin (Revendeur Ouest)".into(),
            description: "Démo de la gestion commerciale",
            location: "12 rue des Lilas, Nantes".into(),
            organizer: org,
            attendees: vec![p, e],
        };
        let text = ics::render(&event(&inv, "carnet.example.com"), ics::Method::Request, 1_779_000_000_000);
        assert!(text.contains("METHOD:REQUEST"));
        assert!(text.contains("UID:presales-42@carnet.example.com"));
        assert!(text.contains("SEQUENCE:1"));
        assert!(text.contains("DTSTART:20260528T202640Z"), "{text}");
        assert!(text.contains("mailto:paul@revendeur.fr") && text.contains("mailto:emma@example.com"));
        assert!(text.contains("LOCATION:12 rue des Lilas\\, Nantes"));
    }
}
