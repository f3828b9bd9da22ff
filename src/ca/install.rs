//! Trust-store installation: the commands each platform needs to trust (or
//! stop trusting) the local CA.
//!
//! Commands are data first, so `--dry-run` prints exactly what a real install
//! would run.

use std::path::Path;

/// A trust store switchyard knows how to install into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Debian,
    Rhel,
    MacOs,
    Nss,
    Java,
}

impl Store {
    pub const ALL: [Store; 5] = [
        Store::Debian,
        Store::Rhel,
        Store::MacOs,
        Store::Nss,
        Store::Java,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Store::Debian => "Debian/Ubuntu system store",
            Store::Rhel => "RHEL/Fedora system store",
            Store::MacOs => "macOS system keychain",
            Store::Nss => "NSS (Firefox/Chromium) user database",
            Store::Java => "Java cacerts",
        }
    }

    /// The system store for the OS we run on, if we recognise it.
    pub fn detect_system() -> Option<Store> {
        if cfg!(target_os = "macos") {
            return Some(Store::MacOs);
        }
        if Path::new("/usr/sbin/update-ca-certificates").exists()
            || Path::new("/etc/debian_version").exists()
        {
            return Some(Store::Debian);
        }
        if Path::new("/usr/bin/update-ca-trust").exists() {
            return Some(Store::Rhel);
        }
        None
    }
}

const NAME: &str = "switchyard-local-ca";

fn quote(path: &Path) -> String {
    let s = path.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// NSS databases: Chromium's (created if missing) and every Firefox profile's.
const NSS_DBS: &str = r#"for db in "$HOME/.pki/nssdb" "$HOME"/.mozilla/firefox/*/ "$HOME"/snap/firefox/common/.mozilla/firefox/*/"#;

/// Commands that add the CA to `store`. Each is idempotent: installing twice
/// leaves one copy.
pub fn install_commands(store: Store, cert: &Path) -> Vec<String> {
    let cert = quote(cert);
    match store {
        Store::Debian => vec![
            format!("install -m 0644 {cert} /usr/local/share/ca-certificates/{NAME}.crt"),
            "update-ca-certificates".into(),
        ],
        Store::Rhel => vec![
            format!("install -m 0644 {cert} /etc/pki/ca-trust/source/anchors/{NAME}.pem"),
            "update-ca-trust extract".into(),
        ],
        Store::MacOs => vec![format!(
            "security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {cert}"
        )],
        Store::Nss => vec![
            r#"mkdir -p "$HOME/.pki/nssdb" && { [ -f "$HOME/.pki/nssdb/cert9.db" ] || certutil -d sql:"$HOME/.pki/nssdb" -N --empty-password; }"#.into(),
            format!(
                r#"{NSS_DBS}; do [ -f "$db/cert9.db" ] || continue; certutil -d sql:"$db" -D -n {NAME} >/dev/null 2>&1; certutil -d sql:"$db" -A -t C,, -n {NAME} -i {cert} || exit 1; echo "  $db"; done"#
            ),
        ],
        Store::Java => vec![
            format!("keytool -delete -noprompt -cacerts -storepass changeit -alias {NAME} >/dev/null 2>&1 || true"),
            format!(
                "keytool -importcert -noprompt -cacerts -storepass changeit -alias {NAME} -file {cert}"
            ),
        ],
    }
}

/// Commands that remove the CA from `store` again (quietly succeeding when
/// it is not there).
pub fn uninstall_commands(store: Store, cert: &Path) -> Vec<String> {
    match store {
        Store::Debian => vec![
            format!("rm -f /usr/local/share/ca-certificates/{NAME}.crt"),
            "update-ca-certificates --fresh".into(),
        ],
        Store::Rhel => vec![
            format!("rm -f /etc/pki/ca-trust/source/anchors/{NAME}.pem"),
            "update-ca-trust extract".into(),
        ],
        Store::MacOs => vec![
            format!("security remove-trusted-cert -d {} || true", quote(cert)),
            format!(
                "security delete-certificate -c '{}' /Library/Keychains/System.keychain",
                super::CA_COMMON_NAME
            ),
        ],
        Store::Nss => vec![format!(
            r#"{NSS_DBS}; do [ -f "$db/cert9.db" ] || continue; certutil -d sql:"$db" -D -n {NAME} >/dev/null 2>&1 && echo "  $db"; done; true"#
        )],
        Store::Java => vec![format!(
            "keytool -delete -noprompt -cacerts -storepass changeit -alias {NAME} >/dev/null 2>&1 || true"
        )],
    }
}

/// The programs a store's commands need, to say what to install when one
/// is missing.
pub fn tools(store: Store) -> &'static [(&'static str, &'static str)] {
    match store {
        Store::Debian => &[("update-ca-certificates", "the ca-certificates package")],
        Store::Rhel => &[("update-ca-trust", "the ca-certificates package")],
        Store::MacOs => &[("security", "macOS")],
        Store::Nss => &[(
            "certutil",
            "libnss3-tools (Debian/Ubuntu), nss-tools (RHEL/Fedora) or nss (Homebrew)",
        )],
        Store::Java => &[("keytool", "a Java runtime (JDK or JRE)")],
    }
}

/// Whether a store's commands need root.
pub fn needs_root(store: Store) -> bool {
    matches!(
        store,
        Store::Debian | Store::Rhel | Store::MacOs | Store::Java
    )
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `program` is on `PATH` (or in the sbin directories root uses).
pub fn on_path(program: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .any(|dir| !dir.is_empty() && Path::new(dir).join(program).is_file());
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_store_has_install_and_uninstall_commands_naming_the_cert() {
        let cert = Path::new("/tmp/my state/ca.pem");
        for store in Store::ALL {
            let install = install_commands(store, cert).join("\n");
            assert!(
                install.contains("'/tmp/my state/ca.pem'"),
                "{store:?}: {install}"
            );
            assert!(!uninstall_commands(store, cert).is_empty());
        }
    }
}
