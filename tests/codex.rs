//! Codex CLI, installed from npm and left untouched: `codex exec` with only
//! the environment `switchyard env` prints and a dummy key. Codex opens the
//! Responses WebSocket to api.openai.com first (switchyard relays it to the
//! `openai` provider) and falls back to HTTPS only when that fails. Its other
//! hosts (chatgpt.com, github.com …) are blind tunnels, which fail fast here
//! (no internet) without stopping it.

mod common;

use std::path::Path;

use common::squid::Squid;
use common::tools::{run_tool, tool_command, TOOL_DEADLINE};
use common::*;
use serde_json::Value;

const CLIENT_KEY: &str = "sk-codex-dummy-key-5512";

fn codex_exec(sy: &Switchyard, home: &Path, prompt: &str) -> Ran {
    let codex_home = home.join("codex-home");
    std::fs::create_dir_all(&codex_home).expect("CODEX_HOME");
    let work = home.join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    // `codex exec` authenticates with CODEX_API_KEY; OPENAI_API_KEY is set
    // too, as users have it, and must not matter.
    let mut cmd = tool_command(
        &peers::codex(),
        sy,
        home,
        &[
            ("CODEX_HOME", codex_home.to_str().unwrap()),
            ("CODEX_API_KEY", CLIENT_KEY),
            ("OPENAI_API_KEY", CLIENT_KEY),
        ],
    );
    cmd.args(["exec", "--skip-git-repo-check", prompt])
        .current_dir(&work);
    run_tool(&mut cmd, home, TOOL_DEADLINE)
}

fn assert_ok(out: &Ran, sy: &Switchyard) {
    assert!(
        out.status.success(),
        "codex exec failed ({}):\nstdout:\n{}\nstderr:\n{}\nswitchyard:\n{}",
        out.status,
        out.stdout,
        tools::tail(&out.stderr, 6000),
        tools::tail(&sy.log(), 6000)
    );
}

/// The WebSocket session lines of the audit file.
fn sessions(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l["host"] == "api.openai.com" && l["status"] == 101)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_exec_completes_over_the_responses_websocket() {
    let fake = FakeProvider::start().await;
    let mut sy = Switchyard::start(&providers_config(&fake, ""));
    let home = tempfile::tempdir().expect("home");
    fake.push_generation_when(
        |b| b["generate"] != false,
        Behavior::text("Codex got this over a WebSocket."),
    );
    let out = codex_exec(&sy, home.path(), "Say hello.");
    assert_ok(&out, &sy);
    assert!(
        out.stdout.contains("Codex got this over a WebSocket."),
        "{}",
        out.stdout
    );
    let seen = fake.requests();
    let upgrade = seen
        .iter()
        .find(|r| r.method == "GET" && r.path_only() == "/v1/responses")
        .expect("Codex opened the Responses WebSocket");
    assert!(
        upgrade
            .header("openai-beta")
            .unwrap_or_default()
            .starts_with("responses_websockets="),
        "{:?}",
        upgrade.header_pairs()
    );
    assert_eq!(
        upgrade.header("authorization"),
        Some(format!("Bearer {CLIENT_KEY}").as_str())
    );
    let creates: Vec<_> = seen.iter().filter(|r| r.method == "WS").collect();
    assert!(
        creates.iter().all(|r| r
            .json
            .as_ref()
            .is_some_and(|j| j["type"] == "response.create")),
        "{creates:#?}"
    );
    let model = creates
        .last()
        .and_then(|r| r.model())
        .expect("response.create names a model")
        .to_owned();
    assert!(
        !seen.iter().any(|r| r.method == "POST"),
        "no HTTPS fallback was needed: {:?}",
        seen.iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
    assert!(sy.terminate().success());
    let lines = sy.audit();
    let ws = sessions(&lines);
    assert!(!ws.is_empty(), "{lines:#?}");
    let l = ws.last().unwrap();
    assert_eq!(l["kind"], "intercept");
    assert_eq!(l["path"], "/v1/responses");
    assert_eq!(l["model"], model.as_str());
    assert!(l["ws_messages_in"].as_u64().unwrap() >= 1, "{l}");
    assert!(l["ws_messages_out"].as_u64().unwrap() >= 3, "{l}");
    assert_eq!(l["usage"]["output_tokens"], 12, "{l}");
    assert!(l["error"].is_null(), "a clean session end: {l}");
    assert!(
        l["user_agent"]
            .as_str()
            .unwrap_or_default()
            .starts_with("codex_exec/"),
        "{l}"
    );
    // Everything else Codex tried is on record too: tunnels to its other
    // hosts (refused here, no internet) and any passthrough on the API host.
    for line in &lines {
        let kind = line["kind"].as_str().unwrap_or_default();
        assert!(
            matches!(kind, "intercept" | "passthrough" | "tunnel"),
            "{line}"
        );
        if kind == "tunnel" {
            assert!(line["host"] != "api.openai.com", "{line}");
        }
    }
    assert_no_secrets(&sy, &[CLIENT_KEY]);
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_falls_back_to_https_when_the_upgrade_is_refused() {
    let fake = FakeProvider::start().await;
    fake.refuse_websockets(Some(426));
    let sy = Switchyard::start(&providers_config(&fake, ""));
    let home = tempfile::tempdir().expect("home");
    fake.push_generation(Behavior::text("Codex got this over HTTPS."));
    let out = codex_exec(&sy, home.path(), "Say hello.");
    assert_ok(&out, &sy);
    assert!(
        out.stdout.contains("Codex got this over HTTPS."),
        "{}",
        out.stdout
    );
    let posts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path_only() == "/v1/responses")
        .collect();
    assert!(!posts.is_empty(), "Codex fell back to POST /v1/responses");
    assert!(posts[0].is_stream());
    let lines = sy.wait_audit(2);
    assert!(
        lines
            .iter()
            .any(|l| l["status"] == 426 && l["path"] == "/v1/responses"),
        "the refused upgrades are audited: {lines:#?}"
    );
    assert!(lines.iter().any(|l| l["kind"] == "intercept"
        && l["protocol"] == "openai_responses"
        && l["status"] == 200));
    assert_no_secrets(&sy, &[CLIENT_KEY]);
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_works_through_the_corporate_proxy() {
    let fake = FakeProvider::start().await;
    let squid = Squid::start(None);
    let mut sy = Switchyard::start(&providers_config(
        &fake,
        &format!("[upstream_proxy]\nurl = \"http://{}\"\n", squid.addr),
    ));
    let home = tempfile::tempdir().expect("home");
    let out = codex_exec(&sy, home.path(), "Say hello.");
    assert_ok(&out, &sy);
    assert!(
        out.stdout.contains(fake_provider::DEFAULT_TEXT),
        "{}",
        out.stdout
    );
    assert!(
        fake.requests().iter().any(|r| r.method == "WS"),
        "the WebSocket path was used"
    );
    assert!(sy.terminate().success());
    squid.wait_for_log(&format!("CONNECT 127.0.0.1:{}", fake.addr().port()));
    assert!(!sessions(&sy.audit()).is_empty());
}
