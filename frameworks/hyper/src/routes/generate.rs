//! `POST /v1/generate`: an SSE token stream from the shared generator, paced by the shared timer (docs/contract.md).

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Body, Frame};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Request, Response};

use crate::extract::json_body;
use crate::{AppError, ResBody};

pub async fn generate<B>(req: Request<B>) -> Result<Response<ResBody>, AppError>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let body = json_body(req).await?;
    // Validation happens before the stream starts, so a bad request is a JSON 4xx.
    let req = workloads::decode_generate(&body)?;
    let frames = fw_common::token_stream(&req).map_ok(Frame::data);
    let mut resp = Response::new(StreamBody::new(frames).boxed_unsync());
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, "text/event-stream".parse().expect("static header"));
    h.insert(CACHE_CONTROL, "no-cache".parse().expect("static header"));
    Ok(resp)
}
