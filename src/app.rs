//! Start-up: connect, migrate, make sure the built-in data exists, build the state that the
//! web layer and the jobs share. The job registry is assembled in [`crate::wiring`].

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::http::AppState;

/// Connects to the configured database, applies migrations and creates the built-in roles,
/// lists and settings that are missing.
pub async fn prepare(config: Config, clock: SharedClock) -> anyhow::Result<AppState> {
    config.check().map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let db = Db::connect(&config.database_url, config.database_schema.as_deref(), config.database_max_connections).await?;
    crate::db::migrate(&db, clock.now_ms()).await?;
    crate::access::roles::ensure_defaults(&db, clock.now_ms()).await?;
    crate::lists::ensure_builtin(&db, clock.now_ms()).await?;
    // The sales dashboard's figures (migration 31): their triggers, and a rebuild when new or
    // of another time zone.
    crate::reports::figures::ensure(&db, clock.now_ms()).await?;
    let storage = crate::service::documents::Storage::from_config(&config)?;
    if config.metrics_enabled {
        crate::http::telemetry::install();
    }
    Ok(AppState {
        db,
        clock,
        config: Arc::new(config),
        jobs: Arc::new(crate::wiring::registry()),
        storage,
        principals: Arc::new(Default::default()),
    })
}
