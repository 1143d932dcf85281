//! The body of a POST endpoint: headers checked by the shared rules (415, then an
//! announced 413), then read under the body limit with `Limited` (413 for chunked too).

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::Request;
use hyper::body::Body;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use workloads::{ApiError, BODY_LIMIT};

/// Reads a request's JSON bytes, not yet parsed: parsing and validation are the shared decode's job.
pub async fn json_body<B>(req: Request<B>) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let h = req.headers();
    workloads::http::check_post_headers(
        h.get(CONTENT_TYPE).map(|v| v.as_bytes()),
        h.get(CONTENT_LENGTH).map(|v| v.as_bytes()),
    )?;
    // Limited needs a std error; map the body's error to text first.
    let body = req.into_body().map_err(|e| std::io::Error::other(e.to_string()));
    match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(ApiError::PayloadTooLarge { limit: BODY_LIMIT }),
        Err(e) => Err(ApiError::InvalidJson { msg: format!("could not read the body: {e}") }),
    }
}
