//! `POST /v1/predict`: decode, validate and score with the shared model, encode (docs/contract.md).

use axum::response::Response;

use crate::AppError;
use crate::extract::JsonBody;

pub async fn predict(JsonBody(body): JsonBody) -> Result<Response, AppError> {
    let req = workloads::decode_predict(&body)?;
    Ok(super::json(workloads::to_json(&workloads::predict(&req))))
}
