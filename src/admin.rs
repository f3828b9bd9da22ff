//! `/_switchyard/*`: health, status, metrics, the live traffic page and its
//! event stream, and the CA certificate (never its key).
//!
//! The page, its events, status and metrics show traffic (the page even
//! shows redacted bodies), so they answer loopback clients and, once client
//! credentials are configured, authenticated clients (the front door in
//! `proxy` checks them); health and the CA certificate are for everyone who
//! may talk to switchyard at all.

use std::net::SocketAddr;

use http::{header, HeaderValue, Request, Response, StatusCode};
use serde_json::json;

use crate::app::App;
use crate::upstream::Body;

pub const PREFIX: &str = "/_switchyard/";

pub fn handle<B>(app: &App, peer: SocketAddr, req: &Request<B>) -> Response<Body> {
    let endpoint = req.uri().path().trim_start_matches(PREFIX);
    let private = matches!(
        endpoint,
        "" | "index.html" | "events" | "status" | "metrics"
    );
    let authenticated = req
        .extensions()
        .get::<crate::access::ClientName>()
        .is_some();
    if private && !peer.ip().is_loopback() && !authenticated {
        return crate::errors::text(
            StatusCode::FORBIDDEN,
            "this switchyard endpoint answers loopback clients only",
        );
    }
    match endpoint {
        "health" => json_response(json!({"status": "ok"})),
        "status" => match serde_json::to_value(crate::status::report(app, app.settings.listen)) {
            Ok(v) => json_response(v),
            Err(e) => crate::errors::text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        "metrics" => metrics(app),
        "" | "index.html" => crate::live::page(),
        "events" => crate::live::events(app),
        "ca.pem" => {
            let mut resp =
                Response::new(crate::body::full(app.leaves.authority().cert_pem.clone()));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            );
            resp
        }
        _ => crate::errors::text(StatusCode::NOT_FOUND, "no such switchyard endpoint"),
    }
}

fn metrics(app: &App) -> Response<Body> {
    let (entries, hits, misses) = app.leaves.stats();
    let scrape = crate::metrics::Scrape {
        cert_cache_entries: entries,
        cert_cache_hits: hits,
        cert_cache_misses: misses,
        audit_dropped: app.auditor.dropped(),
        providers: crate::status::providers(app),
    };
    let mut resp = Response::new(crate::body::full(app.auditor.metrics().render(&scrape)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    resp
}

fn json_response(value: serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(crate::body::full(value.to_string()));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
