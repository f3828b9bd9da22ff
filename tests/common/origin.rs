//! A TLS origin server on loopback with its own self-signed certificate,
//! standing in for any host switchyard must tunnel blindly.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub const GREETING: &str = "hello from the origin";

pub struct Origin {
    pub addr: SocketAddr,
    /// The origin's certificate (PEM), the only thing that verifies it.
    pub cert_pem: PathBuf,
    connections: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    close: tokio::sync::watch::Sender<u64>,
    _dir: tempfile::TempDir,
}

impl Origin {
    /// TLS connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Connections open now: accepted and not yet closed by either side.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Closes every open connection, as a server does to idle ones.
    pub fn drop_connections(&self) {
        self.close.send_modify(|n| *n += 1);
    }
}

/// An origin that offers no ALPN protocol: clients speak HTTP/1.1.
pub async fn start() -> Origin {
    start_with_alpn(&[]).await
}

/// An origin offering `alpn` (e.g. `h2`). Every answer is [`GREETING`] with
/// `x-origin-version`, `x-origin-host` and `x-origin-path` headers saying
/// how the request arrived.
pub async fn start_with_alpn(alpn: &[&[u8]]) -> Origin {
    let key = rcgen::KeyPair::generate().expect("key");
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("params");
    let cert = params.self_signed(&key).expect("self-signed");
    let dir = tempfile::tempdir().expect("dir");
    let cert_pem = dir.path().join("origin.pem");
    std::fs::write(&cert_pem, cert.pem()).expect("write cert");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .expect("cert");
    let mut config = config;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let open = Arc::new(AtomicUsize::new(0));
    let open_now = open.clone();
    let (close, closing) = tokio::sync::watch::channel(0u64);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let still_open = Open::count(&open_now);
            let acceptor = acceptor.clone();
            let mut closing = closing.clone();
            closing.mark_unchanged();
            tokio::spawn(async move {
                let _still_open = still_open;
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let host = req
                        .headers()
                        .get(hyper::header::HOST)
                        .cloned()
                        .or_else(|| req.uri().authority().and_then(|a| a.as_str().parse().ok()))
                        .unwrap_or(hyper::header::HeaderValue::from_static("-"));
                    let version = format!("{:?}", req.version());
                    let path = req.uri().path().to_owned();
                    let response = hyper::Response::builder()
                        .header("x-origin-version", version)
                        .header("x-origin-host", host)
                        .header("x-origin-path", path)
                        .body(Full::new(Bytes::from(GREETING)))
                        .expect("response");
                    Ok::<_, std::convert::Infallible>(response)
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let serving = builder.serve_connection(TokioIo::new(tls), service);
                tokio::select! {
                    _ = serving => {}
                    _ = closing.changed() => {}
                }
            });
        }
    });
    Origin {
        addr,
        cert_pem,
        connections,
        open,
        close,
        _dir: dir,
    }
}

/// One open connection in [`Origin::open`]'s count, until dropped.
struct Open(Arc<AtomicUsize>);

impl Open {
    fn count(open: &Arc<AtomicUsize>) -> Open {
        open.fetch_add(1, Ordering::SeqCst);
        Open(open.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
