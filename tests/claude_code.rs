//! Claude Code, installed from npm and left untouched: no base URL, only the
//! environment `switchyard env` prints and a dummy API key. Everything it
//! sends goes to api.anthropic.com, which switchyard intercepts and hands to
//! the configured `anthropic` provider (the fake provider here).

mod common;

use std::collections::BTreeSet;

use common::tools::{run_tool, tool_command, TOOL_DEADLINE};
use common::*;
use serde_json::{json, Value};

const CLIENT_KEY: &str = "sk-ant-claude-code-dummy-7781";

fn claude(sy: &Switchyard, home: &std::path::Path, prompt: &str) -> Ran {
    let mut cmd = tool_command(
        &peers::claude(),
        sy,
        home,
        &[("ANTHROPIC_API_KEY", CLIENT_KEY)],
    );
    cmd.args(["-p", prompt]).current_dir(home);
    run_tool(&mut cmd, home, TOOL_DEADLINE)
}

/// Every request the fake provider saw appears in the audit file, on the
/// intercepted host, with the same method and path.
fn assert_all_calls_audited(sy: &Switchyard, fake: &FakeProvider) -> Vec<Value> {
    let seen = fake.requests();
    let lines = sy.wait_audit(seen.len());
    let audited: BTreeSet<(String, String)> = lines
        .iter()
        .filter(|l| l["host"] == "api.anthropic.com")
        .map(|l| {
            (
                l["method"].as_str().unwrap_or_default().to_owned(),
                l["path"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for r in &seen {
        assert!(
            audited.contains(&(r.method.to_string(), r.path.clone())),
            "{} {} reached the provider but is not in the audit file: {lines:#?}",
            r.method,
            r.path
        );
    }
    for l in &lines {
        assert!(
            l["kind"] == "intercept" || l["kind"] == "passthrough" || l["kind"] == "tunnel",
            "unexpected audit line {l}"
        );
    }
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_print_completes_through_interception() {
    let fake = FakeProvider::start().await;
    let sy = Switchyard::start(&providers_config(&fake, ""));
    let home = tempfile::tempdir().expect("home");
    let out = claude(&sy, home.path(), "Say hello.");
    assert!(
        out.status.success(),
        "claude -p failed ({}):\n{}\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr,
        sy.log()
    );
    assert!(
        out.stdout.contains(fake_provider::DEFAULT_TEXT),
        "{}",
        out.stdout
    );
    let messages: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path_only() == "/v1/messages")
        .collect();
    assert!(
        !messages.is_empty(),
        "no /v1/messages call reached the provider"
    );
    for m in &messages {
        assert_eq!(m.header("x-api-key"), Some(CLIENT_KEY), "client key passes");
        assert!(
            m.header("user-agent")
                .unwrap_or_default()
                .contains("claude-cli/"),
            "{:?}",
            m.header("user-agent")
        );
    }
    let lines = assert_all_calls_audited(&sy, &fake);
    let api: Vec<_> = lines
        .iter()
        .filter(|l| l["kind"] == "intercept" && l["protocol"] == "anthropic_messages")
        .collect();
    assert_eq!(api.len(), messages.len(), "{lines:#?}");
    for l in &api {
        assert_eq!(l["status"], 200);
        assert_eq!(l["stream"], true);
        assert!(l["model"]
            .as_str()
            .unwrap_or_default()
            .starts_with("claude-"));
        assert_eq!(l["usage"]["output_tokens"], 12, "{l}");
        assert!(l["user_agent"]
            .as_str()
            .unwrap_or_default()
            .contains("claude-cli/"));
    }
    assert_no_secrets(&sy, &[CLIENT_KEY]);
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_runs_its_own_read_tool_and_returns_the_result() {
    let fake = FakeProvider::start().await;
    let sy = Switchyard::start(&providers_config(&fake, ""));
    let home = tempfile::tempdir().expect("home");
    let note = home.path().join("note.txt");
    std::fs::write(&note, "the secret word is pelican-4471\n").expect("note");
    // Only the agent's own requests carry tools; Claude Code also asks a
    // small model for a session title, which must not take these.
    let has_tools = |b: &Value| b["tools"].as_array().is_some_and(|t| !t.is_empty());
    fake.push_generation_when(
        has_tools,
        Behavior::tool_call("Read", json!({"file_path": note.to_str().unwrap()})),
    );
    fake.push_generation_when(has_tools, Behavior::text("The note says pelican."));
    let out = claude(&sy, home.path(), "What does note.txt say?");
    assert!(
        out.status.success(),
        "claude -p failed ({}):\n{}\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr,
        sy.log()
    );
    assert!(
        out.stdout.contains("The note says pelican."),
        "{}",
        out.stdout
    );
    let turns: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path_only() == "/v1/messages")
        .filter(|r| r.json.as_ref().is_some_and(has_tools))
        .collect();
    assert!(
        turns.len() >= 2,
        "expected a tool round trip, got {} turns",
        turns.len()
    );
    let tool_names: Vec<&str> = turns[0].json.as_ref().unwrap()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(tool_names.contains(&"Read"), "{tool_names:?}");
    // The second turn carries the tool_use we asked for and its result.
    let second = turns[1].json.as_ref().unwrap();
    let blocks: Vec<&Value> = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .collect();
    let tool_use = blocks
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap_or_else(|| panic!("no tool_use in the second turn: {second}"));
    assert_eq!(tool_use["name"], "Read");
    let result = blocks
        .iter()
        .find(|b| b["type"] == "tool_result")
        .unwrap_or_else(|| panic!("no tool_result in the second turn: {second}"));
    assert_eq!(result["tool_use_id"], tool_use["id"]);
    assert!(
        result.to_string().contains("pelican-4471"),
        "the tool result carries the file: {result}"
    );
    assert_all_calls_audited(&sy, &fake);
    assert_no_secrets(&sy, &[CLIENT_KEY]);
}
