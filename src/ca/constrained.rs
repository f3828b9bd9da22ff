//! `ca init --constrained`: a root that is trusted, and a name-constrained
//! intermediate that signs the leaves.
//!
//! The root's key signs the intermediate and is then dropped: it is never
//! written anywhere, so even a stolen state directory cannot mint a
//! certificate for a host outside the intermediate's permitted DNS subtrees
//! (the intercepted hosts). The trade-off: intercepting a new host means
//! re-initialising and re-trusting the CA.

use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, GeneralSubtree, Issuer, KeyPair, NameConstraints};

use super::{files, CaError, CaPaths};

/// Where the intermediate certificate lives, next to the root.
pub fn intermediate_path(paths: &CaPaths) -> PathBuf {
    paths.cert.with_file_name("ca-intermediate.pem")
}

/// The permitted DNS subtree for an intercept pattern: a host as is, or the
/// domain of a leading `*.` wildcard.
pub fn subtree(pattern: &str) -> Result<String, String> {
    let host = pattern
        .strip_prefix("*.")
        .unwrap_or(pattern)
        .to_ascii_lowercase();
    if host.is_empty() || host.contains(['*', '?', '[']) {
        return Err(format!(
            "intercept pattern {pattern:?} cannot be a name constraint (only hosts and leading *. wildcards can)"
        ));
    }
    Ok(host)
}

fn params(cn: &str, days: i64, path_len: u8) -> Result<CertificateParams, CaError> {
    super::ca_params_named(cn, days, path_len)
}

/// Creates the root and the constrained intermediate. Writes the root's
/// certificate to `paths.cert`, the intermediate's key to `paths.key` (0600)
/// and its certificate next to the root.
pub fn create(paths: &CaPaths, hosts: &[String]) -> Result<(), CaError> {
    let subtrees = hosts
        .iter()
        .map(|h| subtree(h).map(GeneralSubtree::DnsName))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|reason| CaError::BadCert {
            path: paths.cert.clone(),
            reason,
        })?;
    let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let root_params = params("switchyard constrained root", 3650, 1)?;
    let root_cert = root_params.self_signed(&root_key)?;
    let root = Issuer::new(root_params, root_key);

    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut inter = params("switchyard constrained intermediate", 3650, 0)?;
    inter.name_constraints = Some(NameConstraints {
        permitted_subtrees: subtrees,
        excluded_subtrees: Vec::new(),
    });
    inter.use_authority_key_identifier_extension = true;
    let inter_cert = inter.signed_by(&key, &root)?;
    // The root key goes out of scope here, never having touched the disk.
    drop(root);

    files::write_private(&paths.key, key.serialize_pem().as_bytes())?;
    files::write_public(&intermediate_path(paths), inter_cert.pem().as_bytes())?;
    files::write_public(&paths.cert, root_cert.pem().as_bytes())?;
    Ok(())
}

/// Whether `paths` hold a constrained CA.
pub fn is_constrained(paths: &CaPaths) -> bool {
    Path::new(&intermediate_path(paths)).exists()
}
