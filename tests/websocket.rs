//! The OpenAI Responses WebSocket through interception, driven by a Rust
//! WebSocket client (tokio-tungstenite, as Codex uses): relayed message by
//! message to the host's provider, with the provider key injected, one audit
//! line per session, and chained through a corporate proxy (squid).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::squid::Squid;
use common::*;
use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::ServerName;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

const CLIENT_KEY: &str = "sk-client-ws-key-00991";
const PROVIDER_KEY: &str = "sk-provider-ws-key-31337";

type Ws = WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// Opens `wss://api.openai.com/v1/responses` through switchyard.
async fn open(sy: &Switchyard) -> Result<Ws, WsError> {
    let tcp = client::connect_tunnel(sy.addr, "api.openai.com", 443).await;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client::tls_config(
        &sy.ca_pem(),
        &[b"http/1.1"],
    )))
    .connect(ServerName::try_from("api.openai.com").unwrap(), tcp)
    .await
    .expect("TLS through switchyard");
    let mut request = "wss://api.openai.com/v1/responses"
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "authorization",
        format!("Bearer {CLIENT_KEY}").parse().unwrap(),
    );
    headers.insert(
        "openai-beta",
        "responses_websockets=2026-02-06".parse().unwrap(),
    );
    headers.insert("user-agent", "ws-test/1.0".parse().unwrap());
    // Offered, and must not be negotiated: switchyard relays plain messages.
    headers.insert(
        "sec-websocket-extensions",
        "permessage-deflate; client_max_window_bits"
            .parse()
            .unwrap(),
    );
    let (ws, response) = tokio_tungstenite::client_async(request, tls).await?;
    assert!(
        response.headers().get("sec-websocket-extensions").is_none(),
        "{:?}",
        response.headers()
    );
    Ok(ws)
}

/// Sends one `response.create` and collects the events up to the terminal one.
async fn turn(ws: &mut Ws, model: &str, text: &str) -> Vec<Value> {
    let create = json!({
        "type": "response.create", "model": model, "store": false,
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}],
    });
    ws.send(Message::text(create.to_string()))
        .await
        .expect("send");
    let mut events = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("an event within 20 s")
            .expect("the socket stays open")
            .expect("a message");
        let Message::Text(text) = message else {
            panic!("unexpected message {message:?}")
        };
        let event: Value = serde_json::from_str(text.as_str()).expect("JSON event");
        let done = matches!(
            event["type"].as_str(),
            Some("response.completed" | "response.failed" | "response.incomplete" | "error")
        );
        events.push(event);
        if done {
            return events;
        }
    }
}

fn config(fake: &FakeProvider, extra: &str) -> String {
    providers_config(fake, extra).replace(
        "[providers.openai]\nkind = \"openai\"\n",
        &format!("[providers.openai]\nkind = \"openai\"\napi_key = \"{PROVIDER_KEY}\"\n"),
    )
}

fn text_of(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_websocket_is_relayed_with_the_provider_key_and_audited_once() {
    let fake = FakeProvider::start().await;
    let mut sy = Switchyard::start(&config(&fake, ""));
    fake.push_generation(Behavior::text("first answer here"));
    fake.push_generation(Behavior::tool_call("shell", json!({"cmd": ["ls"]})));
    let mut ws = open(&sy).await.expect("WebSocket through switchyard");
    let first = turn(&mut ws, "gpt-5-codex", "hi").await;
    assert_eq!(first[0]["type"], "response.created");
    assert_eq!(first.last().unwrap()["type"], "response.completed");
    assert_eq!(text_of(&first), "first answer here");
    let second = turn(&mut ws, "gpt-5-codex", "list files").await;
    assert!(
        second
            .iter()
            .any(|e| e["type"] == "response.function_call_arguments.done"),
        "{second:#?}"
    );
    ws.close(None).await.expect("close");
    // The close handshake completes: the stream ends.
    while let Some(Ok(_)) = ws.next().await {}

    let upgrade = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "GET" && r.path == "/v1/responses")
        .expect("the upgrade reached the provider");
    assert_eq!(
        upgrade.header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str()),
        "the configured key replaces the client's"
    );
    assert_eq!(
        upgrade.header("openai-beta"),
        Some("responses_websockets=2026-02-06")
    );
    assert_eq!(upgrade.header("user-agent"), Some("ws-test/1.0"));
    assert!(upgrade.header("sec-websocket-extensions").is_none());
    let creates: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "WS")
        .collect();
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[0].model(), Some("gpt-5-codex"));

    assert!(sy.terminate().success());
    let lines = sy.audit();
    assert_eq!(lines.len(), 1, "one line per session: {lines:#?}");
    let l = &lines[0];
    assert_eq!(l["kind"], "intercept");
    assert_eq!(l["host"], "api.openai.com");
    assert_eq!(l["method"], "GET");
    assert_eq!(l["path"], "/v1/responses");
    assert_eq!(l["protocol"], "openai_responses");
    assert_eq!(l["status"], 101);
    assert_eq!(l["stream"], true);
    assert_eq!(l["provider"], "openai");
    assert_eq!(l["model"], "gpt-5-codex");
    assert_eq!(l["ws_messages_in"], 2);
    assert_eq!(
        l["ws_messages_out"].as_u64().unwrap(),
        (first.len() + second.len()) as u64
    );
    assert!(l["request_bytes"].as_u64().unwrap() > 100);
    assert!(l["response_bytes"].as_u64().unwrap() > l["request_bytes"].as_u64().unwrap());
    // Two responses of 25 in / 12 out each.
    assert_eq!(l["usage"]["input_tokens"], 50, "{l}");
    assert_eq!(l["usage"]["output_tokens"], 24, "{l}");
    assert!(l["error"].is_null(), "{l}");
    assert_eq!(l["user_agent"], "ws-test/1.0");
    assert!(l["duration_ms"].is_u64() && l["ttfb_ms"].is_u64());
    assert_no_secrets(&sy, &[CLIENT_KEY, PROVIDER_KEY]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_upgrade_reaches_the_client_with_the_upstream_status() {
    let fake = FakeProvider::start().await;
    let sy = Switchyard::start(&config(&fake, ""));
    fake.refuse_websockets(Some(426));
    match open(&sy).await {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status(), 426);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            assert!(body.contains("refused"), "{body}");
        }
        Err(e) => panic!("expected the upstream's 426, got {e}"),
        Ok(_) => panic!("expected the upstream's 426, got a WebSocket"),
    }
    let lines = sy.wait_audit(1);
    assert_eq!(lines[0]["status"], 426);
    assert_eq!(lines[0]["provider"], "openai");
    assert!(
        lines[0]["error"].as_str().unwrap().contains("refused"),
        "{}",
        lines[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_provider_is_a_502_not_a_hang() {
    let fake = FakeProvider::start().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let cfg = config(&fake, "").replace(
        &fake.openai_base_url(),
        &format!("http://127.0.0.1:{dead_port}/v1"),
    );
    let sy = Switchyard::start(&cfg);
    match open(&sy).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 502),
        Err(e) => panic!("expected 502, got {e}"),
        Ok(_) => panic!("expected 502, got a WebSocket"),
    }
    let lines = sy.wait_audit(1);
    assert_eq!(lines[0]["status"], 502);
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_websocket_goes_through_the_corporate_proxy() {
    let fake = FakeProvider::start().await;
    let squid = Squid::start(Some(("corp", "squid-ws-pass-77")));
    let mut sy = Switchyard::start(&config(
        &fake,
        &format!(
            "[upstream_proxy]\nurl = \"http://corp:squid-ws-pass-77@{}\"\n",
            squid.addr
        ),
    ));
    let mut ws = open(&sy)
        .await
        .expect("WebSocket through switchyard and squid");
    let events = turn(&mut ws, "gpt-5-codex", "hi").await;
    assert_eq!(text_of(&events), fake_provider::DEFAULT_TEXT);
    ws.close(None).await.expect("close");
    while let Some(Ok(_)) = ws.next().await {}
    assert!(sy.terminate().success());
    squid.wait_for_log(&format!("CONNECT 127.0.0.1:{}", fake.addr().port()));
    let lines = sy.audit();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["status"], 101);
    assert_eq!(lines[0]["ws_messages_in"], 1);
    assert_no_secrets(&sy, &[CLIENT_KEY, PROVIDER_KEY, "squid-ws-pass-77"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_ends_idle_sessions_at_once_and_lets_a_streaming_one_finish() {
    let fake = FakeProvider::start().await;
    // A long drain deadline: an idle session holding the drain would show.
    let mut sy = Switchyard::start(&config(&fake, "[timeouts]\nshutdown_secs = 60\n"));
    let mut idle = open(&sy).await.expect("idle session");
    turn(&mut idle, "gpt-5-codex", "hi").await;
    let mut busy = open(&sy).await.expect("busy session");
    fake.push_generation(
        Behavior::text("one two three four five six").drip(Duration::from_millis(300)),
    );
    let create = json!({"type": "response.create", "model": "gpt-5-codex", "input": []});
    busy.send(Message::text(create.to_string()))
        .await
        .expect("send");
    // The stream has started when its first event arrives.
    let first = busy.next().await.expect("open").expect("message");
    assert!(first
        .to_text()
        .unwrap_or_default()
        .contains("response.created"));
    let started = std::time::Instant::now();
    signal(sy.pid(), "TERM");
    let mut types = Vec::new();
    while let Some(Ok(Message::Text(text))) = busy.next().await {
        let event: Value = serde_json::from_str(text.as_str()).unwrap();
        types.push(event["type"].as_str().unwrap_or_default().to_owned());
        if event["type"] == "response.completed" {
            break;
        }
    }
    assert_eq!(
        types.last().map(String::as_str),
        Some("response.completed"),
        "the streaming response finished during the drain: {types:?}"
    );
    assert!(sy.terminate_wait_only().success());
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "idle sessions must not hold the drain to its deadline ({:?})",
        started.elapsed()
    );
    let lines = sy.audit();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    for l in &lines {
        assert_eq!(l["status"], 101);
        assert!(l["error"].is_null(), "{l}");
    }
    // The idle client sees its connection end.
    let end = tokio::time::timeout(Duration::from_secs(10), idle.next()).await;
    assert!(
        matches!(end, Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_))))),
        "{end:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_leaving_mid_response_is_recorded_and_one_leaving_between_responses_is_not() {
    let fake = FakeProvider::start().await;
    let mut sy = Switchyard::start(&config(&fake, ""));
    // Leaves between responses, without a close frame (as Codex exits).
    let mut ws = open(&sy).await.expect("session");
    turn(&mut ws, "gpt-5-codex", "hi").await;
    drop(ws);
    sy.wait_audit(1);
    // Leaves while a response streams.
    let mut ws = open(&sy).await.expect("session");
    fake.push_generation(Behavior::text("a b c d e f g h").drip(Duration::from_millis(200)));
    let create = json!({"type": "response.create", "model": "gpt-5-codex", "input": []});
    ws.send(Message::text(create.to_string()))
        .await
        .expect("send");
    ws.next().await.expect("open").expect("first event");
    drop(ws);
    sy.wait_audit(2);
    assert!(sy.terminate().success());
    let lines = sy.audit();
    assert!(lines[0]["error"].is_null(), "{}", lines[0]);
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("mid-response"),
        "{}",
        lines[1]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_door_relays_the_responses_websocket_to_the_openai_provider() {
    let fake = FakeProvider::start().await;
    let mut sy = Switchyard::start(&config(&fake, ""));
    let tcp = tokio::net::TcpStream::connect(sy.addr)
        .await
        .expect("connect");
    let url = format!("ws://{}/v1/responses", sy.addr);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {CLIENT_KEY}").parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::client_async(request, tcp)
        .await
        .expect("WebSocket on the gateway door");
    let create = json!({"type": "response.create", "model": "gpt-5-codex", "input": []});
    ws.send(Message::text(create.to_string()))
        .await
        .expect("send");
    let mut last = Value::Null;
    while let Some(Ok(Message::Text(text))) = ws.next().await {
        last = serde_json::from_str(text.as_str()).unwrap();
        if last["type"] == "response.completed" {
            break;
        }
    }
    assert_eq!(last["type"], "response.completed");
    ws.close(None).await.expect("close");
    while let Some(Ok(_)) = ws.next().await {}
    let upgrade = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "GET")
        .expect("upgrade");
    assert_eq!(upgrade.path, "/v1/responses");
    assert_eq!(
        upgrade.header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );
    assert!(sy.terminate().success());
    let lines = sy.audit();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["kind"], "gateway");
    assert_eq!(lines[0]["provider"], "openai");
    assert_eq!(lines[0]["status"], 101);
    assert_no_secrets(&sy, &[CLIENT_KEY, PROVIDER_KEY]);
}
