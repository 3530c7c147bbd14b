//! The HTTP face of [`crate::error::Error`]: one JSON shape for the API
//! (`{"error": {"code", "message", "fields", "request_id"}}`), an error page for the UI.
//!
//! Two halves, so that handlers carry no language:
//! - a handler, extractor or the guard returns an [`HttpError`] (any [`Error`] or sqlx error
//!   converts with `?`) or calls [`error_response`]; either leaves only the status and an
//!   [`ErrorInfo`] (the typed error: code, message key, field reasons as keys) in the
//!   response's extensions;
//! - [`render_errors`], the outer middleware, writes the body in the request's language
//!   (the [`Lang`] the guard recorded, else the cookie's for pages, English for the API) with
//!   the request id, and logs a fault once with that id; the client sees only the generic
//!   message and the id.
//!
//! This module depends only on the error type, i18n, its own template and
//! [`super::request`]; never on the guard or the pages.

use std::sync::Arc;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;

use super::request::{cookie_lang, RequestId};
use crate::error::{Error, FieldErrors};
use crate::i18n::{t, Lang, Tr};

/// An error response on its way out. Handlers, extractors and the guard only attach this;
/// [`render_errors`] writes the body (JSON for `/api/`, an HTML page otherwise) in the
/// request's language, with the request id.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub status: StatusCode,
    pub code: &'static str,
    /// Message key.
    pub message: &'static str,
    /// Per-field reasons (message keys), said in the request's language when rendered.
    pub fields: FieldErrors,
    /// More members of the API's error object, set by a handler on its response (the
    /// `existing` customers of a creation conflict).
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
    /// The fault behind a 500, logged once by [`render_errors`] with the request id and never
    /// shown.
    pub fault: Option<Arc<Error>>,
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

/// The error type of handlers: a domain error on its way out. It carries no language: the
/// rendering layer says it in the request's.
#[derive(Debug)]
pub struct HttpError(pub Error);

impl From<Error> for HttpError {
    fn from(error: Error) -> Self {
        HttpError(error)
    }
}

impl From<sqlx::Error> for HttpError {
    fn from(e: sqlx::Error) -> Self {
        HttpError(Error::Db(e))
    }
}

/// An error response; the body is written by [`render_errors`].
pub fn error_response(status: StatusCode, code: &'static str, message_key: &'static str, fields: FieldErrors) -> Response {
    let mut resp = status.into_response();
    resp.extensions_mut().insert(ErrorInfo { status, code, message: message_key, fields, extra: None, fault: None });
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

/// The body of every API error (documented as the `ErrorBody` component of the OpenAPI
/// document, from this type).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorObject {
    /// Stable machine code: `bad_request`, `malformed_json`, `unauthenticated`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `invalid_state`, `payload_too_large`, `unsupported_media_type`,
    /// `validation_failed`, `rate_limited`, `internal`.
    #[schema(example = "validation_failed")]
    pub code: &'static str,
    /// The message in the request's language.
    pub message: String,
    /// Each field at fault (a JSON path such as `lines.0.quantity`, or `body`) and its reason.
    pub fields: std::collections::BTreeMap<String, String>,
    /// The request's id (also in the `X-Request-Id` header): quote it when reporting a fault.
    pub request_id: String,
    /// More members on some errors (`existing`: the customers holding a phone or email, on the
    /// 409 of a customer creation).
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Writes the body of every error response: the JSON error shape under `/api/`, the error
/// page elsewhere, in the request's language and with its id. Also catches axum's own
/// rejections (bad path parameter, bad form, wrong method) so they get the same shape.
pub async fn render_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let cookie_lang = cookie_lang(req.headers());
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    // The language the guard chose for this request (the user's, else the cookie's for pages,
    // English for the API); routes the guard did not run for use the same default.
    let lang = resp.extensions().get::<Lang>().copied().unwrap_or(if api { Lang::En } else { cookie_lang });
    let info = match resp.extensions().get::<ErrorInfo>() {
        Some(i) => i.clone(),
        None => {
            let already_rendered = resp
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
            if already_rendered {
                return resp;
            }
            let (code, message) = generic_for(status);
            ErrorInfo { status, code, message, fields: FieldErrors::new(), extra: None, fault: None }
        }
    };
    if let Some(fault) = &info.fault {
        tracing::error!(request_id = %request_id, error = %fault, "request failed");
    }
    let mut headers = resp.headers().clone();
    headers.remove(axum::http::header::CONTENT_LENGTH);
    headers.remove(axum::http::header::CONTENT_TYPE);
    let mut out = if api {
        let mut fields = std::collections::BTreeMap::new();
        for e in &info.fields.0 {
            fields.entry(e.field.clone()).or_insert_with(|| t(lang, e.reason));
        }
        let error = ErrorObject {
            code: info.code,
            message: t(lang, info.message),
            fields,
            request_id: request_id.clone(),
            extra: info.extra.unwrap_or_default(),
        };
        (status, Json(ErrorBody { error })).into_response()
    } else {
        error_page(status, info.message, lang, &request_id)
    };
    for (k, v) in headers.iter() {
        out.headers_mut().insert(k.clone(), v.clone());
    }
    out
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    tr: Tr,
    status: u16,
    message: String,
    request_id: &'a str,
}

/// The HTML error page.
fn error_page(status: StatusCode, message_key: &str, lang: Lang, request_id: &str) -> Response {
    let page = ErrorPage { tr: Tr(lang), status: status.as_u16(), message: t(lang, message_key), request_id };
    let html = page.render().unwrap_or_else(|_| format!("Error {} ({request_id})", status.as_u16()));
    (status, Html(html)).into_response()
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code, key) = self.0.status_and_code();
        let fields = match &self.0 {
            Error::Validation(f) | Error::Conflict(f) => f.clone(),
            _ => FieldErrors::new(),
        };
        let mut resp = error_response(status, code, key, fields);
        if status.is_server_error() {
            if let Some(info) = resp.extensions_mut().get_mut::<ErrorInfo>() {
                info.fault = Some(Arc::new(self.0));
            }
        }
        resp
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        HttpError::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;
    use serde_json::json;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    async fn failing() -> Result<&'static str, HttpError> {
        Err(Error::internal("secret path /var/lib/carnet and SELECT * FROM users"))?
    }

    /// A 500 is logged once, with the request id and the full error; the body holds neither.
    #[test]
    fn a_fault_is_logged_once_with_the_request_id() {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let body = tracing::subscriber::with_default(subscriber, || {
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            rt.block_on(async {
                let app = Router::new().route("/api/v1/x", get(failing)).layer(axum::middleware::from_fn(render_errors)).layer(
                    axum::middleware::from_fn(|mut req: axum::extract::Request, next: axum::middleware::Next| async move {
                        req.extensions_mut().insert(RequestId("rid-42".into()));
                        next.run(req).await
                    }),
                );
                let resp =
                    app.oneshot(axum::http::Request::get("/api/v1/x").body(Body::empty()).expect("request")).await.expect("response");
                assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
                let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16).await.expect("body");
                String::from_utf8(bytes.to_vec()).expect("utf-8")
            })
        });
        let body: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            body,
            json!({"error": {"code": "internal", "message": t(Lang::En, "error.internal"), "fields": {}, "request_id": "rid-42"}})
        );
        let logs = String::from_utf8(logs.0.lock().expect("logs").clone()).expect("utf-8");
        assert_eq!(logs.matches("request failed").count(), 1, "{logs}");
        assert!(logs.contains("rid-42") && logs.contains("secret path /var/lib/carnet"), "{logs}");
    }
}
