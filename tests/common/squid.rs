//! squid, the corporate proxy most companies run, started on a loopback port
//! with its own config, logs and (optionally) basic auth.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::peers::require;

pub struct Squid {
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    child: Child,
}

impl Squid {
    /// Starts squid; with `auth = Some((user, password))` every request must
    /// carry basic proxy credentials.
    pub fn start(auth: Option<(&str, &str)>) -> Squid {
        let squid = require("squid");
        let dir = tempfile::tempdir().expect("dir");
        // squid drops root privileges to its own user, which must write here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let d = dir.path().display();
        let mut conf = format!(
            "http_port 127.0.0.1:{port}\n\
             pid_filename {d}/squid.pid\n\
             cache_log {d}/cache.log\n\
             access_log stdio:{d}/access.log squid\n\
             coredump_dir {d}\n\
             cache deny all\n\
             shutdown_lifetime 0 seconds\n"
        );
        if let Some((user, password)) = auth {
            let hash = Command::new(require("openssl"))
                .args(["passwd", "-apr1", password])
                .output()
                .expect("openssl passwd");
            let hash = String::from_utf8_lossy(&hash.stdout).trim().to_owned();
            std::fs::write(dir.path().join("passwd"), format!("{user}:{hash}\n")).expect("passwd");
            std::fs::set_permissions(
                dir.path().join("passwd"),
                std::fs::Permissions::from_mode(0o644),
            )
            .expect("chmod");
            let helper = [
                "/usr/lib/squid/basic_ncsa_auth",
                "/usr/lib64/squid/basic_ncsa_auth",
            ]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("squid's basic_ncsa_auth helper");
            conf.push_str(&format!(
                "auth_param basic program {helper} {d}/passwd\nauth_param basic realm switchyard-test\n\
                 acl authed proxy_auth REQUIRED\nhttp_access allow authed\nhttp_access deny all\n"
            ));
        } else {
            conf.push_str("http_access allow all\n");
        }
        let conf_path = dir.path().join("squid.conf");
        std::fs::write(&conf_path, conf).expect("squid.conf");
        // Squid names its shared-memory segments after the service name:
        // parallel instances need distinct ones.
        let service = format!("sytest{port}");
        let child = Command::new(squid)
            .args(["-N", "-n", &service, "-f"])
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).expect("stderr"))
            .spawn()
            .expect("spawn squid");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let mut squid = Squid { addr, dir, child };
        squid.wait_ready();
        squid
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(self.addr).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("squid exited ({status}): {}", self.diagnostics());
            }
            assert!(
                Instant::now() < deadline,
                "squid did not start: {}",
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn diagnostics(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}\n{}", read("stderr.log"), read("cache.log"))
    }

    /// squid's access log; lines appear shortly after each transaction ends.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    /// Waits until the access log contains `needle`.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let log = self.access_log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "squid's access log never showed {needle:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Squid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
