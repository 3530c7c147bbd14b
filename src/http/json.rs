//! JSON input for the API. [`ApiJson`] turns every kind of bad body into a clear 4xx in the
//! one error shape, never a 500: too large → 413, not JSON → 400 `malformed_json`, wrong
//! content type → 415, unknown or read-only field, wrong type or missing field → 422 with
//! the field named.

use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::error_response;
use super::AppState;
use crate::error::FieldErrors;

/// An API input type: lists the fields that exist on the resource but that no API call may
/// write (system-set and admin-only fields).
pub trait ApiInput: DeserializeOwned {
    const READ_ONLY: &'static [&'static str] = &[];
}

pub struct ApiJson<T>(pub T);

pub struct JsonRejection(Box<Response>);

impl IntoResponse for JsonRejection {
    fn into_response(self) -> Response {
        *self.0
    }
}

fn reject(status: StatusCode, code: &'static str, key: &'static str) -> JsonRejection {
    JsonRejection(Box::new(error_response(status, code, key, FieldErrors::new())))
}

fn field_error(field: &str, key: &'static str) -> JsonRejection {
    JsonRejection(Box::new(error_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "error.validation_failed",
        FieldErrors::single(field, key),
    )))
}

/// Parses a JSON body into `T` with the checks above; the messages are said in the
/// request's language by `error::render_errors`.
pub fn parse_json<T: ApiInput>(bytes: &[u8]) -> Result<T, JsonRejection> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| reject(StatusCode::BAD_REQUEST, "malformed_json", "error.malformed_json"))?;
    decode(value).map_err(|(field, key)| field_error(&field, key))
}

/// The longest string any API body may hold, in characters (the longest text field, an
/// intervention report, allows as much); fields with a rule of their own allow less, as the
/// OpenAPI document says.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// The most items any array of an API body may hold.
pub const MAX_ITEMS: usize = 1_000;

/// The path of the first value breaking the limits every body keeps, with the reason: a
/// string holding a control character other than tab and line breaks (a NUL byte would reach
/// the database), longer than [`MAX_TEXT_CHARS`], or an array longer than [`MAX_ITEMS`].
fn out_of_bounds_at(v: &serde_json::Value, path: &str) -> Option<(String, &'static str)> {
    let at = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    let here = || if path.is_empty() { "body".to_string() } else { path.to_string() };
    match v {
        serde_json::Value::String(s) if super::request::has_control_char(s) => Some((here(), "error.control_char")),
        serde_json::Value::String(s) if s.chars().count() > MAX_TEXT_CHARS => Some((here(), "error.too_long")),
        serde_json::Value::Array(items) if items.len() > MAX_ITEMS => Some((here(), "error.too_many")),
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| out_of_bounds_at(x, &at(&i.to_string()))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, x)| out_of_bounds_at(x, &at(k))),
        _ => None,
    }
}

/// Numbers written with a zero fraction (`115.0`) become integers: JSON Schema, and so the
/// OpenAPI document, counts them as integers.
fn whole_numbers_as_integers(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && *f >= i64::MIN as f64 && *f < i64::MAX as f64) {
                *v = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// A JSON value into `T`: an object without read-only or unknown fields, with the right
/// types; otherwise the field at fault and the reason.
fn decode<T: ApiInput>(value: serde_json::Value) -> Result<T, (String, &'static str)> {
    if let serde_json::Value::Object(map) = &value {
        if let Some(k) = map.keys().find(|k| T::READ_ONLY.contains(&k.as_str())) {
            return Err((k.clone(), "error.read_only"));
        }
    } else {
        return Err(("body".into(), "error.json_object_expected"));
    }
    if let Some(at) = out_of_bounds_at(&value, "") {
        return Err(at);
    }
    let mut value = value;
    whole_numbers_as_integers(&mut value);
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(value, &mut track);
    match T::deserialize(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let msg = e.to_string();
            if let Some(rest) = msg.split("unknown field `").nth(1) {
                let name = rest.split('`').next().unwrap_or("body");
                return Err((name.to_string(), "error.unknown_field"));
            }
            let path = track.path().to_string();
            if let Some(rest) = msg.split("missing field `").nth(1) {
                let name = rest.split('`').next().unwrap_or("body");
                return Err((name.to_string(), "error.required"));
            }
            let field = if path.is_empty() || path == "." { "body".to_string() } else { path };
            Err((field, "error.wrong_type"))
        }
    }
}

/// A PATCH body: a JSON object whose keys replace those of the stored record. Absent keys
/// keep the stored value, `null` clears (where the field may be empty), and the merged
/// object goes through the same checks as a full body (read-only, unknown, types).
pub struct ApiPatch<T> {
    keys: serde_json::Map<String, serde_json::Value>,
    _t: std::marker::PhantomData<T>,
}

impl<T: ApiInput> ApiPatch<T> {
    /// The body merged onto `stored` (the record as a full body of `T`), then decoded.
    pub fn onto(self, stored: serde_json::Value) -> Result<T, crate::error::Error> {
        if let Some(k) = self.keys.keys().find(|k| T::READ_ONLY.contains(&k.as_str())) {
            return Err(crate::error::Error::validation(k.clone(), "error.read_only"));
        }
        let mut merged = match stored {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        merged.extend(self.keys);
        decode(serde_json::Value::Object(merged)).map_err(|(field, key)| crate::error::Error::validation(field, key))
    }
}

impl ApiInput for serde_json::Map<String, serde_json::Value> {}

impl<T: ApiInput> FromRequest<AppState> for ApiPatch<T> {
    type Rejection = JsonRejection;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let ApiJson(keys) = ApiJson::<serde_json::Map<String, serde_json::Value>>::from_request(req, state).await?;
        Ok(ApiPatch { keys, _t: std::marker::PhantomData })
    }
}

impl<T: ApiInput> FromRequest<AppState> for ApiJson<T> {
    type Rejection = JsonRejection;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let ct_ok =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
        if !ct_ok {
            return Err(reject(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "error.json_content_type"));
        }
        let limit = state.config.max_body_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| reject(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "error.too_large"))?;
        parse_json::<T>(&bytes).map(ApiJson)
    }
}

/// For PATCH bodies: distinguishes an absent field (`None`) from an explicit null
/// (`Some(None)`). Use with `#[serde(default, deserialize_with = "double_option")]`.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
