//! Test harness: runs the real `switchyard` binary on 127.0.0.1:0 in a temp
//! dir, and drives it with real clients.
#![allow(dead_code)]

pub mod client;
pub mod fleet;
pub mod origin;
pub mod peers;
pub mod squid;
pub mod tools;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[allow(unused_imports)]
pub use fake_provider::{Behavior, FakeProvider};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// Variables that would make a child process use a proxy or trust store we
/// did not choose.
const SCRUB: [&str; 12] = [
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "https_proxy",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SWITCHYARD_CONFIG",
];

/// A running switchyard.
pub struct Switchyard {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    child: Child,
    stderr: PathBuf,
}

impl Switchyard {
    pub fn start(config: &str) -> Switchyard {
        Switchyard::start_with(config, &[], &[])
    }

    /// Starts with a config file, extra environment and extra `run` flags.
    pub fn start_with(config: &str, env: &[(&str, &str)], args: &[&str]) -> Switchyard {
        Switchyard::start_in(
            tempfile::tempdir().expect("temp dir"),
            config,
            env,
            "127.0.0.1:0",
            args,
        )
    }

    /// Starts in a given directory (state survives a restart) on `listen`.
    pub fn start_in(
        dir: tempfile::TempDir,
        config: &str,
        env: &[(&str, &str)],
        listen: &str,
        args: &[&str],
    ) -> Switchyard {
        std::fs::write(dir.path().join("switchyard.toml"), config).expect("write config");
        let stderr = dir.path().join("stderr.log");
        let mut cmd = Command::new(BIN);
        cmd.arg("run")
            .arg("--config")
            .arg(dir.path().join("switchyard.toml"))
            .args(["--listen", listen, "--log-level", "debug"])
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"));
        scrubbed(&mut cmd, dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn switchyard");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read stdout");
        let Some(addr) = line.trim().strip_prefix("switchyard listening on http://") else {
            let _ = child.kill();
            panic!(
                "switchyard did not start: {line:?}\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        };
        let addr = addr.parse().expect("address");
        Switchyard {
            addr,
            dir,
            child,
            stderr,
        }
    }

    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn ca_pem(&self) -> PathBuf {
        self.state().join("ca/ca.pem")
    }

    pub fn audit_path(&self) -> PathBuf {
        self.state().join("audit.jsonl")
    }

    /// Every audit line so far, parsed.
    pub fn audit(&self) -> Vec<Value> {
        read_audit(&self.audit_path())
    }

    /// Waits until the audit file has at least `n` lines.
    pub fn wait_audit(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let lines = self.audit();
            if lines.len() >= n || Instant::now() > deadline {
                assert!(
                    lines.len() >= n,
                    "expected {n} audit lines, got {}: {lines:#?}",
                    lines.len()
                );
                return lines;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The process log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status;
        }
        // The process may exit on its own between the check and the signal.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        wait_exit(&mut self.child, Duration::from_secs(40))
    }

    /// Waits for the process to exit (after a signal sent elsewhere).
    pub fn terminate_wait_only(&mut self) -> ExitStatus {
        wait_exit(&mut self.child, Duration::from_secs(40))
    }

    /// An `switchyard` invocation sharing this instance's state and config.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        scrubbed(&mut cmd, self.dir.path());
        cmd.current_dir(self.dir.path());
        cmd
    }
}

impl Switchyard {
    /// Stops the process and hands back its directory, for a restart.
    pub fn stop_keep_dir(mut self) -> tempfile::TempDir {
        self.terminate();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"))
    }
}

impl Drop for Switchyard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes `cmd` hermetic: no inherited proxies or bundles, HOME and the state
/// dir inside `dir`.
pub fn scrubbed(cmd: &mut Command, dir: &Path) {
    for var in SCRUB {
        cmd.env_remove(var);
    }
    cmd.env("HOME", dir)
        .env("SWITCHYARD_STATE_DIR", dir.join("state"))
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env("NO_COLOR", "1");
}

pub fn read_audit(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad audit line {l:?}: {e}")))
        .collect()
}

pub fn signal(pid: i32, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
    assert!(
        status.map(|s| s.success()).unwrap_or(false),
        "kill -{sig} {pid}"
    );
}

pub fn wait_exit(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "process did not exit within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Output of a finished command.
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Ran {
    let out = cmd.stdin(Stdio::null()).output().expect("run command");
    Ran {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs curl (which must be installed: CI installs it) with `args`, adding
/// `-w` to print the status code last.
pub fn curl(args: &[&str]) -> (u16, String, String) {
    let mut cmd = Command::new(peers::require("curl"));
    cmd.args(["-sS", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(args);
    for var in SCRUB {
        cmd.env_remove(var);
    }
    let ran = run(&mut cmd);
    let (body, code) = ran.stdout.rsplit_once('\n').unwrap_or(("", &ran.stdout));
    (
        code.trim().parse().unwrap_or(0),
        body.to_owned(),
        ran.stderr,
    )
}

/// Asserts that none of `secrets` appears in the audit file or the log.
pub fn assert_no_secrets(sy: &Switchyard, secrets: &[&str]) {
    let audit = std::fs::read_to_string(sy.audit_path()).unwrap_or_default();
    let log = sy.log();
    for secret in secrets {
        assert!(
            !audit.contains(secret),
            "secret {secret:?} leaked into the audit file"
        );
        assert!(
            !log.contains(secret),
            "secret {secret:?} leaked into the log"
        );
    }
}

/// Config that points both default providers at a fake provider.
pub fn providers_config(fake: &FakeProvider, extra: &str) -> String {
    format!(
        "[providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{}\"\n\n[providers.openai]\nkind = \"openai\"\nbase_url = \"{}\"\n\n{extra}",
        fake.base_url(),
        fake.openai_base_url()
    )
}
