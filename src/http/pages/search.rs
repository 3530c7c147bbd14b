//! The global search page (`/search`) and the top bar's dropdown (`/search?part=1`, the
//! results alone as an HTML fragment, fetched by static/app.js as the user types).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{render, PageCtx};
use crate::error::Error;
use crate::global_search::{self, Allowed, Group, QUERY_MAX};
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::AppState;
use crate::i18n::Tr;

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    pub q: Option<String>,
    /// `1`: the results alone (the top bar's dropdown).
    pub part: Option<String>,
}

/// What the page and the fragment show.
pub struct Outcome {
    pub q: String,
    pub groups: Vec<Group>,
    /// A refused query's message, in the user's language.
    pub error: Option<String>,
    /// What this user can search (the empty state), e.g. "customers, contacts, …".
    pub searchable: String,
}

impl Outcome {
    pub fn searched(&self) -> bool {
        !self.q.trim().is_empty() && self.error.is_none()
    }
}

fn searchable(tr: Tr, a: Allowed) -> String {
    let mut kinds = Vec::new();
    if a.requests {
        kinds.push(tr.t("gsearch.can.requests"));
    }
    if a.customers {
        kinds.push(tr.t("gsearch.can.customers"));
        kinds.push(tr.t("gsearch.can.contacts"));
    }
    if a.opportunities {
        kinds.push(tr.t("gsearch.can.opportunities"));
    }
    if a.requests && a.customers {
        kinds.push(tr.t("gsearch.can.equipment"));
    }
    kinds.join(", ")
}

async fn run(st: &AppState, c: &Ctx, raw: &str) -> Result<Outcome, HttpError> {
    let a = Allowed::of(&c.p);
    let mut out = Outcome { q: raw.to_string(), groups: Vec::new(), error: None, searchable: searchable(c.tr, a) };
    match global_search::Query::parse(raw) {
        Ok(Some(q)) => out.groups = global_search::search(&st.db, &c.p.visibility, a, &q).await?,
        Ok(None) => {}
        Err(Error::Validation(f)) => {
            let reason = f.get("q").unwrap_or("error.too_long");
            out.error = Some(if reason == "error.too_long" {
                c.tr.t("gsearch.too_long").replace("{max}", &QUERY_MAX.to_string())
            } else {
                c.tr.t(reason)
            });
        }
        Err(e) => return Err(e.into()),
    }
    Ok(out)
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    c: PageCtx,
    r: Outcome,
}

#[derive(Template)]
#[template(path = "partials/search_results.html")]
struct SearchPart {
    tr: Tr,
    r: Outcome,
}

pub async fn page(State(st): State<AppState>, c: Ctx, Query(q): Query<SearchQuery>) -> Result<Response, HttpError> {
    let r = run(&st, &c, q.q.as_deref().unwrap_or("")).await?;
    let status = if r.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let mut resp = if q.part.as_deref() == Some("1") {
        render(SearchPart { tr: c.tr, r })
    } else {
        render(SearchPage { c: PageCtx::new(&c, "/search", "gsearch.title"), r })
    };
    if resp.status() == StatusCode::OK {
        *resp.status_mut() = status;
    }
    Ok(resp.into_response())
}
