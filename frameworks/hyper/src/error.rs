//! The contract's error answers as a hyper response.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::CONTENT_TYPE;
use hyper::{Response, StatusCode};
use workloads::ApiError;

use crate::ResBody;

/// An [`ApiError`] on its way to becoming a response.
#[derive(Debug)]
pub struct AppError(pub ApiError);

impl From<ApiError> for AppError {
    fn from(e: ApiError) -> Self {
        AppError(e)
    }
}

impl AppError {
    pub fn into_response(self) -> Response<ResBody> {
        let status = StatusCode::from_u16(self.0.status()).expect("contract statuses are valid");
        let body = Full::new(Bytes::from(self.0.body())).map_err(|never| match never {}).boxed_unsync();
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        resp.headers_mut().insert(CONTENT_TYPE, "application/json".parse().expect("static header"));
        resp
    }
}
