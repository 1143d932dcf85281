use actix_web::HttpResponse;

pub async fn health() -> HttpResponse {
    super::json(workloads::contract::HEALTH_BODY.to_vec())
}
