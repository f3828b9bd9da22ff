//! OpenAI Chat Completions (`POST /v1/chat/completions`): the
//! `chat.completion` object, `chat.completion.chunk` streams ending in
//! `data: [DONE]`, and the OpenAI error shape and headers shared with the
//! Responses API.
//!
//! Thinking is rendered as `reasoning_content`, the field OpenAI-compatible
//! reasoning servers (DeepSeek, vLLM) use; OpenAI itself never sends it.

use serde_json::{json, Map, Value};

use super::{arguments_json, split_fragments, split_words, Ctx, Event, Kind};
use crate::behavior::{Reply, Usage};
use crate::ids;

fn usage(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input,
        "completion_tokens": u.output,
        "total_tokens": u.total(),
        "prompt_tokens_details": {"cached_tokens": u.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": u.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

fn finish_reason(reply: &Reply) -> &'static str {
    if reply.max_tokens {
        "length"
    } else if !reply.tool_calls.is_empty() {
        "tool_calls"
    } else {
        "stop"
    }
}

/// The non-streaming `chat.completion`.
pub fn completion(ctx: &Ctx, reply: &Reply) -> Value {
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    message.insert("content".into(), json!(reply.text));
    if let Some((thinking, _)) = &reply.thinking {
        message.insert("reasoning_content".into(), json!(thinking));
    }
    message.insert("refusal".into(), Value::Null);
    message.insert("annotations".into(), json!([]));
    if !reply.tool_calls.is_empty() {
        let calls: Vec<Value> = reply
            .tool_calls
            .iter()
            .map(|(name, arguments)| {
                json!({
                    "id": ids::tool_call(),
                    "type": "function",
                    "function": {"name": name, "arguments": arguments_json(arguments)}
                })
            })
            .collect();
        message.insert("tool_calls".into(), json!(calls));
    }
    json!({
        "id": ctx.id,
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(reply)
        }],
        "usage": usage(&ctx.usage),
        "service_tier": "default",
        "system_fingerprint": ids::fingerprint()
    })
}

/// Stamps the fields every chunk of one stream shares.
struct Chunks {
    id: String,
    created: u64,
    model: String,
    fingerprint: String,
    include_usage: bool,
    events: Vec<Event>,
}

impl Chunks {
    fn base(&self, choices: Value) -> Map<String, Value> {
        let mut chunk = Map::new();
        chunk.insert("id".into(), json!(self.id));
        chunk.insert("object".into(), json!("chat.completion.chunk"));
        chunk.insert("created".into(), json!(self.created));
        chunk.insert("model".into(), json!(self.model));
        chunk.insert("service_tier".into(), json!("default"));
        chunk.insert("system_fingerprint".into(), json!(self.fingerprint));
        chunk.insert("choices".into(), choices);
        chunk
    }

    fn push(&mut self, delta: Value, finish_reason: Option<&str>, kind: Kind) {
        let choices = json!([{
            "index": 0,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish_reason
        }]);
        let mut chunk = self.base(choices);
        if self.include_usage {
            // With include_usage every chunk carries `usage: null` until the last.
            chunk.insert("usage".into(), Value::Null);
        }
        self.events.push(Event::json(&Value::Object(chunk), kind));
    }

    fn push_usage(&mut self, u: &Usage) {
        let mut chunk = self.base(json!([]));
        chunk.insert("usage".into(), usage(u));
        self.events
            .push(Event::json(&Value::Object(chunk), Kind::Tail));
    }
}

fn include_usage(request: &Value) -> bool {
    request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The full chunk stream for `reply`, ending in `data: [DONE]`.
pub fn events(ctx: &Ctx, reply: &Reply) -> Vec<Event> {
    let mut c = Chunks {
        id: ctx.id.clone(),
        created: ctx.created,
        model: ctx.model.to_string(),
        fingerprint: ids::fingerprint(),
        include_usage: include_usage(ctx.request),
        events: Vec::new(),
    };
    let tools_only = reply.text.is_none() && reply.thinking.is_none();
    if !tools_only || reply.tool_calls.is_empty() {
        let content = if reply.text.is_some() || reply.thinking.is_some() {
            json!("")
        } else {
            Value::Null
        };
        c.push(
            json!({"role": "assistant", "content": content, "refusal": null}),
            None,
            Kind::Head,
        );
    }
    if let Some((thinking, _)) = &reply.thinking {
        for piece in split_words(thinking) {
            c.push(json!({"reasoning_content": piece}), None, Kind::Delta);
        }
    }
    if let Some(text) = &reply.text {
        for piece in split_words(text) {
            c.push(json!({"content": piece}), None, Kind::Delta);
        }
    }
    push_tool_calls(&mut c, reply, tools_only);
    c.push(json!({}), Some(finish_reason(reply)), Kind::Tail);
    if c.include_usage {
        c.push_usage(&ctx.usage);
    }
    c.events.push(Event::data("[DONE]", Kind::Tail));
    c.events
}

/// Tool call deltas: a header chunk per call (`id`, `name`, empty
/// `arguments`), then argument fragments, interleaved across calls by index
/// so clients must key their accumulation on `index`.
fn push_tool_calls(c: &mut Chunks, reply: &Reply, first_carries_role: bool) {
    let fragments: Vec<Vec<String>> = reply
        .tool_calls
        .iter()
        .map(|(_, arguments)| split_fragments(&arguments_json(arguments)))
        .collect();
    let rounds = fragments.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut first = first_carries_role;
    for round in 0..rounds {
        for (index, (name, _)) in reply.tool_calls.iter().enumerate() {
            if round == 0 {
                let call = json!({
                    "index": index,
                    "id": ids::tool_call(),
                    "type": "function",
                    "function": {"name": name, "arguments": ""}
                });
                let delta = if std::mem::take(&mut first) {
                    json!({"role": "assistant", "content": null, "tool_calls": [call], "refusal": null})
                } else {
                    json!({"tool_calls": [call]})
                };
                c.push(delta, None, Kind::Head);
            }
            if let Some(fragment) = fragments[index].get(round) {
                let call = json!({"index": index, "function": {"arguments": fragment}});
                c.push(json!({"tool_calls": [call]}), None, Kind::Delta);
            }
        }
    }
}

/// The error chunk OpenAI sends when a started stream fails (no `[DONE]`).
pub fn error_tail() -> Vec<Event> {
    let body = json!({"error": {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "param": null,
        "code": null
    }});
    vec![Event::json(&body, Kind::Tail)]
}

fn error_kind(status: u16) -> (&'static str, Option<&'static str>, &'static str) {
    match status {
        400 => ("invalid_request_error", None, "Invalid request."),
        401 => (
            "invalid_request_error",
            Some("invalid_api_key"),
            "Incorrect API key provided.",
        ),
        403 => (
            "invalid_request_error",
            Some("unsupported_country_region_territory"),
            "Country, region, or territory not supported",
        ),
        404 => (
            "invalid_request_error",
            Some("model_not_found"),
            "The model does not exist or you do not have access to it.",
        ),
        429 => (
            "requests",
            Some("rate_limit_exceeded"),
            "Rate limit reached for requests. Please try again later.",
        ),
        503 => (
            "server_error",
            None,
            "The engine is currently overloaded, please try again later",
        ),
        500..=599 => (
            "server_error",
            None,
            "The server had an error while processing your request. Sorry about that!",
        ),
        _ => ("invalid_request_error", None, "Request failed."),
    }
}

/// `{"error":{"message","type","param":null,"code"}}`.
pub fn error_body(status: u16, message: Option<&str>) -> Value {
    let (kind, code, default) = error_kind(status);
    json!({"error": {
        "message": message.unwrap_or(default),
        "type": kind,
        "param": null,
        "code": code
    }})
}

/// `x-request-id`, `openai-*` and `x-ratelimit-*` headers.
pub fn headers(request_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-request-id", request_id.to_string()),
        ("openai-organization", "user-fakeprovider".into()),
        ("openai-processing-ms", "7".into()),
        ("openai-version", "2020-10-01".into()),
        ("x-ratelimit-limit-requests", "10000".into()),
        ("x-ratelimit-remaining-requests", "9999".into()),
        ("x-ratelimit-reset-requests", "6ms".into()),
        ("x-ratelimit-limit-tokens", "30000000".into()),
        ("x-ratelimit-remaining-tokens", "29999975".into()),
        ("x-ratelimit-reset-tokens", "0s".into()),
    ]
}
