//! Service: customer-service requests (seeds 001 and 004) — a numbered request for a
//! customer, its requester and user contacts, customer updates ("Nouvelle action") that
//! drive its status and are emailed to the customer's contacts, and the equipment lines of
//! the customer's installed base with a symptom each.

pub mod calls;
pub mod documents;
pub mod equipment;
pub mod fieldwork;
pub mod interventions;
pub mod messages;
pub mod notes;
pub mod returns;
pub mod sla;
pub mod store;
pub mod summary;

use serde::{Deserialize, Serialize};

use crate::audit::Audited;
use crate::clock::format_ms;
use crate::error::{Error, FieldErrors, Result};

/// The longest description of a request.
pub const DESCRIPTION_MAX: usize = 20_000;

/// Where a request came from.
pub const SOURCES: &[&str] = &["staff", "phone", "email", "portal", "api"];

/// The status of a request. New requests are `nouveau`; customer updates move them to
/// `en_cours`, `planifie` or `cloture` (the update's status), and an update on a closed
/// request reopens it — except a second "closed", which is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Nouveau,
    EnCours,
    Planifie,
    Cloture,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 4] = [RequestStatus::Nouveau, RequestStatus::EnCours, RequestStatus::Planifie, RequestStatus::Cloture];
    /// The statuses a customer update may carry.
    pub const UPDATES: [RequestStatus; 3] = [RequestStatus::EnCours, RequestStatus::Planifie, RequestStatus::Cloture];

    pub fn code(self) -> &'static str {
        match self {
            RequestStatus::Nouveau => "nouveau",
            RequestStatus::EnCours => "en_cours",
            RequestStatus::Planifie => "planifie",
            RequestStatus::Cloture => "cloture",
        }
    }
    pub fn parse(s: &str) -> Option<RequestStatus> {
        Self::ALL.into_iter().find(|x| x.code() == s)
    }
    pub fn is_open(self) -> bool {
        self != RequestStatus::Cloture
    }
    pub fn badge(self) -> &'static str {
        match self {
            RequestStatus::Nouveau => "badge-blue",
            RequestStatus::EnCours => "badge-amber",
            RequestStatus::Planifie => "badge-purple",
            RequestStatus::Cloture => "badge-green",
        }
    }
    /// The statuses a customer update may carry from this one (the workflow's choices).
    pub fn update_choices(self) -> Vec<RequestStatus> {
        Self::UPDATES.into_iter().filter(|to| self.after_update(*to).is_ok()).collect()
    }
    /// The status an update form preselects: the current one when an update may keep it
    /// (a planned request stays planned), else the first choice ("in progress").
    pub fn update_default(self) -> RequestStatus {
        let choices = self.update_choices();
        if choices.contains(&self) {
            self
        } else {
            choices.first().copied().unwrap_or(RequestStatus::EnCours)
        }
    }
    /// The workflow of customer updates: the new status, or why not.
    pub fn after_update(self, update: RequestStatus) -> Result<RequestStatus> {
        match (self, update) {
            (_, RequestStatus::Nouveau) => Err(Error::validation("status", "error.invalid_choice")),
            (RequestStatus::Cloture, RequestStatus::Cloture) => Err(Error::InvalidState { reason: "error.request_closed" }),
            (_, to) => Ok(to),
        }
    }
}

/// A contact of the request's customer as shown in the request's context panel.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactRef {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceRequest {
    pub id: i64,
    /// Human-readable, e.g. `DEM-2026-000123`.
    pub number: String,
    pub customer_id: i64,
    pub customer_name: String,
    pub requester: Option<ContactRef>,
    pub user: Option<ContactRef>,
    pub request_type: String,
    pub symptom: Option<String>,
    pub source: String,
    pub description: String,
    pub status: RequestStatus,
    /// A `request_priority` code.
    pub priority: String,
    /// The first customer update, and the due times of the service levels (none: no target).
    pub first_update_at: Option<i64>,
    pub first_update_due_at: Option<i64>,
    pub close_due_at: Option<i64>,
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    pub branch_id: Option<i64>,
    pub branch_name: Option<String>,
    pub closed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The latest intervention, if any (the wrench icon of the list).
    pub intervention_id: Option<i64>,
}

impl Audited for ServiceRequest {
    const ENTITY: &'static str = "service_request";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("number", Some(self.number.clone())),
            ("customer", Some(format!("#{} {}", self.customer_id, self.customer_name))),
            ("requester", self.requester.as_ref().map(|c| c.name.clone())),
            ("user", self.user.as_ref().map(|c| c.name.clone())),
            ("request_type", Some(self.request_type.clone())),
            ("symptom", self.symptom.clone()),
            ("source", Some(self.source.clone())),
            ("description", Some(self.description.clone()).filter(|s| !s.is_empty())),
            ("status", Some(self.status.code().to_string())),
            ("priority", Some(self.priority.clone())),
            ("owner", self.owner_name.clone()),
            ("branch", self.branch_name.clone()),
            ("closed_at", self.closed_at.map(format_ms)),
        ]
    }
}

/// Request fields as typed or sent as JSON (the number and status are the system's).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestForm {
    #[serde(default)]
    pub customer_id: Option<i64>,
    #[serde(default)]
    pub requester_contact_id: Option<i64>,
    #[serde(default)]
    pub user_contact_id: Option<i64>,
    /// A `request_type` code (required).
    #[serde(default)]
    pub request_type: String,
    /// A `symptom` code: the general symptom.
    #[serde(default)]
    pub symptom: Option<String>,
    /// `staff` (default), `phone`, `email`, `portal` or `api`.
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub description: String,
    /// A `request_priority` code (default `normale`).
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub owner_id: Option<i64>,
    #[serde(default)]
    pub branch_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct RequestInput {
    pub customer_id: i64,
    pub requester_contact_id: Option<i64>,
    pub user_contact_id: Option<i64>,
    pub request_type: String,
    pub symptom: Option<String>,
    pub source: String,
    pub description: String,
    pub priority: String,
    pub owner_id: Option<i64>,
    pub branch_id: Option<i64>,
}

impl RequestForm {
    pub fn parse(&self) -> Result<RequestInput> {
        let mut errs = FieldErrors::new();
        if self.customer_id.is_none() {
            errs.add("customer_id", "error.required");
        }
        if self.request_type.trim().is_empty() {
            errs.add("request_type", "error.required");
        }
        let source = if self.source.trim().is_empty() { "staff".to_string() } else { self.source.trim().to_string() };
        if !SOURCES.contains(&source.as_str()) {
            errs.add("source", "error.invalid_choice");
        }
        if self.description.chars().count() > DESCRIPTION_MAX {
            errs.add("description", "error.too_long");
        }
        errs.into_result()?;
        Ok(RequestInput {
            customer_id: self.customer_id.unwrap_or_default(),
            requester_contact_id: self.requester_contact_id,
            user_contact_id: self.user_contact_id,
            request_type: self.request_type.trim().to_string(),
            symptom: self.symptom.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string),
            source,
            description: self.description.trim().to_string(),
            priority: self.priority.as_deref().map(str::trim).filter(|s| !s.is_empty()).unwrap_or("normale").to_string(),
            owner_id: self.owner_id,
            branch_id: self.branch_id,
        })
    }

    pub fn from_request(r: &ServiceRequest) -> RequestForm {
        RequestForm {
            customer_id: Some(r.customer_id),
            requester_contact_id: r.requester.as_ref().map(|c| c.id),
            user_contact_id: r.user.as_ref().map(|c| c.id),
            request_type: r.request_type.clone(),
            symptom: r.symptom.clone(),
            source: r.source.clone(),
            description: r.description.clone(),
            priority: Some(r.priority.clone()),
            owner_id: r.owner_id,
            branch_id: r.branch_id,
        }
    }
}

/// The `n`-th number of `year` for `prefix`: `DEM-2026-000123`.
pub fn number(prefix: &str, year: i32, n: i64) -> String {
    format!("{prefix}-{year}-{n:06}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_the_update_workflow() {
        assert_eq!(number("DEM", 2026, 123), "DEM-2026-000123");
        assert_eq!(RequestStatus::Nouveau.after_update(RequestStatus::Planifie).unwrap(), RequestStatus::Planifie);
        assert_eq!(RequestStatus::Cloture.after_update(RequestStatus::EnCours).unwrap(), RequestStatus::EnCours, "reopened");
        assert!(matches!(RequestStatus::Cloture.after_update(RequestStatus::Cloture), Err(Error::InvalidState { .. })));
        assert!(RequestStatus::EnCours.after_update(RequestStatus::Nouveau).is_err());
        for s in RequestStatus::ALL {
            assert_eq!(RequestStatus::parse(s.code()), Some(s));
        }
    }

    #[test]
    fn the_update_form_offers_the_workflow_choices_and_keeps_the_current_status() {
        use RequestStatus::*;
        assert_eq!(Nouveau.update_default(), EnCours);
        assert_eq!(EnCours.update_default(), EnCours);
        assert_eq!(Planifie.update_default(), Planifie);
        assert_eq!(Cloture.update_default(), EnCours, "a closed request is reopened, not closed again");
        assert_eq!(Planifie.update_choices(), vec![EnCours, Planifie, Cloture]);
        assert_eq!(Cloture.update_choices(), vec![EnCours, Planifie]);
        for from in RequestStatus::ALL {
            for to in from.update_choices() {
                assert!(from.after_update(to).is_ok());
            }
        }
    }
}
