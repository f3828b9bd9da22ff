//! Keeps the head of a body for the audit record while counting all of it.

use std::fmt::Write as _;

use super::redact;

/// Extra bytes kept past the limit so a secret straddling the cut is still
/// recognised (and removed) before the text is truncated.
const MARGIN: usize = 512;

#[derive(Debug, Clone)]
pub struct Capture {
    limit: usize,
    head: Vec<u8>,
    total: u64,
}

impl Capture {
    pub fn new(limit: usize) -> Capture {
        Capture {
            limit,
            head: Vec::new(),
            total: 0,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        let room = (self.limit + MARGIN).saturating_sub(self.head.len());
        if self.limit > 0 && room > 0 {
            self.head.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The redacted, truncated text for the record; None when bodies are off.
    pub fn text(&self, secrets: &[&str]) -> Option<String> {
        self.clone().into_text(secrets)
    }

    /// [`Capture::text`] of a finished capture: its buffer becomes the text,
    /// with no copy when it is valid UTF-8 and holds no secret.
    pub fn into_text(self, secrets: &[&str]) -> Option<String> {
        if self.limit == 0 || self.total == 0 {
            return None;
        }
        // Valid UTF-8 is the rule, and checking it is far cheaper than the
        // lossy decoder, which is kept for bodies that are not (or were cut
        // inside a character).
        let text = match String::from_utf8(self.head) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        let mut clean = redact::redact_owned(text, secrets);
        if clean.len() <= self.limit && self.total as usize <= self.limit {
            return Some(clean);
        }
        let mut cut = self.limit.min(clean.len());
        while !clean.is_char_boundary(cut) {
            cut -= 1;
        }
        clean.truncate(cut);
        let _ = write!(clean, "…[truncated, {} bytes]", self.total);
        Some(clean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_after_redacting() {
        let mut c = Capture::new(20);
        c.push(b"0123456789012345sk-abcdefghijklmnop");
        c.push(b" and more");
        let text = c.text(&[]).unwrap();
        assert!(!text.contains("sk-abc"), "{text}");
        assert!(text.starts_with("0123456789012345[RED"), "{text}");
        assert!(text.ends_with("[truncated, 44 bytes]"), "{text}");
        assert_eq!(c.total(), 44);
        assert_eq!(c.into_text(&[]).as_deref(), Some(text.as_str()));
    }

    #[test]
    fn a_clean_body_becomes_the_text_without_a_copy() {
        let mut c = Capture::new(100);
        c.push(b"{\"model\":\"m\"}");
        let buffer = c.head.as_ptr();
        let text = c.into_text(&["a-long-secret"]).unwrap();
        assert_eq!(text, "{\"model\":\"m\"}");
        assert_eq!(text.as_ptr(), buffer, "the capture's buffer was copied");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        let mut c = Capture::new(100);
        c.push(b"caf\xc3");
        c.push(b"\xa9 \xff!");
        assert_eq!(c.text(&[]).unwrap(), "caf\u{e9} \u{fffd}!");
        assert_eq!(c.into_text(&[]).unwrap(), "caf\u{e9} \u{fffd}!");
    }

    #[test]
    fn zero_limit_keeps_nothing() {
        let mut c = Capture::new(0);
        c.push(b"hello");
        assert_eq!(c.text(&[]), None);
        assert_eq!(c.total(), 5);
    }
}
