//! CONNECT: decide per host whether to intercept (TLS-terminate with a leaf
//! from the local CA) or to open a blind tunnel.
//!
//! Tunnels dial their target *before* answering, so an unreachable target
//! gets a 502 naming it instead of a 200 followed by a dead connection.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::access::ClientName;
use crate::app::{App, Hub};
use crate::audit::{Kind, Record};
use crate::errors;
use crate::upstream::Body;

/// The CONNECT target, `host:port` with 443 as the default port.
pub fn target(req: &Request<Incoming>) -> Option<(String, u16)> {
    let authority = req.uri().authority()?;
    let host = crate::upstream::bare_host(authority.host());
    if host.is_empty() {
        return None;
    }
    Some((
        host.to_ascii_lowercase(),
        authority.port_u16().unwrap_or(443),
    ))
}

pub async fn handle(
    hub: Arc<Hub>,
    app: Arc<App>,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let Some((host, port)) = target(&req) else {
        let mut record = Record::new(Kind::Rejected, crate::audit::client_address(peer));
        record.method = Some("CONNECT".into());
        record.status = Some(400);
        record.error = Some("CONNECT needs host:port".into());
        app.file(record);
        return errors::text(StatusCode::BAD_REQUEST, "CONNECT needs host:port");
    };
    let client = req.extensions().get::<ClientName>().cloned();
    if app.is_intercepted(&host) {
        let upgrade = hyper::upgrade::on(&mut req);
        let task_app = app.clone();
        app.tasks.spawn(async move {
            match upgrade.await {
                Ok(upgraded) => {
                    let who = super::intercept::Who { peer, client };
                    super::intercept::serve(hub, task_app, who, upgraded, host, port).await
                }
                Err(e) => tracing::debug!(error = %e, "CONNECT upgrade failed"),
            }
        });
        return ok();
    }
    let started = std::time::Instant::now();
    let policy = &app.settings.tunnel;
    if !policy.port_allowed(port) {
        let message = format!("tunnels to port {port} are not allowed (tunnel.allowed_ports)");
        return refuse(
            &app,
            peer,
            &host,
            port,
            client,
            StatusCode::FORBIDDEN,
            message,
            started,
        );
    }
    match app.dialer.dial_restricted(&host, port, policy).await {
        Ok(stream) => {
            let upgrade = hyper::upgrade::on(&mut req);
            let task_app = app.clone();
            app.tasks.spawn(async move {
                let target = super::tunnel::Target { host, port, client };
                super::tunnel::run(task_app, peer, upgrade, stream, target, started).await;
            });
            ok()
        }
        Err(e @ crate::upstream::DialError::Forbidden { .. }) => refuse(
            &app,
            peer,
            &host,
            port,
            client,
            StatusCode::FORBIDDEN,
            e.to_string(),
            started,
        ),
        Err(e) => {
            let message = format!(
                "cannot reach {}: {e}",
                crate::upstream::authority(&host, port)
            );
            tracing::info!(%host, port, error = %e, "tunnel target unreachable");
            let mut record = super::tunnel::record(peer, &host, port, client);
            record.status = Some(502);
            record.error = Some(message.clone());
            record.duration_ms = started.elapsed().as_millis() as u64;
            app.file(record);
            errors::text(StatusCode::BAD_GATEWAY, &message)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn refuse(
    app: &App,
    peer: SocketAddr,
    host: &str,
    port: u16,
    client: Option<ClientName>,
    status: StatusCode,
    message: String,
    started: std::time::Instant,
) -> Response<Body> {
    tracing::info!(%host, port, reason = %message, "tunnel refused");
    let mut record = super::tunnel::record(peer, host, port, client);
    record.kind = Kind::Rejected;
    record.status = Some(status.as_u16());
    record.error = Some(message.clone());
    record.duration_ms = started.elapsed().as_millis() as u64;
    app.file(record);
    errors::text(status, &message)
}

fn ok() -> Response<Body> {
    Response::new(crate::body::empty())
}
