//! JSON text with the key order the APIs use where it is cheap to match:
//! identifying keys (`type`, `id`, `object`, …) first, the rest sorted.
//! Key order carries no meaning in JSON, but some stream consumers peek at
//! the start of a `data:` line, and real payloads lead with `type`.

use serde_json::Value;

/// Keys written first, in this order, when an object has them.
const LEADING: &[&str] = &[
    "type",
    "id",
    "object",
    "created",
    "created_at",
    "model",
    "role",
    "index",
];

/// Serializes `value` compactly with leading keys first.
pub fn to_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            let leading = LEADING.iter().filter_map(|k| map.get_key_value(*k));
            let rest = map.iter().filter(|(k, _)| !LEADING.contains(&k.as_str()));
            for (i, (key, item)) in leading.chain(rest).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leading_keys_first_and_round_trips() {
        let value = json!({"delta": {"text": "a\"b", "type": "text_delta"}, "index": 0, "type": "content_block_delta"});
        let text = to_json(&value);
        assert_eq!(
            text,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\"b"}}"#
        );
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
    }
}
