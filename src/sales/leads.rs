//! Lead intake (seeds 002 and 003). A lead arrives through the API (Internet leads) or from
//! an agent's form (Phone-Up, Clavardage, SMS). The customer is recognised by normalised
//! phone or email (and created when unknown); the lead is merged into the customer's most
//! recent opportunity unless that one is expired or trashed, in which case — or when there
//! is none — a new opportunity is opened. The same idempotency key twice takes the lead once.
//!
//! Under concurrency: the lead's identity keys, then the recognised customer, are locked
//! before the lookup and the merge-or-open decision (`customers::store::lock_identity`), so
//! simultaneous leads for one new person make one customer and one opportunity. Idempotency
//! keys belong to their caller (the user behind the token or session): another caller's key
//! is another key; the same caller's key sent again with another lead is refused (422).

use serde::{Deserialize, Serialize};

use super::{OpportunityInput, Statuses};
use crate::access::{Actor, Visibility};
use crate::clock::Millis;
use crate::customers::phone::Phone;
use crate::customers::{opt_email, opt_phone, CustomerInput, Kind};
use crate::db::{is_unique_violation, Db, Sql, Tx};
use crate::error::{Error, FieldErrors, Result};
use crate::i18n::Lang;
use crate::identity::Email;
use tracing::Instrument;

/// The opportunity's leads waiting for a first answer are answered now (speed to lead): a call
/// logged, a meeting booked. Called in the answering transaction.
pub async fn answered_in(tx: &mut Tx, opportunity_id: i64, now: Millis) -> Result<()> {
    sqlx::query("UPDATE leads SET responded_at = $1 WHERE opportunity_id = $2 AND responded_at IS NULL AND created_at <= $1")
        .bind(now)
        .bind(opportunity_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A lead as sent to `POST /api/v1/leads` or typed by an agent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadForm {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub message: String,
    /// Where the lead comes from (a website, a marketplace…).
    #[serde(default)]
    pub source: String,
    /// The stock number of the unit the customer asked about.
    #[serde(default)]
    pub stock_number: String,
    /// A `lead_type` code; `internet` by default.
    #[serde(default)]
    pub lead_type: Option<String>,
    /// The branch the lead is for (a new customer's lead is routed there).
    #[serde(default)]
    pub branch_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct LeadInput {
    pub first_name: String,
    pub last_name: String,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub message: String,
    pub source: String,
    pub stock_number: String,
    pub lead_type: String,
    pub branch_id: Option<i64>,
}

/// The longest message of a lead.
pub const MESSAGE_MAX: usize = 10_000;
/// The longest source of a lead.
pub const SOURCE_MAX: usize = 100;
/// The longest `Idempotency-Key` header, in bytes.
pub const IDEMPOTENCY_KEY_MAX: usize = 200;

fn text(errs: &mut FieldErrors, field: &str, v: &str, max: usize) -> String {
    let v = v.trim();
    if v.chars().count() > max {
        errs.add(field, "error.too_long");
    }
    v.to_string()
}

impl LeadForm {
    /// A lead needs a valid phone or a valid email; an invalid one is an error even when the
    /// other is valid.
    pub fn parse(&self, region: &str) -> Result<LeadInput> {
        let mut errs = FieldErrors::new();
        let email = opt_email(&mut errs, "email", &self.email);
        let phone = opt_phone(&mut errs, "phone", &self.phone, region);
        if self.email.trim().is_empty() && self.phone.trim().is_empty() {
            errs.add("phone", "error.phone_or_email");
            errs.add("email", "error.phone_or_email");
        }
        let first_name = text(&mut errs, "first_name", &self.first_name, crate::customers::NAME_MAX);
        let last_name = text(&mut errs, "last_name", &self.last_name, crate::customers::NAME_MAX);
        let message = text(&mut errs, "message", &self.message, MESSAGE_MAX);
        let source = text(&mut errs, "source", &self.source, SOURCE_MAX);
        let stock_number = text(&mut errs, "stock_number", &self.stock_number, super::stock::NUMBER_MAX);
        let lead_type = self.lead_type.as_deref().map(str::trim).filter(|s| !s.is_empty()).unwrap_or("internet").to_string();
        errs.into_result()?;
        Ok(LeadInput { first_name, last_name, email, phone, message, source, stock_number, lead_type, branch_id: self.branch_id })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Merged,
    Created,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Merged => "merged",
            Outcome::Created => "created",
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LeadResult {
    pub outcome: Outcome,
    pub opportunity_id: i64,
    pub customer_id: i64,
    /// Whether the customer record was created for this lead.
    pub customer_created: bool,
    /// True when this answer repeats an earlier one for the same idempotency key.
    pub replayed: bool,
}

/// What the caller is told about their lead: the outcome, and the ids of the customer and of
/// the opportunity only when they may see them (`null` otherwise). A representative's lead
/// may match another branch's customer: it still goes to that customer's opportunity, whose
/// owner is told, but its ids are not the caller's to read.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LeadAnswer {
    pub outcome: Outcome,
    pub opportunity_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// Whether the customer record was created for this lead.
    pub customer_created: bool,
    /// True when this answer repeats an earlier one for the same idempotency key.
    pub replayed: bool,
}

impl LeadResult {
    /// The answer for a caller who sees what `vis` allows.
    pub async fn answer_for(self, db: &Db, vis: &Visibility) -> Result<LeadAnswer> {
        // Whoever sees everything sees what their lead just wrote (a live opportunity of an
        // existing customer): no statement. A replayed answer is checked again, its
        // opportunity may have gone to the trash since.
        if vis.sees_all() && !self.replayed {
            return Ok(LeadAnswer {
                outcome: self.outcome,
                opportunity_id: Some(self.opportunity_id),
                customer_id: Some(self.customer_id),
                customer_created: self.customer_created,
                replayed: false,
            });
        }
        // Both checks in one statement: the opportunity as `store::get_visible` filters it
        // (not in the trash, visible), the customer as `customers::store::get_visible` does.
        let mut q = Sql::new("SELECT (SELECT COUNT(*) FROM opportunities o WHERE o.id = ");
        q.bind(self.opportunity_id).push(" AND o.trashed = 0 AND ").append(vis.opportunities("o"));
        q.push("), (SELECT COUNT(*) FROM customers c WHERE c.id = ")
            .bind(self.customer_id)
            .push(" AND ")
            .append(vis.customers("c"))
            .push(")");
        let (opp, cust): (i64, i64) = q.query_as().fetch_one(&db.pool).await?;
        let opportunity_id = Some(self.opportunity_id).filter(|_| opp > 0);
        let customer_id = Some(self.customer_id).filter(|_| cust > 0);
        Ok(LeadAnswer {
            outcome: self.outcome,
            opportunity_id,
            customer_id,
            customer_created: self.customer_created,
            replayed: self.replayed,
        })
    }
}

/// The caller an idempotency key belongs to: the user (whether by token or session), or the
/// system.
fn key_scope(actor: &Actor) -> String {
    match actor.id {
        Some(id) => format!("user:{id}"),
        None => "system".to_string(),
    }
}

/// What makes two deliveries of a lead the same lead: the parsed input (so that a retry
/// whose JSON differs only in key order, spacing or the email's case is still a retry).
pub fn fingerprint(input: &LeadInput) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for v in [
        input.lead_type.as_str(),
        input.first_name.as_str(),
        input.last_name.as_str(),
        input.email.as_ref().map_or("", |e| e.as_str()),
        input.phone.as_ref().map_or("", |p| p.as_str()),
        input.message.as_str(),
        input.source.as_str(),
        input.stock_number.as_str(),
    ] {
        // Length-prefixed, so that no two different inputs run together the same way.
        h.update((v.len() as u64).to_le_bytes());
        h.update(v.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The caller's earlier answer for this key, if any. The same key with another lead is an
/// error, not a replay: the second lead would be silently lost.
async fn replay(conn: &mut sqlx::AnyConnection, scope: &str, key: &str, fingerprint: &str) -> Result<Option<LeadResult>> {
    let row: Option<(String, i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT outcome, opportunity_id, customer_id, request_fingerprint FROM leads WHERE idempotency_scope = $1 AND idempotency_key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(conn)
    .await?;
    match row {
        // Leads taken before fingerprints were kept replay as they always did.
        Some((_, _, _, Some(fp))) if fp != fingerprint => Err(Error::validation("Idempotency-Key", "error.idempotency_key_reused")),
        Some((o, opp, cust, _)) => Ok(Some(LeadResult {
            outcome: if o == "merged" { Outcome::Merged } else { Outcome::Created },
            opportunity_id: opp,
            customer_id: cust,
            customer_created: false,
            replayed: true,
        })),
        None => Ok(None),
    }
}

/// Where new customers and opportunities from leads go when the customer has none.
#[derive(Debug, Clone, Copy, Default)]
pub struct Defaults {
    pub branch_id: Option<i64>,
    pub owner_id: Option<i64>,
}

/// A caller's idempotency key and the fingerprint of the lead sent with it.
struct Key<'a> {
    scope: String,
    key: &'a str,
    fingerprint: String,
}

/// Takes a lead: recognises the customer, merges or opens an opportunity, records the lead.
/// `key` is the caller's idempotency key: scoped to `actor`, it replays the caller's earlier
/// answer for the same lead and refuses (422) a different lead under the same key.
///
/// Everything that can be read before the write transaction is read in one statement
/// ([`Prelude`]): the replay, the lead's references, the customer the lead recognises with its
/// last opportunity, and, for a merge, the owner's notification context (address, language,
/// preference, the record's thread, the template, the sender), so that the owner's email is
/// rendered before the transaction. The commonest lead (a known customer with an open
/// opportunity) then writes in at most 8 statements ([`merge_fast`]), after re-checking under
/// the locks what it read; when that re-check fails (a concurrent change), or for any other
/// lead, the transaction is the full rule ([`intake_in`]).
pub async fn intake(db: &Db, actor: &Actor, now: Millis, input: &LeadInput, key: Option<&str>, defaults: Defaults) -> Result<LeadResult> {
    let key = match key {
        Some(k) if k.is_empty() || k.len() > IDEMPOTENCY_KEY_MAX => {
            return Err(Error::validation("Idempotency-Key", "error.idempotency_key"))
        }
        Some(k) => Some(Key { scope: key_scope(actor), key: k, fingerprint: fingerprint(input) }),
        None => None,
    };
    let pre = prelude(db, input, key.as_ref()).await?;
    if let Some(r) = pre.replayed(key.as_ref())? {
        return Ok(r);
    }
    let refs = pre.references(input)?;
    // The write transaction's statements, for `tests/lead_statements.rs` (which counts them).
    let span = tracing::trace_span!("write_transaction", unit = "lead");
    if let Some(plan) = pre.merge_plan(actor, input)? {
        let mut tx = db.begin().instrument(span.clone()).await?;
        match merge_fast(&mut tx, db, actor, now, input, &refs, key.as_ref(), &plan).instrument(span.clone()).await {
            Ok(Some(r)) => return commit(db, tx, r, key.as_ref(), &span).await,
            // What was read before changed: the full rule, in a new transaction.
            Ok(None) => tx.rollback().instrument(span.clone()).await?,
            Err(e) => {
                drop(tx);
                return failed(db, e, key.as_ref()).await;
            }
        }
    }
    let statuses = Statuses::load(db).await?;
    let mut tx = db.begin().instrument(span.clone()).await?;
    match intake_in(&mut tx, actor, now, &statuses, input, &refs, key.as_ref(), defaults).instrument(span.clone()).await {
        Ok(r) => commit(db, tx, r, key.as_ref(), &span).await,
        Err(e) => {
            drop(tx);
            failed(db, e, key.as_ref()).await
        }
    }
}

/// Commits a lead's transaction; a key taken meanwhile by the same caller is answered as a replay.
async fn commit(db: &Db, tx: Tx, r: LeadResult, key: Option<&Key<'_>>, span: &tracing::Span) -> Result<LeadResult> {
    match tx.commit().instrument(span.clone()).await {
        Ok(()) => Ok(r),
        Err(e) => match key {
            Some(k) if is_unique_violation(&e) => replay_after_race(db, k).await,
            _ => Err(e.into()),
        },
    }
}

/// A lead's transaction failed (and was dropped): a key taken meanwhile by the same caller is
/// answered as a replay, anything else is the error.
async fn failed(db: &Db, e: Error, key: Option<&Key<'_>>) -> Result<LeadResult> {
    match (e, key) {
        (Error::Db(e), Some(k)) if is_unique_violation(&e) => replay_after_race(db, k).await,
        (e, _) => Err(e),
    }
}

/// Another request of the same caller with the same key committed first: answer as it did
/// (or refuse, if it was another lead).
///
/// Read in a write transaction: on SQLite the other lead may still be in the writer's open
/// group (committed together with the transactions queued with it, see `db::writer`), which
/// a pooled connection does not see yet.
async fn replay_after_race(db: &Db, key: &Key<'_>) -> Result<LeadResult> {
    let mut tx = db.begin().await?;
    let r = replay(&mut tx, &key.scope, key.key, &key.fingerprint).await?;
    tx.rollback().await?;
    r.ok_or_else(|| Error::internal("lead key conflict without a lead"))
}

/// The stock unit a lead names, once its lead type and branch are known to exist.
struct References {
    stock: Option<i64>,
}

/// What a lead's intake reads before its write transaction, in one statement.
#[derive(Debug, sqlx::FromRow)]
struct Prelude {
    // The caller's earlier lead under the same key.
    r_outcome: Option<String>,
    r_opportunity: Option<i64>,
    r_customer: Option<i64>,
    r_fingerprint: Option<String>,
    // The lead's references.
    lead_types: i64,
    branches: i64,
    stock: Option<i64>,
    // The customer the lead recognises, and their last opportunity with its owner.
    customer_id: Option<i64>,
    opportunity_id: Option<i64>,
    expired: Option<i64>,
    trashed: Option<i64>,
    owner_id: Option<i64>,
    opportunity_name: Option<String>,
    owner_email: Option<String>,
    owner_name: Option<String>,
    owner_language: Option<String>,
    owner_active: Option<i64>,
    owner_pref: Option<i64>,
    thread: Option<String>,
    t_subject: Option<String>,
    t_text: Option<String>,
    t_html: Option<String>,
    from_address: Option<String>,
    from_name: Option<String>,
    reply_domain: Option<String>,
    link_base_url: Option<String>,
}

/// The notification event of a lead merged into an open opportunity.
const MERGED_EVENT: &str = "lead_merged";

async fn prelude(db: &Db, input: &LeadInput, key: Option<&Key<'_>>) -> Result<Prelude> {
    let phones: Vec<&str> = input.phone.iter().map(|p| p.as_str()).collect();
    let email = input.email.as_ref().map(|e| e.as_str());
    let setting = |k: &str| format!("(SELECT value FROM settings WHERE key = '{k}')");
    let mut q = Sql::new("SELECT r.outcome AS r_outcome, r.opportunity_id AS r_opportunity, r.customer_id AS r_customer, r.request_fingerprint AS r_fingerprint, ");
    q.push("(SELECT COUNT(*) FROM value_list_items WHERE list_code = 'lead_type' AND code = ")
        .bind(input.lead_type.as_str())
        .push(") AS lead_types, ");
    q.push("(SELECT COUNT(*) FROM org_units WHERE id = ").bind(input.branch_id.unwrap_or(0)).push(") AS branches, ");
    q.push("(SELECT MIN(id) FROM stock_units WHERE stock_number = ").bind(input.stock_number.as_str()).push(") AS stock, ");
    q.push(concat!(
        "m.customer_id, o.id AS opportunity_id, CASE WHEN ",
        super::store::expired_sql!("o"),
        " THEN 1 ELSE 0 END AS expired, o.trashed, o.owner_id, o.name AS opportunity_name, \
         u.email AS owner_email, u.name AS owner_name, u.language AS owner_language, u.active AS owner_active, \
         (SELECT enabled FROM notification_prefs p WHERE p.user_id = u.id AND p.event = '",
    ));
    q.push(MERGED_EVENT).push(
        "') AS owner_pref, \
         (SELECT token FROM mail_threads th WHERE th.entity_type = 'opportunity' AND th.entity_id = o.id) AS thread, \
         t.subject AS t_subject, t.text_body AS t_text, t.html_body AS t_html, ",
    );
    q.push(&format!(
        "{} AS from_address, {} AS from_name, {} AS reply_domain, {} AS link_base_url ",
        setting("mail.from_address"),
        setting("mail.from_name"),
        setting("mail.reply_domain"),
        setting("mail.link_base_url")
    ));
    q.push("FROM (SELECT ").append(crate::customers::store::first_match(email, &phones)).push(" AS customer_id) m ");
    q.push("LEFT JOIN leads r ON r.idempotency_scope = ").bind(key.map(|k| k.scope.clone()));
    q.push(" AND r.idempotency_key = ").bind(key.map(|k| k.key.to_string()));
    q.push(
        " LEFT JOIN opportunities o ON o.id = (SELECT MAX(o2.id) FROM opportunities o2 WHERE o2.customer_id = m.customer_id) \
         LEFT JOIN users u ON u.id = o.owner_id \
         LEFT JOIN email_templates t ON t.event = '",
    );
    q.push(MERGED_EVENT).push("' AND t.lang = u.language");
    Ok(q.query_as().fetch_one(&db.pool).await?)
}

/// A merge into an open opportunity, as read before the transaction.
struct MergePlan {
    customer_id: i64,
    opportunity_id: i64,
    owner_id: Option<i64>,
    name: String,
    /// The owner's email, rendered (when they are active and want it).
    email: Option<crate::mail::Prepared>,
}

impl Prelude {
    /// The caller's earlier answer for this key, if any (see [`replay`]).
    fn replayed(&self, key: Option<&Key<'_>>) -> Result<Option<LeadResult>> {
        let (Some(k), Some(opp), Some(cust)) = (key, self.r_opportunity, self.r_customer) else {
            return Ok(None);
        };
        match &self.r_fingerprint {
            Some(fp) if *fp != k.fingerprint => Err(Error::validation("Idempotency-Key", "error.idempotency_key_reused")),
            _ => Ok(Some(LeadResult {
                outcome: if self.r_outcome.as_deref() == Some("merged") { Outcome::Merged } else { Outcome::Created },
                opportunity_id: opp,
                customer_id: cust,
                customer_created: false,
                replayed: true,
            })),
        }
    }

    /// Checks the lead type and the branch; the stock unit the lead names.
    fn references(&self, input: &LeadInput) -> Result<References> {
        if self.lead_types == 0 {
            return Err(Error::validation("lead_type", "error.invalid_choice"));
        }
        if input.branch_id.is_some() && self.branches == 0 {
            return Err(Error::validation("branch_id", "error.unknown_org_unit"));
        }
        Ok(References { stock: self.stock.filter(|_| !input.stock_number.is_empty()) })
    }

    /// The merge this lead makes if nothing changes before its transaction: a recognised
    /// customer whose last opportunity is open, with the owner's email rendered.
    fn merge_plan(&self, actor: &Actor, input: &LeadInput) -> Result<Option<MergePlan>> {
        let (Some(customer_id), Some(opportunity_id), Some(0), Some(0)) =
            (self.customer_id, self.opportunity_id, self.expired, self.trashed)
        else {
            return Ok(None);
        };
        let name = self.opportunity_name.clone().unwrap_or_default();
        let email = match (self.owner_id, self.owner_active, self.owner_email.as_deref().map(Email::parse)) {
            (Some(_), Some(active), Some(Ok(address))) if active != 0 => {
                let def = crate::mail::templates::event(MERGED_EVENT).ok_or(Error::NotFound)?;
                if def.required || self.owner_pref.is_none_or(|p| p != 0) {
                    let lang = self.owner_language.as_deref().and_then(Lang::parse).unwrap_or_default();
                    let stored = match (&self.t_subject, &self.t_text, &self.t_html) {
                        (Some(s), Some(t), Some(h)) => Some((s.clone(), t.clone(), h.clone())),
                        _ => None,
                    };
                    let template = crate::mail::templates::from_stored(MERGED_EVENT, lang, stored)?;
                    let setting = |v: &Option<String>, k: &str| {
                        v.clone().or_else(|| crate::settings::def(k).map(|d| d.default.to_string())).unwrap_or_default()
                    };
                    let from_name = setting(&self.from_name, "mail.from_name");
                    let sender = crate::mail::sender_of(
                        &setting(&self.from_address, "mail.from_address"),
                        &from_name,
                        &setting(&self.reply_domain, "mail.reply_domain"),
                    )?;
                    let vars = serde_json::json!({
                        "opportunity": {"id": opportunity_id, "name": name},
                        "lead": {"summary": summary(input), "message": input.message},
                        "app_name": from_name,
                        "app_url": setting(&self.link_base_url, "mail.link_base_url"),
                    });
                    let r = crate::mail::templates::render(&template, &vars)
                        .map_err(|(part, e)| Error::internal(format!("template {MERGED_EVENT} {part}: {e}")))?;
                    let email = crate::mail::NewEmail {
                        entity: Some(("opportunity".into(), opportunity_id)),
                        event: MERGED_EVENT.to_string(),
                        to: vec![crate::mail::Mailbox::new(self.owner_name.as_deref(), &address)],
                        subject: r.subject,
                        text: r.text,
                        html: Some(r.html),
                        created_by: actor.id,
                        ..Default::default()
                    };
                    Some(crate::mail::Prepared::new(email, ("opportunity".into(), opportunity_id), sender, self.thread.clone()))
                } else {
                    None
                }
            }
            _ => None,
        };
        Ok(Some(MergePlan { customer_id, opportunity_id, owner_id: self.owner_id, name, email }))
    }
}

/// The merge of a lead into the open opportunity read before the transaction: the locks (the
/// lead's identity keys, then the customer), then one statement that re-checks what was read
/// (the same customer recognised first, the same last opportunity, open, with the same owner
/// and name) and touches the opportunity; then the note, the stock link, the history, the
/// owner's email, its delivery job and the owner's in-app notification, and the lead: 8
/// statements, 9 with a stock unit (one more for the first email of a record, whose thread
/// token is stored). `None` when the
/// re-check fails: the caller rolls back and applies the full rule.
#[allow(clippy::too_many_arguments)]
async fn merge_fast(
    tx: &mut Tx,
    db: &Db,
    actor: &Actor,
    now: Millis,
    input: &LeadInput,
    refs: &References,
    key: Option<&Key<'_>>,
    plan: &MergePlan,
) -> Result<Option<LeadResult>> {
    let phones: Vec<&str> = input.phone.iter().map(|p| p.as_str()).collect();
    let email = input.email.as_ref().map(|e| e.as_str());
    crate::customers::store::lock_identity_and_customer(tx, now, email, &phones, plan.customer_id).await?;
    let mut q = Sql::new("UPDATE opportunities SET updated_at = ");
    q.bind(now).push(" WHERE id = ").bind(plan.opportunity_id).push(" AND customer_id = ").bind(plan.customer_id);
    q.push(concat!(" AND trashed = 0 AND NOT ", super::store::expired_sql!("opportunities"), " AND name = ")).bind(plan.name.as_str());
    match plan.owner_id {
        Some(o) => q.push(" AND owner_id = ").bind(o),
        None => q.push(" AND owner_id IS NULL"),
    };
    q.push(" AND NOT EXISTS (SELECT 1 FROM opportunities o2 WHERE o2.customer_id = ").bind(plan.customer_id);
    q.push(" AND o2.id > ").bind(plan.opportunity_id).push(") AND ").bind(plan.customer_id).push(" = ");
    q.append(crate::customers::store::first_match(email, &phones));
    if q.query().execute(&mut **tx).await?.rows_affected() != 1 {
        return Ok(None);
    }
    let id = plan.opportunity_id;
    let summary = summary(input);
    super::store::add_note_in(tx, actor, now, id, "lead", &summary).await?;
    if let Some(s) = refs.stock {
        link_stock(tx, id, s).await?;
    }
    crate::audit::record(
        tx,
        actor,
        now,
        "opportunity",
        id,
        "lead",
        &[crate::audit::Change { field: "lead".into(), old: None, new: Some(summary.clone()) }],
    )
    .await?;
    if let Some(e) = &plan.email {
        crate::mail::insert_prepared(tx, db.backend, now, e).await?;
        if let Some(owner) = plan.owner_id {
            crate::mail::notify::in_app_prepared(tx, now, e, owner).await?;
        }
    }
    insert_lead(tx, actor, now, input, key, plan.customer_id, id, Outcome::Merged).await?;
    Ok(Some(LeadResult {
        outcome: Outcome::Merged,
        opportunity_id: id,
        customer_id: plan.customer_id,
        customer_created: false,
        replayed: false,
    }))
}

/// Links the stock unit a lead names to its opportunity (once).
async fn link_stock(tx: &mut Tx, opportunity_id: i64, stock_unit_id: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO opportunity_stock_units (opportunity_id, stock_unit_id) SELECT $1, $2 WHERE NOT EXISTS \
         (SELECT 1 FROM opportunity_stock_units WHERE opportunity_id = $1 AND stock_unit_id = $2)",
    )
    .bind(opportunity_id)
    .bind(stock_unit_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The lead's own row (with the caller's idempotency key).
#[allow(clippy::too_many_arguments)]
async fn insert_lead(
    tx: &mut Tx,
    actor: &Actor,
    now: Millis,
    input: &LeadInput,
    key: Option<&Key<'_>>,
    customer_id: i64,
    opportunity_id: i64,
    outcome: Outcome,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO leads (idempotency_key, lead_type, source, first_name, last_name, email, phone, message, stock_number, customer_id, \
         opportunity_id, outcome, created_by, created_at, idempotency_scope, request_fingerprint) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(key.map(|k| k.key))
    .bind(&input.lead_type)
    .bind(&input.source)
    .bind(&input.first_name)
    .bind(&input.last_name)
    .bind(input.email.as_ref().map(|e| e.as_str()))
    .bind(input.phone.as_ref().map(|p| p.as_str()))
    .bind(&input.message)
    .bind(&input.stock_number)
    .bind(customer_id)
    .bind(opportunity_id)
    .bind(outcome.code())
    .bind(actor.id)
    .bind(now)
    .bind(key.map(|k| k.scope.as_str()))
    .bind(key.map(|k| k.fingerprint.as_str()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn intake_in(
    tx: &mut Tx,
    actor: &Actor,
    now: Millis,
    statuses: &Statuses,
    input: &LeadInput,
    refs: &References,
    key: Option<&Key<'_>>,
    defaults: Defaults,
) -> Result<LeadResult> {
    let mut route: Option<super::routing::Route> = None;
    let mut customer_name: Option<String> = None;
    // 1. The customer; a new one's lead is routed (a branch and an owner, see `routing`). Its
    // identity keys are locked first: a simultaneous lead for the same new person waits here,
    // then finds the customer this one creates.
    let phones: Vec<&str> = input.phone.iter().map(|p| p.as_str()).collect();
    let email = input.email.as_ref().map(|e| e.as_str());
    crate::customers::store::lock_identity(tx, now, email, &phones).await?;
    let matches = crate::customers::store::lookup(tx, email, &phones, None).await?;
    let (customer_id, customer_created) = match matches.first() {
        Some(m) => {
            // Leads recognising this customer by other keys decide merge-or-open one at a time.
            crate::customers::store::lock_customer(tx, now, m.id).await?;
            (m.id, false)
        }
        None => {
            let mut r = super::routing::route(tx, input.branch_id, defaults.branch_id).await?;
            if defaults.owner_id.is_some() {
                r.owner_id = defaults.owner_id;
                r.queue_group = None;
            }
            route = Some(r);
            let c = CustomerInput {
                kind: Kind::Person,
                civility: None,
                first_name: input.first_name.clone(),
                last_name: if input.first_name.is_empty() && input.last_name.is_empty() {
                    input
                        .email
                        .as_ref()
                        .map(|e| e.as_str().to_string())
                        .or_else(|| input.phone.as_ref().map(|p| p.as_str().to_string()))
                        .unwrap_or_default()
                } else {
                    input.last_name.clone()
                },
                company_name: String::new(),
                email: input.email.clone(),
                phone: input.phone.clone(),
                mobile: None,
                address: String::new(),
                language: Lang::Fr,
                branch_id: r.branch_id,
                owner_id: r.owner_id,
                notes: String::new(),
                particularities: Vec::new(),
            };
            let created = crate::customers::store::create_in(tx, actor, now, &c).await?;
            customer_name = Some(created.display_name);
            (created.id, true)
        }
    };
    // 2. Its most recent opportunity, unless expired or trashed (a customer just created has none).
    let last: Option<(i64, i64, i64, Option<i64>, String)> = if customer_created {
        None
    } else {
        sqlx::query_as(concat!(
            "SELECT o.id, CASE WHEN ",
            super::store::expired_sql!("o"),
            " THEN 1 ELSE 0 END AS expired, o.trashed, o.owner_id, o.name FROM opportunities o WHERE o.customer_id = $1 ORDER BY o.id DESC LIMIT 1"
        ))
            .bind(customer_id)
            .fetch_optional(&mut **tx)
            .await?
    };
    let stock = refs.stock;
    let summary = summary(input);
    let (outcome, opportunity_id) = match last {
        Some((id, 0, 0, owner, name)) => {
            super::store::add_note_in(tx, actor, now, id, "lead", &summary).await?;
            if let Some(s) = stock {
                link_stock(tx, id, s).await?;
            }
            sqlx::query("UPDATE opportunities SET updated_at = $1 WHERE id = $2").bind(now).bind(id).execute(&mut **tx).await?;
            crate::audit::record(
                tx,
                actor,
                now,
                "opportunity",
                id,
                "lead",
                &[crate::audit::Change { field: "lead".into(), old: None, new: Some(summary.clone()) }],
            )
            .await?;
            if let Some(owner) = owner {
                use crate::mail::notify::{notify, Notice, Recipient};
                let notice = Notice {
                    event: "lead_merged",
                    entity: Some(("opportunity".into(), id)),
                    vars: serde_json::json!({"opportunity": {"id": id, "name": name}, "lead": {"summary": summary, "message": input.message}}),
                    attachments: Vec::new(),
                    created_by: actor.id,
                };
                notify(tx, now, notice, &[Recipient::User(owner)]).await?;
            }
            (Outcome::Merged, id)
        }
        _ => {
            // A returning customer's new file goes to their representative; a new customer's
            // (or an unowned one's) is routed.
            let route = match route {
                Some(r) => r,
                None => {
                    let (owner, branch): (Option<i64>, Option<i64>) =
                        sqlx::query_as("SELECT owner_id, branch_id FROM customers WHERE id = $1")
                            .bind(customer_id)
                            .fetch_one(&mut **tx)
                            .await?;
                    match owner {
                        Some(o) => super::routing::Route { branch_id: branch.or(defaults.branch_id), owner_id: Some(o), queue_group: None },
                        None => super::routing::route(tx, input.branch_id.or(branch), defaults.branch_id).await?,
                    }
                }
            };
            let o = super::store::create_checked_in(
                tx,
                actor,
                now,
                statuses,
                &OpportunityInput {
                    name: customer_name.unwrap_or_default(),
                    customer_id,
                    lead_type: Some(input.lead_type.clone()),
                    status: None,
                    owner_id: route.owner_id,
                    branch_id: route.branch_id,
                    stock_unit_ids: stock.into_iter().collect(),
                    amount_cents: None,
                    expected_close_on: None,
                },
            )
            .await?;
            super::store::add_note_in(tx, actor, now, o.id, "lead", &summary).await?;
            if let Some(owner) = o.owner_id.filter(|u| Some(*u) != actor.id) {
                super::store::notify_assigned(tx, now, &o, owner, actor).await?;
            }
            if let (None, Some(group)) = (o.owner_id, route.queue_group) {
                use crate::mail::notify::{notify, Notice, Recipient};
                let notice = Notice {
                    event: "lead_queued",
                    entity: Some(("opportunity".into(), o.id)),
                    vars: serde_json::json!({"opportunity": {"id": o.id, "name": o.name}, "lead": {"summary": summary, "message": input.message}}),
                    attachments: Vec::new(),
                    created_by: actor.id,
                };
                notify(tx, now, notice, &[Recipient::Group(group)]).await?;
            }
            (Outcome::Created, o.id)
        }
    };
    insert_lead(tx, actor, now, input, key, customer_id, opportunity_id, outcome).await?;
    Ok(LeadResult { outcome, opportunity_id, customer_id, customer_created, replayed: false })
}

/// The timeline entry of a lead.
fn summary(input: &LeadInput) -> String {
    let mut s = format!("Lead {}", input.lead_type);
    if !input.source.is_empty() {
        s.push_str(&format!(" ({})", input.source));
    }
    let who = format!("{} {}", input.first_name, input.last_name).trim().to_string();
    if !who.is_empty() {
        s.push_str(&format!(" — {who}"));
    }
    if let Some(e) = &input.email {
        s.push_str(&format!(" · {}", e.as_str()));
    }
    if let Some(p) = &input.phone {
        s.push_str(&format!(" · {}", p.as_str()));
    }
    if !input.stock_number.is_empty() {
        s.push_str(&format!(" · stock {}", input.stock_number));
    }
    if !input.message.is_empty() {
        s.push_str(&format!("\n{}", input.message));
    }
    s
}

// ------------------------------------------------------------------ the list of leads

/// How fast a lead was answered (speed to lead): within 5 minutes, an hour, 4 hours, a day,
/// later, or not yet. The buckets of the sales dashboard and of the lead list's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    Le5m,
    Le1h,
    Le4h,
    Le24h,
    More,
    None,
}

impl Speed {
    pub const ALL: [Speed; 6] = [Speed::Le5m, Speed::Le1h, Speed::Le4h, Speed::Le24h, Speed::More, Speed::None];
    pub fn code(self) -> &'static str {
        match self {
            Speed::Le5m => "le_5m",
            Speed::Le1h => "le_1h",
            Speed::Le4h => "le_4h",
            Speed::Le24h => "le_24h",
            Speed::More => "more",
            Speed::None => "none",
        }
    }
    pub fn parse(s: &str) -> Option<Speed> {
        Speed::ALL.into_iter().find(|x| x.code() == s)
    }
    /// The condition on `l.responded_at - l.created_at` (integers written inline).
    pub fn condition(self) -> String {
        let between = |lo: i64, hi: i64| {
            let (lo, hi) = (lo * 60_000, hi * 60_000);
            if lo == 0 {
                format!("(l.responded_at IS NOT NULL AND l.responded_at - l.created_at <= {hi})")
            } else {
                format!("(l.responded_at - l.created_at > {lo} AND l.responded_at - l.created_at <= {hi})")
            }
        };
        match self {
            Speed::Le5m => between(0, 5),
            Speed::Le1h => between(5, 60),
            Speed::Le4h => between(60, 240),
            Speed::Le24h => between(240, 1440),
            Speed::More => format!("(l.responded_at - l.created_at > {})", 1440 * 60_000),
            Speed::None => "(l.responded_at IS NULL)".to_string(),
        }
    }
}

/// The lead list's filter: leads on the opportunities the user sees.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub lead_type: Option<String>,
    pub source: Option<String>,
    /// The opportunity's owner.
    pub owner_id: Option<i64>,
    /// The opportunity's branch is this unit or below it.
    pub unit_id: Option<i64>,
    pub opportunity_id: Option<i64>,
    /// Received within `[from, to)`.
    pub received: Option<(Millis, Millis)>,
    pub speed: Option<Speed>,
    pub sort: Option<crate::db::page::Sort>,
}

/// The orders of the lead list: most recent first.
pub static SORTS: [crate::db::page::SortKey; 1] = [crate::db::page::SortKey::int("received", "l.id").desc_first()];

pub fn default_sort() -> crate::db::page::Sort {
    crate::db::page::Sort::by(&SORTS[0])
}

/// A lead as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ListedLead {
    pub id: i64,
    pub lead_type: String,
    pub source: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub customer_id: i64,
    pub opportunity_id: i64,
    pub opportunity_name: String,
    pub owner_name: Option<String>,
    pub outcome: String,
    pub created_at: i64,
    /// The first call logged or meeting booked on its opportunity after it came in.
    pub responded_at: Option<i64>,
}

const LIST_SELECT: &str = "SELECT l.id, l.lead_type, l.source, l.first_name, l.last_name, l.email, l.phone, l.customer_id, \
    l.opportunity_id, o.name AS opportunity_name, u.name AS owner_name, l.outcome, l.created_at, l.responded_at \
    FROM leads l JOIN opportunities o ON o.id = l.opportunity_id LEFT JOIN users u ON u.id = o.owner_id";

/// `head` (a `SELECT … FROM leads l JOIN opportunities o …`, binds allowed) with the `WHERE`
/// of `f` and the visibility of the opportunities: the leads the list shows.
pub fn report_from(head: Sql, vis: &Visibility, f: &ListFilter) -> Sql {
    let scope = super::store::Filter { owner_id: f.owner_id, unit_id: f.unit_id, ..Default::default() };
    let mut q = super::store::report_from(head, vis, &scope);
    if let Some(t) = f.lead_type.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND l.lead_type = ").bind(t.to_string());
    }
    if let Some(s) = &f.source {
        q.push(" AND l.source = ").bind(s.clone());
    }
    if let Some(o) = f.opportunity_id {
        q.push(" AND l.opportunity_id = ").bind(o);
    }
    if let Some((from, to)) = f.received {
        q.push(" AND l.created_at >= ").bind(from).push(" AND l.created_at < ").bind(to);
    }
    if let Some(s) = f.speed {
        q.push(" AND ").push(&s.condition());
    }
    q
}

/// Leads on opportunities `vis` may see, matching `f`, most recent first.
pub async fn list(db: &Db, vis: &Visibility, f: &ListFilter, page: &crate::db::page::PageReq) -> Result<crate::db::page::Page<ListedLead>> {
    use crate::db::page;
    let sort = f.sort.unwrap_or_else(default_sort);
    let mut q = report_from(Sql::new(&page::keyed_select(LIST_SELECT, &sort)), vis, f);
    page::keyset(&mut q, &sort, "l.id", page)?;
    let mut conn = db.pool.acquire().await?;
    let rows: Vec<page::Keyed<ListedLead>> = q.query_as().fetch_all(&mut *conn).await?;
    Ok(page::Page::keyed(rows, page, |r: &ListedLead| r.id))
}

/// How many leads [`list`] would return, up to [`crate::db::page::COUNT_CAP`].
pub async fn count(db: &Db, vis: &Visibility, f: &ListFilter) -> Result<crate::db::page::Count> {
    use crate::db::page;
    let q = report_from(Sql::new("SELECT 1 FROM leads l JOIN opportunities o ON o.id = l.opportunity_id"), vis, f);
    let mut conn = db.pool.acquire().await?;
    page::count_capped(&mut conn, q, page::COUNT_CAP).await
}
