//! `POST /v1/generate`: an SSE token stream from the shared generator, paced by the shared timer (docs/contract.md).

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::AppError;
use crate::extract::JsonBody;

pub async fn generate(JsonBody(body): JsonBody) -> Result<Response, AppError> {
    // Validation happens before the stream starts, so a bad request is a JSON 4xx.
    let req = workloads::decode_generate(&body)?;
    let headers = [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")];
    Ok((headers, Body::from_stream(fw_common::token_stream(&req))).into_response())
}
