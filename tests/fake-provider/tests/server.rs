//! The harness itself: behaviour queue and default, request recording,
//! routing and 404s, waiting, h2c, shutdown and the `/_fake` control API.

mod common;

use std::time::Duration;

use common::*;
use fake_provider::http::{Method, Version};
use fake_provider::{Behavior, FakeProvider};
use serde_json::json;

#[tokio::test]
async fn queue_is_fifo_then_falls_back_to_the_default() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::error(500));
    fake.push(Behavior::text("second"));
    assert_eq!(fake.queued(), 2);
    let addr = fake.addr();
    assert_eq!(
        post(addr, "/v1/messages", anthropic_body(false))
            .await
            .status,
        500
    );
    let second = post(addr, "/v1/messages", anthropic_body(false))
        .await
        .json();
    assert_eq!(second["content"][0]["text"], "second");
    fake.set_default(Behavior::text("fallback"));
    for _ in 0..2 {
        let m = post(addr, "/v1/messages", anthropic_body(false))
            .await
            .json();
        assert_eq!(m["content"][0]["text"], "fallback");
    }
    assert_eq!(fake.queued(), 0);
}

#[tokio::test]
async fn requests_are_recorded_whole() {
    let fake = FakeProvider::start().await;
    let headers = [
        ("x-api-key", "sk-ant-secret"),
        ("anthropic-beta", "a-2025"),
        ("anthropic-beta", "b-2025"),
        ("anthropic-version", "2023-06-01"),
    ];
    post_with(
        fake.addr(),
        "/v1/messages?beta=true",
        &headers,
        anthropic_body(true),
    )
    .await;
    let r = fake.last_request().unwrap();
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.path, "/v1/messages?beta=true");
    assert_eq!(r.path_only(), "/v1/messages");
    assert_eq!(r.version, Version::HTTP_11);
    assert_eq!(r.header("x-api-key"), Some("sk-ant-secret"));
    assert_eq!(r.header_all("anthropic-beta"), ["a-2025", "b-2025"]);
    assert_eq!(
        r.header_pairs()
            .iter()
            .filter(|(k, _)| k == "anthropic-beta")
            .count(),
        2
    );
    assert_eq!(r.model(), Some("claude-test-model"));
    assert!(r.is_stream());
    assert_eq!(r.json.as_ref().unwrap()["max_tokens"], 64);
    assert_eq!(r.body, anthropic_body(true).to_string().as_bytes());
    assert_eq!(
        r.authority.as_deref(),
        Some(fake.addr().to_string().as_str())
    );
    assert_eq!(
        fake.last_header("anthropic-version").as_deref(),
        Some("2023-06-01")
    );
    assert_eq!(fake.last_header("absent"), None);
}

#[tokio::test]
async fn unknown_paths_are_recorded_404s_in_the_callers_shape() {
    let fake = FakeProvider::start().await;
    let reply = post(fake.addr(), "/v1/files", json!({})).await;
    assert_eq!(reply.status, 404);
    let error = &reply.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert!(error["message"].as_str().unwrap().contains("/v1/files"));

    let reply = get(
        fake.addr(),
        "/v1/nope",
        &[("anthropic-version", "2023-06-01")],
    )
    .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["type"], "not_found_error");

    let wrong_method = get(fake.addr(), "/v1/messages", &[]).await;
    assert_eq!(wrong_method.status, 404);
    let paths: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/v1/files", "/v1/nope", "/v1/messages"]);
}

#[tokio::test]
async fn wait_for_requests_waits_and_times_out() {
    let fake = FakeProvider::start().await;
    let addr = fake.addr();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        post(addr, "/v1/responses", responses_body(false)).await;
    });
    let got = fake
        .wait_for_requests(1, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(got[0].path, "/v1/responses");
    let err = fake
        .wait_for_requests(2, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert_eq!(err.got.len(), 1);
    assert!(err.to_string().contains("expected 2"));
}

#[tokio::test]
async fn clear_and_recording_switch() {
    let fake = FakeProvider::start().await;
    post(fake.addr(), "/v1/messages", anthropic_body(false)).await;
    fake.clear_requests();
    assert!(fake.requests().is_empty());
    fake.set_recording(false);
    post(fake.addr(), "/v1/messages", anthropic_body(false)).await;
    assert!(fake.requests().is_empty());
    assert_eq!(fake.request_count(), 1, "still counted");
}

#[tokio::test]
async fn h2c_is_served() {
    let fake = FakeProvider::start().await;
    let reply = send_h2(
        fake.addr(),
        "/v1/chat/completions",
        chat_body(true).to_string(),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.sse().last().unwrap().1, "[DONE]");
    assert_eq!(fake.last_request().unwrap().version, Version::HTTP_2);
}

#[tokio::test]
async fn instances_are_independent_and_shutdown_closes_the_port() {
    let a = FakeProvider::start().await;
    let b = FakeProvider::start().await;
    assert_ne!(a.addr(), b.addr());
    assert_eq!(a.base_url(), format!("http://{}", a.addr()));
    assert_eq!(a.openai_base_url(), format!("http://{}/v1", a.addr()));
    post(a.addr(), "/v1/messages", anthropic_body(false)).await;
    assert_eq!(b.request_count(), 0);
    let addr = a.addr();
    a.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    drop(b);
}

#[tokio::test]
async fn control_api_scripts_behaviour_without_being_recorded() {
    let fake = FakeProvider::start().await;
    let addr = fake.addr();
    let ok = post(addr, "/_fake/push", json!({"type": "error", "status": 503})).await;
    assert_eq!(ok.status, 200);
    let bad = post(addr, "/_fake/push", json!({"type": "explode"})).await;
    assert_eq!(bad.status, 400);
    post(
        addr,
        "/_fake/default",
        json!({"type": "text", "text": "via control"}),
    )
    .await;
    assert_eq!(
        post(addr, "/v1/chat/completions", chat_body(false))
            .await
            .status,
        503
    );
    let c = post(addr, "/v1/chat/completions", chat_body(false))
        .await
        .json();
    assert_eq!(c["choices"][0]["message"]["content"], "via control");
    let log = get(addr, "/_fake/requests", &[]).await.json();
    assert_eq!(log.as_array().unwrap().len(), 2);
    assert_eq!(log[0]["path"], "/v1/chat/completions");
    assert_eq!(fake.requests().len(), 2, "control calls are not recorded");
    post(addr, "/_fake/reset", json!({})).await;
    assert!(fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_prints_its_address_and_serves() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-provider"))
        .args(["--listen", "127.0.0.1:0", "--text", "from the binary"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    });
    let line = within(Duration::from_secs(10), line).await.unwrap();
    let url = line
        .trim()
        .strip_prefix("fake-provider listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let addr: std::net::SocketAddr = url.parse().unwrap();
    let m = post(addr, "/v1/messages", anthropic_body(false))
        .await
        .json();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(m["content"][0]["text"], "from the binary");
}
