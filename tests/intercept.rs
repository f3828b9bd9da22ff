//! Interception end to end: curl and a Rust client through CONNECT + TLS to
//! a fake provider, checking what the provider received and what the client
//! and the audit file saw.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const INJECTED: &str = "sk-ant-injected-key-0001";
const CLIENT_KEY: &str = "sk-ant-client-key-0002";
const CLIENT_BEARER: &str = "sk-proj-client-bearer-0003";

fn config(fake: &FakeProvider) -> String {
    format!(
        "[providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{}\"\napi_key_env = \"TEST_ANTHROPIC_KEY\"\n\n[providers.openai]\nkind = \"openai\"\nbase_url = \"{}\"\n",
        fake.base_url(),
        fake.openai_base_url()
    )
}

fn start(fake: &FakeProvider) -> Switchyard {
    Switchyard::start_with(&config(fake), &[("TEST_ANTHROPIC_KEY", INJECTED)], &[])
}

fn messages_body(stream: bool) -> String {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": stream,
           "messages": [{"role": "user", "content": "hello"}]})
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_h1_and_h2_reach_the_provider_with_the_configured_key_and_clean_headers() {
    let fake = FakeProvider::start().await;
    let sy = start(&fake);
    let ca = sy.ca_pem();
    let body = messages_body(false);
    for version in ["--http1.1", "--http2"] {
        let (code, out, err) = curl(&[
            version,
            "-x",
            &sy.proxy_url(),
            "--cacert",
            ca.to_str().unwrap(),
            "https://api.anthropic.com/v1/messages",
            "-H",
            "content-type: application/json",
            "-H",
            &format!("x-api-key: {CLIENT_KEY}"),
            "-H",
            "anthropic-version: 2023-06-01",
            "-H",
            "anthropic-beta: fine-grained-tool-streaming-2025-05-14",
            "-H",
            "user-agent: claude-cli/9.9 (test)",
            "-H",
            "x-custom-trace: abc",
            "-H",
            "connection: x-hop-header",
            "-H",
            "x-hop-header: must-not-pass",
            "-H",
            "keep-alive: timeout=5",
            "-H",
            "proxy-authorization: Basic dGVzdDp0ZXN0",
            "-d",
            &body,
        ]);
        assert_eq!(code, 200, "{version}: {out} {err}");
        let reply: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(reply["type"], "message", "{out}");
        let got = fake.last_request().expect("provider got the request");
        assert_eq!(got.path, "/v1/messages");
        assert_eq!(
            got.header("x-api-key"),
            Some(INJECTED),
            "configured key replaces the client's"
        );
        assert_eq!(
            got.header("anthropic-beta"),
            Some("fine-grained-tool-streaming-2025-05-14")
        );
        assert_eq!(got.header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(got.header("user-agent"), Some("claude-cli/9.9 (test)"));
        assert_eq!(got.header("x-custom-trace"), Some("abc"));
        for hop in [
            "keep-alive",
            "proxy-authorization",
            "proxy-connection",
            "connection",
        ] {
            assert_eq!(
                got.header(hop),
                None,
                "{version}: hop-by-hop {hop} leaked upstream"
            );
        }
        if version == "--http1.1" {
            // Only HTTP/1.1 has a Connection header to name it (curl drops it for h2).
            assert_eq!(
                got.header("x-hop-header"),
                None,
                "a header named by Connection leaked upstream"
            );
        }
        assert!(got.header("x-request-id").is_some(), "x-request-id added");
        assert_eq!(got.json.as_ref().unwrap()["model"], "claude-sonnet-4-5");
    }
    let lines = sy.wait_audit(2);
    assert_eq!(lines.len(), 2, "one audit line per request");
    for line in &lines {
        assert_eq!(line["kind"], "intercept");
        assert_eq!(line["host"], "api.anthropic.com");
        assert_eq!(line["protocol"], "anthropic_messages");
        assert_eq!(line["model"], "claude-sonnet-4-5");
        assert_eq!(line["provider"], "anthropic");
        assert_eq!(line["status"], 200);
        assert!(
            line["usage"]["input_tokens"].as_u64().unwrap() > 0,
            "{line}"
        );
        assert!(line["request_body"].as_str().unwrap().contains("hello"));
    }
    assert_no_secrets(&sy, &[INJECTED, CLIENT_KEY, "dGVzdDp0ZXN0"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_configured_key_the_clients_own_credentials_pass() {
    let fake = FakeProvider::start().await;
    let sy = start(&fake);
    let body =
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let (code, out, err) = curl(&[
        "-x",
        &sy.proxy_url(),
        "--cacert",
        sy.ca_pem().to_str().unwrap(),
        "https://api.openai.com/v1/chat/completions",
        "-H",
        "content-type: application/json",
        "-H",
        &format!("authorization: Bearer {CLIENT_BEARER}"),
        "-d",
        &body,
    ]);
    assert_eq!(code, 200, "{out} {err}");
    let got = fake.last_request().unwrap();
    assert_eq!(got.path, "/v1/chat/completions");
    assert_eq!(
        got.header("authorization"),
        Some(format!("Bearer {CLIENT_BEARER}").as_str())
    );
    let line = &sy.wait_audit(1)[0];
    assert_eq!(line["provider"], "openai");
    assert_eq!(line["credential"], "client");
    assert_no_secrets(&sy, &[CLIENT_BEARER]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_events_arrive_with_their_gaps_and_usage_is_read_from_the_stream() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::Drip {
        gap: Duration::from_millis(250),
        then: Box::default(),
    });
    let sy = start(&fake);
    let mut client = client::intercepted_h1(sy.addr, "api.anthropic.com", &sy.ca_pem()).await;
    let body: serde_json::Value = serde_json::from_str(&messages_body(true)).unwrap();
    let timed = client::post_timed(
        &mut client,
        "api.anthropic.com",
        "/v1/messages",
        &[("anthropic-version", "2023-06-01")],
        &body,
    )
    .await;
    assert_eq!(timed.status, 200);
    assert!(
        timed.frames.len() >= 5,
        "events should arrive as separate frames, got {}",
        timed.frames.len()
    );
    let first = timed.frames.first().unwrap().0;
    let last = timed.frames.last().unwrap().0;
    // With a 250 ms gap between events, a buffered stream would deliver
    // everything at once; a streamed one spreads over at least a second.
    assert!(
        last - first >= Duration::from_millis(750),
        "first {first:?}, last {last:?}: stream was buffered"
    );
    assert!(timed.body().contains("event: message_stop"));
    let line = &sy.wait_audit(1)[0];
    assert_eq!(line["stream"], true);
    assert!(
        line["usage"]["output_tokens"].as_u64().unwrap() > 0,
        "{line}"
    );
    assert!(line["ttfb_ms"].as_u64().unwrap() < line["duration_ms"].as_u64().unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_disconnects_mid_stream_cancels_and_is_audited() {
    let fake = FakeProvider::start().await;
    let frames: Vec<String> = (0..40)
        .map(|i| format!("data: {{\"n\":{i}}}\n\n"))
        .collect();
    fake.push(Behavior::Drip {
        gap: Duration::from_millis(250),
        then: Box::new(Behavior::RawSse(frames)),
    });
    let sy = start(&fake);
    let mut client = client::intercepted_h1(sy.addr, "api.openai.com", &sy.ca_pem()).await;
    let req = http::Request::post("/v1/chat/completions")
        .header("host", "api.openai.com")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            json!({"model": "gpt-4o", "stream": true, "messages": []}).to_string(),
        )))
        .unwrap();
    let resp = client.send_request(req).await.unwrap();
    let mut body = resp.into_body();
    use http_body_util::BodyExt;
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.data_ref().is_some());
    drop(body);
    drop(client);
    // The 40-event stream would take 10 s; the record comes as soon as the
    // client is gone.
    let line = &sy.wait_audit(1)[0];
    assert!(
        line["error"]
            .as_str()
            .unwrap_or_default()
            .contains("client disconnected"),
        "{line}"
    );
    assert!(line["duration_ms"].as_u64().unwrap() < 8000, "{line}");
}

/// With one worker thread switchyard runs tokio's single-threaded scheduler
/// (`cli::run`): a stream dripping events must not hold up other requests,
/// and every request still gets its audit line.
#[tokio::test(flavor = "multi_thread")]
async fn one_worker_thread_serves_requests_alongside_a_stream() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::Drip {
        gap: Duration::from_millis(250),
        then: Box::default(),
    });
    let sy = Switchyard::start_with(
        &config(&fake),
        &[
            ("TEST_ANTHROPIC_KEY", INJECTED),
            ("TOKIO_WORKER_THREADS", "1"),
        ],
        &[],
    );
    let stream = spawn_messages(sy.addr, sy.ca_pem(), true);
    // The stream claims the Drip behaviour before the others are sent.
    while fake.requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let others: Vec<_> = (0..8)
        .map(|_| spawn_messages(sy.addr, sy.ca_pem(), false))
        .collect();
    for other in others {
        let done = other.await.unwrap();
        assert_eq!(done.status, 200, "{}", done.body());
        assert!(
            done.body().contains("\"type\":\"message\""),
            "{}",
            done.body()
        );
    }
    assert!(
        !stream.is_finished(),
        "the other requests waited for the dripping stream"
    );
    let streamed = stream.await.unwrap();
    assert_eq!(streamed.status, 200);
    assert!(streamed.frames.len() >= 5, "{}", streamed.frames.len());
    assert!(streamed.body().contains("event: message_stop"));
    let lines = sy.wait_audit(9);
    assert_eq!(lines.iter().filter(|l| l["stream"] == true).count(), 1);
    assert!(lines.iter().all(|l| l["status"] == 200), "{lines:?}");
}

/// A Messages request on a new intercepted HTTP/1.1 connection, in a task.
fn spawn_messages(
    proxy: std::net::SocketAddr,
    ca: std::path::PathBuf,
    stream: bool,
) -> tokio::task::JoinHandle<client::Timed> {
    tokio::spawn(async move {
        let mut client = client::intercepted_h1(proxy, "api.anthropic.com", &ca).await;
        let body: serde_json::Value = serde_json::from_str(&messages_body(stream)).unwrap();
        let headers = [("anthropic-version", "2023-06-01")];
        let path = "/v1/messages";
        client::post_timed(&mut client, "api.anthropic.com", path, &headers, &body).await
    })
}
