//! The command line: argument definitions and one function per verb. Each
//! verb is a thin shell over the library.

mod audit;
mod ca;
mod daemon;
mod env;
mod logs;
mod run;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{ConfigError, Env, Flags, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "A TLS-intercepting forward proxy and gateway for AI traffic"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy and gateway in the foreground.
    Run(RunArgs),
    /// Run it in the background; prints the address (pid and log in the state dir).
    Start(RunArgs),
    /// Stop the background instance, letting in-flight requests finish.
    Stop(StopArgs),
    /// Show address, uptime, mode, provider health and request counts (exit 3: not running).
    Status(StatusArgs),
    /// Show the audit trail as a table (or raw JSON lines), optionally following it.
    Logs(LogsArgs),
    /// Manage the local certificate authority.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Print the environment a workspace needs to use switchyard.
    Env(EnvArgs),
    /// Validate the configuration and print what it sets up.
    Check(ConfigArgs),
    /// Explain which route, provider and upstream model would serve a request.
    Route(RouteArgs),
    /// Audit trail tools.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit file's hash chain (rotated files included); names the first bad line.
    Verify(ConfigArgs),
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// anthropic_messages, openai_chat_completions or openai_responses.
    #[arg(long)]
    pub protocol: String,
    #[arg(long)]
    pub model: String,
    /// Explain it as a request intercepted on this host.
    #[arg(long)]
    pub host: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ConfigArgs {
    /// Config file (default: ./switchyard.toml, then $XDG_CONFIG_HOME/switchyard/config.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// KEY=VALUE lines loaded as if they were in the environment.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Listen address (default 127.0.0.1:8787; port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Log level or tracing filter (error, warn, info, debug, trace).
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Single-provider mode: every request goes to NAME.
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// Set by `start` for its child: refuse to run if the state dir is taken.
    #[arg(long, hide = true)]
    pub detached: bool,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print the status document as JSON (the same as GET /_switchyard/status).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Keep printing records as they are written (survives rotation).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only the last N records (default with --follow: 10).
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
    /// Only records with this status: 2xx, 4xx, 5xx (any class) or a code like 429.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// Only records from this time on: a span back from now (30m, 24h, 7d, 2w),
    /// a UTC day (2026-12-01) or an RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Totals instead of records: calls, errors, tokens and cost per credential
    /// and model (or what --by names).
    #[arg(long, conflicts_with_all = ["follow", "last"])]
    pub summary: bool,
    /// What --summary groups by, comma-separated: credential, model, provider,
    /// client, host, kind, day (default: credential,model).
    #[arg(long, value_name = "KEYS", requires = "summary")]
    pub by: Option<String>,
    /// Print the raw audit lines (with --summary: one JSON object) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the CA certificate and key (key file mode 0600).
    Init {
        #[command(flatten)]
        config: ConfigArgs,
        /// Replace an existing CA (clients must trust the new one).
        #[arg(long)]
        force: bool,
        /// A root plus a name-constrained intermediate limited to the
        /// intercepted hosts; the root key is destroyed after signing.
        #[arg(long)]
        constrained: bool,
    },
    /// Print the CA's path, SHA-256 fingerprint and expiry.
    Show {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Install the CA into trust stores, or print the commands.
    Install(InstallArgs),
    /// Remove the CA from trust stores.
    Uninstall(InstallArgs),
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The operating system's store (update-ca-certificates, update-ca-trust, security).
    #[arg(long)]
    pub system: bool,
    /// The NSS database used by Firefox and Chromium (certutil).
    #[arg(long)]
    pub nss: bool,
    /// Java's cacerts (keytool).
    #[arg(long)]
    pub java: bool,
    /// Print the commands instead of running them.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[arg(long, value_enum, default_value = "bash")]
    pub shell: Shell,
}

/// A failed command, with the exit code CONTRACT.md assigns.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Exit 2: the configuration or the command line is wrong.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Exit 2.
    #[error("{0}")]
    Usage(String),
    /// Exit 1.
    #[error("{0}")]
    Runtime(String),
    /// Exit 3: `status` found nothing running.
    #[error("{0}")]
    NotRunning(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::Usage(_) => 2,
            CliError::Runtime(_) => 1,
            CliError::NotRunning(_) => 3,
        }
    }
}

/// Runs a parsed command line.
pub fn dispatch(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Start(args) => daemon::start(args),
        Command::Stop(args) => daemon::stop(args),
        Command::Status(args) => daemon::status(args),
        Command::Logs(args) => logs::run(args),
        Command::Ca(cmd) => ca::run(cmd),
        Command::Env(args) => env::run(args),
        Command::Check(args) => run::check(args),
        Command::Route(args) => run::route(args),
        Command::Audit(AuditCommand::Verify(args)) => audit::verify(args),
    }
}

/// The environment, with `--env-file` applied.
pub fn environment(args: &ConfigArgs) -> Result<Env, CliError> {
    let mut env = Env::from_process();
    if let Some(path) = &args.env_file {
        env.load_file(path)?;
    }
    Ok(env)
}

pub fn load_settings(args: &ConfigArgs, flags: Flags) -> Result<Settings, CliError> {
    let env = environment(args)?;
    let flags = Flags {
        config: args.config.clone(),
        ..flags
    };
    Ok(Settings::load(&flags, &env)?)
}
