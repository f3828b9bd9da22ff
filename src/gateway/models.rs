//! `GET /v1/models` on the gateway: the models the routes make reachable,
//! in the shape the client's family expects.

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::Ctx;
use crate::upstream::Body;

pub fn list(mut ctx: Ctx, req: &Request<Incoming>) -> Response<Body> {
    let models = ctx.app.router().listed_models();
    let anthropic = req.headers().contains_key("anthropic-version");
    let body = if anthropic {
        let data: Vec<_> = models
            .iter()
            .map(|m| json!({"type": "model", "id": m, "display_name": m, "created_at": "1970-01-01T00:00:00Z"}))
            .collect();
        json!({"data": data, "has_more": false, "first_id": models.first(), "last_id": models.last()})
    } else {
        let data: Vec<_> = models
            .iter()
            .map(|m| json!({"id": m, "object": "model", "created": 0, "owned_by": "switchyard"}))
            .collect();
        json!({"object": "list", "data": data})
    };
    ctx.record.status = Some(200);
    ctx.record.duration_ms = ctx.started.elapsed().as_millis() as u64;
    ctx.app.file(*ctx.record);
    let mut resp = Response::new(crate::body::full(body.to_string()));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
