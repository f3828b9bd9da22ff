//! Configuration hot reload, on SIGHUP and when the config file changes.
//!
//! A reload resolves the configuration from scratch and swaps the whole
//! generation at once (routes, providers, credentials, intercept hosts,
//! headers); requests in flight finish under the generation they started
//! with. An invalid file is rejected with a log line and counted, and the
//! old generation keeps serving. Settings bound to process-wide resources
//! (listen address, CA, upstream proxy, audit file, busy polling) need a restart: a
//! change to them is reported and otherwise ignored.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::app::Hub;
use crate::config::Settings;

/// Produces a fresh [`Settings`] the way startup did (file, env, flags).
pub type Loader = Box<dyn Fn() -> Result<Settings, String> + Send + Sync>;

const POLL: Duration = Duration::from_secs(1);

/// Starts the SIGHUP listener and the file watcher.
pub fn spawn(hub: Arc<Hub>, load: Loader) {
    let load = Arc::new(load);
    let app = hub.current();
    let watched = app.settings.config_file.clone();
    let shutdown = app.shutdown.clone();
    {
        let (hub, load, shutdown) = (hub.clone(), load.clone(), shutdown.clone());
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                tracing::warn!("cannot listen for SIGHUP; reload on file change only");
                return;
            };
            loop {
                tokio::select! {
                    _ = hup.recv() => reload(&hub, &load, "SIGHUP"),
                    _ = shutdown.cancelled() => return,
                }
            }
        });
    }
    if let Some(path) = watched {
        tokio::spawn(async move {
            let mut last = fingerprint(&path);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = shutdown.cancelled() => return,
                }
                let now = fingerprint(&path);
                if now != last {
                    last = now;
                    reload(&hub, &load, "config file changed");
                }
            }
        });
    }
}

/// What identifies a version of the file: its metadata and its bytes.
fn fingerprint(path: &PathBuf) -> Option<(SystemTime, u64, Vec<u8>)> {
    let meta = std::fs::metadata(path).ok()?;
    let bytes = std::fs::read(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), bytes))
}

/// Loads, validates and installs a new generation.
pub fn reload(hub: &Hub, load: &Loader, why: &str) {
    match load() {
        Ok(mut next) => {
            let current = hub.current();
            for key in keep_process_wide(&current.settings, &mut next) {
                tracing::warn!(
                    key,
                    "changed in the config, but needs a restart to take effect"
                );
            }
            hub.swap(next);
            hub.reloads_ok.fetch_add(1, Ordering::Relaxed);
            current.auditor.metrics().config_reloaded(true);
            tracing::info!(trigger = why, "configuration reloaded");
        }
        Err(e) => {
            hub.reloads_failed.fetch_add(1, Ordering::Relaxed);
            hub.current().auditor.metrics().config_reloaded(false);
            tracing::error!(trigger = why, error = %e, "configuration rejected; the previous one keeps serving");
        }
    }
}

/// Copies the settings a reload cannot change back from `current`, naming
/// the ones that differed.
fn keep_process_wide(current: &Settings, next: &mut Settings) -> Vec<&'static str> {
    let mut changed = Vec::new();
    // Port 0 means "the port we got", which is the current one.
    let same_listen = next.listen == current.listen
        || (next.listen.port() == 0 && next.listen.ip() == current.listen.ip());
    if !same_listen {
        changed.push("listen");
        next.listen = current.listen;
    }
    if next.ca != current.ca {
        changed.push("ca");
        next.ca = current.ca.clone();
    }
    let proxy_id = |s: &Settings| {
        s.upstream_proxy.as_ref().map(|p| {
            let password = p.password.as_ref().map(|s| s.expose().to_owned());
            (
                p.tls,
                p.host.clone(),
                p.port,
                p.username.clone(),
                password,
                p.ca.clone(),
                p.no_proxy.clone(),
            )
        })
    };
    if proxy_id(next) != proxy_id(current) {
        changed.push("upstream_proxy");
        next.upstream_proxy = current.upstream_proxy.clone();
    }
    if next.audit.path != current.audit.path {
        changed.push("audit.path");
        next.audit.path = current.audit.path.clone();
    }
    if next.timeouts.connect != current.timeouts.connect {
        changed.push("timeouts.connect_secs");
        next.timeouts.connect = current.timeouts.connect;
    }
    if next.timeouts.upstream_idle != current.timeouts.upstream_idle {
        changed.push("timeouts.upstream_idle_secs");
        next.timeouts.upstream_idle = current.timeouts.upstream_idle;
    }
    if next.busy_poll != current.busy_poll {
        changed.push("runtime.busy_poll_us");
        next.busy_poll = current.busy_poll;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env::Env;
    use crate::config::Flags;

    fn settings(text: &str) -> Settings {
        let env = Env::from_pairs([("SWITCHYARD_STATE_DIR", "/tmp/switchyard-reload-test")]);
        Settings::from_text(None, text, &Flags::default(), &env).unwrap()
    }

    /// Keys bound to process-wide resources: a reload names them and
    /// keeps their current value.
    #[test]
    fn process_wide_keys_keep_their_value_until_a_restart() {
        let current = settings("");
        let mut next =
            settings("[runtime]\nbusy_poll_us = 200\n[timeouts]\nupstream_idle_secs = 5\n");
        assert_eq!(
            keep_process_wide(&current, &mut next),
            ["timeouts.upstream_idle_secs", "runtime.busy_poll_us"]
        );
        assert_eq!(next.busy_poll, current.busy_poll);
        assert_eq!(next.timeouts.upstream_idle, current.timeouts.upstream_idle);
        let mut same = settings("");
        assert!(keep_process_wide(&current, &mut same).is_empty());
    }
}
