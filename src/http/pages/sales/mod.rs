//! Sales pages: the opportunity list (saved views, CSV export), the kanban board, the
//! opportunity record (status, timeline, calls, meetings, the customer's other open files),
//! the forms, meetings and the calendar, the lead screen for agents, stock units, the trash.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{form_error, redirect_notice, render, FormErrors, NoticeQuery, PageCtx};
use crate::access::Right;
use crate::audit::{self, HistoryEntry};
use crate::clock::Zone;
use crate::customers::{Customer, CustomerForm};
use crate::db::page::PageReq;
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::AppState;
use crate::identity::users::{self, Staff};
use crate::lists::{self, ListItem};
use crate::org::units::{self, OrgUnit};
use crate::sales::calls::{self, Call, CallForm};
use crate::sales::leads::{self, LeadForm};
use crate::sales::meetings::{self, CalendarOf, Meeting, MeetingForm};
use crate::sales::stock::{self, StockForm, StockUnit};
use crate::sales::store::{self, Column, Filter, Note, OpenFile};
use crate::sales::{Opportunity, OpportunityForm, Statuses};

/// Labels and badges of the sales lists, for templates.
pub struct Labels {
    pub statuses: Statuses,
    pub lead_types: Vec<ListItem>,
    pub lang: crate::i18n::Lang,
    pub zone: Zone,
}

impl Labels {
    pub async fn load(st: &AppState, c: &Ctx) -> Result<Labels, HttpError> {
        Ok(Labels {
            statuses: Statuses::load(&st.db).await?,
            lead_types: lists::items(&st.db, "lead_type", true).await?,
            lang: c.lang(),
            zone: crate::settings::zone(&st.db).await?,
        })
    }
    pub fn status(&self, code: &str) -> String {
        self.statuses.label(code, &self.lang)
    }
    pub fn badge(&self, code: &str) -> &'static str {
        self.statuses.badge(code)
    }
    pub fn lead(&self, code: &Option<String>) -> String {
        match code {
            Some(c) => self.lead_types.iter().find(|i| &i.code == c).map(|i| i.label(&self.lang).to_string()).unwrap_or_else(|| c.clone()),
            None => "—".into(),
        }
    }
    pub fn at(&self, ms: &i64) -> String {
        self.zone.format(*ms)
    }
    pub fn date_of(&self, ms: &Option<i64>) -> String {
        ms.map(|m| self.zone.date(m)).unwrap_or_else(|| "—".into())
    }
    pub fn time(&self, ms: &i64) -> String {
        self.zone.time(*ms)
    }
}

async fn visible(st: &AppState, c: &Ctx, id: i64) -> Result<Opportunity, HttpError> {
    Ok(store::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?)
}

mod forms;
mod lead_screen;
mod list;
mod meeting_pages;
mod my_day;
mod record;
mod stock_pages;

pub use forms::*;
pub use lead_screen::*;
pub use list::*;
pub use meeting_pages::*;
pub use my_day::*;
pub use record::*;
pub use stock_pages::*;
