//! `GET /health`: the fixed liveness answer (docs/contract.md). The floor of per-request cost.

use crate::extract::RawJson;

pub fn health() -> RawJson {
    RawJson::new(workloads::contract::HEALTH_BODY)
}
