//! Token usage in each protocol's JSON shape, to and from [`Usage`].
//!
//! The one subtle rule: Anthropic's `input_tokens` excludes cache reads and
//! writes, while OpenAI's `prompt_tokens`/`input_tokens` include both (its
//! details name them `cached_tokens` and `cache_write_tokens`).

use super::ir::Usage;
use super::json::{present, u64_of};
use serde_json::{json, Value};

pub fn from_anthropic(v: &Value) -> Usage {
    Usage {
        input: u64_of(v, "input_tokens"),
        output: u64_of(v, "output_tokens"),
        cache_read: u64_of(v, "cache_read_input_tokens"),
        cache_write: u64_of(v, "cache_creation_input_tokens"),
        reasoning: None,
    }
}

pub fn to_anthropic(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input.unwrap_or(0),
        "output_tokens": u.output.unwrap_or(0),
        "cache_creation_input_tokens": u.cache_write.unwrap_or(0),
        "cache_read_input_tokens": u.cache_read.unwrap_or(0),
    })
}

/// Shared by Chat (`prompt_tokens`…) and Responses (`input_tokens`…), which
/// differ only in names.
fn from_openai(v: &Value, names: &OpenAiNames) -> Usage {
    let total = u64_of(v, names.input);
    let details = present(v, names.input_details);
    let cached = details.and_then(|d| u64_of(d, "cached_tokens"));
    let written = details.and_then(|d| u64_of(d, "cache_write_tokens"));
    let reasoning = present(v, names.output_details).and_then(|d| u64_of(d, "reasoning_tokens"));
    Usage {
        input: total.map(|t| {
            t.saturating_sub(cached.unwrap_or(0))
                .saturating_sub(written.unwrap_or(0))
        }),
        output: u64_of(v, names.output),
        cache_read: cached,
        cache_write: written,
        reasoning,
    }
}

fn to_openai(u: &Usage, names: &OpenAiNames) -> Value {
    let input = u.total_input();
    let output = u.output.unwrap_or(0);
    let mut out = serde_json::Map::new();
    out.insert(names.input.into(), json!(input));
    out.insert(names.output.into(), json!(output));
    out.insert("total_tokens".into(), json!(input.saturating_add(output)));
    out.insert(
        names.input_details.into(),
        json!({
            "cached_tokens": u.cache_read.unwrap_or(0),
            "cache_write_tokens": u.cache_write.unwrap_or(0),
        }),
    );
    out.insert(
        names.output_details.into(),
        json!({"reasoning_tokens": u.reasoning.unwrap_or(0)}),
    );
    Value::Object(out)
}

struct OpenAiNames {
    input: &'static str,
    output: &'static str,
    input_details: &'static str,
    output_details: &'static str,
}

const CHAT: OpenAiNames = OpenAiNames {
    input: "prompt_tokens",
    output: "completion_tokens",
    input_details: "prompt_tokens_details",
    output_details: "completion_tokens_details",
};

const RESPONSES: OpenAiNames = OpenAiNames {
    input: "input_tokens",
    output: "output_tokens",
    input_details: "input_tokens_details",
    output_details: "output_tokens_details",
};

pub fn from_chat(v: &Value) -> Usage {
    from_openai(v, &CHAT)
}

pub fn to_chat(u: &Usage) -> Value {
    to_openai(u, &CHAT)
}

pub fn from_responses(v: &Value) -> Usage {
    from_openai(v, &RESPONSES)
}

pub fn to_responses(u: &Usage) -> Value {
    to_openai(u, &RESPONSES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_to_chat_adds_cached_tokens_to_prompt() {
        let u = from_anthropic(&json!({
            "input_tokens": 10, "output_tokens": 5,
            "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20
        }));
        let chat = to_chat(&u);
        assert_eq!(chat["prompt_tokens"], 130);
        assert_eq!(chat["completion_tokens"], 5);
        assert_eq!(chat["total_tokens"], 135);
        assert_eq!(chat["prompt_tokens_details"]["cached_tokens"], 100);
        assert_eq!(chat["prompt_tokens_details"]["cache_write_tokens"], 20);
        let back = to_anthropic(&from_chat(&chat));
        assert_eq!(back["input_tokens"], 10);
        assert_eq!(back["cache_creation_input_tokens"], 20);
        assert_eq!(back["cache_read_input_tokens"], 100);
    }

    #[test]
    fn responses_cache_writes_are_part_of_input_tokens() {
        let u = from_responses(&json!({
            "input_tokens": 130, "output_tokens": 5,
            "input_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 20}
        }));
        assert_eq!(u.input, Some(10));
        assert_eq!(u.cache_write, Some(20));
        assert_eq!(to_responses(&u)["input_tokens"], 130);
    }

    #[test]
    fn responses_to_anthropic_subtracts_cached_tokens() {
        let u = from_responses(&json!({
            "input_tokens": 130, "output_tokens": 50, "total_tokens": 180,
            "input_tokens_details": {"cached_tokens": 100},
            "output_tokens_details": {"reasoning_tokens": 40}
        }));
        assert_eq!(u.reasoning, Some(40));
        let a = to_anthropic(&u);
        assert_eq!(a["input_tokens"], 30);
        assert_eq!(a["cache_read_input_tokens"], 100);
        assert_eq!(a["output_tokens"], 50);
    }

    #[test]
    fn chat_round_trip_keeps_reasoning() {
        let src = json!({
            "prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 2},
            "completion_tokens_details": {"reasoning_tokens": 1}
        });
        let back = to_responses(&from_chat(&src));
        assert_eq!(back["input_tokens"], 7);
        assert_eq!(back["input_tokens_details"]["cached_tokens"], 2);
        assert_eq!(back["output_tokens_details"]["reasoning_tokens"], 1);
    }

    #[test]
    fn cached_larger_than_total_does_not_underflow() {
        let u =
            from_chat(&json!({"prompt_tokens": 1, "prompt_tokens_details": {"cached_tokens": 5}}));
        assert_eq!(u.input, Some(0));
    }
}
