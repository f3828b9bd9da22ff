//! Access and input guards, driven with raw sockets and real clients: client
//! authentication, the shared-proxy tunnel policy, host consistency, and
//! resource limits. After each refusal the server keeps serving.

mod common;

use std::time::Duration;

use base64::Engine;
use common::client::{connect_tunnel, gateway, tls_config};
use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ALICE: &str = "alice-token-0123456789";

fn basic(user: &str, token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
    )
}

/// Sends raw bytes, returns what came back until close or timeout.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn healthy(sy: &Switchyard) {
    let answer = raw(
        sy.addr,
        b"GET /_switchyard/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "not serving any more: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_are_enforced_on_both_doors_and_named_in_the_audit() {
    let fake = FakeProvider::start().await;
    let config = providers_config(
        &fake,
        "[[clients]]\nname = \"alice\"\ntoken_env = \"ALICE_TOKEN\"\n[[clients]]\nname = \"bob\"\ntoken_sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n",
    );
    let sy = Switchyard::start_with(&config, &[("ALICE_TOKEN", ALICE)], &[]);
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});

    // Gateway door: no token → 401 in protocol shape; the right one passes and is removed.
    let (status, headers, out) = gateway(sy.addr, "/v1/chat/completions", &[], &body).await;
    assert_eq!(status, 401, "{out}");
    assert!(headers.contains_key("www-authenticate"));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");
    let bearer = format!("Bearer {ALICE}");
    let (status, _, out) = gateway(
        sy.addr,
        "/v1/chat/completions",
        &[("authorization", &bearer)],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        fake.last_header("authorization"),
        None,
        "the client's token never reaches the provider"
    );
    let (status, _, _) = gateway(
        sy.addr,
        "/v1/messages",
        &[("x-api-key", ALICE)],
        &json!({"model": "claude-x", "max_tokens": 5, "messages": []}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fake.last_header("x-api-key"), None);

    // Proxy door: CONNECT without credentials → 407 with Proxy-Authenticate.
    let answer = raw(
        sy.addr,
        b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 407"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("proxy-authenticate: basic"),
        "{answer}"
    );
    let wrong = format!(
        "CONNECT api.openai.com:443 HTTP/1.1\r\nHost: x\r\nProxy-Authorization: {}\r\n\r\n",
        basic("alice", "nope")
    );
    assert!(raw(sy.addr, wrong.as_bytes())
        .await
        .starts_with("HTTP/1.1 407"));
    // With them, curl goes through interception; the audit names the client.
    let proxy = format!("http://alice:{ALICE}@{}", sy.addr);
    let (code, out, err) = curl(&[
        "-x",
        &proxy,
        "--cacert",
        sy.ca_pem().to_str().unwrap(),
        "https://api.openai.com/v1/chat/completions",
        "-H",
        "content-type: application/json",
        "-d",
        &body.to_string(),
    ]);
    assert_eq!(code, 200, "{out} {err}");
    assert_eq!(fake.last_header("proxy-authorization"), None);
    let lines = sy.wait_audit(6);
    let named: Vec<_> = lines
        .iter()
        .filter(|l| l["client_name"] == "alice")
        .collect();
    assert_eq!(named.len(), 3, "{lines:#?}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["status"] == 401 || l["status"] == 407)
            .count(),
        3
    );
    assert_no_secrets(&sy, &[ALICE]);
    healthy(&sy).await;
}

#[test]
fn a_listener_beyond_loopback_needs_client_credentials() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("switchyard.toml"),
        "listen = \"0.0.0.0:0\"\n",
    )
    .unwrap();
    let mut cmd = std::process::Command::new(BIN);
    scrubbed(&mut cmd, dir.path());
    let out = run(cmd.current_dir(dir.path()).arg("check"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr.contains("`listen`") && out.stderr.contains("client credentials"),
        "{}",
        out.stderr
    );
    std::fs::write(
        dir.path().join("switchyard.toml"),
        "listen = \"0.0.0.0:0\"\nproxy_auth = \"ops:secret-pass\"\n",
    )
    .unwrap();
    let mut cmd = std::process::Command::new(BIN);
    scrubbed(&mut cmd, dir.path());
    let out = run(cmd.current_dir(dir.path()).arg("check"));
    assert!(out.status.success(), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_mode_limits_tunnel_ports_and_internal_destinations() {
    let origin = origin::start().await;
    let port = origin.addr.port();
    let sy = Switchyard::start(&format!(
        "[tunnel]\nrestrict = \"on\"\nallowed_ports = [443, {port}]\n"
    ));
    let connect = |target: String| format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    let answer = raw(sy.addr, connect("example.com:22".into()).as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 403"), "port 22: {answer}");
    for target in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "169.254.169.254:443".into(),
        "[::1]:443".into(),
        "10.0.0.1:443".into(),
    ] {
        let answer = raw(sy.addr, connect(target.clone()).as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{target}: {answer}");
    }
    // Plain http:// to an internal address is refused the same way.
    let answer = raw(
        sy.addr,
        format!(
            "GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let refused = sy.wait_audit(7);
    assert!(
        refused
            .iter()
            .all(|l| l["kind"] == "rejected" && l["status"] == 403),
        "{refused:#?}"
    );
    healthy(&sy).await;

    // allow_cidrs makes exceptions.
    let sy = Switchyard::start(&format!(
        "[tunnel]\nrestrict = \"on\"\nallowed_ports = [{port}]\nallow_cidrs = [\"127.0.0.0/8\"]\n"
    ));
    let (code, body, err) = curl(&[
        "-x",
        &sy.proxy_url(),
        "--cacert",
        origin.cert_pem.to_str().unwrap(),
        &format!("https://127.0.0.1:{port}/"),
    ]);
    assert_eq!(code, 200, "{err}");
    assert_eq!(body, origin::GREETING);
}

#[tokio::test(flavor = "multi_thread")]
async fn sni_and_host_must_match_the_connect_host() {
    let fake = FakeProvider::start().await;
    let sy = Switchyard::start(&providers_config(
        &fake,
        "[intercept]\nhosts = [\"api.anthropic.com\", \"api.openai.com\"]\n",
    ));
    // SNI names another host than the CONNECT.
    let tcp = connect_tunnel(sy.addr, "api.openai.com", 443).await;
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls_config(
        &sy.ca_pem(),
        &[b"http/1.1"],
    )));
    let mut config = tls_config(&sy.ca_pem(), &[b"http/1.1"]);
    config.enable_sni = true;
    let name = rustls_pki_types::ServerName::try_from("api.anthropic.com").unwrap();
    // The leaf is for the CONNECT host, so verification against the SNI
    // name fails; skip verification to reach the HTTP layer.
    let insecure = tokio_rustls::TlsConnector::from(std::sync::Arc::new(insecure_config()));
    let mut tls = insecure.connect(name, tcp).await.expect("handshake");
    tls.write_all(
        b"GET /v1/models HTTP/1.1\r\nHost: api.anthropic.com\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 421"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    drop(connector);

    // Correct SNI, but a Host header for another host.
    let tcp = connect_tunnel(sy.addr, "api.openai.com", 443).await;
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let name = rustls_pki_types::ServerName::try_from("api.openai.com").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    tls.write_all(b"GET /v1/models HTTP/1.1\r\nHost: internal.corp\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 421"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(fake.request_count(), 0);
    healthy(&sy).await;
}

fn insecure_config() -> rustls::ClientConfig {
    #[derive(Debug)]
    struct AcceptAll;
    impl rustls::client::danger::ServerCertVerifier for AcceptAll {
        fn verify_server_cert(
            &self,
            _: &rustls_pki_types::CertificateDer<'_>,
            _: &[rustls_pki_types::CertificateDer<'_>],
            _: &rustls_pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls_pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &rustls_pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls_pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::aws_lc_rs::default_provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(std::sync::Arc::new(AcceptAll))
    .with_no_client_auth()
}

#[tokio::test(flavor = "multi_thread")]
async fn size_count_time_and_connection_limits() {
    let fake = FakeProvider::start().await;
    let sy = Switchyard::start(&providers_config(
        &fake,
        "[limits]\nmax_request_body_bytes = 1000\nmax_header_count = 20\nheader_read_timeout_secs = 1\nmax_connections = 3\n",
    ));
    // Body over the limit: 413 in protocol shape.
    let big =
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x".repeat(2000)}]});
    let (status, _, out) = gateway(sy.addr, "/v1/chat/completions", &[], &big).await;
    assert_eq!(status, 413, "{out}");
    assert!(out.contains("max_request_body_bytes"));
    // Too many headers: 431.
    let mut req = String::from("GET /_switchyard/health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..40 {
        req.push_str(&format!("X-H{i}: v\r\n"));
    }
    req.push_str("\r\n");
    assert!(raw(sy.addr, req.as_bytes())
        .await
        .starts_with("HTTP/1.1 431"));
    // Malformed chunk size: the connection is closed, nothing forwarded.
    let answer = raw(sy.addr, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n").await;
    assert!(!answer.contains("200 OK"), "{answer}");
    assert_eq!(fake.request_count(), 0);
    // Slowloris: a head that never finishes is dropped after the timeout.
    let mut slow = TcpStream::connect(sy.addr).await.unwrap();
    slow.write_all(b"GET /_switchyard/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "a slow head must be cut off");
    // Connection limit: with 3 idle connections held open, a 4th is closed at once.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(sy.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = TcpStream::connect(sy.addr).await.unwrap();
    let _ = fourth
        .write_all(b"GET /_switchyard/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), fourth.read_to_end(&mut out)).await;
    assert!(out.is_empty(), "over the limit: closed without an answer");
    drop(held);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    healthy(&sy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_constrained_ca_leaf_outside_the_constraint_fails_in_curl() {
    let fake = FakeProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = providers_config(&fake, "[intercept]\nhosts = [\"api.anthropic.com\"]\n");
    std::fs::write(dir.path().join("switchyard.toml"), &config).unwrap();
    let mut cmd = std::process::Command::new(BIN);
    scrubbed(&mut cmd, dir.path());
    let init = run(cmd
        .current_dir(dir.path())
        .args(["ca", "init", "--constrained"]));
    assert!(init.status.success(), "{}", init.stderr);
    assert!(
        init.stdout.contains("constrained to: api.anthropic.com"),
        "{}",
        init.stdout
    );
    let state = dir.path().join("state/ca");
    assert!(state.join("ca-intermediate.pem").exists());

    // Now intercept a host outside the constraint too, without re-initialising.
    let widened = providers_config(
        &fake,
        "[intercept]\nhosts = [\"api.anthropic.com\", \"outside.example\"]\n",
    );
    let sy = Switchyard::start_with(
        &widened,
        &[
            ("SWITCHYARD_CA_CERT", state.join("ca.pem").to_str().unwrap()),
            (
                "SWITCHYARD_CA_KEY",
                state.join("ca-key.pem").to_str().unwrap(),
            ),
        ],
        &[],
    );
    let ca = state.join("ca.pem");
    let (code, out, err) = curl(&[
        "-x",
        &sy.proxy_url(),
        "--cacert",
        ca.to_str().unwrap(),
        "https://api.anthropic.com/v1/models",
        "-H",
        "anthropic-version: 2023-06-01",
    ]);
    assert_eq!(code, 200, "inside the constraint: {out} {err}");
    let (code, _, err) = curl(&[
        "-x",
        &sy.proxy_url(),
        "--cacert",
        ca.to_str().unwrap(),
        "https://outside.example/",
    ]);
    assert_eq!(
        code, 0,
        "outside the constraint the chain must not verify: {err}"
    );
    assert!(err.contains("certificate") || err.contains("SSL"), "{err}");
}
