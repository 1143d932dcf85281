use axum::response::Response;
use workloads::contract::{InferMode, infer_cpu_score, infer_io_score, infer_response};

use crate::AppError;
use crate::extract::JsonBody;

pub async fn infer(JsonBody(body): JsonBody) -> Result<Response, AppError> {
    let req = workloads::decode_infer(&body)?;
    let mode = req.mode;
    let score = match mode {
        InferMode::Io => {
            fw_common::simulated_remote_call(req.latency_ms).await;
            infer_io_score(&req)
        }
        // CPU-bound work goes to tokio's blocking pool, never onto an async worker.
        InferMode::Cpu => {
            tokio::task::spawn_blocking(move || infer_cpu_score(&req)).await.expect("cpu inference panicked")
        }
    };
    Ok(super::json(workloads::to_json(&infer_response(mode, score))))
}
