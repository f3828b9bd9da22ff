//! `switchyard env`: the exports that point a workspace at switchyard.
//!
//! `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE` and
//! `CODEX_CA_CERTIFICATE` *replace* a client's trust store, so they point at
//! a bundle of the system roots plus switchyard's CA, never at the CA alone.

use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine;

use super::{load_settings, CliError, EnvArgs, Shell};
use crate::ca::Authority;
use crate::config::{Flags, Settings};

pub fn run(args: EnvArgs) -> Result<(), CliError> {
    let settings = load_settings(&args.config, Flags::default())?;
    Authority::load_or_create(&settings.ca).map_err(|e| CliError::Runtime(e.to_string()))?;
    let bundle = write_bundle(&settings).map_err(|e| CliError::Runtime(e.to_string()))?;
    for (key, value) in exports(&settings, client_addr(settings.listen), &bundle) {
        println!("{}", line(args.shell, &key, &value));
    }
    Ok(())
}

/// A wildcard listen address is reached through loopback.
fn client_addr(listen: SocketAddr) -> SocketAddr {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr
}

pub fn exports(
    settings: &Settings,
    addr: SocketAddr,
    bundle: &std::path::Path,
) -> Vec<(String, String)> {
    let proxy = format!("http://{addr}");
    let no_proxy = "localhost,127.0.0.1,::1".to_owned();
    let ca = settings.ca.cert.display().to_string();
    let bundle = bundle.display().to_string();
    let pairs = [
        ("HTTPS_PROXY", proxy.clone()),
        ("HTTP_PROXY", proxy.clone()),
        ("https_proxy", proxy.clone()),
        ("http_proxy", proxy),
        ("NO_PROXY", no_proxy.clone()),
        ("no_proxy", no_proxy),
        ("NODE_EXTRA_CA_CERTS", ca),
        ("NODE_USE_ENV_PROXY", "1".to_owned()),
        ("SSL_CERT_FILE", bundle.clone()),
        ("REQUESTS_CA_BUNDLE", bundle.clone()),
        ("CURL_CA_BUNDLE", bundle.clone()),
        ("CODEX_CA_CERTIFICATE", bundle),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn line(shell: Shell, key: &str, value: &str) -> String {
    match shell {
        Shell::Bash | Shell::Zsh => format!("export {key}='{}'", value.replace('\'', r"'\''")),
        Shell::Fish => format!(
            "set -gx {key} '{}'",
            value.replace('\\', r"\\").replace('\'', r"\'")
        ),
        Shell::Powershell => format!("$env:{key} = '{}'", value.replace('\'', "''")),
    }
}

/// Writes `ca/bundle.pem` in the state dir: system roots, then the CA.
pub fn write_bundle(settings: &Settings) -> Result<PathBuf, crate::ca::CaError> {
    let ca_pem = crate::ca::files::read_to_string(&settings.ca.cert)?;
    let mut bundle = String::new();
    for cert in rustls_native_certs::load_native_certs().certs {
        bundle.push_str(&pem("CERTIFICATE", cert.as_ref()));
    }
    bundle.push_str(&ca_pem);
    let path = settings.state_dir.join("ca").join("bundle.pem");
    crate::ca::files::write_public(&path, bundle.as_bytes())?;
    Ok(path)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_per_shell() {
        assert_eq!(line(Shell::Bash, "A", "it's"), r"export A='it'\''s'");
        assert_eq!(line(Shell::Fish, "A", "x"), "set -gx A 'x'");
        assert_eq!(line(Shell::Powershell, "A", "it's"), "$env:A = 'it''s'");
    }
}
