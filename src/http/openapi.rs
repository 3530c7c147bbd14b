//! The OpenAPI 3.1 document, generated from the handlers' annotations, and a browsable page
//! rendered from it on the server (no third-party JavaScript).

use askama::Template;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::auth::MaybeCtx;
use super::error::ErrorBody;
use super::pages::{render, PageCtx};
use super::{api, lists};
use crate::i18n::Tr;

pub mod limits;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new())]);
    }
}

/// The saved-view and export routes of every declared list ([`lists::API`]), documented from
/// the declaration (the handlers are generic: one set for every list).
struct DeclaredLists;

impl Modify for DeclaredLists {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
        use utoipa::openapi::request_body::RequestBodyBuilder;
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        use utoipa::openapi::{Content, Ref, Required, ResponseBuilder};
        let json = |schema: &str| Content::new(Some(Ref::from_schema_name(schema)));
        let id = || {
            ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(SchemaType::Type(Type::Integer))
                        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64))),
                ))
                .build()
        };
        let ok = |d: &str| ResponseBuilder::new().description(d);
        for (def, base, tag) in lists::API {
            let filters = format!(
                "Filters: {}; `sort` (one of: {}; `-` before reverses); `cols`; `view`.",
                def.filters.join(", "),
                def.sorts.iter().map(|k| k.code).collect::<Vec<_>>().join(", ")
            );
            let op = |summary: String| OperationBuilder::new().tag(*tag).summary(Some(summary));
            let views = format!("{base}/views");
            let one = format!("{base}/views/{{id}}");
            openapi.paths.add_path_operation(
                &views,
                vec![HttpMethod::Get],
                op(format!("The caller's saved views of the {} list and those shared with their team", def.name))
                    .response("200", ok("Views").content("application/json", json("ViewList"))),
            );
            openapi.paths.add_path_operation(
                &views,
                vec![HttpMethod::Post],
                op(format!("Saves a new view of the {} list", def.name))
                    .request_body(Some(
                        RequestBodyBuilder::new().content("application/json", json("ViewBody")).required(Some(Required::True)).build(),
                    ))
                    .response("201", ok("The view").content("application/json", json("View")))
                    .response("422", ok("Invalid name")),
            );
            openapi.paths.add_path_operation(
                &one,
                vec![HttpMethod::Put],
                op("Replaces the filters of one of the caller's views (404 for anyone else's)".into())
                    .parameter(id())
                    .request_body(Some(
                        RequestBodyBuilder::new().content("application/json", json("ViewQueryBody")).required(Some(Required::True)).build(),
                    ))
                    .response("200", ok("The view").content("application/json", json("View")))
                    .response("404", ok("Not the caller's view")),
            );
            openapi.paths.add_path_operation(
                &one,
                vec![HttpMethod::Delete],
                op("Deletes one of the caller's views".into())
                    .parameter(id())
                    .response("204", ok("Deleted"))
                    .response("404", ok("Not the caller's view")),
            );
            openapi.paths.add_path_operation(
                format!("{base}/export"),
                vec![HttpMethod::Get],
                op(format!("The {} list as CSV, streamed; cells neutralised against formula injection", def.name))
                    .description(Some(filters))
                    .response("200", ok("CSV").content("text/csv", Content::new(None::<Ref>))),
            );
        }
    }
}

/// The answers every operation can give besides its own, in the one error shape
/// ([`ErrorBody`]): 401 (no or bad token) and 403 (a right missing) everywhere; 400
/// (malformed JSON, a path or query parameter of the wrong type) and 422 (validation, with
/// the fields) where the operation takes input; 404 where the path names a record; 413 (body
/// over `max_body_bytes`) and 415 (not JSON) where it takes a body. An operation declares its
/// own (201, 204, 409…) on its handler; an error answer it declares without a body gets the
/// error shape here.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut schemas = Vec::new();
        <ErrorBody as utoipa::ToSchema>::schemas(&mut schemas);
        schemas.push(("ErrorBody".into(), <ErrorBody as utoipa::PartialSchema>::schema()));
        components.schemas.extend(schemas);
        let error = || Content::new(Some(Ref::from_schema_name("ErrorBody")));
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in ops.into_iter().flatten() {
                let in_path = path.contains('{');
                let in_query = op.parameters.as_ref().is_some_and(|ps| ps.iter().any(|p| matches!(p.parameter_in, ParameterIn::Query)));
                let body = op.request_body.is_some();
                let mut common = vec![
                    ("401", "No token, or a token that is unknown, revoked or expired"),
                    ("403", "The caller's role lacks the right this operation requires"),
                ];
                if in_path || in_query || body {
                    common.push(("400", "Malformed JSON, or a path or query parameter that is not of its type"));
                    common.push(("422", "Invalid input: `error.fields` names each field at fault and the reason"));
                }
                let names_view = op
                    .parameters
                    .as_ref()
                    .is_some_and(|ps| ps.iter().any(|p| p.name == "view" && matches!(p.parameter_in, ParameterIn::Query)));
                if in_path {
                    common.push(("404", "No such record, or one the caller may not see"));
                } else if names_view {
                    common.push(("404", "No such saved view, or one the caller may not use"));
                }
                if body {
                    common.push(("413", "Body larger than `max_body_bytes`"));
                    common.push(("415", "Body not sent as `application/json`"));
                }
                for (code, description) in common {
                    op.responses.responses.entry(code.to_string()).or_insert_with(|| {
                        ResponseBuilder::new().description(description).content("application/json", error()).build().into()
                    });
                }
                for (code, response) in op.responses.responses.iter_mut() {
                    if let (true, RefOr::T(r)) = (code.starts_with('4'), response) {
                        if r.content.is_empty() {
                            r.content.insert("application/json".into(), error());
                        }
                    }
                }
            }
        }
    }
}

/// The lists the API serves with their path.
pub fn api_lists() -> Vec<(&'static crate::http::listing::ListDef, &'static str)> {
    let mut out: Vec<_> = lists::API.iter().map(|(def, base, _)| (*def, *base)).collect();
    out.push((&lists::USERS, "/api/v1/users"));
    out
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Carnet API", description = "CRM and service desk. Authenticate with `Authorization: Bearer <token>` (create a token on your account page). Lists are keyset-paginated: pass `next_cursor` as `after`. Errors: `{\"error\": {\"code\", \"message\", \"fields\", \"request_id\"}}`."),
    modifiers(&BearerAuth, &DeclaredLists, &CommonResponses),
    components(schemas(crate::views::View, super::listing::ViewBody, super::listing::ViewQueryBody, super::listing::ViewList)),
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
        api::mail::list, api::mail::get, api::mail::retry, api::mail::retry_failed, api::mail::send_test, api::mail::list_templates, api::mail::put_template,
        api::mail::get_prefs, api::mail::put_prefs, api::inbox::list, api::inbox::read, api::inbox::read_all,
        api::sales::list, api::sales::trash, api::sales::create, api::sales::get, api::sales::update, api::sales::restore,
        api::sales::history, api::sales::notes, api::sales::add_note, api::sales::board, api::sales::open_files, api::sales::create_lead, api::sales::list_leads,
        api::sales::list_meetings, api::sales::create_meeting, api::sales::get_meeting, api::sales::update_meeting, api::sales::move_meeting, api::sales::cancel_meeting,
        api::sales::list_calls, api::sales::create_call, api::sales::update_call, api::sales::log_call,
        api::sales::list_stock, api::sales::create_stock, api::sales::update_stock,
        api::service::list, api::service::create, api::service::get, api::service::update, api::service::history, api::service::updates,
        api::service::add_update, api::service::notes, api::service::add_note, api::service::calls, api::service::schedule_call, api::service::log_call, api::service::messages, api::service::post_message, api::service::service_levels, api::service::put_service_levels, api::service::create_contact, api::service::update_contact, api::service::lines, api::service::add_line,
        api::service::set_symptom, api::service::remove_line, api::service::list_equipment, api::service::create_equipment,
        api::service::update_equipment,
        api::service::planning, api::service::create_intervention, api::service::get_intervention, api::service::update_intervention, api::service::move_intervention,
        api::service::request_interventions, api::service::list_returns, api::service::create_return, api::service::update_return,
        api::service::list_documents, api::service::upload_document, api::service::download_document, api::service::delete_document,
        api::service::summary_pdf, api::service::send_email, api::service::add_photo, api::service::put_signature,
        api::reports::sales, api::reports::service,
        api::partners::list_partners, api::partners::get_partner, api::partners::list_opportunities, api::partners::get_opportunity,
        api::partners::list_news, api::partners::create_news, api::partners::get_news,
        api::partners::list_presales, api::partners::get_presales, api::partners::accept, api::partners::assign, api::partners::propose,
        api::partners::ask_info, api::partners::refuse, api::partners::cancel,
        api::search::search,
        api::activity::opportunity, api::activity::request, api::activity::customer, api::activity::presales,
    )
)]
pub struct ApiDoc;

/// The document as served: generated from the annotations, then the limits the server
/// enforces written in from the parsers' constants ([`limits`]; as JSON, since utoipa's
/// model cannot hold a choice between formats).
pub fn spec() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    limits::write(&mut doc, &api_lists());
    doc
}

pub async fn document() -> Response {
    Json(spec()).into_response()
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
    let schemas = spec()["components"]["schemas"]
        .as_object()
        .map(|c| c.iter().map(|(name, s)| (name.clone(), serde_json::to_string_pretty(s).unwrap_or_default())).collect())
        .unwrap_or_default();
    let tr: Tr = m.tr;
    let c = PageCtx::anonymous(tr, "api.title", &m.request_id);
    render(DocsPage { c, version: doc.info.version.clone(), ops, schemas })
}
