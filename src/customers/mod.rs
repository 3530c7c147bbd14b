//! Customers and contacts: the address book that sales and service share.
//!
//! A customer is a person (B2C) or a company (B2B) with contacts. Phones are stored in
//! E.164 and emails lower-cased: that is how a returning customer is recognised
//! ([`store::duplicates`], [`store::lookup`]). Every list, search, export and detail lookup
//! applies the caller's visibility (owner, branch).

pub mod files;
pub mod import;
pub mod phone;
pub mod store;

use serde::{Deserialize, Serialize};

use crate::audit::Audited;
use crate::error::{Error, FieldErrors, Result};
use crate::i18n::Lang;
use crate::identity::Email;
use phone::Phone;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Person,
    Company,
}

impl Kind {
    pub fn code(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::Company => "company",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "person" => Some(Kind::Person),
            "company" => Some(Kind::Company),
            _ => None,
        }
    }
}

/// A customer record as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Customer {
    pub id: i64,
    pub kind: Kind,
    pub civility: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub company_name: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub address: String,
    pub language: Lang,
    pub branch_id: Option<i64>,
    pub branch_name: Option<String>,
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    pub notes: String,
    pub particularities: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Audited for Customer {
    const ENTITY: &'static str = "customer";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        vec![
            ("kind", Some(self.kind.code().into())),
            ("civility", self.civility.clone()),
            ("first_name", opt(&self.first_name)),
            ("last_name", opt(&self.last_name)),
            ("company_name", opt(&self.company_name)),
            ("email", self.email.clone()),
            ("phone", self.phone.clone()),
            ("mobile", self.mobile.clone()),
            ("address", opt(&self.address)),
            ("language", Some(self.language.code().into())),
            ("branch", self.branch_name.clone()),
            ("owner", self.owner_name.clone()),
            ("notes", opt(&self.notes)),
            ("particularities", Some(self.particularities.join(" ")).filter(|s| !s.is_empty())),
        ]
    }
}

/// A customer as the list shows it (page and `GET /api/v1/customers`): its name and kind,
/// email, phones, branch, owner and creation, read without the rest of the record (issue 15:
/// lists return only the columns they show). The whole record: `GET /api/v1/customers/{id}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerListItem {
    pub id: i64,
    pub kind: Kind,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub branch_id: Option<i64>,
    pub branch_name: Option<String>,
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    pub created_at: i64,
}

/// Customer fields as typed in a form or sent as JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerForm {
    /// `person` or `company`.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub civility: Option<String>,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub company_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub mobile: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub branch_id: Option<i64>,
    #[serde(default)]
    pub owner_id: Option<i64>,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub particularities: Vec<String>,
}

/// Validated customer input.
#[derive(Debug, Clone)]
pub struct CustomerInput {
    pub kind: Kind,
    pub civility: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub company_name: String,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub mobile: Option<Phone>,
    pub address: String,
    pub language: Lang,
    pub branch_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub notes: String,
    pub particularities: Vec<String>,
}

impl CustomerInput {
    pub fn display_name(&self) -> String {
        match self.kind {
            Kind::Company => self.company_name.clone(),
            Kind::Person => format!("{} {}", self.first_name, self.last_name).trim().to_string(),
        }
    }
}

/// The longest first or last name, in characters (trimmed).
pub const NAME_MAX: usize = 100;
/// The longest company name.
pub const COMPANY_MAX: usize = 200;
/// The longest postal address.
pub const ADDRESS_MAX: usize = 500;
/// The longest notes.
pub const NOTES_MAX: usize = 10_000;
/// The most particularities of a customer or contact.
pub const PARTICULARITIES_MAX: usize = 50;

fn text(errs: &mut FieldErrors, field: &str, v: &str, max: usize) -> String {
    let v = v.trim();
    if v.chars().count() > max {
        errs.add(field, "error.too_long");
    }
    v.to_string()
}

/// Particularities (codes of the `customer_particularity` list, checked by the store): at
/// most [`PARTICULARITIES_MAX`], sorted, without repeats.
fn particularities(errs: &mut FieldErrors, raw: &[String]) -> Vec<String> {
    if raw.len() > PARTICULARITIES_MAX {
        errs.add("particularities", "error.too_many");
    }
    let mut p = raw.to_vec();
    p.sort();
    p.dedup();
    p
}

/// Parses an optional email field.
pub fn opt_email(errs: &mut FieldErrors, field: &str, raw: &str) -> Option<Email> {
    if raw.trim().is_empty() {
        return None;
    }
    match Email::parse(raw) {
        Ok(e) => Some(e),
        Err(r) => {
            errs.add(field, r);
            None
        }
    }
}

/// Parses an optional phone field.
pub fn opt_phone(errs: &mut FieldErrors, field: &str, raw: &str, region: &str) -> Option<Phone> {
    if raw.trim().is_empty() {
        return None;
    }
    match Phone::parse(raw, region) {
        Ok(p) => Some(p),
        Err(r) => {
            errs.add(field, r);
            None
        }
    }
}

impl CustomerForm {
    /// Checks every field; `region` is the default region for phone numbers.
    pub fn parse(&self, region: &str) -> Result<CustomerInput> {
        let mut errs = FieldErrors::new();
        let kind = Kind::parse(if self.kind.is_empty() { "person" } else { &self.kind });
        if kind.is_none() {
            errs.add("kind", "error.invalid_choice");
        }
        let first_name = text(&mut errs, "first_name", &self.first_name, NAME_MAX);
        let last_name = text(&mut errs, "last_name", &self.last_name, NAME_MAX);
        let company_name = text(&mut errs, "company_name", &self.company_name, COMPANY_MAX);
        match kind {
            Some(Kind::Person) if first_name.is_empty() && last_name.is_empty() => errs.add("last_name", "error.name_required"),
            Some(Kind::Company) if company_name.is_empty() => errs.add("company_name", "error.required"),
            _ => {}
        }
        let email = opt_email(&mut errs, "email", &self.email);
        let phone = opt_phone(&mut errs, "phone", &self.phone, region);
        let mobile = opt_phone(&mut errs, "mobile", &self.mobile, region);
        let language = match self.language.as_deref().filter(|s| !s.is_empty()) {
            None => Some(Lang::Fr),
            Some(s) => Lang::parse(s),
        };
        if language.is_none() {
            errs.add("language", "error.invalid_choice");
        }
        let address = text(&mut errs, "address", &self.address, ADDRESS_MAX);
        let notes = text(&mut errs, "notes", &self.notes, NOTES_MAX);
        let civility = self.civility.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        let particularities = particularities(&mut errs, &self.particularities);
        errs.into_result()?;
        Ok(CustomerInput {
            kind: kind.ok_or(Error::NotFound)?,
            civility,
            first_name,
            last_name,
            company_name,
            email,
            phone,
            mobile,
            address,
            language: language.unwrap_or_default(),
            branch_id: self.branch_id,
            owner_id: self.owner_id,
            notes,
            particularities,
        })
    }

    pub fn from_customer(c: &Customer) -> CustomerForm {
        CustomerForm {
            kind: c.kind.code().into(),
            civility: c.civility.clone(),
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            company_name: c.company_name.clone(),
            email: c.email.clone().unwrap_or_default(),
            phone: c.phone.clone().unwrap_or_default(),
            mobile: c.mobile.clone().unwrap_or_default(),
            address: c.address.clone(),
            language: Some(c.language.code().into()),
            branch_id: c.branch_id,
            owner_id: c.owner_id,
            notes: c.notes.clone(),
            particularities: c.particularities.clone(),
        }
    }
}

/// A contact of a company customer.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Contact {
    pub id: i64,
    pub customer_id: i64,
    pub civility: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub particularities: String,
    pub notes: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Contact {
    pub fn name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name).trim().to_string()
    }
}

impl Audited for Contact {
    const ENTITY: &'static str = "contact";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        vec![
            ("customer_id", Some(self.customer_id.to_string())),
            ("civility", self.civility.clone()),
            ("first_name", opt(&self.first_name)),
            ("last_name", opt(&self.last_name)),
            ("email", self.email.clone()),
            ("phone", self.phone.clone()),
            ("mobile", self.mobile.clone()),
            ("particularities", opt(&self.particularities)),
            ("notes", opt(&self.notes)),
        ]
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactForm {
    #[serde(default)]
    pub civility: Option<String>,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub mobile: String,
    #[serde(default)]
    pub particularities: Vec<String>,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone)]
pub struct ContactInput {
    pub civility: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub mobile: Option<Phone>,
    pub particularities: String,
    pub notes: String,
}

impl ContactForm {
    pub fn parse(&self, region: &str) -> Result<ContactInput> {
        let mut errs = FieldErrors::new();
        let first_name = text(&mut errs, "first_name", &self.first_name, NAME_MAX);
        let last_name = text(&mut errs, "last_name", &self.last_name, NAME_MAX);
        if first_name.is_empty() && last_name.is_empty() {
            errs.add("last_name", "error.name_required");
        }
        let email = opt_email(&mut errs, "email", &self.email);
        let phone = opt_phone(&mut errs, "phone", &self.phone, region);
        let mobile = opt_phone(&mut errs, "mobile", &self.mobile, region);
        let notes = text(&mut errs, "notes", &self.notes, NOTES_MAX);
        let civility = self.civility.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        let p = particularities(&mut errs, &self.particularities);
        errs.into_result()?;
        Ok(ContactInput { civility, first_name, last_name, email, phone, mobile, particularities: p.join(" "), notes })
    }

    pub fn from_contact(c: &Contact) -> ContactForm {
        ContactForm {
            civility: c.civility.clone(),
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            email: c.email.clone().unwrap_or_default(),
            phone: c.phone.clone().unwrap_or_default(),
            mobile: c.mobile.clone().unwrap_or_default(),
            particularities: c.particularities.split_whitespace().map(str::to_string).collect(),
            notes: c.notes.clone(),
        }
    }
}

/// A contact as a vCard 3.0 (for address books).
pub fn vcard(c: &Contact, company: &str) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace(',', "\\,").replace(';', "\\;").replace(['\r', '\n'], " ");
    let mut out = vec![
        "BEGIN:VCARD".to_string(),
        "VERSION:3.0".into(),
        format!("N:{};{};;{};", esc(&c.last_name), esc(&c.first_name), esc(c.civility.as_deref().unwrap_or(""))),
        format!("FN:{}", esc(&c.name())),
    ];
    if !company.is_empty() {
        out.push(format!("ORG:{}", esc(company)));
    }
    if let Some(e) = &c.email {
        out.push(format!("EMAIL;TYPE=INTERNET,WORK:{}", esc(e)));
    }
    if let Some(p) = &c.phone {
        out.push(format!("TEL;TYPE=WORK,VOICE:{p}"));
    }
    if let Some(m) = &c.mobile {
        out.push(format!("TEL;TYPE=CELL:{m}"));
    }
    out.push("END:VCARD".into());
    out.join("\r\n") + "\r\n"
}

/// A spreadsheet cell that cannot be read as a formula: values starting with `=`, `+`, `-`,
/// `@`, tab or CR get a leading apostrophe.
pub fn csv_safe(v: &str) -> String {
    // A spreadsheet may split a cell at a separator or skip leading blanks: a formula sign
    // after any of them (`;=cmd`, ` =cmd`, `,@SUM`) is a formula too.
    let first = v.trim_start_matches([' ', ';', ',', '|', '"', '\'', '\n']).chars().next();
    match (v.chars().next(), first) {
        (Some('\t' | '\r'), _) | (_, Some('=' | '+' | '-' | '@' | '\t' | '\r')) => format!("'{v}"),
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_neutralised() {
        assert_eq!(csv_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_safe("+15145550199"), "'+15145550199");
        assert_eq!(csv_safe("-1"), "'-1");
        assert_eq!(csv_safe("@SUM"), "'@SUM");
        assert_eq!(csv_safe("\tx"), "'\tx");
        assert_eq!(csv_safe("Tremblay"), "Tremblay");
        for v in [";=cmd|' /C calc'!A0", ",@SUM(A1)", " =1+1", "|+1", "\"=x", "; ;-2"] {
            assert_eq!(csv_safe(v), format!("'{v}"), "{v}");
        }
        assert_eq!(csv_safe("Côté; Tremblay"), "Côté; Tremblay");
        assert_eq!(csv_safe("; note"), "; note");
    }

    #[test]
    fn form_validation() {
        let f = CustomerForm { kind: "person".into(), email: "nope".into(), phone: "abc".into(), ..Default::default() };
        let Err(Error::Validation(e)) = f.parse("CA") else { panic!("expected validation") };
        assert!(e.get("email").is_some() && e.get("phone").is_some() && e.get("last_name").is_some());
        let f = CustomerForm { kind: "company".into(), company_name: "Acme".into(), phone: "(514) 555 0199".into(), ..Default::default() };
        let i = f.parse("CA").unwrap();
        assert_eq!(i.phone.as_ref().unwrap().as_str(), "+15145550199");
        assert_eq!(i.display_name(), "Acme");
    }
}
