//! What routing needs from an API request body — the model, whether it
//! streams, an input-token estimate — read in one pass over the bytes
//! without building the JSON tree.
//!
//! Coding agents send 50–150 KB per request (tool definitions, the whole
//! conversation). Parsing that into a `serde_json::Value` and dropping it was
//! ~40 % of the proxy's CPU on the pass-through path (measured at 100 KB);
//! here strings are looked at where they lie and nothing is allocated but
//! the model name. The tree is built only when the body must change.
//!
//! The body is still validated as a whole: invalid JSON is an error, as is
//! anything but an object at the top.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{string_tokens, IMAGE_TOKENS};

/// The fields of a request body that routing and rate limits use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peek {
    /// `model`, when it is a string.
    pub model: Option<String>,
    /// `stream`, when it is `true`.
    pub stream: bool,
    /// [`super::estimate_input_tokens`] of the body. A key given twice counts
    /// twice here (the tree keeps only the last): an estimate either way.
    pub estimate: u64,
}

/// Why a body could not be peeked into.
#[derive(Debug, thiserror::Error)]
pub enum PeekError {
    #[error("request body must be a JSON object")]
    NotObject,
    #[error("request body is not valid JSON: {0}")]
    Invalid(serde_json::Error),
}

/// Reads `bytes` as a JSON object. A key given twice keeps its last value,
/// as `serde_json::Value` does.
pub fn peek(bytes: &[u8]) -> Result<Peek, PeekError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let peek = de.deserialize_any(Top).map_err(classify)?;
    de.end().map_err(PeekError::Invalid)?;
    Ok(peek)
}

/// A type error can only come from the top level: every value below it is
/// accepted whatever its type.
fn classify(e: serde_json::Error) -> PeekError {
    match e.classify() {
        serde_json::error::Category::Data => PeekError::NotObject,
        _ => PeekError::Invalid(e),
    }
}

/// The top-level object.
struct Top;

impl<'de> Visitor<'de> for Top {
    type Value = Peek;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Peek, A::Error> {
        let mut peek = Peek {
            model: None,
            stream: false,
            estimate: 0,
        };
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = match key {
                Key::Model => {
                    let (tokens, s) = map.next_value_seed(Estimate::capturing())?;
                    peek.model = s;
                    tokens
                }
                Key::Stream => {
                    let (tokens, flag) = map.next_value_seed(Estimate::flag())?;
                    peek.stream = flag;
                    tokens
                }
                Key::Data => map.next_value_seed(Estimate::under_data())?.0,
                Key::Other => map.next_value_seed(Estimate::plain())?.0,
            };
            peek.estimate += 1 + value;
        }
        peek.estimate = peek.estimate.max(1);
        Ok(peek)
    }
}

/// The keys that matter; any other is [`Key::Other`].
enum Key {
    Model,
    Stream,
    Data,
    Other,
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "model" => Key::Model,
            "stream" => Key::Stream,
            "data" => Key::Data,
            _ => Key::Other,
        })
    }
}

/// Estimates one value's tokens; at the top it also keeps what its key
/// asks for (the model string, the stream flag). The output is
/// `(tokens, kept)`; `kept` is the type's default below the top.
struct Estimate<K> {
    /// The value sits under a `"data"` key: a long string there is base64.
    data_key: bool,
    keep: fn(Scalar<'_>) -> K,
}

/// A scalar as seen by [`Estimate::keep`].
enum Scalar<'a> {
    Str(&'a str),
    Bool(bool),
    Other,
}

impl Estimate<()> {
    fn plain() -> Self {
        Estimate {
            data_key: false,
            keep: |_| (),
        }
    }

    fn under_data() -> Self {
        Estimate {
            data_key: true,
            keep: |_| (),
        }
    }
}

impl Estimate<Option<String>> {
    fn capturing() -> Self {
        Estimate {
            data_key: false,
            keep: |s| match s {
                Scalar::Str(s) => Some(s.to_owned()),
                _ => None,
            },
        }
    }
}

impl Estimate<bool> {
    fn flag() -> Self {
        Estimate {
            data_key: false,
            keep: |s| matches!(s, Scalar::Bool(true)),
        }
    }
}

impl<'de, K> DeserializeSeed<'de> for Estimate<K> {
    type Value = (u64, K);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(u64, K), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, K> Visitor<'de> for Estimate<K> {
    type Value = (u64, K);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        let tokens = if self.data_key && s.len() > 1024 {
            IMAGE_TOKENS
        } else {
            string_tokens(s)
        };
        Ok((tokens, (self.keep)(Scalar::Str(s))))
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
        Ok((1, (self.keep)(Scalar::Bool(b))))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok((1, (self.keep)(Scalar::Other)))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok((1, (self.keep)(Scalar::Other)))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok((1, (self.keep)(Scalar::Other)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok((1, (self.keep)(Scalar::Other)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut tokens = 0;
        while let Some((t, ())) = seq.next_element_seed(Estimate::plain())? {
            tokens += t;
        }
        Ok((tokens, (self.keep)(Scalar::Other)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut tokens = 0;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let seed = match key {
                Key::Data => Estimate::under_data(),
                _ => Estimate::plain(),
            };
            tokens += 1 + map.next_value_seed(seed)?.0;
        }
        Ok((tokens, (self.keep)(Scalar::Other)))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;
    use crate::convert::estimate_input_tokens;

    /// What the gateway read from the tree before: the specification.
    fn from_tree(bytes: &[u8]) -> Result<Peek, String> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if !v.is_object() {
            return Err("not an object".into());
        }
        Ok(Peek {
            model: v.get("model").and_then(Value::as_str).map(str::to_owned),
            stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
            estimate: estimate_input_tokens(&v),
        })
    }

    #[test]
    fn reads_model_stream_and_estimate_like_the_tree() {
        let body = json!({
            "model": "claude-sonnet-4-5",
            "stream": true,
            "max_tokens": 64,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "hello \"world\" \u{e9}"},
                {"type": "image", "source": {"type": "base64", "data": "A".repeat(2000)}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
            ]}],
            "data": "x".repeat(1500),
        });
        let bytes = serde_json::to_vec(&body).unwrap();
        let p = peek(&bytes).unwrap();
        assert_eq!(p.model.as_deref(), Some("claude-sonnet-4-5"));
        assert!(p.stream);
        assert_eq!(Ok(p), from_tree(&bytes));
    }

    #[test]
    fn refuses_what_the_gateway_refused() {
        assert!(matches!(peek(b"[1,2]"), Err(PeekError::NotObject)));
        assert!(matches!(peek(b"\"model\""), Err(PeekError::NotObject)));
        assert!(matches!(peek(b"{\"model\":"), Err(PeekError::Invalid(_))));
        assert!(matches!(peek(b"{} {}"), Err(PeekError::Invalid(_))));
        assert!(matches!(peek(b"{\"a\":1,}"), Err(PeekError::Invalid(_))));
        assert!(matches!(peek(b"\xff"), Err(PeekError::Invalid(_))));
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(peek(deep.as_bytes()), Err(PeekError::Invalid(_))));
        let p = peek(br#"{"model": 5, "stream": "yes"}"#).unwrap();
        assert_eq!((p.model, p.stream), (None, false));
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        let p = peek(br#"{"model":"a","stream":true,"model":"b","stream":false}"#).unwrap();
        assert_eq!((p.model.as_deref(), p.stream), (Some("b"), false));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,40}".prop_map(Value::String),
            "data:.{0,10}".prop_map(Value::String),
            (1000usize..1100).prop_map(|n| Value::String("b".repeat(n))),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("model".to_owned()),
                        Just("stream".to_owned()),
                        Just("data".to_owned()),
                        "[a-z]{1,6}"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn agrees_with_the_tree_on_any_body(v in json_value()) {
            let bytes = serde_json::to_vec(&v).unwrap();
            let ours = peek(&bytes).map_err(|e| matches!(e, PeekError::NotObject));
            match from_tree(&bytes) {
                Ok(want) => prop_assert_eq!(ours.ok(), Some(want)),
                Err(_) => prop_assert_eq!(ours.err(), Some(true)),
            }
        }

        #[test]
        fn never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = peek(&bytes);
        }
    }
}
