//! Anthropic Messages streams: decoding upstream events and encoding the
//! client stream (`message_start` … `message_stop`).

use super::{error_kind, event_type, parse_data, Block, Decode, Encode, Ev, Kind, StreamContext};
use crate::convert::anthropic::stop_to_str;
use crate::convert::ir::{Loss, Usage};
use crate::convert::json::{new_id, present, str_of, text_of};
use crate::convert::{anthropic, usage};
use crate::sse::SseEvent;
use serde_json::{json, Value};

// ----------------------------------------------------------------- decoder

#[derive(Debug, Default)]
pub struct Decoder {
    /// Inside a block type we cannot carry (server tools, citations…).
    skipping: bool,
}

impl Decode for Decoder {
    fn push(&mut self, event: &SseEvent, loss: &mut Loss) -> Vec<Ev> {
        let Some(data) = parse_data(event, loss) else {
            return Vec::new();
        };
        match event_type(event, &data) {
            "message_start" => {
                let msg = data.get("message").unwrap_or(&Value::Null);
                vec![Ev::Start {
                    id: str_of(msg, "id").map(str::to_owned),
                    model: str_of(msg, "model").map(str::to_owned),
                    usage: present(msg, "usage")
                        .map(usage::from_anthropic)
                        .unwrap_or_default(),
                }]
            }
            "content_block_start" => {
                self.block_start(data.get("content_block").unwrap_or(&Value::Null), loss)
            }
            "content_block_delta" if !self.skipping => {
                delta(data.get("delta").unwrap_or(&Value::Null), loss)
            }
            "content_block_stop" if std::mem::take(&mut self.skipping) => Vec::new(),
            "content_block_stop" => vec![Ev::Close],
            "message_delta" => message_delta(&data),
            "message_stop" => vec![Ev::End],
            "error" => {
                let err = data.get("error").unwrap_or(&Value::Null);
                vec![Ev::Error {
                    message: str_of(err, "message")
                        .unwrap_or("upstream error")
                        .to_owned(),
                    kind: error_kind(text_of(err, "type")),
                }]
            }
            _ => Vec::new(),
        }
    }
}

impl Decoder {
    fn block_start(&mut self, block: &Value, loss: &mut Loss) -> Vec<Ev> {
        let text = |key| {
            str_of(block, key)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        match str_of(block, "type") {
            Some("text") => [Some(Ev::Open(Block::Text)), text("text").map(Ev::Text)]
                .into_iter()
                .flatten()
                .collect(),
            Some("thinking") => [
                Some(Ev::Open(Block::Thinking)),
                text("thinking").map(Ev::Thinking),
                text("signature").map(Ev::Signature),
            ]
            .into_iter()
            .flatten()
            .collect(),
            Some("redacted_thinking") => {
                vec![Ev::Open(Block::Redacted(text_of(block, "data").to_owned()))]
            }
            Some("tool_use") if text_of(block, "name").is_empty() => {
                // A call that names no tool cannot be made: skipped with its
                // input, as the Chat decoder drops a nameless one.
                loss.add("tool_call.name");
                self.skipping = true;
                Vec::new()
            }
            Some("tool_use") => {
                let open = Ev::Open(Block::Tool {
                    id: text_of(block, "id").to_owned(),
                    name: text_of(block, "name").to_owned(),
                });
                let input = block
                    .get("input")
                    .filter(|i| i.as_object().is_some_and(|m| !m.is_empty()));
                [Some(open), input.map(|i| Ev::Args(i.to_string()))]
                    .into_iter()
                    .flatten()
                    .collect()
            }
            _ => {
                // e.g. server_tool_use / web_search_tool_result run on Anthropic's side.
                loss.add("content_block");
                self.skipping = true;
                Vec::new()
            }
        }
    }
}

fn delta(d: &Value, loss: &mut Loss) -> Vec<Ev> {
    let s = |key| text_of(d, key).to_owned();
    match str_of(d, "type") {
        Some("text_delta") => vec![Ev::Text(s("text"))],
        Some("input_json_delta") => vec![Ev::Args(s("partial_json"))],
        Some("thinking_delta") => vec![Ev::Thinking(s("thinking"))],
        Some("signature_delta") => vec![Ev::Signature(s("signature"))],
        Some("citations_delta") => {
            loss.add("citations");
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn message_delta(data: &Value) -> Vec<Ev> {
    let d = data.get("delta").unwrap_or(&Value::Null);
    let mut out = Vec::new();
    if let Some(reason) = str_of(d, "stop_reason").and_then(anthropic::stop_from_str) {
        out.push(Ev::Stop(
            reason,
            str_of(d, "stop_sequence").map(str::to_owned),
        ));
    }
    if let Some(u) = present(data, "usage") {
        out.push(Ev::Usage(usage::from_anthropic(u)));
    }
    out
}

// ----------------------------------------------------------------- encoder

pub struct Encoder {
    ctx: StreamContext,
    /// Number of blocks opened so far; the open block is `blocks - 1`.
    blocks: u64,
    open: Option<Kind>,
    args_sent: bool,
    usage: Usage,
    stop: Option<(&'static str, Option<String>)>,
    /// Streamed characters, for an output estimate when upstream reports none.
    out_chars: u64,
}

impl Encoder {
    pub fn new(ctx: StreamContext) -> Encoder {
        Encoder {
            ctx,
            blocks: 0,
            open: None,
            args_sent: false,
            usage: Usage::default(),
            stop: None,
            out_chars: 0,
        }
    }

    fn index(&self) -> u64 {
        self.blocks.saturating_sub(1)
    }

    /// Input tokens to announce: upstream's if it reported any, else the
    /// estimate, never zero (Claude Code mishandles zero usage).
    fn input_tokens(&self) -> u64 {
        if self.usage.total_input() > 0 {
            self.usage.input.unwrap_or(0)
        } else {
            self.ctx.estimated_input_tokens.max(1)
        }
    }

    fn output_tokens(&self) -> u64 {
        self.usage
            .output
            .unwrap_or(self.out_chars.div_ceil(4))
            .max(1)
    }

    fn usage_json(&self, output_tokens: u64) -> Value {
        json!({
            "input_tokens": self.input_tokens(),
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": self.usage.cache_write.unwrap_or(0),
            "cache_read_input_tokens": self.usage.cache_read.unwrap_or(0),
        })
    }

    fn message_start(
        &mut self,
        id: Option<String>,
        model: Option<String>,
        usage: Usage,
    ) -> SseEvent {
        self.usage.merge(&usage);
        let output = self.usage.output.unwrap_or(1).max(1);
        event(json!({
            "type": "message_start",
            "message": {
                "id": id.unwrap_or_else(|| new_id("msg_")),
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": model.unwrap_or_else(|| self.ctx.model.clone()),
                "stop_reason": Value::Null,
                "stop_sequence": Value::Null,
                "usage": self.usage_json(output),
            }
        }))
    }

    fn open(&mut self, block: Block) -> SseEvent {
        self.blocks += 1;
        self.open = Some(block.kind());
        self.args_sent = false;
        let content_block = match block {
            Block::Text => json!({"type": "text", "text": ""}),
            Block::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
            Block::Redacted(data) => json!({"type": "redacted_thinking", "data": data}),
            Block::Tool { id, name } => json!({
                "type": "tool_use", "id": anthropic::tool_id(&id), "name": name, "input": {},
            }),
        };
        event(
            json!({"type": "content_block_start", "index": self.index(), "content_block": content_block}),
        )
    }

    fn delta(&self, delta: Value) -> SseEvent {
        event(json!({"type": "content_block_delta", "index": self.index(), "delta": delta}))
    }

    fn close(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        // Clients parse the accumulated partial_json; an empty string is not JSON.
        if self.open.take() == Some(Kind::Tool) && !self.args_sent {
            out.push(self.delta(json!({"type": "input_json_delta", "partial_json": "{}"})));
        }
        out.push(event(
            json!({"type": "content_block_stop", "index": self.index()}),
        ));
        out
    }

    fn end(&mut self) -> Vec<SseEvent> {
        let (reason, seq) = self.stop.take().unwrap_or(("end_turn", None));
        let output = self.output_tokens();
        vec![
            event(json!({
                "type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": seq},
                "usage": self.usage_json(output),
            })),
            event(json!({"type": "message_stop"})),
        ]
    }
}

impl Encode for Encoder {
    fn on(&mut self, ev: Ev, loss: &mut Loss) -> Vec<SseEvent> {
        match ev {
            Ev::Start { id, model, usage } => vec![self.message_start(id, model, usage)],
            Ev::Open(block) => vec![self.open(block)],
            Ev::Text(t) => {
                self.out_chars += t.len() as u64;
                vec![self.delta(json!({"type": "text_delta", "text": t}))]
            }
            Ev::Thinking(t) => {
                self.out_chars += t.len() as u64;
                vec![self.delta(json!({"type": "thinking_delta", "thinking": t}))]
            }
            Ev::Signature(s) => {
                vec![self.delta(json!({"type": "signature_delta", "signature": s}))]
            }
            Ev::Args(a) => {
                self.out_chars += a.len() as u64;
                self.args_sent = true;
                vec![self.delta(json!({"type": "input_json_delta", "partial_json": a}))]
            }
            Ev::Close => self.close(),
            Ev::Usage(u) => {
                if u.reasoning.is_some_and(|r| r > 0) {
                    loss.add("usage.reasoning_tokens");
                }
                self.usage.merge(&u);
                Vec::new()
            }
            Ev::Stop(reason, seq) => {
                self.stop = Some((stop_to_str(reason), seq));
                Vec::new()
            }
            Ev::End => self.end(),
            err @ Ev::Error { .. } => vec![error_event(&err)],
        }
    }
}

fn event(data: Value) -> SseEvent {
    let kind = text_of(&data, "type").to_owned();
    SseEvent::new(Some(&kind), data.to_string())
}

pub fn error_event(err: &Ev) -> SseEvent {
    let (message, kind) = match err {
        Ev::Error { message, kind } => (message.as_str(), *kind),
        _ => ("stream failed", "api_error"),
    };
    event(json!({"type": "error", "error": {"type": kind, "message": message}}))
}
