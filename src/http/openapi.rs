//! The OpenAPI 3.1 document, generated from the handlers' annotations, and a browsable page
//! rendered from it on the server (no third-party JavaScript).

use askama::Template;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::api;
use super::auth::MaybeCtx;
use super::pages::{render, PageCtx};
use crate::i18n::Tr;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new())]);
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Carnet API", description = "CRM and service desk. Authenticate with `Authorization: Bearer <token>` (create a token on your account page). Lists are keyset-paginated: pass `next_cursor` as `after`. Errors: `{\"error\": {\"code\", \"message\", \"fields\", \"request_id\"}}`."),
    modifiers(&BearerAuth),
    paths(
        api::me,
        api::users::list, api::users::get, api::users::create, api::users::update, api::users::history,
        api::tokens::list, api::tokens::create, api::tokens::revoke,
        api::admin::list_roles, api::admin::create_role, api::admin::update_role, api::admin::delete_role,
        api::admin::list_units, api::admin::create_unit, api::admin::update_unit, api::admin::delete_unit,
        api::admin::list_groups, api::admin::create_group, api::admin::update_group, api::admin::delete_group,
        api::admin::list_lists, api::admin::list_items, api::admin::create_item, api::admin::update_item,
        api::admin::get_settings, api::admin::patch_settings,
        api::admin::list_jobs, api::admin::run_job,
        api::customers::list, api::customers::create, api::customers::lookup, api::customers::get,
        api::customers::update, api::customers::delete, api::customers::merge, api::customers::contacts, api::customers::create_contact,
        api::customers::update_contact, api::customers::delete_contact,
        api::mail::list, api::mail::get, api::mail::retry, api::mail::send_test, api::mail::list_templates, api::mail::put_template,
        api::mail::get_prefs, api::mail::put_prefs,
        api::sales::list, api::sales::trash, api::sales::create, api::sales::get, api::sales::update, api::sales::restore,
        api::sales::history, api::sales::notes, api::sales::add_note, api::sales::board, api::sales::open_files, api::sales::create_lead,
        api::sales::list_meetings, api::sales::create_meeting, api::sales::get_meeting, api::sales::update_meeting, api::sales::cancel_meeting,
        api::sales::list_calls, api::sales::create_call, api::sales::update_call, api::sales::log_call,
        api::sales::list_stock, api::sales::create_stock, api::sales::update_stock,
        api::service::list, api::service::create, api::service::get, api::service::update, api::service::history, api::service::updates,
        api::service::add_update, api::service::create_contact, api::service::update_contact, api::service::lines, api::service::add_line,
        api::service::set_symptom, api::service::remove_line, api::service::list_equipment, api::service::create_equipment,
        api::service::update_equipment,
        api::service::planning, api::service::create_intervention, api::service::get_intervention, api::service::update_intervention,
        api::service::request_interventions, api::service::list_returns, api::service::create_return, api::service::update_return,
        api::service::list_documents, api::service::upload_document, api::service::download_document, api::service::delete_document,
        api::service::summary_pdf, api::service::send_email,
    )
)]
pub struct ApiDoc;

pub async fn document() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

pub struct Op {
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    pub tag: String,
    pub responses: Vec<(String, String)>,
    pub params: Vec<String>,
}

#[derive(Template)]
#[template(path = "api_docs.html")]
struct DocsPage {
    c: PageCtx,
    version: String,
    ops: Vec<Op>,
    schemas: Vec<(String, String)>,
}

/// `/api/docs`: every operation with its parameters and responses, and every schema.
pub async fn docs_page(m: MaybeCtx) -> Response {
    let doc = ApiDoc::openapi();
    let mut ops = Vec::new();
    for (path, item) in doc.paths.paths.iter() {
        let methods = [("GET", &item.get), ("POST", &item.post), ("PUT", &item.put), ("PATCH", &item.patch), ("DELETE", &item.delete)];
        for (method, op) in methods {
            let Some(op) = op else { continue };
            let responses = op
                .responses
                .responses
                .iter()
                .map(|(code, r)| {
                    let text = match r {
                        utoipa::openapi::RefOr::T(r) => r.description.clone(),
                        utoipa::openapi::RefOr::Ref(r) => r.ref_location.clone(),
                    };
                    (code.clone(), text)
                })
                .collect();
            let params = op.parameters.as_ref().map(|ps| ps.iter().map(|p| p.name.clone()).collect()).unwrap_or_default();
            ops.push(Op {
                method: method.to_string(),
                path: path.clone(),
                summary: op.summary.clone().unwrap_or_default(),
                description: op.description.clone().unwrap_or_default(),
                tag: op.tags.as_ref().and_then(|t| t.first().cloned()).unwrap_or_default(),
                responses,
                params,
            });
        }
    }
    ops.sort_by(|a, b| a.tag.cmp(&b.tag).then(a.path.cmp(&b.path)));
    let schemas = doc
        .components
        .as_ref()
        .map(|c| c.schemas.iter().map(|(name, s)| (name.clone(), serde_json::to_string_pretty(s).unwrap_or_default())).collect())
        .unwrap_or_default();
    let tr: Tr = m.tr;
    let c = PageCtx::anonymous(tr, "api.title", &m.request_id);
    render(DocsPage { c, version: doc.info.version.clone(), ops, schemas })
}
