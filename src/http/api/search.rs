//! `GET /api/v1/search`: the global search's grouped results, as the `/search` page shows them.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::global_search::{self, Group};
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// What to look for (at most 100 characters): names, emails, phone digits (word prefixes,
    /// accents and case ignored), a request number in full or in part (`DEM-2026-000123`,
    /// `000123`, `123`), the beginning of a serial number (3 characters at least).
    pub q: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    /// The query as searched (trimmed).
    pub q: String,
    /// One group per kind with results (at most 8 each), among the kinds the caller may read:
    /// requests, customers, contacts, opportunities, equipment.
    pub groups: Vec<Group>,
}

/// Customers, contacts, opportunities, service requests and equipment matching `q`, each kind
/// only with its read right and filtered by the caller's visibility.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchQuery), responses((status = 200, body = SearchResults), (status = 422)))]
pub async fn search(State(st): State<AppState>, c: Ctx, Query(q): Query<SearchQuery>) -> Result<Json<SearchResults>, HttpError> {
    let a = global_search::Allowed::of(&c.p);
    let groups = match global_search::Query::parse(q.q.as_deref().unwrap_or(""))? {
        Some(q) => global_search::search(&st.db, &c.p.visibility, a, &q).await?,
        None => Vec::new(),
    };
    Ok(Json(SearchResults { q: q.q.unwrap_or_default().trim().to_string(), groups }))
}
