//! A read-side guard against request smuggling that hyper tolerates.
//!
//! hyper resolves `Content-Length` together with `Transfer-Encoding` by
//! dropping the length (RFC 9112 §6.1 allows that), but a proxy must refuse
//! such a request outright: the next hop may frame it differently. hyper no
//! longer shows both headers by the time a request reaches the service, so
//! this wrapper watches the raw bytes of an HTTP/1 connection and raises a
//! flag when one header block carries both; the service then answers 400.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// Scans header lines as bytes arrive.
#[derive(Debug, Default)]
struct Scanner {
    /// The first bytes of the current line, lower-cased.
    line: Vec<u8>,
    /// Whether the current line holds anything but `\r`.
    nonblank: bool,
    /// Whether the rest of the current line can change nothing: it is
    /// nonblank and cannot, or can no longer, name a framing.
    settled: bool,
    content_length: bool,
    transfer_encoding: bool,
    /// Bytes seen so far (capped), to recognise the h2 preface.
    seen: usize,
    off: bool,
}

/// Enough of a line to tell `transfer-encoding:` from the rest.
const PREFIX: usize = 24;

impl Scanner {
    fn scan(&mut self, mut bytes: &[u8], flag: &AtomicBool) {
        if self.off || self.is_h2(bytes) {
            return;
        }
        // Every read passes here, bodies included: jump from newline to
        // newline rather than looking at each byte.
        while let Some(at) = memchr::memchr(b'\n', bytes) {
            self.take(&bytes[..at]);
            self.end_line(flag);
            bytes = &bytes[at + 1..];
        }
        self.take(bytes);
    }

    /// Follows the h2 preface through the connection's first bytes; true
    /// once it is complete, which turns the scanner off.
    fn is_h2(&mut self, bytes: &[u8]) -> bool {
        if self.seen >= H2_PREFACE.len() {
            return false;
        }
        let n = (H2_PREFACE.len() - self.seen).min(bytes.len());
        if bytes[..n] != H2_PREFACE[self.seen..self.seen + n] {
            self.seen = usize::MAX / 2;
            return false;
        }
        self.seen += n;
        self.off = self.seen == H2_PREFACE.len();
        self.off
    }

    /// Adds part of a line (no `\n` in it).
    fn take(&mut self, part: &[u8]) {
        if self.settled {
            return;
        }
        for &b in part {
            if b == b'\r' {
                continue;
            }
            self.nonblank = true;
            // Only a line starting with `c` or `t` can name a framing, and
            // nothing past the prefix matters: most lines (and every body
            // chunk) are settled at their first byte.
            let relevant = !self.line.is_empty() || matches!(b, b'c' | b'C' | b't' | b'T');
            if !relevant || self.line.len() == PREFIX {
                self.settled = true;
                return;
            }
            self.line.push(b.to_ascii_lowercase());
        }
    }

    fn end_line(&mut self, flag: &AtomicBool) {
        if !self.nonblank {
            // Blank line: the header block (or a body line) ended.
            self.content_length = false;
            self.transfer_encoding = false;
        } else if self.line.starts_with(b"content-length:") {
            self.content_length = true;
        } else if self.line.starts_with(b"transfer-encoding:") {
            self.transfer_encoding = true;
        }
        if self.content_length && self.transfer_encoding {
            flag.store(true, Ordering::Release);
        }
        self.line.clear();
        self.nonblank = false;
        self.settled = false;
    }
}

/// An I/O stream whose reads are scanned for smuggling.
pub struct Guarded<T> {
    inner: T,
    scanner: Scanner,
    flag: Arc<AtomicBool>,
}

impl<T> Guarded<T> {
    pub fn new(inner: T) -> (Guarded<T>, SmugglingFlag) {
        let flag = Arc::new(AtomicBool::new(false));
        let guarded = Guarded {
            inner,
            scanner: Scanner::default(),
            flag: flag.clone(),
        };
        (guarded, SmugglingFlag(flag))
    }
}

/// Raised once the connection sent a header block with both framings.
#[derive(Clone, Debug)]
pub struct SmugglingFlag(Arc<AtomicBool>);

impl SmugglingFlag {
    pub fn raised(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let this = &mut *self;
            this.scanner.scan(&buf.filled()[before..], &this.flag);
            super::busy_poll::touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flagged(input: &[u8], chunk: usize) -> bool {
        let flag = AtomicBool::new(false);
        let mut s = Scanner::default();
        for c in input.chunks(chunk) {
            s.scan(c, &flag);
        }
        flag.load(Ordering::Acquire)
    }

    #[test]
    fn flags_both_framings_in_one_block_at_any_chunking() {
        let bad = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        for n in 1..bad.len() {
            assert!(flagged(bad, n), "chunk {n}");
        }
    }

    /// The byte-at-a-time scanner the fast one replaced: the specification.
    fn reference(input: &[u8]) -> bool {
        let (mut line, mut len, mut cl, mut te, mut seen) = (Vec::new(), 0, false, false, 0);
        for &b in input {
            if seen < H2_PREFACE.len() {
                if b != H2_PREFACE[seen] {
                    seen = usize::MAX / 2;
                } else {
                    seen += 1;
                    if seen == H2_PREFACE.len() {
                        return false;
                    }
                }
            }
            if b == b'\n' {
                if len == 0 {
                    (cl, te) = (false, false);
                } else if line.starts_with(b"content-length:") {
                    cl = true;
                } else if line.starts_with(b"transfer-encoding:") {
                    te = true;
                }
                if cl && te {
                    return true;
                }
                line.clear();
                len = 0;
            } else if b != b'\r' {
                len += 1;
                if line.len() < PREFIX {
                    line.push(b.to_ascii_lowercase());
                }
            }
        }
        false
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_byte_at_a_time_scanner(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "Content-Length: 1", "TRANSFER-ENCODING: chunked", "\r", "\n", "\r\n",
                    "content-length:", "x", "PRI * HTTP/2.0", "transfer-encoding:",
                ]),
                0..24,
            ),
            chunk in 1usize..40,
        ) {
            let input = parts.concat();
            proptest::prop_assert_eq!(flagged(input.as_bytes(), chunk), reference(input.as_bytes()));
        }
    }

    #[test]
    fn separate_requests_are_fine() {
        let ok = b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert!(!flagged(ok, 3));
        assert!(!flagged(
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\ncontent-length: 1\ntransfer-encoding: x\n",
            4
        ));
    }
}
