//! One module per endpoint.

pub mod chat;
pub mod generate;
pub mod health;
pub mod infer;
pub mod predict;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::header::CONTENT_TYPE;
use hyper::{Response, StatusCode};

use crate::ResBody;

/// A pre-encoded JSON body (encoded by `workloads::to_json`, the same for every target, or
/// the gateway's upstream answer as it came).
pub(crate) fn json(body: impl Into<Bytes>) -> Response<ResBody> {
    let mut resp = Response::new(Full::new(body.into()).map_err(|never| match never {}).boxed_unsync());
    resp.headers_mut().insert(CONTENT_TYPE, "application/json".parse().expect("static header"));
    resp
}

/// 404 and 405, with no body.
pub(crate) fn status_only(status: StatusCode) -> Response<ResBody> {
    let mut resp = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *resp.status_mut() = status;
    resp
}
