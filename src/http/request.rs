//! What a request says about itself, below every other part of the web layer: its id and
//! the language cookie. Used by the guard, the extractors and the error rendering alike.

use axum::http::{header, HeaderMap};

use crate::i18n::Lang;

/// The id of the current request: returned as `x-request-id`, in every log line, on error
/// pages and in API error bodies.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub const LANG_COOKIE: &str = "carnet_lang";

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Language for anonymous pages: the cookie, else French.
pub fn cookie_lang(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE).and_then(|c| Lang::parse(&c)).unwrap_or_default()
}
