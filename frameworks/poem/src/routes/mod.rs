//! One module per endpoint; poem-openapi wants the operations on one `#[OpenApi]` impl,
//! so that impl lives here and delegates to each module.

pub mod chat;
pub mod generate;
pub mod health;
pub mod infer;
pub mod predict;

use poem_openapi::OpenApi;

use crate::Gateway;
use crate::extract::{ChatAnswer, EventStream, JsonBody, RawJson};

/// The contract's operations, and the gateway's client they share.
#[derive(Debug)]
pub struct Api {
    gateway: Gateway,
}

impl Api {
    pub fn new(gateway: Gateway) -> Self {
        Api { gateway }
    }
}

#[OpenApi]
impl Api {
    /// Liveness.
    #[oai(path = "/health", method = "get")]
    async fn health(&self) -> RawJson {
        health::health()
    }

    /// Validation-heavy tabular scoring.
    #[oai(path = "/v1/predict", method = "post")]
    async fn predict(&self, body: JsonBody) -> poem::Result<RawJson> {
        predict::predict(body)
    }

    /// SSE token streaming (simulated decode).
    #[oai(path = "/v1/generate", method = "post")]
    async fn generate(&self, body: JsonBody) -> poem::Result<EventStream> {
        generate::generate(body)
    }

    /// Slow inference, I/O-bound or CPU-bound.
    #[oai(path = "/v1/infer", method = "post")]
    async fn infer(&self, body: JsonBody) -> poem::Result<RawJson> {
        infer::infer(body).await
    }

    /// The LLM gateway: OpenAI's chat completions, forwarded to the upstream.
    #[oai(path = "/v1/chat/completions", method = "post")]
    async fn chat(&self, body: JsonBody) -> poem::Result<ChatAnswer> {
        chat::chat(&self.gateway, body).await
    }
}
