//! Partners (resellers): the third kind of user. A partner user belongs to one partner
//! organisation and sees only what belongs to it; staff follow partners through the
//! partner's channel manager (`owner_id`) and org unit (`unit_id`), the usual visibility.
//!
//! - this file: the types and rules (no SQL, no HTTP);
//! - [`store`]: partner organisations, partner opportunities and news, each partner-side read
//!   filtered by the organisation taken from the session ([`PartnerUser::partner_id`]), never
//!   from the URL or a form: another organisation's record is `None`, as an unknown id.
//!
//! Tables (migration 0021): `partners`, `partner_users`, `partner_links`, `partner_sessions`,
//! `partner_opportunities`, `news_items`, `news_item_partners`, `news_reads`.

pub mod accounts;
pub mod news;
pub mod session;
pub mod store;

use serde::Serialize;
use sqlx::FromRow;

use crate::audit::{Actor, Audited};
use crate::clock::Zone;
use crate::i18n::Lang;
pub use crate::portal::Status;

/// The value list of partner opportunity types.
pub const TYPE_LIST: &str = "partner_opportunity_type";
/// The flag of the types eligible for a pre-sales request (`primo` carries it by default).
pub const FLAG_PRESALES: &str = "presales";
/// The value list of partner opportunity statuses.
pub const STATUS_LIST: &str = "partner_opportunity_status";
/// The status flag of the status a new opportunity starts in.
pub const FLAG_INITIAL: &str = "initial";

/// A partner organisation as staff see it.
#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct Partner {
    pub id: i64,
    pub name: String,
    #[sqlx(try_from = "crate::db::Flag")]
    pub active: bool,
    pub unit_id: i64,
    pub unit_name: String,
    /// The channel manager (a staff user).
    pub owner_id: i64,
    pub owner_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[sqlx(try_from = "crate::db::Flag")]
    pub admin_invites: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Audited for Partner {
    const ENTITY: &'static str = "partner";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("name", Some(self.name.clone())),
            ("active", Some(self.active.to_string())),
            ("unit_id", Some(self.unit_id.to_string())),
            ("owner_id", Some(self.owner_id.to_string())),
            ("email", self.email.clone()),
            ("phone", self.phone.clone()),
            ("admin_invites", Some(self.admin_invites.to_string())),
        ]
    }
}

/// A partner user's account, as staff and the partner's administrators see it.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: i64,
    pub partner_id: i64,
    pub email: String,
    pub name: String,
    pub language: Lang,
    pub phone: Option<String>,
    pub is_admin: bool,
    /// The partner right "Opportunités": partner opportunities and pre-sales requests.
    pub can_opportunities: bool,
    pub status: Status,
    pub invited_by_name: String,
    pub invited_at: i64,
    pub last_login_at: Option<i64>,
    pub created_at: i64,
}

impl Audited for Account {
    const ENTITY: &'static str = "partner_user";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("email", Some(self.email.clone())),
            ("name", Some(self.name.clone())),
            ("language", Some(self.language.code().to_string())),
            ("phone", self.phone.clone()),
            ("partner_admin", Some(self.is_admin.to_string())),
            ("can_opportunities", Some(self.can_opportunities.to_string())),
            ("status", Some(self.status.code().to_string())),
        ]
    }
}

/// The logged-in partner user: who they are and, above all, which organisation they belong to.
#[derive(Debug, Clone)]
pub struct PartnerUser {
    pub user_id: i64,
    /// The organisation: every partner query is filtered by it.
    pub partner_id: i64,
    pub partner_name: String,
    pub name: String,
    pub email: String,
    pub language: Lang,
    pub is_admin: bool,
    pub can_opportunities: bool,
    /// The partner's setting: its administrators may invite colleagues.
    pub admin_invites: bool,
    pub csrf_token: String,
    pub session_hash: String,
    pub zone: Zone,
}

impl PartnerUser {
    /// Who appears in histories: the person and their organisation (no staff user id).
    pub fn actor(&self, request_id: &str) -> Actor {
        Actor { id: None, name: format!("{} ({})", self.name, self.partner_name), request_id: Some(request_id.to_string()) }
    }
    /// Whether they may invite colleagues of their organisation.
    pub fn can_invite(&self) -> bool {
        self.is_admin && self.admin_invites
    }
}

/// A partner opportunity.
#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
#[schema(as = PartnerOpportunity)]
pub struct Opportunity {
    pub id: i64,
    pub partner_id: i64,
    pub partner_name: String,
    pub customer_name: String,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub product_interest: Option<String>,
    pub amount_cents: Option<i64>,
    /// A calendar date, `YYYY-MM-DD`.
    pub expected_close_date: Option<String>,
    /// A code of the list `partner_opportunity_type`.
    pub opportunity_type: String,
    /// A code of the list `partner_opportunity_status`.
    pub status: String,
    pub description: Option<String>,
    pub created_by_user_id: Option<i64>,
    pub created_by_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Audited for Opportunity {
    const ENTITY: &'static str = "partner_opportunity";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("customer_name", Some(self.customer_name.clone())),
            ("contact_name", self.contact_name.clone()),
            ("contact_email", self.contact_email.clone()),
            ("contact_phone", self.contact_phone.clone()),
            ("product_interest", self.product_interest.clone()),
            ("amount", self.amount_cents.map(format_amount)),
            ("expected_close_date", self.expected_close_date.clone()),
            ("opportunity_type", Some(self.opportunity_type.clone())),
            ("status", Some(self.status.clone())),
            ("description", self.description.clone()),
        ]
    }
}

pub use crate::money::{format_amount, parse_amount};

/// Who reads a news item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    All,
    Some,
}

impl Audience {
    pub fn code(self) -> &'static str {
        match self {
            Audience::All => "all",
            Audience::Some => "some",
        }
    }
    pub fn parse(s: &str) -> Option<Audience> {
        [Audience::All, Audience::Some].into_iter().find(|a| a.code() == s)
    }
}

/// A news item (without its image bytes).
#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct NewsItem {
    pub id: i64,
    pub title: String,
    pub summary: String,
    /// Safe formatted text: rendered by [`crate::partners::store`]'s callers through the
    /// escaping formatter, never as raw HTML.
    pub body: String,
    pub has_image: i64,
    pub published_at: i64,
    pub audience: String,
    pub author_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Audited for NewsItem {
    const ENTITY: &'static str = "news_item";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("title", Some(self.title.clone())),
            ("summary", Some(self.summary.clone())),
            ("body", Some(self.body.clone())),
            ("published_at", Some(self.published_at.to_string())),
            ("audience", Some(self.audience.clone())),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_as_people_type_them() {
        assert_eq!(parse_amount("12 500"), Some(1_250_000));
        assert_eq!(parse_amount("12500,5"), Some(1_250_050));
        assert_eq!(parse_amount("0.07"), Some(7));
        assert_eq!(parse_amount("-3"), None);
        assert_eq!(parse_amount("1.234"), None);
        assert_eq!(parse_amount("abc"), None);
        assert_eq!(format_amount(1_250_050), "12500.50");
    }
}
