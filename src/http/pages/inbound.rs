//! The inbound-mail quarantine (`service.inbound.manage`): the emails that did not land, each
//! with the rules tried and what each found, and a person's decision — assign to a request,
//! open a request, discard. The ignored auto-replies and loops are listed too, read-only.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::pages::{form_error, redirect_notice, render, FormErrors, PageCtx};
use crate::http::AppState;
use crate::inbound::{self, Held};

#[derive(Deserialize, Default)]
pub struct InboundQuery {
    status: Option<String>,
    before: Option<i64>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "service/inbound.html")]
struct InboundPage {
    c: PageCtx,
    held: Vec<Held>,
    status: &'static str,
    next_before: Option<i64>,
    /// The message whose action failed, and why.
    failed: Option<i64>,
    f: FormErrors,
}

async fn page_of(st: &AppState, c: &Ctx, q: InboundQuery, failed: Option<i64>, f: FormErrors) -> Result<Response, HttpError> {
    let status = if q.status.as_deref() == Some("ignored") { "ignored" } else { "quarantined" };
    let limit = 50;
    let rows = inbound::list(&st.db, status, q.before, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let held: Vec<Held> = rows.into_iter().take(limit as usize).collect();
    let next_before = if more { held.last().map(|h| h.id) } else { None };
    let errors = f.any();
    let mut resp = render(InboundPage {
        c: PageCtx::new(c, "/service/requests", "inbound.title").with_notice(q.notice.as_deref()),
        held,
        status,
        next_before,
        failed,
        f,
    });
    if errors {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn page(State(st): State<AppState>, c: Ctx, Query(q): Query<InboundQuery>) -> Result<Response, HttpError> {
    page_of(&st, &c, q, None, FormErrors::none()).await
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    number: String,
}

pub async fn assign(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, Form(f): Form<AssignForm>) -> Result<Response, HttpError> {
    match inbound::assign(&st.db, &st.storage, &c.actor(), &c.p.visibility, st.now(), id, &f.number, st.config.max_document_bytes).await {
        Ok(request) => Ok(redirect_notice(&format!("/service/requests/{request}"), "notice.inbound_assigned")),
        Err(e) => page_of(&st, &c, InboundQuery::default(), Some(id), form_error(&c, e)?).await,
    }
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    customer_id: String,
}

pub async fn create(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, Form(f): Form<CreateForm>) -> Result<Response, HttpError> {
    let customer = match f.customer_id.trim() {
        "" => Ok(None),
        s => s.parse::<i64>().map(Some).map_err(|_| crate::error::Error::validation("customer_id", "error.unknown_customer")),
    };
    let res = match customer {
        Ok(customer) => {
            inbound::create_request(&st.db, &st.storage, &c.actor(), &c.p.visibility, st.now(), id, customer, st.config.max_document_bytes)
                .await
        }
        Err(e) => Err(e),
    };
    match res {
        Ok(request) => Ok(redirect_notice(&format!("/service/requests/{request}"), "notice.inbound_created")),
        Err(e) => page_of(&st, &c, InboundQuery::default(), Some(id), form_error(&c, e)?).await,
    }
}

pub async fn discard(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    match inbound::discard(&st.db, &c.actor(), st.now(), id).await {
        Ok(()) => Ok(redirect_notice("/service/inbound", "notice.inbound_discarded")),
        Err(e) => page_of(&st, &c, InboundQuery::default(), Some(id), form_error(&c, e)?).await,
    }
}
