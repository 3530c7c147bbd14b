//! Sales: opportunities and their status workflow, lead intake, meetings, calls, notes and
//! stock units (seeds 002 and 003).
//!
//! - [`Statuses`] is the configurable status table (the `opportunity_status` value list and
//!   its flags) and [`Statuses::transition`] the one place that decides whether a status
//!   change is allowed and what it does (sale date, delivery date, trash, follow-up call).
//! - [`store`] keeps opportunities (visibility-filtered), their notes timeline and stock
//!   links; [`leads`] recognises the customer and merges or opens an opportunity;
//!   [`expiry`] is the 8-week rule; [`meetings`] and [`calls`] are the activities.

pub mod calls;
pub mod emails;
pub mod expiry;
pub mod leads;
pub mod meetings;
pub mod routing;
pub mod stock;
pub mod store;

use serde::{Deserialize, Serialize};

use crate::access::{Right, RightSet};
use crate::audit::Audited;
use crate::clock::{format_ms, Millis};
use crate::error::{Error, FieldErrors, Result};
use crate::lists::ListItem;

/// The longest name of an opportunity.
pub const NAME_MAX: usize = 200;

/// A stock unit as linked from an opportunity or a meeting.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, sqlx::FromRow, utoipa::ToSchema)]
pub struct StockRef {
    pub id: i64,
    pub stock_number: String,
    pub description: String,
}

/// An opportunity as stored. `expired` is an admin-only field: the store fills it, and
/// [`Opportunity::for_viewer`] removes it for everyone else before it leaves the server.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Opportunity {
    pub id: i64,
    pub name: String,
    pub customer_id: i64,
    pub customer_name: String,
    pub lead_type: Option<String>,
    pub status: String,
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    pub branch_id: Option<i64>,
    pub branch_name: Option<String>,
    /// Set by the system when the status says so (`pris_en_charge` by default); RFC 3339 in JSON.
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "crate::clock::ser_rfc3339")]
    pub sale_date: Option<Millis>,
    /// Set by the system when the status says so (`livre` by default); RFC 3339 in JSON.
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "crate::clock::ser_rfc3339")]
    pub delivery_date: Option<Millis>,
    /// The deal's value in cents of the currency of the setting `sales.currency`.
    pub amount_cents: Option<i64>,
    /// The expected close date, `YYYY-MM-DD`.
    pub expected_close_on: Option<String>,
    /// Administrators only: set by the 8-week expiry, never cleared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired: Option<bool>,
    #[serde(skip)]
    pub trashed: bool,
    pub stock_units: Vec<StockRef>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Opportunity {
    /// The record as `rights` may see it (the expired flag for administrators only).
    pub fn for_viewer(mut self, sees_hidden: bool) -> Opportunity {
        if !sees_hidden {
            self.expired = None;
        }
        self
    }
    pub fn is_expired(&self) -> bool {
        self.expired == Some(true)
    }
}

impl Audited for Opportunity {
    const ENTITY: &'static str = "opportunity";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("name", Some(self.name.clone())),
            ("customer", Some(format!("#{} {}", self.customer_id, self.customer_name))),
            ("lead_type", self.lead_type.clone()),
            ("status", Some(self.status.clone())),
            ("owner", self.owner_name.clone()),
            ("branch", self.branch_name.clone()),
            ("sale_date", self.sale_date.map(format_ms)),
            ("delivery_date", self.delivery_date.map(format_ms)),
            ("amount", self.amount_cents.map(crate::money::format_amount)),
            ("expected_close_on", self.expected_close_on.clone()),
            ("expired", self.expired.filter(|e| *e).map(|_| "true".to_string())),
            ("trashed", Some(self.trashed).filter(|t| *t).map(|_| "true".to_string())),
            (
                "stock_units",
                Some(self.stock_units.iter().map(|s| s.stock_number.as_str()).collect::<Vec<_>>().join(" ")).filter(|s| !s.is_empty()),
            ),
        ]
    }
}

/// Fields of the history that only administrators see.
pub const HIDDEN_HISTORY_FIELDS: &[&str] = &["expired"];

/// Opportunity fields as typed in a form or sent as JSON (the status, dates and flags are
/// not here: a status change is its own action, the dates and flags are the system's).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpportunityForm {
    /// Defaults to the customer's name.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub customer_id: Option<i64>,
    #[serde(default)]
    pub lead_type: Option<String>,
    /// The initial status (defaults to the status flagged `initial`); creation only.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub owner_id: Option<i64>,
    #[serde(default)]
    pub branch_id: Option<i64>,
    #[serde(default)]
    pub stock_unit_ids: Vec<i64>,
    /// The deal's value in cents (at most [`AMOUNT_MAX_CENTS`]).
    #[serde(default)]
    pub amount_cents: Option<i64>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub expected_close_on: Option<String>,
}

/// The largest amount, in cents (ten thousand million).
pub const AMOUNT_MAX_CENTS: i64 = 1_000_000_000_000;

/// A date typed as `YYYY-MM-DD` (a date picker's value), checked.
pub fn parse_date(s: &str) -> Option<String> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok().map(|d| d.format("%Y-%m-%d").to_string())
}

/// Validated opportunity fields.
#[derive(Debug, Clone)]
pub struct OpportunityInput {
    pub name: String,
    pub customer_id: i64,
    pub lead_type: Option<String>,
    pub status: Option<String>,
    pub owner_id: Option<i64>,
    pub branch_id: Option<i64>,
    pub stock_unit_ids: Vec<i64>,
    pub amount_cents: Option<i64>,
    pub expected_close_on: Option<String>,
}

impl OpportunityForm {
    pub fn parse(&self) -> Result<OpportunityInput> {
        let mut errs = FieldErrors::new();
        let name = self.name.trim().to_string();
        if name.chars().count() > NAME_MAX {
            errs.add("name", "error.too_long");
        }
        if self.customer_id.is_none() {
            errs.add("customer_id", "error.required");
        }
        if self.amount_cents.is_some_and(|a| !(0..=AMOUNT_MAX_CENTS).contains(&a)) {
            errs.add("amount_cents", "error.invalid_amount");
        }
        let close = match self.expected_close_on.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(d) => match parse_date(d) {
                Some(d) => Some(d),
                None => {
                    errs.add("expected_close_on", "error.invalid_date");
                    None
                }
            },
            None => None,
        };
        errs.into_result()?;
        let mut stock = self.stock_unit_ids.clone();
        stock.sort();
        stock.dedup();
        Ok(OpportunityInput {
            name,
            customer_id: self.customer_id.unwrap_or_default(),
            lead_type: self.lead_type.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string),
            status: self.status.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string),
            owner_id: self.owner_id,
            branch_id: self.branch_id,
            stock_unit_ids: stock,
            amount_cents: self.amount_cents,
            expected_close_on: close,
        })
    }

    pub fn from_opportunity(o: &Opportunity) -> OpportunityForm {
        OpportunityForm {
            name: o.name.clone(),
            customer_id: Some(o.customer_id),
            lead_type: o.lead_type.clone(),
            status: None,
            owner_id: o.owner_id,
            branch_id: o.branch_id,
            stock_unit_ids: o.stock_units.iter().map(|s| s.id).collect(),
            amount_cents: o.amount_cents,
            expected_close_on: o.expected_close_on.clone(),
        }
    }
}

/// The status table: the `opportunity_status` list with its behaviour flags.
#[derive(Debug, Clone)]
pub struct Statuses(pub Vec<ListItem>);

/// What a status change does, decided by [`Statuses::transition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: String,
    pub to: String,
    /// The new sale date, when the target status sets it.
    pub sale_date: Option<Millis>,
    /// The new delivery date, when the target status sets it.
    pub delivery_date: Option<Millis>,
    /// The opportunity goes to the trash.
    pub trash: bool,
    /// A follow-up call is scheduled for the owner.
    pub follow_up: bool,
    /// The funnel's stages (flags of the target): a meeting booked, shown up (each kept from
    /// the first time), lost (the last loss; taken up again clears it).
    pub booked: bool,
    pub showed: bool,
    pub lost: bool,
}

/// The state a status change starts from.
#[derive(Debug, Clone)]
pub struct Current<'a> {
    pub status: &'a str,
    pub sale_date: Option<Millis>,
    pub trashed: bool,
}

impl Statuses {
    pub async fn load(db: &crate::db::Db) -> Result<Statuses> {
        Ok(Statuses(crate::lists::items(db, "opportunity_status", true).await?))
    }
    pub fn get(&self, code: &str) -> Option<&ListItem> {
        self.0.iter().find(|s| s.code == code)
    }
    /// Active statuses, in order (the kanban columns, the status menus).
    pub fn active(&self) -> impl Iterator<Item = &ListItem> {
        self.0.iter().filter(|s| s.active)
    }
    /// Active statuses that are not the trash (the kanban columns).
    pub fn board(&self) -> impl Iterator<Item = &ListItem> {
        self.active().filter(|s| !s.has_flag("trash"))
    }
    /// The status of a new opportunity: the one flagged `initial`, else the first active one.
    pub fn initial(&self) -> Result<&ListItem> {
        self.active()
            .find(|s| s.has_flag("initial"))
            .or_else(|| self.active().next())
            .ok_or(Error::InvalidState { reason: "error.no_status" })
    }
    /// The status set when a meeting is booked (flag `meeting_booked`), if any.
    pub fn meeting_booked(&self) -> Option<&ListItem> {
        self.active().find(|s| s.has_flag("meeting_booked"))
    }
    /// Codes of the statuses flagged `expiry_exempt`.
    pub fn exempt(&self) -> Vec<String> {
        self.0.iter().filter(|s| s.has_flag("expiry_exempt")).map(|s| s.code.clone()).collect()
    }
    pub fn label(&self, code: &str, lang: &crate::i18n::Lang) -> String {
        self.get(code).map(|s| s.label(lang).to_string()).unwrap_or_else(|| code.to_string())
    }
    /// The colour of a status badge, from its flags.
    pub fn badge(&self, code: &str) -> &'static str {
        match self.get(code) {
            Some(s) if s.has_flag("trash") => "badge-gray",
            Some(s) if s.has_flag("lost") => "badge-red",
            Some(s) if s.has_flag("sets_delivery_date") => "badge-green",
            Some(s) if s.has_flag("sets_sale_date") || s.has_flag("expiry_exempt") => "badge-teal",
            Some(s) if s.has_flag("meeting_booked") => "badge-purple",
            Some(s) if s.has_flag("initial") => "badge-blue",
            _ => "badge-amber",
        }
    }

    /// The statuses a user may choose from the current state, in list order, the current one
    /// included: those the workflow ([`Statuses::transition`]) accepts. Status drop-downs offer
    /// only these.
    pub fn choices(&self, cur: &Current<'_>, rights: RightSet, now: Millis) -> Vec<&ListItem> {
        self.active().filter(|s| self.transition(cur, &s.code, rights, now).is_ok()).collect()
    }

    /// The status workflow. A change is refused when:
    /// - the target is unknown or inactive (`error.invalid_choice`);
    /// - the opportunity is in the trash: it must be restored first (`error.opportunity_trashed`);
    /// - the target is a trash status and the user lacks `opportunities.trash`, or it sets the
    ///   sale or delivery date and the user lacks `opportunities.win` (`error.status_right`);
    /// - the target sets the delivery date and the opportunity was never sold, i.e. has no
    ///   sale date and the target does not set one either (`error.delivery_before_sale`).
    ///
    /// A target flagged `sets_sale_date` (a sold status: "Sold", and "Sold, not delivered",
    /// seed 003's "Vendu, en préparation") sets the sale date when the opportunity has none
    /// yet, and keeps the first one otherwise: no sold status is reachable without a sale date.
    ///
    /// Returns `None` when the status does not change.
    pub fn transition(&self, cur: &Current<'_>, to: &str, rights: RightSet, now: Millis) -> Result<Option<Transition>> {
        let target = self.get(to).filter(|s| s.active).ok_or_else(|| Error::validation("status", "error.invalid_choice"))?;
        if cur.trashed {
            return Err(Error::InvalidState { reason: "error.opportunity_trashed" });
        }
        if cur.status == to {
            return Ok(None);
        }
        let trash = target.has_flag("trash");
        let sets_sale = target.has_flag("sets_sale_date");
        let sets_delivery = target.has_flag("sets_delivery_date");
        if trash && !rights.contains(Right::OpportunitiesTrash) {
            return Err(Error::validation("status", "error.status_right"));
        }
        if (sets_sale || sets_delivery) && !rights.contains(Right::OpportunitiesWin) {
            return Err(Error::validation("status", "error.status_right"));
        }
        if sets_delivery && cur.sale_date.is_none() && !sets_sale {
            return Err(Error::validation("status", "error.delivery_before_sale"));
        }
        Ok(Some(Transition {
            from: cur.status.to_string(),
            to: to.to_string(),
            sale_date: (sets_sale && cur.sale_date.is_none()).then_some(now),
            delivery_date: sets_delivery.then_some(now),
            trash,
            follow_up: target.has_flag("auto_follow_up"),
            booked: target.has_flag("meeting_booked"),
            showed: target.has_flag("showed"),
            lost: target.has_flag("lost"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses() -> Statuses {
        let items = crate::lists::builtin_lists().into_iter().find(|l| l.code == "opportunity_status").unwrap().items;
        Statuses(
            items
                .iter()
                .enumerate()
                .map(|(i, (code, fr, en, flags))| ListItem {
                    id: i as i64,
                    list_code: "opportunity_status".into(),
                    code: code.to_string(),
                    label_fr: fr.to_string(),
                    label_en: en.to_string(),
                    position: i as i64,
                    active: true,
                    flags: flags.to_string(),
                })
                .collect(),
        )
    }

    fn all() -> RightSet {
        RightSet::all()
    }

    #[test]
    fn transitions_follow_the_status_table() {
        let s = statuses();
        let cur = Current { status: "en_traitement", sale_date: None, trashed: false };
        let t = s.transition(&cur, "pris_en_charge", all(), 5).unwrap().unwrap();
        assert_eq!((t.sale_date, t.delivery_date, t.trash, t.follow_up), (Some(5), None, false, false));
        let t = s.transition(&cur, "perdu_bdc", all(), 5).unwrap().unwrap();
        assert!(t.follow_up);
        let t = s.transition(&cur, "invalide_bdc", all(), 5).unwrap().unwrap();
        assert!(t.trash);
        assert!(s.transition(&cur, "en_traitement", all(), 5).unwrap().is_none());
        // Delivery needs a sale first.
        assert!(matches!(s.transition(&cur, "livre", all(), 5), Err(Error::Validation(_))));
        let sold = Current { status: "vendu_non_livre", sale_date: Some(1), trashed: false };
        assert_eq!(s.transition(&sold, "livre", all(), 9).unwrap().unwrap().delivery_date, Some(9));
        // Unknown status, trash, rights.
        assert!(matches!(s.transition(&cur, "nope", all(), 5), Err(Error::Validation(_))));
        let trashed = Current { status: "invalide_bdc", sale_date: None, trashed: true };
        assert!(matches!(s.transition(&trashed, "contacte", all(), 5), Err(Error::InvalidState { .. })));
        let rep: RightSet = [Right::OpportunitiesUpdate].into_iter().collect();
        assert!(s.transition(&cur, "contacte", rep, 5).unwrap().is_some());
        assert!(matches!(s.transition(&cur, "invalide_bdc", rep, 5), Err(Error::Validation(_))));
        assert!(matches!(s.transition(&cur, "pris_en_charge", rep, 5), Err(Error::Validation(_))));
        assert_eq!(s.initial().unwrap().code, "en_traitement");
        assert_eq!(s.meeting_booked().unwrap().code, "rdv_cedule");
        assert_eq!(s.exempt(), vec!["pris_en_charge", "vendu_non_livre", "suivi_long_terme"]);
    }

    #[test]
    fn choices_are_what_the_workflow_allows_for_the_user() {
        let s = statuses();
        let codes = |v: Vec<&ListItem>| v.into_iter().map(|i| i.code.clone()).collect::<Vec<_>>();
        let rep: RightSet = [Right::OpportunitiesUpdate].into_iter().collect();
        let cur = Current { status: "contacte", sale_date: None, trashed: false };
        let offered = codes(s.choices(&cur, rep, 1));
        assert!(offered.contains(&"contacte".to_string()), "the current status stays selectable");
        for forbidden in ["pris_en_charge", "vendu_non_livre", "livre", "invalide_bdc"] {
            assert!(!offered.contains(&forbidden.to_string()), "{forbidden} offered to a rep without the right");
        }
        let all_codes = codes(s.choices(&cur, all(), 1));
        assert!(!all_codes.contains(&"livre".to_string()), "no delivery before a sale");
        assert!(all_codes.contains(&"pris_en_charge".to_string()) && all_codes.contains(&"invalide_bdc".to_string()));
        let sold = Current { status: "vendu_non_livre", sale_date: Some(1), trashed: false };
        assert!(codes(s.choices(&sold, all(), 1)).contains(&"livre".to_string()));
        for code in &all_codes {
            assert!(s.transition(&cur, code, all(), 1).is_ok());
        }
    }

    #[test]
    fn sold_not_delivered_is_never_reached_without_a_sale_date() {
        let s = statuses();
        // Straight from an early status: the sale date is set, with the win right only.
        let cur = Current { status: "rdv_present", sale_date: None, trashed: false };
        let t = s.transition(&cur, "vendu_non_livre", all(), 7).unwrap().unwrap();
        assert_eq!((t.sale_date, t.delivery_date), (Some(7), None));
        let rep: RightSet = [Right::OpportunitiesUpdate].into_iter().collect();
        assert!(matches!(s.transition(&cur, "vendu_non_livre", rep, 7), Err(Error::Validation(_))));
        // Already sold: the first sale date stays.
        let sold = Current { status: "pris_en_charge", sale_date: Some(3), trashed: false };
        assert_eq!(s.transition(&sold, "vendu_non_livre", all(), 9).unwrap().unwrap().sale_date, None);
        // Every status flagged as sold ends with a sale date, whatever the starting point.
        for from in ["en_traitement", "contacte", "perdu_salle", "suivi_long_terme"] {
            for to in ["pris_en_charge", "vendu_non_livre"] {
                let cur = Current { status: from, sale_date: None, trashed: false };
                assert!(s.transition(&cur, to, all(), 1).unwrap().unwrap().sale_date.is_some(), "{from} -> {to}");
            }
        }
    }
}
