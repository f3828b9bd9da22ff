//! OpenAI Responses wire format: the response object, the semantic event
//! stream with sequence numbers, function calls, reasoning, incomplete.

mod common;

use common::*;
use fake_provider::{Behavior, FakeProvider, DEFAULT_TEXT};
use serde_json::{json, Value};

/// Checks `event:` = `type` and consecutive sequence numbers; returns types.
fn checked_types(reply: &Reply) -> Vec<String> {
    reply
        .sse()
        .iter()
        .enumerate()
        .map(|(i, (name, data))| {
            let event: Value = serde_json::from_str(data).unwrap();
            assert_eq!(name.as_deref(), event["type"].as_str());
            assert_eq!(event["sequence_number"], i, "sequence number of event {i}");
            event["type"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn text_json_has_the_response_shape() {
    let fake = FakeProvider::start().await;
    let reply = post(fake.addr(), "/v1/responses", responses_body(false)).await;
    assert_eq!(reply.status, 200);
    let r = reply.json();
    assert!(r["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(r["object"], "response");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["model"], "gpt-test-model");
    assert!(r["created_at"].as_u64().is_some());
    let item = &r["output"][0];
    assert_eq!(item["type"], "message");
    assert!(item["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(item["status"], "completed");
    assert_eq!(item["role"], "assistant");
    assert_eq!(item["content"][0]["type"], "output_text");
    assert_eq!(item["content"][0]["text"], DEFAULT_TEXT);
    assert_eq!(item["content"][0]["annotations"], json!([]));
    let u = &r["usage"];
    assert_eq!(u["input_tokens"], 25);
    assert_eq!(u["output_tokens"], 12);
    assert_eq!(u["total_tokens"], 37);
    assert_eq!(u["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(u["output_tokens_details"]["reasoning_tokens"], 0);
    for key in [
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "error",
        "incomplete_details",
    ] {
        assert!(r.get(key).is_some(), "response has {key}");
    }
}

#[tokio::test]
async fn text_stream_emits_the_semantic_events_in_order() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::text("a b"));
    let reply = post(fake.addr(), "/v1/responses", responses_body(true)).await;
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(
        checked_types(&reply),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let events = reply.sse_json();
    assert_eq!(events[0]["response"]["status"], "in_progress");
    assert_eq!(events[0]["response"]["usage"], Value::Null);
    let item_id = events[2]["item"]["id"].as_str().unwrap();
    assert_eq!(events[4]["item_id"], item_id);
    assert_eq!(events[6]["text"], "a b");
    let done = &events[9]["response"];
    assert_eq!(done["id"], events[0]["response"]["id"]);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["id"], item_id);
    assert_eq!(done["usage"]["total_tokens"], 37);
}

#[tokio::test]
async fn function_calls_stream_argument_deltas() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::ToolCalls(vec![
        ("one".into(), json!({"a": "long enough argument"})),
        ("two".into(), json!({"b": 2})),
    ]));
    let reply = post(fake.addr(), "/v1/responses", responses_body(true)).await;
    checked_types(&reply);
    let events = reply.sse_json();
    let mut args = vec![String::new(); 2];
    for e in &events {
        if e["type"] == "response.function_call_arguments.delta" {
            args[e["output_index"].as_u64().unwrap() as usize]
                .push_str(e["delta"].as_str().unwrap());
        }
    }
    let dones: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.done")
        .collect();
    assert_eq!(dones.len(), 2);
    assert_eq!(dones[0]["arguments"], args[0].as_str());
    assert_eq!(
        serde_json::from_str::<Value>(&args[1]).unwrap(),
        json!({"b": 2})
    );
    let output = &events.last().unwrap()["response"]["output"];
    assert_eq!(output[0]["type"], "function_call");
    assert_eq!(output[0]["name"], "one");
    assert!(output[0]["call_id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(output[1]["arguments"], r#"{"b":2}"#);
}

#[tokio::test]
async fn reasoning_item_with_summary_and_optional_encrypted_content() {
    let fake = FakeProvider::start().await;
    let thinking = Behavior::Thinking {
        thinking: "think hard".into(),
        signature: "opaque".into(),
        text: "ok".into(),
    };
    fake.push(thinking.clone());
    fake.push(thinking);
    let r = post(fake.addr(), "/v1/responses", responses_body(false))
        .await
        .json();
    assert_eq!(r["output"][0]["type"], "reasoning");
    assert_eq!(r["output"][0]["summary"][0]["text"], "think hard");
    assert!(r["output"][0].get("encrypted_content").is_none());
    assert_eq!(r["usage"]["output_tokens_details"]["reasoning_tokens"], 28);

    let mut body = responses_body(true);
    body["include"] = json!(["reasoning.encrypted_content"]);
    let reply = post(fake.addr(), "/v1/responses", body).await;
    let types = checked_types(&reply);
    assert!(types.contains(&"response.reasoning_summary_text.delta".to_string()));
    let last = reply.sse_json().pop().unwrap();
    assert_eq!(last["response"]["output"][0]["encrypted_content"], "opaque");
}

#[tokio::test]
async fn max_tokens_is_incomplete() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::MaxTokens("cut".into()));
    fake.push(Behavior::MaxTokens("cut".into()));
    let r = post(fake.addr(), "/v1/responses", responses_body(false))
        .await
        .json();
    assert_eq!(r["status"], "incomplete");
    assert_eq!(r["incomplete_details"]["reason"], "max_output_tokens");
    let reply = post(fake.addr(), "/v1/responses", responses_body(true)).await;
    assert_eq!(checked_types(&reply).last().unwrap(), "response.incomplete");
}

#[tokio::test]
async fn request_fields_are_echoed() {
    let fake = FakeProvider::start().await;
    let mut body = responses_body(false);
    body["instructions"] = json!("be brief");
    body["tools"] = json!([{"type": "function", "name": "f", "parameters": {}}]);
    let r = post(fake.addr(), "/v1/responses", body).await.json();
    assert_eq!(r["instructions"], "be brief");
    assert_eq!(r["tools"][0]["name"], "f");
}
