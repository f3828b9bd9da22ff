//! Protocol-conversion conformance matrix: every conversion pair through the
//! real gateway to a fake provider of the upstream protocol, judged by the
//! official SDKs (tests/py/conformance.py), plus what only the audit trail
//! shows: protocol, provider, upstream model, usage and lossy fields.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

/// (pair, client protocol as audited, provider kind, extra provider lines).
const PAIRS: [(&str, &str, &str, &str); 6] = [
    ("messages_chat", "anthropic_messages", "openai_chat", ""),
    ("chat_messages", "openai_chat_completions", "anthropic", ""),
    ("responses_chat", "openai_responses", "openai_chat", ""),
    ("responses_messages", "openai_responses", "anthropic", ""),
    (
        "chat_responses",
        "openai_chat_completions",
        "openai",
        "protocols = [\"openai_responses\"]\n",
    ),
    ("messages_responses", "anthropic_messages", "openai", ""),
];

/// Scenarios the script must report, in its column order.
const SCENARIOS: [&str; 13] = [
    "text",
    "tool_call",
    "parallel_tools",
    "tool_result",
    "image_b64",
    "image_url",
    "stream_text",
    "stream_tool",
    "usage",
    "err_429",
    "err_400",
    "midstream_err",
    "lossy",
];

fn dashed(pair: &str) -> String {
    pair.replace('_', "-")
}

fn config(chat: &FakeProvider, messages: &FakeProvider, responses: &FakeProvider) -> String {
    let mut out = String::new();
    for (pair, _, kind, extra) in PAIRS {
        let base = match kind {
            "anthropic" => messages.base_url(),
            "openai_chat" => chat.openai_base_url(),
            _ => responses.openai_base_url(),
        };
        out.push_str(&format!(
            "[providers.p_{pair}]\nkind = \"{kind}\"\nbase_url = \"{base}\"\napi_key = \"sk-conf-{pair}-key\"\n{extra}\n"
        ));
    }
    for (pair, _, _, _) in PAIRS {
        let d = dashed(pair);
        out.push_str(&format!(
            "[[routes]]\nmatch = \"exact\"\nmodel = \"conf-{d}\"\nprovider = \"p_{pair}\"\nupstream_model = \"up-{d}\"\n\n"
        ));
    }
    out
}

fn upstream_of(pair: &str) -> &str {
    pair.split('_').nth(1).unwrap_or_default()
}

/// The usage the script has the fake report, normalised to Anthropic's
/// meaning (input excluding cache reads and writes): (input, output, cache
/// read, cache write). Anthropic upstream: input 100, read 30, write 5;
/// Chat: prompt 100 including 30 read (the fake reports no writes);
/// Responses: input 100 including 30 read and 5 written.
fn expected_usage(pair: &str) -> (u64, u64, u64, u64) {
    match upstream_of(pair) {
        "messages" => (100, 20, 30, 5),
        "chat" => (70, 20, 30, 0),
        _ => (65, 20, 30, 5),
    }
}

fn by_request_id<'a>(audit: &'a [Value], id: &str) -> &'a Value {
    let found: Vec<&Value> = audit
        .iter()
        .filter(|l| l["request_id"].as_str() == Some(id))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one audit line with request_id {id}: {found:#?}"
    );
    found[0]
}

fn lossy_of(line: &Value) -> Vec<&str> {
    line["lossy"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn conversion_matrix_judged_by_the_official_sdks() {
    let chat = FakeProvider::start().await;
    let messages = FakeProvider::start().await;
    let responses = FakeProvider::start().await;
    let mut sy = Switchyard::start(&config(&chat, &messages, &responses));

    let mut cmd = Command::new(peers::python());
    cmd.arg(peers::py_script("conformance.py"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", sy.dir.path())
        .env("PYTHONIOENCODING", "utf-8")
        .env("CONF_GATEWAY", sy.proxy_url())
        .env("CONF_FAKE_CHAT", chat.base_url())
        .env("CONF_FAKE_MESSAGES", messages.base_url())
        .env("CONF_FAKE_RESPONSES", responses.base_url());
    // The fakes serve on this runtime's workers while the script runs.
    let out = tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .expect("script task");

    let (table, summary) = match out.stdout.rsplit_once("CONFORMANCE_SUMMARY ") {
        Some((table, json)) => (table.to_owned(), json.trim().to_owned()),
        None => (out.stdout.clone(), String::new()),
    };
    println!("{table}");
    assert!(
        out.status.success(),
        "conformance matrix failed ({}):\n{table}\n{summary}\n--- stderr ---\n{}\n--- switchyard log (tail) ---\n{}",
        out.status,
        out.stderr,
        tail(&sy.log(), 60)
    );
    let summary: Value = serde_json::from_str(&summary)
        .unwrap_or_else(|e| panic!("no JSON summary ({e}):\n{}", out.stdout));
    assert_eq!(summary["cells"], PAIRS.len() * SCENARIOS.len(), "{summary}");
    assert_eq!(summary["passed"], summary["cells"], "{summary}");
    let scenarios: Vec<&str> = summary["scenarios"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(scenarios, SCENARIOS, "the script's columns changed");
    for (pair, _, _, _) in PAIRS {
        for s in SCENARIOS {
            assert_eq!(summary["results"][pair][s], "ok", "{pair}/{s}");
        }
    }

    sy.terminate();
    let audit = sy.audit();
    for (pair, protocol, _, _) in PAIRS {
        let d = dashed(pair);
        // Every line of this pair: right protocol, provider, model rewrite.
        let lines: Vec<&Value> = audit
            .iter()
            .filter(|l| {
                l["request_id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with(&format!("conf-{pair}-")))
            })
            .collect();
        assert!(lines.len() >= SCENARIOS.len(), "{pair}: {lines:#?}");
        for line in &lines {
            assert_eq!(line["kind"], "gateway", "{line}");
            assert_eq!(line["protocol"], protocol, "{line}");
            assert_eq!(line["provider"], format!("p_{pair}"), "{line}");
            assert_eq!(line["model"], format!("conf-{d}"), "{line}");
            assert_eq!(line["upstream_model"], format!("up-{d}"), "{line}");
            assert_eq!(line["route"], format!("conf-{d}"), "{line}");
        }

        let usage = &by_request_id(&audit, &format!("conf-{pair}-usage-1"))["usage"];
        let (input, output, cache_read, cache_write) = expected_usage(pair);
        let n = |k: &str| usage[k].as_u64().unwrap_or(u64::MAX);
        assert_eq!(n("output_tokens"), output, "{pair}: {usage}");
        assert_eq!(n("cache_read_tokens"), cache_read, "{pair}: {usage}");
        if pair.starts_with("messages_") {
            assert_eq!(n("input_tokens"), input, "{pair}: {usage}");
            assert_eq!(n("cache_write_tokens"), cache_write, "{pair}: {usage}");
        } else {
            // The audit reads OpenAI's cached_tokens but (so far) not its
            // cache_write_tokens, so writes may be counted as plain input.
            assert_eq!(
                n("input_tokens").saturating_add(n("cache_write_tokens")),
                input + cache_write,
                "{pair}: {usage}"
            );
        }
        let streamed = by_request_id(&audit, &format!("conf-{pair}-usage-2"));
        assert_eq!(streamed["stream"], true, "{streamed}");
        assert_eq!(streamed["usage"], *usage, "{pair}: stream vs JSON usage");

        let ok = by_request_id(&audit, &format!("conf-{pair}-text"));
        assert_eq!(ok["status"], 200, "{ok}");
        assert!(lossy_of(ok).is_empty(), "plain text is not lossy: {ok}");

        let limited = by_request_id(&audit, &format!("conf-{pair}-err_429"));
        assert_eq!(limited["status"], 429, "{limited}");
        let bad = by_request_id(&audit, &format!("conf-{pair}-err_400"));
        assert_eq!(bad["status"], 400, "{bad}");
        let mid = by_request_id(&audit, &format!("conf-{pair}-midstream_err"));
        assert_eq!(mid["status"], 200, "{mid}");
        assert_eq!(mid["stream"], true, "{mid}");

        let lossy = by_request_id(&audit, &format!("conf-{pair}-lossy"));
        assert!(!lossy_of(lossy).is_empty(), "{pair}: {lossy}");
    }
    // Thinking to Chat: the signature is dropped, and the audit says so.
    let thinking = by_request_id(&audit, "conf-chat_messages-lossy");
    assert!(
        lossy_of(thinking).contains(&"thinking.signature"),
        "{thinking}"
    );
    // Anthropic reports no reasoning tokens: converting them away is lossy.
    let reasoning = by_request_id(&audit, "conf-messages_chat-usage-1");
    assert!(
        lossy_of(reasoning).contains(&"usage.reasoning_tokens"),
        "{reasoning}"
    );
    // Nothing of the provider keys leaks.
    let keys: Vec<String> = PAIRS
        .iter()
        .map(|(p, _, _, _)| format!("sk-conf-{p}-key"))
        .collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    assert_no_secrets(&sy, &keys);
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
