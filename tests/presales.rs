//! Pre-sales requests: the seed's workflow through the store (both databases), the tenant
//! boundary between partners, the emails to the other side and the invitation of the accepted
//! slot, and the team's pages as the pre-sales engineer uses them.

mod common;

use carnet::audit::Actor;
use carnet::clock::Zone;
use carnet::error::Error;
use carnet::presales::store::{self, By, RequestInput, SlotInput, Step};
use carnet::presales::Status;
use common::{each_backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

struct World {
    engineer: i64,
    a: By,
    a_without_right: By,
    b: By,
    team: By,
    outsider: By,
    opp_a: i64,
    opp_a_other_type: i64,
    opp_b: i64,
}

async fn exec(app: &TestApp, sql: &str) {
    sqlx::query(sql).execute(&app.state.db.pool).await.expect(sql);
}

async fn id_of(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.state.db.pool).await.expect(sql)
}

fn actor(name: &str) -> Actor {
    Actor { id: None, name: name.into(), request_id: None }
}

/// Two partners (A and B), their users and opportunities, a pre-sales engineer in the team's
/// group, and a staff user without the right.
async fn world(app: &TestApp) -> World {
    let company = app.unit("Éditeur", "company", None).await;
    let unit = app.unit("Siège", "branch", Some(company)).await;
    let engineer = app.user("emma.avantvente@test.example", "avant_vente", Some(unit)).await;
    let rep = app.user("rene.rep@test.example", "representant", Some(unit)).await;
    let now = app.now();
    exec(app, &format!("INSERT INTO user_groups (name, description, org_unit_id, created_at, updated_at) VALUES ('Avant-vente', '', NULL, {now}, {now})")).await;
    let g = id_of(app, "SELECT id FROM user_groups WHERE name = 'Avant-vente'").await;
    exec(app, &format!("INSERT INTO user_group_members (group_id, user_id) VALUES ({g}, {engineer})")).await;
    for name in ["Revendeur Ouest", "Revendeur Est"] {
        exec(
            app,
            &format!(
                "INSERT INTO partners (name, active, unit_id, owner_id, admin_invites, created_at, updated_at) VALUES ('{name}', 1, {unit}, {rep}, 1, {now}, {now})"
            ),
        )
        .await;
    }
    let pa = id_of(app, "SELECT id FROM partners WHERE name = 'Revendeur Ouest'").await;
    let pb = id_of(app, "SELECT id FROM partners WHERE name = 'Revendeur Est'").await;
    let user = |partner: i64, email: &str, can: i64| {
        format!(
            "INSERT INTO partner_users (partner_id, email, name, language, is_admin, can_opportunities, status, invited_by_name, invited_at, created_at, updated_at) \
             VALUES ({partner}, '{email}', '{email}', 'fr', 0, {can}, 'active', 'test', {now}, {now}, {now})"
        )
    };
    exec(app, &user(pa, "paul@ouest.example", 1)).await;
    exec(app, &user(pa, "nina@ouest.example", 0)).await;
    exec(app, &user(pb, "bob@est.example", 1)).await;
    let ua = id_of(app, "SELECT id FROM partner_users WHERE email = 'paul@ouest.example'").await;
    let ua2 = id_of(app, "SELECT id FROM partner_users WHERE email = 'nina@ouest.example'").await;
    let ub = id_of(app, "SELECT id FROM partner_users WHERE email = 'bob@est.example'").await;
    let opp = |partner: i64, customer: &str, kind: &str| {
        format!(
            "INSERT INTO partner_opportunities (partner_id, customer_name, opportunity_type, status, created_at, updated_at) \
             VALUES ({partner}, '{customer}', '{kind}', 'nouvelle', {now}, {now})"
        )
    };
    exec(app, &opp(pa, "Boulangerie Martin", "primo")).await;
    exec(app, &opp(pa, "Garage Leroy", "extension")).await;
    exec(app, &opp(pb, "Pharmacie Roux", "primo")).await;
    World {
        engineer,
        a: By::Partner { partner_id: pa, user_id: ua, can_opportunities: true, is_admin: false, actor: actor("Paul (Revendeur Ouest)") },
        a_without_right: By::Partner { partner_id: pa, user_id: ua2, can_opportunities: false, is_admin: false, actor: actor("Nina") },
        b: By::Partner { partner_id: pb, user_id: ub, can_opportunities: true, is_admin: false, actor: actor("Bob (Revendeur Est)") },
        team: By::Staff {
            user_id: engineer,
            presales: true,
            all_teams: false,
            actor: Actor { id: Some(engineer), name: "Emma".into(), request_id: None },
        },
        outsider: By::Staff {
            user_id: rep,
            presales: false,
            all_teams: false,
            actor: Actor { id: Some(rep), name: "René".into(), request_id: None },
        },
        opp_a: id_of(app, "SELECT id FROM partner_opportunities WHERE customer_name = 'Boulangerie Martin'").await,
        opp_a_other_type: id_of(app, "SELECT id FROM partner_opportunities WHERE customer_name = 'Garage Leroy'").await,
        opp_b: id_of(app, "SELECT id FROM partner_opportunities WHERE customer_name = 'Pharmacie Roux'").await,
    }
}

fn demo(opp: i64) -> RequestInput {
    RequestInput {
        partner_opportunity_id: opp,
        description: "Démonstration de la gestion commerciale".into(),
        intervention_type: "demo".into(),
        on_site: true,
        place: Some("12 rue des Lilas, Nantes".into()),
        desired_date: Some("2026-12-15".into()),
        preferred_engineer_id: None,
    }
}

fn slots(app: &TestApp, first_day: i64, n: usize) -> Vec<SlotInput> {
    (0..n as i64)
        .map(|i| SlotInput {
            engineer_id: None,
            start_at: app.now() + (first_day + i) * DAY,
            end_at: app.now() + (first_day + i) * DAY + 2 * HOUR,
        })
        .collect()
}

async fn status_of(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM presales_requests WHERE id = $1").bind(id).fetch_one(&app.state.db.pool).await.expect("status")
}

async fn emails(app: &TestApp, event: &str, id: i64) -> Vec<String> {
    sqlx::query_scalar("SELECT to_addrs FROM emails WHERE event = $1 AND entity_type = 'presales_request' AND entity_id = $2 ORDER BY id")
        .bind(event)
        .bind(id)
        .fetch_all(&app.state.db.pool)
        .await
        .expect("emails")
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::NotFound))
}

#[tokio::test]
async fn the_seed_workflow_through_the_store_and_the_tenant_boundary() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let db = &app.state.db;
        let z = Zone::default();
        let act = |by: &By, id: i64, step: Step| {
            let by = by.clone();
            let db = db.clone();
            let now = app.now();
            async move { store::act(&db, &by, now, z, id, step).await }
        };

        // Creation: only from the partner's own eligible opportunity, by a user with the right.
        let r = store::create(db, &w.a, app.now(), &demo(w.opp_a)).await.expect("create");
        assert_eq!(r.status(), Status::Brouillon);
        assert!(r.number.starts_with("AV-"), "{}", r.number);
        let err = store::create(db, &w.a, app.now(), &demo(w.opp_a_other_type)).await.expect_err("not eligible");
        assert!(matches!(&err, Error::Validation(f) if f.get("partner_opportunity_id") == Some("error.presales_not_eligible")), "{err:?}");
        let err = store::create(db, &w.a, app.now(), &demo(w.opp_b)).await.expect_err("another partner's opportunity");
        assert!(matches!(&err, Error::Validation(f) if f.get("partner_opportunity_id") == Some("error.invalid_choice")), "{err:?}");
        assert!(matches!(store::create(db, &w.a_without_right, app.now(), &demo(w.opp_a)).await, Err(Error::Forbidden)));
        let id = r.id;

        // A draft is the partner's alone.
        let emma = store::TeamScope { user_id: w.engineer, all: false };
        assert!(store::get_for_team(db, emma, id).await.expect("get").is_none());
        assert!(is_not_found(act(&w.team, id, Step::Accept).await));

        // Submission needs the confirmation.
        assert!(matches!(act(&w.a, id, Step::Submit { confirmed: false }).await, Err(Error::Validation(_))));
        assert_eq!(act(&w.a, id, Step::Submit { confirmed: true }).await.expect("submit").status(), Status::ATraiter);
        assert_eq!(emails(&app, "presales_step", id).await.len(), 1, "the team's group is told");
        assert!(emails(&app, "presales_step", id).await[0].contains("emma.avantvente@test.example"));

        // Tenant boundary: partner B sees and changes nothing of A's request.
        let before = app.snapshot().await;
        assert!(store::get_for_partner(db, match &w.b { By::Partner { partner_id, .. } => *partner_id, _ => 0 }, id).await.expect("get").is_none());
        for step in [
            Step::Submit { confirmed: true },
            Step::AskOtherDates("autre".into()),
            Step::AnswerInfo("réponse".into()),
            Step::Cancel("motif".into()),
            Step::PickSlot(1),
            Step::Edit(demo(w.opp_b)),
        ] {
            assert!(is_not_found(act(&w.b, id, step).await), "partner B reaches A's request");
        }
        // Staff without the right, and a partner user without it, are refused.
        assert!(matches!(act(&w.outsider, id, Step::Accept).await, Err(Error::Forbidden)));
        assert!(matches!(act(&w.a_without_right, id, Step::Cancel("x".into())).await, Err(Error::Forbidden)));
        // The partner cannot do the team's steps.
        assert!(matches!(act(&w.a, id, Step::Accept).await, Err(Error::Forbidden)));
        assert_eq!(app.snapshot().await, before, "refusals change nothing");

        // The team accepts: the accepting engineer takes it.
        let r = act(&w.team, id, Step::Accept).await.expect("accept");
        assert_eq!((r.status(), r.engineer_id), (Status::EnCours, Some(w.engineer)));
        let to_partner = emails(&app, "presales_step", id).await;
        assert!(to_partner.last().expect("email").contains("paul@ouest.example"), "{to_partner:?}");
        assert!(!to_partner.last().expect("email").contains("nina@ouest.example"), "users without the right are not told");

        // Three slots, then "none fits", then new slots; the first round stays in the history.
        assert!(matches!(act(&w.team, id, Step::Propose(slots(&app, 3, 4))).await, Err(Error::Validation(_))), "at most three");
        assert_eq!(act(&w.team, id, Step::Propose(slots(&app, 3, 3))).await.expect("propose").status(), Status::Planifiee);
        let first_round: Vec<i64> = store::slots(db, id).await.expect("slots").iter().map(|s| s.id).collect();
        assert_eq!(first_round.len(), 3);
        assert!(matches!(act(&w.a, id, Step::AskOtherDates("  ".into())).await, Err(Error::Validation(_))), "expectations required");
        let r = act(&w.a, id, Step::AskOtherDates("Plutôt un mardi matin".into())).await.expect("other dates");
        assert_eq!(r.status(), Status::EnCours);
        act(&w.team, id, Step::Propose(slots(&app, 10, 2))).await.expect("propose again");
        let all = store::slots(db, id).await.expect("slots");
        assert_eq!(all.len(), 5, "earlier proposals are kept");
        assert!(matches!(act(&w.a, id, Step::PickSlot(first_round[0])).await, Err(Error::Validation(_))), "an earlier round's slot");

        // Information asked and answered: back to the status before.
        let r = act(&w.team, id, Step::AskInfo("Combien d'utilisateurs ?".into())).await.expect("ask info");
        assert_eq!((r.status(), r.previous_status.as_deref()), (Status::EnAttenteInfo, Some("planifiee")));
        let r = act(&w.a, id, Step::AnswerInfo("Douze".into())).await.expect("answer");
        assert_eq!((r.status(), r.previous_status.as_deref()), (Status::Planifiee, None));

        // The partner accepts a slot of the current round: done, invitation to both sides.
        let chosen = all.iter().find(|s| s.round == 2).expect("round 2").clone();
        let r = act(&w.a, id, Step::PickSlot(chosen.id)).await.expect("pick");
        assert_eq!((r.status(), r.accepted_slot_id), (Status::Terminee, Some(chosen.id)));
        let invitations = emails(&app, "presales_invitation", id).await;
        assert_eq!(invitations.len(), 2, "{invitations:?}");
        assert!(invitations.iter().any(|t| t.contains("paul@ouest.example")) && invitations.iter().any(|t| t.contains("emma.avantvente@test.example")));
        let ics: Vec<u8> = sqlx::query_scalar(
            "SELECT a.content FROM email_attachments a JOIN emails e ON e.id = a.email_id WHERE e.event = 'presales_invitation' AND e.entity_id = $1 LIMIT 1",
        )
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("ics");
        let ics = String::from_utf8(ics).expect("utf-8");
        assert!(ics.contains("METHOD:REQUEST") && ics.contains(&format!("UID:presales-{id}@")), "{ics}");

        // The engineer is now busy then (the calendar helper finds it), and a slot over it conflicts.
        let mut conn = db.pool.acquire().await.expect("conn");
        let busy = carnet::presales::calendar::busy(&mut conn, &[w.engineer], chosen.start_at - DAY, chosen.end_at + DAY).await.expect("busy");
        drop(conn);
        assert_eq!(busy.iter().map(|b| (b.kind.as_str(), b.id)).collect::<Vec<_>>(), vec![("presales", id)]);
        let over = carnet::presales::calendar::SlotTime { engineer_id: w.engineer, start_at: chosen.start_at + HOUR, end_at: chosen.end_at + HOUR };
        assert_eq!(carnet::presales::calendar::conflicts(&over, &busy, None).len(), 1);
        let shown = store::accepted_slots(db, emma, Some(w.engineer), chosen.start_at - DAY, chosen.start_at + DAY).await.expect("calendar");
        assert_eq!(shown.len(), 1);

        // A second request, refused with a reason the partner reads.
        let r2 = store::create(db, &w.a, app.now(), &demo(w.opp_a)).await.expect("create 2");
        act(&w.a, r2.id, Step::Submit { confirmed: true }).await.expect("submit 2");
        assert!(matches!(act(&w.team, r2.id, Step::Refuse(String::new())).await, Err(Error::Validation(_))), "reason required");
        act(&w.team, r2.id, Step::Refuse("Hors périmètre".into())).await.expect("refuse");
        let seen = store::get_for_partner(db, match &w.a { By::Partner { partner_id, .. } => *partner_id, _ => 0 }, r2.id).await.expect("get").expect("own");
        assert_eq!((seen.status(), seen.reason.as_deref()), (Status::Refusee, Some("Hors périmètre")));
        assert_eq!(status_of(&app, r2.id).await, "refusee");

        // Lists: each partner its own; the queue has no drafts.
        let pa = match &w.a { By::Partner { partner_id, .. } => *partner_id, _ => 0 };
        let pb = match &w.b { By::Partner { partner_id, .. } => *partner_id, _ => 0 };
        store::create(db, &w.a, app.now(), &demo(w.opp_a)).await.expect("draft");
        assert_eq!(store::list_for_partner(db, pa, &Default::default(), 25).await.expect("list").items.len(), 3);
        assert!(store::list_for_partner(db, pb, &Default::default(), 25).await.expect("list").items.is_empty());
        let q = store::queue(db, emma, &Default::default(), 1).await.expect("queue");
        assert_eq!(q.items.len(), 1);
        let next = store::queue(db, emma, &store::Filter { before: q.next_before, ..Default::default() }, 1).await.expect("queue page 2");
        assert_eq!(next.items.len(), 1);
        assert!(next.next_before.is_none(), "two submitted requests, no draft");

        // Every change is in the history.
        let n = app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'presales_request' AND entity_id = {id}")).await;
        assert!(n >= 9, "{n} history rows");
        app
    })
    .await;
}

#[tokio::test]
async fn the_team_works_from_its_pages() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let db = &app.state.db;
        let z = Zone::default();
        let r = store::create(db, &w.a, app.now(), &demo(w.opp_a)).await.expect("create");
        let draft = store::create(db, &w.a, app.now(), &demo(w.opp_a)).await.expect("draft");
        store::act(db, &w.a, app.now(), z, r.id, Step::Submit { confirmed: true }).await.expect("submit");

        let emma = app.login("emma.avantvente@test.example", common::PASSWORD).await.expect("login");
        let (s, home) = emma.get_text("/").await;
        assert_eq!(s, StatusCode::OK);
        assert!(home.contains("href=\"/presales\""), "the pre-sales engineer has a Pre-sales menu entry");
        let (s, queue) = emma.get_text("/presales").await;
        assert_eq!(s, StatusCode::OK);
        assert!(queue.contains(&r.number) && !queue.contains(&draft.number), "the queue shows submitted requests only");
        assert_eq!(emma.get(&format!("/presales/{}", draft.id)).await.status(), StatusCode::NOT_FOUND);

        assert_eq!(emma.post(&format!("/presales/{}/accept", r.id), &[]).await.status(), StatusCode::SEE_OTHER);
        let day = chrono::DateTime::from_timestamp_millis(app.now() + 5 * DAY).expect("date").format("%Y-%m-%d").to_string();
        let resp = emma
            .post(
                &format!("/presales/{}/propose", r.id),
                &[
                    ("slot1_date", &day),
                    ("slot1_start", "09:00"),
                    ("slot1_end", "08:00"),
                    ("slot2_date", ""),
                    ("slot2_start", ""),
                    ("slot2_end", ""),
                ],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "an end before its start is refused on the form");
        let resp = emma
            .post(
                &format!("/presales/{}/propose", r.id),
                &[
                    ("slot1_date", &day),
                    ("slot1_start", "09:00"),
                    ("slot1_end", "11:00"),
                    ("slot2_date", day.as_str()),
                    ("slot2_start", "14:00"),
                    ("slot2_end", "16:00"),
                ],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(status_of(&app, r.id).await, "planifiee");
        let (_, page) = emma.get_text(&format!("/presales/{}", r.id)).await;
        assert!(page.contains("data-status=\"planifiee\"") && page.contains("id=\"proposal-"), "the proposals show");
        assert_eq!(
            emma.post(&format!("/presales/{}/accept", r.id), &[]).await.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not from planifiee"
        );
        let (s, _) = emma.get_text(&format!("/presales/{}/history", r.id)).await;
        assert_eq!(s, StatusCode::OK);

        // Staff without the right: refused, nothing changes.
        let rene = app.login("rene.rep@test.example", common::PASSWORD).await.expect("login");
        let before = app.snapshot().await;
        assert_eq!(rene.get("/presales").await.status(), StatusCode::FORBIDDEN);
        assert_eq!(rene.post(&format!("/presales/{}/refuse", r.id), &[("reason", "non")]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.snapshot().await, before);
        let _ = w.engineer;
        app
    })
    .await;
}

async fn set_password(app: &TestApp, email: &str) {
    let hash = carnet::identity::password::hash(common::PASSWORD).expect("hash");
    sqlx::query("UPDATE partner_users SET password_hash = $1 WHERE email = $2")
        .bind(hash)
        .bind(email)
        .execute(&app.state.db.pool)
        .await
        .expect("password");
}

async fn history_rows(app: &TestApp, id: i64) -> i64 {
    app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'presales_request' AND entity_id = {id}")).await
}

#[tokio::test]
async fn the_partner_works_from_the_portal_and_sees_only_their_requests() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let db = &app.state.db;
        let z = Zone::default();
        set_password(&app, "paul@ouest.example").await;
        set_password(&app, "bob@est.example").await;
        let paul = app.partner_login("paul@ouest.example", common::PASSWORD).await.expect("paul logs in");
        let bob = app.partner_login("bob@est.example", common::PASSWORD).await.expect("bob logs in");

        let (s, home) = paul.get_text("/partner").await;
        assert_eq!(s, StatusCode::OK);
        assert!(home.contains("href=\"/partner/presales\""), "the partner portal has the pre-sales menu entry");
        let (s, form) = paul.get_text(&format!("/partner/presales/new?opportunity={}", w.opp_a)).await;
        assert_eq!(s, StatusCode::OK);
        assert!(form.contains(&format!("<option value=\"{}\" selected>", w.opp_a)), "the opportunity is chosen");
        assert!(!form.contains("Garage Leroy") && !form.contains("Pharmacie Roux"), "only the partner's eligible opportunities");
        let opp = w.opp_a.to_string();
        let fields = [
            ("partner_opportunity_id", opp.as_str()),
            ("description", "Démo pour 12 utilisateurs"),
            ("intervention_type", "demo"),
            ("on_site", ""),
            ("place", ""),
            ("desired_date", "2026-12-15"),
            ("preferred_engineer_id", ""),
        ];
        let resp = paul.post("/partner/presales", &fields).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "the confirmation box is required");
        assert_eq!(app.count("SELECT COUNT(*) FROM presales_requests").await, 0);
        let mut with_confirm = fields.to_vec();
        with_confirm.push(("confirmed", "1"));
        let resp = paul.post("/partner/presales", &with_confirm).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let id: i64 = sqlx::query_scalar("SELECT id FROM presales_requests").fetch_one(&db.pool).await.expect("created");

        // The draft's edit form posted back unchanged writes nothing.
        let (s, _) = paul.get_text(&format!("/partner/presales/{id}/edit")).await;
        assert_eq!(s, StatusCode::OK);
        let rows = history_rows(&app, id).await;
        assert_eq!(paul.post(&format!("/partner/presales/{id}"), &fields).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(history_rows(&app, id).await, rows, "a no-change save writes no history");

        // Submission needs the confirmation too.
        assert_eq!(paul.post(&format!("/partner/presales/{id}/submit"), &[]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status_of(&app, id).await, "brouillon");
        assert_eq!(paul.post(&format!("/partner/presales/{id}/submit"), &[("confirmed", "1")]).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(status_of(&app, id).await, "a_traiter");

        // Another partner: 404 on every page and step of this request, and nothing in its list.
        let before = app.snapshot().await;
        for path in [format!("/partner/presales/{id}"), format!("/partner/presales/{id}/edit")] {
            assert_eq!(bob.get(&path).await.status(), StatusCode::NOT_FOUND, "{path}");
        }
        for step in ["submit", "accept", "other-dates", "answer", "cancel"] {
            let resp = bob
                .post(
                    &format!("/partner/presales/{id}/{step}"),
                    &[("reason", "x"), ("expectations", "x"), ("answer", "x"), ("confirmed", "1"), ("slot_id", "1")],
                )
                .await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{step}");
        }
        assert_eq!(bob.post(&format!("/partner/presales/{id}"), &fields).await.status(), StatusCode::NOT_FOUND);
        let (_, list) = bob.get_text("/partner/presales").await;
        assert!(!list.contains("AV-"), "B's list shows nothing of A");
        assert_eq!(app.snapshot().await, before, "B changed nothing");

        // The team proposes; the partner must pick a slot, then accepts one.
        store::act(db, &w.team, app.now(), z, id, Step::Accept).await.expect("accept");
        store::act(db, &w.team, app.now(), z, id, Step::Propose(slots(&app, 3, 3))).await.expect("propose");
        let (_, page) = paul.get_text(&format!("/partner/presales/{id}")).await;
        assert_eq!(page.matches("name=\"slot_id\"").count(), 3, "three slots to choose from");
        assert_eq!(paul.post(&format!("/partner/presales/{id}/accept"), &[]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let slot = store::slots(db, id).await.expect("slots")[1].id.to_string();
        assert_eq!(
            paul.post(&format!("/partner/presales/{id}/accept"), &[("slot_id", slot.as_str())]).await.status(),
            StatusCode::SEE_OTHER
        );
        assert_eq!(status_of(&app, id).await, "terminee");

        // A refusal's reason shows to the partner.
        let r2 = store::create(db, &w.a, app.now(), &demo(w.opp_a)).await.expect("create");
        store::act(db, &w.a, app.now(), z, r2.id, Step::Submit { confirmed: true }).await.expect("submit");
        store::act(db, &w.team, app.now(), z, r2.id, Step::Refuse("Hors périmètre géographique".into())).await.expect("refuse");
        let (_, page) = paul.get_text(&format!("/partner/presales/{}", r2.id)).await;
        assert!(page.contains("id=\"presales-reason\"") && page.contains("Hors périmètre géographique"));

        // A staff session does not open the partner pages, a partner session not the team's.
        let emma = app.login("emma.avantvente@test.example", common::PASSWORD).await.expect("login");
        assert_ne!(emma.get("/partner/presales").await.status(), StatusCode::OK);
        assert_ne!(paul.get("/presales").await.status(), StatusCode::OK);
        let _ = (&w.b, &w.outsider, &w.a_without_right, w.opp_b, w.opp_a_other_type);
        app
    })
    .await;
}

/// Two pre-sales teams: each engineer sees and works only their own team's requests (queue,
/// counts, page, history, steps, calendar), in SQL; the right `presales.all_teams`
/// (administrators) sees both; each team alone is told of its requests.
#[tokio::test]
async fn each_team_sees_only_its_own_requests() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let db = &app.state.db;
        let z = Zone::default();
        let now = app.now();
        // Team B: "Avant-vente Ouest", with Hugo; workshops go to it.
        let hugo = app.user("hugo.ouest@test.example", "avant_vente", None).await;
        app.user("alice.admin@test.example", "administrateur", None).await;
        exec(&app, &format!("INSERT INTO user_groups (name, description, org_unit_id, created_at, updated_at) VALUES ('Avant-vente Ouest', '', NULL, {now}, {now})")).await;
        let gb = id_of(&app, "SELECT id FROM user_groups WHERE name = 'Avant-vente Ouest'").await;
        let ga = id_of(&app, "SELECT id FROM user_groups WHERE name = 'Avant-vente'").await;
        exec(&app, &format!("INSERT INTO user_group_members (group_id, user_id) VALUES ({gb}, {hugo})")).await;
        exec(&app, &format!("INSERT INTO settings (key, value, updated_at) VALUES ('presales.type_teams', 'atelier=Avant-vente Ouest; cadrage=Inconnu', {now})")).await;

        let ra = store::create(db, &w.a, now, &demo(w.opp_a)).await.expect("create A");
        store::act(db, &w.a, now, z, ra.id, Step::Submit { confirmed: true }).await.expect("submit A");
        let rb = store::create(db, &w.a, now, &RequestInput { intervention_type: "atelier".into(), ..demo(w.opp_a) }).await.expect("create B");
        let rb = store::act(db, &w.a, now, z, rb.id, Step::Submit { confirmed: true }).await.expect("submit B");
        // A type routed to an unknown group falls back to the default team.
        let rc = store::create(db, &w.a, now, &RequestInput { intervention_type: "cadrage".into(), ..demo(w.opp_a) }).await.expect("create C");
        let rc = store::act(db, &w.a, now, z, rc.id, Step::Submit { confirmed: true }).await.expect("submit C");
        assert_eq!(rb.team_id, Some(gb));
        assert_eq!(rc.team_id, Some(ga));
        let ra = store::get_for_partner(db, match &w.a { By::Partner { partner_id, .. } => *partner_id, _ => 0 }, ra.id).await.expect("get").expect("own");
        assert_eq!(ra.team_id, Some(ga));
        // Each team alone is told.
        let told_b = emails(&app, "presales_step", rb.id).await;
        assert!(told_b.iter().all(|t| t.contains("hugo.ouest@test.example") && !t.contains("emma.avantvente")), "{told_b:?}");
        let told_a = emails(&app, "presales_step", ra.id).await;
        assert!(told_a.iter().all(|t| t.contains("emma.avantvente") && !t.contains("hugo.ouest")), "{told_a:?}");

        // The store: Emma's scope reaches A's team only.
        let emma_scope = store::TeamScope { user_id: w.engineer, all: false };
        let hugo_scope = store::TeamScope { user_id: hugo, all: false };
        assert!(store::get_for_team(db, emma_scope, rb.id).await.expect("get").is_none());
        assert!(store::get_for_team(db, hugo_scope, rb.id).await.expect("get").is_some());
        let ids = |l: store::Listed| l.items.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(store::queue(db, emma_scope, &Default::default(), 25).await.expect("queue")), vec![rc.id, ra.id]);
        assert_eq!(ids(store::queue(db, hugo_scope, &Default::default(), 25).await.expect("queue")), vec![rb.id]);
        let all = store::TeamScope { user_id: w.engineer, all: true };
        assert_eq!(ids(store::queue(db, all, &Default::default(), 25).await.expect("queue")).len(), 3);
        let counts = store::queue_counts(db, hugo_scope).await.expect("counts");
        assert_eq!(counts.iter().find(|(s, _)| *s == Status::ATraiter).map(|(_, n)| *n), Some(1));

        // Over HTTP, as the pre-sales engineers use it.
        let emma = app.login("emma.avantvente@test.example", common::PASSWORD).await.expect("login");
        let hugo_s = app.login("hugo.ouest@test.example", common::PASSWORD).await.expect("login");
        let (s, queue) = emma.get_text("/presales").await;
        assert_eq!(s, StatusCode::OK);
        assert!(queue.contains(&ra.number) && !queue.contains(&rb.number), "Emma's queue has her team's requests only");
        let (_, queue) = hugo_s.get_text("/presales").await;
        assert!(queue.contains(&rb.number) && !queue.contains(&ra.number), "Hugo's queue has his team's requests only");
        let (_, queue) = emma.get_text("/presales?status=a_traiter").await;
        assert!(!queue.contains(&rb.number));
        let before = app.snapshot().await;
        for path in [format!("/presales/{}", rb.id), format!("/presales/{}/history", rb.id)] {
            assert_eq!(emma.get(&path).await.status(), StatusCode::NOT_FOUND, "{path}");
        }
        for (step, fields) in [
            ("accept", vec![]),
            ("assign", vec![("engineer_id", w.engineer.to_string())]),
            ("ask-info", vec![("question", "Combien ?".to_string())]),
            ("refuse", vec![("reason", "Non".to_string())]),
            ("cancel", vec![("reason", "Non".to_string())]),
        ] {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            assert_eq!(emma.post(&format!("/presales/{}/{step}", rb.id), &f).await.status(), StatusCode::NOT_FOUND, "{step}");
        }
        assert_eq!(app.snapshot().await, before, "another team's request is left as it was");
        let (s, page) = hugo_s.get_text(&format!("/presales/{}", rb.id)).await;
        assert_eq!(s, StatusCode::OK);
        assert!(page.contains("Avant-vente Ouest"), "the request's page names its team");
        // An engineer of another team cannot be assigned (they would not see the request).
        let resp = hugo_s.post(&format!("/presales/{}/assign", rb.id), &[("engineer_id", &w.engineer.to_string())]).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(hugo_s.post(&format!("/presales/{}/accept", rb.id), &[]).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(status_of(&app, rb.id).await, "en_cours");

        // The administrator (right presales.all_teams) sees both teams.
        let alice = app.login("alice.admin@test.example", common::PASSWORD).await.expect("login");
        let (_, queue) = alice.get_text("/presales").await;
        assert!(queue.contains(&ra.number) && queue.contains(&rb.number));
        assert_eq!(alice.get(&format!("/presales/{}", rb.id)).await.status(), StatusCode::OK);

        // Without any team group (a fresh install), a request has no team: every engineer sees it.
        exec(&app, &format!("INSERT INTO settings (key, value, updated_at) VALUES ('presales.team_group', 'Aucun groupe', {now})")).await;
        let rn = store::create(db, &w.a, now, &RequestInput { intervention_type: "soutenance".into(), ..demo(w.opp_a) }).await.expect("create N");
        let rn = store::act(db, &w.a, now, z, rn.id, Step::Submit { confirmed: true }).await.expect("submit N");
        assert_eq!(rn.team_id, None);
        for scope in [emma_scope, hugo_scope] {
            assert!(ids(store::queue(db, scope, &Default::default(), 25).await.expect("queue")).contains(&rn.id));
            assert!(store::get_for_team(db, scope, rn.id).await.expect("get").is_some());
        }
        let counts = store::queue_counts(db, hugo_scope).await.expect("counts");
        assert_eq!(counts.iter().find(|(s, _)| *s == Status::ATraiter).map(|(_, n)| *n), Some(1), "B's own is accepted; the team-less one waits");

        // Leaving the team takes the requests away at once (no cache).
        exec(&app, &format!("DELETE FROM user_group_members WHERE group_id = {gb} AND user_id = {hugo}")).await;
        assert_eq!(hugo_s.get(&format!("/presales/{}", rb.id)).await.status(), StatusCode::NOT_FOUND);
        app
    })
    .await;
}

/// An opportunity's page lists its pre-sales requests, on the partner's side (their own,
/// drafts included, linked to the portal) and on the staff side (submitted ones, linked for the
/// pre-sales team's members, plain for a channel manager); another partner reads a 404.
#[tokio::test]
async fn the_opportunity_pages_list_their_requests() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let db = &app.state.db;
        let z = Zone::default();
        let unit: i64 = id_of(&app, "SELECT unit_id FROM partners WHERE name = 'Revendeur Ouest'").await;
        app.user("ines.canal@test.example", "responsable_partenaires", Some(unit)).await;
        app.user("alice.admin@test.example", "administrateur", None).await;
        set_password(&app, "paul@ouest.example").await;
        set_password(&app, "bob@est.example").await;
        let submitted = store::create(db, &w.a, app.now(), &demo(w.opp_a)).await.expect("create");
        store::act(db, &w.a, app.now(), z, submitted.id, Step::Submit { confirmed: true }).await.expect("submit");
        let draft = store::create(db, &w.a, app.now(), &RequestInput { intervention_type: "atelier".into(), ..demo(w.opp_a) })
            .await
            .expect("draft");
        let other = store::create(db, &w.b, app.now(), &demo(w.opp_b)).await.expect("B's");

        let paul = app.partner_login("paul@ouest.example", common::PASSWORD).await.expect("paul");
        let (s, page) = paul.get_text(&format!("/partner/opportunities/{}", w.opp_a)).await;
        assert_eq!(s, StatusCode::OK);
        assert!(page.contains(&format!("href=\"/partner/presales/{}\"", submitted.id)), "the submitted request is linked");
        assert!(page.contains(&format!("href=\"/partner/presales/{}\"", draft.id)), "so is the draft");
        assert!(page.contains("data-status=\"a_traiter\"") && page.contains("data-status=\"brouillon\""));
        assert!(!page.contains(&other.number), "nothing of partner B");
        assert_eq!(page.matches("class=\"opportunity-presales-row\"").count(), 2);
        let (_, page) = paul.get_text(&format!("/partner/opportunities/{}", w.opp_a_other_type)).await;
        assert!(page.contains("id=\"opportunity-presales-empty\""));
        // Partner B: A's opportunity is unknown.
        let bob = app.partner_login("bob@est.example", common::PASSWORD).await.expect("bob");
        let (s, page) = bob.get_text(&format!("/partner/opportunities/{}", w.opp_a)).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(!page.contains(&submitted.number));

        // Staff: the channel manager reads the submitted request (no link: not on the team).
        let ines = app.login("ines.canal@test.example", common::PASSWORD).await.expect("ines");
        let (s, page) = ines.get_text(&format!("/partners/opportunities/{}", w.opp_a)).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert!(page.contains(&submitted.number) && !page.contains(&draft.number), "a draft is the partner's alone");
        assert!(!page.contains(&format!("href=\"/presales/{}\"", submitted.id)));
        // The administrator sees the team's link.
        let alice = app.login("alice.admin@test.example", common::PASSWORD).await.expect("alice");
        let (_, page) = alice.get_text(&format!("/partners/opportunities/{}", w.opp_a)).await;
        assert!(page.contains(&format!("href=\"/presales/{}\"", submitted.id)) && page.contains("data-status=\"a_traiter\""));
        app
    })
    .await;
}

/// The pre-sales API as the team uses it: the queue of the caller's team only (keyset pages,
/// status filter), a request with its slots and conversation, and the team's steps as POSTs
/// through the same state machine (a wrong status is a 409, another team's request a 404,
/// nothing changed).
#[tokio::test]
async fn the_team_works_through_the_api() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let db = &app.state.db;
        let z = Zone::default();
        let now = app.now();
        let hugo = app.user("hugo.ouest@test.example", "avant_vente", None).await;
        exec(&app, &format!("INSERT INTO user_groups (name, description, org_unit_id, created_at, updated_at) VALUES ('Avant-vente Ouest', '', NULL, {now}, {now})")).await;
        let gb = id_of(&app, "SELECT id FROM user_groups WHERE name = 'Avant-vente Ouest'").await;
        exec(&app, &format!("INSERT INTO user_group_members (group_id, user_id) VALUES ({gb}, {hugo})")).await;
        exec(&app, &format!("INSERT INTO settings (key, value, updated_at) VALUES ('presales.type_teams', 'atelier=Avant-vente Ouest', {now})")).await;
        let mut mine = Vec::new();
        for _ in 0..3 {
            let r = store::create(db, &w.a, now, &demo(w.opp_a)).await.expect("create");
            store::act(db, &w.a, now, z, r.id, Step::Submit { confirmed: true }).await.expect("submit");
            mine.push(r.id);
        }
        let other = store::create(db, &w.a, now, &RequestInput { intervention_type: "atelier".into(), ..demo(w.opp_a) }).await.expect("B");
        store::act(db, &w.a, now, z, other.id, Step::Submit { confirmed: true }).await.expect("submit B");
        let draft = store::create(db, &w.a, now, &demo(w.opp_a)).await.expect("draft");

        let api = app.api(&app.token_for(w.engineer).await);
        // Pages of two, newest first, the team's requests only.
        let (s, p1) = api.get("/api/v1/presales-requests?limit=2").await;
        assert_eq!(s, 200, "{p1}");
        let ids = |v: &serde_json::Value| v["items"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect::<Vec<_>>();
        assert_eq!(ids(&p1), vec![mine[2], mine[1]]);
        let cursor = p1["next_cursor"].as_str().expect("a next page").to_string();
        let (_, p2) = api.get(&format!("/api/v1/presales-requests?limit=2&after={cursor}")).await;
        assert_eq!(ids(&p2), vec![mine[0]]);
        assert!(p2["next_cursor"].is_null());
        assert!(!ids(&p1).contains(&other.id) && !ids(&p2).contains(&draft.id));
        let (s, b) = api.get("/api/v1/presales-requests?status=brouillon").await;
        assert_eq!((s.as_u16(), b["error"]["fields"]["status"].is_string()), (422, true), "{b}");
        let (s, _) = api.get("/api/v1/presales-requests?limit=0").await;
        assert_eq!(s, 422);

        // Another team's request and a draft: 404 to read and to act on, nothing changed.
        let before = app.snapshot().await;
        for id in [other.id, draft.id] {
            assert_eq!(api.get(&format!("/api/v1/presales-requests/{id}")).await.0, 404);
            assert_eq!(api.send("POST", &format!("/api/v1/presales-requests/{id}/accept"), None).await.0, 404);
            let (s, _) = api.send("POST", &format!("/api/v1/presales-requests/{id}/refuse"), Some(json!({"reason": "Non"}))).await;
            assert_eq!(s, 404);
        }
        assert_eq!(app.snapshot().await, before);

        // The steps: accept, propose (bad slot → 422 on it), ask for information, refuse.
        let id = mine[0];
        let (s, r) = api.send("POST", &format!("/api/v1/presales-requests/{id}/accept"), None).await;
        assert_eq!((s.as_u16(), r["status"].as_str(), r["engineer_id"].as_i64()), (200, Some("en_cours"), Some(w.engineer)), "{r}");
        let (s, b) = api.send("POST", &format!("/api/v1/presales-requests/{id}/accept"), None).await;
        assert_eq!(s, 409, "not from en_cours: {b}");
        let day = chrono::DateTime::from_timestamp_millis(now + 5 * DAY).expect("date").format("%Y-%m-%d").to_string();
        let (s, b) = api
            .send("POST", &format!("/api/v1/presales-requests/{id}/propose"), Some(json!({"slots": [{"date": day, "start_time": "11:00", "end_time": "09:00"}]})))
            .await;
        assert_eq!((s.as_u16(), b["error"]["fields"]["slot1_end"].is_string()), (422, true), "{b}");
        let four: Vec<serde_json::Value> = (0..4).map(|_| json!({"date": day, "start_time": "09:00", "end_time": "10:00"})).collect();
        assert_eq!(api.send("POST", &format!("/api/v1/presales-requests/{id}/propose"), Some(json!({"slots": four}))).await.0, 422);
        let (s, r) = api
            .send(
                "POST",
                &format!("/api/v1/presales-requests/{id}/propose"),
                Some(json!({"slots": [{"date": day, "start_time": "09:00", "end_time": "11:00"}, {"date": day, "start_time": "14:00", "end_time": "16:00"}]})),
            )
            .await;
        assert_eq!((s.as_u16(), r["status"].as_str(), r["slots"].as_array().map(Vec::len)), (200, Some("planifiee"), Some(2)), "{r}");
        let (s, r) = api.send("POST", &format!("/api/v1/presales-requests/{id}/ask-info"), Some(json!({"question": "Combien de sites ?"}))).await;
        assert_eq!((s.as_u16(), r["status"].as_str(), r["previous_status"].as_str()), (200, Some("en_attente_info"), Some("planifiee")), "{r}");
        assert_eq!(r["messages"][0]["body"], "Combien de sites ?");
        assert_eq!(api.send("POST", &format!("/api/v1/presales-requests/{id}/refuse"), Some(json!({"reason": "  "}))).await.0, 422);
        let (s, r) = api.send("POST", &format!("/api/v1/presales-requests/{}/refuse", mine[1]), Some(json!({"reason": "Hors zone"}))).await;
        assert_eq!((s.as_u16(), r["status"].as_str(), r["reason"].as_str()), (200, Some("refusee"), Some("Hors zone")));
        let (s, b) = api.send("POST", &format!("/api/v1/presales-requests/{}/assign", mine[2]), Some(json!({"engineer_id": hugo}))).await;
        assert_eq!((s.as_u16(), b["error"]["fields"]["engineer_id"].is_string()), (422, true), "another team's engineer: {b}");
        let (_, one) = api.get(&format!("/api/v1/presales-requests/{id}")).await;
        assert_eq!((one["number"].as_str().is_some(), one["team_name"].as_str()), (true, Some("Avant-vente")));
        let (_, filtered) = api.get("/api/v1/presales-requests?status=refusee").await;
        assert_eq!(ids(&filtered), vec![mine[1]]);
        // The steps are in the request's history, as from the pages.
        assert!(history_rows(&app, id).await >= 4);
        app
    })
    .await;
}

/// Julie, a pre-sales engineer of another team ("Avant-vente Ouest") than the demo's.
async fn other_team_engineer(app: &TestApp) -> i64 {
    let now = app.now();
    let julie = app.user("julie.ouest@carnet.demo", "avant_vente", None).await;
    exec(app, &format!("INSERT INTO user_groups (name, description, org_unit_id, created_at, updated_at) VALUES ('Avant-vente Ouest', '', NULL, {now}, {now})")).await;
    let g = id_of(app, "SELECT id FROM user_groups WHERE name = 'Avant-vente Ouest'").await;
    exec(app, &format!("INSERT INTO user_group_members (group_id, user_id) VALUES ({g}, {julie})")).await;
    julie
}

/// On the demo company, as its people use it: Thomas (pre-sales, team "Avant-vente") has the
/// demo's requests in his queue and through the API; an engineer of another team has none of
/// them; Paul (Infogest) sees his opportunity's requests and keeps his account.
#[tokio::test]
async fn the_demo_pre_sales_team_and_partner() {
    each_backend(|app| async move {
        carnet::demo::load(&app.state).await.expect("demo");
        let pw = carnet::demo::PASSWORD;
        let submitted = app.count("SELECT COUNT(*) FROM presales_requests WHERE status <> 'brouillon'").await;
        assert!(submitted >= 5, "{submitted}");
        let team =
            app.count("SELECT COUNT(*) FROM presales_requests r JOIN user_groups g ON g.id = r.team_id WHERE g.name = 'Avant-vente'").await;
        assert_eq!(team, submitted, "every demo request is the Avant-vente team's");
        let thomas = app.login("thomas.pelletier@carnet.demo", pw).await.expect("thomas");
        let (s, queue) = thomas.get_text("/presales").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(queue.matches("data-href=\"/presales/").count() as i64, submitted);
        let thomas_id = id_of(&app, "SELECT id FROM users WHERE email = 'thomas.pelletier@carnet.demo'").await;
        let api = app.api(&app.token_for(thomas_id).await);
        let (_, list) = api.get("/api/v1/presales-requests").await;
        assert_eq!(list["items"].as_array().map(|v| v.len() as i64), Some(submitted));

        // A pre-sales engineer of another team sees none of Thomas's team's requests.
        other_team_engineer(&app).await;
        let julie = app.login("julie.ouest@carnet.demo", common::PASSWORD).await.expect("julie");
        let (_, queue) = julie.get_text("/presales").await;
        assert_eq!(queue.matches("data-href=\"/presales/").count(), 0);
        let any = id_of(&app, "SELECT MIN(id) FROM presales_requests WHERE status <> 'brouillon'").await;
        assert_eq!(julie.get(&format!("/presales/{any}")).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(thomas.get(&format!("/presales/{any}")).await.status(), StatusCode::OK);

        // Paul: his opportunity lists its requests; his account page.
        let paul = app.partner_login("paul.martin@infogest.example", pw).await.expect("paul");
        let opp = id_of(
            &app,
            "SELECT r.partner_opportunity_id FROM presales_requests r JOIN partner_users u ON u.partner_id = r.partner_id \
             WHERE u.email = 'paul.martin@infogest.example' ORDER BY r.id LIMIT 1",
        )
        .await;
        let (s, page) = paul.get_text(&format!("/partner/opportunities/{opp}")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(page.matches("class=\"opportunity-presales-row\"").count() >= 1 && page.contains("href=\"/partner/presales/"));
        let (s, account) = paul.get_text("/partner/account").await;
        assert_eq!(s, StatusCode::OK);
        assert!(account.contains("paul.martin@infogest.example"));
        app
    })
    .await;
}

/// The request's activity feed on the demo company, as Thomas (pre-sales, team "Avant-vente")
/// reads it: the partner's answer, the team's question, the proposed slots and every status
/// change in one list, newest first, on the page and through the API, filtered by kind; an
/// engineer of another team reads neither (404), and nothing of it leaks into their pages.
#[tokio::test]
async fn the_request_page_shows_one_activity_feed() {
    each_backend(|app| async move {
        carnet::demo::load(&app.state).await.expect("demo");
        let db = &app.state.db;
        let z = Zone::default();
        let pw = carnet::demo::PASSWORD;
        let (partner_id, paul_id): (i64, i64) =
            sqlx::query_as("SELECT partner_id, id FROM partner_users WHERE email = 'paul.martin@infogest.example'")
                .fetch_one(&db.pool)
                .await
                .expect("paul");
        let opp = id_of(&app, &format!("SELECT MIN(partner_opportunity_id) FROM presales_requests WHERE partner_id = {partner_id}")).await;
        let paul = By::Partner { partner_id, user_id: paul_id, can_opportunities: true, is_admin: false, actor: actor("Paul Martin") };
        let r = store::create(db, &paul, app.now(), &demo(opp)).await.expect("create");
        let id = r.id;
        store::act(db, &paul, app.now(), z, id, Step::Submit { confirmed: true }).await.expect("submit");

        let thomas = app.login("thomas.pelletier@carnet.demo", pw).await.expect("thomas");
        app.clock.advance(60_000);
        assert_eq!(thomas.post(&format!("/presales/{id}/accept"), &[]).await.status(), StatusCode::SEE_OTHER);
        app.clock.advance(60_000);
        let resp = thomas.post(&format!("/presales/{id}/ask-info"), &[("question", "Combien de postes ?")]).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        app.clock.advance(60_000);
        store::act(db, &paul, app.now(), z, id, Step::AnswerInfo("Douze postes, deux sites.".into())).await.expect("answer");
        app.clock.advance(60_000);
        let day = chrono::DateTime::from_timestamp_millis(app.now() + 5 * DAY).expect("date").format("%Y-%m-%d").to_string();
        let slots = [
            ("slot1_date", day.as_str()),
            ("slot1_start", "09:00"),
            ("slot1_end", "11:00"),
            ("slot2_date", day.as_str()),
            ("slot2_start", "14:00"),
            ("slot2_end", "16:00"),
        ];
        assert_eq!(thomas.post(&format!("/presales/{id}/propose"), &slots).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(status_of(&app, id).await, "planifiee");

        // The API: every kind, newest first.
        let thomas_id = id_of(&app, "SELECT id FROM users WHERE email = 'thomas.pelletier@carnet.demo'").await;
        let api = app.api(&app.token_for(thomas_id).await);
        let path = format!("/api/v1/presales-requests/{id}/activity");
        let (s, all) = api.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{all}");
        let items = all["items"].as_array().expect("items").clone();
        let shown = |e: &serde_json::Value| {
            format!("{} {} {}", e["kind"].as_str().unwrap_or(""), e["state"].as_str().unwrap_or(""), e["detail"].as_str().unwrap_or(""))
        };
        let kinds: Vec<String> = items.iter().filter(|e| e["kind"] != "email").map(shown).collect();
        assert_eq!(
            kinds,
            [
                "status planifiee en_cours",
                "slot proposed 1",
                "slot proposed 1",
                "status en_cours en_attente_info",
                "message in answer",
                "status en_attente_info en_cours",
                "message out question",
                "status en_cours a_traiter",
                "status a_traiter brouillon",
            ],
            "{all}"
        );
        let answer = items.iter().find(|e| e["kind"] == "message" && e["state"] == "in").expect("the partner's answer");
        assert_eq!((answer["body"].as_str(), answer["author"].as_str()), (Some("Douze postes, deux sites."), Some("Paul Martin")));
        assert_eq!(answer["file"]["kind"], "presales_request");
        let slot = items.iter().find(|e| e["kind"] == "slot").expect("a slot");
        assert!(slot["due_at"].as_i64().is_some_and(|t| t > app.now()), "{slot}");
        assert!(items.iter().any(|e| e["kind"] == "email"), "the steps' emails are in the feed: {all}");
        assert_eq!(all["next_cursor"], serde_json::Value::Null);

        // The filter by kind.
        let (_, only) = api.get(&format!("{path}?kind=slot,message")).await;
        let only: Vec<String> = only["items"].as_array().expect("items").iter().map(shown).collect();
        assert_eq!(only, ["slot proposed 1", "slot proposed 1", "message in answer", "message out question"]);
        let (s, bad) = api.get(&format!("{path}?kind=note,nope")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");

        // The page: the feed with the partner's answer standing out, the chips, the composer.
        let (s, page) = thomas.get_text(&format!("/presales/{id}")).await;
        assert_eq!(s, StatusCode::OK);
        let mid = answer["id"].as_i64().expect("id");
        assert!(page.contains(&format!("feed-message feed-in\" id=\"message-{mid}\"")), "the partner's message stands out");
        assert!(page.contains("Douze postes, deux sites.") && page.contains("Combien de postes ?"));
        assert!(page.contains(&format!("href=\"/presales/{id}?kind=slot#activity\"")), "the chips filter by kind");
        assert!(page.contains("id=\"presales-ask-info\"") && page.contains("id=\"presales-refuse\""), "the steps are the composer");
        assert!(!page.contains("id=\"presales-conversation\""), "no separate message list");
        let (_, filtered) = thomas.get_text(&format!("/presales/{id}?kind=slot")).await;
        assert!(!filtered.contains("Douze postes, deux sites.") && filtered.contains("feed-slot"), "the page's filter");
        // A refused step keeps what was typed.
        let resp = thomas.post(&format!("/presales/{id}/refuse"), &[("reason", "   ")]).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let long = "x".repeat(store::TEXT_MAX + 1);
        let resp = thomas.post(&format!("/presales/{id}/ask-info"), &[("question", &long)]).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(resp.text().await.expect("body").contains(&format!(">{long}</textarea>")), "the question typed is kept");

        // An engineer of another team: 404 on the page and on the feed, nothing of it elsewhere.
        let julie_id = other_team_engineer(&app).await;
        let julie = app.login("julie.ouest@carnet.demo", common::PASSWORD).await.expect("julie");
        assert_eq!(julie.get(&format!("/presales/{id}")).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(julie.get(&format!("/presales/{id}?kind=message")).await.status(), StatusCode::NOT_FOUND);
        let julie_api = app.api(&app.token_for(julie_id).await);
        let (s, body) = julie_api.get(&path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
        assert!(!body.to_string().contains("Douze postes"));
        let (s, _) = julie_api.get(&format!("{path}?kind=message")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        // Staff without the team's right: refused by the router.
        let rep =
            id_of(&app, "SELECT u.id FROM users u JOIN roles ro ON ro.id = u.role_id WHERE ro.code = 'representant' ORDER BY u.id LIMIT 1")
                .await;
        let (s, _) = app.api(&app.token_for(rep).await).get(&path).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        app
    })
    .await;
}
