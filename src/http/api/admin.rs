//! Administration through the API: roles, org units, groups, value lists, settings, jobs.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::ListOf;
use crate::access::roles::{self, Role, RoleInput};
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::json::{ApiInput, ApiJson, ApiPatch};
use crate::http::AppState;
use crate::jobs::{self, JobRow};
use crate::lists::{self, ItemInput, ListItem, ValueList};
use crate::org::groups::{self, Group, GroupInput};
use crate::org::units::{self, OrgUnit, UnitInput};
use crate::settings;

// ------------------------------------------------------------------ roles

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    pub code: String,
    pub name_fr: String,
    pub name_en: String,
    /// `own`, `unit`, `subtree` or `all`.
    pub scope: String,
    /// Right codes.
    pub rights: Vec<String>,
    /// Its holders must log in with a second factor (default `false`).
    #[serde(default)]
    pub require_second_factor: bool,
}

impl ApiInput for RoleBody {
    const READ_ONLY: &'static [&'static str] = &["id", "builtin"];
}

impl RoleBody {
    fn parse(&self) -> Result<RoleInput, Error> {
        RoleInput::parse(&self.code, &self.name_fr, &self.name_en, &self.scope, &self.rights, self.require_second_factor)
    }
}

#[utoipa::path(get, path = "/api/v1/roles", tag = "admin", responses((status = 200, body = ListOf<Role>)))]
pub async fn list_roles(State(st): State<AppState>, _c: Ctx) -> Result<Json<ListOf<Role>>, HttpError> {
    Ok(Json(ListOf { items: roles::list(&st.db).await?, next_cursor: None }))
}

#[utoipa::path(post, path = "/api/v1/roles", tag = "admin", request_body = RoleBody, responses((status = 201, body = Role), (status = 409), (status = 422)))]
pub async fn create_role(State(st): State<AppState>, c: Ctx, ApiJson(b): ApiJson<RoleBody>) -> Result<(StatusCode, Json<Role>), HttpError> {
    let input = b.parse()?;
    let r = roles::create(&st.db, &c.actor(), st.now(), input).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// A partial update: absent fields keep their value.
#[utoipa::path(patch, path = "/api/v1/roles/{id}", tag = "admin", request_body = RoleBody, responses((status = 409, description = "Code taken"), (status = 200, body = Role), (status = 404), (status = 422)))]
pub async fn update_role(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, p: ApiPatch<RoleBody>) -> Result<Json<Role>, HttpError> {
    let cur = roles::get(&st.db, id).await?.ok_or(Error::NotFound)?;
    let stored = serde_json::json!({
        "code": cur.code,
        "name_fr": cur.name_fr,
        "name_en": cur.name_en,
        "scope": cur.scope.code(),
        "rights": cur.rights.iter().map(|r| r.code()).collect::<Vec<_>>(),
        "require_second_factor": cur.require_second_factor,
    });
    let b = p.onto(stored)?;
    let input = b.parse()?;
    Ok(Json(roles::update(&st.db, &c.actor(), st.now(), id, input).await?))
}

#[utoipa::path(delete, path = "/api/v1/roles/{id}", tag = "admin", responses((status = 204), (status = 404), (status = 409, description = "Built-in or in use")))]
pub async fn delete_role(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    roles::delete(&st.db, &c.actor(), st.now(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ org units

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitBody {
    pub name: String,
    /// `company`, `region`, `branch` or `team`.
    pub kind: String,
    pub parent_id: Option<i64>,
}

impl ApiInput for UnitBody {
    const READ_ONLY: &'static [&'static str] = &["id", "path"];
}

#[utoipa::path(get, path = "/api/v1/org-units", tag = "admin", responses((status = 200, body = ListOf<OrgUnit>)))]
pub async fn list_units(State(st): State<AppState>, _c: Ctx) -> Result<Json<ListOf<OrgUnit>>, HttpError> {
    Ok(Json(ListOf { items: units::tree(&st.db).await?, next_cursor: None }))
}

#[utoipa::path(post, path = "/api/v1/org-units", tag = "admin", request_body = UnitBody, responses((status = 201, body = OrgUnit), (status = 422)))]
pub async fn create_unit(
    State(st): State<AppState>,
    c: Ctx,
    ApiJson(b): ApiJson<UnitBody>,
) -> Result<(StatusCode, Json<OrgUnit>), HttpError> {
    let input = UnitInput::parse(&b.name, &b.kind, b.parent_id)?;
    Ok((StatusCode::CREATED, Json(units::create(&st.db, &c.actor(), st.now(), &input).await?)))
}

/// A partial update: absent fields keep their value (`parent_id: null` makes it a root).
#[utoipa::path(patch, path = "/api/v1/org-units/{id}", tag = "admin", request_body = UnitBody, responses((status = 200, body = OrgUnit), (status = 404), (status = 422)))]
pub async fn update_unit(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    p: ApiPatch<UnitBody>,
) -> Result<Json<OrgUnit>, HttpError> {
    let mut conn = st.db.pool.acquire().await?;
    let cur = units::get(&mut conn, id).await?.ok_or(Error::NotFound)?;
    drop(conn);
    let b = p.onto(serde_json::json!({"name": cur.name, "kind": cur.kind.code(), "parent_id": cur.parent_id}))?;
    let input = UnitInput::parse(&b.name, &b.kind, b.parent_id)?;
    Ok(Json(units::update(&st.db, &c.actor(), st.now(), id, &input).await?))
}

#[utoipa::path(delete, path = "/api/v1/org-units/{id}", tag = "admin", responses((status = 204), (status = 404), (status = 409, description = "Unit in use")))]
pub async fn delete_unit(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    units::delete(&st.db, &c.actor(), st.now(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ groups

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub org_unit_id: Option<i64>,
    /// Member user ids.
    #[serde(default)]
    pub members: Vec<i64>,
}

impl ApiInput for GroupBody {
    const READ_ONLY: &'static [&'static str] = &["id", "org_unit_name"];
}

#[utoipa::path(get, path = "/api/v1/groups", tag = "admin", responses((status = 200, body = ListOf<Group>)))]
pub async fn list_groups(State(st): State<AppState>, _c: Ctx) -> Result<Json<ListOf<Group>>, HttpError> {
    Ok(Json(ListOf { items: groups::list(&st.db).await?, next_cursor: None }))
}

#[utoipa::path(post, path = "/api/v1/groups", tag = "admin", request_body = GroupBody, responses((status = 201, body = Group), (status = 409), (status = 422)))]
pub async fn create_group(
    State(st): State<AppState>,
    c: Ctx,
    ApiJson(b): ApiJson<GroupBody>,
) -> Result<(StatusCode, Json<Group>), HttpError> {
    let input = GroupInput::parse(&b.name, &b.description, b.org_unit_id, b.members)?;
    Ok((StatusCode::CREATED, Json(groups::create(&st.db, &c.actor(), st.now(), &input).await?)))
}

/// A partial update: absent fields keep their value (the members too).
#[utoipa::path(patch, path = "/api/v1/groups/{id}", tag = "admin", request_body = GroupBody, responses((status = 409, description = "Name taken"), (status = 200, body = Group), (status = 404), (status = 422)))]
pub async fn update_group(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    p: ApiPatch<GroupBody>,
) -> Result<Json<Group>, HttpError> {
    let mut conn = st.db.pool.acquire().await?;
    let cur = groups::get(&mut conn, id).await?.ok_or(Error::NotFound)?;
    drop(conn);
    let b = p.onto(serde_json::json!({
        "name": cur.name,
        "description": cur.description,
        "org_unit_id": cur.org_unit_id,
        "members": cur.members,
    }))?;
    let input = GroupInput::parse(&b.name, &b.description, b.org_unit_id, b.members)?;
    Ok(Json(groups::update(&st.db, &c.actor(), st.now(), id, &input).await?))
}

#[utoipa::path(delete, path = "/api/v1/groups/{id}", tag = "admin", responses((status = 204), (status = 404)))]
pub async fn delete_group(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    groups::delete(&st.db, &c.actor(), st.now(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ value lists

#[utoipa::path(get, path = "/api/v1/lists", tag = "lists", responses((status = 200, body = ListOf<ValueList>)))]
pub async fn list_lists(State(st): State<AppState>, _c: Ctx) -> Result<Json<ListOf<ValueList>>, HttpError> {
    Ok(Json(ListOf { items: lists::lists(&st.db).await?, next_cursor: None }))
}

/// Entries of a list; inactive ones are included for administrators of lists.
#[utoipa::path(get, path = "/api/v1/lists/{code}/items", tag = "lists", responses((status = 200, body = ListOf<ListItem>), (status = 404)))]
pub async fn list_items(State(st): State<AppState>, c: Ctx, Path(code): Path<String>) -> Result<Json<ListOf<ListItem>>, HttpError> {
    lists::list(&st.db, &code).await?.ok_or(Error::NotFound)?;
    let all = c.p.can(crate::access::Right::AdminLists);
    Ok(Json(ListOf { items: lists::items(&st.db, &code, all).await?, next_cursor: None }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemBody {
    /// Stable code; ignored on update (codes never change).
    #[serde(default)]
    pub code: Option<String>,
    pub label_fr: String,
    pub label_en: String,
    pub position: Option<i64>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub flags: Vec<String>,
}

fn yes() -> bool {
    true
}

impl ApiInput for ItemBody {
    const READ_ONLY: &'static [&'static str] = &["id", "list_code"];
}

async fn list_or_404(st: &AppState, code: &str) -> Result<ValueList, HttpError> {
    Ok(lists::list(&st.db, code).await?.ok_or(Error::NotFound)?)
}

fn item_input(list: &ValueList, code: &str, b: &ItemBody) -> Result<ItemInput, Error> {
    ItemInput::parse(list, code, &b.label_fr, &b.label_en, b.position, b.active, &b.flags)
}

#[utoipa::path(post, path = "/api/v1/lists/{code}/items", tag = "lists", request_body = ItemBody, responses((status = 201, body = ListItem), (status = 409), (status = 422)))]
pub async fn create_item(
    State(st): State<AppState>,
    c: Ctx,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<ItemBody>,
) -> Result<(StatusCode, Json<ListItem>), HttpError> {
    let list = list_or_404(&st, &code).await?;
    let input = item_input(&list, b.code.as_deref().unwrap_or(""), &b)?;
    Ok((StatusCode::CREATED, Json(lists::create_item(&st.db, &c.actor(), st.now(), &code, &input).await?)))
}

/// A partial edit of an entry: absent fields keep their stored value (a relabelling keeps
/// the flags). `code` is stable: ignored, as on every update; `list_code` is accepted only
/// unchanged.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    /// Ignored: codes never change.
    pub code: Option<String>,
    pub list_code: Option<String>,
    pub label_fr: Option<String>,
    pub label_en: Option<String>,
    pub position: Option<i64>,
    pub active: Option<bool>,
    /// A list of flag codes, or the space-separated text entries are read with.
    #[schema(value_type = Option<Vec<String>>)]
    pub flags: Option<FlagsIn>,
}

/// Flags as a list (`["lost", "auto_follow_up"]`) or as read (`"auto_follow_up lost"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FlagsIn {
    List(Vec<String>),
    Text(String),
}

impl FlagsIn {
    fn codes(self) -> Vec<String> {
        match self {
            FlagsIn::List(l) => l,
            FlagsIn::Text(t) => t.split_whitespace().map(str::to_string).collect(),
        }
    }
}

impl ApiInput for ItemPatch {
    const READ_ONLY: &'static [&'static str] = &["id"];
}

#[utoipa::path(patch, path = "/api/v1/lists/{code}/items/{id}", tag = "lists", request_body = ItemPatch, responses((status = 409, description = "Code taken"), (status = 200, body = ListItem), (status = 404), (status = 422, description = "Invalid, or a status list would lose its initial or trash status, or a status in use would be deactivated")))]
pub async fn update_item(
    State(st): State<AppState>,
    c: Ctx,
    Path((code, id)): Path<(String, i64)>,
    ApiJson(b): ApiJson<ItemPatch>,
) -> Result<Json<ListItem>, HttpError> {
    let list = list_or_404(&st, &code).await?;
    let item = lists::get_item(&st.db, &code, id).await?.ok_or(Error::NotFound)?;
    if b.list_code.as_ref().is_some_and(|v| *v != item.list_code) {
        return Err(Error::validation("list_code", "error.read_only").into());
    }
    let changes = lists::ItemChanges {
        label_fr: b.label_fr,
        label_en: b.label_en,
        position: b.position,
        active: b.active,
        flags: b.flags.map(FlagsIn::codes),
    };
    let input = changes.onto(&list, &item)?;
    Ok(Json(lists::update_item(&st.db, &c.actor(), st.now(), &code, id, &input).await?))
}

// ------------------------------------------------------------------ settings

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SettingOut {
    pub key: String,
    pub value: String,
    pub default: String,
}

#[utoipa::path(get, path = "/api/v1/settings", tag = "admin", responses((status = 200, body = ListOf<SettingOut>)))]
pub async fn get_settings(State(st): State<AppState>, _c: Ctx) -> Result<Json<ListOf<SettingOut>>, HttpError> {
    let all = settings::all(&st.db).await?;
    let items = all.into_iter().map(|(d, v)| SettingOut { key: d.key.into(), value: v, default: d.default.into() }).collect();
    Ok(Json(ListOf { items, next_cursor: None }))
}

/// `{"key": "value", …}`: every key must be a known setting; all are checked before any
/// is saved.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct SettingsPatch(pub std::collections::BTreeMap<String, String>);

impl ApiInput for SettingsPatch {}

#[utoipa::path(patch, path = "/api/v1/settings", tag = "admin", request_body = SettingsPatch, responses((status = 200, body = ListOf<SettingOut>), (status = 422)))]
pub async fn patch_settings(
    State(st): State<AppState>,
    c: Ctx,
    ApiJson(b): ApiJson<SettingsPatch>,
) -> Result<Json<ListOf<SettingOut>>, HttpError> {
    let mut errs = crate::error::FieldErrors::new();
    let mut parsed = Vec::new();
    for (k, v) in &b.0 {
        match settings::def(k) {
            None => errs.add(k.clone(), "error.unknown_field"),
            Some(d) => match settings::parse_value(d, v) {
                Ok(v) => parsed.push((d, v)),
                Err(Error::Validation(e)) => errs.0.extend(e.0),
                Err(e) => return Err(e.into()),
            },
        }
    }
    errs.into_result()?;
    settings::set_many(&st.db, &c.actor(), st.now(), &parsed).await?;
    // A new time zone: the sales dashboard's days change with it (rebuilt by a job).
    crate::reports::figures::rebuild_soon(&st.db, st.now()).await?;
    get_settings(State(st), c).await
}

// ------------------------------------------------------------------ jobs

#[utoipa::path(get, path = "/api/v1/jobs", tag = "admin", responses((status = 200, body = ListOf<JobRow>)))]
pub async fn list_jobs(State(st): State<AppState>, _c: Ctx) -> Result<Json<ListOf<JobRow>>, HttpError> {
    Ok(Json(ListOf { items: jobs::recent(&st.db, None, 100).await?, next_cursor: None }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobOutcome {
    pub ok: bool,
    pub message: String,
}

/// Runs a job now, in this process, and answers its outcome.
#[utoipa::path(post, path = "/api/v1/jobs/{kind}/run", tag = "admin", responses((status = 200, body = JobOutcome), (status = 422, description = "Unknown job")))]
pub async fn run_job(State(st): State<AppState>, _c: Ctx, Path(kind): Path<String>) -> Result<Json<JobOutcome>, HttpError> {
    let out = jobs::run_now(&st.job_context(), &st.jobs, &kind).await?;
    Ok(Json(match out {
        Ok(m) => JobOutcome { ok: true, message: m },
        Err(m) => JobOutcome { ok: false, message: m },
    }))
}
