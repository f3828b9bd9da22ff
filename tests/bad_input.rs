//! Malformed and hostile requests on the raw socket: each gets a clear
//! 400/431 and a closed connection, and the process keeps serving.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends raw bytes and returns everything the server answers until it closes.
async fn raw(sy: &Switchyard, bytes: &[u8]) -> String {
    let mut tcp = TcpStream::connect(sy.addr).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "the server must close the connection after a bad request"
    );
    String::from_utf8_lossy(&out).into_owned()
}

async fn still_serving(sy: &Switchyard) {
    let answer = raw(
        sy,
        b"GET /_switchyard/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "server stopped serving: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_request_line_gets_400() {
    let sy = Switchyard::start("");
    let answer = raw(&sy, b"THIS IS NOT HTTP\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    still_serving(&sy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn content_length_with_transfer_encoding_gets_400_and_close() {
    let fake = FakeProvider::start().await;
    let sy = Switchyard::start(&providers_config(&fake, ""));
    for order in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    ] {
        let req = format!("POST /v1/messages HTTP/1.1\r\nHost: x\r\n{order}\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
        let answer = raw(&sy, req.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{order:?}: {answer}");
        assert!(
            answer.contains("Content-Length and Transfer-Encoding"),
            "{answer}"
        );
        assert_eq!(
            answer.matches("HTTP/1.1").count(),
            1,
            "the smuggled request must not be served: {answer}"
        );
    }
    assert_eq!(fake.request_count(), 0, "nothing reached the provider");
    still_serving(&sy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn differing_content_lengths_and_te_on_http10_get_400() {
    let sy = Switchyard::start("");
    let answer = raw(
        &sy,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let answer = raw(
        &sy,
        b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert!(answer.contains(" 400 "), "{answer}");
    still_serving(&sy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_over_64_kib_get_431() {
    let sy = Switchyard::start("");
    let big = "a".repeat(70 * 1024);
    let req = format!("GET /_switchyard/health HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let answer = raw(&sy, req.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    still_serving(&sy).await;
}

/// The stream limit the server announces in its first HTTP/2 SETTINGS frame
/// (SETTINGS_MAX_CONCURRENT_STREAMS), read from the raw socket.
async fn h2_stream_limit(sy: &Switchyard) -> Option<u32> {
    let mut tcp = TcpStream::connect(sy.addr).await.unwrap();
    // The client preface, then an empty SETTINGS frame.
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(10), tcp.read_exact(&mut head))
        .await
        .expect("no SETTINGS frame from the server")
        .unwrap();
    assert_eq!(
        head[3], 0x4,
        "the server's first frame is SETTINGS: {head:?}"
    );
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0; len];
    tcp.read_exact(&mut payload).await.unwrap();
    payload
        .chunks_exact(6)
        .find(|s| u16::from_be_bytes([s[0], s[1]]) == 0x3)
        .map(|s| u32::from_be_bytes([s[2], s[3], s[4], s[5]]))
}

#[tokio::test(flavor = "multi_thread")]
async fn h2_clients_are_told_the_concurrent_stream_limit() {
    for (config, want) in [("", 128), ("[limits]\nmax_h2_streams = 3\n", 3)] {
        let sy = Switchyard::start(config);
        assert_eq!(h2_stream_limit(&sy).await, Some(want), "{config:?}");
        still_serving(&sy).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn api_errors_are_protocol_shaped() {
    let fake = FakeProvider::start().await;
    let sy = Switchyard::start(&providers_config(&fake, ""));
    let url = format!("http://{}/v1/messages", sy.addr);
    let (code, body, _) = curl(&[
        &url,
        "-H",
        "content-type: application/json",
        "-d",
        "{not json",
    ]);
    assert_eq!(code, 400);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));

    let url = format!("http://{}/v1/chat/completions", sy.addr);
    let (code, body, _) = curl(&[
        &url,
        "-H",
        "content-type: application/json",
        "-d",
        "{\"messages\":[]}",
    ]);
    assert_eq!(code, 400);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("model"),
        "{v}"
    );
    let lines = sy.wait_audit(2);
    assert!(
        lines
            .iter()
            .all(|l| l["kind"] == "rejected" && l["status"] == 400),
        "{lines:#?}"
    );
    assert_eq!(fake.request_count(), 0);
}
