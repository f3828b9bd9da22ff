//! The control endpoints under `/_fake/`, for processes outside the test
//! (the SDK check script, benchmarks): they are neither recorded nor counted
//! and do not consume queued behaviours.
//!
//! - `POST /_fake/push` — queue a behaviour spec (see [`crate::spec`])
//! - `POST /_fake/push_generation` — queue one only generation requests take
//! - `POST /_fake/default` — replace the default behaviour
//! - `POST /_fake/reset` — empty the queue and the log, restore the default
//! - `GET /_fake/requests` — the log as JSON: method, path, headers, body

use bytes::Bytes;
use hyper::http::request::Parts;
use hyper::http::{HeaderValue, Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::behavior::Behavior;
use crate::body::{full, RespBody};
use crate::handler::{lock, Shared};
use crate::record::Recorded;

/// The answer to a control request, or `None` for every other path.
pub(crate) fn handle(shared: &Shared, parts: &Parts, body: &Bytes) -> Option<Response<RespBody>> {
    let action = parts.uri.path().strip_prefix("/_fake/")?;
    Some(match (&parts.method, action) {
        (&Method::POST, "push") => with_spec(body, |b| shared.push(b)),
        (&Method::POST, "push_generation") => with_spec(body, |b| {
            crate::handler::lock(&shared.generation_queue).push_back((None, b))
        }),
        (&Method::POST, "default") => with_spec(body, |b| shared.set_default(b)),
        (&Method::POST, "reset") => {
            lock(&shared.queue).clear();
            lock(&shared.generation_queue).clear();
            shared.set_default(Behavior::default());
            shared.recorder.clear();
            reply(StatusCode::OK, json!({"ok": true}))
        }
        (&Method::GET, "requests") => {
            let log: Vec<Value> = shared.recorder.all().iter().map(summary).collect();
            reply(StatusCode::OK, json!(log))
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            json!({"error": "unknown control endpoint"}),
        ),
    })
}

fn with_spec(body: &Bytes, apply: impl FnOnce(Behavior)) -> Response<RespBody> {
    let parsed = serde_json::from_slice::<Value>(body)
        .map_err(|e| format!("invalid JSON: {e}"))
        .and_then(|spec| Behavior::from_spec(&spec));
    match parsed {
        Ok(behavior) => {
            apply(behavior);
            reply(StatusCode::OK, json!({"ok": true}))
        }
        Err(message) => reply(StatusCode::BAD_REQUEST, json!({"error": message})),
    }
}

fn summary(r: &Recorded) -> Value {
    let body = r.json.clone().unwrap_or_else(|| json!(r.body_text()));
    json!({
        "method": r.method.as_str(),
        "path": r.path,
        "headers": r.header_pairs(),
        "body": body
    })
}

fn reply(status: StatusCode, body: Value) -> Response<RespBody> {
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}
