//! The listener and per-connection tasks: HTTP/1.1 or h2c (auto-detected),
//! shutdown, and the kill switch that lets a handler end its connection with
//! a TCP reset or a bare close instead of a response.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::handler::{handle, Shared};

/// How a handler ends its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kill {
    /// RST: `SO_LINGER 0`, then close.
    Reset,
    /// FIN: close without finishing the response.
    Close,
}

/// The handle a request handler gets on its connection.
#[derive(Clone)]
pub struct ConnCtl {
    kill: Arc<watch::Sender<Option<Kill>>>,
}

impl ConnCtl {
    pub fn kill(&self, kill: Kill) {
        self.kill.send_replace(Some(kill));
    }
}

/// Accepts until `shutdown` turns true, then drops every connection.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    let for_conns = shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(serve(stream, peer, shared.clone(), for_conns.clone()));
                }
                // Out of fds and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            _ = stopped(&mut shutdown) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    conns.shutdown().await;
}

/// Serves one connection until it ends, shutdown, or a handler kills it.
async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Small SSE frames must leave as soon as they are written.
    let _ = stream.set_nodelay(true);
    // A duplicate of the socket outlives hyper's copy, so a reset can be
    // armed (SO_LINGER 0) and fired after hyper has let go of it.
    let Ok((stream, spare)) = duplicate(stream) else {
        return;
    };
    let (kill_tx, mut kill_rx) = watch::channel(None);
    let ctl = ConnCtl {
        kill: Arc::new(kill_tx),
    };
    let service = service_fn(move |req| handle(shared.clone(), ctl.clone(), peer, req));
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    let kill = tokio::select! {
        _ = conn => None,
        kill = killed(&mut kill_rx) => kill,
        _ = stopped(&mut shutdown) => None,
    };
    if kill == Some(Kill::Reset) {
        if let Ok(spare) = TcpStream::from_std(spare) {
            let _ = spare.set_zero_linger();
        }
    }
}

/// Resolves once shutdown is requested (or the provider is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Resolves with the kill a handler asked for; pends if none ever comes.
async fn killed(kill: &mut watch::Receiver<Option<Kill>>) -> Option<Kill> {
    let seen = kill.wait_for(Option::is_some).await.ok().and_then(|k| *k);
    if seen.is_none() {
        std::future::pending::<()>().await;
    }
    seen
}

fn duplicate(stream: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let std_stream = stream.into_std()?;
    let spare = std_stream.try_clone()?;
    Ok((TcpStream::from_std(std_stream)?, spare))
}
