//! CSV import of customers: upload, mapping and dry run, then the run with progress.

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::{form_error, render, FormErrors, PageCtx};
use crate::customers::import::{self, Import, Report, FIELDS};
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::form::FormPairs;
use crate::http::AppState;

#[derive(Template)]
#[template(path = "customers/import_upload.html")]
struct UploadPage {
    c: PageCtx,
    f: FormErrors,
    max_mb: usize,
}

pub async fn upload_form(State(st): State<AppState>, c: Ctx) -> Response {
    render(UploadPage {
        c: PageCtx::new(&c, "/customers", "import.title"),
        f: FormErrors::none(),
        max_mb: st.config.max_body_bytes.max(1) / (1024 * 1024),
    })
}

pub async fn upload(State(st): State<AppState>, c: Ctx, mut mp: Multipart) -> Result<Response, HttpError> {
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        match mp.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => {
                let name = field.file_name().unwrap_or("import.csv").to_string();
                match field.bytes().await {
                    Ok(b) => file = Some((name, b.to_vec())),
                    Err(_) => return Err(Error::validation("file", "error.too_large").into()),
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => return Err(Error::validation("file", "error.too_large").into()),
        }
    }
    let res = match file.filter(|(_, b)| !b.is_empty()) {
        Some((name, bytes)) => import::upload(&st.db, c.p.user_id, st.now(), &name, &bytes).await,
        None => Err(Error::validation("file", "error.required")),
    };
    match res {
        Ok(imp) => Ok(Redirect::to(&format!("/customers/import/{}", imp.id)).into_response()),
        Err(e) => {
            let f = form_error(&c, e)?;
            let mut resp = render(UploadPage {
                c: PageCtx::new(&c, "/customers", "import.title"),
                f,
                max_mb: st.config.max_body_bytes.max(1) / (1024 * 1024),
            });
            *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
    }
}

#[derive(Template)]
#[template(path = "customers/import.html")]
struct ImportPage {
    c: PageCtx,
    imp: Import,
    columns: Vec<(String, String)>,
    fields: Vec<(&'static str, String)>,
    report: Option<Report>,
    f: FormErrors,
}

impl ImportPage {
    fn reasons(&self, r: &import::RowReport) -> String {
        r.reasons.iter().map(|(f, k)| format!("{} : {}", self.c.tr.tp("import.field.", f), self.c.tr.t(k))).collect::<Vec<_>>().join(" · ")
    }
}

async fn page(st: &AppState, c: &Ctx, id: i64, f: FormErrors) -> Result<Response, HttpError> {
    let imp = import::get(&st.db, c.p.user_id, id).await?.ok_or(Error::NotFound)?;
    let columns = imp.headers().into_iter().zip(imp.mapping()).collect();
    let fields = FIELDS.iter().map(|f| (*f, c.tr.tp("import.field.", f))).collect();
    let report = imp.report();
    let mut pc = PageCtx::new(c, "/customers", "import.title");
    pc.title = format!("{} · {}", c.tr.t("import.title"), imp.filename);
    let errors = f.any();
    let mut resp = render(ImportPage { c: pc, imp, columns, fields, report, f });
    if errors {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn show(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    page(&st, &c, id, FormErrors::none()).await
}

/// Saves the mapping and runs the dry run.
pub async fn dry_run(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let mapping: Vec<String> = FormPairs::parse(&body).all("mapping").map(str::to_string).collect();
    match import::dry_run(&st.db, c.p.user_id, id, mapping, st.now()).await {
        Ok(_) => Ok(Redirect::to(&format!("/customers/import/{id}")).into_response()),
        Err(e) => {
            let f = form_error(&c, e)?;
            page(&st, &c, id, f).await
        }
    }
}

pub async fn start(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    match import::start(&st.db, c.p.user_id, id, st.now()).await {
        Ok(()) => Ok(Redirect::to(&format!("/customers/import/{id}")).into_response()),
        Err(e) => {
            let f = form_error(&c, e)?;
            page(&st, &c, id, f).await
        }
    }
}
