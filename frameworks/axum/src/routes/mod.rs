//! One module per endpoint.

pub mod chat;
pub mod generate;
pub mod health;
pub mod infer;
pub mod predict;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// A pre-encoded JSON body (encoded by `workloads::to_json`, the same for every target, or
/// the gateway's upstream answer as it came).
pub(crate) fn json(body: impl Into<Body>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body.into()).into_response()
}
