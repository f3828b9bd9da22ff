//! Day-two operations: the daemon verbs, `status`, metrics, `logs` (with
//! rotation and --follow) and `check`'s unknown-key report, all against the
//! real binary and the fake provider.

mod common;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn sy(dir: &Path, args: &[&str]) -> Ran {
    let mut cmd = Command::new(BIN);
    scrubbed(&mut cmd, dir);
    run(cmd.current_dir(dir).args(args))
}

/// Kills a daemon left behind by a failing test.
struct DaemonGuard(PathBuf);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        let state = self.0.join("state/switchyard.json");
        if let Ok(text) = std::fs::read_to_string(state) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                if let Some(pid) = v["pid"].as_u64() {
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                }
            }
        }
    }
}

fn message(model: &str, stream: bool) -> String {
    json!({"model": model, "max_tokens": 16, "stream": stream,
           "messages": [{"role": "user", "content": "hello"}]})
    .to_string()
}

fn post(addr: &str, body: &str) -> (u16, String, String) {
    curl(&[
        &format!("http://{addr}/v1/messages"),
        "-H",
        "content-type: application/json",
        "-d",
        body,
    ])
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn start_status_metrics_stop() {
    let fake = FakeProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let _guard = DaemonGuard(dir.path().to_path_buf());
    std::fs::write(
        dir.path().join("switchyard.toml"),
        providers_config(&fake, ""),
    )
    .unwrap();

    let started = sy(dir.path(), &["start", "--listen", "127.0.0.1:0"]);
    assert!(started.status.success(), "{}", started.stderr);
    let addr = started
        .stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("switchyard listening on http://"))
        .unwrap_or_else(|| panic!("no address in {:?}", started.stdout))
        .to_owned();
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("state/switchyard.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["address"], addr.as_str());
    assert!(state["started_at"].as_str().unwrap().ends_with('Z'));
    let pid = state["pid"].as_u64().unwrap();

    let again = sy(dir.path(), &["start", "--listen", "127.0.0.1:0"]);
    assert_eq!(again.status.code(), Some(1), "{}", again.stderr);
    assert!(
        again.stderr.contains("already running") && again.stderr.contains(&addr),
        "{}",
        again.stderr
    );

    let (code, _, err) = post(&addr, &message("claude-sonnet-4-5", false));
    assert_eq!(code, 200, "{err}");
    let (code, _, _) = post(&addr, "not json");
    assert_eq!(code, 400);

    // An open stream shows up in status while it lasts.
    fake.push(Behavior::Drip {
        gap: Duration::from_millis(400),
        then: Box::new(Behavior::default()),
    });
    let stream_addr = addr.clone();
    let streaming =
        std::thread::spawn(move || post(&stream_addr, &message("claude-sonnet-4-5", true)));
    let json_status = |dir: &Path| -> Value {
        let out = sy(dir, &["status", "--json"]);
        assert!(out.status.success(), "{}", out.stderr);
        serde_json::from_str(&out.stdout).unwrap()
    };
    wait_until("an open stream in status", || {
        json_status(dir.path())["open"]["streams"] == 1
    });
    let (code, body, _) = streaming.join().unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("message_stop"));
    wait_until("the stream to close", || {
        let s = json_status(dir.path());
        s["open"]["streams"] == 0 && s["requests"]["total"] == 3
    });

    let s = json_status(dir.path());
    assert_eq!(s["address"], addr.as_str());
    assert_eq!(s["pid"], pid);
    assert_eq!(s["mode"], "gateway");
    let workers = s["workers"].as_u64().unwrap_or(0);
    assert!(workers >= 1, "{s:#}");
    assert_eq!(s["requests"]["2xx"], 2, "{s:#}");
    assert_eq!(s["requests"]["4xx"], 1, "{s:#}");
    assert_eq!(s["audit"]["dropped"], 0);
    assert_eq!(s["clients"][0]["client"], "curl");
    let anthropic = s["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "anthropic")
        .unwrap();
    assert_eq!(anthropic["circuit"], "closed");
    assert_eq!(anthropic["credentials"][0]["state"], "available");

    let human = sy(dir.path(), &["status"]);
    assert!(human.status.success(), "{}", human.stderr);
    for needle in [
        format!("on http://{addr}"),
        "embedded gateway".into(),
        format!("workers:   {workers}"),
        "2xx 2".into(),
        "(0 dropped)".into(),
        "anthropic".into(),
        "circuit closed".into(),
    ] {
        assert!(
            human.stdout.contains(&needle),
            "{needle}:\n{}",
            human.stdout
        );
    }

    let (code, metrics, _) = curl(&["-i", &format!("http://{addr}/_switchyard/metrics")]);
    assert_eq!(code, 200);
    assert!(
        metrics.contains("content-type: application/openmetrics-text"),
        "{metrics}"
    );
    for needle in [
        "switchyard_requests_total{kind=\"gateway\",protocol=\"anthropic_messages\",provider=\"anthropic\",status=\"200\"} 2",
        "switchyard_tokens_total{direction=\"output\",provider=\"anthropic\",model=\"claude-sonnet-4-5\"} 24",
        "switchyard_ttfb_seconds_count{kind=\"gateway\",provider=\"anthropic\"} 2",
        "switchyard_request_duration_seconds_bucket{le=\"+Inf\",kind=\"gateway\",provider=\"anthropic\"} 2",
        "switchyard_inflight_requests 0",
        "switchyard_audit_dropped_total 0",
        "switchyard_credential_state{provider=\"anthropic\",credential=\"client\",state=\"available\"} 1",
        "switchyard_circuit_state{provider=\"anthropic\",state=\"open\"} 0",
        "switchyard_config_reloads_total{result=\"success\"} 0",
        "switchyard_cert_cache_entries 0",
        "# EOF",
    ] {
        assert!(metrics.contains(needle), "missing {needle}:\n{metrics}");
    }

    let stopped = sy(dir.path(), &["stop"]);
    assert!(stopped.status.success(), "{}", stopped.stderr);
    assert!(stopped.stdout.contains(&format!("pid {pid}")));
    assert!(!dir.path().join("state/switchyard.json").exists());
    // Gone, or a zombie waiting for a reaper that is not us. The lock is
    // released while the process is still exiting, so give it a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (stat, state) = loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim().chars().next();
        if stat.is_empty() || state == Some('Z') || std::time::Instant::now() > deadline {
            break (stat, state);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        stat.is_empty() || state == Some('Z'),
        "pid {pid} still runs after stop: {stat}"
    );
    let status = sy(dir.path(), &["status"]);
    assert_eq!(status.status.code(), Some(3), "{}", status.stderr);
    assert!(status.stderr.contains("not running"), "{}", status.stderr);
    let log = std::fs::read_to_string(dir.path().join("state/switchyard.log")).unwrap();
    assert!(log.contains("switchyard listening on"), "{log}");
}

#[test]
fn a_stale_state_file_is_detected_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    // A process that is certainly gone, and a port nothing listens on.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let free = listener.local_addr().unwrap();
    drop(listener);
    let state = dir.path().join("state/switchyard.json");
    std::fs::write(
        &state,
        json!({"pid": dead, "address": free.to_string(), "started_at": "x", "log": null})
            .to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("switchyard.toml"),
        format!("listen = \"{free}\"\n"),
    )
    .unwrap();
    let status = sy(dir.path(), &["status"]);
    assert_eq!(status.status.code(), Some(3), "{}", status.stderr);
    assert!(!state.exists(), "the stale state file is removed");
    std::fs::write(
        &state,
        json!({"pid": dead, "address": free.to_string(), "started_at": "x", "log": null})
            .to_string(),
    )
    .unwrap();
    let stop = sy(dir.path(), &["stop"]);
    assert!(stop.status.success(), "{}", stop.stderr);
    assert!(stop.stderr.contains("stale"), "{}", stop.stderr);
    assert!(!state.exists());
}

/// The lines a child prints, as they come (read on a thread of their own).
fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// History read at start (a rotated file and the live one), then a
/// rotation by hand: `--follow` shows each record once, in order. It used
/// to show the rotated history again after the first rotation it saw,
/// because only the files it followed were remembered, not the ones read
/// at start.
#[test]
fn logs_follow_never_repeats_the_history_it_started_with() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let live = state.join("audit.jsonl");
    let rotated = |n: usize| state.join(format!("audit.jsonl.{n}"));
    let line = |id: &str| format!("{}\n", json!({"id": id, "status": 200}));
    std::fs::write(rotated(1), line("a")).unwrap();
    std::fs::write(&live, line("b")).unwrap();

    let mut cmd = Command::new(BIN);
    scrubbed(&mut cmd, dir.path());
    let mut follow = cmd
        .current_dir(dir.path())
        .args(["logs", "--follow", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut follow);
    let mut ids: Vec<String> = Vec::new();
    let read_until = |n: usize, ids: &mut Vec<String>| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while ids.len() < n && Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                let v: Value = serde_json::from_str(&line).unwrap();
                ids.push(v["id"].as_str().unwrap_or("?").to_owned());
            }
        }
    };
    read_until(2, &mut ids);
    assert_eq!(ids, ["a", "b"], "the history first");

    // What the writer does: append, then shift the files and start anew.
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap()
        .write_all(line("c").as_bytes())
        .unwrap();
    std::fs::rename(rotated(1), rotated(2)).unwrap();
    std::fs::rename(&live, rotated(1)).unwrap();
    std::fs::write(&live, line("d")).unwrap();
    read_until(4, &mut ids);
    // Anything repeated would arrive within a few polls.
    std::thread::sleep(Duration::from_millis(800));
    while let Ok(line) = rx.try_recv() {
        let v: Value = serde_json::from_str(&line).unwrap();
        ids.push(v["id"].as_str().unwrap_or("?").to_owned());
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!(ids, ["a", "b", "c", "d"], "each record once, in order");
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_filter_and_follow_across_rotation() {
    let fake = FakeProvider::start().await;
    let sy_ = Switchyard::start(&providers_config(
        &fake,
        "[audit]\nmax_file_bytes = 2500\nkeep_files = 50\n",
    ));
    let addr = sy_.addr.to_string();
    let mut follow = sy_
        .command()
        .args(["logs", "--follow", "--json", "--config", "switchyard.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut follow);
    let mut want = Vec::new();
    for i in 0..12 {
        let body = if i % 4 == 3 {
            "{\"no\": \"model\"}".to_owned()
        } else {
            message(&format!("claude-{i}"), i % 2 == 0)
        };
        let (code, _, _) = post(&addr, &body);
        assert!(code == 200 || code == 400, "{code}");
        want.push(code);
    }
    let mut got: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < 12 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            got.push(serde_json::from_str(&line).unwrap());
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let rotated = rotated_files(&sy_.audit_path());
    assert!(
        rotated >= 3,
        "the audit file rotated ({rotated} rotated files)"
    );
    let statuses: Vec<u16> = got
        .iter()
        .map(|v| v["status"].as_u64().unwrap() as u16)
        .collect();
    assert_eq!(
        statuses, want,
        "--follow saw every record once, in order, across rotation"
    );

    let logs = |args: &[&str]| {
        let out = run(sy_
            .command()
            .args(["logs", "--config", "switchyard.toml"])
            .args(args));
        assert!(out.status.success(), "{}", out.stderr);
        out.stdout
    };
    let all = logs(&["--json"]);
    assert_eq!(all.lines().count(), 12, "all files, oldest first:\n{all}");
    let table = logs(&["--last", "2", "--status", "4xx"]);
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 3, "header + 2 rows:\n{table}");
    assert!(rows[0].starts_with("TIME") && rows[0].contains("TOKENS IN/OUT"));
    assert!(rows[1..].iter().all(|r| r.contains(" 400 ")), "{table}");
    assert!(!table.contains('\x1b'), "no colour without a TTY");
    let ok = logs(&["--status", "200"]);
    assert_eq!(ok.lines().count(), 10, "{ok}");
    assert!(
        ok.contains("anthropic/client") && ok.contains("claude-0"),
        "{ok}"
    );
    assert!(ok.contains("25/12"), "tokens in/out:\n{ok}");
    let bad = run(sy_
        .command()
        .args(["logs", "--config", "switchyard.toml", "--status", "2yy"]));
    assert_eq!(bad.status.code(), Some(2));

    // --since selects by time, in both modes, across the rotated files too.
    assert_eq!(logs(&["--json", "--since", "1h"]).lines().count(), 12);
    assert_eq!(logs(&["--json", "--since", "2999-01-01"]), "");
    let summary: Value = serde_json::from_str(&logs(&["--summary", "--json", "--since", "1d"]))
        .expect("one JSON object");
    assert_eq!(summary["source"], "file");
    assert_eq!(summary["by"], serde_json::json!(["credential", "model"]));
    let total = &summary["total"];
    assert_eq!(
        (&total["calls"], &total["errors"]),
        (&12.into(), &3.into()),
        "{summary}"
    );
    assert_eq!(total["input_tokens"], 9 * 25, "{summary}");
    assert_eq!(
        summary["groups"].as_array().map(Vec::len),
        Some(10),
        "{summary}"
    );
    let by_kind = logs(&["--summary", "--by", "kind", "--status", "4xx"]);
    let rows: Vec<&str> = by_kind.lines().collect();
    assert_eq!(rows.len(), 2, "header + one kind:\n{by_kind}");
    assert!(
        rows[0].starts_with("KIND") && rows[0].ends_with("COST"),
        "{by_kind}"
    );
    assert!(
        rows[1].starts_with("rejected") && rows[1].contains(" 3 ") && rows[1].ends_with(" -"),
        "{by_kind}"
    );
    let none = run(sy_.command().args([
        "logs",
        "--config",
        "switchyard.toml",
        "--summary",
        "--since",
        "2999-01-01",
    ]));
    assert!(
        none.status.success() && none.stdout.is_empty(),
        "{}",
        none.stdout
    );
    assert!(
        none.stderr
            .contains("no records since 2999-01-01T00:00:00.000Z"),
        "{}",
        none.stderr
    );
    for bad in [
        &["--since", "last week"][..],
        &["--summary", "--by", "user"],
        &["--by", "model"],
        &["--summary", "--last", "3"],
    ] {
        let out = run(sy_
            .command()
            .args(["logs", "--config", "switchyard.toml"])
            .args(bad));
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", out.stderr);
    }
}

fn rotated_files(live: &Path) -> usize {
    (1..)
        .take_while(|n| PathBuf::from(format!("{}.{n}", live.display())).exists())
        .count()
}

#[test]
fn check_reports_every_unknown_key_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:1\"\n[audit]\nmax_bodies = 1\n\n[providers.groq]\nkind = \"openai_chat\"\nbase_ulr = \"http://x\"\n",
    )
    .unwrap();
    let out = sy(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(
        lines[0].contains(
            "switchyard.toml:3: `audit.max_bodies`: unknown key; did you mean `max_body_bytes`?"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(
            "switchyard.toml:7: `providers.groq.base_ulr`: unknown key; did you mean `base_url`?"
        ),
        "{}",
        lines[1]
    );
    // `run` stops at the first, with the same message.
    let run_out = sy(dir.path(), &["run"]);
    assert_eq!(run_out.status.code(), Some(2));
    assert!(
        run_out.stderr.contains("did you mean `max_body_bytes`?"),
        "{}",
        run_out.stderr
    );
}

/// An audit file that takes no writes (here a FIFO whose reader, a log
/// shipper, has stalled) must not stall the proxy, even with one runtime
/// worker as in a 1-CPU container: records wait in the queue, requests keep
/// being answered, every record arrives once the reader reads again, and
/// SIGTERM still ends the process within the drain deadline.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_audit_file_stalls_no_request() {
    use std::io::Read;
    let fake = FakeProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("audit.fifo");
    let made = run(Command::new("mkfifo").arg(&fifo));
    assert!(made.status.success(), "mkfifo: {}", made.stderr);
    // Opening either end of a FIFO waits for the other: the reader opens in
    // a thread while switchyard opens the write end.
    let reader = std::thread::spawn({
        let fifo = fifo.clone();
        move || std::fs::File::open(fifo).unwrap()
    });
    let config = providers_config(
        &fake,
        &format!(
            "[audit]\npath = \"{}\"\n\n[timeouts]\nshutdown_secs = 2\n",
            fifo.display()
        ),
    );
    let mut sy_ = Switchyard::start_with(&config, &[("TOKIO_WORKER_THREADS", "1")], &[]);
    let mut reader = reader.join().unwrap();
    let addr = sy_.addr.to_string();
    // ~4 KB of bodies per record: 40 records are well over the 64 KiB a
    // pipe holds, so the writer is blocked long before the last request.
    let body = json!({"model": "claude-x", "max_tokens": 16,
                      "messages": [{"role": "user", "content": "y".repeat(3000)}]})
    .to_string();
    for i in 0..40 {
        let (code, out, err) = post(&addr, &body);
        assert_eq!(
            code, 200,
            "request {i} with the audit reader stalled: {out} {err}"
        );
    }
    // `logs` must not read the pipe: that would take records from its reader.
    let logs = run(sy_.command().args(["logs", "--config", "switchyard.toml"]));
    assert_eq!(logs.status.code(), Some(1), "{}", logs.stdout);
    assert!(
        logs.stderr.contains("is not a regular file"),
        "{}",
        logs.stderr
    );
    let mut seen = String::new();
    let mut chunk = [0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lines().count() < 40 {
        assert!(
            Instant::now() < deadline,
            "records after the reader woke: {}",
            seen.lines().count()
        );
        let n = reader.read(&mut chunk).unwrap();
        seen.push_str(std::str::from_utf8(&chunk[..n]).unwrap());
    }
    let records: Vec<Value> = seen
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 40, "every record, once");
    assert!(records.iter().all(|r| r["status"] == 200), "{records:?}");
    for _ in 0..40 {
        assert_eq!(post(&addr, &body).0, 200);
    }
    let started = Instant::now();
    let status = sy_.terminate();
    assert!(status.success(), "{status:?}\n{}", sy_.log());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        sy_.log()
            .contains("the audit file took no writes before the deadline"),
        "{}",
        sy_.log()
    );
    drop(reader);
}

/// CPU time (user + system) a process has used so far.
fn cpu_time(pid: i32) -> Duration {
    cpu_in(&format!("/proc/{pid}"))
}

/// CPU time of the process or thread whose /proc directory is `dir`.
fn cpu_in(dir: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("{dir}/stat")).unwrap();
    // Fields after the command name (which may hold spaces): state is 3,
    // utime 14 and stime 15, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = rest
        .split(' ')
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    Duration::from_millis((fields[0] + fields[1]) * 10)
}

/// CPU time the process uses over the next `wall`.
fn cpu_over(pid: i32, wall: Duration) -> Duration {
    let before = cpu_time(pid);
    std::thread::sleep(wall);
    cpu_time(pid) - before
}

#[tokio::test(flavor = "multi_thread")]
async fn busy_polling_spins_after_traffic_and_sleeps_when_idle() {
    let fake = FakeProvider::start().await;
    let config = providers_config(&fake, "[runtime]\nbusy_poll_us = 1000000\n");
    let sy_ = Switchyard::start(&config);
    let pid = sy_.pid();
    let addr = sy_.addr.to_string();
    tokio::task::spawn_blocking(move || {
        let idle = cpu_over(pid, Duration::from_millis(1500));
        assert!(
            idle < Duration::from_millis(150),
            "idle, yet busy: {idle:?}"
        );
        let (code, out, err) = post(&addr, &message("claude-x", false));
        assert_eq!(code, 200, "{out} {err}");
        // The window (1 s) opened with the request's last read: the
        // runtime polls instead of sleeping, which takes CPU even when
        // other tests share the machine's cores.
        let busy = cpu_over(pid, Duration::from_millis(800));
        assert!(
            busy >= Duration::from_millis(150),
            "no busy polling: {busy:?}"
        );
        // Closed again: back to sleep.
        std::thread::sleep(Duration::from_millis(700));
        let idle = cpu_over(pid, Duration::from_millis(1500));
        assert!(
            idle < Duration::from_millis(150),
            "still spinning: {idle:?}"
        );
    })
    .await
    .unwrap();
    assert!(sy_.log().contains("busy polling on"), "{}", sy_.log());
}

/// The process's threads that serve connections: the main thread (worker
/// 0) and the `switchyard-worker-N` threads (names cut to 15 bytes by the
/// kernel), as (name, /proc directory).
fn worker_threads(pid: i32) -> Vec<(String, String)> {
    let mut found = vec![("main".to_owned(), format!("/proc/{pid}/task/{pid}"))];
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = entry.unwrap().path().display().to_string();
        let name = std::fs::read_to_string(format!("{dir}/comm")).unwrap_or_default();
        if name.starts_with("switchyard-work") {
            found.push((name.trim().to_owned(), dir));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_are_spread_over_workers_that_each_poll_their_own() {
    let fake = FakeProvider::start().await;
    // A 1 s busy-polling window makes a worker's CPU time show which
    // worker read a request: only that worker's thread spins.
    let config = providers_config(&fake, "[runtime]\nbusy_poll_us = 1000000\n");
    let sy_ = Switchyard::start_with(&config, &[("TOKIO_WORKER_THREADS", "3")], &[]);
    let pid = sy_.pid();
    let addr = sy_.addr;
    tokio::task::spawn_blocking(move || {
        // The workers start as the listener begins to accept.
        wait_until("three workers", || worker_threads(pid).len() == 3);
        let (code, status, err) = curl(&[&format!("http://{addr}/_switchyard/status")]);
        assert_eq!(code, 200, "{err}");
        let status: Value = serde_json::from_str(&status).unwrap();
        assert_eq!(status["workers"], 3, "{status:#}");
        let workers = worker_threads(pid);
        // Three connections open at once: one per worker.
        let mut conns: Vec<std::net::TcpStream> = (0..3)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let before: Vec<Duration> = workers.iter().map(|(_, dir)| cpu_in(dir)).collect();
        for conn in &mut conns {
            use std::io::{Read, Write};
            conn.write_all(b"GET /_switchyard/health HTTP/1.1\r\nhost: x\r\n\r\n")
                .unwrap();
            let mut head = [0u8; 12];
            conn.read_exact(&mut head).unwrap();
            assert_eq!(&head, b"HTTP/1.1 200", "{}", String::from_utf8_lossy(&head));
        }
        std::thread::sleep(Duration::from_millis(800));
        for ((name, dir), before) in workers.iter().zip(before) {
            let spun = cpu_in(dir) - before;
            assert!(
                spun >= Duration::from_millis(150),
                "{name} did not poll after its connection's request: {spun:?}"
            );
        }
    })
    .await
    .unwrap();
}
