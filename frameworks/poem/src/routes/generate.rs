//! `POST /v1/generate`: an SSE token stream from the shared generator, paced by the shared timer (docs/contract.md).

use poem::Body;

use crate::AppError;
use crate::extract::{EventStream, JsonBody};

pub fn generate(JsonBody(body): JsonBody) -> poem::Result<EventStream> {
    // Validation happens before the stream starts, so a bad request is a JSON 4xx.
    let req = workloads::decode_generate(&body).map_err(AppError)?;
    Ok(EventStream::new(Body::from_bytes_stream(fw_common::token_stream(&req))))
}
