//! Gemini CLI, installed from npm and left untouched: it calls
//! generativelanguage.googleapis.com, which a `proxy` provider listing that
//! host makes switchyard intercept. Its calls pass through to the provider
//! (the fake provider's Gemini endpoint) unchanged and are audited.

mod common;

use common::tools::{run_tool, tool_command, TOOL_DEADLINE};
use common::*;
use fake_provider::{Behavior, Usage};

const CLIENT_KEY: &str = "AIzaFakeGeminiClientKey0000000000000042";

/// Google's API host intercepted, its calls passed through to `fake`.
fn gemini_config(fake: &FakeProvider) -> String {
    providers_config(
        fake,
        &format!(
            "[providers.gemini]\nkind = \"proxy\"\nbase_url = \"{}\"\nhosts = [\"generativelanguage.googleapis.com\"]\n",
            fake.base_url()
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn gemini_prompt_passes_through_interception_and_is_audited() {
    let fake = FakeProvider::start().await;
    let config = gemini_config(&fake);
    let mut sy = Switchyard::start(&config);
    let home = tempfile::tempdir().expect("home");
    // Headless runs need the working directory trusted.
    let mut cmd = tool_command(
        &peers::gemini(),
        &sy,
        home.path(),
        &[
            ("GEMINI_API_KEY", CLIENT_KEY),
            ("GEMINI_CLI_TRUST_WORKSPACE", "true"),
        ],
    );
    cmd.args(["-p", "Say hello."]).current_dir(home.path());
    let out = run_tool(&mut cmd, home.path(), TOOL_DEADLINE);
    assert!(
        out.status.success(),
        "gemini -p failed ({}):\n{}\n{}\n{}",
        out.status,
        out.stdout,
        tools::tail(&out.stderr, 6000),
        tools::tail(&sy.log(), 4000)
    );
    assert!(
        out.stdout.contains(fake_provider::DEFAULT_TEXT),
        "{}",
        out.stdout
    );
    let seen = fake.requests();
    let streams: Vec<_> = seen
        .iter()
        .filter(|r| r.path.contains(":streamGenerateContent"))
        .collect();
    assert!(!streams.is_empty(), "{seen:#?}");
    for r in &seen {
        assert_eq!(
            r.header("x-goog-api-key"),
            Some(CLIENT_KEY),
            "client key passes"
        );
        assert!(r.path.starts_with("/v1beta/models/"), "{}", r.path);
    }
    assert!(sy.terminate().success());
    let lines = sy.audit();
    let api: Vec<_> = lines
        .iter()
        .filter(|l| l["host"] == "generativelanguage.googleapis.com")
        .collect();
    assert_eq!(api.len(), seen.len(), "one line per call: {lines:#?}");
    for l in &api {
        assert_eq!(l["kind"], "passthrough");
        assert_eq!(l["provider"], "gemini");
        assert_eq!(l["status"], 200);
        // The model is named in the path; usage in `usageMetadata`.
        let path = l["path"].as_str().unwrap_or_default();
        let model = l["model"].as_str().unwrap_or_default();
        assert!(
            !model.is_empty() && path.contains(&format!("/models/{model}:")),
            "{l}"
        );
        assert_eq!(l["usage"]["input_tokens"], 25, "{l}");
        assert_eq!(l["usage"]["output_tokens"], 12, "{l}");
    }
    assert!(api.iter().any(|l| l["stream"] == true));
    assert_no_secrets(&sy, &[CLIENT_KEY]);
}

/// Gemini's own counts, normalised like every protocol's: input without
/// the cached part, output with the thoughts. Whole answers and `alt=sse`
/// streams, through interception with curl.
#[tokio::test(flavor = "multi_thread")]
async fn gemini_usage_and_model_reach_the_audit_line() {
    let fake = FakeProvider::start().await;
    fake.set_default(Behavior::WithUsage(
        Usage {
            input: 40,
            output: 9,
            cache_read: 16,
            cache_write: 0,
            reasoning: 8,
        },
        Box::default(),
    ));
    let config = gemini_config(&fake);
    let mut sy = Switchyard::start(&config);
    let base = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash";
    let body = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;
    for method in [":generateContent", ":streamGenerateContent?alt=sse"] {
        let url = format!("{base}{method}");
        let (code, out, err) = curl(&[
            "-x",
            &sy.proxy_url(),
            "--cacert",
            sy.ca_pem().to_str().unwrap_or_default(),
            &url,
            "-H",
            "content-type: application/json",
            "-H",
            &format!("x-goog-api-key: {CLIENT_KEY}"),
            "-d",
            body,
        ]);
        assert_eq!(code, 200, "{url}: {out} {err}\n{}", sy.log());
        assert!(out.contains("usageMetadata"), "{out}");
    }
    assert!(sy.terminate().success());
    let lines = sy.audit();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    for (l, stream) in lines.iter().zip([false, true]) {
        assert_eq!(l["stream"], stream, "{l}");
        assert_eq!(l["model"], "gemini-2.5-flash", "{l}");
        let u = &l["usage"];
        assert_eq!(
            [
                &u["input_tokens"],
                &u["cache_read_tokens"],
                &u["output_tokens"],
                &u["reasoning_tokens"]
            ],
            [24, 16, 17, 8],
            "{l}"
        );
    }
    assert_no_secrets(&sy, &[CLIENT_KEY]);
}
