//! What the server accepts, written into the OpenAPI document from the constants the parsers
//! use: each request field's length, format, choices or range ([`FIELDS`]), each query
//! parameter's ([`params`]), and, for every other string and array of a request body, the
//! bounds that [`crate::http::json`] keeps for all bodies (at most
//! [`MAX_TEXT_CHARS`] characters without control characters, at most [`MAX_ITEMS`] items).
//! The document is edited as JSON once generated (utoipa's attributes take only literals).

use serde_json::{json, Map, Value};

use crate::access::{Right, Scope};
use crate::customers as cu;
use crate::http::json::{MAX_ITEMS, MAX_TEXT_CHARS};
use crate::http::listing::ListDef;
use crate::org::{groups, units};
use crate::sales::{calls, meetings, stock};
use crate::service::{equipment, interventions, returns, RequestStatus};
use crate::{db::page::MAX_LIMIT, email, identity, views};

/// Text without control characters other than tab and line breaks (`request::has_control_char`).
pub const TEXT: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";
/// The same, and not blank (a required field is trimmed, then must not be empty): a
/// character other than a space after any leading spaces.
pub const REQUIRED: &str = r"^[\t\n\r ]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";
/// A phone number as typed (then parsed for its region).
const PHONE: &str = r"^[0-9 +\-.()/\u00A0]*$";
/// `HH:MM`, local time.
const TIME: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]$";
/// The code of a value-list item (statuses, lead types, outcomes, symptoms, categories).
const CODE: &str = r"^[a-z0-9_]*$";

/// What one field accepts.
#[derive(Debug, Clone)]
pub enum Rule {
    /// Free text of at most so many characters (may be empty).
    Text(usize),
    /// Text that must not be blank, of at most so many characters.
    Required(usize),
    /// One of these codes (`""`: the default, where listed).
    OneOf(Vec<String>),
    /// A list code ([`CODE`]) of at most so many characters; `required`: not empty.
    Code(usize, bool),
    /// A pattern and a length.
    Pattern(&'static str, usize),
    /// An email address, or empty when `optional`.
    Email { optional: bool },
    /// A phone number, or empty.
    Phone,
    /// `YYYY-MM-DD`, or empty when `optional`.
    Date { optional: bool },
    /// `HH:MM`.
    Time,
    /// A new password: at least `MIN_LENGTH` characters, at most `MAX_BYTES` bytes (so at
    /// most a quarter as many characters are always accepted).
    Secret,
    /// An integer in this range.
    Int(i64, i64),
    /// An object whose keys are among these.
    Keys(Vec<String>),
    /// At most so many items, each following the rule.
    Items(usize, Box<Rule>),
}

use Rule::*;

fn codes<T: Copy>(all: &[T], code: fn(T) -> &'static str) -> Vec<String> {
    all.iter().map(|x| code(*x).to_string()).collect()
}

fn owned(all: &[&str]) -> Vec<String> {
    all.iter().map(|x| x.to_string()).collect()
}

fn with_empty(mut v: Vec<String>) -> Vec<String> {
    v.insert(0, String::new());
    v
}

fn langs() -> Rule {
    OneOf(with_empty(codes(&[crate::i18n::Lang::Fr, crate::i18n::Lang::En], crate::i18n::Lang::code)))
}

/// The rules of the fields of the request bodies, by component schema.
pub fn fields() -> Vec<(&'static str, Vec<(&'static str, Rule)>)> {
    let names = || Text(cu::NAME_MAX);
    let particularities = || Items(cu::PARTICULARITIES_MAX, Box::new(Code(crate::lists::CODE_MAX, false)));
    let civility = || Code(crate::lists::CODE_MAX, false);
    let customer = || {
        vec![
            ("kind", OneOf(with_empty(codes(&[cu::Kind::Person, cu::Kind::Company], cu::Kind::code)))),
            ("civility", civility()),
            ("first_name", names()),
            ("last_name", names()),
            ("company_name", Text(cu::COMPANY_MAX)),
            ("email", Email { optional: true }),
            ("phone", Phone),
            ("mobile", Phone),
            ("address", Text(cu::ADDRESS_MAX)),
            ("language", langs()),
            ("notes", Text(cu::NOTES_MAX)),
            ("particularities", particularities()),
        ]
    };
    let user = || {
        vec![
            ("email", Email { optional: false }),
            ("name", Required(identity::users::NAME_MAX)),
            ("language", langs()),
            ("role", Pattern(r"^ *[a-z0-9_]+ *$", crate::access::roles::CODE_MAX)),
        ]
    };
    let mut user_form = user();
    user_form.push(("password", Secret));
    let request = || {
        vec![
            ("request_type", Code(crate::lists::CODE_MAX, false)),
            ("source", OneOf(with_empty(owned(crate::service::SOURCES)))),
            ("description", Text(crate::service::DESCRIPTION_MAX)),
            ("symptom", Code(crate::lists::CODE_MAX, false)),
            ("priority", Code(crate::lists::CODE_MAX, false)),
        ]
    };
    let opportunity = || {
        vec![
            ("name", Text(crate::sales::NAME_MAX)),
            ("lead_type", Code(crate::lists::CODE_MAX, false)),
            ("status", Code(crate::lists::CODE_MAX, false)),
        ]
    };
    let item = || {
        vec![
            ("code", Pattern(r"^ *[a-z0-9_]+ *$", crate::lists::CODE_MAX)),
            ("label_fr", Required(MAX_TEXT_CHARS)),
            ("label_en", Required(MAX_TEXT_CHARS)),
            ("flags", Items(MAX_ITEMS, Box::new(Code(crate::lists::CODE_MAX, true)))),
        ]
    };
    let stock_form = vec![
        ("stock_number", Pattern(r"^ *[A-Za-z0-9_-]+ *$", stock::NUMBER_MAX)),
        ("description", Text(stock::DESCRIPTION_MAX)),
        ("status", OneOf(with_empty(owned(stock::STATUSES)))),
    ];
    let equipment_form = vec![
        ("serial_number", Required(equipment::SERIAL_MAX)),
        ("model", Required(equipment::MODEL_MAX)),
        ("location", Text(equipment::LOCATION_MAX)),
        ("installed_on", Date { optional: true }),
    ];
    vec![
        ("CustomerForm", customer()),
        ("CustomerPatch", customer()),
        (
            "ContactForm",
            vec![
                ("civility", civility()),
                ("first_name", names()),
                ("last_name", names()),
                ("email", Email { optional: true }),
                ("phone", Phone),
                ("mobile", Phone),
                ("notes", Text(cu::NOTES_MAX)),
                ("particularities", particularities()),
            ],
        ),
        ("UserForm", user_form),
        ("UserPatch", user()),
        ("NewToken", vec![("name", Required(identity::token::NAME_MAX)), ("expires_in_days", Int(0, identity::token::MAX_DAYS))]),
        ("ViewBody", vec![("name", Required(views::NAME_MAX))]),
        (
            "RoleBody",
            vec![
                ("code", Pattern(r"^ *[a-z0-9_]+ *$", crate::access::roles::CODE_MAX)),
                ("name_fr", Required(MAX_TEXT_CHARS)),
                ("name_en", Required(MAX_TEXT_CHARS)),
                ("scope", OneOf(codes(&Scope::ALL, Scope::code))),
                ("rights", Items(Right::ALL.len(), Box::new(OneOf(codes(Right::ALL, Right::code))))),
            ],
        ),
        ("UnitBody", vec![("name", Required(units::NAME_MAX)), ("kind", OneOf(codes(&units::UnitKind::ALL, units::UnitKind::code)))]),
        ("GroupBody", vec![("name", Required(groups::NAME_MAX)), ("description", Text(groups::DESCRIPTION_MAX))]),
        ("ItemBody", item()),
        ("ItemPatch", item()),
        ("NewOpportunity", opportunity()),
        ("OpportunityPatch", opportunity()),
        ("NoteBody", vec![("body", Required(crate::sales::store::NOTE_MAX))]),
        (
            "LeadForm",
            vec![
                ("first_name", names()),
                ("last_name", names()),
                ("email", Email { optional: true }),
                ("phone", Phone),
                ("message", Text(crate::sales::leads::MESSAGE_MAX)),
                ("source", Text(crate::sales::leads::SOURCE_MAX)),
                ("stock_number", Text(stock::NUMBER_MAX)),
                ("lead_type", Code(crate::lists::CODE_MAX, false)),
            ],
        ),
        (
            "MeetingForm",
            vec![
                ("kind", OneOf(owned(meetings::KINDS))),
                ("date", Date { optional: false }),
                ("start_time", Time),
                ("end_time", Time),
                ("location", Text(meetings::LOCATION_MAX)),
                ("priority", OneOf(with_empty(owned(meetings::PRIORITIES)))),
                ("category", Code(crate::lists::CODE_MAX, false)),
                ("appointment_type", OneOf(with_empty(owned(meetings::APPOINTMENT_TYPES)))),
                ("language", langs()),
                ("deposit_method", OneOf(with_empty(owned(meetings::DEPOSIT_METHODS)))),
                ("esign_status", OneOf(with_empty(owned(meetings::ESIGN_STATUSES)))),
                ("status", Code(crate::lists::CODE_MAX, false)),
                ("description", Text(meetings::DESCRIPTION_MAX)),
                ("stock_numbers", Items(MAX_ITEMS, Box::new(Text(stock::NUMBER_MAX)))),
            ],
        ),
        (
            "CallForm",
            vec![
                ("date", Date { optional: false }),
                ("time", Time),
                ("subject", Required(calls::SUBJECT_MAX)),
                ("notes", Text(calls::NOTES_MAX)),
            ],
        ),
        ("LogBody", vec![("outcome", Code(crate::lists::CODE_MAX, true)), ("comment", Text(calls::COMMENT_MAX))]),
        ("StockForm", stock_form),
        ("RequestForm", request()),
        ("RequestPatch", request()),
        (
            "UpdateBody",
            vec![
                ("status", OneOf(codes(&RequestStatus::UPDATES, RequestStatus::code))),
                ("message", Required(crate::service::store::UPDATE_MAX)),
            ],
        ),
        ("MessageBody", vec![("body", Required(crate::service::messages::MAX_BODY))]),
        ("RequestNoteBody", vec![("body", Required(crate::service::notes::NOTE_MAX))]),
        (
            "RequestCallBody",
            vec![
                ("date", Date { optional: false }),
                ("time", Time),
                ("subject", Required(calls::SUBJECT_MAX)),
                ("notes", Text(calls::NOTES_MAX)),
            ],
        ),
        (
            "Target",
            vec![
                ("request_type", Code(crate::lists::CODE_MAX, true)),
                ("priority", Code(crate::lists::CODE_MAX, true)),
                ("first_update_minutes", Int(1, crate::service::sla::MAX_MINUTES)),
                ("close_minutes", Int(1, crate::service::sla::MAX_MINUTES)),
            ],
        ),
        ("EquipmentForm", equipment_form),
        ("LineBody", vec![("symptom", Code(crate::lists::CODE_MAX, false))]),
        ("SymptomBody", vec![("symptom", Code(crate::lists::CODE_MAX, false))]),
        (
            "InterventionForm",
            vec![
                ("date", Date { optional: false }),
                ("start_time", Time),
                ("end_time", Time),
                ("place", Text(interventions::PLACE_MAX)),
                ("report_work", Text(interventions::REPORT_MAX)),
                ("status", OneOf(with_empty(codes(&interventions::Status::ALL, interventions::Status::code)))),
            ],
        ),
        ("ReturnForm", vec![("reason", Required(returns::REASON_MAX)), ("return_type", OneOf(owned(returns::TYPES)))]),
        ("ReturnStatusBody", vec![("status", OneOf(owned(returns::STATUSES)))]),
        ("SettingsPatch", vec![("", Keys(crate::settings::DEFS.iter().map(|d| d.key.to_string()).collect()))]),
        ("Prefs", vec![("events", Keys(crate::mail::templates::events().iter().map(|e| e.code.to_string()).collect()))]),
        ("SendForm", vec![("message", Required(crate::mail::compose::MESSAGE_MAX)), ("subject", Text(crate::mail::compose::SUBJECT_MAX))]),
        (
            "NewsBody",
            vec![
                ("title", Required(crate::partners::news::TITLE_MAX)),
                ("summary", Required(crate::partners::news::SUMMARY_MAX)),
                ("body", Required(crate::partners::news::BODY_MAX)),
                ("date", Date { optional: true }),
                ("time", Pattern(r"^(([01][0-9]|2[0-3]):[0-5][0-9])?$", 5)),
                ("audience", OneOf(owned(&["all", "some"]))),
                ("partner_ids", Items(MAX_ITEMS, Box::new(Int(1, i64::MAX)))),
            ],
        ),
        ("SlotBody", vec![("date", Date { optional: false }), ("start_time", Time), ("end_time", Time)]),
        (
            "ProposeBody",
            vec![(
                "slots",
                Items(crate::presales::workflow::MAX_SLOTS, Box::new(Keys(owned(&["date", "start_time", "end_time", "engineer_id"])))),
            )],
        ),
        ("QuestionBody", vec![("question", Required(crate::presales::store::TEXT_MAX))]),
        ("ReasonBody", vec![("reason", Required(crate::presales::store::TEXT_MAX))]),
    ]
}

/// The rules of the query (and header) parameters: by name, on every operation (`limit`), or on the
/// operations of one path and the paths below it (`/api/v1/opportunities/board` sorts as
/// `/api/v1/opportunities`).
pub fn params(lists: &[(&'static ListDef, &'static str)]) -> Vec<(Option<String>, &'static str, Rule)> {
    let mut out = vec![
        (None, "limit", Int(1, MAX_LIMIT)),
        (Some("/api/v1/calls".into()), "days", Int(1, calls::TASK_DAYS_MAX)),
        (Some("/api/v1/meetings".into()), "days", Int(1, crate::clock::WINDOW_DAYS_MAX)),
        (Some("/api/v1/interventions".into()), "days", Int(1, crate::clock::WINDOW_DAYS_MAX)),
        (Some("/api/v1/meetings".into()), "from", Date { optional: true }),
        (Some("/api/v1/interventions".into()), "from", Date { optional: true }),
        (Some("/api/v1/emails".into()), "status", OneOf(owned(crate::mail::STATUSES))),
        (Some("/api/v1/customers".into()), "kind", OneOf(with_empty(codes(&[cu::Kind::Person, cu::Kind::Company], cu::Kind::code)))),
        (Some("/api/v1/customers/lookup".into()), "email", Email { optional: true }),
        (
            Some("/api/v1/presales-requests".into()),
            "status",
            OneOf(with_empty(codes(&crate::presales::workflow::Status::QUEUE, crate::presales::workflow::Status::code))),
        ),
        (Some("/api/v1/customers/lookup".into()), "phone", Phone),
        (Some("/api/v1/search".into()), "q", Text(crate::global_search::QUERY_MAX)),
        (Some("/api/v1/opportunities/{id}/activity".into()), "kind", Pattern(crate::activity::KINDS_PATTERN, crate::activity::KINDS_MAX)),
        (Some("/api/v1/customers/{id}/activity".into()), "kind", Pattern(crate::activity::KINDS_PATTERN, crate::activity::KINDS_MAX)),
        (
            Some("/api/v1/service-requests/{id}/activity".into()),
            "kind",
            Pattern(crate::activity::KINDS_PATTERN, crate::activity::KINDS_MAX),
        ),
        (
            Some("/api/v1/opportunities/{id}/activity".into()),
            "before",
            Pattern(crate::activity::CURSOR_PATTERN, crate::activity::CURSOR_MAX),
        ),
        (Some("/api/v1/customers/{id}/activity".into()), "before", Pattern(crate::activity::CURSOR_PATTERN, crate::activity::CURSOR_MAX)),
        (
            Some("/api/v1/service-requests/{id}/activity".into()),
            "before",
            Pattern(crate::activity::CURSOR_PATTERN, crate::activity::CURSOR_MAX),
        ),
        (
            Some("/api/v1/presales-requests/{id}/activity".into()),
            "kind",
            Pattern(crate::activity::KINDS_PATTERN, crate::activity::KINDS_MAX),
        ),
        (
            Some("/api/v1/presales-requests/{id}/activity".into()),
            "before",
            Pattern(crate::activity::CURSOR_PATTERN, crate::activity::CURSOR_MAX),
        ),
        (Some("/api/v1/leads".into()), "Idempotency-Key", Pattern(r"^[\x21-\x7E]+$", crate::sales::leads::IDEMPOTENCY_KEY_MAX)),
    ];
    for (def, base) in lists {
        let mut sorts = vec![String::new()];
        for k in def.sorts {
            sorts.push(k.code.to_string());
            sorts.push(format!("-{}", k.code));
        }
        if *base == "/api/v1/customers" {
            sorts.push("recent".into());
        }
        out.push((Some(base.to_string()), "sort", OneOf(sorts)));
    }
    out
}

fn types(s: &Value) -> Vec<&str> {
    match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Writes `rule` into the schema of one field (a string, an integer or an array).
pub fn apply(s: &mut Map<String, Value>, rule: &Rule) {
    let nullable = types(&Value::Object(s.clone())).contains(&"null");
    match rule {
        Text(n) => {
            s.insert("maxLength".into(), json!(n));
            s.insert("pattern".into(), json!(TEXT));
        }
        Required(n) => {
            s.insert("minLength".into(), json!(1));
            s.insert("maxLength".into(), json!(n));
            s.insert("pattern".into(), json!(REQUIRED));
        }
        OneOf(values) => {
            let mut v: Vec<Value> = values.iter().map(|x| json!(x)).collect();
            if nullable {
                v.push(Value::Null);
            }
            s.insert("enum".into(), Value::Array(v));
            s.insert("maxLength".into(), json!(values.iter().map(|x| x.chars().count()).max().unwrap_or(0)));
        }
        Code(n, required) => {
            s.insert("maxLength".into(), json!(n));
            s.insert("pattern".into(), json!(if *required { r"^[a-z0-9_]+$" } else { CODE }));
        }
        Pattern(p, n) => {
            s.insert("maxLength".into(), json!(n));
            s.insert("pattern".into(), json!(p));
        }
        Email { optional } => {
            s.insert("maxLength".into(), json!(email::MAX_BYTES));
            if *optional {
                s.insert("anyOf".into(), json!([{"maxLength": 0}, {"format": "email"}]));
            } else {
                s.insert("format".into(), json!("email"));
            }
        }
        Phone => {
            s.insert("maxLength".into(), json!(cu::phone::MAX_BYTES / 2));
            s.insert("pattern".into(), json!(PHONE));
        }
        Date { optional } => {
            s.insert("maxLength".into(), json!(10));
            if *optional {
                s.insert("anyOf".into(), json!([{"maxLength": 0}, {"format": "date"}]));
            } else {
                s.insert("format".into(), json!("date"));
            }
        }
        Time => {
            s.insert("maxLength".into(), json!(5));
            s.insert("pattern".into(), json!(TIME));
        }
        Secret => {
            s.insert("minLength".into(), json!(identity::password::MIN_LENGTH));
            s.insert("maxLength".into(), json!(identity::password::MAX_BYTES / 4));
            s.insert("pattern".into(), json!(TEXT));
        }
        Int(min, max) => {
            s.insert("minimum".into(), json!(min));
            s.insert("maximum".into(), json!(max));
        }
        Keys(keys) => {
            s.insert("propertyNames".into(), json!({"type": "string", "enum": keys}));
        }
        Items(n, each) => {
            s.insert("maxItems".into(), json!(n));
            if let Some(Value::Object(items)) = s.get_mut("items") {
                apply(items, each);
            }
        }
    }
}

/// The bounds every body keeps, on a schema that declares none of its own: strings get
/// [`MAX_TEXT_CHARS`] and [`TEXT`], arrays [`MAX_ITEMS`]; inside objects, arrays and maps.
pub fn bound(s: &mut Value) {
    let Value::Object(m) = s else { return };
    let ts: Vec<String> = types(&Value::Object(m.clone())).into_iter().map(String::from).collect();
    if ts.iter().any(|t| t == "string") && !m.contains_key("enum") {
        m.entry("maxLength").or_insert(json!(MAX_TEXT_CHARS));
        if !m.contains_key("format") && !m.contains_key("anyOf") {
            m.entry("pattern").or_insert(json!(TEXT));
        }
    }
    if ts.iter().any(|t| t == "array") {
        m.entry("maxItems").or_insert(json!(MAX_ITEMS));
    }
    for key in ["items", "additionalProperties"] {
        if let Some(v) = m.get_mut(key) {
            bound(v);
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(Value::Array(vs)) = m.get_mut(key) {
            vs.iter_mut().for_each(bound);
        }
    }
    if let Some(Value::Object(props)) = m.get_mut("properties") {
        props.values_mut().for_each(bound);
    }
}

/// The component schemas that request bodies use, directly or inside one another.
fn request_components(doc: &Value) -> Vec<String> {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    if let Some(name) = r.strip_prefix("#/components/schemas/") {
                        out.push(name.to_string());
                    }
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(vs) => vs.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut todo = Vec::new();
    for item in doc["paths"].as_object().into_iter().flat_map(|p| p.values()) {
        for op in item.as_object().into_iter().flat_map(|o| o.values()) {
            refs(&op["requestBody"], &mut todo);
        }
    }
    let mut seen: Vec<String> = Vec::new();
    while let Some(name) = todo.pop() {
        if seen.contains(&name) {
            continue;
        }
        refs(&doc["components"]["schemas"][&name], &mut todo);
        seen.push(name);
    }
    seen
}

/// The schema of `field` in the component `schema` (among its properties or those of the
/// schemas it is made of; `""`: the component itself).
fn property<'a>(schemas: &'a mut Value, schema: &str, field: &str) -> Option<&'a mut Map<String, Value>> {
    fn find<'a>(s: &'a mut Value, field: &str) -> Option<&'a mut Map<String, Value>> {
        if field.is_empty() {
            return s.as_object_mut();
        }
        if s["properties"].get(field).is_some() {
            return s["properties"][field].as_object_mut();
        }
        s.get_mut("allOf")?.as_array_mut()?.iter_mut().find_map(|x| find(x, field))
    }
    find(schemas.get_mut(schema)?, field)
}

/// Writes the limits into the document (as JSON); answers the rules that name no field of
/// the document (a renamed field or schema: `tests/openapi.rs` fails on any).
pub fn write(doc: &mut Value, lists: &[(&'static ListDef, &'static str)]) -> Vec<String> {
    let mut unknown = Vec::new();
    let requests = request_components(doc);
    let schemas = &mut doc["components"]["schemas"];
    for (schema, rules) in fields() {
        for (field, rule) in rules {
            match property(schemas, schema, field) {
                Some(s) => apply(s, &rule),
                None => unknown.push(format!("{schema}.{field}")),
            }
        }
    }
    for name in &requests {
        if let Some(s) = schemas.get_mut(name) {
            bound(s);
        }
    }
    let rules = params(lists);
    let mut used = vec![false; rules.len()];
    for (path, item) in doc["paths"].as_object_mut().into_iter().flat_map(|p| p.iter_mut()) {
        for op in item.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
            if let Some(Value::Object(body)) = op.get_mut("requestBody") {
                if let Some(Value::Object(content)) = body.get_mut("content") {
                    content.values_mut().filter_map(|c| c.get_mut("schema")).for_each(bound);
                }
            }
            for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                let name = p["name"].as_str().unwrap_or_default().to_string();
                // The most specific rule of the name applies (a path's own before its parent's).
                let best = rules
                    .iter()
                    .enumerate()
                    .filter(|(_, (at, param, _))| {
                        *param == name && at.as_deref().is_none_or(|a| path == a || path.starts_with(&format!("{a}/")))
                    })
                    .max_by_key(|(_, (at, _, _))| at.as_ref().map_or(0, |a| a.len() + 1));
                if let Some((i, (_, _, rule))) = best.filter(|_| p["in"] == "query" || p["in"] == "header") {
                    if let Some(s) = p.get_mut("schema").and_then(Value::as_object_mut) {
                        apply(s, rule);
                        used[i] = true;
                    }
                }
            }
        }
    }
    for ((at, param, _), used) in rules.iter().zip(used) {
        if !used {
            unknown.push(format!("{} {param}", at.as_deref().unwrap_or("*")));
        }
    }
    unknown
}
