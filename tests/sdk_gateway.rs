//! The official SDKs against the gateway door: happy paths, and the 429,
//! 503 and 400 paths, where the SDKs' own error classes must recognise the
//! error bodies switchyard produces or converts.

mod common;

use std::process::Command;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn sdk_error_classes_recognise_switchyard_errors() {
    let fake = FakeProvider::start().await;
    let limited = FakeProvider::start().await;
    let chat_only = FakeProvider::start().await;
    let config = format!(
        "[providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{fake}\"\n\
         [providers.openai]\nkind = \"openai\"\nbase_url = \"{fake}/v1\"\n\
         [providers.limited_a]\nkind = \"anthropic\"\nbase_url = \"{limited}\"\nrpm = 1\n\
         [providers.limited_o]\nkind = \"openai\"\nbase_url = \"{limited}/v1\"\nrpm = 1\n\
         [providers.chat]\nkind = \"openai_chat\"\nbase_url = \"{chat}/v1\"\n\
         [[routes]]\nmodel = \"limited-claude\"\nprovider = \"limited_a\"\n\
         [[routes]]\nmodel = \"limited-gpt\"\nprovider = \"limited_o\"\n\
         [providers.chat2]\nkind = \"openai_chat\"\nbase_url = \"{chat}/v1\"\n\
         [[routes]]\nmodel = \"conv-429\"\nprovider = \"chat\"\n\
         [[routes]]\nmodel = \"conv-*\"\nprovider = \"chat2\"\n",
        fake = fake.base_url(),
        limited = limited.base_url(),
        chat = chat_only.base_url(),
    );
    let sy = Switchyard::start(&config);
    chat_only.push(Behavior::rate_limited(1));
    // The gpt-429 request reaches the default openai provider (the fake):
    // after the two happy-path calls it is the third request there.
    fake.push(Behavior::default());
    fake.push(Behavior::default());
    fake.push(Behavior::rate_limited(1));
    let out = run(Command::new(peers::python())
        .arg(peers::py_script("gateway_sdk.py"))
        .arg(sy.proxy_url())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY"));
    assert!(
        out.status.success(),
        "SDK checks failed:\n{}\n{}\n{}",
        out.stdout,
        out.stderr,
        sy.log()
    );
    let results: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    for check in [
        "anthropic_happy",
        "openai_happy",
        "anthropic_503",
        "openai_503",
        "anthropic_429_converted",
        "openai_429",
        "anthropic_400",
        "openai_400",
    ] {
        assert_eq!(results[check], true, "{check}: {results}");
    }
}
