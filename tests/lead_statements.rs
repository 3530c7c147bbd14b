//! The statements a lead's write transaction runs, counted for real (issue 15: at most 8 on
//! the hot path). sqlx traces every statement it runs (target `sqlx::query`, level TRACE,
//! see `db::Db::connect`), inside the span of its caller (SQLite's worker thread enters it
//! too); lead intake runs its write transaction in a `write_transaction` span. This file's
//! subscriber counts the statements traced inside that span (transaction control aside:
//! BEGIN, COMMIT, ROLLBACK, and on SQLite the group commit's SAVEPOINT and RELEASE, which stand
//! for them; and a new connection's set-up: its PRAGMAs, and what runs in `db::open`'s
//! `session_setup` span), so a change that adds a statement to the hot path fails here, on both
//! databases.

mod common;

use std::sync::{Mutex, OnceLock};

use common::{each_backend, Api, TestApp};
use serde_json::{json, Value};
use tracing::field::{Field, Visit};
use tracing::Instrument;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The statements traced inside a `write_transaction` span since the last [`take`].
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Counter;

struct Sql(String);

impl Visit for Sql {
    fn record_str(&mut self, field: &Field, value: &str) {
        // `summary` is the first words; `db.statement` the whole text when it is longer.
        if (field.name() == "db.statement" && !value.trim().is_empty()) || (field.name() == "summary" && self.0.is_empty()) {
            self.0 = value.trim().to_string();
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Counter {
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        // A connection opened inside the transaction sets its session up in a span of its own
        // (`session_setup`): that is not the lead's work.
        let Some(scope) = ctx.event_scope(event) else { return };
        let names: Vec<&str> = scope.map(|s| s.name()).collect();
        if !names.contains(&"write_transaction") || names.contains(&"session_setup") {
            return;
        }
        let mut sql = Sql(String::new());
        event.record(&mut sql);
        let verb = sql.0.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        // A PRAGMA is a SQLite connection's set-up: sqlx runs its own (`foreign_keys`) while
        // opening it, before Carnet's `session_setup` span; no request's work is one.
        if matches!(verb.as_str(), "BEGIN" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "PRAGMA") {
            return;
        }
        SEEN.lock().unwrap_or_else(|e| e.into_inner()).push(sql.0);
    }
}

fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Counter);
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");
    });
}

fn take() -> Vec<String> {
    std::mem::take(&mut *SEEN.lock().unwrap_or_else(|e| e.into_inner()))
}

async fn lead(app: &TestApp, api: &Api, body: Value, key: &str) -> Value {
    let rb = api.client.post(format!("{}/api/v1/leads", app.url)).bearer_auth(&api.token).header("Idempotency-Key", key).json(&body);
    let (s, v) = common::json_of(rb.send().await.unwrap()).await;
    assert_eq!(s.as_u16(), 201, "{v}");
    v
}

/// The hot path: a known customer whose open opportunity has an owner, with an
/// `Idempotency-Key`, the owner told by email and in the app (the bell, issue 21: one insert).
/// At most 9 statements in the write transaction (8 before the in-app notification).
pub const HOT_PATH_MAX: usize = 9;
/// A new person's lead (customer, search terms, routing, opportunity, note, the assignment
/// email and in-app notification, the lead): not a target, kept from growing.
pub const NEW_PERSON_MAX: usize = 28;

#[tokio::test]
async fn a_lead_for_a_known_customer_writes_in_at_most_9_statements() {
    install();
    each_backend(|app| async move {
        let company = app.unit("Groupe Auto", "company", None).await;
        let branch = app.unit("Laval", "branch", Some(company)).await;
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let rep = app.user("rep@t.fr", "representant", Some(branch)).await;
        let admin = app.api(&app.token_for(admin).await);
        let (st, b) = admin.send("POST", "/api/v1/stock-units", Some(json!({"stock_number": "A1234", "description": "Civic"}))).await;
        assert_eq!(st, 201, "{b}");

        // A connection opened inside a write transaction sets its session up (on PostgreSQL
        // `SET jit = off`, the test's schema) in a span of its own: not counted as the lead's.
        for _ in 0..app.state.db.pool.num_idle() {
            let conn = app.state.db.pool.acquire().await.unwrap();
            sqlx::Connection::close(conn.detach()).await.unwrap();
        }
        take();
        let fresh = app.state.db.pool.acquire().instrument(tracing::trace_span!("write_transaction")).await.unwrap();
        drop(fresh);
        assert_eq!(take(), Vec::<String>::new(), "a new connection's session set-up is not counted");
        // A new person: routed to the branch's representative, who is told.
        take();
        let first = lead(
            &app,
            &admin,
            json!({"first_name": "Julie", "last_name": "Roy", "email": "julie@exemple.fr", "phone": "514 555-0300", "branch_id": branch,
                   "message": "Le Civic ?", "source": "site web"}),
            "k1",
        )
        .await;
        let created = take();
        assert_eq!(first["outcome"], "created");
        let opp = first["opportunity_id"].as_i64().unwrap();
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM opportunities WHERE id = {opp} AND owner_id = {rep}")).await, 1);
        eprintln!(
            "{:?}: a new person's lead: {} statements in the write transaction:\n  {}",
            app.backend,
            created.len(),
            created.join("\n  ")
        );
        assert!(!created.is_empty(), "the counter sees the write transaction");
        assert!(created.len() <= NEW_PERSON_MAX, "{} statements for a new person (at most {NEW_PERSON_MAX}): {created:#?}", created.len());

        // The same customer again, by phone in another format: merged, the owner told by email.
        let emails_before = app.count("SELECT COUNT(*) FROM emails WHERE event = 'lead_merged'").await;
        let jobs_before = app.count("SELECT COUNT(*) FROM jobs").await;
        let notes_before = app.count(&format!("SELECT COUNT(*) FROM opportunity_notes WHERE opportunity_id = {opp}")).await;
        let r = lead(&app, &admin, json!({"phone": "+1 (514) 555 0300", "message": "Rappelez-moi", "lead_type": "sms"}), "k2").await;
        let merged = take();
        assert_eq!((r["outcome"].as_str(), r["opportunity_id"].as_i64()), (Some("merged"), Some(opp)));
        eprintln!("{:?}: a known customer's lead: {} statements:\n  {}", app.backend, merged.len(), merged.join("\n  "));
        assert!(
            merged.len() < HOT_PATH_MAX,
            "{} statements (at most {} without a stock unit): {merged:#?}",
            merged.len(),
            HOT_PATH_MAX - 1
        );
        // Everything the rule writes is there: the note, the history, the email and its job, the lead.
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM opportunity_notes WHERE opportunity_id = {opp}")).await, notes_before + 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM emails WHERE event = 'lead_merged'").await, emails_before + 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM jobs").await, jobs_before + 1);
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) FROM audit_events WHERE entity_type = 'opportunity' AND entity_id = {opp} AND action = 'lead'"
            ))
            .await,
            1
        );
        assert_eq!(app.count("SELECT COUNT(*) FROM leads WHERE idempotency_key = 'k2' AND outcome = 'merged'").await, 1);
        // The owner's in-app notification (the bell), on the fast path too.
        assert_eq!(
            app.count(&format!("SELECT COUNT(*) FROM notifications WHERE user_id = {rep} AND event = 'lead_merged' AND entity_id = {opp}"))
                .await,
            1
        );
        // The email is the owner's, in the record's thread (after the assignment email).
        let (to, in_reply_to, refs, subject): (String, Option<String>, String, String) = sqlx::query_as(
            "SELECT to_addrs, in_reply_to, references_ids, subject FROM emails WHERE event = 'lead_merged' ORDER BY id DESC LIMIT 1",
        )
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        assert!(to.contains("rep@t.fr"), "{to}");
        assert!(subject.contains("Julie Roy"), "{subject}");
        let assigned: String = sqlx::query_scalar("SELECT message_id FROM emails WHERE event = 'opportunity_assigned' ORDER BY id LIMIT 1")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        assert_eq!(in_reply_to.as_deref(), Some(assigned.as_str()));
        assert_eq!(refs, assigned);

        // With a stock unit: 8 at most, and the unit linked.
        let r = lead(&app, &admin, json!({"email": "JULIE@exemple.fr", "stock_number": "A1234"}), "k3").await;
        let with_stock = take();
        assert_eq!(r["outcome"], "merged");
        eprintln!("{:?}: with a stock unit: {} statements", app.backend, with_stock.len());
        assert!(with_stock.len() <= HOT_PATH_MAX, "{} statements: {with_stock:#?}", with_stock.len());
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM opportunity_stock_units WHERE opportunity_id = {opp}")).await, 1);
        let (_, refs): (String, String) =
            sqlx::query_as("SELECT in_reply_to, references_ids FROM emails WHERE event = 'lead_merged' ORDER BY id DESC LIMIT 1")
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
        assert_eq!(refs.split(' ').count(), 2, "the thread's two earlier emails, oldest first: {refs}");
        assert!(refs.starts_with(&assigned));

        // The same key again: replayed, no write transaction at all.
        let rb = admin.client.post(format!("{}/api/v1/leads", app.url)).bearer_auth(&admin.token).header("Idempotency-Key", "k3");
        let (st, v) = common::json_of(rb.json(&json!({"email": "JULIE@exemple.fr", "stock_number": "A1234"})).send().await.unwrap()).await;
        assert_eq!((st.as_u16(), v["replayed"].as_bool()), (200, Some(true)));
        assert!(take().is_empty());
        app
    })
    .await;
}
