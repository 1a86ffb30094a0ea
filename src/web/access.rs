//! Who is asking the web server, and whether they may: a bearer token
//! (`Authorization: Bearer TOKEN`, for scripts), or a logged-in page (the
//! `onair_session` cookie). Control always needs one of them; reading the
//! status needs one only when `web.read_requires_login` is set.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::sessions::{self, Sessions, Throttle};
use crate::auth::{self, SecretsFile, password, tokens};
use crate::director::Who;

/// The one hint a box without a password gives, on the page and in every
/// refused control request.
pub const NO_PASSWORD: &str = "no control password set";
pub const NO_PASSWORD_FIX: &str = "on the box, run: onair passwd";

/// The box's secrets, its open sessions and the brake on guessing.
pub struct Access {
    pub secrets: SecretsFile,
    pub sessions: Sessions,
    pub throttle: Throttle,
    pub read_requires_login: bool,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No password (and no token) is set yet: 403 with the hint.
    NoPassword,
    /// No credentials, or wrong ones: 401 with `WWW-Authenticate: Bearer`.
    Unauthorized(String),
    /// The secrets file cannot be read.
    Secrets(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::NoPassword => error(
                StatusCode::FORBIDDEN,
                NO_PASSWORD,
                Some(NO_PASSWORD_FIX.to_string()),
            ),
            Refusal::Unauthorized(why) => {
                let mut answer = error(StatusCode::UNAUTHORIZED, &why, None);
                answer.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"onair\""),
                );
                answer
            }
            Refusal::Secrets(why) => error(StatusCode::INTERNAL_SERVER_ERROR, &why, None),
        }
    }
}

/// A JSON error answer: `{"error": …, "fix": …}`.
pub fn error(status: StatusCode, message: &str, fix: Option<String>) -> Response {
    let mut body = serde_json::json!({ "error": message });
    if let Some(fix) = fix {
        body["fix"] = fix.into();
    }
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

impl Access {
    pub fn new(data: &std::path::Path, idle: Duration, read_requires_login: bool) -> Access {
        Access {
            secrets: SecretsFile::new(data),
            sessions: Sessions::new(idle),
            throttle: Throttle::default(),
            read_requires_login,
        }
    }

    fn current(&self) -> Result<std::sync::Arc<auth::Secrets>, Refusal> {
        self.secrets.current().map_err(Refusal::Secrets)
    }

    /// Who gives a command, or why they may not.
    pub fn controller(&self, headers: &HeaderMap) -> Result<Who, Refusal> {
        let secrets = self.current()?;
        if let Some(token) = bearer(headers)? {
            if secrets.is_empty() {
                return Err(Refusal::NoPassword);
            }
            return tokens::find(&secrets.tokens, token)
                .map(|name| Who::Token(name.to_string()))
                .ok_or_else(|| Refusal::Unauthorized("unknown or revoked token".into()));
        }
        if self.session(headers, &secrets) {
            return Ok(Who::Page);
        }
        if secrets.password.is_none() {
            return Err(Refusal::NoPassword);
        }
        Err(Refusal::Unauthorized(
            "log in on the page, or send `Authorization: Bearer TOKEN` (onair token add NAME)"
                .into(),
        ))
    }

    /// Whether the status may be read: by anyone, unless
    /// `web.read_requires_login`; then as for control.
    pub fn reader(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        if self.read_requires_login {
            self.controller(headers)?;
        }
        Ok(())
    }

    /// Whether the request comes from a logged-in page.
    pub fn logged_in(&self, headers: &HeaderMap) -> bool {
        self.current()
            .map(|secrets| self.session(headers, &secrets))
            .unwrap_or(false)
    }

    fn session(&self, headers: &HeaderMap, secrets: &auth::Secrets) -> bool {
        let Some(phc) = &secrets.password else {
            return false;
        };
        session_id(headers)
            .is_some_and(|id| self.sessions.check(id, Some(password::fingerprint(phc))))
    }
}

/// The session id in the request's cookies.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| sessions::cookie(v, sessions::COOKIE))
}

/// The bearer token, if the request has an `Authorization` header; one
/// that is not `Bearer TOKEN` is refused rather than ignored.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    match text.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(Refusal::Unauthorized(
            "the Authorization header must be `Bearer TOKEN`".into(),
        )),
    }
}
