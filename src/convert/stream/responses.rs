//! Responses API streams: decoding upstream events and encoding the client
//! stream (`response.created` … `response.completed`).
//!
//! The openai SDK's stream accumulator indexes output items by
//! `output_index` and content by `content_index`, so the encoder assigns
//! both from one place and opens every item before its deltas.

use super::{error_kind, event_type, parse_data, Block, Decode, Encode, Ev, Kind, StreamContext};
use crate::convert::ir::{Loss, StopReason, Usage};
use crate::convert::json::{arr_of, new_id, present, str_of, text_of, unix_now};
use crate::convert::responses::{
    echo, function_call_item, message_item, output_text_part, reasoning_item, response_object,
    status_for, stop_of, ResponseHead,
};
use crate::convert::usage;
use crate::sse::SseEvent;
use serde_json::{json, Value};

// ----------------------------------------------------------------- decoder

#[derive(Debug, Default, PartialEq)]
enum Item {
    #[default]
    None,
    Message,
    Reasoning {
        opened: bool,
        parts: u32,
    },
    Tool {
        args_seen: bool,
    },
    Other,
}

#[derive(Debug, Default)]
pub struct Decoder {
    item: Item,
}

impl Decode for Decoder {
    fn push(&mut self, event: &SseEvent, loss: &mut Loss) -> Vec<Ev> {
        let Some(data) = parse_data(event, loss) else {
            return Vec::new();
        };
        let response = data.get("response").unwrap_or(&Value::Null);
        match event_type(event, &data) {
            "response.created" => vec![Ev::Start {
                id: str_of(response, "id").map(str::to_owned),
                model: str_of(response, "model").map(str::to_owned),
                usage: Usage::default(),
            }],
            "response.output_item.added" => {
                self.item_added(data.get("item").unwrap_or(&Value::Null), loss)
            }
            "response.content_part.added" if self.item == Item::Message => {
                let part = data.get("part").unwrap_or(&Value::Null);
                let text = str_of(part, "text")
                    .or_else(|| str_of(part, "refusal"))
                    .unwrap_or("");
                vec![Ev::Open(Block::Text), Ev::Text(text.to_owned())]
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                vec![Ev::Text(text_of(&data, "delta").to_owned())]
            }
            "response.content_part.done" if self.item == Item::Message => vec![Ev::Close],
            "response.function_call_arguments.delta" => self.args(text_of(&data, "delta")),
            "response.function_call_arguments.done" => match self.item {
                Item::Tool { args_seen: false } => self.args(text_of(&data, "arguments")),
                _ => Vec::new(),
            },
            "response.reasoning_summary_part.added" => self.summary_part(),
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                if let Item::Reasoning { opened, .. } = &mut self.item {
                    *opened = true;
                }
                vec![Ev::Thinking(text_of(&data, "delta").to_owned())]
            }
            "response.output_item.done" => self.item_done(data.get("item").unwrap_or(&Value::Null)),
            "response.completed" | "response.incomplete" => vec![
                Ev::Usage(
                    present(response, "usage")
                        .map(usage::from_responses)
                        .unwrap_or_default(),
                ),
                Ev::Stop(stop_of(response).unwrap_or(StopReason::EndTurn), None),
                Ev::End,
            ],
            "response.failed" => {
                let err = response.get("error").unwrap_or(&Value::Null);
                vec![failure(err, "response failed")]
            }
            "error" => vec![failure(&data, "upstream error")],
            _ => Vec::new(),
        }
    }
}

fn failure(err: &Value, fallback: &str) -> Ev {
    Ev::Error {
        message: str_of(err, "message").unwrap_or(fallback).to_owned(),
        kind: error_kind(text_of(err, "code")),
    }
}

impl Decoder {
    fn item_added(&mut self, item: &Value, loss: &mut Loss) -> Vec<Ev> {
        match str_of(item, "type") {
            Some("message") => {
                self.item = Item::Message;
                Vec::new()
            }
            Some("function_call") if text_of(item, "name").is_empty() => {
                // A call that names no function cannot be made: dropped with
                // its arguments, as the Chat decoder drops a nameless one.
                loss.add("tool_call.name");
                self.item = Item::Other;
                Vec::new()
            }
            Some("function_call") => {
                let id = str_of(item, "call_id")
                    .or_else(|| str_of(item, "id"))
                    .unwrap_or("");
                self.item = Item::Tool { args_seen: false };
                let mut out = vec![Ev::Open(Block::Tool {
                    id: id.to_owned(),
                    name: text_of(item, "name").to_owned(),
                })];
                out.extend(self.args(text_of(item, "arguments")));
                out
            }
            Some("reasoning") => {
                self.item = Item::Reasoning {
                    opened: false,
                    parts: 0,
                };
                Vec::new()
            }
            _ => {
                loss.add("output_item");
                self.item = Item::Other;
                Vec::new()
            }
        }
    }

    /// Arguments count only inside a function call item: outside one they
    /// belong to no call (a dropped one, or a stream missing its start).
    fn args(&mut self, fragment: &str) -> Vec<Ev> {
        let Item::Tool { args_seen } = &mut self.item else {
            return Vec::new();
        };
        if fragment.is_empty() {
            return Vec::new();
        }
        *args_seen = true;
        vec![Ev::Args(fragment.to_owned())]
    }

    /// Summary parts are separate paragraphs; thinking is one text.
    fn summary_part(&mut self) -> Vec<Ev> {
        match &mut self.item {
            Item::Reasoning { parts, .. } => {
                *parts += 1;
                if *parts > 1 {
                    return vec![Ev::Thinking("\n\n".to_owned())];
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn item_done(&mut self, item: &Value) -> Vec<Ev> {
        match std::mem::take(&mut self.item) {
            Item::Message => vec![Ev::Close],
            Item::Tool { args_seen } => {
                let mut out = if args_seen {
                    Vec::new()
                } else {
                    self.args(text_of(item, "arguments"))
                };
                out.push(Ev::Close);
                out
            }
            Item::Reasoning { opened, .. } => reasoning_done(item, opened),
            Item::None | Item::Other => Vec::new(),
        }
    }
}

/// Encrypted content becomes the thinking signature; reasoning that was
/// never streamed as text becomes redacted thinking (or thinking, if the
/// final item carries a summary).
fn reasoning_done(item: &Value, opened: bool) -> Vec<Ev> {
    let encrypted = str_of(item, "encrypted_content")
        .filter(|e| !e.is_empty())
        .map(str::to_owned);
    if opened {
        return encrypted
            .map(Ev::Signature)
            .into_iter()
            .chain([Ev::Close])
            .collect();
    }
    let summary: Vec<&str> = arr_of(item, "summary")
        .iter()
        .filter_map(|s| str_of(s, "text"))
        .collect();
    if !summary.is_empty() {
        let mut out = vec![
            Ev::Open(Block::Thinking),
            Ev::Thinking(summary.join("\n\n")),
        ];
        out.extend(encrypted.map(Ev::Signature));
        out.push(Ev::Close);
        return out;
    }
    match encrypted {
        Some(e) => vec![Ev::Open(Block::Redacted(e)), Ev::Close],
        None => Vec::new(),
    }
}

// ----------------------------------------------------------------- encoder

struct Current {
    kind: Kind,
    item_id: String,
    output_index: usize,
    /// Text, summary text, or arguments accumulated so far.
    text: String,
    /// Signature for reasoning, redacted data, or (call_id, name) for tools.
    extra: Option<String>,
    call: Option<(String, String)>,
}

pub struct Encoder {
    ctx: StreamContext,
    seq: u64,
    id: String,
    model: String,
    created_at: u64,
    output: Vec<Value>,
    current: Option<Current>,
    usage: Usage,
    stop: StopReason,
}

impl Encoder {
    pub fn new(ctx: StreamContext) -> Encoder {
        Encoder {
            model: ctx.model.clone(),
            ctx,
            seq: 0,
            id: new_id("resp_"),
            created_at: unix_now(),
            output: Vec::new(),
            current: None,
            usage: Usage::default(),
            stop: StopReason::EndTurn,
        }
    }

    fn ev(&mut self, kind: &str, mut data: Value) -> SseEvent {
        if let Some(map) = data.as_object_mut() {
            map.insert("type".into(), json!(kind));
            map.insert("sequence_number".into(), json!(self.seq));
        }
        self.seq += 1;
        SseEvent::new(Some(kind), data.to_string())
    }

    fn response(&self, status: &str, incomplete: Option<&str>, usage: Option<Value>) -> Value {
        let head = ResponseHead {
            id: &self.id,
            model: &self.model,
            created_at: self.created_at,
        };
        let mut object = response_object(&head, status, incomplete, self.output.clone(), usage);
        echo(&mut object, &self.ctx.echo);
        object
    }

    fn start(&mut self, id: Option<String>, model: Option<String>) -> Vec<SseEvent> {
        if let Some(id) = id {
            self.id = if id.starts_with("resp_") {
                id
            } else {
                format!("resp_{id}")
            };
        }
        if let Some(model) = model {
            self.model = model;
        }
        let response = self.response("in_progress", None, None);
        vec![
            self.ev("response.created", json!({"response": response})),
            self.ev("response.in_progress", json!({"response": response})),
        ]
    }

    fn open(&mut self, block: Block) -> Vec<SseEvent> {
        let output_index = self.output.len();
        let (kind, prefix) = match &block {
            Block::Text => (Kind::Text, "msg_"),
            Block::Thinking => (Kind::Thinking, "rs_"),
            Block::Redacted(_) => (Kind::Redacted, "rs_"),
            Block::Tool { .. } => (Kind::Tool, "fc_"),
        };
        let item_id = new_id(prefix);
        let (item, extra, call) = match block {
            Block::Text => (message_item(&item_id, &[], "in_progress"), None, None),
            Block::Thinking => (reasoning_item(&item_id, None, None), None, None),
            Block::Redacted(data) => (reasoning_item(&item_id, None, None), Some(data), None),
            Block::Tool { id, name } => {
                let item = function_call_item(&item_id, &id, &name, "", "in_progress");
                (item, None, Some((id, name)))
            }
        };
        let mut out = vec![self.ev(
            "response.output_item.added",
            json!({"output_index": output_index, "item": item}),
        )];
        let ids = json!({"item_id": item_id, "output_index": output_index});
        match kind {
            Kind::Text => out.push(self.ev(
                "response.content_part.added",
                with(
                    &ids,
                    json!({"content_index": 0, "part": output_text_part("")}),
                ),
            )),
            Kind::Thinking => out.push(self.ev(
                "response.reasoning_summary_part.added",
                with(
                    &ids,
                    json!({"summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
                ),
            )),
            Kind::Redacted | Kind::Tool => {}
        }
        self.current = Some(Current {
            kind,
            item_id,
            output_index,
            text: String::new(),
            extra,
            call,
        });
        out
    }

    fn delta(&mut self, kind: Kind, delta: &str) -> Vec<SseEvent> {
        let Some(cur) = self.current.as_mut().filter(|c| c.kind == kind) else {
            return Vec::new();
        };
        cur.text.push_str(delta);
        let ids = json!({"item_id": cur.item_id, "output_index": cur.output_index});
        let (name, fields) = match kind {
            Kind::Text => (
                "response.output_text.delta",
                json!({"content_index": 0, "delta": delta, "logprobs": []}),
            ),
            Kind::Thinking => (
                "response.reasoning_summary_text.delta",
                json!({"summary_index": 0, "delta": delta}),
            ),
            _ => (
                "response.function_call_arguments.delta",
                json!({"delta": delta}),
            ),
        };
        vec![self.ev(name, with(&ids, fields))]
    }

    fn close(&mut self) -> Vec<SseEvent> {
        let Some(cur) = self.current.take() else {
            return Vec::new();
        };
        let ids = json!({"item_id": cur.item_id, "output_index": cur.output_index});
        let mut out = Vec::new();
        let item = match cur.kind {
            Kind::Text => {
                let text = &cur.text;
                out.push(self.ev(
                    "response.output_text.done",
                    with(
                        &ids,
                        json!({"content_index": 0, "text": text, "logprobs": []}),
                    ),
                ));
                out.push(self.ev(
                    "response.content_part.done",
                    with(
                        &ids,
                        json!({"content_index": 0, "part": output_text_part(text)}),
                    ),
                ));
                message_item(&cur.item_id, std::slice::from_ref(text), "completed")
            }
            Kind::Thinking => {
                let part =
                    json!({"summary_index": 0, "part": {"type": "summary_text", "text": cur.text}});
                out.push(self.ev(
                    "response.reasoning_summary_text.done",
                    with(&ids, json!({"summary_index": 0, "text": cur.text})),
                ));
                out.push(self.ev("response.reasoning_summary_part.done", with(&ids, part)));
                reasoning_item(&cur.item_id, Some(&cur.text), cur.extra.as_deref())
            }
            Kind::Redacted => reasoning_item(&cur.item_id, None, cur.extra.as_deref()),
            Kind::Tool => {
                let (call_id, name) = cur.call.clone().unwrap_or_default();
                let mut args = cur.text.clone();
                if args.is_empty() {
                    args = "{}".to_owned();
                    out.push(self.ev(
                        "response.function_call_arguments.delta",
                        with(&ids, json!({"delta": args})),
                    ));
                }
                out.push(self.ev(
                    "response.function_call_arguments.done",
                    with(&ids, json!({"arguments": args, "name": name})),
                ));
                function_call_item(&cur.item_id, &call_id, &name, &args, "completed")
            }
        };
        out.push(self.ev(
            "response.output_item.done",
            json!({"output_index": cur.output_index, "item": item}),
        ));
        self.output.push(item);
        out
    }

    fn end(&mut self) -> Vec<SseEvent> {
        let (status, incomplete) = status_for(self.stop);
        let mut usage = self.usage;
        if usage.total_input() == 0 {
            usage.input = Some(self.ctx.estimated_input_tokens);
        }
        let response = self.response(status, incomplete, Some(usage::to_responses(&usage)));
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        vec![self.ev(kind, json!({"response": response}))]
    }

    fn error(&mut self, err: &Ev) -> Vec<SseEvent> {
        let (message, code) = error_parts(err);
        let event = error_event(err, self.seq);
        self.seq += 1;
        let mut response = self.response("failed", None, None);
        if let Some(map) = response.as_object_mut() {
            map.insert("error".into(), json!({"code": code, "message": message}));
        }
        vec![
            event,
            self.ev("response.failed", json!({"response": response})),
        ]
    }
}

/// Merges two JSON objects (the ids shared by an item's events, plus fields).
fn with(ids: &Value, fields: Value) -> Value {
    let mut out = ids.clone();
    if let (Some(map), Value::Object(extra)) = (out.as_object_mut(), fields) {
        map.extend(extra);
    }
    out
}

impl Encode for Encoder {
    fn on(&mut self, ev: Ev, _loss: &mut Loss) -> Vec<SseEvent> {
        match ev {
            Ev::Start { id, model, usage } => {
                self.usage.merge(&usage);
                self.start(id, model)
            }
            Ev::Open(block) => self.open(block),
            Ev::Text(t) => self.delta(Kind::Text, &t),
            Ev::Thinking(t) => self.delta(Kind::Thinking, &t),
            Ev::Args(a) => self.delta(Kind::Tool, &a),
            Ev::Signature(s) => {
                if let Some(cur) = self.current.as_mut() {
                    cur.extra.get_or_insert_with(String::new).push_str(&s);
                }
                Vec::new()
            }
            Ev::Close => self.close(),
            Ev::Usage(u) => {
                self.usage.merge(&u);
                Vec::new()
            }
            Ev::Stop(reason, _) => {
                self.stop = reason;
                Vec::new()
            }
            Ev::End => self.end(),
            err @ Ev::Error { .. } => self.error(&err),
        }
    }
}

/// Message and Responses error code. `response.error.code` is an enum
/// (`server_error`, `rate_limit_exceeded`, `invalid_prompt`, …): Anthropic's
/// kinds such as `overloaded_error` must be mapped into it.
fn error_parts(err: &Ev) -> (&str, &'static str) {
    match err {
        Ev::Error { message, kind } => (message, responses_error_code(kind)),
        _ => ("stream failed", "server_error"),
    }
}

fn responses_error_code(kind: &str) -> &'static str {
    match kind {
        "rate_limit_error" => "rate_limit_exceeded",
        "invalid_request_error" => "invalid_prompt",
        _ => "server_error",
    }
}

/// The `error` stream event.
pub fn error_event(err: &Ev, sequence_number: u64) -> SseEvent {
    let (message, code) = error_parts(err);
    let data = json!({"type": "error", "code": code, "message": message, "param": Value::Null, "sequence_number": sequence_number});
    SseEvent::new(Some("error"), data.to_string())
}
