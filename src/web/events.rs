//! The live page's feed: `GET /api/events` (Server-Sent Events) sends the
//! status whenever the director publishes one (at most every
//! [`MIN_GAP`], and at least every [`HEARTBEAT`] so a page can tell a
//! quiet box from a gone one), and a `panel` event whenever the display's
//! frame changes; `GET /panel.png` serves that frame.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State as Extract;
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{State, status_json};

/// The least time between two status events to one page.
const MIN_GAP: Duration = Duration::from_millis(200);
/// The most time between two status events, changed or not.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long `/panel.png` waits for the screen's fresh frame: it comes at
/// once when the picture changed; when it did not, there is nothing newer
/// to wait for, and two of the screen's periods are the cost of asking.
const FRESH_FRAME_WAIT: Duration = Duration::from_millis(250);

pub async fn events(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    if let Err(refusal) = state.access.reader(&headers) {
        return refusal.into_response();
    }
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(4);
    tokio::spawn(feed(state, tx));
    Sse::new(ReceiverStream::new(rx)).into_response()
}

/// Sends events until the page goes away or the box stops.
async fn feed(state: State, tx: mpsc::Sender<Result<Event, Infallible>>) {
    let mut status = state.status.clone();
    // While this page is open the screen renders at its full rate.
    let mut watching = state.panel.watch();
    let panel = &mut watching.frames;
    let mut panel_open = true;
    let mut frames: u64 = 0;
    // The page gets both at once when it connects.
    status.mark_changed();
    panel.mark_changed();
    loop {
        let (event, is_status) = tokio::select! {
            biased;
            changed = status.changed() => match changed {
                Ok(()) => (status_event(&state), true),
                Err(_) => break,
            },
            changed = panel.changed(), if panel_open => match changed {
                Ok(()) => {
                    panel.borrow_and_update();
                    frames += 1;
                    (Event::default().event("panel").data(frames.to_string()), false)
                }
                // Whoever drew the frames has stopped: the last one stays.
                Err(_) => {
                    panel_open = false;
                    continue;
                }
            },
            () = tokio::time::sleep(HEARTBEAT) => (status_event(&state), true),
        };
        if tx.send(Ok(event)).await.is_err() {
            break;
        }
        if is_status {
            status.borrow_and_update();
            tokio::time::sleep(MIN_GAP).await;
        }
    }
}

fn status_event(state: &State) -> Event {
    match status_json(state) {
        Ok(json) => Event::default().event("status").data(json),
        Err(e) => Event::default().event("problem").data(e),
    }
}

/// `GET /panel.png`: the front-panel display as it shows now.
pub async fn panel_png(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    if let Err(refusal) = state.access.reader(&headers) {
        return refusal.into_response();
    }
    // Nobody may have been watching: the screen renders a fresh frame
    // within one of its periods once asked to (a picture of the status as
    // it is now, not as it was when someone last looked).
    let mut watching = state.panel.watch();
    watching.frames.borrow_and_update();
    let _ = tokio::time::timeout(FRESH_FRAME_WAIT, watching.frames.changed()).await;
    let png = watching.frames.borrow().png();
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        png,
    )
        .into_response()
}
