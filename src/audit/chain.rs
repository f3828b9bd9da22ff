//! The audit file's hash chain: every line carries the hash of the line
//! before it (`prev_hash`) and its own (`hash`, over the line as written
//! without that field), across rotated files too. `switchyard audit verify`
//! walks the chain and names the first line that was modified, or the
//! place where lines were inserted or deleted.
//!
//! This makes tampering *evident*, not impossible: someone able to rewrite
//! the whole file can recompute every hash. Anchor the head hash elsewhere
//! (the status endpoint and `audit verify` print it) to close that gap.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

const FIELD: &str = ",\"hash\":\"";
const PREV_FIELD: &str = ",\"prev_hash\":\"";

fn sha256_hex(bytes: &[u8]) -> String {
    super::record::to_hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

/// Links the serialised JSON object (no trailing newline) that ends `buf`
/// and starts at `start` into the chain: appends `"prev_hash"` (when there
/// is a previous line), then `"hash"` over the object up to it, and returns
/// that hash. Taking the object at the end of a buffer lets the writer build
/// each line in place in its batch, without a copy.
pub fn link(buf: &mut Vec<u8>, start: usize, prev_hash: Option<&str>) -> String {
    if let Some(prev) = prev_hash {
        append_field(buf, start, PREV_FIELD, prev);
    }
    let hash = sha256_hex(buf.get(start..).unwrap_or_default());
    append_field(buf, start, FIELD, &hash);
    hash
}

/// Appends `field` (`,"name":"`) and a value that needs no escaping (hex)
/// before the closing brace of the object at `buf[start..]`.
fn append_field(buf: &mut Vec<u8>, start: usize, field: &str, value: &str) {
    if buf.len() > start && buf.last() == Some(&b'}') {
        buf.pop();
        buf.extend_from_slice(field.as_bytes());
        buf.extend_from_slice(value.as_bytes());
        buf.extend_from_slice(b"\"}");
    }
}

/// Splits a sealed line into (the line as hashed, the hash it claims).
fn unseal(line: &str) -> Option<(String, &str)> {
    let body = line.strip_suffix("\"}")?;
    let at = body.rfind(FIELD)?;
    let hash = &body[at + FIELD.len()..];
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((format!("{}}}", &body[..at]), hash))
}

fn prev_hash_of(line: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    value.get("prev_hash")?.as_str().map(str::to_owned)
}

/// The hash the next line must carry as `prev_hash`: that of the last line
/// of the newest file that has one.
pub fn head(files_oldest_first: &[PathBuf]) -> Option<String> {
    for path in files_oldest_first.iter().rev() {
        let Ok(file) = std::fs::File::open(path) else {
            continue;
        };
        let last = BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter(|l| !l.trim().is_empty())
            .last();
        if let Some(last) = last {
            return Some(match unseal(&last) {
                Some((_, hash)) => hash.to_owned(),
                // A line from before the chain existed: chain onto its bytes.
                None => sha256_hex(last.as_bytes()),
            });
        }
    }
    None
}

/// Where the chain broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub file: PathBuf,
    /// 1-based line number within `file`.
    pub line: usize,
    pub what: String,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.what)
    }
}

/// A verified chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub lines: usize,
    pub files: usize,
    pub head: Option<String>,
    /// The oldest line points at a line no longer kept (rotated away).
    pub starts_mid_chain: bool,
}

/// Verifies the chain over `files` (oldest first).
pub fn verify(files: &[PathBuf]) -> Result<Verified, Break> {
    let mut prev: Option<String> = None;
    let mut lines = 0;
    let mut starts_mid_chain = false;
    for path in files {
        let file =
            std::fs::File::open(path).map_err(|e| broke(path, 0, format!("cannot read: {e}")))?;
        for (index, line) in BufReader::new(file).lines().enumerate() {
            let n = index + 1;
            let line = line.map_err(|e| broke(path, n, format!("cannot read: {e}")))?;
            if line.trim().is_empty() {
                continue;
            }
            let Some((hashed, claimed)) = unseal(&line) else {
                return Err(broke(
                    path,
                    n,
                    "has no hash: not written by switchyard, or modified".into(),
                ));
            };
            if sha256_hex(hashed.as_bytes()) != claimed {
                return Err(broke(
                    path,
                    n,
                    "was modified (its content does not match its hash)".into(),
                ));
            }
            let linked = prev_hash_of(&hashed);
            match (&prev, &linked) {
                (Some(expected), Some(got)) if expected == got => {}
                (None, _) if lines == 0 => starts_mid_chain = linked.is_some(),
                _ => {
                    return Err(broke(
                        path,
                        n,
                        "does not follow the line before it: a line was inserted here or deleted before it".into(),
                    ))
                }
            }
            prev = Some(claimed.to_owned());
            lines += 1;
        }
    }
    Ok(Verified {
        lines,
        files: files.len(),
        head: prev,
        starts_mid_chain,
    })
}

fn broke(file: &Path, line: usize, what: String) -> Break {
    Break {
        file: file.to_path_buf(),
        line,
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<String> {
        let mut prev: Option<String> = None;
        (0..n)
            .map(|i| {
                let v = serde_json::json!({"id": i, "status": 200});
                let mut bytes = serde_json::to_vec(&v).unwrap();
                prev = Some(link(&mut bytes, 0, prev.as_deref()));
                String::from_utf8(bytes).unwrap()
            })
            .collect()
    }

    fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(
            &path,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap();
        path
    }

    #[test]
    fn an_object_after_others_in_a_buffer_links_as_it_would_alone() {
        let lines = chain(2);
        let mut alone = serde_json::to_vec(&serde_json::json!({"id": 2})).unwrap();
        let head = link(&mut alone, 0, Some("ab"));
        let mut buf = format!("{}\n", lines[1]).into_bytes();
        let start = buf.len();
        serde_json::to_writer(&mut buf, &serde_json::json!({"id": 2})).unwrap();
        assert_eq!(link(&mut buf, start, Some("ab")), head);
        assert_eq!(&buf[start..], &alone[..]);
        assert_eq!(
            &buf[..start - 1],
            lines[1].as_bytes(),
            "the line before is untouched"
        );
    }

    #[test]
    fn hashes_are_lower_case_sha256_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn an_intact_chain_verifies_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let lines = chain(6);
        let a = write(dir.path(), "a", &lines[..2]);
        let b = write(dir.path(), "b", &lines[2..]);
        let v = verify(&[a.clone(), b.clone()]).unwrap();
        assert_eq!((v.lines, v.files, v.starts_mid_chain), (6, 2, false));
        assert_eq!(head(&[a, b.clone()]), v.head);
        // Older files rotated away: the chain starts mid-way, still fine.
        assert!(verify(&[b]).unwrap().starts_mid_chain);
    }

    #[test]
    fn names_modified_inserted_and_deleted_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut lines = chain(5);
        lines[2] = lines[2].replace("\"status\":200", "\"status\":500");
        let err = verify(&[write(dir.path(), "m", &lines)]).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.what.contains("modified"));

        let mut lines = chain(5);
        lines.remove(2);
        let err = verify(&[write(dir.path(), "d", &lines)]).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.what.contains("deleted"));

        let mut lines = chain(5);
        let forged = chain(1).remove(0);
        lines.insert(4, forged);
        let err = verify(&[write(dir.path(), "i", &lines)]).unwrap_err();
        assert_eq!(err.line, 5, "{err}");
        assert!(err.what.contains("inserted"));
    }
}
