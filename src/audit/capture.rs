//! Keeps the head of a body for the audit record while counting all of it.

use super::redact;

/// Extra bytes kept past the limit so a secret straddling the cut is still
/// recognised (and removed) before the text is truncated.
const MARGIN: usize = 512;

#[derive(Debug)]
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
        if self.limit == 0 || self.total == 0 {
            return None;
        }
        // Valid UTF-8 is the rule, and checking it is far cheaper than the
        // lossy decoder, which is kept for bodies that are not (or were cut
        // inside a character).
        let text = match std::str::from_utf8(&self.head) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(&self.head),
        };
        let clean = redact::redact(&text, secrets);
        if clean.len() <= self.limit && self.total as usize <= self.limit {
            return Some(clean);
        }
        let mut cut = self.limit.min(clean.len());
        while !clean.is_char_boundary(cut) {
            cut -= 1;
        }
        Some(format!(
            "{}…[truncated, {} bytes]",
            &clean[..cut],
            self.total
        ))
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
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        let mut c = Capture::new(100);
        c.push(b"caf\xc3");
        c.push(b"\xa9 \xff!");
        assert_eq!(c.text(&[]).unwrap(), "caf\u{e9} \u{fffd}!");
    }

    #[test]
    fn zero_limit_keeps_nothing() {
        let mut c = Capture::new(0);
        c.push(b"hello");
        assert_eq!(c.text(&[]), None);
        assert_eq!(c.total(), 5);
    }
}
