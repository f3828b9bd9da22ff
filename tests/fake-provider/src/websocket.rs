//! The OpenAI Responses WebSocket (`GET /v1/responses` with `Upgrade:
//! websocket`), as Codex CLI uses it: the client sends
//! `{"type":"response.create", …}` text messages (the body of a `POST
//! /v1/responses` plus the `type`, without `stream`), and the server answers
//! each with the events of the Responses SSE stream, one JSON text message
//! per event, ending with `response.completed`. A `response.create` with
//! `"generate": false` (Codex's warm-up) gets `response.created` and an
//! empty `response.completed`. Errors arrive as a wrapped
//! `{"type":"error","status":N,"error":{…}}` message, which Codex maps to the
//! HTTP status it would have seen.
//!
//! The upgrade request is recorded like any request (`GET`); every text
//! message the client sends is recorded too, as method `WS` with the upgrade's
//! path and headers and the message as body, and takes the next behaviour.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::http::{HeaderValue, Method, Response, StatusCode};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::behavior::{Core, Reply, StreamFault, Usage};
use crate::body::{full, RespBody};
use crate::handler::Shared;
use crate::record::Recorded;
use crate::wire::{chat, cut_point, Ctx, Protocol};

/// Whether the request asks for a WebSocket.
pub(crate) fn is_upgrade(req: &Request<Incoming>) -> bool {
    let has = |name: &str, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has("upgrade", "websocket") && has("connection", "upgrade")
}

fn is_responses(path: &str) -> bool {
    let path = path.strip_prefix("/v1").unwrap_or(path);
    path == "/responses"
}

/// Answers the upgrade (or refuses it) and runs the session in a task.
pub(crate) fn accept(
    shared: Arc<Shared>,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Response<RespBody> {
    let template = Recorded {
        method: req.method().clone(),
        path: req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into()),
        authority: req
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .map(str::to_string),
        version: req.version(),
        headers: req.headers().clone(),
        body: Bytes::new(),
        json: None,
        peer,
        received_at: Instant::now(),
    };
    shared.recorder.push(template.clone());
    let refuse = |status: u16, message: &str| {
        let mut response = Response::new(full(chat::error_body(status, Some(message)).to_string()));
        *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        response
    };
    if let Some(status) = *crate::handler::lock(&shared.ws_refusal) {
        return refuse(
            status,
            "WebSocket connections are refused by this fake provider",
        );
    }
    if req.method() != Method::GET || !is_responses(req.uri().path()) {
        return refuse(404, "Invalid URL: no WebSocket endpoint here");
    }
    let Some(key) = req
        .headers()
        .get("sec-websocket-key")
        .map(|k| derive_accept_key(k.as_bytes()))
    else {
        return refuse(400, "missing Sec-WebSocket-Key");
    };
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let mut stopping = shared.stopping.subscribe();
        tokio::select! {
            _ = session(&shared, ws, template) => {}
            _ = stopping.wait_for(|s| *s) => {}
        }
    });
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert("upgrade", HeaderValue::from_static("websocket"));
    headers.insert("connection", HeaderValue::from_static("upgrade"));
    if let Ok(v) = HeaderValue::from_str(&key) {
        headers.insert("sec-websocket-accept", v);
    }
    for (name, value) in Protocol::Responses.headers(&Protocol::Responses.request_id()) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// One connection: each `response.create` is answered in turn.
async fn session(shared: &Shared, mut ws: Ws, template: Recorded) {
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let json: Option<Value> = serde_json::from_str(text.as_str()).ok();
        shared.recorder.push(Recorded {
            method: Method::from_bytes(b"WS").unwrap_or(Method::GET),
            body: Bytes::copy_from_slice(text.as_bytes()),
            json: json.clone(),
            received_at: Instant::now(),
            ..template.clone()
        });
        let Some(request) = json else { continue };
        if request.get("type").and_then(Value::as_str) != Some("response.create") {
            continue;
        }
        if !answer(shared, &mut ws, &request).await {
            return;
        }
    }
}

/// Sends the answer to one `response.create`; false when the connection
/// must end (a reset or a failed send).
async fn answer(shared: &Shared, ws: &mut Ws, request: &Value) -> bool {
    let model = request.get("model").and_then(Value::as_str).unwrap_or("");
    let warmup = request.get("generate").and_then(Value::as_bool) == Some(false);
    let script = if warmup {
        crate::behavior::Behavior::Reply(Reply::default())
            .with_usage(Usage {
                input: 0,
                output: 0,
                cache_read: 0,
                cache_write: 0,
                reasoning: 0,
            })
            .resolve()
    } else {
        shared.next_generation(Some(request)).resolve()
    };
    if !script.delay.is_zero() {
        tokio::time::sleep(script.delay).await;
    }
    let ctx = Ctx {
        id: Protocol::Responses.response_id(),
        created: crate::ids::unix_now(),
        model,
        request,
        usage: script.usage(),
    };
    let mut reset = false;
    let messages: Vec<String> = match &script.core {
        Core::Content(reply) => {
            let mut events = Protocol::Responses.events(&ctx, reply);
            if let Some(fault) = script.fault {
                let cut = cut_point(&events);
                events.truncate(cut);
                match fault {
                    StreamFault::MidStreamError => {
                        events.extend(Protocol::Responses.error_tail(&ctx, cut))
                    }
                    StreamFault::Truncated => {}
                    StreamFault::ResetMidStream => reset = true,
                }
            }
            events.into_iter().map(|e| e.data).collect()
        }
        Core::Error { status, body, .. } => {
            let error = body
                .as_deref()
                .and_then(|b| serde_json::from_str::<Value>(b).ok())
                .unwrap_or_else(|| chat::error_body(*status, None));
            let inner = error.get("error").cloned().unwrap_or(error);
            vec![json!({"type": "error", "status": status, "error": inner}).to_string()]
        }
        Core::Hang => return true,
        Core::Reset => return false,
        Core::InvalidJson => vec![r#"{"type":"response.created","respo"#.to_string()],
        Core::Custom { body, .. } => vec![String::from_utf8_lossy(body).into_owned()],
        Core::RawSse(frames) => frames.clone(),
    };
    for (i, message) in messages.into_iter().enumerate() {
        if i > 0 && !script.gap.is_zero() {
            tokio::time::sleep(script.gap).await;
        }
        if ws.send(Message::text(message)).await.is_err() {
            return false;
        }
    }
    !reset
}
