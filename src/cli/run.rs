//! `switchyard run` and `switchyard check`.

use std::io::Write;

use super::{load_settings, CliError, ConfigArgs, RouteArgs, RunArgs};
use crate::config::Flags;
use crate::protocol::Protocol;
use crate::routing::{self, Router};
use crate::server::Server;

pub fn run(args: RunArgs) -> Result<(), CliError> {
    let flags = Flags {
        listen: args.listen.clone(),
        log_level: args.log_level.clone(),
        provider: args.provider.clone(),
        ..Flags::default()
    };
    let settings = load_settings(&args.config, flags.clone())?;
    init_logging(&settings.log_level);
    let lock = super::daemon::claim(&settings, args.detached)?;
    crate::tls::install_default_provider();
    let workers = worker_threads()?;
    // Worker 0: the listener, the audit writer and the rest run here; the
    // other workers start their own threads (server::workers).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Runtime(format!("cannot start the runtime: {e}")))?;
    let done = runtime.block_on(async move {
        let server = Server::bind_with_workers(settings, workers)
            .await
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        let shutdown = shutdown_signal();
        if let Some(lock) = &lock {
            super::daemon::publish(
                lock,
                server.local_addr(),
                args.detached,
                &server.app().settings,
            );
        }
        if let Err(e) = super::env::write_bundle(&server.app().settings) {
            tracing::warn!(error = %e, "cannot write the CA bundle");
        }
        let config = args.config.clone();
        let loader: crate::reload::Loader =
            Box::new(move || load_settings(&config, flags.clone()).map_err(|e| e.to_string()));
        crate::reload::spawn(server.hub().clone(), loader);
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "switchyard listening on http://{}",
            server.local_addr()
        );
        let _ = out.flush();
        server.run(shutdown).await;
        if let Some(lock) = &lock {
            lock.unpublish();
        }
        Ok(())
    });
    // A write stuck in the kernel (see `audit::writer`) is left behind
    // rather than waited for: the server has already given up on it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    done
}

/// How many threads serve requests, each with its own single-threaded
/// runtime (`server::workers`): `TOKIO_WORKER_THREADS` when set (the name
/// tokio's own scheduler reads, kept so existing settings still apply),
/// else the CPUs this process may run on.
fn worker_threads() -> Result<usize, CliError> {
    match std::env::var("TOKIO_WORKER_THREADS") {
        Ok(value) => parse_worker_threads(&value),
        Err(std::env::VarError::NotPresent) => {
            Ok(std::thread::available_parallelism().map_or(1, |n| n.get()))
        }
        Err(std::env::VarError::NotUnicode(_)) => parse_worker_threads("(not UTF-8)"),
    }
}

fn parse_worker_threads(value: &str) -> Result<usize, CliError> {
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(CliError::Runtime(format!(
            "TOKIO_WORKER_THREADS must be a whole number above 0, not {value:?}"
        ))),
    }
}

pub fn check(args: ConfigArgs) -> Result<(), CliError> {
    report_unknown_keys(&args)?;
    let settings = load_settings(&args, Flags::default())?;
    println!(
        "config: {}",
        settings
            .config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(none: defaults)".into())
    );
    println!("listen: {}", settings.listen);
    println!("intercept: {}", settings.intercept.join(", "));
    if let Some(proxy) = &settings.upstream_proxy {
        println!("upstream proxy: {}:{}", proxy.host, proxy.port);
    }
    if !settings.busy_poll.is_zero() {
        println!(
            "busy polling: {} µs after each read",
            settings.busy_poll.as_micros()
        );
    }
    println!("providers:");
    for p in &settings.providers {
        let creds: Vec<_> = p.credentials.iter().map(|c| c.name.as_str()).collect();
        let implicit = if p.implicit { " (implicit)" } else { "" };
        let fallback = if p.fallback { " fallback" } else { "" };
        println!(
            "  {:<12} {:<12} {} [{}]{implicit}{fallback}",
            p.name,
            p.kind.name(),
            p.base_url,
            creds.join(", ")
        );
    }
    if let Some(bridge) = &settings.bridge {
        println!("bridge: {} ({})", bridge.url, bridge.mode.name());
    }
    if let Some(c) = &settings.cluster {
        let replicas = c
            .replicas
            .map(|n| n.to_string())
            .unwrap_or_else(|| "unset".into());
        println!(
            "cluster: limits shared through {} (replicas {replicas}, timeout {} ms)",
            crate::config::redact_url(c.redis_url.expose()),
            c.timeout.as_millis()
        );
    }
    if let Some(pg) = &settings.audit.postgres {
        let retention = pg
            .retention_days
            .map(|d| format!("{d} days"))
            .unwrap_or_else(|| "forever".into());
        let tls = pg.tls.as_ref().map(|t| {
            let trust = t.ca.as_ref().map_or("system roots".into(), |ca| {
                format!("trusting {} alone", ca.display())
            });
            let cert = if t.client.is_some() {
                ", with a client certificate"
            } else {
                ""
            };
            format!(" over TLS ({trust}{cert})")
        });
        let tls = tls.unwrap_or_default();
        println!(
            "audit: also to {}{tls} (kept {retention})",
            crate::config::redact_url(pg.url.expose())
        );
    }
    let models: Vec<&str> = settings.prices.models().collect();
    if !models.is_empty() {
        println!("prices: {}", models.join(", "));
    }
    for (provider, models) in settings.prices.providers() {
        println!("prices at {provider}: {}", models.join(", "));
    }
    print_routes(&settings.routes);
    Ok(())
}

fn print_routes(routes: &[routing::Route]) {
    if routes.is_empty() {
        println!("routes: none (API calls go to the intercepted host's provider, or anthropic/openai by protocol)");
        return;
    }
    println!("routes (first match wins):");
    println!(
        "  {:<3} {:<26} {:<7} {:<24} {:<20} upstream_model",
        "#", "protocol", "match", "model", "providers"
    );
    for (i, r) in routes.iter().enumerate() {
        println!(
            "  {:<3} {:<26} {:<7} {:<24} {:<20} {}",
            i + 1,
            r.protocol.map(Protocol::name).unwrap_or("*"),
            r.matcher.kind(),
            r.pattern,
            r.providers.join(" > "),
            r.upstream_model.as_deref().unwrap_or("-")
        );
    }
}

pub fn route(args: RouteArgs) -> Result<(), CliError> {
    let settings = load_settings(&args.config, Flags::default())?;
    let protocol = Protocol::from_name(&args.protocol).ok_or_else(|| {
        CliError::Usage(format!(
            "unknown protocol {:?}; one of anthropic_messages, openai_chat_completions, openai_responses",
            args.protocol
        ))
    })?;
    let router = Router::new(settings.routes.clone());
    let from = routing::Origin {
        host: args.host.as_deref(),
        intercept_port: args.host.as_ref().map(|_| 443),
    };
    let plan = routing::plan(&settings, &router, from, protocol, &args.model)
        .map_err(CliError::Runtime)?;
    match &plan.route {
        Some(pattern) => println!("route: {pattern}"),
        None => println!("route: none matched"),
    }
    if let Some(origin) = &plan.origin {
        println!("sent to the host itself: {origin}");
        return Ok(());
    }
    let upstream_model = plan.upstream_model.as_deref().unwrap_or(&args.model);
    for (label, providers) in [("provider", &plan.primaries), ("fallback", &plan.fallbacks)] {
        for p in providers.iter() {
            let target = p.target_protocol(protocol);
            let conversion = if target == protocol {
                String::new()
            } else {
                format!(", converted {} -> {}", protocol.name(), target.name())
            };
            println!(
                "{label}: {} ({}) {}{conversion}",
                p.name,
                p.kind.name(),
                p.endpoint_url(target, None)
            );
        }
    }
    println!("upstream_model: {upstream_model}");
    Ok(())
}

/// Every unknown key at once (a run stops at the first): all but the last
/// are printed here, the last is the command's error (exit 2).
fn report_unknown_keys(args: &ConfigArgs) -> Result<(), CliError> {
    let env = super::environment(args)?;
    let flags = Flags {
        config: args.config.clone(),
        ..Flags::default()
    };
    let Some(path) = crate::config::find_config_file(&flags, &env)? else {
        return Ok(());
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        // load_settings reports the read error.
        return Ok(());
    };
    let mut errors = crate::config::suggest::unknown_keys(Some(&path), &text);
    let Some(last) = errors.pop() else {
        return Ok(());
    };
    for e in errors {
        eprintln!("switchyard: {e}");
    }
    Err(last.into())
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed now, not on
/// first poll, so a signal sent right after the "listening" line is never
/// lost to the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_count_must_be_a_positive_number() {
        assert_eq!(parse_worker_threads(" 4 ").unwrap(), 4);
        for bad in ["0", "-1", "two", ""] {
            let err = parse_worker_threads(bad).unwrap_err().to_string();
            assert!(err.contains("TOKIO_WORKER_THREADS"), "{bad}: {err}");
        }
    }
}
