//! The customer's open files in every department (opportunities in sales, requests in
//! service), for the customer page, the opportunity and meeting pages and
//! `GET /api/v1/customers/{id}/open-files`.
//!
//! Customers sit below the departments (an opportunity or a request points at its customer),
//! so this module does not import them: each department feeds its files through a
//! [`Department`], and the list of departments is assembled at the root
//! (`crate::wiring::DEPARTMENTS`).

use futures_util::future::BoxFuture;
use serde::Serialize;

use crate::access::{Principal, Right, Visibility};
use crate::db::Db;
use crate::error::Result;
use crate::i18n::Lang;

/// One open file (an opportunity or a service request) of a customer, as shown to anyone who
/// may see the customer: names and statuses only where the user's own visibility would hide
/// the file.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OpenFile {
    /// `opportunity` or `service_request`.
    pub kind: String,
    pub id: i64,
    pub name: String,
    pub status: String,
    pub status_label: String,
    pub owner_name: Option<String>,
    pub branch_name: Option<String>,
    /// Whether the user may open it.
    pub visible: bool,
    /// Where it opens (when visible).
    pub href: String,
    pub created_at: i64,
}

/// A department's open files of a customer: every open file, with `visible` telling whether
/// `Visibility` lets the user see it.
pub type Fetch = for<'a> fn(&'a Db, &'a Visibility, i64, Lang) -> BoxFuture<'a, Result<Vec<OpenFile>>>;

/// A department that has files about customers.
pub struct Department {
    /// The right a user needs to open the department's files.
    pub read: Right,
    pub fetch: Fetch,
}

/// The customer's open files in every department, in the departments' order. A file the user
/// may not open (outside their visibility, or without the department's read right) shows its
/// name and status only.
pub async fn open_files(db: &Db, p: &Principal, customer_id: i64, lang: Lang, departments: &[Department]) -> Result<Vec<OpenFile>> {
    let mut out = Vec::new();
    for d in departments {
        let can = p.can(d.read);
        for f in (d.fetch)(db, &p.visibility, customer_id, lang).await? {
            let visible = f.visible && can;
            // Hidden files: their name and status only.
            let (owner_name, branch_name) = if visible { (f.owner_name, f.branch_name) } else { (None, None) };
            out.push(OpenFile { visible, owner_name, branch_name, ..f });
        }
    }
    Ok(out)
}
