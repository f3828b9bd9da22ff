//! File writing with the permissions key material needs.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::CaError;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |source| CaError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates the parent directory 0700 if it does not exist yet.
pub fn ensure_private_dir(dir: &Path) -> Result<(), CaError> {
    if dir.exists() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err(dir))
}

/// Writes a secret: created 0600 from the start, so it is never readable by
/// others even for an instant.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CaError> {
    write_with_mode(path, bytes, 0o600)
}

pub fn write_public(path: &Path, bytes: &[u8]) -> Result<(), CaError> {
    write_with_mode(path, bytes, 0o644)
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CaError> {
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir)?;
    }
    let _ = fs::remove_file(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_err(path))?;
    // The umask may have narrowed the mode; certificates must stay world-readable.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

pub fn read_to_string(path: &Path) -> Result<String, CaError> {
    fs::read_to_string(path).map_err(io_err(path))
}
