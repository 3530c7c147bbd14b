//! `/api/v1/customers` and their contacts.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{ListOf, PageOf};
use crate::access::{Principal, Right};
use crate::customers::store::{self, Match};
use crate::customers::{phone::Phone, Contact, ContactForm, Customer, CustomerForm, CustomerListItem, Kind};
use crate::error::{Error, FieldErrors};
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::json::{ApiInput, ApiJson};
use crate::http::listing;
use crate::http::lists::Customers;
use crate::http::AppState;
use crate::identity::Email;

impl ApiInput for CustomerForm {
    const READ_ONLY: &'static [&'static str] = &["id", "display_name", "branch_name", "owner_name", "created_at", "updated_at"];
}

impl ApiInput for ContactForm {
    const READ_ONLY: &'static [&'static str] = &["id", "customer_id", "created_at", "updated_at"];
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Search as you type: names, company names, emails, phone digits (accent- and case-insensitive word prefixes).
    pub q: Option<String>,
    /// `person` or `company`.
    pub kind: Option<String>,
    pub branch_id: Option<i64>,
    pub owner_id: Option<i64>,
    /// `name` (default), `created`, `email`, `branch`, `owner`; `-` before for descending (`recent` = `-created`).
    pub sort: Option<String>,
    /// A saved view whose filters apply when the query names none.
    pub view: Option<i64>,
    pub limit: Option<i64>,
    pub after: Option<String>,
    pub before: Option<String>,
    /// `true`: include the count (exact up to 1,000).
    pub count: Option<bool>,
}

/// Customers the caller may see, by name (or the order asked for), with the columns the list
/// shows; the whole record is `GET /api/v1/customers/{id}`.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", params(ListQuery), responses((status = 200, body = PageOf<CustomerListItem>), (status = 422)))]
pub async fn list(
    State(st): State<AppState>,
    c: Ctx,
    Query(q): Query<ListQuery>,
    RawQuery(raw): RawQuery,
) -> Result<listing::RawPageOf, HttpError> {
    let raw = raw.map(|r| r.replace("sort=recent", "sort=-created"));
    let (s, f) = listing::api_query::<Customers>(&st, &c, raw.as_deref(), q.limit).await?;
    // The items as the database writes them (`PageOf<CustomerListItem>`'s document, see
    // `store::list_json`): the list answers search as you type.
    let page = store::list_json(&st.db, &c.p.visibility, &f, &s.page).await?.map(|i| i.json);
    let count = match q.count {
        Some(true) => Some(store::count(&st.db, &c.p.visibility, &f).await?),
        _ => None,
    };
    Ok(listing::RawPageOf { page, count })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// A customer recognised by phone or email. Details only when the caller may see the record.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LookupItem {
    pub id: i64,
    pub display_name: String,
    pub kind: String,
    /// Whether the caller may open the record.
    pub visible: bool,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LookupResult {
    pub items: Vec<LookupItem>,
}

/// Shapes lookup matches for a caller: every match is named (recognition works across
/// branches), contact details only for records the caller may see.
pub async fn shape_matches(st: &AppState, p: &Principal, matches: Vec<Match>) -> Result<Vec<LookupItem>, Error> {
    let mut out = Vec::with_capacity(matches.len());
    for m in matches {
        let visible = store::get_visible(&st.db, &p.visibility, m.id).await?.is_some();
        out.push(LookupItem {
            id: m.id,
            display_name: m.display_name,
            kind: m.kind,
            visible,
            email: m.email.filter(|_| visible),
            phone: m.phone.filter(|_| visible),
            mobile: m.mobile.filter(|_| visible),
        });
    }
    Ok(out)
}

/// Recognises a returning customer by normalised phone and/or email.
#[utoipa::path(get, path = "/api/v1/customers/lookup", tag = "customers", params(LookupQuery), responses((status = 200, body = LookupResult), (status = 422)))]
pub async fn lookup(State(st): State<AppState>, c: Ctx, Query(q): Query<LookupQuery>) -> Result<Json<LookupResult>, HttpError> {
    let mut conn = st.db.pool.acquire().await?;
    let region = store::region(&mut conn).await?;
    let mut errs = FieldErrors::new();
    let phone = match q.phone.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(p) => Phone::parse(p, &region).map_err(|r| errs.add("phone", r)).ok(),
        None => None,
    };
    let email = match q.email.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(e) => Email::parse(e).map_err(|r| errs.add("email", r)).ok(),
        None => None,
    };
    if phone.is_none() && email.is_none() && errs.is_empty() {
        errs.add("phone", "error.phone_or_email");
    }
    errs.into_result()?;
    let phones: Vec<&str> = phone.iter().map(|p| p.as_str()).collect();
    let matches = store::lookup(&mut conn, email.as_ref().map(|e| e.as_str()), &phones, None).await?;
    drop(conn);
    let items = shape_matches(&st, &c.p, matches).await?;
    Ok(Json(LookupResult { items }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewCustomer {
    #[serde(flatten)]
    pub customer: CustomerForm,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CreateQuery {
    /// Create even if the phone or email is already known (needs `customers.create_duplicate`).
    pub allow_duplicate: Option<bool>,
}

/// Creates a customer; a known phone or email answers 409 unless `allow_duplicate` (with the right).
/// The 409 names the customers already holding them in `error.existing` (as the lookup does:
/// contact details only for those the caller may see). Simultaneous creations for one new
/// phone or email make one customer; the others get this 409.
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", params(CreateQuery), request_body = CustomerForm,
    responses((status = 201, body = Customer),
        (status = 409, description = "Phone or email already known: `error.fields` names the field, `error.existing` the customers"),
        (status = 422)))]
pub async fn create(
    State(st): State<AppState>,
    c: Ctx,
    Query(cq): Query<CreateQuery>,
    ApiJson(f): ApiJson<CustomerForm>,
) -> Result<Response, HttpError> {
    let region = store::region_of(&st.db).await?;
    let input = f.parse(&region)?;
    crate::identity::users::check_owner_choice(&st.db, &c.p.visibility, input.owner_id, None).await?;
    let allow = cq.allow_duplicate.unwrap_or(false) && c.p.can(Right::CustomersCreateDuplicate);
    match store::create(&st.db, &c.actor(), st.now(), &input, allow).await {
        Ok(cust) => Ok((StatusCode::CREATED, Json(cust)).into_response()),
        Err(e @ Error::Conflict(_)) => {
            let mut conn = st.db.pool.acquire().await?;
            let phones: Vec<&str> = input.phone.iter().chain(input.mobile.iter()).map(|p| p.as_str()).collect();
            let matches = store::lookup(&mut conn, input.email.as_ref().map(|e| e.as_str()), &phones, None).await?;
            drop(conn);
            let existing = shape_matches(&st, &c.p, matches).await?;
            let existing = serde_json::to_value(existing).map_err(Error::internal)?;
            let mut resp = HttpError(e).into_response();
            if let Some(info) = resp.extensions_mut().get_mut::<crate::http::error::ErrorInfo>() {
                info.extra = Some(serde_json::Map::from_iter([("existing".to_string(), existing)]));
            }
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

/// The customer, if the user may change it (scope only; 404 otherwise).
async fn writable(st: &AppState, c: &Ctx, id: i64) -> Result<Customer, HttpError> {
    Ok(store::get_writable(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?)
}

async fn visible(st: &AppState, c: &Ctx, id: i64) -> Result<Customer, HttpError> {
    Ok(store::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?)
}

#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", responses((status = 200, body = Customer), (status = 404)))]
pub async fn get(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<Customer>, HttpError> {
    Ok(Json(visible(&st, &c, id).await?))
}

/// A partial update: absent fields keep their value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    pub kind: Option<String>,
    /// Null clears the civility.
    #[serde(default, deserialize_with = "crate::http::json::double_option")]
    #[schema(value_type = Option<String>)]
    pub civility: Option<Option<String>>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub address: Option<String>,
    pub language: Option<String>,
    #[serde(default, deserialize_with = "crate::http::json::double_option")]
    #[schema(value_type = Option<i64>)]
    pub branch_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "crate::http::json::double_option")]
    #[schema(value_type = Option<i64>)]
    pub owner_id: Option<Option<i64>>,
    pub notes: Option<String>,
    pub particularities: Option<Vec<String>>,
}

impl ApiInput for CustomerPatch {
    const READ_ONLY: &'static [&'static str] = CustomerForm::READ_ONLY;
}

#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers", request_body = CustomerPatch, responses((status = 200, body = Customer), (status = 404), (status = 422)))]
pub async fn update(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(p): ApiJson<CustomerPatch>,
) -> Result<Json<Customer>, HttpError> {
    let cur = writable(&st, &c, id).await?;
    let mut f = CustomerForm::from_customer(&cur);
    if let Some(v) = p.kind {
        f.kind = v;
    }
    if let Some(v) = p.civility {
        f.civility = v;
    }
    macro_rules! set {
        ($($field:ident),*) => { $( if let Some(v) = p.$field { f.$field = v; } )* };
    }
    set!(first_name, last_name, company_name, email, phone, mobile, address, notes, particularities);
    if let Some(v) = p.language {
        f.language = Some(v);
    }
    if let Some(v) = p.branch_id {
        f.branch_id = v;
    }
    if let Some(v) = p.owner_id {
        f.owner_id = v;
    }
    let region = store::region_of(&st.db).await?;
    let input = f.parse(&region)?;
    crate::identity::users::check_owner_choice(&st.db, &c.p.visibility, input.owner_id, cur.owner_id).await?;
    Ok(Json(store::update(&st.db, &c.actor(), st.now(), id, &input).await?))
}

#[utoipa::path(delete, path = "/api/v1/customers/{id}", tag = "customers", responses((status = 409, description = "The customer has files (opportunities, requests): merge it instead"), (status = 204), (status = 404)))]
pub async fn delete(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    writable(&st, &c, id).await?;
    store::delete(&st.db, &c.actor(), st.now(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The customer merged into this one (and deleted).
    pub from_id: i64,
}

impl ApiInput for MergeBody {}

/// Merges another customer into this one: every linked record moves, nothing is lost.
#[utoipa::path(post, path = "/api/v1/customers/{id}/merge", tag = "customers", request_body = MergeBody, responses((status = 200, body = Customer), (status = 404), (status = 422)))]
pub async fn merge(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<MergeBody>,
) -> Result<Json<Customer>, HttpError> {
    writable(&st, &c, id).await?;
    if store::get_writable(&st.db, &c.p.visibility, b.from_id).await?.is_none() {
        return Err(Error::validation("from_id", "error.not_found").into());
    }
    Ok(Json(store::merge(&st.db, &c.actor(), st.now(), id, b.from_id).await?))
}

#[utoipa::path(get, path = "/api/v1/customers/{id}/contacts", tag = "customers", responses((status = 200, body = ListOf<Contact>), (status = 404)))]
pub async fn contacts(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<ListOf<Contact>>, HttpError> {
    visible(&st, &c, id).await?;
    Ok(Json(ListOf { items: store::contacts(&st.db, id).await?, next_cursor: None }))
}

async fn contact_input(st: &AppState, f: &ContactForm) -> Result<crate::customers::ContactInput, HttpError> {
    let mut conn = st.db.pool.acquire().await?;
    let region = store::region(&mut conn).await?;
    f.parse(&region).map_err(HttpError::from)
}

#[utoipa::path(post, path = "/api/v1/customers/{id}/contacts", tag = "customers", request_body = ContactForm, responses((status = 201, body = Contact), (status = 404), (status = 422)))]
pub async fn create_contact(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(f): ApiJson<ContactForm>,
) -> Result<(StatusCode, Json<Contact>), HttpError> {
    writable(&st, &c, id).await?;
    let input = contact_input(&st, &f).await?;
    Ok((StatusCode::CREATED, Json(store::create_contact(&st.db, &c.actor(), st.now(), id, &input).await?)))
}

#[utoipa::path(put, path = "/api/v1/customers/{id}/contacts/{contact_id}", tag = "customers", request_body = ContactForm, responses((status = 200, body = Contact), (status = 404), (status = 422)))]
pub async fn update_contact(
    State(st): State<AppState>,
    c: Ctx,
    Path((id, cid)): Path<(i64, i64)>,
    ApiJson(f): ApiJson<ContactForm>,
) -> Result<Json<Contact>, HttpError> {
    writable(&st, &c, id).await?;
    let input = contact_input(&st, &f).await?;
    Ok(Json(store::update_contact(&st.db, &c.actor(), st.now(), id, cid, &input).await?))
}

#[utoipa::path(delete, path = "/api/v1/customers/{id}/contacts/{contact_id}", tag = "customers", responses((status = 204), (status = 404)))]
pub async fn delete_contact(State(st): State<AppState>, c: Ctx, Path((id, cid)): Path<(i64, i64)>) -> Result<StatusCode, HttpError> {
    writable(&st, &c, id).await?;
    store::delete_contact(&st.db, &c.actor(), st.now(), id, cid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A contact as a vCard.
pub async fn vcard(State(st): State<AppState>, c: Ctx, Path((id, cid)): Path<(i64, i64)>) -> Result<Response, HttpError> {
    let cust = visible(&st, &c, id).await?;
    let mut conn = st.db.pool.acquire().await?;
    let contact = store::contact(&mut conn, id, cid).await?.ok_or(Error::NotFound)?;
    let company = if cust.kind == Kind::Company { cust.company_name.clone() } else { String::new() };
    let body = crate::customers::vcard(&contact, &company);
    let name: String = contact.name().chars().map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' }).collect();
    Ok((
        [
            (header::CONTENT_TYPE, "text/vcard; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.vcf\"")),
        ],
        body,
    )
        .into_response())
}
