//! Scripted faults and pacing, observed from a bare client: dripped events
//! arrive apart, hangs hang, resets reset, truncations truncate.

mod common;

use std::time::{Duration, Instant};

use common::*;
use fake_provider::http::Method;
use fake_provider::{Behavior, FakeProvider, StreamFault};
use serde_json::Value;

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn dripped_raw_frames_arrive_separately_with_their_gaps() {
    let fake = FakeProvider::start().await;
    let gap = Duration::from_millis(200);
    let frames: Vec<String> = (0..5).map(|i| format!("data: {i}\n\n")).collect();
    fake.push(Behavior::RawSse(frames).drip(gap));
    let reply = post(fake.addr(), "/v1/chat/completions", chat_body(true)).await;
    assert_eq!(reply.frames.len(), 5, "one body frame per event");
    let first = reply.frames[0].0 - reply.sent_at;
    let total = reply.frames[4].0 - reply.sent_at;
    assert!(
        total >= gap * 4 - Duration::from_millis(20),
        "total {total:?}"
    );
    assert!(
        first < total / 2,
        "first event after {first:?} of {total:?}"
    );
    for pair in reply.frames.windows(2) {
        let apart = pair[1].0 - pair[0].0;
        // Loose: a starved client may read two frames late, but never all.
        assert!(
            apart >= Duration::from_millis(100),
            "events only {apart:?} apart"
        );
    }
}

#[tokio::test]
async fn dripped_protocol_stream_reaches_the_client_progressively() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::text("a b c").drip(Duration::from_millis(60)));
    let reply = post(fake.addr(), "/v1/messages", anthropic_body(true)).await;
    let events = reply.sse();
    assert_eq!(events.len(), 9);
    assert_eq!(
        reply.frames.len(),
        events.len(),
        "each event is its own frame"
    );
    let first = reply.frames[0].0 - reply.sent_at;
    let total = reply.frames.last().unwrap().0 - reply.sent_at;
    assert!(total >= Duration::from_millis(400), "total {total:?}");
    assert!(
        first < total / 2,
        "first event after {first:?} of {total:?}"
    );
}

#[tokio::test]
async fn hang_never_answers_until_shutdown() {
    let fake = FakeProvider::start().await;
    fake.set_default(Behavior::Hang);
    let addr = fake.addr();
    let pending =
        tokio::spawn(async move { post(addr, "/v1/messages", anthropic_body(false)).await });
    fake.wait_for_requests(1, SECOND).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished(), "a hanging request got an answer");

    let started = Instant::now();
    fake.shutdown().await;
    let result = within(SECOND, pending).await;
    assert!(
        result.is_err(),
        "the client sees the connection die, not a response"
    );
    assert!(started.elapsed() < SECOND);
}

#[tokio::test]
async fn hang_times_out_on_the_client() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::Hang);
    let attempt = tokio::time::timeout(
        Duration::from_millis(400),
        send(
            fake.addr(),
            Method::POST,
            "/v1/chat/completions",
            &[],
            chat_body(true).to_string(),
        ),
    )
    .await;
    assert!(attempt.is_err(), "expected a client timeout");
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn reset_closes_without_a_response() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::Reset);
    let result = within(
        SECOND,
        send(
            fake.addr(),
            Method::POST,
            "/v1/messages",
            &[],
            anthropic_body(false).to_string(),
        ),
    )
    .await;
    let error = result.err().expect("no response after a reset");
    assert!(
        error.contains("reset") || error.contains("Reset") || error.contains("closed"),
        "{error}"
    );
    assert_eq!(
        fake.request_count(),
        1,
        "the request was read and recorded first"
    );
    // The next request (default behaviour) is served normally.
    assert_eq!(
        post(fake.addr(), "/v1/messages", anthropic_body(false))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn reset_mid_stream_sends_some_events_then_drops_the_connection() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::ResetMidStream);
    let reply = within(
        SECOND * 2,
        post(fake.addr(), "/v1/messages", anthropic_body(true)),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body_error.is_some(), "the body must fail, not end");
    let text = reply.text();
    assert!(text.contains("event: message_start"), "{text}");
    assert!(
        text.contains("content_block_delta"),
        "some text was sent: {text}"
    );
    assert!(!text.contains("message_stop"));
}

#[tokio::test]
async fn truncated_stream_ends_cleanly_without_the_terminal_event() {
    let fake = FakeProvider::start().await;
    for (path, body, terminal) in [
        ("/v1/messages", anthropic_body(true), "message_stop"),
        ("/v1/chat/completions", chat_body(true), "[DONE]"),
        ("/v1/responses", responses_body(true), "response.completed"),
    ] {
        fake.push(Behavior::Truncated);
        let reply = post(fake.addr(), path, body).await;
        assert_eq!(reply.status, 200);
        assert!(reply.body_error.is_none(), "{path}: clean close expected");
        let text = reply.text();
        assert!(!text.is_empty());
        assert!(!text.contains(terminal), "{path}: {text}");
        assert!(text.contains("Hello"), "{path}: some text was streamed");
    }
}

#[tokio::test]
async fn non_stream_truncation_and_reset_cut_the_json_body() {
    let fake = FakeProvider::start().await;
    for fault in [StreamFault::Truncated, StreamFault::ResetMidStream] {
        fake.push(Behavior::default().with_fault(fault));
        let reply = within(
            SECOND * 2,
            post(fake.addr(), "/v1/messages", anthropic_body(false)),
        )
        .await;
        assert_eq!(reply.status, 200);
        let announced: usize = reply.header("content-length").unwrap().parse().unwrap();
        assert!(
            reply.body().len() < announced,
            "{fault:?}: body shorter than announced"
        );
        assert!(
            reply.body_error.is_some(),
            "{fault:?}: the client sees an incomplete body"
        );
    }
}

#[tokio::test]
async fn mid_stream_error_uses_each_protocols_error_event() {
    let fake = FakeProvider::start().await;

    fake.push(Behavior::MidStreamError);
    let events = post(fake.addr(), "/v1/messages", anthropic_body(true))
        .await
        .sse();
    let (name, data) = events.last().unwrap();
    assert_eq!(name.as_deref(), Some("error"));
    let error: Value = serde_json::from_str(data).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "overloaded_error");
    assert!(events
        .iter()
        .any(|(n, _)| n.as_deref() == Some("content_block_delta")));
    assert!(!events
        .iter()
        .any(|(n, _)| n.as_deref() == Some("message_stop")));

    fake.push(Behavior::MidStreamError);
    let events = post(fake.addr(), "/v1/chat/completions", chat_body(true))
        .await
        .sse();
    let last: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(last["error"]["type"], "server_error");
    assert!(events.iter().all(|(_, d)| d != "[DONE]"));

    fake.push(Behavior::MidStreamError);
    let reply = post(fake.addr(), "/v1/responses", responses_body(true)).await;
    let events = reply.sse_json();
    let n = events.len();
    assert_eq!(events[n - 2]["type"], "error");
    assert_eq!(events[n - 1]["type"], "response.failed");
    assert_eq!(events[n - 1]["sequence_number"], n - 1);
    assert_eq!(events[n - 1]["response"]["id"], events[0]["response"]["id"]);
    assert_eq!(events[n - 1]["response"]["status"], "failed");

    fake.push(Behavior::MidStreamError);
    let reply = post(fake.addr(), "/v1/messages", anthropic_body(false)).await;
    assert_eq!(reply.status, 500, "non-streaming requests get a plain 500");
}

#[tokio::test]
async fn invalid_json_is_a_200_with_a_broken_body() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::InvalidJson);
    let reply = post(fake.addr(), "/v1/chat/completions", chat_body(false)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(serde_json::from_slice::<Value>(&reply.body()).is_err());
}

#[tokio::test]
async fn slow_delays_the_headers() {
    let fake = FakeProvider::start().await;
    let delay = Duration::from_millis(300);
    fake.push(Behavior::default().slow(delay));
    let reply = post(fake.addr(), "/v1/messages", anthropic_body(false)).await;
    assert!(reply.headers_at - reply.sent_at >= delay);
    assert_eq!(reply.status, 200);
    let quick = post(fake.addr(), "/v1/messages", anthropic_body(false)).await;
    assert!(
        quick.headers_at - quick.sent_at < delay,
        "only the pushed request is slow"
    );
}

#[tokio::test]
async fn custom_response_is_sent_verbatim() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::Custom {
        status: 418,
        headers: vec![
            ("content-type".into(), "text/plain".into()),
            ("x-dup".into(), "1".into()),
            ("x-dup".into(), "2".into()),
        ],
        body: "teapot".into(),
    });
    let reply = post(fake.addr(), "/v1/anything", chat_body(false)).await;
    assert_eq!(reply.status, 418);
    assert_eq!(reply.text(), "teapot");
    assert_eq!(reply.header("content-type"), Some("text/plain"));
    let dups: Vec<_> = reply.headers.get_all("x-dup").iter().collect();
    assert_eq!(dups.len(), 2);
    assert!(
        reply.header("x-request-id").is_none(),
        "no protocol headers added"
    );
}

#[tokio::test]
async fn with_headers_replaces_protocol_headers() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::default().with_headers([("request-id", "req_fixed"), ("x-extra", "yes")]));
    let reply = post(fake.addr(), "/v1/messages", anthropic_body(true)).await;
    assert_eq!(reply.header("request-id"), Some("req_fixed"));
    assert_eq!(reply.header("x-extra"), Some("yes"));
}
