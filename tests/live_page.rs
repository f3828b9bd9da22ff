//! The live traffic page in a real browser: headless Chromium, driven
//! through chromedriver (tests/py/live_page.py), sees a request made
//! through switchyard appear as a row with its cost, filters it, opens its
//! bodies, and leaves a screenshot under target/.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_request_appears_live_in_headless_chromium() {
    let chromium = peers::require("chromium");
    let chromedriver = peers::require("chromedriver");
    let fake = FakeProvider::start().await;
    let sy = Switchyard::start(&providers_config(
        &fake,
        "[prices.\"claude-live-*\"]\ninput = 3.0\noutput = 15.0\n",
    ));
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-page.png");
    let _ = std::fs::remove_file(&shot);
    let profile = tempfile::tempdir().unwrap();
    let out = run(std::process::Command::new(peers::python())
        .arg(peers::py_script("live_page.py"))
        .arg(sy.addr.to_string())
        .arg(&chromium)
        .arg(&chromedriver)
        .arg(&shot)
        .arg(profile.path())
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .env_remove("https_proxy")
        .env_remove("http_proxy"));
    println!("{}", out.stdout);
    assert!(
        out.status.success(),
        "live page check failed:\n{}\n{}\nswitchyard log:\n{}",
        out.stdout,
        out.stderr,
        sy.log()
    );
    assert!(
        std::fs::metadata(&shot)
            .map(|m| m.len() > 10_000)
            .unwrap_or(false),
        "no screenshot at {}",
        shot.display()
    );
    println!("live page screenshot: {}", shot.display());
    // The page's own requests (page, feed, status polls) are admin traffic,
    // not audited; the audit has exactly the one API call.
    let lines = sy.wait_audit(1);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0]["cost_usd"].as_f64().is_some_and(|c| c > 0.0),
        "{lines:#?}"
    );
}
