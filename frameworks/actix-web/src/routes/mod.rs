//! One module per endpoint.

pub mod generate;
pub mod health;
pub mod infer;
pub mod predict;

use actix_web::HttpResponse;

/// A pre-encoded JSON body (encoded by `workloads::to_json`, the same for every target).
pub(crate) fn json(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(body)
}
