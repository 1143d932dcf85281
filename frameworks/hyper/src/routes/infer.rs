use bytes::Bytes;
use hyper::body::Body;
use hyper::{Request, Response};
use workloads::contract::{InferMode, infer_cpu_score, infer_io_score, infer_response};

use crate::extract::json_body;
use crate::{AppError, ResBody};

pub async fn infer<B>(req: Request<B>) -> Result<Response<ResBody>, AppError>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let body = json_body(req).await?;
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
