//! OpenAI Chat Completions: requests and non-streaming responses to and from
//! the IR.
//!
//! Chat has no standard reasoning field; like many compatible servers we use
//! `reasoning_content` (and read `reasoning` too). Reasoning signatures and
//! redacted reasoning have no place here and are reported lossy.

use super::error::ConvertError;
use super::ir::{
    joined_text, Image, Loss, Message, Part, Reasoning, Request, Response, Role, StopReason, Tool,
    ToolChoice, TOOL_ERROR_PREFIX,
};
use super::json::{
    as_u64, field_name, new_id, object, present, str_of, strings, take_str, take_text, unix_now,
};
use super::{anthropic::empty_schema, usage};
use serde_json::{json, Value};

// ---------------------------------------------------------------- requests

/// Decodes a request tree it takes the strings out of (see [`take_str`]).
pub fn decode_request(body: &mut Value, loss: &mut Loss) -> Result<Request, ConvertError> {
    let obj = body.as_object_mut().ok_or(ConvertError::NotAnObject)?;
    let messages = obj
        .get_mut("messages")
        .ok_or(ConvertError::MissingField("messages"))?;
    let mut req = Request::default();
    decode_messages(messages, &mut req, loss)?;
    for (key, value) in obj.iter_mut() {
        match key.as_str() {
            "messages" | "stream_options" => {}
            "model" => req.model = value.as_str().map(str::to_owned),
            // The newer name wins whichever order the keys come in.
            "max_completion_tokens" => req.max_tokens = as_u64(value).or(req.max_tokens),
            "max_tokens" => req.max_tokens = req.max_tokens.or(as_u64(value)),
            "tools" => req.tools = decode_tools(value, loss),
            "tool_choice" => req.tool_choice = decode_tool_choice(value),
            "parallel_tool_calls" => req.parallel_tool_calls = value.as_bool(),
            "stop" => req.stop = strings(value),
            "temperature" => req.temperature = value.as_f64(),
            "top_p" => req.top_p = value.as_f64(),
            "stream" => req.stream = value.as_bool().unwrap_or(false),
            "user" => req.user = value.as_str().map(str::to_owned),
            "metadata" => req.metadata = Some(value.take()).filter(|v| !v.is_null()),
            "reasoning_effort" => {
                req.reasoning = value.as_str().map(|e| Reasoning {
                    effort: Some(e.to_owned()),
                    budget_tokens: None,
                })
            }
            "response_format" => req.response_format = decode_response_format(value),
            "n" if as_u64(value).is_some_and(|n| n <= 1) => {}
            other if !value.is_null() => loss.add(field_name(other)),
            _ => {}
        }
    }
    Ok(req)
}

/// `{"type":"text"}` asks for nothing; keep only real format constraints.
fn decode_response_format(v: &Value) -> Option<Value> {
    match str_of(v, "type") {
        Some("json_object") | Some("json_schema") => Some(v.clone()),
        _ => None,
    }
}

fn decode_messages(v: &mut Value, req: &mut Request, loss: &mut Loss) -> Result<(), ConvertError> {
    let items = v
        .as_array_mut()
        .ok_or_else(|| ConvertError::invalid("messages", "must be an array"))?;
    for m in items {
        decode_message(m, req, loss)?;
    }
    Ok(())
}

fn decode_message(m: &mut Value, req: &mut Request, loss: &mut Loss) -> Result<(), ConvertError> {
    if present(m, "name").is_some() {
        loss.add("name");
    }
    let content = &mut m.get_mut("content").map(Value::take).unwrap_or_default();
    match str_of(m, "role") {
        Some("system") | Some("developer") => {
            let text = joined_text(&decode_content(content, loss));
            if !text.is_empty() {
                req.system.push(text);
            }
        }
        Some("user") => {
            for part in decode_content(content, loss) {
                req.push_part(Role::User, part);
            }
        }
        Some("assistant") => decode_assistant(m, content, req, loss),
        Some("tool") => req.push_part(
            Role::User,
            Part::ToolResult {
                call_id: take_text(m, "tool_call_id"),
                content: decode_content(content, loss),
                is_error: false,
            },
        ),
        Some("function") => loss.add("functions"),
        _ => {
            return Err(ConvertError::invalid(
                "messages.role",
                "must be system, developer, user, assistant or tool",
            ))
        }
    }
    Ok(())
}

fn decode_assistant(m: &mut Value, content: &mut Value, req: &mut Request, loss: &mut Loss) {
    if let Some(reasoning) = reasoning_text(m) {
        req.push_part(
            Role::Assistant,
            Part::Thinking {
                text: reasoning.to_owned(),
                signature: None,
            },
        );
    }
    for part in decode_content(content, loss) {
        req.push_part(Role::Assistant, part);
    }
    if let Some(Value::Array(calls)) = m.get_mut("tool_calls") {
        for call in calls {
            req.push_part(Role::Assistant, decode_tool_call(call));
        }
    }
    if present(m, "function_call").is_some() {
        loss.add("function_call");
    }
}

/// Non-standard reasoning fields used by DeepSeek, vLLM, OpenRouter & co.
pub fn reasoning_text(v: &Value) -> Option<&str> {
    str_of(v, "reasoning_content")
        .or_else(|| str_of(v, "reasoning"))
        .filter(|s| !s.is_empty())
}

fn decode_tool_call(call: &mut Value) -> Part {
    let id = take_text(call, "id");
    let mut function = call
        .get_mut("function")
        .map(Value::take)
        .unwrap_or_default();
    Part::ToolCall {
        id,
        name: take_text(&mut function, "name"),
        arguments: take_text(&mut function, "arguments"),
    }
}

/// A string, or an array of text / image_url / refusal parts.
fn decode_content(v: &mut Value, loss: &mut Loss) -> Vec<Part> {
    match v {
        Value::String(s) if s.is_empty() => Vec::new(),
        Value::String(s) => vec![Part::Text(std::mem::take(s))],
        Value::Array(parts) => parts
            .iter_mut()
            .filter_map(|p| decode_part(p, loss))
            .collect(),
        _ => Vec::new(),
    }
}

fn decode_part(p: &mut Value, loss: &mut Loss) -> Option<Part> {
    match str_of(p, "type") {
        Some("text") => Some(Part::Text(take_text(p, "text"))),
        Some("refusal") => Some(Part::Text(take_text(p, "refusal"))),
        Some("image_url") => {
            let url = p.get("image_url").map(|i| str_of(i, "url").or(i.as_str()));
            url.flatten().map(|u| Part::Image(Image::from_url(u)))
        }
        Some("input_audio") => {
            loss.add("input_audio");
            None
        }
        Some("file") => {
            loss.add("file");
            None
        }
        _ => {
            loss.add("content_part");
            None
        }
    }
}

fn decode_tools(v: &mut Value, loss: &mut Loss) -> Vec<Tool> {
    let mut tools = Vec::new();
    for t in v.as_array_mut().map(Vec::as_mut_slice).unwrap_or(&mut []) {
        let is_function = str_of(t, "type") == Some("function");
        let Some(f) = t
            .get_mut("function")
            .filter(|f| is_function && !f.is_null())
        else {
            loss.add("tools.builtin");
            continue;
        };
        tools.push(Tool {
            name: take_text(f, "name"),
            description: take_str(f, "description"),
            parameters: f
                .get_mut("parameters")
                .map(Value::take)
                .unwrap_or_else(empty_schema),
            strict: f.get("strict").and_then(Value::as_bool),
        });
    }
    tools
}

fn decode_tool_choice(v: &Value) -> Option<ToolChoice> {
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "required" => Some(ToolChoice::Required),
            "none" => Some(ToolChoice::None),
            _ => None,
        },
        Value::Object(_) => {
            let name = v.get("function").and_then(|f| str_of(f, "name"));
            name.map(|n| ToolChoice::Named(n.to_owned()))
        }
        _ => None,
    }
}

/// Takes the request by value: its strings move into the tree.
pub fn encode_request(mut req: Request, loss: &mut Loss) -> Value {
    if req.metadata.is_some() {
        // Chat only accepts metadata together with `store`, which we never set.
        loss.add("metadata");
    }
    let messages = std::mem::take(&mut req.messages);
    let tools = std::mem::take(&mut req.tools);
    let has_tools = !tools.is_empty();
    object([
        ("model", req.model.take().map(Value::from)),
        (
            "messages",
            Some(encode_messages(&req.system, messages, loss)),
        ),
        ("tools", has_tools.then(|| encode_tools(tools))),
        (
            // Every API rejects tool_choice without tools.
            "tool_choice",
            req.tool_choice
                .as_ref()
                .filter(|_| has_tools)
                .map(encode_tool_choice),
        ),
        (
            "parallel_tool_calls",
            req.parallel_tool_calls
                .filter(|_| has_tools)
                .map(Value::Bool),
        ),
        ("max_completion_tokens", req.max_tokens.map(Value::from)),
        ("temperature", req.temperature.map(Value::from)),
        ("top_p", req.top_p.map(Value::from)),
        ("stop", (!req.stop.is_empty()).then(|| json!(req.stop))),
        ("stream", req.stream.then_some(Value::Bool(true))),
        (
            "stream_options",
            req.stream.then(|| json!({"include_usage": true})),
        ),
        ("user", req.user.take().map(Value::from)),
        (
            "reasoning_effort",
            req.reasoning.as_ref().map(|r| Value::from(r.effort())),
        ),
        ("response_format", req.response_format.take()),
    ])
}

fn encode_messages(system: &[String], messages: Vec<Message>, loss: &mut Loss) -> Value {
    let mut out = Vec::new();
    if !system.is_empty() {
        out.push(json!({"role": "system", "content": system.join("\n\n")}));
    }
    for m in messages {
        match m.role {
            Role::User => encode_user(m.content, &mut out, loss),
            Role::Assistant => out.extend(encode_assistant(m.content, loss)),
        }
    }
    Value::Array(out)
}

/// Tool results become `tool` messages, which must come right after the
/// assistant's calls; images inside results (tool messages are text-only)
/// move to the user message that follows.
fn encode_user(parts: Vec<Part>, out: &mut Vec<Value>, loss: &mut Loss) {
    let mut rest: Vec<Value> = Vec::new();
    for part in parts {
        match part {
            Part::ToolResult {
                call_id,
                content,
                is_error,
            } => {
                out.push(json!({
                    "role": "tool", "tool_call_id": call_id,
                    "content": tool_result_text(&content, is_error),
                }));
                rest.extend(content.iter().filter_map(|p| match p {
                    Part::Image(img) => Some(image_part(img)),
                    _ => None,
                }));
            }
            Part::Text(t) => rest.push(object([
                ("type", Some(json!("text"))),
                ("text", Some(Value::String(t))),
            ])),
            Part::Image(img) => rest.push(image_part(&img)),
            _ => loss.add("content_part"),
        }
    }
    if rest.is_empty() {
        return;
    }
    let content = match rest.as_mut_slice() {
        [only] if str_of(only, "type") == Some("text") => {
            only.get_mut("text").map(Value::take).unwrap_or_default()
        }
        _ => Value::Array(rest),
    };
    // `object` moves the values in; `json!` would re-serialise them.
    out.push(object([
        ("role", Some(json!("user"))),
        ("content", Some(content)),
    ]));
}

/// Chat has no `is_error` flag: the error travels as a text prefix.
pub fn tool_result_text(content: &[Part], is_error: bool) -> String {
    let text = joined_text(content);
    if is_error {
        format!("{TOOL_ERROR_PREFIX}{text}")
    } else {
        text
    }
}

fn image_part(img: &Image) -> Value {
    json!({"type": "image_url", "image_url": {"url": img.to_url()}})
}

fn encode_assistant(parts: Vec<Part>, loss: &mut Loss) -> Option<Value> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in parts {
        match part {
            Part::Text(t) if text.is_empty() => text = t,
            Part::Text(t) => text.push_str(&t),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => calls.push(tool_call(&id, &name, &arguments)),
            Part::Thinking { .. } | Part::RedactedThinking(_) => loss.add("thinking"),
            _ => loss.add("content_part"),
        }
    }
    if text.is_empty() && calls.is_empty() {
        return None;
    }
    let content = if text.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    };
    let mut msg = object([
        ("role", Some(json!("assistant"))),
        ("content", Some(content)),
    ]);
    if !calls.is_empty() {
        msg["tool_calls"] = Value::Array(calls);
    }
    Some(msg)
}

fn tool_call(id: &str, name: &str, arguments: &str) -> Value {
    let arguments = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
}

fn encode_tools(tools: Vec<Tool>) -> Value {
    Value::Array(
        tools
            .into_iter()
            .map(|t| {
                let function = object([
                    ("name", Some(Value::String(t.name))),
                    ("description", t.description.map(Value::from)),
                    ("parameters", Some(t.parameters)),
                    // Only when asked for: compatible servers may reject the field.
                    (
                        "strict",
                        (t.strict == Some(true)).then_some(Value::Bool(true)),
                    ),
                ]);
                object([
                    ("type", Some(json!("function"))),
                    ("function", Some(function)),
                ])
            })
            .collect(),
    )
}

fn encode_tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::Required => json!("required"),
        ToolChoice::None => json!("none"),
        ToolChoice::Named(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

// --------------------------------------------------------------- responses

pub fn stop_from_str(s: &str) -> Option<StopReason> {
    match s {
        "stop" => Some(StopReason::EndTurn),
        "length" => Some(StopReason::MaxTokens),
        "tool_calls" | "function_call" => Some(StopReason::ToolUse),
        "content_filter" => Some(StopReason::ContentFilter),
        _ => None,
    }
}

pub fn stop_to_str(s: StopReason) -> &'static str {
    match s {
        StopReason::EndTurn | StopReason::StopSequence | StopReason::PauseTurn => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::Refusal | StopReason::ContentFilter => "content_filter",
    }
}

/// Decodes an answer tree it takes the first choice out of.
pub fn decode_response(body: &mut Value, loss: &mut Loss) -> Result<Response, ConvertError> {
    if !body.is_object() {
        return Err(ConvertError::NotAnObject);
    }
    let choices = body
        .get_mut("choices")
        .and_then(Value::as_array_mut)
        .ok_or(ConvertError::MissingField("choices"))?;
    if choices.len() > 1 {
        loss.add("n");
    }
    let mut choice = choices.first_mut().map(Value::take).unwrap_or_default();
    let mut message = choice
        .get_mut("message")
        .map(Value::take)
        .unwrap_or_default();
    let mut content = Vec::new();
    if let Some(r) = reasoning_text(&message) {
        content.push(Part::Thinking {
            text: r.to_owned(),
            signature: None,
        });
    }
    if let Some(text) = message.get_mut("content") {
        content.extend(decode_content(text, loss));
    }
    let refusal = take_str(&mut message, "refusal").filter(|r| !r.is_empty());
    let refused = refusal.is_some();
    content.extend(refusal.map(Part::Text));
    if let Some(Value::Array(calls)) = message.get_mut("tool_calls") {
        content.extend(calls.iter_mut().map(decode_tool_call));
    }
    let stop = str_of(&choice, "finish_reason").and_then(stop_from_str);
    Ok(Response {
        id: str_of(body, "id").map(str::to_owned),
        model: str_of(body, "model").map(str::to_owned),
        content,
        stop: if refused {
            Some(StopReason::Refusal)
        } else {
            stop
        },
        stop_sequence: None,
        usage: present(body, "usage")
            .map(usage::from_chat)
            .unwrap_or_default(),
    })
}

pub fn encode_response(resp: &Response, loss: &mut Loss) -> Value {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for part in &resp.content {
        match part {
            Part::Text(t) => text.push_str(t),
            Part::Thinking { text: t, signature } => {
                reasoning.push_str(t);
                if signature.is_some() {
                    loss.add("thinking.signature");
                }
            }
            Part::RedactedThinking(_) => loss.add("redacted_thinking"),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => calls.push(tool_call(id, name, arguments)),
            _ => loss.add("content_part"),
        }
    }
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) },
        "refusal": Value::Null,
    });
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    json!({
        "id": resp.id.clone().unwrap_or_else(|| new_id("chatcmpl-")),
        "object": "chat.completion",
        "created": unix_now(),
        "model": resp.model.clone().unwrap_or_default(),
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": Value::Null,
            "finish_reason": stop_to_str(resp.effective_stop()),
        }],
        "usage": usage::to_chat(&resp.usage),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_tool_messages_into_user_turn_with_following_text() {
        let mut loss = Loss::default();
        let req = decode_request(
            &mut json!({"messages": [
                {"role": "system", "content": "sys"},
                {"role": "developer", "content": [{"type": "text", "text": "dev"}]},
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": null, "reasoning_content": "think",
                 "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "r1"},
                {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "r2"}]},
                {"role": "user", "content": "more"}
            ], "n": 1, "logprobs": true, "max_completion_tokens": 9}),
            &mut loss,
        )
        .unwrap_or_default();
        assert_eq!(req.system, vec!["sys".to_owned(), "dev".to_owned()]);
        assert_eq!(req.messages.len(), 3);
        assert_eq!(req.messages[1].content.len(), 3);
        assert_eq!(req.messages[2].content.len(), 3);
        assert_eq!(req.max_tokens, Some(9));
        assert_eq!(loss.as_slice(), &["logprobs"]);
    }

    #[test]
    fn encoder_sets_stream_options_and_max_completion_tokens() {
        let req = Request {
            stream: true,
            max_tokens: Some(10),
            parallel_tool_calls: Some(false),
            ..Request::default()
        };
        let out = encode_request(req, &mut Loss::default());
        assert_eq!(out["stream_options"]["include_usage"], true);
        assert_eq!(out["max_completion_tokens"], 10);
        assert!(out.get("parallel_tool_calls").is_none(), "needs tools");
    }

    #[test]
    fn tool_result_images_move_to_user_message_and_errors_are_prefixed() {
        let mut out = Vec::new();
        encode_user(
            vec![Part::ToolResult {
                call_id: "c".into(),
                content: vec![
                    Part::Text("boom".into()),
                    Part::Image(Image::Url("https://i".into())),
                ],
                is_error: true,
            }],
            &mut out,
            &mut Loss::default(),
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["role"], "tool");
        assert_eq!(out[0]["content"], format!("{TOOL_ERROR_PREFIX}boom"));
        assert_eq!(out[1]["content"][0]["image_url"]["url"], "https://i");
    }

    #[test]
    fn response_with_tool_calls_and_stop_reports_tool_calls() {
        let mut loss = Loss::default();
        let resp = decode_response(
            &mut json!({"id": "x", "choices": [{"message": {"content": "",
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": ""}}]},
                "finish_reason": "stop"}]}),
            &mut loss,
        )
        .unwrap_or_default();
        assert_eq!(resp.effective_stop(), StopReason::ToolUse);
        let out = encode_response(&resp, &mut loss);
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{}"
        );
    }

    #[test]
    fn missing_choices_is_an_error() {
        assert!(decode_response(&mut json!({"id": "x"}), &mut Loss::default()).is_err());
    }
}
