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

use crate::clock::Zone;
use crate::customers::{Customer, CustomerForm};
use crate::db::page::PageReq;
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::form::FormPairs;
use crate::http::AppState;
use crate::identity::users::{self, Staff};
use crate::lists::{self, ListItem};
use crate::org::units::{self, OrgUnit};
use crate::sales::calls::{self, Call, CallForm};
use crate::sales::leads::{self, LeadForm};
use crate::sales::meetings::{self, CalendarOf, Meeting, MeetingForm};
use crate::sales::stock::{self, StockForm, StockUnit};
use crate::sales::store::{self, Column, Filter, OpenFile};
use crate::sales::{Opportunity, OpportunityForm};

pub use crate::http::lists::SalesLabels as Labels;

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
