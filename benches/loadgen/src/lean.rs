//! A lean TLS-terminating HTTP/1.1 reverse proxy, for comparison only: what
//! this stack (tokio, rustls) costs per request when nothing but the bytes
//! of the exchange is handled. One task per client connection with its own
//! kept-alive upstream connection; request and response heads parsed with
//! `httparse` just far enough to find where each message ends
//! (`content-length`, or chunked framing, forwarded as it arrives); no
//! routing, no header rewriting, no usage, no audit. Where `bench-relay`
//! is the floor of one more process on the path, this is the floor of a
//! TLS + HTTP/1 proxy written on switchyard's stack. [`serve_hyper`] is the
//! same relay on hyper's server, which switchyard's intercept path uses, and
//! hyper-util's legacy pooled client, which it used before its own pool
//! (`src/upstream/client.rs`): the two apart show what the HTTP
//! library costs, and switchyard apart from the second what its own
//! per-request work costs.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// Most headers a message may carry.
const MAX_HEADERS: usize = 64;

/// A TLS config serving a fresh `localhost` certificate (ECDSA P-256, as
/// switchyard's leaves), and the PEM CA that signed it, for the client.
pub fn mint_localhost() -> Result<(Arc<ServerConfig>, String), String> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let e = |e: rcgen::Error| e.to_string();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "bench-lean CA");
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(e)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(e)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(e)?;
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .and_then(|p| p.signed_by(&key, &issuer))
        .map_err(e)?;
    let key = rustls_pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
    let tls = crate::tls::server_config(vec![leaf.der().clone()], key.into())?;
    Ok((tls, ca_cert.pem()))
}

/// Serves every connection accepted on `listener`: TLS with `tls`, then
/// HTTP/1.1 exchanges relayed to `to`, until the process ends.
pub async fn serve(listener: TcpListener, to: SocketAddr, tls: Arc<ServerConfig>) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(acceptor, tcp, to).await {
                eprintln!("bench-lean: {e}");
            }
        });
    }
}

async fn connection(acceptor: TlsAcceptor, tcp: TcpStream, to: SocketAddr) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut client = acceptor.accept(tcp).await?;
    let mut upstream = TcpStream::connect(to).await?;
    upstream.set_nodelay(true)?;
    let mut from_client = BytesMut::with_capacity(16 * 1024);
    let mut from_upstream = BytesMut::with_capacity(16 * 1024);
    loop {
        if !relay_message(&mut client, &mut from_client, &mut upstream, Side::Request).await? {
            return Ok(());
        }
        if !relay_message(
            &mut upstream,
            &mut from_upstream,
            &mut client,
            Side::Response,
        )
        .await?
        {
            return Ok(());
        }
    }
}

/// The same relay written with hyper's HTTP/1.1 server and hyper-util's
/// legacy pooled client (switchyard's server; its client until it got its
/// own pool): the difference to [`serve`] is what the HTTP library costs.
pub async fn serve_hyper(listener: TcpListener, to: SocketAddr, tls: Arc<ServerConfig>) {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let acceptor = TlsAcceptor::from(tls);
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<_, hyper::body::Incoming> =
        Client::builder(TokioExecutor::new()).build(connector);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let (acceptor, client) = (acceptor.clone(), client.clone());
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |mut req| {
                let client = client.clone();
                async move {
                    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
                    *req.uri_mut() = format!("http://{to}{path}")
                        .parse()
                        .map_err(|e: hyper::http::uri::InvalidUri| e.to_string())?;
                    client.request(req).await.map_err(|e| e.to_string())
                }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                eprintln!("bench-lean: {e}");
            }
        });
    }
}

#[derive(Clone, Copy)]
enum Side {
    Request,
    Response,
}

/// How a message's body ends.
#[derive(Debug, PartialEq)]
enum Framing {
    Length(usize),
    Chunked,
}

/// Copies one message from `src` to `dst`; false when `src` ended cleanly
/// before a new message began.
async fn relay_message<R, W>(
    src: &mut R,
    buf: &mut BytesMut,
    dst: &mut W,
    side: Side,
) -> std::io::Result<bool>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (head_len, framing) = loop {
        if let Some(parsed) = parse_head(buf, side)? {
            break parsed;
        }
        if src.read_buf(buf).await? == 0 {
            return if buf.is_empty() {
                Ok(false)
            } else {
                Err(eof())
            };
        }
    };
    match framing {
        Framing::Length(n) => {
            while buf.len() < head_len + n {
                if src.read_buf(buf).await? == 0 {
                    return Err(eof());
                }
            }
            dst.write_all(&buf[..head_len + n]).await?;
            buf.advance(head_len + n);
        }
        Framing::Chunked => {
            // Each read goes on at once: streams are not held back.
            dst.write_all(&buf[..head_len]).await?;
            buf.advance(head_len);
            let mut chunks = Chunks::default();
            loop {
                let (used, done) = chunks.feed(buf)?;
                dst.write_all(&buf[..used]).await?;
                buf.advance(used);
                if done {
                    break;
                }
                dst.flush().await?;
                if src.read_buf(buf).await? == 0 {
                    return Err(eof());
                }
            }
        }
    }
    dst.flush().await?;
    Ok(true)
}

fn eof() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "connection ended mid-message",
    )
}

fn invalid(what: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.into())
}

/// The head's length and the body's framing, once the whole head is in.
fn parse_head(buf: &[u8], side: Side) -> std::io::Result<Option<(usize, Framing)>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let (status, headers) = match side {
        Side::Request => {
            let mut req = httparse::Request::new(&mut headers);
            let status = req.parse(buf).map_err(|e| invalid(e.to_string()))?;
            (status, req.headers)
        }
        Side::Response => {
            let mut resp = httparse::Response::new(&mut headers);
            let status = resp.parse(buf).map_err(|e| invalid(e.to_string()))?;
            (status, resp.headers)
        }
    };
    let httparse::Status::Complete(len) = status else {
        return Ok(None);
    };
    let mut framing = Framing::Length(0);
    for h in headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            framing = Framing::Chunked;
        } else if h.name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| invalid("bad content-length"))?;
            framing = Framing::Length(n);
        }
    }
    Ok(Some((len, framing)))
}

/// Where a chunked body's framing stands, across reads.
#[derive(Default)]
struct Chunks {
    /// Bytes of chunk data (and its CRLF) still to pass.
    left: usize,
    /// The zero-size chunk was seen: only the trailer's end remains.
    last: bool,
}

impl Chunks {
    /// Walks the framing in `buf`: how many bytes can go on now, and
    /// whether they end the body.
    fn feed(&mut self, buf: &[u8]) -> std::io::Result<(usize, bool)> {
        let mut at = 0;
        loop {
            if self.left > 0 {
                let take = self.left.min(buf.len() - at);
                at += take;
                self.left -= take;
                if self.left > 0 {
                    return Ok((at, false));
                }
            }
            let rest = &buf[at..];
            let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                return Ok((at, false));
            };
            if self.last {
                // Trailer lines, then the empty line that ends the body.
                at += eol + 2;
                if eol == 0 {
                    return Ok((at, true));
                }
                continue;
            }
            let line = std::str::from_utf8(&rest[..eol]).map_err(|_| invalid("bad chunk size"))?;
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| invalid("bad chunk size"))?;
            at += eol + 2;
            if size == 0 {
                self.last = true;
            } else {
                self.left = size + 2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    use crate::client::{run, Expect, Load, RequestSpec, SseSpec, Target, Via};

    /// The bench upstream behind each relay (hand-written and hyper), a
    /// TLS load client in front: JSON answers and SSE streams arrive whole,
    /// with no errors.
    #[tokio::test]
    async fn json_and_streams_pass_through_tls() {
        let origin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin_addr = origin.local_addr().unwrap();
        tokio::spawn(crate::upstream::serve(origin, Default::default()));
        let (tls, ca) = mint_localhost().unwrap();
        let lean = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let lean_addr = lean.local_addr().unwrap();
        tokio::spawn(serve(lean, origin_addr, tls.clone()));
        let hyper = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hyper_addr = hyper.local_addr().unwrap();
        tokio::spawn(serve_hyper(hyper, origin_addr, tls));
        let ca_file =
            std::env::temp_dir().join(format!("bench-lean-ca-{}.pem", std::process::id()));
        std::fs::write(&ca_file, ca).unwrap();
        let client_tls = crate::tls::client_config(&[&ca_file]).unwrap();
        let _ = std::fs::remove_file(&ca_file);
        for (addr, stream) in [lean_addr, hyper_addr]
            .into_iter()
            .flat_map(|a| [(a, false), (a, true)])
        {
            let load = Load {
                target: Target {
                    addr,
                    via: Via::Tls,
                    tls: Some(client_tls.clone()),
                },
                request: RequestSpec {
                    host: "localhost".into(),
                    path: "/v1/chat/completions".into(),
                    body: crate::bodies::small_body("m", stream, crate::bodies::Api::Chat),
                    headers: Vec::new(),
                    expect: Some(Expect {
                        json_key: "choices",
                        sse_end: "[DONE]",
                    }),
                },
                concurrency: 2,
                warmup: Duration::ZERO,
                duration: Duration::from_millis(300),
                sse: stream.then_some(SseSpec {
                    burst_window: Duration::from_millis(2),
                }),
                max_requests: None,
            };
            // A relay that loses the end of a message leaves the client
            // waiting: that must fail the test, not hang it.
            let (out, _) = tokio::time::timeout(Duration::from_secs(20), run(load, || ()))
                .await
                .unwrap_or_else(|_| panic!("{addr} stream={stream}: no answer in 20 s"));
            assert_eq!(
                out.errors, 0,
                "{addr} stream={stream}: {:?}",
                out.first_error
            );
            assert!(out.requests > 0, "{addr} stream={stream}");
            if stream {
                assert_eq!(out.streams, out.requests);
                assert!(out.events >= 20 * out.streams, "{} events", out.events);
            }
        }
    }

    #[test]
    fn heads_give_their_length_and_framing() {
        let req =
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(
            parse_head(req, Side::Request).unwrap(),
            Some((req.len() - 5, Framing::Length(5)))
        );
        let resp = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        assert_eq!(
            parse_head(resp, Side::Response).unwrap(),
            Some((resp.len(), Framing::Chunked))
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nx: y\r\n", Side::Response).unwrap(),
            None
        );
        assert!(parse_head(
            b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
            Side::Response
        )
        .is_err());
    }

    #[test]
    fn chunked_bodies_end_where_their_framing_says_across_any_split() {
        let body = b"5\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\n\r\nNEXT";
        let end = body.len() - 4;
        for split in 0..end {
            let mut chunks = Chunks::default();
            let mut buf = body[..split].to_vec();
            let (used, done) = chunks.feed(&buf).unwrap();
            assert!(!done && used <= split, "split {split}");
            buf.drain(..used);
            buf.extend_from_slice(&body[split..]);
            let (more, done) = chunks.feed(&buf).unwrap();
            assert!(done, "split {split}");
            assert_eq!(used + more, end, "split {split}");
        }
        assert!(Chunks::default().feed(b"zz\r\n").is_err());
    }
}
