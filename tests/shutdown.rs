//! SIGTERM drains: a stream in flight when the signal arrives completes,
//! its audit line is written, and the process exits 0.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_intercepted_stream_finish() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::Drip {
        gap: Duration::from_millis(300),
        then: Box::default(),
    });
    let mut sy = Switchyard::start(&providers_config(&fake, ""));
    let mut client = client::intercepted_h1(sy.addr, "api.anthropic.com", &sy.ca_pem()).await;
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 32, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let request = tokio::spawn(async move {
        client::post_timed(&mut client, "api.anthropic.com", "/v1/messages", &[], &body).await
    });
    fake.wait_for_requests(1, Duration::from_secs(10))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    signal(sy.pid(), "TERM");
    let timed = request.await.unwrap();
    assert_eq!(timed.status, 200);
    assert!(
        timed.body().contains("event: message_stop"),
        "the stream was cut: {}",
        timed.body()
    );
    let status = sy.terminate();
    assert!(status.success(), "exit status {status}");
    let lines = sy.audit();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["error"], serde_json::Value::Null, "{}", lines[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_with_nothing_in_flight_exits_zero_quickly() {
    let mut sy = Switchyard::start("");
    signal(sy.pid(), "INT");
    let status = sy.terminate_wait_only();
    assert!(status.success(), "exit status {status}");
}
