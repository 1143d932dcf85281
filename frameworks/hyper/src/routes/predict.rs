//! `POST /v1/predict`: decode, validate and score with the shared model, encode (docs/contract.md).

use bytes::Bytes;
use hyper::body::Body;
use hyper::{Request, Response};

use crate::extract::json_body;
use crate::{AppError, ResBody};

pub async fn predict<B>(req: Request<B>) -> Result<Response<ResBody>, AppError>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let body = json_body(req).await?;
    let req = workloads::decode_predict(&body)?;
    Ok(super::json(workloads::to_json(&workloads::predict(&req))))
}
