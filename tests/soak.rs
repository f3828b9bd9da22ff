//! Fault soak: a concurrent mix of streaming and non-streaming requests in
//! all three protocols (converted and not) against providers that answer
//! 429/5xx, reset connections, drip, truncate and send invalid JSON, while
//! clients abort mid-stream and a bridge goes down and comes back. Then:
//! every request got a protocol-shaped answer or a clean close, the audit
//! has exactly one line per request id, no key leaked, and file
//! descriptors and memory are back near their baseline.
//!
//! CI runs a short soak (`SOAK_REQUESTS`, default 240); `scripts/soak.sh`
//! runs 10,000.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use fake_provider::StreamFault;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

const PROVIDER_KEY: &str = "sk-soak-provider-key-7777";
const CLIENT_KEY: &str = "sk-soak-client-key-8888";

fn faults() -> Vec<Behavior> {
    vec![
        Behavior::default(),
        Behavior::default(),
        Behavior::default(),
        Behavior::tool_call("get_weather", json!({"city": "Paris"})),
        Behavior::error(500),
        Behavior::error(503),
        Behavior::rate_limited(0),
        Behavior::Reset,
        Behavior::ResetMidStream,
        Behavior::Truncated,
        Behavior::InvalidJson,
        Behavior::MidStreamError,
        Behavior::default().drip(Duration::from_millis(20)),
        Behavior::default().with_fault(StreamFault::Truncated),
    ]
}

/// A tiny deterministic generator: the mix is the same on every run.
fn pick(seed: &mut u64, n: usize) -> usize {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    (*seed % n as u64) as usize
}

struct Shot {
    path: &'static str,
    body: Value,
    stream: bool,
    abort: bool,
}

fn shot(seed: &mut u64) -> Shot {
    let stream = pick(seed, 2) == 0;
    let abort = stream && pick(seed, 8) == 0;
    let model = if pick(seed, 3) == 0 {
        "conv-model"
    } else {
        "native-model"
    };
    let (path, body) = match pick(seed, 3) {
        0 => (
            "/v1/messages",
            json!({"model": model, "max_tokens": 64, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}),
        ),
        1 => (
            "/v1/chat/completions",
            json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}),
        ),
        _ => (
            "/v1/responses",
            json!({"model": model, "stream": stream, "input": "hi"}),
        ),
    };
    Shot {
        path,
        body,
        stream,
        abort,
    }
}

/// Checks one answer; returns a problem description if it is not acceptable.
fn judge(path: &str, stream: bool, status: u16, body: &str) -> Option<String> {
    if status != 200 {
        let Ok(v) = serde_json::from_str::<Value>(body) else {
            return Some(format!("{status} with a body that is not JSON: {body}"));
        };
        let shaped = if path == "/v1/messages" {
            v["type"] == "error" && v["error"]["message"].is_string()
        } else {
            v["error"]["message"].is_string()
        };
        return (!shaped).then(|| format!("{status} not protocol-shaped: {body}"));
    }
    if !stream {
        return serde_json::from_str::<Value>(body)
            .err()
            .map(|e| format!("200 with invalid JSON ({e}): {body}"));
    }
    let terminal = match path {
        "/v1/messages" => body.contains("event: message_stop") || body.contains("event: error"),
        "/v1/chat/completions" => {
            body.contains("data: [DONE]") || body.contains("data: {\"error\"")
        }
        _ => {
            body.contains("event: response.completed")
                || body.contains("event: error")
                || body.contains("response.incomplete")
                || body.contains("response.failed")
        }
    };
    (!terminal).then(|| format!("stream without terminal or error event: {body}"))
}

fn fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kb(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Sends one request on a fresh connection; returns (status, body) or None
/// for a connection closed without an answer.
async fn send(addr: std::net::SocketAddr, s: &Shot, id: &str) -> Option<(u16, String)> {
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .ok()?;
    tokio::spawn(conn);
    let req = http::Request::post(s.path)
        .header("host", "gateway")
        .header("content-type", "application/json")
        .header("x-request-id", id)
        .header("x-api-key", CLIENT_KEY)
        .body(Full::new(Bytes::from(s.body.to_string())))
        .ok()?;
    let resp = tokio::time::timeout(Duration::from_secs(30), tx.send_request(req))
        .await
        .ok()?
        .ok()?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(30), body.frame())
        .await
        .ok()?
    {
        match frame {
            Ok(f) => {
                if let Some(d) = f.data_ref() {
                    out.extend_from_slice(d);
                    if s.abort {
                        return Some((0, String::new()));
                    }
                }
            }
            Err(_) => return None,
        }
    }
    Some((status, String::from_utf8_lossy(&out).into_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fault_soak_loses_nothing() {
    let total: usize = std::env::var("SOAK_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(240);
    let native = FakeProvider::start().await;
    let chat = FakeProvider::start().await;
    native.set_recording(false);
    chat.set_recording(false);
    let config = format!(
        "[providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{n}\"\napi_key_env = \"SOAK_KEY\"\n\
         [providers.openai]\nkind = \"openai\"\nbase_url = \"{n}/v1\"\napi_key_env = \"SOAK_KEY\"\n\
         [providers.chat]\nkind = \"openai_chat\"\nbase_url = \"{c}/v1\"\napi_key_env = \"SOAK_KEY\"\n\
         [[routes]]\nmodel = \"conv-*\"\nprovider = \"chat\"\n\
         [timeouts]\nrequest_secs = 10\nstream_idle_secs = 10\n[audit]\nmax_body_bytes = 256\n",
        n = native.base_url(),
        c = chat.base_url()
    );
    let sy = Switchyard::start_with(&config, &[("SOAK_KEY", PROVIDER_KEY)], &[]);
    let pid = sy.pid();
    // Warm up (pools, leaf cache, allocator) before taking the baseline.
    for _ in 0..10 {
        send(
            sy.addr,
            &Shot {
                path: "/v1/chat/completions",
                body: json!({"model": "native-model", "messages": []}),
                stream: false,
                abort: false,
            },
            "warmup",
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (fd_base, rss_base) = (fds(pid), rss_kb(pid));

    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut mix = Vec::new();
    for _ in 0..total * 2 {
        mix.push(faults()[pick(&mut seed, faults().len())].clone());
    }
    for b in &mix[..total] {
        native.push(b.clone());
    }
    for b in &mix[total..] {
        chat.push(b.clone());
    }
    let shots: Vec<Shot> = (0..total).map(|_| shot(&mut seed)).collect();
    let shots = Arc::new(shots);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (shots, next, addr) = (shots.clone(), next.clone(), sy.addr);
        workers.push(tokio::spawn(async move {
            let mut results = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(s) = shots.get(i) else { break };
                let id = format!("soak-{i}");
                results.push((i, send(addr, s, &id).await));
            }
            results
        }));
    }
    // Meanwhile, intercepted traffic from a workstation in soft bridge mode,
    // while its bridge goes down and comes back on the same address.
    let clean = FakeProvider::start().await;
    let central_config = format!(
        "[providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{}\"\n",
        clean.base_url()
    );
    let central = Switchyard::start(&central_config);
    let central_addr = central.addr.to_string();
    let ws_config = format!(
        "[providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{}\"\n[bridge]\nurl = \"http://{central_addr}\"\nmode = \"soft\"\n",
        clean.base_url()
    );
    let ws = Switchyard::start(&ws_config);
    let bridged = {
        let (ws_addr, ca) = (ws.addr, ws.ca_pem());
        tokio::spawn(async move {
            let mut central = Some(central);
            let mut stopped_dir = None;
            let mut results = Vec::new();
            for i in 0..24 {
                if i == 8 {
                    stopped_dir = central.take().map(|c| c.stop_keep_dir());
                }
                if i == 16 {
                    if let Some(dir) = stopped_dir.take() {
                        central = Some(Switchyard::start_in(
                            dir,
                            &central_config,
                            &[],
                            &central_addr,
                            &[],
                        ));
                    }
                }
                let mut client =
                    common::client::intercepted_h1(ws_addr, "api.anthropic.com", &ca).await;
                let body = json!({"model": "claude-x", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
                let id = format!("bridged-{i}");
                let t = common::client::post_timed(
                    &mut client,
                    "api.anthropic.com",
                    "/v1/messages",
                    &[("x-request-id", &id)],
                    &body,
                )
                .await;
                results.push((id, t.status));
            }
            (results, central)
        })
    };
    let mut outcomes = HashMap::new();
    for w in workers {
        for (i, r) in w.await.unwrap() {
            outcomes.insert(i, r);
        }
    }

    let mut problems = Vec::new();
    let (mut answered, mut closed, mut aborted) = (0, 0, 0);
    for (i, s) in shots.iter().enumerate() {
        match &outcomes[&i] {
            Some((0, _)) => aborted += 1,
            Some((status, body)) => {
                answered += 1;
                if let Some(p) = judge(s.path, s.stream, *status, body) {
                    problems.push(format!("soak-{i} {}: {p}", s.path));
                }
            }
            None => closed += 1,
        }
    }
    // Give aborted streams' records time to be written.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let ids: HashSet<String> = (0..total).map(|i| format!("soak-{i}")).collect();
    let (mut counts, mut lines);
    loop {
        lines = sy.audit();
        counts = HashMap::<String, usize>::new();
        for l in &lines {
            if let Some(id) = l["request_id"].as_str().filter(|id| ids.contains(*id)) {
                *counts.entry(id.to_owned()).or_default() += 1;
            }
        }
        if counts.len() == total || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (fd_end, rss_end) = (fds(pid), rss_kb(pid));
    println!(
        "soak: {total} requests: {answered} answered, {closed} closed cleanly, {aborted} aborted by the client; \
         audit: {} ids of {total}, duplicates {}; fds {fd_base} -> {fd_end}; RSS {rss_base} kB -> {rss_end} kB; dropped {}",
        counts.len(),
        counts.values().filter(|&&c| c > 1).count(),
        sy.log().matches("audit record dropped").count(),
    );
    assert!(
        problems.is_empty(),
        "{} bad answers:\n{}",
        problems.len(),
        problems.join("\n")
    );
    let (bridged, _central) = bridged.await.unwrap();
    assert!(
        bridged.iter().all(|(_, status)| *status == 200),
        "bridged traffic: {bridged:?}"
    );
    let ws_lines = ws.wait_audit(24);
    let via: Vec<&str> = ws_lines
        .iter()
        .map(|l| {
            if l["provider"] == "bridge" {
                "bridge"
            } else {
                "direct"
            }
        })
        .collect();
    println!("bridge: {}", via.join(" "));
    assert_eq!(
        ws_lines.len(),
        24,
        "one workstation audit line per bridged request"
    );
    assert!(
        via[..8].iter().all(|v| *v == "bridge")
            && via[8..16].iter().all(|v| *v == "direct")
            && via[16..].iter().all(|v| *v == "bridge"),
        "{via:?}"
    );
    let missing: Vec<_> = ids
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .take(10)
        .collect();
    assert!(missing.is_empty(), "no audit line for {missing:?}");
    assert!(
        counts.values().all(|&c| c == 1),
        "one audit line per request id"
    );
    assert_no_secrets(&sy, &[PROVIDER_KEY, CLIENT_KEY]);
    assert!(
        fd_end <= fd_base + 24,
        "file descriptors leaked: {fd_base} -> {fd_end}"
    );
    assert!(
        rss_end <= rss_base + 64 * 1024,
        "memory grew: {rss_base} kB -> {rss_end} kB"
    );
}
