//! Chaining through a corporate proxy (squid): provider calls and blind
//! tunnels alike must leave through it, with basic auth from the URL.

mod common;

use common::squid::Squid;
use common::*;
use serde_json::json;

const PROXY_PASSWORD: &str = "squid-pass-0042";

fn config(fake: &FakeProvider, proxy_url: &str) -> String {
    providers_config(fake, &format!("[upstream_proxy]\nurl = \"{proxy_url}\"\n"))
}

async fn exercise(sy: &Switchyard, fake: &FakeProvider, origin: &origin::Origin) {
    let body = json!({"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
    let (code, out, err) = curl(&[
        "-x",
        &sy.proxy_url(),
        "--cacert",
        sy.ca_pem().to_str().unwrap(),
        "https://api.anthropic.com/v1/messages",
        "-H",
        "content-type: application/json",
        "-d",
        &body.to_string(),
    ]);
    assert_eq!(
        code,
        200,
        "provider call through squid: {out} {err}\n{}",
        sy.log()
    );
    assert_eq!(fake.request_count(), 1);
    let url = format!("https://127.0.0.1:{}/", origin.addr.port());
    let (code, out, err) = curl(&[
        "-x",
        &sy.proxy_url(),
        "--cacert",
        origin.cert_pem.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(code, 200, "tunnel through squid: {err}\n{}", sy.log());
    assert_eq!(out, origin::GREETING);
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_calls_and_tunnels_go_through_squid() {
    let fake = FakeProvider::start().await;
    let origin = origin::start().await;
    let squid = Squid::start(None);
    let mut sy = Switchyard::start(&config(&fake, &format!("http://{}", squid.addr)));
    exercise(&sy, &fake, &origin).await;
    // squid logs a tunnel when it closes; stopping switchyard closes the
    // pooled provider connection.
    assert!(sy.terminate().success());
    squid.wait_for_log(&format!("CONNECT 127.0.0.1:{}", origin.addr.port()));
    squid.wait_for_log(&format!("CONNECT 127.0.0.1:{}", fake.addr().port()));
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_from_the_url_is_sent_and_never_logged() {
    let fake = FakeProvider::start().await;
    let origin = origin::start().await;
    let squid = Squid::start(Some(("corp-user", PROXY_PASSWORD)));
    let mut sy = Switchyard::start(&config(
        &fake,
        &format!("http://corp-user:{PROXY_PASSWORD}@{}", squid.addr),
    ));
    exercise(&sy, &fake, &origin).await;
    assert!(sy.terminate().success());
    squid.wait_for_log(&format!("CONNECT 127.0.0.1:{}", origin.addr.port()));
    let log = squid.wait_for_log(&format!("CONNECT 127.0.0.1:{}", fake.addr().port()));
    assert!(
        log.contains("corp-user"),
        "squid saw the authenticated user:\n{log}"
    );
    assert_no_secrets(&sy, &[PROXY_PASSWORD]);

    // A wrong password: squid refuses, switchyard answers 502 and says why.
    let bad = Switchyard::start(&config(
        &fake,
        &format!("http://corp-user:wrong@{}", squid.addr),
    ));
    let url = format!("https://127.0.0.1:{}/", origin.addr.port());
    let (code, _, _) = curl(&[
        "-x",
        &bad.proxy_url(),
        "--cacert",
        origin.cert_pem.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(code, 0, "CONNECT must fail");
    let line = &bad.wait_audit(1)[0];
    assert_eq!(line["status"], 502);
    assert!(line["error"].as_str().unwrap().contains("407"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_proxy_hosts_bypass_squid() {
    let fake = FakeProvider::start().await;
    let origin = origin::start().await;
    let squid = Squid::start(None);
    let sy = Switchyard::start_with(
        &config(&fake, &format!("http://{}", squid.addr)),
        &[("SWITCHYARD_NO_PROXY", "localhost,127.0.0.1")],
        &[],
    );
    exercise(&sy, &fake, &origin).await;
    std::thread::sleep(std::time::Duration::from_millis(500));
    let log = squid.access_log();
    assert!(
        !log.contains("CONNECT"),
        "no_proxy hosts must not touch squid:\n{log}"
    );
}
