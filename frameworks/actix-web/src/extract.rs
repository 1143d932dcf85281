//! The body of a POST endpoint: headers checked by the shared rules (415, then an
//! announced 413), then read under the body limit (413 for chunked bodies too).

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use workloads::{ApiError, BODY_LIMIT};

use crate::AppError;

/// Raw JSON bytes, not yet parsed: parsing and validation are the shared decode's job.
#[derive(Debug)]
pub struct JsonBody(pub Bytes);

impl FromRequest for JsonBody {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let h = req.headers();
        let checked = workloads::http::check_post_headers(
            h.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
            h.get(header::CONTENT_LENGTH).map(|v| v.as_bytes()),
        );
        // Reads under the PayloadConfig limit set in `configure`.
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            checked?;
            match body.await {
                Ok(bytes) => Ok(JsonBody(bytes)),
                Err(e) if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE => {
                    Err(ApiError::PayloadTooLarge { limit: BODY_LIMIT }.into())
                }
                Err(e) => Err(ApiError::InvalidJson { msg: format!("could not read the body: {e}") }.into()),
            }
        })
    }
}
