//! The global search (issue 21, "Everywhere"): one query over customers, contacts,
//! opportunities, service requests (by number, in full or in part) and equipment (by serial
//! number), each kind read through its own module's storage with the user's visibility in SQL,
//! and each kind searched only when the user holds its read right. The top bar's search box,
//! the `/search` page and `GET /api/v1/search` all call [`search`].

use serde::Serialize;

use crate::access::Visibility;
use crate::db::page::PageReq;
use crate::db::Db;
use crate::error::{Error, Result};

/// The longest query, in characters.
pub const QUERY_MAX: usize = 100;
/// How many results of each kind are shown at most.
pub const PER_KIND: i64 = 8;

/// A query, trimmed and checked: at most [`QUERY_MAX`] characters, no control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query(String);

impl Query {
    /// `None` when nothing but spaces was typed.
    pub fn parse(raw: &str) -> Result<Option<Query>> {
        let q = raw.trim();
        if q.chars().count() > QUERY_MAX {
            return Err(Error::validation("q", "error.too_long"));
        }
        if q.chars().any(char::is_control) {
            return Err(Error::validation("q", "gsearch.invalid"));
        }
        Ok(if crate::search::fold(q).is_empty() { None } else { Some(Query(q.to_string())) })
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What a request number typed in full or in part means: the whole number
    /// (`DEM-2026-000123`, any case), a year and sequence (`2026-000123`), or the sequence
    /// alone (`000123`, `123`: that sequence in every year).
    pub fn request_number(&self) -> Option<NumberQuery> {
        let s = self.0.to_uppercase();
        let s = s.strip_prefix("DEM-").or_else(|| s.strip_prefix("DEM")).unwrap_or(&s);
        let parts: Vec<&str> = s.split('-').collect();
        let digits = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit());
        match parts.as_slice() {
            [seq] if digits(seq) && seq.len() <= 6 => Some(NumberQuery { year: None, seq: seq.parse().ok()? }),
            [year, seq] if digits(year) && year.len() == 4 && digits(seq) && seq.len() <= 6 => {
                Some(NumberQuery { year: Some(year.parse().ok()?), seq: seq.parse().ok()? })
            }
            _ => None,
        }
    }

    /// A serial number's beginning (serials are stored in upper case): one word of at least
    /// 3 characters.
    pub fn serial_prefix(&self) -> Option<String> {
        let s = self.0.to_uppercase();
        (s.chars().count() >= 3 && !s.contains(char::is_whitespace)).then_some(s)
    }
}

/// A request number searched: the sequence, in one year or in any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberQuery {
    pub year: Option<i32>,
    pub seq: i64,
}

/// The kinds of records found, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = SearchKind)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Requests,
    Customers,
    Contacts,
    Opportunities,
    Equipment,
}

impl Kind {
    pub fn code(self) -> &'static str {
        match self {
            Kind::Requests => "requests",
            Kind::Customers => "customers",
            Kind::Contacts => "contacts",
            Kind::Opportunities => "opportunities",
            Kind::Equipment => "equipment",
        }
    }
    /// The message key of the group's title.
    pub fn label_key(self) -> &'static str {
        match self {
            Kind::Requests => "gsearch.kind.requests",
            Kind::Customers => "gsearch.kind.customers",
            Kind::Contacts => "gsearch.kind.contacts",
            Kind::Opportunities => "gsearch.kind.opportunities",
            Kind::Equipment => "gsearch.kind.equipment",
        }
    }
}

/// One record found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SearchHit)]
pub struct Hit {
    pub id: i64,
    /// What people call it (a name, a number, a serial number).
    pub title: String,
    /// A second line (the customer, the model).
    pub detail: String,
    /// The page of the record.
    pub href: String,
}

/// The records of one kind.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SearchGroup)]
pub struct Group {
    pub kind: Kind,
    pub hits: Vec<Hit>,
    /// More records than shown.
    pub more: bool,
    /// The list showing them all, where there is one.
    pub all_href: Option<String>,
}

/// The kinds a user may search: each needs its read right.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allowed {
    pub customers: bool,
    pub opportunities: bool,
    pub requests: bool,
}

impl Allowed {
    /// The kinds `p` may search, from their read rights (equipment: customers and requests).
    pub fn of(p: &crate::access::Principal) -> Allowed {
        use crate::access::Right;
        Allowed {
            customers: p.can(Right::CustomersRead),
            opportunities: p.can(Right::OpportunitiesRead),
            requests: p.can(Right::ServiceRequestsRead),
        }
    }
    pub fn any(self) -> bool {
        self.customers || self.opportunities || self.requests
    }
}

fn encode(q: &str) -> String {
    url::form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

fn page() -> Result<PageReq> {
    PageReq::parse(Some(PER_KIND), None)
}

/// Every kind `allowed` matching `q`, each visible to `vis`; kinds with no result left out.
pub async fn search(db: &Db, vis: &Visibility, allowed: Allowed, q: &Query) -> Result<Vec<Group>> {
    let mut groups = Vec::new();
    let enc = encode(q.as_str());
    if allowed.requests {
        let mut hits: Vec<Hit> = Vec::new();
        if let Some(n) = q.request_number() {
            for r in crate::service::store::by_number(db, vis, n.year, n.seq, PER_KIND).await? {
                hits.push(Hit { id: r.0, title: r.1, detail: r.2, href: format!("/service/requests/{}", r.0) });
            }
        }
        let f = crate::service::store::Filter { q: Some(q.as_str().to_string()), ..Default::default() };
        let p = crate::service::store::list(db, vis, &f, &page()?).await?;
        let more = p.next.is_some();
        for r in p.items {
            if !hits.iter().any(|h| h.id == r.id) {
                hits.push(Hit { id: r.id, title: r.number, detail: r.customer_name, href: format!("/service/requests/{}", r.id) });
            }
        }
        let more = more || hits.len() > PER_KIND as usize;
        hits.truncate(PER_KIND as usize);
        push(&mut groups, Kind::Requests, hits, more, Some(format!("/service/requests?q={enc}")));
    }
    if allowed.customers {
        let f = crate::customers::store::Filter { q: Some(q.as_str().to_string()), ..Default::default() };
        let p = crate::customers::store::list(db, vis, &f, &page()?).await?;
        let more = p.next.is_some();
        let hits = p
            .items
            .into_iter()
            .map(|c| {
                let detail = [c.email.clone().unwrap_or_default(), c.phone.clone().or(c.mobile.clone()).unwrap_or_default()]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" · ");
                Hit { id: c.id, title: c.display_name, detail, href: format!("/customers/{}", c.id) }
            })
            .collect();
        push(&mut groups, Kind::Customers, hits, more, Some(format!("/customers?q={enc}")));
        let (contacts, more) = crate::customers::store::find_contacts(db, vis, q.as_str(), PER_KIND).await?;
        let hits = contacts
            .into_iter()
            .map(|c| Hit {
                id: c.id,
                title: c.name,
                detail: [c.customer_name, c.email.unwrap_or_default()]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" · "),
                href: format!("/customers/{}#contact-{}", c.customer_id, c.id),
            })
            .collect();
        push(&mut groups, Kind::Contacts, hits, more, None);
    }
    if allowed.opportunities {
        let f = crate::sales::store::Filter { q: Some(q.as_str().to_string()), ..Default::default() };
        let p = crate::sales::store::list(db, vis, &f, &page()?).await?;
        let more = p.next.is_some();
        let hits = p
            .items
            .into_iter()
            .map(|o| Hit { id: o.id, title: o.name, detail: o.customer_name, href: format!("/opportunities/{}", o.id) })
            .collect();
        push(&mut groups, Kind::Opportunities, hits, more, Some(format!("/opportunities?q={enc}")));
    }
    if allowed.requests && allowed.customers {
        if let Some(serial) = q.serial_prefix() {
            let (found, more) = crate::service::equipment::by_serial(db, vis, &serial, PER_KIND).await?;
            let hits = found
                .into_iter()
                .map(|e| {
                    let href = match e.request_id {
                        Some(r) => format!("/service/requests/{r}"),
                        None => format!("/customers/{}", e.customer_id),
                    };
                    let detail = [e.model, e.customer_name, e.request_number.unwrap_or_default()]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" · ");
                    Hit { id: e.id, title: e.serial_number, detail, href }
                })
                .collect();
            push(&mut groups, Kind::Equipment, hits, more, None);
        }
    }
    Ok(groups)
}

fn push(groups: &mut Vec<Group>, kind: Kind, hits: Vec<Hit>, more: bool, all_href: Option<String>) {
    if !hits.is_empty() {
        groups.push(Group { kind, hits, more, all_href: if more { all_href } else { None } });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::parse(s).unwrap().unwrap()
    }

    #[test]
    fn queries_and_request_numbers() {
        assert_eq!(Query::parse("   ").unwrap(), None);
        assert_eq!(Query::parse(" ;, ").unwrap(), None);
        assert!(Query::parse(&"a".repeat(QUERY_MAX + 1)).is_err());
        assert!(Query::parse("a\u{7}b").is_err());
        assert_eq!(q("DEM-2026-000123").request_number(), Some(NumberQuery { year: Some(2026), seq: 123 }));
        assert_eq!(q("dem-2026-000123").request_number(), Some(NumberQuery { year: Some(2026), seq: 123 }));
        assert_eq!(q("2026-000123").request_number(), Some(NumberQuery { year: Some(2026), seq: 123 }));
        assert_eq!(q("000123").request_number(), Some(NumberQuery { year: None, seq: 123 }));
        assert_eq!(q("123").request_number(), Some(NumberQuery { year: None, seq: 123 }));
        assert_eq!(q("Dupont").request_number(), None);
        assert_eq!(q("5145550123").request_number(), None, "a phone number is not a sequence");
        assert_eq!(q("ab").serial_prefix(), None);
        assert_eq!(q("sn-12").serial_prefix(), Some("SN-12".into()));
        assert_eq!(q("jean dupont").serial_prefix(), None);
    }
}
