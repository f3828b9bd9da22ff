//! Where a shared proxy may open blind tunnels.
//!
//! A loopback listener is a personal proxy: it tunnels anywhere its user
//! could connect anyway. A listener beyond loopback (or `restrict = "on"`)
//! is a shared proxy: only `allowed_ports`, and never loopback, private,
//! link-local, CGNAT, ULA or cloud-metadata addresses unless `allow_cidrs`
//! lists them. The check runs on the resolved address the tunnel then
//! connects to, so DNS rebinding cannot slip past it.

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Debug, Clone)]
pub struct TunnelPolicy {
    /// False: a personal proxy, no restrictions.
    pub shared: bool,
    pub allowed_ports: Vec<u16>,
    pub allow: Vec<IpNet>,
}

impl Default for TunnelPolicy {
    fn default() -> Self {
        TunnelPolicy {
            shared: false,
            allowed_ports: vec![443],
            allow: Vec::new(),
        }
    }
}

/// Ranges a shared proxy must not reach (RFC 6890 and friends).
const BLOCKED: [&str; 15] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/127",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

impl TunnelPolicy {
    pub fn port_allowed(&self, port: u16) -> bool {
        !self.shared || self.allowed_ports.contains(&port)
    }

    /// Whether a resolved destination is allowed.
    pub fn address_allowed(&self, ip: IpAddr) -> bool {
        if !self.shared {
            return true;
        }
        let ip = canonical(ip);
        if self.allow.iter().any(|net| net.contains(&ip)) {
            return true;
        }
        !BLOCKED
            .iter()
            .filter_map(|c| c.parse::<IpNet>().ok())
            .any(|net| net.contains(&ip))
    }
}

/// IPv4-mapped IPv6 addresses are checked as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(allow: &[&str]) -> TunnelPolicy {
        TunnelPolicy {
            shared: true,
            allowed_ports: vec![443],
            allow: allow.iter().map(|c| c.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn shared_mode_blocks_internal_ranges_and_metadata() {
        let p = shared(&[]);
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.1.1",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!p.address_allowed(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "160.79.104.10"] {
            assert!(p.address_allowed(ip.parse().unwrap()), "{ip}");
        }
        assert!(p.port_allowed(443));
        assert!(!p.port_allowed(22));
    }

    #[test]
    fn allow_cidrs_are_exceptions_and_personal_mode_allows_all() {
        let p = shared(&["10.20.0.0/16"]);
        assert!(p.address_allowed("10.20.3.4".parse().unwrap()));
        assert!(!p.address_allowed("10.21.3.4".parse().unwrap()));
        let personal = TunnelPolicy::default();
        assert!(personal.address_allowed("127.0.0.1".parse().unwrap()));
        assert!(personal.port_allowed(22));
    }
}
