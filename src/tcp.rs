//! Socket options for every TCP connection switchyard accepts or dials.
//!
//! Keepalive probes find a peer that vanished without a FIN or RST (a laptop
//! lid closed, a NAT or VPN that dropped its entry) on connections that sit
//! quiet: blind tunnels, WebSockets between turns, kept provider
//! connections. Without them such a connection, and its task, stays until
//! the other side writes, which it may never do.

use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpStream;

/// Quiet time before the first probe. The kernel then probes every
/// [`KEEPALIVE_INTERVAL`] and drops the connection after its own retry
/// count (9 on Linux): a dead peer is noticed within ~3 minutes.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// No Nagle delay (requests and SSE events go out at once) and keepalive.
/// Failures are logged and ignored: the connection works without either.
pub fn tune(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY not set");
    }
    let keepalive = TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL);
    if let Err(e) = SockRef::from(stream).set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "TCP keepalive not set");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_and_dialled_sockets_get_nodelay_and_keepalive() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dialled = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        for stream in [&dialled, &accepted] {
            assert!(!SockRef::from(stream).keepalive().unwrap());
            tune(stream);
            assert!(stream.nodelay().unwrap());
            assert!(SockRef::from(stream).keepalive().unwrap());
            #[cfg(target_os = "linux")]
            {
                let secs = |option| tcp_option(stream, option);
                assert_eq!(secs(libc::TCP_KEEPIDLE), KEEPALIVE_IDLE.as_secs());
                assert_eq!(secs(libc::TCP_KEEPINTVL), KEEPALIVE_INTERVAL.as_secs());
            }
        }
    }

    #[cfg(target_os = "linux")]
    fn tcp_option(stream: &TcpStream, option: libc::c_int) -> u64 {
        use std::os::fd::AsRawFd;
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a valid socket, and a c_int-sized buffer with its length.
        let rc = unsafe {
            libc::getsockopt(
                stream.as_raw_fd(),
                libc::IPPROTO_TCP,
                option,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "getsockopt {option}");
        value as u64
    }
}
