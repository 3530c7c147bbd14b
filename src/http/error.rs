//! The HTTP face of [`crate::error::Error`]: one JSON shape for the API
//! (`{"error": {"code", "message", "fields", "request_id"}}`), an error page for the UI
//! (rendered by `pages::error_pages` from the [`ErrorInfo`] left in the response).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::Error;
use crate::i18n::{t, Lang};

/// An error response on its way out. Handlers, extractors and the guard only attach this;
/// [`render_errors`] writes the body (JSON for `/api/`, an HTML page otherwise) with the
/// request id.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub status: StatusCode,
    pub code: &'static str,
    /// Message key.
    pub message: &'static str,
    /// Per-field messages (already in the user's language).
    pub fields: serde_json::Value,
    pub lang: Lang,
    /// More members of the API's error object, set by a handler on its response (the
    /// `existing` customers of a creation conflict).
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Error {
    pub fn status_and_code(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Error::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "error.validation_failed"),
            Error::NotFound => (StatusCode::NOT_FOUND, "not_found", "error.not_found"),
            Error::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "error.forbidden"),
            Error::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated", "error.unauthenticated"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict", "error.conflict"),
            Error::InvalidState { reason } => (StatusCode::CONFLICT, "invalid_state", reason),
            Error::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", "error.rate_limited"),
            Error::Db(_) | Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "error.internal"),
        }
    }
}

/// An error on its way out, with the language to say it in.
pub struct HttpError {
    pub error: Error,
    pub lang: Lang,
}

impl From<Error> for HttpError {
    fn from(error: Error) -> Self {
        HttpError { error, lang: Lang::En }
    }
}

impl From<sqlx::Error> for HttpError {
    fn from(e: sqlx::Error) -> Self {
        HttpError { error: Error::Db(e), lang: Lang::En }
    }
}

/// An error response; the body is written by [`render_errors`].
pub fn error_response(
    status: StatusCode,
    code: &'static str,
    message_key: &'static str,
    fields: serde_json::Value,
    lang: Lang,
) -> Response {
    let mut resp = status.into_response();
    resp.extensions_mut().insert(ErrorInfo { status, code, message: message_key, fields, lang, extra: None });
    resp
}

fn generic_for(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("bad_request", "error.bad_request"),
        401 => ("unauthenticated", "error.unauthenticated"),
        403 => ("forbidden", "error.forbidden"),
        404 => ("not_found", "error.not_found"),
        405 => ("method_not_allowed", "error.method_not_allowed"),
        413 => ("payload_too_large", "error.too_large"),
        415 => ("unsupported_media_type", "error.bad_request"),
        422 => ("validation_failed", "error.validation_failed"),
        429 => ("rate_limited", "error.rate_limited"),
        _ => ("internal", "error.internal"),
    }
}

/// Writes the body of every error response: the JSON error shape under `/api/`, the error
/// page elsewhere. Also catches axum's own rejections (bad path parameter, bad form, wrong
/// method) so they get the same shape.
pub async fn render_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let request_id = req.extensions().get::<super::RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let cookie_lang = super::auth::cookie_lang(req.headers());
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let info = match resp.extensions().get::<ErrorInfo>() {
        Some(i) => i.clone(),
        None => {
            let already_json = resp
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
            if already_json {
                return resp;
            }
            let (code, message) = generic_for(status);
            let lang = resp.extensions().get::<Lang>().copied().unwrap_or(if api { Lang::En } else { cookie_lang });
            ErrorInfo { status, code, message, fields: json!({}), lang, extra: None }
        }
    };
    let mut headers = resp.headers().clone();
    headers.remove(axum::http::header::CONTENT_LENGTH);
    headers.remove(axum::http::header::CONTENT_TYPE);
    let mut out = if api {
        let mut error = json!({"code": info.code, "message": t(info.lang, info.message), "fields": info.fields, "request_id": request_id});
        if let (Some(obj), Some(extra)) = (error.as_object_mut(), info.extra) {
            obj.extend(extra);
        }
        (status, Json(json!({ "error": error }))).into_response()
    } else {
        super::pages::error_page(&info, &request_id)
    };
    for (k, v) in headers.iter() {
        out.headers_mut().insert(k.clone(), v.clone());
    }
    out
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code, key) = self.error.status_and_code();
        if status.is_server_error() {
            // The request id is on the span this runs in.
            tracing::error!(error = %self.error, "request failed");
        }
        let fields = match &self.error {
            Error::Validation(f) | Error::Conflict(f) => {
                let mut m = serde_json::Map::new();
                for e in &f.0 {
                    m.entry(e.field.clone()).or_insert_with(|| json!(t(self.lang, e.reason)));
                }
                serde_json::Value::Object(m)
            }
            _ => json!({}),
        };
        error_response(status, code, key, fields, self.lang)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        HttpError::from(self).into_response()
    }
}
