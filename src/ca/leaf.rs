//! Per-host leaf certificates and the bounded, single-flight cache of the
//! TLS server configs built from them.
//!
//! Each leaf gets its own fresh P-256 key: a leaf key leaking from memory
//! then exposes one host for a few days, never the CA. Concurrent first
//! connections to one host mint once (moka's `try_get_with` coalesces them).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use super::Authority;

/// How long a leaf is valid: days, not years, so a stolen one ages out fast.
const LEAF_VALIDITY_DAYS: i64 = 7;
/// Cached configs are dropped well before their leaf expires.
const CACHE_TTL: StdDuration = StdDuration::from_secs(24 * 3600);
const CACHE_CAPACITY: u64 = 1024;

#[derive(Debug, thiserror::Error)]
pub enum LeafError {
    #[error("cannot mint a certificate for {host:?}: {source}")]
    Mint { host: String, source: rcgen::Error },
    #[error("TLS configuration for {host:?}: {source}")]
    Config { host: String, source: rustls::Error },
}

/// A leaf certificate with its own key, in DER.
pub struct Leaf {
    pub cert_der: rustls_pki_types::CertificateDer<'static>,
    pub key_der: PrivatePkcs8KeyDer<'static>,
}

/// Mints a leaf for `host` (a DNS name or an IP literal) signed by the CA.
pub fn mint(ca: &Authority, host: &str) -> Result<Leaf, LeafError> {
    let mint_err = |source| LeafError::Mint {
        host: host.to_owned(),
        source,
    };
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(mint_err)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(mint_err)?;
    let bare = crate::upstream::bare_host(host);
    params.subject_alt_names = vec![match bare.parse::<IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(host.try_into().map_err(mint_err)?),
    }];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, bare);
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(LEAF_VALIDITY_DAYS);
    let cert = params.signed_by(&key, ca.issuer()).map_err(mint_err)?;
    Ok(Leaf {
        cert_der: cert.der().clone(),
        key_der: PrivatePkcs8KeyDer::from(key.serialize_der()),
    })
}

/// Cache of per-host TLS server configs (leaf + chain + ALPN).
pub struct LeafCache {
    ca: Arc<Authority>,
    cache: moka::sync::Cache<String, Arc<ServerConfig>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl LeafCache {
    pub fn new(ca: Arc<Authority>) -> LeafCache {
        LeafCache {
            ca,
            cache: moka::sync::Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(CACHE_TTL)
                .build(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn authority(&self) -> &Authority {
        &self.ca
    }

    /// The server config for `host`, minting its leaf on first use.
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, Arc<LeafError>> {
        let host = host.to_ascii_lowercase();
        let mut minted = false;
        let config = self.cache.try_get_with(host.clone(), || {
            minted = true;
            self.build(&host).map(Arc::new)
        })?;
        let counter = if minted { &self.misses } else { &self.hits };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(config)
    }

    /// (entries, hits, misses), for status and metrics.
    pub fn stats(&self) -> (u64, u64, u64) {
        (
            self.cache.entry_count(),
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn build(&self, host: &str) -> Result<ServerConfig, LeafError> {
        let leaf = mint(&self.ca, host)?;
        let mut chain = vec![leaf.cert_der];
        chain.extend(self.ca.chain.iter().cloned());
        chain.push(self.ca.cert_der.clone());
        let config_err = |source| LeafError::Config {
            host: host.to_owned(),
            source,
        };
        let mut config = ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(config_err)?
            .with_no_client_auth()
            .with_single_cert(chain, PrivateKeyDer::Pkcs8(leaf.key_der))
            .map_err(config_err)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::{default_paths, Authority};

    fn authority() -> (tempfile::TempDir, Arc<Authority>) {
        let dir = tempfile::tempdir().unwrap();
        let ca = Authority::load_or_create(&default_paths(dir.path())).unwrap();
        (dir, Arc::new(ca))
    }

    fn parse(der: &[u8]) -> x509_parser::certificate::X509Certificate<'_> {
        x509_parser::parse_x509_certificate(der).unwrap().1
    }

    #[test]
    fn leaf_has_own_key_dns_san_and_short_validity() {
        let (_dir, ca) = authority();
        let leaf = mint(&ca, "api.anthropic.com").unwrap();
        let cert = parse(&leaf.cert_der);
        let ca_cert = parse(&ca.cert_der);
        assert_ne!(
            cert.public_key().raw,
            ca_cert.public_key().raw,
            "leaf must not reuse the CA key"
        );
        assert_eq!(cert.issuer(), ca_cert.subject());
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(
            format!("{:?}", san.value.general_names),
            "[DNSName(\"api.anthropic.com\")]"
        );
        let days = (cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp())
            / 86400;
        assert!(days <= LEAF_VALIDITY_DAYS + 1, "validity {days} days");
    }

    #[test]
    fn ip_hosts_get_an_ip_san() {
        let (_dir, ca) = authority();
        let leaf = mint(&ca, "127.0.0.1").unwrap();
        let cert = parse(&leaf.cert_der);
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(
            format!("{:?}", san.value.general_names),
            "[IPAddress([127, 0, 0, 1])]"
        );
    }

    #[test]
    fn concurrent_first_connections_mint_once() {
        let (_dir, ca) = authority();
        let cache = Arc::new(LeafCache::new(ca));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let cache = cache.clone();
                std::thread::spawn(move || cache.server_config("API.openai.com").unwrap())
            })
            .collect();
        let configs: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(configs.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])));
        let (_, hits, misses) = cache.stats();
        assert_eq!((hits, misses), (7, 1));
    }

    #[test]
    fn a_constrained_ca_cannot_vouch_for_hosts_outside_its_subtrees() {
        let dir = tempfile::tempdir().unwrap();
        let paths = default_paths(dir.path());
        let hosts = ["api.anthropic.com".to_string(), "*.openai.com".to_string()];
        let ca = Authority::init_constrained(&paths, &hosts, false).unwrap();
        assert_eq!(ca.chain.len(), 1, "leaves are signed by the intermediate");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert_der.clone()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            crate::tls::provider(),
        )
        .build()
        .unwrap();
        for (host, trusted) in [
            ("api.anthropic.com", true),
            ("api.openai.com", true),
            ("evil.example", false),
            ("anthropic.com", false),
        ] {
            let leaf = mint(&ca, host).unwrap();
            let name = rustls_pki_types::ServerName::try_from(host).unwrap();
            let verdict = rustls::client::danger::ServerCertVerifier::verify_server_cert(
                verifier.as_ref(),
                &leaf.cert_der,
                &ca.chain,
                &name,
                &[],
                rustls_pki_types::UnixTime::now(),
            );
            assert_eq!(verdict.is_ok(), trusted, "{host}: {verdict:?}");
        }
        // The stored key is the intermediate's: it cannot sign as the root.
        let key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(&paths.key).unwrap()).unwrap();
        let root = x509_parser::parse_x509_certificate(&ca.cert_der).unwrap().1;
        assert_ne!(
            key.public_key_raw(),
            root.public_key().subject_public_key.data.as_ref()
        );
    }
}
