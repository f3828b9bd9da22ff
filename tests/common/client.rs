//! A Rust HTTP client that reaches a host through switchyard the way an
//! `HTTPS_PROXY` client does: CONNECT, TLS trusting a given CA, then HTTP.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens CONNECT host:443 through the proxy and returns the raw stream.
pub async fn connect_tunnel(proxy: SocketAddr, host: &str, port: u16) -> TcpStream {
    let mut tcp = TcpStream::connect(proxy).await.expect("connect to proxy");
    let req = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.expect("send CONNECT");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tcp.read(&mut byte).await.expect("read CONNECT answer");
        assert!(
            n > 0,
            "proxy closed during CONNECT: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 200"), "CONNECT refused: {head}");
    tcp
}

pub fn tls_config(ca: &Path, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("read CA") {
        roots.add(cert.expect("CA cert")).expect("add CA");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// An HTTP/1.1 connection to `host` through the proxy, TLS-verified against `ca`.
pub async fn intercepted_h1(
    proxy: SocketAddr,
    host: &str,
    ca: &Path,
) -> http1::SendRequest<Full<Bytes>> {
    let tcp = connect_tunnel(proxy, host, 443).await;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(ca, &[b"http/1.1"])));
    let name = ServerName::try_from(host.to_owned()).expect("server name");
    let tls = connector
        .connect(name, tcp)
        .await
        .expect("TLS through switchyard");
    let (sender, conn) = http1::handshake(TokioIo::new(tls))
        .await
        .expect("h1 handshake");
    tokio::spawn(conn);
    sender
}

/// Body frames with their arrival time relative to the request.
pub struct Timed {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub frames: Vec<(Duration, Bytes)>,
}

impl Timed {
    pub fn body(&self) -> String {
        self.frames
            .iter()
            .map(|(_, b)| String::from_utf8_lossy(b))
            .collect()
    }
}

/// Sends a JSON POST and records when each body frame arrives.
pub async fn post_timed(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> Timed {
    let mut req = http::Request::post(path)
        .header("host", host)
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let started = Instant::now();
    let resp = sender.send_request(req).await.expect("send request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = resp.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("body frame");
        if let Ok(data) = frame.into_data() {
            frames.push((started.elapsed(), data));
        }
    }
    Timed {
        status,
        headers,
        frames,
    }
}

/// A plain-HTTP request to the gateway door (a client with a base URL).
pub async fn gateway(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> (u16, http::HeaderMap, String) {
    let tcp = TcpStream::connect(addr).await.expect("connect to switchyard");
    let (mut sender, conn) = http1::handshake(TokioIo::new(tcp)).await.expect("h1 handshake");
    tokio::spawn(conn);
    let mut req = http::Request::post(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body.to_string()))).expect("request");
    let resp = sender.send_request(req).await.expect("send request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}
