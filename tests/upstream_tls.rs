//! Provider calls over TLS with switchyard's own client: h2 when the
//! provider offers it by ALPN, HTTP/1.1 with a Host header otherwise, and
//! one connection kept and reused across requests either way.

mod common;

use common::*;

/// A provider at `https://localhost:<port>`, trusted through the upstream
/// proxy's CA setting (the one way to add a root), reached directly because
/// `localhost` bypasses that proxy.
fn config(origin: &origin::Origin) -> String {
    config_with(origin, "")
}

/// [`config`] with more `[timeouts]`.
fn config_with(origin: &origin::Origin, timeouts: &str) -> String {
    format!(
        "[timeouts]\n{timeouts}\n[providers.openai]\nkind = \"openai\"\nbase_url = \"https://localhost:{}/v1\"\n\n\
         [upstream_proxy]\nurl = \"http://127.0.0.1:9\"\nca = \"{}\"\nno_proxy = [\"localhost\"]\n",
        origin.addr.port(),
        origin.cert_pem.display()
    )
}

/// Three chat calls through the gateway; the origin's answer headers.
fn three_calls(sy: &Switchyard) -> Vec<String> {
    let url = format!("http://{}/v1/chat/completions", sy.addr);
    (0..3)
        .map(|_| {
            let (code, out, err) = curl(&[
                "-sS",
                "-D",
                "-",
                &url,
                "-H",
                "content-type: application/json",
                "-d",
                r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#,
            ]);
            assert_eq!(code, 200, "{out} {err}\n{}", sy.log());
            assert!(out.ends_with(origin::GREETING), "{out}");
            out.to_ascii_lowercase()
        })
        .collect()
}

/// Three calls reach `origin` in `version`, for the provider's host and
/// path, all on one connection.
fn three_calls_on_one_connection(origin: &origin::Origin, version: &str) {
    let sy = Switchyard::start(&config(origin));
    let host = format!("x-origin-host: localhost:{}", origin.addr.port());
    for answer in three_calls(&sy) {
        assert!(
            answer.contains(&format!("x-origin-version: {version}")),
            "{answer}"
        );
        assert!(answer.contains(&host), "{answer}");
        assert!(
            answer.contains("x-origin-path: /v1/chat/completions"),
            "{answer}"
        );
    }
    assert_eq!(origin.connections(), 1, "{}", sy.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn h1_provider_gets_a_host_header_and_one_kept_connection() {
    let origin = origin::start().await;
    three_calls_on_one_connection(&origin, "http/1.1");
}

#[tokio::test(flavor = "multi_thread")]
async fn h2_provider_is_spoken_to_in_h2_on_one_connection() {
    let origin = origin::start_with_alpn(&[b"h2", b"http/1.1"]).await;
    three_calls_on_one_connection(&origin, "http/2.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_that_closed_its_kept_connection_is_dialled_again() {
    let origin = origin::start().await;
    let sy = Switchyard::start(&config(&origin));
    three_calls(&sy);
    origin.drop_connections();
    // Time for switchyard to read the close; a request racing it is the
    // keep-alive race every HTTP client has.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    three_calls(&sy);
    assert_eq!(origin.connections(), 2, "{}", sy.log());
}

/// Kept connections idle longer than `upstream_idle_secs` are closed even
/// when no request goes to their provider again, and the next request
/// dials anew.
async fn idle_connection_is_closed_and_dialled_again(origin: origin::Origin) {
    let sy = Switchyard::start(&config_with(&origin, "upstream_idle_secs = 1"));
    three_calls(&sy);
    assert_eq!(origin.open(), 1, "{}", sy.log());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while origin.open() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(origin.open(), 0, "still open after 10 s\n{}", sy.log());
    three_calls(&sy);
    assert_eq!(origin.connections(), 2, "{}", sy.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_h1_connection_is_closed_after_upstream_idle_secs() {
    idle_connection_is_closed_and_dialled_again(origin::start().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_h2_connection_is_closed_after_upstream_idle_secs() {
    let origin = origin::start_with_alpn(&[b"h2", b"http/1.1"]).await;
    idle_connection_is_closed_and_dialled_again(origin).await;
}
