//! `GET /health`: the fixed liveness answer (docs/contract.md). The floor of per-request cost.

use actix_web::HttpResponse;

pub async fn health() -> HttpResponse {
    super::json(workloads::contract::HEALTH_BODY.to_vec())
}
