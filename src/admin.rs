//! `/_switchyard/*`: health, status and the CA certificate (never its key).

use http::{header, HeaderValue, Request, Response, StatusCode};
use serde_json::json;

use crate::app::App;
use crate::upstream::Body;

pub const PREFIX: &str = "/_switchyard/";

pub fn handle<B>(app: &App, req: &Request<B>) -> Response<Body> {
    match req.uri().path().trim_start_matches(PREFIX) {
        "health" => json_response(json!({"status": "ok"})),
        "status" => json_response(status(app)),
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

fn status(app: &App) -> serde_json::Value {
    let (entries, hits, misses) = app.leaves.stats();
    json!({
        "address": app.settings.listen.to_string(),
        "uptime_secs": app.started.elapsed().as_secs(),
        "mode": "gateway",
        "audit": {"path": app.auditor.path().display().to_string(), "dropped": app.auditor.dropped()},
        "cert_cache": {"entries": entries, "hits": hits, "misses": misses},
        "intercept": app.settings.intercept,
    })
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
