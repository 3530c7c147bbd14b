//! Service levels: the targets per request type and priority, edited as a grid in business
//! hours (minutes in the API).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;

use crate::error::{Error, FieldErrors};
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::form::FormPairs;
use crate::http::pages::{redirect_notice, render, FormErrors, NoticeQuery, PageCtx};
use crate::http::AppState;
use crate::lists::ListItem;
use crate::service::sla::{self, Target};

/// One cell of the grid: the two targets as typed (hours).
pub struct Cell {
    pub first: String,
    pub close: String,
}

#[derive(Template)]
#[template(path = "admin/service_levels.html")]
struct Page {
    c: PageCtx,
    types: Vec<ListItem>,
    priorities: Vec<ListItem>,
    /// Indexed [type][priority].
    cells: Vec<Vec<Cell>>,
    f: FormErrors,
}

impl Page {
    fn cell(&self, t: &usize, p: &usize) -> &Cell {
        &self.cells[*t][*p]
    }
}

/// Minutes as hours in the grid (`4`, `1.5`, empty for none).
fn hours(m: Option<i64>) -> String {
    match m {
        None => String::new(),
        Some(m) if m % 60 == 0 => (m / 60).to_string(),
        Some(m) => format!("{:.2}", m as f64 / 60.0).trim_end_matches('0').trim_end_matches('.').to_string(),
    }
}

/// Hours as typed (`4`, `1.5`, `1,5`; empty: none) → minutes.
fn minutes(raw: &str) -> Result<Option<i64>, ()> {
    let raw = raw.trim().replace(',', ".");
    if raw.is_empty() {
        return Ok(None);
    }
    let h: f64 = raw.parse().map_err(|_| ())?;
    let m = (h * 60.0).round();
    if !h.is_finite() || m < 1.0 || m > sla::MAX_MINUTES as f64 {
        return Err(());
    }
    Ok(Some(m as i64))
}

fn field(t: &str, p: &str, which: &str) -> String {
    format!("{which}.{t}.{p}")
}

async fn lists(st: &AppState) -> Result<(Vec<ListItem>, Vec<ListItem>), HttpError> {
    Ok((crate::lists::items(&st.db, "request_type", false).await?, crate::lists::items(&st.db, "request_priority", false).await?))
}

pub async fn page(State(st): State<AppState>, c: Ctx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    let (types, priorities) = lists(&st).await?;
    let set = sla::targets(&st.db).await?;
    let cells = types
        .iter()
        .map(|t| {
            priorities
                .iter()
                .map(|p| {
                    let x = set.iter().find(|x| x.request_type == t.code && x.priority == p.code);
                    Cell { first: hours(x.and_then(|x| x.first_update_minutes)), close: hours(x.and_then(|x| x.close_minutes)) }
                })
                .collect()
        })
        .collect();
    Ok(render(Page {
        c: PageCtx::new(&c, "/admin", "sla.title").with_notice(q.notice.as_deref()),
        types,
        priorities,
        cells,
        f: FormErrors::none(),
    }))
}

pub async fn save(State(st): State<AppState>, c: Ctx, body: String) -> Result<Response, HttpError> {
    let p = FormPairs::parse(&body);
    let (types, priorities) = lists(&st).await?;
    let mut errs = FieldErrors::new();
    let mut rows = Vec::new();
    let mut cells = Vec::new();
    for t in &types {
        let mut row = Vec::new();
        for pr in &priorities {
            let (fk, ck) = (field(&t.code, &pr.code, "first"), field(&t.code, &pr.code, "close"));
            let (first, close) = (p.text(&fk), p.text(&ck));
            let fm = minutes(&first).unwrap_or_else(|_| {
                errs.add(fk.clone(), "error.hours");
                None
            });
            let cm = minutes(&close).unwrap_or_else(|_| {
                errs.add(ck.clone(), "error.hours");
                None
            });
            // Only the cells the form carries (a type added since the page was shown is kept).
            if p.carries(&fk) || p.carries(&ck) {
                rows.push(Target { request_type: t.code.clone(), priority: pr.code.clone(), first_update_minutes: fm, close_minutes: cm });
            }
            row.push(Cell { first, close });
        }
        cells.push(row);
    }
    let res = if errs.is_empty() {
        sla::set_targets(&st.db, &c.actor(), st.now(), &rows).await.map(|_| ())
    } else {
        Err(Error::Validation(errs))
    };
    match res {
        Ok(()) => Ok(redirect_notice("/admin/service-levels", "sla.saved")),
        Err(Error::Validation(e)) => {
            let mut resp =
                render(Page { c: PageCtx::new(&c, "/admin", "sla.title"), types, priorities, cells, f: FormErrors::from(e, c.tr) });
            *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_and_minutes() {
        assert_eq!(minutes(""), Ok(None));
        assert_eq!(minutes("4"), Ok(Some(240)));
        assert_eq!(minutes("1,5"), Ok(Some(90)));
        assert_eq!(minutes("0.25"), Ok(Some(15)));
        assert!(minutes("0").is_err() && minutes("-1").is_err() && minutes("x").is_err() && minutes("NaN").is_err());
        assert_eq!(hours(Some(90)), "1.5");
        assert_eq!(hours(Some(240)), "4");
        assert_eq!(hours(Some(20)), "0.33");
        assert_eq!(hours(None), "");
    }
}
