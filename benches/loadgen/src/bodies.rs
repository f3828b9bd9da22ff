//! Request bodies the load client sends and the converter benches convert.

use bytes::Bytes;
use serde_json::{json, Value};

/// The API a request body is shaped for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Api {
    Chat,
    Messages,
    Responses,
}

impl Api {
    /// The path an SDK posts this API's requests to.
    pub fn path(self) -> &'static str {
        match self {
            Api::Chat => "/v1/chat/completions",
            Api::Messages => "/v1/messages",
            Api::Responses => "/v1/responses",
        }
    }

    /// The model the bench asks for unless told otherwise.
    pub fn default_model(self) -> &'static str {
        match self {
            Api::Chat => "gpt-bench",
            Api::Messages => "claude-bench",
            Api::Responses => "gpt-bench-responses",
        }
    }

    /// A top-level key every JSON answer of this API has.
    pub fn answer_key(self) -> &'static str {
        match self {
            Api::Chat => "choices",
            Api::Messages => "content",
            Api::Responses => "output",
        }
    }

    /// Text that ends every complete stream of this API.
    pub fn stream_end(self) -> &'static str {
        match self {
            Api::Chat => "[DONE]",
            Api::Messages => "message_stop",
            Api::Responses => "response.completed",
        }
    }
}

/// A small generation request, as an SDK would send it.
pub fn small_body(model: &str, stream: bool, api: Api) -> Bytes {
    let messages = json!([{"role": "user", "content": "Say hello in one short sentence."}]);
    request(model, stream, api, Vec::new(), messages)
}

/// The request object around `tools` and the conversation, in `api`'s
/// field names.
fn request(model: &str, stream: bool, api: Api, tools: Vec<Value>, turns: Value) -> Bytes {
    let mut body = match api {
        Api::Chat | Api::Messages => {
            json!({"model": model, "max_tokens": 64, "stream": stream, "messages": turns})
        }
        Api::Responses => {
            json!({"model": model, "max_output_tokens": 64, "stream": stream, "input": turns})
        }
    };
    if !tools.is_empty() {
        body["tools"] = Value::Array(tools);
    }
    Bytes::from(body.to_string())
}

/// A coding agent's request of about `bytes`: 20 tool definitions, then
/// user/assistant turns of ~2 KB of text until the size is reached.
pub fn agent_body(model: &str, stream: bool, api: Api, bytes: usize) -> Bytes {
    let schema = json!({
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "Absolute path of the file to read."},
            "offset": {"type": "integer", "description": "Line to start from."},
            "limit": {"type": "integer", "description": "Lines to read."}
        },
        "required": ["path"]
    });
    let tools: Vec<Value> = (0..20)
        .map(|i| {
            let (name, text) = (format!("tool_{i}"), "Reads a file from the local filesystem. ".repeat(8));
            match api {
                Api::Messages => json!({"name": name, "description": text, "input_schema": schema}),
                Api::Chat => json!({"type": "function", "function": {"name": name, "description": text, "parameters": schema}}),
                Api::Responses => json!({"type": "function", "name": name, "description": text, "parameters": schema}),
            }
        })
        .collect();
    let turn = "The function parses the header, then checks the length field against the buffer. "
        .repeat(24);
    let mut messages = Vec::new();
    let mut size = serde_json::to_vec(&tools).map_or(0, |t| t.len());
    while size < bytes {
        let role = if messages.len() % 2 == 0 {
            "user"
        } else {
            "assistant"
        };
        messages.push(json!({"role": role, "content": turn}));
        size += turn.len() + 40;
    }
    if messages.len() % 2 == 0 {
        messages.push(json!({"role": "user", "content": "Say hello in one short sentence."}));
    }
    request(model, stream, api, tools, Value::Array(messages))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard::convert::{convert_request, Protocol};

    fn protocol(api: Api) -> Protocol {
        match api {
            Api::Chat => Protocol::OpenAiChat,
            Api::Messages => Protocol::AnthropicMessages,
            Api::Responses => Protocol::OpenAiResponses,
        }
    }

    /// switchyard's own decoder reads every body the bench sends as a
    /// request of its API, with nothing dropped on the way to another one.
    #[test]
    fn every_body_is_a_valid_request_of_its_api() {
        for api in [Api::Chat, Api::Messages, Api::Responses] {
            let to = match api {
                Api::Messages => Protocol::OpenAiChat,
                _ => Protocol::AnthropicMessages,
            };
            for body in [
                small_body("m-1", true, api),
                agent_body("m-1", true, api, 8 * 1024),
            ] {
                let tree: Value = serde_json::from_slice(&body).unwrap();
                let converted = convert_request(protocol(api), to, tree)
                    .unwrap_or_else(|e| panic!("{api:?}: {e}"));
                assert!(converted.lossy.is_empty(), "{api:?}: {:?}", converted.lossy);
                assert_eq!(converted.body["model"], "m-1", "{api:?}");
                assert_eq!(converted.body["stream"], true, "{api:?}");
                let turns = converted.body["messages"].as_array().map_or(0, Vec::len);
                assert!(turns >= 1, "{api:?}: {}", converted.body);
            }
            let big = agent_body("m-1", false, api, 8 * 1024);
            let tree: Value = serde_json::from_slice(&big).unwrap();
            let converted = convert_request(protocol(api), to, tree).unwrap();
            assert_eq!(
                converted.body["tools"].as_array().map_or(0, Vec::len),
                20,
                "{api:?}"
            );
        }
    }
}
