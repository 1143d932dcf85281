//! `POST /v1/chat/completions`: the LLM gateway (docs/contract.md). Decode and validate as
//! every endpoint does, forward the checked fields with reqwest, then re-stream the
//! upstream's SSE under our own id or pass its JSON on ([`fw_common::gateway`]).

use fw_common::gateway::reqwest_client::Answer;
use poem::Body;

use crate::extract::{ChatAnswer, EventStream, JsonBody, RawJson};
use crate::{AppError, Gateway};

pub async fn chat(gateway: &Gateway, JsonBody(body): JsonBody) -> poem::Result<ChatAnswer> {
    let req = workloads::decode_chat(&body).map_err(AppError)?;
    Ok(match gateway.forward(&req).await.map_err(AppError)? {
        Answer::Stream(frames) => ChatAnswer::Stream(EventStream::new(Body::from_bytes_stream(frames))),
        Answer::Json(body) => ChatAnswer::Json(RawJson::new(body)),
    })
}
