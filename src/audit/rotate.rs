//! Size-based rotation of the audit file, done by the writer
//! ([`super::writer`]) between two records, so no line is ever split across
//! files.
//!
//! Order matters for readers (`switchyard logs --follow`) and for a later
//! hash chain across files: the live file is flushed, every rotated file
//! shifts up one (`.1` → `.2`, …, the oldest beyond `keep_files` removed),
//! the live file is renamed to `.1`, and only then is a new live file
//! created. Nothing is ever rewritten; files only move.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// 64 MiB: about 15,000 records with 4 KiB bodies.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
pub const DEFAULT_KEEP_FILES: usize = 5;

/// `audit.jsonl.N`.
pub fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Opens the live file for appending (mode 0600), never truncating.
pub fn open(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

/// Shifts the rotated files and moves the live file to `.1`. The caller
/// has flushed it and opens a new one afterwards. With `keep == 0` the live
/// file is simply removed.
pub fn shift(path: &Path, keep: usize) -> std::io::Result<()> {
    if keep == 0 {
        return std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(rotated(path, keep));
    for n in (1..keep).rev() {
        let from = rotated(path, n);
        if from.exists() {
            std::fs::rename(&from, rotated(path, n + 1))?;
        }
    }
    std::fs::rename(path, rotated(path, 1))
}

/// Every audit file that exists, oldest first, the live one last. A live
/// path that is a FIFO or a device is left out: it holds no history, and
/// reading a FIFO would take records from the reader it is there for.
pub fn files_oldest_first(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut n = 1;
    while rotated(path, n).exists() {
        n += 1;
    }
    for k in (1..n).rev() {
        out.push(rotated(path, k));
    }
    if path.is_file() {
        out.push(path.to_path_buf());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_keeps_n_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("audit.jsonl");
        for i in 0..5 {
            std::fs::write(&live, format!("{i}\n")).unwrap();
            shift(&live, 3).unwrap();
        }
        assert!(!live.exists());
        let files = files_oldest_first(&live);
        let contents: Vec<String> = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        assert_eq!(contents, ["2\n", "3\n", "4\n"]);
    }
}
