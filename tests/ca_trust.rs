//! `ca install --system` / `ca uninstall --system` for real, in this
//! machine's Debian store: curl through switchyard with no `--cacert` works
//! after install and fails after uninstall.
//!
//! This is the only test that touches the system store, and it puts it back
//! even when it fails (a guard removes the certificate and rebuilds the
//! bundle). No other test relies on the store lacking a switchyard CA: each
//! instance makes its own CA, and every other test names it explicitly.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

const INSTALLED: &str = "/usr/local/share/ca-certificates/switchyard-local-ca.crt";

/// Restores the system store however the test ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        if std::path::Path::new(INSTALLED).exists() {
            let _ = std::fs::remove_file(INSTALLED);
            let _ = Command::new(peers::require("update-ca-certificates"))
                .arg("--fresh")
                .output();
        }
    }
}

fn curl_without_cacert(sy: &Switchyard) -> (u16, String, String) {
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 8,
                      "messages": [{"role": "user", "content": "hi"}]})
    .to_string();
    curl(&[
        "-x",
        &sy.proxy_url(),
        "https://api.anthropic.com/v1/messages",
        "-H",
        "content-type: application/json",
        "-d",
        &body,
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn system_install_makes_curl_trust_switchyard_and_uninstall_undoes_it() {
    peers::require("update-ca-certificates");
    assert!(
        std::path::Path::new("/etc/debian_version").exists(),
        "this test exercises the Debian store (CI runs on Debian)"
    );
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc_geteuid() },
        0,
        "the system store needs root (CI and scripts/test.sh run as root)"
    );
    let _restore = Restore;
    let fake = FakeProvider::start().await;
    let sy = Switchyard::start(&providers_config(&fake, ""));

    let (code, _, err) = curl_without_cacert(&sy);
    assert_eq!(code, 0, "not trusted before install: {err}");

    let install =
        run(sy
            .command()
            .args(["ca", "install", "--system", "--config", "switchyard.toml"]));
    assert!(install.status.success(), "{}", install.stderr);
    assert!(
        install
            .stdout
            .contains("installed into Debian/Ubuntu system store"),
        "{}",
        install.stdout
    );
    let ours = std::fs::read_to_string(sy.ca_pem()).unwrap();
    assert_eq!(std::fs::read_to_string(INSTALLED).unwrap(), ours);

    let (code, body, err) = curl_without_cacert(&sy);
    assert_eq!(code, 200, "trusted after install: {err}\n{body}");
    assert!(body.contains("\"type\":\"message\""), "{body}");

    let uninstall =
        run(sy
            .command()
            .args(["ca", "uninstall", "--system", "--config", "switchyard.toml"]));
    assert!(uninstall.status.success(), "{}", uninstall.stderr);
    assert!(!std::path::Path::new(INSTALLED).exists());

    let (code, _, err) = curl_without_cacert(&sy);
    assert_eq!(code, 0, "not trusted after uninstall: {err}");
    assert!(
        err.contains("certificate") || err.contains("SSL"),
        "curl fails on the certificate: {err}"
    );
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
