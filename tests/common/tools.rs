//! Running real AI tools (Claude Code, Codex CLI) against a test switchyard
//! the way a user does: `eval "$(switchyard env)"`, nothing else pointing
//! them anywhere, in a throw-away HOME, and never for longer than a generous
//! deadline (the whole process group is killed then, so a hang fails the test
//! instead of the run).
#![allow(dead_code)]

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{run, Ran, Switchyard};

/// Generous: both tools finish in about a second against the fake provider;
/// Codex's fallback from WebSocket to HTTPS retries for several seconds.
pub const TOOL_DEADLINE: Duration = Duration::from_secs(180);

/// What `switchyard env` exports for this instance, with the proxy variables
/// pointing at the test's random port (`env` prints the configured listen
/// address, and tests listen on port 0).
pub fn exports(sy: &Switchyard) -> HashMap<String, String> {
    let out = run(sy
        .command()
        .args(["env", "--config"])
        .arg(sy.dir.path().join("switchyard.toml")));
    assert!(out.status.success(), "switchyard env: {}", out.stderr);
    let mut env: HashMap<String, String> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect();
    for key in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"] {
        env.insert(key.into(), sy.proxy_url());
    }
    env
}

/// A command for `program` with a clean environment: PATH, the given HOME,
/// the `switchyard env` exports and `extra`.
pub fn tool_command(
    program: &Path,
    sy: &Switchyard,
    home: &Path,
    extra: &[(&str, &str)],
) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("TERM", "dumb")
        .env("NO_COLOR", "1")
        .envs(exports(sy));
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `cmd` (stdin from /dev/null) until it exits or `deadline` passes;
/// on the deadline the whole process group is killed and the test fails
/// with what the tool printed.
pub fn run_tool(cmd: &mut Command, out_dir: &Path, deadline: Duration) -> Ran {
    let stdout_path = out_dir.join("tool.stdout");
    let stderr_path = out_dir.join("tool.stderr");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > deadline {
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            panic!(
                "{:?} did not finish within {deadline:?}\nstdout:\n{}\nstderr:\n{}",
                cmd.get_program(),
                read(&stdout_path),
                tail(&read(&stderr_path), 6000)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ran {
        status,
        stdout: read(&stdout_path),
        stderr: read(&stderr_path),
    }
}

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The last `n` bytes of `s` (tools log a lot).
pub fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
