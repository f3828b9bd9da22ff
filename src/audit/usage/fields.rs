//! A usage object's counts, in any of the three protocols' shapes (and
//! Gemini's `usageMetadata`, for calls passed through to Google), read
//! without building a JSON tree.
//!
//! A whole JSON answer's usage is deserialized straight into [`Fields`]
//! while the answer is checked (a tree of it cost a handful of allocations
//! per request); an SSE event, a tree already, is read through the same
//! type. Reading is as lenient as looking values up in a tree: a count that
//! is not a non-negative integer is absent, a usage that is not an object
//! is no usage, and nothing in a usage object fails the answer's JSON check.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Every count any protocol reports, as far as usage extraction reads them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct Fields {
    /// Chat Completions.
    pub prompt_tokens: Count,
    pub completion_tokens: Count,
    pub prompt_tokens_details: Details,
    pub completion_tokens_details: Details,
    /// Responses and Messages.
    pub input_tokens: Count,
    pub output_tokens: Count,
    /// Responses.
    pub input_tokens_details: Details,
    pub output_tokens_details: Details,
    /// Messages.
    pub cache_read_input_tokens: Count,
    pub cache_creation_input_tokens: Count,
    /// Gemini's `usageMetadata`: the prompt count includes cached and
    /// excludes tool-use prompt tokens; candidates exclude thoughts.
    #[serde(rename = "promptTokenCount")]
    pub prompt_token_count: Count,
    #[serde(rename = "candidatesTokenCount")]
    pub candidates_token_count: Count,
    #[serde(rename = "cachedContentTokenCount")]
    pub cached_content_token_count: Count,
    #[serde(rename = "thoughtsTokenCount")]
    pub thoughts_token_count: Count,
    #[serde(rename = "toolUsePromptTokenCount")]
    pub tool_use_prompt_token_count: Count,
}

/// A count: `Some` for a non-negative integer, `None` for anything else.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub Option<u64>);

/// A `*_tokens_details` object. `present` when the key is there at all,
/// with any value: the Responses API is told apart by these keys.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Details {
    pub present: bool,
    pub cached_tokens: Count,
    pub cache_write_tokens: Count,
    pub reasoning_tokens: Count,
}

/// A `usage` value: `Some` when it is an object.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MaybeFields(pub Option<Fields>);

#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct DetailCounts {
    cached_tokens: Count,
    cache_write_tokens: Count,
    reasoning_tokens: Count,
}

/// What a visitor makes of the JSON kinds it does not want: the value is
/// skipped (a container's contents too) and `absent` stands for it.
macro_rules! anything_else_is {
    ($absent:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($absent)
        }
    };
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Count, D::Error> {
        struct CountVisitor;
        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a token count")
            }
            fn visit_u64<E>(self, n: u64) -> Result<Count, E> {
                Ok(Count(Some(n)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Count(None))
            }
            anything_else_is!(Count(None));
        }
        d.deserialize_any(CountVisitor)
    }
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Details, D::Error> {
        struct DetailsVisitor;
        impl<'de> Visitor<'de> for DetailsVisitor {
            type Value = Details;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("token details")
            }
            fn visit_u64<E>(self, _: u64) -> Result<Details, E> {
                Ok(Details::PRESENT)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Details, A::Error> {
                let counts = DetailCounts::deserialize(MapAccessDeserializer::new(map))?;
                Ok(Details {
                    present: true,
                    cached_tokens: counts.cached_tokens,
                    cache_write_tokens: counts.cache_write_tokens,
                    reasoning_tokens: counts.reasoning_tokens,
                })
            }
            anything_else_is!(Details::PRESENT);
        }
        d.deserialize_any(DetailsVisitor)
    }
}

impl Details {
    const PRESENT: Details = Details {
        present: true,
        cached_tokens: Count(None),
        cache_write_tokens: Count(None),
        reasoning_tokens: Count(None),
    };
}

impl<'de> Deserialize<'de> for MaybeFields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<MaybeFields, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = MaybeFields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a usage object")
            }
            fn visit_u64<E>(self, _: u64) -> Result<MaybeFields, E> {
                Ok(MaybeFields(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MaybeFields, A::Error> {
                Fields::deserialize(MapAccessDeserializer::new(map)).map(|f| MaybeFields(Some(f)))
            }
            anything_else_is!(MaybeFields(None));
        }
        d.deserialize_any(FieldsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn from_text(text: &str) -> MaybeFields {
        serde_json::from_str(text).unwrap()
    }

    /// The tree-walking reader these replace, kept as the reference.
    fn by_lookup(v: &Value) -> Option<Fields> {
        let count = |path: &[&str]| {
            Count(
                path.iter()
                    .try_fold(v, |v, key| v.get(key))
                    .and_then(Value::as_u64),
            )
        };
        let details = |name: &str| Details {
            present: v.get(name).is_some(),
            cached_tokens: count(&[name, "cached_tokens"]),
            cache_write_tokens: count(&[name, "cache_write_tokens"]),
            reasoning_tokens: count(&[name, "reasoning_tokens"]),
        };
        v.is_object().then(|| Fields {
            prompt_tokens: count(&["prompt_tokens"]),
            completion_tokens: count(&["completion_tokens"]),
            prompt_tokens_details: details("prompt_tokens_details"),
            completion_tokens_details: details("completion_tokens_details"),
            input_tokens: count(&["input_tokens"]),
            output_tokens: count(&["output_tokens"]),
            input_tokens_details: details("input_tokens_details"),
            output_tokens_details: details("output_tokens_details"),
            cache_read_input_tokens: count(&["cache_read_input_tokens"]),
            cache_creation_input_tokens: count(&["cache_creation_input_tokens"]),
            prompt_token_count: count(&["promptTokenCount"]),
            candidates_token_count: count(&["candidatesTokenCount"]),
            cached_content_token_count: count(&["cachedContentTokenCount"]),
            thoughts_token_count: count(&["thoughtsTokenCount"]),
            tool_use_prompt_token_count: count(&["toolUsePromptTokenCount"]),
        })
    }

    #[test]
    fn the_three_shapes_are_read() {
        let chat = from_text(
            r#"{"prompt_tokens":30,"completion_tokens":5,"total_tokens":35,"prompt_tokens_details":{"cached_tokens":10,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":2}}"#,
        );
        let chat = chat.0.unwrap();
        assert_eq!(chat.prompt_tokens, Count(Some(30)));
        assert_eq!(chat.prompt_tokens_details.cached_tokens, Count(Some(10)));
        assert_eq!(
            chat.completion_tokens_details.reasoning_tokens,
            Count(Some(2))
        );
        assert!(!chat.input_tokens_details.present);
        let responses = from_text(r#"{"input_tokens":12,"input_tokens_details":null}"#);
        assert!(responses.0.unwrap().input_tokens_details.present);
        let messages = from_text(r#"{"input_tokens":3,"cache_read_input_tokens":7}"#);
        assert_eq!(messages.0.unwrap().cache_read_input_tokens, Count(Some(7)));
        let gemini = from_text(
            r#"{"promptTokenCount":40,"candidatesTokenCount":9,"totalTokenCount":57,"cachedContentTokenCount":16,"thoughtsTokenCount":8,"promptTokensDetails":[{"modality":"TEXT","tokenCount":40}]}"#,
        );
        let gemini = gemini.0.unwrap();
        assert_eq!(gemini.prompt_token_count, Count(Some(40)));
        assert_eq!(gemini.cached_content_token_count, Count(Some(16)));
        assert_eq!(gemini.thoughts_token_count, Count(Some(8)));
    }

    #[test]
    fn odd_values_are_absent_not_errors() {
        let odd = from_text(
            r#"{"prompt_tokens":-1,"completion_tokens":2.5,"input_tokens":"7","output_tokens":[1],"cache_read_input_tokens":{"n":1},"prompt_tokens_details":[{"cached_tokens":1}],"output_tokens_details":3}"#,
        );
        let odd = odd.0.unwrap();
        for count in [
            odd.prompt_tokens,
            odd.completion_tokens,
            odd.input_tokens,
            odd.output_tokens,
            odd.cache_read_input_tokens,
        ] {
            assert_eq!(count, Count(None));
        }
        assert!(odd.prompt_tokens_details.present);
        assert_eq!(odd.prompt_tokens_details.cached_tokens, Count(None));
        assert!(odd.output_tokens_details.present);
        for not_an_object in ["null", "3", "\"x\"", "[{\"input_tokens\":1}]", "true"] {
            assert_eq!(
                from_text(not_an_object),
                MaybeFields(None),
                "{not_an_object}"
            );
        }
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[a-z]{0,4}".prop_map(Value::from),
        ];
        let keys = prop_oneof![
            Just("prompt_tokens"),
            Just("completion_tokens"),
            Just("input_tokens"),
            Just("output_tokens"),
            Just("cached_tokens"),
            Just("cache_write_tokens"),
            Just("reasoning_tokens"),
            Just("cache_read_input_tokens"),
            Just("cache_creation_input_tokens"),
            Just("prompt_tokens_details"),
            Just("input_tokens_details"),
            Just("output_tokens_details"),
            Just("completion_tokens_details"),
            Just("promptTokenCount"),
            Just("candidatesTokenCount"),
            Just("cachedContentTokenCount"),
            Just("thoughtsTokenCount"),
            Just("toolUsePromptTokenCount"),
            Just("other"),
        ];
        leaf.prop_recursive(3, 24, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                proptest::collection::btree_map(keys.clone(), inner, 0..6).prop_map(|m| {
                    Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        /// Read from text, from a tree, or looked up in the tree: the same.
        #[test]
        fn reads_what_lookups_in_a_tree_read(v in any_json()) {
            let text = v.to_string();
            let expected = by_lookup(&v);
            prop_assert_eq!(from_text(&text).0, expected);
            prop_assert_eq!(MaybeFields::deserialize(&v).unwrap().0, expected);
        }
    }
}
