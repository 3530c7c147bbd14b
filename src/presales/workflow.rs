//! The pre-sales request workflow (seed 000, domain table "Pre-sales requests"): one pure
//! function, [`decide`], says for every (state, action, actor) whether the change is allowed and
//! what it does. The store applies the [`Effect`] in one transaction (status, previous status,
//! emails to the other side, the calendar invitation) and audits it. No SQL, no HTTP, no clock.
//!
//! ```text
//! brouillon ─submit (confirmed)→ a_traiter ─accept→ en_cours ─propose 1..3 slots→ planifiee
//! planifiee ─pick a slot and accept→ terminee (invitation to the partner user and the engineer)
//! planifiee ─none fits (expectations)→ en_cours          (the team proposes again)
//! a_traiter | en_cours | planifiee ─ask information→ en_attente_info ─answer→ the status before
//! any open status ─refuse (reason)→ refusee;  ─cancel (reason)→ annulee
//! ```
//!
//! Where the domain table is silent: the partner may cancel their own request while it is open
//! (a reseller whose deal is lost says so), a draft included; the team may cancel a `terminee`
//! request (the engineer can no longer come), which withdraws the invitation (`METHOD:CANCEL`);
//! the team assigns an engineer at any open status after submission.

use serde::{Deserialize, Serialize};

/// The status of a pre-sales request (codes as in the domain table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = PresalesStatus)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Brouillon,
    ATraiter,
    EnCours,
    Planifiee,
    Terminee,
    EnAttenteInfo,
    Refusee,
    Annulee,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Brouillon,
        Status::ATraiter,
        Status::EnCours,
        Status::Planifiee,
        Status::Terminee,
        Status::EnAttenteInfo,
        Status::Refusee,
        Status::Annulee,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Status::Brouillon => "brouillon",
            Status::ATraiter => "a_traiter",
            Status::EnCours => "en_cours",
            Status::Planifiee => "planifiee",
            Status::Terminee => "terminee",
            Status::EnAttenteInfo => "en_attente_info",
            Status::Refusee => "refusee",
            Status::Annulee => "annulee",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        Self::ALL.into_iter().find(|x| x.code() == s)
    }
    /// The message key of its label (`presales.status.<code>`).
    pub fn label_key(self) -> &'static str {
        match self {
            Status::Brouillon => "presales.status.brouillon",
            Status::ATraiter => "presales.status.a_traiter",
            Status::EnCours => "presales.status.en_cours",
            Status::Planifiee => "presales.status.planifiee",
            Status::Terminee => "presales.status.terminee",
            Status::EnAttenteInfo => "presales.status.en_attente_info",
            Status::Refusee => "presales.status.refusee",
            Status::Annulee => "presales.status.annulee",
        }
    }
    pub fn badge(self) -> &'static str {
        match self {
            Status::Brouillon => "badge-gray",
            Status::ATraiter => "badge-blue",
            Status::EnCours => "badge-amber",
            Status::Planifiee => "badge-purple",
            Status::Terminee => "badge-green",
            Status::EnAttenteInfo => "badge-amber",
            Status::Refusee => "badge-red",
            Status::Annulee => "badge-gray",
        }
    }
    /// Refused and cancelled requests are closed; a `terminee` one is done but may still be
    /// cancelled by the team.
    pub fn is_closed(self) -> bool {
        matches!(self, Status::Refusee | Status::Annulee)
    }
    /// The statuses the team works on (its queue), in queue order.
    pub const QUEUE: [Status; 7] =
        [Status::ATraiter, Status::EnCours, Status::EnAttenteInfo, Status::Planifiee, Status::Terminee, Status::Refusee, Status::Annulee];
}

/// Who acts, relative to the request (the store works it out from the session and the row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A user of the request's partner with the right "Opportunités".
    PartnerUser,
    /// An administrator of the request's partner (holds every partner right).
    PartnerAdmin,
    /// A user of the request's partner without the right "Opportunités".
    PartnerWithoutRight,
    /// A user of another partner: the request does not exist for them.
    OtherPartner,
    /// Staff with the right `presales.manage` (the pre-sales team).
    Presales,
    /// Staff without that right.
    StaffWithoutRight,
}

impl Actor {
    pub const ALL: [Actor; 6] = [
        Actor::PartnerUser,
        Actor::PartnerAdmin,
        Actor::PartnerWithoutRight,
        Actor::OtherPartner,
        Actor::Presales,
        Actor::StaffWithoutRight,
    ];
    fn side(self) -> Option<Side> {
        match self {
            Actor::PartnerUser | Actor::PartnerAdmin => Some(Side::Partner),
            Actor::Presales => Some(Side::Team),
            _ => None,
        }
    }
}

/// The two sides of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Partner,
    Team,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Partner => Side::Team,
            Side::Team => Side::Partner,
        }
    }
}

/// What someone asks for. The payload the workflow cares about is reduced to what decides it
/// (whether the confirmation box is ticked, how many slots, whether a reason was given); the
/// text itself is parsed at the edge and stored by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The partner changes their draft.
    Edit,
    /// The partner submits the draft, with the confirmation box.
    Submit { confirmed: bool },
    /// The team accepts the request.
    Accept,
    /// The team sends a round of slot proposals (1 to 3).
    Propose { slots: usize },
    /// The partner picks one slot of the current round and accepts it.
    PickSlot,
    /// None fits: the partner asks for other dates, with their expectations.
    AskOtherDates { expectations: bool },
    /// The team asks the partner for information (the question).
    AskInfo { question: bool },
    /// The partner answers.
    AnswerInfo { answer: bool },
    /// The team refuses, with a reason.
    Refuse { reason: bool },
    /// The team (or the partner, for their own open request) cancels, with a reason.
    Cancel { reason: bool },
    /// The team assigns (or changes) the engineer.
    Assign,
}

impl Action {
    /// The action's code (audit, forms, API).
    pub fn code(self) -> &'static str {
        match self {
            Action::Edit => "edit",
            Action::Submit { .. } => "submit",
            Action::Accept => "accept",
            Action::Propose { .. } => "propose",
            Action::PickSlot => "pick_slot",
            Action::AskOtherDates { .. } => "ask_other_dates",
            Action::AskInfo { .. } => "ask_info",
            Action::AnswerInfo { .. } => "answer_info",
            Action::Refuse { .. } => "refuse",
            Action::Cancel { .. } => "cancel",
            Action::Assign => "assign",
        }
    }
    /// Every action, with each value of its payload that matters (slots 0 to 4).
    pub fn all() -> Vec<Action> {
        let mut v = vec![Action::Edit, Action::Accept, Action::PickSlot, Action::Assign];
        for b in [false, true] {
            v.push(Action::Submit { confirmed: b });
            v.push(Action::AskOtherDates { expectations: b });
            v.push(Action::AskInfo { question: b });
            v.push(Action::AnswerInfo { answer: b });
            v.push(Action::Refuse { reason: b });
            v.push(Action::Cancel { reason: b });
        }
        for n in 0..=4 {
            v.push(Action::Propose { slots: n });
        }
        v
    }
}

/// The most slots in one round of proposals.
pub const MAX_SLOTS: usize = 3;

/// A request's workflow state: its status and, while waiting for information, the status it
/// returns to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub status: Status,
    pub previous: Option<Status>,
}

/// What the mail says happened (the mail event of each step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    Submitted,
    Accepted,
    Proposed,
    SlotAccepted,
    OtherDatesAsked,
    InfoAsked,
    InfoAnswered,
    Refused,
    Cancelled,
    Assigned,
    Edited,
    /// An email reply landed on the request's conversation (no change of status).
    Replied,
}

impl Event {
    /// The mail template event (`mail::templates::events()`).
    pub fn mail_event(self) -> Option<&'static str> {
        Some(match self {
            Event::Submitted => "presales_submitted",
            Event::Accepted => "presales_accepted",
            Event::Proposed => "presales_proposed",
            Event::SlotAccepted => "presales_slot_accepted",
            Event::OtherDatesAsked => "presales_other_dates",
            Event::InfoAsked => "presales_info_asked",
            Event::InfoAnswered => "presales_info_answered",
            Event::Refused => "presales_refused",
            Event::Cancelled => "presales_cancelled",
            Event::Assigned => "presales_assigned",
            Event::Replied => "presales_replied",
            Event::Edited => return None,
        })
    }
}

/// The calendar invitation a step sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invitation {
    /// `METHOD:REQUEST` for the accepted slot, to the partner user and the engineer.
    Request,
    /// `METHOD:CANCEL` of the accepted slot.
    Cancel,
}

/// What an allowed step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effect {
    pub to: Status,
    /// The previous status to store (`Some(x)` sets it, `None` clears it).
    pub previous: Option<Status>,
    pub event: Event,
    /// Who is told by email (the side that did not act); `None`: nobody.
    pub notify: Option<Side>,
    pub invitation: Option<Invitation>,
}

/// Why a step is refused. Each maps to one HTTP answer (see [`Refusal::into_error`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request is not the actor's (another partner): it does not exist for them (404).
    NotFound,
    /// The actor may not do this at all (403).
    Forbidden,
    /// Not from this status (409, `error.presales_transition`).
    WrongStatus,
    /// A required input is missing or out of bounds (422 on `field`).
    Invalid { field: &'static str, reason: &'static str },
}

impl Refusal {
    pub fn into_error(self) -> crate::error::Error {
        use crate::error::Error;
        match self {
            Refusal::NotFound => Error::NotFound,
            Refusal::Forbidden => Error::Forbidden,
            Refusal::WrongStatus => Error::InvalidState { reason: "error.presales_transition" },
            Refusal::Invalid { field, reason } => Error::validation(field, reason),
        }
    }
}

impl From<Refusal> for crate::error::Error {
    fn from(r: Refusal) -> Self {
        r.into_error()
    }
}

/// Which side may take an action.
fn side_of(action: Action) -> &'static [Side] {
    match action {
        Action::Edit | Action::Submit { .. } | Action::PickSlot | Action::AskOtherDates { .. } | Action::AnswerInfo { .. } => {
            &[Side::Partner]
        }
        Action::Accept | Action::Propose { .. } | Action::AskInfo { .. } | Action::Refuse { .. } | Action::Assign => &[Side::Team],
        Action::Cancel { .. } => &[Side::Partner, Side::Team],
    }
}

/// The one decision: may `actor` do `action` on a request in `state`, and what happens then.
/// Checked in order: the tenant boundary (another partner: not found), the right, the side,
/// the status, then the action's own input.
pub fn decide(state: State, action: Action, actor: Actor) -> Result<Effect, Refusal> {
    use Status::*;
    if actor == Actor::OtherPartner {
        return Err(Refusal::NotFound);
    }
    // A draft is the partner's own: the team does not see it yet.
    if state.status == Brouillon && matches!(actor, Actor::Presales | Actor::StaffWithoutRight) {
        return Err(Refusal::NotFound);
    }
    let side = actor.side().ok_or(Refusal::Forbidden)?;
    if !side_of(action).contains(&side) {
        return Err(Refusal::Forbidden);
    }
    let s = state.status;
    let open_submitted = matches!(s, ATraiter | EnCours | Planifiee | EnAttenteInfo);
    let step = |to: Status, event: Event, notify: Option<Side>| Effect { to, previous: None, event, notify, invitation: None };
    let effect = match action {
        Action::Edit if s == Brouillon => step(Brouillon, Event::Edited, None),
        Action::Submit { confirmed } if s == Brouillon => {
            if !confirmed {
                return Err(Refusal::Invalid { field: "confirmed", reason: "error.presales_confirm" });
            }
            step(ATraiter, Event::Submitted, Some(Side::Team))
        }
        Action::Accept if s == ATraiter => step(EnCours, Event::Accepted, Some(Side::Partner)),
        Action::Propose { slots } if s == EnCours => {
            if slots == 0 || slots > MAX_SLOTS {
                return Err(Refusal::Invalid { field: "slots", reason: "error.presales_slots" });
            }
            step(Planifiee, Event::Proposed, Some(Side::Partner))
        }
        Action::PickSlot if s == Planifiee => {
            Effect { invitation: Some(Invitation::Request), ..step(Terminee, Event::SlotAccepted, Some(Side::Team)) }
        }
        Action::AskOtherDates { expectations } if s == Planifiee => {
            if !expectations {
                return Err(Refusal::Invalid { field: "expectations", reason: "error.required" });
            }
            step(EnCours, Event::OtherDatesAsked, Some(Side::Team))
        }
        Action::AskInfo { question } if matches!(s, ATraiter | EnCours | Planifiee) => {
            if !question {
                return Err(Refusal::Invalid { field: "question", reason: "error.required" });
            }
            Effect { previous: Some(s), ..step(EnAttenteInfo, Event::InfoAsked, Some(Side::Partner)) }
        }
        Action::AnswerInfo { answer } if s == EnAttenteInfo => {
            // A request waiting without a status to return to (never written so) goes back to
            // the team's inbox.
            let back = match state.previous {
                Some(p @ (ATraiter | EnCours | Planifiee)) => p,
                _ => ATraiter,
            };
            if !answer {
                return Err(Refusal::Invalid { field: "answer", reason: "error.required" });
            }
            step(back, Event::InfoAnswered, Some(Side::Team))
        }
        Action::Refuse { reason } if open_submitted => {
            if !reason {
                return Err(Refusal::Invalid { field: "reason", reason: "error.required" });
            }
            step(Refusee, Event::Refused, Some(Side::Partner))
        }
        Action::Cancel { reason }
            if open_submitted || (s == Brouillon && side == Side::Partner) || (s == Terminee && side == Side::Team) =>
        {
            if !reason {
                return Err(Refusal::Invalid { field: "reason", reason: "error.required" });
            }
            let notify = if s == Brouillon { None } else { Some(side.other()) };
            Effect { invitation: (s == Terminee).then_some(Invitation::Cancel), ..step(Annulee, Event::Cancelled, notify) }
        }
        Action::Assign if open_submitted => Effect { previous: state.previous, ..step(s, Event::Assigned, None) },
        _ => return Err(Refusal::WrongStatus),
    };
    Ok(effect)
}

/// The actions a side may take now (for the buttons a page shows), payloads assumed valid.
pub fn available(state: State, actor: Actor) -> Vec<&'static str> {
    let valid = [
        Action::Edit,
        Action::Submit { confirmed: true },
        Action::Accept,
        Action::Propose { slots: 1 },
        Action::PickSlot,
        Action::AskOtherDates { expectations: true },
        Action::AskInfo { question: true },
        Action::AnswerInfo { answer: true },
        Action::Refuse { reason: true },
        Action::Cancel { reason: true },
        Action::Assign,
    ];
    valid.into_iter().filter(|a| decide(state, *a, actor).is_ok()).map(Action::code).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    /// The expected table, written independently of `decide`: (from, action code, side) → to.
    /// `*` in `from` is spelled out; `previous` matters only for `answer_info`.
    const ALLOWED: &[(Status, &str, Side, Status)] = &[
        (Brouillon, "edit", Side::Partner, Brouillon),
        (Brouillon, "submit", Side::Partner, ATraiter),
        (Brouillon, "cancel", Side::Partner, Annulee),
        (ATraiter, "accept", Side::Team, EnCours),
        (EnCours, "propose", Side::Team, Planifiee),
        (Planifiee, "pick_slot", Side::Partner, Terminee),
        (Planifiee, "ask_other_dates", Side::Partner, EnCours),
        (ATraiter, "ask_info", Side::Team, EnAttenteInfo),
        (EnCours, "ask_info", Side::Team, EnAttenteInfo),
        (Planifiee, "ask_info", Side::Team, EnAttenteInfo),
        // answer_info: to the previous status, checked separately below.
        (EnAttenteInfo, "answer_info", Side::Partner, EnAttenteInfo),
        (ATraiter, "refuse", Side::Team, Refusee),
        (EnCours, "refuse", Side::Team, Refusee),
        (Planifiee, "refuse", Side::Team, Refusee),
        (EnAttenteInfo, "refuse", Side::Team, Refusee),
        (ATraiter, "cancel", Side::Partner, Annulee),
        (EnCours, "cancel", Side::Partner, Annulee),
        (Planifiee, "cancel", Side::Partner, Annulee),
        (EnAttenteInfo, "cancel", Side::Partner, Annulee),
        (ATraiter, "cancel", Side::Team, Annulee),
        (EnCours, "cancel", Side::Team, Annulee),
        (Planifiee, "cancel", Side::Team, Annulee),
        (EnAttenteInfo, "cancel", Side::Team, Annulee),
        (Terminee, "cancel", Side::Team, Annulee),
        (ATraiter, "assign", Side::Team, ATraiter),
        (EnCours, "assign", Side::Team, EnCours),
        (Planifiee, "assign", Side::Team, Planifiee),
        (EnAttenteInfo, "assign", Side::Team, EnAttenteInfo),
    ];

    const PARTNER_ACTIONS: &[&str] = &["edit", "submit", "pick_slot", "ask_other_dates", "answer_info", "cancel"];
    const TEAM_ACTIONS: &[&str] = &["accept", "propose", "ask_info", "refuse", "cancel", "assign"];

    /// The input an action carries is missing or out of bounds.
    fn bad_input(a: Action) -> Option<&'static str> {
        match a {
            Action::Submit { confirmed: false } => Some("confirmed"),
            Action::Propose { slots } if slots == 0 || slots > 3 => Some("slots"),
            Action::AskOtherDates { expectations: false } => Some("expectations"),
            Action::AskInfo { question: false } => Some("question"),
            Action::AnswerInfo { answer: false } => Some("answer"),
            Action::Refuse { reason: false } | Action::Cancel { reason: false } => Some("reason"),
            _ => None,
        }
    }

    fn expected(state: State, action: Action, actor: Actor) -> Result<Status, Refusal> {
        let code = action.code();
        let side = match actor {
            Actor::OtherPartner => return Err(Refusal::NotFound),
            _ if state.status == Brouillon && matches!(actor, Actor::Presales | Actor::StaffWithoutRight) => return Err(Refusal::NotFound),
            Actor::PartnerWithoutRight | Actor::StaffWithoutRight => return Err(Refusal::Forbidden),
            Actor::PartnerUser | Actor::PartnerAdmin => Side::Partner,
            Actor::Presales => Side::Team,
        };
        let mine = if side == Side::Partner { PARTNER_ACTIONS } else { TEAM_ACTIONS };
        if !mine.contains(&code) {
            return Err(Refusal::Forbidden);
        }
        let Some(row) = ALLOWED.iter().find(|(from, c, s, _)| *from == state.status && *c == code && *s == side) else {
            return Err(Refusal::WrongStatus);
        };
        if let Some(field) = bad_input(action) {
            return Err(Refusal::Invalid { field, reason: "" });
        }
        if code == "answer_info" {
            return Ok(match state.previous {
                Some(p @ (ATraiter | EnCours | Planifiee)) => p,
                _ => ATraiter,
            });
        }
        Ok(row.3)
    }

    #[test]
    fn every_status_action_actor_triple() {
        let previous: Vec<Option<Status>> = std::iter::once(None).chain(Status::ALL.into_iter().map(Some)).collect();
        let mut checked = 0;
        let mut allowed = 0;
        for status in Status::ALL {
            for prev in &previous {
                let state = State { status, previous: *prev };
                for action in Action::all() {
                    for actor in Actor::ALL {
                        let got = decide(state, action, actor);
                        let want = expected(state, action, actor);
                        let got_cmp = got.map(|e| e.to).map_err(|r| match r {
                            Refusal::Invalid { field, .. } => Refusal::Invalid { field, reason: "" },
                            r => r,
                        });
                        assert_eq!(got_cmp, want, "{status:?} (before {prev:?}) {action:?} by {actor:?}");
                        if let Ok(e) = got {
                            allowed += 1;
                            // Effects that the table implies.
                            let acting = actor.side().expect("only the two sides may act");
                            match e.notify {
                                Some(n) => assert_eq!(n, acting.other(), "{action:?}: the other side is told"),
                                None => assert!(
                                    matches!(action, Action::Edit | Action::Assign) || status == Brouillon,
                                    "{action:?} from {status:?} tells nobody"
                                ),
                            }
                            assert_eq!(e.invitation == Some(Invitation::Request), action == Action::PickSlot);
                            assert_eq!(
                                e.invitation == Some(Invitation::Cancel),
                                matches!(action, Action::Cancel { .. }) && status == Terminee
                            );
                            if e.to == EnAttenteInfo && status != EnAttenteInfo {
                                assert_eq!(e.previous, Some(status), "asking for information remembers where it was");
                            }
                            if status == EnAttenteInfo && e.to != EnAttenteInfo {
                                assert_eq!(e.previous, None, "leaving the wait forgets the previous status");
                            }
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 8 * 9 * Action::all().len() * 6);
        assert!(allowed > 0);
    }

    #[test]
    fn the_seed_journey() {
        let mut st = State { status: Brouillon, previous: None };
        let mut go = |a: Action, who: Actor| {
            let e = decide(st, a, who).expect("allowed");
            st = State { status: e.to, previous: e.previous };
            e
        };
        assert_eq!(go(Action::Submit { confirmed: true }, Actor::PartnerUser).to, ATraiter);
        assert_eq!(go(Action::Accept, Actor::Presales).to, EnCours);
        assert_eq!(go(Action::Propose { slots: 3 }, Actor::Presales).to, Planifiee);
        assert_eq!(go(Action::AskOtherDates { expectations: true }, Actor::PartnerUser).to, EnCours);
        assert_eq!(go(Action::AskInfo { question: true }, Actor::Presales).to, EnAttenteInfo);
        assert_eq!(go(Action::AnswerInfo { answer: true }, Actor::PartnerAdmin).to, EnCours, "back where it was");
        assert_eq!(go(Action::Propose { slots: 2 }, Actor::Presales).to, Planifiee);
        let e = go(Action::PickSlot, Actor::PartnerUser);
        assert_eq!((e.to, e.invitation, e.notify), (Terminee, Some(Invitation::Request), Some(Side::Team)));
    }

    #[test]
    fn buttons_follow_the_table() {
        let st = State { status: Planifiee, previous: None };
        assert_eq!(available(st, Actor::PartnerUser), vec!["pick_slot", "ask_other_dates", "cancel"]);
        assert_eq!(available(st, Actor::Presales), vec!["ask_info", "refuse", "cancel", "assign"]);
        assert!(available(st, Actor::StaffWithoutRight).is_empty());
        assert!(available(st, Actor::OtherPartner).is_empty());
    }
}
