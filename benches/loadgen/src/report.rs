//! Turns the runs' JSON lines (one per `loadgen` invocation) into the
//! markdown report — figures per path, ratios against every peer, pass/fail
//! per target — and the results JSON.
//!
//! Paths are table rows (`--label`), measurements are scenarios:
//! `json_c1`, `json_c16`, `agent_c16`, `sse`, `sse_warm`, `newhost`, `hold`, `rss_idle`,
//! `rss_after`, and `json_c1_free`, `sse_free` (the c=1 latency runs again
//! with nothing pinned). A missing run prints `–`, never a made-up number.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::rounds;

/// The paths, in table order, with what they are.
pub const PATHS: &[(&str, &str)] = &[
    ("direct", "direct: client → upstream, plain HTTP"),
    (
        "tcp_relay",
        "TCP relay: copies bytes both ways, no TLS, no HTTP; the floor one extra process adds",
    ),
    (
        "lean_tls",
        "lean TLS + HTTP/1.1 relay on switchyard's stack (tokio, rustls; bench-lean): heads parsed, bytes relayed, no routing, no audit",
    ),
    (
        "hyper_tls",
        "the same relay on hyper's HTTP/1.1 server and hyper-util's legacy pooled client (bench-lean --hyper): switchyard's server, and the client it used until its own pool",
    ),
    (
        "sy_intercept",
        "switchyard intercept: CONNECT + TLS, keep-alive",
    ),
    (
        "sy_intercept_pgo",
        "switchyard intercept, built with PGO (scripts/build-pgo.sh; bench.sh --pgo)",
    ),
    (
        "sy_intercept_busy",
        "switchyard intercept with busy polling ([runtime] busy_poll_us = 200): latency bought with CPU",
    ),
    (
        "sy_intercept_meta",
        "switchyard intercept, audit records without bodies ([audit] max_body_bytes = 0): what body capture costs",
    ),
    ("sy_gateway", "switchyard gateway: base URL, pass-through"),
    (
        "sy_convert",
        "switchyard gateway: Messages → Chat conversion",
    ),
    (
        "nginx_tls",
        "nginx: TLS reverse proxy, 2 workers, no access log",
    ),
    ("mitmdump", "mitmdump: CONNECT + TLS, streaming addon"),
    ("litellm_gateway", "LiteLLM proxy: base URL, pass-through"),
    (
        "litellm_convert",
        "LiteLLM proxy: Messages → Chat conversion",
    ),
];

/// switchyard's paths and the peers each is compared with.
const PAIRS: &[(&str, &[&str])] = &[
    (
        "sy_intercept",
        &[
            "tcp_relay",
            "lean_tls",
            "hyper_tls",
            "nginx_tls",
            "mitmdump",
            "litellm_gateway",
        ],
    ),
    (
        "sy_intercept_pgo",
        &[
            "sy_intercept",
            "tcp_relay",
            "lean_tls",
            "nginx_tls",
            "mitmdump",
        ],
    ),
    (
        "sy_intercept_busy",
        &["sy_intercept", "tcp_relay", "nginx_tls"],
    ),
    (
        "sy_intercept_meta",
        &["sy_intercept", "hyper_tls", "nginx_tls"],
    ),
    (
        "sy_gateway",
        &["tcp_relay", "nginx_tls", "mitmdump", "litellm_gateway"],
    ),
    ("sy_convert", &["nginx_tls", "mitmdump", "litellm_convert"]),
];

/// All runs, looked up by label and scenario.
pub struct Runs {
    runs: Vec<Value>,
}

impl Runs {
    /// Parses JSON lines; lines that are not JSON objects are skipped.
    pub fn parse(text: &str) -> Runs {
        Runs {
            runs: text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(Value::is_object)
                .collect(),
        }
    }

    /// Every run, in the order they ran.
    pub fn iter(&self) -> impl Iterator<Item = &Value> {
        self.runs.iter()
    }

    fn run(&self, label: &str, scenario: &str) -> Option<&Value> {
        // The last run wins if a scenario was repeated.
        self.runs
            .iter()
            .rev()
            .find(|r| r["label"] == label && r["scenario"] == scenario)
    }

    /// A number at a JSON pointer in one run.
    /// A load run that completed no request (a broken path) has no
    /// figures but its error count: zeros would read as "infinitely fast".
    pub fn num(&self, label: &str, scenario: &str, pointer: &str) -> Option<f64> {
        let run = self.run(label, scenario)?;
        if run["kind"] == "load" && run["requests"] == 0 && pointer != "/errors" {
            return None;
        }
        run.pointer(pointer)?.as_f64()
    }

    /// Latency over direct's, same scenario and metric.
    fn added(&self, label: &str, scenario: &str, pointer: &str) -> Option<f64> {
        Some(self.num(label, scenario, pointer)? - self.num("direct", scenario, pointer)?)
    }
}

fn f(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.decimals$}"),
        _ => "–".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

fn fx(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.2}×"),
        _ => "–".into(),
    }
}

/// One target: what it checks and whether it held.
struct Target {
    name: &'static str,
    measured: String,
    pass: Option<bool>,
}

/// A measured latency with what the bare TCP relay adds in the same run
/// beside it: a target below that floor is out of reach for any proxy on
/// this machine, however little it does.
fn with_floor(r: &Runs, value: Option<f64>, scenario: &str, pointer: &str) -> String {
    let floor = r.added("tcp_relay", scenario, pointer);
    match floor {
        Some(_) => format!("{} ms (TCP relay: {} ms)", f(value, 3), f(floor, 3)),
        None => format!("{} ms", f(value, 3)),
    }
}

fn targets(r: &Runs) -> Vec<Target> {
    let mut out = Vec::new();
    let mut add = |name, measured: String, pass: Option<bool>| {
        out.push(Target {
            name,
            measured,
            pass,
        })
    };
    let rps = |l| r.num(l, "json_c16", "/rps");
    let vs_mitm = ratio(rps("sy_intercept"), rps("mitmdump"));
    add(
        "intercepted req/s (c=16) ≥ 30× mitmdump",
        fx(vs_mitm),
        vs_mitm.map(|x| x >= 30.0),
    );
    let vs_nginx = ratio(rps("sy_intercept"), rps("nginx_tls"));
    add(
        "intercepted req/s (c=16) ≥ 0.8× nginx TLS",
        fx(vs_nginx),
        vs_nginx.map(|x| x >= 0.8),
    );
    // The same for the intercept's variants that ran. Without bodies is
    // switchyard doing the least it ever does: nginx logs nothing here.
    let variants = [
        ("sy_intercept_pgo", "… the same, switchyard built with PGO"),
        (
            "sy_intercept_meta",
            "… the same, audit without bodies (`max_body_bytes = 0`)",
        ),
    ];
    for (label, name) in variants {
        if r.run(label, "json_c16").is_some() {
            let vs = ratio(rps(label), rps("nginx_tls"));
            add(name, fx(vs), vs.map(|x| x >= 0.8));
        }
    }
    // The same verdicts from the head-to-head rounds: each ratio taken
    // within a round, so the machine's drift over minutes moves them less.
    let paired = [
        (
            "sy_intercept",
            "intercepted req/s (c=16) ≥ 0.8× nginx TLS, paired in interleaved rounds (median)",
        ),
        (
            "sy_intercept_meta",
            "… the same, audit without bodies, paired in interleaved rounds (median)",
        ),
    ];
    for (label, name) in paired {
        if let Some(p) = rounds::paired(r, label, "nginx_tls") {
            let measured = format!("{}, {} rounds", rounds::ratio_text(&p), p.rounds);
            add(name, measured, Some(p.median >= 0.8));
        }
    }
    // Each latency target again for the busy-polling row, when it ran.
    let busy = r.run("sy_intercept_busy", "json_c1").is_some();
    let latency = [
        (
            "intercept added latency p50 (c=1) ≤ 0.1 ms",
            "json_c1",
            "/latency/p50_ms",
            0.1,
        ),
        (
            "intercept added latency p99 (c=1) ≤ 0.5 ms",
            "json_c1",
            "/latency/p99_ms",
            0.5,
        ),
        (
            "SSE first-event overhead p50 (intercept) ≤ 0.2 ms",
            "sse",
            "/ttfe/p50_ms",
            0.2,
        ),
    ];
    for (name, scenario, pointer, limit) in latency {
        let added = r.added("sy_intercept", scenario, pointer);
        add(
            name,
            with_floor(r, added, scenario, pointer),
            added.map(|x| x <= limit),
        );
        if busy {
            let added = r.added("sy_intercept_busy", scenario, pointer);
            add(
                "… the same, with busy polling (`busy_poll_us = 200`)",
                with_floor(r, added, scenario, pointer),
                added.map(|x| x <= limit),
            );
        }
    }
    unpinned_targets(r, &mut add);
    // The same with CPUs kept awake: streams back to back, no gaps. The
    // difference between the two rows is the cost of waking idle CPUs.
    let warm = r.added("sy_intercept", "sse_warm", "/ttfe/p50_ms");
    add(
        "… the same, streams back to back (no idle CPUs)",
        with_floor(r, warm, "sse_warm", "/ttfe/p50_ms"),
        warm.map(|x| x <= 0.2),
    );
    // No buffering: upstream events reach the client in as many separate
    // bursts as on the direct path. A buffering proxy collapses a stream
    // into one or two; scheduling noise on a loaded machine merges a few
    // (a frame delayed past the next one's arrival), hence 80%.
    let bursts = |l| r.num(l, "sse", "/bursts_per_stream");
    let unbuffered = match (
        bursts("sy_intercept"),
        bursts("sy_gateway"),
        bursts("direct"),
    ) {
        (Some(i), Some(g), Some(d)) => Some(i >= 0.8 * d && g >= 0.8 * d),
        _ => None,
    };
    add(
        "SSE zero buffering (bursts per stream ≥ 80% of direct)",
        format!(
            "direct {} / intercept {} / gateway {}",
            f(bursts("direct"), 1),
            f(bursts("sy_intercept"), 1),
            f(bursts("sy_gateway"), 1)
        ),
        unbuffered,
    );
    let conv = r.added("sy_convert", "json_c1", "/latency/p50_ms");
    add(
        "conversion added latency p50 (c=1) ≤ 0.3 ms",
        with_floor(r, conv, "json_c1", "/latency/p50_ms"),
        conv.map(|x| x <= 0.3),
    );
    let lite = r.added("litellm_convert", "json_c1", "/latency/p50_ms");
    // A switchyard overhead below the clock's resolution counts as 1 µs.
    let better = ratio(lite, conv.map(|c| c.max(0.001)));
    add(
        "conversion added latency ≥ 50× better than LiteLLM's",
        fx(better),
        better.map(|x| x >= 50.0),
    );
    let new_host = r.num("sy_intercept", "newhost", "/new_tls_ready/p50_ms");
    add(
        "first CONNECT to a new host (mint + handshake) p50 ≤ 5 ms",
        format!("{} ms", f(new_host, 2)),
        new_host.map(|x| x <= 5.0),
    );
    let idle = r.num("sy_intercept", "rss_idle", "/rss_mb");
    add(
        "RSS idle ≤ 30 MB",
        format!("{} MB", f(idle, 1)),
        idle.map(|x| x <= 30.0),
    );
    let held = r.num("sy_intercept", "hold", "/rss_open_mb");
    let opened = r.num("sy_intercept", "hold", "/opened");
    let asked = r.num("sy_intercept", "hold", "/streams");
    add(
        "RSS with 1,000 open streams ≤ 150 MB",
        format!(
            "{} MB ({} of {} open)",
            f(held, 1),
            f(opened, 0),
            f(asked, 0)
        ),
        match (held, opened, asked) {
            (Some(h), Some(o), Some(a)) => Some(h <= 150.0 && o >= a),
            _ => None,
        },
    );
    out
}

/// The c=1 latency targets measured with nothing pinned (proxy, client and
/// upstream share the CPUs, as on a workstation), when that phase ran.
const UNPINNED: &[(&str, &str, &str, &str, f64)] = &[
    (
        "… intercept added latency p50 (c=1) ≤ 0.1 ms, nothing pinned",
        "sy_intercept",
        "json_c1_free",
        "/latency/p50_ms",
        0.1,
    ),
    (
        "… intercept added latency p99 (c=1) ≤ 0.5 ms, nothing pinned",
        "sy_intercept",
        "json_c1_free",
        "/latency/p99_ms",
        0.5,
    ),
    (
        "… SSE first-event overhead p50 (intercept) ≤ 0.2 ms, nothing pinned",
        "sy_intercept",
        "sse_free",
        "/ttfe/p50_ms",
        0.2,
    ),
    (
        "… conversion added latency p50 (c=1) ≤ 0.3 ms, nothing pinned",
        "sy_convert",
        "json_c1_free",
        "/latency/p50_ms",
        0.3,
    ),
];

fn unpinned_targets(r: &Runs, add: &mut impl FnMut(&'static str, String, Option<bool>)) {
    for &(name, label, scenario, pointer, limit) in UNPINNED {
        if r.run(label, scenario).is_none() {
            continue;
        }
        let added = r.added(label, scenario, pointer);
        add(
            name,
            with_floor(r, added, scenario, pointer),
            added.map(|x| x <= limit),
        );
    }
}

/// The c=1 runs again with nothing pinned: what a proxy adds when it can
/// run on the CPU its client just used, instead of waking another.
fn unpinned_table(s: &mut String, r: &Runs, present: &[&(&str, &str)]) {
    let rows: Vec<&str> = present
        .iter()
        .map(|(l, _)| *l)
        .filter(|l| r.run(l, "json_c1_free").is_some() || r.run(l, "sse_free").is_some())
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n### Nothing pinned: latency at c=1\n");
    let _ = writeln!(
        s,
        "| path | req/s c=1 | p50 ms | p99 ms | added p50 ms | added p99 ms | first event p50 ms | added first event p50 ms |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for l in rows {
        let _ = writeln!(
            s,
            "| {l} | {} | {} | {} | {} | {} | {} | {} |",
            f(r.num(l, "json_c1_free", "/rps"), 0),
            f(r.num(l, "json_c1_free", "/latency/p50_ms"), 3),
            f(r.num(l, "json_c1_free", "/latency/p99_ms"), 3),
            f(r.added(l, "json_c1_free", "/latency/p50_ms"), 3),
            f(r.added(l, "json_c1_free", "/latency/p99_ms"), 3),
            f(r.num(l, "sse_free", "/ttfe/p50_ms"), 3),
            f(r.added(l, "sse_free", "/ttfe/p50_ms"), 3),
        );
    }
}

/// The markdown report. `meta` is free-form context (machine, contention,
/// settings) from the bench script.
pub fn markdown(r: &Runs, meta: &Value) -> String {
    let mut s = String::new();
    let present: Vec<&(&str, &str)> = PATHS
        .iter()
        .filter(|(l, _)| r.runs.iter().any(|x| x["label"] == *l))
        .collect();
    let _ = writeln!(s, "### Throughput and latency (1 KB JSON answers)\n");
    let _ = writeln!(
        s,
        "| path | req/s c=1 | req/s c=16 | proxy CPU µs/req c=16 | of it kernel | p50 ms c=1 | p99 ms c=1 | added p50 ms | added p99 ms | p50 ms c=16 | p99 ms c=16 | errors | other CPU c=16 |"
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (l, _) in &present {
        let n = |sc, p| r.num(l, sc, p);
        let errors =
            n("json_c1", "/errors").unwrap_or(0.0) + n("json_c16", "/errors").unwrap_or(0.0);
        let _ = writeln!(
            s,
            "| {l} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            f(n("json_c1", "/rps"), 0),
            f(n("json_c16", "/rps"), 0),
            f(n("json_c16", "/proxy_cpu_us_per_req"), 1),
            f(n("json_c16", "/proxy_sys_us_per_req"), 1),
            f(n("json_c1", "/latency/p50_ms"), 3),
            f(n("json_c1", "/latency/p99_ms"), 3),
            f(r.added(l, "json_c1", "/latency/p50_ms"), 3),
            f(r.added(l, "json_c1", "/latency/p99_ms"), 3),
            f(n("json_c16", "/latency/p50_ms"), 3),
            f(n("json_c16", "/latency/p99_ms"), 3),
            errors,
            n("json_c16", "/other_cpu_share")
                .map_or("–".into(), |x| format!("{:.0}%", x * 100.0)),
        );
    }
    agent_table(&mut s, r, &present);
    let _ = writeln!(s, "\n### SSE streams\n");
    let _ = writeln!(
        s,
        "| path | first event p50 ms | added p50 ms | first event p99 ms | gap mean ms | added gap ms | gap p99 ms | bursts/stream | back-to-back: first event p50 ms | back-to-back: added p50 ms |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (l, _) in &present {
        if r.run(l, "sse").is_none() {
            continue;
        }
        let n = |p| r.num(l, "sse", p);
        let _ = writeln!(
            s,
            "| {l} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            f(n("/ttfe/p50_ms"), 3),
            f(r.added(l, "sse", "/ttfe/p50_ms"), 3),
            f(n("/ttfe/p99_ms"), 3),
            f(n("/gap/mean_ms"), 3),
            f(r.added(l, "sse", "/gap/mean_ms"), 3),
            f(n("/gap/p99_ms"), 3),
            f(n("/bursts_per_stream"), 1),
            f(r.num(l, "sse_warm", "/ttfe/p50_ms"), 3),
            f(r.added(l, "sse_warm", "/ttfe/p50_ms"), 3),
        );
    }
    unpinned_table(&mut s, r, &present);
    let _ = writeln!(s, "\n### switchyard against every peer\n");
    let _ = writeln!(
        s,
        "Ratios > 1 favour switchyard: req/s = switchyard ÷ peer; CPU/req, added p50 and added first-event = peer ÷ switchyard.\n"
    );
    let _ = writeln!(
        s,
        "| switchyard path | peer | req/s c=16 | req/s c=1 | CPU per request | added p50 c=1 | added first event |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|");
    for (sy, peers) in PAIRS {
        for peer in *peers {
            if r.run(sy, "json_c16").is_none() || r.run(peer, "json_c16").is_none() {
                continue;
            }
            let floor = |v: Option<f64>| v.map(|x| x.max(0.001));
            let _ = writeln!(
                s,
                "| {sy} | {peer} | {} | {} | {} | {} | {} |",
                fx(ratio(
                    r.num(sy, "json_c16", "/rps"),
                    r.num(peer, "json_c16", "/rps")
                )),
                fx(ratio(
                    r.num(sy, "json_c1", "/rps"),
                    r.num(peer, "json_c1", "/rps")
                )),
                fx(ratio(
                    r.num(peer, "json_c16", "/proxy_cpu_us_per_req"),
                    r.num(sy, "json_c16", "/proxy_cpu_us_per_req")
                )),
                fx(ratio(
                    r.added(peer, "json_c1", "/latency/p50_ms"),
                    floor(r.added(sy, "json_c1", "/latency/p50_ms"))
                )),
                fx(ratio(
                    r.added(peer, "sse", "/ttfe/p50_ms"),
                    floor(r.added(sy, "sse", "/ttfe/p50_ms"))
                )),
            );
        }
    }
    rounds::markdown(r, &mut s);
    let _ = writeln!(s, "\n### New hosts and memory\n");
    let _ = writeln!(
        s,
        "| path | new host: CONNECT+TLS p50 / p99 ms | proxy CPU ms per new host | warm host p50 ms | RSS idle MB | RSS after load MB | RSS with N open streams MB |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
    for (l, _) in &present {
        let n = |sc, p| r.num(l, sc, p);
        let hold = match (n("hold", "/rss_open_mb"), n("hold", "/opened")) {
            (Some(m), Some(o)) => format!("{m:.1} (N={o:.0})"),
            _ => "–".into(),
        };
        if n("rss_idle", "/rss_mb").is_none() && n("newhost", "/count").is_none() {
            continue;
        }
        let _ = writeln!(
            s,
            "| {l} | {} / {} | {} | {} | {} | {} | {hold} |",
            f(n("newhost", "/new_tls_ready/p50_ms"), 2),
            f(n("newhost", "/new_tls_ready/p99_ms"), 2),
            f(n("newhost", "/proxy_cpu_ms_per_new_host"), 2),
            f(n("newhost", "/warm_tls_ready/p50_ms"), 2),
            f(n("rss_idle", "/rss_mb"), 1),
            f(n("rss_after", "/rss_mb"), 1),
        );
    }
    let _ = writeln!(s, "\n### Targets (reported, not asserted)\n");
    let _ = writeln!(s, "| target | measured | result |");
    let _ = writeln!(s, "|---|---|---|");
    for t in targets(r) {
        let verdict = match t.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "n/a",
        };
        let _ = writeln!(s, "| {} | {} | {verdict} |", t.name, t.measured);
    }
    let _ = writeln!(s, "\n### Paths\n");
    for (l, what) in &present {
        let _ = writeln!(s, "- `{l}`: {what}");
    }
    if let Some(text) = meta.get("contention").and_then(Value::as_str) {
        let _ = writeln!(
            s,
            "\n### Machine and contention\n\n```\n{}\n```",
            text.trim_end()
        );
    }
    s
}

/// Requests the size a coding agent sends (tools and a long conversation).
fn agent_table(s: &mut String, r: &Runs, present: &[&(&str, &str)]) {
    if !present.iter().any(|(l, _)| r.run(l, "agent_c16").is_some()) {
        return;
    }
    let _ = writeln!(s, "\n### Coding-agent-sized requests (100 KB JSON, c=16)\n");
    let _ = writeln!(
        s,
        "| path | req/s | proxy CPU µs/req | p50 ms | p99 ms | added p50 ms | errors |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
    for (l, _) in present {
        if r.run(l, "agent_c16").is_none() {
            continue;
        }
        let n = |p| r.num(l, "agent_c16", p);
        let _ = writeln!(
            s,
            "| {l} | {} | {} | {} | {} | {} | {} |",
            f(n("/rps"), 0),
            f(n("/proxy_cpu_us_per_req"), 1),
            f(n("/latency/p50_ms"), 3),
            f(n("/latency/p99_ms"), 3),
            f(r.added(l, "agent_c16", "/latency/p50_ms"), 3),
            f(n("/errors"), 0),
        );
    }
}

/// The results file: context, every run as measured, and the targets.
pub fn results_json(r: &Runs, meta: &Value) -> Value {
    let targets: Vec<Value> = targets(r)
        .into_iter()
        .map(|t| json!({"target": t.name, "measured": t.measured, "pass": t.pass}))
        .collect();
    json!({ "meta": meta, "runs": r.runs, "targets": targets, "rounds": rounds::json(r) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_runs_are_dashes_and_added_latency_is_against_direct() {
        let r = Runs::parse(
            r#"{"label":"direct","scenario":"json_c1","rps":1000,"latency":{"p50_ms":0.1,"p99_ms":0.2}}
not json
{"label":"sy_intercept","scenario":"json_c1","rps":800,"latency":{"p50_ms":0.15,"p99_ms":0.5}}"#,
        );
        let added = r
            .added("sy_intercept", "json_c1", "/latency/p50_ms")
            .unwrap();
        assert!((added - 0.05).abs() < 1e-9);
        let md = markdown(&r, &json!({}));
        assert!(md.contains("| sy_intercept | 800 | – |"), "{md}");
        assert!(md.contains("| intercept added latency p50 (c=1) ≤ 0.1 ms | 0.050 ms | PASS |"));
        assert!(md.contains("| intercepted req/s (c=16) ≥ 30× mitmdump | – | n/a |"));
    }

    #[test]
    fn back_to_back_streams_are_reported_beside_streams_with_gaps() {
        let r = Runs::parse(
            r#"{"label":"direct","scenario":"sse","ttfe":{"p50_ms":0.2}}
{"label":"direct","scenario":"sse_warm","ttfe":{"p50_ms":0.02}}
{"label":"sy_intercept","scenario":"sse","ttfe":{"p50_ms":1.2}}
{"label":"sy_intercept","scenario":"sse_warm","ttfe":{"p50_ms":0.2}}"#,
        );
        let md = markdown(&r, &json!({}));
        assert!(
            md.contains("| SSE first-event overhead p50 (intercept) ≤ 0.2 ms | 1.000 ms | FAIL |"),
            "{md}"
        );
        assert!(
            md.contains("| … the same, streams back to back (no idle CPUs) | 0.180 ms | PASS |"),
            "{md}"
        );
        assert!(md.contains("| 0.200 | 0.180 |"), "{md}");
        assert!(
            !md.contains("Coding-agent-sized"),
            "no agent runs, no table: {md}"
        );
    }

    #[test]
    fn latency_targets_show_the_tcp_relay_floor_when_it_was_measured() {
        let r = Runs::parse(
            r#"{"label":"direct","scenario":"json_c1","rps":50000,"latency":{"p50_ms":0.01,"p99_ms":0.05}}
{"label":"tcp_relay","scenario":"json_c1","rps":5000,"latency":{"p50_ms":0.17,"p99_ms":0.3}}
{"label":"sy_intercept","scenario":"json_c1","rps":4000,"latency":{"p50_ms":0.22,"p99_ms":0.4}}"#,
        );
        let md = markdown(&r, &json!({}));
        assert!(
            md.contains(
                "| intercept added latency p50 (c=1) ≤ 0.1 ms | 0.210 ms (TCP relay: 0.160 ms) | FAIL |"
            ),
            "{md}"
        );
        assert!(md.contains("| tcp_relay | 5000 |"), "{md}");
        assert!(md.contains("- `tcp_relay`: TCP relay"), "{md}");
    }

    #[test]
    fn busy_polling_gets_its_row_and_its_own_latency_verdicts() {
        let r = Runs::parse(
            r#"{"label":"direct","scenario":"json_c1","rps":50000,"latency":{"p50_ms":0.01,"p99_ms":0.05}}
{"label":"sy_intercept","scenario":"json_c1","rps":4000,"latency":{"p50_ms":0.2,"p99_ms":0.4}}
{"label":"sy_intercept_busy","scenario":"json_c1","rps":8000,"latency":{"p50_ms":0.1,"p99_ms":0.3}}
{"label":"sy_intercept","scenario":"json_c16","rps":30000,"proxy_cpu_us_per_req":33.0}
{"label":"sy_intercept_busy","scenario":"json_c16","rps":30000,"proxy_cpu_us_per_req":33.0}"#,
        );
        let md = markdown(&r, &json!({}));
        assert!(
            md.contains("| intercept added latency p50 (c=1) ≤ 0.1 ms | 0.190 ms | FAIL |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| … the same, with busy polling (`busy_poll_us = 200`) | 0.090 ms | PASS |"
            ),
            "{md}"
        );
        assert!(md.contains("| sy_intercept_busy | 8000 |"), "{md}");
        assert!(
            md.contains("| sy_intercept_busy | sy_intercept | 1.00× | 2.00× | 1.00× | 2.11× |"),
            "{md}"
        );
        let without = markdown(&Runs::parse(""), &json!({}));
        assert!(!without.contains("busy polling"), "{without}");
    }

    #[test]
    fn unpinned_latency_gets_its_table_and_its_own_verdicts() {
        let r = Runs::parse(
            r#"{"label":"direct","scenario":"json_c1","rps":50000,"latency":{"p50_ms":0.01,"p99_ms":0.05}}
{"label":"sy_intercept","scenario":"json_c1","rps":4000,"latency":{"p50_ms":0.2,"p99_ms":0.4}}
{"label":"direct","scenario":"json_c1_free","rps":9000,"latency":{"p50_ms":0.08,"p99_ms":0.2}}
{"label":"tcp_relay","scenario":"json_c1_free","rps":8000,"latency":{"p50_ms":0.1,"p99_ms":0.25}}
{"label":"sy_intercept","scenario":"json_c1_free","rps":6000,"latency":{"p50_ms":0.15,"p99_ms":0.9}}
{"label":"direct","scenario":"sse_free","ttfe":{"p50_ms":0.1}}
{"label":"sy_intercept","scenario":"sse_free","ttfe":{"p50_ms":0.25}}"#,
        );
        let md = markdown(&r, &json!({}));
        assert!(
            md.contains("| intercept added latency p50 (c=1) ≤ 0.1 ms | 0.190 ms | FAIL |"),
            "the pinned verdict stays: {md}"
        );
        assert!(
            md.contains("| … intercept added latency p50 (c=1) ≤ 0.1 ms, nothing pinned | 0.070 ms (TCP relay: 0.020 ms) | PASS |"),
            "{md}"
        );
        assert!(
            md.contains("| … intercept added latency p99 (c=1) ≤ 0.5 ms, nothing pinned | 0.700 ms (TCP relay: 0.050 ms) | FAIL |"),
            "{md}"
        );
        assert!(
            md.contains("| … SSE first-event overhead p50 (intercept) ≤ 0.2 ms, nothing pinned | 0.150 ms | PASS |"),
            "{md}"
        );
        assert!(
            !md.contains("conversion added latency p50 (c=1) ≤ 0.3 ms, nothing pinned"),
            "{md}"
        );
        assert!(md.contains("### Nothing pinned: latency at c=1"), "{md}");
        assert!(
            md.contains("| sy_intercept | 6000 | 0.150 | 0.900 | 0.070 | 0.700 | 0.250 | 0.150 |"),
            "{md}"
        );
        assert!(
            md.contains("| tcp_relay | 8000 | 0.100 | 0.250 | 0.020 | 0.050 | – | – |"),
            "{md}"
        );
        let without = markdown(&Runs::parse(""), &json!({}));
        assert!(!without.contains("nothing pinned"), "{without}");
        assert!(!without.contains("Nothing pinned"), "{without}");
    }

    #[test]
    fn agent_sized_requests_get_their_own_table() {
        let r = Runs::parse(
            r#"{"label":"direct","scenario":"agent_c16","rps":7000,"errors":0,"latency":{"p50_ms":2.0,"p99_ms":4.0}}
{"label":"sy_gateway","scenario":"agent_c16","rps":6000,"errors":0,"proxy_cpu_us_per_req":80.5,"latency":{"p50_ms":2.5,"p99_ms":5.0}}"#,
        );
        let md = markdown(&r, &json!({}));
        assert!(
            md.contains("| sy_gateway | 6000 | 80.5 | 2.500 | 5.000 | 0.500 | 0 |"),
            "{md}"
        );
    }

    #[test]
    fn the_stack_floors_are_rows_and_comparisons() {
        let r = Runs::parse(
            r#"{"label":"sy_intercept","scenario":"json_c16","rps":20000,"proxy_cpu_us_per_req":40.0}
{"label":"lean_tls","scenario":"json_c16","rps":50000,"proxy_cpu_us_per_req":12.0,"proxy_sys_us_per_req":7.5}
{"label":"hyper_tls","scenario":"json_c16","rps":40000,"proxy_cpu_us_per_req":16.0}"#,
        );
        let md = markdown(&r, &json!({}));
        // The kernel's share beside the total; a run without it (older
        // results files) shows a dash.
        assert!(md.contains("| lean_tls | – | 50000 | 12.0 | 7.5 |"), "{md}");
        assert!(md.contains("| hyper_tls | – | 40000 | 16.0 | – |"), "{md}");
        assert!(
            md.contains("- `lean_tls`: lean TLS + HTTP/1.1 relay"),
            "{md}"
        );
        assert!(md.contains("| sy_intercept | lean_tls | 0.40× |"), "{md}");
        assert!(md.contains("| sy_intercept | hyper_tls | 0.50× |"), "{md}");
    }

    /// The variant rows of the intercept (one more build, one more setting):
    /// each is compared with the plain intercept and gets its own verdict on
    /// the nginx target, and neither appears when the variant did not run.
    #[test]
    fn intercept_variants_are_compared_with_the_default_and_with_nginx() {
        let cases = [
            (
                "sy_intercept_pgo",
                23000,
                35.0,
                46000,
                "| sy_intercept_pgo | sy_intercept | 1.15× | – | 1.14× |",
                "| … the same, switchyard built with PGO | 0.50× | FAIL |",
                "PGO",
            ),
            (
                "sy_intercept_meta",
                25000,
                32.0,
                30000,
                "| sy_intercept_meta | sy_intercept | 1.25× | – | 1.25× |",
                "| … the same, audit without bodies (`max_body_bytes = 0`) | 0.83× | PASS |",
                "audit without bodies",
            ),
        ];
        for (label, rps, cpu, nginx, comparison, verdict, named) in cases {
            let r = Runs::parse(&format!(
                r#"{{"label":"sy_intercept","scenario":"json_c16","rps":20000,"proxy_cpu_us_per_req":40.0}}
{{"label":"{label}","scenario":"json_c16","rps":{rps},"proxy_cpu_us_per_req":{cpu}}}
{{"label":"nginx_tls","scenario":"json_c16","rps":{nginx},"proxy_cpu_us_per_req":20.0}}"#
            ));
            let md = markdown(&r, &json!({}));
            assert!(md.contains(comparison), "{md}");
            assert!(md.contains(verdict), "{md}");
            assert!(md.contains(&format!("- `{label}`: ")), "{md}");
            let without = markdown(&Runs::parse(""), &json!({}));
            assert!(!without.contains(named), "{without}");
        }
    }

    #[test]
    fn interleaved_rounds_give_the_nginx_target_paired_verdicts() {
        let round = crate::rounds::test_run;
        let r = Runs::parse(
            &[
                round("sy_intercept", 1, 14000.0),
                round("sy_intercept_meta", 1, 17000.0),
                round("nginx_tls", 1, 20000.0),
                round("sy_intercept", 2, 7000.0),
                round("sy_intercept_meta", 2, 8000.0),
                round("nginx_tls", 2, 10000.0),
            ]
            .join("\n"),
        );
        let md = markdown(&r, &json!({}));
        assert!(
            md.contains("| intercepted req/s (c=16) ≥ 0.8× nginx TLS, paired in interleaved rounds (median) | 0.70× (0.70–0.70×), 2 rounds | FAIL |"),
            "{md}"
        );
        assert!(
            md.contains("| … the same, audit without bodies, paired in interleaved rounds (median) | 0.82× (0.80–0.85×), 2 rounds | PASS |"),
            "{md}"
        );
        assert!(md.contains("### Head to head"), "{md}");
        assert_eq!(
            results_json(&r, &json!({}))["rounds"]["rps"]["nginx_tls"]["median"],
            15000.0
        );
        let without = markdown(&Runs::parse(""), &json!({}));
        assert!(!without.contains("interleaved"), "{without}");
    }
}
