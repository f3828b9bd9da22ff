//! Blind tunnels: bytes copied both ways, never inspected, counted for the
//! audit record filed when the tunnel closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::app::App;
use crate::audit::{Kind, Record};
use crate::upstream::OutboundStream;

/// Where a tunnel goes, and for whom.
pub struct Target {
    pub host: String,
    pub port: u16,
    pub client: Option<crate::access::ClientName>,
}

/// A tunnel record with its identity filled in.
pub fn record(
    peer: SocketAddr,
    host: &str,
    port: u16,
    client: Option<crate::access::ClientName>,
) -> Record {
    let mut record = Record::new(Kind::Tunnel, peer.to_string());
    record.client_name = client.map(|c| c.0);
    record.method = Some("CONNECT".into());
    record.host = Some(host.to_owned());
    record.port = Some(port);
    record
}

pub async fn run(
    app: Arc<App>,
    peer: SocketAddr,
    upgrade: OnUpgrade,
    mut stream: OutboundStream,
    target: Target,
    started: Instant,
) {
    let _open = app.auditor.metrics().open_tunnel();
    let mut record = record(peer, &target.host, target.port, target.client);
    record.status = Some(200);
    match upgrade.await {
        Ok(upgraded) => {
            let mut client = TokioIo::new(upgraded);
            let copied = tokio::select! {
                r = tokio::io::copy_bidirectional(&mut client, &mut stream) => r,
                // At shutdown, open tunnels get until the drain deadline.
                _ = wait_past_deadline(&app) => Err(std::io::Error::other("closed at shutdown")),
            };
            match copied {
                Ok((up, down)) => {
                    record.request_bytes = up;
                    record.response_bytes = down;
                }
                Err(e) => record.error = Some(format!("tunnel closed: {e}")),
            }
        }
        Err(e) => record.error = Some(format!("CONNECT upgrade failed: {e}")),
    }
    record.duration_ms = started.elapsed().as_millis() as u64;
    app.auditor.record(record);
}

async fn wait_past_deadline(app: &App) {
    app.shutdown.cancelled().await;
    tokio::time::sleep(app.settings.timeouts.shutdown).await;
}
