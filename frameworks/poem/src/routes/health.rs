use crate::extract::RawJson;

pub fn health() -> RawJson {
    RawJson::new(workloads::contract::HEALTH_BODY)
}
