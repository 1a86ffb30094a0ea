//! Control over the web: logging in and out, the director's commands
//! (`POST /api/live|auto|skip`) and the simulated front-panel buttons
//! (`POST /api/press/{button}`). Every one is a POST behind the cross-site
//! guard, and needs a logged-in page or a bearer token ([`super::access`]).

use std::net::SocketAddr;

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Form, Path, State as Extract};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tracing::{info, warn};

use super::State;
use super::access::{Refusal, error, session_id};
use super::sessions::{COOKIE, Failures};
use crate::auth::password;
use crate::director::{Command, CommandError, Done, Who};
use crate::hw::Button;

fn ok(body: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The director's answer as JSON: 200 with what it did, or 409 with why not.
pub fn answer(command: Command, by: &Who, result: Result<Done, CommandError>) -> Response {
    let name = format!("{command:?}").to_lowercase();
    match result {
        Ok(done) => ok(serde_json::json!({
            "ok": true, "command": name, "by": by.to_string(), "answer": done.to_string(),
        })),
        Err(e) => {
            let mut answer = error(StatusCode::CONFLICT, &e.to_string(), None);
            if let Ok(value) = HeaderValue::from_str(&name) {
                answer.headers_mut().insert("x-onair-command", value);
            }
            answer
        }
    }
}

/// Gives the director `command` on behalf of `by` and answers with its answer.
pub async fn give(state: &State, command: Command, by: Who) -> Response {
    let result = state.controls.send(command, by.clone()).await;
    answer(command, &by, result)
}

async fn control(state: State, headers: HeaderMap, command: Command) -> Response {
    match state.access.controller(&headers) {
        Ok(by) => give(&state, command, by).await,
        Err(refusal) => refusal.into_response(),
    }
}

pub async fn live(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    control(state, headers, Command::Live).await
}

pub async fn auto(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    control(state, headers, Command::Auto).await
}

pub async fn skip(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    control(state, headers, Command::Skip).await
}

/// Presses a simulated front-panel button for `by`: the panel then gives
/// the command as if the button on the box was pressed.
pub async fn press_for(state: &State, button: &str, by: &Who) -> Response {
    let button: Button = match button.parse() {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e, None),
    };
    let Some(buttons) = &state.buttons else {
        return error(
            StatusCode::NOT_FOUND,
            "this box has no simulated buttons: its front panel has real ones",
            Some(format!(
                "press {} on the box, or use `onair {button}`",
                button.as_str().to_uppercase()
            )),
        );
    };
    info!("simulated {button} button pressed by {by}");
    buttons.press(button).await;
    ok(serde_json::json!({
        "ok": true, "pressed": button.as_str(), "by": by.to_string(),
        "answer": format!("pressed {} on the simulated front panel", button.as_str().to_uppercase()),
    }))
}

pub async fn press(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    Path(button): Path<String>,
) -> Response {
    match state.access.controller(&headers) {
        Ok(by) => press_for(&state, &button, &by).await,
        Err(refusal) => refusal.into_response(),
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    password: String,
}

/// A form the box cannot take: too large, or without the field.
pub fn bad_form(rejection: FormRejection, expected: &str) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large();
    }
    error(
        StatusCode::BAD_REQUEST,
        &format!("{expected} ({})", rejection.body_text()),
        None,
    )
}

pub fn too_large() -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "the request body is too large for a control request",
        None,
    )
}

/// `POST /login` (form field `password`): a session cookie, or 401 after
/// a delay that grows with each failure in a row from the same client.
pub async fn login(
    Extract(state): Extract<State>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Form(form) = match form {
        Ok(form) => form,
        Err(rejection) => {
            return bad_form(
                rejection,
                "expected a form (application/x-www-form-urlencoded) with the field password",
            );
        }
    };
    let secrets = match state.access.secrets.current() {
        Ok(s) => s,
        Err(e) => return Refusal::Secrets(e).into_response(),
    };
    let Some(phc) = secrets.password.clone() else {
        return Refusal::NoPassword.into_response();
    };
    // One attempt at a time per client: guesses sent in parallel wait
    // behind the delay of the one before.
    let failures = state.access.throttle.of(client.ip());
    let mut failures = failures.lock().await;
    failures.refresh(std::time::Instant::now());
    let checked = phc.clone();
    let right = tokio::task::spawn_blocking(move || password::verify(&form.password, &checked))
        .await
        .unwrap_or(false);
    if !right {
        failures.count += 1;
        failures.last = Some(std::time::Instant::now());
        let delay = Failures::delay(failures.count);
        warn!(
            "failed login from {} ({} in a row); answering in {delay:?}",
            client.ip(),
            failures.count
        );
        tokio::time::sleep(delay).await;
        return Refusal::Unauthorized("wrong password".into()).into_response();
    }
    *failures = Failures::default();
    let id = state.access.sessions.open(password::fingerprint(&phc));
    info!("logged in from {}", client.ip());
    let mut answer = ok(serde_json::json!({ "ok": true }));
    set_cookie(
        &mut answer,
        &format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/"),
    );
    answer
}

/// `POST /logout`: the session ends and the cookie is cleared.
pub async fn logout(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        state.access.sessions.close(id);
    }
    let mut answer = ok(serde_json::json!({ "ok": true }));
    set_cookie(
        &mut answer,
        &format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    answer
}

fn set_cookie(answer: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        answer.headers_mut().insert(header::SET_COOKIE, value);
    }
}

/// `GET /api/session`: what the page should offer this visitor.
pub async fn session(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    let secrets = state.access.secrets.current();
    let password_set = secrets.as_ref().is_ok_and(|s| s.password.is_some());
    ok(serde_json::json!({
        "logged_in": state.access.logged_in(&headers),
        "password_set": password_set,
        "hint": (!password_set).then_some(format!(
            "{}: {}", super::access::NO_PASSWORD, super::access::NO_PASSWORD_FIX
        )),
        "buttons": state.buttons.is_some(),
        "read_requires_login": state.access.read_requires_login,
    }))
}
