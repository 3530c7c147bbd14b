//! Background jobs: what ran, what failed, and "run now".

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::pages::{redirect_notice, render, PageCtx};
use crate::http::AppState;
use crate::jobs::{self, JobRow};

#[derive(Deserialize, Default)]
pub struct JobsQuery {
    before: Option<i64>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/jobs.html")]
struct JobsPage {
    c: PageCtx,
    jobs: Vec<JobRow>,
    scheduled: Vec<&'static str>,
    next_before: Option<i64>,
}

pub async fn page(State(st): State<AppState>, c: Ctx, Query(q): Query<JobsQuery>) -> Result<Response, HttpError> {
    let limit = 50;
    let rows = jobs::recent(&st.db, q.before, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let rows: Vec<JobRow> = rows.into_iter().take(limit as usize).collect();
    let next_before = if more { rows.last().map(|j| j.id) } else { None };
    Ok(render(JobsPage {
        c: PageCtx::new(&c, "/admin", "admin.jobs").with_notice(q.notice.as_deref()),
        jobs: rows,
        scheduled: st.jobs.scheduled().collect(),
        next_before,
    }))
}

pub async fn run(State(st): State<AppState>, _c: Ctx, Path(kind): Path<String>) -> Result<Response, HttpError> {
    let outcome = jobs::run_now(&st.job_context(), &st.jobs, &kind).await?;
    Ok(redirect_notice("/admin/jobs", if outcome.is_ok() { "notice.job_done" } else { "notice.job_failed" }))
}

pub async fn retry(State(st): State<AppState>, _c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    if !jobs::retry(&st.db, id, st.now()).await? {
        return Err(crate::error::Error::NotFound.into());
    }
    Ok(redirect_notice("/admin/jobs", "notice.job_requeued"))
}
