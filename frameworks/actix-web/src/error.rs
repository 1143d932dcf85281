//! The contract's error answers as an actix-web response.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use workloads::ApiError;

/// An [`ApiError`] that actix-web can return.
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

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).expect("contract statuses are valid")
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).content_type("application/json").body(self.0.body())
    }
}
