//! Anthropic Messages (`POST /v1/messages`): the `Message` object, the
//! `message_start` … `message_stop` event stream, error bodies and headers,
//! as documented at docs.anthropic.com (Messages, Streaming Messages, Errors).

use serde_json::{json, Value};

use super::{arguments_json, split_fragments, split_words, Ctx, Event, Kind};
use crate::behavior::{Reply, Usage};
use crate::ids;

/// An organization id shaped like the real one, constant so tests can match it.
pub const ORGANIZATION_ID: &str = "0d3c4f1e-5a6b-4c7d-8e9f-fa4efa4efa4e";

fn usage(u: &Usage, output_tokens: u64) -> Value {
    json!({
        "input_tokens": u.input,
        "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": u.cache_write,
            "ephemeral_1h_input_tokens": 0
        },
        "output_tokens": output_tokens,
        "service_tier": "standard"
    })
}

fn stop_reason(reply: &Reply) -> &'static str {
    if reply.max_tokens {
        "max_tokens"
    } else if !reply.tool_calls.is_empty() {
        "tool_use"
    } else {
        "end_turn"
    }
}

fn tool_input(arguments: &Value) -> Value {
    match arguments {
        Value::Object(_) => arguments.clone(),
        _ => json!({}),
    }
}

/// The non-streaming `Message`.
pub fn message(ctx: &Ctx, reply: &Reply) -> Value {
    let mut content = Vec::new();
    if let Some((thinking, signature)) = &reply.thinking {
        content.push(json!({"type": "thinking", "thinking": thinking, "signature": signature}));
    }
    if let Some(text) = &reply.text {
        content.push(json!({"type": "text", "text": text}));
    }
    for (name, arguments) in &reply.tool_calls {
        content.push(json!({
            "type": "tool_use",
            "id": ids::tool_use(),
            "name": name,
            "input": tool_input(arguments)
        }));
    }
    json!({
        "id": ctx.id,
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": content,
        "stop_reason": stop_reason(reply),
        "stop_sequence": null,
        "usage": usage(&ctx.usage, ctx.usage.output)
    })
}

/// Builds one stream, numbering content blocks and sending the one `ping`
/// the API sends after the first block starts.
struct Stream {
    events: Vec<Event>,
    index: usize,
    pinged: bool,
}

impl Stream {
    fn push(&mut self, payload: Value, kind: Kind) {
        self.events.push(Event::typed(payload, kind));
    }

    fn ping(&mut self) {
        if !self.pinged {
            self.pinged = true;
            self.push(json!({"type": "ping"}), Kind::Head);
        }
    }

    fn block(&mut self, start: Value, deltas: Vec<Value>) {
        let index = self.index;
        self.push(
            json!({"type": "content_block_start", "index": index, "content_block": start}),
            Kind::Head,
        );
        self.ping();
        for delta in deltas {
            self.push(
                json!({"type": "content_block_delta", "index": index, "delta": delta}),
                Kind::Delta,
            );
        }
        self.push(
            json!({"type": "content_block_stop", "index": index}),
            Kind::Head,
        );
        self.index += 1;
    }
}

/// The full event stream for `reply`.
pub fn events(ctx: &Ctx, reply: &Reply) -> Vec<Event> {
    let mut s = Stream {
        events: Vec::new(),
        index: 0,
        pinged: false,
    };
    s.push(
        json!({
            "type": "message_start",
            "message": {
                "id": ctx.id,
                "type": "message",
                "role": "assistant",
                "model": ctx.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": usage(&ctx.usage, ctx.usage.output.min(1))
            }
        }),
        Kind::Head,
    );
    if let Some((thinking, signature)) = &reply.thinking {
        let mut deltas: Vec<Value> = split_words(thinking)
            .into_iter()
            .map(|p| json!({"type": "thinking_delta", "thinking": p}))
            .collect();
        deltas.push(json!({"type": "signature_delta", "signature": signature}));
        s.block(
            json!({"type": "thinking", "thinking": "", "signature": ""}),
            deltas,
        );
    }
    if let Some(text) = &reply.text {
        let deltas = split_words(text)
            .into_iter()
            .map(|p| json!({"type": "text_delta", "text": p}))
            .collect();
        s.block(json!({"type": "text", "text": ""}), deltas);
    }
    for (name, arguments) in &reply.tool_calls {
        // The API opens every tool input with an empty fragment.
        let mut deltas = vec![json!({"type": "input_json_delta", "partial_json": ""})];
        deltas.extend(
            split_fragments(&arguments_json(arguments))
                .into_iter()
                .map(|p| json!({"type": "input_json_delta", "partial_json": p})),
        );
        s.block(
            json!({"type": "tool_use", "id": ids::tool_use(), "name": name, "input": {}}),
            deltas,
        );
    }
    s.ping();
    s.push(
        json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(reply), "stop_sequence": null},
            "usage": {"output_tokens": ctx.usage.output}
        }),
        Kind::Tail,
    );
    s.push(json!({"type": "message_stop"}), Kind::Tail);
    s.events
}

/// The `event: error` the API sends when a started stream fails.
pub fn error_tail() -> Vec<Event> {
    vec![Event::typed(
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        Kind::Tail,
    )]
}

/// The error `type` the API uses for an HTTP status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

fn default_message(status: u16) -> &'static str {
    match status {
        400 => "Invalid request.",
        401 => "invalid x-api-key",
        403 => "Your API key does not have permission to use the specified resource.",
        404 => "Not found",
        413 => "Request exceeds the maximum allowed number of bytes.",
        429 => "This request would exceed the rate limit for your organization. Please try again later.",
        504 => "Request timed out.",
        529 => "Overloaded",
        500..=599 => "Internal server error",
        _ => "Request failed.",
    }
}

/// `{"type":"error","error":{"type","message"},"request_id"}`.
pub fn error_body(status: u16, message: Option<&str>, request_id: &str) -> Value {
    json!({
        "type": "error",
        "error": {
            "type": error_type(status),
            "message": message.unwrap_or(default_message(status))
        },
        "request_id": request_id
    })
}

/// `request-id`, the organization and rate-limit headers.
pub fn headers(request_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("request-id", request_id.to_string()),
        ("anthropic-organization-id", ORGANIZATION_ID.to_string()),
        ("anthropic-ratelimit-requests-limit", "4000".into()),
        ("anthropic-ratelimit-requests-remaining", "3999".into()),
        ("anthropic-ratelimit-input-tokens-limit", "2000000".into()),
        (
            "anthropic-ratelimit-input-tokens-remaining",
            "2000000".into(),
        ),
        ("anthropic-ratelimit-output-tokens-limit", "400000".into()),
        (
            "anthropic-ratelimit-output-tokens-remaining",
            "400000".into(),
        ),
    ]
}
