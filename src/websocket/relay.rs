//! The WebSocket session once both halves are open: messages copied both
//! ways one at a time, never collected, while the tallies for the audit line
//! are kept — message and byte counts each way, the model of the client's
//! `response.create` messages, the usage of every `response.completed`.
//!
//! A close from either side is passed on and the other side gets a short
//! grace to answer it; a side that fails is closed on the other with a
//! status saying why. At shutdown an idle session (no response streaming)
//! ends at once; one that is streaming gets until the drain deadline. Both
//! connections are then dropped.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::target::UpstreamStream;
use crate::app::App;
use crate::audit::capture::Capture;
use crate::audit::usage::UsageTap;
use crate::audit::{Record, Usage};

/// How long the other side gets to finish once one side has closed.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// What one direction saw.
struct Tally {
    messages: u64,
    bytes: u64,
    capture: Capture,
    model: Option<String>,
    usage: Option<Usage>,
    /// `response.create` messages (client side) or terminal events
    /// (upstream side): more of the first than the second means a response
    /// was still running when the session ended.
    responses: u64,
    /// Why the side messages came from failed, if it did.
    error: Option<String>,
    /// Why the side messages went to failed, if it did.
    dest_error: Option<String>,
    error_at_shutdown: Option<String>,
}

impl Tally {
    fn new(max_body: usize) -> Tally {
        Tally {
            messages: 0,
            bytes: 0,
            capture: Capture::new(max_body),
            model: None,
            usage: None,
            responses: 0,
            error: None,
            dest_error: None,
            error_at_shutdown: None,
        }
    }

    /// Counts a data message and reads what the audit wants from it.
    fn observe(&mut self, message: &Message) {
        let data: &[u8] = match message {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(bytes) => bytes,
            _ => return,
        };
        self.messages += 1;
        self.bytes += data.len() as u64;
        self.capture.push(data);
        self.capture.push(b"\n");
        let Message::Text(text) = message else {
            return;
        };
        // Most messages are deltas: parse only those that can matter.
        let text = text.as_str();
        let interesting = [
            "response.create",
            "response.completed",
            "response.incomplete",
            "response.failed",
        ];
        if !interesting.iter().any(|t| text.contains(t)) {
            return;
        }
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return;
        };
        match value.get("type").and_then(Value::as_str) {
            Some("response.create") => {
                self.responses += 1;
                if let Some(model) = value.get("model").and_then(Value::as_str) {
                    self.model = Some(model.to_owned());
                }
            }
            Some("response.completed" | "response.incomplete" | "response.failed") => {
                self.responses += 1;
                let mut tap = UsageTap::new(None);
                tap.observe_value(&value);
                if let Some(u) = tap.finish() {
                    add(self.usage.get_or_insert_with(Usage::default), &u);
                }
            }
            _ => {}
        }
    }
}

/// Usage of several responses on one connection adds up.
fn add(into: &mut Usage, u: &Usage) {
    into.input_tokens += u.input_tokens;
    into.output_tokens += u.output_tokens;
    into.cache_read_tokens += u.cache_read_tokens;
    into.cache_write_tokens += u.cache_write_tokens;
    into.reasoning_tokens += u.reasoning_tokens;
}

/// Relays until both sides are done, then files the session's audit line.
pub async fn run<C>(
    app: Arc<App>,
    client: C,
    upstream: UpstreamStream,
    mut record: Record,
    started: Instant,
    secrets: Vec<String>,
) where
    C: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Unpin,
{
    let max_body = app.settings.audit.max_body_bytes;
    let mut inbound = Tally::new(max_body);
    let mut outbound = Tally::new(max_body);
    let (client_tx, client_rx) = client.split();
    let (upstream_tx, upstream_rx) = upstream.split();
    // Responses started minus responses finished, shared by both pumps.
    let running = AtomicI64::new(0);
    let ended = {
        let up = pump(
            client_rx,
            upstream_tx,
            &mut inbound,
            "client",
            (&running, 1),
        );
        let down = pump(
            upstream_rx,
            client_tx,
            &mut outbound,
            "upstream",
            (&running, -1),
        );
        tokio::pin!(up, down);
        tokio::select! {
            _ = &mut up => { let _ = tokio::time::timeout(CLOSE_GRACE, &mut down).await; None }
            _ = &mut down => { let _ = tokio::time::timeout(CLOSE_GRACE, &mut up).await; None }
            ended = at_shutdown(&app, &running) => Some(ended),
        }
    };
    match ended {
        Some(Shutdown::Idle) => {}
        Some(Shutdown::Deadline) => {
            inbound.error_at_shutdown =
                Some("closed at shutdown while a response was streaming".to_owned())
        }
        None => {}
    }
    finish(&app, &mut record, inbound, outbound, started, &secrets);
    app.file(record);
}

/// Copies messages from `from` to `to` until `from` closes or fails; the
/// other side is then closed with a status saying why. Each response started
/// (client side) or finished (upstream side) moves `running` by `step`.
async fn pump<R, W>(
    mut from: R,
    mut to: W,
    tally: &mut Tally,
    side: &str,
    (running, step): (&AtomicI64, i64),
) where
    R: Stream<Item = Result<Message, WsError>> + Unpin,
    W: Sink<Message, Error = WsError> + Unpin,
{
    loop {
        match from.next().await {
            // tungstenite answers pings itself, per hop.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(close @ Message::Close(_))) => {
                let _ = to.send(close).await;
                return;
            }
            Some(Ok(message)) => {
                let before = tally.responses;
                tally.observe(&message);
                if tally.responses != before {
                    running.fetch_add(step, Ordering::Relaxed);
                }
                if let Err(e) = to.send(message).await {
                    tally.dest_error = Some(e.to_string());
                    return;
                }
            }
            None | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                let _ = to.close().await;
                return;
            }
            Some(Err(e)) => {
                tally.error = Some(e.to_string());
                let frame = CloseFrame {
                    code: CloseCode::Error,
                    reason: format!("switchyard: {side} connection failed").into(),
                };
                let _ = to.send(Message::Close(Some(frame))).await;
                return;
            }
        }
    }
}

enum Shutdown {
    /// No response was streaming: the session ends at once, so an idle
    /// Codex connection does not hold up the drain.
    Idle,
    /// A response was still streaming at the drain deadline.
    Deadline,
}

/// Resolves once shutdown has begun and no response is streaming, or at the
/// drain deadline; pends forever before shutdown.
async fn at_shutdown(app: &App, running: &AtomicI64) -> Shutdown {
    app.shutdown.cancelled().await;
    let deadline = tokio::time::Instant::now() + app.settings.timeouts.shutdown;
    loop {
        if running.load(Ordering::Relaxed) <= 0 {
            return Shutdown::Idle;
        }
        if tokio::time::Instant::now() >= deadline {
            return Shutdown::Deadline;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn finish(
    app: &App,
    record: &mut Record,
    inbound: Tally,
    outbound: Tally,
    started: Instant,
    secrets: &[String],
) {
    let all: Vec<&str> = secrets
        .iter()
        .chain(app.secrets())
        .map(String::as_str)
        .collect();
    record.status = Some(101);
    record.duration_ms = started.elapsed().as_millis() as u64;
    record.request_bytes = inbound.bytes;
    record.response_bytes = outbound.bytes;
    record.ws_messages_in = Some(inbound.messages);
    record.ws_messages_out = Some(outbound.messages);
    record.model = inbound.model;
    record.usage = outbound.usage;
    record.request_body = inbound.capture.text(&all);
    record.response_body = outbound.capture.text(&all);
    // A client that just goes away between responses (Codex exits without
    // a close frame) is the normal end of a session; going away while a
    // response is still streaming is worth recording.
    let mid_response = inbound.responses > outbound.responses;
    let client_error = inbound
        .error
        .or(outbound.dest_error)
        .filter(|_| mid_response)
        .map(|e| format!("client went away mid-response: {e}"));
    let upstream_error = outbound
        .error
        .or(inbound.dest_error)
        .map(|e| format!("upstream WebSocket failed: {e}"));
    record.error = upstream_error
        .or(client_error)
        .or(inbound.error_at_shutdown)
        .map(|e| crate::audit::redact::redact(&e, &all));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_reads_model_and_sums_usage() {
        let mut t = Tally::new(4096);
        t.observe(&Message::text(
            r#"{"type":"response.create","model":"gpt-5-codex","input":[]}"#,
        ));
        assert_eq!(t.model.as_deref(), Some("gpt-5-codex"));
        let done = r#"{"type":"response.completed","response":{"usage":{"input_tokens":25,"input_tokens_details":{"cached_tokens":5},"output_tokens":12,"output_tokens_details":{"reasoning_tokens":0}}}}"#;
        t.observe(&Message::text(done));
        t.observe(&Message::text(done));
        t.observe(&Message::Ping(Default::default()));
        let u = t.usage.unwrap();
        assert_eq!(
            (u.input_tokens, u.cache_read_tokens, u.output_tokens),
            (40, 10, 24)
        );
        assert_eq!(t.messages, 3);
    }
}
