//! One module per endpoint; poem-openapi wants the operations on one `#[OpenApi]` impl,
//! so that impl lives here and delegates to each module.

pub mod generate;
pub mod health;
pub mod infer;
pub mod predict;

use poem_openapi::OpenApi;

use crate::extract::{EventStream, JsonBody, RawJson};

/// The contract's operations.
#[derive(Debug)]
pub struct Api;

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
}
