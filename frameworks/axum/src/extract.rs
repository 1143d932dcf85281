//! The body of a POST endpoint: headers checked by the shared rules (415, then an
//! announced 413), then read under the body limit (413 for chunked bodies too).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use workloads::{ApiError, BODY_LIMIT};

use crate::AppError;

/// Raw JSON bytes, not yet parsed: parsing and validation are the shared decode's job.
#[derive(Debug)]
pub struct JsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let h = req.headers();
        workloads::http::check_post_headers(
            h.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
            h.get(header::CONTENT_LENGTH).map(|v| v.as_bytes()),
        )?;
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(JsonBody(bytes)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge { limit: BODY_LIMIT }.into())
            }
            Err(r) => Err(ApiError::InvalidJson { msg: format!("could not read the body: {}", r.body_text()) }.into()),
        }
    }
}
