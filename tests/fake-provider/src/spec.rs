//! Behaviours written as JSON, for processes that cannot call the Rust API
//! (the SDK check script, benchmark scripts, manual `curl`): the body of
//! `POST /_fake/push` and `POST /_fake/default`.
//!
//! A spec is a name (`"hang"`) or an object with a `type` and its fields:
//!
//! ```json
//! {"type": "text", "text": "hi"}
//! {"type": "tool_calls", "calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}
//! {"type": "thinking", "thinking": "…", "signature": "…", "text": "…"}
//! {"type": "reply", "thinking": {"thinking": "…", "signature": "…"}, "text": "…", "calls": […]}
//! {"type": "max_tokens", "text": "…"}
//! {"type": "error", "status": 429, "body": null, "retry_after": "2"}
//! {"type": "custom", "status": 200, "headers": [["x-a", "1"]], "body": "…"}
//! {"type": "raw_sse", "frames": ["data: 1\n\n"]}
//! "mid_stream_error" | "hang" | "reset" | "reset_mid_stream" | "truncated" | "invalid_json"
//! ```
//!
//! Any object may add modifiers: `gap_ms`, `delay_ms`, `usage` (`input`,
//! `output`, `cache_read`, `cache_write`, `reasoning`), `headers` (response
//! headers, `[[name, value]]` or `{name: value}`) and `fault`
//! (`mid_stream_error`, `truncated`, `reset_mid_stream`).

use std::time::Duration;

use serde_json::Value;

use crate::behavior::{Behavior, Reply, StreamFault, Usage};

impl Behavior {
    /// Parses a JSON behaviour spec (see the module docs).
    pub fn from_spec(spec: &Value) -> Result<Behavior, String> {
        match spec {
            Value::String(name) => named(name),
            Value::Object(_) => {
                let ty = str_field(spec, "type")?;
                let core = core(ty, spec)?;
                modifiers(core, spec, ty)
            }
            other => Err(format!(
                "a behaviour spec is a name or an object, not {other}"
            )),
        }
    }
}

fn named(name: &str) -> Result<Behavior, String> {
    Ok(match name {
        "text" => Behavior::default(),
        "mid_stream_error" => Behavior::MidStreamError,
        "hang" => Behavior::Hang,
        "reset" => Behavior::Reset,
        "reset_mid_stream" => Behavior::ResetMidStream,
        "truncated" => Behavior::Truncated,
        "invalid_json" => Behavior::InvalidJson,
        other => return Err(format!("unknown behaviour {other:?}")),
    })
}

fn core(ty: &str, spec: &Value) -> Result<Behavior, String> {
    Ok(match ty {
        "text" => Behavior::Text(opt_str(spec, "text").unwrap_or(crate::DEFAULT_TEXT).into()),
        "tool_calls" => Behavior::ToolCalls(calls(spec)?),
        "thinking" => Behavior::Thinking {
            thinking: str_field(spec, "thinking")?.into(),
            signature: str_field(spec, "signature")?.into(),
            text: str_field(spec, "text")?.into(),
        },
        "reply" => Behavior::Reply(reply(spec)?),
        "max_tokens" => Behavior::MaxTokens(str_field(spec, "text")?.into()),
        "error" => Behavior::Error {
            status: status(spec)?,
            body: opt_str(spec, "body").map(str::to_string),
            retry_after: opt_str(spec, "retry_after").map(str::to_string),
        },
        "custom" => Behavior::Custom {
            status: status(spec)?,
            headers: headers(spec)?,
            body: opt_str(spec, "body").unwrap_or("").to_string().into(),
        },
        "raw_sse" => Behavior::RawSse(
            spec.get("frames")
                .and_then(Value::as_array)
                .ok_or("raw_sse needs `frames`: [string]")?
                .iter()
                .map(|f| f.as_str().map(str::to_string).ok_or("frames are strings"))
                .collect::<Result<_, _>>()?,
        ),
        other => named(other)?,
    })
}

fn modifiers(mut behavior: Behavior, spec: &Value, ty: &str) -> Result<Behavior, String> {
    if let Some(usage) = spec.get("usage") {
        behavior = behavior.with_usage(parse_usage(usage)?);
    }
    if ty != "custom" && spec.get("headers").is_some() {
        behavior = Behavior::WithHeaders(headers(spec)?, Box::new(behavior));
    }
    if let Some(fault) = opt_str(spec, "fault") {
        behavior = behavior.with_fault(parse_fault(fault)?);
    }
    if let Some(ms) = spec.get("gap_ms").and_then(Value::as_u64) {
        behavior = behavior.drip(Duration::from_millis(ms));
    }
    if let Some(ms) = spec.get("delay_ms").and_then(Value::as_u64) {
        behavior = behavior.slow(Duration::from_millis(ms));
    }
    Ok(behavior)
}

fn str_field<'a>(spec: &'a Value, key: &str) -> Result<&'a str, String> {
    opt_str(spec, key).ok_or_else(|| format!("missing string field `{key}`"))
}

fn opt_str<'a>(spec: &'a Value, key: &str) -> Option<&'a str> {
    spec.get(key).and_then(Value::as_str)
}

fn status(spec: &Value) -> Result<u16, String> {
    spec.get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| "missing numeric `status`".to_string())
}

fn calls(spec: &Value) -> Result<Vec<(String, Value)>, String> {
    let Some(calls) = spec.get("calls") else {
        return Ok(Vec::new());
    };
    calls
        .as_array()
        .ok_or("`calls` is a list")?
        .iter()
        .map(|call| {
            let name = str_field(call, "name")?.to_string();
            let args = call
                .get("arguments")
                .cloned()
                .unwrap_or(Value::Object(Default::default()));
            Ok((name, args))
        })
        .collect()
}

fn reply(spec: &Value) -> Result<Reply, String> {
    let thinking = match spec.get("thinking") {
        None | Some(Value::Null) => None,
        Some(t) => Some((
            str_field(t, "thinking")?.to_string(),
            str_field(t, "signature")?.to_string(),
        )),
    };
    Ok(Reply {
        thinking,
        text: opt_str(spec, "text").map(str::to_string),
        tool_calls: calls(spec)?,
        max_tokens: spec
            .get("max_tokens")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

fn headers(spec: &Value) -> Result<Vec<(String, String)>, String> {
    match spec.get("headers") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    v.as_str().ok_or("header values are strings")?.to_string(),
                ))
            })
            .collect(),
        Some(Value::Array(pairs)) => pairs
            .iter()
            .map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([Value::String(k), Value::String(v)]) => Ok((k.clone(), v.clone())),
                _ => Err("headers are [name, value] string pairs".to_string()),
            })
            .collect(),
        Some(_) => Err("`headers` is a list of pairs or an object".to_string()),
    }
}

fn parse_usage(usage: &Value) -> Result<Usage, String> {
    let field = |key: &str, default: u64| match usage.get(key) {
        None => Ok(default),
        Some(v) => v.as_u64().ok_or_else(|| format!("usage.{key} is a number")),
    };
    let d = Usage::DEFAULT;
    Ok(Usage {
        input: field("input", d.input)?,
        output: field("output", d.output)?,
        cache_read: field("cache_read", d.cache_read)?,
        cache_write: field("cache_write", d.cache_write)?,
        reasoning: field("reasoning", d.reasoning)?,
    })
}

fn parse_fault(fault: &str) -> Result<StreamFault, String> {
    Ok(match fault {
        "mid_stream_error" => StreamFault::MidStreamError,
        "truncated" => StreamFault::Truncated,
        "reset_mid_stream" => StreamFault::ResetMidStream,
        other => return Err(format!("unknown fault {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::behavior::Core;
    use serde_json::json;

    #[test]
    fn parses_modifiers() {
        let spec = json!({
            "type": "tool_calls",
            "calls": [{"name": "f", "arguments": {"a": 1}}],
            "gap_ms": 5, "delay_ms": 6, "usage": {"input": 3},
            "headers": {"x-a": "1"}, "fault": "truncated"
        });
        let script = Behavior::from_spec(&spec).unwrap().resolve();
        assert_eq!(script.gap, Duration::from_millis(5));
        assert_eq!(script.delay, Duration::from_millis(6));
        assert_eq!(script.usage().input, 3);
        assert_eq!(script.fault, Some(StreamFault::Truncated));
        assert_eq!(script.headers.len(), 1);
        assert!(
            matches!(script.core, Core::Content(ref r) if r.tool_calls[0].1 == json!({"a": 1}))
        );
    }

    #[test]
    fn rejects_unknown_names() {
        assert!(Behavior::from_spec(&json!("explode")).is_err());
        assert!(Behavior::from_spec(&json!({"type": "error"})).is_err());
        assert!(Behavior::from_spec(&json!(3)).is_err());
    }
}
