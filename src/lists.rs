//! Configurable value lists: admin-managed entries with a stable code, French and English
//! labels, an order and an active flag (request types, symptoms, lead sources, meeting
//! categories…). Status lists carry behaviour flags; each list declares the flags its
//! entries may carry. Modules declare their lists in [`builtin_lists`]; they are created at
//! start-up if missing, and administrators edit the entries.

use serde::Serialize;
use sqlx::FromRow;

use crate::access::Actor;
use crate::audit::{self, Audited};
use crate::clock::Millis;
use crate::db::Db;
use crate::error::{Error, FieldErrors, Result, UniqueField};
use crate::i18n::Lang;

/// The longest code of a list item (lowercase letters, digits and `_`).
pub const CODE_MAX: usize = 60;

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct ValueList {
    pub code: String,
    pub name_fr: String,
    pub name_en: String,
    /// Space-separated flag codes that entries of this list may carry.
    pub allowed_flags: String,
}

impl ValueList {
    pub fn name(&self, lang: &Lang) -> &str {
        match lang {
            Lang::Fr => &self.name_fr,
            Lang::En => &self.name_en,
        }
    }
    pub fn flags(&self) -> Vec<&str> {
        self.allowed_flags.split_whitespace().collect()
    }
}

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct ListItem {
    pub id: i64,
    pub list_code: String,
    pub code: String,
    pub label_fr: String,
    pub label_en: String,
    pub position: i64,
    #[sqlx(try_from = "crate::db::Flag")]
    pub active: bool,
    /// Space-separated behaviour flags.
    pub flags: String,
}

impl ListItem {
    pub fn label(&self, lang: &Lang) -> &str {
        match lang {
            Lang::Fr => &self.label_fr,
            Lang::En => &self.label_en,
        }
    }
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.split_whitespace().any(|f| f == flag)
    }
}

impl Audited for ListItem {
    const ENTITY: &'static str = "list_item";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("list", Some(self.list_code.clone())),
            ("code", Some(self.code.clone())),
            ("label_fr", Some(self.label_fr.clone())),
            ("label_en", Some(self.label_en.clone())),
            ("position", Some(self.position.to_string())),
            ("active", Some(self.active.to_string())),
            ("flags", Some(self.flags.clone()).filter(|f| !f.is_empty())),
        ]
    }
}

/// A list known to the code, with its default entries: (code, French, English, flags).
pub struct BuiltinList {
    pub code: &'static str,
    pub name_fr: &'static str,
    pub name_en: &'static str,
    pub allowed_flags: &'static str,
    pub items: &'static [(&'static str, &'static str, &'static str, &'static str)],
}

/// The lists every installation has. Later modules add theirs here.
pub fn builtin_lists() -> Vec<BuiltinList> {
    vec![
        BuiltinList {
            code: "civility",
            name_fr: "Civilités",
            name_en: "Civilities",
            allowed_flags: "",
            items: &[("m", "M.", "Mr", ""), ("mme", "Mme", "Mrs", ""), ("dr", "Dr", "Dr", "")],
        },
        BuiltinList {
            code: "customer_particularity",
            name_fr: "Particularités des clients",
            name_en: "Customer particularities",
            allowed_flags: "",
            items: &[
                ("vip", "Client VIP", "VIP customer", ""),
                ("ne_pas_solliciter", "Ne pas solliciter", "Do not solicit", ""),
                ("flotte", "Client flotte", "Fleet customer", ""),
                ("paiement_a_verifier", "Paiement à vérifier", "Check payment", ""),
            ],
        },
        BuiltinList {
            code: "lead_type",
            name_fr: "Types de lead",
            name_en: "Lead types",
            allowed_flags: "",
            items: &[
                ("internet", "Lead Internet", "Internet lead", ""),
                ("phone_up", "Phone-Up", "Phone-up", ""),
                ("clavardage", "Clavardage", "Chat", ""),
                ("sms", "SMS", "SMS", ""),
            ],
        },
        BuiltinList {
            code: "meeting_category",
            name_fr: "Catégories de réunion",
            name_en: "Meeting categories",
            allowed_flags: "",
            items: &[("rendez_vous", "Rendez-vous", "Appointment", ""), ("livraison", "Livraison", "Delivery", "")],
        },
        BuiltinList {
            code: "meeting_status",
            name_fr: "Statuts de réunion",
            name_en: "Meeting statuses",
            allowed_flags: "cancelled",
            items: &[
                ("planifie", "Rendez-vous planifié", "Appointment planned", ""),
                ("confirme", "Confirmé", "Confirmed", ""),
                ("present", "Présent", "Attended", ""),
                ("absent", "Absent", "No-show", ""),
                ("annule", "Annulé", "Cancelled", "cancelled"),
            ],
        },
        BuiltinList {
            code: "call_outcome",
            name_fr: "Résultats d'appel",
            name_en: "Call outcomes",
            allowed_flags: "",
            items: &[
                ("joint", "Client joint", "Reached the customer", ""),
                ("message", "Message laissé", "Left a message", ""),
                ("pas_de_reponse", "Pas de réponse", "No answer", ""),
                ("mauvais_numero", "Mauvais numéro", "Wrong number", ""),
            ],
        },
        BuiltinList {
            code: "request_type",
            name_fr: "Types de demande",
            name_en: "Request types",
            allowed_flags: "portal",
            items: &[
                ("panne", "Panne", "Breakdown", "portal"),
                ("installation", "Installation", "Installation", "portal"),
                ("maintenance", "Maintenance", "Maintenance", "portal"),
                ("information", "Demande d'information", "Information request", "portal"),
            ],
        },
        BuiltinList {
            code: "request_priority",
            name_fr: "Priorités des demandes",
            name_en: "Request priorities",
            allowed_flags: "",
            items: &[
                ("basse", "Basse", "Low", ""),
                ("normale", "Normale", "Normal", ""),
                ("haute", "Haute", "High", ""),
                ("urgente", "Urgente", "Urgent", ""),
            ],
        },
        BuiltinList {
            code: "symptom",
            name_fr: "Symptômes",
            name_en: "Symptoms",
            allowed_flags: "",
            items: &[
                ("ne_demarre_pas", "Ne démarre pas", "Does not start", ""),
                ("bruit", "Bruit anormal", "Abnormal noise", ""),
                ("fuite", "Fuite", "Leak", ""),
                ("erreur_affichee", "Code d'erreur affiché", "Error code displayed", ""),
            ],
        },
        BuiltinList {
            code: "partner_opportunity_type",
            name_fr: "Types d'opportunité partenaire",
            name_en: "Partner opportunity types",
            allowed_flags: "presales",
            items: &[
                ("primo", "Primo (nouveau client)", "Primo (new customer)", "presales"),
                ("extension", "Extension (client existant)", "Upsell (existing customer)", ""),
                ("renouvellement", "Renouvellement", "Renewal", ""),
            ],
        },
        BuiltinList {
            code: "partner_opportunity_status",
            name_fr: "Statuts d'opportunité partenaire",
            name_en: "Partner opportunity statuses",
            allowed_flags: "initial won lost",
            items: &[
                ("nouvelle", "Nouvelle", "New", "initial"),
                ("en_cours", "En cours", "In progress", ""),
                ("gagnee", "Gagnée", "Won", "won"),
                ("perdue", "Perdue", "Lost", "lost"),
            ],
        },
        BuiltinList {
            code: "presales_intervention_type",
            name_fr: "Types d'intervention avant-vente",
            name_en: "Pre-sales intervention types",
            allowed_flags: "",
            items: &[
                ("demo", "Démonstration", "Demo", ""),
                ("atelier", "Atelier", "Workshop", ""),
                ("cadrage", "Cadrage", "Scoping", ""),
                ("soutenance", "Soutenance", "Bid presentation", ""),
            ],
        },
        BuiltinList {
            code: "opportunity_status",
            name_fr: "Statuts d'opportunité",
            name_en: "Opportunity statuses",
            allowed_flags: "initial sets_sale_date sets_delivery_date expiry_exempt lost trash auto_follow_up meeting_booked showed",
            items: &[
                ("en_traitement", "En traitement", "In progress", "initial"),
                ("reponse_envoyee", "Réponse envoyée", "Reply sent, no answer", ""),
                ("contacte", "Contacté", "Contacted", ""),
                ("rdv_cedule", "Rendez-vous cédulé", "Appointment booked", "meeting_booked"),
                ("rdv_present", "Rendez-vous présent / Walk-in", "Came in / walk-in", "showed"),
                ("pris_en_charge", "Pris en charge", "Sold", "sets_sale_date expiry_exempt"),
                ("vendu_non_livre", "Vendu non livré", "Sold, not delivered", "sets_sale_date expiry_exempt"),
                ("livre", "Livré", "Delivered", "sets_delivery_date"),
                ("suivi_long_terme", "En suivi long-terme", "Long-term follow-up", "expiry_exempt"),
                ("perdu_bdc", "Perdu BDC", "Lost by BDC", "lost auto_follow_up"),
                ("perdu_salle", "Perdu salle de montre", "Lost in showroom", "lost"),
                ("perdu_fi", "Perdu F&I", "Lost at F&I", "lost"),
                ("invalide_bdc", "Invalide BDC", "Invalid", "trash"),
            ],
        },
    ]
}

/// Creates missing built-in lists and their default entries (idempotent; entries an
/// administrator changed are left alone).
pub async fn ensure_builtin(db: &Db, now: Millis) -> Result<()> {
    for l in builtin_lists() {
        let exists: Option<String> =
            sqlx::query_scalar("SELECT code FROM value_lists WHERE code = $1").bind(l.code).fetch_optional(&db.pool).await?;
        if exists.is_some() {
            continue;
        }
        let mut tx = db.begin().await?;
        let inserted = sqlx::query("INSERT INTO value_lists (code, name_fr, name_en, allowed_flags) VALUES ($1, $2, $3, $4)")
            .bind(l.code)
            .bind(l.name_fr)
            .bind(l.name_en)
            .bind(l.allowed_flags)
            .execute(&mut *tx)
            .await;
        match inserted {
            Err(e) if crate::db::is_unique_violation(&e) => {
                tx.rollback().await?;
                continue;
            }
            other => other?,
        };
        for (i, (code, fr, en, flags)) in l.items.iter().enumerate() {
            sqlx::query(
                "INSERT INTO value_list_items (list_code, code, label_fr, label_en, position, active, flags, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(l.code)
            .bind(*code)
            .bind(*fr)
            .bind(*en)
            .bind((i as i64 + 1) * 10)
            .bind(1i64)
            .bind(*flags)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

pub async fn lists(db: &Db) -> Result<Vec<ValueList>> {
    Ok(sqlx::query_as("SELECT code, name_fr, name_en, allowed_flags FROM value_lists ORDER BY code").fetch_all(&db.pool).await?)
}

pub async fn list(db: &Db, code: &str) -> Result<Option<ValueList>> {
    Ok(sqlx::query_as("SELECT code, name_fr, name_en, allowed_flags FROM value_lists WHERE code = $1")
        .bind(code)
        .fetch_optional(&db.pool)
        .await?)
}

const ITEM_SELECT: &str = "SELECT id, list_code, code, label_fr, label_en, position, active, flags FROM value_list_items";

/// Entries of a list in order; inactive ones only when asked.
pub async fn items(db: &Db, code: &str, include_inactive: bool) -> Result<Vec<ListItem>> {
    let sql = if include_inactive {
        format!("{ITEM_SELECT} WHERE list_code = $1 ORDER BY position, id")
    } else {
        format!("{ITEM_SELECT} WHERE list_code = $1 AND active = $2 ORDER BY position, id")
    };
    let mut q = sqlx::query_as(&sql).bind(code);
    if !include_inactive {
        q = q.bind(1i64);
    }
    Ok(q.fetch_all(&db.pool).await?)
}

/// The entries a form offers: the active ones, plus the inactive ones the record already
/// has (`chosen`), so that saving the form as it is keeps them.
pub async fn choices(db: &Db, code: &str, chosen: &[&str]) -> Result<Vec<ListItem>> {
    Ok(items(db, code, true).await?.into_iter().filter(|i| i.active || chosen.contains(&i.code.as_str())).collect())
}

async fn item(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<ListItem>> {
    Ok(sqlx::query_as(&format!("{ITEM_SELECT} WHERE id = $1")).bind(id).fetch_optional(conn).await?)
}

#[derive(Debug, Clone)]
pub struct ItemInput {
    pub code: String,
    pub label_fr: String,
    pub label_en: String,
    pub position: i64,
    pub active: bool,
    pub flags: String,
}

impl ItemInput {
    pub fn parse(
        list: &ValueList,
        code: &str,
        label_fr: &str,
        label_en: &str,
        position: Option<i64>,
        active: bool,
        flags: &[String],
    ) -> Result<ItemInput> {
        let mut errs = FieldErrors::new();
        let code = code.trim().to_lowercase();
        if code.is_empty() || code.len() > CODE_MAX || !code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            errs.add("code", "error.code_format");
        }
        if label_fr.trim().is_empty() {
            errs.add("label_fr", "error.required");
        }
        if label_en.trim().is_empty() {
            errs.add("label_en", "error.required");
        }
        let allowed = list.flags();
        let mut fl: Vec<&str> = Vec::new();
        for f in flags {
            if allowed.contains(&f.as_str()) {
                fl.push(f.as_str());
            } else {
                errs.add("flags", "error.unknown_flag");
            }
        }
        fl.sort_unstable();
        fl.dedup();
        errs.into_result()?;
        Ok(ItemInput {
            code,
            label_fr: label_fr.trim().to_string(),
            label_en: label_en.trim().to_string(),
            position: position.unwrap_or(1000),
            active,
            flags: fl.join(" "),
        })
    }
}

pub async fn create_item(db: &Db, actor: &Actor, now: Millis, list_code: &str, input: &ItemInput) -> Result<ListItem> {
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO value_list_items (list_code, code, label_fr, label_en, position, active, flags, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(list_code)
    .bind(&input.code)
    .bind(&input.label_fr)
    .bind(&input.label_en)
    .bind(input.position)
    .bind(input.active as i64)
    .bind(&input.flags)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .unique_field("code", "error.code_taken")?;
    let it = item(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(&mut tx, actor, now, id, &it).await?;
    keep_invariants(&mut tx, actor, now, None, &it).await?;
    tx.commit().await?;
    Ok(it)
}

/// What an edit of an entry may carry: absent fields (`None`) keep their stored value.
#[derive(Debug, Clone, Default)]
pub struct ItemChanges {
    pub label_fr: Option<String>,
    pub label_en: Option<String>,
    pub position: Option<i64>,
    pub active: Option<bool>,
    pub flags: Option<Vec<String>>,
}

impl ItemChanges {
    /// The entry's new values: the changes merged onto the stored entry, then checked.
    pub fn onto(&self, list: &ValueList, stored: &ListItem) -> Result<ItemInput> {
        let flags = match &self.flags {
            Some(f) => f.clone(),
            None => stored.flags.split_whitespace().map(str::to_string).collect(),
        };
        ItemInput::parse(
            list,
            &stored.code,
            self.label_fr.as_deref().unwrap_or(&stored.label_fr),
            self.label_en.as_deref().unwrap_or(&stored.label_en),
            Some(self.position.unwrap_or(stored.position)),
            self.active.unwrap_or(stored.active),
            &flags,
        )
    }
}

/// The stored entry of a list, if any.
pub async fn get_item(db: &Db, list_code: &str, id: i64) -> Result<Option<ListItem>> {
    let mut conn = db.pool.acquire().await?;
    Ok(item(&mut conn, id).await?.filter(|i| i.list_code == list_code))
}

/// Records whose status is a code of these lists; such a status cannot be deactivated.
const STATUS_USERS: &[(&str, &str, &str)] = &[("opportunity_status", "opportunities", "status"), ("meeting_status", "meetings", "status")];

/// Edits an entry. Its code is stable (stored in records) and cannot change. A no-change
/// edit writes nothing (not even `updated_at`). On a status list the invariants hold (see
/// [`keep_invariants`]); a refused edit changes nothing.
pub async fn update_item(db: &Db, actor: &Actor, now: Millis, list_code: &str, id: i64, input: &ItemInput) -> Result<ListItem> {
    let mut tx = db.begin().await?;
    let old = item(&mut tx, id).await?.filter(|i| i.list_code == list_code).ok_or(Error::NotFound)?;
    if old.label_fr == input.label_fr
        && old.label_en == input.label_en
        && old.position == input.position
        && old.active == input.active
        && same_flags(&old.flags, &input.flags)
    {
        tx.rollback().await?;
        return Ok(old);
    }
    if old.active && !input.active {
        if let Some((_, table, column)) = STATUS_USERS.iter().find(|(l, _, _)| *l == list_code) {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1"))
                .bind(&old.code)
                .fetch_one(&mut *tx)
                .await?;
            if n > 0 {
                return Err(Error::validation("active", "error.status_in_use"));
            }
        }
    }
    sqlx::query(
        "UPDATE value_list_items SET label_fr = $1, label_en = $2, position = $3, active = $4, flags = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(&input.label_fr)
    .bind(&input.label_en)
    .bind(input.position)
    .bind(input.active as i64)
    .bind(&input.flags)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let new = item(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    keep_invariants(&mut tx, actor, now, Some(&old), &new).await?;
    tx.commit().await?;
    Ok(new)
}

/// The same flags, in any order (built-in entries are not sorted).
fn same_flags(a: &str, b: &str) -> bool {
    let mut a: Vec<&str> = a.split_whitespace().collect();
    let mut b: Vec<&str> = b.split_whitespace().collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

fn is_on(i: &ListItem, flag: &str) -> bool {
    i.active && i.has_flag(flag)
}

/// The invariants of a status list, after `new` was written (`old` before an edit):
/// - exactly one active `initial` entry: an entry that becomes initial takes the flag from
///   the previous one (the move is in its history); the initial entry cannot lose its flag
///   or be deactivated otherwise;
/// - at least one active `trash` entry (when the list has the flag): the last one cannot
///   lose it.
async fn keep_invariants(tx: &mut crate::db::Tx, actor: &Actor, now: Millis, old: Option<&ListItem>, new: &ListItem) -> Result<()> {
    let allowed: String =
        sqlx::query_scalar("SELECT allowed_flags FROM value_lists WHERE code = $1").bind(&new.list_code).fetch_one(&mut **tx).await?;
    let allowed: Vec<&str> = allowed.split_whitespace().collect();
    let others: Vec<ListItem> = sqlx::query_as(&format!("{ITEM_SELECT} WHERE list_code = $1 AND id <> $2 ORDER BY position, id"))
        .bind(&new.list_code)
        .bind(new.id)
        .fetch_all(&mut **tx)
        .await?;
    if allowed.contains(&"initial") {
        if is_on(new, "initial") && !old.is_some_and(|o| is_on(o, "initial")) {
            for o in others.iter().filter(|o| o.has_flag("initial")) {
                let flags = o.flags.split_whitespace().filter(|f| *f != "initial").collect::<Vec<_>>().join(" ");
                sqlx::query("UPDATE value_list_items SET flags = $1, updated_at = $2 WHERE id = $3")
                    .bind(&flags)
                    .bind(now)
                    .bind(o.id)
                    .execute(&mut **tx)
                    .await?;
                let moved = ListItem { flags, ..o.clone() };
                audit::updated(tx, actor, now, o.id, o, &moved).await?;
            }
        } else if !is_on(new, "initial") && old.is_some_and(|o| is_on(o, "initial")) && !others.iter().any(|o| is_on(o, "initial")) {
            let field = if new.active { "flags" } else { "active" };
            return Err(Error::validation(field, "error.initial_status_required"));
        }
    }
    if allowed.contains(&"trash")
        && !is_on(new, "trash")
        && old.is_some_and(|o| is_on(o, "trash"))
        && !others.iter().any(|o| is_on(o, "trash"))
    {
        let field = if new.active { "flags" } else { "active" };
        return Err(Error::validation(field, "error.trash_status_required"));
    }
    Ok(())
}
