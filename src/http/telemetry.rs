//! Metrics in the Prometheus text format at `/metrics`, off unless `metrics_enabled`.
//!
//! Code records with the `metrics` facade where things happen (`metrics::counter!(…)`: the
//! request middleware in `http`, `jobs::execute`, email delivery, inbound mail, the login
//! throttle, `Db::begin`); without an installed recorder those calls do nothing. [`install`]
//! installs the Prometheus recorder once per process (`app::prepare`, when enabled), and
//! [`scrape`] renders it, after setting the gauges that are read from the database (job queue,
//! outbox, quarantine: each one indexed query, within [`SCRAPE_DB_TIMEOUT`]) and from the pool.
//!
//! Access: when `metrics_token` is set, the scraper must send it as a bearer token (401);
//! when `metrics_allow` is set, the client address must be in it (403); with neither, only a
//! loopback client may scrape. The same rules hold on the separate listener
//! (`metrics_listen`, [`serve`]), which serves `/metrics` alone.
//!
//! The series (see docs/operations.md): `carnet_http_requests_total{method,route,status}`,
//! `carnet_http_request_duration_seconds{method,route}` (histogram; `route` is the route
//! template), `carnet_db_pool_connections{state}`, `carnet_db_pool_max_connections`,
//! `carnet_db_acquire_seconds` (histogram: the wait to start a write transaction),
//! `carnet_db_pool_acquire_probe_seconds`, `carnet_jobs_queued{kind}`, `carnet_jobs_due{kind}`,
//! `carnet_jobs_running{kind}`, `carnet_jobs_failed{kind}`, `carnet_jobs_oldest_due_age_seconds{kind}`,
//! `carnet_job_runs_total{kind}`, `carnet_job_failures_total{kind}`, `carnet_emails_queued`,
//! `carnet_emails_failed`, `carnet_emails_sent_total`, `carnet_emails_failed_total`,
//! `carnet_inbound_polls_total{mailbox,result}`, `carnet_inbound_messages_total{outcome}`,
//! `carnet_inbound_quarantined`, `carnet_login_failures_total{realm}`,
//! `carnet_login_throttled_total{realm}`, `carnet_build_info{version,commit}`.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::AppState;
use crate::config::Config;

/// Latency buckets of every histogram, in seconds.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The most a scrape spends reading the database for its gauges; beyond it they keep their
/// last values and `carnet_scrape_database_ok` is 0.
pub const SCRAPE_DB_TIMEOUT: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder as the process's metrics recorder (once; later calls
/// return the same handle). `None` when another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new().set_buckets(BUCKETS).and_then(|b| b.install_recorder());
            match built {
                Ok(h) => {
                    metrics::gauge!("carnet_build_info", "version" => env!("CARGO_PKG_VERSION"), "commit" => env!("CARNET_GIT_COMMIT"))
                        .set(1.0);
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Why a scrape is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or the wrong one (401).
    Token,
    /// The client address is not allowed (403).
    Address,
}

/// Whether a client at `peer` sending `headers` may scrape (see the module's access rules).
pub fn check_access(config: &Config, peer: Option<IpAddr>, headers: &HeaderMap) -> Result<(), Refusal> {
    if let Some(expected) = config.metrics_token.as_deref() {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .unwrap_or("");
        if !same(given.as_bytes(), expected.trim().as_bytes()) {
            return Err(Refusal::Token);
        }
    }
    let trusted = config.trusted_proxy_nets().unwrap_or_default();
    let client: Option<IpAddr> = super::request::client_addr(peer, headers, &trusted).parse().ok();
    let allow = config.metrics_allow_nets().unwrap_or_default();
    let allowed = match client {
        None => false,
        Some(ip) if !allow.is_empty() => allow.iter().any(|n| n.contains(ip)),
        Some(_) if config.metrics_token.is_some() => true,
        Some(ip) => is_loopback(ip),
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal::Address)
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        IpAddr::V4(v4) => v4.is_loopback(),
    }
}

/// Constant-time comparison of two secrets.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /metrics`.
pub async fn scrape(State(st): State<AppState>, req: Request) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    match check_access(&st.config, peer, req.headers()) {
        Ok(()) => {}
        Err(Refusal::Token) => {
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "metrics: bearer token required\n").into_response()
        }
        Err(Refusal::Address) => return (StatusCode::FORBIDDEN, "metrics: address not allowed\n").into_response(),
    }
    let Some(handle) = install() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics: no recorder\n").into_response();
    };
    refresh_gauges(&st).await;
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
}

/// Sets the gauges read at scrape time: the pool now, then the database's queues.
async fn refresh_gauges(st: &AppState) {
    let pool = &st.db.pool;
    let size = f64::from(pool.size());
    let idle = pool.num_idle() as f64;
    metrics::gauge!("carnet_db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("carnet_db_pool_connections", "state" => "in_use").set((size - idle).max(0.0));
    metrics::gauge!("carnet_db_pool_max_connections").set(f64::from(pool.options().get_max_connections()));
    let ok = matches!(tokio::time::timeout(SCRAPE_DB_TIMEOUT, read_database(st)).await, Ok(Ok(())));
    if !ok {
        tracing::warn!("metrics: the database gauges could not be read in time");
    }
    metrics::gauge!("carnet_scrape_database_ok").set(if ok { 1.0 } else { 0.0 });
}

async fn read_database(st: &AppState) -> anyhow::Result<()> {
    let started = Instant::now();
    let conn = st.db.pool.acquire().await?;
    metrics::gauge!("carnet_db_pool_acquire_probe_seconds").set(started.elapsed().as_secs_f64());
    drop(conn);
    let now = st.now();
    let stats = crate::jobs::queue_stats(&st.db, now).await?;
    // Every known kind is reported, 0 when it has no job: a gauge otherwise keeps its last value.
    let mut kinds: Vec<String> = st.jobs.kinds().map(str::to_string).collect();
    for s in &stats {
        if !kinds.contains(&s.kind) {
            kinds.push(s.kind.clone());
        }
    }
    for kind in kinds {
        let s = stats.iter().find(|s| s.kind == kind);
        let get = |f: fn(&crate::jobs::KindStats) -> i64| s.map_or(0.0, |s| f(s) as f64);
        metrics::gauge!("carnet_jobs_queued", "kind" => kind.clone()).set(get(|s| s.queued));
        metrics::gauge!("carnet_jobs_due", "kind" => kind.clone()).set(get(|s| s.due));
        metrics::gauge!("carnet_jobs_running", "kind" => kind.clone()).set(get(|s| s.running));
        metrics::gauge!("carnet_jobs_failed", "kind" => kind.clone()).set(get(|s| s.failed));
        let age = s.and_then(|s| s.oldest_due_at).map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0);
        metrics::gauge!("carnet_jobs_oldest_due_age_seconds", "kind" => kind).set(age);
    }
    let (queued, _retrying, failed) = crate::mail::queue_state(&st.db).await?;
    metrics::gauge!("carnet_emails_queued").set(queued as f64);
    metrics::gauge!("carnet_emails_failed").set(failed as f64);
    let quarantined = crate::inbound::quarantined_count(&st.db).await?;
    metrics::gauge!("carnet_inbound_quarantined").set(quarantined as f64);
    Ok(())
}

/// Serves `/metrics` alone on its own listener (`metrics_listen`) until `shutdown`.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route("/metrics", axum::routing::get(scrape)).with_state(state);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(token: Option<&str>, allow: &[&str], proxies: &[&str]) -> Config {
        Config {
            metrics_enabled: true,
            metrics_token: token.map(str::to_string),
            metrics_allow: allow.iter().map(|s| s.to_string()).collect(),
            trusted_proxies: proxies.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn access_rules() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let none = HeaderMap::new();
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, "Bearer 0123456789abcdef".parse().unwrap());
        let mut wrong = HeaderMap::new();
        wrong.insert(header::AUTHORIZATION, "Bearer 0123456789abcdeX".parse().unwrap());
        // Neither token nor list: loopback only.
        let c = config(None, &[], &[]);
        assert_eq!(check_access(&c, ip("127.0.0.1"), &none), Ok(()));
        assert_eq!(check_access(&c, ip("::1"), &none), Ok(()));
        assert_eq!(check_access(&c, ip("192.0.2.7"), &none), Err(Refusal::Address));
        // A token: from anywhere, with the token.
        let c = config(Some("0123456789abcdef"), &[], &[]);
        assert_eq!(check_access(&c, ip("192.0.2.7"), &bearer), Ok(()));
        assert_eq!(check_access(&c, ip("127.0.0.1"), &none), Err(Refusal::Token));
        assert_eq!(check_access(&c, ip("127.0.0.1"), &wrong), Err(Refusal::Token));
        // A list: from it only (both when both are set).
        let c = config(None, &["10.0.0.0/8"], &[]);
        assert_eq!(check_access(&c, ip("10.2.3.4"), &none), Ok(()));
        assert_eq!(check_access(&c, ip("127.0.0.1"), &none), Err(Refusal::Address));
        let c = config(Some("0123456789abcdef"), &["10.0.0.0/8"], &[]);
        assert_eq!(check_access(&c, ip("192.0.2.7"), &bearer), Err(Refusal::Address));
        assert_eq!(check_access(&c, ip("10.0.0.9"), &none), Err(Refusal::Token));
        // Behind a trusted proxy, the forwarded client is the one checked; never otherwise.
        let mut fwd = HeaderMap::new();
        fwd.insert("x-forwarded-for", "10.9.9.9".parse().unwrap());
        let c = config(None, &["10.0.0.0/8"], &["127.0.0.1"]);
        assert_eq!(check_access(&c, ip("127.0.0.1"), &fwd), Ok(()));
        let c = config(None, &["10.0.0.0/8"], &[]);
        assert_eq!(check_access(&c, ip("192.0.2.7"), &fwd), Err(Refusal::Address));
    }
}
