//! The running instance of a state directory: who it is and whether it is
//! alive.
//!
//! A running switchyard holds an exclusive `flock` on
//! `$STATE_DIR/switchyard.lock` for its whole life and describes itself in
//! `$STATE_DIR/switchyard.json` (pid, address, start time, log file). The
//! lock, not the pid, says whether it is alive: the kernel releases it when
//! the process dies however it dies, so a stale JSON file (left by a
//! `kill -9`) is recognised without trusting a pid that may have been
//! reused.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const STATE_FILE: &str = "switchyard.json";
pub const LOCK_FILE: &str = "switchyard.lock";
pub const LOG_FILE: &str = "switchyard.log";

/// What `switchyard.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Instance {
    pub pid: u32,
    /// The bound address, e.g. `127.0.0.1:8787`.
    pub address: String,
    pub started_at: String,
    /// Where a detached instance's output goes (`None` in the foreground).
    pub log: Option<PathBuf>,
}

impl Instance {
    /// An address a local client can connect to: a wildcard listener is
    /// reached through loopback.
    pub fn connect_address(&self) -> String {
        connect_address(&self.address)
    }
}

/// `0.0.0.0:P` → `127.0.0.1:P`, `[::]:P` → `[::1]:P`, others unchanged.
pub fn connect_address(address: &str) -> String {
    match address.parse::<std::net::SocketAddr>() {
        Ok(a) if a.ip().is_unspecified() => {
            let ip: std::net::IpAddr = if a.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            };
            std::net::SocketAddr::new(ip, a.port()).to_string()
        }
        _ => address.to_owned(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot use the state directory {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("switchyard is already running for {dir} (pid {pid}, http://{address})")]
    Running {
        dir: PathBuf,
        pid: u32,
        address: String,
    },
    #[error("another switchyard holds {dir} (starting up?)")]
    Locked { dir: PathBuf },
}

/// The held lock; dropping it (or exiting) releases it.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    dir: PathBuf,
}

impl Lock {
    /// Takes the state directory's lock, or `None` when a live instance
    /// holds it.
    pub fn try_acquire(dir: &Path) -> Result<Option<Lock>, DaemonError> {
        let io = |source| DaemonError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .create(dir)
            .map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(io)?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(Some(Lock {
                _file: file,
                dir: dir.to_path_buf(),
            }));
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(None)
        } else {
            Err(io(err))
        }
    }

    /// Describes this (running) process in the state file.
    pub fn publish(&self, instance: &Instance) -> Result<(), DaemonError> {
        let io = |source| DaemonError::Io {
            dir: self.dir.clone(),
            source,
        };
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        let json = serde_json::to_vec_pretty(instance).map_err(|e| io(e.into()))?;
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&json).map_err(io)?;
        f.write_all(b"\n").map_err(io)?;
        drop(f);
        // Readers never see a half-written file.
        std::fs::rename(&tmp, self.dir.join(STATE_FILE)).map_err(io)
    }

    /// Removes the state file (at exit, while still holding the lock).
    pub fn unpublish(&self) {
        let _ = std::fs::remove_file(self.dir.join(STATE_FILE));
    }
}

/// What the state directory says about a running instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Alive: the lock is held.
    Running(Instance),
    /// The lock is held but no state file yet (starting, or a foreground
    /// `run` of another instance that did not publish).
    Starting,
    /// A state file without a live process; it has been removed.
    Stale(Instance),
    Nothing,
}

pub fn read_instance(dir: &Path) -> Option<Instance> {
    let text = std::fs::read(dir.join(STATE_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Looks for the state directory's instance, cleaning a stale state file.
pub fn find(dir: &Path) -> Result<Found, DaemonError> {
    if !dir.join(LOCK_FILE).exists() && !dir.join(STATE_FILE).exists() {
        return Ok(Found::Nothing);
    }
    match Lock::try_acquire(dir)? {
        Some(lock) => Ok(match read_instance(dir) {
            Some(instance) => {
                lock.unpublish();
                Found::Stale(instance)
            }
            None => Found::Nothing,
        }),
        None => Ok(match read_instance(dir) {
            Some(instance) => Found::Running(instance),
            None => Found::Starting,
        }),
    }
}

/// Sends `signal` to `pid`; false if there is no such process.
pub fn send_signal(pid: u32, signal: i32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) takes plain integers.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Whether the lock is held right now (an instance is alive).
pub fn is_locked(dir: &Path) -> bool {
    matches!(Lock::try_acquire(dir), Ok(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_file_without_the_lock_is_stale_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let instance = Instance {
            pid: 1,
            address: "127.0.0.1:1".into(),
            started_at: "x".into(),
            log: None,
        };
        {
            let lock = Lock::try_acquire(dir.path()).unwrap().unwrap();
            lock.publish(&instance).unwrap();
            assert!(
                is_locked(dir.path()),
                "a second open file description is refused"
            );
        }
        assert_eq!(find(dir.path()).unwrap(), Found::Stale(instance));
        assert_eq!(find(dir.path()).unwrap(), Found::Nothing);
    }

    #[test]
    fn wildcard_addresses_are_reached_through_loopback() {
        assert_eq!(connect_address("0.0.0.0:8787"), "127.0.0.1:8787");
        assert_eq!(connect_address("[::]:1"), "[::1]:1");
        assert_eq!(connect_address("10.0.0.1:2"), "10.0.0.1:2");
    }
}
