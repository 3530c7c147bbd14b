//! Upgrades (issue 22): a database at an earlier release's schema (the migrations up to
//! [`PREVIOUS`], applied by number) with a generated dataset written in raw SQL, as that release
//! left it, is opened by this release (its migrations, its built-in roles and lists); every
//! record then reads back the same through the application's read paths (the API), and the
//! built-in roles gain this release's new default rights while keeping what an administrator
//! changed. Both databases.

mod common;

use std::collections::BTreeSet;

use common::TestApp;
use serde_json::Value;
use sqlx::Row;

/// The last migration of the release upgraded from.
const PREVIOUS: i64 = 17;
const CUSTOMERS: i64 = 40;
const T: i64 = 1_780_000_000_000;

/// What the first release shipped for its built-in roles (migration 0011).
const SHIPPED_0011: &[(&str, &str)] = &[
    ("directeur_ventes", "subtree|users.read customers.read customers.create customers.create_duplicate customers.update customers.merge customers.import customers.export opportunities.read opportunities.create opportunities.update opportunities.win opportunities.trash opportunities.export leads.create meetings.read meetings.create meetings.update calls.read calls.create calls.update stock.read stock.manage"),
    ("representant", "own|users.read customers.read customers.create customers.update opportunities.read opportunities.create opportunities.update opportunities.win leads.create meetings.read meetings.create meetings.update calls.read calls.create calls.update stock.read"),
    ("agent_bdc", "unit|users.read customers.read customers.create customers.update customers.export opportunities.read opportunities.create opportunities.update opportunities.trash leads.create meetings.read meetings.create meetings.update calls.read calls.create calls.update stock.read"),
    ("agent_support", "unit|users.read customers.read customers.create customers.update service.requests.read service.requests.create service.requests.update service.contact.create service.contact.update service.equipment.manage service.interventions.read service.interventions.create service.interventions.update service.returns.read service.returns.create service.returns.update service.documents.read service.documents.create service.documents.delete service.mail.send"),
    ("technicien", "own|customers.read service.requests.read service.interventions.read service.interventions.update service.returns.read service.documents.read service.documents.create"),
    ("avant_vente", "unit|users.read customers.read"),
];

fn decode(s: &str) -> (String, BTreeSet<String>) {
    let (scope, rights) = s.split_once('|').unwrap();
    (scope.to_string(), rights.split_whitespace().map(str::to_string).collect())
}

fn current_defaults(code: &str) -> (String, BTreeSet<String>) {
    let r = carnet::access::roles::defaults().into_iter().find(|r| r.code == code).unwrap();
    (r.scope.code().to_string(), r.rights.iter().map(|x| x.code().to_string()).collect())
}

/// A small deterministic generator.
struct Gen(u64);
impl Gen {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[derive(Debug, Clone)]
struct CustomerRow {
    id: i64,
    company: bool,
    first: String,
    last: String,
    company_name: String,
    display: String,
    email: Option<String>,
    phone: Option<String>,
    mobile: Option<String>,
    address: String,
    language: &'static str,
    owner: Option<i64>,
    notes: String,
    particularities: String,
    created_at: i64,
}

async fn id_of(conn: &mut sqlx::AnyConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(conn).await.unwrap()
}

/// The dataset, written as the previous release wrote it (raw SQL, its columns only).
async fn load_previous_release(db: &carnet::db::Db) -> (i64, i64, i64, Vec<CustomerRow>, Vec<(i64, i64, String, String, Option<i64>)>) {
    let mut conn = db.pool.acquire().await.unwrap();
    let c = &mut *conn;
    let region = id_of(c, &format!("INSERT INTO org_units (parent_id, kind, name, path, created_at, updated_at) VALUES (NULL, 'region', 'Région Québec', '', {T}, {T}) RETURNING id")).await;
    sqlx::query("UPDATE org_units SET path = $1 WHERE id = $2").bind(format!("/{region}/")).bind(region).execute(&mut *c).await.unwrap();
    let branch = id_of(c, &format!("INSERT INTO org_units (parent_id, kind, name, path, created_at, updated_at) VALUES ({region}, 'branch', 'Succursale Lévis', '', {T}, {T}) RETURNING id")).await;
    sqlx::query("UPDATE org_units SET path = $1 WHERE id = $2")
        .bind(format!("/{region}/{branch}/"))
        .bind(branch)
        .execute(&mut *c)
        .await
        .unwrap();

    // Built-in roles as that release left them, with an administrator's changes: the
    // representatives lost `customers.update` and gained `customers.export`; the support
    // agents' scope went from unit to subtree.
    let mut role_ids = std::collections::HashMap::new();
    let admin_rights = current_defaults("administrateur");
    let mut roles: Vec<(String, String, BTreeSet<String>, Option<String>)> =
        vec![("administrateur".into(), admin_rights.0.clone(), admin_rights.1.clone(), None)];
    for (code, shipped) in SHIPPED_0011 {
        let (mut scope, mut rights) = decode(shipped);
        if *code == "representant" {
            rights.remove("customers.update");
            rights.insert("customers.export".into());
        }
        if *code == "agent_support" {
            scope = "subtree".into();
        }
        roles.push((code.to_string(), scope, rights, Some(shipped.to_string())));
    }
    for (code, scope, rights, shipped) in &roles {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO roles (code, name_fr, name_en, scope, builtin, created_at, updated_at, shipped, require_second_factor) \
             VALUES ($1, $2, $3, $4, 1, $5, $5, $6, 0) RETURNING id",
        )
        .bind(code)
        .bind(format!("Rôle {code}"))
        .bind(format!("Role {code}"))
        .bind(scope)
        .bind(T)
        .bind(shipped.clone())
        .fetch_one(&mut *c)
        .await
        .unwrap();
        for r in rights {
            sqlx::query("INSERT INTO role_rights (role_id, right_code) VALUES ($1, $2)").bind(id).bind(r).execute(&mut *c).await.unwrap();
        }
        role_ids.insert(code.clone(), id);
    }
    // Two roles an administrator made: senior technicians (they work interventions, not book them)
    // and a coordination desk (books them, as support agents do).
    for (code, like) in [("technicien_senior", "technicien"), ("coordination", "agent_support")] {
        let (scope, rights) = decode(SHIPPED_0011.iter().find(|(c, _)| *c == like).unwrap().1);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO roles (code, name_fr, name_en, scope, builtin, created_at, updated_at, require_second_factor) \
             VALUES ($1, $1, $1, $2, 0, $3, $3, 0) RETURNING id",
        )
        .bind(code)
        .bind(scope)
        .bind(T)
        .fetch_one(&mut *c)
        .await
        .unwrap();
        for r in rights {
            sqlx::query("INSERT INTO role_rights (role_id, right_code) VALUES ($1, $2)").bind(id).bind(r).execute(&mut *c).await.unwrap();
        }
    }
    let user = |email: &str, name: &str, role: &str, unit: Option<i64>| {
        let role = role_ids[role];
        let (email, name) = (email.to_string(), name.to_string());
        async move { (email, name, role, unit) }
    };
    let mut users = Vec::new();
    for (email, name, role, unit) in [
        user("direction@upgrade.test", "Diane Côté", "administrateur", None).await,
        user("rep@upgrade.test", "Rémi Ouellet", "representant", Some(branch)).await,
    ] {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (email, name, language, active, password_hash, role_id, org_unit_id, created_at, updated_at, sort_key) \
             VALUES ($1, $2, 'fr', 1, NULL, $3, $4, $5, $5, $6) RETURNING id",
        )
        .bind(&email)
        .bind(&name)
        .bind(role)
        .bind(unit)
        .bind(T)
        .bind(carnet::search::sort_key(&name))
        .fetch_one(&mut *c)
        .await
        .unwrap();
        users.push(id);
    }
    let (admin, rep) = (users[0], users[1]);

    let firsts = ["Éloïse", "Marc-André", "Zoé", "Jean", "Ginette", "Ñoño", "Chloé", "O'Neil"];
    let lasts = ["Bélanger", "Tremblay", "Gagnon", "D'Amours", "Lévesque", "Émond", "Roy", "Côté-Paré"];
    let mut g = Gen(22);
    let mut customers = Vec::new();
    for i in 0..CUSTOMERS {
        let company = i % 4 == 3;
        let first = if company { String::new() } else { firsts[g.next(8) as usize].to_string() };
        let last = if company { String::new() } else { lasts[g.next(8) as usize].to_string() };
        let company_name = if company { format!("Garage {} inc. n°{i}", lasts[g.next(8) as usize]) } else { String::new() };
        let display = if company { company_name.clone() } else { format!("{first} {last}") };
        let mut row = CustomerRow {
            id: 0,
            company,
            first,
            last,
            company_name,
            display,
            email: (g.next(5) > 0).then(|| format!("client{i}@exemple-{}.ca", g.next(100))),
            phone: (g.next(4) > 0).then(|| format!("+1418555{:04}", 1000 + i)),
            mobile: (g.next(3) == 0).then(|| format!("+1581555{:04}", 2000 + i)),
            address: format!("{} rue Saint-Jean\nQuébec QC G1R 1R{}", 100 + i, i % 10),
            language: if g.next(3) == 0 { "en" } else { "fr" },
            owner: if g.next(2) == 0 { Some(rep) } else { None },
            notes: if i % 5 == 0 {
                format!("Préfère être appelé le matin.\nDossier n° {i} — « important »")
            } else {
                String::new()
            },
            particularities: String::new(),
            created_at: T + i * 60_000,
        };
        row.id = sqlx::query_scalar(
            "INSERT INTO customers (kind, civility, first_name, last_name, company_name, display_name, email, phone, mobile, address, \
             language, branch_id, owner_id, notes, particularities, created_at, updated_at, sort_key) \
             VALUES ($1, NULL, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id",
        )
        .bind(if company { "company" } else { "person" })
        .bind(&row.first)
        .bind(&row.last)
        .bind(&row.company_name)
        .bind(&row.display)
        .bind(row.email.clone())
        .bind(row.phone.clone())
        .bind(row.mobile.clone())
        .bind(&row.address)
        .bind(row.language)
        .bind(branch)
        .bind(row.owner)
        .bind(&row.notes)
        .bind(&row.particularities)
        .bind(row.created_at)
        .bind(row.created_at + 1000)
        .bind(carnet::search::sort_key(&row.display))
        .fetch_one(&mut *c)
        .await
        .unwrap();
        if company {
            sqlx::query(
                "INSERT INTO contacts (customer_id, civility, first_name, last_name, email, phone, mobile, particularities, notes, created_at, updated_at) \
                 VALUES ($1, NULL, 'Josée', $2, $3, NULL, NULL, '', 'Responsable du parc', $4, $4)",
            )
            .bind(row.id)
            .bind(format!("Contact {i}"))
            .bind(format!("contact{i}@garage.test"))
            .bind(T)
            .execute(&mut *c)
            .await
            .unwrap();
        }
        customers.push(row);
    }
    let mut opportunities = Vec::new();
    for (n, cu) in customers.iter().enumerate().filter(|(n, _)| n % 2 == 0) {
        let status = if n % 3 == 0 { "en_cours" } else { "nouvelle" };
        let sale = (n % 6 == 0).then_some(T + 86_400_000 * n as i64);
        let name = format!("Achat {} — {}", n, cu.display);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO opportunities (name, customer_id, lead_type, status, owner_id, branch_id, sale_date, delivery_date, expired, expired_at, \
             trashed, created_at, updated_at) VALUES ($1, $2, NULL, $3, $4, $5, $6, NULL, 0, NULL, 0, $7, $7) RETURNING id",
        )
        .bind(&name)
        .bind(cu.id)
        .bind(status)
        .bind(cu.owner)
        .bind(branch)
        .bind(sale)
        .bind(T)
        .fetch_one(&mut *c)
        .await
        .unwrap();
        opportunities.push((id, cu.id, name, status.to_string(), sale));
    }
    (admin, rep, branch, customers, opportunities)
}

async fn rights_of(app: &TestApp, code: &str) -> (String, BTreeSet<String>) {
    let rows = sqlx::query("SELECT r.scope, rr.right_code FROM roles r LEFT JOIN role_rights rr ON rr.role_id = r.id WHERE r.code = $1")
        .bind(code)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    let scope: String = rows[0].get(0);
    let rights: BTreeSet<String> = rows.iter().filter_map(|r| r.get::<Option<String>, _>(1)).collect();
    (scope, rights)
}

fn ms_of(v: &Value) -> Option<i64> {
    v.as_str().map(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_releases_data_reads_the_same_after_the_upgrade() {
    for backend in common::backends() {
        let (config, dir, schema) = common::test_config(backend);
        let db = carnet::db::Db::connect(&config.database_url, config.database_schema.as_deref(), 2).await.unwrap();
        assert_eq!(carnet::db::migrate_to(&db, T, Some(PREVIOUS)).await.unwrap(), PREVIOUS as usize);
        let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations").fetch_one(&db.pool).await.unwrap();
        assert_eq!(version, PREVIOUS);
        let (admin, rep, branch, customers, opportunities) = load_previous_release(&db).await;
        // Calls, which this release rebuilds on SQLite (migration 32): one kept, one deleted,
        // whose id is not given again.
        let opp = opportunities[0].0;
        for subject in ["Rappeler pour l'essai", "Supprimé"] {
            sqlx::query(
                "INSERT INTO calls (opportunity_id, owner_id, due_at, subject, notes, status, outcome, automatic, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'Le matin', 'planned', '', 0, $5, $5)",
            )
            .bind(opp)
            .bind(rep)
            .bind(T + 3_600_000)
            .bind(subject)
            .bind(T)
            .execute(&db.pool)
            .await
            .unwrap();
        }
        let gone: i64 = sqlx::query_scalar("SELECT MAX(id) FROM calls").fetch_one(&db.pool).await.unwrap();
        sqlx::query("DELETE FROM calls WHERE id = $1").bind(gone).execute(&db.pool).await.unwrap();
        db.close().await;

        // This release opens it: migrations, built-in roles and lists.
        let (url, sch) = (config.database_url.clone(), config.database_schema.clone());
        let app = TestApp::start_with(backend, |c| {
            c.database_url = url;
            c.database_schema = sch;
        })
        .await;
        let latest = carnet::db::MIGRATIONS.last().unwrap().version;
        assert_eq!(app.count("SELECT MAX(version) FROM schema_migrations").await, latest);
        assert_eq!(app.anon().get(format!("{}/readyz", app.url)).send().await.unwrap().status(), 200);

        // Every record reads the same through the API.
        let api = app.api(&app.token_for(admin).await);
        for cu in &customers {
            let (s, c) = api.get(&format!("/api/v1/customers/{}", cu.id)).await;
            assert_eq!(s, 200, "{c}");
            let what = format!("{backend:?} customer {}: {c}", cu.id);
            assert_eq!(c["kind"], if cu.company { "company" } else { "person" }, "{what}");
            assert_eq!(c["first_name"], cu.first.as_str(), "{what}");
            assert_eq!(c["last_name"], cu.last.as_str(), "{what}");
            assert_eq!(c["company_name"], cu.company_name.as_str(), "{what}");
            assert_eq!(c["display_name"], cu.display.as_str(), "{what}");
            assert_eq!(c["email"].as_str(), cu.email.as_deref(), "{what}");
            assert_eq!(c["phone"].as_str(), cu.phone.as_deref(), "{what}");
            assert_eq!(c["mobile"].as_str(), cu.mobile.as_deref(), "{what}");
            assert_eq!(c["address"], cu.address.as_str(), "{what}");
            assert_eq!(c["language"], cu.language, "{what}");
            assert_eq!(c["branch_id"], branch, "{what}");
            assert_eq!(c["owner_id"].as_i64(), cu.owner, "{what}");
            assert_eq!(c["notes"], cu.notes.as_str(), "{what}");
            assert_eq!(c["particularities"], serde_json::json!([]), "{what}");
            assert_eq!(c["created_at"], cu.created_at, "{what}");
            assert_eq!(c["updated_at"], cu.created_at + 1000, "{what}");
            let (s, contacts) = api.get(&format!("/api/v1/customers/{}/contacts", cu.id)).await;
            assert_eq!(s, 200);
            let items = contacts["items"].as_array().or(contacts.as_array()).cloned().unwrap_or_default();
            if cu.company {
                assert_eq!(items.len(), 1, "{what}: {contacts}");
                assert_eq!(items[0]["first_name"], "Josée");
                assert_eq!(items[0]["notes"], "Responsable du parc");
            } else {
                assert!(items.is_empty(), "{what}: {contacts}");
            }
        }
        for (id, customer, name, status, sale) in &opportunities {
            let (s, o) = api.get(&format!("/api/v1/opportunities/{id}")).await;
            assert_eq!(s, 200, "{o}");
            assert_eq!(o["name"], name.as_str(), "{o}");
            assert_eq!(o["customer_id"], *customer);
            assert_eq!(o["status"], status.as_str());
            assert_eq!(o["branch_id"], branch);
            assert_eq!(ms_of(&o["sale_date"]), *sale, "{o}");
            assert_eq!(o["created_at"], T);
        }
        // The lists find them too (search terms aside, which the previous release wrote).
        let (s, page) = api.get("/api/v1/opportunities?limit=100").await;
        assert_eq!(s, 200);
        assert_eq!(page["items"].as_array().unwrap().len(), opportunities.len(), "{page}");
        // The call reads the same; a new one gets a new id; a call on no file is refused.
        let (s, tasks) = app.api(&app.token_for(rep).await).get("/api/v1/calls").await;
        assert_eq!(s, 200, "{tasks}");
        assert_eq!(tasks["items"].as_array().unwrap().len(), 1, "{tasks}");
        let call = &tasks["items"][0];
        assert_eq!(
            (call["subject"].as_str(), call["notes"].as_str(), call["status"].as_str()),
            (Some("Rappeler pour l'essai"), Some("Le matin"), Some("planned"))
        );
        assert_eq!(
            (call["opportunity_id"].as_i64(), call["due_at"].as_i64(), call["owner_id"].as_i64()),
            (Some(opp), Some(T + 3_600_000), Some(rep))
        );
        assert!(call["request_id"].is_null() && call["id"].as_i64() < Some(gone));
        let (s, c) = api
            .send(
                "POST",
                "/api/v1/calls",
                Some(serde_json::json!({"opportunity_id": opp, "date": "2026-12-01", "time": "10:00", "subject": "Nouveau"})),
            )
            .await;
        assert_eq!(s, 201, "{c}");
        assert!(c["id"].as_i64().unwrap() > gone, "{backend:?}: a deleted call's id is not given again");
        let neither = sqlx::query(
            "INSERT INTO calls (owner_id, due_at, subject, notes, status, outcome, automatic, created_at, updated_at) \
             VALUES ($1, $2, 'x', '', 'planned', '', 0, $2, $2)",
        )
        .bind(rep)
        .bind(T)
        .execute(&app.state.db.pool)
        .await;
        assert!(neither.is_err(), "{backend:?}: a call is on an opportunity or a request");
        let (s, u) = api.get(&format!("/api/v1/users/{rep}")).await;
        assert_eq!(s, 200);
        assert_eq!(u["name"], "Rémi Ouellet");
        assert_eq!(u["email"], "rep@upgrade.test");

        // Built-in roles: this release's new rights are granted, the administrator's changes kept.
        let mut gained = 0;
        for (code, shipped) in SHIPPED_0011 {
            let (_, old) = decode(shipped);
            let (new_scope, new) = current_defaults(code);
            let (scope, now) = rights_of(&app, code).await;
            let added: Vec<&String> = new.difference(&old).collect();
            gained += added.len();
            for r in &added {
                assert!(now.contains(*r), "{backend:?} {code}: the new default right {r} was not granted");
            }
            for r in old.difference(&new) {
                if !(*code == "representant" && r == "customers.export") {
                    assert!(!now.contains(r), "{backend:?} {code}: {r}, withdrawn by this release, is still there");
                }
            }
            match *code {
                "representant" => {
                    assert!(!now.contains("customers.update"), "the administrator's removal is kept");
                    assert!(now.contains("customers.export"), "the administrator's addition is kept");
                    let expected: BTreeSet<String> =
                        new.iter().filter(|r| *r != "customers.update").cloned().chain(["customers.export".to_string()]).collect();
                    assert_eq!(now, expected, "{code}");
                }
                "agent_support" => {
                    assert_eq!(scope, "subtree", "the administrator's scope is kept");
                    assert_eq!(now, new, "{code}");
                }
                _ => {
                    assert_eq!((scope, now), (new_scope, new), "{backend:?} {code}: an unchanged role follows the release");
                }
            }
        }
        assert!(gained > 0, "this release adds default rights to the first release's roles");
        // Migration 33: the administrators' technician roles may be assigned interventions, not
        // the roles that book them.
        let (_, senior) = rights_of(&app, "technicien_senior").await;
        let (_, desk) = rights_of(&app, "coordination").await;
        assert!(senior.contains("service.interventions.perform"), "{senior:?}");
        assert!(!desk.contains("service.interventions.perform"), "{desk:?}");
        // Roles this release ships that the previous one did not are created.
        for r in carnet::access::roles::defaults() {
            let (_, rights) = rights_of(&app, &r.code).await;
            let expected: BTreeSet<String> = r.rights.iter().map(|x| x.code().to_string()).collect();
            if !SHIPPED_0011.iter().any(|(c, _)| *c == r.code) {
                assert_eq!(rights, expected, "{}", r.code);
            }
        }
        // The rights still mean something: the representative's token sees their customers.
        let rep_api = app.api(&app.token_for(rep).await);
        let owned = customers.iter().find(|c| c.owner == Some(rep)).unwrap();
        let (s, _) = rep_api.get(&format!("/api/v1/customers/{}", owned.id)).await;
        assert_eq!(s, 200);

        app.stop().await;
        if let (Some(schema), Some(url)) = (schema, common::pg_url()) {
            let d = carnet::db::Db::connect(&url, None, 1).await.unwrap();
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&d.pool).await.unwrap();
            d.close().await;
        }
        drop(dir);
    }
}

/// Migration 35 (issue 15): the expired flags of the release before move to
/// `opportunity_expirations` (their date, or the last update's when the flag had none), the
/// columns go although the dashboard's triggers of that release named them (SQLite drops no
/// column a trigger names), and the start-up reinstalls the triggers and rebuilds the figures.
#[tokio::test]
async fn expired_flags_move_to_their_own_table() {
    for backend in common::backends() {
        let (config, dir, schema) = common::test_config(backend);
        let db = carnet::db::Db::connect(&config.database_url, config.database_schema.as_deref(), 2).await.unwrap();
        carnet::db::migrate_to(&db, T, Some(34)).await.unwrap();
        let customer: i64 = sqlx::query_scalar(
            "INSERT INTO customers (kind, first_name, last_name, company_name, display_name, address, language, notes, particularities, \
             created_at, updated_at, sort_key) VALUES ('person', 'Ève', 'Roy', '', 'Ève Roy', '', 'fr', '', '[]', $1, $1, 'roy eve') RETURNING id",
        )
        .bind(T)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        // Expired with its date, expired without one (written before migration 24), not expired.
        let mut ids = Vec::new();
        for (expired, expired_at, updated_at) in [(1, Some(T + 5), T + 7), (1, None, T + 9), (0, None, T + 11)] {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO opportunities (name, customer_id, lead_type, status, expired, expired_at, trashed, created_at, updated_at) \
                 VALUES ('Achat', $1, 'internet', 'contacte', $2, $3, 0, $4, $5) RETURNING id",
            )
            .bind(customer)
            .bind(expired)
            .bind(expired_at)
            .bind(T)
            .bind(updated_at)
            .fetch_one(&db.pool)
            .await
            .unwrap();
            ids.push(id);
        }
        // A trigger of the figures as the release before installed them, naming `expired_at`.
        match backend {
            common::Backend::Sqlite => {
                sqlx::query(
                    "CREATE TRIGGER sales_figures_expired_update AFTER UPDATE OF owner_id, branch_id, trashed, expired_at ON opportunities \
                     WHEN OLD.expired_at IS NOT NEW.expired_at BEGIN DELETE FROM report_days WHERE day_start = NEW.expired_at; END",
                )
                .execute(&db.pool)
                .await
                .unwrap();
            }
            common::Backend::Postgres => {
                sqlx::query(
                    "CREATE FUNCTION sales_figures_update() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN \
                     DELETE FROM report_days WHERE day_start IN (SELECT expired_at FROM new_rows); RETURN NULL; END $body$",
                )
                .execute(&db.pool)
                .await
                .unwrap();
                sqlx::query(
                    "CREATE TRIGGER sales_figures_update AFTER UPDATE ON opportunities REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows \
                     FOR EACH STATEMENT EXECUTE FUNCTION sales_figures_update()",
                )
                .execute(&db.pool)
                .await
                .unwrap();
            }
        }
        sqlx::query("INSERT INTO report_zone (id, built_for, built_at) VALUES (1, 'America/Toronto|2', $1)")
            .bind(T)
            .execute(&db.pool)
            .await
            .unwrap();
        db.close().await;

        let (url, sch) = (config.database_url.clone(), config.database_schema.clone());
        let app = TestApp::start_with(backend, |c| {
            c.database_url = url;
            c.database_schema = sch;
        })
        .await;
        let moved: Vec<(i64, i64)> =
            sqlx::query_as("SELECT opportunity_id, expired_at FROM opportunity_expirations ORDER BY opportunity_id")
                .fetch_all(&app.state.db.pool)
                .await
                .unwrap();
        assert_eq!(moved, vec![(ids[0], T + 5), (ids[1], T + 9)], "{backend:?}");
        assert!(
            sqlx::query("SELECT expired FROM opportunities").fetch_all(&app.state.db.pool).await.is_err(),
            "{backend:?}: the column is gone"
        );
        assert!(carnet::reports::figures::differences(&app.state.db).await.unwrap().is_empty(), "{backend:?}");
        let built: String = sqlx::query_scalar("SELECT built_for FROM report_zone").fetch_one(&app.state.db.pool).await.unwrap();
        assert!(!built.ends_with("|2"), "{backend:?}: rebuilt by this release ({built})");
        // The flags read the same (administrators), and writes to the opportunities work.
        let admin = app.user("admin@upgrade.test", "administrateur", None).await;
        let api = app.api(&app.token_for(admin).await);
        for (id, want) in ids.iter().zip([true, true, false]) {
            let (s, o) = api.get(&format!("/api/v1/opportunities/{id}")).await;
            assert_eq!(s, 200, "{o}");
            assert_eq!(o["expired"], want, "{backend:?}: {o}");
        }
        let (s, o) =
            api.send("PATCH", &format!("/api/v1/opportunities/{}", ids[0]), Some(serde_json::json!({"amount_cents": 150_000}))).await;
        assert_eq!(s, 200, "{o}");
        assert!(carnet::reports::figures::differences(&app.state.db).await.unwrap().is_empty(), "{backend:?}");
        app.stop().await;
        if let (Some(schema), Some(url)) = (schema, common::pg_url()) {
            let d = carnet::db::Db::connect(&url, None, 1).await.unwrap();
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&d.pool).await.unwrap();
            d.close().await;
        }
        drop(dir);
    }
}
