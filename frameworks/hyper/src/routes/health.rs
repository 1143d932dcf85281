//! `GET /health`: the fixed liveness answer (docs/contract.md). The floor of per-request cost.

use hyper::Response;

use crate::ResBody;

pub fn health() -> Response<ResBody> {
    super::json(workloads::contract::HEALTH_BODY)
}
