//! Claude Code against a Chat Completions provider: `claude-*` is routed to
//! an `openai_chat` fake, so every Messages request, stream and tool call
//! is converted both ways, and Claude Code must not notice.

mod common;

use common::tools::{run_tool, tool_command, TOOL_DEADLINE};
use common::*;
use serde_json::{json, Value};

const CLIENT_KEY: &str = "sk-ant-claude-converted-dummy-5150";

fn config(anthropic: &FakeProvider, chat: &FakeProvider) -> String {
    format!(
        "[providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{}\"\n\
         [providers.chat]\nkind = \"openai_chat\"\nbase_url = \"{}/v1\"\n\
         [[routes]]\nprotocol = \"anthropic_messages\"\nmodel = \"claude-*\"\nprovider = \"chat\"",
        anthropic.base_url(),
        chat.base_url()
    )
}

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

fn chat_calls(chat: &FakeProvider) -> Vec<Value> {
    chat.requests()
        .into_iter()
        .filter(|r| r.path_only() == "/v1/chat/completions")
        .filter_map(|r| r.json)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_print_completes_against_a_chat_completions_provider() {
    let anthropic = FakeProvider::start().await;
    let chat = FakeProvider::start().await;
    let sy = Switchyard::start(&config(&anthropic, &chat));
    let home = tempfile::tempdir().expect("home");
    let out = claude(&sy, home.path(), "Say hello.");
    assert!(
        out.status.success(),
        "claude -p failed ({}):\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    assert!(
        out.stdout.contains(fake_provider::DEFAULT_TEXT),
        "{}",
        out.stdout
    );
    let calls = chat_calls(&chat);
    assert!(
        !calls.is_empty(),
        "no converted request reached the Chat provider"
    );
    for c in &calls {
        assert!(
            c["messages"].is_array() && c.get("max_tokens").is_none()
                || c["max_completion_tokens"].is_number(),
            "{c}"
        );
        if c["stream"] == true {
            assert_eq!(
                c["stream_options"]["include_usage"], true,
                "streamed usage is asked for: {c}"
            );
        }
    }
    let lines = sy.wait_audit(calls.len());
    let converted: Vec<_> = lines.iter().filter(|l| l["provider"] == "chat").collect();
    assert_eq!(converted.len(), calls.len(), "{lines:#?}");
    for l in converted {
        assert_eq!(l["protocol"], "anthropic_messages");
        assert_eq!(l["route"], "claude-*");
        assert!(l["usage"]["output_tokens"].as_u64().unwrap_or(0) > 0, "{l}");
    }
    assert_no_secrets(&sy, &[CLIENT_KEY]);
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_tool_turn_round_trips_through_chat_completions() {
    let anthropic = FakeProvider::start().await;
    let chat = FakeProvider::start().await;
    let sy = Switchyard::start(&config(&anthropic, &chat));
    let home = tempfile::tempdir().expect("home");
    let note = home.path().join("note.txt");
    std::fs::write(&note, "the secret word is heron-2231\n").expect("note");
    let has_tools = |b: &Value| b["tools"].as_array().is_some_and(|t| !t.is_empty());
    chat.push_generation_when(
        has_tools,
        Behavior::tool_call("Read", json!({"file_path": note.to_str().unwrap()})),
    );
    chat.push_generation_when(has_tools, Behavior::text("The note says heron."));
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
        out.stdout.contains("The note says heron."),
        "{}",
        out.stdout
    );
    let turns: Vec<Value> = chat_calls(&chat).into_iter().filter(has_tools).collect();
    assert!(
        turns.len() >= 2,
        "expected a tool round trip, got {} turns",
        turns.len()
    );
    // Claude Code's tools arrive as Chat function tools.
    let names: Vec<&str> = turns[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(names.contains(&"Read"), "{names:?}");
    // The second turn carries the assistant's tool call and a `tool` message
    // answering it with the file's content.
    let messages = turns[1]["messages"].as_array().unwrap();
    let call = messages
        .iter()
        .filter_map(|m| m["tool_calls"].as_array())
        .flatten()
        .find(|c| c["function"]["name"] == "Read")
        .unwrap_or_else(|| panic!("no Read tool call in {messages:#?}"));
    let result = messages
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap_or_else(|| panic!("no tool message in {messages:#?}"));
    assert_eq!(result["tool_call_id"], call["id"]);
    assert!(result.to_string().contains("heron-2231"), "{result}");
    assert_no_secrets(&sy, &[CLIENT_KEY]);
}
