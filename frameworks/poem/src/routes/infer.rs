//! `POST /v1/infer`: slow inference, io mode awaited on the runtime, cpu mode on the blocking pool (docs/contract.md).

use workloads::contract::infer_response;

use crate::AppError;
use crate::extract::{JsonBody, RawJson};

pub async fn infer(JsonBody(body): JsonBody) -> poem::Result<RawJson> {
    let req = workloads::decode_infer(&body).map_err(AppError)?;
    let mode = req.mode;
    // CPU-bound work goes to tokio's blocking pool (spawn_blocking).
    let score = fw_common::infer_score(req, fw_common::tokio_blocking_pool).await;
    Ok(RawJson::new(workloads::to_json(&infer_response(mode, score))))
}
