//! Incremental Server-Sent Events parsing and serialisation.
//!
//! The parser is fed raw body chunks as they arrive and yields each event as
//! soon as its terminating blank line has been seen, so nothing upstream of it
//! ever needs to buffer a whole stream. It follows the WHATWG event-stream
//! grammar: `\n`, `\r\n` and `\r` line endings, `:` comments, multi-line
//! `data`, and a single optional space after the colon.

/// One dispatched SSE event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

impl SseEvent {
    pub fn new(event: Option<&str>, data: impl Into<String>) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.into(),
        }
    }

    /// An event with only a data field (the OpenAI style).
    pub fn data(data: impl Into<String>) -> SseEvent {
        SseEvent {
            event: None,
            data: data.into(),
        }
    }

    /// Serialises the event in wire form, ending with the blank line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 32);
        if let Some(event) = &self.event {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(event.as_bytes());
            out.push(b'\n');
        }
        for line in self.data.split('\n') {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out
    }
}

/// Limits how much of one unterminated line the parser will hold, so a
/// hostile upstream cannot grow memory without bound.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// Incremental parser: push bytes in, take events out.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The previous chunk ended in `\r`; a leading `\n` in the next belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: Option<String>,
    overflowed: bool,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// True once a line longer than the limit was seen (its content was dropped).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Feeds a chunk and returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        let mut rest = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (head, tail) = rest.split_at(pos);
            self.extend_line(head);
            let is_cr = tail[0] == b'\r';
            rest = &tail[1..];
            if is_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.process_line(&line) {
                events.push(event);
            }
        }
        self.extend_line(rest);
        events
    }

    /// Ends the stream. An event without its final blank line is discarded,
    /// as the specification requires.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        self.line.clear();
        self.event = None;
        self.data = None;
        Vec::new()
    }

    fn extend_line(&mut self, bytes: &[u8]) {
        if self.line.len() + bytes.len() > MAX_LINE {
            self.overflowed = true;
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn process_line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.event = Some(value.into_owned()),
            b"data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(&value);
                }
                None => self.data = Some(value.into_owned()),
            },
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        let data = self.data.take()?;
        Some(SseEvent { event, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_chunks(input: &[u8], size: usize) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for chunk in input.chunks(size) {
            out.extend(parser.push(chunk));
        }
        out
    }

    #[test]
    fn parses_named_events_across_any_chunking() {
        let input = b"event: message_start\ndata: {\"a\":1}\n\n: ping\nevent: ping\r\ndata: x\r\n\r\ndata: [DONE]\r\r";
        let want = vec![
            SseEvent::new(Some("message_start"), "{\"a\":1}"),
            SseEvent::new(Some("ping"), "x"),
            SseEvent::data("[DONE]"),
        ];
        for size in 1..input.len() {
            assert_eq!(parse_in_chunks(input, size), want, "chunk size {size}");
        }
    }

    #[test]
    fn joins_multiline_data_and_drops_unterminated_event() {
        let mut parser = SseParser::new();
        let events = parser.push(b"data: a\ndata:b\n\ndata: tail");
        assert_eq!(events, vec![SseEvent::data("a\nb")]);
        assert!(parser.finish().is_empty());
    }

    #[test]
    fn serialises_round_trip() {
        let event = SseEvent::new(Some("content_block_delta"), "line1\nline2");
        let mut parser = SseParser::new();
        assert_eq!(parser.push(&event.to_bytes()), vec![event]);
    }

    #[test]
    fn event_without_data_is_not_dispatched() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"event: x\n\n").is_empty());
        assert_eq!(parser.push(b"data: y\n\n"), vec![SseEvent::data("y")]);
    }
}
