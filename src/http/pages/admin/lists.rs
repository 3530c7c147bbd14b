//! Administration of configurable value lists.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;

use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::pages::{form_error, redirect_notice, render, FormErrors, NoticeQuery, PageCtx};
use crate::http::AppState;
use crate::lists::{self, ItemInput, ListItem, ValueList};

#[derive(Template)]
#[template(path = "admin/lists.html")]
struct IndexPage {
    c: PageCtx,
    lists: Vec<ValueList>,
}

pub async fn index(State(st): State<AppState>, c: Ctx) -> Result<Response, HttpError> {
    let all = lists::lists(&st.db).await?;
    Ok(render(IndexPage { c: PageCtx::new(&c, "/admin", "admin.lists"), lists: all }))
}

/// An entry form as typed.
#[derive(Debug, Clone, Default)]
pub struct ItemForm {
    id: Option<i64>,
    code: String,
    label_fr: String,
    label_en: String,
    position: String,
    active: bool,
    flags: Vec<String>,
    /// Which fields the form carried (an edit changes only those).
    carried: Vec<String>,
}

impl ItemForm {
    fn read(body: &str) -> ItemForm {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap_or_default();
        let mut f = ItemForm::default();
        for (k, v) in pairs {
            if !f.carried.contains(&k) {
                f.carried.push(k.clone());
            }
            match k.as_str() {
                "code" => f.code = v,
                "label_fr" => f.label_fr = v,
                "label_en" => f.label_en = v,
                "position" => f.position = v,
                // A hidden empty `active` precedes the checkbox: the last value wins.
                "active" => f.active = v == "on",
                // A hidden empty `flags` marks the field as carried; it is not a flag.
                "flags" if v.is_empty() => {}
                "flags" => f.flags.push(v),
                _ => {}
            }
        }
        f
    }
    fn carries(&self, field: &str) -> bool {
        self.carried.iter().any(|k| k == field)
    }
    /// An edit: the carried fields merged onto the stored entry.
    fn changes(&self) -> Result<lists::ItemChanges, Error> {
        let position = match self.position.trim() {
            "" => None,
            s => Some(s.parse().map_err(|_| Error::validation("position", "error.number_expected"))?),
        };
        Ok(lists::ItemChanges {
            label_fr: self.carries("label_fr").then(|| self.label_fr.clone()),
            label_en: self.carries("label_en").then(|| self.label_en.clone()),
            position: position.filter(|_| self.carries("position")),
            active: self.carries("active").then_some(self.active),
            flags: self.carries("flags").then(|| self.flags.clone()),
        })
    }
    fn parse(&self, list: &ValueList) -> Result<ItemInput, Error> {
        let position = match self.position.trim() {
            "" => None,
            s => Some(s.parse().map_err(|_| Error::validation("position", "error.number_expected"))?),
        };
        ItemInput::parse(list, &self.code, &self.label_fr, &self.label_en, position, self.active, &self.flags)
    }
}

#[derive(Template)]
#[template(path = "admin/list_items.html")]
struct ShowPage {
    c: PageCtx,
    list: ValueList,
    items: Vec<ListItem>,
    flags: Vec<String>,
    /// The entry form that failed, if any (kept as typed).
    failed: Option<ItemForm>,
    f: FormErrors,
}

impl ShowPage {
    fn flag_label(&self, flag: &str) -> String {
        self.c.tr.t(&format!("flag.{flag}"))
    }
    fn failed_is(&self, id: &i64) -> bool {
        self.failed.as_ref().and_then(|f| f.id) == Some(*id)
    }
    fn failed_new(&self) -> bool {
        self.failed.as_ref().is_some_and(|f| f.id.is_none())
    }
    fn new_value(&self, field: &str) -> String {
        let Some(f) = self.failed.as_ref().filter(|f| f.id.is_none()) else {
            return String::new();
        };
        match field {
            "code" => f.code.clone(),
            "label_fr" => f.label_fr.clone(),
            "label_en" => f.label_en.clone(),
            "position" => f.position.clone(),
            _ => String::new(),
        }
    }
}

async fn show_page(
    st: &AppState,
    c: &Ctx,
    code: &str,
    failed: Option<ItemForm>,
    f: FormErrors,
    notice: Option<&str>,
) -> Result<Response, HttpError> {
    let list = lists::list(&st.db, code).await?.ok_or(Error::NotFound)?;
    let items = lists::items(&st.db, code, true).await?;
    let mut pc = PageCtx::new(c, "/admin", "admin.lists").with_notice(notice);
    pc.title = list.name(&c.lang()).to_string();
    let flags = list.flags().iter().map(|s| s.to_string()).collect();
    let errors = f.any();
    let mut resp = render(ShowPage { c: pc, list, items, flags, failed, f });
    if errors {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn show(
    State(st): State<AppState>,
    c: Ctx,
    Path(code): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, HttpError> {
    show_page(&st, &c, &code, None, FormErrors::none(), q.notice.as_deref()).await
}

pub async fn create_item(State(st): State<AppState>, c: Ctx, Path(code): Path<String>, body: String) -> Result<Response, HttpError> {
    let list = lists::list(&st.db, &code).await?.ok_or(Error::NotFound)?;
    let mut form = ItemForm::read(&body);
    form.active = true;
    form.flags.retain(|f| !f.is_empty());
    let res = match form.parse(&list) {
        Ok(input) => lists::create_item(&st.db, &c.actor(), st.now(), &code, &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/admin/lists/{code}"), "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            show_page(&st, &c, &code, Some(form), fe, None).await
        }
    }
}

pub async fn update_item(
    State(st): State<AppState>,
    c: Ctx,
    Path((code, id)): Path<(String, i64)>,
    body: String,
) -> Result<Response, HttpError> {
    let list = lists::list(&st.db, &code).await?.ok_or(Error::NotFound)?;
    let mut form = ItemForm::read(&body);
    form.id = Some(id);
    let item = lists::get_item(&st.db, &code, id).await?.ok_or(Error::NotFound)?;
    form.code = item.code.clone();
    let res = match form.changes().and_then(|ch| ch.onto(&list, &item)) {
        Ok(input) => lists::update_item(&st.db, &c.actor(), st.now(), &code, id, &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/admin/lists/{code}"), "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            show_page(&st, &c, &code, Some(form), fe, None).await
        }
    }
}
