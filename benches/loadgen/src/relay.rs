//! The floor: a TCP relay that only copies bytes both ways, with no TLS and
//! no HTTP. Put between the load client and the upstream, it measures what a
//! single extra process on the path costs on this machine (two more
//! loopback hops, each waking a process on the other CPU), which bounds
//! from below what any proxy, switchyard or nginx, can add.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// Relays every connection accepted on `listener` to `to`, until the
/// process ends. A failed connection is dropped; the relay keeps serving.
pub async fn serve(listener: TcpListener, to: SocketAddr) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of descriptors, say: wait rather than spin the core the
            // bench is measuring.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(async move {
            if let Err(e) = relay(client, to).await {
                eprintln!("bench-relay: {e}");
            }
        });
    }
}

async fn relay(mut client: TcpStream, to: SocketAddr) -> std::io::Result<()> {
    let mut upstream = TcpStream::connect(to).await?;
    // As every proxy measured here does: small writes leave at once.
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn bytes_go_both_ways_and_the_end_follows() {
        let origin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin_addr = origin.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = origin.accept().await.unwrap();
            let mut asked = [0u8; 4];
            s.read_exact(&mut asked).await.unwrap();
            s.write_all(&[asked.as_slice(), b" pong"].concat())
                .await
                .unwrap();
        });
        let relay = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay_addr = relay.local_addr().unwrap();
        tokio::spawn(serve(relay, origin_addr));

        let mut c = TcpStream::connect(relay_addr).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ping pong");
    }
}
