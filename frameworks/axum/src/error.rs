//! The contract's error answers as an axum response.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use workloads::ApiError;

/// An [`ApiError`] that axum can return.
#[derive(Debug)]
pub struct AppError(pub ApiError);

impl From<ApiError> for AppError {
    fn from(e: ApiError) -> Self {
        AppError(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status()).expect("contract statuses are valid");
        (status, [(header::CONTENT_TYPE, "application/json")], self.0.body()).into_response()
    }
}
