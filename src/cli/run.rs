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
    crate::tls::install_default_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Runtime(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let server = Server::bind(settings)
            .await
            .map_err(|e| CliError::Runtime(e.to_string()))?;
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
        server.run(shutdown_signal()).await;
        Ok(())
    })
}

pub fn check(args: ConfigArgs) -> Result<(), CliError> {
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

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
