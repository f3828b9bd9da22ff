//! `loadgen`: the benchmark's load client. Each subcommand prints one JSON
//! object on stdout (one line), which `bench-report` later reads.
//!
//! ```text
//! loadgen load    --label L --scenario S --addr A [--via plain|tls|connect] …
//! loadgen newhost --label L --addr PROXY --ca CA --count N
//! loadgen hold    --label L --addr A --via connect --streams 1000 --pid P
//! loadgen rss     --label L --pid P…
//! ```
//!
//! `--pid` names the process(es) under test (their CPU time and RSS are
//! read from /proc); `--aux-pid` the other helpers (the upstream), so that
//! the CPU taken by *unrelated* processes during the window can be reported.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use loadgen::bodies::{agent_body, small_body, Api};
use loadgen::client::{self, Load, RequestSpec, SseSpec, Target, Via};
use loadgen::procfs;
use loadgen::stats::summarize;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(about = "switchyard benchmark load client")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Keep-alive load for a duration; req/s, latency, CPU per request, SSE timings.
    Load(LoadArgs),
    /// Fresh connections to new hostnames (leaf mint + handshake), then to a warm one.
    Newhost(NewhostArgs),
    /// Hold many streams open at once and read the server's RSS.
    Hold(HoldArgs),
    /// Read RSS of the given processes.
    Rss(Common),
}

#[derive(Args, Clone)]
struct Common {
    /// Name of the path under test (a row of the table).
    #[arg(long)]
    label: String,
    /// Name of the measurement (a column group of the table).
    #[arg(long, default_value = "")]
    scenario: String,
    /// Process(es) under test: CPU time and RSS are read for these.
    #[arg(long = "pid")]
    pids: Vec<u32>,
    /// Helper processes (the upstream), excluded from "other CPU".
    #[arg(long = "aux-pid")]
    aux_pids: Vec<u32>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ViaArg {
    Plain,
    Tls,
    Connect,
}

#[derive(Args, Clone)]
struct TargetArgs {
    /// Server (or proxy, with --via connect) address.
    #[arg(long)]
    addr: SocketAddr,
    #[arg(long, value_enum, default_value = "plain")]
    via: ViaArg,
    /// Host header / SNI / CONNECT host.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Port named in CONNECT.
    #[arg(long, default_value_t = 443)]
    connect_port: u16,
    /// PEM CA(s) to trust for TLS.
    #[arg(long)]
    ca: Vec<PathBuf>,
    /// Request path; default from --api.
    #[arg(long)]
    path: Option<String>,
    #[arg(long, value_enum, default_value = "chat")]
    api: Api,
    /// Model in the request body; default from --api.
    #[arg(long)]
    model: Option<String>,
    /// Extra request header, `name: value`.
    #[arg(long = "header")]
    headers: Vec<String>,
}

#[derive(Args)]
struct LoadArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    target: TargetArgs,
    #[arg(short = 'c', long, default_value_t = 1)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(short = 'd', long, default_value_t = 5.0)]
    duration: f64,
    /// Unmeasured seconds first (connections, leaf cache, allocator).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Ask for SSE and time events.
    #[arg(long)]
    stream: bool,
    /// With --stream: the upstream's gap between events, in ms; frames
    /// closer together than half of it count as one burst.
    #[arg(long, default_value_t = 0.0)]
    sse_gap_ms: f64,
    /// Stop after this many measured requests (fixed work, for callgrind).
    #[arg(long)]
    requests: Option<u64>,
    /// Grow the request to about this many KB the way a coding agent's
    /// requests are big: tool definitions and a long conversation.
    #[arg(long, default_value_t = 0)]
    request_kb: usize,
}

#[derive(Args)]
struct NewhostArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    target: TargetArgs,
    /// Distinct new hostnames to connect to (then as many warm reconnects).
    #[arg(long, default_value_t = 50)]
    count: usize,
    /// Hostnames are `nI-NONCE.DOMAIN`; DOMAIN must be intercepted.
    #[arg(long, default_value = "bench.test")]
    domain: String,
}

#[derive(Args)]
struct HoldArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    target: TargetArgs,
    #[arg(long, default_value_t = 1000)]
    streams: usize,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 32)]
    parallel: usize,
    /// Give up waiting for the streams after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One worker thread: the client shares a core with the upstream and
    // must not take the proxy's. Its own CPU is reported.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli.cmd)) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cmd: Cmd) -> Result<Value, String> {
    match cmd {
        Cmd::Load(a) => load(a).await,
        Cmd::Newhost(a) => newhost(a).await,
        Cmd::Hold(a) => hold(a).await,
        Cmd::Rss(c) => Ok(with_common(
            &c,
            json!({ "rss_mb": mb(procfs::rss_bytes_all(&c.pids)) }),
        )),
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Label, scenario and the machine's state, merged into a result.
fn with_common(c: &Common, mut v: Value) -> Value {
    let o = v.as_object_mut().expect("results are objects");
    o.insert("label".into(), json!(c.label));
    o.insert("scenario".into(), json!(c.scenario));
    o.insert("loadavg_1m".into(), json!(procfs::loadavg()));
    o.insert("machine_cpus".into(), json!(procfs::cpus()));
    v
}

fn target_of(t: &TargetArgs) -> Result<(Target, RequestSpec), String> {
    let via = match t.via {
        ViaArg::Plain => Via::Plain,
        ViaArg::Tls => Via::Tls,
        ViaArg::Connect => Via::Connect {
            port: t.connect_port,
        },
    };
    let tls = match (&via, t.ca.is_empty()) {
        (Via::Plain, _) => None,
        (_, true) => return Err("--via tls/connect needs --ca".into()),
        (_, false) => Some(loadgen::tls::client_config(&t.ca)?),
    };
    let mut headers = vec![("authorization".to_owned(), "Bearer sk-bench".to_owned())];
    if matches!(t.api, Api::Messages) {
        headers.push(("anthropic-version".into(), "2023-06-01".into()));
    }
    for h in &t.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| format!("--header {h:?}: expected `name: value`"))?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    Ok((
        Target {
            addr: t.addr,
            via,
            tls,
        },
        RequestSpec {
            host: t.host.clone(),
            path: t.path.clone().unwrap_or_else(|| t.api.path().to_owned()),
            body: Bytes::new(),
            headers,
            expect: Some(client::Expect {
                json_key: t.api.answer_key(),
                sse_end: t.api.stream_end(),
            }),
        },
    ))
    .map(|(target, mut spec)| {
        spec.body = small_body(&model_of(t), false, t.api);
        (target, spec)
    })
}

/// The model named on the command line, or the API's bench model.
fn model_of(t: &TargetArgs) -> String {
    t.model
        .clone()
        .unwrap_or_else(|| t.api.default_model().to_owned())
}

/// The CPU counters a load run reads when its window opens and when it
/// closes: the proxy's processes, the helpers, the load client itself, the
/// whole machine, and the steal the hypervisor took from it.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    proxy: procfs::CpuTimes,
    aux: f64,
    me: f64,
    machine: f64,
    steal: f64,
}

impl Counters {
    fn read(pids: &[u32], aux: &[u32], me: u32) -> Counters {
        Counters {
            proxy: procfs::cpu_times_all(pids),
            aux: procfs::cpu_seconds_all(aux),
            me: procfs::cpu_seconds(me),
            machine: procfs::machine_busy_seconds(),
            steal: procfs::machine_steal_seconds(),
        }
    }

    /// What was spent between `earlier` and `self`.
    fn since(self, earlier: Counters) -> Counters {
        Counters {
            proxy: self.proxy.since(earlier.proxy),
            aux: self.aux - earlier.aux,
            me: self.me - earlier.me,
            machine: self.machine - earlier.machine,
            steal: self.steal - earlier.steal,
        }
    }
}

async fn load(a: LoadArgs) -> Result<Value, String> {
    let (target, mut request) = target_of(&a.target)?;
    let model = model_of(&a.target);
    request.body = if a.request_kb == 0 {
        small_body(&model, a.stream, a.target.api)
    } else {
        agent_body(&model, a.stream, a.target.api, a.request_kb * 1024)
    };
    let sse = a.stream.then(|| SseSpec {
        burst_window: Duration::from_secs_f64(a.sse_gap_ms / 2.0 / 1000.0),
    });
    let load = Load {
        target,
        request,
        concurrency: a.concurrency,
        warmup: Duration::from_secs_f64(a.warmup),
        duration: Duration::from_secs_f64(a.duration),
        sse,
        max_requests: a.requests,
    };
    let me = std::process::id();
    let pids = a.common.pids.clone();
    let aux = a.common.aux_pids.clone();
    let read = || Counters::read(&pids, &aux, me);
    let before = std::sync::Mutex::new(Counters::default());
    let (mut out, window) = client::run(load, || {
        *before.lock().unwrap() = read();
    })
    .await;
    let spent = read().since(*before.lock().unwrap());
    let proxy_times = spent.proxy;
    let proxy_cpu = proxy_times.total();
    let (aux_cpu, self_cpu, steal) = (spent.aux, spent.me, spent.steal);
    let secs = window.as_secs_f64().max(1e-9);
    let other = (spent.machine - proxy_cpu - aux_cpu - self_cpu).max(0.0);
    let requests = out.requests;
    let mut v = json!({
        "kind": "load",
        "concurrency": a.concurrency,
        "stream": a.stream,
        "window_s": secs,
        "requests": requests,
        "errors": out.errors,
        "first_error": out.first_error,
        "rps": requests as f64 / secs,
        "response_bytes_mean": if requests > 0 { out.response_bytes as f64 / requests as f64 } else { 0.0 },
        "latency": summarize(&mut out.latency),
        "proxy_cpu_s": proxy_cpu,
        // null without a process under test (the direct path).
        "proxy_cpu_us_per_req": (requests > 0 && !pids.is_empty()).then(|| proxy_cpu * 1e6 / requests as f64),
        // The kernel's share of it: sockets, TLS records' syscalls, files.
        "proxy_sys_us_per_req": (requests > 0 && !pids.is_empty()).then(|| proxy_times.system * 1e6 / requests as f64),
        "proxy_rss_mb": mb(procfs::rss_bytes_all(&pids)),
        "upstream_cpu_s": aux_cpu,
        "client_cpu_s": self_cpu,
        "other_cpu_s": other,
        "other_cpu_share": other / (secs * procfs::cpus() as f64),
        // The part of "other" the hypervisor took: the VM's CPUs not running.
        "steal_share": steal / (secs * procfs::cpus() as f64),
    });
    if a.stream {
        let o = v.as_object_mut().expect("object");
        o.insert("streams".into(), json!(out.streams));
        o.insert("ttfe".into(), json!(summarize(&mut out.ttfe)));
        o.insert("gap".into(), json!(summarize(&mut out.gaps)));
        o.insert("sse_gap_ms".into(), json!(a.sse_gap_ms));
        let per = |n: u64| {
            if out.streams > 0 {
                n as f64 / out.streams as f64
            } else {
                0.0
            }
        };
        o.insert("events_per_stream".into(), json!(per(out.events)));
        o.insert("bursts_per_stream".into(), json!(per(out.bursts)));
    }
    Ok(with_common(&a.common, v))
}

async fn newhost(a: NewhostArgs) -> Result<Value, String> {
    let (target, request) = target_of(&a.target)?;
    if !matches!(target.via, Via::Connect { .. }) {
        return Err("newhost needs --via connect".into());
    }
    // A nonce keeps names new across runs against a long-lived proxy.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() % 1_000_000_000);
    let fresh: Vec<String> = (0..a.count)
        .map(|i| format!("n{i}-{nonce}.{}", a.domain))
        .collect();
    // Warm: the first name again, now cached by the proxy.
    let warm = vec![fresh[0].clone(); a.count.max(1)];
    let pids = a.common.pids.clone();
    let cpu0 = procfs::cpu_seconds_all(&pids);
    let new = client::handshakes(&target, &fresh, &request).await?;
    let cpu_new = procfs::cpu_seconds_all(&pids) - cpu0;
    let cached = client::handshakes(&target, &warm, &request).await?;
    let pick = |hs: &[client::Handshake], f: fn(&client::Handshake) -> u32| {
        let mut v: Vec<u32> = hs.iter().map(f).collect();
        summarize(&mut v)
    };
    let v = json!({
        "kind": "newhost",
        "count": a.count,
        "new_tls_ready": pick(&new, |h| h.tls_ready),
        "new_first_response": pick(&new, |h| h.first_response),
        "warm_tls_ready": pick(&cached, |h| h.tls_ready),
        "warm_first_response": pick(&cached, |h| h.first_response),
        "proxy_cpu_ms_per_new_host": if pids.is_empty() { Value::Null } else { json!(cpu_new * 1000.0 / a.count.max(1) as f64) },
    });
    Ok(with_common(&a.common, v))
}

async fn hold(a: HoldArgs) -> Result<Value, String> {
    let (target, mut request) = target_of(&a.target)?;
    request.body = small_body(&model_of(&a.target), true, a.target.api);
    // Slow, long streams: they stay open for the whole measurement.
    request
        .headers
        .push(("x-bench-events".into(), "600".into()));
    request
        .headers
        .push(("x-bench-gap-ms".into(), "1000".into()));
    let pids = a.common.pids.clone();
    let rss_before = procfs::rss_bytes_all(&pids);
    let (held, rss_open) = client::hold(
        &target,
        &request,
        a.streams,
        a.parallel,
        Duration::from_secs_f64(a.timeout),
        || procfs::rss_bytes_all(&pids),
    )
    .await;
    let v = json!({
        "kind": "hold",
        "streams": a.streams,
        "opened": held.opened,
        "failed": held.failed,
        "first_error": held.first_error,
        "open_s": held.open_time.as_secs_f64(),
        "rss_before_mb": mb(rss_before),
        "rss_open_mb": mb(rss_open),
    });
    Ok(with_common(&a.common, v))
}
