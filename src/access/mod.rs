//! Rights, roles and visibility: who may do what, and who may see which records.
//!
//! - A [`Right`] is a named code (`customers.read`, `admin.users`…). Every route declares the
//!   right it needs in `src/http/router.rs`; the server refuses with 403 otherwise.
//! - A role is a set of rights plus a visibility [`Scope`]. Each user has one role.
//! - [`Visibility`] is the one filter that every list, search, count, export and detail
//!   lookup applies to records that have an owner and an org unit.

pub mod cache;
pub mod roles;
mod visibility;

pub use visibility::Visibility;

use serde::Serialize;

macro_rules! rights {
    ($($variant:ident => $code:literal, $group:literal;)*) => {
        /// Every right Carnet knows. Codes are stable: they are stored in `role_rights`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum Right { $($variant),* }

        impl Right {
            pub const ALL: &'static [Right] = &[$(Right::$variant),*];

            pub fn code(self) -> &'static str {
                match self { $(Right::$variant => $code),* }
            }

            /// The area the right belongs to, for grouping in the role editor.
            pub fn group(self) -> &'static str {
                match self { $(Right::$variant => $group),* }
            }

            pub fn from_code(code: &str) -> Option<Right> {
                match code { $($code => Some(Right::$variant),)* _ => None }
            }
        }
    };
}

rights! {
    UsersRead => "users.read", "users";
    CustomersRead => "customers.read", "customers";
    CustomersCreate => "customers.create", "customers";
    CustomersCreateDuplicate => "customers.create_duplicate", "customers";
    CustomersUpdate => "customers.update", "customers";
    CustomersDelete => "customers.delete", "customers";
    CustomersMerge => "customers.merge", "customers";
    CustomersImport => "customers.import", "customers";
    CustomersExport => "customers.export", "customers";
    CustomersPortal => "customers.portal", "customers";
    OpportunitiesRead => "opportunities.read", "sales";
    OpportunitiesCreate => "opportunities.create", "sales";
    OpportunitiesUpdate => "opportunities.update", "sales";
    OpportunitiesWin => "opportunities.win", "sales";
    OpportunitiesTrash => "opportunities.trash", "sales";
    OpportunitiesRestore => "opportunities.restore", "sales";
    OpportunitiesExport => "opportunities.export", "sales";
    LeadsCreate => "leads.create", "sales";
    MeetingsRead => "meetings.read", "sales";
    MeetingsCreate => "meetings.create", "sales";
    MeetingsUpdate => "meetings.update", "sales";
    CallsRead => "calls.read", "sales";
    CallsCreate => "calls.create", "sales";
    CallsUpdate => "calls.update", "sales";
    StockRead => "stock.read", "sales";
    StockManage => "stock.manage", "sales";
    ServiceRequestsRead => "service.requests.read", "service";
    ServiceRequestsCreate => "service.requests.create", "service";
    ServiceRequestsUpdate => "service.requests.update", "service";
    ServiceRequestsExport => "service.requests.export", "service";
    ServiceContactCreate => "service.contact.create", "service";
    ServiceContactUpdate => "service.contact.update", "service";
    ServiceEquipmentManage => "service.equipment.manage", "service";
    InterventionsRead => "service.interventions.read", "service";
    InterventionsCreate => "service.interventions.create", "service";
    InterventionsUpdate => "service.interventions.update", "service";
    // Who is assigned interventions: the planning's columns and the technician pickers.
    InterventionsPerform => "service.interventions.perform", "service";
    ReturnsRead => "service.returns.read", "service";
    ReturnsCreate => "service.returns.create", "service";
    ReturnsUpdate => "service.returns.update", "service";
    DocumentsRead => "service.documents.read", "service";
    DocumentsCreate => "service.documents.create", "service";
    DocumentsDelete => "service.documents.delete", "service";
    ServiceMailSend => "service.mail.send", "service";
    ServiceMessages => "service.messages", "service";
    ServiceInboundManage => "service.inbound.manage", "service";
    PresalesManage => "presales.manage", "presales";
    PresalesAllTeams => "presales.all_teams", "presales";
    PartnersRead => "partners.read", "partners";
    PartnersManage => "partners.manage", "partners";
    NewsPublish => "news.publish", "partners";
    AdminUsers => "admin.users", "admin";
    AdminRoles => "admin.roles", "admin";
    AdminOrg => "admin.org", "admin";
    AdminGroups => "admin.groups", "admin";
    AdminLists => "admin.lists", "admin";
    AdminSettings => "admin.settings", "admin";
    AdminJobs => "admin.jobs", "admin";
    AdminAudit => "admin.audit", "admin";
    AdminMail => "admin.mail", "admin";
    AdminHiddenFields => "admin.hidden_fields", "admin";
}

impl Right {
    /// The message key of the right's description.
    pub fn label_key(self) -> String {
        format!("right.{}", self.code())
    }
}

/// A set of rights as a bit set (cheap to copy into every request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RightSet(u128);

impl RightSet {
    pub fn insert(&mut self, r: Right) {
        self.0 |= 1u128 << (r as u32);
    }
    pub fn contains(self, r: Right) -> bool {
        self.0 & (1u128 << (r as u32)) != 0
    }
    pub fn all() -> Self {
        let mut s = Self::default();
        for r in Right::ALL {
            s.insert(*r);
        }
        s
    }
    /// The rights in either set.
    pub fn union(self, other: RightSet) -> RightSet {
        RightSet(self.0 | other.0)
    }
    /// The rights of `self` that are not in `other`.
    pub fn minus(self, other: RightSet) -> RightSet {
        RightSet(self.0 & !other.0)
    }
    pub fn iter(self) -> impl Iterator<Item = Right> {
        Right::ALL.iter().copied().filter(move |r| self.contains(*r))
    }
}

impl FromIterator<Right> for RightSet {
    fn from_iter<I: IntoIterator<Item = Right>>(iter: I) -> Self {
        let mut s = Self::default();
        for r in iter {
            s.insert(r);
        }
        s
    }
}

/// How far a role sees into the sales structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Only records the user owns.
    Own,
    /// Records of the user's org unit.
    Unit,
    /// Records of the user's org unit and every unit below it.
    Subtree,
    /// Every record.
    All,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Own, Scope::Unit, Scope::Subtree, Scope::All];

    pub fn code(self) -> &'static str {
        match self {
            Scope::Own => "own",
            Scope::Unit => "unit",
            Scope::Subtree => "subtree",
            Scope::All => "all",
        }
    }
    pub fn from_code(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.code() == s)
    }
}

/// The authenticated staff user a request acts for (from a session or an API token).
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub language: crate::i18n::Lang,
    pub role_code: String,
    /// The business's time zone (setting `ui.timezone`), for the times shown to this user.
    pub zone: crate::clock::Zone,
    pub rights: RightSet,
    pub visibility: Visibility,
    /// Present for cookie sessions: the token every state-changing form must echo.
    pub csrf_token: Option<String>,
    /// Present for cookie sessions: the hashed session id.
    pub session_hash: Option<String>,
    /// A session of a user whose role requires a second factor they have not set up: the
    /// guard lets them reach only the enrolment pages. Never set for API tokens.
    pub second_factor_due: bool,
}

impl Principal {
    pub fn can(&self, r: Right) -> bool {
        self.rights.contains(r)
    }
    /// Administrators see admin-only fields (which nobody writes through the UI or API).
    pub fn sees_hidden_fields(&self) -> bool {
        self.can(Right::AdminHiddenFields)
    }
    pub fn actor(&self, request_id: &str) -> Actor {
        Actor { id: Some(self.user_id), name: self.name.clone(), request_id: Some(request_id.to_string()) }
    }
}

/// Who made a change: defined with the change history.
pub use crate::audit::Actor;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in Right::ALL {
            assert_eq!(Right::from_code(r.code()), Some(*r));
            assert!(seen.insert(r.code()));
        }
        assert!(Right::ALL.len() < 128);
    }

    #[test]
    fn right_set() {
        let s: RightSet = [Right::AdminUsers, Right::UsersRead].into_iter().collect();
        assert!(s.contains(Right::AdminUsers));
        assert!(!s.contains(Right::AdminRoles));
        assert_eq!(s.iter().count(), 2);
    }
}
