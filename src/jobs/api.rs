//! The job queue over HTTP. On the web server, read-only and under the
//! same reading rule as `/api/status`: `GET /api/jobs`, `GET /api/jobs/{id}`.
//! On the control socket (`onair job` while the box runs), also
//! `POST /api/jobs` (a [`NewJob`] as JSON), `POST /api/jobs/{id}/retry`
//! and `POST /api/jobs/{id}/cancel`. Answers are JSON: the job or jobs,
//! or `{"error": …}` in words.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{JobError, Jobs, NewJob};
use crate::web::access::Access;

#[derive(Clone)]
struct Api {
    jobs: Jobs,
    /// The web server's reading rule; `None` on the control socket, whose
    /// mode already says who may use it.
    access: Option<Arc<Access>>,
}

/// `/api/jobs` for the web server: reading only.
pub fn read_routes<S: Clone + Send + Sync + 'static>(jobs: Jobs, access: Arc<Access>) -> Router<S> {
    Router::new()
        .route("/api/jobs", get(list))
        .route("/api/jobs/{id}", get(show))
        .with_state(Api {
            jobs,
            access: Some(access),
        })
}

/// `/api/jobs` for the control socket: reading, adding, retrying, cancelling.
pub fn control_routes<S: Clone + Send + Sync + 'static>(jobs: Jobs) -> Router<S> {
    Router::new()
        .route("/api/jobs", get(list).post(add))
        .route("/api/jobs/{id}", get(show))
        .route("/api/jobs/{id}/retry", post(retry))
        .route("/api/jobs/{id}/cancel", post(cancel))
        .with_state(Api { jobs, access: None })
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn refusal(error: &JobError) -> Response {
    let status = match error {
        JobError::NoSuchJob(_) => StatusCode::NOT_FOUND,
        JobError::Refused(_) | JobError::Cycle(_) => StatusCode::UNPROCESSABLE_ENTITY,
        JobError::Database(_) | JobError::Corrupt { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    json(
        status,
        serde_json::json!({ "error": error.to_string() }).to_string(),
    )
}

/// The answer to a blocking call on the queue (sled flushes to storage).
async fn answer<T: serde::Serialize + Send + 'static>(
    work: impl FnOnce() -> Result<T, JobError> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => match serde_json::to_string(&value) {
            Ok(body) => json(StatusCode::OK, body),
            Err(e) => refusal(&JobError::Refused(e.to_string())),
        },
        Ok(Err(e)) => refusal(&e),
        Err(e) => refusal(&JobError::Refused(format!("the job queue failed: {e}"))),
    }
}

/// The refusal, when the asker may not read the queue.
fn refused_reader(api: &Api, headers: &HeaderMap) -> Option<Response> {
    let access = api.access.as_ref()?;
    access
        .reader(headers)
        .err()
        .map(IntoResponse::into_response)
}

async fn list(Extract(api): Extract<Api>, headers: HeaderMap) -> Response {
    if let Some(refused) = refused_reader(&api, &headers) {
        return refused;
    }
    answer(move || api.jobs.list()).await
}

async fn show(
    Extract(api): Extract<Api>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<u64>,
) -> Response {
    if let Some(refused) = refused_reader(&api, &headers) {
        return refused;
    }
    answer(move || api.jobs.get(id)).await
}

async fn add(Extract(api): Extract<Api>, body: Bytes) -> Response {
    let new: NewJob = match serde_json::from_slice(&body) {
        Ok(new) => new,
        Err(e) => {
            return refusal(&JobError::Refused(format!(
                "the job asked for cannot be read ({e}); use `onair job add`"
            )));
        }
    };
    answer(move || api.jobs.add(new)).await
}

async fn retry(Extract(api): Extract<Api>, UrlPath(id): UrlPath<u64>) -> Response {
    answer(move || api.jobs.retry(id)).await
}

async fn cancel(Extract(api): Extract<Api>, UrlPath(id): UrlPath<u64>) -> Response {
    answer(move || api.jobs.cancel(id)).await
}
