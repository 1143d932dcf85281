//! The contract served by axum, written the way an axum user would: a `Router`, an
//! extractor for the body, `IntoResponse` for errors. `app()` is separate from `serve()`
//! so tests and benches can call the router with no socket.

mod error;
mod extract;
pub mod routes;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::serve::ListenerExt;

pub use error::AppError;

/// The router: four endpoints and the contract's 1 MiB body limit (axum's default is 2 MB).
pub fn app() -> Router {
    Router::new()
        .route("/health", get(routes::health::health))
        .route("/v1/predict", post(routes::predict::predict))
        .route("/v1/generate", post(routes::generate::generate))
        .route("/v1/infer", post(routes::infer::infer))
        .layer(DefaultBodyLimit::max(workloads::BODY_LIMIT))
}

/// Serves `app()` until SIGTERM/SIGINT, then drains for up to the grace period.
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    // axum does not set TCP_NODELAY; every target sets it (docs/methodology.md).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("set_nodelay failed: {e}");
        }
    });
    fw_common::with_grace(|signal| async move { axum::serve(listener, app()).with_graceful_shutdown(signal).await })
        .await
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    /// The router answers the contract with no socket (the path the benches take).
    #[tokio::test]
    async fn in_process_answers_match_the_reference() {
        for case in fw_common::testing::in_process_cases() {
            let req = fw_common::testing::http_request(&case).map(Body::from);
            let resp = super::app().oneshot(req).await.unwrap();
            fw_common::testing::judge_http_response(&case, resp).await;
        }
    }
}
