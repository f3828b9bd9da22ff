//! `GET /v1/models`: a short, fixed model list in Anthropic's shape (when the
//! request carries `anthropic-version`) or OpenAI's.

use serde_json::{json, Value};

use crate::wire::Protocol;

/// `(id, display name, created_at)` of the Anthropic models listed.
pub const ANTHROPIC_MODELS: &[(&str, &str, &str)] = &[
    (
        "claude-sonnet-4-5-20250929",
        "Claude Sonnet 4.5",
        "2025-09-29T00:00:00Z",
    ),
    (
        "claude-haiku-4-5-20251001",
        "Claude Haiku 4.5",
        "2025-10-01T00:00:00Z",
    ),
    (
        "claude-opus-4-1-20250805",
        "Claude Opus 4.1",
        "2025-08-05T00:00:00Z",
    ),
];

/// `(id, created, owned_by)` of the OpenAI models listed.
pub const OPENAI_MODELS: &[(&str, u64, &str)] = &[
    ("gpt-4o", 1_715_367_049, "system"),
    ("gpt-4o-mini", 1_721_172_741, "system"),
    ("gpt-5", 1_754_425_777, "system"),
];

/// The list body for `protocol`.
pub fn list(protocol: Protocol) -> Value {
    match protocol {
        Protocol::Anthropic => {
            let data: Vec<Value> = ANTHROPIC_MODELS
                .iter()
                .map(|(id, name, created)| {
                    json!({"type": "model", "id": id, "display_name": name, "created_at": created})
                })
                .collect();
            json!({
                "data": data,
                "has_more": false,
                "first_id": ANTHROPIC_MODELS.first().map(|m| m.0),
                "last_id": ANTHROPIC_MODELS.last().map(|m| m.0)
            })
        }
        Protocol::Chat | Protocol::Responses => {
            let data: Vec<Value> = OPENAI_MODELS
                .iter()
                .map(|(id, created, owner)| {
                    json!({"id": id, "object": "model", "created": created, "owned_by": owner})
                })
                .collect();
            json!({"object": "list", "data": data})
        }
    }
}
