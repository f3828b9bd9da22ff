//! OpenAI Chat Completions wire format: JSON, chunk streams with and without
//! `include_usage`, interleaved parallel tool call deltas, reasoning, errors.

mod common;

use common::*;
use fake_provider::{Behavior, FakeProvider, Usage, DEFAULT_TEXT};
use serde_json::{json, Value};

#[tokio::test]
async fn text_json_has_the_completion_shape() {
    let fake = FakeProvider::start().await;
    let reply = post(fake.addr(), "/v1/chat/completions", chat_body(false)).await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("x-request-id").unwrap().starts_with("req_"));
    let c = reply.json();
    assert!(c["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(c["object"], "chat.completion");
    assert!(c["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(c["model"], "gpt-test-model");
    let choice = &c["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], DEFAULT_TEXT);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["logprobs"], Value::Null);
    assert!(choice["message"].get("tool_calls").is_none());
    let u = &c["usage"];
    assert_eq!(u["prompt_tokens"], 25);
    assert_eq!(u["completion_tokens"], 12);
    assert_eq!(u["total_tokens"], 37);
    assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 0);
}

#[tokio::test]
async fn stream_without_include_usage_has_no_usage_chunk() {
    let fake = FakeProvider::start().await;
    let reply = post(fake.addr(), "/v1/chat/completions", chat_body(true)).await;
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let events = reply.sse();
    assert!(
        events.iter().all(|(name, _)| name.is_none()),
        "no event: lines"
    );
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks = reply.sse_json();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let id = &chunks[0]["id"];
    assert!(chunks.iter().all(|c| &c["id"] == id), "one id per stream");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, DEFAULT_TEXT);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["choices"][0]["delta"], json!({}));
}

#[tokio::test]
async fn include_usage_adds_a_final_usage_chunk_with_no_choices() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::default().with_usage(Usage {
        input: 40,
        output: 8,
        cache_read: 32,
        cache_write: 0,
        reasoning: 3,
    }));
    let mut body = chat_body(true);
    body["stream_options"] = json!({"include_usage": true});
    let chunks = post(fake.addr(), "/v1/chat/completions", body)
        .await
        .sse_json();
    let (last, rest) = chunks.split_last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 40);
    assert_eq!(last["usage"]["completion_tokens"], 8);
    assert_eq!(last["usage"]["total_tokens"], 48);
    assert_eq!(last["usage"]["prompt_tokens_details"]["cached_tokens"], 32);
    assert_eq!(
        last["usage"]["completion_tokens_details"]["reasoning_tokens"],
        3
    );
    assert!(rest.iter().all(|c| c["usage"] == Value::Null));
}

#[tokio::test]
async fn parallel_tool_calls_interleave_by_index() {
    let fake = FakeProvider::start().await;
    let calls = vec![
        ("alpha".to_string(), json!({"x": "first call arguments"})),
        ("beta".to_string(), json!({"y": [1, 2, 3, 4, 5]})),
    ];
    fake.push(Behavior::ToolCalls(calls.clone()));
    let chunks = post(fake.addr(), "/v1/chat/completions", chat_body(true))
        .await
        .sse_json();
    let mut ids = vec![None; 2];
    let mut names = vec![None; 2];
    let mut args = vec![String::new(); 2];
    let mut order = Vec::new();
    for chunk in &chunks {
        let Some(deltas) = chunk["choices"][0]["delta"]["tool_calls"].as_array() else {
            continue;
        };
        for d in deltas {
            let i = d["index"].as_u64().unwrap() as usize;
            order.push(i);
            if let Some(id) = d["id"].as_str() {
                assert!(ids[i].is_none(), "id only on the first delta");
                assert_eq!(
                    d["function"]["arguments"], "",
                    "header carries empty arguments"
                );
                ids[i] = Some(id.to_string());
                names[i] = d["function"]["name"].as_str().map(str::to_string);
            }
            args[i].push_str(d["function"]["arguments"].as_str().unwrap());
        }
    }
    assert!(
        order.windows(2).any(|w| w[0] > w[1]),
        "deltas interleave: {order:?}"
    );
    for (i, (name, arguments)) in calls.iter().enumerate() {
        assert!(ids[i].as_deref().unwrap().starts_with("call_"));
        assert_eq!(names[i].as_deref(), Some(name.as_str()));
        assert_eq!(&serde_json::from_str::<Value>(&args[i]).unwrap(), arguments);
    }
    let finish = &chunks.last().unwrap()["choices"][0]["finish_reason"];
    assert_eq!(finish, "tool_calls");
}

#[tokio::test]
async fn tool_calls_json_have_null_content() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::tool_call("f", json!({"a": 1})));
    let c = post(fake.addr(), "/v1/chat/completions", chat_body(false))
        .await
        .json();
    let message = &c["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null);
    assert_eq!(message["tool_calls"][0]["type"], "function");
    assert_eq!(message["tool_calls"][0]["function"]["name"], "f");
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        r#"{"a":1}"#
    );
    assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn thinking_becomes_reasoning_content() {
    let fake = FakeProvider::start().await;
    let thinking = Behavior::Thinking {
        thinking: "step by step".into(),
        signature: "s".into(),
        text: "done".into(),
    };
    fake.push(thinking.clone());
    fake.push(thinking);
    let chunks = post(fake.addr(), "/v1/chat/completions", chat_body(true))
        .await
        .sse_json();
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert_eq!(reasoning, "step by step");
    let c = post(fake.addr(), "/v1/chat/completions", chat_body(false))
        .await
        .json();
    assert_eq!(
        c["choices"][0]["message"]["reasoning_content"],
        "step by step"
    );
    assert_eq!(
        c["usage"]["completion_tokens_details"]["reasoning_tokens"],
        28
    );
}

#[tokio::test]
async fn max_tokens_finishes_with_length() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::MaxTokens("cut".into()));
    let c = post(fake.addr(), "/v1/chat/completions", chat_body(false))
        .await
        .json();
    assert_eq!(c["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn errors_use_the_openai_shape() {
    let fake = FakeProvider::start().await;
    for status in [400u16, 429, 500, 503] {
        fake.push(Behavior::error(status));
        let reply = post(fake.addr(), "/v1/chat/completions", chat_body(true)).await;
        assert_eq!(reply.status.as_u16(), status);
        let error = &reply.json()["error"];
        let mut keys: Vec<&String> = error.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["code", "message", "param", "type"]);
        assert_eq!(error["param"], Value::Null);
    }
    fake.push(Behavior::rate_limited(7));
    let reply = post(fake.addr(), "/v1/chat/completions", chat_body(false)).await;
    assert_eq!(reply.header("retry-after"), Some("7"));
    assert_eq!(reply.json()["error"]["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn openai_models_list() {
    let fake = FakeProvider::start().await;
    let body = get(fake.addr(), "/v1/models", &[]).await.json();
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"][0]["object"], "model");
    assert!(body["data"][0]["owned_by"].is_string());
}
