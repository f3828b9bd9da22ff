//! Configuration hot reload, on SIGHUP and when the config file changes.
//!
//! A reload resolves the configuration from scratch and swaps the whole
//! generation at once (routes, providers, credentials, intercept hosts,
//! headers); requests in flight finish under the generation they started
//! with. An invalid file is rejected with a log line and counted, and the
//! old generation keeps serving. Settings bound to process-wide resources
//! (listen address, CA, upstream proxy, audit file and PostgreSQL sink,
//! Redis, busy polling) need a restart: a change to them is reported and
//! otherwise ignored.

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
    changed.extend(keep_fleet_sinks(current, next));
    changed
}

/// The PostgreSQL sink and the Redis connection are started once; a
/// reload names their changed keys rather than ignoring them silently.
fn keep_fleet_sinks(current: &Settings, next: &mut Settings) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let (now, new) = (
        current.audit.postgres.as_ref(),
        next.audit.postgres.as_ref(),
    );
    if now.map(|p| p.url.expose()) != new.map(|p| p.url.expose()) {
        changed.push("audit.postgres_url");
    }
    let tls = |p: Option<&crate::config::PostgresSettings>| p.and_then(|p| p.tls.clone());
    let (tls_now, tls_new) = (tls(now), tls(new));
    if tls_now.as_ref().map(|t| &t.ca) != tls_new.as_ref().map(|t| &t.ca) {
        changed.push("audit.postgres_ca");
    }
    if tls_now.map(|t| t.client) != tls_new.map(|t| t.client) {
        changed.push("audit.postgres_client_cert");
    }
    if now.and_then(|p| p.retention_days) != new.and_then(|p| p.retention_days) {
        changed.push("audit.retention_days");
    }
    next.audit.postgres = current.audit.postgres.clone();
    let cluster_id = |s: &Settings| {
        s.cluster.as_ref().map(|c| {
            let url = c.redis_url.expose().to_owned();
            (
                url,
                c.replicas,
                c.timeout,
                c.key_prefix.clone(),
                (c.redis_ca.clone(), c.redis_client.clone()),
            )
        })
    };
    if cluster_id(next) != cluster_id(current) {
        changed.push("cluster");
        next.cluster = current.cluster.clone();
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

    #[test]
    fn the_fleet_sinks_are_named_and_kept_until_a_restart() {
        let current = settings(
            "[audit]\npostgres_url = \"postgres://sy@db/a\"\n\
             [cluster]\nredis_url = \"redis://r:6379/0\"\n",
        );
        let mut next = settings(
            "[audit]\npostgres_url = \"postgres://sy@db2/a\"\nretention_days = 7\n\
             [cluster]\nredis_url = \"redis://r:6379/1\"\n",
        );
        assert_eq!(
            keep_process_wide(&current, &mut next),
            ["audit.postgres_url", "audit.retention_days", "cluster"]
        );
        let kept = next.audit.postgres.as_ref().map(|p| p.url.expose());
        assert_eq!(kept, Some("postgres://sy@db/a"));
        assert_eq!(next.audit.postgres.and_then(|p| p.retention_days), None);
        let redis = next.cluster.as_ref().map(|c| c.redis_url.expose());
        assert_eq!(redis, Some("redis://r:6379/0"));
        let mut same = settings(
            "[audit]\npostgres_url = \"postgres://sy@db/a\"\n\
             [cluster]\nredis_url = \"redis://r:6379/0\"\n",
        );
        assert!(keep_process_wide(&current, &mut same).is_empty());

        let dir = tempfile::tempdir().unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["db".to_owned()]).unwrap();
        let (ca, key) = (dir.path().join("ca.pem"), dir.path().join("c.key"));
        std::fs::write(&ca, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        let tls = format!(
            "[audit]\npostgres_url = \"postgres://sy@db/a\"\npostgres_ca = \"{ca}\"\n\
             postgres_client_cert = \"{ca}\"\npostgres_client_key = \"{key}\"\n",
            ca = ca.display(),
            key = key.display()
        );
        let current = settings(&tls.replace("db/a", "db/a?sslmode=require"));
        let mut next = settings(&tls.replace("db/a", "db/a?sslmode=verify-full"));
        assert!(keep_process_wide(&current, &mut next).is_empty());
        let mut next = settings("[audit]\npostgres_url = \"postgres://sy@db/a?sslmode=require\"\n");
        assert_eq!(
            keep_process_wide(&current, &mut next),
            ["audit.postgres_ca", "audit.postgres_client_cert"]
        );
    }
}
