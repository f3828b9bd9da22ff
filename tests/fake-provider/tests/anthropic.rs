//! Anthropic Messages wire format: JSON, SSE event sequence, tools, thinking,
//! usage, errors, count_tokens and the models list.

mod common;

use common::*;
use fake_provider::{Behavior, FakeProvider, Usage, DEFAULT_TEXT};
use serde_json::{json, Value};

fn event_types(reply: &Reply) -> Vec<String> {
    reply
        .sse()
        .into_iter()
        .map(|(name, data)| {
            let ty = serde_json::from_str::<Value>(&data).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string();
            assert_eq!(
                name.as_deref(),
                Some(ty.as_str()),
                "event line matches type"
            );
            ty
        })
        .collect()
}

#[tokio::test]
async fn text_json_has_the_message_shape() {
    let fake = FakeProvider::start().await;
    let reply = post(fake.addr(), "/v1/messages", anthropic_body(false)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.header("request-id").unwrap().starts_with("req_"));
    let m = reply.json();
    assert!(m["id"].as_str().unwrap().starts_with("msg_01"));
    assert_eq!(m["type"], "message");
    assert_eq!(m["role"], "assistant");
    assert_eq!(m["model"], "claude-test-model");
    assert_eq!(
        m["content"],
        json!([{"type": "text", "text": DEFAULT_TEXT}])
    );
    assert_eq!(m["stop_reason"], "end_turn");
    assert_eq!(m["stop_sequence"], Value::Null);
    let u = &m["usage"];
    assert_eq!(u["input_tokens"], 25);
    assert_eq!(u["output_tokens"], 12);
    assert_eq!(u["cache_creation_input_tokens"], 0);
    assert_eq!(u["cache_read_input_tokens"], 0);
}

#[tokio::test]
async fn path_without_v1_prefix_is_served_too() {
    let fake = FakeProvider::start().await;
    let reply = post(fake.addr(), "/messages", anthropic_body(false)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["type"], "message");
}

#[tokio::test]
async fn text_stream_follows_the_documented_event_order() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::text("one two three"));
    let reply = post(fake.addr(), "/v1/messages", anthropic_body(true)).await;
    assert_eq!(reply.status, 200);
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    assert!(reply.header("request-id").is_some());
    assert!(reply.body_error.is_none());
    assert_eq!(
        event_types(&reply),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let events = reply.sse_json();
    let start = &events[0]["message"];
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["stop_reason"], Value::Null);
    assert_eq!(start["model"], "claude-test-model");
    assert_eq!(start["usage"]["input_tokens"], 25);
    assert_eq!(
        events[1]["content_block"],
        json!({"type": "text", "text": ""})
    );
    let text: String = events
        .iter()
        .filter(|e| e["type"] == "content_block_delta")
        .map(|e| e["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "one two three");
    assert_eq!(events[7]["delta"]["stop_reason"], "end_turn");
    assert_eq!(events[7]["usage"]["output_tokens"], 12);
}

#[tokio::test]
async fn parallel_tool_calls_stream_input_json_in_pieces() {
    let fake = FakeProvider::start().await;
    let calls = vec![
        (
            "get_weather".to_string(),
            json!({"city": "Paris", "days": 3}),
        ),
        ("get_time".to_string(), json!({"tz": "UTC"})),
    ];
    fake.push(Behavior::ToolCalls(calls.clone()));
    let reply = post(fake.addr(), "/v1/messages", anthropic_body(true)).await;
    let events = reply.sse_json();
    let mut inputs: Vec<String> = vec![String::new(); 2];
    let mut starts = Vec::new();
    let mut pieces = 0;
    for e in &events {
        match e["type"].as_str().unwrap() {
            "content_block_start" => starts.push(e["content_block"].clone()),
            "content_block_delta" => {
                assert_eq!(e["delta"]["type"], "input_json_delta");
                inputs[e["index"].as_u64().unwrap() as usize]
                    .push_str(e["delta"]["partial_json"].as_str().unwrap());
                pieces += 1;
            }
            _ => {}
        }
    }
    assert!(pieces >= 6, "input arrives in several pieces, got {pieces}");
    for (i, (name, args)) in calls.iter().enumerate() {
        assert_eq!(starts[i]["type"], "tool_use");
        assert_eq!(starts[i]["name"], name.as_str());
        assert_eq!(starts[i]["input"], json!({}));
        assert!(starts[i]["id"].as_str().unwrap().starts_with("toolu_"));
        assert_eq!(&serde_json::from_str::<Value>(&inputs[i]).unwrap(), args);
    }
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn tool_calls_json_carry_inputs() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::tool_call("lookup", json!({"q": "rust"})));
    let m = post(fake.addr(), "/v1/messages", anthropic_body(false))
        .await
        .json();
    assert_eq!(m["stop_reason"], "tool_use");
    assert_eq!(m["content"][0]["type"], "tool_use");
    assert_eq!(m["content"][0]["input"], json!({"q": "rust"}));
}

#[tokio::test]
async fn thinking_streams_thinking_signature_then_text() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::Thinking {
        thinking: "hmm let me see".into(),
        signature: "sig123".into(),
        text: "answer".into(),
    });
    let events = post(fake.addr(), "/v1/messages", anthropic_body(true))
        .await
        .sse_json();
    let starts: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "content_block_start")
        .collect();
    assert_eq!(
        starts[0]["content_block"],
        json!({"type": "thinking", "thinking": "", "signature": ""})
    );
    assert_eq!(starts[1]["content_block"]["type"], "text");
    let delta_types: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "content_block_delta")
        .map(|e| e["delta"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        delta_types,
        [
            "thinking_delta",
            "thinking_delta",
            "thinking_delta",
            "thinking_delta",
            "signature_delta",
            "text_delta"
        ]
    );
}

#[tokio::test]
async fn usage_modifier_sets_every_counter() {
    let fake = FakeProvider::start().await;
    let usage = Usage {
        input: 100,
        output: 50,
        cache_read: 30,
        cache_write: 20,
        reasoning: 0,
    };
    fake.push(Behavior::default().with_usage(usage));
    let events = post(fake.addr(), "/v1/messages", anthropic_body(true))
        .await
        .sse_json();
    let start = &events[0]["message"]["usage"];
    assert_eq!(start["input_tokens"], 100);
    assert_eq!(start["cache_read_input_tokens"], 30);
    assert_eq!(start["cache_creation_input_tokens"], 20);
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["usage"]["output_tokens"], 50);
}

#[tokio::test]
async fn rate_limit_error_has_shape_retry_after_and_request_id() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::rate_limited(2));
    let reply = post(fake.addr(), "/v1/messages", anthropic_body(true)).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("2"));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert!(body["error"]["message"].as_str().unwrap().len() > 5);
    assert_eq!(body["request_id"], reply.header("request-id").unwrap());
}

#[tokio::test]
async fn overloaded_and_custom_error_bodies() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::error(529));
    fake.push(Behavior::Error {
        status: 400,
        body: Some(r#"{"custom":true}"#.into()),
        retry_after: None,
    });
    let reply = post(fake.addr(), "/v1/messages", anthropic_body(false)).await;
    assert_eq!(reply.status, 529);
    assert_eq!(reply.json()["error"]["type"], "overloaded_error");
    let reply = post(fake.addr(), "/v1/messages", anthropic_body(false)).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json(), json!({"custom": true}));
}

#[tokio::test]
async fn count_tokens_and_models() {
    let fake = FakeProvider::start().await;
    let reply = post(
        fake.addr(),
        "/v1/messages/count_tokens",
        json!({"model": "claude-x", "messages": [{"role": "user", "content": "hello there"}]}),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.json()["input_tokens"].as_u64().unwrap() > 0);

    let models = get(
        fake.addr(),
        "/v1/models",
        &[("anthropic-version", "2023-06-01")],
    )
    .await;
    let body = models.json();
    assert_eq!(body["has_more"], false);
    assert_eq!(body["data"][0]["type"], "model");
    assert!(body["data"][0]["id"]
        .as_str()
        .unwrap()
        .starts_with("claude-"));
}

#[tokio::test]
async fn missing_model_or_bad_json_is_a_400() {
    let fake = FakeProvider::start().await;
    let reply = post(fake.addr(), "/v1/messages", json!({"messages": []})).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["type"], "invalid_request_error");
    let reply = send(
        fake.addr(),
        fake_provider::http::Method::POST,
        "/v1/messages",
        &[],
        "{not json",
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 400);
    assert_eq!(fake.requests().len(), 2, "bad requests are still recorded");
}
