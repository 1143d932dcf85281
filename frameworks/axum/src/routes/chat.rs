//! `POST /v1/chat/completions`: the LLM gateway (docs/contract.md). Decode and validate as
//! every endpoint does, forward the checked fields with reqwest, then re-stream the
//! upstream's SSE under our own id or pass its JSON on ([`fw_common::gateway`]).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use fw_common::gateway::reqwest_client::Answer;

use crate::extract::JsonBody;
use crate::{AppError, Gateway};

pub async fn chat(State(gateway): State<Arc<Gateway>>, JsonBody(body): JsonBody) -> Result<Response, AppError> {
    let req = workloads::decode_chat(&body)?;
    Ok(match gateway.forward(&req).await? {
        Answer::Stream(frames) => {
            let headers = [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")];
            (headers, Body::from_stream(frames)).into_response()
        }
        Answer::Json(body) => super::json(body),
    })
}
