//! The contract's error answers as a poem error.

use poem::Response;
use poem::error::ResponseError;
use poem::http::StatusCode;
use workloads::ApiError;

/// An [`ApiError`] that poem can return.
#[derive(Debug)]
pub struct AppError(pub ApiError);

impl From<ApiError> for AppError {
    fn from(e: ApiError) -> Self {
        AppError(e)
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for AppError {}

impl ResponseError for AppError {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).expect("contract statuses are valid")
    }

    fn as_response(&self) -> Response {
        Response::builder().status(self.status()).content_type("application/json").body(self.0.body())
    }
}
