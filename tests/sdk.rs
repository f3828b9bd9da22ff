//! The official Python SDKs through interception, configured by nothing but
//! the environment `switchyard env` prints.

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::*;

/// Parses `export KEY='value'` lines.
fn exports(sy: &Switchyard) -> HashMap<String, String> {
    let out = run(sy
        .command()
        .args(["env", "--config"])
        .arg(sy.dir.path().join("switchyard.toml")));
    assert!(out.status.success(), "{}", out.stderr);
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_sdk_streams_through_interception() {
    let fake = FakeProvider::start().await;
    let mut sy = Switchyard::start(&providers_config(&fake, ""));
    let mut env = exports(&sy);
    // `switchyard env` reads the configured listen address; the test server
    // runs on a random port, so point the proxy variables at it.
    for key in ["HTTPS_PROXY", "https_proxy"] {
        env.insert(key.into(), sy.proxy_url());
    }
    let client_key = "sk-ant-sdk-client-key-0077";
    let out = {
        let mut cmd = Command::new(peers::python());
        cmd.arg(peers::py_script("anthropic_stream.py"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", sy.dir.path())
            .env("TEST_CLIENT_KEY", client_key)
            .envs(&env);
        run(&mut cmd)
    };
    assert!(
        out.status.success(),
        "SDK failed:\n{}\n{}",
        out.stderr,
        sy.log()
    );
    let result: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert!(result["deltas"].as_u64().unwrap() >= 2, "{result}");
    assert!(!result["text"].as_str().unwrap().is_empty());
    assert_eq!(result["stop_reason"], "end_turn");
    assert!(result["input_tokens"].as_u64().unwrap() > 0);
    let got = fake.last_request().unwrap();
    // SDK versions differ in where they put the key; either way it must
    // arrive unchanged when switchyard has no key configured.
    let sent = got.header("x-api-key").map(str::to_owned).or_else(|| {
        got.header("authorization")
            .map(|v| v.trim_start_matches("Bearer ").to_owned())
    });
    assert_eq!(
        sent.as_deref(),
        Some(client_key),
        "{:?}",
        got.header_pairs()
    );
    assert!(
        got.header("user-agent")
            .unwrap_or_default()
            .contains("Anthropic/Python"),
        "{:?}",
        got.header("user-agent")
    );
    sy.terminate();
    let lines = sy.audit();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["kind"], "intercept");
    assert_eq!(lines[0]["stream"], true);
    assert_no_secrets(&sy, &[client_key]);
}
