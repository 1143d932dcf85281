//! `POST /v1/infer`: slow inference, io mode awaited on the runtime, cpu mode on the blocking pool (docs/contract.md).

use actix_web::{HttpResponse, web};
use workloads::contract::infer_response;

use crate::AppError;
use crate::extract::JsonBody;

pub async fn infer(JsonBody(body): JsonBody) -> Result<HttpResponse, AppError> {
    let req = workloads::decode_infer(&body)?;
    let mode = req.mode;
    // CPU-bound work goes to actix's blocking pool (web::block).
    let score =
        fw_common::infer_score(req, |job| async { web::block(job).await.expect("cpu inference panicked") }).await;
    Ok(super::json(workloads::to_json(&infer_response(mode, score))))
}
