//! Conversion failures, and error bodies in each protocol's shape.
//!
//! Upstream errors arrive as raw bytes that may be any JSON or none at all;
//! we keep the message and map the type from the HTTP status, because the
//! two vendors' type vocabularies do not line up one to one.

use super::json::{present, str_of};
use super::Protocol;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("request body must be a JSON object")]
    NotAnObject,
    #[error("missing required field `{0}`")]
    MissingField(&'static str),
    #[error("invalid field `{field}`: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("{0} cannot be converted to the upstream protocol")]
    Unsupported(&'static str),
}

impl ConvertError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> ConvertError {
        ConvertError::InvalidField {
            field,
            reason: reason.into(),
        }
    }

    /// The status the gateway should answer with: these are all client faults.
    pub fn status(&self) -> u16 {
        400
    }
}

/// Caps messages copied from upstream so a huge HTML error page does not
/// become a huge JSON string.
const MAX_MESSAGE: usize = 4096;

/// Upstream error (any protocol, any bytes) -> error body in `to`'s shape.
pub fn convert_error(from: Protocol, to: Protocol, status: u16, body: &[u8]) -> Value {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if from == to {
        if let Some(v) = parsed.as_ref().filter(|v| is_shaped(to, v)) {
            return v.clone();
        }
    }
    let (message, code, param) = match &parsed {
        Some(v) => extract(v),
        None => (String::from_utf8_lossy(body).trim().to_owned(), None, None),
    };
    let message = if message.is_empty() {
        default_message(status).to_owned()
    } else {
        truncate(message)
    };
    match to {
        Protocol::AnthropicMessages => anthropic_error(status, &message),
        _ => openai_error(status, &message, code, param),
    }
}

/// An error body in `to`'s shape for errors switchyard itself produces.
pub fn error_body(to: Protocol, status: u16, message: &str) -> Value {
    match to {
        Protocol::AnthropicMessages => anthropic_error(status, message),
        _ => openai_error(status, message, None, None),
    }
}

pub(crate) fn anthropic_error(status: u16, message: &str) -> Value {
    json!({"type": "error", "error": {"type": anthropic_type(status), "message": message}})
}

pub(crate) fn openai_error(
    status: u16,
    message: &str,
    code: Option<Value>,
    param: Option<Value>,
) -> Value {
    json!({"error": {
        "message": message,
        "type": openai_type(status),
        "code": code.unwrap_or(Value::Null),
        "param": param.unwrap_or(Value::Null),
    }})
}

pub fn anthropic_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

pub fn openai_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        500..=599 => "server_error",
        _ => "invalid_request_error",
    }
}

/// Already a complete error body of `p`'s shape (passed through unchanged).
fn is_shaped(p: Protocol, v: &Value) -> bool {
    let Some(err) = present(v, "error") else {
        return false;
    };
    let complete = str_of(err, "message").is_some() && str_of(err, "type").is_some();
    match p {
        Protocol::AnthropicMessages => str_of(v, "type") == Some("error") && complete,
        _ => complete,
    }
}

/// Message, code and param from the shapes seen in the wild: Anthropic and
/// OpenAI bodies, `{"error": "text"}`, `{"message": ..}` and `{"detail": ..}`.
fn extract(v: &Value) -> (String, Option<Value>, Option<Value>) {
    let err = present(v, "error").unwrap_or(v);
    let message = str_of(err, "message")
        .or_else(|| err.as_str())
        .or_else(|| str_of(v, "message"))
        .or_else(|| str_of(v, "detail"))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            if v.is_object() {
                String::new()
            } else {
                v.to_string()
            }
        });
    let code = present(err, "code")
        .cloned()
        .or_else(|| present(err, "type").filter(|_| err.is_object()).cloned());
    let param = present(err, "param").cloned();
    (message, code, param)
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

fn default_message(status: u16) -> &'static str {
    match status {
        401 => "authentication failed",
        403 => "permission denied",
        404 => "not found",
        429 => "rate limited",
        500..=599 => "upstream server error",
        _ => "request failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Protocol::*;

    #[test]
    fn openai_error_to_anthropic_keeps_message_and_maps_status() {
        let body = br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded","param":null}}"#;
        let v = convert_error(OpenAiChat, AnthropicMessages, 429, body);
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert_eq!(v["error"]["message"], "Rate limit reached");
    }

    #[test]
    fn anthropic_error_to_openai_shapes() {
        let body =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        for to in [OpenAiChat, OpenAiResponses] {
            let v = convert_error(AnthropicMessages, to, 529, body);
            assert_eq!(v["error"]["message"], "Overloaded");
            assert_eq!(v["error"]["type"], "server_error");
            assert_eq!(v["error"]["code"], "overloaded_error");
            assert!(v["error"].get("param").is_some());
        }
    }

    #[test]
    fn status_mapping_table() {
        for (status, want) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (503, "overloaded_error"),
            (529, "overloaded_error"),
        ] {
            let v = convert_error(OpenAiChat, AnthropicMessages, status, b"{}");
            assert_eq!(v["error"]["type"], want, "status {status}");
        }
    }

    #[test]
    fn non_json_body_becomes_message() {
        let v = convert_error(
            AnthropicMessages,
            OpenAiChat,
            502,
            b"<html>Bad Gateway</html>",
        );
        assert_eq!(v["error"]["message"], "<html>Bad Gateway</html>");
        assert_eq!(v["error"]["type"], "server_error");
        let v = convert_error(AnthropicMessages, OpenAiChat, 502, b"");
        assert_eq!(v["error"]["message"], "upstream server error");
    }

    #[test]
    fn same_protocol_passes_shaped_body_through() {
        let body = br#"{"type":"error","error":{"type":"not_found_error","message":"model: x"}}"#;
        let v = convert_error(AnthropicMessages, AnthropicMessages, 404, body);
        assert_eq!(v, serde_json::from_slice::<Value>(body).unwrap_or_default());
        let v = convert_error(OpenAiChat, OpenAiChat, 500, b"oops");
        assert_eq!(v["error"]["message"], "oops");
    }

    #[test]
    fn long_messages_are_truncated_on_char_boundary() {
        let body = "é".repeat(5000);
        let v = convert_error(OpenAiChat, AnthropicMessages, 500, body.as_bytes());
        let msg = v["error"]["message"].as_str().unwrap_or("");
        assert!(msg.len() <= MAX_MESSAGE && !msg.is_empty());
    }
}
