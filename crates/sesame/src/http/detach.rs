//! Cancellation safety for the whole request: each request's handler runs to completion in a task
//! of its own, whatever happens to the connection that asked for it.
//!
//! A request future is dropped when its client disconnects, when the request timeout fires and
//! when the server shuts down. Dropped halfway, a handler could leave a write half done — worse,
//! on PostgreSQL sqlx's `BEGIN` is not cancel-safe and a dropped one leaves a pooled connection
//! inside a transaction that later swallows other requests' acknowledged writes (see
//! `storage/pool.rs`). So this middleware moves the rest of the request (extractors, handler,
//! service, store) into a task that nothing cancels, and waits for it; if the waiter is dropped,
//! the work still finishes and its answer is discarded. The tasks are tracked so that a graceful
//! shutdown waits for them (bounded) before the runtime stops.
//!
//! It does not bound how long the work runs: the request timeout answers the client, and the
//! database deadlines (`SESAME_DATABASE_ACQUIRE_TIMEOUT`, `SESAME_DATABASE_STATEMENT_TIMEOUT`)
//! and the body-read bounds end the work itself.

use super::problem::ApiError;
use super::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;

/// Runs the rest of the request in a tracked task of its own (see the module header).
pub async fn detach(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let work = next.run(req).instrument(tracing::Span::current());
    match state.detached.spawn(work).await {
        Ok(resp) => resp,
        // Panics are caught inside the task (`CatchPanicLayer` sits below this layer), so the
        // task can only fail by being cancelled as the runtime shuts down.
        Err(e) if e.is_panic() => ApiError::Panic.into_response(),
        Err(_) => ApiError::Busy.into_response(),
    }
}
