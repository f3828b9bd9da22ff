//! Pure protocol conversion between the Anthropic Messages API, OpenAI Chat
//! Completions and OpenAI Responses: requests, non-streaming responses, SSE
//! streams and errors. No I/O: JSON/SSE in, JSON/SSE out.
//!
//! Everything goes through a neutral intermediate representation ([`ir`]):
//! each protocol module decodes into it and encodes out of it, so the six
//! conversion pairs share three decoders and three encoders.
//!
//! Decisions worth knowing:
//! - Tool-result errors: OpenAI shapes have no `is_error`, so an error result
//!   is carried as the text prefix `"[tool error] "` (the model still sees
//!   it). The prefix is not parsed back into a flag.
//! - Anthropic requires `max_tokens`; [`anthropic::DEFAULT_MAX_TOKENS`] is
//!   used when the source has none.
//! - Chat reasoning uses the non-standard `reasoning_content` field (read and
//!   written); signatures and redacted reasoning cannot go there (lossy).
//! - Responses reasoning `encrypted_content` <-> Anthropic thinking
//!   `signature`, so chains of thought survive a round trip.
//! - Responses `previous_response_id`/`conversation` and `item_reference`
//!   are refused with [`ConvertError::Unsupported`]: the history lives on
//!   OpenAI's servers and cannot be replayed elsewhere.
//! - Anything dropped is named in [`Converted::lossy`]; input fields we do
//!   not know are reported as `"unknown_field"` (the list holds `&'static str`).

mod anthropic;
mod chat;
mod error;
pub mod ir;
mod json;
pub mod peek;
mod responses;
pub mod stream;
mod usage;

#[cfg(test)]
mod tests;

pub use crate::protocol::Protocol;
pub use anthropic::DEFAULT_MAX_TOKENS;
pub use error::{convert_error, error_body, ConvertError};
pub use stream::{stream_converter, StreamContext, StreamConverter};

use ir::{Loss, Request, Response};
use serde_json::Value;

/// Names of fields the target could not express (for the `x-switchyard-lossy`
/// header and audit).
pub type Lossy = Vec<&'static str>;

#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    pub body: Value,
    pub lossy: Lossy,
}

/// Client request in `from` shape -> upstream request in `to` shape. The
/// model is carried unchanged; the caller applies `upstream_model`.
///
/// Takes the tree by value: the decoders move its strings (the bulk of a
/// coding agent's 100 KB request) instead of copying them.
pub fn convert_request(
    from: Protocol,
    to: Protocol,
    mut body: Value,
) -> Result<Converted, ConvertError> {
    if !body.is_object() {
        return Err(ConvertError::NotAnObject);
    }
    if from == to {
        return Ok(Converted {
            body,
            lossy: Vec::new(),
        });
    }
    let mut loss = Loss::default();
    let req = decode_request(from, &mut body, &mut loss)?;
    let body = encode_request(to, req, &mut loss);
    Ok(Converted {
        body,
        lossy: loss.into_vec(),
    })
}

/// Upstream non-streaming response in `from` (upstream protocol) -> client's
/// `to` protocol. By value, like [`convert_request`].
pub fn convert_response(
    from: Protocol,
    to: Protocol,
    mut body: Value,
) -> Result<Converted, ConvertError> {
    if !body.is_object() {
        return Err(ConvertError::NotAnObject);
    }
    if from == to {
        return Ok(Converted {
            body,
            lossy: Vec::new(),
        });
    }
    let mut loss = Loss::default();
    let resp = decode_response(from, &mut body, &mut loss)?;
    let body = encode_response(to, &resp, &mut loss);
    Ok(Converted {
        body,
        lossy: loss.into_vec(),
    })
}

/// [`convert_response`] for the client whose request `ctx` was built from:
/// a Responses client also gets its request's parameters repeated back,
/// as OpenAI's own answers do.
pub fn convert_response_for(
    from: Protocol,
    to: Protocol,
    body: Value,
    ctx: &StreamContext,
) -> Result<Converted, ConvertError> {
    let mut converted = convert_response(from, to, body)?;
    if to == Protocol::OpenAiResponses && from != to {
        responses::echo(&mut converted.body, &ctx.echo);
    }
    Ok(converted)
}

/// Rough input-token estimate for a request body (about 4 bytes per token),
/// used where a target must announce usage before upstream reports it.
/// Base64 image data counts as a typical image, not as its byte length.
pub fn estimate_input_tokens(body: &Value) -> u64 {
    estimate_value(body, false).max(1)
}

/// Roughly what Anthropic charges for a mid-sized image.
const IMAGE_TOKENS: u64 = 1600;

fn estimate_value(v: &Value, image_key: bool) -> u64 {
    match v {
        Value::String(_) if image_key => IMAGE_TOKENS,
        Value::String(s) => string_tokens(s),
        Value::Array(items) => items.iter().map(|i| estimate_value(i, false)).sum(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                1 + estimate_value(v, k == "data" && v.as_str().is_some_and(|s| s.len() > 1024))
            })
            .sum(),
        _ => 1,
    }
}

/// A string's share of [`estimate_input_tokens`]: a data URL is an image.
fn string_tokens(s: &str) -> u64 {
    if s.starts_with("data:") {
        IMAGE_TOKENS
    } else {
        (s.len() as u64).div_ceil(4)
    }
}

fn decode_request(p: Protocol, body: &mut Value, loss: &mut Loss) -> Result<Request, ConvertError> {
    match p {
        Protocol::AnthropicMessages => anthropic::decode_request(body, loss),
        Protocol::OpenAiChat => chat::decode_request(body, loss),
        Protocol::OpenAiResponses => responses::decode_request(body, loss),
    }
}

fn encode_request(p: Protocol, req: Request, loss: &mut Loss) -> Value {
    match p {
        Protocol::AnthropicMessages => anthropic::encode_request(req, loss),
        Protocol::OpenAiChat => chat::encode_request(req, loss),
        Protocol::OpenAiResponses => responses::encode_request(req, loss),
    }
}

fn decode_response(
    p: Protocol,
    body: &mut Value,
    loss: &mut Loss,
) -> Result<Response, ConvertError> {
    match p {
        Protocol::AnthropicMessages => anthropic::decode_response(body, loss),
        Protocol::OpenAiChat => chat::decode_response(body, loss),
        Protocol::OpenAiResponses => responses::decode_response(body, loss),
    }
}

fn encode_response(p: Protocol, resp: &Response, loss: &mut Loss) -> Value {
    match p {
        Protocol::AnthropicMessages => anthropic::encode_response(resp, loss),
        Protocol::OpenAiChat => chat::encode_response(resp, loss),
        Protocol::OpenAiResponses => responses::encode_response(resp, loss),
    }
}
