//! Service endpoints outside the API prefix: JWKS for other services' token verification,
//! liveness and readiness probes, and Prometheus metrics.

use super::cookies::constant_time_eq;
use super::dto::HealthResponse;
use super::problem::ApiError;
use super::problem::ProblemBody;
use super::AppState;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sesame_domain::AuthError;

/// Public signing keys (RFC 7517 JWK Set): the access-token key (Ed25519) and the ID-token keys
/// (RS256 and EdDSA). An HS256 secret is never published: in HS256 mode only the ID-token keys
/// are.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta",
    responses((status = 200, description = "JWK Set", body = Object)))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut resp = Json(state.provider.jwks()).into_response();
    resp.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "meta",
    responses((status = 200, description = "Alive", body = HealthResponse)))]
pub async fn live() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok" })
}

/// How long readiness waits for the database: a probe must get an answer within about a second
/// whatever the database does (stopped, frozen, overloaded).
pub const READY_DEADLINE: std::time::Duration = std::time::Duration::from_millis(800);

/// Readiness: the database answers within [`READY_DEADLINE`].
#[utoipa::path(get, path = "/health/ready", tag = "meta",
    responses(
        (status = 200, description = "Ready", body = HealthResponse),
        (status = 503, description = "The database does not answer in time", body = HealthResponse),
    ))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<HealthResponse>) {
    let ping = tokio::time::timeout(READY_DEADLINE, state.sign_in.store().ping()).await;
    match ping.unwrap_or_else(|_| {
        Err(sesame_domain::StoreError::unavailable(
            std::io::Error::other("no answer within the readiness deadline"),
        ))
    }) {
        Ok(()) => (StatusCode::OK, Json(HealthResponse { status: "ok" })),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(HealthResponse {
                    status: "unavailable",
                }),
            )
        }
    }
}

/// Prometheus metrics in the text exposition format (not part of the JSON API). With
/// `SESAME_METRICS_TOKEN` set, only for `Authorization: Bearer <token>` (compared in constant
/// time); a missing or wrong token is a 401 problem.
///
/// # Errors
/// [`ApiError::MissingToken`] or an invalid-token error when the token is required.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    security((), ("metrics" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4 (see README, Metrics)", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 401, description = "`missing_token` or `invalid_token`: `SESAME_METRICS_TOKEN` is set and the request lacks `Authorization: Bearer <that token>`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(expected) = &state.metrics_token {
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::MissingToken)?;
        if !constant_time_eq(presented.as_bytes(), expected.expose().as_bytes()) {
            return Err(AuthError::InvalidToken("metrics_token").into());
        }
    }
    let in_flight = state
        .max_in_flight
        .saturating_sub(state.in_flight.available_permits());
    let mut resp = state
        .metrics
        .render(in_flight, state.detached.len())
        .into_response();
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
