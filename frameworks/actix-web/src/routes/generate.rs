//! `POST /v1/generate`: an SSE token stream from the shared generator, paced by the shared timer (docs/contract.md).

use actix_web::HttpResponse;
use actix_web::http::header;

use crate::AppError;
use crate::extract::JsonBody;

pub async fn generate(JsonBody(body): JsonBody) -> Result<HttpResponse, AppError> {
    // Validation happens before the stream starts, so a bad request is a JSON 4xx.
    let req = workloads::decode_generate(&body)?;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(fw_common::token_stream(&req)))
}
