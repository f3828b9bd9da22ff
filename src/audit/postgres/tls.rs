//! TLS to PostgreSQL (`sslmode=require` in `[audit] postgres_url`): the
//! rustls connector tokio-postgres asks for, always verifying the server's
//! certificate and host name (libpq's `verify-full`) against the system's
//! roots or `[audit] postgres_ca` alone, and showing
//! `postgres_client_cert` when the server asks for a certificate.
//!
//! tokio-postgres-rustls does the same, but parses certificates with a
//! second X.509 stack (x509-cert and its DER crates); x509-parser is already
//! in the build for the CA, so this adapter uses it instead.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use aws_lc_rs::digest;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use x509_parser::oid_registry as oid;

use crate::config::PostgresTls;
use crate::tls::{Identity, TrustError};

/// PostgreSQL's ALPN name: servers from 17 on require it for direct TLS
/// (`sslnegotiation=direct`), older ones ignore it.
const ALPN: &[u8] = b"postgresql";

/// Makes one verified TLS connector per connection attempt.
#[derive(Clone)]
pub struct MakeRustls {
    config: Arc<ClientConfig>,
}

impl MakeRustls {
    /// Reads the trust anchors now, so a connection attempt does not read
    /// the system store again.
    pub fn new(settings: &PostgresTls) -> Result<MakeRustls, TrustError> {
        let roots = match &settings.ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add_parsable_certificates(crate::tls::read_pem_certs(ca)?);
                roots
            }
            None => crate::tls::root_store(&[]),
        };
        let mut config = match &settings.client {
            Some(id) => crate::tls::client_config_with(roots, Identity::read(&id.cert, &id.key)?)?,
            None => crate::tls::client_config(roots)?,
        };
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(MakeRustls {
            config: Arc::new(config),
        })
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type TlsConnect = Connect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> Result<Connect, io::Error> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Connect {
            name,
            connector: self.config.clone().into(),
        })
    }
}

/// The handshake for one connection.
pub struct Connect {
    name: ServerName<'static>,
    connector: tokio_rustls::TlsConnector,
}

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type Error = io::Error;
    type Future = Handshake<S>;

    fn connect(self, stream: S) -> Handshake<S> {
        Handshake(self.connector.connect(self.name, stream))
    }
}

pub struct Handshake<S>(tokio_rustls::Connect<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> Future for Handshake<S> {
    type Output = io::Result<Stream<S>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map_ok(Stream)
    }
}

/// A TLS connection to PostgreSQL.
pub struct Stream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for Stream<S> {
    /// `tls-server-end-point` (RFC 5929), which lets SCRAM prove that no one
    /// in between holds another certificate (`channel_binding=require`).
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| {
                Some(
                    digest::digest(end_point_hash(leaf)?, leaf)
                        .as_ref()
                        .to_vec(),
                )
            })
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

/// The hash of the certificate's own signature, MD5 and SHA-1 raised to
/// SHA-256 as RFC 5929 §4.1 says. None for signatures without one hash
/// (Ed25519, RSA-PSS): SCRAM then runs without channel binding.
fn end_point_hash(der: &[u8]) -> Option<&'static digest::Algorithm> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let alg = &cert.signature_algorithm.algorithm;
    let sha256 = [
        oid::OID_PKCS1_SHA1WITHRSA,
        oid::OID_PKCS1_SHA256WITHRSA,
        oid::OID_SIG_ECDSA_WITH_SHA256,
    ];
    if sha256.contains(alg) {
        Some(&digest::SHA256)
    } else if [oid::OID_PKCS1_SHA384WITHRSA, oid::OID_SIG_ECDSA_WITH_SHA384].contains(alg) {
        Some(&digest::SHA384)
    } else if [oid::OID_PKCS1_SHA512WITHRSA, oid::OID_SIG_ECDSA_WITH_SHA512].contains(alg) {
        Some(&digest::SHA512)
    } else {
        None
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_signed_with(alg: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let params = rcgen::CertificateParams::new(vec!["db.internal".to_owned()]).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn the_end_point_hash_follows_the_certificate_signature() {
        let p256 = cert_signed_with(&rcgen::PKCS_ECDSA_P256_SHA256);
        let p384 = cert_signed_with(&rcgen::PKCS_ECDSA_P384_SHA384);
        let ed25519 = cert_signed_with(&rcgen::PKCS_ED25519);
        assert_eq!(end_point_hash(&p256).map(|a| a.output_len()), Some(32));
        assert_eq!(end_point_hash(&p384).map(|a| a.output_len()), Some(48));
        assert!(end_point_hash(&ed25519).is_none());
        assert!(end_point_hash(b"not a certificate").is_none());
    }
}
