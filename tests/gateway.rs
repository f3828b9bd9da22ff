//! The gateway: routes, credential pools, limits, cooldowns, fallback,
//! circuit breaking, bridge mode and chaining, against fake providers.

mod common;

use std::time::Duration;

use common::client::gateway;
use common::*;
use fake_provider::Usage;
use serde_json::{json, Value};

fn messages(model: &str) -> Value {
    json!({"model": model, "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]})
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

fn keys(fake: &FakeProvider, header: &str) -> Vec<String> {
    fake.requests()
        .iter()
        .filter_map(|r| r.header(header).map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_used_round_robin() {
    let fake = FakeProvider::start().await;
    let config = format!(
        "[providers.openai]\nkind = \"openai\"\nbase_url = \"{}\"\n\
         [[providers.openai.credentials]]\nname = \"one\"\napi_key_env = \"K1\"\n\
         [[providers.openai.credentials]]\nname = \"two\"\napi_key_env = \"K2\"\n\
         [[providers.openai.credentials]]\nname = \"three\"\napi_key_env = \"K3\"\n",
        fake.openai_base_url()
    );
    let sy = Switchyard::start_with(
        &config,
        &[
            ("K1", "sk-key-one-111"),
            ("K2", "sk-key-two-222"),
            ("K3", "sk-key-three-333"),
        ],
        &[],
    );
    for _ in 0..6 {
        let (status, _, body) =
            gateway(sy.addr, "/v1/chat/completions", &[], &chat("gpt-4o")).await;
        assert_eq!(status, 200, "{body}");
    }
    let used = keys(&fake, "authorization");
    let first: Vec<_> = used[..3].to_vec();
    assert_eq!(used[3..].to_vec(), first, "the order repeats: {used:?}");
    let mut distinct = first.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        3,
        "each credential once per round: {used:?}"
    );
    let names: Vec<String> = sy
        .wait_audit(6)
        .iter()
        .map(|l| l["credential"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names[..3], names[3..]);
    assert_no_secrets(
        &sy,
        &["sk-key-one-111", "sk-key-two-222", "sk-key-three-333"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rpm_window_is_enforced_with_a_protocol_shaped_503() {
    let fake = FakeProvider::start().await;
    let config = format!(
        "[providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{}\"\napi_key_env = \"K\"\nrpm = 2\n",
        fake.base_url()
    );
    let sy = Switchyard::start_with(&config, &[("K", "sk-ant-rpm-key")], &[]);
    for _ in 0..2 {
        let (status, _, _) =
            gateway(sy.addr, "/v1/messages", &[], &messages("claude-haiku-4-5")).await;
        assert_eq!(status, 200);
    }
    let (status, headers, body) =
        gateway(sy.addr, "/v1/messages", &[], &messages("claude-haiku-4-5")).await;
    assert_eq!(status, 503, "{body}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "overloaded_error");
    assert_eq!(
        fake.request_count(),
        2,
        "the third request never reached the provider"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tpm_window_counts_reported_usage() {
    let fake = FakeProvider::start().await;
    fake.set_default(Behavior::WithUsage(
        Usage {
            input: 400,
            output: 200,
            ..Usage::DEFAULT
        },
        Box::default(),
    ));
    let config = format!(
        "[providers.openai]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"K\"\ntpm = 500\n",
        fake.openai_base_url()
    );
    let sy = Switchyard::start_with(&config, &[("K", "sk-tpm-key")], &[]);
    // The estimate for this tiny request is far below 500 tokens; only the
    // reported usage (600) fills the window.
    let (status, _, _) = gateway(sy.addr, "/v1/chat/completions", &[], &chat("gpt-4o")).await;
    assert_eq!(status, 200);
    sy.wait_audit(1);
    let (status, _, body) = gateway(sy.addr, "/v1/chat/completions", &[], &chat("gpt-4o")).await;
    assert_eq!(status, 503, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rate-limited"),
        "{v}"
    );
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_cools_the_credential_down_for_retry_after() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::rate_limited(2));
    let config = format!(
        "[providers.openai]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"K\"\n",
        fake.openai_base_url()
    );
    let sy = Switchyard::start_with(&config, &[("K", "sk-cool-key")], &[]);
    let (status, _, _) = gateway(sy.addr, "/v1/chat/completions", &[], &chat("gpt-4o")).await;
    assert_eq!(
        status, 429,
        "with nothing to fail over to, the provider's 429 is the answer"
    );
    let (status, headers, _) = gateway(sy.addr, "/v1/chat/completions", &[], &chat("gpt-4o")).await;
    assert_eq!(status, 503, "cooling down");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(fake.request_count(), 1);
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let (status, _, _) = gateway(sy.addr, "/v1/chat/completions", &[], &chat("gpt-4o")).await;
    assert_eq!(status, 200, "usable again after retry-after");
}

#[tokio::test(flavor = "multi_thread")]
async fn fallback_only_after_primaries_are_exhausted_then_503() {
    let primary = FakeProvider::start().await;
    let backup = FakeProvider::start().await;
    let config = format!(
        "[providers.primary]\nkind = \"openai\"\nbase_url = \"{}\"\nrpm = 2\n\
         [providers.backup]\nkind = \"openai_chat\"\nbase_url = \"{}\"\nfallback = true\nrpm = 1\n\
         [[routes]]\nmodel = \"gpt-*\"\nprovider = \"primary\"\n",
        primary.openai_base_url(),
        backup.openai_base_url()
    );
    let sy = Switchyard::start(&config);
    for _ in 0..2 {
        assert_eq!(
            gateway(sy.addr, "/v1/chat/completions", &[], &chat("gpt-4o"))
                .await
                .0,
            200
        );
    }
    assert_eq!(
        backup.request_count(),
        0,
        "the fallback is idle while the primary is available"
    );
    assert_eq!(
        gateway(sy.addr, "/v1/chat/completions", &[], &chat("gpt-4o"))
            .await
            .0,
        200
    );
    assert_eq!(
        backup.request_count(),
        1,
        "the primary's rpm is full: the fallback serves"
    );
    let (status, _, body) = gateway(sy.addr, "/v1/chat/completions", &[], &chat("gpt-4o")).await;
    assert_eq!(status, 503, "everything exhausted: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["type"], "server_error");
    let lines = sy.wait_audit(4);
    assert_eq!(lines[2]["provider"], "backup");
    assert_eq!(lines[2]["route"], "gpt-*");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_primary_fails_over_before_anything_reaches_the_client() {
    let primary = FakeProvider::start().await;
    let secondary = FakeProvider::start().await;
    primary.push(Behavior::error(503));
    let config = format!(
        "[providers.a]\nkind = \"anthropic\"\nbase_url = \"{}\"\n\
         [providers.b]\nkind = \"anthropic\"\nbase_url = \"{}\"\n\
         [[routes]]\nmodel = \"claude-*\"\nproviders = [\"a\", \"b\"]\n",
        primary.base_url(),
        secondary.base_url()
    );
    let sy = Switchyard::start(&config);
    let client_headers = [("x-trace", "t-1"), ("anthropic-beta", "tools-2024")];
    let (status, _, body) = gateway(
        sy.addr,
        "/v1/messages",
        &client_headers,
        &messages("claude-opus-4-1"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((primary.request_count(), secondary.request_count()), (1, 1));
    // Each attempt carries the client's headers, the one failed over to too.
    for (name, value) in client_headers {
        assert_eq!(keys(&primary, name), [value], "{name} to the primary");
        assert_eq!(keys(&secondary, name), [value], "{name} after failover");
    }
    let line = &sy.wait_audit(1)[0];
    assert_eq!(line["provider"], "b");
    assert_eq!(line["failover"][0], "a/client: 503", "{line}");

    // A hanging primary is abandoned after request_secs and failed over too.
    primary.push(Behavior::Hang);
    let config_hang = format!("{config}[timeouts]\nrequest_secs = 1\n");
    let sy = Switchyard::start(&config_hang);
    let (status, _, _) = gateway(sy.addr, "/v1/messages", &[], &messages("claude-opus-4-1")).await;
    assert_eq!(status, 200);
    assert!(sy.wait_audit(1)[0]["failover"][0]
        .as_str()
        .unwrap()
        .contains("did not answer"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_circuit_breaker_opens_and_half_opens() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::error(500));
    fake.push(Behavior::error(500));
    let config = format!(
        "[providers.openai]\nkind = \"openai\"\nbase_url = \"{}\"\ncircuit_failures = 2\ncircuit_cooldown_secs = 2\n\
         [[providers.openai.credentials]]\nname = \"a\"\n[[providers.openai.credentials]]\nname = \"b\"\n",
        fake.openai_base_url()
    );
    let sy = Switchyard::start(&config);
    // Both credentials fail with 500: two breaker failures open the circuit.
    let (status, _, _) = gateway(sy.addr, "/v1/chat/completions", &[], &chat("gpt-4o")).await;
    assert_eq!(status, 500);
    assert_eq!(fake.request_count(), 2);
    let (status, _, body) = gateway(sy.addr, "/v1/chat/completions", &[], &chat("gpt-4o")).await;
    assert_eq!(status, 503, "open circuit: {body}");
    assert_eq!(
        fake.request_count(),
        2,
        "nothing reaches a provider whose circuit is open"
    );
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let (status, _, _) = gateway(sy.addr, "/v1/chat/completions", &[], &chat("gpt-4o")).await;
    assert_eq!(
        status, 200,
        "the half-open probe succeeds and closes the circuit"
    );
    assert_eq!(
        gateway(sy.addr, "/v1/chat/completions", &[], &chat("gpt-4o"))
            .await
            .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_model_rewrites_the_body_the_provider_sees() {
    let fake = FakeProvider::start().await;
    let config = providers_config(
        &fake,
        "[[routes]]\nprotocol = \"anthropic_messages\"\nmodel = \"claude-*\"\nprovider = \"anthropic\"\nupstream_model = \"claude-sonnet-4-5-20250929\"\n",
    );
    let sy = Switchyard::start(&config);
    let (status, _, _) = gateway(sy.addr, "/messages", &[], &messages("claude-latest")).await;
    assert_eq!(status, 200);
    let got = fake.last_request().unwrap();
    assert_eq!(
        got.path, "/v1/messages",
        "a path without /v1 is the same protocol"
    );
    assert_eq!(
        got.json.as_ref().unwrap()["model"],
        "claude-sonnet-4-5-20250929"
    );
    let line = &sy.wait_audit(1)[0];
    assert_eq!(line["model"], "claude-latest");
    assert_eq!(line["upstream_model"], "claude-sonnet-4-5-20250929");
    assert_eq!(line["route"], "claude-*");
    assert_eq!(line["kind"], "gateway");
}

#[tokio::test(flavor = "multi_thread")]
async fn models_lists_what_routes_reach() {
    let fake = FakeProvider::start().await;
    let config = providers_config(
        &fake,
        "[[routes]]\nmatch = \"exact\"\nmodel = \"team-default\"\nprovider = \"openai\"\nupstream_model = \"gpt-4o\"\n",
    );
    let sy = Switchyard::start(&config);
    let (code, body, _) = curl(&[&format!("http://{}/v1/models", sy.addr)]);
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gpt-4o", "team-default"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_section_and_request_id_reach_the_provider() {
    let fake = FakeProvider::start().await;
    let sy = Switchyard::start(&providers_config(
        &fake,
        "[headers]\n\"X-Environment\" = \"dev\"\n",
    ));
    gateway(
        sy.addr,
        "/v1/chat/completions",
        &[("x-request-id", "req-from-client")],
        &chat("gpt-4o"),
    )
    .await;
    let got = fake.last_request().unwrap();
    assert_eq!(got.header("x-environment"), Some("dev"));
    assert_eq!(got.header("x-request-id"), Some("req-from-client"));
    assert_eq!(sy.wait_audit(1)[0]["request_id"], "req-from-client");
}

fn bridge_config(fake: &FakeProvider, bridge_url: &str, mode: &str) -> String {
    providers_config(
        fake,
        &format!(
            "[bridge]\nurl = \"{bridge_url}\"\nmode = \"{mode}\"\ntoken_env = \"BRIDGE_TOKEN\"\n"
        ),
    )
}

fn closed_port_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread")]
async fn soft_bridge_goes_direct_and_strict_refuses_when_the_bridge_is_down() {
    let fake = FakeProvider::start().await;
    let body = messages("claude-haiku-4-5").to_string();
    let env = [("BRIDGE_TOKEN", "bridge-token-secret-1")];
    let soft = Switchyard::start_with(&bridge_config(&fake, &closed_port_url(), "soft"), &env, &[]);
    let args = |sy: &Switchyard| {
        vec![
            "-x".to_owned(),
            sy.proxy_url(),
            "--cacert".to_owned(),
            sy.ca_pem().display().to_string(),
            "https://api.anthropic.com/v1/messages".to_owned(),
            "-H".to_owned(),
            "content-type: application/json".to_owned(),
            "-d".to_owned(),
            body.clone(),
        ]
    };
    let a = args(&soft);
    let (code, out, _) = curl(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 200, "{out}");
    assert_eq!(fake.request_count(), 1, "soft: went direct");
    assert!(soft.wait_audit(1)[0]["failover"][0]
        .as_str()
        .unwrap()
        .starts_with("bridge:"));

    let strict = Switchyard::start_with(
        &bridge_config(&fake, &closed_port_url(), "strict"),
        &env,
        &[],
    );
    let a = args(&strict);
    let (code, out, _) = curl(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 502, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["type"], "error", "protocol-shaped: {v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("strict"));
    assert_eq!(fake.request_count(), 1, "strict: nothing went direct");
    assert_no_secrets(&soft, &["bridge-token-secret-1"]);
    assert_no_secrets(&strict, &["bridge-token-secret-1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn workstation_chained_to_a_bridge_switchyard() {
    let fake = FakeProvider::start().await;
    let central_config = format!(
        "[providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{}\"\napi_key_env = \"CENTRAL_KEY\"\n",
        fake.base_url()
    );
    let central = Switchyard::start_with(
        &central_config,
        &[("CENTRAL_KEY", "sk-ant-central-key-9")],
        &[],
    );
    let workstation_config = format!(
        "[bridge]\nurl = \"http://{}\"\nmode = \"strict\"\ntoken_env = \"BRIDGE_TOKEN\"\n",
        central.addr
    );
    let ws = Switchyard::start_with(
        &workstation_config,
        &[("BRIDGE_TOKEN", "bridge-token-secret-2")],
        &[],
    );
    let (code, out, err) = curl(&[
        "-x",
        &ws.proxy_url(),
        "--cacert",
        ws.ca_pem().to_str().unwrap(),
        "https://api.anthropic.com/v1/messages?beta=true",
        "-H",
        "content-type: application/json",
        "-H",
        "x-api-key: sk-ant-workstation-user-key",
        "-H",
        "anthropic-beta: interleaved-thinking-2025-05-14",
        "-d",
        &messages("claude-sonnet-4-5").to_string(),
    ]);
    assert_eq!(code, 200, "{out} {err}");
    let got = fake.last_request().unwrap();
    assert_eq!(got.path, "/v1/messages?beta=true");
    assert_eq!(
        got.header("x-api-key"),
        Some("sk-ant-central-key-9"),
        "the central bridge's key is used"
    );
    assert_eq!(
        got.header("authorization"),
        None,
        "the bridge token stops at the bridge"
    );
    assert_eq!(got.header("x-switchyard-host"), None);
    assert_eq!(
        got.header("anthropic-beta"),
        Some("interleaved-thinking-2025-05-14")
    );
    let ws_line = &ws.wait_audit(1)[0];
    assert_eq!(ws_line["provider"], "bridge");
    assert_eq!(ws_line["kind"], "intercept");
    let central_line = &central.wait_audit(1)[0];
    assert_eq!(central_line["kind"], "gateway");
    assert_eq!(central_line["host"], "api.anthropic.com");
    assert_eq!(central_line["provider"], "anthropic");
    for sy in [&ws, &central] {
        assert_no_secrets(
            sy,
            &[
                "bridge-token-secret-2",
                "sk-ant-central-key-9",
                "sk-ant-workstation-user-key",
            ],
        );
    }
}

fn streamed(model: &str) -> Value {
    json!({"model": model, "max_tokens": 32, "stream": true, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_that_fails_after_it_started_ends_with_the_protocol_error_event() {
    let fake = FakeProvider::start().await;
    fake.push(Behavior::ResetMidStream);
    let sy = Switchyard::start(&providers_config(&fake, ""));
    let (status, _, body) = gateway(sy.addr, "/v1/messages", &[], &streamed("claude-x")).await;
    assert_eq!(status, 200, "the stream had started");
    assert!(body.contains("event: content_block_delta"), "{body}");
    assert!(
        body.trim_end().ends_with("}") && body.contains("event: error"),
        "ends with an error event: {body}"
    );
    let line = &sy.wait_audit(1)[0];
    assert!(
        line["error"]
            .as_str()
            .unwrap_or_default()
            .contains("upstream"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_streams_and_stalled_tool_calls_time_out_with_an_error_event() {
    let fake = FakeProvider::start().await;
    let sy = Switchyard::start(&providers_config(
        &fake,
        "[timeouts]\nstream_idle_secs = 1\ntool_call_secs = 1\n",
    ));
    fake.push(Behavior::Drip {
        gap: Duration::from_millis(2500),
        then: Box::default(),
    });
    let (status, _, body) = gateway(
        sy.addr,
        "/v1/chat/completions",
        &[],
        &json!({"model": "gpt-4o", "stream": true, "messages": []}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.contains("data: {\"error\""),
        "an idle stream ends with Chat's error chunk: {body}"
    );
    assert!(!body.contains("[DONE]"));
    assert!(sy.wait_audit(1)[0]["error"]
        .as_str()
        .unwrap()
        .contains("idle"));

    // A tool call whose arguments stall: tool_call_secs applies once it began.
    let sy = Switchyard::start(&providers_config(
        &fake,
        "[timeouts]\nstream_idle_secs = 30\ntool_call_secs = 1\n",
    ));
    fake.push(Behavior::Drip {
        gap: Duration::from_millis(1600),
        then: Box::new(Behavior::tool_call("lookup", json!({"q": "x"}))),
    });
    let started = std::time::Instant::now();
    let (status, _, body) = gateway(sy.addr, "/v1/messages", &[], &streamed("claude-x")).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"type\":\"tool_use\""), "{body}");
    assert!(
        body.contains("event: error") && !body.contains("event: message_stop"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "cut by tool_call_secs, not stream_idle_secs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn single_provider_mode_sends_everything_to_one_provider_converted() {
    let chat = FakeProvider::start().await;
    let config = format!(
        "[providers.only]\nkind = \"openai_chat\"\nbase_url = \"{}/v1\"\n",
        chat.base_url()
    );
    let sy = Switchyard::start_with(&config, &[], &["--provider", "only"]);
    let (status, _, body) =
        gateway(sy.addr, "/v1/messages", &[], &messages("claude-anything")).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["type"], "message", "converted back to Messages: {v}");
    let got = chat.last_request().unwrap();
    assert_eq!(got.path, "/v1/chat/completions");
    assert_eq!(got.json.as_ref().unwrap()["model"], "claude-anything");
    let line = &sy.wait_audit(1)[0];
    assert_eq!(line["provider"], "only");
}

/// `[prices]`: a record's `cost_usd` is its usage at the price of the model
/// the provider was asked for (the route's `upstream_model`, not the
/// client's name), streamed or not; an unpriced model costs null.
#[tokio::test(flavor = "multi_thread")]
async fn records_carry_their_cost_at_the_configured_prices() {
    let fake = FakeProvider::start().await;
    fake.set_default(Behavior::WithUsage(
        Usage {
            input: 1_000,
            output: 2_000,
            cache_read: 10_000,
            cache_write: 100,
            ..Usage::DEFAULT
        },
        Box::default(),
    ));
    let config = providers_config(
        &fake,
        "[[routes]]\nprotocol = \"anthropic_messages\"\nmodel = \"team-*\"\nprovider = \"anthropic\"\n\
         upstream_model = \"claude-sonnet-4-5\"\n\n\
         [prices.\"claude-sonnet-*\"]\ninput = 3.0\noutput = 15.0\ncache_read = 0.3\n\n\
         [prices.\"team-default\"]\ninput = 1000.0\noutput = 1000.0\n",
    );
    let sy = Switchyard::start(&config);
    for body in [
        messages("team-default"),
        streamed("team-default"),
        messages("claude-haiku-4-5"),
    ] {
        let (status, _, answer) = gateway(sy.addr, "/v1/messages", &[], &body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let lines = sy.wait_audit(3);
    // 1k input × 3 + 2k output × 15 + 10k cache reads × 0.3 + 100 cache
    // writes × 3 (the input price) = 36,300 USD per million tokens.
    let costs: Vec<&Value> = lines.iter().map(|l| &l["cost_usd"]).collect();
    assert_eq!(
        costs,
        [&json!(0.0363), &json!(0.0363), &Value::Null],
        "{lines:?}"
    );
    assert_eq!(lines[1]["stream"], true);

    let logs = run(sy
        .command()
        .args(["logs", "--config", "switchyard.toml", "--last", "3"]));
    let rows: Vec<&str> = logs.stdout.lines().collect();
    assert!(rows[0].ends_with("COST"), "{}", logs.stdout);
    assert!(rows[1].ends_with("$0.0363"), "{}", logs.stdout);
    assert!(rows[3].ends_with(" -"), "{}", logs.stdout);
    // The summary prices by the model the provider was asked for, and flags
    // what it could not price.
    let summary = run(sy.command().args([
        "logs",
        "--config",
        "switchyard.toml",
        "--summary",
        "--by",
        "model,credential",
    ]));
    let rows: Vec<Vec<&str>> = summary
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let want: [&[&str]; 4] = [
        &[
            "MODEL",
            "CREDENTIAL",
            "CALLS",
            "ERRORS",
            "TOKENS",
            "IN",
            "TOKENS",
            "OUT",
            "COST",
        ],
        &[
            "claude-sonnet-4-5",
            "anthropic/client",
            "2",
            "0",
            "22200",
            "4000",
            "$0.0726",
        ],
        &[
            "claude-haiku-4-5",
            "anthropic/client",
            "1",
            "0",
            "11100",
            "2000",
            "-*",
        ],
        &["TOTAL", "3", "0", "33300", "6000", "$0.0726*"],
    ];
    assert_eq!(rows[..4], want, "{}", summary.stdout);
    let rows: Vec<&str> = summary.stdout.lines().collect();
    assert!(
        rows[4].starts_with("* 1 call(s) with tokens"),
        "{}",
        summary.stdout
    );
    let (_, metrics, _) = curl(&[&format!("http://{}/_switchyard/metrics", sy.addr)]);
    let counter =
        "switchyard_cost_usd_total{provider=\"anthropic\",model=\"claude-sonnet-4-5\"} 0.0726";
    assert!(metrics.contains(counter), "{metrics}");
    let check = run(sy.command().args(["check", "--config", "switchyard.toml"]));
    assert!(
        check
            .stdout
            .contains("prices: team-default, claude-sonnet-*"),
        "{}",
        check.stdout
    );
}

/// `[providers.<name>.prices]` prices that provider's calls before
/// `[prices]` does: one model, two providers, two prices, and the summary
/// tells them apart by credential.
#[tokio::test(flavor = "multi_thread")]
async fn a_providers_own_prices_come_before_the_shared_ones() {
    let fake = FakeProvider::start().await;
    fake.set_default(Behavior::WithUsage(
        Usage {
            input: 1_000,
            output: 2_000,
            ..Usage::DEFAULT
        },
        Box::default(),
    ));
    let config = providers_config(
        &fake,
        &format!(
            "[providers.reseller]\nkind = \"anthropic\"\nbase_url = \"{}\"\n\n\
             [providers.reseller.prices.\"claude-sonnet-*\"]\ninput = 6.0\noutput = 30.0\n\n\
             [prices.\"claude-sonnet-*\"]\ninput = 3.0\noutput = 15.0\n\n\
             [[routes]]\nprotocol = \"anthropic_messages\"\nmodel = \"resold\"\nprovider = \"reseller\"\n\
             upstream_model = \"claude-sonnet-4-5\"\n",
            fake.base_url()
        ),
    );
    let sy = Switchyard::start(&config);
    for model in ["claude-sonnet-4-5", "resold"] {
        let (status, _, answer) = gateway(sy.addr, "/v1/messages", &[], &messages(model)).await;
        assert_eq!(status, 200, "{answer}");
    }
    let lines = sy.wait_audit(2);
    let costs: Vec<(&Value, &Value)> = lines
        .iter()
        .map(|l| (&l["provider"], &l["cost_usd"]))
        .collect();
    // 1k input × 3 + 2k output × 15 = 33,000 USD per million tokens; the
    // reseller charges twice that.
    assert_eq!(
        costs,
        [
            (&json!("anthropic"), &json!(0.033)),
            (&json!("reseller"), &json!(0.066))
        ],
        "{lines:?}"
    );
    let check = run(sy.command().args(["check", "--config", "switchyard.toml"]));
    assert!(
        check.stdout.contains("prices: claude-sonnet-*")
            && check.stdout.contains("prices at reseller: claude-sonnet-*"),
        "{}",
        check.stdout
    );
    let summary = run(sy.command().args([
        "logs",
        "--config",
        "switchyard.toml",
        "--summary",
        "--json",
        "--by",
        "provider",
    ]));
    let summary: Value = serde_json::from_str(&summary.stdout).expect("one JSON object");
    assert_eq!(summary["groups"][0]["provider"], "reseller", "{summary}");
    assert_eq!(summary["groups"][0]["cost_usd"], 0.066, "{summary}");
    assert_eq!(summary["total"]["cost_usd"], 0.099, "{summary}");
}
