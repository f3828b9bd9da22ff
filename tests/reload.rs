//! Hot reload: the file watcher and SIGHUP swap routes, providers and keys at
//! once; in-flight requests finish on the old configuration; an invalid file
//! is rejected and the old configuration keeps serving.

mod common;

use std::time::{Duration, Instant};

use common::client::gateway;
use common::*;
use serde_json::json;

fn routed_to(fake: &FakeProvider, extra: &str) -> String {
    format!(
        "[providers.p]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"P_KEY\"\n[[routes]]\nmodel = \"team-*\"\nprovider = \"p\"\n{extra}",
        fake.openai_base_url()
    )
}

fn wait_for_log(sy: &Switchyard, needle: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while sy.log().matches(needle).count() < count {
        assert!(
            Instant::now() < deadline,
            "log never showed {needle:?} x{count}:\n{}",
            sy.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn chat() -> serde_json::Value {
    json!({"model": "team-default", "stream": true, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn file_changes_swap_the_config_and_in_flight_requests_finish_on_the_old_one() {
    let a = FakeProvider::start().await;
    let b = FakeProvider::start().await;
    a.push(Behavior::Drip {
        gap: Duration::from_millis(300),
        then: Box::default(),
    });
    let dir_env = [("P_KEY", "sk-reload-key-1")];
    let sy = Switchyard::start_with(&routed_to(&a, ""), &dir_env, &[]);
    let config_path = sy.dir.path().join("switchyard.toml");

    // A slow stream starts on provider A ...
    let addr = sy.addr;
    let in_flight =
        tokio::spawn(async move { gateway(addr, "/v1/chat/completions", &[], &chat()).await });
    a.wait_for_requests(1, Duration::from_secs(10))
        .await
        .unwrap();
    // ... the route moves to B while it runs.
    std::fs::write(&config_path, routed_to(&b, "")).unwrap();
    wait_for_log(&sy, "configuration reloaded", 1);
    let (status, _, body) = gateway(sy.addr, "/v1/chat/completions", &[], &chat()).await;
    assert_eq!(status, 200);
    assert!(body.contains("[DONE]"));
    assert_eq!(b.request_count(), 1, "new requests use the new config");
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("data: [DONE]"),
        "the in-flight stream finished on the old provider: {body}"
    );
    assert_eq!(a.request_count(), 1);

    // An invalid file is rejected; the previous config keeps serving.
    std::fs::write(&config_path, "[[routes]\nbroken").unwrap();
    wait_for_log(&sy, "configuration rejected", 1);
    let (status, _, _) = gateway(sy.addr, "/v1/chat/completions", &[], &chat()).await;
    assert_eq!(status, 200);
    assert_eq!(b.request_count(), 2);

    // Moving the audit file needs a restart: reported, and ignored.
    std::fs::write(
        &config_path,
        routed_to(&b, "[audit]\npath = \"elsewhere.jsonl\"\n"),
    )
    .unwrap();
    wait_for_log(&sy, "needs a restart", 1);
    assert!(sy.log().contains("audit.path"), "{}", sy.log());
    assert_eq!(
        gateway(sy.addr, "/v1/chat/completions", &[], &chat())
            .await
            .0,
        200
    );
    assert!(!sy.dir.path().join("elsewhere.jsonl").exists());
    assert_eq!(
        sy.wait_audit(4).len(),
        4,
        "records keep going to the original audit file"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_keys_from_the_env_file() {
    let fake = FakeProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("keys.env");
    std::fs::write(&env_file, "P_KEY=sk-before-hup-0001\n").unwrap();
    let sy = Switchyard::start_with(
        &routed_to(&fake, ""),
        &[],
        &["--env-file", env_file.to_str().unwrap()],
    );
    gateway(sy.addr, "/v1/chat/completions", &[], &chat()).await;
    assert_eq!(
        fake.last_header("authorization").as_deref(),
        Some("Bearer sk-before-hup-0001")
    );
    std::fs::write(&env_file, "P_KEY=sk-after-hup-0002\n").unwrap();
    signal(sy.pid(), "HUP");
    wait_for_log(&sy, "configuration reloaded", 1);
    gateway(sy.addr, "/v1/chat/completions", &[], &chat()).await;
    assert_eq!(
        fake.last_header("authorization").as_deref(),
        Some("Bearer sk-after-hup-0002")
    );
    assert_no_secrets(&sy, &["sk-before-hup-0001", "sk-after-hup-0002"]);
}

/// `[prices]` belong to the configuration generation: a reload reprices
/// the requests that start after it.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_changes_the_prices_of_later_requests() {
    let fake = FakeProvider::start().await;
    let priced = |per_million: u32| {
        routed_to(
            &fake,
            &format!("[prices.\"team-*\"]\ninput = {per_million}\noutput = {per_million}\n"),
        )
    };
    let sy = Switchyard::start_with(&priced(1), &[("P_KEY", "sk-reload-price")], &[]);
    let body = json!({"model": "team-default", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, _) = gateway(sy.addr, "/v1/chat/completions", &[], &body).await;
    assert_eq!(status, 200);
    std::fs::write(sy.dir.path().join("switchyard.toml"), priced(2)).unwrap();
    wait_for_log(&sy, "configuration reloaded", 1);
    let (status, _, _) = gateway(sy.addr, "/v1/chat/completions", &[], &body).await;
    assert_eq!(status, 200);
    // The fake reports 25 input and 12 output tokens.
    let costs: Vec<_> = sy
        .wait_audit(2)
        .iter()
        .map(|l| l["cost_usd"].clone())
        .collect();
    assert_eq!(costs, [json!(0.000037), json!(0.000074)]);
}
