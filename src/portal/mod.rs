//! The customer portal: the second kind of user. A portal account belongs to one contact of
//! one customer organisation (a company customer; a person customer is their own
//! organisation) and sees only what belongs to that organisation.
//!
//! - [`accounts`]: invitations, single-use links (first password, reset), activation, portal
//!   administrators, the personal calendar feed.
//! - [`session`]: the portal's own sessions (its own cookie), turned into a [`PortalUser`].
//! - [`store`]: every read and write a portal user makes, each filtered by the organisation
//!   taken from the session (`PortalUser::customer_id`), never from the URL or a form: a record
//!   of another organisation is `None`, exactly as an unknown id.

pub mod accounts;
pub mod realm;
pub mod session;
pub mod store;

use serde::Serialize;

use crate::audit::{Actor, Audited};
use crate::clock::Zone;
use crate::i18n::Lang;

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Invited: no password set yet.
    Invited,
    Active,
    Deactivated,
}

impl Status {
    pub fn code(self) -> &'static str {
        match self {
            Status::Invited => "invited",
            Status::Active => "active",
            Status::Deactivated => "deactivated",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        [Status::Invited, Status::Active, Status::Deactivated].into_iter().find(|x| x.code() == s)
    }
    pub fn badge(self) -> &'static str {
        match self {
            Status::Invited => "badge-amber",
            Status::Active => "badge-green",
            Status::Deactivated => "badge-gray",
        }
    }
}

/// A portal account as staff see it on the customer page.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: i64,
    pub customer_id: i64,
    pub contact_id: Option<i64>,
    pub email: String,
    pub name: String,
    pub language: Lang,
    pub is_admin: bool,
    pub status: Status,
    pub has_calendar: bool,
    pub invited_by_name: String,
    pub invited_at: i64,
    pub last_login_at: Option<i64>,
    pub created_at: i64,
}

impl Audited for Account {
    const ENTITY: &'static str = "portal_account";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("email", Some(self.email.clone())),
            ("name", Some(self.name.clone())),
            ("language", Some(self.language.code().to_string())),
            ("portal_admin", Some(self.is_admin.to_string())),
            ("status", Some(self.status.code().to_string())),
            ("calendar_feed", Some(self.has_calendar.to_string())),
        ]
    }
}

/// The logged-in portal user: who they are and, above all, which organisation they belong to.
#[derive(Debug, Clone)]
pub struct PortalUser {
    pub account_id: i64,
    /// The organisation: every portal query is filtered by it.
    pub customer_id: i64,
    pub customer_name: String,
    pub contact_id: Option<i64>,
    pub name: String,
    pub email: String,
    pub language: Lang,
    pub is_admin: bool,
    /// The customer's setting: its portal administrators may invite colleagues.
    pub admin_invites: bool,
    pub csrf_token: String,
    pub session_hash: String,
    pub zone: Zone,
}

impl PortalUser {
    /// Who appears in histories: the person and their organisation (no staff user id).
    pub fn actor(&self, request_id: &str) -> Actor {
        Actor { id: None, name: format!("{} ({})", self.name, self.customer_name), request_id: Some(request_id.to_string()) }
    }
    /// Whether they may invite colleagues of their organisation.
    pub fn can_invite(&self) -> bool {
        self.is_admin && self.admin_invites
    }
}
