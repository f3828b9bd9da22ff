//! Wire formats: rendering a protocol-neutral [`Reply`] as Anthropic Messages,
//! OpenAI Chat Completions or OpenAI Responses JSON and SSE events, plus each
//! protocol's error shapes and response headers.
//!
//! Every renderer returns whole events; the handler decides pacing and faults.

pub mod anthropic;
pub mod chat;
pub mod gemini;
mod order;
pub mod responses;

pub use order::to_json;

use bytes::Bytes;
use serde_json::Value;

use crate::behavior::{Reply, Usage};

/// The API dialect of a request, chosen by its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Anthropic,
    Chat,
    Responses,
}

/// Where an SSE event sits in its stream; faults cut after about half of the
/// `Delta` events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Head,
    Delta,
    Tail,
}

/// One server-sent event.
#[derive(Clone, Debug)]
pub struct Event {
    /// The `event:` line; `None` for Chat Completions, which has none.
    pub name: Option<String>,
    /// The `data:` payload (one line: compact JSON or `[DONE]`).
    pub data: String,
    pub kind: Kind,
}

impl Event {
    /// An event whose `event:` line repeats the payload's `type`.
    pub fn typed(payload: Value, kind: Kind) -> Event {
        let name = payload
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_string);
        Event {
            name,
            data: to_json(&payload),
            kind,
        }
    }

    /// A `data:`-only event carrying JSON.
    pub fn json(payload: &Value, kind: Kind) -> Event {
        Event::data(to_json(payload), kind)
    }

    /// A `data:`-only event.
    pub fn data(payload: impl Into<String>, kind: Kind) -> Event {
        Event {
            name: None,
            data: payload.into(),
            kind,
        }
    }

    /// The bytes on the wire, including the blank line that ends the event.
    pub fn encode(&self) -> Bytes {
        let mut out = String::with_capacity(self.data.len() + 32);
        if let Some(name) = &self.name {
            out.push_str("event: ");
            out.push_str(name);
            out.push('\n');
        }
        out.push_str("data: ");
        out.push_str(&self.data);
        out.push_str("\n\n");
        Bytes::from(out)
    }
}

/// What a renderer needs to know about the request being answered.
pub struct Ctx<'a> {
    /// The response's id (`msg_…`, `chatcmpl-…`, `resp_…`), shared by all its events.
    pub id: String,
    /// Unix seconds, shared by all events of the response.
    pub created: u64,
    /// Echoed into the response.
    pub model: &'a str,
    /// The parsed request body (for `stream_options`, `tools`, `include`, …).
    pub request: &'a Value,
    pub usage: Usage,
}

impl Protocol {
    /// The non-streaming response body.
    pub fn json(self, ctx: &Ctx, reply: &Reply) -> Value {
        match self {
            Protocol::Anthropic => anthropic::message(ctx, reply),
            Protocol::Chat => chat::completion(ctx, reply),
            Protocol::Responses => responses::response(ctx, reply),
        }
    }

    /// The complete, well-formed event stream.
    pub fn events(self, ctx: &Ctx, reply: &Reply) -> Vec<Event> {
        match self {
            Protocol::Anthropic => anthropic::events(ctx, reply),
            Protocol::Chat => chat::events(ctx, reply),
            Protocol::Responses => responses::events(ctx, reply),
        }
    }

    /// The events that report a failure inside a started stream;
    /// `next_seq` is the number of events already sent.
    pub fn error_tail(self, ctx: &Ctx, next_seq: usize) -> Vec<Event> {
        match self {
            Protocol::Anthropic => anthropic::error_tail(),
            Protocol::Chat => chat::error_tail(),
            Protocol::Responses => responses::error_tail(ctx, next_seq),
        }
    }

    /// The error body for `status`, with the protocol's type names.
    pub fn error_body(self, status: u16, message: Option<&str>, request_id: &str) -> Value {
        match self {
            Protocol::Anthropic => anthropic::error_body(status, message, request_id),
            Protocol::Chat | Protocol::Responses => chat::error_body(status, message),
        }
    }

    /// A fresh id for a response object of this protocol.
    pub fn response_id(self) -> String {
        match self {
            Protocol::Anthropic => crate::ids::anthropic_message(),
            Protocol::Chat => crate::ids::chat_completion(),
            Protocol::Responses => crate::ids::response(),
        }
    }

    /// A fresh request id, in the form this provider uses.
    pub fn request_id(self) -> String {
        match self {
            Protocol::Anthropic => crate::ids::anthropic_request(),
            Protocol::Chat | Protocol::Responses => crate::ids::openai_request(),
        }
    }

    /// Headers the real API sends on every response (besides content-type).
    pub fn headers(self, request_id: &str) -> Vec<(&'static str, String)> {
        match self {
            Protocol::Anthropic => anthropic::headers(request_id),
            Protocol::Chat | Protocol::Responses => chat::headers(request_id),
        }
    }
}

/// The index after which a faulty stream stops: after about half of the
/// content deltas, or after the head when there are none.
pub fn cut_point(events: &[Event]) -> usize {
    let deltas = events.iter().filter(|e| e.kind == Kind::Delta).count();
    let keep = deltas.div_ceil(2);
    let mut seen = 0;
    for (i, event) in events.iter().enumerate() {
        match event.kind {
            Kind::Delta => {
                seen += 1;
                if seen >= keep {
                    return i + 1;
                }
            }
            Kind::Tail if keep == 0 => return i,
            _ => {}
        }
    }
    events.len()
}

/// Split text the way models stream it: one piece per word, each carrying
/// its leading whitespace.
pub fn split_words(text: &str) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut prev_space = false;
    for ch in text.chars() {
        let space = ch.is_whitespace();
        if space && !prev_space && !current.trim().is_empty() {
            pieces.push(std::mem::take(&mut current));
        }
        current.push(ch);
        prev_space = space;
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// Split serialized JSON into a few fragments at char boundaries, so clients
/// must concatenate before parsing.
pub fn split_fragments(json: &str) -> Vec<String> {
    let chars: Vec<char> = json.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let size = chars.len().div_ceil(4).max(1);
    chars
        .chunks(size)
        .map(|chunk| chunk.iter().collect())
        .collect()
}

/// Serialized tool arguments (`{}` for anything that is not an object).
pub fn arguments_json(arguments: &Value) -> String {
    match arguments {
        Value::Object(_) => arguments.to_string(),
        _ => "{}".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_their_leading_space() {
        assert_eq!(
            split_words("Hello from  the fake."),
            vec!["Hello", " from", "  the", " fake."]
        );
        assert!(split_words("").is_empty());
    }

    #[test]
    fn typed_events_put_type_first() {
        let event = Event::typed(serde_json::json!({"index": 0, "type": "x"}), Kind::Head);
        assert_eq!(event.name.as_deref(), Some("x"));
        assert_eq!(event.data, r#"{"type":"x","index":0}"#);
        let bare = Event::typed(serde_json::json!({"type": "ping"}), Kind::Head);
        assert_eq!(bare.encode(), "event: ping\ndata: {\"type\":\"ping\"}\n\n");
    }

    #[test]
    fn fragments_rejoin() {
        let json = r#"{"city":"Paris","unit":"°C"}"#;
        let parts = split_fragments(json);
        assert!(parts.len() >= 3);
        assert_eq!(parts.concat(), json);
    }

    #[test]
    fn cut_keeps_half_the_deltas() {
        let ev = |k| Event::data("x", k);
        let events = vec![
            ev(Kind::Head),
            ev(Kind::Delta),
            ev(Kind::Delta),
            ev(Kind::Delta),
            ev(Kind::Tail),
        ];
        assert_eq!(cut_point(&events), 3);
        assert_eq!(cut_point(&[ev(Kind::Head), ev(Kind::Tail)]), 1);
    }
}
