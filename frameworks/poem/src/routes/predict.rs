//! `POST /v1/predict`: decode, validate and score with the shared model, encode (docs/contract.md).

use crate::AppError;
use crate::extract::{JsonBody, RawJson};

pub fn predict(JsonBody(body): JsonBody) -> poem::Result<RawJson> {
    let req = workloads::decode_predict(&body).map_err(AppError)?;
    Ok(RawJson::new(workloads::to_json(&workloads::predict(&req))))
}
