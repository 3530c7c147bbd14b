//! Security headers on every response: layered once, outermost, in `router::app`, so pages,
//! the API, error pages, redirects and the fallback all carry them (docs/security.md says why
//! each one).
//!
//! The policy allows scripts and styles from our own origin only: templates hold no inline
//! `<script>`, `<style>`, `style="…"` or `on…=` handler (behaviour lives in `static/app.js`,
//! presentation in `static/app.css`); `tests/headers.rs` crawls every page to keep it so.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// The Content-Security-Policy of every response. `default-src 'self'` covers what is not
/// named (fetch for search as you type, frames, fonts); nothing inline, no `eval`; no plugin,
/// no `<base>`, no framing by anyone, forms post to this site only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Links to other sites (a customer's website) send no `Referer`: our addresses carry record
/// ids and searches. Same-origin requests keep it.
pub const REFERRER_POLICY: &str = "same-origin";

/// One year, subdomains included; sent only when the public URL is https.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000; includeSubDomains";

/// What a response whose handler says nothing about caching gets: pages, the API, errors and
/// redirects are never stored (the static files set their own caching).
pub const NO_STORE: &str = "no-store";

/// Adds the headers to `headers`: the security headers replace any a handler set; caching is
/// the handler's when it chose one, else `no-store`.
pub fn apply(headers: &mut HeaderMap, https: bool) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static(REFERRER_POLICY));
    if https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(STRICT_TRANSPORT_SECURITY));
    }
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static(NO_STORE));
}

/// The middleware (`router::app`).
pub async fn security_headers(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    apply(resp.headers_mut(), st.config.https());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_caching_is_kept_and_security_headers_win() {
        let mut h = HeaderMap::new();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
        apply(&mut h, false);
        assert_eq!(h[header::CACHE_CONTROL], "public, max-age=3600");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert!(h.get(header::STRICT_TRANSPORT_SECURITY).is_none());

        let mut h = HeaderMap::new();
        apply(&mut h, true);
        assert_eq!(h[header::CACHE_CONTROL], NO_STORE);
        assert_eq!(h[header::STRICT_TRANSPORT_SECURITY], STRICT_TRANSPORT_SECURITY);
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    }
}
