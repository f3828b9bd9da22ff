//! The client's TLS settings: trust exactly the PEM CAs given (switchyard's
//! CA, mitmproxy's, or the self-signed nginx certificate), speak HTTP/1.1.

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// A client config trusting the certificates in `ca_files`.
///
/// Session resumption stays at rustls' default (an in-memory cache), as in
/// a real client: a warm host reconnecting may resume, a new host cannot.
pub fn client_config(ca_files: &[impl AsRef<Path>]) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    for file in ca_files {
        let file = file.as_ref();
        let certs =
            CertificateDer::pem_file_iter(file).map_err(|e| format!("{}: {e}", file.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("{}: {e}", file.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", file.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A server config for `bench-lean`: the same provider and protocol
/// versions as the client's (and switchyard's), HTTP/1.1 only.
pub fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: rustls_pki_types::PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
