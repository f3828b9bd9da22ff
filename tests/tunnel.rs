//! Blind tunnels: switchyard must never see inside a CONNECT to a host it
//! does not intercept, and must audit each tunnel once, with byte counts.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn tunnels_are_untouched_and_audited_once_each() {
    let origin = origin::start().await;
    let sy = Switchyard::start("");
    let url = format!("https://127.0.0.1:{}/", origin.addr.port());

    // Trusting only switchyard's CA must fail: the origin's own certificate
    // comes through, proving nothing was re-signed.
    let (code, _, err) = curl(&[
        "-x",
        &sy.proxy_url(),
        "--cacert",
        sy.ca_pem().to_str().unwrap(),
        &url,
    ]);
    assert_eq!(code, 0, "a re-signed tunnel would have succeeded: {err}");
    assert!(err.contains("certificate") || err.contains("SSL"), "{err}");

    // Trusting the origin's certificate succeeds through the same proxy.
    let (code, body, err) = curl(&[
        "-x",
        &sy.proxy_url(),
        "--cacert",
        origin.cert_pem.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(code, 200, "{err}");
    assert_eq!(body, origin::GREETING);

    let lines = sy.wait_audit(2);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let lines_after = sy.audit();
    assert_eq!(
        lines.len(),
        lines_after.len(),
        "exactly one line per tunnel"
    );
    assert_eq!(lines_after.len(), 2);
    for line in &lines_after {
        assert_eq!(line["kind"], "tunnel");
        assert_eq!(line["host"], "127.0.0.1");
        assert_eq!(line["port"], origin.addr.port());
        assert!(line["request_bytes"].as_u64().unwrap() > 0, "{line}");
        assert!(line["response_bytes"].as_u64().unwrap() > 0, "{line}");
        assert_eq!(
            line["request_body"],
            serde_json::Value::Null,
            "a tunnel is never inspected"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_target_gets_502_naming_it_and_the_proxy_keeps_serving() {
    let sy = Switchyard::start("");
    // Bind then drop a listener: the port is (almost certainly) closed now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut tcp = tokio::net::TcpStream::connect(sy.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(
        format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tcp.read(&mut buf).await.unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(
        answer.contains(&format!("127.0.0.1:{port}")),
        "the 502 names the target: {answer}"
    );
    let line = &sy.wait_audit(1)[0];
    assert_eq!(line["kind"], "tunnel");
    assert_eq!(line["status"], 502);
    let (code, _, _) = curl(&[&format!("http://{}/_switchyard/health", sy.addr)]);
    assert_eq!(code, 200);
}
