use hyper::Response;

use crate::ResBody;

pub fn health() -> Response<ResBody> {
    super::json(workloads::contract::HEALTH_BODY)
}
