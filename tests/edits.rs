//! No edit loses data. Generated from the route table: every edit form (posted back exactly as
//! its page renders it) and every PATCH route (with `{}` and with the unchanged object) is
//! called on records seeded with every field filled, and must leave the record and the
//! history as they were. A new edit form or PATCH route that this file does not know fails
//! the test until it is covered. Then targeted tests: a relabelled status keeps its flags,
//! a request edit keeps its branch, contact forms keep civility and particularities, the
//! invariants of a status list are refused with 422 and nothing changed.

mod common;

use std::collections::BTreeSet;

use carnet::http::router::ROUTES;
use common::{each_backend, Api, Session, TestApp, PASSWORD};
use serde_json::{json, Value};

// ------------------------------------------------------------------ the route table

/// UI edit forms: (POST route, the page that renders its form).
const EDIT_FORMS: &[(&str, &str)] = &[
    ("/account/notifications", "/account"),
    ("/customers/{id}", "/customers/{id}/edit"),
    ("/customers/{id}/contacts/{cid}", "/customers/{id}/contacts/{cid}"),
    ("/customers/{id}/portal", "/customers/{id}/portal"),
    ("/opportunities/{id}", "/opportunities/{id}/edit"),
    ("/meetings/{id}", "/meetings/{id}"),
    ("/stock/{id}", "/stock"),
    ("/service/requests/{id}", "/service/requests/{id}/edit"),
    ("/service/requests/{id}/contacts/{role}/edit", "/service/requests/{id}/contacts/{role}/edit"),
    ("/service/requests/{id}/equipment/{equipment_id}", "/service/requests/{id}"),
    ("/service/interventions/{id}", "/service/interventions/{id}"),
    ("/service/interventions/{id}/report", "/service/interventions/{id}"),
    ("/admin/users/{id}", "/admin/users/{id}"),
    ("/admin/roles/{id}", "/admin/roles/{id}"),
    ("/admin/org-units/{id}", "/admin/org-units/{id}"),
    ("/admin/groups/{id}", "/admin/groups/{id}"),
    ("/admin/lists/{code}/items/{id}", "/admin/lists/{code}"),
    ("/admin/settings", "/admin/settings"),
    ("/admin/service-levels", "/admin/service-levels"),
    ("/admin/email-templates/{event}/{lang}", "/admin/email-templates/{event}/{lang}"),
    ("/partners/{id}", "/partners/{id}/edit"),
    ("/news/{id}", "/news/{id}"),
];

/// UI POST routes that are not edits of a stored record: creations, deletions, sending,
/// workflow actions (each audited as such), sessions.
const NOT_EDITS: &[&str] = &[
    // The customer portal's access (invitations, account actions) and sharing (toggles).
    "/customers/{id}/portal/invite",
    "/customers/{id}/portal/accounts/{account}/{action}",
    "/service/documents/{id}/share",
    "/service/interventions/{id}/share-report",
    // The technician's day: starting (a workflow step), a photo and a signature (each audited).
    "/service/interventions/{id}/start",
    "/service/interventions/{id}/photos",
    "/service/interventions/{id}/signature",
    // Conversations: a message, a read mark, closing or reopening (each audited).
    "/service/requests/{id}/messages",
    "/service/requests/{id}/messages/{message_id}/read",
    "/service/requests/{id}/conversation",
    // The inbound-mail quarantine: decisions on a received email (assign, open a request,
    // discard), each audited; the email itself is never edited.
    "/service/inbound/{id}/assign",
    "/service/inbound/{id}/create",
    "/service/inbound/{id}/discard",
    // The customer portal's own forms (its sessions, links, requests, messages, account).
    "/portal/login",
    "/portal/logout",
    "/portal/language",
    "/portal/reset",
    "/portal/reset/{secret}",
    "/portal/welcome/{secret}",
    "/portal/requests",
    "/portal/requests/{id}/documents",
    "/portal/requests/{id}/messages",
    "/portal/account/password",
    "/portal/account/calendar",
    "/portal/account/calendar/revoke",
    "/portal/colleagues",
    "/portal/colleagues/{id}/{action}",
    "/login",
    "/logout",
    "/language",
    "/account/password",
    "/account/tokens",
    "/account/tokens/{id}/revoke",
    // The second factor: the login's second step and its own actions, each audited.
    "/login/code",
    "/account/two-factor/setup",
    "/account/two-factor/confirm",
    "/account/two-factor/recovery-codes",
    "/account/two-factor/disable",
    "/admin/users/{id}/two-factor/reset",
    "/customers",
    "/customers/views",
    // "Update this view" stores the list's current filters: its body is the new query.
    "/customers/views/{id}",
    "/customers/views/{id}/delete",
    "/service/requests/views",
    "/service/requests/views/{id}",
    "/service/requests/views/{id}/delete",
    "/service/interventions/views",
    "/service/interventions/views/{id}",
    "/service/interventions/views/{id}/delete",
    "/admin/users/views",
    "/admin/users/views/{id}",
    "/admin/users/views/{id}/delete",
    "/customers/import",
    "/customers/import/{id}/dry-run",
    "/customers/import/{id}/run",
    "/customers/{id}/delete",
    "/customers/{id}/merge",
    "/customers/{id}/contacts",
    "/customers/{id}/contacts/{cid}/delete",
    "/opportunities",
    "/opportunities/views",
    "/opportunities/views/{id}",
    "/opportunities/views/{id}/delete",
    "/leads/views",
    "/leads/views/{id}",
    "/leads/views/{id}/delete",
    "/opportunities/{id}/status",
    "/opportunities/{id}/notes",
    "/opportunities/{id}/calls",
    "/opportunities/{id}/email",
    "/opportunities/{id}/restore",
    "/opportunities/{id}/meetings",
    "/calls/{id}/log",
    "/meetings/{id}/cancel",
    "/leads",
    "/stock",
    "/service/requests",
    "/service/requests/{id}/updates",
    "/service/requests/{id}/notes",
    "/service/requests/{id}/calls",
    "/service/requests/{id}/calls/{call_id}/log",
    "/service/requests/{id}/contacts/{role}",
    "/service/requests/{id}/equipment",
    "/service/requests/{id}/equipment/{equipment_id}/remove",
    "/service/requests/{id}/interventions",
    "/service/requests/{id}/returns",
    "/service/returns/{id}/status",
    "/service/requests/{id}/documents",
    "/service/requests/{id}/email",
    "/service/documents/{id}/delete",
    "/admin/users",
    "/admin/users/{id}/password",
    "/admin/roles",
    "/admin/roles/{id}/delete",
    "/admin/org-units",
    "/admin/org-units/{id}/delete",
    "/admin/groups",
    "/admin/groups/{id}/delete",
    "/admin/lists/{code}/items",
    "/admin/outbox/test",
    "/admin/outbox/{id}/retry",
    "/admin/outbox/retry-failed",
    "/notifications/read-all",
    "/admin/email-templates/{event}/{lang}/reset",
    "/admin/jobs/run/{kind}",
    "/admin/jobs/{id}/retry",
    // Partners: creations, invitations and account actions (each audited).
    "/partners",
    "/partners/{id}/invite",
    "/partners/{id}/users/{user}/{action}",
    "/news",
    "/news/{id}/image",
    "/news/{id}/image/delete",
    // The partner portal's own forms (its sessions, links, colleagues). Its opportunity edit
    // is posted back unchanged in tests/partners.rs (a partner session, not a staff one).
    "/partner/login",
    "/partner/logout",
    "/partner/language",
    "/partner/reset",
    "/partner/reset/{secret}",
    "/partner/welcome/{secret}",
    "/partner/opportunities",
    "/partner/opportunities/{id}",
    "/partner/colleagues",
    // The partner user's own account (name, language; password): tests/partners.rs.
    "/partner/account",
    "/partner/account/password",
    "/partner/colleagues/{id}/{action}",
    // Pre-sales requests: creation, and the workflow steps of both sides (each audited as its
    // step). The partner's draft edit (`/partner/presales/{id}`) reads the posted fields onto the
    // stored request and writes nothing when nothing changed: tests/presales.rs posts the form
    // back as rendered and checks the history.
    "/partner/presales",
    "/partner/presales/{id}",
    "/partner/presales/{id}/{step}",
    "/presales/{id}/{step}",
];

/// PATCH routes: (route, where the record is read as JSON, the key of its id in a list
/// answer, if the answer is a list).
const PATCHES: &[(&str, &str, Option<&str>)] = &[
    ("/api/v1/users/{id}", "/api/v1/users/{id}", None),
    ("/api/v1/customers/{id}", "/api/v1/customers/{id}", None),
    ("/api/v1/opportunities/{id}", "/api/v1/opportunities/{id}", None),
    ("/api/v1/service-requests/{id}", "/api/v1/service-requests/{id}", None),
    ("/api/v1/service-requests/{id}/equipment/{equipment_id}", "/api/v1/service-requests/{id}/equipment", Some("equipment_id")),
    ("/api/v1/equipment-returns/{id}", "/api/v1/equipment-returns?request_id={request}", Some("id")),
    ("/api/v1/roles/{id}", "/api/v1/roles", Some("id")),
    ("/api/v1/org-units/{id}", "/api/v1/org-units", Some("id")),
    ("/api/v1/groups/{id}", "/api/v1/groups", Some("id")),
    ("/api/v1/lists/{code}/items/{id}", "/api/v1/lists/{code}/items", Some("id")),
    ("/api/v1/settings", "/api/v1/settings", None),
];

/// PUT routes replace the whole resource with the body sent (documented as such); listed
/// here so that a new one is a decision, not an accident.
const PUTS: &[&str] = &[
    "/api/v1/customers/views/{id}",
    "/api/v1/opportunities/views/{id}",
    "/api/v1/leads/views/{id}",
    "/api/v1/service-requests/views/{id}",
    // Service levels: the pairs sent are replaced, the others kept (tests/sla.rs).
    "/api/v1/service-levels",
    "/api/v1/customers/{id}/contacts/{contact_id}",
    "/api/v1/meetings/{id}",
    "/api/v1/calls/{id}",
    "/api/v1/stock-units/{id}",
    "/api/v1/service-requests/{id}/contacts/{role}",
    "/api/v1/equipment/{id}",
    "/api/v1/interventions/{id}",
    // The customer's signature: replaced by each signing (the history keeps the earlier ones).
    "/api/v1/interventions/{id}/signature",
    "/api/v1/me/notifications",
    "/api/v1/email-templates/{event}/{lang}",
];

#[test]
fn every_edit_form_and_patch_route_is_covered() {
    let routes = |m: &str, ui: bool| -> BTreeSet<&str> {
        ROUTES.iter().filter(|r| r.method == m && r.path.starts_with("/api/") != ui).map(|r| r.path).collect()
    };
    let posts = routes("post", true);
    let edits: BTreeSet<&str> = EDIT_FORMS.iter().map(|(p, _)| *p).collect();
    let others: BTreeSet<&str> = NOT_EDITS.iter().copied().collect();
    assert!(edits.is_disjoint(&others));
    let known: BTreeSet<&str> = edits.union(&others).copied().collect();
    assert_eq!(posts, known, "every UI POST route is an edit form (covered below) or listed as not an edit");
    for (_, page) in EDIT_FORMS {
        assert!(ROUTES.iter().any(|r| r.method == "get" && r.path == *page), "{page} is not a page");
    }
    let patches: BTreeSet<&str> = PATCHES.iter().map(|(p, _, _)| *p).collect();
    assert_eq!(routes("patch", false), patches, "every PATCH route is covered by the no-change test");
    assert_eq!(routes("put", false), PUTS.iter().copied().collect(), "every PUT route is known");
    assert!(routes("patch", true).is_empty() && routes("put", true).is_empty());
}

// ------------------------------------------------------------------ the seeded records

struct Seed {
    admin: i64,
    branch: i64,
    role: i64,
    group: i64,
    target_user: i64,
    customer: i64,
    contact: i64,
    user_contact: i64,
    opportunity: i64,
    meeting: i64,
    stock: i64,
    request: i64,
    equipment: i64,
    intervention: i64,
    ret: i64,
    item: i64,
    partner: i64,
    news: i64,
}

async fn ok(api: &Api, method: &str, path: &str, body: Value) -> Value {
    let (s, v) = api.send(method, path, Some(body)).await;
    assert!(s.is_success(), "{method} {path}: {s} {v}");
    v
}

/// Records with every field filled: civility, particularities, branch, owner, flags, dates.
async fn seed(app: &TestApp) -> (Seed, Api) {
    let company = app.unit("Compagnie", "company", None).await;
    let branch = app.unit("Succursale Laval", "branch", Some(company)).await;
    let admin = app.user("seed-admin@t.fr", "administrateur", Some(branch)).await;
    let rep = app.user("rep@t.fr", "representant", Some(branch)).await;
    let tech = app.user("tech@t.fr", "technicien", Some(branch)).await;
    let api = app.api(&app.token_for(admin).await);
    let target_user = ok(
        &api,
        "POST",
        "/api/v1/users",
        json!({"email": "cible@t.fr", "name": "Cible Tremblay", "language": "en", "role": "agent_support", "org_unit_id": branch}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let role = ok(
        &api,
        "POST",
        "/api/v1/roles",
        json!({"code": "perso", "name_fr": "Perso", "name_en": "Custom", "scope": "unit", "rights": ["customers.read", "opportunities.read"]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let group = ok(
        &api,
        "POST",
        "/api/v1/groups",
        json!({"name": "DV Laval", "description": "Les virtuels", "org_unit_id": branch, "members": [rep, target_user]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    ok(&api, "PATCH", "/api/v1/settings", json!({"lists.page_size": "77"})).await;
    ok(
        &api,
        "PUT",
        "/api/v1/email-templates/test_email/fr",
        json!({"subject": "Essai {{ app }}", "text_body": "Corps texte", "html_body": "<p>Corps</p>"}),
    )
    .await;
    let customer = ok(
        &api,
        "POST",
        "/api/v1/customers",
        json!({
            "kind": "person", "civility": "mme", "first_name": "Élise", "last_name": "Gagnon", "email": "elise@t.fr",
            "phone": "514 555-0101", "mobile": "514 555-0102", "address": "1 rue Principale, Laval", "language": "en",
            "branch_id": branch, "owner_id": rep, "notes": "Préfère le matin", "particularities": ["vip", "flotte"]
        }),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let contact_body = |civ: &str, first: &str, email: &str, parts: Value| {
        json!({
            "civility": civ, "first_name": first, "last_name": "Roy", "email": email, "phone": "514 555-0103",
            "mobile": "514 555-0104", "particularities": parts, "notes": "Au bureau"
        })
    };
    let contact =
        ok(&api, "POST", &format!("/api/v1/customers/{customer}/contacts"), contact_body("dr", "Jean", "jean@t.fr", json!(["vip"]))).await
            ["id"]
            .as_i64()
            .unwrap();
    let user_contact = ok(
        &api,
        "POST",
        &format!("/api/v1/customers/{customer}/contacts"),
        contact_body("m", "Luc", "luc@t.fr", json!(["ne_pas_solliciter", "paiement_a_verifier"])),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let stock = ok(
        &api,
        "POST",
        "/api/v1/stock-units",
        json!({"stock_number": "FIX1", "description": "Camion rouge", "status": "disponible", "branch_id": branch}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let opportunity = ok(
        &api,
        "POST",
        "/api/v1/opportunities",
        json!({"customer_id": customer, "name": "Camion", "owner_id": rep, "branch_id": branch, "lead_type": "sms", "stock_unit_ids": [stock]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let o = ok(&api, "PATCH", &format!("/api/v1/opportunities/{opportunity}"), json!({"status": "pris_en_charge"})).await;
    assert!(o["sale_date"].is_string(), "{o}");
    let meeting = ok(
        &api,
        "POST",
        "/api/v1/meetings",
        json!({
            "opportunity_id": opportunity, "kind": "depot", "date": "2026-11-30", "start_time": "10:00", "end_time": "11:00",
            "location": "Salle 2", "category": "livraison", "appointment_type": "iphone", "branch_id": branch, "language": "en",
            "deposit_method": "stripe", "esign_status": "envoye", "transfer": true, "status": "confirme",
            "description": "Apporter les clés", "stock_numbers": ["FIX1"], "user_ids": [rep], "group_ids": [group]
        }),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let request = ok(
        &api,
        "POST",
        "/api/v1/service-requests",
        json!({
            "customer_id": customer, "request_type": "panne", "requester_contact_id": contact, "user_contact_id": user_contact,
            "symptom": "fuite", "source": "phone", "description": "Fuite sous l'appareil", "owner_id": rep, "branch_id": branch
        }),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let lines = ok(
        &api,
        "POST",
        &format!("/api/v1/service-requests/{request}/equipment"),
        json!({"equipment": {"serial_number": "SN-1", "model": "Four", "installed_on": "2025-03-01", "location": "Cuisine"}, "symptom": "bruit"}),
    )
    .await;
    let equipment = lines["items"][0]["equipment_id"].as_i64().unwrap();
    let intervention = ok(
        &api,
        "POST",
        "/api/v1/interventions",
        json!({
            "request_id": request, "date": "2026-11-30", "start_time": "08:00", "end_time": "10:00", "place": "Atelier",
            "technician_ids": [tech, admin], "status": "planifiee"
        }),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let ret = ok(
        &api,
        "POST",
        "/api/v1/equipment-returns",
        json!({"request_id": request, "equipment_id": equipment, "reason": "Panne moteur", "return_type": "repair"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    ok(&api, "PATCH", &format!("/api/v1/equipment-returns/{ret}"), json!({"status": "recu"})).await;
    // Since then, the owner and a technician left and some entries in use were retired: the forms must keep them.
    for gone in [rep, tech] {
        sqlx::query("UPDATE users SET active = 0 WHERE id = $1").bind(gone).execute(&app.state.db.pool).await.unwrap();
    }
    for (list, code) in [
        ("civility", "mme"),
        ("civility", "dr"),
        ("customer_particularity", "flotte"),
        ("lead_type", "sms"),
        ("meeting_category", "livraison"),
        ("request_type", "panne"),
        ("symptom", "fuite"),
        ("symptom", "bruit"),
    ] {
        sqlx::query("UPDATE value_list_items SET active = 0 WHERE list_code = $1 AND code = $2")
            .bind(list)
            .bind(code)
            .execute(&app.state.db.pool)
            .await
            .unwrap();
    }
    let (_, items) = api.get("/api/v1/lists/opportunity_status/items").await;
    let item = items["items"].as_array().unwrap().iter().find(|i| i["code"] == "pris_en_charge").unwrap()["id"].as_i64().unwrap();
    let actor = carnet::access::Actor { id: Some(admin), name: "admin".into(), request_id: None };
    let pf = carnet::partners::store::PartnerForm {
        name: "Infogest Conseil".into(),
        unit_id: branch.to_string(),
        owner_id: admin.to_string(),
        email: "contact@infogest.example".into(),
        phone: "+33 4 72 00 00 00".into(),
        active: Some("on".into()),
        admin_invites: None,
    };
    let partner = carnet::partners::store::create_partner(&app.state.db, &actor, app.now(), &pf.parse().unwrap()).await.unwrap().id;
    let other = carnet::partners::store::PartnerForm { name: "Boréal".into(), admin_invites: Some("on".into()), ..pf.clone() };
    let other = carnet::partners::store::create_partner(&app.state.db, &actor, app.now(), &other.parse().unwrap()).await.unwrap().id;
    let news_input = carnet::partners::news::NewsInput::parse(
        "Nouveautés",
        "Résumé",
        "**Gras**\n\n- un\n- deux",
        Some(app.now() - 86_400_000),
        "some",
        vec![partner, other],
    )
    .unwrap();
    let news = carnet::partners::news::create(&app.state.db, &actor, app.now(), &news_input).await.unwrap().id;
    let s = Seed {
        partner,
        news,
        admin,
        branch,
        role,
        group,
        target_user,
        customer,
        contact,
        user_contact,
        opportunity,
        meeting,
        stock,
        request,
        equipment,
        intervention,
        ret,
        item,
    };
    (s, api)
}

/// The route's path with the seeded records' ids.
fn concrete(path: &str, s: &Seed) -> String {
    let id = if path.starts_with("/partners/") {
        s.partner
    } else if path.starts_with("/news/") {
        s.news
    } else if path.contains("/users/") {
        s.target_user
    } else if path.contains("/roles/") {
        s.role
    } else if path.contains("/org-units/") {
        s.branch
    } else if path.contains("/groups/") {
        s.group
    } else if path.contains("/lists/") {
        s.item
    } else if path.contains("/customers/") {
        s.customer
    } else if path.contains("/opportunities/") {
        s.opportunity
    } else if path.contains("/meetings/") {
        s.meeting
    } else if path.contains("/stock") {
        s.stock
    } else if path.contains("/interventions/") {
        s.intervention
    } else if path.contains("/equipment-returns/") {
        s.ret
    } else {
        s.request
    };
    path.replace("{id}", &id.to_string())
        .replace("{cid}", &s.contact.to_string())
        .replace("{role}", "requester")
        .replace("{equipment_id}", &s.equipment.to_string())
        .replace("{request}", &s.request.to_string())
        .replace("{code}", "opportunity_status")
        .replace("{event}", "test_email")
        .replace("{lang}", "fr")
}

/// The stored rows an edit route may touch, every column (with `updated_at`) as text.
async fn rows(app: &TestApp, s: &Seed) -> String {
    let targets = [
        ("users", s.target_user),
        ("users", s.admin),
        ("roles", s.role),
        ("org_units", s.branch),
        ("user_groups", s.group),
        ("value_list_items", s.item),
        ("customers", s.customer),
        ("contacts", s.contact),
        ("contacts", s.user_contact),
        ("opportunities", s.opportunity),
        ("meetings", s.meeting),
        ("stock_units", s.stock),
        ("service_requests", s.request),
        ("equipment", s.equipment),
        ("interventions", s.intervention),
        ("equipment_returns", s.ret),
        ("partners", s.partner),
        ("news_items", s.news),
    ];
    let mut out = String::new();
    for (table, id) in targets {
        out.push_str(&format!("{table} {id}: {:?}\n", row(app, &format!("SELECT * FROM {table} WHERE id = {id}")).await));
    }
    for sql in [
        "SELECT * FROM settings ORDER BY key",
        "SELECT * FROM email_templates ORDER BY event, lang",
        "SELECT * FROM notification_prefs ORDER BY user_id, event",
        "SELECT * FROM request_equipment ORDER BY request_id, equipment_id",
        "SELECT * FROM role_rights ORDER BY role_id, right_code",
        "SELECT * FROM user_group_members ORDER BY group_id, user_id",
        "SELECT * FROM meeting_participants ORDER BY meeting_id, kind, ref_id",
        "SELECT * FROM opportunity_stock_units ORDER BY opportunity_id, stock_unit_id",
        "SELECT * FROM intervention_technicians ORDER BY intervention_id, user_id",
        "SELECT * FROM value_list_items ORDER BY id",
        "SELECT * FROM news_item_partners ORDER BY news_item_id, partner_id",
    ] {
        for r in row(app, sql).await {
            out.push_str(&format!("{sql}: {r:?}\n"));
        }
    }
    out
}

async fn row(app: &TestApp, sql: &str) -> Vec<Vec<Option<String>>> {
    use sqlx::Row;
    let rows = sqlx::query(sql).fetch_all(&app.state.db.pool).await.unwrap();
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| {
                    r.try_get::<Option<String>, _>(i)
                        .ok()
                        .flatten()
                        .or_else(|| r.try_get::<Option<i64>, _>(i).ok().flatten().map(|x| x.to_string()))
                        .or_else(|| r.try_get::<Option<f64>, _>(i).ok().flatten().map(|x| x.to_string()))
                })
                .collect()
        })
        .collect()
}

/// Everything an edit could change: the rows above, every business table, the history.
async fn state(app: &TestApp, s: &Seed) -> (String, String, i64, i64) {
    (
        rows(app, s).await,
        app.snapshot().await,
        app.count("SELECT COUNT(*) FROM audit_events").await,
        app.count("SELECT COUNT(*) FROM jobs").await,
    )
}

/// Fails with the lines that differ.
fn same(before: &str, after: &str, what: &str) {
    if before == after {
        return;
    }
    let b: Vec<&str> = before.lines().collect();
    let a: Vec<&str> = after.lines().collect();
    let gone: Vec<&str> = b.iter().filter(|l| !a.contains(l)).map(|l| &l[..l.len().min(600)]).collect();
    let new: Vec<&str> = a.iter().filter(|l| !b.contains(l)).map(|l| &l[..l.len().min(600)]).collect();
    panic!("{what}:\nbefore: {gone:#?}\nafter: {new:#?}");
}

fn same_state(before: &(String, String, i64, i64), after: &(String, String, i64, i64), what: &str) {
    same(&before.0, &after.0, &format!("{what} changed a record"));
    same(&before.1, &after.1, &format!("{what} changed the database"));
    assert_eq!(after.2, before.2, "{what} wrote history");
    assert_eq!(after.3, before.3, "{what} queued a job (an email)");
}

// ------------------------------------------------------------------ reading a rendered form

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e < 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16).ok().and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The attributes of a start tag (`<input a="b" checked>`), names lower-cased.
fn attrs(tag: &str) -> Vec<(String, Option<String>)> {
    let inner = tag.trim_start_matches('<').trim_end_matches('>').trim_end_matches('/');
    let mut chars = inner.char_indices().peekable();
    // Skip the tag name.
    while chars.peek().is_some_and(|(_, c)| !c.is_whitespace()) {
        chars.next();
    }
    let mut out = Vec::new();
    loop {
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
        let Some(&(start, _)) = chars.peek() else { break };
        while chars.peek().is_some_and(|(_, c)| !c.is_whitespace() && *c != '=') {
            chars.next();
        }
        let end = chars.peek().map(|(i, _)| *i).unwrap_or(inner.len());
        let name = inner[start..end].to_lowercase();
        if chars.peek().is_some_and(|(_, c)| *c == '=') {
            chars.next();
            let quote = chars.peek().map(|(_, c)| *c).filter(|c| *c == '"' || *c == '\'');
            let value = if let Some(q) = quote {
                chars.next();
                let vs = chars.peek().map(|(i, _)| *i).unwrap_or(inner.len());
                while chars.peek().is_some_and(|(_, c)| *c != q) {
                    chars.next();
                }
                let ve = chars.peek().map(|(i, _)| *i).unwrap_or(inner.len());
                chars.next();
                &inner[vs..ve]
            } else {
                let vs = chars.peek().map(|(i, _)| *i).unwrap_or(inner.len());
                while chars.peek().is_some_and(|(_, c)| !c.is_whitespace()) {
                    chars.next();
                }
                let ve = chars.peek().map(|(i, _)| *i).unwrap_or(inner.len());
                &inner[vs..ve]
            };
            out.push((name, Some(unescape(value))));
        } else if !name.is_empty() {
            out.push((name, None));
        }
    }
    out
}

fn attr(a: &[(String, Option<String>)], name: &str) -> Option<String> {
    a.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone().unwrap_or_default())
}

fn has(a: &[(String, Option<String>)], name: &str) -> bool {
    a.iter().any(|(n, _)| n == name)
}

/// The fields a browser would submit for the post form with this action, as rendered:
/// inputs (checkboxes and radios only when checked), selects (the selected options, or the
/// first one), textareas; controls inside the form, or outside it with `form="its id"`.
fn form_fields(html: &str, action: &str) -> Option<Vec<(String, String)>> {
    let mut pos = 0;
    let (start, end, id) = loop {
        let i = html[pos..].find("<form")? + pos;
        let close = html[i..].find('>')? + i;
        let a = attrs(&html[i..=close]);
        let end = html[close..].find("</form>").map(|e| e + close).unwrap_or(html.len());
        if attr(&a, "action").as_deref() == Some(action) && attr(&a, "method").is_some_and(|m| m.eq_ignore_ascii_case("post")) {
            break (close, end, attr(&a, "id"));
        }
        pos = close;
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(rel) = html[pos..].find('<') {
        let i = pos + rel;
        let head = &html.as_bytes()[i..(i + 10).min(html.len())];
        let kind = ["<input", "<select", "<textarea"]
            .into_iter()
            .find(|k| head.len() >= k.len() && head[..k.len()].eq_ignore_ascii_case(k.as_bytes()));
        let Some(kind) = kind else {
            pos = i + 1;
            continue;
        };
        let close = html[i..].find('>').map(|c| c + i)?;
        let a = attrs(&html[i..=close]);
        pos = close + 1;
        let inside = i > start && i < end;
        let belongs = match attr(&a, "form") {
            Some(f) => id.as_deref() == Some(f.as_str()),
            None => inside,
        };
        let Some(name) = attr(&a, "name").filter(|n| !n.is_empty()) else { continue };
        if !belongs || has(&a, "disabled") {
            continue;
        }
        match kind {
            "<input" => {
                let ty = attr(&a, "type").unwrap_or_else(|| "text".into()).to_lowercase();
                match ty.as_str() {
                    "submit" | "button" | "image" | "reset" | "file" => {}
                    "checkbox" | "radio" => {
                        if has(&a, "checked") {
                            out.push((name, attr(&a, "value").unwrap_or_else(|| "on".into())));
                        }
                    }
                    _ => out.push((name, attr(&a, "value").unwrap_or_default())),
                }
            }
            "<select" => {
                let send = html[close..].find("</select>").map(|e| e + close)?;
                let body = &html[close + 1..send];
                let mut options = Vec::new();
                let mut p = 0;
                while let Some(r) = body[p..].find("<option") {
                    let oi = p + r;
                    let oc = body[oi..].find('>')? + oi;
                    let oa = attrs(&body[oi..=oc]);
                    let text_end = body[oc..].find('<').map(|t| t + oc).unwrap_or(body.len());
                    let value = attr(&oa, "value").unwrap_or_else(|| unescape(body[oc + 1..text_end].trim()));
                    options.push((value, has(&oa, "selected")));
                    p = oc;
                }
                let chosen: Vec<String> = options.iter().filter(|(_, s)| *s).map(|(v, _)| v.clone()).collect();
                if !chosen.is_empty() {
                    out.extend(chosen.into_iter().map(|v| (name.clone(), v)));
                } else if !has(&a, "multiple") {
                    if let Some((v, _)) = options.first() {
                        out.push((name, v.clone()));
                    }
                }
                pos = send;
            }
            _ => {
                let tend = html[close..].find("</textarea>").map(|e| e + close)?;
                let mut text = unescape(&html[close + 1..tend]);
                // The HTML parser drops a newline right after the start tag.
                if text.starts_with('\n') {
                    text.remove(0);
                }
                out.push((name, text));
                pos = tend;
            }
        }
    }
    Some(out)
}

#[test]
fn the_form_reader_reads_what_a_browser_sends() {
    let html = r#"<form id="f" method="post" action="/x"><input type="hidden" name="_csrf" value="t">
        <input name="a" value="l&#39;&amp;b"><input type="checkbox" name="c" value="1" checked><input type="checkbox" name="c" value="2">
        <select name="s"><option value="">—</option><option value="y" selected>Y</option></select>
        <select name="t"><option value="first">F</option></select><textarea name="d">
ligne &lt;1&gt;</textarea><button type="submit">OK</button></form>
        <input form="f" name="outside" value="o"><input form="g" name="other" value="no"><input name="nope" value="no">"#;
    let f = form_fields(html, "/x").unwrap();
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(pairs, vec![("_csrf", "t"), ("a", "l'&b"), ("c", "1"), ("s", "y"), ("t", "first"), ("d", "ligne <1>"), ("outside", "o")]);
    assert!(form_fields(html, "/nowhere").is_none());
}

// ------------------------------------------------------------------ the no-change test

async fn post_back(session: &Session, page: &str, action: &str) {
    let (status, html) = session.get_text(page).await;
    assert_eq!(status, 200, "GET {page}");
    let fields = form_fields(&html, action).unwrap_or_else(|| panic!("no post form for {action} on {page}"));
    assert!(fields.iter().any(|(k, _)| k == "_csrf"), "{action}: the form carries the CSRF token");
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = session.post_raw(action, &pairs).await;
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    assert_eq!(
        status,
        303,
        "POST {action} as rendered by {page}: {}",
        body.split("<main").nth(1).unwrap_or(&body).chars().take(1500).collect::<String>()
    );
}

/// The properties of the request body of a PATCH route, from the OpenAPI document.
fn body_keys(doc: &Value, path: &str) -> Vec<String> {
    let op = &doc["paths"][path]["patch"];
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    let schema = match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
        None => schema,
    };
    schema["properties"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

/// The record a PATCH route edits, as read back by the API.
async fn read(api: &Api, route: &str, getter: &str, id_key: Option<&str>, s: &Seed) -> Value {
    let (status, v) = api.get(&concrete(getter, s)).await;
    assert_eq!(status, 200, "GET {getter}: {v}");
    let Some(key) = id_key else { return v };
    let id = if route.contains("{equipment_id}") { s.equipment } else { concrete(route, s).rsplit('/').next().unwrap().parse().unwrap() };
    v["items"].as_array().unwrap().iter().find(|i| i[key] == id).cloned().unwrap_or_else(|| panic!("{route}: no item {id} in {v}"))
}

#[tokio::test]
async fn a_no_change_save_changes_nothing_and_writes_no_history() {
    each_backend(|app| async move {
        let (s, api) = seed(&app).await;
        let session = app.login("seed-admin@t.fr", PASSWORD).await.unwrap();
        // Opening the pages first: a page view writes nothing either.
        for (route, page) in EDIT_FORMS {
            let before = state(&app, &s).await;
            // Time passes: a save that writes `updated_at` shows.
            app.clock.advance(1000);
            post_back(&session, &concrete(page, &s), &concrete(route, &s)).await;
            same_state(&before, &state(&app, &s).await, &format!("POST {route} as rendered"));
        }
        let (_, doc) = api.get("/api/v1/openapi.json").await;
        for (route, getter, id_key) in PATCHES {
            let path = concrete(route, &s);
            let current = read(&api, route, getter, *id_key, &s).await;
            let unchanged = if *route == "/api/v1/settings" {
                let map: serde_json::Map<String, Value> = current["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| (i["key"].as_str().unwrap().to_string(), i["value"].clone()))
                    .collect();
                Value::Object(map)
            } else {
                let keys = body_keys(&doc, route);
                assert!(!keys.is_empty(), "{route}: no body schema");
                let map: serde_json::Map<String, Value> =
                    keys.iter().filter_map(|k| current.get(k).map(|v| (k.clone(), v.clone()))).collect();
                assert!(!map.is_empty(), "{route}: nothing of {keys:?} in {current}");
                Value::Object(map)
            };
            for body in [json!({}), unchanged] {
                let before = state(&app, &s).await;
                app.clock.advance(1000);
                let (status, answer) = api.send("PATCH", &path, Some(body.clone())).await;
                assert!(status.is_success(), "PATCH {path} {body}: {status} {answer}");
                same_state(&before, &state(&app, &s).await, &format!("PATCH {path} {body}"));
            }
            assert_eq!(read(&api, route, getter, *id_key, &s).await, current, "{route} reads differently");
        }
        app
    })
    .await;
}

// ------------------------------------------------------------------ targeted tests

async fn item_of(api: &Api, list: &str, code: &str) -> Value {
    let (_, items) = api.get(&format!("/api/v1/lists/{list}/items")).await;
    items["items"].as_array().unwrap().iter().find(|i| i["code"] == code).cloned().unwrap()
}

#[tokio::test]
async fn relabelling_a_status_keeps_its_flags_and_the_next_sale_gets_its_date() {
    each_backend(|app| async move {
        let (s, api) = seed(&app).await;
        let path = format!("/api/v1/lists/opportunity_status/items/{}", s.item);
        let (status, v) = api.send("PATCH", &path, Some(json!({"label_fr": "Vendu", "label_en": "Sold (taken)"}))).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["label_fr"], "Vendu");
        let flags: BTreeSet<&str> = v["flags"].as_str().unwrap().split_whitespace().collect();
        assert_eq!(flags, BTreeSet::from(["expiry_exempt", "sets_sale_date"]), "{v}");
        assert_eq!(v["active"], true);
        assert_eq!(v["position"], 60);
        // The list's edit form relabelled too, as a browser sends it: flags kept.
        let session = app.login("seed-admin@t.fr", PASSWORD).await.unwrap();
        let action = format!("/admin/lists/opportunity_status/items/{}", s.item);
        let (_, html) = session.get_text("/admin/lists/opportunity_status").await;
        let mut fields = form_fields(&html, &action).unwrap();
        for (k, v) in fields.iter_mut() {
            if k == "label_en" {
                *v = "Sold".into();
            }
        }
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(session.post_raw(&action, &pairs).await.status(), 303);
        let it = item_of(&api, "opportunity_status", "pris_en_charge").await;
        assert_eq!((it["label_fr"].as_str(), it["label_en"].as_str()), (Some("Vendu"), Some("Sold")));
        assert_eq!(it["flags"].as_str().unwrap().split_whitespace().collect::<BTreeSet<_>>(), flags);
        // The next sale still gets its sale date.
        let (_, o) = api
            .send("POST", "/api/v1/opportunities", Some(json!({"customer_id": s.customer, "owner_id": s.admin, "branch_id": s.branch})))
            .await;
        let id = o["id"].as_i64().unwrap();
        assert!(o["sale_date"].is_null(), "{o}");
        let (status, o) = api.send("PATCH", &format!("/api/v1/opportunities/{id}"), Some(json!({"status": "pris_en_charge"}))).await;
        assert_eq!(status, 200, "{o}");
        assert!(o["sale_date"].is_string(), "the relabelled status still sets the sale date: {o}");
        app
    })
    .await;
}

#[tokio::test]
async fn editing_a_request_keeps_its_branch_and_its_owner_still_sees_it() {
    each_backend(|app| async move {
        let (s, api) = seed(&app).await;
        let agent = app.user("support@t.fr", "agent_support", Some(s.branch)).await;
        let agent_api = app.api(&app.token_for(agent).await);
        let listed = |v: &Value| v["items"].as_array().unwrap().iter().any(|r| r["id"] == s.request);
        assert!(listed(&agent_api.get("/api/v1/service-requests").await.1));
        // The edit form as it was posted before: no branch field at all.
        let session = app.login("seed-admin@t.fr", PASSWORD).await.unwrap();
        let r = session
            .post(
                &format!("/service/requests/{}", s.request),
                &[
                    ("customer_id", &s.customer.to_string()),
                    ("request_type", "maintenance"),
                    ("source", "phone"),
                    ("owner_id", &s.target_user.to_string()),
                    ("description", "Entretien annuel"),
                ],
            )
            .await;
        assert_eq!(r.status(), 303);
        let (_, r) = api.get(&format!("/api/v1/service-requests/{}", s.request)).await;
        assert_eq!(r["request_type"], "maintenance", "the change is made");
        assert_eq!(r["branch_id"], s.branch, "the branch is kept: {r}");
        assert_eq!(r["symptom"], "fuite", "a field the post does not carry is kept");
        assert!(listed(&agent_api.get("/api/v1/service-requests").await.1), "the branch's agent still sees the request");
        // Null clears where clearing is allowed; absent keeps.
        let path = format!("/api/v1/customers/{}", s.customer);
        let (status, c) = api.send("PATCH", &path, Some(json!({"notes": "Appeler le soir"}))).await;
        assert_eq!(status, 200, "{c}");
        assert_eq!((c["civility"].as_str(), c["branch_id"].as_i64()), (Some("mme"), Some(s.branch)), "{c}");
        let (status, c) = api.send("PATCH", &path, Some(json!({"civility": null, "owner_id": null}))).await;
        assert_eq!(status, 200, "{c}");
        assert!(c["civility"].is_null() && c["owner_id"].is_null(), "{c}");
        assert_eq!(c["notes"], "Appeler le soir");
        // The API too: a PATCH of the description keeps the branch.
        let (status, r) =
            api.send("PATCH", &format!("/api/v1/service-requests/{}", s.request), Some(json!({"description": "Autre"}))).await;
        assert_eq!(status, 200);
        assert_eq!(r["branch_id"], s.branch);
        app
    })
    .await;
}

#[tokio::test]
async fn contact_forms_carry_civility_and_particularities() {
    each_backend(|app| async move {
        let (s, api) = seed(&app).await;
        let session = app.login("seed-admin@t.fr", PASSWORD).await.unwrap();
        app.user("en-admin@t.fr", "administrateur", None).await;
        let en = app.login("en-admin@t.fr", PASSWORD).await.unwrap();
        en.post("/language", &[("lang", "en"), ("next", "/")]).await;
        let contact = |id: i64| {
            let api = &api;
            let customer = s.customer;
            async move {
                let (_, v) = api.get(&format!("/api/v1/customers/{customer}/contacts")).await;
                v["items"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap()
            }
        };
        let pages = [
            (
                format!("/customers/{}/contacts/{}", s.customer, s.contact),
                format!("/customers/{}/contacts/{}", s.customer, s.contact),
                s.contact,
            ),
            (
                format!("/service/requests/{}/contacts/user/edit", s.request),
                format!("/service/requests/{}/contacts/user/edit", s.request),
                s.user_contact,
            ),
        ];
        for (page, action, id) in pages {
            let before = contact(id).await;
            assert!(before["civility"].is_string() && !before["particularities"].as_str().unwrap().is_empty(), "{before}");
            // The edit page shows both controls, with the stored values, in French and in English.
            let (_, html) = session.get_text(&page).await;
            assert!(html.contains(">Civilité</label>") && html.contains("<legend>Particularités</legend>"), "{page}");
            let fields = form_fields(&html, &action).unwrap();
            assert!(fields.contains(&("civility".into(), before["civility"].as_str().unwrap().into())), "{page}: {fields:?}");
            for p in before["particularities"].as_str().unwrap().split_whitespace() {
                assert!(fields.contains(&("particularities".into(), p.into())), "{page}: {fields:?}");
            }
            let (_, html_en) = en.get_text(&page).await;
            assert!(html_en.contains(">Civility</label>") && html_en.contains("<legend>Particularities</legend>"), "{page} in English");
            // A post without those fields (a form of before) keeps them.
            let r = session.post(&action, &[("first_name", "Jean-Marc"), ("last_name", "Roy")]).await;
            assert_eq!(r.status(), 303, "{action}");
            let after = contact(id).await;
            assert_eq!(after["first_name"], "Jean-Marc");
            assert_eq!(after["civility"], before["civility"], "{action}: civility kept");
            assert_eq!(after["particularities"], before["particularities"], "{action}: particularities kept");
            assert_eq!(after["email"], before["email"], "{action}: a field not posted is kept");
            // The form changes them: civility to Mme, every particularity unchecked.
            let r = session.post(&action, &[("civility", "mme"), ("particularities", "")]).await;
            assert_eq!(r.status(), 303);
            let after = contact(id).await;
            assert_eq!(after["civility"], "mme");
            assert_eq!(after["particularities"], "", "{action}: all unchecked clears them");
        }
        // Creating a contact from the customer page takes them too.
        let r = session
            .post(
                &format!("/customers/{}/contacts", s.customer),
                &[("civility", "dr"), ("last_name", "Nouveau"), ("particularities", ""), ("particularities", "vip")],
            )
            .await;
        assert_eq!(r.status(), 303);
        let (_, v) = api.get(&format!("/api/v1/customers/{}/contacts", s.customer)).await;
        let c = v["items"].as_array().unwrap().iter().find(|c| c["last_name"] == "Nouveau").cloned().unwrap();
        assert_eq!((c["civility"].as_str(), c["particularities"].clone()), (Some("dr"), json!("vip")));
        app
    })
    .await;
}

#[tokio::test]
async fn status_list_invariants_are_refused_with_422_and_nothing_changes() {
    each_backend(|app| async move {
        let (s, api) = seed(&app).await;
        let (_, o) = api.send("POST", "/api/v1/opportunities", Some(json!({"customer_id": s.customer, "branch_id": s.branch}))).await;
        let opp = o["id"].as_i64().unwrap();
        api.send("PATCH", &format!("/api/v1/opportunities/{opp}"), Some(json!({"status": "contacte"}))).await;
        let id = |code: &'static str| {
            let api = &api;
            async move { item_of(api, "opportunity_status", code).await["id"].as_i64().unwrap() }
        };
        let (initial, trash, contacte) = (id("en_traitement").await, id("invalide_bdc").await, id("contacte").await);
        let refusals = [
            (initial, json!({"flags": []}), "flags", "exactement un statut initial"),
            (initial, json!({"active": false}), "active", "exactement un statut initial"),
            (trash, json!({"flags": ""}), "flags", "statut corbeille"),
            (trash, json!({"active": false}), "active", "statut corbeille"),
            (contacte, json!({"active": false}), "active", "déplacez-les vers un autre statut"),
        ];
        for (item, body, field, message) in refusals {
            let before = (app.snapshot().await, rows(&app, &s).await);
            let (status, v) = api.send("PATCH", &format!("/api/v1/lists/opportunity_status/items/{item}"), Some(body.clone())).await;
            assert_eq!(status, 422, "{body}: {v}");
            let text = v["error"]["fields"][field].as_str().unwrap_or_default();
            assert!(text.contains(message), "{body}: {v}");
            assert_eq!((app.snapshot().await, rows(&app, &s).await), before, "{body}: a refused edit changed something");
        }
        // The list's page refuses it too, with the message, and changes nothing.
        let session = app.login("seed-admin@t.fr", PASSWORD).await.unwrap();
        let before = app.snapshot().await;
        let r = session.post(&format!("/admin/lists/opportunity_status/items/{initial}"), &[("flags", ""), ("active", "on")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("exactement un statut initial"));
        assert_eq!(app.snapshot().await, before);
        // Another status becoming initial takes the flag: still exactly one.
        let (status, v) =
            api.send("PATCH", &format!("/api/v1/lists/opportunity_status/items/{contacte}"), Some(json!({"flags": ["initial"]}))).await;
        assert_eq!(status, 200, "{v}");
        let (_, items) = api.get("/api/v1/lists/opportunity_status/items").await;
        let initials: Vec<&str> = items["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["flags"].as_str().unwrap().split_whitespace().any(|f| f == "initial"))
            .map(|i| i["code"].as_str().unwrap())
            .collect();
        assert_eq!(initials, vec!["contacte"]);
        let moved =
            app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'list_item' AND entity_id = {initial}")).await;
        assert!(moved > 0, "the move is in the former initial status's history");
        // Once its records moved, a status can be deactivated.
        api.send("PATCH", &format!("/api/v1/lists/opportunity_status/items/{initial}"), Some(json!({"flags": ["initial"]}))).await;
        let (status, _) = api.send("PATCH", &format!("/api/v1/opportunities/{opp}"), Some(json!({"status": "reponse_envoyee"}))).await;
        assert_eq!(status, 200);
        let (status, v) =
            api.send("PATCH", &format!("/api/v1/lists/opportunity_status/items/{contacte}"), Some(json!({"active": false}))).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["active"], false);
        app
    })
    .await;
}
