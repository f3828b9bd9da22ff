//! Incremental SSE stream conversion.
//!
//! Each upstream protocol has a *decoder* that turns its SSE events into
//! neutral [`Ev`]s, and each client protocol an *encoder* that turns [`Ev`]s
//! back into SSE. Between them the [`Normalizer`] enforces the invariants
//! every encoder relies on, so they need not re-check them:
//! - `Start` comes first, exactly once;
//! - at most one block is open at a time, every `Open` gets a `Close`;
//! - deltas only arrive inside a block of their kind (text and thinking
//!   deltas open one when needed);
//! - a single `Stop` comes right before `End`, forced to `ToolUse` when tool
//!   calls were streamed and upstream said plain "stop";
//! - nothing follows `End` or `Error`.
//!
//! Nothing is buffered beyond what one event needs, except the Chat decoder,
//! which holds back a parallel tool call's arguments while an earlier call is
//! still streaming (Anthropic and Responses cannot interleave blocks).

mod anthropic;
mod chat;
mod responses;

#[cfg(test)]
mod tests;

use super::ir::{Loss, StopReason, Usage};
use super::json::str_of;
use super::{estimate_input_tokens, Protocol};
use crate::sse::SseEvent;
use serde_json::Value;

/// Converts one upstream SSE stream into the client's protocol, event by
/// event.
pub trait StreamConverter: Send {
    /// One upstream event -> zero or more client events.
    fn push(&mut self, event: &SseEvent) -> Vec<SseEvent>;
    /// Upstream ended (cleanly or not). Closes the client stream correctly;
    /// ends with the client protocol's error event if upstream never sent
    /// its terminal signal.
    fn finish(&mut self) -> Vec<SseEvent>;
    /// A failure after the stream started: the client protocol's error event,
    /// ending the stream.
    fn fail(&mut self, message: &str) -> Vec<SseEvent>;
    fn lossy(&self) -> &[&'static str];
}

/// What a converter needs to know of the client's request (streamed or
/// not: [`crate::convert::convert_response_for`] takes it too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamContext {
    /// Model name to report when upstream does not name one.
    pub model: String,
    /// Estimated from the request; Anthropic's `message_start` must carry
    /// non-zero usage before upstream has reported any.
    pub estimated_input_tokens: u64,
    /// Chat clients get the final usage chunk (`choices: []`) only when they
    /// asked for it with `stream_options.include_usage`.
    pub include_usage: bool,
    /// For a Responses client: its request's parameters, which every
    /// response object repeats back ([`crate::convert::responses::echo`]).
    pub echo: serde_json::Map<String, Value>,
}

impl StreamContext {
    /// Builds the context from the client's own request body.
    pub fn from_request(client: Protocol, body: &Value) -> StreamContext {
        let include_usage = match client {
            Protocol::OpenAiChat => body
                .get("stream_options")
                .and_then(|o| o.get("include_usage"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            _ => true,
        };
        let echo = match client {
            Protocol::OpenAiResponses => crate::convert::responses::echoed_params(body),
            _ => serde_json::Map::new(),
        };
        StreamContext {
            model: str_of(body, "model").unwrap_or_default().to_owned(),
            estimated_input_tokens: estimate_input_tokens(body),
            include_usage,
            echo,
        }
    }
}

/// Upstream `from` stream -> client `to` stream.
pub fn stream_converter(
    from: Protocol,
    to: Protocol,
    ctx: StreamContext,
) -> Box<dyn StreamConverter> {
    if from == to {
        return Box::new(Passthrough::new(to));
    }
    let decoder: Box<dyn Decode> = match from {
        Protocol::AnthropicMessages => Box::new(anthropic::Decoder::default()),
        Protocol::OpenAiChat => Box::new(chat::Decoder::default()),
        Protocol::OpenAiResponses => Box::new(responses::Decoder::default()),
    };
    Box::new(Pipeline {
        decoder,
        encoder: encoder_for(to, ctx),
        norm: Normalizer::default(),
        loss: Loss::default(),
    })
}

fn encoder_for(to: Protocol, ctx: StreamContext) -> Box<dyn Encode> {
    match to {
        Protocol::AnthropicMessages => Box::new(anthropic::Encoder::new(ctx)),
        Protocol::OpenAiChat => Box::new(chat::Encoder::new(ctx)),
        Protocol::OpenAiResponses => Box::new(responses::Encoder::new(ctx)),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    Text,
    Thinking,
    Redacted(String),
    Tool { id: String, name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Thinking,
    Redacted,
    Tool,
}

impl Block {
    fn kind(&self) -> Kind {
        match self {
            Block::Text => Kind::Text,
            Block::Thinking => Kind::Thinking,
            Block::Redacted(_) => Kind::Redacted,
            Block::Tool { .. } => Kind::Tool,
        }
    }
}

/// A neutral stream event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ev {
    Start {
        id: Option<String>,
        model: Option<String>,
        usage: Usage,
    },
    Open(Block),
    Text(String),
    Thinking(String),
    Signature(String),
    Args(String),
    Close,
    Usage(Usage),
    Stop(StopReason, Option<String>),
    /// Upstream's own terminal signal.
    End,
    /// `kind` uses Anthropic's error-type vocabulary.
    Error {
        message: String,
        kind: &'static str,
    },
}

pub(crate) trait Decode: Send {
    fn push(&mut self, event: &SseEvent, loss: &mut Loss) -> Vec<Ev>;
    /// Upstream ended: release anything held back.
    fn finish(&mut self, _loss: &mut Loss) -> Vec<Ev> {
        Vec::new()
    }
}

pub(crate) trait Encode: Send {
    fn on(&mut self, ev: Ev, loss: &mut Loss) -> Vec<SseEvent>;
}

/// Maps OpenAI and Anthropic error codes to Anthropic's error types.
pub(crate) fn error_kind(code: &str) -> &'static str {
    match code {
        "rate_limit_error" | "rate_limit_exceeded" | "requests" | "tokens" => "rate_limit_error",
        "overloaded_error" | "server_is_overloaded" | "slow_down" => "overloaded_error",
        "invalid_request_error" | "invalid_prompt" | "context_length_exceeded" => {
            "invalid_request_error"
        }
        "authentication_error" | "invalid_api_key" => "authentication_error",
        "permission_error" => "permission_error",
        "not_found_error" => "not_found_error",
        _ => "api_error",
    }
}

/// Parses an event's JSON data; `None` (reported lossy) for garbage.
pub(crate) fn parse_data(event: &SseEvent, loss: &mut Loss) -> Option<Value> {
    match serde_json::from_str::<Value>(&event.data) {
        Ok(v) if v.is_object() => Some(v),
        _ => {
            loss.add("stream_event");
            None
        }
    }
}

/// The event's type: the JSON `type`, else the SSE `event:` name.
pub(crate) fn event_type<'a>(event: &'a SseEvent, data: &'a Value) -> &'a str {
    str_of(data, "type")
        .or(event.event.as_deref())
        .unwrap_or("")
}

#[derive(Debug, Default)]
struct Normalizer {
    started: bool,
    open: Option<Kind>,
    done: bool,
    saw_tool: bool,
    stop: Option<(StopReason, Option<String>)>,
}

impl Normalizer {
    fn feed(&mut self, ev: Ev, loss: &mut Loss, out: &mut Vec<Ev>) {
        if self.done {
            return;
        }
        let is_start = matches!(ev, Ev::Start { .. });
        if !self.started {
            self.started = true;
            if !is_start {
                out.push(Ev::Start {
                    id: None,
                    model: None,
                    usage: Usage::default(),
                });
            }
        } else if is_start {
            return;
        }
        match ev {
            Ev::Open(block) => self.open_block(block, out),
            Ev::Text(t) => self.delta(Kind::Text, Block::Text, Ev::Text(t), out),
            Ev::Thinking(t) => self.delta(Kind::Thinking, Block::Thinking, Ev::Thinking(t), out),
            Ev::Signature(s) if self.open == Some(Kind::Thinking) => out.push(Ev::Signature(s)),
            Ev::Signature(_) => loss.add("thinking.signature"),
            Ev::Args(a) if self.open == Some(Kind::Tool) => {
                if !a.is_empty() {
                    out.push(Ev::Args(a));
                }
            }
            Ev::Args(_) => loss.add("tool_call.arguments"),
            Ev::Close => self.close(out),
            Ev::Stop(reason, seq) => self.stop = Some((reason, seq)),
            Ev::End => self.end(out),
            ev @ Ev::Error { .. } => {
                self.done = true;
                out.push(ev);
            }
            other => out.push(other),
        }
    }

    fn open_block(&mut self, block: Block, out: &mut Vec<Ev>) {
        self.close(out);
        self.saw_tool |= block.kind() == Kind::Tool;
        self.open = Some(block.kind());
        out.push(Ev::Open(block));
    }

    fn delta(&mut self, kind: Kind, block: Block, ev: Ev, out: &mut Vec<Ev>) {
        if matches!(&ev, Ev::Text(t) | Ev::Thinking(t) if t.is_empty()) {
            return;
        }
        if self.open != Some(kind) {
            self.open_block(block, out);
        }
        out.push(ev);
    }

    fn close(&mut self, out: &mut Vec<Ev>) {
        if self.open.take().is_some() {
            out.push(Ev::Close);
        }
    }

    fn end(&mut self, out: &mut Vec<Ev>) {
        self.close(out);
        let (reason, seq) = self.stop.take().unwrap_or((StopReason::EndTurn, None));
        let reason = if reason == StopReason::EndTurn && self.saw_tool {
            StopReason::ToolUse
        } else {
            reason
        };
        out.push(Ev::Stop(reason, seq));
        out.push(Ev::End);
        self.done = true;
    }
}

struct Pipeline {
    decoder: Box<dyn Decode>,
    encoder: Box<dyn Encode>,
    norm: Normalizer,
    loss: Loss,
}

impl Pipeline {
    fn emit(&mut self, evs: Vec<Ev>) -> Vec<SseEvent> {
        let mut normalized = Vec::new();
        for ev in evs {
            self.norm.feed(ev, &mut self.loss, &mut normalized);
        }
        let mut out = Vec::new();
        for ev in normalized {
            out.extend(self.encoder.on(ev, &mut self.loss));
        }
        out
    }
}

const UNTERMINATED: &str = "upstream stream ended before it completed";

impl StreamConverter for Pipeline {
    fn push(&mut self, event: &SseEvent) -> Vec<SseEvent> {
        if self.norm.done {
            return Vec::new();
        }
        let evs = self.decoder.push(event, &mut self.loss);
        self.emit(evs)
    }

    fn finish(&mut self) -> Vec<SseEvent> {
        if self.norm.done {
            return Vec::new();
        }
        let mut evs = self.decoder.finish(&mut self.loss);
        evs.push(Ev::Error {
            message: UNTERMINATED.to_owned(),
            kind: "api_error",
        });
        self.emit(evs)
    }

    fn fail(&mut self, message: &str) -> Vec<SseEvent> {
        self.emit(vec![Ev::Error {
            message: message.to_owned(),
            kind: "api_error",
        }])
    }

    fn lossy(&self) -> &[&'static str] {
        self.loss.as_slice()
    }
}

/// Same protocol on both sides: events pass unchanged; only a missing
/// terminal signal or a failure adds the protocol's bare error event.
struct Passthrough {
    protocol: Protocol,
    done: bool,
}

impl Passthrough {
    fn new(protocol: Protocol) -> Passthrough {
        Passthrough {
            protocol,
            done: false,
        }
    }

    fn is_terminal(&self, event: &SseEvent) -> bool {
        if event.data.trim() == "[DONE]" {
            return true;
        }
        let data: Value = serde_json::from_str(&event.data).unwrap_or_default();
        if self.protocol == Protocol::OpenAiChat {
            return data.get("error").is_some();
        }
        matches!(
            event_type(event, &data),
            "message_stop"
                | "error"
                | "response.completed"
                | "response.incomplete"
                | "response.failed"
        )
    }

    fn bare_error(&mut self, message: &str) -> Vec<SseEvent> {
        if std::mem::replace(&mut self.done, true) {
            return Vec::new();
        }
        let err = Ev::Error {
            message: message.to_owned(),
            kind: "api_error",
        };
        match self.protocol {
            Protocol::AnthropicMessages => vec![anthropic::error_event(&err)],
            Protocol::OpenAiChat => vec![chat::error_event(&err)],
            Protocol::OpenAiResponses => vec![responses::error_event(&err, 0)],
        }
    }
}

impl StreamConverter for Passthrough {
    fn push(&mut self, event: &SseEvent) -> Vec<SseEvent> {
        if self.done {
            return Vec::new();
        }
        self.done = self.is_terminal(event);
        vec![event.clone()]
    }

    fn finish(&mut self) -> Vec<SseEvent> {
        self.bare_error(UNTERMINATED)
    }

    fn fail(&mut self, message: &str) -> Vec<SseEvent> {
        self.bare_error(message)
    }

    fn lossy(&self) -> &[&'static str] {
        &[]
    }
}
