//! Administration of settings.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;

use crate::error::FieldErrors;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::pages::{redirect_notice, render, FormErrors, NoticeQuery, PageCtx};
use crate::http::AppState;
use crate::settings::{self, Kind};

pub struct SettingView {
    pub key: &'static str,
    pub label: String,
    pub hint: String,
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<(&'static str, String)>,
    pub min: i64,
    pub max: i64,
}

#[derive(Template)]
#[template(path = "admin/settings.html")]
struct SettingsPage {
    c: PageCtx,
    settings: Vec<SettingView>,
    f: FormErrors,
    can_mail: bool,
    test_to: String,
}

fn views(c: &Ctx, values: &[(&'static settings::Def, String)]) -> Vec<SettingView> {
    values
        .iter()
        .map(|(d, v)| {
            let (kind, options, min, max) = match d.kind {
                Kind::Bool => ("bool", vec![], 0, 0),
                Kind::Int { min, max } => ("int", vec![], min, max),
                Kind::Choice(opts) => ("choice", opts.iter().map(|o| (*o, c.tr.t(&format!("setting_value.{o}")))).collect(), 0, 0),
                Kind::Text { .. } | Kind::Domain | Kind::BusinessHours | Kind::Dates => ("text", vec![], 0, 0),
                Kind::Email => ("email", vec![], 0, 0),
            };
            SettingView {
                key: d.key,
                label: c.tr.t(&format!("setting.{}", d.key)),
                hint: c.tr.t(&format!("setting.{}.hint", d.key)),
                kind,
                value: v.clone(),
                options,
                min,
                max,
            }
        })
        .collect()
}

pub async fn page(State(st): State<AppState>, c: Ctx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    let values = settings::all(&st.db).await?;
    Ok(render(SettingsPage {
        c: PageCtx::new(&c, "/admin", "admin.settings").with_notice(q.notice.as_deref()),
        settings: views(&c, &values),
        f: FormErrors::none(),
        can_mail: c.p.can(crate::access::Right::AdminMail),
        test_to: c.p.email.clone(),
    }))
}

pub async fn save(State(st): State<AppState>, c: Ctx, body: String) -> Result<Response, HttpError> {
    let pairs = crate::http::form::FormPairs::parse(&body);
    let mut errs = FieldErrors::new();
    let mut parsed = Vec::new();
    let mut typed = Vec::new();
    for d in settings::DEFS {
        // An unchecked checkbox is absent from the form.
        let raw = pairs.text(d.key);
        typed.push((d, raw.clone()));
        match settings::parse_value(d, &raw) {
            Ok(v) => parsed.push((d, v)),
            Err(crate::error::Error::Validation(e)) => errs.0.extend(e.0),
            Err(e) => return Err(e.into()),
        }
    }
    if !errs.is_empty() {
        let mut resp = render(SettingsPage {
            c: PageCtx::new(&c, "/admin", "admin.settings"),
            settings: views(&c, &typed),
            f: FormErrors::from(errs, c.tr),
            can_mail: c.p.can(crate::access::Right::AdminMail),
            test_to: c.p.email.clone(),
        });
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(resp);
    }
    settings::set_many(&st.db, &c.actor(), st.now(), &parsed).await?;
    // A new time zone: the sales dashboard's days change with it (rebuilt by a job).
    crate::reports::figures::rebuild_soon(&st.db, st.now()).await?;
    Ok(redirect_notice("/admin/settings", "notice.saved"))
}
