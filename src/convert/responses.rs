//! OpenAI Responses API: requests and non-streaming responses to and from
//! the IR, plus the item and response-object builders the stream encoder
//! shares.
//!
//! Reasoning items map to thinking: summary text <-> thinking text and
//! `encrypted_content` <-> `signature`, so a chain of thought survives a
//! round trip through a client that only speaks Anthropic.

use super::error::ConvertError;
use super::ir::{
    joined_text, Image, Loss, Message, Part, Reasoning, Request, Response, Role, StopReason, Tool,
    ToolChoice, TOOL_ERROR_PREFIX,
};
use super::json::{
    arr_of, as_u64, field_name, new_id, object, present, str_of, take_str, take_text, text_of,
    unix_now,
};
use super::{anthropic::empty_schema, usage};
use serde_json::{json, Map, Value};

/// The Responses API rejects `max_output_tokens` below this.
const MIN_OUTPUT_TOKENS: u64 = 16;

// ---------------------------------------------------------------- requests

/// Decodes a request tree it takes the strings out of (see [`take_str`]).
pub fn decode_request(body: &mut Value, loss: &mut Loss) -> Result<Request, ConvertError> {
    if !body.is_object() {
        return Err(ConvertError::NotAnObject);
    }
    for stateful in ["previous_response_id", "conversation"] {
        // Server-side history cannot be replayed to another provider.
        if present(body, stateful).is_some() {
            return Err(ConvertError::Unsupported(field_name(stateful)));
        }
    }
    let mut req = Request::default();
    if let Some(instructions) = take_str(body, "instructions").filter(|s| !s.is_empty()) {
        req.system.push(instructions);
    }
    match body.get_mut("input") {
        Some(Value::String(s)) => req.push_part(Role::User, Part::Text(std::mem::take(s))),
        Some(Value::Array(items)) => {
            for item in items {
                decode_item(item, &mut req, loss)?;
            }
        }
        _ => return Err(ConvertError::MissingField("input")),
    }
    if let Some(obj) = body.as_object_mut() {
        for (key, value) in obj.iter_mut() {
            decode_param(key, value, &mut req, loss);
        }
    }
    Ok(req)
}

fn decode_param(key: &str, value: &mut Value, req: &mut Request, loss: &mut Loss) {
    match key {
        "input" | "instructions" | "stream_options" => {}
        "model" => req.model = value.as_str().map(str::to_owned),
        "max_output_tokens" => req.max_tokens = as_u64(value),
        "tools" => req.tools = decode_tools(value, loss),
        "tool_choice" => req.tool_choice = decode_tool_choice(value),
        "parallel_tool_calls" => req.parallel_tool_calls = value.as_bool(),
        "temperature" => req.temperature = value.as_f64(),
        "top_p" => req.top_p = value.as_f64(),
        "stream" => req.stream = value.as_bool().unwrap_or(false),
        "user" => req.user = value.as_str().map(str::to_owned),
        "metadata" => req.metadata = Some(value.take()).filter(|v| !v.is_null()),
        "reasoning" => req.reasoning = decode_reasoning(value),
        "text" => decode_text(value, req, loss),
        // Not storing is what every other target does anyway.
        "store" if value.as_bool() != Some(true) => {}
        "truncation" if value.as_str() != Some("auto") => {}
        "include" if only_encrypted_reasoning(value) => {}
        other if !value.is_null() => loss.add(field_name(other)),
        _ => {}
    }
}

/// We always carry reasoning signatures back, so this include is honoured.
fn only_encrypted_reasoning(v: &Value) -> bool {
    v.as_array().is_some_and(|a| {
        a.iter()
            .all(|i| i.as_str() == Some("reasoning.encrypted_content"))
    })
}

fn decode_reasoning(v: &Value) -> Option<Reasoning> {
    let effort = str_of(v, "effort")?;
    Some(Reasoning {
        effort: Some(effort.to_owned()),
        budget_tokens: None,
    })
}

/// `text.format` is Chat's `response_format` with the schema fields flattened.
fn decode_text(v: &Value, req: &mut Request, loss: &mut Loss) {
    if present(v, "verbosity").is_some() {
        loss.add("verbosity");
    }
    let Some(format) = present(v, "format") else {
        return;
    };
    req.response_format = match str_of(format, "type") {
        Some("json_object") => Some(json!({"type": "json_object"})),
        Some("json_schema") => {
            let mut schema = format.clone();
            if let Some(map) = schema.as_object_mut() {
                map.remove("type");
            }
            Some(object([
                ("type", Some(json!("json_schema"))),
                ("json_schema", Some(schema)),
            ]))
        }
        _ => None,
    };
}

fn decode_item(item: &mut Value, req: &mut Request, loss: &mut Loss) -> Result<(), ConvertError> {
    let kind = str_of(item, "type").unwrap_or("message");
    match kind {
        "message" => decode_message_item(item, req, loss)?,
        "function_call" => req.push_part(Role::Assistant, decode_function_call(item)),
        "function_call_output" => req.push_part(
            Role::User,
            Part::ToolResult {
                call_id: take_text(item, "call_id"),
                content: decode_content(item.get_mut("output").unwrap_or(&mut Value::Null), loss),
                is_error: false,
            },
        ),
        "reasoning" => {
            if let Some(part) = decode_reasoning_item(item) {
                req.push_part(Role::Assistant, part);
            }
        }
        "item_reference" => return Err(ConvertError::Unsupported("item_reference")),
        _ => loss.add("input_item"),
    }
    Ok(())
}

fn decode_message_item(
    item: &mut Value,
    req: &mut Request,
    loss: &mut Loss,
) -> Result<(), ConvertError> {
    let content = decode_content(item.get_mut("content").unwrap_or(&mut Value::Null), loss);
    let role = match str_of(item, "role") {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("system") | Some("developer") => {
            let text = joined_text(&content);
            if !text.is_empty() {
                req.system.push(text);
            }
            return Ok(());
        }
        _ => {
            return Err(ConvertError::invalid(
                "input.role",
                "must be user, assistant, system or developer",
            ))
        }
    };
    for part in content {
        req.push_part(role, part);
    }
    Ok(())
}

fn decode_function_call(item: &mut Value) -> Part {
    Part::ToolCall {
        id: take_str(item, "call_id")
            .or_else(|| take_str(item, "id"))
            .unwrap_or_default(),
        name: take_text(item, "name"),
        arguments: take_text(item, "arguments"),
    }
}

/// Summary text (or raw reasoning text) becomes thinking; encrypted content
/// alone becomes redacted thinking.
pub fn decode_reasoning_item(item: &Value) -> Option<Part> {
    let mut texts: Vec<&str> = arr_of(item, "summary")
        .iter()
        .filter_map(|s| str_of(s, "text"))
        .collect();
    if texts.is_empty() {
        texts = arr_of(item, "content")
            .iter()
            .filter_map(|s| str_of(s, "text"))
            .collect();
    }
    let encrypted = str_of(item, "encrypted_content").filter(|s| !s.is_empty());
    if texts.is_empty() {
        return encrypted.map(|e| Part::RedactedThinking(e.to_owned()));
    }
    Some(Part::Thinking {
        text: texts.join("\n\n"),
        signature: encrypted.map(str::to_owned),
    })
}

/// A string, or input/output content parts.
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
        Some("input_text") | Some("output_text") | Some("text") => {
            Some(Part::Text(take_text(p, "text")))
        }
        Some("refusal") => Some(Part::Text(take_text(p, "refusal"))),
        Some("input_image") => match str_of(p, "image_url") {
            Some(url) => Some(Part::Image(Image::from_url(url))),
            None => {
                loss.add("input_image.file_id");
                None
            }
        },
        Some("input_file") => {
            loss.add("input_file");
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
        if str_of(t, "type") != Some("function") {
            loss.add(builtin_tool_name(text_of(t, "type")));
            continue;
        }
        tools.push(Tool {
            name: take_text(t, "name"),
            description: take_str(t, "description"),
            parameters: t
                .get_mut("parameters")
                .map(Value::take)
                .filter(Value::is_object)
                .unwrap_or_else(empty_schema),
            strict: t.get("strict").and_then(Value::as_bool),
        });
    }
    tools
}

fn builtin_tool_name(kind: &str) -> &'static str {
    match kind {
        "web_search" | "web_search_preview" => "tools.web_search",
        "file_search" => "tools.file_search",
        "custom" => "tools.custom",
        "local_shell" | "shell" => "tools.local_shell",
        "mcp" => "tools.mcp",
        "code_interpreter" => "tools.code_interpreter",
        "image_generation" => "tools.image_generation",
        _ => "tools.builtin",
    }
}

fn decode_tool_choice(v: &Value) -> Option<ToolChoice> {
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "required" => Some(ToolChoice::Required),
            "none" => Some(ToolChoice::None),
            _ => None,
        },
        _ if str_of(v, "type") == Some("function") => {
            str_of(v, "name").map(|n| ToolChoice::Named(n.to_owned()))
        }
        _ => None,
    }
}

/// Takes the request by value: its strings move into the tree.
pub fn encode_request(mut req: Request, loss: &mut Loss) -> Value {
    if !req.stop.is_empty() {
        loss.add("stop_sequences");
    }
    let messages = std::mem::take(&mut req.messages);
    let tools = std::mem::take(&mut req.tools);
    let has_tools = !tools.is_empty();
    let reasoning = req.reasoning.take();
    object([
        ("model", req.model.take().map(Value::from)),
        (
            "instructions",
            (!req.system.is_empty()).then(|| json!(req.system.join("\n\n"))),
        ),
        ("input", Some(encode_input(messages, loss))),
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
        (
            "max_output_tokens",
            req.max_tokens.map(|m| json!(m.max(MIN_OUTPUT_TOKENS))),
        ),
        ("temperature", req.temperature.map(Value::from)),
        ("top_p", req.top_p.map(Value::from)),
        ("stream", req.stream.then_some(Value::Bool(true))),
        ("user", req.user.take().map(Value::from)),
        ("metadata", req.metadata.take()),
        // The Responses API stores responses unless told not to; Chat
        // Completions and Anthropic clients never asked for that.
        ("store", Some(Value::Bool(false))),
        (
            "reasoning",
            reasoning
                .as_ref()
                .map(|r| json!({"effort": r.effort(), "summary": "auto"})),
        ),
        (
            "include",
            reasoning
                .as_ref()
                .map(|_| json!(["reasoning.encrypted_content"])),
        ),
        (
            "text",
            req.response_format.as_ref().and_then(encode_text_format),
        ),
    ])
}

fn encode_text_format(rf: &Value) -> Option<Value> {
    match str_of(rf, "type") {
        Some("json_object") => Some(json!({"format": {"type": "json_object"}})),
        Some("json_schema") => {
            let mut format = present(rf, "json_schema")
                .cloned()
                .unwrap_or_else(|| json!({}));
            if let Some(map) = format.as_object_mut() {
                map.insert("type".into(), json!("json_schema"));
            }
            Some(object([("format", Some(format))]))
        }
        _ => None,
    }
}

fn encode_input(messages: Vec<Message>, loss: &mut Loss) -> Value {
    let mut items = Vec::new();
    for m in messages {
        match m.role {
            Role::User => encode_user(m.content, &mut items),
            Role::Assistant => encode_assistant(m.content, &mut items, loss),
        }
    }
    Value::Array(items)
}

fn encode_user(parts: Vec<Part>, items: &mut Vec<Value>) {
    let mut pending: Vec<Value> = Vec::new();
    let flush = |pending: &mut Vec<Value>, items: &mut Vec<Value>| {
        if !pending.is_empty() {
            // `object` moves the parts in; `json!` would re-serialise them.
            items.push(object([
                ("role", Some(json!("user"))),
                ("content", Some(Value::Array(std::mem::take(pending)))),
            ]));
        }
    };
    for part in parts {
        match part {
            Part::Text(t) => pending.push(object([
                ("type", Some(json!("input_text"))),
                ("text", Some(Value::String(t))),
            ])),
            Part::Image(img) => pending.push(input_image(&img)),
            Part::ToolResult {
                call_id,
                content,
                is_error,
            } => {
                flush(&mut pending, items);
                items.push(object([
                    ("type", Some(json!("function_call_output"))),
                    ("call_id", Some(Value::String(call_id))),
                    ("output", Some(tool_output(&content, is_error))),
                ]));
            }
            _ => {}
        }
    }
    flush(&mut pending, items);
}

fn input_image(img: &Image) -> Value {
    json!({"type": "input_image", "image_url": img.to_url(), "detail": "auto"})
}

/// A plain string unless the result carries images; the error flag travels
/// as a text prefix since Responses has none.
fn tool_output(content: &[Part], is_error: bool) -> Value {
    let has_image = content.iter().any(|p| matches!(p, Part::Image(_)));
    if !has_image {
        let text = joined_text(content);
        return json!(if is_error {
            format!("{TOOL_ERROR_PREFIX}{text}")
        } else {
            text
        });
    }
    let mut parts: Vec<Value> = Vec::new();
    if is_error {
        parts.push(json!({"type": "input_text", "text": TOOL_ERROR_PREFIX.trim_end()}));
    }
    for p in content {
        match p {
            Part::Text(t) => parts.push(json!({"type": "input_text", "text": t})),
            Part::Image(img) => parts.push(input_image(img)),
            _ => {}
        }
    }
    Value::Array(parts)
}

fn encode_assistant(parts: Vec<Part>, items: &mut Vec<Value>, loss: &mut Loss) {
    for part in parts {
        match part {
            Part::Text(t) if !t.is_empty() => items.push(object([
                ("role", Some(json!("assistant"))),
                ("content", Some(Value::String(t))),
            ])),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => {
                let arguments = if arguments.trim().is_empty() {
                    "{}".to_owned()
                } else {
                    arguments
                };
                items.push(object([
                    ("type", Some(json!("function_call"))),
                    ("call_id", Some(Value::String(id))),
                    ("name", Some(Value::String(name))),
                    ("arguments", Some(Value::String(arguments))),
                ]))
            }
            Part::Thinking {
                text,
                signature: Some(sig),
            } => items.push(reasoning_item(&new_id("rs_"), Some(&text), Some(&sig))),
            Part::RedactedThinking(data) => {
                items.push(reasoning_item(&new_id("rs_"), None, Some(&data)))
            }
            // Without encrypted content the API cannot use reasoning it did not produce.
            Part::Thinking {
                signature: None, ..
            } => loss.add("thinking"),
            _ => {}
        }
    }
}

fn encode_tools(tools: Vec<Tool>) -> Value {
    Value::Array(
        tools
            .into_iter()
            .map(|t| {
                object([
                    ("type", Some(json!("function"))),
                    ("name", Some(Value::String(t.name))),
                    ("description", t.description.map(Value::from)),
                    ("parameters", Some(t.parameters)),
                    // Omitted, the Responses API makes the schema strict (all
                    // fields required, no extra properties): Chat and Anthropic
                    // tools are non-strict unless the client said otherwise.
                    ("strict", Some(Value::Bool(t.strict == Some(true)))),
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
        ToolChoice::Named(name) => json!({"type": "function", "name": name}),
    }
}

// ------------------------------------------------- items and response object

pub fn output_text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

pub fn message_item(id: &str, texts: &[String], status: &str) -> Value {
    let content: Vec<Value> = texts.iter().map(|t| output_text_part(t)).collect();
    object([
        ("id", Some(json!(id))),
        ("type", Some(json!("message"))),
        ("status", Some(json!(status))),
        ("role", Some(json!("assistant"))),
        ("content", Some(Value::Array(content))),
    ])
}

pub fn function_call_item(
    id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    json!({
        "id": id, "type": "function_call", "status": status,
        "call_id": call_id, "name": name, "arguments": arguments,
    })
}

pub fn reasoning_item(id: &str, summary: Option<&str>, encrypted: Option<&str>) -> Value {
    let summary: Vec<Value> = summary
        .map(|s| json!({"type": "summary_text", "text": s}))
        .into_iter()
        .collect();
    let mut item = json!({"id": id, "type": "reasoning", "summary": summary});
    if let Some(e) = encrypted {
        item["encrypted_content"] = json!(e);
    }
    item
}

/// Status and `incomplete_details.reason` for a stop reason.
pub fn status_for(stop: StopReason) -> (&'static str, Option<&'static str>) {
    match stop {
        StopReason::MaxTokens => ("incomplete", Some("max_output_tokens")),
        StopReason::ContentFilter | StopReason::Refusal => ("incomplete", Some("content_filter")),
        _ => ("completed", None),
    }
}

pub struct ResponseHead<'a> {
    pub id: &'a str,
    pub model: &'a str,
    pub created_at: u64,
}

/// Request parameters a Responses object repeats back, as OpenAI's does: a
/// client reading `response.tools` or `response.temperature` sees what it
/// sent, not a default. `store` is left out: switchyard stores nothing, so
/// the object keeps saying `false`.
const ECHOED: [&str; 16] = [
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "parallel_tool_calls",
    "prompt_cache_key",
    "reasoning",
    "safety_identifier",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
];

/// The [`ECHOED`] parameters a Responses request set (nulls left out).
pub fn echoed_params(request: &Value) -> Map<String, Value> {
    ECHOED
        .iter()
        .filter_map(|&k| Some((k.to_owned(), request.get(k)?.clone())))
        .filter(|(_, v)| !v.is_null())
        .collect()
}

/// Writes the request's parameters over a response object's defaults. The
/// objects (`reasoning`, `text`) are merged key by key, so `{"effort":
/// "high"}` keeps the `summary: null` the object always carries.
pub fn echo(response: &mut Value, params: &Map<String, Value>) {
    let Some(object) = response.as_object_mut() else {
        return;
    };
    for (key, given) in params {
        match (object.get_mut(key), given) {
            (Some(Value::Object(default)), Value::Object(given)) => {
                default.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            _ => {
                object.insert(key.clone(), given.clone());
            }
        }
    }
}

pub fn response_object(
    head: &ResponseHead,
    status: &str,
    incomplete: Option<&str>,
    output: Vec<Value>,
    usage: Option<Value>,
) -> Value {
    json!({
        "id": head.id,
        "object": "response",
        "created_at": head.created_at,
        "status": status,
        "error": Value::Null,
        "incomplete_details": incomplete.map(|r| json!({"reason": r})),
        "instructions": Value::Null,
        "max_output_tokens": Value::Null,
        "model": head.model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": Value::Null,
        "reasoning": {"effort": Value::Null, "summary": Value::Null},
        "store": false,
        "temperature": Value::Null,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": Value::Null,
        "truncation": "disabled",
        "usage": usage,
        "user": Value::Null,
        "metadata": {},
    })
}

// --------------------------------------------------------------- responses

/// Decodes an answer tree it takes the output items out of.
pub fn decode_response(body: &mut Value, loss: &mut Loss) -> Result<Response, ConvertError> {
    if !body.is_object() {
        return Err(ConvertError::NotAnObject);
    }
    let mut output = match body.get_mut("output") {
        Some(Value::Array(items)) => std::mem::take(items),
        _ => return Err(ConvertError::MissingField("output")),
    };
    let mut content = Vec::new();
    let mut refused = false;
    for item in &mut output {
        match str_of(item, "type") {
            Some("message") => {
                let parts = item.get_mut("content").and_then(Value::as_array_mut);
                for part in parts.into_iter().flatten() {
                    refused |= str_of(part, "type") == Some("refusal");
                    content.extend(decode_part(part, loss));
                }
            }
            Some("function_call") => content.push(decode_function_call(item)),
            Some("reasoning") => content.extend(decode_reasoning_item(item)),
            _ => loss.add("output_item"),
        }
    }
    let stop = if refused {
        Some(StopReason::Refusal)
    } else {
        stop_of(body)
    };
    Ok(Response {
        id: str_of(body, "id").map(str::to_owned),
        model: str_of(body, "model").map(str::to_owned),
        content,
        stop,
        stop_sequence: None,
        usage: present(body, "usage")
            .map(usage::from_responses)
            .unwrap_or_default(),
    })
}

/// Stop reason from a response object's status and incomplete details.
pub fn stop_of(response: &Value) -> Option<StopReason> {
    let reason = present(response, "incomplete_details").and_then(|d| str_of(d, "reason"));
    match (str_of(response, "status"), reason) {
        (Some("incomplete"), Some("content_filter")) => Some(StopReason::ContentFilter),
        (Some("incomplete"), _) => Some(StopReason::MaxTokens),
        (Some("completed"), _) => Some(StopReason::EndTurn),
        _ => None,
    }
}

pub fn encode_response(resp: &Response, loss: &mut Loss) -> Value {
    let mut output = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let flush = |texts: &mut Vec<String>, output: &mut Vec<Value>| {
        if !texts.is_empty() {
            output.push(message_item(&new_id("msg_"), texts, "completed"));
            texts.clear();
        }
    };
    for part in &resp.content {
        match part {
            Part::Text(t) => texts.push(t.clone()),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => {
                flush(&mut texts, &mut output);
                let args = if arguments.trim().is_empty() {
                    "{}"
                } else {
                    arguments
                };
                output.push(function_call_item(
                    &new_id("fc_"),
                    id,
                    name,
                    args,
                    "completed",
                ));
            }
            Part::Thinking { text, signature } => {
                flush(&mut texts, &mut output);
                output.push(reasoning_item(
                    &new_id("rs_"),
                    Some(text),
                    signature.as_deref(),
                ));
            }
            Part::RedactedThinking(data) => {
                flush(&mut texts, &mut output);
                output.push(reasoning_item(&new_id("rs_"), None, Some(data)));
            }
            _ => loss.add("content_part"),
        }
    }
    flush(&mut texts, &mut output);
    let (status, incomplete) = status_for(resp.effective_stop());
    let id = resp.id.clone().unwrap_or_else(|| new_id("resp_"));
    let model = resp.model.clone().unwrap_or_default();
    let head = ResponseHead {
        id: &id,
        model: &model,
        created_at: unix_now(),
    };
    response_object(
        &head,
        status,
        incomplete,
        output,
        Some(usage::to_responses(&resp.usage)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_repeats_the_request_parameters() {
        let request = json!({
            "model": "m", "input": "hi", "store": true, "temperature": 0.2,
            "instructions": "Be brief.", "reasoning": {"effort": "high"},
            "tools": [{"type": "function", "name": "f", "parameters": {}}],
            "top_p": null,
        });
        let params = echoed_params(&request);
        let head = ResponseHead {
            id: "resp_1",
            model: "m",
            created_at: 1,
        };
        let mut out = response_object(&head, "completed", None, Vec::new(), None);
        echo(&mut out, &params);
        assert_eq!(out["temperature"], 0.2);
        assert_eq!(out["instructions"], "Be brief.");
        assert_eq!(out["tools"][0]["name"], "f");
        assert_eq!(out["reasoning"], json!({"effort": "high", "summary": null}));
        assert_eq!(out["store"], false, "switchyard stores nothing");
        assert!(out["top_p"].is_null() && out.get("input").is_none());
    }

    #[test]
    fn decodes_items_into_turns() {
        let mut loss = Loss::default();
        let req = decode_request(
            &mut json!({"instructions": "sys", "input": [
                {"role": "developer", "content": "dev"},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": "data:image/png;base64,QQ=="}]},
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "t"}], "encrypted_content": "E"},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"}
            ], "max_output_tokens": 50, "store": false, "include": ["reasoning.encrypted_content"]}),
            &mut loss,
        )
        .unwrap_or_default();
        assert_eq!(req.system, vec!["sys".to_owned(), "dev".to_owned()]);
        assert_eq!(req.messages.len(), 3);
        assert_eq!(
            req.messages[1].content[0],
            Part::Thinking {
                text: "t".into(),
                signature: Some("E".into())
            }
        );
        assert!(loss.as_slice().is_empty(), "{loss:?}");
    }

    #[test]
    fn stateful_requests_are_refused() {
        let r = decode_request(
            &mut json!({"input": "x", "previous_response_id": "resp_1"}),
            &mut Loss::default(),
        );
        assert!(matches!(
            r,
            Err(ConvertError::Unsupported("previous_response_id"))
        ));
        let r = decode_request(&mut json!({"model": "x"}), &mut Loss::default());
        assert!(matches!(r, Err(ConvertError::MissingField("input"))));
    }

    #[test]
    fn response_format_maps_to_text_format_and_back() {
        let rf = json!({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}, "strict": true}});
        let text = encode_text_format(&rf).unwrap_or_default();
        assert_eq!(text["format"]["type"], "json_schema");
        assert_eq!(text["format"]["name"], "n");
        let mut req = Request::default();
        decode_text(&text, &mut req, &mut Loss::default());
        assert_eq!(req.response_format, Some(rf));
    }

    #[test]
    fn incomplete_status_maps_to_max_tokens() {
        let resp = decode_response(
            &mut json!({"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}, "output": []}),
            &mut Loss::default(),
        )
        .unwrap_or_default();
        assert_eq!(resp.stop, Some(StopReason::MaxTokens));
        let out = encode_response(&resp, &mut Loss::default());
        assert_eq!(out["status"], "incomplete");
        assert_eq!(out["incomplete_details"]["reason"], "max_output_tokens");
    }

    #[test]
    fn max_output_tokens_has_a_floor_and_stop_is_lossy() {
        let req = Request {
            max_tokens: Some(1),
            stop: vec!["x".into()],
            ..Request::default()
        };
        let mut loss = Loss::default();
        let out = encode_request(req, &mut loss);
        assert_eq!(out["max_output_tokens"], MIN_OUTPUT_TOKENS);
        assert!(loss.as_slice().contains(&"stop_sequences"));
    }
}
