//! Runs `py/sdk_check.py` — the official `anthropic` and `openai` Python SDKs
//! against every scenario — on a fresh fake provider.
//!
//! Needs `SWITCHYARD_PYTHON`: a python with both SDKs installed, e.g.
//! `python3 -m venv /tmp/sdkenv && /tmp/sdkenv/bin/pip install anthropic openai`
//! then `SWITCHYARD_PYTHON=/tmp/sdkenv/bin/python cargo test -p fake-provider`.
//! Without it this test fails on purpose: a skipped wire-format check looks
//! exactly like a passing one.

use std::process::{Command, Output};

use fake_provider::FakeProvider;

const SETUP: &str = "set SWITCHYARD_PYTHON to a python that has the official SDKs, e.g. \
     `python3 -m venv /tmp/sdkenv && /tmp/sdkenv/bin/pip install anthropic openai` and \
     `SWITCHYARD_PYTHON=/tmp/sdkenv/bin/python`";

fn python() -> String {
    match std::env::var("SWITCHYARD_PYTHON") {
        Ok(path) if !path.trim().is_empty() => path,
        _ => panic!("SWITCHYARD_PYTHON is not set; the SDK wire-format check cannot run: {SETUP}"),
    }
}

fn describe(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn run(python: String, args: Vec<String>) -> Output {
    let shown = format!("{python} {}", args.join(" "));
    tokio::task::spawn_blocking(move || Command::new(&python).args(&args).output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot run `{shown}`: {e}; {SETUP}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_parse_every_scenario() {
    let python = python();
    let import = run(
        python.clone(),
        vec!["-c".into(), "import anthropic, openai, pydantic".into()],
    )
    .await;
    assert!(
        import.status.success(),
        "{python} cannot import the SDKs: {SETUP}\n{}",
        describe(&import)
    );

    let fake = FakeProvider::start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/sdk_check.py");
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(180),
        run(python, vec![script.into(), fake.base_url()]),
    )
    .await
    .expect("sdk_check.py did not finish within 180 s");
    let report = describe(&output);
    assert!(output.status.success(), "SDK check failed\n{report}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("SDK checks passed"),
        "{report}"
    );
    assert!(
        fake.request_count() > 30,
        "the script reached the fake provider"
    );
}
