//! One request, start to finish: read and record it, take the next
//! behaviour, and produce the response (or the lack of one) it scripts.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use hyper::Request;
use serde_json::{json, Value};

use crate::behavior::{Behavior, Core, Reply, Script, StreamFault};
use crate::body::{full, paced, End, RespBody};
use crate::record::{Recorded, Recorder};
use crate::server::{ConnCtl, Kill};
use crate::wire::{cut_point, to_json, Ctx, Event, Protocol};
use crate::{control, models};

/// What every connection of one fake provider shares.
pub(crate) struct Shared {
    pub queue: Mutex<VecDeque<Behavior>>,
    /// Behaviours only generation requests take (before `queue`), so that
    /// clients which call other endpoints in between (Claude Code's
    /// `/api/…` calls) cannot consume them.
    pub generation_queue: Mutex<VecDeque<(Option<Matcher>, Behavior)>>,
    pub default: Mutex<Behavior>,
    pub recorder: Recorder,
    /// When set, WebSocket upgrades are refused with this status.
    pub ws_refusal: Mutex<Option<u16>>,
    /// Turns true at shutdown: ends WebSocket sessions, which outlive the
    /// HTTP connection they were upgraded from.
    pub stopping: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            queue: Mutex::new(VecDeque::new()),
            generation_queue: Mutex::new(VecDeque::new()),
            default: Mutex::new(Behavior::default()),
            recorder: Recorder::new(),
            ws_refusal: Mutex::new(None),
            stopping: tokio::sync::watch::channel(false).0,
        }
    }

    pub fn push(&self, behavior: Behavior) {
        lock(&self.queue).push_back(behavior);
    }

    pub fn set_default(&self, behavior: Behavior) {
        *lock(&self.default) = behavior;
    }

    /// The behaviour for a generation request (Messages, Chat Completions,
    /// Responses, a WebSocket `response.create`).
    /// `body` is the request's JSON: the first queued behaviour whose
    /// matcher accepts it (or that has none) is taken.
    pub(crate) fn next_generation(&self, body: Option<&Value>) -> Behavior {
        let mut queue = lock(&self.generation_queue);
        let found = queue
            .iter()
            .position(|(matcher, _)| matcher.as_ref().is_none_or(|m| body.is_some_and(|b| m(b))));
        if let Some((_, behavior)) = found.and_then(|i| queue.remove(i)) {
            return behavior;
        }
        drop(queue);
        self.next()
    }

    pub(crate) fn next(&self) -> Behavior {
        if let Some(behavior) = lock(&self.queue).pop_front() {
            return behavior;
        }
        lock(&self.default).clone()
    }
}

/// Decides whether a queued generation behaviour applies to a request body.
pub type Matcher = Arc<dyn Fn(&Value) -> bool + Send + Sync>;

/// A poisoned lock only means a test panicked elsewhere; the data is fine.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a path asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Generate(Protocol),
    CountTokens,
    Models,
    /// Google Gemini `…:generateContent` / `…:streamGenerateContent`.
    Gemini,
    NotFound,
}

impl Route {
    fn of(method: &Method, path: &str) -> Route {
        if method == Method::POST && crate::wire::gemini::route(path).is_some() {
            return Route::Gemini;
        }
        let rest = path.strip_prefix("/v1").filter(|r| r.starts_with('/'));
        let rest = rest.unwrap_or(path);
        match (method, rest) {
            (&Method::POST, "/messages") => Route::Generate(Protocol::Anthropic),
            (&Method::POST, "/messages/count_tokens") => Route::CountTokens,
            (&Method::POST, "/chat/completions") => Route::Generate(Protocol::Chat),
            (&Method::POST, "/responses") => Route::Generate(Protocol::Responses),
            (&Method::GET, "/models") => Route::Models,
            _ => Route::NotFound,
        }
    }

    /// Whose error shape and headers this route answers with.
    fn protocol(self, headers: &HeaderMap) -> Protocol {
        match self {
            Route::Generate(p) => p,
            Route::CountTokens => Protocol::Anthropic,
            Route::Models | Route::NotFound if headers.contains_key("anthropic-version") => {
                Protocol::Anthropic
            }
            Route::Models | Route::NotFound | Route::Gemini => Protocol::Chat,
        }
    }
}

/// The hyper service.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    conn: ConnCtl,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, BoxError> {
    if crate::websocket::is_upgrade(&req) {
        return Ok(crate::websocket::accept(shared, peer, req));
    }
    let received_at = Instant::now();
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    if let Some(response) = control::handle(&shared, &parts, &body) {
        return Ok(response);
    }
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    shared
        .recorder
        .push(record(&parts, &body, json.clone(), peer, received_at));
    let route = Route::of(&parts.method, parts.uri.path());
    let script = match route {
        Route::Generate(_) | Route::Gemini => shared.next_generation(json.as_ref()),
        _ => shared.next(),
    }
    .resolve();
    if !script.delay.is_zero() {
        tokio::time::sleep(script.delay).await;
    }
    let request = Req {
        parts: &parts,
        body: &body,
        json: json.as_ref(),
        route,
    };
    let mut response = respond(&script, &request, &conn).await;
    apply_headers(response.headers_mut(), &script.headers);
    Ok(response)
}

fn record(
    parts: &Parts,
    body: &Bytes,
    json: Option<Value>,
    peer: SocketAddr,
    received_at: Instant,
) -> Recorded {
    let path = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let authority = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()));
    Recorded {
        method: parts.method.clone(),
        path,
        authority,
        version: parts.version,
        headers: parts.headers.clone(),
        body: body.clone(),
        json,
        peer,
        received_at,
    }
}

/// The request as the responders need it.
struct Req<'a> {
    parts: &'a Parts,
    body: &'a Bytes,
    json: Option<&'a Value>,
    route: Route,
}

impl Req<'_> {
    fn protocol(&self) -> Protocol {
        self.route.protocol(&self.parts.headers)
    }

    fn wants_stream(&self) -> bool {
        self.json
            .and_then(|j| j.get("stream"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

async fn respond(script: &Script, req: &Req<'_>, conn: &ConnCtl) -> Response<RespBody> {
    if req.route == Route::Gemini {
        return gemini(script, req, conn).await;
    }
    let protocol = req.protocol();
    match &script.core {
        Core::Hang => std::future::pending().await,
        Core::Reset => {
            conn.kill(Kill::Reset);
            std::future::pending().await
        }
        Core::Error {
            status,
            body,
            retry_after,
        } => {
            let mut response = match body {
                None => error(protocol, *status, None),
                Some(raw) => {
                    protocol_response(protocol, *status, "application/json", full(raw.clone()))
                }
            };
            if let Some(retry_after) = retry_after {
                apply_headers(
                    response.headers_mut(),
                    &[("retry-after".to_string(), retry_after.clone())],
                );
            }
            response
        }
        Core::InvalidJson => {
            let body =
                Bytes::from_static(br#"{"id":"broken","type":"message","content":[{"type":"te"#);
            protocol_response(protocol, 200, "application/json", full(body))
        }
        Core::Custom {
            status,
            headers,
            body,
        } => {
            let mut response = Response::new(full(body.clone()));
            *response.status_mut() = status_code(*status);
            apply_headers(response.headers_mut(), headers);
            response
        }
        Core::RawSse(frames) => {
            let frames = frames.iter().map(|f| Bytes::from(f.clone())).collect();
            let body = paced(frames, script.gap, End::Clean, conn.clone(), None);
            sse_response(protocol, body)
        }
        Core::Content(reply) => content(script, reply, req, conn),
    }
}

/// A content behaviour, answered the way the route answers.
fn content(script: &Script, reply: &Reply, req: &Req, conn: &ConnCtl) -> Response<RespBody> {
    match req.route {
        Route::Generate(protocol) => generate(protocol, script, reply, req, conn),
        Route::CountTokens => {
            // Roughly four bytes a token, unless the test set the number.
            let tokens = script
                .usage
                .map(|u| u.input)
                .unwrap_or((req.body.len() as u64 / 4).max(1));
            json_response(Protocol::Anthropic, 200, &json!({"input_tokens": tokens}))
        }
        Route::Models => {
            let protocol = req.protocol();
            json_response(protocol, 200, &models::list(protocol))
        }
        Route::NotFound | Route::Gemini => not_found(req),
    }
}

fn not_found(req: &Req) -> Response<RespBody> {
    let protocol = req.protocol();
    if protocol == Protocol::Anthropic {
        return error(protocol, 404, Some("Not Found"));
    }
    let message = format!(
        "Invalid URL ({} {})",
        req.parts.method,
        req.parts.uri.path()
    );
    let body = json!({"error": {
        "message": message, "type": "invalid_request_error", "param": null, "code": null
    }});
    json_response(protocol, 404, &body)
}

/// Messages, Chat Completions or Responses: JSON or SSE, maybe faulty.
fn generate(
    protocol: Protocol,
    script: &Script,
    reply: &Reply,
    req: &Req,
    conn: &ConnCtl,
) -> Response<RespBody> {
    let Some(request) = req.json.filter(|j| j.is_object()) else {
        return error(protocol, 400, Some("The request body is not valid JSON."));
    };
    let Some(model) = request.get("model").and_then(Value::as_str) else {
        return error(protocol, 400, Some("model: Field required"));
    };
    let ctx = Ctx {
        id: protocol.response_id(),
        created: crate::ids::unix_now(),
        model,
        request,
        usage: script.usage(),
    };
    if req.wants_stream() {
        stream(protocol, script, &ctx, reply, conn)
    } else {
        whole(protocol, script, &ctx, reply, conn)
    }
}

fn stream(
    protocol: Protocol,
    script: &Script,
    ctx: &Ctx,
    reply: &Reply,
    conn: &ConnCtl,
) -> Response<RespBody> {
    let mut events: Vec<Event> = protocol.events(ctx, reply);
    let mut end = End::Clean;
    if let Some(fault) = script.fault {
        let cut = cut_point(&events);
        events.truncate(cut);
        match fault {
            StreamFault::MidStreamError => events.extend(protocol.error_tail(ctx, cut)),
            StreamFault::Truncated => {}
            StreamFault::ResetMidStream => end = End::Kill(Kill::Reset),
        }
    }
    let frames = events.iter().map(Event::encode).collect();
    sse_response(protocol, paced(frames, script.gap, end, conn.clone(), None))
}

fn whole(
    protocol: Protocol,
    script: &Script,
    ctx: &Ctx,
    reply: &Reply,
    conn: &ConnCtl,
) -> Response<RespBody> {
    let body = protocol.json(ctx, reply);
    let kill = match script.fault {
        None => return json_response(protocol, 200, &body),
        Some(StreamFault::MidStreamError) => return error(protocol, 500, None),
        Some(StreamFault::Truncated) => Kill::Close,
        Some(StreamFault::ResetMidStream) => Kill::Reset,
    };
    // Announce the whole body, send half of it, then cut the connection.
    let bytes = Bytes::from(to_json(&body));
    let half = bytes.slice(..bytes.len() / 2);
    let len = Some(bytes.len() as u64);
    let body = paced(vec![half], script.gap, End::Kill(kill), conn.clone(), len);
    protocol_response(protocol, 200, "application/json", body)
}

/// A response with the protocol's headers and a fresh request id.
fn protocol_response(
    protocol: Protocol,
    status: u16,
    content_type: &'static str,
    body: RespBody,
) -> Response<RespBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status_code(status);
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    for (name, value) in protocol.headers(&protocol.request_id()) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

fn json_response(protocol: Protocol, status: u16, body: &Value) -> Response<RespBody> {
    protocol_response(protocol, status, "application/json", full(to_json(body)))
}

fn sse_response(protocol: Protocol, body: RespBody) -> Response<RespBody> {
    let mut response = protocol_response(protocol, 200, "text/event-stream; charset=utf-8", body);
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    response
}

/// An error in the protocol's shape; `body` replaces the JSON verbatim.
fn error(protocol: Protocol, status: u16, message: Option<&str>) -> Response<RespBody> {
    let request_id = protocol.request_id();
    let body = protocol.error_body(status, message, &request_id);
    let mut response = json_response(protocol, status, &body);
    // Keep the header and the body's request id in agreement.
    let id_header = match protocol {
        Protocol::Anthropic => "request-id",
        _ => "x-request-id",
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(id_header, value);
    }
    response
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Replaces headers of the same name; repeated names in `extra` all stay.
fn apply_headers(headers: &mut HeaderMap, extra: &[(String, String)]) {
    let parsed: Vec<(HeaderName, HeaderValue)> = extra
        .iter()
        .filter_map(|(k, v)| {
            let name = HeaderName::from_bytes(k.as_bytes()).ok()?;
            let value = HeaderValue::from_str(v).ok()?;
            Some((name, value))
        })
        .collect();
    for (name, _) in &parsed {
        headers.remove(name);
    }
    for (name, value) in parsed {
        headers.append(name, value);
    }
}

/// Gemini: text and tool calls as JSON or SSE, errors in Google's shape,
/// hangs and resets; other behaviours answer the default text.
async fn gemini(script: &Script, req: &Req<'_>, conn: &ConnCtl) -> Response<RespBody> {
    use crate::wire::gemini;
    let path = req.parts.uri.path();
    let (model, stream) = gemini::route(path).unwrap_or_default();
    let google = |status: u16, body: Value| {
        let mut response = Response::new(full(to_json(&body)));
        *response.status_mut() = status_code(status);
        response.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        response
    };
    let reply = match &script.core {
        Core::Hang => std::future::pending().await,
        Core::Reset => {
            conn.kill(Kill::Reset);
            std::future::pending().await
        }
        Core::Error { status, body, .. } => {
            let body = body
                .as_deref()
                .and_then(|b| serde_json::from_str(b).ok())
                .unwrap_or_else(|| gemini::error_body(*status, None));
            return google(*status, body);
        }
        Core::Content(reply) => reply.clone(),
        _ => Reply {
            text: Some(crate::DEFAULT_TEXT.to_string()),
            ..Reply::default()
        },
    };
    let Some(request) = req.json else {
        return google(
            400,
            gemini::error_body(400, Some("Invalid JSON payload received.")),
        );
    };
    let reply = gemini::shape_reply(request, reply);
    let id = crate::ids::response();
    let usage = script.usage();
    if !stream {
        return google(200, gemini::response(&model, &id, &reply, &usage));
    }
    let frames = gemini::stream(&model, &id, &reply, &usage)
        .into_iter()
        .map(|data| Bytes::from(format!("data: {data}\r\n\r\n")))
        .collect();
    let mut response = Response::new(paced(frames, script.gap, End::Clean, conn.clone(), None));
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/event-stream"),
    );
    response
}
