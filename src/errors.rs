//! Errors switchyard itself answers with, in the shape the client's protocol
//! expects: Anthropic `{"type":"error","error":{…}}`, OpenAI `{"error":{…}}`,
//! the protocol's error event inside a started stream, or plain text; and
//! the one-line text of an error with its causes.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::config::ErrorFormat;
use crate::protocol::Protocol;
use crate::sse::SseEvent;
use crate::upstream::Body;

/// The error and its causes on one line (hyper's top-level message alone
/// says little, e.g. "client error (Connect)"; tokio-postgres's
/// "error performing TLS handshake" does not say the certificate was refused).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        // Some messages already end with their cause's text.
        let cause = s.to_string();
        if !out.ends_with(&cause) {
            out.push_str(": ");
            out.push_str(&cause);
        }
        source = s.source();
    }
    out
}

/// The error type names each family uses for a status.
pub fn error_type(protocol: Option<Protocol>, status: StatusCode) -> &'static str {
    let anthropic = protocol == Some(Protocol::AnthropicMessages);
    match status.as_u16() {
        400 | 413 | 422 | 431 => "invalid_request_error",
        401 | 407 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 | 504 => "timeout_error",
        429 => "rate_limit_error",
        503 | 529 if anthropic => "overloaded_error",
        _ if anthropic => "api_error",
        500..=599 => "server_error",
        _ => "invalid_request_error",
    }
}

/// The JSON error body for `protocol` (OpenAI's shape when unknown).
pub fn error_json(
    protocol: Option<Protocol>,
    status: StatusCode,
    message: &str,
) -> serde_json::Value {
    let kind = error_type(protocol, status);
    match protocol {
        Some(Protocol::AnthropicMessages) => json!({
            "type": "error",
            "error": {"type": kind, "message": message},
        }),
        _ => json!({
            "error": {"message": message, "type": kind, "param": null, "code": status.as_u16().to_string()},
        }),
    }
}

/// A complete error response.
pub fn response(
    format: ErrorFormat,
    protocol: Option<Protocol>,
    status: StatusCode,
    message: &str,
) -> Response<Body> {
    let (content_type, body) = match format {
        ErrorFormat::Json => (
            "application/json",
            Bytes::from(error_json(protocol, status, message).to_string()),
        ),
        ErrorFormat::Text => (
            "text/plain; charset=utf-8",
            Bytes::from(format!("{message}\n")),
        ),
    };
    let mut resp = Response::new(crate::body::full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert("x-switchyard-error", HeaderValue::from_static("1"));
    resp
}

/// A plain-text response (for proxy-level answers such as 502 on CONNECT).
pub fn text(status: StatusCode, message: &str) -> Response<Body> {
    response(ErrorFormat::Text, None, status, message)
}

/// The event that reports an error inside a stream that already started.
pub fn stream_error_event(protocol: Option<Protocol>, message: &str) -> SseEvent {
    match protocol {
        Some(Protocol::AnthropicMessages) => SseEvent::new(
            Some("error"),
            json!({"type": "error", "error": {"type": "api_error", "message": message}}).to_string(),
        ),
        Some(Protocol::OpenAiResponses) => SseEvent::new(
            Some("error"),
            json!({"type": "error", "code": "server_error", "message": message, "param": null}).to_string(),
        ),
        _ => SseEvent::data(
            json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}}).to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_per_protocol() {
        let a = error_json(
            Some(Protocol::AnthropicMessages),
            StatusCode::TOO_MANY_REQUESTS,
            "slow down",
        );
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "rate_limit_error");
        let o = error_json(Some(Protocol::OpenAiChat), StatusCode::BAD_REQUEST, "bad");
        assert_eq!(o["error"]["type"], "invalid_request_error");
        assert_eq!(o["error"]["message"], "bad");
        assert_eq!(
            error_type(
                Some(Protocol::AnthropicMessages),
                StatusCode::SERVICE_UNAVAILABLE
            ),
            "overloaded_error"
        );
    }
}
