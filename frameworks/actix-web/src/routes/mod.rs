//! One module per endpoint.

pub mod chat;
pub mod generate;
pub mod health;
pub mod infer;
pub mod predict;

use actix_web::HttpResponse;
use actix_web::body::MessageBody;

/// A pre-encoded JSON body (encoded by `workloads::to_json`, the same for every target, or
/// the gateway's upstream answer as it came).
pub(crate) fn json(body: impl MessageBody + 'static) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(body)
}
