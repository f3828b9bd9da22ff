//! `switchyard start`, `stop` and `status`, plus the part of `run` that
//! claims the state directory ([`claim`]).
//!
//! `start` re-executes this binary as `run --detached` in a new session with
//! its output appended to `$STATE_DIR/switchyard.log`, and returns once the
//! child has published its address (see [`crate::daemon`]).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{load_settings, CliError, RunArgs, StatusArgs, StopArgs};
use crate::config::{Flags, Settings};
use crate::daemon::{self, Found, Instance, Lock};

/// How long `start` waits for the child to listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);

fn run_flags(args: &RunArgs) -> Flags {
    Flags {
        listen: args.listen.clone(),
        log_level: args.log_level.clone(),
        provider: args.provider.clone(),
        ..Flags::default()
    }
}

fn runtime(e: impl std::fmt::Display) -> CliError {
    CliError::Runtime(e.to_string())
}

/// For `run`: takes the state directory's lock so `status` and `stop` find
/// this process. A detached child (from `start`) must get it; a foreground
/// `run` next to a running instance still runs, unlisted.
pub fn claim(settings: &Settings, detached: bool) -> Result<Option<Lock>, CliError> {
    let dir = &settings.state_dir;
    // `status` probes the lock for an instant; give it a moment to let go.
    for _ in 0..20 {
        if let Some(lock) = Lock::try_acquire(dir).map_err(runtime)? {
            return Ok(Some(lock));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    if detached {
        return Err(match daemon::read_instance(dir) {
            Some(i) => runtime(daemon::DaemonError::Running {
                dir: dir.clone(),
                pid: i.pid,
                address: i.address,
            }),
            None => runtime(daemon::DaemonError::Locked { dir: dir.clone() }),
        });
    }
    tracing::warn!(
        state_dir = %dir.display(),
        "another switchyard is running for this state directory; `status` and `stop` address that one"
    );
    Ok(None)
}

/// For `run`, once listening: publishes pid and address.
pub fn publish(lock: &Lock, address: std::net::SocketAddr, detached: bool, settings: &Settings) {
    let instance = Instance {
        pid: std::process::id(),
        address: address.to_string(),
        started_at: crate::audit::record::now_rfc3339(),
        log: detached.then(|| settings.state_dir.join(daemon::LOG_FILE)),
    };
    if let Err(e) = lock.publish(&instance) {
        tracing::warn!(error = %e, "cannot write the state file; `status` and `stop` will not find this instance");
    }
}

pub fn start(args: RunArgs) -> Result<(), CliError> {
    // Validate here, where the user sees the error, not in the log.
    let settings = load_settings(&args.config, run_flags(&args))?;
    let dir = &settings.state_dir;
    match daemon::find(dir).map_err(runtime)? {
        Found::Running(i) => {
            return Err(runtime(daemon::DaemonError::Running {
                dir: dir.clone(),
                pid: i.pid,
                address: i.address,
            }))
        }
        Found::Starting => return Err(runtime(daemon::DaemonError::Locked { dir: dir.clone() })),
        Found::Stale(i) => eprintln!(
            "switchyard: removed a stale state file (pid {} is gone)",
            i.pid
        ),
        Found::Nothing => {}
    }
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)
        .map_err(|e| runtime(format!("cannot create {}: {e}", dir.display())))?;
    let log_path = dir.join(daemon::LOG_FILE);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| runtime(format!("cannot open {}: {e}", log_path.display())))?;
    let log_err = log.try_clone().map_err(runtime)?;
    let exe = std::env::current_exe()
        .map_err(|e| runtime(format!("cannot find the switchyard binary: {e}")))?;
    // The same flags as given to `start`, whatever they are.
    let flags: Vec<_> = std::env::args_os().skip(2).collect();
    let mut cmd = Command::new(exe);
    cmd.arg("run")
        .args(flags)
        .arg("--detached")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    // SAFETY: setsid is async-signal-safe; it detaches the child from our
    // terminal and process group so it outlives this shell.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| runtime(format!("cannot start switchyard: {e}")))?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().map_err(runtime)? {
            return Err(runtime(format!(
                "switchyard exited during start ({status}); last lines of {}:\n{}",
                log_path.display(),
                tail(&log_path, 10)
            )));
        }
        if let Some(i) = daemon::read_instance(dir).filter(|i| i.pid == child.id()) {
            println!("switchyard listening on http://{}", i.address);
            println!(
                "pid {}, log {}; stop it with `switchyard stop`",
                i.pid,
                log_path.display()
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = daemon::send_signal(child.id(), libc::SIGTERM);
            return Err(runtime(format!(
                "switchyard did not start listening within {}s; see {}",
                START_TIMEOUT.as_secs(),
                log_path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub fn stop(args: StopArgs) -> Result<(), CliError> {
    let settings = load_settings(&args.config, Flags::default())?;
    let dir = &settings.state_dir;
    let instance = match daemon::find(dir).map_err(runtime)? {
        Found::Running(i) => i,
        Found::Starting => return Err(runtime(
            "a switchyard holds the state directory but has not published its pid yet; try again",
        )),
        Found::Stale(i) => {
            eprintln!(
                "switchyard is not running (removed a stale state file for pid {})",
                i.pid
            );
            return Ok(());
        }
        Found::Nothing => {
            eprintln!("switchyard is not running");
            return Ok(());
        }
    };
    if !daemon::send_signal(instance.pid, libc::SIGTERM) {
        return Err(runtime(format!(
            "cannot signal pid {}: {}",
            instance.pid,
            std::io::Error::last_os_error()
        )));
    }
    eprintln!(
        "switchyard: stopping pid {} (in-flight requests get up to {}s)",
        instance.pid,
        settings.timeouts.shutdown.as_secs()
    );
    let deadline = Instant::now() + settings.timeouts.shutdown + Duration::from_secs(15);
    while daemon::is_locked(dir) {
        if Instant::now() > deadline {
            return Err(runtime(format!(
                "pid {} is still running; `kill -9 {}` ends it without draining",
                instance.pid, instance.pid
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The process removes it itself; this covers one that could not.
    let _ = std::fs::remove_file(dir.join(daemon::STATE_FILE));
    println!("stopped switchyard (pid {})", instance.pid);
    Ok(())
}

pub fn status(args: StatusArgs) -> Result<(), CliError> {
    let settings = load_settings(&args.config, Flags::default())?;
    let address = match daemon::find(&settings.state_dir).map_err(runtime)? {
        Found::Running(i) => i.connect_address(),
        // Not published (yet), or another state dir: try the configured address.
        _ => daemon::connect_address(&settings.listen.to_string()),
    };
    let body = match get(&address, "/_switchyard/status") {
        Ok(body) => body,
        Err(e) => {
            return Err(CliError::NotRunning(format!(
                "switchyard is not running (nothing answers on {address}: {e})"
            )))
        }
    };
    let report: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| runtime(format!("{address} did not answer like switchyard: {e}")))?;
    let text = if args.json {
        format!(
            "{}\n",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        )
    } else {
        human(&report)
    };
    // A closed pipe (`status | head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

/// A minimal HTTP/1.1 GET (the admin endpoints answer with Content-Length).
fn get(address: &str, path: &str) -> Result<String, std::io::Error> {
    let addr: std::net::SocketAddr = address
        .parse()
        .map_err(|_| std::io::Error::other(format!("bad address {address}")))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: switchyard-cli\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("malformed response"))?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        return Err(std::io::Error::other(format!("answered {status}: {body}")));
    }
    Ok(body.to_owned())
}

fn human(r: &serde_json::Value) -> String {
    use std::fmt::Write as _;
    let s = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let mut out = String::new();
    let up = n(&r["uptime_secs"]);
    let _ = writeln!(
        out,
        "switchyard {} running (pid {}) on http://{}, up {}",
        s(&r["version"]),
        s(&r["pid"]),
        s(&r["address"]),
        duration(up)
    );
    let mode = match r["bridge"].as_object() {
        Some(b) => format!(
            "bridge to {} ({})",
            s(b.get("url").unwrap_or(&serde_json::Value::Null)),
            s(b.get("mode").unwrap_or(&serde_json::Value::Null))
        ),
        None => "embedded gateway".into(),
    };
    let _ = writeln!(out, "mode:      {mode}");
    let _ = writeln!(out, "workers:   {}", n(&r["workers"]));
    let _ = writeln!(out, "config:    {}", s(&r["config_file"]));
    let q = &r["requests"];
    let _ = writeln!(
        out,
        "requests:  {} since start (2xx {}, 3xx {}, 4xx {}, 5xx {}, no status {})",
        n(&q["total"]),
        n(&q["2xx"]),
        n(&q["3xx"]),
        n(&q["4xx"]),
        n(&q["5xx"]),
        n(&q["none"])
    );
    let o = &r["open"];
    let _ = writeln!(
        out,
        "open:      {} requests, {} streams, {} tunnels",
        s(&o["requests"]),
        s(&o["streams"]),
        s(&o["tunnels"])
    );
    let clients: Vec<String> = r["clients"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| format!("{} {}", s(&c["client"]), n(&c["requests"])))
                .collect()
        })
        .unwrap_or_default();
    if !clients.is_empty() {
        let _ = writeln!(out, "clients:   {}", clients.join(", "));
    }
    let _ = writeln!(
        out,
        "audit:     {} ({} dropped)",
        s(&r["audit"]["path"]),
        n(&r["audit"]["dropped"])
    );
    if let Some(pg) = r["audit"].get("postgres") {
        let _ = writeln!(
            out,
            "postgres:  {} ({})",
            s(&pg["url"]),
            s(&pg["state"]).replace('_', " ")
        );
    }
    if let Some(c) = r.get("cluster") {
        let _ = writeln!(
            out,
            "cluster:   limits {} via {} (replicas {}, fallbacks {})",
            s(&c["limits"]),
            s(&c["redis"]),
            s(&c["replicas"]),
            n(&c["fallbacks"])
        );
    }
    let _ = writeln!(out, "providers:");
    for p in r["providers"].as_array().into_iter().flatten() {
        let creds: Vec<String> = p["credentials"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| format!("{} ({})", s(&c["name"]), s(&c["state"]).replace('_', " ")))
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<12} {:<12} circuit {:<9} credentials: {}",
            s(&p["name"]),
            s(&p["kind"]),
            s(&p["circuit"]).replace('_', " "),
            creds.join(", ")
        );
    }
    out
}

fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h {m:02}m")
    } else if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}
