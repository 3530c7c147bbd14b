//! Every route of Carnet, with the access it requires. This is the one place to read to know
//! who may call what: [`ROUTES`] is walked by `tests/rights.rs`, which calls every route
//! with every default role and proves that a refused call changes nothing.

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};
use axum::Router;

use super::auth::{guard, Access, PUBLIC_BODY_BYTES};
use super::{api, listing, lists, openapi, pages, partner, portal, AppState};
use crate::access::Right::*;
use Access::{Authenticated, Enrolment, Partner, PartnerOpportunities, PartnerPublic, Portal, PortalPublic, Public, Right};

/// A route as listed in the table: method, path (axum syntax) and required access.
#[derive(Debug, Clone, Copy)]
pub struct RouteDef {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

macro_rules! routes {
    ($( $method:ident $path:literal => $access:expr, $handler:path; )*) => {
        /// The route table (for documentation and the generated rights test).
        pub const ROUTES: &[RouteDef] = &[ $( RouteDef { method: stringify!($method), path: $path, access: $access } ),* ];

        fn routes(state: &AppState) -> Router<AppState> {
            let mut r = Router::new();
            $(
                {
                    let access: Access = $access;
                    let layer = axum::middleware::from_fn_with_state(state.clone(), move |s, req, next| dispatch(s, access, req, next));
                    let mut method_router = $method($handler);
                    if access.is_public() {
                        // Anyone may call a public route: it reads a small body only (413 beyond).
                        method_router = method_router.layer(DefaultBodyLimit::max(PUBLIC_BODY_BYTES));
                    }
                    r = r.route($path, method_router.route_layer(layer));
                }
            )*
            r
        }
    };
}

/// The guard a route's access calls for: the customer portal's or the partner portal's (each
/// its own session) or the staff one.
async fn dispatch(
    st: axum::extract::State<AppState>,
    access: Access,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if access.is_portal() {
        portal::guard(st.0, access, req, next).await
    } else if access.is_partner() {
        partner::guard(st.0, access, req, next).await
    } else {
        guard(st, access, req, next).await
    }
}

routes! {
    // Health, assets, documentation.
    get "/healthz" => Public, super::healthz;
    get "/readyz" => Public, super::readyz;
    get "/static/app.css" => Public, pages::stylesheet;
    get "/static/app.js" => Public, pages::script;
    get "/api/v1/openapi.json" => Public, openapi::document;
    get "/api/docs" => Public, openapi::docs_page;

    // Login, logout, language, own account.
    get "/login" => Public, pages::login_page;
    post "/login" => Public, pages::login_submit;
    post "/login/code" => Public, pages::two_factor::login_code;
    post "/logout" => Enrolment, pages::logout;
    post "/language" => Public, pages::set_language;
    get "/" => Authenticated, pages::home;
    // Dashboards (issue 20): the sales one over opportunities, the service one over requests.
    get "/reports" => Authenticated, pages::reports::index;
    get "/reports/sales" => Right(OpportunitiesRead), pages::reports::sales_page;
    get "/reports/service" => Right(ServiceRequestsRead), pages::reports::service_page;
    // The global search (issue 21): every kind the user may read, each filtered by visibility.
    get "/search" => Authenticated, pages::search::page;
    get "/account" => Authenticated, pages::account::page;
    post "/account/password" => Authenticated, pages::account::change_password;
    post "/account/tokens" => Authenticated, pages::account::create_token;
    post "/account/tokens/{id}/revoke" => Authenticated, pages::account::revoke_token;
    post "/account/notifications" => Authenticated, pages::account::save_notifications;
    // In-app notifications (issue 21): the bell's list; opening one marks it read.
    get "/notifications" => Authenticated, pages::inbox::page;
    post "/notifications/read-all" => Authenticated, pages::inbox::read_all;
    get "/notifications/{id}" => Authenticated, pages::inbox::open;
    get "/account/two-factor" => Enrolment, pages::two_factor::page;
    post "/account/two-factor/setup" => Enrolment, pages::two_factor::setup;
    get "/account/two-factor/qr.svg" => Enrolment, pages::two_factor::qr;
    post "/account/two-factor/confirm" => Enrolment, pages::two_factor::confirm;
    post "/account/two-factor/recovery-codes" => Authenticated, pages::two_factor::renew;
    post "/account/two-factor/disable" => Authenticated, pages::two_factor::disable;

    // Staff directory (the first record type filtered by visibility).
    get "/users" => Right(UsersRead), pages::directory::list;
    get "/users/{id}" => Right(UsersRead), pages::directory::show;

    // Customers and contacts.
    get "/customers" => Right(CustomersRead), pages::customers::list;
    get "/customers/new" => Right(CustomersCreate), pages::customers::new_form;
    post "/customers" => Right(CustomersCreate), pages::customers::create;
    get "/customers/export.csv" => Right(CustomersExport), listing::export::<lists::Customers>;
    post "/customers/views" => Right(CustomersRead), listing::create_view::<lists::Customers>;
    post "/customers/views/{id}" => Right(CustomersRead), listing::update_view::<lists::Customers>;
    post "/customers/views/{id}/delete" => Right(CustomersRead), listing::delete_view::<lists::Customers>;
    get "/customers/import" => Right(CustomersImport), pages::imports::upload_form;
    post "/customers/import" => Right(CustomersImport), pages::imports::upload;
    get "/customers/import/{id}" => Right(CustomersImport), pages::imports::show;
    post "/customers/import/{id}/dry-run" => Right(CustomersImport), pages::imports::dry_run;
    post "/customers/import/{id}/run" => Right(CustomersImport), pages::imports::start;
    get "/customers/{id}" => Right(CustomersRead), pages::customers::show;
    get "/customers/{id}/edit" => Right(CustomersUpdate), pages::customers::edit_form;
    post "/customers/{id}" => Right(CustomersUpdate), pages::customers::update;
    post "/customers/{id}/delete" => Right(CustomersDelete), pages::customers::delete;
    post "/customers/{id}/merge" => Right(CustomersMerge), pages::customers::merge;
    get "/customers/{id}/history" => Right(CustomersRead), pages::customers::history;
    post "/customers/{id}/contacts" => Right(CustomersUpdate), pages::customers::create_contact;
    get "/customers/{id}/contacts/{cid}" => Right(CustomersUpdate), pages::customers::edit_contact;
    post "/customers/{id}/contacts/{cid}" => Right(CustomersUpdate), pages::customers::update_contact;
    post "/customers/{id}/contacts/{cid}/delete" => Right(CustomersUpdate), pages::customers::delete_contact;
    get "/customers/{id}/contacts/{cid}/vcard" => Right(CustomersRead), api::customers::vcard;
    get "/customers/{id}/portal" => Right(CustomersPortal), portal::staff::access;
    post "/customers/{id}/portal" => Right(CustomersPortal), portal::staff::save_settings;
    post "/customers/{id}/portal/invite" => Right(CustomersPortal), portal::staff::invite;
    post "/customers/{id}/portal/accounts/{account}/{action}" => Right(CustomersPortal), portal::staff::account_action;

    // Sales: opportunities, board, leads, meetings and calendar, calls, stock.
    get "/opportunities" => Right(OpportunitiesRead), pages::sales::list;
    get "/opportunities/new" => Right(OpportunitiesCreate), pages::sales::new_form;
    post "/opportunities" => Right(OpportunitiesCreate), pages::sales::create;
    get "/opportunities/board" => Right(OpportunitiesRead), pages::sales::board;
    get "/opportunities/export.csv" => Right(OpportunitiesExport), listing::export::<lists::Opportunities>;
    get "/opportunities/trash" => Right(OpportunitiesRestore), pages::sales::trash;
    post "/opportunities/views" => Right(OpportunitiesRead), listing::create_view::<lists::Opportunities>;
    post "/opportunities/views/{id}" => Right(OpportunitiesRead), listing::update_view::<lists::Opportunities>;
    post "/opportunities/views/{id}/delete" => Right(OpportunitiesRead), listing::delete_view::<lists::Opportunities>;
    get "/opportunities/{id}" => Right(OpportunitiesRead), pages::sales::show;
    get "/opportunities/{id}/edit" => Right(OpportunitiesUpdate), pages::sales::edit_form;
    post "/opportunities/{id}" => Right(OpportunitiesUpdate), pages::sales::update;
    post "/opportunities/{id}/status" => Right(OpportunitiesUpdate), pages::sales::change_status;
    post "/opportunities/{id}/notes" => Right(OpportunitiesUpdate), pages::sales::add_note;
    post "/opportunities/{id}/calls" => Right(CallsCreate), pages::sales::schedule_call;
    post "/opportunities/{id}/email" => Right(OpportunitiesUpdate), pages::sales::send_email;
    post "/opportunities/{id}/restore" => Right(OpportunitiesRestore), pages::sales::restore;
    get "/opportunities/{id}/history" => Right(OpportunitiesRead), pages::sales::history;
    get "/opportunities/{id}/meetings/new" => Right(MeetingsCreate), pages::sales::new_meeting;
    post "/opportunities/{id}/meetings" => Right(MeetingsCreate), pages::sales::create_meeting;
    post "/calls/{id}/log" => Right(CallsUpdate), pages::sales::log_call;
    get "/meetings/{id}" => Right(MeetingsRead), pages::sales::show_meeting;
    post "/meetings/{id}" => Right(MeetingsUpdate), pages::sales::update_meeting;
    post "/meetings/{id}/cancel" => Right(MeetingsUpdate), pages::sales::cancel_meeting;
    get "/calendar" => Right(MeetingsRead), pages::sales::calendar;
    get "/calendar/book" => Right(MeetingsCreate), pages::sales::book_meeting;
    get "/leads" => Right(OpportunitiesRead), pages::sales::leads_list;
    get "/leads/export.csv" => Right(OpportunitiesExport), listing::export::<lists::Leads>;
    post "/leads/views" => Right(OpportunitiesRead), listing::create_view::<lists::Leads>;
    post "/leads/views/{id}" => Right(OpportunitiesRead), listing::update_view::<lists::Leads>;
    post "/leads/views/{id}/delete" => Right(OpportunitiesRead), listing::delete_view::<lists::Leads>;
    get "/leads/new" => Right(LeadsCreate), pages::sales::lead_form;
    post "/leads" => Right(LeadsCreate), pages::sales::lead_submit;
    get "/stock" => Right(StockRead), pages::sales::stock_list;
    post "/stock" => Right(StockManage), pages::sales::stock_create;
    post "/stock/{id}" => Right(StockManage), pages::sales::stock_update;

    // Pre-sales requests: the team's side (the partner's is under /partner).
    get "/presales" => Right(PresalesManage), pages::presales::queue;
    get "/presales/{id}" => Right(PresalesManage), pages::presales::show;
    get "/presales/{id}/history" => Right(PresalesManage), pages::presales::history;
    post "/presales/{id}/{step}" => Right(PresalesManage), pages::presales::step;

    // Service requests.
    get "/service/requests" => Right(ServiceRequestsRead), pages::service::list;
    get "/service/requests/export.csv" => Right(ServiceRequestsExport), listing::export::<lists::Requests>;
    post "/service/requests/views" => Right(ServiceRequestsRead), listing::create_view::<lists::Requests>;
    post "/service/requests/views/{id}" => Right(ServiceRequestsRead), listing::update_view::<lists::Requests>;
    post "/service/requests/views/{id}/delete" => Right(ServiceRequestsRead), listing::delete_view::<lists::Requests>;
    get "/service/requests/new" => Right(ServiceRequestsCreate), pages::service::new_form;
    post "/service/requests" => Right(ServiceRequestsCreate), pages::service::create;
    get "/service/requests/{id}" => Right(ServiceRequestsRead), pages::service::show;
    get "/service/requests/{id}/edit" => Right(ServiceRequestsUpdate), pages::service::edit_form;
    post "/service/requests/{id}" => Right(ServiceRequestsUpdate), pages::service::update;
    get "/service/requests/{id}/history" => Right(ServiceRequestsRead), pages::service::history;
    post "/service/requests/{id}/updates" => Right(ServiceRequestsUpdate), pages::service::add_update;
    post "/service/requests/{id}/notes" => Right(ServiceRequestsUpdate), pages::service::add_note;
    post "/service/requests/{id}/calls" => Right(ServiceRequestsUpdate), pages::service::schedule_call;
    post "/service/requests/{id}/calls/{call_id}/log" => Right(ServiceRequestsUpdate), pages::service::log_call;
    post "/service/requests/{id}/contacts/{role}" => Right(ServiceContactCreate), pages::service::create_contact;
    get "/service/requests/{id}/contacts/{role}/edit" => Right(ServiceContactUpdate), pages::service::edit_contact;
    post "/service/requests/{id}/contacts/{role}/edit" => Right(ServiceContactUpdate), pages::service::update_contact;
    post "/service/requests/{id}/equipment" => Right(ServiceRequestsUpdate), pages::service::add_line;
    post "/service/requests/{id}/equipment/{equipment_id}" => Right(ServiceRequestsUpdate), pages::service::set_symptom;
    post "/service/requests/{id}/equipment/{equipment_id}/remove" => Right(ServiceRequestsUpdate), pages::service::remove_line;
    post "/service/requests/{id}/interventions" => Right(InterventionsCreate), pages::service::create_intervention;
    post "/service/requests/{id}/returns" => Right(ReturnsCreate), pages::service::create_return;
    post "/service/returns/{id}/status" => Right(ReturnsUpdate), pages::service::return_status;
    get "/service/interventions" => Right(InterventionsRead), pages::service::interventions_list;
    get "/service/interventions/export.csv" => Right(ServiceRequestsExport), listing::export::<lists::Interventions>;
    post "/service/interventions/views" => Right(InterventionsRead), listing::create_view::<lists::Interventions>;
    post "/service/interventions/views/{id}" => Right(InterventionsRead), listing::update_view::<lists::Interventions>;
    post "/service/interventions/views/{id}/delete" => Right(InterventionsRead), listing::delete_view::<lists::Interventions>;
    get "/service/interventions/{id}" => Right(InterventionsRead), pages::service::show_intervention;
    post "/service/interventions/{id}" => Right(InterventionsUpdate), pages::service::update_intervention;
    // The technician's day: the intervention's technician (or a user covering its request).
    post "/service/interventions/{id}/start" => Right(InterventionsUpdate), pages::service::start_intervention;
    post "/service/interventions/{id}/report" => Right(InterventionsUpdate), pages::service::report_intervention;
    post "/service/interventions/{id}/photos" => Right(InterventionsUpdate), pages::service::add_photo;
    post "/service/interventions/{id}/signature" => Right(InterventionsUpdate), pages::service::sign_intervention;
    get "/service/interventions/{id}/signature.png" => Right(InterventionsRead), pages::service::signature_image;
    get "/service/planning" => Right(InterventionsRead), pages::service::planning;
    get "/service/planning/book" => Right(InterventionsCreate), pages::service::book_intervention;
    post "/service/requests/{id}/documents" => Right(DocumentsCreate), pages::service::upload_document;
    get "/service/documents/{id}" => Right(DocumentsRead), pages::service::download_document;
    get "/service/requests/{id}/summary.pdf" => Right(ServiceRequestsRead), api::service::summary_pdf;
    post "/service/requests/{id}/email" => Right(ServiceMailSend), pages::service::send_email;
    post "/service/documents/{id}/delete" => Right(DocumentsDelete), pages::service::delete_document;
    post "/service/documents/{id}/share" => Right(DocumentsCreate), portal::staff::share_document;
    post "/service/interventions/{id}/share-report" => Right(InterventionsUpdate), portal::staff::share_report;
    get "/service/requests/{id}/portal-preview" => Right(ServiceRequestsRead), portal::staff::preview;
    post "/service/requests/{id}/messages" => Right(ServiceMessages), pages::service::post_message;
    post "/service/requests/{id}/messages/{message_id}/read" => Right(ServiceMessages), pages::service::mark_message;
    post "/service/requests/{id}/conversation" => Right(ServiceMessages), pages::service::block_conversation;
    get "/service/inbound" => Right(ServiceInboundManage), pages::inbound::page;
    post "/service/inbound/{id}/assign" => Right(ServiceInboundManage), pages::inbound::assign;
    post "/service/inbound/{id}/create" => Right(ServiceInboundManage), pages::inbound::create;
    post "/service/inbound/{id}/discard" => Right(ServiceInboundManage), pages::inbound::discard;

    // The customer portal: its own login and session (never a staff one), every page filtered
    // by the portal user's organisation (http::portal).
    get "/portal/login" => PortalPublic, portal::pages::login_page;
    post "/portal/login" => PortalPublic, portal::pages::login_submit;
    post "/portal/language" => PortalPublic, portal::pages::set_language;
    get "/portal/reset" => PortalPublic, portal::pages::forgot_page;
    post "/portal/reset" => PortalPublic, portal::pages::forgot_submit;
    get "/portal/welcome/{secret}" => PortalPublic, portal::pages::welcome_page;
    post "/portal/welcome/{secret}" => PortalPublic, portal::pages::welcome_submit;
    get "/portal/reset/{secret}" => PortalPublic, portal::pages::reset_page;
    post "/portal/reset/{secret}" => PortalPublic, portal::pages::reset_submit;
    get "/portal/calendar/{secret}" => PortalPublic, portal::pages::calendar_feed;
    post "/portal/logout" => Portal, portal::pages::logout;
    get "/portal" => Portal, portal::pages::home;
    get "/portal/requests" => Portal, portal::pages::requests;
    get "/portal/requests/new" => Portal, portal::pages::new_request;
    post "/portal/requests" => Portal, portal::pages::create_request;
    get "/portal/requests/{id}" => Portal, portal::pages::request;
    post "/portal/requests/{id}/documents" => Portal, portal::pages::upload;
    post "/portal/requests/{id}/messages" => Portal, portal::pages::post_message;
    get "/portal/documents/{id}" => Portal, portal::pages::document;
    get "/portal/interventions/{id}/calendar.ics" => Portal, portal::pages::visit_ics;
    get "/portal/planning" => Portal, portal::pages::planning;
    get "/portal/equipment" => Portal, portal::pages::equipment;
    get "/portal/equipment/{id}" => Portal, portal::pages::equipment_item;
    get "/portal/account" => Portal, portal::pages::account;
    post "/portal/account/password" => Portal, portal::pages::change_password;
    post "/portal/account/calendar" => Portal, portal::pages::new_calendar;
    post "/portal/account/calendar/revoke" => Portal, portal::pages::revoke_calendar;
    get "/portal/colleagues" => Portal, portal::pages::colleagues;
    post "/portal/colleagues" => Portal, portal::pages::invite_colleague;
    post "/portal/colleagues/{id}/{action}" => Portal, portal::pages::colleague_status;

    // Partners (staff side): organisations and their users, their opportunities (by the
    // staff user's visibility over the partner's channel manager and unit), news.
    get "/partners" => Right(PartnersRead), partner::staff::list;
    get "/partners/new" => Right(PartnersManage), partner::staff::new_form;
    post "/partners" => Right(PartnersManage), partner::staff::create;
    get "/partners/opportunities" => Right(PartnersRead), partner::staff::opportunities;
    get "/partners/opportunities/{id}" => Right(PartnersRead), partner::staff::opportunity;
    get "/partners/opportunities/{id}/history" => Right(PartnersRead), partner::staff::opportunity_history;
    get "/partners/{id}" => Right(PartnersRead), partner::staff::show;
    get "/partners/{id}/edit" => Right(PartnersManage), partner::staff::edit_form;
    post "/partners/{id}" => Right(PartnersManage), partner::staff::update;
    get "/partners/{id}/history" => Right(PartnersRead), partner::staff::history;
    post "/partners/{id}/invite" => Right(PartnersManage), partner::staff::invite;
    post "/partners/{id}/users/{user}/{action}" => Right(PartnersManage), partner::staff::user_action;
    get "/news" => Right(NewsPublish), partner::staff::news_list;
    get "/news/new" => Right(NewsPublish), partner::staff::news_new;
    post "/news" => Right(NewsPublish), partner::staff::news_create;
    get "/news/{id}" => Right(NewsPublish), partner::staff::news_edit;
    post "/news/{id}" => Right(NewsPublish), partner::staff::news_update;
    get "/news/{id}/image" => Right(NewsPublish), partner::staff::news_image;
    post "/news/{id}/image" => Right(NewsPublish), partner::staff::news_image_upload;
    post "/news/{id}/image/delete" => Right(NewsPublish), partner::staff::news_image_remove;

    // The partner portal: its own login and session (never a staff or customer portal one),
    // every page filtered by the partner user's organisation (http::partner).
    get "/partner/login" => PartnerPublic, partner::pages::login_page;
    post "/partner/login" => PartnerPublic, partner::pages::login_submit;
    post "/partner/language" => PartnerPublic, partner::pages::set_language;
    get "/partner/reset" => PartnerPublic, partner::pages::forgot_page;
    post "/partner/reset" => PartnerPublic, partner::pages::forgot_submit;
    get "/partner/welcome/{secret}" => PartnerPublic, partner::pages::welcome_page;
    post "/partner/welcome/{secret}" => PartnerPublic, partner::pages::welcome_submit;
    get "/partner/reset/{secret}" => PartnerPublic, partner::pages::reset_page;
    post "/partner/reset/{secret}" => PartnerPublic, partner::pages::reset_submit;
    post "/partner/logout" => Partner, partner::pages::logout;
    get "/partner" => Partner, partner::pages::home;
    get "/partner/opportunities" => PartnerOpportunities, partner::pages::opportunities;
    get "/partner/opportunities/new" => PartnerOpportunities, partner::pages::new_opportunity;
    post "/partner/opportunities" => PartnerOpportunities, partner::pages::create_opportunity;
    get "/partner/opportunities/{id}" => PartnerOpportunities, partner::pages::opportunity;
    get "/partner/opportunities/{id}/edit" => PartnerOpportunities, partner::pages::edit_opportunity;
    post "/partner/opportunities/{id}" => PartnerOpportunities, partner::pages::update_opportunity;
    get "/partner/presales" => PartnerOpportunities, partner::presales::list;
    get "/partner/presales/new" => PartnerOpportunities, partner::presales::new_form;
    post "/partner/presales" => PartnerOpportunities, partner::presales::create;
    get "/partner/presales/{id}" => PartnerOpportunities, partner::presales::show;
    get "/partner/presales/{id}/edit" => PartnerOpportunities, partner::presales::edit_form;
    post "/partner/presales/{id}" => PartnerOpportunities, partner::presales::update;
    post "/partner/presales/{id}/{step}" => PartnerOpportunities, partner::presales::step;
    get "/partner/account" => Partner, partner::pages::account;
    post "/partner/account" => Partner, partner::pages::update_account;
    post "/partner/account/password" => Partner, partner::pages::change_password;
    get "/partner/news" => Partner, partner::pages::news_list;
    get "/partner/news/{id}" => Partner, partner::pages::news_item;
    get "/partner/news/{id}/image" => Partner, partner::pages::news_image;
    get "/partner/colleagues" => Partner, partner::pages::colleagues;
    post "/partner/colleagues" => Partner, partner::pages::invite_colleague;
    post "/partner/colleagues/{id}/{action}" => Partner, partner::pages::colleague_action;

    // Administration.
    get "/admin" => Authenticated, pages::admin::index;
    get "/admin/users" => Right(AdminUsers), pages::admin::users::list;
    get "/admin/users/export.csv" => Right(AdminUsers), listing::export::<lists::Users>;
    post "/admin/users/views" => Right(AdminUsers), listing::create_view::<lists::Users>;
    post "/admin/users/views/{id}" => Right(AdminUsers), listing::update_view::<lists::Users>;
    post "/admin/users/views/{id}/delete" => Right(AdminUsers), listing::delete_view::<lists::Users>;
    get "/admin/users/new" => Right(AdminUsers), pages::admin::users::new_form;
    post "/admin/users" => Right(AdminUsers), pages::admin::users::create;
    get "/admin/users/{id}" => Right(AdminUsers), pages::admin::users::edit_form;
    post "/admin/users/{id}" => Right(AdminUsers), pages::admin::users::update;
    post "/admin/users/{id}/password" => Right(AdminUsers), pages::admin::users::set_password;
    post "/admin/users/{id}/two-factor/reset" => Right(AdminUsers), pages::admin::users::reset_two_factor;
    get "/admin/users/{id}/history" => Right(AdminUsers), pages::admin::users::history;
    get "/admin/roles" => Right(AdminRoles), pages::admin::roles::list;
    get "/admin/roles/new" => Right(AdminRoles), pages::admin::roles::new_form;
    post "/admin/roles" => Right(AdminRoles), pages::admin::roles::create;
    get "/admin/roles/{id}" => Right(AdminRoles), pages::admin::roles::edit_form;
    post "/admin/roles/{id}" => Right(AdminRoles), pages::admin::roles::update;
    post "/admin/roles/{id}/delete" => Right(AdminRoles), pages::admin::roles::delete;
    get "/admin/roles/{id}/history" => Right(AdminRoles), pages::admin::roles::history;
    get "/admin/org-units" => Right(AdminOrg), pages::admin::org::tree;
    post "/admin/org-units" => Right(AdminOrg), pages::admin::org::create;
    get "/admin/org-units/{id}" => Right(AdminOrg), pages::admin::org::edit_form;
    post "/admin/org-units/{id}" => Right(AdminOrg), pages::admin::org::update;
    post "/admin/org-units/{id}/delete" => Right(AdminOrg), pages::admin::org::delete;
    get "/admin/org-units/{id}/history" => Right(AdminOrg), pages::admin::org::history;
    get "/admin/groups" => Right(AdminGroups), pages::admin::groups::list;
    get "/admin/groups/new" => Right(AdminGroups), pages::admin::groups::new_form;
    post "/admin/groups" => Right(AdminGroups), pages::admin::groups::create;
    get "/admin/groups/{id}" => Right(AdminGroups), pages::admin::groups::edit_form;
    post "/admin/groups/{id}" => Right(AdminGroups), pages::admin::groups::update;
    post "/admin/groups/{id}/delete" => Right(AdminGroups), pages::admin::groups::delete;
    get "/admin/groups/{id}/history" => Right(AdminGroups), pages::admin::groups::history;
    get "/admin/lists" => Right(AdminLists), pages::admin::lists::index;
    get "/admin/lists/{code}" => Right(AdminLists), pages::admin::lists::show;
    post "/admin/lists/{code}/items" => Right(AdminLists), pages::admin::lists::create_item;
    post "/admin/lists/{code}/items/{id}" => Right(AdminLists), pages::admin::lists::update_item;
    get "/admin/settings" => Right(AdminSettings), pages::admin::settings::page;
    post "/admin/settings" => Right(AdminSettings), pages::admin::settings::save;
    get "/admin/service-levels" => Right(AdminSettings), pages::admin::service_levels::page;
    post "/admin/service-levels" => Right(AdminSettings), pages::admin::service_levels::save;
    get "/admin/outbox" => Right(AdminMail), pages::admin::mail::outbox;
    post "/admin/outbox/test" => Right(AdminMail), pages::admin::mail::send_test;
    get "/admin/outbox/{id}" => Right(AdminMail), pages::admin::mail::show;
    post "/admin/outbox/{id}/retry" => Right(AdminMail), pages::admin::mail::retry;
    post "/admin/outbox/retry-failed" => Right(AdminMail), pages::admin::mail::retry_failed;
    get "/admin/outbox/{id}/attachments/{aid}" => Right(AdminMail), pages::admin::mail::attachment;
    get "/admin/email-templates" => Right(AdminMail), pages::admin::mail::templates_list;
    get "/admin/email-templates/{event}/{lang}" => Right(AdminMail), pages::admin::mail::template_form;
    post "/admin/email-templates/{event}/{lang}" => Right(AdminMail), pages::admin::mail::template_save;
    post "/admin/email-templates/{event}/{lang}/reset" => Right(AdminMail), pages::admin::mail::template_reset;
    get "/admin/jobs" => Right(AdminJobs), pages::admin::jobs::page;
    post "/admin/jobs/run/{kind}" => Right(AdminJobs), pages::admin::jobs::run;
    post "/admin/jobs/{id}/retry" => Right(AdminJobs), pages::admin::jobs::retry;

    // JSON API.
    get "/api/v1/me" => Authenticated, api::me;
    // Partners, their opportunities and news (staff), the pre-sales team's queue and steps.
    get "/api/v1/partners" => Right(PartnersRead), api::partners::list_partners;
    get "/api/v1/partners/{id}" => Right(PartnersRead), api::partners::get_partner;
    get "/api/v1/partner-opportunities" => Right(PartnersRead), api::partners::list_opportunities;
    get "/api/v1/partner-opportunities/{id}" => Right(PartnersRead), api::partners::get_opportunity;
    get "/api/v1/news" => Right(NewsPublish), api::partners::list_news;
    post "/api/v1/news" => Right(NewsPublish), api::partners::create_news;
    get "/api/v1/news/{id}" => Right(NewsPublish), api::partners::get_news;
    get "/api/v1/presales-requests" => Right(PresalesManage), api::partners::list_presales;
    get "/api/v1/presales-requests/{id}" => Right(PresalesManage), api::partners::get_presales;
    get "/api/v1/presales-requests/{id}/activity" => Right(PresalesManage), api::activity::presales;
    post "/api/v1/presales-requests/{id}/accept" => Right(PresalesManage), api::partners::accept;
    post "/api/v1/presales-requests/{id}/assign" => Right(PresalesManage), api::partners::assign;
    post "/api/v1/presales-requests/{id}/propose" => Right(PresalesManage), api::partners::propose;
    post "/api/v1/presales-requests/{id}/ask-info" => Right(PresalesManage), api::partners::ask_info;
    post "/api/v1/presales-requests/{id}/refuse" => Right(PresalesManage), api::partners::refuse;
    post "/api/v1/presales-requests/{id}/cancel" => Right(PresalesManage), api::partners::cancel;
    get "/api/v1/search" => Authenticated, api::search::search;
    get "/api/v1/users" => Right(UsersRead), api::users::list;
    post "/api/v1/users" => Right(AdminUsers), api::users::create;
    get "/api/v1/users/{id}" => Right(UsersRead), api::users::get;
    patch "/api/v1/users/{id}" => Right(AdminUsers), api::users::update;
    get "/api/v1/users/{id}/history" => Right(AdminAudit), api::users::history;
    get "/api/v1/customers" => Right(CustomersRead), api::customers::list;
    post "/api/v1/customers" => Right(CustomersCreate), api::customers::create;
    get "/api/v1/customers/lookup" => Right(CustomersRead), api::customers::lookup;
    get "/api/v1/customers/views" => Right(CustomersRead), listing::api_views::<lists::Customers>;
    post "/api/v1/customers/views" => Right(CustomersRead), listing::api_create_view::<lists::Customers>;
    put "/api/v1/customers/views/{id}" => Right(CustomersRead), listing::api_update_view::<lists::Customers>;
    delete "/api/v1/customers/views/{id}" => Right(CustomersRead), listing::api_delete_view::<lists::Customers>;
    get "/api/v1/customers/export" => Right(CustomersExport), listing::export::<lists::Customers>;
    get "/api/v1/customers/{id}" => Right(CustomersRead), api::customers::get;
    patch "/api/v1/customers/{id}" => Right(CustomersUpdate), api::customers::update;
    delete "/api/v1/customers/{id}" => Right(CustomersDelete), api::customers::delete;
    post "/api/v1/customers/{id}/merge" => Right(CustomersMerge), api::customers::merge;
    get "/api/v1/customers/{id}/contacts" => Right(CustomersRead), api::customers::contacts;
    post "/api/v1/customers/{id}/contacts" => Right(CustomersUpdate), api::customers::create_contact;
    put "/api/v1/customers/{id}/contacts/{contact_id}" => Right(CustomersUpdate), api::customers::update_contact;
    delete "/api/v1/customers/{id}/contacts/{contact_id}" => Right(CustomersUpdate), api::customers::delete_contact;
    get "/api/v1/customers/{id}/open-files" => Right(CustomersRead), api::sales::open_files;
    get "/api/v1/customers/{id}/activity" => Right(CustomersRead), api::activity::customer;
    get "/api/v1/opportunities" => Right(OpportunitiesRead), api::sales::list;
    get "/api/v1/opportunities/views" => Right(OpportunitiesRead), listing::api_views::<lists::Opportunities>;
    post "/api/v1/opportunities/views" => Right(OpportunitiesRead), listing::api_create_view::<lists::Opportunities>;
    put "/api/v1/opportunities/views/{id}" => Right(OpportunitiesRead), listing::api_update_view::<lists::Opportunities>;
    delete "/api/v1/opportunities/views/{id}" => Right(OpportunitiesRead), listing::api_delete_view::<lists::Opportunities>;
    get "/api/v1/opportunities/export" => Right(OpportunitiesExport), listing::export::<lists::Opportunities>;
    get "/api/v1/leads" => Right(OpportunitiesRead), api::sales::list_leads;
    get "/api/v1/leads/views" => Right(OpportunitiesRead), listing::api_views::<lists::Leads>;
    post "/api/v1/leads/views" => Right(OpportunitiesRead), listing::api_create_view::<lists::Leads>;
    put "/api/v1/leads/views/{id}" => Right(OpportunitiesRead), listing::api_update_view::<lists::Leads>;
    delete "/api/v1/leads/views/{id}" => Right(OpportunitiesRead), listing::api_delete_view::<lists::Leads>;
    get "/api/v1/leads/export" => Right(OpportunitiesExport), listing::export::<lists::Leads>;
    post "/api/v1/opportunities" => Right(OpportunitiesCreate), api::sales::create;
    get "/api/v1/opportunities/trash" => Right(OpportunitiesRestore), api::sales::trash;
    get "/api/v1/opportunities/board" => Right(OpportunitiesRead), api::sales::board;
    get "/api/v1/opportunities/{id}" => Right(OpportunitiesRead), api::sales::get;
    patch "/api/v1/opportunities/{id}" => Right(OpportunitiesUpdate), api::sales::update;
    post "/api/v1/opportunities/{id}/restore" => Right(OpportunitiesRestore), api::sales::restore;
    get "/api/v1/opportunities/{id}/history" => Right(OpportunitiesRead), api::sales::history;
    get "/api/v1/opportunities/{id}/activity" => Right(OpportunitiesRead), api::activity::opportunity;
    get "/api/v1/opportunities/{id}/notes" => Right(OpportunitiesRead), api::sales::notes;
    post "/api/v1/opportunities/{id}/notes" => Right(OpportunitiesUpdate), api::sales::add_note;
    post "/api/v1/leads" => Right(LeadsCreate), api::sales::create_lead;
    get "/api/v1/meetings" => Right(MeetingsRead), api::sales::list_meetings;
    post "/api/v1/meetings" => Right(MeetingsCreate), api::sales::create_meeting;
    get "/api/v1/meetings/{id}" => Right(MeetingsRead), api::sales::get_meeting;
    put "/api/v1/meetings/{id}" => Right(MeetingsUpdate), api::sales::update_meeting;
    post "/api/v1/meetings/{id}/move" => Right(MeetingsUpdate), api::sales::move_meeting;
    post "/api/v1/meetings/{id}/cancel" => Right(MeetingsUpdate), api::sales::cancel_meeting;
    get "/api/v1/calls" => Right(CallsRead), api::sales::list_calls;
    post "/api/v1/calls" => Right(CallsCreate), api::sales::create_call;
    put "/api/v1/calls/{id}" => Right(CallsUpdate), api::sales::update_call;
    post "/api/v1/calls/{id}/log" => Right(CallsUpdate), api::sales::log_call;
    get "/api/v1/stock-units" => Right(StockRead), api::sales::list_stock;
    post "/api/v1/stock-units" => Right(StockManage), api::sales::create_stock;
    put "/api/v1/stock-units/{id}" => Right(StockManage), api::sales::update_stock;
    get "/api/v1/service-requests" => Right(ServiceRequestsRead), api::service::list;
    get "/api/v1/service-requests/views" => Right(ServiceRequestsRead), listing::api_views::<lists::Requests>;
    post "/api/v1/service-requests/views" => Right(ServiceRequestsRead), listing::api_create_view::<lists::Requests>;
    put "/api/v1/service-requests/views/{id}" => Right(ServiceRequestsRead), listing::api_update_view::<lists::Requests>;
    delete "/api/v1/service-requests/views/{id}" => Right(ServiceRequestsRead), listing::api_delete_view::<lists::Requests>;
    get "/api/v1/service-requests/export" => Right(ServiceRequestsExport), listing::export::<lists::Requests>;
    post "/api/v1/service-requests" => Right(ServiceRequestsCreate), api::service::create;
    get "/api/v1/service-requests/{id}" => Right(ServiceRequestsRead), api::service::get;
    patch "/api/v1/service-requests/{id}" => Right(ServiceRequestsUpdate), api::service::update;
    get "/api/v1/service-requests/{id}/history" => Right(ServiceRequestsRead), api::service::history;
    get "/api/v1/service-requests/{id}/activity" => Right(ServiceRequestsRead), api::activity::request;
    get "/api/v1/service-requests/{id}/updates" => Right(ServiceRequestsRead), api::service::updates;
    post "/api/v1/service-requests/{id}/updates" => Right(ServiceRequestsUpdate), api::service::add_update;
    get "/api/v1/service-requests/{id}/notes" => Right(ServiceRequestsRead), api::service::notes;
    post "/api/v1/service-requests/{id}/notes" => Right(ServiceRequestsUpdate), api::service::add_note;
    get "/api/v1/service-requests/{id}/calls" => Right(ServiceRequestsRead), api::service::calls;
    post "/api/v1/service-requests/{id}/calls" => Right(ServiceRequestsUpdate), api::service::schedule_call;
    post "/api/v1/service-requests/{id}/calls/{call_id}/log" => Right(ServiceRequestsUpdate), api::service::log_call;
    get "/api/v1/service-requests/{id}/messages" => Right(ServiceMessages), api::service::messages;
    post "/api/v1/service-requests/{id}/messages" => Right(ServiceMessages), api::service::post_message;
    get "/api/v1/service-levels" => Right(ServiceRequestsRead), api::service::service_levels;
    get "/api/v1/reports/sales" => Right(OpportunitiesRead), api::reports::sales;
    get "/api/v1/reports/service" => Right(ServiceRequestsRead), api::reports::service;
    put "/api/v1/service-levels" => Right(AdminSettings), api::service::put_service_levels;
    post "/api/v1/service-requests/{id}/contacts/{role}" => Right(ServiceContactCreate), api::service::create_contact;
    put "/api/v1/service-requests/{id}/contacts/{role}" => Right(ServiceContactUpdate), api::service::update_contact;
    get "/api/v1/service-requests/{id}/equipment" => Right(ServiceRequestsRead), api::service::lines;
    post "/api/v1/service-requests/{id}/equipment" => Right(ServiceRequestsUpdate), api::service::add_line;
    patch "/api/v1/service-requests/{id}/equipment/{equipment_id}" => Right(ServiceRequestsUpdate), api::service::set_symptom;
    delete "/api/v1/service-requests/{id}/equipment/{equipment_id}" => Right(ServiceRequestsUpdate), api::service::remove_line;
    get "/api/v1/equipment" => Right(ServiceRequestsRead), api::service::list_equipment;
    post "/api/v1/equipment" => Right(ServiceEquipmentManage), api::service::create_equipment;
    put "/api/v1/equipment/{id}" => Right(ServiceEquipmentManage), api::service::update_equipment;
    get "/api/v1/service-requests/{id}/interventions" => Right(InterventionsRead), api::service::request_interventions;
    get "/api/v1/interventions" => Right(InterventionsRead), api::service::planning;
    post "/api/v1/interventions" => Right(InterventionsCreate), api::service::create_intervention;
    get "/api/v1/interventions/{id}" => Right(InterventionsRead), api::service::get_intervention;
    put "/api/v1/interventions/{id}" => Right(InterventionsUpdate), api::service::update_intervention;
    post "/api/v1/interventions/{id}/move" => Right(InterventionsUpdate), api::service::move_intervention;
    post "/api/v1/interventions/{id}/photos" => Right(InterventionsUpdate), api::service::add_photo;
    put "/api/v1/interventions/{id}/signature" => Right(InterventionsUpdate), api::service::put_signature;
    get "/api/v1/equipment-returns" => Right(ReturnsRead), api::service::list_returns;
    post "/api/v1/equipment-returns" => Right(ReturnsCreate), api::service::create_return;
    patch "/api/v1/equipment-returns/{id}" => Right(ReturnsUpdate), api::service::update_return;
    get "/api/v1/service-requests/{id}/documents" => Right(DocumentsRead), api::service::list_documents;
    post "/api/v1/service-requests/{id}/documents" => Right(DocumentsCreate), api::service::upload_document;
    get "/api/v1/documents/{id}" => Right(DocumentsRead), api::service::download_document;
    delete "/api/v1/documents/{id}" => Right(DocumentsDelete), api::service::delete_document;
    get "/api/v1/service-requests/{id}/summary.pdf" => Right(ServiceRequestsRead), api::service::summary_pdf;
    post "/api/v1/service-requests/{id}/emails" => Right(ServiceMailSend), api::service::send_email;
    get "/api/v1/roles" => Right(AdminRoles), api::admin::list_roles;
    post "/api/v1/roles" => Right(AdminRoles), api::admin::create_role;
    patch "/api/v1/roles/{id}" => Right(AdminRoles), api::admin::update_role;
    delete "/api/v1/roles/{id}" => Right(AdminRoles), api::admin::delete_role;
    get "/api/v1/org-units" => Authenticated, api::admin::list_units;
    post "/api/v1/org-units" => Right(AdminOrg), api::admin::create_unit;
    patch "/api/v1/org-units/{id}" => Right(AdminOrg), api::admin::update_unit;
    delete "/api/v1/org-units/{id}" => Right(AdminOrg), api::admin::delete_unit;
    get "/api/v1/groups" => Authenticated, api::admin::list_groups;
    post "/api/v1/groups" => Right(AdminGroups), api::admin::create_group;
    patch "/api/v1/groups/{id}" => Right(AdminGroups), api::admin::update_group;
    delete "/api/v1/groups/{id}" => Right(AdminGroups), api::admin::delete_group;
    get "/api/v1/lists" => Authenticated, api::admin::list_lists;
    get "/api/v1/lists/{code}/items" => Authenticated, api::admin::list_items;
    post "/api/v1/lists/{code}/items" => Right(AdminLists), api::admin::create_item;
    patch "/api/v1/lists/{code}/items/{id}" => Right(AdminLists), api::admin::update_item;
    get "/api/v1/settings" => Right(AdminSettings), api::admin::get_settings;
    patch "/api/v1/settings" => Right(AdminSettings), api::admin::patch_settings;
    get "/api/v1/tokens" => Authenticated, api::tokens::list;
    post "/api/v1/tokens" => Authenticated, api::tokens::create;
    delete "/api/v1/tokens/{id}" => Authenticated, api::tokens::revoke;
    get "/api/v1/me/notifications" => Authenticated, api::mail::get_prefs;
    put "/api/v1/me/notifications" => Authenticated, api::mail::put_prefs;
    get "/api/v1/me/inbox" => Authenticated, api::inbox::list;
    post "/api/v1/me/inbox/read-all" => Authenticated, api::inbox::read_all;
    post "/api/v1/me/inbox/{id}/read" => Authenticated, api::inbox::read;
    get "/api/v1/emails" => Right(AdminMail), api::mail::list;
    post "/api/v1/emails/test" => Right(AdminMail), api::mail::send_test;
    get "/api/v1/emails/{id}" => Right(AdminMail), api::mail::get;
    post "/api/v1/emails/{id}/retry" => Right(AdminMail), api::mail::retry;
    post "/api/v1/emails/retry-failed" => Right(AdminMail), api::mail::retry_failed;
    get "/api/v1/email-templates" => Right(AdminMail), api::mail::list_templates;
    put "/api/v1/email-templates/{event}/{lang}" => Right(AdminMail), api::mail::put_template;
    get "/api/v1/jobs" => Right(AdminJobs), api::admin::list_jobs;
    post "/api/v1/jobs/{kind}/run" => Right(AdminJobs), api::admin::run_job;
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    // JSON bodies have their own limit (max_body_bytes, in ApiJson); uploads may be larger.
    let limit = state.config.max_body_bytes.max(state.config.max_document_bytes + 64 * 1024);
    let mut r = routes(&state);
    // Outside the table, which lists user-facing routes and their rights: `/metrics` has an
    // access of its own (a token or an address allow-list, `telemetry::check_access`), and
    // exists only when metrics are on and no separate listener serves them.
    if state.config.metrics_enabled && state.config.metrics_listen.is_none() {
        r = r.route("/metrics", get(super::telemetry::scrape));
    }
    r.fallback(pages::not_found)
        .layer(axum::middleware::from_fn(super::error::render_errors))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(super::request_id))
        .layer(axum::middleware::from_fn_with_state(state.clone(), super::headers::security_headers))
        .with_state(state)
}
