//! OpenAI Responses (`POST /v1/responses`): the `response` object and its
//! semantic event stream (`response.created` … `response.completed`), every
//! event with a `sequence_number` and an `event:` line equal to its `type`.
//! Errors use the OpenAI shape from [`super::chat`].

use serde_json::{json, Map, Value};

use super::{arguments_json, split_fragments, split_words, Ctx, Event, Kind};
use crate::behavior::{Reply, Usage};
use crate::ids;

/// One output item, with the ids shared by its stream events and the final
/// response.
enum Item {
    Reasoning {
        id: String,
        summary: String,
        signature: String,
    },
    Message {
        id: String,
        text: String,
    },
    Call {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
}

fn items(reply: &Reply) -> Vec<Item> {
    let mut items = Vec::new();
    if let Some((summary, signature)) = &reply.thinking {
        items.push(Item::Reasoning {
            id: ids::reasoning_item(),
            summary: summary.clone(),
            signature: signature.clone(),
        });
    }
    if let Some(text) = &reply.text {
        items.push(Item::Message {
            id: ids::output_message(),
            text: text.clone(),
        });
    }
    for (name, arguments) in &reply.tool_calls {
        items.push(Item::Call {
            id: ids::function_call_item(),
            call_id: ids::tool_call(),
            name: name.clone(),
            arguments: arguments_json(arguments),
        });
    }
    items
}

fn wants_encrypted_reasoning(request: &Value) -> bool {
    request
        .get("include")
        .and_then(Value::as_array)
        .is_some_and(|inc| {
            inc.iter()
                .any(|v| v.as_str() == Some("reasoning.encrypted_content"))
        })
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text})
}

impl Item {
    fn id(&self) -> &str {
        match self {
            Item::Reasoning { id, .. } | Item::Message { id, .. } | Item::Call { id, .. } => id,
        }
    }

    /// The item as it appears in `response.output_item.added`.
    fn started(&self) -> Value {
        match self {
            Item::Reasoning { id, .. } => json!({"id": id, "type": "reasoning", "summary": []}),
            Item::Message { id, .. } => json!({
                "id": id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"
            }),
            Item::Call {
                id, call_id, name, ..
            } => json!({
                "id": id, "type": "function_call", "status": "in_progress",
                "arguments": "", "call_id": call_id, "name": name
            }),
        }
    }

    /// The finished item, as in `response.output_item.done` and the response.
    fn finished(&self, ctx: &Ctx, status: &str) -> Value {
        match self {
            Item::Reasoning {
                id,
                summary,
                signature,
            } => {
                let mut item = json!({
                    "id": id, "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": summary}]
                });
                if wants_encrypted_reasoning(ctx.request) {
                    item["encrypted_content"] = json!(signature);
                }
                item
            }
            Item::Message { id, text } => json!({
                "id": id, "type": "message", "status": status,
                "content": [output_text(text)], "role": "assistant"
            }),
            Item::Call {
                id,
                call_id,
                name,
                arguments,
            } => json!({
                "id": id, "type": "function_call", "status": "completed",
                "arguments": arguments, "call_id": call_id, "name": name
            }),
        }
    }
}

fn usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input,
        "input_tokens_details": {"cached_tokens": u.cache_read, "cache_write_tokens": u.cache_write},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": u.total()
    })
}

fn echo(request: &Value, key: &str, default: Value) -> Value {
    request.get(key).cloned().unwrap_or(default)
}

/// Where a response object stands.
struct State {
    status: &'static str,
    output: Vec<Value>,
    usage: Value,
    error: Value,
    incomplete_details: Value,
}

/// The `response` object with every field the API (and the SDK's model) has.
fn response_object(ctx: &Ctx, state: State) -> Value {
    let r = ctx.request;
    let completed_at = if state.status == "completed" {
        json!(ctx.created)
    } else {
        Value::Null
    };
    let effort = r
        .pointer("/reasoning/effort")
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "id": ctx.id,
        "object": "response",
        "created_at": ctx.created,
        "status": state.status,
        "background": false,
        "completed_at": completed_at,
        "error": state.error,
        "incomplete_details": state.incomplete_details,
        "instructions": echo(r, "instructions", Value::Null),
        "max_output_tokens": echo(r, "max_output_tokens", Value::Null),
        "max_tool_calls": null,
        "model": ctx.model,
        "output": state.output,
        "parallel_tool_calls": echo(r, "parallel_tool_calls", json!(true)),
        "previous_response_id": echo(r, "previous_response_id", Value::Null),
        "prompt_cache_key": null,
        "reasoning": {"effort": effort, "summary": null},
        "safety_identifier": null,
        "service_tier": "default",
        "store": echo(r, "store", json!(true)),
        "temperature": echo(r, "temperature", json!(1.0)),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": echo(r, "tool_choice", json!("auto")),
        "tools": echo(r, "tools", json!([])),
        "top_logprobs": 0,
        "top_p": echo(r, "top_p", json!(1.0)),
        "truncation": "disabled",
        "usage": state.usage,
        "user": null,
        "metadata": echo(r, "metadata", json!({}))
    })
}

fn in_progress(ctx: &Ctx) -> Value {
    response_object(
        ctx,
        State {
            status: "in_progress",
            output: Vec::new(),
            usage: Value::Null,
            error: Value::Null,
            incomplete_details: Value::Null,
        },
    )
}

fn finished(ctx: &Ctx, reply: &Reply, items: &[Item]) -> Value {
    let (status, item_status, incomplete) = if reply.max_tokens {
        (
            "incomplete",
            "incomplete",
            json!({"reason": "max_output_tokens"}),
        )
    } else {
        ("completed", "completed", Value::Null)
    };
    response_object(
        ctx,
        State {
            status,
            output: items.iter().map(|i| i.finished(ctx, item_status)).collect(),
            usage: usage(&ctx.usage),
            error: Value::Null,
            incomplete_details: incomplete,
        },
    )
}

/// The non-streaming `response`.
pub fn response(ctx: &Ctx, reply: &Reply) -> Value {
    finished(ctx, reply, &items(reply))
}

/// Numbers events as they are added.
struct Seq {
    events: Vec<Event>,
}

impl Seq {
    fn push(&mut self, ty: &str, fields: Value, kind: Kind) {
        let mut payload = Map::new();
        payload.insert("type".into(), json!(ty));
        if let Value::Object(fields) = fields {
            payload.extend(fields);
        }
        payload.insert("sequence_number".into(), json!(self.events.len()));
        self.events.push(Event::typed(Value::Object(payload), kind));
    }
}

/// The full event stream for `reply`.
pub fn events(ctx: &Ctx, reply: &Reply) -> Vec<Event> {
    let items = items(reply);
    let mut s = Seq { events: Vec::new() };
    s.push(
        "response.created",
        json!({"response": in_progress(ctx)}),
        Kind::Head,
    );
    s.push(
        "response.in_progress",
        json!({"response": in_progress(ctx)}),
        Kind::Head,
    );
    let item_status = if reply.max_tokens {
        "incomplete"
    } else {
        "completed"
    };
    for (index, item) in items.iter().enumerate() {
        s.push(
            "response.output_item.added",
            json!({"output_index": index, "item": item.started()}),
            Kind::Head,
        );
        match item {
            Item::Reasoning { summary, .. } => reasoning_events(&mut s, item.id(), index, summary),
            Item::Message { text, .. } => text_events(&mut s, item.id(), index, text),
            Item::Call { arguments, .. } => call_events(&mut s, item.id(), index, arguments),
        }
        s.push(
            "response.output_item.done",
            json!({"output_index": index, "item": item.finished(ctx, item_status)}),
            Kind::Head,
        );
    }
    let terminal = if reply.max_tokens {
        "response.incomplete"
    } else {
        "response.completed"
    };
    s.push(
        terminal,
        json!({"response": finished(ctx, reply, &items)}),
        Kind::Tail,
    );
    s.events
}

fn reasoning_events(s: &mut Seq, id: &str, index: usize, summary: &str) {
    let at = json!({"item_id": id, "output_index": index, "summary_index": 0});
    let with = |extra: Value| merge(&at, extra);
    s.push(
        "response.reasoning_summary_part.added",
        with(json!({"part": {"type": "summary_text", "text": ""}})),
        Kind::Head,
    );
    for piece in split_words(summary) {
        s.push(
            "response.reasoning_summary_text.delta",
            with(json!({"delta": piece})),
            Kind::Delta,
        );
    }
    s.push(
        "response.reasoning_summary_text.done",
        with(json!({"text": summary})),
        Kind::Head,
    );
    s.push(
        "response.reasoning_summary_part.done",
        with(json!({"part": {"type": "summary_text", "text": summary}})),
        Kind::Head,
    );
}

fn text_events(s: &mut Seq, id: &str, index: usize, text: &str) {
    let at = json!({"item_id": id, "output_index": index, "content_index": 0});
    let with = |extra: Value| merge(&at, extra);
    s.push(
        "response.content_part.added",
        with(json!({"part": output_text("")})),
        Kind::Head,
    );
    for piece in split_words(text) {
        s.push(
            "response.output_text.delta",
            with(json!({"delta": piece, "logprobs": []})),
            Kind::Delta,
        );
    }
    s.push(
        "response.output_text.done",
        with(json!({"text": text, "logprobs": []})),
        Kind::Head,
    );
    s.push(
        "response.content_part.done",
        with(json!({"part": output_text(text)})),
        Kind::Head,
    );
}

fn call_events(s: &mut Seq, id: &str, index: usize, arguments: &str) {
    let at = json!({"item_id": id, "output_index": index});
    for piece in split_fragments(arguments) {
        s.push(
            "response.function_call_arguments.delta",
            merge(&at, json!({"delta": piece})),
            Kind::Delta,
        );
    }
    s.push(
        "response.function_call_arguments.done",
        merge(&at, json!({"arguments": arguments})),
        Kind::Head,
    );
}

fn merge(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    if let (Value::Object(out), Value::Object(extra)) = (&mut out, extra) {
        out.extend(extra);
    }
    out
}

/// `error` then `response.failed` (same response id as the stream's start),
/// numbered from `next_seq`.
pub fn error_tail(ctx: &Ctx, next_seq: usize) -> Vec<Event> {
    let message = "The server had an error while processing your request. Sorry about that!";
    let error = Event::typed(
        json!({
            "type": "error", "code": "server_error", "message": message,
            "param": null, "sequence_number": next_seq
        }),
        Kind::Tail,
    );
    let failed = response_object(
        ctx,
        State {
            status: "failed",
            output: Vec::new(),
            usage: Value::Null,
            error: json!({"code": "server_error", "message": message}),
            incomplete_details: Value::Null,
        },
    );
    let failed = Event::typed(
        json!({"type": "response.failed", "sequence_number": next_seq + 1, "response": failed}),
        Kind::Tail,
    );
    vec![error, failed]
}
