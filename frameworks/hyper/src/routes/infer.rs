//! `POST /v1/infer`: slow inference, io mode awaited on the runtime, cpu mode on the blocking pool (docs/contract.md).

use bytes::Bytes;
use hyper::body::Body;
use hyper::{Request, Response};
use workloads::contract::infer_response;

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
    // CPU-bound work goes to tokio's blocking pool (spawn_blocking).
    let score = fw_common::infer_score(req, fw_common::tokio_blocking_pool).await;
    Ok(super::json(workloads::to_json(&infer_response(mode, score))))
}
