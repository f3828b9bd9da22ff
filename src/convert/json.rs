//! Panic-free accessors over `serde_json::Value`, plus id and clock helpers.
//!
//! Every decoder reads untrusted JSON, so nothing here indexes or unwraps.

use serde_json::{Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A string field, or `""` when absent or not a string.
pub fn text_of<'a>(v: &'a Value, key: &str) -> &'a str {
    str_of(v, key).unwrap_or("")
}

/// Moves a string field out of a tree the decoder owns (leaving `""`):
/// the strings are the bulk of a request, and copying them out of a tree
/// about to be dropped was most of a decoder's cost.
pub fn take_str(v: &mut Value, key: &str) -> Option<String> {
    match v.get_mut(key) {
        Some(Value::String(s)) => Some(std::mem::take(s)),
        _ => None,
    }
}

/// [`take_str`], or `""` when absent or not a string.
pub fn take_text(v: &mut Value, key: &str) -> String {
    take_str(v, key).unwrap_or_default()
}

/// Accepts integers and non-negative floats, since some servers send `12.0`.
pub fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

pub fn u64_of(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(as_u64)
}

pub fn arr_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A field that is present and not `null`.
pub fn present<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

/// A string or an array of strings, as `stop` accepts.
pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Builds an object from `(key, value)` pairs, skipping `None` values.
pub fn object<I>(pairs: I) -> Value
where
    I: IntoIterator<Item = (&'static str, Option<Value>)>,
{
    let map: Map<String, Value> = pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
        .collect();
    Value::Object(map)
}

/// A fresh id with the protocol's customary prefix. Uniqueness within the
/// process is what matters (clients key items by it), not unpredictability.
pub fn new_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("{prefix}{nanos:016x}{n:08x}")
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Names that may show up in a `lossy` list. `Lossy` holds `&'static str`, so
/// an input field is reported under its name when it is one we know of and
/// as `"unknown_field"` otherwise.
const KNOWN_FIELDS: &[&str] = &[
    "anthropic_beta",
    "audio",
    "background",
    "betas",
    "container",
    "context_management",
    "conversation",
    "frequency_penalty",
    "function_call",
    "functions",
    "include",
    "logit_bias",
    "logprobs",
    "max_tool_calls",
    "mcp_servers",
    "metadata",
    "modalities",
    "n",
    "name",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "previous_response_id",
    "prompt",
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "store",
    "stream_options",
    "text",
    "thinking",
    "top_k",
    "top_logprobs",
    "truncation",
    "user",
    "verbosity",
    "web_search_options",
];

pub fn field_name(name: &str) -> &'static str {
    KNOWN_FIELDS
        .iter()
        .find(|k| **k == name)
        .copied()
        .unwrap_or("unknown_field")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accessors_tolerate_wrong_shapes() {
        let v = json!({"a": 3.0, "b": "x", "c": [1], "d": null});
        assert_eq!(u64_of(&v, "a"), Some(3));
        assert_eq!(u64_of(&v, "b"), None);
        assert_eq!(arr_of(&v, "b").len(), 0);
        assert_eq!(arr_of(&v, "c").len(), 1);
        assert!(present(&v, "d").is_none());
        assert_eq!(text_of(&json!(5), "x"), "");
    }

    #[test]
    fn ids_are_unique_and_prefixed() {
        let a = new_id("msg_");
        let b = new_id("msg_");
        assert!(a.starts_with("msg_"));
        assert_ne!(a, b);
    }

    #[test]
    fn unknown_field_names_are_static() {
        assert_eq!(field_name("top_k"), "top_k");
        assert_eq!(field_name("zzz"), "unknown_field");
    }
}
