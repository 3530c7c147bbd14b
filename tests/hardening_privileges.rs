//! Privileges and disclosure (issue 16): nobody grants more than they hold, the last
//! administrator stays, `carnet admin grant-admin` repairs an installation without one,
//! meeting participants are records the user may see, lead answers name only visible
//! records, and pick-lists follow the directory.

mod common;

use common::{each_backend, Api, TestApp, PASSWORD};
use serde_json::{json, Value};

async fn created(api: &Api, path: &str, body: Value) -> Value {
    let (s, v) = api.send("POST", path, Some(body)).await;
    assert_eq!(s, 201, "{path}: {v}");
    v
}

/// A role with these rights, created by the system's administrator.
async fn role(admin: &Api, code: &str, scope: &str, rights: &[&str]) {
    created(admin, "/api/v1/roles", json!({"code": code, "name_fr": code, "name_en": code, "scope": scope, "rights": rights})).await;
}

async fn admin_api(app: &TestApp) -> (i64, Api) {
    let id = app.user("root@t.fr", "administrateur", None).await;
    (id, app.api(&app.token_for(id).await))
}

async fn role_of(app: &TestApp, user: i64) -> String {
    sqlx::query_scalar::<_, String>("SELECT r.code FROM users u JOIN roles r ON r.id = u.role_id WHERE u.id = $1")
        .bind(user)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_delegated_role_administrator_grants_only_the_rights_they_hold() {
    each_backend(|app| async move {
        let (_, admin) = admin_api(&app).await;
        role(&admin, "delegue_roles", "all", &["admin.roles"]).await;
        let ro = app.user("roles.only@t.fr", "delegue_roles", None).await;
        let api = app.api(&app.token_for(ro).await);
        let own_role: i64 =
            sqlx::query_scalar("SELECT id FROM roles WHERE code = 'delegue_roles'").fetch_one(&app.state.db.pool).await.unwrap();
        let before = app.snapshot().await;
        // A new role with a right the actor lacks; their own role given one more right.
        let (s, b) = api
            .send(
                "POST",
                "/api/v1/roles",
                Some(json!({"code": "x", "name_fr": "x", "name_en": "x", "scope": "own", "rights": ["customers.read"]})),
            )
            .await;
        assert_eq!(s, 422, "{b}");
        assert_eq!(b["error"]["fields"]["rights"], "Vous ne pouvez pas accorder un droit que vous ne détenez pas vous-même.", "{b}");
        let (s, b) = api.send("PATCH", &format!("/api/v1/roles/{own_role}"), Some(json!({"rights": ["admin.roles", "admin.users"]}))).await;
        assert_eq!(s, 422, "{b}");
        assert!(b["error"]["fields"]["rights"].is_string(), "{b}");
        assert_eq!(app.snapshot().await, before, "nothing was written");
        // In English for an English-speaking actor.
        let (s, _) = admin.send("PATCH", &format!("/api/v1/users/{ro}"), Some(json!({"language": "en"}))).await;
        assert_eq!(s, 200);
        let before = app.snapshot().await;
        let (_, b) = api.send("PATCH", &format!("/api/v1/roles/{own_role}"), Some(json!({"rights": ["admin.roles", "admin.jobs"]}))).await;
        assert_eq!(b["error"]["fields"]["rights"], "You cannot grant a right you do not hold yourself.", "{b}");
        // The role page refuses it the same way.
        let web = app.login("roles.only@t.fr", PASSWORD).await.unwrap();
        let r = web
            .post(
                "/admin/roles",
                &[
                    ("code", "y"),
                    ("name_fr", "y"),
                    ("name_en", "y"),
                    ("scope", "own"),
                    ("rights", "admin.roles"),
                    ("rights", "admin.settings"),
                ],
            )
            .await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("You cannot grant a right you do not hold yourself."));
        let r = web
            .post(
                &format!("/admin/roles/{own_role}"),
                &[("name_fr", "d"), ("name_en", "d"), ("scope", "all"), ("rights", "admin.roles"), ("rights", "admin.users")],
            )
            .await;
        assert_eq!(r.status(), 422);
        assert_eq!(app.snapshot().await, before, "nothing was written");
        // Rights the actor holds may be granted, and any right withdrawn.
        let (s, b) = api
            .send(
                "POST",
                "/api/v1/roles",
                Some(json!({"code": "z", "name_fr": "z", "name_en": "z", "scope": "own", "rights": ["admin.roles"]})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        let rep: i64 = sqlx::query_scalar("SELECT id FROM roles WHERE code = 'representant'").fetch_one(&app.state.db.pool).await.unwrap();
        let (s, b) = api.send("PATCH", &format!("/api/v1/roles/{rep}"), Some(json!({"rights": ["customers.read"]}))).await;
        assert_eq!(s, 200, "{b}");
        // Nor a wider view than their own.
        role(&admin, "delegue_unite", "unit", &["admin.roles"]).await;
        let ru = app.user("roles.unit@t.fr", "delegue_unite", None).await;
        let unit_api = app.api(&app.token_for(ru).await);
        let unit_role: i64 =
            sqlx::query_scalar("SELECT id FROM roles WHERE code = 'delegue_unite'").fetch_one(&app.state.db.pool).await.unwrap();
        let (s, b) = unit_api.send("PATCH", &format!("/api/v1/roles/{unit_role}"), Some(json!({"scope": "all"}))).await;
        assert_eq!(s, 422, "{b}");
        assert_eq!(b["error"]["fields"]["scope"], "Vous ne pouvez pas donner à un rôle une vue des fiches plus large que la vôtre.");
        let (s, b) = unit_api
            .send("POST", "/api/v1/roles", Some(json!({"code": "w", "name_fr": "w", "name_en": "w", "scope": "subtree", "rights": []})))
            .await;
        assert_eq!(s, 422, "{b}");
        let (s, b) = unit_api
            .send("POST", "/api/v1/roles", Some(json!({"code": "w", "name_fr": "w", "name_en": "w", "scope": "unit", "rights": []})))
            .await;
        assert_eq!(s, 201, "{b}");
        // The administrator role keeps every right, even in an administrator's hands.
        let adm: i64 =
            sqlx::query_scalar("SELECT id FROM roles WHERE code = 'administrateur'").fetch_one(&app.state.db.pool).await.unwrap();
        let (s, b) = admin.send("PATCH", &format!("/api/v1/roles/{adm}"), Some(json!({"rights": ["admin.roles"]}))).await;
        assert_eq!(s, 422, "{b}");
        assert_eq!(b["error"]["fields"]["rights"], "Le rôle administrateur garde tous les droits et voit toutes les fiches.");
        app
    })
    .await;
}

#[tokio::test]
async fn a_delegated_user_administrator_assigns_only_roles_within_their_rights() {
    each_backend(|app| async move {
        let (root, admin) = admin_api(&app).await;
        role(&admin, "delegue_users", "all", &["admin.users"]).await;
        let uo = app.user("users.only@t.fr", "delegue_users", None).await;
        let rep = app.user("rep@t.fr", "representant", None).await;
        let api = app.api(&app.token_for(uo).await);
        let before = app.snapshot().await;
        let (s, b) = api
            .send(
                "POST",
                "/api/v1/users",
                Some(json!({"email": "new@t.fr", "name": "New", "role": "administrateur", "password": PASSWORD})),
            )
            .await;
        assert_eq!(s, 422, "{b}");
        assert_eq!(
            b["error"]["fields"]["role"], "Ce rôle comporte des droits que vous ne détenez pas vous-même : vous ne pouvez pas l'attribuer.",
            "{b}"
        );
        for (who, id) in [("themselves", uo), ("someone else", rep)] {
            let (s, b) = api.send("PATCH", &format!("/api/v1/users/{id}"), Some(json!({"role": "administrateur"}))).await;
            assert_eq!(s, 422, "{who}: {b}");
            assert!(b["error"]["fields"]["role"].is_string(), "{b}");
        }
        // Nor change an account holding more than they do (nor reset its password).
        let (s, b) = api.send("PATCH", &format!("/api/v1/users/{root}"), Some(json!({"name": "Pris"}))).await;
        assert_eq!(s, 422, "{b}");
        let web = app.login("users.only@t.fr", PASSWORD).await.unwrap();
        let r = web
            .post(
                &format!("/admin/users/{uo}"),
                &[("email", "users.only@t.fr"), ("name", "U"), ("language", "fr"), ("role", "administrateur"), ("active", "on")],
            )
            .await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(html.contains("Ce rôle comporte des droits que vous ne détenez pas vous-même"), "{html}");
        let r = web
            .post("/admin/users", &[("email", "n2@t.fr"), ("name", "N"), ("language", "fr"), ("role", "administrateur"), ("active", "on")])
            .await;
        assert_eq!(r.status(), 422);
        let r = web
            .post(&format!("/admin/users/{root}/password"), &[("password", "un-tout-autre-mot"), ("confirm", "un-tout-autre-mot")])
            .await;
        assert_ne!(r.status(), 303, "no password reset of an administrator");
        assert_eq!(app.snapshot().await, before, "nothing was written");
        assert_eq!(role_of(&app, uo).await, "delegue_users");
        // A role within their rights may be given.
        let (s, b) = api.send("POST", "/api/v1/users", Some(json!({"email": "peer@t.fr", "name": "Peer", "role": "delegue_users"}))).await;
        assert_eq!(s, 201, "{b}");
        app
    })
    .await;
}

#[tokio::test]
async fn the_last_administrator_stays_one() {
    each_backend(|app| async move {
        let (root, admin) = admin_api(&app).await;
        let second = app.user("second@t.fr", "administrateur", None).await;
        let api2 = app.api(&app.token_for(second).await);
        // With another administrator, one may step down or be deactivated.
        let (s, b) = api2.send("PATCH", &format!("/api/v1/users/{root}"), Some(json!({"active": false}))).await;
        assert_eq!(s, 200, "{b}");
        // The last one can neither demote themselves nor be deactivated.
        let before = app.snapshot().await;
        let (s, b) = api2.send("PATCH", &format!("/api/v1/users/{second}"), Some(json!({"role": "representant"}))).await;
        assert_eq!(s, 422, "{b}");
        assert_eq!(b["error"]["fields"]["role"], "C'est le dernier administrateur actif : nommez d'abord un autre administrateur.", "{b}");
        let u = carnet::identity::users::by_email(&app.state.db, "second@t.fr").await.unwrap().unwrap();
        let input = carnet::identity::users::UserForm {
            email: u.email.clone(),
            name: u.name.clone(),
            language: Some("fr".into()),
            role: "administrateur".into(),
            org_unit_id: None,
            active: Some(false),
            password: None,
        }
        .parse()
        .unwrap();
        let e =
            carnet::identity::users::update(&app.state.db, &carnet::access::Actor::system(), app.now(), second, &input).await.unwrap_err();
        assert!(matches!(&e, carnet::error::Error::Validation(f) if f.get("active") == Some("error.last_administrator")), "{e:?}");
        assert_eq!(app.snapshot().await, before);
        drop(admin);
        app
    })
    .await;
}

#[tokio::test]
async fn carnet_admin_grant_admin_repairs_an_installation_without_administrator() {
    each_backend(|app| async move {
        let rep = app.user("seul@t.fr", "representant", None).await;
        let run = |args: &[&str]| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_carnet"));
            cmd.args(args)
                .env("DATABASE_URL", &app.state.config.database_url)
                .env("CARNET_LOG", "error")
                .env_remove("CARNET_CONFIG")
                .current_dir(std::env::temp_dir());
            match &app.state.config.database_schema {
                Some(s) => cmd.env("CARNET_DATABASE_SCHEMA", s),
                None => cmd.env_remove("CARNET_DATABASE_SCHEMA"),
            };
            let out = cmd.output().expect("run carnet");
            (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
        };
        let admins = "SELECT COUNT(*) FROM users u JOIN roles r ON r.id = u.role_id WHERE r.code = 'administrateur' AND u.active = 1";
        assert_eq!(app.count(admins).await, 0);
        let (ok, _, err) = run(&["admin", "grant-admin", "--email", "personne@t.fr"]);
        assert!(!ok);
        assert!(err.contains("Unknown user"), "{err}");
        let (ok, out, err) = run(&["admin", "grant-admin", "--email", "seul@t.fr"]);
        assert!(ok, "{err}");
        assert!(out.contains("seul@t.fr"), "{out}");
        assert_eq!(app.count(admins).await, 1);
        assert_eq!(role_of(&app, rep).await, "administrateur");
        let web = app.login("seul@t.fr", PASSWORD).await.unwrap();
        assert_eq!(web.get("/admin/users").await.status(), 200);
        app
    })
    .await;
}

/// Two branches; a representative of Laval (`anne`), a colleague (`zoe invisible`) and a
/// customer of another representative (`Inconnu Secret`), neither of which Anne may see.
struct Branches {
    admin: Api,
    laval: i64,
    anne: i64,
    zoe: i64,
    mine: i64,
    theirs: i64,
    opp: i64,
}

async fn branches(app: &TestApp) -> Branches {
    let (_, admin) = admin_api(app).await;
    let co = app.unit("Groupe", "company", None).await;
    let laval = app.unit("Succursale Laval", "branch", Some(co)).await;
    let longueuil = app.unit("Succursale Longueuil", "branch", Some(co)).await;
    let anne = app.user("anne@t.fr", "representant", Some(laval)).await;
    let zoe = app.user("zoe.invisible@t.fr", "representant", Some(longueuil)).await;
    let mine = created(
        &admin,
        "/api/v1/customers",
        json!({"first_name": "Léa", "last_name": "Roy", "email": "lea@c.fr", "branch_id": laval, "owner_id": anne}),
    )
    .await;
    let theirs = created(
        &admin,
        "/api/v1/customers",
        json!({"first_name": "Inconnu", "last_name": "Secret", "email": "secret@c.fr", "branch_id": longueuil, "owner_id": zoe}),
    )
    .await;
    let opp = created(&admin, "/api/v1/opportunities", json!({"customer_id": mine["id"], "owner_id": anne, "branch_id": laval})).await;
    Branches {
        admin,
        laval,
        anne,
        zoe,
        mine: mine["id"].as_i64().unwrap(),
        theirs: theirs["id"].as_i64().unwrap(),
        opp: opp["id"].as_i64().unwrap(),
    }
}

fn meeting(opp: i64, extra: Value) -> Value {
    let mut m = json!({"opportunity_id": opp, "kind": "inventaire", "date": "2026-11-26", "start_time": "10:00", "end_time": "11:00"});
    if let (Some(m), Value::Object(e)) = (m.as_object_mut(), extra) {
        m.extend(e);
    }
    m
}

#[tokio::test]
async fn meeting_participants_are_records_the_user_may_see() {
    each_backend(|app| async move {
        let b = branches(&app).await;
        let api = app.api(&app.token_for(b.anne).await);
        let before = app.snapshot().await;
        let (s, v) = api.send("POST", "/api/v1/meetings", Some(meeting(b.opp, json!({"user_ids": [b.zoe]})))).await;
        assert_eq!(s, 422, "{v}");
        assert!(v["error"]["fields"]["user_ids"].is_string(), "{v}");
        let (s, v) = api.send("POST", "/api/v1/meetings", Some(meeting(b.opp, json!({"customer_ids": [b.theirs]})))).await;
        assert_eq!(s, 422, "{v}");
        assert!(v["error"]["fields"]["customer_ids"].is_string(), "{v}");
        assert!(!v.to_string().contains("Secret"), "{v}");
        let (s, v) = api.send("POST", "/api/v1/meetings", Some(meeting(b.opp, json!({"owner_id": b.zoe})))).await;
        assert_eq!(s, 422, "{v}");
        assert!(v["error"]["fields"]["owner_id"].is_string(), "{v}");
        // The meeting form: refused, and the colleague's name never shown.
        let web = app.login("anne@t.fr", PASSWORD).await.unwrap();
        let zoe = b.zoe.to_string();
        let r = web
            .post(
                &format!("/opportunities/{}/meetings", b.opp),
                &[
                    ("kind", "inventaire"),
                    ("date", "2026-11-26"),
                    ("start_time", "10:00"),
                    ("end_time", "11:00"),
                    ("category", "rendez_vous"),
                    ("status", "planifie"),
                    ("user_ids", &zoe),
                ],
            )
            .await;
        assert_eq!(r.status(), 422);
        assert!(!r.text().await.unwrap().contains("zoe invisible"));
        assert_eq!(app.snapshot().await, before, "no meeting, no email");
        // Records she may see are accepted.
        let (s, v) =
            api.send("POST", "/api/v1/meetings", Some(meeting(b.opp, json!({"user_ids": [b.anne], "customer_ids": [b.mine]})))).await;
        assert_eq!(s, 201, "{v}");
        // A participant someone else added stays when she saves the meeting as it is.
        let m = created(&b.admin, "/api/v1/meetings", meeting(b.opp, json!({"user_ids": [b.zoe], "customer_ids": [b.theirs]}))).await;
        let (s, v) = api
            .send(
                "PUT",
                &format!("/api/v1/meetings/{}", m["id"]),
                Some(meeting(b.opp, json!({"user_ids": [b.zoe], "customer_ids": [b.theirs], "location": "Salle 2"}))),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let _ = b.laval;
        app
    })
    .await;
}

#[tokio::test]
async fn a_lead_for_a_customer_the_caller_cannot_see_answers_without_its_ids() {
    each_backend(|app| async move {
        let b = branches(&app).await;
        let theirs_opp = created(&b.admin, "/api/v1/opportunities", json!({"customer_id": b.theirs, "owner_id": b.zoe})).await;
        let oid = theirs_opp["id"].as_i64().unwrap();
        let api = app.api(&app.token_for(b.anne).await);
        let emails_to_zoe = "SELECT COUNT(*) FROM emails WHERE event = 'lead_merged' AND to_addrs LIKE '%zoe.invisible@t.fr%'";
        assert_eq!(app.count(emails_to_zoe).await, 0);
        let (s, v) = api
            .send(
                "POST",
                "/api/v1/leads",
                Some(json!({"first_name": "I", "last_name": "S", "email": "secret@c.fr", "message": "Rappelez-moi", "source": "web"})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["outcome"], "merged");
        assert!(v["opportunity_id"].is_null() && v["customer_id"].is_null(), "{v}");
        // It went to the right file, and its owner was told.
        let to: i64 =
            sqlx::query_scalar("SELECT opportunity_id FROM leads ORDER BY id DESC LIMIT 1").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(to, oid);
        assert_eq!(app.count(emails_to_zoe).await, 1);
        // Her own customer's lead names the records.
        let (s, v) = api
            .send("POST", "/api/v1/leads", Some(json!({"first_name": "L", "last_name": "R", "email": "lea@c.fr", "source": "web"})))
            .await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["customer_id"], b.mine, "{v}");
        assert_eq!(v["opportunity_id"], b.opp, "{v}");
        app
    })
    .await;
}

#[tokio::test]
async fn owner_pick_lists_follow_the_directory() {
    each_backend(|app| async move {
        let b = branches(&app).await;
        let web = app.login("anne@t.fr", PASSWORD).await.unwrap();
        for page in ["/opportunities/new", "/customers/new", "/calendar", &format!("/opportunities/{}", b.opp)] {
            let (s, html) = web.get_text(page).await;
            assert_eq!(s, 200, "{page}");
            assert!(html.contains(&format!("value=\"{}\"", b.anne)), "{page} offers herself");
            assert!(!html.contains("zoe invisible"), "{page} lists a user outside her directory");
        }
        // A support agent of Laval: the branch's people, not Longueuil's.
        app.user("support@t.fr", "agent_support", Some(b.laval)).await;
        let support = app.login("support@t.fr", PASSWORD).await.unwrap();
        let (s, html) = support.get_text(&format!("/service/requests/new?customer_id={}", b.mine)).await;
        assert_eq!(s, 200);
        assert!(html.contains(&format!("value=\"{}\"", b.anne)), "the branch's rep is offered");
        assert!(!html.contains("zoe invisible"), "another branch's rep is not");
        // A BDC agent sees everyone.
        app.user("bdc@t.fr", "agent_bdc", None).await;
        let bdc = app.login("bdc@t.fr", PASSWORD).await.unwrap();
        assert!(bdc.get_text("/opportunities/new").await.1.contains("zoe invisible"));
        // On edit, the owner the record has stays in the list even outside her directory.
        let o = created(&b.admin, "/api/v1/opportunities", json!({"customer_id": b.mine, "owner_id": b.zoe, "branch_id": b.laval})).await;
        created(&b.admin, "/api/v1/meetings", meeting(o["id"].as_i64().unwrap(), json!({"user_ids": [b.anne]}))).await;
        let (s, html) = web.get_text(&format!("/opportunities/{}/edit", o["id"])).await;
        assert_eq!(s, 200);
        assert!(html.contains(&format!("<option value=\"{}\" selected>zoe invisible</option>", b.zoe)), "{html}");
        app
    })
    .await;
}

#[tokio::test]
async fn an_owner_chosen_outside_the_directory_is_refused() {
    each_backend(|app| async move {
        let b = branches(&app).await;
        let anne = app.api(&app.token_for(b.anne).await);
        let support_id = app.user("support@t.fr", "agent_support", Some(b.laval)).await;
        let support = app.api(&app.token_for(support_id).await);
        let web = app.login("anne@t.fr", PASSWORD).await.unwrap();
        let web_support = app.login("support@t.fr", PASSWORD).await.unwrap();
        let before = app.snapshot().await;
        // A forged owner id (Zoé, of another branch) on every way in: 422 on `owner_id`.
        let attempts = [
            (
                "POST",
                "/api/v1/customers".to_string(),
                json!({"first_name": "Neuf", "last_name": "Client", "email": "neuf@c.fr", "owner_id": b.zoe}),
            ),
            ("POST", "/api/v1/opportunities".to_string(), json!({"customer_id": b.mine, "owner_id": b.zoe})),
            ("PATCH", format!("/api/v1/customers/{}", b.mine), json!({"owner_id": b.zoe})),
            ("PATCH", format!("/api/v1/opportunities/{}", b.opp), json!({"owner_id": b.zoe})),
        ];
        for (method, path, body) in &attempts {
            let (s, v) = anne.send(method, path, Some(body.clone())).await;
            assert_eq!(s, 422, "{method} {path}: {v}");
            assert!(v["error"]["fields"]["owner_id"].is_string(), "{method} {path}: {v}");
        }
        let request = json!({"customer_id": b.mine, "request_type": "maintenance", "description": "Panne", "owner_id": b.zoe});
        let (s, v) = support.send("POST", "/api/v1/service-requests", Some(request)).await;
        assert_eq!(s, 422, "{v}");
        assert!(v["error"]["fields"]["owner_id"].is_string(), "{v}");
        // The HTML forms too, with the message in the user's language.
        let zoe = b.zoe.to_string();
        let r = web.post("/customers", &[("kind", "person"), ("first_name", "Neuf"), ("last_name", "Client"), ("owner_id", &zoe)]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Utilisateur inconnu"));
        let r = web.post(&format!("/opportunities/{}", b.opp), &[("name", "Projet"), ("owner_id", &zoe)]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Utilisateur inconnu"));
        let mine = b.mine.to_string();
        let r = web_support
            .post(
                "/service/requests",
                &[("customer_id", &mine), ("request_type", "maintenance"), ("description", "Panne"), ("owner_id", &zoe)],
            )
            .await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(html.contains("Utilisateur inconnu"), "{}", html.lines().filter(|l| l.contains("error")).collect::<Vec<_>>().join("\n"));
        assert_eq!(app.snapshot().await, before, "nothing was written");
        // Her own directory is fine, and a record's current owner stays a valid choice.
        let (s, v) = anne.send("PATCH", &format!("/api/v1/customers/{}", b.mine), Some(json!({"owner_id": b.anne}))).await;
        assert_eq!(s, 200, "{v}");
        let o = created(&b.admin, "/api/v1/opportunities", json!({"customer_id": b.mine, "owner_id": b.zoe, "branch_id": b.laval})).await;
        created(&b.admin, "/api/v1/meetings", meeting(o["id"].as_i64().unwrap(), json!({"user_ids": [b.anne]}))).await;
        let (s, v) =
            anne.send("PATCH", &format!("/api/v1/opportunities/{}", o["id"]), Some(json!({"name": "Renommée", "owner_id": b.zoe}))).await;
        assert_eq!(s, 200, "{v}");
        app
    })
    .await;
}

#[tokio::test]
async fn the_group_members_picker_offers_every_active_user_and_searches_a_large_directory() {
    each_backend(|app| async move {
        let b = branches(&app).await;
        // A delegated group administrator of Laval, whose directory is Laval.
        role(&b.admin, "gestion_groupes", "unit", &["admin.groups"]).await;
        app.user("groupes@t.fr", "gestion_groupes", Some(b.laval)).await;
        let web = app.login("groupes@t.fr", PASSWORD).await.unwrap();
        let (s, html) = web.get_text("/admin/groups/new").await;
        assert_eq!(s, 200);
        assert!(html.contains(&format!("name=\"members\" value=\"{}\"", b.zoe)), "a user outside the directory is offered");
        assert!(!html.contains("id=\"more-users\""));
        // 205 more active users (written directly, with their search terms): the list shows the
        // first ones by name and asks for a search; the search finds the last one.
        let role_id: i64 =
            sqlx::query_scalar("SELECT id FROM roles WHERE code = 'representant'").fetch_one(&app.state.db.pool).await.unwrap();
        let mut tx = app.state.db.begin().await.unwrap();
        let mut last = 0;
        for i in 0..205 {
            let name = format!("Membre {i:03}");
            last = sqlx::query_scalar::<_, i64>(
                "INSERT INTO users (email, name, language, active, role_id, org_unit_id, created_at, updated_at, sort_key) \
                 VALUES ($1, $2, 'fr', 1, $3, NULL, $4, $4, $5) RETURNING id",
            )
            .bind(format!("membre{i:03}@t.fr"))
            .bind(&name)
            .bind(role_id)
            .bind(app.now())
            .bind(carnet::search::sort_key(&name))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            let email = format!("membre{i:03}@t.fr");
            carnet::search::index(&mut tx, "user", last, &[name.as_str(), email.as_str()]).await.unwrap();
        }
        tx.commit().await.unwrap();
        let (_, html) = web.get_text("/admin/groups/new").await;
        assert!(html.contains("id=\"more-users\""), "the page says the list is cut and offers a search");
        assert!(!html.contains(&format!("value=\"{last}\"")), "Membre 204 is beyond the first 200");
        let (_, html) = web.get_text("/admin/groups/new?q=membre+204").await;
        assert!(html.contains(&format!("name=\"members\" value=\"{last}\"")), "the search finds it");
        // A group with that member: its page lists the member whatever the search.
        let r = web.post("/admin/groups", &[("name", "Grand groupe"), ("members", &last.to_string())]).await;
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().unwrap().split('?').next().unwrap().to_string();
        let (s, html) = web.get_text(&to).await;
        assert_eq!(s, 200);
        assert!(html.contains(&format!("value=\"{last}\" checked")), "the member stays listed and checked");
        app
    })
    .await;
}
