//! Staff pages of the portal: a customer's portal access (settings, invitations, accounts),
//! sharing a document or an intervention report, and the read-only preview of a request as
//! its customer sees it. Every handler first reads the record through the staff user's
//! visibility (404 otherwise).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{invitable_contacts, request_page};
use super::PortalPage;
use crate::customers::Customer;
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::form::FormPairs;
use crate::http::pages::{form_error, render, FormErrors, PageCtx};
use crate::http::{redirect_notice, AppState};
use crate::portal::accounts;
use crate::portal::{Account, PortalUser, Status};

async fn visible_customer(st: &AppState, c: &Ctx, id: i64) -> Result<Customer, HttpError> {
    Ok(crate::customers::store::get_writable(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?)
}

#[derive(Template)]
#[template(path = "customers/portal_access.html")]
struct AccessPage {
    c: PageCtx,
    cu: Customer,
    enabled: bool,
    admin_invites: bool,
    accounts: Vec<Account>,
    /// (contact id — 0 for the person customer themself —, name, email)
    invitable: Vec<(i64, String, String)>,
    errors: FormErrors,
}

impl AccessPage {
    /// The actions an account offers, as (path segment, label key).
    fn actions(&self, a: &Account) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        if a.status == Status::Invited {
            out.push(("resend", "portal.resend"));
        }
        if a.status == Status::Deactivated {
            out.push(("reactivate", "portal.reactivate"));
        } else {
            out.push(("deactivate", "portal.deactivate"));
        }
        out.push(if a.is_admin { ("member", "portal.make_member") } else { ("admin", "portal.make_admin") });
        out
    }
}

async fn access_page(st: &AppState, c: &Ctx, id: i64, errors: FormErrors, notice: Option<&str>) -> Result<Response, HttpError> {
    let cu = visible_customer(st, c, id).await?;
    let (enabled, admin_invites) = accounts::customer_portal(&st.db, id).await?;
    let accounts = accounts::of_customer(&st.db, id).await?;
    let mut invitable = invitable_contacts(st, id).await?;
    if cu.kind.code() == "person" && !accounts.iter().any(|a| a.contact_id.is_none() && a.status != Status::Invited) {
        if let Some(e) = cu.email.clone() {
            invitable.insert(0, (0, cu.display_name.clone(), e));
        }
    }
    let status = if errors.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let mut page = PageCtx::new(c, "/customers", "portal.access_title").with_notice(notice);
    page.title = format!("{} · {}", page.title, cu.display_name);
    let mut resp = render(AccessPage { c: page, cu, enabled, admin_invites, accounts, invitable, errors });
    *resp.status_mut() = status;
    Ok(resp)
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

pub async fn access(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    access_page(&st, &c, id, FormErrors::none(), q.notice.as_deref()).await
}

/// The customer's portal settings (both checkboxes are on the form: an absent one is off).
pub async fn save_settings(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    visible_customer(&st, &c, id).await?;
    let p = FormPairs::parse(&body);
    accounts::set_customer_portal(&st.db, &c.actor(), st.now(), id, p.flag("enabled"), p.flag("admin_invites")).await?;
    Ok(redirect_notice(&format!("/customers/{id}/portal"), "notice.saved"))
}

pub async fn invite(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    visible_customer(&st, &c, id).await?;
    let p = FormPairs::parse(&body);
    let contact = match p.text("contact_id").trim() {
        "" => Err(Error::validation("contact_id", "error.required")),
        "0" => Ok(None),
        s => s.parse::<i64>().map(Some).map_err(|_| Error::validation("contact_id", "error.invalid_choice")),
    };
    let res = match contact {
        Ok(contact) => accounts::invite(&st.db, &c.actor(), st.now(), id, contact, p.flag("is_admin")).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match res {
        Ok(()) => Ok(redirect_notice(&format!("/customers/{id}/portal"), "notice.portal_invited")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            access_page(&st, &c, id, fe, None).await
        }
    }
}

/// An account's action: `resend` (a new invitation link), `deactivate`, `reactivate`,
/// `admin` / `member` (portal administrator or not).
pub async fn account_action(
    State(st): State<AppState>,
    c: Ctx,
    Path((id, account, action)): Path<(i64, i64, String)>,
) -> Result<Response, HttpError> {
    visible_customer(&st, &c, id).await?;
    let a = accounts::get_of(&st.db, id, account).await?.ok_or(Error::NotFound)?;
    let now = st.now();
    let res = match action.as_str() {
        "resend" => accounts::invite(&st.db, &c.actor(), now, id, a.contact_id, a.is_admin).await.map(|_| ()),
        "deactivate" => accounts::set(&st.db, &c.actor(), now, id, account, Some(Status::Deactivated), None).await.map(|_| ()),
        "reactivate" => accounts::set(&st.db, &c.actor(), now, id, account, Some(Status::Active), None).await.map(|_| ()),
        "admin" => accounts::set(&st.db, &c.actor(), now, id, account, None, Some(true)).await.map(|_| ()),
        "member" => accounts::set(&st.db, &c.actor(), now, id, account, None, Some(false)).await.map(|_| ()),
        _ => return Err(Error::NotFound.into()),
    };
    match res {
        Ok(()) => Ok(redirect_notice(
            &format!("/customers/{id}/portal"),
            if action == "resend" { "notice.portal_invited" } else { "notice.saved" },
        )),
        Err(e) => {
            let fe = form_error(&c, e)?;
            access_page(&st, &c, id, fe, None).await
        }
    }
}

/// Shares a document with the customer, or stops sharing it.
pub async fn share_document(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let d = crate::http::api::service::visible_document(&st, &c, id).await?;
    let shared = FormPairs::parse(&body).flag("shared");
    crate::service::documents::set_shared(&st.db, &c.actor(), st.now(), id, shared).await?;
    Ok(redirect_notice(&format!("/service/requests/{}#documents", d.request_id), "notice.saved"))
}

/// Shows an intervention's report to the customer, or hides it.
pub async fn share_report(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    crate::service::interventions::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    let shared = FormPairs::parse(&body).flag("shared");
    crate::service::interventions::set_report_shared(&st.db, &c.actor(), st.now(), id, shared).await?;
    Ok(redirect_notice(&format!("/service/interventions/{id}"), "notice.saved"))
}

/// The request as its customer sees it in the portal: the same page, read-only, rendered for
/// a staff user who may see the request (no portal session is made or borrowed).
pub async fn preview(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let r = crate::service::store::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    let viewer = PortalUser {
        account_id: 0,
        customer_id: r.customer_id,
        customer_name: r.customer_name.clone(),
        contact_id: r.requester.as_ref().map(|x| x.id),
        name: r.requester.as_ref().map(|x| x.name.clone()).unwrap_or_else(|| r.customer_name.clone()),
        email: String::new(),
        language: c.lang(),
        is_admin: false,
        admin_invites: false,
        csrf_token: String::new(),
        session_hash: String::new(),
        zone: c.p.zone,
    };
    let mut page = PortalPage::for_user(&viewer, c.tr, &c.request_id, "/portal/requests", "portal.request_title");
    page.title = r.number.clone();
    page.preview = true;
    Ok(render(request_page(&st, page, r.customer_id, id, None).await?))
}
