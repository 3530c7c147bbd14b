//! The web layer: one axum application serving the HTML UI, the JSON API under `/api/v1`,
//! the OpenAPI document and health checks. Every route and the right it requires is listed
//! in [`router`]; [`auth`] enforces it before any handler runs.

pub mod api;
pub mod auth;
pub mod error;
pub mod form;
pub mod headers;
pub mod json;
pub mod listing;
pub mod lists;
pub mod openapi;
pub mod pages;
pub mod partner;
pub mod portal;
pub mod reports;
pub mod request;
pub mod router;
pub mod telemetry;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use tracing::Instrument;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::jobs::Registry;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub clock: SharedClock,
    pub config: Arc<Config>,
    pub jobs: Arc<Registry>,
    /// Where documents attached to records are kept.
    pub storage: crate::service::documents::Storage,
    /// Authenticated principals, reused for a moment (`access::cache`).
    pub principals: Arc<crate::access::cache::PrincipalCache>,
}

impl AppState {
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }
    pub fn job_context(&self) -> crate::jobs::JobContext {
        crate::jobs::JobContext::new(self.db.clone(), self.clock.clone(), self.config.clone())
    }
}

pub use request::RequestId;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

fn new_request_id() -> String {
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The route of a request that matched none (404s, probes): its raw path is never logged,
/// since a path may hold a secret link or an address typed by someone.
pub const UNMATCHED_ROUTE: &str = "(unmatched)";

/// Routes polled by probes and scrapers: their log line is at debug level.
fn quiet_route(route: &str) -> bool {
    matches!(route, "/healthz" | "/readyz" | "/metrics")
}

/// Assigns the request id (or keeps a sane one given by a proxy), opens the log span, adds
/// the id to the response and to JSON error bodies, and writes the request's one log line
/// (target `carnet::request`): request id, method, route (the path template of the route
/// table, such as `/customers/{id}`, never the raw URI nor the query), status, latency and
/// the user's id. It also counts the request in the metrics (`http::metrics`). Layered with
/// `Router::layer`, it runs after routing, so the matched route is known.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_string)
        .unwrap_or_else(new_request_id);
    req.extensions_mut().insert(RequestId(id.clone()));
    let route: String =
        req.extensions().get::<axum::extract::MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| UNMATCHED_ROUTE.into());
    let method = req.method().clone();
    let user = request::LoggedUser::default();
    req.extensions_mut().insert(user.clone());
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let started = std::time::Instant::now();
    let mut resp = next.run(req).instrument(span).await;
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    record_request(method.as_str(), &route, status, elapsed);
    let latency_ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let user_id = user.get().unwrap_or("-");
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(target: "carnet::request", request_id = %id, method = %method, route = %route, status, latency_ms, user_id, "request")
        };
    }
    if status >= 500 {
        line!(warn);
    } else if quiet_route(&route) {
        line!(debug);
    } else {
        line!(info);
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp
}

/// Counts a request in the metrics (`http::telemetry` serves them): by method, route
/// template and status, and its latency by method and route.
fn record_request(method: &str, route: &str, status: u16, elapsed: std::time::Duration) {
    metrics::counter!("carnet_http_requests_total", "method" => method.to_string(), "route" => route.to_string(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("carnet_http_request_duration_seconds", "method" => method.to_string(), "route" => route.to_string())
        .record(elapsed.as_secs_f64());
}

/// `/healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `/readyz`: the database answers and the schema is current.
pub async fn readyz(State(st): State<AppState>) -> Response {
    match st.db.ready().await {
        Ok(true) => "ready".into_response(),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, "migrations pending").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router::app(state);
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).with_graceful_shutdown(shutdown).await
}

/// The address `to` with `notice=` added to its query, before any `#fragment` (a notice put
/// after the fragment is part of the fragment and never reaches the server).
pub fn notice_url(to: &str, notice: &str) -> String {
    let (path, fragment) = match to.find('#') {
        Some(i) => to.split_at(i),
        None => (to, ""),
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}notice={notice}{fragment}")
}

/// A redirect to `to` that shows the success message `notice` there (see [`notice_url`]).
pub fn redirect_notice(to: &str, notice: &str) -> Response {
    axum::response::Redirect::to(&notice_url(to, notice)).into_response()
}
