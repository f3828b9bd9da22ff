//! Shared by the fuzz targets: the input layout and the output checks.
//!
//! Every target reads its first byte as the (from, to) protocol pair, so one
//! corpus covers all nine combinations (identity included), and the rest as
//! the payload.

use serde_json::Value;
use switchyard::convert::Protocol;
use switchyard::sse::SseEvent;

/// The protocol pair selected by `selector`, every combination reachable.
pub fn pair(selector: u8) -> (Protocol, Protocol) {
    let all = Protocol::ALL;
    let n = all.len();
    let i = usize::from(selector) % (n * n);
    (all[i / n], all[i % n])
}

/// Splits fuzz input into the pair and the payload.
pub fn split(data: &[u8]) -> Option<((Protocol, Protocol), &[u8])> {
    let (&first, rest) = data.split_first()?;
    Some((pair(first), rest))
}

/// A converted stream as the client would see it must hold the client
/// protocol's invariants, whatever upstream sent.
pub fn check_stream(to: Protocol, events: &[SseEvent]) {
    match to {
        Protocol::AnthropicMessages => check_anthropic(events),
        Protocol::OpenAiChat => check_chat(events),
        Protocol::OpenAiResponses => check_responses(events),
    }
}

fn json(e: &SseEvent) -> Value {
    match serde_json::from_str::<Value>(&e.data) {
        Ok(v) if v.is_object() => v,
        _ => panic!("event data is not a JSON object: {:?}", e.data),
    }
}

fn kind(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or_default()
}

/// Contiguous block indexes, one block open at a time, nothing after
/// `message_stop` or `error`, `message_start` first.
fn check_anthropic(events: &[SseEvent]) {
    let mut open: Option<u64> = None;
    let mut next = 0u64;
    let mut ended = false;
    for (i, e) in events.iter().enumerate() {
        let v = json(e);
        let t = kind(&v);
        assert!(!ended, "event {t} after the end");
        assert_eq!(e.event.as_deref(), Some(t), "event name differs from type");
        if i == 0 {
            assert!(t == "message_start" || t == "error", "first event {t}");
        }
        let index = v.get("index").and_then(Value::as_u64);
        match t {
            "content_block_start" => {
                assert!(open.is_none(), "block started while {open:?} is open");
                assert_eq!(index, Some(next), "block index");
                open = index;
                next += 1;
            }
            "content_block_delta" => assert_eq!(index, open, "delta outside its block"),
            "content_block_stop" => {
                assert_eq!(index, open, "stop of a block that is not open");
                open = None;
            }
            "message_delta" => assert!(open.is_none(), "message_delta with an open block"),
            "message_stop" | "error" => ended = true,
            _ => {}
        }
    }
}

/// JSON chunks, then `[DONE]` at most once and last; no `[DONE]` after an
/// error chunk; tool-call indexes appear in order.
fn check_chat(events: &[SseEvent]) {
    let mut ended = false;
    let mut tools = 0u64;
    for e in events {
        assert!(!ended, "chunk after the end: {:?}", e.data);
        assert!(e.event.is_none(), "Chat chunks carry no event name");
        if e.data == "[DONE]" {
            ended = true;
            continue;
        }
        let v = json(e);
        if v.get("error").is_some() {
            ended = true;
            continue;
        }
        let calls = v
            .pointer("/choices/0/delta/tool_calls")
            .and_then(Value::as_array);
        for call in calls.into_iter().flatten() {
            let index = call
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(u64::MAX);
            if call.get("id").is_some() {
                assert_eq!(index, tools, "new tool call index");
                tools += 1;
            } else {
                assert!(index < tools, "arguments for an unannounced call");
            }
        }
    }
}

/// Sequence numbers 0, 1, 2…; output items added in index order; nothing
/// after the terminal event.
fn check_responses(events: &[SseEvent]) {
    let mut items = 0u64;
    let mut ended = false;
    for (i, e) in events.iter().enumerate() {
        let v = json(e);
        let t = kind(&v);
        assert!(!ended, "event {t} after the end");
        assert_eq!(e.event.as_deref(), Some(t), "event name differs from type");
        assert_eq!(
            v.get("sequence_number").and_then(Value::as_u64),
            Some(i as u64),
            "sequence_number"
        );
        match t {
            "response.output_item.added" => {
                assert_eq!(v.get("output_index").and_then(Value::as_u64), Some(items));
                items += 1;
            }
            "response.completed" | "response.incomplete" | "response.failed" => ended = true,
            _ => {}
        }
    }
}
