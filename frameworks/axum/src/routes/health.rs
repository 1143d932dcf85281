//! `GET /health`: the fixed liveness answer (docs/contract.md). The floor of per-request cost.

use axum::response::Response;

pub async fn health() -> Response {
    super::json(workloads::contract::HEALTH_BODY.to_vec())
}
