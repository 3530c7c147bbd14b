//! The OpenAPI document tells the truth about what the API accepts and answers: its
//! invariants (every operation's common answers, a length on every string of a request, a
//! range on every `limit`), and the server keeping the limits the document states.

mod common;

use carnet::http::auth::Access;
use carnet::http::openapi::limits;
use common::{each_backend, Api, TestApp};
use serde_json::{json, Value};

async fn document(app: &TestApp) -> Value {
    let r = app.anon().get(format!("{}/api/v1/openapi.json", app.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// A message as the API says it to the test users (French).
fn fr(key: &str) -> String {
    carnet::i18n::t(carnet::i18n::Lang::Fr, key)
}

async fn admin(app: &TestApp) -> Api {
    let id = app.user("admin@t.fr", "administrateur", None).await;
    app.api(&app.token_for(id).await)
}

/// Every string and array reachable from `schema` (following `$ref`s), with its place.
fn walk<'a>(doc: &'a Value, schema: &'a Value, at: String, seen: &mut Vec<String>, out: &mut Vec<(String, &'a Value)>) {
    if !schema.is_object() {
        return;
    }
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/").to_string();
        if !seen.contains(&name) {
            seen.push(name.clone());
            walk(doc, &doc["components"]["schemas"][&name], name, seen, out);
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"string") || types.contains(&"array") {
        out.push((at.clone(), schema));
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for s in schema[key].as_array().into_iter().flatten() {
            walk(doc, s, at.clone(), seen, out);
        }
    }
    walk(doc, &schema["items"], format!("{at}[]"), seen, out);
    walk(doc, &schema["additionalProperties"], format!("{at}.*"), seen, out);
    for (k, s) in schema["properties"].as_object().into_iter().flatten() {
        walk(doc, s, format!("{at}.{k}"), seen, out);
    }
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.clone(), path.clone(), op));
        }
    }
    out
}

#[tokio::test]
async fn every_operation_declares_its_common_answers_in_the_error_shape() {
    each_backend(|app| async move {
        let doc = document(&app).await;
        let error = &doc["components"]["schemas"]["ErrorBody"];
        assert_eq!(error["properties"]["error"]["$ref"], "#/components/schemas/ErrorObject", "{error}");
        let object = &doc["components"]["schemas"]["ErrorObject"];
        for field in ["code", "message", "fields", "request_id"] {
            assert!(object["required"].as_array().unwrap().contains(&json!(field)), "{object}");
        }
        let ops = operations(&doc);
        assert!(ops.len() > 100, "{}", ops.len());
        for (method, path, op) in ops {
            let codes: Vec<&str> = op["responses"].as_object().unwrap().keys().map(String::as_str).collect();
            let route = carnet::http::router::ROUTES.iter().find(|r| r.method == method && r.path == path);
            let route = route.unwrap_or_else(|| panic!("{method} {path} documented but not routed"));
            let mut expected = vec!["401"];
            if matches!(route.access, Access::Right(_)) {
                expected.push("403");
            }
            let params = op["parameters"].as_array().map(|p| !p.is_empty()).unwrap_or(false);
            let body = op["requestBody"].is_object();
            if params || body {
                expected.extend(["400", "422"]);
            }
            if path.contains('{') {
                expected.push("404");
            }
            if body {
                expected.extend(["413", "415"]);
            }
            for code in expected {
                assert!(codes.contains(&code), "{method} {path} does not declare {code}: {codes:?}");
            }
            for (code, r) in op["responses"].as_object().unwrap() {
                if code.starts_with('4') {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                        "{method} {path} {code}"
                    );
                }
            }
        }
        app
    })
    .await;
}

#[tokio::test]
async fn every_input_declares_its_limits() {
    each_backend(|app| async move {
        let doc = document(&app).await;
        // Every rule names a field of the document (a renamed field fails here).
        let generated = serde_json::to_value(<carnet::http::openapi::ApiDoc as utoipa::OpenApi>::openapi()).unwrap();
        let mut copy = generated.clone();
        assert_eq!(limits::write(&mut copy, &carnet::http::openapi::api_lists()), Vec::<String>::new());
        let mut checked = 0;
        for (method, path, op) in operations(&doc) {
            let mut found = Vec::new();
            for content in op["requestBody"]["content"].as_object().into_iter().flatten().map(|(_, c)| c) {
                walk(&doc, &content["schema"], format!("{method} {path}"), &mut Vec::new(), &mut found);
            }
            for (at, s) in found {
                checked += 1;
                let string = s["type"] == "string" || s["type"].as_array().is_some_and(|t| t.contains(&json!("string")));
                if string && s.get("enum").is_none() {
                    assert!(s["maxLength"].as_u64().is_some_and(|n| n as usize <= carnet::http::json::MAX_TEXT_CHARS), "{at}: {s}");
                    assert!(s.get("pattern").is_some() || s.get("format").is_some() || s.get("anyOf").is_some(), "{at}: {s}");
                }
                if s["type"] == "array" || s["type"].as_array().is_some_and(|t| t.contains(&json!("array"))) {
                    assert!(s["maxItems"].as_u64().is_some_and(|n| n as usize <= carnet::http::json::MAX_ITEMS), "{at}: {s}");
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["name"] == "limit" {
                    assert_eq!(p["schema"]["minimum"], 1, "{method} {path}");
                    assert_eq!(p["schema"]["maximum"], carnet::db::page::MAX_LIMIT, "{method} {path}");
                }
                if p["name"] == "sort" {
                    assert!(p["schema"]["enum"].as_array().is_some_and(|e| e.len() > 2), "{method} {path}: {p}");
                }
            }
        }
        assert!(checked > 200, "{checked}");
        // The numbers are the parsers' own.
        let customer = &doc["components"]["schemas"]["CustomerForm"]["properties"];
        assert_eq!(customer["first_name"]["maxLength"], carnet::customers::NAME_MAX);
        assert_eq!(customer["notes"]["maxLength"], carnet::customers::NOTES_MAX);
        assert_eq!(customer["kind"]["enum"], json!(["", "person", "company"]));
        assert_eq!(doc["components"]["schemas"]["UnitBody"]["properties"]["name"]["maxLength"], carnet::org::units::NAME_MAX);
        assert_eq!(doc["components"]["schemas"]["NewToken"]["properties"]["expires_in_days"]["maximum"], carnet::identity::token::MAX_DAYS);
        app
    })
    .await;
}

/// The server keeps the limits the document states: a field at its maximum length passes
/// the length check, one character more is a 422 on that field, and a body over the bounds
/// kept for every string and array is refused; nothing is written.
#[tokio::test]
async fn the_server_keeps_the_documented_limits() {
    each_backend(|app| async move {
        let api = admin(&app).await;
        let doc = document(&app).await;
        let max =
            |schema: &str, field: &str| doc["components"]["schemas"][schema]["properties"][field]["maxLength"].as_u64().unwrap() as usize;
        let x = |n: usize| "x".repeat(n);
        let base = json!({"kind": "person", "last_name": "Roy"});
        for field in ["first_name", "last_name", "address", "company_name", "notes"] {
            let n = max("CustomerForm", field);
            let mut ok = base.clone();
            ok[field] = json!(x(n));
            let (st, b) = api.send("POST", "/api/v1/customers", Some(ok)).await;
            assert_eq!(st, 201, "{field} at {n}: {b}");
            let before = app.snapshot().await;
            let mut long = base.clone();
            long[field] = json!(x(n + 1));
            let (st, b) = api.send("POST", "/api/v1/customers", Some(long)).await;
            assert_eq!(st, 422, "{field} at {}: {b}", n + 1);
            assert_eq!(b["error"]["fields"][field], fr("error.too_long"), "{b}");
            assert_eq!(app.snapshot().await, before);
        }
        // Particularities: how many.
        let before = app.snapshot().await;
        let many: Vec<String> = (0..=carnet::customers::PARTICULARITIES_MAX).map(|i| format!("p{i}")).collect();
        let mut body = base.clone();
        body["particularities"] = json!(many);
        let (st, b) = api.send("POST", "/api/v1/customers", Some(body)).await;
        assert_eq!((st.as_u16(), b["error"]["fields"]["particularities"].as_str()), (422, Some(fr("error.too_many").as_str())), "{b}");
        // Every body: strings and arrays are bounded, wherever they are.
        let mut body = base.clone();
        body["notes"] = json!(x(carnet::http::json::MAX_TEXT_CHARS + 1));
        let (st, b) = api.send("POST", "/api/v1/customers", Some(body)).await;
        assert_eq!((st.as_u16(), b["error"]["fields"]["notes"].as_str()), (422, Some(fr("error.too_long").as_str())), "{b}");
        let members: Vec<i64> = (0..=carnet::http::json::MAX_ITEMS as i64).collect();
        let (st, b) = api.send("POST", "/api/v1/groups", Some(json!({"name": "G", "members": members}))).await;
        assert_eq!((st.as_u16(), b["error"]["fields"]["members"].as_str()), (422, Some(fr("error.too_many").as_str())), "{b}");
        assert_eq!(app.snapshot().await, before);
        // Ranges: out of range is refused, not silently clamped.
        let me = api.get("/api/v1/me").await.1["id"].as_i64().unwrap();
        for path in [format!("/api/v1/users/{me}/history?limit=501"), format!("/api/v1/users/{me}/history?limit=0")] {
            let (st, b) = api.get(&path).await;
            assert_eq!((st.as_u16(), b["error"]["fields"]["limit"].is_string()), (422, true), "{path}: {b}");
        }
        assert_eq!(api.get(&format!("/api/v1/users/{me}/history?limit=500")).await.0, 200);
        let days = carnet::sales::calls::TASK_DAYS_MAX;
        assert_eq!(api.get(&format!("/api/v1/calls?days={days}")).await.0, 200);
        let (st, b) = api.get(&format!("/api/v1/calls?days={}", days + 1)).await;
        assert_eq!((st.as_u16(), b["error"]["fields"]["days"].is_string()), (422, true), "{b}");
        // A whole number written with a fraction is an integer, as JSON Schema counts it.
        let (st, b) = api.send("POST", "/api/v1/tokens", Some(json!({"name": "ci", "expires_in_days": 30.0}))).await;
        assert_eq!(st, 201, "{b}");
        let (st, b) = api.send("POST", "/api/v1/tokens", Some(json!({"name": "ci", "expires_in_days": 30.5}))).await;
        assert_eq!((st.as_u16(), b["error"]["fields"]["expires_in_days"].is_string()), (422, true), "{b}");
        app
    })
    .await;
}

/// Two types with the same schema name would be one component in the document (utoipa keeps
/// the last): a response would be checked against another type's shape. Every `ToSchema` type
/// of `src/` has a name of its own (its Rust name, or `#[schema(as = …)]`).
#[test]
fn every_schema_has_a_name_of_its_own() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")), &mut files);
    let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let mut clashes = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if !(l.trim_start().starts_with("#[derive(") && l.contains("ToSchema")) {
                continue;
            }
            let mut alias = None;
            for next in lines.iter().skip(i + 1).take(6) {
                let t = next.trim_start();
                if let Some(rest) = t.strip_prefix("#[schema(as = ") {
                    alias = rest.split(')').next().map(|s| s.rsplit("::").next().unwrap_or(s).trim().to_string());
                }
                let decl = t.strip_prefix("pub struct ").or_else(|| t.strip_prefix("pub enum "));
                if let Some(d) = decl {
                    let name = d.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or("").to_string();
                    let name = alias.clone().unwrap_or(name);
                    let at = format!("{}:{}", f.display(), i + 1);
                    if let Some(first) = seen.insert(name.clone(), at.clone()) {
                        clashes.push(format!("{name}: {first} and {at}"));
                    }
                    break;
                }
            }
        }
    }
    assert!(clashes.is_empty(), "schema names used twice: {clashes:#?}");
}
