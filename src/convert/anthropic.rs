//! Anthropic Messages API: requests and non-streaming responses to and from
//! the IR.

use super::error::ConvertError;
use super::ir::{
    arguments_object, Image, Loss, Message, Part, Reasoning, Request, Response, Role, StopReason,
    Tool, ToolChoice,
};
use super::json::{
    as_u64, field_name, new_id, object, present, str_of, strings, take_str, take_text, text_of,
};
use super::usage;
use serde_json::{json, Map, Value};

/// Anthropic requires `max_tokens`; OpenAI sources often omit it.
pub const DEFAULT_MAX_TOKENS: u64 = 8192;
/// Anthropic's smallest allowed thinking budget.
const MIN_THINKING_BUDGET: u64 = 1024;

// ---------------------------------------------------------------- requests

/// Decodes a request tree it takes the strings out of (see [`take_str`]).
pub fn decode_request(body: &mut Value, loss: &mut Loss) -> Result<Request, ConvertError> {
    let obj = body.as_object_mut().ok_or(ConvertError::NotAnObject)?;
    if !obj.contains_key("messages") {
        return Err(ConvertError::MissingField("messages"));
    }
    let mut req = Request::default();
    // Claude Code puts `system` turns inside `messages`; other protocols
    // take them as system text.
    let mut mid_system = Vec::new();
    for (key, value) in obj.iter_mut() {
        match key.as_str() {
            "model" => req.model = value.as_str().map(str::to_owned),
            "max_tokens" => req.max_tokens = as_u64(value),
            "system" => req.system = decode_system(value, loss)?,
            "messages" => {
                let (messages, system) = decode_messages(value, loss)?;
                req.messages = messages;
                mid_system = system;
            }
            "tools" => req.tools = decode_tools(value, loss),
            "tool_choice" => decode_tool_choice(value, &mut req),
            "stop_sequences" => req.stop = strings(value),
            "temperature" => req.temperature = value.as_f64(),
            "top_p" => req.top_p = value.as_f64(),
            "stream" => req.stream = value.as_bool().unwrap_or(false),
            "metadata" => decode_metadata(value, &mut req, loss),
            "thinking" => req.reasoning = decode_thinking(value),
            other if !value.is_null() => loss.add(field_name(other)),
            _ => {}
        }
    }
    req.system.extend(mid_system);
    Ok(req)
}

fn decode_system(v: &mut Value, loss: &mut Loss) -> Result<Vec<String>, ConvertError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![std::mem::take(s)]),
        Value::Array(blocks) => Ok(blocks
            .iter_mut()
            .filter_map(|b| {
                note_block_extras(b, loss);
                take_str(b, "text")
            })
            .collect()),
        _ => Err(ConvertError::invalid(
            "system",
            "must be a string or an array",
        )),
    }
}

/// The conversation, and the text of any `system` turns in it (which the
/// other protocols carry as system text; their position is reported lossy).
fn decode_messages(
    v: &mut Value,
    loss: &mut Loss,
) -> Result<(Vec<Message>, Vec<String>), ConvertError> {
    let items = v
        .as_array_mut()
        .ok_or_else(|| ConvertError::invalid("messages", "must be an array"))?;
    let mut messages = Vec::new();
    let mut system = Vec::new();
    for m in items {
        if str_of(m, "role") == Some("system") {
            if let Some(content) = m.get_mut("content") {
                system.extend(decode_system(content, loss)?);
            }
            loss.add("messages.system_position");
            continue;
        }
        messages.push(decode_message(m, loss)?);
    }
    Ok((messages, system))
}

fn decode_message(m: &mut Value, loss: &mut Loss) -> Result<Message, ConvertError> {
    let role = match str_of(m, "role") {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        _ => {
            return Err(ConvertError::invalid(
                "messages.role",
                "must be user or assistant",
            ))
        }
    };
    let content = match m.get_mut("content") {
        Some(content) => decode_content(content, loss)?,
        None => Vec::new(),
    };
    Ok(Message { role, content })
}

fn decode_content(v: &mut Value, loss: &mut Loss) -> Result<Vec<Part>, ConvertError> {
    match v {
        Value::String(s) => Ok(vec![Part::Text(std::mem::take(s))]),
        Value::Array(blocks) => Ok(blocks
            .iter_mut()
            .filter_map(|b| decode_block(b, loss))
            .collect()),
        Value::Null => Ok(Vec::new()),
        _ => Err(ConvertError::invalid(
            "messages.content",
            "must be a string or an array",
        )),
    }
}

fn note_block_extras(b: &Value, loss: &mut Loss) {
    if present(b, "cache_control").is_some() {
        loss.add("cache_control");
    }
    if present(b, "citations").is_some() {
        loss.add("citations");
    }
}

fn decode_block(b: &mut Value, loss: &mut Loss) -> Option<Part> {
    note_block_extras(b, loss);
    match str_of(b, "type")? {
        "text" => Some(Part::Text(take_text(b, "text"))),
        "image" => decode_image(b.get_mut("source")?, loss).map(Part::Image),
        "tool_use" => Some(Part::ToolCall {
            id: take_text(b, "id"),
            name: take_text(b, "name"),
            arguments: b
                .get("input")
                .map(Value::to_string)
                .unwrap_or_else(|| "{}".into()),
        }),
        "tool_result" => Some(decode_tool_result(b, loss)),
        "thinking" => Some(Part::Thinking {
            text: take_text(b, "thinking"),
            signature: take_str(b, "signature").filter(|s| !s.is_empty()),
        }),
        "redacted_thinking" => Some(Part::RedactedThinking(take_text(b, "data"))),
        "document" => {
            loss.add("document");
            None
        }
        _ => {
            loss.add("content_block");
            None
        }
    }
}

fn decode_image(source: &mut Value, loss: &mut Loss) -> Option<Image> {
    match str_of(source, "type") {
        Some("base64") => Some(Image::Base64 {
            media_type: take_text(source, "media_type"),
            data: take_text(source, "data"),
        }),
        Some("url") => Some(Image::Url(take_text(source, "url"))),
        _ => {
            loss.add("image.source");
            None
        }
    }
}

fn decode_tool_result(b: &mut Value, loss: &mut Loss) -> Part {
    let content = match b.get_mut("content") {
        Some(Value::String(s)) => vec![Part::Text(std::mem::take(s))],
        Some(Value::Array(items)) => items
            .iter_mut()
            .filter_map(|i| decode_block(i, loss))
            .collect(),
        _ => Vec::new(),
    };
    Part::ToolResult {
        call_id: take_text(b, "tool_use_id"),
        content,
        is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
    }
}

fn decode_tools(v: &mut Value, loss: &mut Loss) -> Vec<Tool> {
    let mut tools = Vec::new();
    for t in v.as_array_mut().map(Vec::as_mut_slice).unwrap_or(&mut []) {
        let kind = str_of(t, "type").unwrap_or("custom");
        if kind != "custom" {
            // Anthropic-defined tools (bash, text_editor, web_search…) have no OpenAI twin.
            loss.add("tools.builtin");
            continue;
        }
        if present(t, "cache_control").is_some() {
            loss.add("cache_control");
        }
        tools.push(Tool {
            name: take_text(t, "name"),
            description: take_str(t, "description"),
            parameters: t
                .get_mut("input_schema")
                .map(Value::take)
                .unwrap_or_else(empty_schema),
            strict: t.get("strict").and_then(Value::as_bool),
        });
    }
    tools
}

pub fn empty_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

fn decode_tool_choice(v: &Value, req: &mut Request) {
    req.tool_choice = match str_of(v, "type") {
        Some("auto") => Some(ToolChoice::Auto),
        Some("any") => Some(ToolChoice::Required),
        Some("none") => Some(ToolChoice::None),
        Some("tool") => Some(ToolChoice::Named(text_of(v, "name").to_owned())),
        _ => None,
    };
    if v.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
        req.parallel_tool_calls = Some(false);
    }
}

fn decode_metadata(v: &Value, req: &mut Request, loss: &mut Loss) {
    req.user = str_of(v, "user_id").map(str::to_owned);
    if v.as_object()
        .is_some_and(|m| m.keys().any(|k| k != "user_id"))
    {
        loss.add("metadata");
    }
}

fn decode_thinking(v: &Value) -> Option<Reasoning> {
    match str_of(v, "type") {
        Some("enabled") => Some(Reasoning {
            effort: None,
            budget_tokens: present(v, "budget_tokens").and_then(as_u64),
        }),
        Some("adaptive") => Some(Reasoning::default()),
        _ => None,
    }
}

/// Takes the request by value: its strings move into the tree.
pub fn encode_request(mut req: Request, loss: &mut Loss) -> Value {
    let max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    let thinking = encode_thinking(&req, max_tokens, loss);
    let tool_choice = encode_tool_choice(&req);
    let messages = std::mem::take(&mut req.messages);
    let tools = std::mem::take(&mut req.tools);
    let (temperature, top_p) = if thinking.is_some() {
        // Extended thinking rejects modified temperature / top_p.
        if req.temperature.is_some() {
            loss.add("temperature");
        }
        if req.top_p.is_some() {
            loss.add("top_p");
        }
        (None, None)
    } else {
        (clamp_temperature(req.temperature, loss), req.top_p)
    };
    if req.response_format.is_some() {
        loss.add("response_format");
    }
    if req.metadata.is_some() {
        loss.add("metadata");
    }
    object([
        ("model", req.model.take().map(Value::from)),
        ("max_tokens", Some(json!(max_tokens))),
        ("system", encode_system(std::mem::take(&mut req.system))),
        ("messages", Some(encode_messages(messages, loss))),
        ("tools", encode_tools(tools)),
        ("tool_choice", tool_choice),
        (
            "stop_sequences",
            (!req.stop.is_empty()).then(|| json!(req.stop)),
        ),
        ("temperature", temperature.map(Value::from)),
        ("top_p", top_p.map(Value::from)),
        ("stream", req.stream.then_some(Value::Bool(true))),
        ("metadata", req.user.as_ref().map(|u| json!({"user_id": u}))),
        ("thinking", thinking),
    ])
}

/// OpenAI allows 0..2, Anthropic 0..1.
fn clamp_temperature(t: Option<f64>, loss: &mut Loss) -> Option<f64> {
    let t = t?;
    if t > 1.0 {
        loss.add("temperature");
        return Some(1.0);
    }
    Some(t)
}

fn encode_thinking(req: &Request, max_tokens: u64, loss: &mut Loss) -> Option<Value> {
    let budget = req.reasoning.as_ref()?.budget()?;
    if max_tokens <= MIN_THINKING_BUDGET {
        loss.add("reasoning");
        return None;
    }
    let budget = budget.clamp(MIN_THINKING_BUDGET, max_tokens - 1);
    Some(json!({"type": "enabled", "budget_tokens": budget}))
}

fn encode_system(mut system: Vec<String>) -> Option<Value> {
    match system.len() {
        0 => None,
        1 => system.pop().map(Value::String),
        _ => Some(Value::Array(
            system
                .into_iter()
                .map(|s| {
                    object([
                        ("type", Some(json!("text"))),
                        ("text", Some(Value::String(s))),
                    ])
                })
                .collect(),
        )),
    }
}

/// Merges same-role neighbours (Anthropic requires alternation), puts tool
/// results first in a user turn, and drops turns left empty.
fn encode_messages(messages: Vec<Message>, loss: &mut Loss) -> Value {
    let mut merged: Vec<(Role, Vec<Value>)> = Vec::new();
    for m in messages {
        let mut blocks: Vec<Value> = m
            .content
            .into_iter()
            .filter_map(|p| encode_part(p, loss))
            .collect();
        if m.role == Role::User {
            blocks.sort_by_key(|b| str_of(b, "type") != Some("tool_result"));
        }
        match merged.last_mut() {
            Some((role, prev)) if *role == m.role => {
                prev.extend(blocks);
                if m.role == Role::User {
                    prev.sort_by_key(|b| str_of(b, "type") != Some("tool_result"));
                }
            }
            _ => merged.push((m.role, blocks)),
        }
    }
    Value::Array(
        merged
            .into_iter()
            .filter(|(_, blocks)| !blocks.is_empty())
            .map(|(role, blocks)| {
                // `object` moves the blocks in; `json!` would re-serialise them.
                object([
                    ("role", Some(json!(role_name(role)))),
                    ("content", Some(Value::Array(blocks))),
                ])
            })
            .collect(),
    )
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// Anthropic tool ids must match `^[a-zA-Z0-9_-]+$`; other providers' ids
/// are rewritten the same way in calls and results so they keep matching.
pub fn tool_id(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        new_id("toolu_")
    } else {
        clean
    }
}

fn encode_part(p: Part, loss: &mut Loss) -> Option<Value> {
    let text_block = |kind: &str, field: &'static str, text: String| {
        object([
            ("type", Some(Value::from(kind))),
            (field, Some(Value::String(text))),
        ])
    };
    match p {
        // Anthropic rejects empty text blocks.
        Part::Text(t) if t.is_empty() => None,
        Part::Text(t) => Some(text_block("text", "text", t)),
        Part::Image(img) => Some(encode_image(&img)),
        Part::ToolCall {
            id,
            name,
            arguments,
        } => Some(object([
            ("type", Some(json!("tool_use"))),
            ("id", Some(Value::String(tool_id(&id)))),
            ("name", Some(Value::String(name))),
            ("input", Some(tool_input(&arguments, loss))),
        ])),
        Part::ToolResult {
            call_id,
            content,
            is_error,
        } => {
            let inner: Vec<Value> = content
                .into_iter()
                .filter_map(|p| encode_part(p, loss))
                .collect();
            let mut block = json!({"type": "tool_result", "tool_use_id": tool_id(&call_id)});
            if !inner.is_empty() {
                block["content"] = Value::Array(inner);
            }
            if is_error {
                block["is_error"] = Value::Bool(true);
            }
            Some(block)
        }
        Part::Thinking {
            text,
            signature: Some(sig),
        } => {
            let mut block = text_block("thinking", "thinking", text);
            block["signature"] = Value::String(sig);
            Some(block)
        }
        Part::Thinking {
            signature: None, ..
        } => {
            // Anthropic rejects unsigned thinking, e.g. Chat `reasoning_content`.
            loss.add("thinking");
            None
        }
        Part::RedactedThinking(data) => Some(text_block("redacted_thinking", "data", data)),
    }
}

fn tool_input(arguments: &str, loss: &mut Loss) -> Value {
    arguments_object(arguments).unwrap_or_else(|| {
        loss.add("tool_call.arguments");
        json!({})
    })
}

fn encode_image(img: &Image) -> Value {
    match img {
        Image::Base64 { media_type, data } => json!({
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }),
        Image::Url(url) => json!({"type": "image", "source": {"type": "url", "url": url}}),
    }
}

fn encode_tools(tools: Vec<Tool>) -> Option<Value> {
    if tools.is_empty() {
        return None;
    }
    Some(Value::Array(
        tools
            .into_iter()
            .map(|t| {
                object([
                    ("name", Some(Value::String(t.name))),
                    ("description", t.description.map(Value::from)),
                    ("input_schema", Some(schema_or_empty(t.parameters))),
                    // Only when asked for: some compatible servers reject the field.
                    (
                        "strict",
                        (t.strict == Some(true)).then_some(Value::Bool(true)),
                    ),
                ])
            })
            .collect(),
    ))
}

fn schema_or_empty(schema: Value) -> Value {
    if schema.is_object() {
        schema
    } else {
        empty_schema()
    }
}

fn encode_tool_choice(req: &Request) -> Option<Value> {
    if req.tools.is_empty() {
        // Anthropic rejects tool_choice without tools.
        return None;
    }
    let mut choice = match &req.tool_choice {
        Some(ToolChoice::Auto) => json!({"type": "auto"}),
        Some(ToolChoice::Required) => json!({"type": "any"}),
        Some(ToolChoice::None) => json!({"type": "none"}),
        Some(ToolChoice::Named(name)) => json!({"type": "tool", "name": name}),
        None if req.parallel_tool_calls == Some(false) => json!({"type": "auto"}),
        None => return None,
    };
    if req.parallel_tool_calls == Some(false) && req.tool_choice != Some(ToolChoice::None) {
        choice["disable_parallel_tool_use"] = Value::Bool(true);
    }
    Some(choice)
}

// --------------------------------------------------------------- responses

pub fn stop_from_str(s: &str) -> Option<StopReason> {
    match s {
        "end_turn" => Some(StopReason::EndTurn),
        "max_tokens" | "model_context_window_exceeded" => Some(StopReason::MaxTokens),
        "stop_sequence" => Some(StopReason::StopSequence),
        "tool_use" => Some(StopReason::ToolUse),
        "pause_turn" => Some(StopReason::PauseTurn),
        "refusal" => Some(StopReason::Refusal),
        _ => None,
    }
}

pub fn stop_to_str(s: StopReason) -> &'static str {
    match s {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::PauseTurn => "pause_turn",
        StopReason::Refusal | StopReason::ContentFilter => "refusal",
    }
}

/// Decodes an answer tree it takes the content out of.
pub fn decode_response(body: &mut Value, loss: &mut Loss) -> Result<Response, ConvertError> {
    if !body.is_object() {
        return Err(ConvertError::NotAnObject);
    }
    let mut content_value = body
        .get_mut("content")
        .map(Value::take)
        .ok_or(ConvertError::MissingField("content"))?;
    Ok(Response {
        id: str_of(body, "id").map(str::to_owned),
        model: str_of(body, "model").map(str::to_owned),
        content: decode_content(&mut content_value, loss)?,
        stop: str_of(body, "stop_reason").and_then(stop_from_str),
        stop_sequence: str_of(body, "stop_sequence").map(str::to_owned),
        usage: body
            .get("usage")
            .map(usage::from_anthropic)
            .unwrap_or_default(),
    })
}

pub fn encode_response(resp: &Response, loss: &mut Loss) -> Value {
    let content: Vec<Value> = resp
        .content
        .iter()
        .filter_map(|p| match p {
            // Unsigned thinking is still worth showing to the client.
            Part::Thinking {
                text,
                signature: None,
            } => Some(json!({"type": "thinking", "thinking": text, "signature": ""})),
            // Answers are encoded by reference (small next to requests).
            other => encode_part(other.clone(), loss),
        })
        .collect();
    if resp.usage.reasoning.is_some_and(|r| r > 0) {
        loss.add("usage.reasoning_tokens");
    }
    let mut out = Map::new();
    out.insert(
        "id".into(),
        json!(resp.id.clone().unwrap_or_else(|| new_id("msg_"))),
    );
    out.insert("type".into(), json!("message"));
    out.insert("role".into(), json!("assistant"));
    out.insert(
        "model".into(),
        json!(resp.model.clone().unwrap_or_default()),
    );
    out.insert("content".into(), Value::Array(content));
    out.insert(
        "stop_reason".into(),
        json!(stop_to_str(resp.effective_stop())),
    );
    out.insert("stop_sequence".into(), json!(resp.stop_sequence));
    out.insert("usage".into(), usage::to_anthropic(&resp.usage));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(mut v: Value) -> (Request, Loss) {
        let mut loss = Loss::default();
        let req = decode_request(&mut v, &mut loss).unwrap_or_default();
        (req, loss)
    }

    #[test]
    fn decodes_system_blocks_tools_and_params() {
        let (req, loss) = decode(json!({
            "model": "claude", "max_tokens": 100, "top_k": 5,
            "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}, {"type": "bash_20250124", "name": "bash"}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "stop_sequences": ["X"], "metadata": {"user_id": "u1"},
            "thinking": {"type": "enabled", "budget_tokens": 2000}
        }));
        assert_eq!(req.system, vec!["be brief".to_owned()]);
        assert_eq!(req.tools.len(), 1);
        assert_eq!(req.tool_choice, Some(ToolChoice::Required));
        assert_eq!(req.parallel_tool_calls, Some(false));
        assert_eq!(req.user.as_deref(), Some("u1"));
        assert_eq!(req.reasoning.and_then(|r| r.budget_tokens), Some(2000));
        for name in ["top_k", "cache_control", "tools.builtin"] {
            assert!(
                loss.as_slice().contains(&name),
                "{name} missing from {loss:?}"
            );
        }
    }

    #[test]
    fn rejects_missing_messages_and_bad_roles() {
        let mut loss = Loss::default();
        assert!(matches!(
            decode_request(&mut json!({"model": "x"}), &mut loss),
            Err(ConvertError::MissingField("messages"))
        ));
        assert!(decode_request(
            &mut json!({"messages": [{"role": "tool", "content": "x"}]}),
            &mut loss
        )
        .is_err());
        assert!(decode_request(&mut json!([1]), &mut loss).is_err());
    }

    #[test]
    fn encoder_merges_turns_and_orders_tool_results_first() {
        let mut req = Request::default();
        req.push_part(Role::User, Part::Text("hi".into()));
        req.messages.push(Message {
            role: Role::User,
            content: vec![Part::ToolResult {
                call_id: "call.1".into(),
                content: vec![Part::Text("out".into())],
                is_error: true,
            }],
        });
        let mut loss = Loss::default();
        let out = encode_request(req, &mut loss);
        assert_eq!(out["max_tokens"], DEFAULT_MAX_TOKENS);
        let msgs = out["messages"].as_array().cloned().unwrap_or_default();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0]["content"][0]["type"], "tool_result");
        assert_eq!(msgs[0]["content"][0]["tool_use_id"], "call_1");
        assert_eq!(msgs[0]["content"][0]["is_error"], true);
        assert_eq!(msgs[0]["content"][1]["text"], "hi");
    }

    #[test]
    fn thinking_budget_fits_under_max_tokens_and_drops_temperature() {
        let req = Request {
            max_tokens: Some(3000),
            temperature: Some(0.2),
            reasoning: Some(Reasoning {
                effort: Some("high".into()),
                budget_tokens: None,
            }),
            ..Request::default()
        };
        let mut loss = Loss::default();
        let out = encode_request(req, &mut loss);
        assert_eq!(out["thinking"]["budget_tokens"], 2999);
        assert!(out.get("temperature").is_none());
        assert!(loss.as_slice().contains(&"temperature"));
    }

    #[test]
    fn unsigned_thinking_is_dropped_from_requests_and_reported() {
        let mut req = Request::default();
        req.push_part(
            Role::Assistant,
            Part::Thinking {
                text: "hmm".into(),
                signature: None,
            },
        );
        req.push_part(Role::Assistant, Part::Text("ok".into()));
        let mut loss = Loss::default();
        let out = encode_request(req, &mut loss);
        assert_eq!(
            out["messages"][0]["content"].as_array().map(Vec::len),
            Some(1)
        );
        assert!(loss.as_slice().contains(&"thinking"));
    }

    #[test]
    fn bad_tool_arguments_become_empty_object_and_are_reported() {
        let mut loss = Loss::default();
        let v = encode_part(
            Part::ToolCall {
                id: "a".into(),
                name: "f".into(),
                arguments: "{oops".into(),
            },
            &mut loss,
        );
        assert_eq!(v.map(|v| v["input"].clone()), Some(json!({})));
        assert!(loss.as_slice().contains(&"tool_call.arguments"));
    }
}

#[cfg(test)]
mod system_turn_tests {
    use crate::convert::{convert_request, Protocol};
    use serde_json::json;

    #[test]
    fn system_turns_inside_messages_become_system_text() {
        let body = json!({"model": "claude-x", "max_tokens": 10, "system": "top",
            "messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "mid"}]});
        let out = convert_request(
            Protocol::AnthropicMessages,
            Protocol::OpenAiChat,
            body.clone(),
        )
        .unwrap();
        let messages = out.body["messages"].as_array().unwrap();
        let system: Vec<&str> = messages
            .iter()
            .filter(|m| m["role"] == "system")
            .filter_map(|m| m["content"].as_str())
            .collect();
        assert!(
            system.concat().contains("top") && system.concat().contains("mid"),
            "{messages:?}"
        );
        assert_eq!(messages.iter().filter(|m| m["role"] == "user").count(), 1);
        assert!(out.lossy.contains(&"messages.system_position"));
    }
}
