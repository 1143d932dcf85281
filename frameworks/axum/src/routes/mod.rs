//! One module per endpoint.

pub mod generate;
pub mod health;
pub mod infer;
pub mod predict;

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// A pre-encoded JSON body (encoded by `workloads::to_json`, the same for every target).
pub(crate) fn json(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
