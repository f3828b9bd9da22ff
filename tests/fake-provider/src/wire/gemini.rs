//! Google Gemini (`POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`), enough for Gemini CLI: the
//! `GenerateContentResponse` JSON, and the stream as `data:`-only SSE chunks
//! of the same shape (one text part per word), the last one carrying
//! `finishReason` and `usageMetadata`. Errors use Google's
//! `{"error":{"code","message","status"}}`.

use serde_json::{json, Value};

use super::{arguments_json, split_words};
use crate::behavior::{Reply, Usage};

/// `(model, stream)` when `path` is a Gemini generation path.
pub fn route(path: &str) -> Option<(String, bool)> {
    let rest = path
        .strip_prefix("/v1beta/models/")
        .or_else(|| path.strip_prefix("/v1/models/"))?;
    let (model, method) = rest.split_once(':')?;
    match method {
        "generateContent" => Some((model.to_string(), false)),
        "streamGenerateContent" => Some((model.to_string(), true)),
        _ => None,
    }
}

fn usage(u: &Usage) -> Value {
    json!({
        "promptTokenCount": u.input,
        "candidatesTokenCount": u.output,
        // Gemini's candidates leave the thoughts out; its total has them.
        "totalTokenCount": u.total() + u.reasoning,
        "cachedContentTokenCount": u.cache_read,
        "thoughtsTokenCount": u.reasoning,
    })
}

fn finish_reason(reply: &Reply) -> &'static str {
    if reply.max_tokens {
        "MAX_TOKENS"
    } else {
        "STOP"
    }
}

fn call_parts(reply: &Reply) -> Vec<Value> {
    reply
        .tool_calls
        .iter()
        .map(|(name, args)| {
            let args: Value = serde_json::from_str(&arguments_json(args)).unwrap_or(json!({}));
            json!({"functionCall": {"name": name, "args": args}})
        })
        .collect()
}

fn chunk(parts: Vec<Value>, model: &str, id: &str, end: Option<(&Reply, &Usage)>) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    let mut out = json!({"modelVersion": model, "responseId": id});
    if let Some((reply, u)) = end {
        candidate["finishReason"] = json!(finish_reason(reply));
        out["usageMetadata"] = usage(u);
    }
    out["candidates"] = json!([candidate]);
    out
}

/// The non-streaming response.
pub fn response(model: &str, id: &str, reply: &Reply, u: &Usage) -> Value {
    let mut parts = Vec::new();
    if let Some(text) = &reply.text {
        parts.push(json!({"text": text}));
    }
    parts.extend(call_parts(reply));
    chunk(parts, model, id, Some((reply, u)))
}

/// The SSE `data:` payloads of the stream.
pub fn stream(model: &str, id: &str, reply: &Reply, u: &Usage) -> Vec<String> {
    let mut chunks: Vec<Value> = reply
        .text
        .as_deref()
        .map(split_words)
        .unwrap_or_default()
        .into_iter()
        .map(|w| chunk(vec![json!({"text": w})], model, id, None))
        .collect();
    chunks.push(chunk(call_parts(reply), model, id, Some((reply, u))));
    chunks.iter().map(Value::to_string).collect()
}

/// When the request asks for JSON output (`generationConfig.responseMimeType`
/// `application/json`, as Gemini CLI's model router does), the reply's text
/// becomes a minimal instance of the requested schema, so clients that parse
/// it get something valid.
pub fn shape_reply(request: &Value, mut reply: Reply) -> Reply {
    let config = &request["generationConfig"];
    if config["responseMimeType"] != "application/json" || reply.text.is_none() {
        return reply;
    }
    let schema = config
        .get("responseJsonSchema")
        .or_else(|| config.get("responseSchema"))
        .unwrap_or(&Value::Null);
    reply.text = Some(instance(schema).to_string());
    reply
}

/// A minimal value satisfying a (Gemini or JSON Schema) schema.
fn instance(schema: &Value) -> Value {
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    let ty = schema["type"]
        .as_str()
        .unwrap_or("object")
        .to_ascii_lowercase();
    match ty.as_str() {
        "string" => json!(crate::DEFAULT_TEXT),
        "integer" | "number" => json!(1),
        "boolean" => json!(false),
        "array" => json!([]),
        _ => {
            let mut out = serde_json::Map::new();
            if let Some(props) = schema["properties"].as_object() {
                for (name, prop) in props {
                    out.insert(name.clone(), instance(prop));
                }
            }
            Value::Object(out)
        }
    }
}

/// Google's error body.
pub fn error_body(status: u16, message: Option<&str>) -> Value {
    let (name, default) = match status {
        400 => ("INVALID_ARGUMENT", "Request contains an invalid argument."),
        401 => ("UNAUTHENTICATED", "API key not valid."),
        403 => ("PERMISSION_DENIED", "Permission denied."),
        404 => ("NOT_FOUND", "Requested entity was not found."),
        429 => ("RESOURCE_EXHAUSTED", "Resource has been exhausted."),
        503 => ("UNAVAILABLE", "The model is overloaded."),
        _ => ("INTERNAL", "An internal error has occurred."),
    };
    json!({"error": {"code": status, "message": message.unwrap_or(default), "status": name}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_output_follows_the_schema() {
        let request = json!({"generationConfig": {"responseMimeType": "application/json",
            "responseJsonSchema": {"type": "OBJECT", "properties": {
                "why": {"type": "STRING"}, "score": {"type": "INTEGER"},
                "pick": {"type": "string", "enum": ["flash", "pro"]}}}}});
        let reply = Reply {
            text: Some("x".into()),
            ..Reply::default()
        };
        let text = shape_reply(&request, reply).text.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["score"], 1);
        assert_eq!(v["pick"], "flash");
        assert!(v["why"].is_string());
    }

    #[test]
    fn routes_both_methods() {
        assert_eq!(
            route("/v1beta/models/gemini-2.5-pro:streamGenerateContent"),
            Some(("gemini-2.5-pro".into(), true))
        );
        assert_eq!(
            route("/v1beta/models/g:generateContent"),
            Some(("g".into(), false))
        );
        assert_eq!(route("/v1beta/models/g:countTokens"), None);
    }

    #[test]
    fn stream_ends_with_usage_and_finish_reason() {
        let reply = Reply {
            text: Some("a b".into()),
            ..Reply::default()
        };
        let chunks = stream("m", "r1", &reply, &Usage::DEFAULT);
        assert_eq!(chunks.len(), 3);
        let last: Value = serde_json::from_str(&chunks[2]).unwrap();
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 12);
    }
}
