//! `/api/v1/tokens`: the caller's own API tokens.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::ListOf;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::json::{ApiInput, ApiJson};
use crate::http::AppState;
use crate::identity::token::{self, ApiToken};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    /// Days until the token stops working: 90 when absent, 0 for no expiry, at most 3650.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 3650)]
    pub expires_in_days: Option<i64>,
}

impl ApiInput for NewToken {}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: ApiToken,
    /// The secret: shown only in this answer.
    pub secret: String,
}

/// The caller's tokens (secrets are never shown again).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "account", responses((status = 200, body = ListOf<ApiToken>)))]
pub async fn list(State(st): State<AppState>, c: Ctx) -> Result<Json<ListOf<ApiToken>>, HttpError> {
    let items = token::list_for(&st.db, c.p.user_id).await?;
    Ok(Json(ListOf { items, next_cursor: None }))
}

/// Creates a token acting with the caller's rights.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "account", request_body = NewToken, responses((status = 201, body = CreatedToken)))]
pub async fn create(
    State(st): State<AppState>,
    c: Ctx,
    ApiJson(n): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), HttpError> {
    let expiry = token::Expiry::parse(n.expires_in_days)?;
    let (token, secret) = token::create_with(&st.db, &c.actor(), st.now(), c.p.user_id, &n.name, expiry).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, secret })))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "account", responses((status = 204), (status = 404)))]
pub async fn revoke(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    token::revoke(&st.db, &c.actor(), st.now(), c.p.user_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
