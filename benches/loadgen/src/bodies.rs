//! Request bodies the load client sends and the converter benches convert.

use bytes::Bytes;
use serde_json::{json, Value};

/// The API a request body is shaped for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Api {
    Chat,
    Messages,
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
    Bytes::from(
        json!({"model": model, "max_tokens": 64, "stream": stream, "tools": tools, "messages": messages})
            .to_string(),
    )
}
