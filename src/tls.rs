//! The one TLS crypto provider (aws-lc-rs) and the client-side trust store.
//!
//! Every rustls config in switchyard is built through here so that exactly one
//! provider is ever used, whatever features other crates enable.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// The process-wide crypto provider.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Installs aws-lc-rs as rustls' default so crates that build their own
/// configs (none today) cannot pick another. Safe to call more than once.
pub fn install_default_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read CA bundle {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    Empty { path: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Reads every certificate of a PEM bundle.
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let bytes = std::fs::read(path).map_err(|source| TrustError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TrustError::Empty {
            path: path.display().to_string(),
        });
    }
    Ok(certs)
}

/// Roots for outbound TLS: the system store plus any extra CAs (a corporate
/// proxy's CA must be trusted for the origin leg too when it inspects TLS).
pub fn root_store(extra: &[CertificateDer<'static>]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        tracing::warn!("no system root certificates found; only extra CAs are trusted");
    }
    roots.add_parsable_certificates(extra.iter().cloned());
    roots
}

/// A client config with no ALPN set: each user offers its own (the provider
/// client h2 and HTTP/1.1, a WebSocket upstream HTTP/1.1 alone).
pub fn client_config(roots: RootCertStore) -> Result<ClientConfig, TrustError> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
