//! `switchyard ca …`: create, describe and install the local CA.

use std::path::Path;

use super::{load_settings, CaCommand, CliError, InstallArgs};
use crate::ca::install::{self, Store};
use crate::ca::Authority;
use crate::config::Flags;

pub fn run(cmd: CaCommand) -> Result<(), CliError> {
    match cmd {
        CaCommand::Init {
            config,
            force,
            constrained,
        } => {
            let settings = load_settings(&config, Flags::default())?;
            let ca = if constrained {
                Authority::init_constrained(&settings.ca, &settings.intercept, force)
            } else {
                Authority::init(&settings.ca, force)
            }
            .map_err(|e| CliError::Runtime(e.to_string()))?;
            if constrained {
                println!("constrained to: {}", settings.intercept.join(", "));
                println!("the root key was never stored; intercepting other hosts needs `ca init --constrained --force` and re-trusting");
            }
            print_info(&ca)
        }
        CaCommand::Show { config } => {
            let settings = load_settings(&config, Flags::default())?;
            if !settings.ca.cert.exists() {
                return Err(CliError::Runtime(format!(
                    "no CA at {} yet: run `switchyard ca init` or `switchyard run`",
                    settings.ca.cert.display()
                )));
            }
            let ca = Authority::load(&settings.ca).map_err(|e| CliError::Runtime(e.to_string()))?;
            print_info(&ca)
        }
        CaCommand::Install(args) => trust(args, true),
        CaCommand::Uninstall(args) => trust(args, false),
    }
}

fn print_info(ca: &Authority) -> Result<(), CliError> {
    let info = ca.info().map_err(|e| CliError::Runtime(e.to_string()))?;
    println!("certificate: {}", ca.paths.cert.display());
    println!("key:         {}", ca.paths.key.display());
    println!("subject:     {}", info.subject);
    println!("sha256:      {}", info.sha256_fingerprint);
    println!("not after:   {}", info.not_after);
    Ok(())
}

fn stores(args: &InstallArgs) -> Result<Vec<Store>, CliError> {
    let mut stores = Vec::new();
    if args.system {
        stores.push(Store::detect_system().ok_or_else(|| {
            CliError::Runtime(
                "cannot tell which system trust store this OS uses; see `ca install --dry-run`"
                    .into(),
            )
        })?);
    }
    if args.nss {
        stores.push(Store::Nss);
    }
    if args.java {
        stores.push(Store::Java);
    }
    Ok(stores)
}

fn trust(args: InstallArgs, install: bool) -> Result<(), CliError> {
    let settings = load_settings(&args.config, Flags::default())?;
    let ca =
        Authority::load_or_create(&settings.ca).map_err(|e| CliError::Runtime(e.to_string()))?;
    let cert = ca.paths.cert.as_path();
    let mut chosen = stores(&args)?;
    if chosen.is_empty() && !args.dry_run {
        return Err(CliError::Usage(
            "choose a store: --system, --nss or --java (or --dry-run to see every command)".into(),
        ));
    }
    if args.dry_run {
        if chosen.is_empty() {
            chosen = Store::ALL.to_vec();
        }
        for store in chosen {
            println!("# {}", store.label());
            for line in commands(store, cert, install) {
                println!("{line}");
            }
            println!();
        }
        return Ok(());
    }
    for store in chosen {
        execute(store, cert, install)?;
    }
    Ok(())
}

fn commands(store: Store, cert: &Path, install: bool) -> Vec<String> {
    if install {
        install::install_commands(store, cert)
    } else {
        install::uninstall_commands(store, cert)
    }
}

fn execute(store: Store, cert: &Path, install: bool) -> Result<(), CliError> {
    let lines = commands(store, cert, install);
    let verb = if install { "install" } else { "uninstall" };
    if install::needs_root(store) && !install::is_root() {
        return Err(CliError::Runtime(format!(
            "the {} needs root. Run `sudo switchyard ca {verb} {}`, or run these yourself as root:\n  {}",
            store.label(),
            flag(store),
            lines.join("\n  ")
        )));
    }
    for (program, package) in install::tools(store) {
        if !install::on_path(program) {
            return Err(CliError::Runtime(format!(
                "`{program}` is not installed; it comes with {package}. The {} cannot be changed without it.",
                store.label()
            )));
        }
    }
    for line in lines {
        eprintln!("+ {line}");
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .status()
            .map_err(|e| CliError::Runtime(format!("cannot run `{line}`: {e}")))?;
        if !status.success() {
            return Err(CliError::Runtime(format!("`{line}` failed ({status})")));
        }
    }
    println!(
        "{} {}",
        if install {
            "installed into"
        } else {
            "removed from"
        },
        store.label()
    );
    Ok(())
}

fn flag(store: Store) -> &'static str {
    match store {
        Store::Nss => "--nss",
        Store::Java => "--java",
        _ => "--system",
    }
}
