//! The control socket: a Unix socket in the data folder (mode 0660, so the
//! box's user and group may use it) where `onair live|auto|skip|press` on
//! the box talk to it with no secret. The kernel says who is asking
//! (`SO_PEERCRED`), and the director records the command as by `uid N`.
//!
//! The same HTTP as the web server, without its login:
//! `POST /api/live|auto|skip`, `POST /api/press/{button}`,
//! `GET /api/status`, `GET /api/log` (for `onair status` and `onair log`
//! on a box whose page needs a login to read, `web.read_requires_login`),
//! and `/api/jobs` for `onair job` ([`crate::jobs::api`]).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Path as UrlPath, Query, State as Extract};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::IncomingStream;
use tokio::net::UnixListener;
use tracing::error;

use super::control::{give, press_for};
use super::{LogQuery, State, access::error, json, log_answer, status_json};
use crate::director::{Command, Who};

/// Who is on the other end of a connection, as the kernel says.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub uid: Option<u32>,
}

impl Connected<IncomingStream<'_, UnixListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, UnixListener>) -> Self {
        Peer {
            uid: stream.io().peer_cred().ok().map(|c| c.uid()),
        }
    }
}

/// Longest path a Unix socket can have (`sun_path` less its final NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Binds the control socket at `path`, mode 0660. A socket left by a box
/// that stopped is replaced; one a running box answers on is not.
pub fn bind(path: &Path) -> Result<UnixListener> {
    let length = path.as_os_str().len();
    if length > MAX_SOCKET_PATH {
        bail!(
            "the control socket {} is {length} bytes long, more than a Unix socket may be \
             ({MAX_SOCKET_PATH}): set web.control_socket to a shorter path, such as \
             /run/onair/control.sock",
            path.display()
        );
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "another box is running with the control socket {}: stop it first, or give \
                 this one its own data folder or web.control_socket",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove the old control socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path).with_context(|| {
        format!(
            "cannot create the control socket {} (web.control_socket): check that its folder \
             exists and is writable by the box's user",
            path.display()
        )
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("cannot set the mode of {} to 0660", path.display()))?;
    Ok(listener)
}

pub fn router(state: State) -> Router {
    Router::new()
        .route("/api/live", post(live))
        .route("/api/auto", post(auto))
        .route("/api/skip", post(skip))
        .route("/api/press/{button}", post(press))
        .route("/api/status", get(status))
        .route("/api/log", get(log))
        .with_state(state)
}

pub async fn serve(listener: UnixListener, state: State) {
    serve_with_jobs(listener, state, None).await
}

/// [`serve`], with the job queue's `/api/jobs` (read, add, retry, cancel)
/// for `onair job` when the box runs one.
pub async fn serve_with_jobs(
    listener: UnixListener,
    state: State,
    jobs: Option<crate::jobs::Jobs>,
) {
    let mut router = router(state);
    if let Some(jobs) = jobs {
        router = router.merge(crate::jobs::api::control_routes(jobs));
    }
    let service = router.into_make_service_with_connect_info::<Peer>();
    if let Err(e) = axum::serve(listener, service).await {
        error!("control socket stopped: {e}");
    }
}

fn who(peer: Peer) -> Option<Who> {
    peer.uid.map(|uid| Who::Local { uid })
}

fn unknown_peer() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "the box cannot tell who is asking on its control socket",
        None,
    )
}

async fn command(state: State, peer: Peer, command: Command) -> Response {
    match who(peer) {
        Some(by) => give(&state, command, by).await,
        None => unknown_peer(),
    }
}

async fn live(Extract(state): Extract<State>, ConnectInfo(peer): ConnectInfo<Peer>) -> Response {
    command(state, peer, Command::Live).await
}

async fn auto(Extract(state): Extract<State>, ConnectInfo(peer): ConnectInfo<Peer>) -> Response {
    command(state, peer, Command::Auto).await
}

async fn skip(Extract(state): Extract<State>, ConnectInfo(peer): ConnectInfo<Peer>) -> Response {
    command(state, peer, Command::Skip).await
}

async fn press(
    Extract(state): Extract<State>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    UrlPath(button): UrlPath<String>,
) -> Response {
    match who(peer) {
        Some(by) => press_for(&state, &button, &by).await,
        None => unknown_peer(),
    }
}

async fn status(Extract(state): Extract<State>) -> Response {
    json(status_json(&state))
}

async fn log(
    Extract(state): Extract<State>,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    log_answer(&state, query).await
}
