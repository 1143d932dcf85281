use axum::response::Response;

pub async fn health() -> Response {
    super::json(workloads::contract::HEALTH_BODY.to_vec())
}
